"""Harmonisation benchmark: ``python -m tests.bench harmonize`` (``HARMONIZE_CHORALES=77`` for the whole
JSB test split; the default 20 keeps it to minutes on the shared CPU).

On the JSB chorales test split (``../shared/data/jsb-chorales/Jsb16thSeparated.json``, as
``tests.rule_scores.jsb_chorales`` reads it: 4/4, no key signature, repeated pitches merged), Bach's
soprano is harmonised (``tutor.compose.harmonize.harmonize``, chorale style, seed 0, ``HARMONIZE_K`` candidates,
default 1) and compared with Bach:

* critique-rule findings per chorale (errors, warnings; chorale rules) for ours (the first candidate,
  what the app lists first) and for Bach's own;
* note agreement: at every soprano onset, the share of alto/tenor/bass pitches equal to Bach's pitch
  sounding in the same voice there (exact pitch, and pitch class); chord agreement: the share of soprano
  onsets where the four voices sound the same pitch classes as Bach's; bass agreement: same bass pitch class;
* with ``HARMONIZE_K`` > 1, the same agreements for the candidate the model finds likeliest, the mean
  candidate and the best one (an oracle): does ranking by likelihood bring us nearer Bach?
* a reference: how far Bach agrees with himself, over the melodies he harmonised twice in the data set
  (a test chorale whose soprano, transposed, is another chorale's): the ceiling of these measures.

``HARMONIZE_TEMPERATURE`` overrides the sampling temperature (``tutor.compose.harmonize.TEMPERATURE``).
``HARMONIZE_PICKUP=1`` re-bars each chorale with an upbeat first (``with_pickup``: the data has no bar
lines, and most chorales begin with one).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace

from tests.bench._results import save
from tests.conftest import SHARED_DATA

LOWER_PARTS = ("HA", "HT", "HB")


def with_pickup(bach):
    """The chorale re-barred with a pickup so that its last soprano note starts on a downbeat.

    ``Jsb16thSeparated.json`` has no bar lines: ``jsb_chorales`` starts every chorale on a downbeat, but
    most start with an upbeat (on the test split the last soprano note starts on beat 2, 3 or 4 of
    such a bar in 73 of 77 chorales), so the generator would read every beat one off. The pickup is
    the last soprano note's onset modulo the bar (Bach's chorales end on a downbeat)."""
    from tests.rule_scores import make_score
    from tutor.compose.harmonize import melody_of

    _, melody = melody_of(bach)
    pickup = round(melody[-1].onset_ql % 4.0, 6)
    if pickup == 0:
        return bach
    voices = []
    for part in bach.parts:
        line, cursor = [], 0.0
        for note in sorted(bach.notes_of(part.id), key=lambda n: n.onset_ql):
            if note.onset_ql > cursor + 1e-6:
                line.append((None, note.onset_ql - cursor))
            line.append((note.pitch, note.duration_ql))
            cursor = note.offset_ql
        voices.append(line)
    total = max(n.offset_ql for n in bach.notes)
    lengths = [pickup] + [4.0] * max(1, int(-(-(total - pickup) // 4.0)))
    return make_score(*voices, names=[p.name for p in bach.parts], fifths=None, measure_lengths=lengths,
                      title=bach.title)


def _sounding(notes, onset: float):
    for n in notes:
        if n.onset_ql <= onset + 1e-6 < n.offset_ql:
            return n.pitch
    return None


def agreement(ours, bach, melody, *, parts=LOWER_PARTS, shift: int = 0, delay_ql: float = 0.0) -> dict:
    """How far ``ours`` (lower voices ``parts``) agrees with ``bach`` at every soprano onset of ``melody``
    (``ours`` read ``delay_ql`` earlier and ``shift`` semitones up: another chorale on the same tune)."""
    same = same_pc = total = chord = bass = 0
    mine_by_part = {p: [n for n in ours.notes if n.part == p] for p in parts}
    his_by_part = [bach.notes_of(p.id) for p in bach.parts]
    for index, part in enumerate(parts):
        for note in melody:
            b = _sounding(his_by_part[index + 1], note.onset_ql)
            if b is None:
                continue
            a = _sounding(mine_by_part[part], note.onset_ql - delay_ql)
            a = None if a is None else a + shift
            total += 1
            same += a == b
            same_pc += a is not None and a % 12 == b % 12
    for note in melody:
        his = [_sounding(notes, note.onset_ql) for notes in his_by_part]
        mine = [note.pitch] + [_sounding(mine_by_part[p], note.onset_ql - delay_ql) for p in parts]
        mine = [None if m is None else m + (shift if i else 0) for i, m in enumerate(mine)]
        chord += {h % 12 for h in his if h is not None} == {m % 12 for m in mine if m is not None}
        bass += his[-1] is not None and mine[-1] is not None and his[-1] % 12 == mine[-1] % 12
    return {"exact": same / max(1, total), "pitch_class": same_pc / max(1, total),
            "chord": chord / max(1, len(melody)), "bass": bass / max(1, len(melody))}


def bach_against_bach(path) -> dict:
    """Agreement between Bach's two harmonisations of one melody: each test chorale whose soprano (same
    rhythm and intervals, any key) is another chorale's of any split."""
    from tests.rule_scores import jsb_chorales
    from tutor.compose.harmonize import melody_of

    def shape(chorale):
        _, melody = melody_of(chorale)
        return tuple((b.pitch - a.pitch, round(b.onset_ql - a.onset_ql, 3)) for a, b in zip(melody, melody[1:], strict=False)), melody

    by_shape: dict = {}
    for split in ("train", "valid", "test"):
        for chorale in jsb_chorales(path, split):
            key, melody = shape(chorale)
            by_shape.setdefault(key, []).append((split, chorale, melody))
    rows = []
    for group in by_shape.values():
        for split, chorale, melody in group:
            if split != "test":
                continue
            for _, other, other_melody in group:
                if other is chorale:
                    continue
                renamed = replace(other, notes=tuple(replace(n, part=LOWER_PARTS[int(n.part[1:]) - 2])
                                                     for n in other.notes if n.part != "P1"))
                rows.append(agreement(renamed, chorale, melody, shift=melody[0].pitch - other_melody[0].pitch,
                                      delay_ql=melody[0].onset_ql - other_melody[0].onset_ql))
    if not rows:
        return {"pairs": 0}
    return {"pairs": len(rows), **{k: statistics.mean(r[k] for r in rows) for k in rows[0]}}


def main() -> None:
    from tests.rule_scores import jsb_chorales
    from tutor.compose.harmonize import harmonize, harmonized_score, melody_of
    from tutor.compose.rules import check_rules

    path = SHARED_DATA / "jsb-chorales" / "Jsb16thSeparated.json"
    if not path.exists():
        print(f"skipped: {path} is missing")
        return
    count = int(os.environ.get("HARMONIZE_CHORALES", "20"))
    k = int(os.environ.get("HARMONIZE_K", "1"))
    pickup = os.environ.get("HARMONIZE_PICKUP") == "1"
    from tutor.compose.harmonize import TEMPERATURE

    temperature = float(os.environ.get("HARMONIZE_TEMPERATURE", TEMPERATURE))
    chorales = jsb_chorales(path, "test")[:count]
    ours_err, ours_warn, bach_err, bach_warn, seconds, failed = [], [], [], [], [], 0
    picks: dict[str, list[dict]] = {"first": [], "likeliest": [], "mean": [], "best": []}
    for bach in chorales:
        if pickup:
            bach = with_pickup(bach)
        part, melody = melody_of(bach)
        soprano_only = replace(bach, parts=bach.parts[:1], notes=melody)
        started = time.perf_counter()
        try:
            candidates = harmonize(soprano_only, k=k, seed=0, temperature=temperature)
        except Exception as error:  # counted, not fatal
            print(f"{bach.title}: {error}")
            failed += 1
            continue
        seconds.append(time.perf_counter() - started)
        ours = harmonized_score(soprano_only, candidates[0])
        for score, errors, warnings in ((ours, ours_err, ours_warn), (bach, bach_err, bach_warn)):
            findings = check_rules(score, style="chorale")
            errors.append(sum(f.severity == "error" for f in findings))
            warnings.append(sum(f.severity == "warning" for f in findings))
        agreements = [agreement(harmonized_score(soprano_only, c), bach, melody) for c in candidates]
        likeliest = max(range(len(candidates)), key=lambda i: candidates[i].log_likelihood)
        picks["first"].append(agreements[0])
        picks["likeliest"].append(agreements[likeliest])
        picks["mean"].append({key: statistics.mean(a[key] for a in agreements) for key in agreements[0]})
        picks["best"].append({key: max(a[key] for a in agreements) for key in agreements[0]})
        print(f"{bach.title}: ours {ours_err[-1]} errors {ours_warn[-1]} warnings, Bach {bach_err[-1]}/{bach_warn[-1]}, "
              f"agreement {agreements[0]['exact']:.2f} (pitch class {agreements[0]['pitch_class']:.2f}, chord "
              f"{agreements[0]['chord']:.2f}), {seconds[-1]:.1f} s", flush=True)

    def means(rows: list[dict]) -> dict:
        return {key: round(statistics.mean(r[key] for r in rows), 4) for key in rows[0]}

    results = {
        "chorales": len(chorales), "failed": failed, "candidates": k, "pickup": pickup, "temperature": temperature,
        "ours_errors_per_chorale": statistics.mean(ours_err), "ours_warnings_per_chorale": statistics.mean(ours_warn),
        "bach_errors_per_chorale": statistics.mean(bach_err), "bach_warnings_per_chorale": statistics.mean(bach_warn),
        "note_agreement_exact": statistics.mean(a["exact"] for a in picks["first"]),
        "note_agreement_pitch_class": statistics.mean(a["pitch_class"] for a in picks["first"]),
        "agreement_first": means(picks["first"]),
        "bach_against_bach": bach_against_bach(path),
        "median_seconds_per_chorale": statistics.median(seconds),
        "load_average_1min": os.getloadavg()[0],
    }
    if k > 1:
        results.update(agreement_likeliest=means(picks["likeliest"]), agreement_mean_candidate=means(picks["mean"]),
                       agreement_best_candidate=means(picks["best"]))
    print(results)
    save("harmonize", results)


if __name__ == "__main__":
    main()
