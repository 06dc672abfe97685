"""A preallocated single-producer / single-consumer ring buffer of audio frames.

    ring = RingBuffer(capacity_frames=48000 * 10, channels=1, wakeup=True)
    ring.write(block)                 # producer (audio callback): copies only
    ring.wait(256, timeout_s=0.1)     # consumer: sleeps until the producer wakes it
    frames = ring.read()              # consumer: everything available, as a new array
    n = ring.read_into(out)           # consumer: into a caller's preallocated array
    last = ring.latest(2048)          # any thread: the newest frames, for a level meter

``write`` never allocates, locks or logs; when the buffer is full the new block is dropped and counted
(``overflows``, ``dropped_frames``). Why this is thread-safe: ``RingBuffer``.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time

import numpy as np

_WAKE = b"\x01"


class RingBuffer:
    """Fixed-size frame buffer; shape of a frame block is ``(frames, channels)``, dtype float32.

    The producer is an audio callback (PortAudio's thread, or a pacing thread for file and synthetic
    sources); the consumer is one analysis / writer thread. ``write`` copies the block into preallocated
    memory (at most two numpy slice assignments) and advances an integer counter. With ``wakeup=True`` a
    consumer blocked in ``wait`` is woken through a pipe (one non-blocking ``os.write`` of a preallocated
    byte), so it gets the block at once even while other Python threads keep the GIL busy; polling with
    ``sleep`` would wait out the interpreter's 5 ms switch interval there.

    Thread safety rests on two facts: only the producer writes ``_written`` and only the consumer writes
    ``_read``, each a Python int replaced in one atomic step under the GIL; and the producer writes the
    samples *before* it advances ``_written``, so the consumer never sees frames that are not there.
    """

    def __init__(self, capacity_frames: int, channels: int = 1, *, dtype: str | np.dtype = "float32",
                 wakeup: bool = False) -> None:
        if capacity_frames <= 0:
            raise ValueError("capacity_frames must be positive")
        if channels <= 0:
            raise ValueError("channels must be positive")
        self.capacity_frames = int(capacity_frames)
        self.channels = int(channels)
        self._data = np.zeros((self.capacity_frames, self.channels), dtype=dtype)
        self._written = 0  # total frames ever written (producer only)
        self._read = 0  # total frames ever read (consumer only)
        self.overflows = 0  # blocks dropped because the buffer was full (producer only)
        self.dropped_frames = 0
        self.last_write_time_s = 0.0  # time.perf_counter() of the newest write (producer only)
        self._wake_r = self._wake_w = None
        if wakeup and sys.platform != "win32":  # select() on pipes: POSIX only; Windows polls
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
            os.set_blocking(self._wake_r, False)

    def close(self) -> None:
        """Release the wake-up pipe (the buffer still works, waiting by polling)."""
        fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), None, None
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __del__(self) -> None:
        self.close()

    # --- producer ------------------------------------------------------------------------------
    def write(self, block: np.ndarray) -> bool:
        """Copy ``block`` (frames x channels, or 1-D for mono) in; False when it had to be dropped."""
        frames = block.shape[0]
        written = self._written
        if frames > self.capacity_frames - (written - self._read):
            self.overflows += 1
            self.dropped_frames += frames
            return False
        if block.ndim == 1:
            block = block.reshape(frames, 1)
        start = written % self.capacity_frames
        first = min(frames, self.capacity_frames - start)
        self._data[start:start + first] = block[:first]
        if first < frames:
            self._data[:frames - first] = block[first:]
        self.last_write_time_s = time.perf_counter()
        self._written = written + frames  # publish only after the copy
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, _WAKE)
            except OSError:  # pipe full (the reader is far behind and will find the data anyway) or closed
                pass
        return True

    # --- consumer ------------------------------------------------------------------------------
    @property
    def available(self) -> int:
        """Frames written and not yet read."""
        return self._written - self._read

    @property
    def total_written(self) -> int:
        return self._written

    @property
    def total_read(self) -> int:
        return self._read

    def read_into(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` frames into ``out`` (frames x channels); return how many."""
        frames = min(out.shape[0], self._written - self._read)
        if frames <= 0:
            return 0
        start = self._read % self.capacity_frames
        first = min(frames, self.capacity_frames - start)
        out[:first] = self._data[start:start + first]
        if first < frames:
            out[first:frames] = self._data[:frames - first]
        self._read += frames
        return frames

    def read(self, max_frames: int | None = None) -> np.ndarray:
        """The available frames (at most ``max_frames``) as a new ``(frames, channels)`` array."""
        frames = self.available if max_frames is None else min(max_frames, self.available)
        out = np.empty((max(frames, 0), self.channels), dtype=self._data.dtype)
        got = self.read_into(out)
        return out[:got]

    def wait(self, min_frames: int = 1, *, timeout_s: float = 1.0, poll_s: float = 0.0005) -> bool:
        """Block the consumer until ``min_frames`` are available (True) or ``timeout_s`` passes.

        Sleeps on the wake-up pipe when there is one (the producer never touches a lock), else polls.
        """
        if self.available >= min_frames:
            return True
        deadline = time.perf_counter() + timeout_s
        while True:
            wake = self._wake_r
            if wake is not None:  # drain old wake-ups *before* the check, so that none is missed
                try:
                    os.read(wake, 65536)
                except (BlockingIOError, InterruptedError):
                    pass
                except (OSError, ValueError):
                    wake = None
            if self.available >= min_frames:
                return True
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            if wake is None:
                time.sleep(min(poll_s, remaining))
                continue
            try:
                select.select([wake], [], [], min(remaining, 0.05))
            except (OSError, ValueError):  # closed meanwhile
                time.sleep(min(poll_s, remaining))
            # after a wake-up, return without another system call (each one releases the GIL and
            # may cost a 5 ms switch interval while other threads are busy)
            if self.available >= min_frames:
                return True

    # --- any thread ----------------------------------------------------------------------------
    def latest(self, frames: int) -> np.ndarray:
        """A copy of the newest ``frames`` written (fewer at the start), read or not.

        Meant for meters: it does not consume, and a block being overwritten at that moment can
        show up partly new, which a meter does not mind.
        """
        written = self._written
        frames = min(frames, written, self.capacity_frames)
        out = np.empty((frames, self.channels), dtype=self._data.dtype)
        if frames == 0:
            return out
        end = written % self.capacity_frames
        start = (written - frames) % self.capacity_frames
        if start < end:
            out[:] = self._data[start:end]
        else:
            first = self.capacity_frames - start
            out[:first] = self._data[start:]
            out[first:] = self._data[:end]
        return out
