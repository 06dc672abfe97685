"""Crash-safe recording: a writer thread streams an ``AudioSource`` to WAV or FLAC on disk.

    recorder = Recorder(source, "take.wav", piece="corpus:bach/bwv66.6", tempo_bpm=92)
    recorder.start()                 # starts the source too
    result = recorder.stop()         # or recorder.wait() for max_seconds / the end of a file source

The take is written to its final path while it is recorded, so a crash or a power cut loses at most
about a second (how: ``Recorder``); ``repair_recording(s)`` makes a take left by a crash whole again
(``tutor record`` and the app run it at start-up). A JSON sidecar (``take.wav.json``, ``read_sidecar``)
says which piece, tempo, device, sample rate and start time. The recorder is the source's one reader: an
analysis that runs during the take reads the same frames from ``recorder.tap``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.audio.devices import AudioSource, Level
from tutor.audio.ringbuffer import RingBuffer
from tutor.errors import DeviceError, InputFileError, OutputFileError
from tutor.safety import atomic_write_text

RECORDING_EXTENSIONS = (".wav", ".flac")
FLUSH_INTERVAL_S = 0.1
FSYNC_INTERVAL_S = 1.0
_SFC_UPDATE_HEADER_NOW = 0x1060  # libsndfile's sf_command code: write the header with the sizes so far
_FLAC_UNKNOWN_FRAMES = 2**62  # libsndfile reports a huge frame count for a FLAC stream of unknown length


def sidecar_path(path: str | Path) -> Path:
    """``take.wav`` -> ``take.wav.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_sidecar(path: str | Path) -> dict:
    """The sidecar of the take at ``path`` (``{}`` when there is none)."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputFileError(f"is not a readable recording sidecar ({error})", path=side) from None


@dataclass(frozen=True)
class RecordingResult:
    path: Path
    frames: int
    sample_rate: int
    channels: int
    overflows: int
    error: str | None = None  # the DeviceError that ended the take early, if any

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


class Recorder:
    """Writes everything ``source`` delivers to ``path`` (.wav or .flac) from a writer thread.

    ``max_seconds`` stops by itself after that much audio; otherwise it runs until ``stop()``, the
    end of a file/synthetic source, or a device failure (``error`` is then set and the take so far
    is closed properly). ``on_finished(result)`` is called from the writer thread at the end.

    What a crash leaves behind:

    * WAV: after every ``flush_interval_s`` (0.1 s) of audio the RIFF header is rewritten with the sizes
      so far (libsndfile's ``SFC_UPDATE_HEADER_NOW``), so even a file left by a killed process opens in
      any audio program; ``repair_recording`` sets the sizes to cover every byte that reached the disk.
    * FLAC: libFLAC writes a frame every 4096 samples (< 0.1 s); after a crash the stream header does not
      know the length, and ``repair_recording`` decodes what is there and rewrites the file.
    * Every second a separate thread fsyncs the file (an fsync can take tens of milliseconds and must
      not hold up the writer), so a power cut loses at most about a second.

    The sidecar, written at ``start()``::

        {"piece": "corpus:bach/bwv66.6", "tempo_bpm": 92.0, "device": "USB Mic", "sample_rate": 48000,
         "started_at": "2026-11-24T14:03:11.123456+00:00"}

    ``tap`` is a second ring buffer the writer fills with each block just before writing it, for one
    analysis reader::

        if recorder.tap.wait(256, timeout_s=0.1):
            frames = recorder.tap.read()
    """

    def __init__(self, source: AudioSource, path: str | Path, *, piece: str | None = None,
                 tempo_bpm: float | None = None, max_seconds: float | None = None, subtype: str | None = None,
                 overwrite: bool = False, flush_interval_s: float = FLUSH_INTERVAL_S,
                 on_finished=None, tap_s: float = 30.0) -> None:
        self.source = source
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in RECORDING_EXTENSIONS:
            raise OutputFileError(f"records to .wav or .flac, not {ext or '(no extension)'}", path=self.path)
        if not (self.path.parent if str(self.path.parent) else Path(".")).is_dir():
            raise OutputFileError("cannot record: its folder does not exist", path=self.path)
        if self.path.exists() and not overwrite:
            raise OutputFileError("already exists; choose another name (or overwrite it on purpose)",
                                  path=self.path)
        self.format = "WAV" if ext == ".wav" else "FLAC"
        self.subtype = subtype or "PCM_16"
        self.piece = piece
        self.tempo_bpm = tempo_bpm
        self.max_frames = int(round(max_seconds * source.sample_rate)) if max_seconds is not None else None
        self.flush_interval_s = flush_interval_s
        self.on_finished = on_finished
        self.frames_written = 0
        # the frames as written, for one analysis reader (dropped and counted if it falls tap_s behind)
        self.tap = RingBuffer(max(int(tap_s * source.sample_rate), 4 * source.block_frames), source.channels,
                              wakeup=True)
        self.error: DeviceError | OutputFileError | None = None
        self.result: RecordingResult | None = None
        self._file = None
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._done = threading.Event()

    # --- API -----------------------------------------------------------------------------------------
    def start(self) -> Recorder:
        import soundfile

        started_at = _dt.datetime.now(_dt.UTC).isoformat()
        try:
            self._file = soundfile.SoundFile(str(self.path), "w", samplerate=self.source.sample_rate,
                                             channels=self.source.channels, format=self.format, subtype=self.subtype)
        except (soundfile.SoundFileError, ValueError, OSError) as error:  # ValueError: a format/subtype it cannot write
            raise OutputFileError(f"cannot be opened for recording ({error})", path=self.path) from None
        atomic_write_text(sidecar_path(self.path), json.dumps({
            "piece": self.piece,
            "tempo_bpm": self.tempo_bpm,
            "device": self.source.name,
            "sample_rate": self.source.sample_rate,
            "started_at": started_at,
        }, indent=2) + "\n")
        self._update_header()
        try:
            self.source.start()
        except BaseException:
            self._file.close()
            raise
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, timeout_s: float = 5.0) -> RecordingResult:
        """Stop the source, write what is still buffered, close the file."""
        self._stop_requested.set()
        self.source.stop()
        self.wait(timeout_s=timeout_s)
        return self.result or self._make_result()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the take to end by itself (max_seconds, end of source, device error)."""
        return self._done.wait(timeout_s)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def duration_s(self) -> float:
        return self.frames_written / self.source.sample_rate

    @property
    def overflows(self) -> int:
        return self.source.overflows

    def level(self) -> Level:
        return self.source.level()

    # --- writer thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        source = self.source
        chunk = np.zeros((max(source.block_frames, int(0.05 * source.sample_rate)), source.channels), np.float32)
        last_header = time.perf_counter()
        syncer = threading.Thread(target=self._sync_to_disk, name="recorder-fsync", daemon=True)
        syncer.start()
        try:
            while True:
                source.wait(1, timeout_s=0.02)
                try:
                    frames = source.read_into(chunk)
                except DeviceError as error:
                    self.error = error
                    break
                if self.max_frames is not None:
                    frames = min(frames, self.max_frames - self.frames_written)
                if frames > 0:
                    # the analysis first: the file write is a C call that gives other threads the GIL
                    self.tap.write(chunk[:frames])
                    self._file.write(chunk[:frames])
                    self.frames_written += frames
                now = time.perf_counter()
                if now - last_header >= self.flush_interval_s:
                    self._update_header()
                    last_header = now
                if self.max_frames is not None and self.frames_written >= self.max_frames:
                    break
                if source.available == 0 and (self._stop_requested.is_set() or not source.running):
                    try:
                        source.read(1)  # raises the device error if that is why it ended
                    except DeviceError as error:
                        self.error = error
                    break
        except Exception as error:  # noqa: BLE001 - the writer thread must end cleanly (a full disk...): keep what was written
            self.error = OutputFileError(f"recording stopped: cannot write ({error})", path=self.path)
        finally:
            source.stop()
            with contextlib.suppress(Exception):
                self._file.close()
            with contextlib.suppress(OSError):
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self.result = self._make_result()
            self._done.set()
            if self.on_finished is not None:
                self.on_finished(self.result)

    def _sync_to_disk(self) -> None:
        """fsync the take every FSYNC_INTERVAL_S through a descriptor of its own, off the writer thread."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            while not self._done.wait(FSYNC_INTERVAL_S):
                with contextlib.suppress(OSError):
                    os.fsync(fd)
        finally:
            os.close(fd)

    def _make_result(self) -> RecordingResult:
        return RecordingResult(self.path, self.frames_written, self.source.sample_rate, self.source.channels,
                               self.source.overflows, str(self.error) if self.error else None)

    def _update_header(self) -> None:
        """Make the file's header describe what has been written so far (WAV)."""
        if self.format != "WAV" or self._file is None:
            return
        with contextlib.suppress(Exception):  # private API of soundfile: a missed update is repaired later
            import soundfile

            soundfile._snd.sf_command(self._file._file, _SFC_UPDATE_HEADER_NOW, soundfile._ffi.NULL, 0)


def record(source: AudioSource, path: str | Path, *, seconds: float | None = None, **kwargs) -> RecordingResult:
    """Record ``source`` to ``path`` until ``seconds`` or the source's end (blocking)."""
    recorder = Recorder(source, path, max_seconds=seconds, **kwargs).start()
    try:
        while not recorder.wait(0.1):
            pass
    except BaseException:
        recorder.stop()
        raise
    return recorder.result


# ---------------------------------------------------------------------------------------------
# repair after a crash
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepairResult:
    path: Path
    repaired: bool  # True when the file was changed
    frames: int
    sample_rate: int
    message: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def repair_recording(path: str | Path) -> RepairResult:
    """Make a take left behind by a crash whole again: fix a WAV header's sizes, rewrite a FLAC
    whose length is unknown. A take that is fine is left untouched (``repaired=False``)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError("no such recording", path=path)
    ext = path.suffix.lower()
    if ext == ".wav":
        return _repair_wav(path)
    if ext == ".flac":
        return _repair_flac(path)
    raise InputFileError(f"cannot repair {ext or 'extension-less'} files; recordings are .wav or .flac", path=path)


def _repair_wav(path: Path) -> RepairResult:
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(min(size, 1 << 16))
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise InputFileError("is not a RIFF/WAVE file; cannot repair it", path=path)
    position, block_align, sample_rate = 12, 0, 0
    data_offset = data_declared = None
    while position + 8 <= len(head):
        chunk_id, chunk_size = head[position:position + 4], struct.unpack("<I", head[position + 4:position + 8])[0]
        if chunk_id == b"fmt " and position + 24 <= len(head):
            _fmt, _channels, sample_rate, _rate, block_align = struct.unpack("<HHIIH", head[position + 8:position + 22])
        if chunk_id == b"data":
            data_offset, data_declared = position + 8, chunk_size
            break
        position += 8 + chunk_size + (chunk_size & 1)
    if data_offset is None or not block_align:
        raise InputFileError("has no audio data chunk (the header itself is damaged); cannot repair it", path=path)
    on_disk = size - data_offset
    on_disk -= on_disk % block_align
    end = data_offset + data_declared + (data_declared & 1)
    followed_by_chunk = end + 8 <= size and _looks_like_chunk(path, end, size)
    if data_declared == on_disk or (data_declared < on_disk and followed_by_chunk):
        riff_ok = struct.unpack("<I", head[4:8])[0] == size - 8 or followed_by_chunk
        if riff_ok:
            return RepairResult(path, False, data_declared // block_align, sample_rate, "header is complete")
    with path.open("r+b") as handle:
        handle.seek(4)
        handle.write(struct.pack("<I", data_offset + on_disk - 8))
        handle.seek(data_offset - 4)
        handle.write(struct.pack("<I", on_disk))
        handle.truncate(data_offset + on_disk)
        handle.flush()
        os.fsync(handle.fileno())
    frames = on_disk // block_align
    return RepairResult(path, True, frames, sample_rate,
                        f"header said {data_declared // block_align} frames, the file holds {frames}; fixed")


def _looks_like_chunk(path: Path, offset: int, size: int) -> bool:
    with path.open("rb") as handle:
        handle.seek(offset)
        header = handle.read(8)
    if len(header) < 8 or not all(32 <= b < 127 for b in header[:4]):
        return False
    return offset + 8 + struct.unpack("<I", header[4:])[0] <= size


def _repair_flac(path: Path) -> RepairResult:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (soundfile.SoundFileError, OSError) as error:
        raise InputFileError(f"cannot be read as FLAC ({error}); cannot repair it", path=path) from None
    if info.frames < _FLAC_UNKNOWN_FRAMES:
        return RepairResult(path, False, int(info.frames), int(info.samplerate), "stream header is complete")
    # length unknown (the writer was killed): decode frame by frame (no seeking) and write a new file
    chunks = []
    with soundfile.SoundFile(str(path)) as source:
        block = np.zeros((65536, source.channels), dtype=np.float32)
        pointer = soundfile._ffi.cast("float*", block.ctypes.data)
        while True:
            got = soundfile._snd.sf_readf_float(source._file, pointer, block.shape[0])
            if got <= 0:
                break
            chunks.append(block[:got].copy())
        subtype = source.subtype
    audio = np.concatenate(chunks) if chunks else np.zeros((0, info.channels), np.float32)
    temporary = path.with_name(f".{path.name}.repair.flac")
    try:
        soundfile.write(str(temporary), audio, int(info.samplerate), format="FLAC", subtype=subtype)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return RepairResult(path, True, len(audio), int(info.samplerate),
                        f"stream length was unknown; rewrote the {len(audio)} frames that were there")


def repair_recordings(folder: str | Path, *, idle_s: float = 5.0) -> list[RepairResult]:
    """Check every take with a sidecar in ``folder``; repair those a crash left behind.

    Takes changed in the last ``idle_s`` seconds are left alone: another process may still be
    recording them."""
    folder = Path(folder)
    results = []
    now = time.time()
    for side in sorted(folder.glob("*.json")):
        take = side.with_name(side.name[: -len(".json")])
        if take.suffix.lower() in RECORDING_EXTENSIONS and take.is_file():
            with contextlib.suppress(InputFileError, OSError):
                if now - take.stat().st_mtime < idle_s:
                    continue
                results.append(repair_recording(take))
    return results
