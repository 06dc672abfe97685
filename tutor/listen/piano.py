"""Every note of a polyphonic piano recording, with velocity and the sustain pedal (issue 20).

The model is Transkun V2 (Yan & Duan, "Scoring intervals using non-hierarchical transformer for automatic
piano transcription", ISMIR 2024; PyPI ``transkun``, MIT), whose weights ship inside its wheel
(``transkun/pretrained/2.0.pt`` + ``2.0.conf``): nothing is downloaded. It hears 16 s segments of 44.1 kHz
audio and decodes each pitch (and the sustain and soft pedals) with a semi-CRF over note intervals.

Made fast enough for reviewing a take on a small CPU (see ``tests/bench/bench_piano.py``):

- only the parts of the take that hold sound are transcribed: stretches of ``SILENCE_GAP_S`` or more far
  under the take's loudest moment so far are skipped (a practice take is full of pauses);
- a take can be transcribed while it is recorded (``PianoStream``, ``TakeFileTranscriber``: each 16 s
  segment as soon as it is complete; every decision is causal, so the notes are the whole file's);
- attention runs on 4-D tensors (torch's fused CPU kernel);
- 16 s segments (the model misses notes in shorter ones) overlap by ``OVERLAP_S`` instead of half
  their length (the shipped setting transcribes every second twice), with ``EDGE_PAD_S`` of silence
  before and after a stretch instead of 8 s;
- on a CPU the transformer's linear layers run as int8 (dynamic quantisation, fbgemm): key and value
  projections fused into one matrix product; on a GPU the model runs as shipped, in float32.

``transcribe_piano_file(path)`` / ``transcribe_piano(audio, sample_rate)`` give a frozen
``PianoTranscription`` whose ``performance`` is a ``tutor.score.music.Performance`` (notes with velocity,
``cents`` None, the sustain pedal as ``PedalEvent``s).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.audio.devices import StreamResampler
from tutor.errors import ModelError, TutorError
from tutor.score.music import OnsetOdds, PedalEvent, Performance, PlayedNote

log = logging.getLogger(__name__)

TRACKER = "transkun-2.0"  # the "tracker" field of a piano transcription's JSON
MODEL_SAMPLE_RATE = 44100
SEGMENT_S = 16.0  # what the model was trained on
OVERLAP_S = 4.0  # segments overlap this much (the shipped transcribe() overlaps 8 s: every second twice)
SILENCE_DB = 55.0  # frames this far under the take's loudest are silence...
SILENCE_FLOOR_DBFS = -75.0  # ...and every frame under this level (digital silence, a muted input)
SILENCE_GAP_S = 1.5  # silences at least this long are not transcribed...
SILENCE_MARGIN_S = 0.5  # ...less this margin on either side (a release, the next attack's approach)
LEVEL_FRAME_S = 0.05
END_GUARD_S = 0.03  # notes the model hears starting this close to a stretch's end (or after) are dropped
EDGE_PAD_S = 1.0  # silence the model hears before a sounding stretch and after it (shipped: 8 s)
SUSTAIN_PEDAL = -64  # Transkun's symbols for the pedals
PIANO_LOWEST = 21  # A0: the model's lowest note symbol (its others are the pedals)
INT8_LINEAR = True  # the transformer's linear layers as int8 (CPU, dynamic quantisation)
INT8_SCOPE = "all"  # "all" linear layers or only the feed-forward ones ("ffn")
INT8_PER_CHANNEL = True
BF16_CONVOLUTIONS = False  # bfloat16 convolutions (CPU): measured 6% faster, onset precision 0.936 vs 0.964 (mz_311_1, 20 s)
MIN_CONFIDENCE_VELOCITY = 1  # a note with velocity 0 is never reported
CPU_THREADS = max(1, min(4, os.cpu_count() or 1))  # torch threads of every segment, whichever thread runs it
FOUR_D_ATTENTION = True  # attention as 4-D tensors (torch's fused CPU kernel); False: as before (bench peer)
ONSET_ODDS = True  # each segment's onset odds kept for the review (issue 20); False: not made (bench peer)


@dataclass(frozen=True)
class PianoTranscription:
    performance: Performance
    tracker: str
    sample_rate: int  # of the input audio
    device: str = "cpu"

    @property
    def notes(self) -> tuple[PlayedNote, ...]:
        return self.performance.notes

    @property
    def f0(self):
        """No pitch track: a piano transcription is notes (``tutor transcribe --f0`` says so)."""
        return None


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------
_MODELS: dict[tuple[str, bool], object] = {}
_LOCK = threading.Lock()


def load_model(device: str = "cpu", *, fast: bool = True):
    """Transkun V2 on ``device`` ('cpu' or 'cuda'), loaded once per process; ``fast`` (CPU only): int8
    linear layers with fused key/value projections. ``fast=False`` is the model exactly as shipped."""
    fast = bool(fast) and device == "cpu"
    key = (device, fast)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _build(device, fast)
            _MODELS[key] = model
    return model


def _build(device: str, fast: bool):
    import importlib.resources
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.script deprecation inside transkun's CRF
            import transkun.ModelTransformer as transkun_model
    except ImportError as error:
        raise ModelError(f"the piano transcriber needs the transkun package ({error}); run make setup") from None
    folder = importlib.resources.files("transkun") / "pretrained"
    try:
        settings = json.loads((folder / "2.0.conf").read_text())["Model"]["config"]
        config = transkun_model.Config()
        config.__dict__.update(settings)
        with (folder / "2.0.pt").open("rb") as handle:
            checkpoint = torch.load(handle, map_location="cpu", weights_only=True)
        model = (_fast_class if fast else _odds_class)(transkun_model.TransKun)(conf=config)
        model.load_state_dict(checkpoint.get("best_state_dict", checkpoint.get("state_dict")))
    except (OSError, KeyError, RuntimeError, ValueError) as error:
        raise ModelError(f"the Transkun weights could not be loaded ({error})") from None
    model.eval()
    model.backbone.useGradientCheckpoint = False  # its default checkpoints layers in inference too (warnings)
    if fast:
        _fuse_attention(model)
        if INT8_LINEAR:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao's deprecation notice (torchao is the new home)
                layers = model.backbone.encoderLayers
                qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if INT8_PER_CHANNEL
                           else torch.ao.quantization.default_dynamic_qconfig)
                spec = {name: qconfig for name, module in layers.named_modules()
                        if isinstance(module, torch.nn.Linear) and (INT8_SCOPE == "all" or "fnnBlock" in name)}
                model.backbone.encoderLayers = torch.ao.quantization.quantize_dynamic(layers, spec, dtype=torch.qint8)
        if BF16_CONVOLUTIONS and torch.backends.mkldnn.is_available():
            model.backbone.downConv = _bf16(model.backbone.downConv)
    return model.to(device)


def _odds_class(base):
    """``base`` (Transkun's model class, as shipped: a GPU's, or ``fast=False``) whose decoding also leaves
    the segment's onset odds (``_Decoder.onset_odds``, issue 20): its own semi-CRF decodes the notes; the
    same scores, copied to the CPU, give the odds (not when ``ONSET_ODDS`` is False)."""

    class OddsCRF:
        def __init__(self, crf) -> None:
            self.crf = crf

        def decode(self, forcedStartPos=None, forward=False):
            paths = self.crf.decode(forcedStartPos=forcedStartPos, forward=forward)
            if ONSET_ODDS:  # Transkun's score is [end, begin, symbol]; the decoder reads [symbol, begin, end]
                decoder = _Decoder(self.crf.score.permute(2, 1, 0).float().cpu().numpy())
                decoder.decode(forcedStartPos=forcedStartPos)
                _LAST_DECODER.decoder = decoder
            return paths

    class OddsTransKun(base):
        def processFramesBatch(self, framesBatch):
            crf, ctx = super().processFramesBatch(framesBatch)
            return OddsCRF(crf), ctx

    return OddsTransKun


def _fast_class(base):
    """``base`` (Transkun's model class) with a faster interval scorer and Viterbi decoder: the pairwise
    scores are built in the layout the decoder reads (begin, end) in place, with no transposed copies of
    the T x T x 90 matrix, and the decoder runs in numpy. The same arithmetic as
    ``ScaledInnerProductIntervalScorer`` + ``CRF.viterbiBackward`` (ties between skipping a frame and
    an interval go to the skip, as torch's max over [skip, intervals] does)."""

    class FastTransKun(base):
        def processFramesBatch(self, framesBatch):
            import torch

            mean = torch.mean(framesBatch, dim=[1, 2, 3], keepdim=True)
            std = torch.std(framesBatch, dim=[1, 2, 3], keepdim=True)
            framesBatch = (framesBatch - mean) / (std + 1e-8)
            features = self.framewiseFeatureExtractor(framesBatch).contiguous()
            features = features.view(features.shape[0], *features.shape[-3:])
            ctx = self.backbone(features, outputIndices=torch.tensor(self.targetMIDIPitch, device=features.device))
            decoder = _Decoder(_interval_scores(self.scorer, ctx))
            _LAST_DECODER.decoder = decoder  # the segment's onset odds, read by the thread that runs it
            return decoder, ctx

    return FastTransKun


def _interval_scores(scorer, ctx):
    """[batch*symbols, begin, end] scores of every interval (numpy float32)."""
    import torch

    size = scorer.size * scorer.expansionFactor
    q, k, diag = scorer.map(ctx).split([size, size, 1], dim=-1)  # [N, P, T, *]
    q = q / math.sqrt(q.shape[-1])
    scores = torch.matmul(k, q.transpose(-1, -2))  # [N, P, begin, end]
    steps = torch.arange(scores.shape[-1], device=scores.device)
    scores.mul_((steps.unsqueeze(-1) - steps.unsqueeze(0)).abs())
    scores.diagonal(dim1=-2, dim2=-1).add_(diag.squeeze(-1))
    return scores.flatten(0, 1).float().cpu().numpy()


_LAST_DECODER = threading.local()  # the decoder of the segment this thread transcribed last


class _Decoder:
    """Transkun's ``NeuralSemiCRFInterval.decode(forward=False)`` on the (symbol, begin, end) scores.

    ``decode`` also leaves ``onset_odds`` ([symbols, frames] float32, issue 20): how strongly the model's
    own scores say that a note of each symbol starts at each frame, against the best path (max-product):
    where the decoded path starts a note, the margin by which starting it beats skipping that frame
    (> 0); elsewhere the best path with a note starting there less the best path (<= 0; -inf before the
    forced start). A note the model heard weakly is near 0; one it never heard far below."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores
        self.onset_odds: np.ndarray | None = None

    def decode(self, forcedStartPos=None, forward=False):
        scores = self.scores
        symbols, length, _ = scores.shape
        diagonal = np.ascontiguousarray(np.diagonal(scores, axis1=1, axis2=2).T)  # [T, symbols]
        gain = diagonal * (diagonal > 0)  # a one-frame interval is taken wherever it scores above zero
        best = np.zeros((length, symbols), dtype=np.float32)
        best[length - 1] = gain[length - 1]
        pointers = np.empty((max(length - 1, 0), symbols), dtype=np.int32)
        starting = np.full((length, symbols), -np.inf, dtype=np.float32)  # best suffix that starts a note there
        for i in range(1, length):
            begin = length - i - 1
            candidates = scores[:, begin, begin + 1:] + best[begin + 1:].T  # [symbols, ends]
            choice = candidates.argmax(axis=1)
            value = candidates[np.arange(symbols), choice]
            starting[begin] = value
            skip = best[begin + 1]  # the noise score is zero in this model
            take_skip = skip >= value
            pointers[i - 1] = np.where(take_skip, -1, choice)
            best[begin] = np.where(take_skip, skip, value) + gain[begin]
        included = (diagonal > 0).T.tolist()
        pointers_list = pointers.T.tolist()
        starts = forcedStartPos if forcedStartPos is not None else [0] * symbols
        paths = []
        for symbol in range(symbols):
            j, path, ptr, inside = starts[symbol], [], pointers_list[symbol], included[symbol]
            while j < length - 1:
                selection = ptr[length - j - 2]
                if inside[j]:
                    path.append((j, j))
                if selection < 0:
                    j += 1
                else:
                    end = selection + j + 1
                    path.append((j, end))
                    j = end
            if inside[length - 1]:
                path.append((length - 1, length - 1))
            paths.append(path)
        if ONSET_ODDS:
            self.onset_odds = _onset_odds(scores, gain, best, starting, starts, paths)
        return paths


def _onset_odds(scores, gain, best, starting, starts, paths) -> np.ndarray:
    """``_Decoder.onset_odds`` from the backward pass (``best``: the best suffix from a free frame;
    ``starting``: the best suffix that starts a note there) and a forward pass over the same scores
    (``ahead``: the best prefix that leaves the frame free)."""
    length, symbols = best.shape
    first = np.asarray(starts, dtype=np.int64)
    ahead = np.full((length, symbols), -np.inf, dtype=np.float32)
    columns = np.arange(symbols)
    ahead[first, columns] = gain[first, columns]
    for end in range(1, length):
        into = (scores[:, :end, end] + ahead[:end].T).max(axis=1)  # a note ending here
        value = np.maximum(ahead[end - 1], into) + gain[end]
        ahead[end] = np.where(end > first, value, ahead[end])
    total = best[first, columns]
    odds = (ahead + starting - total).T  # [symbols, T]: <= 0, 0 where the path starts a note
    skip = np.vstack([best[1:], np.full((1, symbols), -np.inf, np.float32)])
    for symbol, path in enumerate(paths):
        for begin, end in path:
            if end > begin:
                odds[symbol, begin] = starting[begin, symbol] - skip[begin, symbol]
    return odds.astype(np.float32)


def _bf16(module):
    """``module`` run in bfloat16 (autocast), its output back in float32."""
    import torch

    class Bf16(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.inner(x).float()

    return Bf16()


def _fuse_attention(model) -> None:
    """Each of Transkun's attention layers (raw projection matrices) as nn.Linear layers that dynamic
    quantisation turns into int8: the query from the normalised input, key and value in one product from
    the layer's memory. The same arithmetic as transkun.LayersTransformer.MultiHeadAttentionKernel."""
    import torch
    import torch.nn.functional as F
    from transkun.LayersTransformer import MultiHeadAttentionKernel

    class FusedAttention(torch.nn.Module):
        def __init__(self, layer: MultiHeadAttentionKernel) -> None:
            super().__init__()
            if layer.kernel is not None:
                raise ModelError("this Transkun checkpoint uses approximate attention kernels")
            self.num_heads, self.head_dim = layer.num_heads, layer.head_dim
            hidden = layer.q_proj_weight.shape[1]
            self.q = torch.nn.Linear(layer.q_proj_weight.shape[0], hidden, bias=False)
            self.q.weight.data = layer.q_proj_weight.data.t().contiguous()
            self.kv = torch.nn.Linear(layer.k_proj_weight.shape[0], 2 * hidden, bias=False)
            self.kv.weight.data = torch.cat([layer.k_proj_weight.data, layer.v_proj_weight.data], dim=1).t().contiguous()
            self.out_proj = layer.out_proj

        def _heads(self, x):
            return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(-2, -3)

        def forward(self, query, key=None, value=None):
            key = query if key is None else key
            k, v = self.kv(key).chunk(2, dim=-1)
            q, k, v = self._heads(self.q(query)), self._heads(k), self._heads(v)
            if FOUR_D_ATTENTION and q.dim() > 4:  # [batch, pitch or time, heads, T, dim] as 4-D: torch's fused
                lead = q.shape[:-3]  # CPU kernel (flash attention); 5-D inputs take its unfused path, 4-5x slower
                q, k, v = (x.flatten(0, -4) for x in (q, k, v))
                fetched = F.scaled_dot_product_attention(q, k, v).unflatten(0, lead)
            else:
                fetched = F.scaled_dot_product_attention(q, k, v)
            return self.out_proj(fetched.transpose(-2, -3).flatten(-2, -1))

    for parent in list(model.backbone.encoderLayers.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MultiHeadAttentionKernel):
                setattr(parent, name, FusedAttention(child))


# ---------------------------------------------------------------------------------------------
# where the take holds sound
# ---------------------------------------------------------------------------------------------
def sounding_spans(audio: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """(start, stop) sample ranges of ``audio`` that hold sound: everything but silences of
    ``SILENCE_GAP_S`` or more (less ``SILENCE_MARGIN_S`` on each side). A frame is silent when it is
    ``SILENCE_DB`` under the loudest frame *so far* (or under ``SILENCE_FLOOR_DBFS``): causal, so a take
    can be cut into stretches while it is recorded (``PianoStream`` makes the same cuts)."""
    frame = max(1, round(LEVEL_FRAME_S * sample_rate))
    count = len(audio) // frame
    if count == 0:
        return [(0, len(audio))] if len(audio) else []
    loud = _loud_frames(_levels_db(audio[: count * frame].reshape(count, frame)), -math.inf)[0]
    if not loud.any():
        return []
    gap = round(SILENCE_GAP_S / LEVEL_FRAME_S)
    margin = round(SILENCE_MARGIN_S / LEVEL_FRAME_S)
    spans: list[list[int]] = []
    for index in np.flatnonzero(loud):
        if spans and index - spans[-1][1] < gap:
            spans[-1][1] = int(index) + 1
        else:
            spans.append([int(index), int(index) + 1])
    return [(max(0, (a - margin) * frame), min(len(audio), (b + margin) * frame)) for a, b in spans]


def _levels_db(frames: np.ndarray) -> np.ndarray:
    """The level (dB) of each row of ``frames`` (one 50 ms frame a row)."""
    power = np.square(frames, dtype=np.float64).mean(axis=1)
    return 10.0 * np.log10(power + 1e-20)


def _loud_frames(level_db: np.ndarray, loudest_db: float) -> tuple[np.ndarray, float]:
    """Which frames are loud, given the loudest level before them; and the loudest level after them."""
    if not len(level_db):
        return np.zeros(0, bool), loudest_db
    running = np.maximum.accumulate(np.maximum(level_db, loudest_db))
    return level_db > np.maximum(running - SILENCE_DB, SILENCE_FLOOR_DBFS), float(running[-1])


# ---------------------------------------------------------------------------------------------
# transcription
# ---------------------------------------------------------------------------------------------
def transcribe_piano_file(path: str | Path, *, device: str = "auto", fast: bool = True,
                          progress=None) -> PianoTranscription:
    """The notes and sustain pedal of a piano recording (any file ``read_audio`` reads)."""
    from tutor.listen.transcription import read_audio

    audio, rate = read_audio(path)
    return transcribe_piano(audio, rate, device=device, fast=fast, progress=progress, source_path=Path(path))


def transcribe_piano(audio: np.ndarray, sample_rate: int, *, device: str = "auto", fast: bool = True,
                     progress=None, source_path: Path | None = None,
                     overlap_s: float | None = None, pad_s: float = EDGE_PAD_S,
                     skip_silence: bool = True) -> PianoTranscription:
    """The notes of a mono (or (frames, channels)) clip at any sample rate: a ``PianoStream`` fed the
    whole clip at once. ``progress(fraction, text)`` hears each segment (it may raise to cancel)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    stream = PianoStream(sample_rate, device=device, fast=fast, progress=progress, source_path=source_path,
                         overlap_s=overlap_s, pad_s=pad_s, skip_silence=skip_silence)
    stream.feed(audio)
    return stream.finish()


TRIM_S = 8.0  # audio no segment can need any more is dropped in pieces of at least this much


class _Stretch:
    """A sounding stretch being transcribed: its start (model samples), the next segment's start in the
    padded stretch, the decoder's forced start positions (chained from segment to segment) and the
    events so far by pitch."""

    def __init__(self, start: int, first_frame: int, pitches: int) -> None:
        self.start = start
        self.index = 0
        self.starts = [first_frame] * pitches
        self.by_pitch: dict[int, list] = {}


class PianoStream:
    """The piano transcriber fed a recording as it grows (issue 20): ``feed(samples)`` as the audio
    arrives (mono float32 at ``sample_rate``), ``finish()`` once at the end gives the
    ``PianoTranscription``. ``transcribe_piano`` is this class fed a whole clip at once, and every
    decision here is causal, so a take fed in pieces while it is recorded gets exactly the notes the
    whole file gets:

    - the input is resampled to 44.1 kHz by a soxr stream (``StreamResampler``: its output does not depend
      on how the input is cut);
    - silence (``sounding_spans``) is judged against the loudest frame so far;
    - each 16 s segment of a sounding stretch (every ``SEGMENT_S - OVERLAP_S`` in the stretch padded with
      ``EDGE_PAD_S`` of silence) is transcribed as soon as the stretch is known to reach the segment's
      end, the decoder's forced start positions chained from the segment before (Transkun's
      ``transcribe``); a stretch's notes are stitched when it ends (or at ``finish``).

    So at the end of a take only its last segment or two are left. ``feed`` and ``finish`` do the model's
    work: call them off the UI thread and the audio callback. ``progress(fraction, text)`` hears each
    segment (it may raise to cancel); ``cancelled()``, when given, is asked before each segment (True:
    raise ``TutorError``)."""

    def __init__(self, sample_rate: int, *, device: str = "auto", fast: bool = True, progress=None,
                 source_path: Path | None = None, overlap_s: float | None = None, pad_s: float = EDGE_PAD_S,
                 skip_silence: bool = True) -> None:
        from tutor.listen.pitch import resolve_device

        if sample_rate <= 0:
            raise TutorError(f"sample rate must be positive, not {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.device = resolve_device(device)
        self.model = load_model(self.device, fast=fast)
        self.progress, self.source_path, self.skip_silence = progress, source_path, skip_silence
        self.cancelled = None
        fs, hop = self.model.fs, self.model.hopSize
        self._pad = math.ceil(pad_s * fs)
        self._overlap = math.ceil((OVERLAP_S if overlap_s is None else overlap_s) * fs / hop) * hop
        self._segment = math.ceil(SEGMENT_S * fs)  # always the model's own length: it misses notes in shorter ones
        self._step = math.ceil((self._segment - self._overlap) / hop) * hop
        self._first_frame = math.floor(self._pad / hop)
        self._resampler = StreamResampler(orig_sr=self.sample_rate, target_sr=MODEL_SAMPLE_RATE)
        self._audio = np.zeros(0, np.float32)  # model-rate samples from self._base on
        self._base = 0
        self.length = 0  # model-rate samples received
        self._frame = max(1, round(LEVEL_FRAME_S * MODEL_SAMPLE_RATE))
        self._gap = round(SILENCE_GAP_S / LEVEL_FRAME_S)
        self._margin = round(SILENCE_MARGIN_S / LEVEL_FRAME_S)
        self._frames_done = 0
        self._loudest_db = -math.inf
        self._loud: list[int] | None = None  # [first, last + 1] loud frame of the stretch being heard
        self._stretch: _Stretch | None = None
        self.segments_done = 0
        self.notes: list[PlayedNote] = []
        self.pedal: list[PedalEvent] = []
        self._odds: list[tuple[int, np.ndarray]] = []  # (first take frame, [pitches, frames] float16) per segment
        self._finished = False

    # --- input ---------------------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> None:
        """More of the take (mono float32 at ``sample_rate``); transcribes every segment that is complete."""
        if self._finished:
            raise TutorError("this piano stream is finished")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(samples):
            return
        self._append(self._resampler.process(samples))
        self._advance(final=False)

    def finish(self) -> PianoTranscription:
        """The take's transcription: the rest of the input, the last segments, every stretch stitched."""
        if self._finished:
            raise TutorError("this piano stream is finished")
        self._append(self._resampler.flush())
        self._advance(final=True)
        self._finished = True
        self._audio = np.zeros(0, np.float32)
        self._resampler = None  # soxr's stream freed now, not at the interpreter's exit
        if self.progress is not None:
            self.progress(1.0, "done")
        notes = sorted(self.notes, key=lambda n: (n.onset_s, n.pitch))
        pedal = sorted(self.pedal, key=lambda e: (e.time_s, e.down))
        performance = Performance(notes=tuple(notes), source_path=self.source_path, pedal=tuple(pedal),
                                  onset_odds=self._onset_odds())
        return PianoTranscription(performance=performance, tracker=TRACKER, sample_rate=self.sample_rate,
                                  device=self.device)

    def _onset_odds(self) -> OnsetOdds | None:
        """The segments' onset odds on one grid of the take (frames every hop from its start): each frame
        from the segment that heard it last (a segment's first ``OVERLAP_S / 2`` left to the one before);
        None where the model gives none (Transkun's own class, on a GPU)."""
        hop = self.model.hopSize
        if not self._odds:
            return None if self.segments_done else OnsetOdds(hop / self.model.fs, PIANO_LOWEST, np.zeros((88, 0), np.float16))
        odds = np.full((self._odds[0][1].shape[0], math.ceil(self.length / hop)), -np.inf, np.float16)
        for first, chunk in self._odds:  # (the segments' padding after the take's end is left out)
            if first < 0:
                first, chunk = 0, chunk[:, -first:]
            view = odds[:, first: first + chunk.shape[1]]
            view[...] = np.where(np.isfinite(chunk[:, : view.shape[1]]), chunk[:, : view.shape[1]], view)
        self._odds = []
        return OnsetOdds(frame_s=hop / self.model.fs, first_pitch=PIANO_LOWEST, odds=odds)

    def _append(self, resampled: np.ndarray) -> None:
        if len(resampled):
            self._audio = np.concatenate([self._audio, np.asarray(resampled, np.float32)])
            self.length += len(resampled)

    # --- stretches and segments ----------------------------------------------------------------------
    def _advance(self, *, final: bool) -> None:
        """Judge the new 50 ms frames, open and close stretches, transcribe the segments now complete."""
        frame = self._frame
        if not self.skip_silence:
            if self._stretch is None and self.length:
                self._stretch = self._open(0)
            if self._stretch is not None:
                if final:
                    self._close(self.length)
                else:
                    self._run_ready(self.length)
            return
        count = self.length // frame - self._frames_done
        if count > 0:
            first = self._frames_done  # the first new frame
            lo = first * frame - self._base
            levels = _levels_db(self._audio[lo: lo + count * frame].reshape(count, frame))
            loud, self._loudest_db = _loud_frames(levels, self._loudest_db)
            for index in (first + np.flatnonzero(loud)).tolist():
                if self._loud is not None and index - self._loud[1] < self._gap:
                    self._loud[1] = index + 1
                    continue
                if self._loud is not None:  # a silence of SILENCE_GAP_S or more: the stretch before it ends
                    self._close(min(self.length, (self._loud[1] + self._margin) * frame))
                self._loud = [index, index + 1]
                self._stretch = self._open(max(0, (index - self._margin) * frame))
            self._frames_done += count
        if final:
            if self._loud is not None:
                self._close(min(self.length, (self._loud[1] + self._margin) * frame))
            elif self._frames_done == 0 and self.length:  # shorter than one frame: all of it
                self._stretch = self._open(0)
                self._close(self.length)
            return
        if self._loud is not None:  # the stretch reaches at least this far, whatever comes next
            self._run_ready(min(self.length, (self._loud[1] + self._margin) * frame))
        self._trim()

    def _open(self, start: int) -> _Stretch:
        return _Stretch(start, self._first_frame, len(self.model.targetMIDIPitch))

    def _run_ready(self, reached: int) -> None:
        """Transcribe the open stretch's segments that end at or before ``reached`` (model samples)."""
        stretch = self._stretch
        while stretch is not None and stretch.start + stretch.index - self._pad + self._segment <= reached:
            self._run_segment(stretch, None)

    def _close(self, stop: int) -> None:
        """The open stretch ends at ``stop``: its last segments, its notes stitched."""
        from transkun.Data import resolveOverlapping

        stretch, self._stretch, self._loud = self._stretch, None, None
        if stretch is None:
            return
        samples = stop - stretch.start + 2 * self._pad
        while stretch.index < max(samples - self._overlap, 1):
            self._run_segment(stretch, stop)
        for kept in stretch.by_pitch.values():
            if kept:
                kept[-1].hasOffset = True
        events = resolveOverlapping([e for kept in stretch.by_pitch.values() for e in kept if e.hasOffset])
        offset_s = stretch.start / MODEL_SAMPLE_RATE
        end_s = stop / MODEL_SAMPLE_RATE  # the padding after a stretch is silence: nothing starts there
        for event in events:
            onset, offset = event.start + offset_s, min(event.end + offset_s, end_s)
            if onset >= end_s - END_GUARD_S:
                continue
            if event.pitch == SUSTAIN_PEDAL:
                self.pedal += [PedalEvent(time_s=float(onset), down=True), PedalEvent(time_s=float(offset), down=False)]
            elif event.pitch > 0 and event.velocity >= MIN_CONFIDENCE_VELOCITY:
                self.notes.append(PlayedNote(pitch=int(event.pitch), onset_s=round(float(onset), 4),
                                             offset_s=round(float(max(offset, onset + 0.01)), 4),
                                             velocity=int(min(127, max(1, event.velocity))), cents=None,
                                             confidence=1.0))

    def _run_segment(self, stretch: _Stretch, stop: int | None) -> None:
        """One 16 s segment of ``stretch`` (Transkun's ``TransKun.transcribe`` loop body): the stretch
        padded with silence, the notes cut at a segment's end merged with their continuation."""
        import torch
        from transkun.Util import makeFrame

        if self.cancelled is not None and self.cancelled():
            raise TutorError("the piano transcription was cancelled")
        model, fs, hop = self.model, self.model.fs, self.model.hopSize
        begin = stretch.start + stretch.index - self._pad  # model samples
        if self.progress is not None:
            self.progress(min(max(begin, 0) / max(self.length, 1), 0.99), f"piano {_clock(max(begin, 0) / fs)}")
        piece = np.zeros(self._segment, np.float32)
        lo, hi = max(begin, stretch.start), begin + self._segment
        if stop is not None:
            hi = min(hi, stop)
        if hi > lo:
            piece[lo - begin: hi - begin] = self._audio[lo - self._base: hi - self._base]
        previous_threads = torch.get_num_threads()  # torch's CPU thread count is per thread here (OpenMP), and
        torch.set_num_threads(CPU_THREADS)  # it changes the sums' order: the same take gave other velocities
        _LAST_DECODER.decoder = None
        try:  # and notes when transcribed during the take (a new thread) and after it (a thread set to 1)
            with torch.inference_mode():
                x = torch.from_numpy(piece).to(self.device).unsqueeze(0)
                frames = makeFrame(x, hop, model.windowSize)
                events, last = model.transcribeFrames(frames.unsqueeze(0), forcedStartPos=stretch.starts,
                                                      velocityCriteron="hamming", lastFrameIdx=round(self._segment / hop))
        finally:
            torch.set_num_threads(previous_threads)
        stretch.starts = [max(k - self._step // hop, 0) for k in last]
        decoder, _LAST_DECODER.decoder = getattr(_LAST_DECODER, "decoder", None), None
        if decoder is not None and decoder.onset_odds is not None:  # issue 20: kept for the review
            odds = decoder.onset_odds[[i for i, p in enumerate(model.targetMIDIPitch) if p >= PIANO_LOWEST]]
            skip = (self._overlap // 2 if stretch.index else self._pad) // hop  # a frame from the segment that
            self._odds.append((round((begin + skip * hop) / hop), odds[:, skip:].astype(np.float16)))  # heard it last
        begin_s = (stretch.index - self._pad) / fs
        for event in events[0]:
            event.start = max(event.start + begin_s, 0.0)
            event.end = max(event.end + begin_s, event.start)
            kept = stretch.by_pitch.setdefault(event.pitch, [])
            if kept and event.start < kept[-1].end:  # the continuation of a note cut at the last segment's end
                if event.hasOnset:
                    kept[-1] = event
                else:
                    kept[-1].hasOffset = event.hasOffset
                    kept[-1].end = max(event.end, kept[-1].end)
                continue
            if event.hasOnset:
                kept.append(event)
        stretch.index += self._step
        self.segments_done += 1

    def _trim(self) -> None:
        """Drop the audio before anything a segment or a level can still need."""
        keep = (self._frames_done - self._margin - 1) * self._frame
        if self._stretch is not None:
            keep = min(keep, max(self._stretch.start, self._stretch.start + self._stretch.index - self._pad))
        if keep - self._base >= TRIM_S * MODEL_SAMPLE_RATE:
            self._audio = self._audio[keep - self._base:]
            self._base = keep


class TakeFileTranscriber:
    """A piano take transcribed while it is recorded (issue 20): a thread reads the frames the recorder
    has written to ``path`` (``tutor.audio.recording.Recorder`` rewrites the WAV header every 0.1 s) every
    ``POLL_S`` and feeds them to a ``PianoStream``, so each 16 s segment is heard during the take. After
    the recorder has closed the file, ``result()`` (a worker thread: it waits) reads the rest and
    transcribes only the tail. It reads the file itself, as ``transcribe_piano_file`` does, so the notes
    are exactly the whole file's; a crash loses nothing the recorder wrote (the file can be reviewed
    again). ``cancel()`` stops it (``result()`` then raises ``TutorError``)."""

    POLL_S = 0.5

    def __init__(self, path: str | Path, *, device: str = "auto") -> None:
        self.path = Path(path)
        self.device = device
        self.stream: PianoStream | None = None
        self.read_frames = 0
        self.error: BaseException | None = None
        self._closed = threading.Event()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="piano-take", daemon=True)
        self._lock = threading.Lock()  # one reader of the file and feeder of the stream at a time

    def start(self) -> TakeFileTranscriber:
        self._thread.start()
        return self

    def close(self) -> None:
        """The recorder has finished the file: the thread stops polling (``result`` reads the rest)."""
        self._closed.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._closed.set()

    @property
    def segments_done(self) -> int:
        return self.stream.segments_done if self.stream is not None else 0

    def _run(self) -> None:
        while not self._closed.wait(self.POLL_S):
            try:
                self._read_more()
            except BaseException as error:  # noqa: BLE001 - a worker thread: result() raises it
                self.error = error
                break
        if self._cancel.is_set() or self.error is not None:
            self.stream = None  # nothing more is read: the model's buffers and the resampler go now

    def _read_more(self) -> None:
        """Feed the frames written since the last read (the header's count)."""
        import soundfile

        with self._lock:
            if not self.path.exists():
                return
            with soundfile.SoundFile(str(self.path)) as handle:
                frames = handle.frames
                if self.stream is None:
                    if frames <= 0:
                        return
                    self.stream = PianoStream(handle.samplerate, device=self.device, source_path=self.path)
                    self.stream.cancelled = self._cancel.is_set
                if frames <= self.read_frames:
                    return
                handle.seek(self.read_frames)
                block = handle.read(frames - self.read_frames, dtype="float32", always_2d=True)
            self.read_frames += len(block)
            self.stream.feed(block.mean(axis=1))  # as read_audio makes it mono

    def result(self, timeout_s: float | None = None, *, check=None) -> PianoTranscription:
        """The take's transcription (after ``close()``): the rest of the file read, the tail transcribed
        here (``check()``, when given, is called before each segment: it may raise to cancel)."""
        self._closed.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TutorError("the piano transcription of the take did not stop")
        if self.error is not None:
            raise self.error
        if self._cancel.is_set():
            raise TutorError("the piano transcription was cancelled")
        if check is not None:
            check()
        self._read_more()
        if self.stream is None:
            return transcribe_piano_file(self.path, device=self.device)  # an empty take: as a file
        if check is not None:
            self.stream.cancelled = lambda: self._cancel.is_set() or bool(check())
        return self.stream.finish()


# ---------------------------------------------------------------------------------------------
# keyboard parts and the JSON
# ---------------------------------------------------------------------------------------------
KEYBOARD_PROGRAMS = frozenset(range(0, 8)) | frozenset(range(16, 24))  # General MIDI pianos and organs
NOT_KEYBOARD_WORDS = ("voice", "vocal", "sopran", "alto", "tenor", "bass", "bariton", "singer", "choir", "chor",
                      "violin", "viola", "cello", "contrabass", "flute", "oboe", "clarinet", "bassoon", "horn",
                      "trumpet", "trombone", "tuba", "sax", "recorder", "guitar", "melody")
KEYBOARD_WORDS = ("piano", "klavier", "keyboard", "organ", "harpsichord", "cembalo", "clavi", "pno", "kbd")


def is_keyboard_part(part) -> bool:
    """Whether a score part (``tutor.score.music.Part``) is played on a keyboard: its name says so, or
    its General MIDI program is a piano or organ and its name does not name another instrument (a
    MusicXML part that names no instrument reads as program 0, a piano)."""
    name = (part.name or "").lower()
    if any(word in name for word in KEYBOARD_WORDS):
        return True
    if any(word in name for word in NOT_KEYBOARD_WORDS):
        return False
    return int(part.program) in KEYBOARD_PROGRAMS


def piano_transcription_json(result: PianoTranscription, *, onset_odds: bool = False) -> dict:
    """``tutor transcribe --instrument piano --json``: the single-line document's fields (``cents`` null:
    a piano is in tune with itself) plus each note's ``velocity`` and the sustain pedal's spans; with
    ``onset_odds`` (a host's answer to the app, issue 20) also the transcriber's onset odds."""
    doc = {
        "tracker": result.tracker,
        "sample_rate": int(result.sample_rate),
        "notes": [
            {"onset": float(n.onset_s), "offset": float(n.offset_s), "pitch": int(n.pitch), "cents": None,
             "confidence": float(n.confidence if n.confidence is not None else 1.0), "velocity": int(n.velocity)}
            for n in result.notes
        ],
        "pedal": [{"down": float(down), "up": float(up) if math.isfinite(up) else None}
                  for down, up in result.performance.pedal_spans()],
    }
    odds = result.performance.onset_odds
    if onset_odds and odds is not None:
        import base64

        values = np.ascontiguousarray(odds.odds, dtype="<f2")
        doc["onset_odds"] = {"frame_s": float(odds.frame_s), "first_pitch": int(odds.first_pitch),
                             "pitches": int(values.shape[0]), "float16": base64.b64encode(values.tobytes()).decode("ascii")}
    return doc


def _onset_odds_of(doc: dict | None) -> OnsetOdds | None:
    """The ``onset_odds`` of a ``piano_transcription_json`` document (None when it has none)."""
    if not doc:
        return None
    import base64

    values = np.frombuffer(base64.b64decode(doc["float16"]), dtype="<f2").astype(np.float16)
    pitches = int(doc["pitches"])
    return OnsetOdds(frame_s=float(doc["frame_s"]), first_pitch=int(doc["first_pitch"]),
                     odds=values.reshape(pitches, len(values) // max(pitches, 1)))


def piano_performance(doc: dict) -> Performance:
    """The notes and pedal of a ``piano_transcription_json`` document (a host's answer)."""
    notes = tuple(PlayedNote(pitch=int(n["pitch"]), onset_s=float(n["onset"]), offset_s=float(n["offset"]),
                             velocity=int(n.get("velocity") or 80), cents=None, confidence=float(n["confidence"]))
                  for n in doc["notes"])
    pedal: list[PedalEvent] = []
    for span in doc.get("pedal") or ():
        pedal.append(PedalEvent(time_s=float(span["down"]), down=True))
        if span.get("up") is not None:
            pedal.append(PedalEvent(time_s=float(span["up"]), down=False))
    return Performance(notes=notes, pedal=tuple(pedal), onset_odds=_onset_odds_of(doc.get("onset_odds")))


def piano_midi_bytes(performance: Performance, *, ticks_per_second: int = 960) -> bytes:
    """A one-track MIDI file (120 bpm, so 1 quarter = 0.5 s): the notes with their velocities and the
    sustain pedal as control change 64 (127 down, 0 up)."""
    import io

    import mido

    midi = mido.MidiFile(ticks_per_beat=ticks_per_second // 2)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    events = []  # (tick, order, message): at one tick, note-offs, then the pedal, then note-ons
    for note in performance.notes:
        events.append((round(note.onset_s * ticks_per_second), 2,
                       mido.Message("note_on", note=int(note.pitch), velocity=int(note.velocity))))
        events.append((round(note.offset_s * ticks_per_second), 0, mido.Message("note_off", note=int(note.pitch))))
    for event in performance.pedal:
        events.append((round(event.time_s * ticks_per_second), 1,
                       mido.Message("control_change", control=64, value=127 if event.down else 0)))
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"
