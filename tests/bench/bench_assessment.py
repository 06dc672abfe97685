"""Benchmark of performance assessment on real performances (issue 5).

1. Note alignment: ``tutor.practice.alignment`` against parangonar's ``DualDTWNoteMatcher`` (the peer), both
   run here on the same (n)ASAP and Vienna 4x22 performances, scored against the ground-truth
   ``.match`` alignments (F-score of matched pairs, as ``parangonar.fscore_alignments``), with
   time per piece.
2. Student errors: seeded, student-like errors injected into real performances (pitch
   substitutions by 1-2 semitones, deleted notes, inserted neighbour notes, restarts 1-2 bars
   back, hesitations of 0.5-2 s, timing pushes of 80-250 ms); precision and recall per error type
   of ``tutor.practice.assessment.assess`` against the known labels. The take starts from the pianist's
   notes that the ground truth matches to the score, and the score from the notes they match (the
   pianist's own ornaments, slips and omissions are taken out), so that the labels are complete;
   ground-truth matches that put a note more than two chords out of order are taken out too
   (``in_order``: matcher artefacts among repeated pitches, 66 of about 20,000 notes). The
   pianist's sustain pedal travels with the take (``pedal_events``), so that pedalled notes are
   not called short.
   Timing is reported twice: against the labels only (the pianist's expressive timing flagged
   counts as false), and "new only" (leaving out notes already flagged in the untouched take);
   then the whole test again with the pianist's notes in steady time (15 ms jitter), where the
   timing errors are judged against a steady pulse, as for a student keeping time.
3. Live follower on the same injected takes, fed as they would come live (note-ons, note-offs and the
   pedal in time order, ``tutor.practice.follower.follow_performance``): position accuracy (within one chord
   of the truth), time per played note, and its events scored against the same labels.
4. Audio path (render with FluidSynth, transcribe, assess): only when ``tutor.listen.transcription``
   exists. The melody (top voice) is rendered as one monophonic line, two takes per Vienna piece: the
   first on piano, the second on flute (a repeated note tongued); each untouched take is rendered and
   assessed too, so that timing flags and false errors near a restart are also given "new only".

Recorded run (2026-11-25 02:38 UTC, 2-core shared machine, load average 2-3, code at 0bcc90e): alignment
F 0.9900 vs peer 0.9889 over 34 performances, 0.28 s vs 1.65 s per piece. Injected errors, seed 5
(17 performances): wrong_pitch, missed, extra and restart precision and recall 1.000; early/late on the pianists' rubato 0.17/0.35 and
0.24/0.59 (new only 1.00/0.35 and 0.86/0.59), in steady time 1.00/1.00 and 1.00/0.96; false errors
around a restart that the untouched take does not already get: max 0. Follower within one chord 0.991,
0.078 ms per note.
Other seeds (``--seed 6/7/8``, run 2026-11-25 at the same code; pooled with seed 5 over 68 injected
takes, rubato / steady): wrong_pitch P 1.000/1.000 R 0.990/1.000, missed P 0.990/0.995 R 1.000/1.000,
extra P 0.990/1.000 R 1.000/1.000, restart 1.000/1.000 both; the lowest single seed 0.980 (wrong_pitch
recall, missed and extra precision); steady early/late P 1.000/1.000 R 0.924/0.954 (seed 8 early 0.875:
pushes of 80-90 ms measured at 50 ms on one side against the 75 ms tolerance); new false errors around a
restart max 0, 1, 3, 0 (rubato; the 3: one chord of Mozart K. 331 after a replay, the pianist's own
breath at a phrase end called a hesitation) and 0, 0, 1, 0 (steady). Before the alignment fixes of
2026-11-25 seeds 6-8 had up to 26 false errors around one restart (a bar of repeated chords played twice
read as 21 extra notes), extra precision down to 0.68, wrong_pitch recall 0.94 (a wrong bass note played
ahead of its chord) and restarts placed where the same chords recur (0.88).
Live follower events (run 2026-11-25 04:37-04:47 UTC at 0700b2c, load 2-3; error metrics unchanged at
37f125a, which only adds the immediate "correct" rings), pooled over seeds 5-8 (68 takes), rubato /
steady, precision/recall: wrong_pitch 0.81/0.94 and 0.79/0.97, missed 0.52/0.99 and 0.51/1.00, extra
0.53/0.97 and 0.63/0.93, restart 0.84/0.87 and 0.65/0.79, early 0.10/0.20 and 0.74/0.86, late 0.15/0.54
and 0.68/0.91; false errors around a restart max 32 and 17 (mean 3.3 and 3.0); position within one chord
0.989-0.993; time per note median 0.31-0.50 ms, 95th percentile 5-8 ms (a chord's timing judged when the
chord after next begins). The follower before 2026-11-25 (8b8c56c), seed 5 rubato / steady: wrong_pitch
P 0.53/0.49, missed 0.25/0.06, extra 0.21/0.14, restart 0.32/0.30, early 0.01/0.19, late 0.03/0.09, up to
33/59 false errors around a restart. What is left live (the offline assessment gets these right with the
whole take in hand): a note played in a hand break or a written-out ornament given to the chord beside
its own (an extra plus a missed note), a restart whose first notes also fit where the student was (seen
a few notes late: those notes are told extra first), a restart into bars whose notes recur nearby.
Live follower events with the second opinion on missed and extra notes (run 2026-12-06 at 45fffe4, load
2-4, seeds 5-8 pooled, rubato / steady): missed P 0.69/0.54 R 0.98/0.99 (0.65/0.53 at 3a3d953, the
commit before), extra P 0.62/0.64 R 0.97/0.93, wrong_pitch 0.81/0.94 and 0.79/0.97, restart 0.84/0.87 and
0.65/0.79 (unchanged); position within one chord 0.989-0.993; time per note median 0.41-0.53 ms, 95th
percentile 7-18 ms (the second opinion is an offline alignment of ~5 s of notes, only for a missed or an
extra verdict). Offline at the same commits, seeds 5-8 pooled, is as recorded above.
Timing separability (printed per run): on the untouched rubato takes 168 of 10,368 chords (1.6%)
are pushed by the pianist by more than 80 ms on the statistic the assessment judges (step in and
step out off the local tempo in opposite directions, the smaller), 39 by more than 150 ms; of the
26 injected pushes (80-250 ms) 15 reach 80 ms on it and 7 reach 150 ms (3 are left unjudged by
the pianist's own pauses next to them). Every seed injects into the same 17 untouched takes, so
their 39 own chords over 150 ms are there in each seed's takes: over seeds 5-8 (112 injected pushes,
34 of them over 150 ms on the statistic) the precision ceiling at 150 ms is 34 / (34 + 4 x 39) = 0.18,
and no threshold does better than 0.25 on any one seed (an earlier note gave 0.47, counting the
untouched takes once for four seeds). The mean of the two step errors instead of the smaller
separates worse. In steady time the same statistic separates them (precision ceiling 1.00 from 80 ms).
Audio path, same run (8 Vienna melodies; transcription note F1 0.938: piano 0.975-0.991, flute
0.825-0.922). Piano takes: wrong_pitch 0.92/1.00, missed 0.79/0.92, extra 0.86/0.86, restart 1.00/0.75.
Flute takes: wrong_pitch 1.00/1.00, missed 0.73/1.00, extra 0.30/0.75, restart 1.00/1.00. False errors
around a restart (new only): none in any take. What is left: FluidR3's flute swells every 0.25 s in its
low register (its sample loop: 14 false extra notes, 10 of them in Chopin op. 38), a legato
repeat the transcriber does not split on a piano note (missed), a restart whose replayed notes are all
the same pitch as the bars around it (Schubert, piano), timing: the pianist's own rubato heard through
the transcription. (The previous run, 2026-11-24: flute extra 0.19, flute restart 0.50, false errors
around a restart 6 and 1 in two flute takes.)

Run: ``python -m tests.bench assessment`` (add ``--every N`` / ``--inject-every N`` to
``python -m tests.bench.bench_assessment`` to use more or fewer pieces).
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib.util
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from tests.bench._results import save
from tutor.practice.alignment import align_arrays, as_match_list
from tutor.score.music import Measure, Note, PedalEvent, Performance, PlayedNote, Score, TempoMap, sort_notes

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NASAP = DATA / "nasap-dev"
EXTRA_MATCH_S = 0.08
VIENNA = DATA / "vienna4x22"


def partitura():
    """partitura, imported without its attempt to download a soundfont (no network here): it
    fetches one at import time when pyfluidsynth is installed."""
    if "partitura" in sys.modules:
        return sys.modules["partitura"]
    saved = sys.modules.get("fluidsynth")
    sys.modules["fluidsynth"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import partitura as pt
    finally:
        if saved is not None:
            sys.modules["fluidsynth"] = saved
        else:
            sys.modules.pop("fluidsynth", None)
    return pt


def match_files(every: int = 1, vienna_per_piece: int = 2) -> list[Path]:
    files = []
    with (NASAP / "metadata.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    files += [NASAP / r["match_file"] for r in rows[::every]]
    for piece in ("Chopin_op10_no3", "Chopin_op38", "Mozart_K331_1st-mov", "Schubert_D783_no15"):
        found = sorted((VIENNA / "match").glob(f"{piece}_p*.match"))
        files += found[:: max(1, len(found) // vienna_per_piece)][:vienna_per_piece]
    return files


@functools.lru_cache(maxsize=2)
def _load_match(path: Path):
    pt = partitura()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pt.load_match(str(path), create_score=True)


def load(path: Path):
    perf, gt, score = _load_match(path)
    return score, score.note_array(include_grace_notes=True), perf.note_array(), gt


def pedal_events(path: Path) -> list[tuple[float, bool]]:
    """(time_s, down) each time the pianist's sustain pedal (controller 64) crosses half-way."""
    perf, _gt, _score = _load_match(path)
    out: list[tuple[float, bool]] = []
    for part in perf.performedparts:
        for c in sorted(part.controls, key=lambda c: c["time"]):
            if c["number"] == 64:
                down = c["value"] >= 64
                if not out or out[-1][1] != down:
                    out.append((float(c["time"]), down))
    return out


def in_order(gt: list[dict], sna, pna, *, chords: int = 2) -> tuple[list[dict], int]:
    """The ground truth without the matches that put a played note further out of order than
    ``chords`` chords from its score position (played before the chord two before it or after
    the chord two after it), and how many were taken out.

    The (n)ASAP ``.match`` files were made by an automatic matcher and corrected by hand where it
    failed; among fast figures with repeated pitches they sometimes pair a score note with a
    same-pitch note played a beat or more away (a Bach bass note matched 2.25 quarters early, a
    Debussy run note matched to the note of the next figure). A teacher would call such a note
    missed here and extra there; the benchmark leaves both out of the take and the score, as it
    leaves out the pianist's own omissions and insertions, so that its labels stay right."""
    onset_of = {str(r["id"]): float(r["onset_quarter"]) for r in sna}
    time_of = {str(r["id"]): float(r["onset_sec"]) for r in pna}
    pairs = [(onset_of[a["score_id"]], time_of[a["performance_id"]], a) for a in gt
             if a["label"] == "match" and a["score_id"] in onset_of and a["performance_id"] in time_of]
    positions = sorted({q for q, _t, _a in pairs})
    chord_index = {q: i for i, q in enumerate(positions)}
    times: list[list[float]] = [[] for _ in positions]
    for q, t, _a in pairs:
        times[chord_index[q]].append(t)
    chord_time = np.array([float(np.median(x)) for x in times])
    dropped = set()
    for q, t, a in pairs:
        k = chord_index[q]
        lo, hi = chord_time[max(0, k - chords)], chord_time[min(len(positions) - 1, k + chords)]
        if k - chords >= 0 and t < lo or k + chords < len(positions) and t > hi:
            dropped.add(id(a))
    return [a for a in gt if id(a) not in dropped], len(dropped)


def fscore(prediction: list[dict], truth: list[dict]) -> float:
    """F-score of matched (score id, performance id) pairs: parangonar.fscore_alignments(..., 'match')."""
    predicted = {(a["score_id"], a["performance_id"]) for a in prediction if a["label"] == "match"}
    true = {(a["score_id"], a["performance_id"]) for a in truth if a["label"] == "match"}
    if not predicted and not true:
        return 1.0
    return 2 * len(predicted & true) / (len(predicted) + len(true))


def bench_alignment(files: list[Path]) -> dict:
    partitura()  # first, so that parangonar's import of it does not try to download a soundfont
    import parangonar

    rows = []
    print(f"{'piece':58} {'notes':>6} {'F ours':>7} {'F peer':>7} {'s ours':>7} {'s peer':>7}")
    for path in files:
        _score, sna, pna, gt = load(path)
        started = time.perf_counter()
        ours = align_arrays(sna["onset_quarter"], sna["pitch"], pna["onset_sec"], pna["pitch"])
        ours_list = as_match_list(ours, list(sna["id"]), list(pna["id"]))
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer_list = parangonar.DualDTWNoteMatcher()(sna, pna)
        peer_s = time.perf_counter() - started
        row = {"piece": str(path.relative_to(DATA)), "score_notes": len(sna), "perf_notes": len(pna),
               "f_ours": fscore(ours_list, gt), "f_peer": fscore(peer_list, gt), "s_ours": ours_s, "s_peer": peer_s}
        rows.append(row)
        print(f"{row['piece'][:58]:58} {len(sna):6d} {row['f_ours']:7.4f} {row['f_peer']:7.4f} {ours_s:7.2f} {peer_s:7.2f}", flush=True)
    summary = {
        "pieces": len(rows),
        "f_ours_mean": statistics.mean(r["f_ours"] for r in rows), "f_peer_mean": statistics.mean(r["f_peer"] for r in rows),
        "s_ours_mean": statistics.mean(r["s_ours"] for r in rows), "s_peer_mean": statistics.mean(r["s_peer"] for r in rows),
        "s_ours_median": statistics.median(r["s_ours"] for r in rows), "s_peer_median": statistics.median(r["s_peer"] for r in rows),
    }
    print(f"MEAN over {len(rows)} performances: F ours {summary['f_ours_mean']:.4f}  peer {summary['f_peer_mean']:.4f}  "
          f"time/piece ours {summary['s_ours_mean']:.2f} s  peer {summary['s_peer_mean']:.2f} s")
    return {"rows": rows, "summary": summary}


# ---------------------------------------------------------------------------------------------
# a tutor Score and Performance from a .match file
# ---------------------------------------------------------------------------------------------
def _beat_ql(numerator: int, denominator: int) -> float:
    unit = 4.0 / denominator
    return unit * 3 if denominator >= 8 and numerator % 3 == 0 and numerator > 3 else unit


def tutor_score(pt_score, sna) -> Score:
    """Our Score for a partitura score (note ids are partitura's, measures numbered in order)."""
    part = pt_score.parts[0]
    measures = []
    for number, m in enumerate(part.measures, start=1):
        start, end = float(part.quarter_map(m.start.t)), float(part.quarter_map(m.end.t))
        ts = part.time_signature_map(m.start.t)
        measures.append(Measure(number, start, end - start, f"{int(ts[0])}/{int(ts[1])}"))
    starts = [m.start_ql for m in measures]
    notes = []
    for row in sna:
        onset = float(row["onset_quarter"])
        index = max(0, int(np.searchsorted(starts, onset + 1e-9)) - 1)
        m = measures[index]
        num, den = (int(x) for x in m.time_signature.split("/"))
        notes.append(Note(id=str(row["id"]), pitch=int(row["pitch"]), onset_ql=onset,
                          duration_ql=max(float(row["duration_quarter"]), 0.0), onset_s=0.0, duration_s=0.0, part="P1",
                          measure=m.number, beat=1.0 + (onset - m.start_ql) / _beat_ql(num, den)))
    return Score(title="bench", parts=(), notes=sort_notes(notes), measures=tuple(measures), tempo_map=TempoMap())


# ---------------------------------------------------------------------------------------------
# error injection
# ---------------------------------------------------------------------------------------------
def inject(score: Score, pna, gt, rng: np.random.Generator, *, per_type: int = 3, pedal=()):
    """(played notes, labels, restarts): a real performance with seeded student errors.

    labels: {"wrong_pitch"|"missed"|"early"|"late": {note id}, "extra": {(time, pitch)}, "restart": [time]}.
    ``pedal``: the pianist's sustain pedal as (time_s, down); it moves with the notes around it
    (hesitations, restarts: the replayed bars are pedalled as the first time).
    """
    by_id = {str(r["id"]): r for r in pna}
    onset_of = {n.id: n.onset_ql for n in score.notes}
    notes = []  # [pitch, onset, offset, velocity, score id]
    for a in gt:
        if a["label"] == "match" and a["score_id"] in onset_of:
            r = by_id[a["performance_id"]]
            notes.append([int(r["pitch"]), float(r["onset_sec"]), float(r["onset_sec"] + r["duration_sec"]), int(r["velocity"]), a["score_id"]])
    labels: dict = {"wrong_pitch": set(), "missed": set(), "early": set(), "late": set(), "extra": set(), "restart": []}
    positions = sorted({onset_of[n[4]] for n in notes})
    chord_index = {p: i for i, p in enumerate(positions)}
    chords: list[list[list]] = [[] for _ in positions]
    for n in notes:
        chords[chord_index[onset_of[n[4]]]].append(n)

    def chord_time(k: int) -> float:
        return min(n[1] for n in chords[k])

    first_times = np.array([chord_time(k) for k in range(len(chords))])
    pedal_of_chord: list[list[list]] = [[] for _ in positions]  # [time, down] after each chord's first note
    for t, down in pedal:
        pedal_of_chord[max(0, int(np.searchsorted(np.maximum.accumulate(first_times), t, side="right")) - 1)].append([float(t), bool(down)])
    inserted_pedal: list[list] = []

    def pitches(k: int) -> set[int]:
        return {n[0] for c in range(max(0, k - 1), min(len(chords), k + 2)) for n in chords[c]}

    n_chords = len(chords)
    taken = np.zeros(n_chords, dtype=bool)
    taken[:6] = True
    taken[-6:] = True
    sites: list[tuple[str, int, int]] = []  # (kind, chord, extra info)
    # restarts first: they need the bars before them clean
    measure_starts = [m.start_ql for m in score.measures]
    for _ in range(max(1, per_type // 2)):
        for _try in range(50):
            k = int(rng.integers(8, n_chords - 8))
            m = max(0, int(np.searchsorted(measure_starts, positions[k] + 1e-9)) - 1)
            back = int(rng.integers(1, 3))
            if m - back < 0:
                continue
            r = int(np.searchsorted(positions, measure_starts[m - back] - 1e-9))
            if r >= k or k - r > 40 or taken[max(0, r - 2):k + 6].any():
                continue
            taken[max(0, r - 2):k + 6] = True
            sites.append(("restart", k, r))
            break
    for kind in ("wrong_pitch", "missed", "extra", "push", "hesitation"):
        count = per_type if kind != "hesitation" else max(1, per_type // 2)
        for _ in range(count):
            for _try in range(100):
                k = int(rng.integers(6, n_chords - 6))
                if taken[k - 3:k + 4].any():
                    continue
                if kind == "push":
                    gap_before, gap_after = chord_time(k) - chord_time(k - 1), chord_time(k + 1) - chord_time(k)
                    if min(gap_before, gap_after) < 0.33 or max(n[1] for n in chords[k]) - chord_time(k) > 0.03:
                        continue
                taken[k - 3:k + 4] = True
                sites.append((kind, k, 0))
                break
    inserted = []
    for kind, k, _info in sites:
        if kind == "wrong_pitch":
            n = chords[k][int(rng.integers(len(chords[k])))]
            options = [n[0] + d for d in (-2, -1, 1, 2) if n[0] + d not in pitches(k)]
            if not options:
                continue
            n[0] = int(rng.choice(options))
            labels["wrong_pitch"].add(n[4])
        elif kind == "missed":
            n = chords[k][int(rng.integers(len(chords[k])))]
            chords[k].remove(n)
            labels["missed"].add(n[4])
        elif kind == "extra":
            base = chords[k][int(rng.integers(len(chords[k])))]
            options = [base[0] + d for d in (-2, -1, 1, 2) if base[0] + d not in pitches(k) | pitches(k + 1)]
            if not options:
                continue
            t = (chord_time(k) + chord_time(k + 1)) / 2
            pitch = int(rng.choice(options))
            inserted.append([pitch, t, t + 0.12, 60, None])
            labels["extra"].add((round(t, 3), pitch))
        elif kind == "push":
            push = float(rng.uniform(0.08, 0.25)) * (1 if rng.random() < 0.5 else -1)
            limit = 0.6 * min(chord_time(k) - chord_time(k - 1), chord_time(k + 1) - chord_time(k))
            push = float(np.clip(push, -limit, limit))
            if abs(push) < 0.08:
                continue
            for n in chords[k]:
                n[1] += push
                n[2] += push
                labels["late" if push > 0 else "early"].add(n[4])
    # time shifts, latest first: hesitations and restarts
    restart_notes = []
    for kind, k, r in sorted(sites, key=lambda s: -s[1]):
        if kind == "hesitation":
            pause = float(rng.uniform(0.5, 2.0))
            for c in range(k, n_chords):
                for n in chords[c]:
                    n[1] += pause
                    n[2] += pause
                for e in pedal_of_chord[c]:
                    e[0] += pause
            for x in inserted:
                if x[1] >= chord_time(k) - pause:
                    x[1] += pause
                    x[2] += pause
            for e in inserted_pedal:
                if e[0] >= chord_time(k) - pause:
                    e[0] += pause
            labels["late"] |= {n[4] for n in chords[k]}
            labels.setdefault("hesitation", set()).update(n[4] for n in chords[k])
        elif kind == "restart":
            stop = max(n[1] for n in chords[k - 1]) + 0.3
            first = chord_time(r)
            shift = stop + float(rng.uniform(0.2, 0.8)) - first
            replay = [[n[0], n[1] + shift, n[2] + shift, n[3], n[4]] for c in range(r, k) for n in chords[c]]
            replay_pedal = [[e[0] + shift, e[1]] for c in range(r, k) for e in pedal_of_chord[c]]
            for c in range(k, n_chords):
                for n in chords[c]:
                    n[1] += shift
                    n[2] += shift
                for e in pedal_of_chord[c]:
                    e[0] += shift
            for x in inserted:
                if x[1] >= chord_time(k) - shift:
                    x[1] += shift
                    x[2] += shift
            for e in inserted_pedal:
                if e[0] >= chord_time(k) - shift:
                    e[0] += shift
            inserted_pedal.extend(replay_pedal)
            chords[r] = chords[r] + []  # originals stay: the first attempt
            inserted.extend(replay)
            # the notes themselves: later shifts (an earlier hesitation) move them
            first_note = min(chords[r], key=lambda n: n[1])
            restart_notes.append((first_note, min(replay, key=lambda n: n[1]), max(replay, key=lambda n: n[1])))
    # labels read after all time shifts
    labels["extra"] = {(round(x[1], 3), x[0]) for x in inserted if x[4] is None}
    restarts = [{"time": replay_first[1], "first_attempt_s": first[1], "end_s": replay_last[1]}
                for first, replay_first, replay_last in restart_notes]
    labels["restart"] = [r["time"] for r in restarts]
    played = [x for c in chords for x in c] + inserted
    played.sort(key=lambda x: (x[1], x[0]))
    perf_notes = tuple(PlayedNote(pitch=p, onset_s=on, offset_s=max(off, on + 0.02), velocity=v) for p, on, off, v, _s in played)
    truth_ids = [s for *_x, s in played]
    events = sorted([e for c in pedal_of_chord for e in c] + inserted_pedal)
    return Performance(notes=perf_notes, pedal=tuple(PedalEvent(t, down) for t, down in events)), labels, restarts, truth_ids


def clean_take(score: Score, pna, gt, pedal=()) -> Performance:
    """The pianist's notes that the ground truth matches to the score, untouched."""
    by_id = {str(r["id"]): r for r in pna}
    ids = {n.id for n in score.notes}
    notes = [PlayedNote(int(r["pitch"]), float(r["onset_sec"]), float(r["onset_sec"] + max(r["duration_sec"], 0.02)), int(r["velocity"]))
             for a in gt if a["label"] == "match" and a["score_id"] in ids for r in [by_id[a["performance_id"]]]]
    return Performance(notes=tuple(sorted(notes, key=lambda n: (n.onset_s, n.pitch))),
                       pedal=tuple(PedalEvent(t, down) for t, down in pedal))


def detected_keys(events) -> dict:
    kinds = ("wrong_pitch", "missed", "extra", "early", "late", "restart", "short", "long", "sharp", "flat")
    detected = {k: set() for k in kinds}
    for e in events:
        if e.type in ("wrong_pitch", "missed", "early", "late", "short", "long", "sharp", "flat") and e.note_id:
            detected[e.type].add(e.note_id)
        elif e.type == "extra":
            detected["extra"].add((round(e.time, 3), e.played_pitch))
    return detected


def score_events(events, labels, restarts, baseline: dict | None = None) -> dict:
    """Counts per type; with ``baseline`` (what the untouched take already gets), notes flagged
    for timing there are left out of the count (the pianist's own timing, not an injected error)."""
    detected = detected_keys(events)
    if baseline is not None:
        for k in ("early", "late"):
            detected[k] -= (baseline[k] | baseline["early" if k == "late" else "late"]) - labels[k]
    counts = {}
    for k in ("wrong_pitch", "missed", "early", "late"):
        tp = len(detected[k] & labels[k])
        counts[k] = {"tp": tp, "detected": len(detected[k]), "labels": len(labels[k])}
    # extra notes: same pitch, onset within EXTRA_MATCH_S (transcribed onsets move a little)
    tp = sum(1 for t, p in labels["extra"] if any(p == q and abs(t - u) <= EXTRA_MATCH_S for u, q in detected["extra"]))
    counts["extra"] = {"tp": tp, "detected": len(detected["extra"]), "labels": len(labels["extra"])}
    found = [e.time for e in events if e.type == "restart"]
    tp = sum(1 for t in labels["restart"] if any(abs(t - f) < 1.0 for f in found))
    counts["restart"] = {"tp": tp, "detected": len(found), "labels": len(labels["restart"])}
    # false errors around each restart: from the first attempt of the replayed bars to 2 s after the replay
    false_near = []
    for r in restarts:
        n = 0
        for e in events:
            if e.type in ("correct", "restart") or e.time is None:
                continue
            if not r["first_attempt_s"] <= e.time <= r["end_s"] + 2.0:
                continue
            key = e.note_id if e.type != "extra" else (round(e.time, 3), e.played_pitch)
            if key in labels.get(e.type, set()):
                continue
            if baseline is not None and e.type != "extra" and (key in baseline.get(e.type, set()) or (
                    e.type in ("early", "late") and key in baseline["early" if e.type == "late" else "late"])):
                continue  # the pianist's own (a held note, a timing), flagged in the untouched take too
            n += 1
        false_near.append(n)
    counts["false_errors_after_restart"] = false_near
    return counts


def steady(pna, sna, gt, rng: np.random.Generator, *, jitter_s: float = 0.015):
    """The performance played in steady time: each matched note at its score position on the
    pianist's average tempo, with a little random jitter (a student who keeps the pulse)."""
    onset_of = {str(r["id"]): float(r["onset_quarter"]) for r in sna}
    position = {a["performance_id"]: onset_of[a["score_id"]] for a in gt if a["label"] == "match" and a["score_id"] in onset_of}
    ids = [str(i) for i in pna["id"]]
    q = np.array([position.get(i, np.nan) for i in ids])
    known = ~np.isnan(q)
    slope, intercept = np.polyfit(q[known], pna["onset_sec"][known], 1)
    out = pna.copy()
    out["onset_sec"][known] = intercept + slope * q[known] + rng.normal(0.0, jitter_s, int(known.sum()))
    return out


def bench_errors(files: list[Path], *, seed: int = 5, level: str = "advanced", steady_time: bool = False) -> dict:
    """Injected errors; ``steady_time`` first replaces the pianist's expressive timing by steady
    time with 15 ms jitter (the timing errors are then judged against a steady pulse)."""
    from tutor.practice.assessment import assess
    from tutor.practice.follower import ScoreFollower, follow_performance

    rng = np.random.default_rng(seed)
    totals: dict = {}
    false_near: list[int] = []
    false_near_new: list[int] = []  # leaving out what the untouched take already gets
    follow_hits = follow_total = 0
    live_totals: dict = {}
    live_false_near: list[int] = []
    follow_times: list[float] = []
    times = []
    dropped = 0
    own_push: list[float] = []  # the push statistic of every chord of the untouched takes
    injected_push: list[float] = []  # ...and of the chords the injection pushed
    for path in files:
        pt_score, sna, pna, gt = load(path)
        gt, out_of_order = in_order(gt, sna, pna)
        dropped += out_of_order
        pedal = pedal_events(path)
        if steady_time:
            timed = pna
            pna = steady(pna, sna, gt, rng)
            order = np.argsort(timed["onset_sec"])  # the pedal moves with the notes around it
            pedal = [(float(np.interp(t, timed["onset_sec"][order], pna["onset_sec"][order])), down) for t, down in pedal]
        matched = {a["score_id"] for a in gt if a["label"] == "match"}
        score = tutor_score(pt_score, sna[np.isin(sna["id"], list(matched))])  # the pianist's own omissions taken out
        performance, labels, restarts, truth_ids = inject(score, pna, gt, rng, pedal=pedal)
        started = time.perf_counter()
        injected_diagnostics: dict = {}
        result = assess(score, performance, level=level, diagnostics=injected_diagnostics)
        times.append(time.perf_counter() - started)
        counts = score_events(result.events, labels, restarts)
        false_near += counts.pop("false_errors_after_restart")
        clean_diagnostics: dict = {}
        baseline = detected_keys(assess(score, clean_take(score, pna, gt, pedal), level=level, diagnostics=clean_diagnostics).events)
        own_push += [_push_statistic(v) for k, v in clean_diagnostics.items() if not isinstance(k, tuple)]
        position_of = {n.id: round(n.onset_ql, 6) for n in score.notes}
        pushed = {position_of[i] for k in ("early", "late") for i in labels[k] - labels.get("hesitation", set())}
        judged = {round(k, 6): v for k, v in injected_diagnostics.items() if not isinstance(k, tuple)}
        injected_push += [_push_statistic(judged[p]) if p in judged else float("nan") for p in sorted(pushed)]
        differential = score_events(result.events, labels, restarts, baseline)
        false_near_new += differential.pop("false_errors_after_restart")
        _accumulate(totals, {f"{k} (new only)": differential[k] for k in ("early", "late")})
        _accumulate(totals, counts)
        # live follower on the same take: note-ons, note-offs and the pedal as they would come
        follower = ScoreFollower(score, mode="play-along", level=level)
        onset_of = {n.id: n.onset_ql for n in score.notes}
        chord_of_position = {p: i for i, p in enumerate(sorted(set(onset_of.values())))}
        truth_of = dict(zip(performance.notes, truth_ids, strict=True))

        def feed(note, follower=follower, truth_of=truth_of, onset_of=onset_of, chord_of_position=chord_of_position):
            nonlocal follow_hits, follow_total
            started = time.perf_counter()
            found = follower.feed(note)
            follow_times.append(time.perf_counter() - started)
            sid = truth_of.get(note)
            if sid is not None:
                follow_total += 1
                follow_hits += abs(follower.chord - chord_of_position[onset_of[sid]]) <= 1
            return found

        live = score_events(follow_performance(_Tap(follower, feed), performance), labels, restarts)
        live_false_near += live.pop("false_errors_after_restart")
        _accumulate(live_totals, live)
        row = {k: f"{c['tp']}/{c['detected']}/{c['labels']}" for k, c in counts.items()}
        print(f"{str(path.relative_to(DATA))[:50]:50} tp/detected/labels {row}  {times[-1]:.2f} s", flush=True)
    table = {}
    print(f"\n{'error type':18} {'precision':>9} {'recall':>7} {'labels':>7}")
    for k, t in sorted(totals.items(), key=lambda kv: list(totals).index(kv[0]) if "new" not in kv[0] else 99):
        table[k] = _rates(t)
        precision, recall = table[k]["precision"], table[k]["recall"]
        print(f"{k:18} {precision:9.3f} {recall:7.3f} {t['labels']:7d}")
    print(f"ground-truth matches left out as out of order (see in_order): {dropped}")
    print(f"false errors around a restart: max {max(false_near, default=0)}, mean {statistics.mean(false_near) if false_near else 0:.2f} "
          f"over {len(false_near)} restarts; new (not flagged in the untouched take): max {max(false_near_new, default=0)}, "
          f"mean {statistics.mean(false_near_new) if false_near_new else 0:.2f}")
    separability = _separability(own_push, injected_push)
    accuracy = follow_hits / max(1, follow_total)
    median_ms = 1000 * statistics.median(follow_times)
    print(f"live follower (play-along): position within one chord {accuracy:.3f} of {follow_total} notes; "
          f"time per note median {median_ms:.3f} ms, 95th pct {1000 * float(np.percentile(follow_times, 95)):.3f} ms")
    live_table = {}
    print(f"live follower events: {'error type':12} {'precision':>9} {'recall':>7} {'labels':>7}")
    for k, t in live_totals.items():
        live_table[k] = _rates(t)
        precision, recall = live_table[k]["precision"], live_table[k]["recall"]
        print(f"{'':22}{k:12} {precision:9.3f} {recall:7.3f} {t['labels']:7d}")
    print(f"live follower: false errors around a restart max {max(live_false_near, default=0)}, "
          f"mean {statistics.mean(live_false_near) if live_false_near else 0:.2f}")
    return {"per_type": table, "false_errors_after_restart": false_near, "false_errors_after_restart_new": false_near_new,
            "assess_s_mean": statistics.mean(times),
            "follower_accuracy": accuracy, "follower_median_ms": median_ms, "follower_per_type": live_table,
            "follower_false_errors_after_restart": live_false_near, "pieces": len(files), "seed": seed, "level": level,
            "ground_truth_out_of_order_dropped": dropped, "timing_separability": separability}


def _accumulate(totals: dict, counts: dict) -> None:
    """Add one take's {type: {tp, detected, labels}} to the running totals."""
    for k, c in counts.items():
        t = totals.setdefault(k, {"tp": 0, "detected": 0, "labels": 0})
        for key in t:
            t[key] += c[key]


def _rates(t: dict) -> dict:
    """Precision and recall (nan where undefined) beside the counts."""
    return {"precision": t["tp"] / t["detected"] if t["detected"] else float("nan"),
            "recall": t["tp"] / t["labels"] if t["labels"] else float("nan"), **t}


class _Tap:
    """A follower whose ``feed`` goes through ``feed`` (to time each note and read the position after it)."""

    def __init__(self, follower, feed) -> None:
        self._follower, self.feed = follower, feed

    def __getattr__(self, name):
        return getattr(self._follower, name)


def _push_statistic(diagnostic: tuple) -> float:
    """How far a chord is pushed, as ``tutor.practice.assessment`` judges it: the smaller of the errors of the
    step into it and the step out of it when they are of opposite signs (else 0), in seconds."""
    e_in, e_out = diagnostic[0], diagnostic[1]
    return min(abs(e_in), abs(e_out)) if e_in * e_out < 0 else 0.0


def _separability(own: list[float], injected: list[float]) -> dict:
    """The pianists' own push-like displacements (every chord of the untouched takes) against the
    injected pushes of 80-250 ms, on the statistic the assessment judges: how many of their own
    chords would be flagged at each threshold, how many injected pushes could be."""
    own_a = np.array(own)
    injected_a = np.array([x for x in injected if not np.isnan(x)])
    out = {"own_chords": len(own_a), "injected_pushes": len(injected), "injected_judged": len(injected_a),
           "injected_median_ms": 1000 * float(np.median(injected_a)) if len(injected_a) else None, "thresholds_ms": {}}
    print(f"timing separability: {len(own_a)} chords of the untouched takes, {len(injected)} injected pushes "
          f"({len(injected_a)} judged; push statistic median {out['injected_median_ms'] or 0:.0f} ms)")
    for ms in (55, 80, 120, 150, 200, 250):
        own_n = int(np.sum(own_a > ms / 1000))
        injected_n = int(np.sum(injected_a > ms / 1000))
        ceiling = injected_n / (injected_n + own_n) if injected_n + own_n else float("nan")
        out["thresholds_ms"][ms] = {"own": own_n, "own_share": own_n / max(1, len(own_a)), "injected": injected_n,
                                    "precision_ceiling": ceiling}
        print(f"  > {ms:3d} ms: the pianists' own {own_n:4d} chords ({100 * own_n / max(1, len(own_a)):.2f}%), injected "
              f"{injected_n}/{len(injected)}: precision against the labels at most {ceiling:.2f}")
    return out


def melody(score: Score, sna, gt):
    """The top voice: the highest matched score note of every onset at which no higher note is
    still sounding (an inner voice moving under a held melody note is left out), with the ground
    truth cut down to it (what a right hand or a melody instrument would play)."""
    matched = {a["score_id"] for a in gt if a["label"] == "match"}
    top: dict[float, Note] = {}
    for note in score.notes:
        if note.id in matched and (note.onset_ql not in top or note.pitch > top[note.onset_ql].pitch):
            top[note.onset_ql] = note
    line: list[Note] = []
    for onset in sorted(top):
        note = top[onset]
        if line and line[-1].onset_ql + line[-1].duration_ql > onset + 1e-6 and line[-1].pitch > note.pitch:
            continue
        line.append(note)
    top = {n.onset_ql: n for n in line}
    keep = {n.id for n in top.values()}
    return (Score(title="melody", parts=(), notes=sort_notes(top.values()), measures=score.measures, tempo_map=score.tempo_map),
            [a for a in gt if a["label"] == "match" and a["score_id"] in keep])


def render(performance: Performance, path: Path, *, program: int = 0) -> Path:
    """``performance`` as audio, through the fluidsynth command line and the GM soundfont."""
    import subprocess

    import pretty_midi

    from tutor.audio.playback import find_soundfont

    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=program)
    notes = sorted(performance.notes, key=lambda n: n.onset_s)
    # one line: each note stops where the next begins (a melody, not a pianist's overlapping legato)
    line = [(n.pitch, n.onset_s, min(n.offset_s, notes[i + 1].onset_s) if i + 1 < len(notes) else n.offset_s)
            for i, n in enumerate(notes)]
    if program != 0:  # a wind or string player tongues or bows a repeated note (a piano's hammer strikes it again)
        from tests.bench.bench_pitch import rearticulate

        line = rearticulate(line)
    for (pitch, onset, end), n in zip(line, notes, strict=True):
        instrument.notes.append(pretty_midi.Note(velocity=max(40, n.velocity), pitch=pitch, start=onset, end=max(end, onset + 0.03)))
    midi.instruments.append(instrument)
    midi_path = path.with_suffix(".mid")
    midi.write(str(midi_path))
    subprocess.run(["fluidsynth", "-ni", "-g", "0.6", "-r", "22050", "-F", str(path), str(find_soundfont()), str(midi_path)],
                   check=True, capture_output=True, timeout=300)
    return path


AUDIO_PROGRAMS = (0, 73)  # GM acoustic grand piano, flute: each piece's first take on one, the second on the other


def bench_audio(files: list[Path], *, seed: int = 5) -> dict:
    """Melody of each piece with injected errors, rendered with FluidSynth (piano or flute, in turn),
    transcribed by tutor.listen.transcription (through tutor.listen.takes.load_performance), assessed. The untouched
    melody is rendered and assessed too: timing flags it already gets (the pianist's own rubato, heard
    through the transcription) are reported apart, as "new only", like the MIDI takes'."""
    import tempfile

    if importlib.util.find_spec("tutor.listen.transcription") is None:
        print("audio path: skipped (tutor.listen.transcription does not exist yet)")
        return {"skipped": "tutor.listen.transcription missing"}
    from tutor.listen.takes import load_performance
    from tutor.practice.assessment import assess

    rng = np.random.default_rng(seed)
    totals: dict = {}
    false_near: list[int] = []
    transcription: list[float] = []
    takes = []
    with tempfile.TemporaryDirectory() as folder:
        for index, path in enumerate(files):
            program = AUDIO_PROGRAMS[index % len(AUDIO_PROGRAMS)]
            pt_score, sna, pna, gt = load(path)
            tune, tune_gt = melody(tutor_score(pt_score, sna), sna, gt)
            take, labels, restarts, _truth = inject(tune, pna, tune_gt, rng)
            untouched = render(clean_take(tune, pna, tune_gt), Path(folder) / f"{path.stem}-clean.wav", program=program)
            baseline = detected_keys(assess(tune, load_performance(untouched)).events)
            wav = render(take, Path(folder) / f"{path.stem}.wav", program=program)
            started = time.perf_counter()
            heard = load_performance(wav)
            transcribe_s = time.perf_counter() - started
            events = assess(tune, heard).events
            counts = score_events(events, labels, restarts)
            new_only = score_events(events, labels, restarts, baseline)
            counts["early (new only)"], counts["late (new only)"] = new_only["early"], new_only["late"]
            false_near += new_only.pop("false_errors_after_restart")
            counts.pop("false_errors_after_restart")
            transcription_f = _note_f1(take, heard)
            transcription.append(transcription_f)
            takes.append({"take": path.stem, "program": program, "note_f1": transcription_f})
            _accumulate(totals, counts)
            print(f"audio {path.stem[:28]:28} program {program:2} notes {len(take.notes)} heard {len(heard.notes)} "
                  f"(note F1 {transcription_f:.3f}) transcribe {transcribe_s:.1f} s "
                  + str({k: f"{c['tp']}/{c['detected']}/{c['labels']}" for k, c in counts.items()}), flush=True)
    table = {}
    for k, t in totals.items():
        table[k] = _rates(t)
        print(f"audio {k:17} precision {table[k]['precision']:.3f} recall {table[k]['recall']:.3f} labels {t['labels']}")
    print(f"audio false errors around a restart (not in the untouched take): {false_near}")
    print(f"audio transcription note F1 (onset 50 ms, pitch) mean {statistics.mean(transcription):.3f}: the assessment can only be as good")
    return {"per_type": table, "false_errors_after_restart": false_near, "programs": list(AUDIO_PROGRAMS),
            "takes": takes, "transcription_note_f1": transcription}


def _note_f1(reference: Performance, estimate: Performance) -> float:
    """mir_eval note F1 (onsets within 50 ms, same pitch, offsets ignored)."""
    import mir_eval

    def arrays(performance: Performance):
        intervals = np.array([[n.onset_s, max(n.offset_s, n.onset_s + 0.01)] for n in performance.notes]).reshape(-1, 2)
        pitches = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in performance.notes])
        return intervals, pitches

    if not reference.notes or not estimate.notes:
        return 0.0
    ref_i, ref_p = arrays(reference)
    est_i, est_p = arrays(estimate)
    return float(mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p, offset_ratio=None)[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_assessment")
    parser.add_argument("--every", type=int, default=6, help="every N-th (n)ASAP performance for alignment (default 6)")
    parser.add_argument("--inject-every", type=int, default=12, help="every N-th for injected errors (default 12)")
    parser.add_argument("--skip-alignment", action="store_true")
    parser.add_argument("--skip-audio", action="store_true")
    parser.add_argument("--seed", type=int, default=5, help="seed of the injected errors (the recorded runs: 5)")
    args = parser.parse_args(argv if argv is not None else [])
    if not NASAP.exists():
        print(f"shared data not found: {NASAP}")
        return
    results = {}
    if not args.skip_alignment:
        results["alignment"] = bench_alignment(match_files(args.every))
    print()
    results["errors"] = bench_errors(match_files(args.inject_every, vienna_per_piece=1), seed=args.seed)
    print("\nthe same with the pianists' timing made steady (15 ms jitter): timing errors against a steady pulse")
    results["errors_steady_time"] = bench_errors(match_files(args.inject_every, vienna_per_piece=1), seed=args.seed, steady_time=True)
    vienna = [f for f in match_files(10_000, vienna_per_piece=2) if "vienna" in str(f)]
    results["audio"] = {"skipped": "--skip-audio"} if args.skip_audio else bench_audio(vienna, seed=args.seed)
    save("assessment", results)


if __name__ == "__main__":
    main(sys.argv[1:])
