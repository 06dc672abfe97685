"""``tutor lessons list|show|start|check``: the lesson plans, and taking an exercise."""

from __future__ import annotations

import sys

from tutor.cli.commands._common import print_json


def add_parser(subparsers):
    parser = subparsers.add_parser("lessons", help="list lesson plans, show an exercise, hand in a take for it")
    actions = parser.add_subparsers(dest="lessons_action", metavar="ACTION")
    listing = actions.add_parser("list", help="courses, units and exercises (with your progress)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = actions.add_parser("show", help="one exercise (or a whole course or unit)")
    show.add_argument("id", help="exercise id such as in-tune/scale-c (or a course/unit id)")
    show.add_argument("--json", action="store_true", help="print JSON")
    start = actions.add_parser("start", help="assess a take (or a composition) for an exercise and record it")
    start.add_argument("id", help="exercise id such as in-tune/scale-c")
    start.add_argument("--performance", required=True, metavar="FILE",
                       help="the take: MIDI or audio; for composition exercises the score you wrote (MIDI/MusicXML)")
    start.add_argument("--tempo", type=float, default=None, metavar="BPM",
                       help="the tempo you played at (default: the exercise's start tempo)")
    start.add_argument("--json", action="store_true", help="print JSON")
    check = actions.add_parser("check", help="validate lesson plan files (all plans when none is given)")
    check.add_argument("files", nargs="*", help="plan files (.toml)")
    check.add_argument("--scores", action="store_true",
                       help="also load every exercise's score, part and measures (slower)")
    parser.set_defaults(_lessons_parser=parser)
    return parser


def run(args) -> int:
    action = getattr(args, "lessons_action", None)
    if action == "list":
        return _list(args)
    if action == "show":
        return _show(args)
    if action == "start":
        return _start(args)
    if action == "check":
        return _check(args)
    args._lessons_parser.print_help()
    return 0


def _catalog():
    from tutor.lessons.plans import load_catalog

    catalog = load_catalog()
    for problem in catalog.problems:
        print(f"tutor: warning: lesson plan not loaded: {problem}", file=sys.stderr)
    return catalog


def _passed_or_none() -> set[str] | None:
    """The student's passed exercises, or None (with a warning) when the database cannot be read."""
    from tutor.lessons.progress import ProgressDB, ProgressError, default_db_path

    if not default_db_path().exists():
        return set()
    try:
        with ProgressDB(create=False) as db:
            return db.passed_exercises()
    except ProgressError as error:
        print(f"tutor: warning: progress not shown: {error}", file=sys.stderr)
        return None


# ---------------------------------------------------------------------------------------------
def _list(args) -> int:
    catalog = _catalog()
    if args.json:
        print_json({"courses": [
            {"id": c.id, "title": c.title, "exercises": [
                {"id": e.id, "title": e.title, "score": e.score, "tempo": e.tempo_start_bpm, "input": e.input}
                for e in c.exercises
            ]} for c in catalog.courses
        ]})
        return 0
    from tutor.lessons.plans import unlocked_exercises, unlocked_units

    passed = _passed_or_none()
    open_units = unlocked_units(catalog, passed) if passed is not None else None
    open_exercises = unlocked_exercises(catalog, passed) if passed is not None else None
    for course in catalog.courses:
        done = sum(e.id in (passed or set()) for e in course.exercises)
        print(f"{course.title}  [{course.id}]  {done}/{len(course.exercises)} passed")
        for unit in course.units:
            lock = "" if open_units is None or unit.id in open_units else "  (locked)"
            print(f"  {unit.title}{lock}")
            for exercise in unit.exercises:
                print(f"    {_mark(exercise.id, passed, open_exercises)} {exercise.id:<34} {exercise.title}"
                      f"  ({exercise.input}, {exercise.tempo_start_bpm:g} bpm)")
    print(f"{len(catalog.courses)} courses, {len(catalog.exercises)} exercises"
          + (f"; {len(catalog.problems)} problems in plans that did not load" if catalog.problems else ""))
    return 0


def _mark(exercise_id: str, passed: set[str] | None, open_exercises: set[str] | None) -> str:
    if passed is None or open_exercises is None:
        return " "
    if exercise_id in passed:
        return "✓"
    return "o" if exercise_id in open_exercises else "·"


# ---------------------------------------------------------------------------------------------
def _show(args) -> int:
    from tutor.lessons.plans import Course, Exercise, Unit, unlocked_exercises

    catalog = _catalog()
    item = catalog.find(args.id)
    passed = _passed_or_none()
    open_exercises = unlocked_exercises(catalog, passed) if passed is not None else None
    if isinstance(item, Exercise):
        data = exercise_json(item, catalog)
        if passed is not None:
            data["passed"] = item.id in passed
            data["unlocked"] = item.id in open_exercises
        if args.json:
            print_json(data)
            return 0
        _print_exercise(data)
        return 0
    units = item.units if isinstance(item, Course) else (item,)
    if args.json:
        print_json({"id": item.id, "title": item.title, "description": item.description, "units": [
            {"id": u.id, "title": u.title, "prerequisites": list(u.prerequisites),
             "exercises": [exercise_json(e, catalog) for e in u.exercises]} for u in units]})
        return 0
    print(f"{item.title}  [{item.id}]")
    if item.description:
        print(f"  {item.description}")
    for unit in units:
        if isinstance(item, Course):
            print(f"  {unit.title}  [{unit.id}]")
        for exercise in unit.exercises:
            print(f"    {_mark(exercise.id, passed, open_exercises)} {exercise.id:<34} {exercise.title}")
    assert isinstance(item, Course | Unit)
    return 0


def exercise_json(exercise, catalog) -> dict:
    criteria = exercise.passing
    if exercise.kind == "compose":
        passing = {"max_errors": criteria.max_errors, "measures": criteria.measures, "key": criteria.key}
    else:
        passing = {k: getattr(criteria, k) for k in ("overall", "pitch", "rhythm", "intonation", "max_missed",
                                                      "max_wrong") if getattr(criteria, k) is not None}
    return {
        "id": exercise.id, "title": exercise.title, "course": exercise.course_id, "unit": exercise.unit_id,
        "unit_title": catalog.unit_of(exercise).title, "kind": exercise.kind, "description": exercise.description,
        "score": exercise.score, "index": exercise.index, "input": exercise.input, "part": exercise.part,
        "measures": list(exercise.measures) if exercise.measures else None,
        "tempo": exercise.tempo_start_bpm, "tempo_goal": exercise.tempo_goal_bpm, "level": exercise.level,
        "pass": passing, "hints": list(exercise.hints), "prerequisites": list(exercise.prerequisites),
        "plan": str(exercise.plan_path) if exercise.plan_path else None,
    }


def _print_exercise(data: dict) -> None:
    print(f"{data['title']}  [{data['id']}]")
    print(f"  Unit:     {data['unit_title']}")
    if data["description"]:
        print(f"  About:    {data['description']}")
    what = data["score"] + (f" (tune {data['index']})" if data["index"] is not None else "")
    if data["part"]:
        what += f", part {data['part']}"
    if data["measures"]:
        what += f", measures {data['measures'][0]}-{data['measures'][1]}"
    print(f"  Score:    {what}")
    kind = "composition: hand in a score you wrote" if data["kind"] == "compose" else f"play/sing ({data['input']})"
    print(f"  Task:     {kind}, level {data['level']}")
    tempo = f"{data['tempo']:g} bpm" + (f", goal {data['tempo_goal']:g} bpm" if data["tempo_goal"] != data["tempo"] else "")
    print(f"  Tempo:    {tempo}")
    print(f"  To pass:  {_criteria_text(data)}")
    if data["prerequisites"]:
        print(f"  After:    {', '.join(data['prerequisites'])}")
    if "passed" in data:
        state = "passed" if data["passed"] else ("open" if data["unlocked"] else "locked")
        print(f"  Status:   {state}")
    for hint in data["hints"]:
        print(f"  Hint:     {hint}")


def _criteria_text(data: dict) -> str:
    rule = data["pass"]
    if data["kind"] == "compose":
        parts = [f"no more than {rule['max_errors']} error findings" if rule["max_errors"] else "no error findings"]
        if rule["measures"]:
            parts.append(f"{rule['measures']} measures")
        if rule["key"]:
            parts.append(f"in {rule['key']}")
        return ", ".join(parts)
    parts = [f"{name} >= {rule[name]:g}" for name in ("overall", "pitch", "rhythm", "intonation") if name in rule]
    if "max_missed" in rule:
        parts.append("no missed notes" if rule["max_missed"] == 0 else f"at most {rule['max_missed']} missed notes")
    if "max_wrong" in rule:
        parts.append("no wrong notes" if rule["max_wrong"] == 0 else f"at most {rule['max_wrong']} wrong notes")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
def _start(args) -> int:
    from pathlib import Path

    from tutor.api.analyses import lesson_attempt
    from tutor.api.requests import LessonAttemptRequest

    catalog = _catalog()
    exercise = catalog.exercise(args.id)
    data = lesson_attempt(LessonAttemptRequest(args.id, Path(args.performance), tempo_bpm=args.tempo), catalog=catalog)
    if args.json:
        print_json(data)
        return 0
    _print_result(exercise, catalog, data)
    return 0


def _print_result(exercise, catalog, data: dict) -> None:
    print(f"{exercise.title}  [{exercise.id}]")
    if not data["was_unlocked"]:
        print("  (this exercise was not unlocked yet; the attempt still counts)")
    summary = data["summary"]
    if exercise.kind == "compose":
        print(f"  Key: {summary.get('key') or '?'}, {summary.get('measures')} measures, "
              f"{summary.get('errors', 0)} errors, {summary.get('warnings', 0)} warnings")
        for finding in data["details"].get("findings", [])[:8]:
            print(f"    {finding.get('severity', '?'):<7} m.{finding.get('measure', '?')}: {finding.get('message', '')}")
    else:
        intonation = summary.get("intonation")
        print(f"  Overall {summary['overall']:.0f}  pitch {summary['pitch']:.0f}  rhythm {summary['rhythm']:.0f}"
              + (f"  intonation {intonation:.0f}" if intonation is not None else "")
              + f"  ({summary['notes_correct']}/{summary['notes_total']} notes right, at {data['tempo']:g} bpm)")
        counts = {k: v for k, v in data["events"].items() if k != "correct" and v}
        if counts:
            print("  Events: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items())))
        practice = data["details"].get("practice_measures")
        if practice:
            print(f"  Practise measures: {', '.join(str(m) for m in practice)}")
    if data["passed"]:
        print("  PASSED" + (" at the goal tempo" if data["tempo_goal_reached"] else
                          f" (next: reach the goal tempo of {data['tempo_goal']:g} bpm)" if data["tempo"] else ""))
    else:
        print("  Not passed yet: " + "; ".join(data["reasons"]))
        for hint in exercise.hints[:2]:
            print(f"  Hint: {hint}")
    for unit_id in data["completed_units"]:
        print(f"  Unit complete: {catalog.find(unit_id).title}")
    for unit_id in data["unlocked"]["units"]:
        print(f"  Unlocked unit: {catalog.find(unit_id).title}  [{unit_id}]")
    for exercise_id in data["unlocked"]["exercises"]:
        print(f"  Unlocked: {exercise_id}  {catalog.find(exercise_id).title}")


# ---------------------------------------------------------------------------------------------
def _check(args) -> int:
    from pathlib import Path

    from tutor.lessons.plans import check_exercise_music, load_catalog, load_plan

    courses = []
    if args.files:
        problems = []
        for name in args.files:
            course, found = load_plan(Path(name))
            problems.extend(found)
            if course is not None:
                courses.append(course)
                print(f"{name}: ok ({len(course.units)} units, {len(course.exercises)} exercises)")
    else:
        catalog = load_catalog()
        problems = list(catalog.problems)
        courses = list(catalog.courses)
        print(f"{len(courses)} plans load ({len(catalog.exercises)} exercises)")
    if args.scores:
        for course in courses:
            for exercise in course.exercises:
                problems.extend(check_exercise_music(exercise))
        if not problems:
            print(f"every exercise's music loads ({sum(len(c.exercises) for c in courses)} exercises)")
    for problem in problems:
        print(problem)
    return 2 if problems else 0
