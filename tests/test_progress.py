"""The progress database: attempts, passes, unlocks, streaks, export/import, migrations, and damage
that is reported and never repaired behind the student's back."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys

import pytest

from tutor.cli import main
from tutor.lessons.plans import BUNDLED_LESSONS_DIR, load_catalog, unlocked_exercises, unlocked_units
from tutor.lessons.progress import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ProgressDB,
    ProgressError,
    default_db_path,
    read_export,
    streak_of,
)

SUMMARY = {"overall": 91.5, "pitch": 95.0, "rhythm": 88.0, "intonation": None, "notes_total": 17, "notes_correct": 16}


@pytest.fixture(autouse=True)
def _private_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(tmp_path / "user-lessons"))


def at(day: str, hour: int = 17) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00").astimezone()


def test_attempts_best_scores_and_passes(tmp_path):
    with ProgressDB(tmp_path / "p.sqlite") as db:
        assert db.schema_version == SCHEMA_VERSION
        db.record_attempt(exercise_id="in-tune/scale-c", passed=False, summary={**SUMMARY, "overall": 70.0},
                          events={"missed": 2, "correct": 15}, duration_s=40.0, tempo_bpm=72,
                          recording_path="/takes/1.wav", level="beginner", started_at=at("2026-03-01"))
        db.record_attempt(exercise_id="in-tune/scale-c", passed=True, summary=SUMMARY, events={"correct": 17},
                          duration_s=35.0, tempo_bpm=80, started_at=at("2026-03-02"))
        db.record_attempt(exercise_id="in-tune/scale-c", passed=True, summary={**SUMMARY, "overall": 88.0},
                          duration_s=30.0, tempo_bpm=96, started_at=at("2026-03-03"))
        attempts = db.attempts("in-tune/scale-c")
        assert [a.overall for a in attempts] == [70.0, 91.5, 88.0]
        assert attempts[0].events == {"missed": 2, "correct": 15}
        assert attempts[0].recording_path == "/takes/1.wav" and attempts[0].level == "beginner"
        assert len({a.uid for a in attempts}) == 3
        state = db.states()["in-tune/scale-c"]
        assert state.attempts == 3 and state.best_overall == 91.5 and state.best_tempo_bpm == 96
        assert state.passed and state.first_passed_at.startswith("2026-03-02")
        assert db.passed_exercises() == {"in-tune/scale-c"}
        assert db.practice_by_day() == {"2026-03-01": 40.0, "2026-03-02": 35.0, "2026-03-03": 30.0}
    # reopened (a restart): everything is still there
    with ProgressDB(tmp_path / "p.sqlite") as db:
        assert len(db.attempts()) == 3
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unlocks_follow_passes():
    catalog = load_catalog([BUNDLED_LESSONS_DIR])
    first = catalog.units[0]
    passed = {e.id for e in first.exercises[:-1]}
    assert catalog.units[1].id not in unlocked_units(catalog, passed)
    passed.add(first.exercises[-1].id)
    assert catalog.units[1].id in unlocked_units(catalog, passed)
    opened = unlocked_exercises(catalog, passed)
    assert "in-tune/scale-g" in opened and "in-tune/scale-d" not in opened
    assert "in-tune/scale-d" in unlocked_exercises(catalog, passed | {"in-tune/scale-g"})


def test_streaks():
    days = [dt.date(2026, 3, d) for d in (1, 2, 3, 5, 6)]
    assert streak_of(days, today=dt.date(2026, 3, 6)) == streak_of(days, today=dt.date(2026, 3, 7))
    streak = streak_of(days, today=dt.date(2026, 3, 7))  # practised yesterday: the streak is still alive
    assert (streak.current_days, streak.longest_days, streak.last_day) == (2, 3, "2026-03-06")
    assert streak_of(days, today=dt.date(2026, 3, 8)).current_days == 0
    assert streak_of([], today=dt.date(2026, 3, 8)).longest_days == 0


def test_streak_from_recorded_attempts(tmp_path):
    with ProgressDB(tmp_path / "p.sqlite") as db:
        for day in ("2026-04-10", "2026-04-11", "2026-04-11", "2026-04-12"):
            db.record_attempt(exercise_id="rhythm/eighths", passed=False, duration_s=60, started_at=at(day))
        assert db.streak(today=dt.date(2026, 4, 12)).current_days == 3
        assert db.practice_by_day()["2026-04-11"] == 120.0


def test_export_import_round_trip_and_teacher_view(tmp_path, capsys):
    student = tmp_path / "student.sqlite"
    with ProgressDB(student) as db:
        db.set_student("Ada")
        db.record_attempt(exercise_id="in-tune/long-tones-c", passed=True, summary=SUMMARY, events={"late": 1},
                          duration_s=50, tempo_bpm=60, started_at=at("2026-05-01"))
        db.record_attempt(exercise_id="piano/five-finger-c", passed=False, summary={**SUMMARY, "overall": 60.0},
                          duration_s=20, started_at=at("2026-05-02"))
        export = db.export_to(tmp_path / "ada.json")
        original = db.attempts()
    data = read_export(export)
    assert data["student"] == "Ada" and data["attempts"] == original
    with ProgressDB(tmp_path / "other.sqlite") as other:
        assert other.import_from(export) == 2
        assert other.import_from(export) == 0  # attempts carry ids: importing twice adds nothing
        assert other.attempts() == original
        assert other.states()["in-tune/long-tones-c"].best_overall == SUMMARY["overall"]
        assert other.passed_exercises() == {"in-tune/long-tones-c"}
    # a teacher reads the export without touching their own database
    assert main(["progress", "--read", str(export), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["student"] == "Ada" and report["attempts_total"] == 2 and report["exercises_passed"] == 1
    assert not default_db_path().exists()
    # and the CLI export/import of the student's own database
    assert main(["progress", "--import", str(export)]) == 0
    assert main(["progress", "--export", str(tmp_path / "again.json")]) == 0
    capsys.readouterr()
    assert len(read_export(tmp_path / "again.json")["attempts"]) == 2


def test_bad_export_files_give_clear_errors(tmp_path, capsys):
    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(ProgressError, match="not a tutor progress export"):
        read_export(junk)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "tutor-progress", "version": 1, "attempts": [{"uid": "x"}]}', encoding="utf-8")
    assert main(["progress", "--import", str(broken)]) == 2
    assert "attempt 0 is malformed" in capsys.readouterr().err


def test_corrupt_database_gives_a_clear_error_and_is_left_untouched(tmp_path, capsys):
    path = default_db_path()
    path.parent.mkdir(parents=True)
    garbage = b"this is not a database\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(ProgressError, match="damaged") as caught:
        ProgressDB(path)
    assert str(path) in str(caught.value)
    assert main(["progress"]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "left untouched" in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_database_with_damaged_pages_is_refused_and_kept(tmp_path):
    path = tmp_path / "p.sqlite"
    with ProgressDB(path) as db:
        for number in range(300):
            db.record_attempt(exercise_id=f"x/{number}", passed=bool(number % 2), summary=SUMMARY,
                              events={"missed": number})
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page: 2 * page + 400] = b"\xff" * 400  # scribble over a b-tree page (header kept)
    path.write_bytes(bytes(data))
    with pytest.raises(ProgressError, match="damaged"):
        ProgressDB(path)
    assert path.read_bytes() == bytes(data)


def test_locked_database_gives_a_clear_error(tmp_path, monkeypatch):
    import tutor.lessons.progress

    monkeypatch.setattr(tutor.lessons.progress, "LOCK_TIMEOUT_S", 0.2)
    path = tmp_path / "p.sqlite"
    with ProgressDB(path) as db:
        db.record_attempt(exercise_id="a/b", passed=True)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with ProgressDB(path) as db, pytest.raises(ProgressError, match="locked"):
            db.record_attempt(exercise_id="a/b", passed=False)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with ProgressDB(path) as db:
        assert len(db.attempts()) == 1  # the failed write left nothing behind


def test_database_from_a_newer_tutor_is_refused(tmp_path):
    path = tmp_path / "p.sqlite"
    with ProgressDB(path) as db:
        db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProgressError, match="newer tutor"):
        ProgressDB(path)


def test_migration_from_schema_version_1(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        old.execute(statement)
    old.execute("PRAGMA user_version = 1")
    rows = [
        ("in-tune/scale-c", "2026-01-05T10:00:00+00:00", "2026-01-05", 30.0, 70.0, 0),
        ("in-tune/scale-c", "2026-01-06T10:00:00+00:00", "2026-01-06", 25.0, 90.0, 1),
        ("rhythm/eighths", "2026-01-06T11:00:00+00:00", "2026-01-06", 20.0, 50.0, 0),
    ]
    old.executemany("INSERT INTO attempts (exercise_id, started_at, day, duration_s, overall, passed) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    old.commit()
    old.close()
    with ProgressDB(path) as db:
        assert db.schema_version == SCHEMA_VERSION == 2
        attempts = db.attempts()
        assert len(attempts) == 3 and len({a.uid for a in attempts}) == 3 and all(a.uid for a in attempts)
        states = db.states()
        assert states["in-tune/scale-c"].best_overall == 90.0 and states["in-tune/scale-c"].attempts == 2
        assert states["in-tune/scale-c"].first_passed_at == "2026-01-06T10:00:00+00:00"
        assert not states["rhythm/eighths"].passed
        db.record_attempt(exercise_id="rhythm/eighths", passed=True, summary={"overall": 95.0}, tempo_bpm=72)
        assert db.passed_exercises() == {"in-tune/scale-c", "rhythm/eighths"}


def test_an_attempt_survives_a_crash_right_after_it_is_recorded(tmp_path):
    path = tmp_path / "p.sqlite"
    code = (
        "import os, sys\n"
        "from tutor.lessons.progress import ProgressDB\n"
        f"db = ProgressDB({str(path)!r})\n"
        "db.record_attempt(exercise_id='in-tune/scale-c', passed=True, summary={'overall': 99})\n"
        "os._exit(9)  # no close, no cleanup: as if the app crashed\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    with ProgressDB(path) as db:
        assert [a.overall for a in db.attempts()] == [99.0]


def test_progress_command_json_on_a_fresh_install(capsys):
    assert main(["progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["attempts_total"] == 0 and report["exercises_passed"] == 0
    assert report["exercises_total"] >= 30
    assert report["next"] == "in-tune/long-tones-c"
    assert report["streak"] == {"current_days": 0, "longest_days": 0, "last_day": None}
    assert main(["progress"]) == 0
    assert "0/" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# hostile exports and damaged rows (issue 25: "Nothing lost")
# ---------------------------------------------------------------------------------------------
GOOD_ATTEMPT = {"uid": "0123abcd", "exercise_id": "in-tune/scale-c", "started_at": "2026-02-01T10:00:00+00:00",
                "day": "2026-02-01", "duration_s": 30.0, "passed": True, "overall": 90.0, "events": {"late": 1}}


def _export_text(*attempts: dict, **top) -> str:
    return json.dumps({"format": "tutor-progress", "version": 1, "student": "Ada", "attempts": list(attempts), **top})


HOSTILE = {
    "Infinity": _export_text({**GOOD_ATTEMPT, "uid": "b1"}).replace('"overall": 90.0', '"overall": Infinity'),
    "-Infinity duration": _export_text({**GOOD_ATTEMPT, "uid": "b1"}).replace('"duration_s": 30.0',
                                                                            '"duration_s": -Infinity'),
    "NaN": _export_text({**GOOD_ATTEMPT, "uid": "b1"}).replace('"overall": 90.0', '"overall": NaN'),
    "1e400": _export_text({**GOOD_ATTEMPT, "uid": "b1"}).replace('"duration_s": 30.0', '"duration_s": 1e400'),
    "huge integer": _export_text({**GOOD_ATTEMPT, "uid": "b1", "notes_total": 10**30}),
    "5000 digits": _export_text({**GOOD_ATTEMPT, "uid": "b1"}).replace('"late": 1', '"late": ' + "9" * 5000),
    "deep nesting": _export_text({**GOOD_ATTEMPT, "uid": "b1"}).replace('{"late": 1}', "[" * 100_000 + "]" * 100_000),
    "negative duration": _export_text({**GOOD_ATTEMPT, "uid": "b1", "duration_s": -3600}),
    "a week-long attempt": _export_text({**GOOD_ATTEMPT, "uid": "b1", "duration_s": 7 * 86400}),
    "score above 100": _export_text({**GOOD_ATTEMPT, "uid": "b1", "overall": 1e308}),
    "negative count": _export_text({**GOOD_ATTEMPT, "uid": "b1", "events": {"late": -5}}),
    "ANSI in exercise id": _export_text({**GOOD_ATTEMPT, "uid": "b1", "exercise_id": "x\x1b]0;pwned\x07\x1b[2J"}),
    "ANSI in student": _export_text({**GOOD_ATTEMPT, "uid": "b1"}, student="\x1b[31mEve"),
    "C1 CSI in level": _export_text({**GOOD_ATTEMPT, "uid": "b1", "level": "\x9b2J"}),
    "bidi override": _export_text({**GOOD_ATTEMPT, "uid": "b1", "recording_path": "take\u202evaw.exe"}),
    "lone surrogate": _export_text({**GOOD_ATTEMPT, "uid": "b1", "exercise_id": "\ud800"}),
    "control in event kind": _export_text({**GOOD_ATTEMPT, "uid": "b1", "events": {"\x1b[2J": 1}}),
    "long id": _export_text({**GOOD_ATTEMPT, "uid": "b1", "exercise_id": "x" * 10_000}),
    "unknown field": _export_text({**GOOD_ATTEMPT, "uid": "b1", "evil": [[[1]]]}),
    "nested events": _export_text({**GOOD_ATTEMPT, "uid": "b1", "events": {"late": [[1]]}}),
    "boolean count": _export_text({**GOOD_ATTEMPT, "uid": "b1", "notes_total": True}),
    "passed as text": _export_text({**GOOD_ATTEMPT, "uid": "b1", "passed": "yes"}),
    "year 9999": _export_text({**GOOD_ATTEMPT, "uid": "b1", "started_at": "9999-12-31T23:59:59-05:00"}),
    "bad day": _export_text({**GOOD_ATTEMPT, "uid": "b1", "day": "2026-02-30"}),
    "version true": _export_text({**GOOD_ATTEMPT, "uid": "b1"}, version=True),
    "student not text": _export_text({**GOOD_ATTEMPT, "uid": "b1"}, student={"a": 1}),
    "good then bad": _export_text({**GOOD_ATTEMPT, "uid": "b1"}, {**GOOD_ATTEMPT, "uid": "b2", "duration_s": -1}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_export_is_refused_whole_and_the_database_keeps_working(tmp_path, capsys, case):
    """Every field of an export is checked before anything is merged: the whole file is refused in one line
    (exit 2, no escape sequence printed), nothing of it is imported, and `tutor progress` still works."""
    good = tmp_path / "good.json"
    good.write_text(_export_text(GOOD_ATTEMPT), encoding="utf-8")
    assert main(["progress", "--import", str(good)]) == 0
    hostile = tmp_path / "hostile.json"
    hostile.write_text(HOSTILE[case], encoding="utf-8", errors="surrogatepass")
    capsys.readouterr()
    assert main(["progress", "--import", str(hostile)]) == 2
    assert main(["progress", "--read", str(hostile)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("tutor: error: ") for line in errors), captured.err
    assert "\x1b" not in captured.err and "\x9b" not in captured.err and "\u202e" not in captured.err
    with ProgressDB(default_db_path()) as db:
        assert [a.uid for a in db.attempts()] == ["0123abcd"]
    assert main(["progress"]) == 0
    assert "in-tune/scale-c" in capsys.readouterr().out


def test_the_exported_values_an_import_accepts(tmp_path):
    """Within the limits: what this tutor writes, naive times (UTC), 0/1 for passed, no day (from the time)."""
    path = tmp_path / "ok.json"
    path.write_text(_export_text(
        {**GOOD_ATTEMPT, "uid": "a", "passed": 1, "started_at": "2026-02-01T23:30:00-05:00", "day": None,
         "recording_path": "/takes/Zoë ‍🎻.wav", "duration_s": 86400, "overall": 0, "tempo_bpm": 240},
        {**GOOD_ATTEMPT, "uid": "b", "started_at": "2026-02-02T10:00:00", "events": None}), encoding="utf-8")
    first, second = read_export(path)["attempts"]
    assert first.started_at == "2026-02-02T04:30:00+00:00" and first.day == "2026-02-01" and first.passed
    assert first.recording_path == "/takes/Zoë ‍🎻.wav" and first.duration_s == 86400.0 and first.overall == 0.0
    assert second.started_at == "2026-02-02T10:00:00+00:00" and second.events == {}


def test_a_database_with_bad_rows_from_an_older_tutor_still_shows_progress(tmp_path, capsys):
    """Rows an older tutor let in (Infinity, huge numbers, negative durations, a day that is not a date,
    broken events, text that is not UTF-8, escape sequences) are read as unknown and printed escaped:
    `tutor progress` exits 0 and its JSON is strict JSON."""
    path = default_db_path()
    with ProgressDB(path) as db:
        db.set_student("\x1b[31mEve\x1b[0m")
        db.record_attempt(exercise_id="in-tune/scale-c", passed=True, summary=SUMMARY, duration_s=60)
        rows = [
            ("u1", "x\x1b]0;pwned\x07", "2026-01-01T10:00:00+00:00", "2026-01-01", float("inf"), float("inf"), "{}"),
            ("u2", "in-tune/scale-c", "2026-01-02T10:00:00+00:00", "2026-01-02", 1e308, 1e308, "[[["),
            ("u3", "in-tune/scale-c", "2026-01-02T11:00:00+00:00", "2026-01-02", 1e308, -5.0, '{"a": Infinity}'),
            ("u4", "in-tune/scale-c", "2026-01-03T10:00:00+00:00", "not-a-day", -100.0, None, '{"late": 1e400}'),
            ("u5", "in-tune/scale-c", "2026-01-03T11:00:00+00:00", "2026-01-03", -100.0, 50.0, "[" * 50_000),
        ]
        for uid, exercise, started, day, duration, overall, events in rows:
            db.conn.execute("INSERT INTO attempts (uid, exercise_id, started_at, day, duration_s, overall, passed, "
                            "events_json, notes_total) VALUES (?, ?, ?, ?, ?, ?, 1, ?, 9223372036854775807)",
                            (uid, exercise, started, day, duration, overall, events))
        db.conn.execute("INSERT INTO attempts (uid, exercise_id, started_at, day, passed, level) "
                        "VALUES ('u6', CAST(x'ff1b5b324a' AS TEXT), x'00ff', 5, x'01', 3.5)")
        db.conn.execute("UPDATE exercise_state SET best_overall = 1e999, best_tempo_bpm = -1e999")
        db.conn.execute("INSERT INTO exercise_state (exercise_id, attempts, best_overall) VALUES (x'1b5b324a', 'lots', 'x')")
    capsys.readouterr()
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b" in out and "Eve" in out
    assert main(["progress", "--json"]) == 0

    def strict(name):
        raise AssertionError(f"{name} in the JSON")

    report = json.loads(capsys.readouterr().out, parse_constant=strict)
    assert report["attempts_total"] == 7 and report["total_practice_s"] == 60.0
    assert {a["uid"]: a["duration_s"] for a in report["recent_attempts"]}["u2"] == 0.0
    with ProgressDB(path) as db:
        assert db.states()["in-tune/scale-c"].best_overall is None
        assert db.streak(today=dt.date(2026, 1, 3)).longest_days == 3


def test_an_empty_database_file_is_said_not_hidden(capsys):
    """A 0-byte progress.sqlite: one warning line naming the file, then a new database in it; one with a
    write-ahead log beside it (the attempts may be in that log) is refused and both files kept."""
    path = default_db_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert main(["progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning" in err[0] and str(path) in err[0] and "empty" in err[0]
    assert path.stat().st_size > 0
    assert main(["progress"]) == 0 and capsys.readouterr().err == ""  # said once: the file is a database now
    path.unlink()
    path.write_bytes(b"")
    wal = path.with_name(path.name + "-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 4000)
    assert main(["progress"]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and wal.name in err and "left untouched" in err
    assert path.stat().st_size == 0 and wal.stat().st_size == 4004
