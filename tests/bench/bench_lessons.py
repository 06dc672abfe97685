"""Lesson plans and progress: load time of every plan (vs parsing the same TOML without validation),
the curriculum's size, loading every exercise's score, assessing a perfect take of each, and the
progress database's write/read/export times.

Run: ``python -m tests.bench lessons`` (results in bench-results/lessons.json).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tomllib
from pathlib import Path

from tests.bench._results import save


def _median_s(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    import importlib.util

    from tutor.lessons.plans import BUNDLED_LESSONS_DIR, assess_take, exercise_score, load_catalog, plan_files
    from tutor.lessons.progress import ProgressDB
    from tutor.score.music import Performance, PlayedNote, sort_played

    results: dict = {}
    folders = [BUNDLED_LESSONS_DIR]
    files = plan_files(folders)
    started = time.perf_counter()
    catalog = load_catalog(folders)
    results["first_load_s"] = time.perf_counter() - started
    results["load_all_plans_s"] = _median_s(lambda: load_catalog(folders), 20)
    results["peer_tomllib_parse_only_s"] = _median_s(
        lambda: [tomllib.loads(p.read_text(encoding="utf-8")) for p in files], 20)
    results["load_vs_parse_ratio"] = results["load_all_plans_s"] / results["peer_tomllib_parse_only_s"]
    results["plans"] = len(files)
    results["problems"] = len(catalog.problems)
    results["courses"] = len(catalog.courses)
    results["units"] = len(catalog.units)
    results["exercises"] = len(catalog.exercises)
    results["exercises_per_course"] = {c.id: len(c.exercises) for c in catalog.courses}
    print(f"{len(files)} plans: {results['courses']} courses, {results['units']} units, {results['exercises']} exercises; "
          f"load {results['load_all_plans_s'] * 1000:.1f} ms (TOML parse alone {results['peer_tomllib_parse_only_s'] * 1000:.1f} ms, "
          f"ratio {results['load_vs_parse_ratio']:.1f})")

    started = time.perf_counter()
    scores = {e.id: exercise_score(e) for e in catalog.exercises}
    results["load_every_exercise_score_s"] = time.perf_counter() - started
    results["score_notes_total"] = sum(len(s.notes) for s in scores.values())
    print(f"every exercise's score loaded in {results['load_every_exercise_score_s']:.1f} s "
          f"({results['score_notes_total']} notes)")

    if importlib.util.find_spec("tutor.practice.assessment") is not None:
        passed = 0
        performing = [e for e in catalog.exercises if e.kind == "perform"]
        started = time.perf_counter()
        for exercise in performing:
            score = scores[exercise.id]
            first = score.notes[0].onset_s
            take = Performance(sort_played(
                PlayedNote(pitch=n.pitch, onset_s=n.onset_s - first + 0.5, offset_s=n.offset_s - first + 0.47)
                for n in score.notes))
            passed += assess_take(exercise, take).passed
        results["assess_perfect_takes_s"] = time.perf_counter() - started
        results["perfect_takes_passed"] = f"{passed}/{len(performing)}"
        print(f"perfect takes: {passed}/{len(performing)} pass, assessed in {results['assess_perfect_takes_s']:.1f} s")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "progress.sqlite"
        count = 500
        with ProgressDB(path) as db:
            started = time.perf_counter()
            for number in range(count):
                db.record_attempt(exercise_id=catalog.exercises[number % len(catalog.exercises)].id,
                                  passed=number % 3 == 0, summary={"overall": 50 + number % 50, "pitch": 90.0},
                                  events={"missed": number % 4, "correct": 20}, duration_s=45.0)
            results["record_attempt_ms"] = (time.perf_counter() - started) / count * 1000
            started = time.perf_counter()
            db.states(), db.passed_exercises(), db.streak(), db.practice_by_day()
            results["read_state_ms"] = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            db.export_to(Path(folder) / "export.json")
            results["export_500_attempts_ms"] = (time.perf_counter() - started) * 1000
        with ProgressDB(Path(folder) / "other.sqlite") as other:
            started = time.perf_counter()
            other.import_from(Path(folder) / "export.json")
            results["import_500_attempts_ms"] = (time.perf_counter() - started) * 1000
    print(f"progress: {results['record_attempt_ms']:.2f} ms per recorded attempt (one transaction each), "
          f"state read {results['read_state_ms']:.1f} ms, export {results['export_500_attempts_ms']:.0f} ms and "
          f"import {results['import_500_attempts_ms']:.0f} ms for {count} attempts")
    save("lessons", results)


if __name__ == "__main__":
    main()
