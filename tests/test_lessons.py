"""Lesson plans: the bundled curriculum loads and every exercise is passable; broken plans are reported
with file, line and field and never stop the others; a student can follow a course to the next unit."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO
from tutor.cli import main
from tutor.lessons.plans import (
    BUNDLED_LESSONS_DIR,
    Exercise,
    LessonPlanError,
    assess_take,
    exercise_score,
    judge_composition_file,
    load_catalog,
    load_exercise_source,
    load_plan,
    unlocked_exercises,
    unlocked_units,
)
from tutor.score.music import Performance, PlayedNote, sort_played


@pytest.fixture(scope="module")
def catalog():
    return load_catalog([BUNDLED_LESSONS_DIR])


@pytest.fixture(scope="module")
def scores(catalog):
    """Every exercise's score, loaded once for the module."""
    return {e.id: exercise_score(e) for e in catalog.exercises}


@pytest.fixture(autouse=True)
def _private_folders(tmp_path, monkeypatch):
    """Progress and user plans of the test, never the developer's own."""
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(tmp_path / "user-lessons"))


def perfect_take(score, *, lead_in_s: float = 0.5, jitter_s: float = 0.0, seed: int = 0) -> Performance:
    """Every score note played at its written time (at the score's tempo), optionally with human jitter."""
    rng = random.Random(seed)
    start = min(n.onset_s for n in score.notes)
    played = []
    for note in score.notes:
        onset = note.onset_s - start + lead_in_s + rng.uniform(-jitter_s, jitter_s)
        played.append(PlayedNote(pitch=note.pitch, onset_s=onset, offset_s=onset + max(0.05, note.duration_s - 0.03)))
    return Performance(sort_played(played))


# ---------------------------------------------------------------------------------------------
# the bundled curriculum
# ---------------------------------------------------------------------------------------------
def test_bundled_curriculum_loads_without_problems(catalog):
    assert catalog.problems == ()
    assert len(catalog.courses) >= 3
    assert len(catalog.exercises) >= 30
    assert {c.id for c in catalog.courses} >= {"in-tune", "rhythm", "piano", "composition"}
    for course in catalog.courses:
        assert course.units and all(unit.exercises for unit in course.units)
        # the first unit of every course is open to a new student
        assert course.units[0].id in unlocked_units(catalog, set())
    inputs = {e.input for e in catalog.exercises}
    assert {"voice", "instrument", "midi"} <= inputs


def test_every_exercise_score_loads_with_its_part_and_measures(catalog, scores):
    for exercise in catalog.exercises:
        whole = load_exercise_source(exercise)
        if exercise.part is not None:
            whole.part(exercise.part)  # raises KeyError when the part does not exist
        if exercise.measures is not None:
            numbers = {m.number for m in whole.measures}
            assert exercise.measures[0] in numbers and exercise.measures[1] in numbers, exercise.id
        score = scores[exercise.id]
        assert score.notes, exercise.id
        assert score.tempo_map.initial_bpm == pytest.approx(exercise.tempo_start_bpm)
        assert score.title and score.key, exercise.id
        if exercise.score.startswith("corpus:"):
            continue
        assert (REPO / exercise.score).is_file(), exercise.score


def test_bundled_scores_are_engraved_with_title_key_clef_and_tempo():
    for path in sorted((BUNDLED_LESSONS_DIR / "scores").glob("*.musicxml")):
        text = path.read_text(encoding="utf-8")
        for element in ("<work-title>", "<key>", "<clef", "<time>", "<metronome", "<creator type=\"composer\">"):
            assert element in text, f"{path.name} lacks {element}"


def test_every_performance_exercise_passes_when_played_right_and_fails_with_missed_notes(catalog, scores):
    for exercise in catalog.exercises:
        if exercise.kind != "perform":
            continue
        score = scores[exercise.id]
        good = assess_take(exercise, perfect_take(score, jitter_s=0.015, seed=len(exercise.id)))
        assert good.passed, (exercise.id, good.reasons)
        assert good.summary["notes_correct"] == good.summary["notes_total"] == len(score.notes)
        take = perfect_take(score)
        many_missed = Performance(tuple(n for i, n in enumerate(take.notes) if i % 3 != 1))
        bad = assess_take(exercise, many_missed)
        assert not bad.passed, exercise.id
        # a unison of two hands is one key: dropping one of its two notes leaves the key sounded
        kept = {(n.pitch, round(n.onset_s, 3)) for n in many_missed.notes}
        silent = {(n.pitch, round(n.onset_s, 3)) for n in take.notes} - kept
        assert bad.event_counts.get("missed", 0) >= len(silent) - 1, exercise.id


def test_playing_at_the_goal_tempo_passes_when_that_tempo_is_given(catalog):
    exercise = catalog.exercise("rhythm/dotted-quarters")
    fast = exercise_score(exercise).at_tempo(bpm=exercise.tempo_goal_bpm)
    result = assess_take(exercise, perfect_take(fast), tempo_bpm=exercise.tempo_goal_bpm)
    assert result.passed and result.tempo_bpm == exercise.tempo_goal_bpm


def test_composition_models_pass_the_critique(catalog):
    from tutor.score.io import load_score

    composing = [e for e in catalog.exercises if e.kind == "compose"]
    assert len(composing) >= 5
    for exercise in composing:
        model = load_score(exercise.solution or exercise.score_source)
        result = judge_composition_file(exercise, model)
        assert result.passed, (exercise.id, result.reasons, result.details["findings"][:5])
        assert result.summary["errors"] == 0


def test_compositions_with_real_problems_fail(catalog):
    from dataclasses import replace

    from tutor.score.io import load_score
    from tutor.score.music import Note

    melody_c = catalog.exercise("composition/melody-c")
    model = load_score(melody_c.score_source)
    too_short = model.slice_measures(1, 4)
    assert any("asks for 8" in r for r in judge_composition_file(melody_c, too_short).reasons)
    in_d_minor = load_score(catalog.exercise("composition/melody-d-minor").score_source)
    assert any("asks for C major" in r for r in judge_composition_file(melody_c, in_d_minor).reasons)
    # a leap of a tenth in bar 2 (F4 -> A5) is forbidden
    leaping = replace(model, notes=tuple(replace(n, pitch=81) if n.measure == 2 and n.beat == 1.0 else n
                                         for n in model.notes))
    assert any(r.startswith("large leap") for r in judge_composition_file(melody_c, leaping).reasons)

    harmonise = catalog.exercise("composition/harmonise-bwv269")
    bach = load_score(harmonise.solution)
    assert judge_composition_file(harmonise, bach).passed
    # the given melody alone is not a harmonisation
    alone = judge_composition_file(harmonise, load_score(harmonise.score_source))
    assert any("asks for 4" in r for r in alone.reasons)
    # a bass that doubles the soprano a twelfth below: parallel fifths throughout
    soprano, bass = bach.parts[0].id, bach.parts[3].id
    parallel = tuple(n for n in bach.notes if n.part != bass) + tuple(
        Note(id=n.id.replace(soprano, bass), pitch=n.pitch - 19, onset_ql=n.onset_ql, duration_ql=n.duration_ql,
             onset_s=n.onset_s, duration_s=n.duration_s, part=bass, measure=n.measure, beat=n.beat)
        for n in bach.notes if n.part == soprano)
    result = judge_composition_file(harmonise, replace(bach, notes=tuple(sorted(parallel, key=lambda n: (n.onset_ql, n.pitch)))))
    assert not result.passed and result.summary["errors"] > 0
    assert any(f["rule"] == "parallel_fifths" for f in result.details["findings"])
    # changing the given melody is not allowed
    changed = replace(bach, notes=tuple(replace(n, pitch=n.pitch + 2) if n.part == soprano and n.measure == 2 else n
                                        for n in bach.notes))
    assert any("given melody was changed" in r for r in judge_composition_file(harmonise, changed).reasons)


def test_a_composition_exercise_end_to_end(capsys):
    model = REPO / "lessons" / "scores" / "model_melody_c.musicxml"
    assert main(["lessons", "start", "composition/melody-c", "--performance", str(model), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is True and result["summary"]["key"] == "C major" and result["summary"]["measures"] == 8
    assert "composition/melody-g" not in result["unlocked"]["exercises"]  # already open: same unit
    assert main(["lessons", "start", "composition/melody-g", "--performance", str(model)]) == 0
    out = capsys.readouterr().out
    assert "Not passed yet" in out and "asks for G major" in out


def test_lessons_list_json_contract(capsys):
    assert main(["lessons", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"courses"}
    assert len(data["courses"]) >= 3
    count = 0
    for course in data["courses"]:
        assert set(course) == {"id", "title", "exercises"}
        for exercise in course["exercises"]:
            count += 1
            assert set(exercise) == {"id", "title", "score", "tempo", "input"}
            assert isinstance(exercise["tempo"], int | float) and exercise["tempo"] > 0
            assert exercise["input"] in ("voice", "instrument", "midi", "score")
            score = exercise["score"]
            assert score.startswith("corpus:") or (REPO / score).is_file(), score
    assert count >= 30


def test_lessons_show_text_and_json(capsys):
    assert main(["lessons", "show", "in-tune/scale-c"]) == 0
    out = capsys.readouterr().out
    assert "C major scale" in out and "72 bpm, goal 96 bpm" in out and "no missed notes" in out
    assert main(["lessons", "show", "scale-d", "--json"]) == 0  # a unique short id works too
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "in-tune/scale-d" and data["prerequisites"] == ["in-tune/scale-g"]
    assert data["unlocked"] is False and data["passed"] is False
    assert main(["lessons", "show", "no-such-exercise"]) == 2
    assert "no course, unit or exercise" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# following a course
# ---------------------------------------------------------------------------------------------
def test_a_student_follows_a_course_to_the_next_unit(tmp_path, capsys, catalog):
    from tutor.score.io import save_score

    unit = catalog.units[0]
    assert unit.id == "in-tune/long-tones"
    second = catalog.units[1]
    assert second.prerequisites == (unit.id,)
    assert catalog.exercise("in-tune/scale-c").id not in unlocked_exercises(catalog, set())
    takes = {}
    for exercise in unit.exercises:
        path = tmp_path / f"{exercise.short_id}.mid"
        save_score(exercise_score(exercise), path)  # a MIDI file of the exercise: a perfect take
        takes[exercise.id] = path
    # a wrong take first: recorded, not passed, nothing unlocked
    first, other = unit.exercises[0], unit.exercises[1]
    assert main(["lessons", "start", first.id, "--performance", str(takes[other.id]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is False and result["unlocked"] == {"units": [], "exercises": []}
    for number, exercise in enumerate(unit.exercises):
        assert main(["lessons", "start", exercise.id, "--performance", str(takes[exercise.id]), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["passed"] is True, result["reasons"]
        assert result["summary"]["overall"] >= 85
        if number < len(unit.exercises) - 1:
            assert result["unlocked"]["units"] == []
    assert result["completed_units"] == [unit.id]
    assert result["unlocked"]["units"] == [second.id]
    assert "in-tune/scale-c" in result["unlocked"]["exercises"]
    assert "in-tune/scale-d" not in result["unlocked"]["exercises"]  # needs scale-g first
    # the history survives a restart: a fresh process reads the same database
    assert main(["progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["attempts_total"] == len(unit.exercises) + 1
    assert report["exercises_passed"] == len(unit.exercises)
    assert report["next"] == "in-tune/scale-c"
    course = next(c for c in report["courses"] if c["id"] == "in-tune")
    units = {u["id"]: u for u in course["units"]}
    assert units[unit.id]["completed"] and units[second.id]["unlocked"] and not units["in-tune/intervals"]["unlocked"]
    assert report["streak"]["current_days"] == 1
    # text output of a take names the result and what unlocked
    assert main(["lessons", "start", "in-tune/scale-c", "--performance", str(takes[first.id])]) == 0
    assert "Not passed yet" in capsys.readouterr().out


def test_start_refuses_a_missing_take_with_one_line(capsys, tmp_path):
    assert main(["lessons", "start", "in-tune/long-tones-c", "--performance", str(tmp_path / "none.mid")]) == 2
    err = capsys.readouterr().err
    assert "none.mid" in err and "no such file" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# plans written by teachers, and broken plans
# ---------------------------------------------------------------------------------------------
GOOD_PLAN = """\
id = "teacher"
title = "A teacher's plan"
input = "midi"

[[units]]
id = "warm-up"
title = "Warm-up"

[[units.exercises]]
id = "twinkle"
title = "Twinkle"
score = "assets/demo/twinkle.musicxml"
measures = [1, 4]
tempo = { start = 70, goal = 90 }

[[units.exercises]]
id = "inline-tune"
title = "A tune carried inside the plan"
tempo = 80
abc = '''
X:1
T:Hot Cross Buns
M:4/4
L:1/4
K:C
E D C2 | E D C2 | C/C/C/C/ D/D/D/D/ | E D C2 |]
'''
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_teacher_drops_a_plan_into_the_user_folder(tmp_path):
    folder = tmp_path / "user-lessons"
    write(folder, "teacher.toml", GOOD_PLAN)
    catalog = load_catalog()  # bundled + $TUTOR_LESSONS_DIR
    assert catalog.problems == ()
    course = catalog.find("teacher")
    assert [e.id for e in course.exercises] == ["teacher/twinkle", "teacher/inline-tune"]
    assert len(catalog.courses) >= 5
    inline = catalog.exercise("teacher/inline-tune")
    score = exercise_score(inline)
    assert score.title == "Hot Cross Buns" and len(score.notes) == 17
    assert catalog.exercise("teacher/twinkle").score == "assets/demo/twinkle.musicxml"
    assert assess_take(inline, perfect_take(score)).passed


def test_broken_plans_report_file_line_and_field_and_the_rest_still_load(tmp_path):
    folder = tmp_path / "plans"
    write(folder, "a-good.toml", GOOD_PLAN)
    syntax = write(folder, "b-syntax.toml", 'id = "x"\ntitle = "Broken"\n[[units]\nid = "u"\n')
    fields = write(folder, "c-fields.toml", """\
        id = "fields"
        title = "Bad fields"

        [[units]]
        id = "u1"
        title = "Unit"

        [[units.exercises]]
        id = "ok"
        title = "Fine"
        score = "corpus:bach/bwv66.6"
        tempo = 60

        [[units.exercises]]
        id = "bad"
        title = "Bad"
        score = "scores/missing.musicxml"
        tempo = { start = 90, goal = 60 }
        measures = [4, 2]
        input = "trumpet"
        pass = { overall = 120 }
        hints = "not a list"
        colour = "red"
        prerequisites = ["nowhere"]
        """)
    missing = write(folder, "d-missing.toml", 'title = "No id and no units"\n')
    duplicate = write(folder, "e-duplicate.toml", GOOD_PLAN)
    catalog = load_catalog([folder])
    assert [c.id for c in catalog.courses] == ["teacher"]
    problems = {(p.path.name, p.field): p for p in catalog.problems}
    assert problems[("b-syntax.toml", "")].line == 3 and "not valid TOML" in problems[("b-syntax.toml", "")].message
    bad = "units[0].exercises[1]"
    expected_lines = {
        f"{bad}.score": 17, f"{bad}.tempo": 18, f"{bad}.measures": 19, f"{bad}.input": 20,
        f"{bad}.pass.overall": 21, f"{bad}.hints": 22, f"{bad}.colour": 23, f"{bad}.prerequisites": 24,
    }
    for field, line in expected_lines.items():
        problem = problems[("c-fields.toml", field)]
        assert problem.line == line, (field, problem)
        assert str(problem).startswith(f"{fields}:{line}: {field}: ")
    assert "not found" in problems[("c-fields.toml", f"{bad}.score")].message
    assert "slower than start" in problems[("c-fields.toml", f"{bad}.tempo")].message
    assert "did you mean" in problems[("c-fields.toml", f"{bad}.colour")].message or "known" in \
        problems[("c-fields.toml", f"{bad}.colour")].message
    assert problems[("d-missing.toml", "id")].message == "is required"
    assert problems[("d-missing.toml", "units")].message == "is required"
    assert "already used" in problems[("e-duplicate.toml", "id")].message
    assert {p.path for p in catalog.problems} == {syntax, fields, missing, duplicate}


def test_lessons_check_validates_one_file(tmp_path, capsys):
    good = write(tmp_path, "good.toml", GOOD_PLAN)
    bad = write(tmp_path, "bad.toml", 'id = "Bad Id"\ntitle = 3\n')
    assert main(["lessons", "check", str(good)]) == 0
    assert "ok (1 units, 2 exercises)" in capsys.readouterr().out
    assert main(["lessons", "check", str(bad)]) == 2
    out = capsys.readouterr().out
    assert f"{bad}:1: id: 'Bad Id' must use lower-case" in out and f"{bad}:2: title: must be a string" in out


def test_a_broken_user_plan_warns_but_lessons_list_still_works(tmp_path, capsys):
    write(tmp_path / "user-lessons", "broken.toml", "id = \n")
    assert main(["lessons", "list", "--json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["courses"]) >= 3
    assert "broken.toml:1" in captured.err


def test_dangling_cross_course_prerequisite_is_reported(tmp_path):
    plan = GOOD_PLAN.replace('title = "Warm-up"', 'title = "Warm-up"\nprerequisites = ["other-course/unit"]')
    write(tmp_path / "p", "teacher.toml", plan)
    catalog = load_catalog([tmp_path / "p"])
    assert catalog.courses == ()
    assert "other-course/unit" in str(catalog.problems[0])


def test_exercise_lookup_errors(catalog):
    with pytest.raises(LessonPlanError, match="not an exercise"):
        catalog.exercise("in-tune")
    assert isinstance(catalog.find("scale-c"), Exercise)
    course, problems = load_plan(BUNDLED_LESSONS_DIR / "01-in-tune.toml")
    assert problems == [] and course.id == "in-tune"


def test_lessons_check_scores_finds_missing_parts_measures_and_pieces(tmp_path, capsys):
    plan = write(tmp_path, "music.toml", """\
        id = "bad-music"
        title = "Bad music"

        [[units]]
        id = "u"
        title = "U"

        [[units.exercises]]
        id = "wrong-part"
        title = "Wrong part"
        score = "corpus:bach/bwv66.6"
        part = "Trumpet"
        tempo = 60

        [[units.exercises]]
        id = "wrong-measures"
        title = "Wrong measures"
        score = "assets/demo/twinkle.musicxml"
        measures = [20, 30]
        tempo = 60
        """)
    assert main(["lessons", "check", "--scores", str(plan)]) == 2
    out = capsys.readouterr().out
    assert f"{plan}:12: units[0].exercises[0].part: no part named 'Trumpet'" in out
    assert f"{plan}:19: units[0].exercises[1].measures: the score has no measure 20" in out


def test_a_tune_inside_a_corpus_collection_by_index(tmp_path):
    plan = GOOD_PLAN.replace('score = "assets/demo/twinkle.musicxml"\nmeasures = [1, 4]',
                             'score = "corpus:oneills1850/0051-0100"\nindex = 1\nmeasures = [0, 4]')
    write(tmp_path / "p", "teacher.toml", plan)
    catalog = load_catalog([tmp_path / "p"])
    assert catalog.problems == ()
    score = exercise_score(catalog.exercise("teacher/twinkle"))
    assert score.title.lower() == "the castle of dromore"  # the second tune (X:52), not X:2
