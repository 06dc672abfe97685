"""Harmonisation benchmark: ``python -m tests.bench harmonize`` (``HARMONIZE_CHORALES=77`` for the whole
JSB test split; the default 20 keeps it to minutes on the shared CPU).

On the JSB chorales test split (``../shared/data/jsb-chorales/Jsb16thSeparated.json``, as
``tests.rule_scores.jsb_chorales`` reads it: 4/4, no key signature, repeated pitches merged), Bach's
soprano is harmonised (``tutor.harmonize.harmonize``, chorale style, k=1, seed 0) and compared with Bach:

* critique-rule findings per chorale (errors, warnings; chorale rules) for ours and for Bach's own;
* note agreement: at every soprano onset, the share of alto/tenor/bass pitches equal to Bach's pitch
  sounding in the same voice there (exact pitch, and pitch class).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace

from tests.bench._results import save
from tests.conftest import SHARED_DATA


def with_pickup(bach):
    """The chorale re-barred with a pickup so that its last soprano note starts on a downbeat.

    ``Jsb16thSeparated.json`` has no bar lines: ``jsb_chorales`` starts every chorale on a downbeat, but
    most start with an upbeat (on the test split the last soprano note starts on beat 2, 3 or 4 of
    such a bar in 73 of 77 chorales), so the generator would read every beat one off. The pickup is
    the last soprano note's onset modulo the bar (Bach's chorales end on a downbeat)."""
    from tests.rule_scores import make_score
    from tutor.harmonize import melody_of

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


def main() -> None:
    from tests.rule_scores import jsb_chorales
    from tutor.harmonize import harmonize, harmonized_score, melody_of
    from tutor.rules import check_rules

    path = SHARED_DATA / "jsb-chorales" / "Jsb16thSeparated.json"
    if not path.exists():
        print(f"skipped: {path} is missing")
        return
    count = int(os.environ.get("HARMONIZE_CHORALES", "20"))
    chorales = jsb_chorales(path, "test")[:count]
    ours_err, ours_warn, bach_err, bach_warn, exact, pc, seconds, failed = [], [], [], [], [], [], [], 0
    for bach in chorales:
        part, melody = melody_of(bach)
        soprano_only = replace(bach, parts=bach.parts[:1], notes=melody)
        started = time.perf_counter()
        try:
            best = harmonize(soprano_only, k=1, seed=0)[0]
        except Exception as error:  # counted, not fatal
            print(f"{bach.title}: {error}")
            failed += 1
            continue
        seconds.append(time.perf_counter() - started)
        ours = harmonized_score(soprano_only, best)
        for score, errors, warnings in ((ours, ours_err, ours_warn), (bach, bach_err, bach_warn)):
            findings = check_rules(score, style="chorale")
            errors.append(sum(f.severity == "error" for f in findings))
            warnings.append(sum(f.severity == "warning" for f in findings))
        same = same_pc = total = 0
        for ours_id, bach_part in zip(("HA", "HT", "HB"), bach.parts[1:], strict=True):
            mine = [n for n in ours.notes if n.part == ours_id]
            his = bach.notes_of(bach_part.id)
            for note in melody:
                a, b = _sounding(mine, note.onset_ql), _sounding(his, note.onset_ql)
                if b is None:
                    continue
                total += 1
                same += a == b
                same_pc += a is not None and a % 12 == b % 12
        exact.append(same / max(1, total))
        pc.append(same_pc / max(1, total))
        print(f"{bach.title}: ours {ours_err[-1]} errors {ours_warn[-1]} warnings, Bach {bach_err[-1]}/{bach_warn[-1]}, "
              f"agreement {exact[-1]:.2f} (pitch class {pc[-1]:.2f}), {seconds[-1]:.1f} s", flush=True)
    results = {
        "chorales": len(chorales), "failed": failed,
        "ours_errors_per_chorale": statistics.mean(ours_err), "ours_warnings_per_chorale": statistics.mean(ours_warn),
        "bach_errors_per_chorale": statistics.mean(bach_err), "bach_warnings_per_chorale": statistics.mean(bach_warn),
        "note_agreement_exact": statistics.mean(exact), "note_agreement_pitch_class": statistics.mean(pc),
        "median_seconds_per_chorale": statistics.median(seconds),
    }
    print(results)
    save("harmonize", results)


if __name__ == "__main__":
    main()
