"""Benchmark of musical form (issue 21): repeats, endings and part orders in assessment.

1. Faultless takes of Nottingham tunes: the melody track of the set's own MIDI rendition (the tune played
   with its repeats) assessed against the tune as written in its ABC file, read back from the MusicXML that
   ``tutor convert`` writes (so that the export's repeat signs and part order are tested too). Counted: takes
   with any error (wrong pitch, missed, extra, timing, held) and takes with a restart; the same with
   ``repeats=False`` (the piece read as written once: what the app said before issue 21) as the baseline.
   Tunes: every tune of the 14 books that has a repeat sign, an ending or a part order, whose MIDI melody has
   as many notes as the tune played as written (the set's converter plays some tunes in other orders:
   whole tunes twice, parts without a part order once; those are counted and left out), and no tied note
   (the set's MIDI strikes a tied note again). Split by position: even positions "dev", odd "held-out".
2. What a student does with a repeat, built from the same takes: the repeats left out (the tune played straight
   through, each passage once and the last ending taken: the notes of the rest removed, the notes after moved
   earlier), the repeat played when none was asked (the faultless take with ``repeats=False``),
   and a restart inside a repeat (in the second time through, a pause of 1.5 s and the two measures before
   played again). Each must be reported as what it is: one ``skipped_repeat`` per repeat left out, one
   ``extra_repeat`` per repeat, one ``restart`` naming the 2nd time; counted as precision/recall of those
   events and takes with any other error.

3. Note alignment on (n)ASAP performances of the pieces whose MusicXML scores hold repeats (the ``.match``
   scores have them written out, so identical passages follow each other): F against the ground truth per
   piece, ours and parangonar's DualDTWNoteMatcher in the same run, the worst piece and the largest shortfall.

Recorded run (2026-12-07 ~01:00-01:10 UTC, shared 2-core machine, code at 181c77c): 60 tunes from 13 books
(30 dev, 30 held-out; 59 left out on the way: 25 without a form, 19 with ties, 15 whose MIDI plays another
order). Faultless takes with an error or a restart: 0 and 0 in both splits (baseline, repeats ignored: 9/8
takes with an error, 30/30 with a restart, 128/133 false events). Repeats left out: 64/64 and 59/59
``skipped_repeat``; repeats played with repeats off: 88/88 and 98/98 ``extra_repeat``; restart inside a
second time through: 30/30 and 30/30, each naming the 2nd time; precision 1.000 everywhere and no other error
reported in any of those takes. Alignment (12 nasap-dev performances of 7 pieces with repeats): F 0.9660 vs
parangonar 0.9664, 2.15 s vs 15.69 s per piece; worst piece Chopin Sonata 2 III 0.9168 (peer 0.9336), largest
shortfall 0.0198 (Kreisleriana 7, JohannsonP08): local mismatches in trills and repeated chords, not a pass
taken ahead (unchanged with the first-time-through tie-break off). Rerun at 7a38693 (01:41 UTC, leaving a
chord with pitches unplayed now costs, ``alignment.LEAVE_COST``): Nottingham parts identical; alignment F
0.9686 vs 0.9664, 0.59 s vs 4.82 s per piece, worst piece Giltburg02 0.9262 (peer 0.9336), largest shortfall
0.0080 (Kreisleriana 7, ParkJH10): no piece more than 0.01 below the peer.

Injected errors (``--inject``, part 4: ``bench_assessment.bench_errors`` on one performance of each of those 7
pieces, seed 5, run 2026-12-07 01:15 UTC at 9ed8e3d): wrong_pitch P 0.955 R 1.000, missed 1.000/1.000, extra
0.952/0.952, restart 1.000/1.000 (21, 21, 21 and 7 labels); the assessment benchmark's own run over the
other pieces has 1.000 for all four: one extra note in Kreisleriana 5 (JohannsonP06) was called a wrong
note, so pieces with repeats are one note short of "equal".

Run: ``python -m tests.bench form`` (``python -m tests.bench.bench_form --limit N`` for N tunes per split;
``python -m tests.bench.bench_form --only-alignment`` for part 3 alone, about 4 minutes).
Recorded numbers: docs/benchmarks.md, section "Musical form (issue 21)".
"""

from __future__ import annotations

import argparse
import bisect
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.bench._results import save
from tutor.practice.assessment import assess
from tutor.score.form import unfold
from tutor.score.io import load_midi_performance, load_score, save_score
from tutor.score.music import Performance, sort_played

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NOTTINGHAM = DATA / "nottingham"
ERRORS = ("wrong_pitch", "missed", "extra", "early", "late", "short", "long", "sharp", "flat")


def tunes() -> list[tuple[Path, int, Path, str]]:
    """(ABC file, tune index, MIDI file, tune text) of every Nottingham tune with a MIDI rendition."""
    found = []
    for abc in sorted((NOTTINGHAM / "ABC_cleaned").glob("*.abc")):
        text = abc.read_text(encoding="utf-8", errors="replace")
        starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
        for index, start in enumerate(starts):
            body = text[start:starts[index + 1] if index + 1 < len(starts) else len(text)]
            number = re.match(r"X:\s*(\d+)", body).group(1)
            midi = NOTTINGHAM / "MIDI" / f"{abc.stem}{number}.mid"
            if midi.exists():
                found.append((abc, index, midi, body))
    return found


def melody_take(midi: Path) -> Performance:
    """The melody track (the first, channel 0) of a Nottingham MIDI file."""
    performance = load_midi_performance(midi)
    return replace(performance, notes=tuple(n for n in performance.notes if n.channel == 0))


def through_musicxml(score, folder: Path):
    """The score written as MusicXML (as ``tutor convert`` does) and read back."""
    path = folder / "tune.musicxml"
    save_score(score, path)
    return load_score(path)


def has_ties(body: str) -> bool:
    music = "\n".join(line for line in body.splitlines() if not re.match(r"^[A-Za-z]:", line))
    music = re.sub(r'"[^"]*"', "", music)  # chord symbols
    return "-" in music


def select(limit: int | None) -> tuple[dict[str, list], dict]:
    """The tunes of part 1 by split, and the counts of those left out (and why)."""
    chosen: dict[str, list] = {"dev": [], "held-out": []}
    left_out = {"no form": 0, "ties": 0, "other order in the MIDI": 0, "unreadable": 0}
    position = 0
    by_book: dict[str, list] = {}
    for item in tunes():
        by_book.setdefault(item[0].stem, []).append(item)
    # round robin over the books, so that a few tunes come from each
    ordered = [book[k] for k in range(max(map(len, by_book.values()))) for book in by_book.values() if k < len(book)]
    for abc, index, midi, body in ordered:
        if limit is not None and all(len(items) >= limit for items in chosen.values()):
            break
        if not re.search(r"\|:|:\||\[1|\[2|^[PY]:\s*[A-Za-z]{2,}", body, flags=re.MULTILINE):
            left_out["no form"] += 1
            continue
        if has_ties(body):
            left_out["ties"] += 1
            continue
        try:
            score = load_score(abc, index=index)
        except Exception:  # noqa: BLE001 - a tune music21 cannot read
            left_out["unreadable"] += 1
            continue
        take = melody_take(midi)
        if score.form is None or len(unfold(score).score.notes) != len(take.notes):
            left_out["other order in the MIDI"] += 1
            continue
        split = "dev" if position % 2 == 0 else "held-out"
        position += 1
        if limit is None or len(chosen[split]) < limit:
            chosen[split].append((abc, index, midi, score, take))
    return chosen, left_out


def skip_repeat(score, take: Performance):
    """The take with the repeats left out: the tune played straight through (each passage once, the last
    ending taken, as ``repeats=False`` orders it), its notes cut from the faultless take and the rest moved
    earlier; and the number of repeats left out. None when nothing would be left out."""
    with_repeats, straight = unfold(score).visits, unfold(score, repeats=False).visits
    notes = unfold(score).score.notes
    keep_visits, pointer = set(), 0
    for visit in straight:  # the visits the straight take plays: the next one of the same measure
        while pointer < len(with_repeats) and with_repeats[pointer].index != visit.index:
            pointer += 1
        keep_visits.add(pointer)
        pointer += 1
    starts = [v.played_start_ql for v in with_repeats]
    kept, shift, gaps, gap_start = [], 0.0, 0, None
    for i, note in enumerate(take.notes):
        k = max(0, bisect.bisect_right(starts, notes[i].onset_ql + 1e-9) - 1)
        if k in keep_visits:
            if gap_start is not None:
                shift += note.onset_s - gap_start
                gap_start = None
            kept.append(replace(note, onset_s=note.onset_s - shift, offset_s=note.offset_s - shift))
        elif gap_start is None:
            gap_start = note.onset_s
            gaps += 1
    if gaps == 0:
        return None
    return replace(take, notes=sort_played(kept)), gaps


def restart_in_repeat(score, take: Performance):
    """The take with, in the middle of a second time through, a pause of 1.5 s and the two measures before
    played again; None when there is no second time through of 4 measures or more."""
    unfolding = unfold(score)
    visits = unfolding.visits
    notes = unfolding.score.notes
    for k in range(3, len(visits)):
        if not all(visits[j].pass_number > 1 and visits[j].index == visits[j - 1].index + 1 for j in range(k - 2, k + 1)):
            continue
        back_ql, at_ql = visits[k - 2].played_start_ql, visits[k].played_start_ql
        first = next((i for i, n in enumerate(notes) if n.onset_ql >= back_ql - 1e-9), None)
        cut = next((i for i, n in enumerate(notes) if n.onset_ql >= at_ql - 1e-9), None)
        if first is None or cut is None or cut - first < 4 or cut >= len(take.notes):
            continue
        t_cut = take.notes[cut].onset_s
        t_first = take.notes[first].onset_s
        replay_start = take.notes[cut - 1].offset_s + 1.5
        replay = [replace(n, onset_s=n.onset_s - t_first + replay_start, offset_s=n.offset_s - t_first + replay_start)
                  for n in take.notes[first:cut]]
        shift = replay_start + (t_cut - t_first) - t_cut
        after = [replace(n, onset_s=n.onset_s + shift, offset_s=n.offset_s + shift) for n in take.notes[cut:]]
        return replace(take, notes=sort_played(list(take.notes[:cut]) + replay + after)), visits[k].number
    return None


def run(chosen, folder: Path) -> dict:
    results = {}
    for split, items in chosen.items():
        counts = {"tunes": len(items), "books": len({abc.stem for abc, *_ in items}), "notes": 0,
                  "error_takes": 0, "restart_takes": 0, "baseline_error_takes": 0, "baseline_restart_takes": 0,
                  "baseline_events": 0, "skipped": [0, 0, 0], "unasked": [0, 0, 0], "inside": [0, 0, 0],
                  "other_errors_in_cases": 0, "unasked_other_errors": 0, "seconds": 0.0}
        failures = []
        for abc, index, _midi, score, take in items:
            name = f"{abc.stem}#{index}"
            started = time.perf_counter()
            written = through_musicxml(score, folder)
            result = assess(written, take)
            counts["seconds"] += time.perf_counter() - started
            counts["notes"] += result.notes_total
            errors = [e for e in result.events if e.type in ERRORS]
            restarts = [e for e in result.events if e.type == "restart"]
            counts["error_takes"] += bool(errors)
            counts["restart_takes"] += bool(restarts)
            if errors or restarts:
                failures.append((name, [f"{e.type} m{e.measure} p{e.pass_number}: {e.message}" for e in (errors + restarts)[:4]]))
            baseline = assess(replace(written, form=None), take)
            wrong = [e for e in baseline.events if e.type in ERRORS + ("restart",)]
            counts["baseline_error_takes"] += any(e.type in ERRORS for e in wrong)
            counts["baseline_restart_takes"] += any(e.type == "restart" for e in wrong)
            counts["baseline_events"] += len(wrong)
            # the repeat left out
            case = skip_repeat(written, take)
            if case is not None:
                skipped_take, gaps = case
                got = assess(written, skipped_take)
                found = [e for e in got.events if e.type == "skipped_repeat"]
                counts["skipped"][0] += gaps
                counts["skipped"][1] += min(len(found), gaps)
                counts["skipped"][2] += len(found)
                other = [e for e in got.events if e.type in ERRORS + ("restart",)]
                counts["other_errors_in_cases"] += len(other)
                if len(found) != gaps or other:
                    failures.append((name + " skipped", [e.message for e in found] + [f"{e.type} m{e.measure}" for e in other[:3]]))
            # the repeat played with repeats off
            visits = unfold(written).visits
            expected = sum(1 for k in range(1, len(visits)) if visits[k].index < visits[k - 1].index)
            got = assess(written, take, repeats=False)
            found = [e for e in got.events if e.type == "extra_repeat"]
            counts["unasked"][0] += expected
            counts["unasked"][1] += min(len(found), expected)
            counts["unasked"][2] += len(found)
            other = [e for e in got.events if e.type in ("restart",)]
            counts["unasked_other_errors"] += sum(1 for e in got.events if e.type in ERRORS)
            if len(found) != expected or other:
                failures.append((name + " unasked", [e.message for e in found + other][:4] + [f"expected {expected}"]))
            # a restart inside a repeat
            case = restart_in_repeat(written, take)
            if case is not None:
                restarted, measure = case
                got = assess(written, restarted)
                found = [e for e in got.events if e.type == "restart"]
                right = [e for e in found if e.pass_number > 1 and ("time" in e.message)]
                counts["inside"][0] += 1
                counts["inside"][1] += len(right) == 1
                counts["inside"][2] += len(found)
                other = [e for e in got.events if e.type in ERRORS]
                counts["other_errors_in_cases"] += len(other)
                if len(right) != 1 or len(found) != 1 or other:
                    failures.append((name + " restart", [e.message for e in found][:3] + [f"{e.type} m{e.measure}" for e in other[:3]]))
        results[split] = {**counts, "failures": failures}
    return results


def ratio(found: list[int]) -> str:
    cases, right, reported = found
    precision = right / reported if reported else 1.0
    recall = right / cases if cases else 1.0
    return f"{right}/{cases} found, precision {precision:.3f}, recall {recall:.3f}"


def repeat_match_files() -> list[Path]:
    """The (n)ASAP performances (and Vienna 4x22, whose excerpts hold none) whose MusicXML scores hold repeat
    signs, a segno or a da capo; their ``.match`` scores are the pieces as played (repeats written out)."""
    import csv

    files = []
    with (DATA / "nasap-dev" / "metadata.csv").open() as handle:
        for row in csv.DictReader(handle):
            text = (DATA / "nasap-dev" / row["xml_score"]).read_text(encoding="utf-8", errors="replace")
            if "<repeat " in text or "<segno" in text or "dacapo" in text:
                files.append(DATA / "nasap-dev" / row["match_file"])
    for xml in sorted((DATA / "vienna4x22" / "musicxml").glob("*.musicxml")):
        if "<repeat " in xml.read_text(encoding="utf-8", errors="replace"):
            files += sorted((DATA / "vienna4x22" / "match").glob(f"{xml.stem}_p*.match"))[:2]
    return files


def alignment_on_repeats() -> dict:
    """Part 3: note alignment F on the performances of pieces with repeats, ours and parangonar's
    DualDTWNoteMatcher in the same run (``tests.bench.bench_assessment.bench_alignment``), per piece, with the
    worst piece and the largest shortfall against the peer."""
    from tests.bench.bench_assessment import bench_alignment

    result = bench_alignment(repeat_match_files())
    rows = result["rows"]
    worst = min(rows, key=lambda r: r["f_ours"])
    short = max(rows, key=lambda r: r["f_peer"] - r["f_ours"])
    print(f"worst piece: {worst['piece']} F {worst['f_ours']:.4f} (peer {worst['f_peer']:.4f}); largest shortfall "
          f"against the peer: {short['f_peer'] - short['f_ours']:+.4f} ({short['piece']})")
    return {**result, "worst": worst, "largest_shortfall": short}


def injected_on_repeats(seed: int = 5) -> dict:
    """Part 4: the assessment benchmark's injected student errors (``bench_assessment.bench_errors``) in one
    performance of each (n)ASAP piece with repeats, to compare with its run over the other pieces."""
    from tests.bench.bench_assessment import bench_errors

    chosen, seen = [], set()
    for path in repeat_match_files():
        if path.parent not in seen:
            seen.add(path.parent)
            chosen.append(path)
    return bench_errors(chosen, seed=seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=30, help="tunes per split (default 30)")
    parser.add_argument("--skip-alignment", action="store_true", help="leave out part 3 ((n)ASAP pieces with repeats)")
    parser.add_argument("--inject", action="store_true", help="part 4: injected errors in the (n)ASAP pieces with repeats")
    parser.add_argument("--only-alignment", action="store_true", help="part 3 alone (and part 4 with --inject)")
    args = parser.parse_args(argv if argv is not None else [])
    if args.only_alignment:
        results = {"alignment": alignment_on_repeats()}
        if args.inject:
            results["injected"] = injected_on_repeats()
        save("form_alignment", results)
        return
    if not NOTTINGHAM.exists():
        print(f"no data at {NOTTINGHAM}")
        return
    started = time.perf_counter()
    chosen, left_out = select(args.limit)
    print(f"tunes chosen in {time.perf_counter() - started:.0f} s; left out: {left_out}")
    with tempfile.TemporaryDirectory() as folder:
        results = run(chosen, Path(folder))
    for split, r in results.items():
        print(f"\n[{split}] {r['tunes']} tunes from {r['books']} books, {r['notes']} notes (assessed {r['seconds']:.1f} s)")
        print(f"  faultless takes with an error: {r['error_takes']}, with a restart: {r['restart_takes']}")
        print(f"  baseline (repeats ignored): with an error {r['baseline_error_takes']}, with a restart "
              f"{r['baseline_restart_takes']}, {r['baseline_events']} false events")
        print(f"  skipped repeat: {ratio(r['skipped'])}")
        print(f"  repeat played, none asked: {ratio(r['unasked'])}; other errors there (a first ending's notes are "
              f"extra): {r['unasked_other_errors']}")
        print(f"  restart inside a repeat: {ratio(r['inside'])}")
        print(f"  other errors reported with a skipped repeat or a restart: {r['other_errors_in_cases']}")
        for name, lines in r["failures"][:12]:
            print(f"    {name}: {'; '.join(lines)}")
    if not args.skip_alignment:
        print("\n[alignment] (n)ASAP performances of pieces whose scores hold repeats (repeats written out in the .match)")
        results["alignment"] = alignment_on_repeats()
    if args.inject:
        print("\n[injected errors] one performance of each (n)ASAP piece with repeats, seed 5")
        results["injected"] = injected_on_repeats()
    save("form", {"left_out": left_out, **results})


if __name__ == "__main__":
    main(sys.argv[1:])
