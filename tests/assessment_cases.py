"""Small hand-made scores and takes shared by the alignment, assessment and follower tests."""

from __future__ import annotations

from tutor.score.music import (
    Measure,
    Note,
    Part,
    PlayedNote,
    Score,
    TempoMap,
    TimeSignature,
    sort_notes,
    time_notes,
)


def make_score(events: list[tuple[float, list[int], float]], *, bars: int | None = None, bpm: float = 120.0) -> Score:
    """A 4/4 score from (onset_ql, pitches, duration_ql) events; ids P1-m{measure}-n{k}."""
    notes, counters = [], {}
    for onset, pitches, duration in events:
        for pitch in sorted(pitches):
            measure = int(onset // 4) + 1
            k = counters.get(measure, 0)
            counters[measure] = k + 1
            notes.append(Note(id=f"P1-m{measure}-n{k}", pitch=pitch, onset_ql=float(onset), duration_ql=float(duration),
                              onset_s=0.0, duration_s=0.0, part="P1", measure=measure, beat=1.0 + onset % 4))
    count = bars or int(max(o for o, _p, _d in events) // 4) + 1
    tempo = TempoMap()
    tempo = TempoMap(changes=(type(tempo.changes[0])(0.0, bpm),))
    return Score(title="test", parts=(Part("P1", "Piano"),), notes=sort_notes(time_notes(notes, tempo)),
                 measures=tuple(Measure(i + 1, 4.0 * i, 4.0, "4/4") for i in range(count)),
                 time_signatures=(TimeSignature(1, 0.0, 4, 4),), tempo_map=tempo)


def scale_score(bars: int = 4) -> Score:
    """Quarter notes going up and down a C major scale, ``bars`` bars of 4/4."""
    steps = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 62]
    return make_score([(float(i), [steps[i % len(steps)]], 1.0) for i in range(4 * bars)])


def play(score: Score, *, bpm: float = 100.0, start_s: float = 0.5) -> list[PlayedNote]:
    """A clean take of ``score`` at ``bpm`` (quarter notes per minute)."""
    spq = 60.0 / bpm
    return [PlayedNote(pitch=n.pitch, onset_s=start_s + n.onset_ql * spq, offset_s=start_s + (n.onset_ql + n.duration_ql * 0.9) * spq)
            for n in score.notes]


def vienna_with_mistakes(name: str = "Chopin_op38_p01", *, seed: int = 5):
    """(score, performance): a real Vienna 4x22 performance with the assessment benchmark's injected
    mistakes (``tests.bench.bench_assessment.inject``, ``seed``), its sustain pedal included."""
    import numpy as np

    from tests.bench.bench_assessment import in_order, inject, load, pedal_events, tutor_score
    from tests.conftest import shared

    path = shared("vienna4x22", "match", f"{name}.match")
    pt_score, sna, pna, gt = load(path)
    gt, _ = in_order(gt, sna, pna)
    matched = {a["score_id"] for a in gt if a["label"] == "match"}
    score = tutor_score(pt_score, sna[np.isin(sna["id"], list(matched))])
    performance, *_ = inject(score, pna, gt, np.random.default_rng(seed), pedal=pedal_events(path))
    return score, performance
