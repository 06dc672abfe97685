"""Build small scores note by note for the rule tests and benchmarks."""

from __future__ import annotations

from tutor.score.music import KeySignature, Measure, Note, Part, Score, TempoMap, TimeSignature, time_notes


def make_score(*voices, names=None, meter=(4, 4), fifths: int | None = 0, mode="major", measure_lengths=None,
               programs=None, title="test") -> Score:
    """Each voice is a list of (pitch or None for a rest, duration in quarter notes), one part each."""
    numerator, denominator = meter
    bar = numerator * 4.0 / denominator
    beat_ql = 1.5 if denominator == 8 and numerator % 3 == 0 and numerator > 3 else 4.0 / denominator
    total = max(sum(d for _, d in v) for v in voices)
    lengths = list(measure_lengths) if measure_lengths else [bar] * max(1, int(-(-total // bar)))
    measures, start = [], 0.0
    first_number = 0 if measure_lengths and lengths[0] < bar else 1
    for i, length in enumerate(lengths):
        measures.append(Measure(first_number + i, start, length, f"{numerator}/{denominator}"))
        start += length
    names = names or [f"Voice {i + 1}" for i in range(len(voices))]
    parts, notes = [], []
    for index, voice in enumerate(voices):
        part_id = f"P{index + 1}"
        parts.append(Part(part_id, names[index], (programs or [0] * len(voices))[index]))
        onset = 0.0
        counters: dict[int, int] = {}
        for pitch, duration in voice:
            if pitch is not None:
                measure = next(m for m in reversed(measures) if m.start_ql <= onset + 1e-9)
                k = counters.get(measure.number, 0)
                counters[measure.number] = k + 1
                position = onset - measure.start_ql
                if measure is measures[0] and measure.duration_ql < bar:
                    position += bar - measure.duration_ql
                notes.append(Note(id=f"{part_id}-m{measure.number}-n{k}", pitch=pitch, onset_ql=onset,
                                  duration_ql=duration, onset_s=0.0, duration_s=0.0, part=part_id,
                                  measure=measure.number, beat=1.0 + position / beat_ql))
            onset += duration
    tempo = TempoMap()
    notes = time_notes(sorted(notes, key=lambda n: (n.onset_ql, n.pitch)), tempo)
    return Score(title=title, parts=tuple(parts), notes=tuple(notes), measures=tuple(measures),
                 time_signatures=(TimeSignature(measures[0].number, 0.0, numerator, denominator),),
                 key_signatures=(KeySignature(measures[0].number, 0.0, fifths, mode),) if fifths is not None else (),
                 tempo_map=tempo)


SATB = ["Soprano", "Alto", "Tenor", "Bass"]


def quarters(*pitches, length: float = 1.0):
    return [(p, length) for p in pitches]


def jsb_chorales(path, split: str = "test") -> list:
    """The JSB chorales (``Jsb16thSeparated.json``: SATB pitches per 16th, -1 silent) as 4-part scores
    in 4/4; repeated pitches are merged (the data cannot tell held from repeated notes)."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))[split]
    scores = []
    for index, steps in enumerate(data):
        voices = []
        for v in range(4):
            line: list[list] = []
            for step in steps:
                pitch = int(step[v]) if step[v] is not None and step[v] >= 0 else None
                if line and line[-1][0] == pitch:
                    line[-1][1] += 0.25
                else:
                    line.append([pitch, 0.25])
            voices.append([(p, d) for p, d in line])
        scores.append(make_score(*voices, names=SATB, fifths=None, title=f"jsb {split} {index}"))
    return scores
