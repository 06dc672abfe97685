"""Long recordings in bounded memory: read, mixed down and resampled piece by piece, analysed in blocks of frames.

Transcribing a whole file at once held every analysis of it in memory (about 1 GB per minute of audio:
the float samples, the pitch tracker's activations for every frame, the spectrogram, the note HMM's
cost matrix). Here the audio goes through in pieces and the analyses in blocks of ``block_frames`` 10 ms
frames, each with ``context`` samples of audio either side, so that every frame comes out bit for bit as
it does when the whole recording is analysed at once (checked by tests/test_transcription_memory.py):

* ``read_pieces(path)``: the sample rate, the length and the mono float32 pieces of any file soundfile reads
  (WAV, FLAC, Ogg, MP3, AIFF...), others through audioread as ``librosa.load`` reads them;
* ``resample_pieces``: soxr's streaming resampler, whose output is ``soxr.resample``'s of the whole clip;
* ``iter_blocks``: ``AudioBlock`` s (the samples of a block of frames and its context);
* ``LevelMeter``: ``pitch.frame_level_db`` block by block (its running sum carried from block to block);
* ``OnsetFlux``: librosa's ``onset_strength`` block by block; its log-mel spectrogram is clipped 80 dB
  under the loudest bin of the whole clip, so the unclipped spectrogram waits in a temporary file until
  the end (512 bytes per frame on disk, none in memory);
* ``ViterbiTail``: the open end of a Viterbi pass. Every state's best path is traced back after each
  block; before the last frame where they all agree, the path is decided whatever comes later, and the
  back pointers (and whatever the decoding needs) are dropped up to there;
* ``release_freed_memory``: between blocks, the heap pages freed by a block's temporaries go back to the
  system (a 60-minute file otherwise grew 1.26 GB -> 1.71 GB as the heap fragmented).

What stays in memory grows only with the per-frame results (f0, confidence, level, flux: tens of bytes a
frame, 100 frames a second).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.errors import InputFileError

PIECE_FRAMES = 1 << 16  # samples read from a file at a time (1.5 s at 44.1 kHz)


# ---------------------------------------------------------------------------------------------
# reading and resampling
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AudioPieces:
    """A recording being read: its sample rate, its length in samples (None when the reader cannot say),
    and its mono float32 samples in pieces (one pass)."""

    sample_rate: int
    length: int | None
    pieces: Iterator[np.ndarray]


def read_pieces(path: str | Path, *, piece_frames: int = PIECE_FRAMES) -> AudioPieces:
    """The mono float32 samples of an audio file in pieces: ``transcription.read_audio``'s samples, read a
    piece at a time (soundfile; for what libsndfile cannot read, audioread as in ``librosa.load``). A file
    that cannot be opened is an ``InputFileError`` here, one that breaks or holds NaN or infinite samples
    part way is one when that piece is read."""
    from tutor.safety import MAX_AUDIO_BYTES, check_readable

    path = check_readable(path, max_bytes=MAX_AUDIO_BYTES)
    import soundfile

    try:
        handle = soundfile.SoundFile(str(path))
    except (soundfile.SoundFileError, OSError) as first_error:  # not a libsndfile format: audioread (ffmpeg)
        return _audioread_pieces(path, first_error)
    _check_format(int(handle.samplerate), int(handle.channels), path)
    length = int(handle.frames) if handle.seekable() and handle.frames >= 0 else None

    def pieces() -> Iterator[np.ndarray]:
        with handle:
            while True:
                try:
                    data = handle.read(piece_frames, dtype="float32", always_2d=True)
                except (soundfile.SoundFileError, OSError, RuntimeError) as error:
                    raise InputFileError(f"cannot be read as audio ({_short(error)})", path=path) from None
                if not len(data):
                    return
                yield _checked(data.mean(axis=1), path)

    return AudioPieces(int(handle.samplerate), length, pieces())


MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 768_000  # telephone quality to the fastest studio converters
MAX_CHANNELS = 64


def _check_format(rate: int, channels: int, path: Path) -> None:
    """Refuse a header that no real recording has (it would make resampling or mixing explode)."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InputFileError(f"says its sample rate is {rate} Hz; a recording has {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
                             path=path)
    if not 1 <= channels <= MAX_CHANNELS:
        raise InputFileError(f"says it has {channels} channels; a recording has 1-{MAX_CHANNELS}", path=path)


def _audioread_pieces(path: Path, first_error: BaseException) -> AudioPieces:
    """What ``librosa.load(path, sr=None, mono=True)`` reads through audioread, in the same float32 samples."""
    try:
        import warnings

        with warnings.catch_warnings():  # audioread imports deprecated modules (aifc, sunau)
            warnings.simplefilter("ignore")
            import audioread

        reader = audioread.audio_open(str(path))
    except Exception:  # noqa: BLE001 - audioread's backends (ffmpeg, GStreamer...) raise any type on an unreadable file
        raise InputFileError(f"cannot be read as audio ({_short(first_error)})", path=path) from None
    rate, channels = int(reader.samplerate), int(reader.channels)
    _check_format(rate, channels, path)
    duration = getattr(reader, "duration", None)
    length = int(round(duration * rate)) if duration else None

    def pieces() -> Iterator[np.ndarray]:
        import librosa

        rest = np.zeros(0, np.float32)
        with reader:
            try:
                for buffer in reader:
                    samples = np.concatenate([rest, librosa.util.buf_to_float(buffer, dtype=np.float32)])
                    whole = len(samples) // channels * channels
                    samples, rest = samples[:whole], samples[whole:]
                    if channels > 1:
                        samples = librosa.to_mono(samples.reshape((-1, channels)).T)
                    if len(samples):
                        yield _checked(samples, path)
            except InputFileError:
                raise
            except Exception as error:  # noqa: BLE001 - as above, while decoding
                raise InputFileError(f"cannot be read as audio ({_short(error)})", path=path) from None

    return AudioPieces(rate, length, pieces())


def _checked(samples: np.ndarray, path: Path) -> np.ndarray:
    if not np.all(np.isfinite(samples)):
        raise InputFileError("contains invalid samples (NaN or infinity)", path=path)
    return np.ascontiguousarray(samples, dtype=np.float32)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


def array_pieces(audio: np.ndarray, *, piece_frames: int = PIECE_FRAMES) -> Iterator[np.ndarray]:
    """A mono or (frames, channels) clip in memory as mono float32 pieces (``pitch.to_model_rate``'s mix)."""
    from tutor.errors import TutorError

    if audio.ndim not in (1, 2):
        raise TutorError(f"audio must be mono or (frames, channels), got shape {audio.shape}")
    for start in range(0, len(audio), piece_frames):
        piece = np.asarray(audio[start:start + piece_frames], dtype=np.float32)
        yield np.ascontiguousarray(piece.mean(axis=1) if piece.ndim == 2 else piece)


def resample_pieces(pieces: Iterable[np.ndarray], sample_rate: int, target_rate: int) -> Iterator[np.ndarray]:
    """The pieces at ``target_rate`` (soxr HQ, streamed: the same samples as ``soxr.resample`` of the whole)."""
    if sample_rate == target_rate:
        yield from pieces
        return
    import soxr

    stream = soxr.ResampleStream(sample_rate, target_rate, 1, dtype="float32", quality="HQ")
    for piece in pieces:
        out = stream.resample_chunk(piece, last=False)
        if len(out):
            yield out
    yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


# ---------------------------------------------------------------------------------------------
# blocks of frames
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AudioBlock:
    """The samples for frames ``first`` to ``stop`` (frame ``i`` is centred on sample ``i * hop``) with up to
    ``context`` samples either side: global samples ``start`` to ``start + len(samples)``. The last block
    (``stop`` None) runs to the end of the audio, and its frames to the audio's last frame."""

    samples: np.ndarray  # float32
    start: int  # a multiple of hop (0 for the first block)
    first: int
    stop: int | None
    hop: int

    @property
    def last(self) -> bool:
        return self.stop is None

    @property
    def end(self) -> int:
        """The global index after the last sample (the audio's length for the last block)."""
        return self.start + len(self.samples)

    @property
    def frames_end(self) -> int:
        """``stop``, or for the last block ``1 + length // hop`` (``pitch.frame_count``)."""
        return self.stop if self.stop is not None else 1 + self.end // self.hop

    @property
    def offset(self) -> int:
        """The index of frame ``first`` among the frames centred on ``samples[0], samples[hop]...``."""
        return self.first - self.start // self.hop

    def span(self, half: int) -> np.ndarray:
        """The samples under centred windows of ``2 * half`` for the block's frames: global samples
        ``first * hop - half`` to ``(frames_end - 1) * hop + half``, zeros before and after the audio (the
        zero padding of a whole-clip analysis with ``center=True``)."""
        lo, hi = self.first * self.hop - half, (self.frames_end - 1) * self.hop + half
        a, b = max(lo, self.start), min(hi, self.end)
        if (a > lo and self.start > 0) or (b < hi and not self.last):
            raise ValueError(f"a block's context ({self.first * self.hop - self.start} samples) is shorter than {half}")
        out = self.samples[a - self.start:max(a, b) - self.start]
        if a > lo or b < hi:
            out = np.concatenate([np.zeros(a - lo, np.float32), out, np.zeros(hi - max(a, b), np.float32)])
        return out


def iter_blocks(pieces: Iterable[np.ndarray], *, block_frames: int, context: int, hop: int) -> Iterator[AudioBlock]:
    """Blocks of ``block_frames`` frames with ``context`` samples (a multiple of ``hop``) either side, the
    last to the end of the audio. A block goes out once its context after it is in (or the audio ended)."""
    if context % hop or block_frames <= 0:
        raise ValueError("the context must be whole hops and a block at least one frame")
    buffer = np.zeros(0, np.float32)
    start = 0  # the global index of buffer[0]
    first = 0
    waiting: list[np.ndarray] = []
    waiting_length = 0
    for piece in pieces:
        waiting.append(piece)
        waiting_length += len(piece)
        if start + len(buffer) + waiting_length < (first + block_frames) * hop + context:
            continue
        buffer = np.concatenate([buffer, *waiting])
        waiting, waiting_length = [], 0
        while start + len(buffer) >= (first + block_frames) * hop + context:
            stop = first + block_frames
            lo = max(0, first * hop - context)
            yield AudioBlock(buffer[lo - start:stop * hop + context - start], lo, first, stop, hop)
            first = stop
            keep = max(0, first * hop - context)
            buffer, start = buffer[keep - start:], keep
    buffer = np.concatenate([buffer, *waiting])
    lo = max(0, first * hop - context)
    yield AudioBlock(buffer[lo - start:], lo, first, None, hop)


def release_freed_memory() -> None:
    """Return the free pages of the C heap to the system (glibc's ``malloc_trim``; nothing elsewhere). A
    block's large temporaries (the network's activations, the spectrogram) are freed between small arrays
    that stay (each block's per-frame results), and glibc keeps such pages: the resident size crept up
    block after block, by hundreds of MB over an hour of audio."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    import ctypes

    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the process runs on
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return None


# ---------------------------------------------------------------------------------------------
# per-frame analyses, block by block
# ---------------------------------------------------------------------------------------------
class LevelMeter:
    """``pitch.frame_level_db`` block by block: the RMS level in dBFS of centred ``window``-sample frames,
    from a running sum of squares continued from block to block (the same sums, in the same order)."""

    def __init__(self, *, window: int = 1024) -> None:
        self.window = window
        self._carry = 0.0  # the sum of squares of the zero-padded audio before the next block's first window

    def push(self, block: AudioBlock) -> np.ndarray:
        x = block.span(self.window // 2).astype(np.float64)
        sums = np.cumsum(np.concatenate([[self._carry], x * x]))
        count = block.frames_end - block.first
        starts = np.arange(count) * block.hop
        power = (sums[starts + self.window] - sums[starts]) / self.window
        if not block.last:
            self._carry = float(sums[count * block.hop])
        return 10.0 * np.log10(np.maximum(power, 1e-12))


class OnsetFlux:
    """``librosa.onset.onset_strength(y=audio, sr=sr, hop_length=hop, n_fft=1024, lag=2, max_size=3,
    center=True)`` of a whole clip, computed block by block: each block's log-mel frames (unclipped) go to a
    temporary file; ``flux()`` clips them under the loudest bin of the clip as librosa does and takes the
    spectral flux. Use as a context manager (the file is removed on close)."""

    N_FFT = 1024
    LAG = 2
    MAX_SIZE = 3
    TOP_DB = 80.0
    MELS = 128
    READ_FRAMES = 4096

    def __init__(self, sample_rate: int, hop: int) -> None:
        self.sample_rate = sample_rate
        self.hop = hop
        self.frames = 0
        self._loudest = None  # np.float32, as librosa's log_spec.max()
        self._file = tempfile.TemporaryFile(prefix="tutor-mel-")

    def __enter__(self) -> OnsetFlux:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def push(self, block: AudioBlock) -> None:
        import librosa

        count = block.frames_end - block.first
        mel = librosa.feature.melspectrogram(y=block.span(self.N_FFT // 2), sr=self.sample_rate, n_fft=self.N_FFT,
                                             hop_length=self.hop, fmax=0.5 * self.sample_rate, center=False)
        db = librosa.power_to_db(np.abs(mel), top_db=None)[:, :count]
        if db.shape[1] != count:
            raise ValueError(f"{db.shape[1]} mel frames for a block of {count}")
        if db.size:
            loudest = db.max()
            self._loudest = loudest if self._loudest is None else max(self._loudest, loudest)
        self._file.write(np.ascontiguousarray(db.T).tobytes())
        self.frames += count

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        """Frames ``lo`` to ``hi`` of the log-mel spectrogram, clipped as librosa clips it: (mels, frames)."""
        self._file.seek(lo * self.MELS * 4)
        rows = np.frombuffer(self._file.read((hi - lo) * self.MELS * 4), dtype=np.float32).reshape(hi - lo, self.MELS)
        return np.maximum(np.ascontiguousarray(rows.T), self._loudest - self.TOP_DB)

    def flux(self) -> np.ndarray:
        """The onset strength of every frame (float32), as ``onset_strength`` of the whole clip gives it."""
        from scipy.ndimage import maximum_filter1d

        n = self.frames
        out = np.zeros(n, np.float32)
        pad = self.LAG + self.N_FFT // (2 * self.hop)  # librosa's compensation for the lag and the centring
        for lo in range(pad, n, self.READ_FRAMES):
            hi = min(n, lo + self.READ_FRAMES)
            spectrum = self._rows(lo - pad, hi - pad + self.LAG)
            reference = maximum_filter1d(spectrum, self.MAX_SIZE, axis=-2)
            onset = np.maximum(0.0, spectrum[:, self.LAG:] - reference[:, :-self.LAG])
            out[lo:hi] = np.mean(onset, axis=-2)
        return out


class ViterbiTail:
    """The undecided end of a Viterbi pass run block by block. ``push`` takes a block's back pointers
    (``pointers[t, s]``: the best state at frame t - 1 on the way to state s at frame t; row 0 of the very
    first block is not used) and per-frame ``payload`` rows (what decoding a frame needs), and gives back
    the frames now decided: (states, payload) up to the last frame through which every state's best path
    passes. ``finish(state)`` decides the rest from the final frame's best state."""

    def __init__(self, decide: Callable[[np.ndarray, np.ndarray], object]) -> None:
        self.decide = decide  # (states, payload rows) -> the decided frames' results
        self._pointers: list[np.ndarray] = []
        self._payload: list[np.ndarray] = []

    @property
    def pending(self) -> int:
        return sum(len(p) for p in self._pointers)

    def push(self, pointers: np.ndarray, payload: np.ndarray):
        self._pointers.append(pointers)
        self._payload.append(payload)
        table = np.concatenate(self._pointers) if len(self._pointers) > 1 else pointers
        current = np.arange(table.shape[1])
        for t in range(len(table) - 1, 0, -1):
            current = table[t, current]
            if current.min() == current.max():  # every path passes state current[0] at frame t - 1
                return self._cut(table, t, int(current[0]))
        self._pointers = [table]
        return None

    def finish(self, state: int):
        if not self._pointers:
            return None
        table = np.concatenate(self._pointers)
        return self._cut(table, len(table), state)

    def _cut(self, table: np.ndarray, stop: int, state: int):
        """Decide frames 0..stop-1, the state at frame stop - 1 being ``state``; keep the rest open."""
        states = np.zeros(stop, dtype=np.int64)
        states[stop - 1] = state
        for t in range(stop - 1, 0, -1):
            states[t - 1] = table[t, states[t]]
        payload = np.concatenate(self._payload) if len(self._payload) > 1 else self._payload[0]
        self._pointers = [table[stop:]] if stop < len(table) else []
        self._payload = [payload[stop:]] if stop < len(payload) else []
        return self.decide(states, payload[:stop])
