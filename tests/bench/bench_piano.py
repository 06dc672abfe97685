"""Piano by microphone (issue 20): transcription of real piano recordings and the errors a review finds.

Data: ``real-audio/maps-dev`` (a Yamaha Disklavier played from MIDI in two rooms, 16 kHz; the piano's own
MIDI is the ground truth). The 12 pieces sorted by name: the even ones (0, 2, ...) were used to develop
the shipped settings, the odd ones are held out for the final numbers (``TUTOR_BENCH_PIANO_SPLIT=dev|held-out|all``,
default held-out). Each piece is heard from its start for ``TUTOR_BENCH_PIANO_S`` seconds (default 30).

1. Transcription, the three in the same run: the shipped transcriber (``tutor.listen.piano``: int8, 16 s
   segments overlapping 4 s, silence skipped), Transkun V2 exactly as shipped (``TransKun.transcribe``:
   float32, 8 s hop) and basic-pitch's ONNX model (its wheel, read from ``TUTOR_BASIC_PITCH_WHEEL`` or
   ``~/.cache/tutor/bench/basic_pitch-*.whl``: ``pip download basic-pitch --no-deps``; skipped with a
   line when absent). Onset precision/recall/F1 at 50 ms and note F1 with offsets (mir_eval defaults:
   20% of the note or 50 ms; the reference offsets include the sustain pedal, so each system's notes are
   held by its own pedal first). Speed: wall seconds and CPU seconds per second of audio (RTF), and the
   shipped/as-shipped ratio.
2. Error detection on real piano sound: the reference is altered (pitches changed, notes deleted, notes
   added: 5% each, spaced apart) and ``tutor.practice.assessment.assess`` judges the shipped
   transcription against it, without and with the second listen to the sound that ``tutor assess``
   does for a piano audio take (``tutor.listen.piano_evidence``: a "missed" note whose pitch re-attacks
   where it was due is played); precision and recall of the wrong / extra / missed notes it reports
   (a "missed" mark said unsure counts as a report), and the same for the reference MIDI played as the
   take (what a MIDI keyboard would give), and how many "early"/"late" marks fall on notes not altered
   (all false: the take keeps the reference's timing). ``TUTOR_BENCH_PIANO_PARTS=detect`` runs only this part
   (the shipped transcriptions kept in ``~/.cache/tutor/bench/piano``, no peers);
   ``TUTOR_BENCH_PIANO_SEEDS=N`` alters each piece N times (seeds 20, 21, ...; default 1) for more errors.

3. Live (``tutor.listen.piano_live``, the lighter path of the app's live marks): onsets of the pitches
   the follower would expect (simulated: those starting from 0.3 s before to 0.4 s after the time
   heard) in the same excerpts, precision and recall at 100 ms, and how long after the strike (in the
   audio's time) each was heard. ``TUTOR_BENCH_PIANO_PARTS=live`` runs only this part (no model).

4. Renders (``TUTOR_BENCH_PIANO_PARTS=renders``, run only when asked): error detection as in part 2 on
   10 nasap-dev performances (one piece per composer in turn), their first ``TUTOR_BENCH_PIANO_RENDER_S``
   seconds (default 20) rendered by FluidSynth with the one soundfont here (FluidR3_GM) as two piano sounds
   (programs 0 Acoustic Grand and 1 Bright Acoustic), dry and in a room (a convolution with decaying noise,
   RT60 1.5 s, half wet), with the performances' pedal. No setting was chosen on them.

5. A second opinion (``TUTOR_BENCH_PIANO_PARTS=second``, run only when asked; issue 20, measured, not shipped):
   basic-pitch's onset and note posteriors where each note the review calls missed was due and where each
   extra note it tells was struck, and how well they separate the review's false marks from its true ones.

Targets (issue 20): onset F1 >= 0.93; wrong/missed/extra recall >= 0.90 and precision >= 0.85; review
<= 0.5x real time on this CPU.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TUTOR_SHARED_DATA", REPO.parent / "shared" / "data")) / "real-audio" / "maps-dev"
EXCERPT_S = float(os.environ.get("TUTOR_BENCH_PIANO_S", "30"))
SPLIT = os.environ.get("TUTOR_BENCH_PIANO_SPLIT", "held-out")
PARTS = os.environ.get("TUTOR_BENCH_PIANO_PARTS", "all")  # all | live | detect | renders
LIMIT = int(os.environ.get("TUTOR_BENCH_PIANO_PIECES", "0"))  # the first N pieces of the split only (0: all)
ALTER_SHARE = 0.05
SEED = 20
SEEDS = int(os.environ.get("TUTOR_BENCH_PIANO_SEEDS", "1"))  # part detect: alterations per piece (seeds 20, 21...)


def cached_transcription(name: str, audio, rate, seconds: float | None = None):
    """The shipped transcription of an excerpt (``seconds`` long, default ``EXCERPT_S``), kept in
    ~/.cache/tutor/bench/piano (parts ``detect`` and ``renders``)."""
    import pickle

    folder = Path.home() / ".cache" / "tutor" / "bench" / "piano"
    # "-odds": transcribed since the transcriber keeps its onset odds (``Performance.onset_odds``, issue 20)
    path = folder / f"{name}-{EXCERPT_S if seconds is None else seconds:g}s-odds.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    _, performance = shipped(audio, rate)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(performance))
    return performance


def detect_only(names: list[str]) -> None:
    """Part 2 alone (``TUTOR_BENCH_PIANO_PARTS=detect``): the shipped transcription (cached) judged
    against the altered reference, without and with the second listen (the sound alone, and the sound with
    the transcriber's onset odds, ``Performance.onset_odds``), and the reference MIDI as the take."""
    from dataclasses import replace

    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.score.music import Performance, PlayedNote

    detections = {"shipped": {}, "shipped+listen": {}, "shipped+listen+odds": {}, "midi": {}}
    for name in names:
        audio, rate = excerpt(name)
        ref = reference(name)
        performance = cached_transcription(name, audio, rate)
        midi_take = Performance(notes=tuple(PlayedNote(pitch=int(p), onset_s=float(a), offset_s=float(b), velocity=int(v))
                                            for a, b, p, v in ref))
        evidence = PartialEvidence(audio, rate)
        line = [f"{name[9:]:26s}"]
        sound_only = replace(performance, onset_odds=None)
        for who, perf, ev in (("shipped", sound_only, None), ("shipped+listen", sound_only, evidence),
                              ("shipped+listen+odds", performance, evidence), ("midi", midi_take, None)):
            counts = {}
            for seed in range(SEED, SEED + SEEDS):  # each seed alters the reference anew
                for kind, value in detection(ref, perf, np.random.default_rng(seed), evidence=ev).items():
                    old = counts.get(kind, (0, 0, 0))
                    counts[kind] = tuple(a + b for a, b in zip(old, value, strict=True))
            for kind, value in counts.items():
                old = detections[who].get(kind, (0, 0, 0))
                detections[who][kind] = tuple(a + b for a, b in zip(old, value, strict=True))
            if who != "midi":
                line.append(who + " " + " ".join(f"{k[0]} {v[0]}/{v[1]}/{v[2]}" for k, v in counts.items() if "(" not in k))
        print("  " + " | ".join(line), flush=True)
    _print_detections(detections)


def _print_detections(detections: dict) -> None:
    print(f"\nerror detection ({ALTER_SHARE:.0%} of the reference notes changed, deleted and added each):")
    labels = {"shipped": "shipped transcription, no second listen",
              "shipped+listen": "shipped transcription + second listen (the sound only)",
              "shipped+listen+odds": "shipped transcription + second listen + the transcriber's onset odds",
              "midi": "reference MIDI as the take"}
    for who, counts in detections.items():
        print(f"  {labels[who]}:")
        for kind in ("wrong", "missed", "extra"):
            print(f"    {kind:7s} {_pr(counts.get(kind, (0, 0, 0)))};  not said unsure: "
                  f"{_pr(counts.get(kind + ' (sure)', (0, 0, 0)))}")
        print(f"    early/late on notes not altered (false): {counts.get('timing (false)', (0, 0, 0))[1]}")


def pieces(split: str = SPLIT) -> list[str]:
    names = sorted(p.stem for p in (DATA / "flac").glob("*.flac"))
    if split == "dev":
        return names[0::2]
    if split == "held-out":
        return names[1::2]
    return names


def reference(name: str, seconds: float = EXCERPT_S) -> np.ndarray:
    """(onset_s, offset_s, midi, velocity) rows of the notes starting in the excerpt."""
    ref = np.loadtxt(DATA / "tsv" / f"{name}.tsv", skiprows=1, ndmin=2)
    ref = ref[ref[:, 0] < seconds - 0.05]
    ref[:, 1] = np.minimum(ref[:, 1], seconds)
    return ref


def excerpt(name: str, seconds: float = EXCERPT_S) -> tuple[np.ndarray, int]:
    import soundfile

    audio, rate = soundfile.read(str(DATA / "flac" / f"{name}.flac"), dtype="float32", always_2d=True)
    return audio.mean(axis=1)[: int(seconds * rate)], rate


# ---------------------------------------------------------------------------------------------
# the systems
# ---------------------------------------------------------------------------------------------
def shipped(audio, rate):
    """(notes as (onset, offset held by the pedal, pitch) rows, Performance) from tutor.listen.piano."""
    from tutor.listen.piano import transcribe_piano

    performance = transcribe_piano(audio, rate, device="cpu").performance
    return _rows(performance.sustained().notes), performance


def as_shipped(audio, rate):
    """Transkun V2's own ``transcribe`` (float32, 16 s segments every 8 s, the whole clip)."""
    import soxr
    import torch

    import tutor.listen.piano as piano
    from tutor.listen.piano import MODEL_SAMPLE_RATE, SUSTAIN_PEDAL, load_model
    from tutor.score.music import PedalEvent, Performance, PlayedNote

    model = load_model("cpu", fast=False)
    x = torch.from_numpy(soxr.resample(audio, rate, MODEL_SAMPLE_RATE).astype(np.float32)).unsqueeze(-1)
    odds, piano.ONSET_ODDS = piano.ONSET_ODDS, False  # (exactly as shipped: no onset odds, issue 20)
    try:
        with torch.inference_mode():
            events = model.transcribe(x)
    finally:
        piano.ONSET_ODDS = odds
    notes = tuple(PlayedNote(pitch=e.pitch, onset_s=e.start, offset_s=max(e.end, e.start + 0.01), velocity=max(1, e.velocity))
                  for e in events if e.pitch > 0)
    pedal = tuple(PedalEvent(t, down) for e in events if e.pitch == SUSTAIN_PEDAL for t, down in ((e.start, True), (e.end, False)))
    performance = Performance(notes=tuple(sorted(notes, key=lambda n: n.onset_s)), pedal=pedal)
    return _rows(performance.sustained().notes), performance


_BASIC_PITCH = None


def basic_pitch_predict():
    """basic-pitch's ``predict`` with its ONNX model, from its wheel (no TensorFlow), or None."""
    global _BASIC_PITCH
    if _BASIC_PITCH is None:
        wheels = ([os.environ["TUTOR_BASIC_PITCH_WHEEL"]] if os.environ.get("TUTOR_BASIC_PITCH_WHEEL") else
                  sorted(glob.glob(str(Path.home() / ".cache" / "tutor" / "bench" / "basic_pitch-*.whl"))))
        if not wheels or not Path(wheels[-1]).exists():
            _BASIC_PITCH = False
            return None
        folder = Path(tempfile.mkdtemp(prefix="bench-basic-pitch-"))
        with zipfile.ZipFile(wheels[-1]) as wheel:
            wheel.extractall(folder)
        sys.path.insert(0, str(folder))
        import logging

        logging.getLogger().setLevel(logging.ERROR)  # its import warns about each missing backend
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
            from basic_pitch.inference import Model, predict
        model = Model(build_icassp_2022_model_path(FilenameSuffix.onnx))
        _BASIC_PITCH = (predict, model)
    return _BASIC_PITCH or None


def basic_pitch(audio, rate):
    import soundfile

    predict, model = basic_pitch_predict()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "take.wav"
        soundfile.write(str(path), audio, rate)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, _, events = predict(str(path), model)
    rows = np.array([(e[0], e[1], e[2]) for e in events], dtype=float).reshape(-1, 3)
    return rows, None


def _rows(notes) -> np.ndarray:
    return np.array([(n.onset_s, n.offset_s, n.pitch) for n in notes], dtype=float).reshape(-1, 3)


def scores(ref: np.ndarray, est: np.ndarray) -> dict:
    import mir_eval

    ref_hz = mir_eval.util.midi_to_hz(ref[:, 2])
    est_hz = mir_eval.util.midi_to_hz(est[:, 2]) if len(est) else np.zeros(0)
    est_iv = est[:, :2] if len(est) else np.zeros((0, 2))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ref[:, :2], ref_hz, est_iv, est_hz, offset_ratio=None)
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(ref[:, :2], ref_hz, est_iv, est_hz)
    return {"p": p, "r": r, "f": f, "f_off": f_off}


# ---------------------------------------------------------------------------------------------
# error detection
# ---------------------------------------------------------------------------------------------
def altered_reference(ref: np.ndarray, rng: np.random.Generator, share: float = ALTER_SHARE):
    """(altered rows, wrong indices, deleted rows, added rows): changed pitches (a tone up or down),
    deleted notes (the recording's then extra) and added ones (then missed), spaced apart in time."""
    count = max(1, round(share * len(ref)))
    order = rng.permutation(len(ref))
    chosen: list[int] = []
    for index in order:  # notes with no other altered note within 0.6 s
        if all(abs(ref[index, 0] - ref[j, 0]) > 0.6 for j in chosen):
            chosen.append(int(index))
        if len(chosen) == 3 * count:
            break
    wrong, deleted = chosen[0::3], chosen[1::3]
    rows = ref.copy()
    sounding = {(round(r[0], 2), int(r[2])) for r in ref}
    for index in wrong:
        step = 2 if rng.random() < 0.5 else -2
        while (round(rows[index, 0], 2), int(rows[index, 2] + step)) in sounding:
            step += 1 if step > 0 else -1
        rows[index, 2] += step
    added = []
    for index in chosen[2::3]:  # a new note a tone above, 1/4 s after a note (no other note of its pitch near)
        onset = ref[index, 0] + 0.25
        pitch = int(ref[index, 2]) + 2
        if not any(abs(r[0] - onset) < 0.5 and int(r[2]) == pitch for r in ref) and onset < ref[:, 0].max():
            added.append((onset, onset + 0.3, pitch, 70))
    keep = np.ones(len(rows), bool)
    keep[deleted] = False
    wrong_rows = rows[wrong]
    rows = np.vstack([rows[keep]] + ([np.array(added)] if added else []))
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    return rows, wrong_rows, ref[deleted], np.array(added).reshape(-1, 4)


def score_of(rows: np.ndarray, folder: Path):
    """The rows as a one-part piano score (a MIDI file read as the app reads one)."""
    import pretty_midi

    from tutor.score.io import load_score

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = [pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(max(b, a + 0.05)))
                   for a, b, p, v in rows]
    midi.instruments.append(piano)
    path = folder / "reference.mid"
    midi.write(str(path))
    return load_score(path)


def detection(ref: np.ndarray, performance, rng, evidence=None) -> dict:
    """Counts of reported/true/found wrong, extra and missed notes for ``performance`` against an
    altered ``ref``; ``evidence``: the second listen to the take's sound (``tutor.listen.piano_evidence``)."""
    from tutor.practice.assessment import assess

    rows, wrong_rows, deleted_rows, added_rows = altered_reference(ref, rng)
    with tempfile.TemporaryDirectory() as folder:
        score = score_of(rows, Path(folder))
    by_id = {n.id: n for n in score.notes}

    def near(note, targets) -> bool:
        return any(abs(note.onset_s - t[0]) < 0.08 and note.pitch == int(t[2]) for t in targets)

    result = assess(score, performance, evidence=evidence)
    counts = {}
    reported = {"wrong": [], "missed": [], "extra": []}
    sure = {"wrong": [], "missed": [], "extra": []}  # the reports not said unsure ("not heard clearly")
    for event in result.events:
        if event.type == "wrong_pitch" and event.note_id in by_id:
            kind, true = "wrong", near(by_id[event.note_id], wrong_rows)
        elif event.type == "missed" and event.note_id in by_id:
            kind, true = "missed", near(by_id[event.note_id], added_rows)
        elif event.type == "extra" and event.played_pitch is not None and event.time is not None:
            kind, true = "extra", any(abs(event.time - t[0]) < 0.1 and event.played_pitch == int(t[2])
                                      for t in deleted_rows)
        else:
            continue
        reported[kind].append(true)
        if not event.unsure:
            sure[kind].append(true)
    truth = {"wrong": len(wrong_rows), "missed": len(added_rows), "extra": len(deleted_rows)}
    for kind in reported:
        counts[kind] = (sum(reported[kind]), len(reported[kind]), truth[kind])  # (true reports, reports, truth)
        counts[kind + " (sure)"] = (sum(sure[kind]), len(sure[kind]), truth[kind])
    # the take keeps the reference's timing, so an "early" or "late" note that was not altered is a false report
    altered = [*wrong_rows, *added_rows]
    counts["timing (false)"] = (0, sum(1 for e in result.events if e.type in ("early", "late") and e.note_id in by_id
                                     and not near(by_id[e.note_id], altered)), 0)
    return counts


def _pr(total) -> str:
    hits, reports, truth = total
    precision = hits / reports if reports else float("nan")
    recall = min(hits, truth) / truth if truth else float("nan")
    return f"P {precision:.3f} R {recall:.3f} ({hits}/{reports} reports true, {truth} made)"


def speed(names: list[str]) -> None:
    """The transcriber's cost per audio second and its onset F1, the shipped inference against its peers
    in the same run, piece by piece in turn: the same model with attention as before (5-D tensors: torch's
    unfused attention), the same without the onset odds (issue 20; ``TUTOR_BENCH_PIANO_ODDS_ONLY=1``: only
    this peer) and, with ``TUTOR_BENCH_PIANO_AS_SHIPPED=1``, Transkun's own ``transcribe``."""
    import tutor.listen.piano as piano

    piano.load_model("cpu", fast=True)
    systems = {"shipped": (shipped, (True, True)), "before (5-D attention)": (shipped, (False, True)),
               "no onset odds (issue 20's before)": (shipped, (True, False))}
    if os.environ.get("TUTOR_BENCH_PIANO_ODDS_ONLY") == "1":  # the onset odds' cost alone
        del systems["before (5-D attention)"]
    if os.environ.get("TUTOR_BENCH_PIANO_AS_SHIPPED") == "1":
        piano.load_model("cpu", fast=False)
        systems["transkun-as-shipped"] = (as_shipped, (True, True))
    totals = {name: {"f": [], "n": [], "wall": 0.0, "cpu": 0.0} for name in systems}
    audio_s = 0.0
    print(f"maps-dev {SPLIT}: {len(names)} pieces x first {EXCERPT_S:g} s, speed (CPU, torch threads: "
          f"{__import__('torch').get_num_threads()}, load average {os.getloadavg()[0]:.1f})")
    for name in names:
        audio, rate = excerpt(name)
        ref = reference(name)
        audio_s += len(audio) / rate
        line = [f"{name[9:]:26s}"]
        for system, (run, (four_d, odds)) in systems.items():
            piano.FOUR_D_ATTENTION, piano.ONSET_ODDS = four_d, odds
            wall, cpu = time.perf_counter(), time.process_time()
            est, _ = run(audio, rate)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            t = totals[system]
            t["f"].append(scores(ref, est)["f"])
            t["n"].append(len(ref))
            t["wall"] += wall
            t["cpu"] += cpu
            line.append(f"{system} F1 {t['f'][-1]:.3f} {cpu / (len(audio) / rate):.2f} cpu-s/s")
        piano.FOUR_D_ATTENTION = piano.ONSET_ODDS = True
        print("  " + " | ".join(line), flush=True)
    results = {}
    for system, t in totals.items():
        results[system] = {"onset_f1_mean": float(np.mean(t["f"])),
                           "onset_f1_note_weighted": float(np.average(t["f"], weights=t["n"])),
                           "wall_rtf": t["wall"] / audio_s, "cpu_s_per_audio_s": t["cpu"] / audio_s}
        print(f"  {system:28s} onset F1 {results[system]['onset_f1_mean']:.3f} (note-weighted "
              f"{results[system]['onset_f1_note_weighted']:.3f}); wall {results[system]['wall_rtf']:.2f}x real time; "
              f"{results[system]['cpu_s_per_audio_s']:.3f} CPU s per audio s")
    for peer in [s for s in systems if s != "shipped"]:
        cpu_ratio = totals["shipped"]["cpu"] / totals[peer]["cpu"]
        wall_ratio = totals["shipped"]["wall"] / totals[peer]["wall"]
        print(f"  shipped / {peer}: CPU {cpu_ratio:.2f}, wall {wall_ratio:.2f}, onset F1 "
              f"{results['shipped']['onset_f1_mean'] - results[peer]['onset_f1_mean']:+.4f}")
    from tests.bench._results import save

    save("piano_speed", {"split": SPLIT, "excerpt_s": EXCERPT_S, "pieces": names, "systems": results,
                         "load_average": os.getloadavg()})


def live(names: list[str]) -> None:
    from tutor.listen.piano_live import PianoOnsets

    hits = reports = total = 0
    lags: list[float] = []
    cpu = time.process_time()
    for name in names:
        audio, rate = excerpt(name)
        ref = reference(name)
        onsets = PianoOnsets(rate)

        def expected(onsets=onsets, ref=ref, rate=rate):
            now = onsets.consumed / rate
            return sorted({int(p) for p in ref[(ref[:, 0] > now - 0.3) & (ref[:, 0] < now + 0.4), 2]})

        used = np.zeros(len(ref), bool)
        for start in range(0, len(audio), 256):
            for onset_s, pitch in onsets.push(audio[start:start + 256], expected):
                reports += 1
                match = np.flatnonzero(~used & (ref[:, 2] == pitch) & (np.abs(ref[:, 0] - onset_s) < 0.1))
                if len(match):
                    used[match[0]] = True
                    lags.append((start + 256) / rate - ref[match[0], 0])
        hits += int(used.sum())
        total += len(ref)
    seconds = sum(len(excerpt(n)[0]) / excerpt(n)[1] for n in names)
    print(f"\nlive onsets (expected pitches only), {len(names)} pieces: P {hits / max(reports, 1):.3f} "
          f"R {hits / max(total, 1):.3f}; heard after the strike: median {1000 * np.median(lags):.0f} ms, "
          f"p95 {1000 * np.percentile(lags, 95):.0f} ms (audio time; + the device block and the UI); "
          f"cpu {(time.process_time() - cpu) / seconds:.3f} s/s")


# ---------------------------------------------------------------------------------------------
# a second opinion (part ``second``): basic-pitch's posteriors at the review's "missed" and "extra" notes
# ---------------------------------------------------------------------------------------------
class SecondOpinion:
    """basic-pitch's ONNX model (``nmp.onnx`` read from its wheel, as ``basic_pitch_predict`` finds it; the
    package is not imported), run on 2 s windows centred on the times asked about: onset and note
    posteriors per piano key, ~86 frames per second (issue 20, evening: measured, not shipped)."""

    RATE, HOP, SAMPLES = 22050, 256, 43844

    def __init__(self, audio, rate) -> None:
        import onnxruntime
        import soxr

        wheels = ([os.environ["TUTOR_BASIC_PITCH_WHEEL"]] if os.environ.get("TUTOR_BASIC_PITCH_WHEEL") else
                  sorted(glob.glob(str(Path.home() / ".cache" / "tutor" / "bench" / "basic_pitch-*.whl"))))
        with zipfile.ZipFile(wheels[-1]) as wheel:
            model = wheel.read("basic_pitch/saved_models/icassp_2022/nmp.onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.audio = soxr.resample(np.asarray(audio, np.float32), rate, self.RATE).astype(np.float32)
        self.windows: dict[float, tuple] = {}
        self.cpu_s = 0.0

    def curves(self, pitch: int, time_s: float, reach_s: float):
        """(times, onset, note) of ``pitch`` within ``reach_s`` of ``time_s`` (a window centred there)."""
        key = round(time_s, 2)
        if key not in self.windows:
            cpu = time.process_time()
            first = int(round((time_s - self.SAMPLES / self.RATE / 2) * self.RATE))
            chunk = np.zeros(self.SAMPLES, np.float32)
            a, b = max(0, first), min(len(self.audio), first + self.SAMPLES)
            if b > a:
                chunk[a - first:b - first] = self.audio[a:b]
            note, onset = self.session.run(["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"],
                                           {"serving_default_input_2:0": chunk[None, :, None]})
            self.windows[key] = (first / self.RATE, onset[0], note[0])
            self.cpu_s += time.process_time() - cpu
        start_s, onset, note = self.windows[key]
        times = start_s + np.arange(len(onset)) * self.HOP / self.RATE
        keep, k = np.abs(times - time_s) <= reach_s, min(max(pitch - 21, 0), 87)
        return times[keep], onset[keep, k], note[keep, k]

    def features(self, pitch: int, time_s: float) -> dict:
        """Its onset peak within 0.1 s of ``time_s``, that against the pitch's median onset 0.2-0.9 s away
        (ratio), against the neighbours' peaks a semitone away, and the note (frame) posterior's peak."""
        times, onset, note = self.curves(pitch, time_s, 0.9)
        near, around = np.abs(times - time_s) <= 0.1, np.abs(times - time_s) >= 0.2
        neighbours = max(float(self.curves(pitch + d, time_s, 0.1)[1].max()) for d in (-1, 1))
        return {"onset": float(onset[near].max()), "onset_ratio": float(onset[near].max() / np.median(onset[around])),
                "onset_over_neighbours": float(onset[near].max()) - neighbours,
                "note": float(note[(times >= time_s - 0.05) & (times <= time_s + 0.15)].max())}


def second_opinion(names: list[str]) -> None:
    """Part ``second`` (issue 20, evening): does basic-pitch hear what Transkun did not? For every note the
    shipped review calls missed (5 alterations per piece) and every extra note it tells, basic-pitch's
    features where the note was due / struck; how well each separates a played note the review called
    missed from an added note never played (and a true extra from a false one): AUC, the false marks a
    threshold would remove at a cost of at most 2 true ones, and a logistic model fitted leaving one
    piece out. Nothing here is shipped."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    import tutor.practice.assessment as assessment
    from tutor.listen.piano_evidence import PartialEvidence

    asked: list = []
    heard_again = assessment._heard_again

    def spy(evidence, note, q_all, t_all, played, odds=None):
        asked.append((note.id, assessment._due_s(note, q_all, t_all)))
        return heard_again(evidence, note, q_all, t_all, played, odds)

    rows: dict[str, list] = {"missed": [], "extra": []}
    audio_s = cpu_s = 0.0
    assessment._heard_again = spy
    try:
        for name in names:
            audio, rate = excerpt(name)
            ref = reference(name)
            performance = cached_transcription(name, audio, rate)
            evidence, second = PartialEvidence(audio, rate), SecondOpinion(audio, rate)
            for seed in range(SEED, SEED + SEEDS):
                rows_, _, deleted, added = altered_reference(ref, np.random.default_rng(seed))
                with tempfile.TemporaryDirectory() as folder:
                    score = score_of(rows_, Path(folder))
                by_id = {n.id: n for n in score.notes}
                asked.clear()
                events = assessment.assess(score, performance, evidence=evidence).events
                due = dict(asked)
                for e in events:
                    if e.type == "missed" and e.note_id in by_id and due.get(e.note_id) is not None:
                        note = by_id[e.note_id]
                        never = any(abs(note.onset_s - t[0]) < 0.08 and note.pitch == int(t[2]) for t in added)
                        rows["missed"].append((name, not never, second.features(note.pitch, due[e.note_id])))
                    elif e.type == "extra" and e.time is not None:
                        true = any(abs(e.time - t[0]) < 0.1 and e.played_pitch == int(t[2]) for t in deleted)
                        rows["extra"].append((name, not true, second.features(e.played_pitch, e.time)))
            audio_s += len(audio) / rate
            cpu_s += second.cpu_s
    finally:
        assessment._heard_again = heard_again
    print(f"basic-pitch as a second opinion, maps-dev {SPLIT}, {len(names)} pieces x {EXCERPT_S:g} s, {SEEDS} "
          f"alteration(s) each; its cost: {cpu_s / audio_s:.4f} CPU s per audio s (2 s windows at the notes asked)")
    for kind, wrong_label in (("missed", "played (a false mark)"), ("extra", "not played (a false mark)")):
        table = rows[kind]
        y = np.array([r[1] for r in table], int)
        print(f"  {kind}: {len(table)} reports, {y.sum()} of them false ({wrong_label})")
        if not 0 < y.sum() < len(y):
            continue
        keys = list(table[0][2])
        for key in keys:
            x = np.array([r[2][key] for r in table])
            sign = 1 if kind == "missed" else -1  # missed: a high posterior says played; extra: a low one says not
            order = np.argsort(-sign * x)
            removed = lost = 0
            for i in order:
                lost += 1 - y[i]
                if lost > 2:
                    break
                removed += y[i]
            print(f"    {key:22s} AUC {roc_auc_score(y, sign * x):.3f}; false marks removed at a cost of <= 2 true: {removed}")
        x = np.array([[r[2][k] for k in keys] for r in table])
        pieces_ = np.array([r[0] for r in table])
        score_ = np.zeros(len(y))
        for piece in np.unique(pieces_):
            fit = pieces_ != piece
            if 0 < y[fit].sum() < fit.sum():
                score_[~fit] = LogisticRegression(max_iter=1000).fit(x[fit], y[fit]).predict_proba(x[~fit])[:, 1]
        print(f"    logistic, one piece left out: AUC {roc_auc_score(y, score_):.3f}")


# ---------------------------------------------------------------------------------------------
# renders of nasap-dev performances (part ``renders``)
# ---------------------------------------------------------------------------------------------
NASAP = DATA.parents[1] / "nasap-dev"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_S = float(os.environ.get("TUTOR_BENCH_PIANO_RENDER_S", "20"))
RENDER_COUNT = 10
RENDER_PROGRAMS = {0: "Acoustic Grand", 1: "Bright Acoustic"}  # two piano sounds of the one soundfont here
RENDER_RATE = 44100
REVERB_RT60_S = 1.5  # the room of the "reverb" condition (a convolution with decaying noise)
REVERB_WET = 0.5


def render_performances(count: int = RENDER_COUNT, *, skip: frozenset[Path] = frozenset()) -> list[Path]:
    """``count`` nasap-dev performance MIDI files of different pieces, the composers in turn (each one's
    pieces in the order of metadata.csv sorted by file, the first performance of each), none in a folder of
    ``skip``."""
    import csv

    with open(NASAP / "metadata.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["midi_performance"])
    by_composer: dict[str, dict[str, dict]] = {}
    for row in rows:
        if (NASAP / row["midi_performance"]).parent not in skip:
            by_composer.setdefault(row["composer"], {}).setdefault(row["folder"], row)
    queues = [list(found.values()) for _, found in sorted(by_composer.items())]
    chosen: list[Path] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(NASAP / queue.pop(0)["midi_performance"])
    return chosen


def render(midi_path: Path, program: int, seconds: float = RENDER_S) -> tuple[np.ndarray, np.ndarray]:
    """(mono audio at RENDER_RATE, reference rows) of the performance's first ``seconds``, rendered dry by
    FluidSynth with General MIDI ``program`` of FluidR3_GM (the performance's pedal kept)."""
    import subprocess

    import pretty_midi
    import soundfile

    source = pretty_midi.PrettyMIDI(str(midi_path))
    out = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=program, name="Piano")
    for instrument in source.instruments:
        piano.notes += [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=min(n.end, seconds))
                        for n in instrument.notes if n.start < seconds - 0.05]
        piano.control_changes += [c for c in instrument.control_changes if c.time < seconds and c.number == 64]
    piano.notes.sort(key=lambda n: (n.start, n.pitch))
    piano.control_changes.sort(key=lambda c: c.time)
    out.instruments.append(piano)
    with tempfile.TemporaryDirectory() as folder:
        mid, wav = Path(folder) / "take.mid", Path(folder) / "take.wav"
        out.write(str(mid))
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(RENDER_RATE),
                        "-F", str(wav), str(SOUNDFONT), str(mid)], check=True, capture_output=True)
        audio, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)[: int((seconds + 0.5) * rate)]
    audio *= 0.5 / max(float(np.abs(audio).max()), 1e-9)  # a recording's level: peak at half of full scale
    rows = np.array([(n.start, max(n.end, n.start + 0.01), n.pitch, n.velocity) for n in piano.notes], dtype=float)
    return audio, rows


def reverberant(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` in a room: convolved with exponentially decaying noise (RT60 ``REVERB_RT60_S``), mixed
    ``REVERB_WET`` wet, at the dry peak."""
    from scipy.signal import fftconvolve

    t = np.arange(int(REVERB_RT60_S * rate)) / rate
    impulse = np.random.default_rng(0).standard_normal(len(t)) * np.exp(-6.91 * t / REVERB_RT60_S)
    impulse /= np.sqrt(np.sum(impulse ** 2))
    wet = fftconvolve(audio, impulse)[: len(audio)]
    mixed = (1 - REVERB_WET) * audio + REVERB_WET * wet
    return (mixed * (np.abs(audio).max() / max(np.abs(mixed).max(), 1e-9))).astype(np.float32)


def renders() -> None:
    """Part ``renders``: error detection (as part 2) on FluidSynth renders of nasap-dev performances, two
    piano sounds, dry and in a room. Never used to choose settings (all of it is an evaluation)."""
    from dataclasses import replace

    from tutor.listen.piano_evidence import PartialEvidence

    paths = render_performances()
    print(f"renders: {len(paths)} nasap-dev performances x first {RENDER_S:g} s x {len(RENDER_PROGRAMS)} sounds "
          f"(FluidR3_GM programs {', '.join(f'{k} {v}' for k, v in RENDER_PROGRAMS.items())}) x dry / reverb "
          f"(RT60 {REVERB_RT60_S:g} s convolution, {REVERB_WET:.0%} wet); {SEEDS} alteration(s) each")
    from tutor.score.music import Performance, PlayedNote

    totals: dict[str, dict] = {}

    def judged(key: str, ref, performance, evidence) -> dict:
        counts: dict = {}
        for seed in range(SEED, SEED + SEEDS):
            for kind, value in detection(ref, performance, np.random.default_rng(seed), evidence=evidence).items():
                counts[kind] = tuple(a + b for a, b in zip(counts.get(kind, (0, 0, 0)), value, strict=True))
        for kind, value in counts.items():
            old = totals.setdefault(key, {}).get(kind, (0, 0, 0))
            totals[key][kind] = tuple(a + b for a, b in zip(old, value, strict=True))
        return counts

    for path in paths:
        slug = "-".join(path.relative_to(NASAP).with_suffix("").parts)
        line = [f"{slug[:40]:40s}"]
        for program in RENDER_PROGRAMS:
            dry, ref = render(path, program)
            for condition, audio in (("dry", dry), ("reverb", reverberant(dry, RENDER_RATE))):
                performance = cached_transcription(f"render-{slug}-p{program}-{condition}", audio, RENDER_RATE, RENDER_S)
                counts = judged(f"program {program} {condition}", ref, performance, PartialEvidence(audio, RENDER_RATE))
                sound_only = replace(performance, onset_odds=None)  # (issue 20: without the transcriber's odds)
                judged("all renders", ref, performance, PartialEvidence(audio, RENDER_RATE))
                judged("all renders, second listen to the sound only", ref, sound_only, PartialEvidence(audio, RENDER_RATE))
                judged("all renders, no second listen", ref, sound_only, None)
                line.append(f"p{program} {condition} " + " ".join(f"{k[0]} {v[0]}/{v[1]}/{v[2]}" for k, v in counts.items()
                                                                  if "(" not in k))
        midi_take = Performance(notes=tuple(PlayedNote(pitch=int(p), onset_s=float(a), offset_s=float(b), velocity=int(v))
                                            for a, b, p, v in ref))
        judged("reference MIDI as the take", ref, midi_take, None)
        print("  " + " | ".join(line), flush=True)
    for key, counts in totals.items():
        print(f"  {key}:")
        for kind in ("wrong", "missed", "extra"):
            print(f"    {kind:7s} {_pr(counts.get(kind, (0, 0, 0)))};  not said unsure: {_pr(counts.get(kind + ' (sure)', (0, 0, 0)))}")
        print(f"    early/late on notes not altered (false): {counts.get('timing (false)', (0, 0, 0))[1]}")


# ---------------------------------------------------------------------------------------------
def main() -> None:
    from tutor.listen.piano import load_model
    from tutor.score.music import Performance, PlayedNote

    names = pieces()[:LIMIT] if LIMIT else pieces()
    if PARTS == "live":
        live(names)
        return
    if PARTS == "speed":
        speed(names)
        return
    if PARTS == "renders":
        renders()
        return
    if PARTS == "second":
        second_opinion(names)
        return
    if PARTS == "detect":
        print(f"maps-dev {SPLIT}: {len(names)} pieces x first {EXCERPT_S:g} s, error detection only")
        detect_only(names)
        return
    print(f"maps-dev {SPLIT}: {len(names)} pieces x first {EXCERPT_S:g} s (CPU, torch threads: "
          f"{__import__('torch').get_num_threads()})")
    load_model("cpu", fast=True)
    load_model("cpu", fast=False)
    systems = {"shipped": shipped, "transkun-as-shipped": as_shipped}
    if basic_pitch_predict() is not None:
        systems["basic-pitch"] = basic_pitch
    else:
        print("basic-pitch: no wheel (pip download basic-pitch --no-deps -d ~/.cache/tutor/bench): not run")
    totals = {name: {"p": [], "r": [], "f": [], "f_off": [], "wall": 0.0, "cpu": 0.0, "n": []} for name in systems}
    audio_s = 0.0
    detections = {"shipped": {}, "shipped+listen": {}, "shipped+listen+odds": {}, "midi": {}}
    for name in names:
        audio, rate = excerpt(name)
        ref = reference(name)
        audio_s += len(audio) / rate
        line = [f"{name[9:]:26s}"]
        performance = None
        for system, run in systems.items():
            wall, cpu = time.perf_counter(), time.process_time()
            est, perf = run(audio, rate)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            s = scores(ref, est)
            t = totals[system]
            for key in ("p", "r", "f", "f_off"):
                t[key].append(s[key])
            t["n"].append(len(ref))
            t["wall"] += wall
            t["cpu"] += cpu
            line.append(f"{system} F1 {s['f']:.3f} (+off {s['f_off']:.3f}) {wall / (len(audio) / rate):.2f}x")
            if system == "shipped":
                performance = perf
        print("  " + " | ".join(line), flush=True)
        midi_take = Performance(notes=tuple(PlayedNote(pitch=int(p), onset_s=float(a), offset_s=float(b), velocity=int(v))
                                            for a, b, p, v in ref))
        from tutor.listen.piano_evidence import PartialEvidence

        evidence = PartialEvidence(audio, rate)
        from dataclasses import replace

        sound_only = replace(performance, onset_odds=None)
        for who, perf, ev in (("shipped", sound_only, None), ("shipped+listen", sound_only, evidence),
                              ("shipped+listen+odds", performance, evidence), ("midi", midi_take, None)):
            counts = detection(ref, perf, np.random.default_rng(SEED), evidence=ev)
            for kind, value in counts.items():
                old = detections[who].get(kind, (0, 0, 0))
                detections[who][kind] = tuple(a + b for a, b in zip(old, value, strict=True))
    print(f"\ntranscription, {len(names)} pieces, {audio_s:.0f} s of audio (onset F1 at 50 ms; means over pieces, "
          "and over all notes):")
    for system, t in totals.items():
        weights = np.array(t["n"], float)
        print(f"  {system:20s} onset P {np.mean(t['p']):.3f} R {np.mean(t['r']):.3f} F1 {np.mean(t['f']):.3f} "
              f"(note-weighted {np.average(t['f'], weights=weights):.3f})  note+offset F1 {np.mean(t['f_off']):.3f}  "
              f"RTF wall {t['wall'] / audio_s:.2f}  cpu {t['cpu'] / audio_s:.2f} s/s")
    ratio = totals["shipped"]["wall"] / totals["transkun-as-shipped"]["wall"]
    print(f"  shipped / as-shipped wall time: {ratio:.2f}  (cpu {totals['shipped']['cpu'] / totals['transkun-as-shipped']['cpu']:.2f})")
    _print_detections(detections)
    live(names)


if __name__ == "__main__":
    main()
