"""``tutor progress [--json]``: passes, unlocks, best scores, streaks and practice time; export/import."""

from __future__ import annotations

import sys

from tutor.cli.commands._common import print_json

RECENT_ATTEMPTS = 10


def add_parser(subparsers):
    parser = subparsers.add_parser("progress", help="your progress through the lessons (export/import for a teacher)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--export", metavar="FILE", help="write your whole history to one JSON file for a teacher")
    group.add_argument("--import", dest="import_file", metavar="FILE",
                       help="merge an export into this computer's progress (attempts already here are skipped)")
    group.add_argument("--read", metavar="FILE", help="show a student's export without merging it (for teachers)")
    parser.add_argument("--student", metavar="NAME", help="set the student name written into exports")
    return parser


def run(args) -> int:
    import tempfile
    from pathlib import Path

    from tutor.lessons.progress import ProgressDB, read_export

    if args.read:
        export = read_export(args.read)  # checked before anything is created
        with tempfile.TemporaryDirectory() as folder, ProgressDB(Path(folder) / "export.sqlite") as db:
            db.import_from(args.read)
            db.set_student(export["student"] or "student")
            report = progress_report(db, source=str(Path(args.read).resolve()))
    else:
        with ProgressDB() as db:
            if args.student:
                db.set_student(args.student)
            if args.export:
                path = db.export_to(args.export)
                print(f"wrote {path} ({len(db.attempts())} attempts of {db.student})", file=sys.stderr)
                return 0
            if args.import_file:
                added = db.import_from(args.import_file)
                print(f"imported {added} new attempts from {args.import_file}", file=sys.stderr)
            report = progress_report(db, source=str(db.path))
    if args.json:
        print_json(report)
        return 0
    _print_report(report)
    return 0


def progress_report(db, *, source: str) -> dict:
    import datetime as dt

    from tutor.lessons.plans import completed_units, load_catalog, unlocked_exercises, unlocked_units

    catalog = load_catalog()
    for problem in catalog.problems:
        print(f"tutor: warning: lesson plan not loaded: {problem}", file=sys.stderr)
    passed = db.passed_exercises()
    states = db.states()
    open_units = unlocked_units(catalog, passed)
    done_units = completed_units(catalog, passed)
    open_exercises = unlocked_exercises(catalog, passed)
    streak = db.streak()
    by_day = db.practice_by_day()
    courses = []
    next_exercise = None
    for course in catalog.courses:
        exercises = []
        for exercise in course.exercises:
            state = states.get(exercise.id)
            exercises.append({
                "id": exercise.id, "title": exercise.title, "unit": exercise.unit_id,
                "attempts": state.attempts if state else 0,
                "best_overall": state.best_overall if state else None,
                "passed": exercise.id in passed, "unlocked": exercise.id in open_exercises,
                "passed_at": state.first_passed_at if state else None,
                "best_tempo": state.best_tempo_bpm if state else None, "tempo_goal": exercise.tempo_goal_bpm,
                "tempo_goal_reached": bool(state and state.best_tempo_bpm and
                                           state.best_tempo_bpm >= exercise.tempo_goal_bpm),
            })
            if next_exercise is None and exercise.id in open_exercises and exercise.id not in passed:
                next_exercise = exercise.id
        courses.append({
            "id": course.id, "title": course.title,
            "exercises_passed": sum(e["passed"] for e in exercises), "exercises_total": len(exercises),
            "units": [{"id": u.id, "title": u.title, "unlocked": u.id in open_units, "completed": u.id in done_units}
                      for u in course.units],
            "exercises": exercises,
        })
    known = {e.id for e in catalog.exercises}
    attempts = db.attempts()
    week = [(dt.date.today() - dt.timedelta(days=d)).isoformat() for d in range(6, -1, -1)]
    return {
        "student": db.student, "source": source,
        "streak": {"current_days": streak.current_days, "longest_days": streak.longest_days,
                   "last_day": streak.last_day},
        "practice_s_by_day": by_day, "practice_s_last_7_days": {d: by_day.get(d, 0.0) for d in week},
        "total_practice_s": sum(by_day.values()), "attempts_total": len(attempts),
        "exercises_passed": len(passed & known), "exercises_total": len(known),
        "next": next_exercise, "courses": courses,
        "other_exercises": sorted(set(states) - known),  # from plans not on this computer
        "recent_attempts": [a.to_json() for a in attempts[-RECENT_ATTEMPTS:]],
    }


def _print_report(report: dict) -> None:
    """The report as text; every name in it (the student's, exercise ids, titles, the file's) printed with
    its control characters escaped (``\\x1b``), so that an export or lesson plan cannot drive the terminal."""
    from tutor.lessons.progress import escape_text as safe

    streak = report["streak"]
    print(f"Student:   {safe(report['student'])}  ({safe(report['source'])})")
    print(f"Passed:    {report['exercises_passed']}/{report['exercises_total']} exercises, "
          f"{report['attempts_total']} attempts, {_duration(report['total_practice_s'])} of practice")
    print(f"Streak:    {_days(streak['current_days'])} (longest {_days(streak['longest_days'])})")
    week = report["practice_s_last_7_days"]
    print("This week: " + "  ".join(f"{day[5:]} {_duration(seconds)}" for day, seconds in week.items()))
    if report["next"]:
        print(f"Next:      {safe(report['next'])}  (tutor lessons show {safe(report['next'])})")
    for course in report["courses"]:
        print(f"{safe(course['title'])}: {course['exercises_passed']}/{course['exercises_total']}")
        for unit in course["units"]:
            state = "complete" if unit["completed"] else ("open" if unit["unlocked"] else "locked")
            print(f"  {safe(unit['title']):<40} {state}")
    recent = report["recent_attempts"]
    if recent:
        print("Recent attempts:")
        for attempt in recent:
            score = "" if attempt["overall"] is None else f" {attempt['overall']:.0f}"
            print(f"  {safe(attempt['started_at'][:16].replace('T', ' '))}  {safe(attempt['exercise_id']):<34}"
                  f"{score:>4}  {'passed' if attempt['passed'] else 'not passed'}")
    if report["other_exercises"]:
        print(f"Also attempted (plans not installed here): {', '.join(map(safe, report['other_exercises']))}")


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _duration(seconds: float) -> str:
    if not 0 <= seconds < 1e12:  # the database's reading side keeps this from happening; never fail a report on it
        return "?"
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes}m"
