"""Lesson plans: TOML files of courses, units and exercises, validated with file/line/field errors.

The file format (practice and composition exercises, pass criteria, inline ABC tunes) is described in
``docs/lesson-plans.md``. ``load_catalog()`` reads every plan in the bundled ``lessons/`` folder and the
user lessons folder (``$TUTOR_LESSONS_DIR``, else ``<user data dir>/lessons``): a plan with problems is not
loaded and its ``PlanProblem``s name file, line and field; every other plan still loads.
``unlocked_units`` / ``unlocked_exercises`` apply the prerequisites; ``take_exercise`` and
``judge_composition_file`` judge an attempt against the exercise's ``pass`` criteria.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor.errors import TutorError
from tutor.resources import REPO_ROOT, bundled_dir, in_repository

BUNDLED_LESSONS_DIR = bundled_dir("lessons")
CORPUS_PREFIX = "corpus:"
INLINE_ABC_PREFIX = "abc:"
INPUTS = ("voice", "instrument", "midi", "score", "piano")  # "score": a composition handed in as a file;
# "piano": an acoustic piano through the microphone (every note heard: tutor.listen.piano)
LEVELS = ("beginner", "advanced")
KINDS = ("perform", "compose")
WRITING_STYLES = ("chorale", "counterpoint", "keyboard", "song", "dance_tune")  # tutor.compose.rules.STYLES
DEFAULT_PASS_OVERALL = 85.0
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_KEY_RE = re.compile(r"^[A-Ga-g][#b]? (major|minor)$")


class LessonPlanError(TutorError):
    """A lesson plan, course, unit or exercise that cannot be found or used."""


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanProblem:
    """One problem in a plan file: where it is and what is wrong."""

    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class PassCriteria:
    """What a take (or a composition) must reach to pass."""

    overall: float | None = DEFAULT_PASS_OVERALL  # 0-100
    pitch: float | None = None
    rhythm: float | None = None
    intonation: float | None = None  # audio only; ignored when the take has no intonation score
    max_missed: int | None = 0
    max_wrong: int | None = None  # wrong_pitch events
    max_errors: int = 0  # composition: critique findings of severity "error"
    max_warnings: int | None = None  # composition: findings of severity "warning"
    forbid: tuple[str, ...] = ()  # composition: rule ids that must not be found
    keep_given: bool = False  # composition: the given score's notes must be kept (a harmonisation)
    voices: int | None = None  # composition: melodic lines required (4 for a four-part harmonisation)
    measures: int | None = None  # composition: required length in measures
    key: str | None = None  # composition: required key, "G major" / "d minor"


@dataclass(frozen=True)
class Exercise:
    id: str  # "course/exercise"
    short_id: str
    title: str
    course_id: str
    unit_id: str  # "course/unit"
    kind: str  # "perform" | "compose"
    score: str  # as shown in listings: repository-relative path, absolute path, or corpus:<path>
    score_source: str  # what tutor.score.io.load_score reads (absolute path or corpus:<path>), or "abc:"
    index: int | None
    input: str
    part: str | None
    measures: tuple[int, int] | None
    tempo_start_bpm: float
    tempo_goal_bpm: float
    level: str
    passing: PassCriteria
    hints: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()  # full exercise ids
    description: str = ""
    solution: str | None = None  # composition: a model answer (absolute path or corpus:<path>)
    style: str | None = None  # composition: writing style for the rules (None: guessed)
    line: int | None = None  # where the exercise starts in its plan
    plan_field: str = ""  # its place in the plan, such as "units[0].exercises[2]"
    field_lines: tuple[tuple[str, int], ...] = ()  # lines of its score/abc/part/measures fields
    abc: str | None = None  # inline ABC tune text
    plan_path: Path | None = None
    repeats: bool = True  # play the score's repeats, endings, D.C./D.S. (False: each passage once; issue 21)


@dataclass(frozen=True)
class Unit:
    id: str  # "course/unit"
    short_id: str
    title: str
    course_id: str
    exercises: tuple[Exercise, ...]
    prerequisites: tuple[str, ...] = ()  # full unit ids
    description: str = ""


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    units: tuple[Unit, ...]
    description: str = ""
    path: Path | None = None
    bundled: bool = True

    @property
    def exercises(self) -> tuple[Exercise, ...]:
        return tuple(e for u in self.units for e in u.exercises)


@dataclass(frozen=True)
class Catalog:
    """Every course that loaded, and the problems of the plans that did not."""

    courses: tuple[Course, ...]
    problems: tuple[PlanProblem, ...] = ()
    _by_id: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Any] = {}
        for course in self.courses:
            index[course.id] = course
            for unit in course.units:
                index[unit.id] = unit
                for exercise in unit.exercises:
                    index[exercise.id] = exercise
        object.__setattr__(self, "_by_id", index)

    @property
    def exercises(self) -> tuple[Exercise, ...]:
        return tuple(e for c in self.courses for e in c.exercises)

    @property
    def units(self) -> tuple[Unit, ...]:
        return tuple(u for c in self.courses for u in c.units)

    def find(self, ref: str) -> Course | Unit | Exercise:
        """A course, unit or exercise by full id, or an exercise by its short id when unique."""
        if ref in self._by_id:
            return self._by_id[ref]
        matches = [e for e in self.exercises if e.short_id == ref]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise LessonPlanError(f"{ref!r} names several exercises: {', '.join(e.id for e in matches)}")
        raise LessonPlanError(f"no course, unit or exercise {ref!r} (see `tutor lessons list`)")

    def exercise(self, ref: str) -> Exercise:
        found = self.find(ref)
        if not isinstance(found, Exercise):
            raise LessonPlanError(f"{ref!r} is a {type(found).__name__.lower()}, not an exercise")
        return found

    def unit_of(self, exercise: Exercise) -> Unit:
        return self._by_id[exercise.unit_id]

    def course_of(self, item: Exercise | Unit) -> Course:
        return self._by_id[item.course_id]


# ---------------------------------------------------------------------------------------------
# where plans live
# ---------------------------------------------------------------------------------------------
def user_lessons_dir() -> Path:
    """Teachers' plans: ``$TUTOR_LESSONS_DIR``, else ``<user data dir>/lessons``."""
    override = os.environ.get("TUTOR_LESSONS_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tutor", appauthor=False)) / "lessons"


def plan_files(folders: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            files.extend(sorted(p for p in folder.glob("*.toml") if p.is_file()))
    return files


def load_catalog(folders: Iterable[str | Path] | None = None) -> Catalog:
    """Every plan in ``folders`` (default: the bundled lessons, then the user lessons folder)."""
    if folders is None:
        folders = [BUNDLED_LESSONS_DIR, user_lessons_dir()]
    folders = [Path(f) for f in folders]
    courses: list[Course] = []
    problems: list[PlanProblem] = []
    seen: dict[str, Path] = {}
    for path in plan_files(folders):
        bundled = _inside(path, BUNDLED_LESSONS_DIR)
        course, found = load_plan(path, bundled=bundled)
        if course is not None and course.id in seen:
            found = [*found, PlanProblem(path, 1, "id", f"course id {course.id!r} is already used by {seen[course.id]}")]
            course = None
        problems.extend(found)
        if course is not None:
            seen[course.id] = path
            courses.append(course)
    known_exercises = {e.id for c in courses for e in c.exercises}
    known_units = {u.id for c in courses for u in c.units}
    kept: list[Course] = []
    for course in courses:  # cross-course references can only be checked once all plans are read
        dangling = [
            PlanProblem(course.path, None, "prerequisites", f"{ref!r} (in {item.id}) names no loaded {kind}")
            for item in _items(course)
            for ref, kind in _refs(item)
            if ref not in (known_exercises if kind == "exercise" else known_units)
        ]
        if dangling:
            problems.extend(dangling)
        else:
            kept.append(course)
    return Catalog(courses=tuple(kept), problems=tuple(problems))


def _items(course: Course) -> Iterable[Unit | Exercise]:
    for unit in course.units:
        yield unit
        yield from unit.exercises


def _refs(item: Unit | Exercise) -> Iterable[tuple[str, str]]:
    kind = "unit" if isinstance(item, Unit) else "exercise"
    for ref in item.prerequisites:
        yield ref, kind


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def display_path(path: Path) -> str:
    """A repository-relative path (posix) when inside the repository, else the absolute path."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(resolved)


# ---------------------------------------------------------------------------------------------
# reading and validating one plan
# ---------------------------------------------------------------------------------------------
def load_plan(path: str | Path, *, bundled: bool = False) -> tuple[Course | None, list[PlanProblem]]:
    """The course in one plan file, or None and the problems that keep it from loading."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [PlanProblem(path, None, "", f"cannot be read ({getattr(error, 'strerror', None) or error})")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        return None, [PlanProblem(path, int(match.group(1)) if match else None, "", f"not valid TOML: {message}")]
    checker = _Checker(path, _line_index(text))
    course = checker.course(data, bundled=bundled)
    if checker.problems:
        return None, checker.problems
    return course, []


class _Checker:
    def __init__(self, path: Path, lines: dict[str, int]) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[PlanProblem] = []

    # --- reporting -------------------------------------------------------------------------
    def problem(self, where: str, message: str) -> None:
        self.problems.append(PlanProblem(self.path, self._line(where), where, message))

    def _line(self, where: str) -> int | None:
        probe = where
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None

    # --- typed getters ---------------------------------------------------------------------
    def get(self, table: Mapping, key: str, where: str, kind: type | tuple, *, required: bool = False, default=None):
        here = _join(where, key)
        if key not in table:
            if required:
                self.problem(here, "is required")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            value = None
        if value is None or not isinstance(value, kinds):
            names = " or ".join({int: "an integer", float: "a number", str: "a string", list: "a list",
                                 dict: "a table", bool: "true/false"}[k] for k in kinds)
            self.problem(here, f"must be {names}, not {_toml_type(table[key])}")
            return default
        return value

    def unknown(self, table: Mapping, allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = [a for a in sorted(allowed) if a[:3] == key[:3]]
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(allowed))})"
                self.problem(_join(where, key), f"unknown field{hint}")

    def ident(self, table: Mapping, where: str) -> str:
        value = self.get(table, "id", where, str, required=True, default="")
        if value and not _ID_RE.match(value):
            self.problem(_join(where, "id"), f"{value!r} must use lower-case letters, digits and '-'")
        return value

    def choice(self, table: Mapping, key: str, where: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(table, key, where, str, default=default)
        if value not in choices:
            self.problem(_join(where, key), f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def strings(self, table: Mapping, key: str, where: str) -> tuple[str, ...]:
        value = self.get(table, key, where, list, default=[])
        if any(not isinstance(v, str) for v in value):
            self.problem(_join(where, key), "must be a list of strings")
            return ()
        return tuple(value)

    # --- structure -------------------------------------------------------------------------
    def course(self, data: Mapping, *, bundled: bool) -> Course | None:
        self.unknown(data, {"id", "title", "description", "input", "level", "units"}, "")
        course_id = self.ident(data, "")
        title = self.get(data, "title", "", str, required=True, default="")
        description = self.get(data, "description", "", str, default="")
        default_input = self.choice(data, "input", "", INPUTS, "instrument")
        default_level = self.choice(data, "level", "", LEVELS, "beginner")
        units_data = self.get(data, "units", "", list, required=True, default=[])
        if isinstance(units_data, list) and not units_data and "units" in data:
            self.problem("units", "a course needs at least one unit")
        units: list[Unit] = []
        unit_ids: set[str] = set()
        exercise_ids: set[str] = set()
        for u, unit_data in enumerate(units_data):
            where = f"units[{u}]"
            if not isinstance(unit_data, dict):
                self.problem(where, "must be a table ([[units]])")
                continue
            unit = self.unit(unit_data, where, course_id=course_id, previous=units[-1].id if units else None,
                             default_input=default_input, default_level=default_level)
            if unit.short_id in unit_ids:
                self.problem(f"{where}.id", f"unit id {unit.short_id!r} is used twice in this course")
            unit_ids.add(unit.short_id)
            for e, exercise in enumerate(unit.exercises):
                if exercise.short_id in exercise_ids:
                    self.problem(f"{where}.exercises[{e}].id", f"exercise id {exercise.short_id!r} is used twice")
                exercise_ids.add(exercise.short_id)
            units.append(unit)
        # prerequisites inside this course must name things that exist here
        for u, unit in enumerate(units):
            for ref in unit.prerequisites:
                if ref.startswith(f"{course_id}/") and ref.split("/", 1)[1] not in unit_ids:
                    self.problem(f"units[{u}].prerequisites", f"no unit {ref.split('/', 1)[1]!r} in this course")
            for e, exercise in enumerate(unit.exercises):
                for ref in exercise.prerequisites:
                    if ref.startswith(f"{course_id}/") and ref.split("/", 1)[1] not in exercise_ids:
                        self.problem(f"units[{u}].exercises[{e}].prerequisites",
                                     f"no exercise {ref.split('/', 1)[1]!r} in this course")
        if self.problems:
            return None
        return Course(id=course_id, title=title, units=tuple(units), description=description, path=self.path,
                      bundled=bundled)

    def unit(self, data: Mapping, where: str, *, course_id: str, previous: str | None,
             default_input: str, default_level: str) -> Unit:
        self.unknown(data, {"id", "title", "description", "prerequisites", "exercises", "input", "level"}, where)
        short_id = self.ident(data, where)
        title = self.get(data, "title", where, str, required=True, default="")
        description = self.get(data, "description", where, str, default="")
        unit_input = self.choice(data, "input", where, INPUTS, default_input)
        unit_level = self.choice(data, "level", where, LEVELS, default_level)
        if "prerequisites" in data:
            prerequisites = tuple(_qualify(r, course_id) for r in self.strings(data, "prerequisites", where))
        else:
            prerequisites = (previous,) if previous else ()
        exercises_data = self.get(data, "exercises", where, list, required=True, default=[])
        if isinstance(exercises_data, list) and not exercises_data and "exercises" in data:
            self.problem(f"{where}.exercises", "a unit needs at least one exercise")
        exercises = []
        for e, exercise_data in enumerate(exercises_data):
            here = f"{where}.exercises[{e}]"
            if not isinstance(exercise_data, dict):
                self.problem(here, "must be a table ([[units.exercises]])")
                continue
            exercise = self.exercise(exercise_data, here, course_id=course_id, unit_id=f"{course_id}/{short_id}",
                                     default_input=unit_input, default_level=unit_level)
            if exercise is not None:
                exercises.append(exercise)
        return Unit(id=f"{course_id}/{short_id}", short_id=short_id, title=title, course_id=course_id,
                    exercises=tuple(exercises), prerequisites=prerequisites, description=description)

    def exercise(self, data: Mapping, where: str, *, course_id: str, unit_id: str,
                 default_input: str, default_level: str) -> Exercise | None:
        self.unknown(data, {"id", "title", "description", "kind", "score", "abc", "index", "input", "part",
                            "measures", "tempo", "level", "pass", "hints", "prerequisites", "solution",
                            "style", "repeats"}, where)
        short_id = self.ident(data, where)
        title = self.get(data, "title", where, str, required=True, default="")
        kind = self.choice(data, "kind", where, KINDS, "perform")
        description = self.get(data, "description", where, str, default="")
        score_text = self.get(data, "score", where, str, default=None)
        abc = self.get(data, "abc", where, str, default=None)
        if score_text is None and abc is None:
            self.problem(f"{where}.score", "is required (a score file, corpus:<path>, or an inline `abc` tune)")
        if score_text is not None and abc is not None:
            self.problem(f"{where}.abc", "give either `score` or `abc`, not both")
        score_display, score_source = "", ""
        if score_text is not None:
            score_display, score_source = self.score_ref(score_text, f"{where}.score")
        elif abc is not None:
            if "X:" not in abc or "K:" not in abc:
                self.problem(f"{where}.abc", "an ABC tune needs at least its X: and K: header lines")
            score_display, score_source = display_path(self.path), INLINE_ABC_PREFIX
        solution = None
        if "solution" in data:
            solution_text = self.get(data, "solution", where, str, default=None)
            if solution_text is not None:
                solution = self.score_ref(solution_text, f"{where}.solution")[1]
        style = self.get(data, "style", where, str, default=None)
        if style is not None and style not in WRITING_STYLES:
            self.problem(_join(where, "style"), f"{style!r} is not one of {', '.join(WRITING_STYLES)}")
        if style is not None and kind != "compose":
            self.problem(_join(where, "style"), "only composition exercises (kind = \"compose\") take a style")
        index = self.get(data, "index", where, int, default=None)
        if index is not None and index < 0:
            self.problem(f"{where}.index", "must be 0 or more (tunes are counted from 0)")
        exercise_input = self.choice(data, "input", where, INPUTS, default_input)
        part = self.get(data, "part", where, str, default=None)
        measures = self.measure_range(data, where)
        tempo_start, tempo_goal = self.tempo(data, where)
        level = self.choice(data, "level", where, LEVELS, default_level)
        repeats = self.get(data, "repeats", where, bool, default=True)
        passing = self.passing(data, where, kind=kind)
        hints = self.strings(data, "hints", where)
        prerequisites = tuple(_qualify(r, course_id) for r in self.strings(data, "prerequisites", where))
        return Exercise(
            id=f"{course_id}/{short_id}", short_id=short_id, title=title, course_id=course_id, unit_id=unit_id,
            kind=kind, score=score_display, score_source=score_source, index=index, input=exercise_input,
            part=part, measures=measures, tempo_start_bpm=tempo_start, tempo_goal_bpm=tempo_goal, level=level,
            passing=passing, hints=hints, prerequisites=prerequisites, description=description, solution=solution,
            abc=abc, plan_path=self.path, style=style, line=self._line(where), plan_field=where, repeats=repeats,
            field_lines=tuple((name, self.lines[f"{where}.{name}"]) for name in ("score", "abc", "part", "measures")
                              if f"{where}.{name}" in self.lines),
        )

    def score_ref(self, text: str, where: str) -> tuple[str, str]:
        """(shown reference, loadable source) for a score named in a plan."""
        if text.startswith(CORPUS_PREFIX):
            if not text[len(CORPUS_PREFIX):].strip():
                self.problem(where, "corpus: needs a path, for example corpus:bach/bwv66.6")
            return text, text
        candidate = Path(text).expanduser()
        bases = [candidate] if candidate.is_absolute() else [self.path.parent / candidate, in_repository(candidate)]
        for base in bases:
            if base.is_file():
                return display_path(base), str(base.resolve())
        self.problem(where, f"score file {text!r} not found (looked beside the plan and in the repository)")
        return text, text

    def measure_range(self, data: Mapping, where: str) -> tuple[int, int] | None:
        value = self.get(data, "measures", where, list, default=None)
        if value is None:
            return None
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self.problem(f"{where}.measures", "must be [first, last], two measure numbers")
            return None
        first, last = value
        if first < 0 or last < first:
            self.problem(f"{where}.measures", f"[{first}, {last}] is not a range (first <= last, from 0)")
            return None
        return first, last

    def tempo(self, data: Mapping, where: str) -> tuple[float, float]:
        value = self.get(data, "tempo", where, (int, float, dict), required=True, default=None)
        if value is None:
            return 80.0, 80.0
        if isinstance(value, dict):
            self.unknown(value, {"start", "goal"}, f"{where}.tempo")
            start = self.get(value, "start", f"{where}.tempo", (int, float), required=True, default=80.0)
            goal = self.get(value, "goal", f"{where}.tempo", (int, float), default=start)
        else:
            start = goal = value
        for name, bpm in (("start", start), ("goal", goal)):
            if not (isinstance(bpm, (int, float)) and math.isfinite(bpm) and 20 <= bpm <= 320):
                self.problem(f"{where}.tempo", f"{name} {bpm} bpm is outside 20-320 quarter notes per minute")
        if isinstance(start, (int, float)) and isinstance(goal, (int, float)) and goal < start:
            self.problem(f"{where}.tempo", f"goal {goal} bpm is slower than start {start} bpm")
        return float(start), float(goal)

    def passing(self, data: Mapping, where: str, *, kind: str) -> PassCriteria:
        value = self.get(data, "pass", where, dict, default={})
        here = f"{where}.pass"
        if kind == "compose":
            self.unknown(value, {"max_errors", "max_warnings", "forbid", "measures", "key", "keep_given", "voices"},
                         here)
            max_errors = self.get(value, "max_errors", here, int, default=0)
            max_warnings = self.get(value, "max_warnings", here, int, default=None)
            forbid = self.strings(value, "forbid", here)
            keep_given = self.get(value, "keep_given", here, bool, default=False)
            voices = self.get(value, "voices", here, int, default=None)
            if voices is not None and not 1 <= voices <= 8:
                self.problem(_join(here, "voices"), f"{voices} is not a number of voices (1-8)")
            measures = self.get(value, "measures", here, int, default=None)
            key = self.get(value, "key", here, str, default=None)
            if key is not None and not _KEY_RE.match(key):
                self.problem(f"{here}.key", f"{key!r} is not a key like 'G major' or 'd minor'")
            if max_errors < 0 or (max_warnings is not None and max_warnings < 0) or (measures is not None and measures < 1):
                self.problem(here, "max_errors and max_warnings must be 0 or more, measures 1 or more")
            return PassCriteria(overall=None, max_missed=None, max_errors=max_errors, max_warnings=max_warnings,
                                forbid=forbid, measures=measures, key=key, keep_given=keep_given, voices=voices)
        self.unknown(value, {"overall", "pitch", "rhythm", "intonation", "max_missed", "max_wrong"}, here)
        scores = {}
        for name in ("overall", "pitch", "rhythm", "intonation"):
            default = DEFAULT_PASS_OVERALL if name == "overall" else None
            score = self.get(value, name, here, (int, float), default=default)
            if score is not None and not 0 <= score <= 100:
                self.problem(f"{here}.{name}", f"{score} is outside 0-100")
            scores[name] = None if score is None else float(score)
        counts = {}
        for name, default in (("max_missed", 0), ("max_wrong", None)):
            count = self.get(value, name, here, int, default=default)
            if count is not None and count < 0:
                self.problem(f"{here}.{name}", "must be 0 or more")
            counts[name] = count
        return PassCriteria(**scores, **counts)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _qualify(ref: str, course_id: str) -> str:
    return ref if "/" in ref else f"{course_id}/{ref}"


def _toml_type(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------
# line numbers: tomllib gives none, so index where each key and table starts
# ---------------------------------------------------------------------------------------------
_HEADER_RE = re.compile(r"^\s*(\[\[|\[)\s*([A-Za-z0-9_.\-\" ]+?)\s*(\]\]|\])\s*(#.*)?$")
_KEY_LINE_RE = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


def _line_index(text: str) -> dict[str, int]:
    """Maps field paths such as ``units[1].exercises[0].tempo`` to the line (1-based) they start on."""
    lines: dict[str, int] = {}
    counters: dict[str, int] = {}
    table = ""  # current table path with array indexes
    in_multiline: str | None = None
    depth = 0  # open brackets of a multi-line array/inline table
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if depth > 0:
            depth += _bracket_balance(line)
            continue
        header = _HEADER_RE.match(line)
        if header:
            names = [n.strip().strip('"') for n in header.group(2).split(".")]
            path = ""
            for i, name in enumerate(names):
                path = f"{path}.{name}" if path else name
                if i < len(names) - 1 and f"{path}#" in counters:
                    path = f"{path}[{counters[path + '#'] - 1}]"
            if header.group(1) == "[[":
                counters[path + "#"] = counters.get(path + "#", 0) + 1
                path = f"{path}[{counters[path + '#'] - 1}]"
            table = path
            lines.setdefault(table, number)
            continue
        key = _KEY_LINE_RE.match(line)
        if key:
            name = re.sub(r"\s*\.\s*", ".", key.group(1))
            full = f"{table}.{name}" if table else name
            lines.setdefault(full, number)
            rest = line[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
            if not in_multiline:
                depth = max(0, _bracket_balance(rest))
    return lines


def _bracket_balance(text: str) -> int:
    text = re.sub(r'"(\\.|[^"\\])*"|\'[^\']*\'', "", text.split("#", 1)[0] if '"' not in text else text)
    return text.count("[") + text.count("{") - text.count("]") - text.count("}")


# ---------------------------------------------------------------------------------------------
# unlocking
# ---------------------------------------------------------------------------------------------
def unlocked_units(catalog: Catalog, passed: set[str]) -> set[str]:
    """Units whose required units are complete (every exercise passed)."""
    complete = {u.id for u in catalog.units if all(e.id in passed for e in u.exercises)}
    return {u.id for u in catalog.units if all(p in complete for p in u.prerequisites)}


def unlocked_exercises(catalog: Catalog, passed: set[str]) -> set[str]:
    """Exercises open to the student: their unit is unlocked and their prerequisites are passed."""
    units = unlocked_units(catalog, passed)
    return {
        e.id for u in catalog.units if u.id in units for e in u.exercises if all(p in passed for p in e.prerequisites)
    }


def completed_units(catalog: Catalog, passed: set[str]) -> set[str]:
    return {u.id for u in catalog.units if all(e.id in passed for e in u.exercises)}


# ---------------------------------------------------------------------------------------------
# the music of an exercise
# ---------------------------------------------------------------------------------------------
def exercise_score(exercise: Exercise):
    """The ``tutor.score.music.Score`` to practise: the chosen part and measures, at the start tempo."""
    score = load_exercise_source(exercise)
    if exercise.part is not None:
        try:
            part = score.part(exercise.part)
        except KeyError as error:
            raise LessonPlanError(f"exercise {exercise.id}: {error.args[0]}", path=exercise.plan_path) from None
        score = score.only_parts([part.id])
    if exercise.measures is not None:
        try:
            score = score.slice_measures(*exercise.measures)
        except KeyError as error:
            raise LessonPlanError(f"exercise {exercise.id}: {error.args[0]}", path=exercise.plan_path) from None
    if not score.notes:
        raise LessonPlanError(f"exercise {exercise.id}: the chosen part and measures hold no notes",
                              path=exercise.plan_path)
    return score.at_tempo(bpm=exercise.tempo_start_bpm)


def check_exercise_music(exercise: Exercise) -> list[PlanProblem]:
    """Problems with an exercise's music: its score, part or measures cannot be loaded (slow: parses)."""
    from tutor.errors import TutorError as _Error

    lines = dict(exercise.field_lines)

    def problem(name: str, message: str) -> list[PlanProblem]:
        return [PlanProblem(exercise.plan_path or Path("?"), lines.get(name, exercise.line),
                            f"{exercise.plan_field}.{name}", message)]

    try:
        whole = load_exercise_source(exercise)
    except _Error as error:
        return problem("abc" if exercise.abc is not None else "score", str(error))
    if exercise.part is not None:
        try:
            whole.part(exercise.part)
        except KeyError as error:
            return problem("part", error.args[0])
    if exercise.measures is not None:
        numbers = sorted(m.number for m in whole.measures)
        missing = [n for n in exercise.measures if n not in numbers]
        if missing:
            return problem("measures", f"the score has no measure {missing[0]} (it has {numbers[0]}-{numbers[-1]})")
    try:
        exercise_score(exercise)
    except _Error as error:
        return problem("measures" if exercise.measures is not None else "score", error.message)
    return []


def load_exercise_source(exercise: Exercise):
    """The whole score an exercise names (every part and measure, at its written tempo)."""
    if exercise.score_source == INLINE_ABC_PREFIX:
        return _score_from_abc(exercise)
    from tutor.score.io import load_score

    return load_score(exercise.score_source, index=exercise.index)


def _score_from_abc(exercise: Exercise):
    import warnings

    import music21

    from tutor.errors import InputFileError
    from tutor.score.io import score_from_music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = music21.converter.parse(exercise.abc, format="abc")
        except Exception as error:  # noqa: BLE001 - music21's ABC parser raises any type on a malformed tune
            raise InputFileError(f"exercise {exercise.id}: its inline ABC tune cannot be read ({error})",
                                 path=exercise.plan_path) from None
    if isinstance(parsed, music21.stream.Opus):
        parsed = parsed.scores[exercise.index or 0]
    return score_from_music21(parsed, source_path=None)


# ---------------------------------------------------------------------------------------------
# taking an exercise: assess the take (tutor.practice.assessment) or the composition (tutor.compose.critique)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TakeResult:
    passed: bool
    reasons: tuple[str, ...]  # why it did not pass (empty when it did)
    summary: dict[str, Any]  # overall, pitch, rhythm, intonation, notes_total, notes_correct (or composition facts)
    event_counts: dict[str, int]  # event type (or finding severity) -> count
    duration_s: float
    tempo_bpm: float | None
    recording_path: str | None
    details: dict[str, Any] = field(default_factory=dict)  # practice measures, findings


def judge_take(exercise: Exercise, summary: Mapping[str, Any], event_counts: Mapping[str, int]) -> tuple[str, ...]:
    """Reasons a take falls short of ``exercise.passing`` (empty: it passes)."""
    rule = exercise.passing
    reasons = []
    for name in ("overall", "pitch", "rhythm", "intonation"):
        needed = getattr(rule, name)
        value = summary.get(name)
        if needed is None or (value is None and name == "intonation"):
            continue
        if value is None or value < needed:
            reasons.append(f"{name} {0 if value is None else value:.0f} is below {needed:g}")
    for name, kind, label in (("max_missed", "missed", "missed"), ("max_wrong", "wrong_pitch", "wrong")):
        allowed = getattr(rule, name)
        count = int(event_counts.get(kind, 0))
        if allowed is not None and count > allowed:
            reasons.append(f"{count} {label} notes (at most {allowed} allowed)")
    return tuple(reasons)


def judge_composition(exercise: Exercise, *, findings: list[Mapping[str, Any]], measures: int, key: str | None,
                      kept_given: bool = True, voices: int | None = None) -> tuple[str, ...]:
    """Reasons a composition falls short of ``exercise.passing`` (empty: it passes)."""
    rule = exercise.passing
    reasons = []
    errors = sum(1 for f in findings if f.get("severity") == "error")
    warnings = sum(1 for f in findings if f.get("severity") == "warning")
    if errors > rule.max_errors:
        reasons.append(f"{errors} error findings from the critique (at most {rule.max_errors} allowed)")
    if rule.max_warnings is not None and warnings > rule.max_warnings:
        reasons.append(f"{warnings} warnings from the critique (at most {rule.max_warnings} allowed)")
    for rule_id in rule.forbid:
        hits = [f for f in findings if f.get("rule") == rule_id]
        if hits:
            reasons.append(f"{rule_id.replace('_', ' ')} (m. {hits[0].get('measure')}): {hits[0].get('message', '')}")
    if rule.measures is not None and measures != rule.measures:
        reasons.append(f"{measures} measures long; the exercise asks for {rule.measures}")
    if rule.key is not None and (key or "").lower() != rule.key.lower():
        reasons.append(f"in {key or 'no clear key'}; the exercise asks for {rule.key}")
    if rule.voices is not None and voices is not None and voices != rule.voices:
        reasons.append(f"{voices} voice{'s' if voices != 1 else ''}; the exercise asks for {rule.voices}")
    if rule.keep_given and not kept_given:
        reasons.append("the given melody was changed; keep it as written and add the other parts")
    return tuple(reasons)


def take_exercise(exercise: Exercise, performance_path: str | Path, *, tempo_bpm: float | None = None) -> TakeResult:
    """Assess a take (or judge a composition) for ``exercise``; nothing is recorded here."""
    if exercise.kind == "compose":
        from tutor.score.io import load_score

        return judge_composition_file(exercise, load_score(performance_path), recording_path=performance_path)
    from tutor.listen.takes import load_performance, take_instrument

    instrument = take_exercise_instrument(exercise)
    if instrument is None and exercise.input == "instrument":  # an audio take of a keyboard part is a piano take
        instrument = take_instrument(exercise_score(exercise))
    performance = load_performance(performance_path, instrument=instrument)
    from tutor.listen.piano_evidence import evidence_for_take

    return assess_take(exercise, performance, tempo_bpm=tempo_bpm, recording_path=performance_path,
                       evidence=evidence_for_take(performance_path, instrument))


def take_exercise_instrument(exercise: Exercise) -> str | None:
    """How an audio take of ``exercise`` is heard: "piano" (input piano), "voice" (input voice), else None
    (decided by the part: a keyboard part's take is a piano take)."""
    return {"piano": "piano", "voice": "voice"}.get(exercise.input)


def assess_take(exercise: Exercise, performance, *, tempo_bpm: float | None = None,
                recording_path: str | Path | None = None, evidence=None) -> TakeResult:
    """Assess a ``tutor.score.music.Performance`` for a (performance) exercise (``evidence``: the second
    listen to a piano audio take, ``tutor.listen.piano_evidence.evidence_for_take``)."""
    from tutor.practice.assessment import assess

    bpm = float(tempo_bpm) if tempo_bpm else exercise.tempo_start_bpm
    score = exercise_score(exercise).at_tempo(bpm=bpm)
    result = assess(score, performance, bpm=bpm, level=exercise.level, repeats=exercise.repeats, evidence=evidence)
    return judge_assessment(exercise, result, performance, tempo_bpm=bpm, recording_path=recording_path)


def judge_assessment(exercise: Exercise, result, performance, *, tempo_bpm: float,
                     recording_path: str | Path | None = None) -> TakeResult:
    """Judge a take already assessed (``result``: a ``tutor.practice.assessment.Assessment`` of
    ``performance``, made at ``tempo_bpm``) against the exercise: the app assesses a take once, in its
    worker, and records the attempt from that assessment."""
    summary = {
        "overall": float(result.overall), "pitch": float(result.pitch), "rhythm": float(result.rhythm),
        "intonation": None if result.intonation is None else float(result.intonation),
        "notes_total": int(result.notes_total), "notes_correct": int(result.notes_correct),
    }
    counts: dict[str, int] = {}
    for event in result.events:
        counts[event.type] = counts.get(event.type, 0) + 1
    reasons = judge_take(exercise, summary, counts)
    duration = float(performance.duration_s)  # from the start of the take: time spent practising
    return TakeResult(
        passed=not reasons, reasons=reasons, summary=summary, event_counts=counts, duration_s=max(0.0, duration),
        tempo_bpm=float(tempo_bpm), recording_path=_absolute(recording_path),
        details={"practice_measures": list(getattr(result, "practice_measures", ()))},
    )


def composition_length(score) -> int:
    """Length in whole bars: a pickup and a shortened last bar together count as one."""
    bar_ql = score.time_signatures[0].bar_ql if score.time_signatures else 4.0
    return int(round(score.duration_ql / bar_ql)) if bar_ql > 0 else len(score.measures)


def judge_composition_file(exercise: Exercise, score, *, recording_path: str | Path | None = None) -> TakeResult:
    """Critique a composition (a ``tutor.score.music.Score``) and judge it against the exercise."""
    findings, analysed_key = critique_findings(score, style=exercise.style)
    counts: dict[str, int] = {}
    for finding in findings:
        severity = str(finding.get("severity", "info"))
        counts[severity] = counts.get(severity, 0) + 1
    key = score.key or analysed_key
    if exercise.passing.key and analysed_key and (score.key or "").lower() != exercise.passing.key.lower():
        key = analysed_key  # a file without the right signature can still be in the key by its notes
    measures = composition_length(score)
    kept = keeps_given(exercise, score) if exercise.passing.keep_given else True
    lines = None
    if exercise.passing.voices is not None:
        from tutor.score.analysis import voices

        lines = len(voices(score))
    reasons = judge_composition(exercise, findings=findings, measures=measures, key=key, kept_given=kept,
                                voices=lines)
    summary = {"errors": counts.get("error", 0), "warnings": counts.get("warning", 0), "key": key,
               "measures": measures, "voices": lines, "notes_total": len(score.notes)}
    return TakeResult(
        passed=not reasons, reasons=reasons, summary=summary, event_counts=counts, duration_s=0.0, tempo_bpm=None,
        recording_path=_absolute(recording_path), details={"findings": findings},
    )


def keeps_given(exercise: Exercise, score) -> bool:
    """Whether some part of ``score`` plays the given melody's pitches in the given rhythm."""
    given = exercise_score(exercise)
    wanted = [(round(n.onset_ql - given.notes[0].onset_ql, 3), n.pitch) for n in given.notes]
    for part in score.parts:
        notes = score.notes_of(part.id)
        if notes and [(round(n.onset_ql - notes[0].onset_ql, 3), n.pitch) for n in notes] == wanted:
            return True
    return False


def critique_findings(score, *, style: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The critique's findings (JSON-like dicts) and the key it hears in ``score``.

    The style/emotion models are not asked (a lesson judges the theory rules, and needs no torch);
    the rules run in the exercise's writing style, else the one the texture suggests."""
    from tutor.compose.critique import critique

    report = critique(score, use_models=False, with_chords=False, style=style)
    return [f.as_dict() for f in report.findings], report.key


def _absolute(path: str | Path | None) -> str | None:
    return None if path is None else str(Path(path).resolve())
