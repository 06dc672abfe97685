"""Live audio input: one ``AudioSource`` interface, three sources, device listing and a level meter.

``DeviceSource`` (a microphone or interface through PortAudio), ``FileSource`` (a file at real-time pace)
and ``SyntheticSource`` (generated tones) deliver float32 frames shaped ``(frames, channels)`` through a
``RingBuffer``; ``open_source`` picks one, ``list_audio_devices`` / ``find_device`` name the devices.
One thread reads (``wait``, ``read``; example at ``AudioSource``); ``level()``, ``overflows`` and
``duration_s`` may be called from any thread. A missing device raises ``DeviceError``; one that disappears
mid-take first returns every frame that arrived, then raises ``DeviceError``. To record and analyse at
once, the analysis reads ``Recorder.tap`` (``tutor.audio.recording``).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.audio.ringbuffer import RingBuffer
from tutor.errors import DeviceError, InputFileError
from tutor.score.music import midi_to_hz

SILENCE_DBFS = -120.0
DEFAULT_BUFFER_S = 30.0
LEVEL_WINDOW_S = 0.05


# ---------------------------------------------------------------------------------------------
# level meter and resampling
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Level:
    """Input level in dB relative to full scale (0 dBFS = a full-scale sample); -120 is silence."""

    rms_dbfs: float
    peak_dbfs: float

    @property
    def clipping(self) -> bool:
        return self.peak_dbfs >= -0.1


def _dbfs(value: float) -> float:
    return SILENCE_DBFS if value <= 10 ** (SILENCE_DBFS / 20) else max(SILENCE_DBFS, 20.0 * math.log10(value))


def level_dbfs(samples: np.ndarray) -> Level:
    """RMS and peak level of ``samples`` (any shape; all channels together)."""
    if samples.size == 0:
        return Level(SILENCE_DBFS, SILENCE_DBFS)
    data = np.asarray(samples, dtype=np.float64)
    return Level(rms_dbfs=_dbfs(float(np.sqrt(np.mean(data * data)))), peak_dbfs=_dbfs(float(np.max(np.abs(data)))))


def resample(samples: np.ndarray, *, orig_sr: int | float, target_sr: int | float) -> np.ndarray:
    """``samples`` (frames first, 1-D or ``(frames, channels)``) at ``target_sr``, with libsoxr (HQ)."""
    import soxr

    data = np.asarray(samples, dtype=np.float32)
    if int(round(orig_sr)) == int(round(target_sr)):
        return data
    return np.asarray(soxr.resample(data, float(orig_sr), float(target_sr), quality="HQ"), dtype=np.float32)


class StreamResampler:
    """Block-by-block resampling for a worker that analyses at a fixed rate (e.g. 16 kHz for a pitch
    tracker): the same libsoxr filter as ``resample``, with its state kept between blocks.

        resampler = StreamResampler(orig_sr=source.sample_rate, target_sr=16000)
        y = resampler.process(source.read()[:, 0])   # any block size; output length follows the ratio
        tail = resampler.flush()                     # at the end of the take

    ``causal=True`` holds nothing back, for live marks: libsoxr's HQ filter keeps some 20 ms of output
    back in a stream (its look-ahead); instead a causal Butterworth low-pass (8th order at 7/8 of the
    new Nyquist, 7 kHz for 16 kHz; its delay is a fraction of a millisecond in the pitch range) runs
    before libsoxr's quick cubic interpolation ("QQ"), which holds nothing back. The app's live pitch
    thread uses it (checked there on FluidSynth renders of piano, violin, flute, trumpet and cello:
    the same onsets as with HQ).
    """

    CAUSAL_CUTOFF = 0.875  # of the target's Nyquist frequency

    def __init__(self, *, orig_sr: int | float, target_sr: int | float, channels: int = 1,
                 causal: bool = False) -> None:
        import soxr

        self.orig_sr, self.target_sr, self.channels = float(orig_sr), float(target_sr), channels
        self._passthrough = int(round(orig_sr)) == int(round(target_sr))
        self._stream = None if self._passthrough else soxr.ResampleStream(
            self.orig_sr, self.target_sr, channels, dtype="float32", quality="QQ" if causal else "HQ")
        self._sos = self._sos_state = None  # the causal low-pass before a causal downsampling, and its state
        if causal and not self._passthrough and self.orig_sr > self.target_sr:
            from scipy import signal

            self._sos = signal.butter(8, self.CAUSAL_CUTOFF * self.target_sr / 2, fs=self.orig_sr, output="sos")
            self._sos_state = np.zeros((len(self._sos), 2) if channels == 1 else (len(self._sos), 2, channels))

    def process(self, block: np.ndarray, *, last: bool = False) -> np.ndarray:
        data = np.ascontiguousarray(block, dtype=np.float32)
        if self._passthrough:
            return data
        if self._sos is not None and len(data):
            from scipy import signal

            filtered, self._sos_state = signal.sosfilt(self._sos, data, axis=0, zi=self._sos_state)
            data = np.ascontiguousarray(filtered, dtype=np.float32)
        return self._stream.resample_chunk(data, last=last)

    def flush(self) -> np.ndarray:
        shape = (0,) if self.channels == 1 else (0, self.channels)
        return self.process(np.zeros(shape, np.float32), last=True)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """One channel: the mean of the channels of a ``(frames, channels)`` array (1-D as is)."""
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False


def _sounddevice():
    """The sounddevice module, or a DeviceError when PortAudio itself is missing."""
    try:
        import sounddevice
    except OSError as error:  # libportaudio2 not installed
        raise DeviceError(f"PortAudio is not available ({error}); install libportaudio2") from None
    return sounddevice


_QUIET_LOCK = threading.RLock()  # fd 2 is process-wide: one redirection at a time


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C libraries (ALSA, JACK) that print to fd 2 while probing devices."""
    with _QUIET_LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def list_audio_devices() -> list[AudioDevice]:
    """Every audio device PortAudio sees (inputs and outputs); empty when there are none."""
    with _quiet_stderr():  # PortAudio's start-up probes print ALSA/JACK noise on many systems
        sd = _sounddevice()
        try:
            devices = sd.query_devices()
            hostapis = sd.query_hostapis()
        except sd.PortAudioError:
            return []
        try:
            default_in, default_out = sd.default.device
        except (sd.PortAudioError, TypeError, ValueError):
            default_in = default_out = -1
    out = []
    for index, info in enumerate(devices):
        out.append(AudioDevice(
            index=index, name=str(info["name"]), hostapi=str(hostapis[info["hostapi"]]["name"]),
            max_input_channels=int(info["max_input_channels"]), max_output_channels=int(info["max_output_channels"]),
            default_samplerate=float(info["default_samplerate"]),
            is_default_input=index == default_in, is_default_output=index == default_out,
        ))
    return out


def find_device(device: int | str | None, *, kind: str) -> AudioDevice:
    """The input (``kind="input"``) or output device named/numbered ``device`` (None: the default)."""
    devices = list_audio_devices()
    channels = (lambda d: d.max_input_channels) if kind == "input" else (lambda d: d.max_output_channels)
    usable = [d for d in devices if channels(d) > 0]
    if not usable:
        hint = "or record from a file (--from-file)" if kind == "input" else "or render to a file (tutor render)"
        raise DeviceError(f"no audio {kind} device found (PortAudio sees {len(devices)} devices); connect one, {hint}")
    if device is None:
        default = [d for d in usable if (d.is_default_input if kind == "input" else d.is_default_output)]
        return default[0] if default else usable[0]
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        number = int(device)
        for d in usable:
            if d.index == number:
                return d
        raise DeviceError(f"no audio {kind} device number {number}; {kind}s are "
                          + ", ".join(f"{d.index} ({d.name})" for d in usable))
    matches = [d for d in usable if str(device).lower() in d.name.lower()]
    if not matches:
        raise DeviceError(f"no audio {kind} device named {device!r}; {kind}s are "
                          + ", ".join(f"{d.index} ({d.name})" for d in usable))
    return matches[0]


# ---------------------------------------------------------------------------------------------
# the interface
# ---------------------------------------------------------------------------------------------
class AudioSource:
    """Base class: a producer that copies blocks into ``self.ring``; consumers read from it.

    Subclasses implement ``_start()`` and ``_stop()``; their producer copies blocks into the ring (a
    ``DeviceSource``'s PortAudio callback only copies, and counts the driver's status flags). The API a
    worker (the app's Qt worker, the recorder, the score follower) uses::

        source = DeviceSource(device=None)      # or FileSource(path) / SyntheticSource(...)
        source.start()
        while not source.at_end:
            if source.wait(256, timeout_s=0.1): # sleeps until the producer wakes it; never blocks the producer
                frames = source.read()          # (n, channels) float32, consumes
                ...                             # StreamResampler(orig_sr=source.sample_rate, target_sr=16000)
            meter = source.level()              # Level(rms_dbfs, peak_dbfs) of the newest 50 ms
            dropped = source.overflows          # blocks lost because the consumer fell behind
        source.stop()
    """

    kind = "source"

    def __init__(self, *, sample_rate: int, channels: int, block_frames: int, name: str,
                 buffer_s: float = DEFAULT_BUFFER_S) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.block_frames = int(block_frames)
        self.name = name
        self.ring = RingBuffer(max(int(buffer_s * self.sample_rate), 4 * self.block_frames), self.channels,
                               wakeup=True)
        self.error: DeviceError | None = None  # set when the device failed mid-take
        self.status_flags = 0  # blocks the driver flagged (PortAudio input overflow and the like)
        self._running = False
        self._ended = False  # the producer has nothing more (end of file, device gone, stopped)

    # --- what subclasses provide ------------------------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def _push(self, block: np.ndarray) -> None:
        """The producer's whole job: copy the block into the ring buffer."""
        self.ring.write(block)

    def _check(self) -> None:
        """Subclasses notice a dead device here (called by readers)."""

    # --- the API ------------------------------------------------------------------------------------
    def start(self) -> AudioSource:
        if self._running:
            return self
        self.error = None
        self._ended = False
        self._start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop producing; frames already in the buffer can still be read."""
        if self._running:
            self._running = False
            self._stop()
        self._ended = True

    def __enter__(self) -> AudioSource:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the source produces frames (started, not stopped, not at its end, no error)."""
        self._check()
        return self._running and not self._ended and self.error is None

    @property
    def at_end(self) -> bool:
        """True when nothing more will come: stopped/ended/failed and every frame has been read."""
        return not self.running and self.ring.available == 0

    @property
    def available(self) -> int:
        return self.ring.available

    @property
    def overflows(self) -> int:
        """Blocks lost: dropped because the ring buffer was full, plus those the driver flagged."""
        return self.ring.overflows + self.status_flags

    @property
    def duration_s(self) -> float:
        """Seconds of audio delivered so far."""
        return self.ring.total_written / self.sample_rate

    def wait(self, min_frames: int = 1, *, timeout_s: float = 0.1) -> bool:
        """Wait until ``min_frames`` are available (True), the source ends, or ``timeout_s`` passes."""
        deadline = time.perf_counter() + timeout_s
        while self.ring.available < min_frames:
            remaining = deadline - time.perf_counter()
            if not self.running or remaining <= 0:
                return self.ring.available >= min_frames
            self.ring.wait(min_frames, timeout_s=min(remaining, 0.05))
        return True

    def read(self, max_frames: int | None = None) -> np.ndarray:
        """Consume and return up to ``max_frames`` available frames, ``(n, channels)`` float32.

        Returns an empty array when nothing is available yet. After a device failure it returns the
        frames that did arrive and then raises the ``DeviceError``.
        """
        frames = self.ring.read(max_frames)
        if frames.shape[0] == 0:
            self._check()  # only when nothing came: a dead device shows itself by silence
            if self.error is not None:
                raise self.error
        return frames

    def read_into(self, out: np.ndarray) -> int:
        """Like ``read`` into a preallocated ``(n, channels)`` float32 array; returns the count."""
        got = self.ring.read_into(out)
        if got == 0:
            self._check()
            if self.error is not None:
                raise self.error
        return got

    def level(self, *, window_s: float = LEVEL_WINDOW_S) -> Level:
        """Level of the newest ``window_s`` of input (read or not): for a meter, from any thread."""
        return level_dbfs(self.ring.latest(max(1, int(window_s * self.sample_rate))))

    def describe(self) -> str:
        return f"{self.name} ({self.sample_rate} Hz, {self.channels} ch)"


class DeviceSource(AudioSource):
    """A live input device through ``sounddevice.InputStream`` (PortAudio)."""

    kind = "device"

    def __init__(self, device: int | str | None = None, *, sample_rate: int | None = None, channels: int = 1,
                 block_frames: int = 256, buffer_s: float = DEFAULT_BUFFER_S, stall_s: float = 2.0) -> None:
        info = find_device(device, kind="input")
        if channels > info.max_input_channels:
            raise DeviceError(f"audio input {info.index} ({info.name}) has {info.max_input_channels} channels, "
                              f"not {channels}")
        self.device = info
        self.stall_s = stall_s
        self._stream = None
        self._stopping = False
        super().__init__(sample_rate=int(sample_rate or info.default_samplerate), channels=channels,
                         block_frames=block_frames, name=info.name, buffer_s=buffer_s)

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio's thread: copy only
        if status:
            self.status_flags += 1
        self.ring.write(indata)

    def _finished(self) -> None:
        if not self._stopping and self.error is None:
            self.error = DeviceError(f"audio input {self.device.index} ({self.name}) stopped in the middle "
                                     f"of the take (disconnected?); the {self.duration_s:.1f} s recorded so far are kept")

    def _start(self) -> None:
        sd = _sounddevice()
        self._stopping = False
        try:
            with _quiet_stderr():
                self._stream = sd.InputStream(
                    device=self.device.index, samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                    blocksize=self.block_frames, callback=self._callback, finished_callback=self._finished,
                )
                self._stream.start()
        except (sd.PortAudioError, ValueError) as error:  # busy or vanished device, a rate it does not take
            self._stream = None
            raise DeviceError(f"cannot open audio input {self.device.index} ({self.name}) at "
                              f"{self.sample_rate} Hz: {error}") from None
        self._started_at = time.perf_counter()

    def _check(self) -> None:
        stream = self._stream
        if stream is None or self._stopping or self.error is not None:
            return
        try:
            active = stream.active
        except _sounddevice().PortAudioError:  # the device went away under the stream
            active = False
        last = self.ring.last_write_time_s or self._started_at
        if not active:
            self._finished()
        elif time.perf_counter() - last > self.stall_s:
            self.error = DeviceError(f"audio input {self.device.index} ({self.name}) sent nothing for "
                                     f"{self.stall_s:g} s (disconnected?); the {self.duration_s:.1f} s recorded "
                                     f"so far are kept")
        if self.error is not None:
            self._ended = True

    def _stop(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.stop()
            with contextlib.suppress(Exception):
                stream.close()

    @property
    def latency_s(self) -> float | None:
        """PortAudio's reported input latency, while open."""
        return float(self._stream.latency) if self._stream is not None else None


class _PacedSource(AudioSource):
    """A source whose blocks come from a thread at real-time pace (or as fast as the reader takes them)."""

    def __init__(self, *, realtime: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.realtime = realtime
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._block = np.zeros((self.block_frames, self.channels), dtype=np.float32)

    def _fill(self, out: np.ndarray) -> int:
        """Fill ``out`` with the next frames; return how many (0 at the end)."""
        raise NotImplementedError

    def _start(self) -> None:
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-source", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        pushed = 0
        try:
            while not self._stop_event.is_set():
                frames = self._fill(self._block)
                if frames <= 0:
                    break
                if self.realtime:  # like a device: a block is there once its last frame was "captured"
                    due = started + (pushed + frames) / self.sample_rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        self._stop_event.wait(delay)
                        if self._stop_event.is_set():
                            break
                else:  # never drop: wait for the reader
                    while (self.ring.capacity_frames - self.ring.available < frames
                           and not self._stop_event.is_set()):
                        time.sleep(0.001)
                self._push(self._block[:frames])
                pushed += frames
        finally:
            self._ended = True

    def _stop(self) -> None:
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None


class FileSource(_PacedSource):
    """An audio file delivered block by block, at real-time pace unless ``realtime=False``."""

    kind = "file"

    def __init__(self, path: str | Path, *, realtime: bool = True, block_frames: int = 1024, mono: bool = True,
                 buffer_s: float = DEFAULT_BUFFER_S, loop: bool = False) -> None:
        import soundfile

        from tutor.safety import MAX_AUDIO_BYTES, check_readable

        self.path = check_readable(path, max_bytes=MAX_AUDIO_BYTES)
        try:
            self._file = soundfile.SoundFile(str(self.path))
        except (soundfile.SoundFileError, OSError) as error:
            raise InputFileError(f"cannot be read as audio ({error})", path=self.path) from None
        self.mono = mono
        self.loop = loop
        self.file_channels = self._file.channels
        super().__init__(realtime=realtime, sample_rate=self._file.samplerate,
                         channels=1 if mono else self._file.channels, block_frames=block_frames,
                         name=f"file {self.path.name}", buffer_s=buffer_s)
        self._scratch = np.zeros((block_frames, self.file_channels), dtype=np.float32)

    def _fill(self, out: np.ndarray) -> int:
        got = self._file.read(out.shape[0], dtype="float32", always_2d=True, out=self._scratch)
        frames = got.shape[0]
        if frames == 0 and self.loop:
            self._file.seek(0)
            frames = self._file.read(out.shape[0], dtype="float32", always_2d=True, out=self._scratch).shape[0]
        if frames == 0:
            return 0
        if self.mono and self.file_channels > 1:
            np.mean(self._scratch[:frames], axis=1, out=out[:frames, 0])
        else:
            out[:frames] = self._scratch[:frames]
        return frames

    def _start(self) -> None:
        self._file.seek(0)
        super()._start()

    def _stop(self) -> None:
        super()._stop()

    def close(self) -> None:
        self.stop()
        self._file.close()


@dataclass(frozen=True)
class Tone:
    """A synthetic tone: ``freq_hz`` from ``onset_s`` to ``offset_s`` at ``amplitude`` (0..1)."""

    onset_s: float
    offset_s: float
    freq_hz: float
    amplitude: float = 0.3



class SyntheticSource(_PacedSource):
    """Generated sound: ``tones`` (a few harmonics, 10 ms fades) plus optional noise.

    With no tones it plays a steady 440 Hz sine at -10 dBFS. ``duration_s=None`` runs until stopped
    (or until the last tone ends, when tones are given).
    """

    kind = "synthetic"
    HARMONICS = (1.0, 0.5, 0.25)

    def __init__(self, tones: Sequence[Tone] | None = None, *, sample_rate: int = 44100,
                 duration_s: float | None = None, noise_dbfs: float | None = None, realtime: bool = True,
                 block_frames: int = 256, buffer_s: float = DEFAULT_BUFFER_S,
                 signal: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        super().__init__(realtime=realtime, sample_rate=sample_rate, channels=1, block_frames=block_frames,
                         name="synthetic", buffer_s=buffer_s)
        self.tones = tuple(tones) if tones is not None else None
        self.signal = signal
        if duration_s is None and self.tones:
            duration_s = max(t.offset_s for t in self.tones) + 0.2
        self.duration_s_total = duration_s
        self.noise_amplitude = 10 ** (noise_dbfs / 20) if noise_dbfs is not None else 0.0
        self._position = 0
        self._rng = np.random.default_rng(0)

    @classmethod
    def from_notes(cls, notes, **kwargs) -> SyntheticSource:
        """Tones for ``PlayedNote``s (pitch, onset_s, offset_s, velocity)."""
        tones = [Tone(n.onset_s, n.offset_s, midi_to_hz(n.pitch), 0.3 * n.velocity / 127) for n in notes]
        return cls(tones, **kwargs)

    def render(self, start_frame: int, frames: int) -> np.ndarray:
        """The samples ``start_frame .. start_frame + frames`` (1-D float32)."""
        t = (start_frame + np.arange(frames)) / self.sample_rate
        if self.signal is not None:
            out = np.asarray(self.signal(t), dtype=np.float64)
        elif self.tones is None:
            out = 10 ** (-10 / 20) * np.sin(2 * np.pi * 440.0 * t)
        else:
            out = np.zeros(frames)
            for tone in self.tones:
                if tone.offset_s <= t[0] or tone.onset_s > t[-1]:
                    continue
                inside = (t >= tone.onset_s) & (t < tone.offset_s)
                tt = t[inside] - tone.onset_s
                envelope = np.minimum(1.0, np.minimum(tt, tone.offset_s - tone.onset_s - tt) / 0.01)
                wave = sum(a * np.sin(2 * np.pi * tone.freq_hz * k * tt) for k, a in enumerate(self.HARMONICS, 1))
                out[inside] += tone.amplitude * envelope * wave / sum(self.HARMONICS)
        if self.noise_amplitude:
            out = out + self.noise_amplitude * self._rng.standard_normal(frames)
        return out.astype(np.float32)

    def _fill(self, out: np.ndarray) -> int:
        frames = out.shape[0]
        if self.duration_s_total is not None:
            frames = min(frames, int(round(self.duration_s_total * self.sample_rate)) - self._position)
        if frames <= 0:
            return 0
        out[:frames, 0] = self.render(self._position, frames)
        self._position += frames
        return frames

    def _start(self) -> None:
        self._position = 0
        super()._start()


def open_source(*, device: int | str | None = None, from_file: str | Path | None = None,
                realtime: bool = True) -> AudioSource:
    """The source the command line asks for: a file when ``from_file`` is given, else a device."""
    if from_file is not None:
        return FileSource(from_file, realtime=realtime)
    return DeviceSource(device)
