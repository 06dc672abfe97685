"""Single-line transcription on real recordings (issue 22): singing and violin, against pYIN and basic-pitch.

Data (../shared/data/real-audio, README there; never copied into the repo), each set split by recording or
singer into a tuning part and a held-out part (``split``); the rules in tutor/listen/transcription.py were
tuned on the tuning part only and the numbers to quote are the held-out ones:

* ``ssvd``: SSVD v2 sight-singers on phone microphones, manual note labels (onset where the 2nd harmonic
  appears, pitch the sung centre as a fractional MIDI number). Held out: recordings whose id is a multiple
  of 3 (the numeric ids carry no singer) and singer ``man2``.
* ``violin``: Bach BWV 1002 movements 6-8 (John Garner), score notes aligned automatically (tens of ms of
  label error). Held out: movement 8; tuned on 6 and 7.
* ``mir1k``: MIR-1K karaoke voice, frame pitch only (raw pitch accuracy). Held out: singer ``bobon``.
* ``rendered``: the synthetic melodies of bench_pitch (clean FluidSynth renders, ``RENDERED_CLIPS`` of them)
  so that no gain on real sound is paid for there.

Metrics (mir_eval): note onset F1 at 50 and 100 ms with the pitch within 50 cents of the labelled pitch (the
note's pitch + cents against the sung centre), offsets ignored; note F1 with offsets (mir_eval's default: 20 %
of the note or 50 ms); raw pitch accuracy of the transcription's f0 (mir1k, rendered). Systems: ``tutor``
(``transcribe_file`` with the CPU tracker, PESTO, told the instrument: voice for SSVD and MIR-1K, violin
for the violin, each rendered melody's own instrument (voice and violin renders get the learned segmenter,
the others the rules): ``notes_and_f0`` on the tracker's frames and flux), ``pyin``
(the rules' segmentation on librosa's pYIN frames: the onset model is PESTO's) and ``basic-pitch`` (Spotify's note model, ONNX file
``nmp.onnx`` read out of the basic-pitch wheel and run with onnxruntime through the wheel's own inference
and note decoding, ``tests/bench/_basic_pitch.py``; peer only, the app never loads it).

Tracker frames and flux are cached in ``bench-results/real-sound-cache/`` (git-ignored), so a change of the
segmentation reruns in seconds. Environment: ``REAL_SOUND_SYSTEMS`` (default ``tutor,tutor-rules,pyin,basic-pitch,live``; ``tutor-rules``: the note HMM
rules the learned segmenter replaced, on the same frames; ``tutor-unrefined``: tutor's notes with their pitch
from the tracker's frames instead of the audio (``refine_note_pitches``); ``tutor-single``: tutor's notes without
a violin's double stops (``add_double_stops``; ``tutor-rules`` has none either); ``live``: the microphone path, see
``live_onsets``, with its onset F1 against the labels and its agreement with the review's notes, on the
first ``REAL_SOUND_LIVE_CLIPS`` (6) recordings of each set; ``live-key``: the same onsets' live marks against
the score written as sung, a tone higher and an octave lower, and for a singer with its second half a semitone
higher (``live_drop``: a key change mid-take), followed as written and with ``KeyedFollower``; ``assess``: the
review's marks against the same scores, ``drop`` among them),
``REAL_SOUND_SETS`` (default ``ssvd,violin,mir1k,rendered``), ``REAL_SOUND_PART`` (``held-out`` (default),
``tune`` or ``all``), ``REAL_SOUND_LIMIT`` (at most this many recordings a set: quick looks).

Run: ``nice -n 10 .venv/bin/python -m tests.bench real_sound`` (results in bench-results/real_sound.json).

Last run (2026-12-07 evening, fifth pass of issue 22: a violin's double stops added; held-out, same sets):
violin ``tutor`` 0.802 / 0.921 (``tutor-single``, as below: 0.799 / 0.919), note F1 0.531; SSVD, MIR-1K and the
renders identical to the fourth pass. Live (first 6 SSVD held-out takes; movement 8), a note timed where its
pitched run starts: SSVD 0.595 / 0.672, agreement with the review 0.679; violin 0.491 / 0.761, 0.812.

Fourth pass (2026-12-07, fourth pass of issue 22: the onset model's harmonic features, retrained on the whole
tuning split; held-out, mean per recording; onset F1 50 / 100 ms, strict pitch; ``tutor`` = the note pitch
measured from the audio, ``tutor-unrefined`` = from the tracker's frames; third pass in brackets):

    set       system           onset F1 50    onset F1 100   note F1  RPA
    ssvd      tutor            0.678 (0.671)  0.715 (0.699)  0.390    -      (labels -4.5 Hz: 0.763 / 0.805)
    ssvd      tutor-unrefined  0.700 (0.692)  0.737 (0.720)  0.394    -      (labels -4.5 Hz: 0.758 / 0.799)
    ssvd      tutor-rules      0.456          0.594          0.305    -
    violin    tutor            0.799 (0.768)  0.919 (0.902)  0.535    -
    violin    tutor-unrefined  0.779 (0.754)  0.900 (0.887)  0.519    -
    violin    tutor-rules      0.730          0.890          0.464    -
    mir1k     tutor            -              -              -        0.976
    mir1k     tutor-rules      -              -              -        0.979
    rendered  tutor            0.968 (0.969)  0.972 (0.973)  0.909    0.971
    rendered  tutor-rules      0.952          0.959          0.877    0.970

Live (first 6 SSVD held-out takes, voice settings): 0.542 / 0.660, agreement with the review 0.593
(one setting for all: 0.425 / 0.486, 0.404). Peers (first pass, same sets): basic-pitch SSVD 0.494 / 0.608,
violin 0.550 / 0.733; pYIN on 4 SSVD recordings: 0.611 / 0.718 (tutor on the same 4: 0.684 / 0.715). More in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench-results"
CACHE = RESULTS / "real-sound-cache"
RENDERED_CLIPS = 20


def shared_data() -> Path:
    env = os.environ.get("TUTOR_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


REAL = shared_data() / "real-audio"


@dataclass(frozen=True)
class Clip:
    dataset: str
    name: str
    audio: Path
    part: str  # "tune" or "held-out"
    notes: np.ndarray | None  # (n, 3): onset_s, offset_s, midi (fractional)
    frames: tuple[np.ndarray, np.ndarray] | None = None  # (times_s, midi or 0) for frame-pitch sets
    instrument: str | None = None  # as the app would be told it (a score part's instrument)


def split(dataset: str, name: str) -> str:
    """The tuning / held-out split, by recording or singer."""
    if dataset == "ssvd":
        if not name.isdigit():  # man1_*, man2_*: a singer's name and a song
            return "held-out" if name.startswith("man2") else "tune"
        return "held-out" if int(name) % 3 == 0 else "tune"
    if dataset == "violin":
        return "held-out" if name.endswith("mov8") else "tune"
    if dataset == "mir1k":
        return "held-out" if name.startswith("bobon") else "tune"
    if dataset == "rendered":
        return "held-out"  # nothing was tuned on them here: they guard against losses
    raise ValueError(dataset)


def ssvd_clips() -> list[Clip]:
    root = REAL / "ssvd-dev"
    out = []
    for audio in sorted((root / "audio").glob("*.ogg")):
        notes = np.loadtxt(root / "notes" / f"{audio.stem}.txt", ndmin=2)
        out.append(Clip("ssvd", audio.stem, audio, split("ssvd", audio.stem), notes, instrument="voice"))
    return out


def violin_clips() -> list[Clip]:
    root = REAL / "bach-violin-dev"
    out = []
    for audio in sorted((root / "audio").glob("*.mp3")):
        notes = np.loadtxt(root / "notes_abs_time" / f"{audio.stem}.csv", delimiter=",", skiprows=1, ndmin=2)
        out.append(Clip("violin", audio.stem, audio, split("violin", audio.stem), notes, instrument="violin"))
    return out


def mir1k_clips() -> list[Clip]:
    root = REAL / "mir1k-dev"
    out = []
    for audio in sorted((root / "audio").glob("*.wav")):
        midi = np.loadtxt(root / "PitchLabel" / f"{audio.stem}.pv", ndmin=1)
        times = 0.02 + 0.02 * np.arange(len(midi))
        out.append(Clip("mir1k", audio.stem, audio, split("mir1k", audio.stem), None, (times, midi), instrument="voice"))
    return out


def rendered_clips() -> list[Clip]:
    from tests.bench import bench_pitch

    out = []
    clean = [c for c in bench_pitch.build_synthetic() if c.condition == "clean"][:RENDERED_CLIPS]
    for item in clean:
        midi = np.where(item.ref_f0 > 0, 69 + 12 * np.log2(np.maximum(item.ref_f0, 1e-9) / 440.0), 0.0)
        kind = "voice" if " voice" in item.name else "violin" if " violin" in item.name else None
        out.append(Clip("rendered", item.name.split()[0], item.wav, "held-out", item.ref_notes, (item.ref_times, midi), kind))
    return out


LOADERS = {"ssvd": ssvd_clips, "violin": violin_clips, "mir1k": mir1k_clips, "rendered": rendered_clips}


# ---------------------------------------------------------------------------------------------
# analyses (cached)
# ---------------------------------------------------------------------------------------------
def tracked(clip: Clip, tracker: str):
    """(F0Track, flux) of a clip with ``tracker``, cached."""
    from tutor.listen.pitch import F0Track
    from tutor.listen.transcription import track_file

    path = CACHE / tracker / clip.dataset / f"{clip.name}.npz"
    if path.exists():
        data = np.load(path)
        f0 = F0Track(times_s=data["times_s"], f0_hz=data["f0_hz"], confidence=data["confidence"],
                     voiced=data["voiced"], level_db=data["level_db"], tracker=tracker)
        flux = data["flux"] if data["flux"].size else None
        return f0, flux
    f0, flux = track_file(clip.audio, tracker=tracker, device="cpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, times_s=f0.times_s, f0_hz=f0.f0_hz, confidence=f0.confidence, voiced=f0.voiced,
             level_db=f0.level_db, flux=flux if flux is not None else np.zeros(0))
    return f0, flux


_AUDIO16: dict = {}


def audio16(clip: Clip) -> np.ndarray:
    """The clip at 16 kHz as ``transcribe_file`` resamples it (soxr HQ), kept for the last clip only."""
    import soxr

    from tutor.listen.pitch import MODEL_SAMPLE_RATE
    from tutor.listen.transcription import read_audio

    key = (clip.dataset, clip.name)
    if key not in _AUDIO16:
        _AUDIO16.clear()
        audio, rate = read_audio(clip.audio)
        _AUDIO16[key] = audio if rate == MODEL_SAMPLE_RATE else soxr.resample(audio, rate, MODEL_SAMPLE_RATE).astype(np.float32)
    return _AUDIO16[key]


def tutor_notes(clip: Clip, tracker: str = "pesto", segmenter: str | None = None, refine: bool | None = None,
                double_stops: bool = True):
    """(notes as (onset, offset, midi with cents) rows, f0 track) of ``notes_and_f0`` on the cached frames,
    segmented as ``transcribe_file(instrument=clip.instrument)`` does unless ``segmenter`` is given, each
    note's pitch then measured from the audio (``refine_note_pitches``) as it does unless ``refine`` is
    False, and a bowed take's double stops added (``add_double_stops``) as it does unless ``double_stops``
    is False."""
    from tutor.listen import transcription
    from tutor.listen.transcription import array_reader, notes_and_f0, refine_note_pitches, segmenter_for

    f0, flux = tracked(clip, tracker)
    frames = f0
    notes, f0 = notes_and_f0(f0, onset_strength=flux, segmenter=segmenter or segmenter_for(clip.instrument, tracker),
                             instrument=clip.instrument, read=array_reader(audio16(clip)))
    if transcription.REFINE_PITCH if refine is None else refine:
        notes = refine_note_pitches(notes, frames, array_reader(audio16(clip)))
    if double_stops:
        notes = transcription.add_double_stops(notes, array_reader(audio16(clip)), clip.instrument)
    rows = np.array([[n.onset_s, n.offset_s, n.pitch + (n.cents or 0.0) / 100.0] for n in notes], dtype=float).reshape(-1, 3)
    return rows, f0


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def tuning_offset(ref: np.ndarray, est: np.ndarray) -> float:
    """The recording's tuning as the labels see it: the median difference in semitones (est - ref, octaves
    folded) between notes whose onsets match within 100 ms. SSVD's labelled pitches sit 20-60 cents above
    the frequency that PESTO, pYIN and a 6-harmonic FFT peak all measure on the same notes (checked on
    recording 1011), so the strict metric charges every system for the labels' own tuning."""
    import mir_eval

    if len(est) == 0 or len(ref) == 0:
        return 0.0
    pairs = mir_eval.transcription.match_note_onsets(ref[:, :2], est[:, :2], onset_tolerance=0.1)
    if not pairs:
        return 0.0
    diff = np.array([est[j, 2] - ref[i, 2] for i, j in pairs])
    diff = (diff + 6.0) % 12.0 - 6.0
    return float(np.median(diff))


# SSVD's labelled pitches sit above the sung frequency by about 4.5 Hz whatever the pitch (so ~100 cents at
# 120 Hz, ~17 cents at 400 Hz): on the tuning split, the label minus a 93 ms harmonic-sum measure of the
# label's own middle span has a median of 4.53 Hz (IQR 2.2-7.3), while PESTO's frames agree with that
# measure within 5 cents at every pitch; not a sample-rate artefact (that would be a constant ratio).
# ``*_fixed``: the onset F1s with the labels lowered by this much (fitted on the tuning split only).
LABEL_BIAS_HZ = {"ssvd": 4.5}


def note_scores(ref: np.ndarray, est: np.ndarray, bias_hz: float = 0.0) -> dict:
    """Onset F1 at 50 / 100 ms (50 cents, no offsets) and note F1 with offsets (the issue's metrics, strict);
    the same onset F1s with the reference moved by the recording's ``tuning_offset`` (``*_tuned``); onset F1
    at 50 ms whatever the pitch (``onset_only_f1_50``: segmentation alone)."""
    import mir_eval

    keys = ("onset_f1_50", "onset_f1_100", "note_f1", "onset_f1_50_tuned", "onset_f1_100_tuned", "onset_only_f1_50")
    if len(est) == 0:
        fixed = ("onset_f1_50_fixed", "onset_f1_100_fixed") if bias_hz else ()
        return {**dict.fromkeys(keys + fixed, 0.0), "n_ref": len(ref), "n_est": 0, "tuning_cents": 0.0}
    ri, rp = ref[:, :2], _hz(ref[:, 2])
    ei, ep = est[:, :2].copy(), _hz(est[:, 2])
    ei[:, 1] = np.maximum(ei[:, 1], ei[:, 0] + 1e-3)
    offset = tuning_offset(ref, est)
    tuned = _hz(ref[:, 2] + offset)
    out = {}
    for key, tol in (("onset_f1_50", 0.05), ("onset_f1_100", 0.1)):
        out[key] = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, onset_tolerance=tol,
                                                                       offset_ratio=None)[2]
        out[key + "_tuned"] = mir_eval.transcription.precision_recall_f1_overlap(ri, tuned, ei, ep, onset_tolerance=tol,
                                                                                 offset_ratio=None)[2]
    if bias_hz:
        for key, tol in (("onset_f1_50", 0.05), ("onset_f1_100", 0.1)):
            out[key + "_fixed"] = mir_eval.transcription.precision_recall_f1_overlap(
                ri, rp - bias_hz, ei, ep, onset_tolerance=tol, offset_ratio=None)[2]
    out["note_f1"] = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep)[2]
    out["onset_only_f1_50"] = mir_eval.transcription.onset_precision_recall_f1(ri, ei, onset_tolerance=0.05)[2]
    out["n_ref"], out["n_est"], out["tuning_cents"] = len(ref), len(est), round(100 * offset, 1)
    return out


def raw_pitch_accuracy(frames: tuple[np.ndarray, np.ndarray], times: np.ndarray, f0_hz: np.ndarray) -> tuple[float, int]:
    """(RPA, reference-voiced frames): the estimate's pitch (unvoiced too) within 50 cents, MIREX style."""
    import mir_eval

    ref_t, ref_midi = frames
    ref_hz = np.where(ref_midi > 0, _hz(ref_midi), 0.0)
    est = np.interp(ref_t, times, f0_hz, left=0.0, right=0.0) if len(times) else np.zeros_like(ref_t)
    ref_v, ref_c, est_v, est_c = mir_eval.melody.to_cent_voicing(ref_t, ref_hz, ref_t, est)
    return float(mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c)), int(ref_v.sum())


# ---------------------------------------------------------------------------------------------
# systems
# ---------------------------------------------------------------------------------------------
def run_system(system: str, clip: Clip):
    """(notes rows, times, f0 Hz with the unvoiced frames' guesses negative... as raw_pitch_accuracy wants)."""
    if system in ("tutor", "tutor-rules", "pyin", "tutor-unrefined", "tutor-single"):
        rows, f0 = tutor_notes(clip, "pyin" if system == "pyin" else "pesto", "rules" if system == "tutor-rules" else None,
                               refine=False if system == "tutor-unrefined" else None,
                               double_stops=system in ("tutor", "tutor-unrefined"))
        hz = np.where(f0.voiced, f0.f0_hz, -np.abs(f0.f0_hz))
        return rows, f0.times_s, hz
    if system in ("live", "live-key"):
        return live_onsets(clip)
    if system.startswith("assess"):
        return (tutor_notes(clip, segmenter="rules" if system == "assess-rules" else None,
                            refine=False if system == "assess-unrefined" else None)[0], np.zeros(0), np.zeros(0))
    if system == "basic-pitch":
        from tests.bench import _basic_pitch

        rows, times, hz = _basic_pitch.transcribe(clip.audio)
        return rows, times, hz
    raise ValueError(system)


LIVE_CHUNK = 256  # samples per push at the device rate, as the recorder's tap hands them over
LIVE_CLIPS = int(os.environ.get("REAL_SOUND_LIVE_CLIPS", "6"))  # recordings a set through the live path (slow)


def live_onsets(clip: Clip):
    """The live microphone path on a recording: the file's samples in LIVE_CHUNK pieces through the app's
    chain (``StreamResampler`` causal to 16 kHz, ``open_stream`` (PESTO streaming), then ``WindowedNotes`` for a
    voice, ``LiveNotes`` otherwise or with ``REAL_SOUND_LIVE_WINDOWED=0``), as ``LiveListener`` runs it; ``REAL_SOUND_LIVE_PACE=1`` also waits so that the audio goes in at real-time
    pace (the marks do not depend on it unless the CPU falls behind). Each onset is a note lasting to
    the next one (offsets are not live marks). The stream's frames are cached (``live_frames``) unless
    paced, so a change of ``LiveNotes`` reruns in seconds."""
    from tutor.listen.live import WINDOWED, LiveNotes
    from tutor.listen.pitch import StreamFrames
    from tutor.listen.windowed_notes import WindowedNotes

    key = (clip.dataset, clip.name)
    if key in _LIVE_DONE:
        return _LIVE_DONE[key]
    frames, duration, audio, pushes = live_frames(clip)
    onsets, onset_cents = [], []
    settled = os.environ.get("REAL_SOUND_LIVE_SETTLED", "1") == "1"  # 0: the onset's cents only (before)

    def take(found, source):  # in LiveListener._tell's order
        for onset in found:
            onsets.append(onset)
            onset_cents.append(onset[2])
        for onset_s, midi, cents in source.settled:  # a note's settled cents replace those of its onset
            k = next(k for k in range(len(onsets) - 1, -1, -1) if onsets[k][0] == onset_s)
            onset_cents[k] = onsets[k][2]
            onsets[k] = (onset_s, midi, cents)
        source.settled.clear()

    windowed = os.environ.get("REAL_SOUND_LIVE_WINDOWED", "1" if WINDOWED else "0") == "1"
    if windowed and WindowedNotes.available(clip.instrument):  # as LiveListener chooses
        notes = WindowedNotes(clip.instrument)
        bounds = np.searchsorted(frames[:, 6], np.arange(len(pushes) + 1))  # each push's frames
        for i in range(len(pushes) - 1):
            rows = frames[bounds[i]:bounds[i + 1]]
            pushed = StreamFrames(times_s=rows[:, 0], f0_hz=rows[:, 1], confidence=rows[:, 5], voiced=rows[:, 2] > 0.5,
                                  level_db=rows[:, 3])
            take(notes.push(audio[pushes[i]:pushes[i + 1]], pushed, rows[:, 4] if settled else np.zeros(len(rows))), notes)
        take(notes.finish(), notes)
    else:
        notes = LiveNotes(clip.instrument)  # as the app's practice panel is told the part's instrument
        for t, f0, voiced, level, hz, _conf, _push in frames:
            found = notes.push(float(t), float(f0), bool(voiced), float(level), float(hz) if settled else 0.0)
            take([] if found is None else [found], notes)
    times = frames[:, 0].astype(float).tolist()
    f0s = np.where(frames[:, 2] > 0.5, frames[:, 1], -frames[:, 1]).astype(float).tolist()
    ends = [o[0] for o in onsets[1:]] + [duration]
    rows = np.array([[o[0], max(end, o[0] + 0.05), o[1] + o[2] / 100.0] for o, end in zip(onsets, ends, strict=True)],
                    dtype=float).reshape(-1, 3)
    _LIVE_DONE[key] = rows, np.array(times), np.array(f0s)
    _LIVE_ONSET_CENTS[key] = np.array(onset_cents)
    return _LIVE_DONE[key]


def live_frames(clip: Clip) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """((frames, 7): time, f0 Hz, voiced, level dB of the live stream, the frame's pitch from its partials
    (``ExactPitch``, 0 where none), the tracker's confidence, the push that gave it; the clip's length in s;
    the causal 16 kHz audio the stream heard; where each push's audio starts in it (and its end)), cached in
    CACHE/live-frames-6 unless REAL_SOUND_LIVE_PACE=1."""
    import torch

    from tutor.audio.devices import StreamResampler
    from tutor.listen.live import ExactPitch, LiveListener
    from tutor.listen.pitch import open_stream
    from tutor.listen.transcription import read_audio

    pace = os.environ.get("REAL_SOUND_LIVE_PACE") == "1"
    path = CACHE / "live-frames-6" / clip.dataset / f"{clip.name}.npz"
    if path.exists() and not pace:
        data = np.load(path)
        return data["frames"], float(data["duration"]), data["audio"], data["pushes"]
    torch.set_num_threads(1)  # as LiveListener's thread does (OpenMP threads spin on a shared machine)
    audio, rate = read_audio(clip.audio)
    resampler = StreamResampler(orig_sr=rate, target_sr=LiveListener.SAMPLE_RATE, causal=True)
    stream = open_stream(sample_rate=LiveListener.SAMPLE_RATE)
    exact = ExactPitch(sample_rate=LiveListener.SAMPLE_RATE)
    started = time.perf_counter()
    rows, blocks, pushes = [], [], [0]
    for at in range(0, len(audio), LIVE_CHUNK):
        if pace:
            time.sleep(max(0.0, at / rate - (time.perf_counter() - started)))
        block = resampler.process(audio[at:at + LIVE_CHUNK])
        if not len(block):
            continue
        frames = stream.push(block)
        exact.push(block)
        hz = exact.measure(frames.times_s + stream.hop / (2 * LiveListener.SAMPLE_RATE),
                           np.where(frames.voiced, frames.f0_hz, 0.0))
        rows.extend(zip(frames.times_s, frames.f0_hz, frames.voiced, frames.level_db, hz, frames.confidence,
                        np.full(len(hz), len(blocks)), strict=True))
        blocks.append(block)
        pushes.append(pushes[-1] + len(block))
    frames = np.array(rows, dtype=float).reshape(-1, 7)
    audio16 = np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, np.float32)
    pushes = np.array(pushes)
    if not pace:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, frames=frames, duration=len(audio) / rate, audio=audio16, pushes=pushes)
    return frames, len(audio) / rate, audio16, pushes


_LIVE_DONE: dict = {}
_LIVE_ONSET_CENTS: dict = {}  # (set, clip) -> each live note's cents at its onset (the rows hold its settled cents)


def live_cents(clip: Clip, tolerance_cents: float = 20.0) -> dict:
    """The live marks' intonation against the review's, on the notes both heard (same semitone, onsets within
    100 ms, ``mir_eval``'s matching): the median |live cents - review cents|, and the share of those notes
    whose verdict at ``tolerance_cents`` (the advanced level's; in tune, sharp or flat) is the same."""
    import mir_eval

    live, _t, _f = live_onsets(clip)
    review, _f0 = tutor_notes(clip)
    if not len(live) or not len(review):
        return {"cents_diff": float("nan"), "intonation_agrees": float("nan")}
    pairs = mir_eval.transcription.match_notes(review[:, :2].copy(), _hz(np.round(review[:, 2])), live[:, :2].copy(),
                                               _hz(np.round(live[:, 2])), onset_tolerance=0.1, offset_ratio=None)
    if not pairs:
        return {"cents_diff": float("nan"), "intonation_agrees": float("nan")}
    r, q = (np.array(side) for side in zip(*pairs, strict=True))
    review_cents = 100.0 * (review[r, 2] - np.round(review[r, 2]))
    live_cents_ = 100.0 * (live[q, 2] - np.round(live[q, 2]))
    verdict = lambda c: np.sign(c) * (np.abs(c) > tolerance_cents)  # noqa: E731
    return {"cents_diff": round(float(np.median(np.abs(live_cents_ - review_cents))), 1),
            "intonation_agrees": round(float(np.mean(verdict(live_cents_) == verdict(review_cents))), 3)}


def live_agreement(clip: Clip) -> float:
    """Onset F1 (100 ms, same semitone) of the live marks against the review's notes of the same take."""
    import mir_eval

    live, _t, _f = live_onsets(clip)
    review, _f0 = tutor_notes(clip)
    if not len(live) or not len(review):
        return 0.0
    live_i, review_i = live[:, :2].copy(), review[:, :2].copy()
    return mir_eval.transcription.precision_recall_f1_overlap(
        review_i, _hz(np.round(review[:, 2])), live_i, _hz(np.round(live[:, 2])), onset_tolerance=0.1,
        offset_ratio=None)[2]


ASSESS_SHIFTS = (0, 2, -12)  # the written score moved this far from what was sung (a tone high, an octave low)


def assess_marks(clip: Clip, segmenter: str | None = None, refine: bool | None = None) -> dict:
    """Marks a singer gets on a real take (issue 22's "Done when"): the score is what the labels say was
    sung (each note's pitch rounded, its onset and length at 60 bpm: 1 quarter = 1 s), written as sung or
    moved by each of ASSESS_SHIFTS (the singer held another key); the take is the transcription. A teacher
    would mark every note right (the singer sang these notes): the share marked correct, wrong or flat/
    sharp, and whether the held key (semitones; 0 when none; the key held at the end when it changed) is the
    shift; ``DROP``: the score of ``_dropped_score`` (right: a semitone low at the end; ``key_changes``: the
    changes the review says); ``SLIDE``: the score as sung, the take's notes from the same point a semitone lower
    (right: a semitone low at the end). The labelled pitches are first
    lowered by the set's LABEL_BIAS_HZ (SSVD's 4.5 Hz: rounding the raw labels often names the semitone
    above the one sung); ``REAL_SOUND_RAW_LABELS=1`` rounds them as they are (the first pass's numbers)."""
    from tutor.practice.assessment import assess

    rows = tutor_notes(clip, segmenter=segmenter, refine=refine)[0]
    out = {}
    scores = _sung_scores(clip)
    if clip.instrument == "voice":
        scores[DROP] = _dropped_score(clip, scores)
        scores[SLIDE] = scores[0]
    for shift, score in scores.items():
        take = _take_of(_slid(rows, _slide_s(scores)) if shift == SLIDE else rows)
        result = assess(score, take, level="beginner")
        total = max(1, result.notes_total)
        kinds = [e.type for e in result.events]
        changes = getattr(result, "key_changes", ())  # (none before key changes were heard)
        # the key the take was judged in at its end: the last change's, else the one held from its first note
        first = result.key_at_start if getattr(result, "key_at_start", None) is not None else result.held_key
        out[shift] = {"correct": result.notes_correct / total, "wrong_pitch": kinds.count("wrong_pitch") / total,
                      "intonation": (kinds.count("flat") + kinds.count("sharp")) / total,
                      "held_key": (changes[-1].key.semitones if changes[-1].key else 0) if changes else
                      0 if first is None else first.semitones, "key_changes": len(changes)}
    return out


def _take_of(rows: np.ndarray):
    """A take (``Performance``) of transcription rows (onset, offset, MIDI pitch with cents), as the review assesses it."""
    from tutor.score.music import Performance, PlayedNote

    return Performance(notes=tuple(PlayedNote(pitch=int(round(r[2])), onset_s=float(r[0]), offset_s=float(r[1]),
                                              cents=round(float(r[2] - round(r[2])) * 100, 1), confidence=0.9)
                                   for r in rows))


def _sung_scores(clip: Clip) -> dict:
    """The scores ``assess_marks`` writes for ``clip``, by shift: what the labels say was sung (lowered by the
    set's label bias), each note's pitch rounded, at 60 bpm, moved by each of ASSESS_SHIFTS, for voice (or a
    violin, for the violin's recordings)."""
    from tests.assessment_cases import make_score
    from tutor.score.music import Part

    bias = 0.0 if os.environ.get("REAL_SOUND_RAW_LABELS") == "1" else LABEL_BIAS_HZ.get(clip.dataset, 0.0)
    sung = 69.0 + 12.0 * np.log2(np.maximum(_hz(clip.notes[:, 2]) - bias, 1.0) / 440.0)
    scores = {}
    for shift in ASSESS_SHIFTS:
        events = [(float(on), [int(round(p)) - shift], max(0.05, float(off - on)))
                  for (on, off, _label), p in zip(clip.notes, sung, strict=True)]
        score = make_score(events, bpm=60.0)
        part = Part("P1", "Voice", program=53) if clip.instrument == "voice" else Part("P1", "Violin", program=40)
        scores[shift] = type(score)(**{**score.__dict__, "parts": (part,)})
    return scores


DROP = "drop"  # live-key's harder case: the score as sung, its second half written a semitone higher
# the same key change made on the take's side: the score as sung, the notes heard from that point on a semitone
# lower (what a singer who slides sings; in DROP a second verse sung as written is the first verse as written, which
# a follower rightly takes for a return to the opening)
SLIDE = "slide"
KEY_CASES = (DROP, SLIDE)
SLIDE_EARLY_S = 0.15  # a note heard this much before the split note's labelled onset is already in the new key


def _split_index(notes) -> int:
    """The first note after the longest rest in the middle third of the score's notes (a breath mid-take)."""
    third = len(notes) // 3
    gaps = [(notes[k].onset_s - (notes[k - 1].onset_s + notes[k - 1].duration_s), k) for k in range(third, 2 * third + 1)]
    return max(gaps)[1] if gaps else len(notes) // 2


def _dropped_score(clip: Clip, scores: dict):
    """The score written as sung (``scores[0]``) with the notes from the longest rest in its middle third on
    written a semitone higher: against it, the singer slid a semitone low after a breath mid-take (a key change
    made in the score, since no tuning take's labels hold one)."""
    score = scores[0]
    split_at = _split_index(score.notes)
    moved = tuple(n if k < split_at else replace(n, pitch=n.pitch + 1) for k, n in enumerate(score.notes))
    return replace(score, notes=moved)


def _slide_s(scores: dict) -> float:
    """When the take's notes are moved a semitone lower for SLIDE: just before the split note's onset."""
    notes = scores[0].notes
    return notes[_split_index(notes)].onset_s - SLIDE_EARLY_S


def _slid(rows: np.ndarray, from_s: float) -> np.ndarray:
    """Transcription rows (onset, offset, MIDI pitch with cents) with the notes from ``from_s`` on a semitone lower."""
    rows = np.array(rows, dtype=float).reshape(-1, 3)
    rows[rows[:, 0] >= from_s, 2] -= 1.0
    return rows


def live_key_marks(clip: Clip) -> dict:
    """Live marks of a real sung take (the live path's onsets, ``live_onsets``, fed as the app feeds them: each
    note with its onset's cents, then its settled cents through ``retune``) against the scores of
    ``_sung_scores`` (at the level ``REAL_SOUND_LEVEL``, beginner unless set): the share of the score's notes whose last live verdict is ``correct``, with the
    follower as written (``as_written``) and with ``KeyedFollower`` finding the key the singer holds
    (``keyed``; ``key_right``: it found the shift, 0 = none found, as the review's ``held_key``). ``DROP``: the
    score of ``_dropped_score`` (``key_right``: the key followed at the end is a semitone low, and ``changes``:
    the key changes said); ``SLIDE``: the score as sung, the live notes (and the review's) from the same point a
    semitone lower."""
    from tutor.practice.follower import ScoreFollower
    from tutor.practice.live_key import KeyedFollower

    rows = live_onsets(clip)[0]
    at_onset = _LIVE_ONSET_CENTS[(clip.dataset, clip.name)]
    level = os.environ.get("REAL_SOUND_LEVEL", "beginner")
    out = {}
    scores = _sung_scores(clip)
    if clip.instrument == "voice":
        scores[DROP] = _dropped_score(clip, scores)
        scores[SLIDE] = scores[0]
    heard = rows
    for shift, score in scores.items():
        rows = _slid(heard, _slide_s(scores)) if shift == SLIDE else heard
        shares = {}
        for way in ("as_written", "keyed"):
            follower = ScoreFollower(score, level=level)
            if way == "keyed":
                follower = KeyedFollower(lambda score=score: ScoreFollower(score, level=level),
                                         sung=clip.instrument == "voice")
            verdicts: dict = {}
            events = []
            for (onset_s, _end, value), cents in zip(rows, at_onset, strict=True):  # as the app: the onset's cents,
                pitch = int(round(value))  # then the note's settled cents before the next onset
                events += follower.feed_onset(onset_s=float(onset_s), pitch=pitch, cents=float(cents))
                follower.retune(onset_s=float(onset_s), pitch=pitch, cents=round((value - pitch) * 100, 1))
            events += follower.finish()
            for event in events:
                if getattr(event, "note_id", None) is not None:
                    verdicts[event.note_id] = event.type
            shares[way] = sum(v == "correct" for v in verdicts.values()) / max(1, len(score.notes))
            # what a student sees live against what the review then says: the share of the score's notes both call
            # right or both call wrong in some way (``agrees_review``), and of the notes the review calls right, those
            # the live marks called right (``review_right_rung``)
            review = _review_verdicts(clip, score, level, slid_from_s=_slide_s(scores) if shift == SLIDE else None)
            right = [n.id for n in score.notes if review[n.id] == "correct"]
            shares[f"{way}_agrees_review"] = (sum((verdicts.get(n.id) == "correct") == (review[n.id] == "correct")
                                                  for n in score.notes) / max(1, len(score.notes)))
            shares[f"{way}_review_right_rung"] = sum(verdicts.get(i) == "correct" for i in right) / max(1, len(right))
            if way == "keyed":
                held = 0 if follower.key is None else follower.key.semitones
                shares["key_right"] = float(held == (-1 if shift in KEY_CASES else shift))
                shares["changes"] = float(len(getattr(follower, "changes", ())))  # (none before key changes were heard)
        out[shift] = shares
    return out


_REVIEW_TAKES: dict = {}


def _review_verdicts(clip: Clip, score, level: str, *, slid_from_s: float | None = None) -> dict[str, str]:
    """Each score note's verdict in the review of the take (``assess`` on the transcription, as ``assess_marks``;
    ``slid_from_s``: its notes from then on a semitone lower, as SLIDE's): its first event's type, "correct" when
    it has none."""
    from tutor.practice.assessment import assess

    key = (clip.dataset, clip.name, slid_from_s)
    if key not in _REVIEW_TAKES:  # (the same transcription for every score of the clip)
        rows = tutor_notes(clip)[0]
        _REVIEW_TAKES[key] = _take_of(rows if slid_from_s is None else _slid(rows, slid_from_s))
    take = _REVIEW_TAKES[key]
    verdicts = {n.id: "correct" for n in score.notes}
    for event in reversed(assess(score, take, level=level).events):
        if getattr(event, "note_id", None) in verdicts and event.type != "correct":
            verdicts[event.note_id] = event.type
    return verdicts


def evaluate(systems, datasets, part: str, limit: int | None = None) -> dict:
    results: dict = {}
    for dataset in datasets:
        clips = [c for c in LOADERS[dataset]() if part == "all" or c.part == part]
        if limit:
            clips = clips[:limit]
        for system in systems:
            started = time.process_time()
            per_clip, rpa, voiced_frames = [], 0.0, 0
            for clip in clips[:LIVE_CLIPS] if system.startswith("live") else clips:
                rows, times, hz = run_system(system, clip)
                entry = {"clip": clip.name}
                if clip.notes is not None:
                    entry.update(note_scores(clip.notes, rows, LABEL_BIAS_HZ.get(clip.dataset, 0.0)))
                if clip.frames is not None:
                    value, count = raw_pitch_accuracy(clip.frames, times, hz)
                    entry["rpa"], entry["rpa_frames"] = value, count
                    rpa += value * count
                    voiced_frames += count
                if system == "live" and clip.notes is not None:
                    entry["agreement_with_review"] = live_agreement(clip)
                    entry.update(live_cents(clip))
                if system == "live-key" and clip.notes is not None:
                    entry["live_marks"] = live_key_marks(clip)
                if system.startswith("assess") and clip.notes is not None:
                    entry["marks"] = assess_marks(clip, "rules" if system == "assess-rules" else None,
                                                  refine=False if system == "assess-unrefined" else None)
                per_clip.append(entry)
            summary = {"clips": len(per_clip), "cpu_s": round(time.process_time() - started, 1)}
            if clips and clips[0].notes is not None:
                for key in ("onset_f1_50", "onset_f1_100", "note_f1", "onset_f1_50_tuned", "onset_f1_100_tuned",
                            "onset_only_f1_50", "onset_f1_50_fixed", "onset_f1_100_fixed"):
                    if per_clip and key in per_clip[0]:
                        summary[key] = round(float(np.mean([e[key] for e in per_clip])), 3)
            if voiced_frames:
                summary["rpa"] = round(rpa / voiced_frames, 3)
            if per_clip and "marks" in per_clip[0]:
                for shift in ASSESS_SHIFTS + tuple(c for c in KEY_CASES if c in per_clip[0]["marks"]):
                    marks = [e["marks"][shift] for e in per_clip]
                    summary[f"shift{shift:+d}" if shift not in KEY_CASES else shift] = {
                        "correct": round(float(np.mean([m["correct"] for m in marks])), 3),
                        "wrong_pitch": round(float(np.mean([m["wrong_pitch"] for m in marks])), 3),
                        "intonation": round(float(np.mean([m["intonation"] for m in marks])), 3),
                        "held_key_right": round(float(np.mean([m["held_key"] == (-1 if shift in KEY_CASES else shift)
                                                               for m in marks])), 3),
                        "key_changes": round(float(np.mean([m["key_changes"] for m in marks])), 3)}
            if per_clip and "live_marks" in per_clip[0]:
                for shift in ASSESS_SHIFTS + tuple(c for c in KEY_CASES if c in per_clip[0]["live_marks"]):
                    marks = [e["live_marks"][shift] for e in per_clip]
                    summary[f"live_shift{shift:+d}" if shift not in KEY_CASES else f"live_{shift}"] = {
                        way: round(float(np.mean([m[way] for m in marks])), 3) for way in marks[0]}
            if system == "live" and per_clip and "agreement_with_review" in per_clip[0]:
                summary["agreement_with_review"] = round(float(np.mean([e["agreement_with_review"] for e in per_clip])), 3)
                for key in ("cents_diff", "intonation_agrees"):
                    summary[key] = round(float(np.nanmean([e[key] for e in per_clip])), 3)
            results.setdefault(dataset, {})[system] = {"summary": summary, "clips": per_clip}
            print(f"{dataset:9s} {part:8s} {system:12s} " + "  ".join(f"{k} {v}" for k, v in summary.items()), flush=True)
    return results


def main() -> None:
    systems = os.environ.get("REAL_SOUND_SYSTEMS", "tutor,tutor-rules,pyin,basic-pitch,live").split(",")
    datasets = os.environ.get("REAL_SOUND_SETS", "ssvd,violin,mir1k,rendered").split(",")
    part = os.environ.get("REAL_SOUND_PART", "held-out")
    limit = int(os.environ.get("REAL_SOUND_LIMIT", "0")) or None
    results = evaluate([s for s in systems if s], [d for d in datasets if d], part, limit)
    RESULTS.mkdir(exist_ok=True)
    name = os.environ.get("REAL_SOUND_NAME", "real_sound")
    (RESULTS / f"{name}.json").write_text(json.dumps({"part": part, "results": results}, indent=1))
    print("\nmean per recording, part:", part)
    print(f"{'set':9s} {'system':12s} {'onset F1 50':>11s} {'onset F1 100':>12s} {'note F1':>8s} {'RPA':>6s}")
    for dataset, by_system in results.items():
        for system, result in by_system.items():
            s = result["summary"]
            print(f"{dataset:9s} {system:12s} {s.get('onset_f1_50', '-'):>11} {s.get('onset_f1_100', '-'):>12} "
                  f"{s.get('note_f1', '-'):>8} {s.get('rpa', '-'):>6}")


if __name__ == "__main__":
    main()
