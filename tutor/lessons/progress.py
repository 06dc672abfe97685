"""A student's progress: every attempt, best scores, passes, streaks and practice time, in SQLite.

The database is ``progress.sqlite`` in the user data folder (``$TUTOR_DATA_DIR``, else platformdirs' for
"tutor"), in WAL mode with one transaction per write; its schema version (``PRAGMA user_version``) is
migrated in place on open. A database that is corrupt, locked or written by a newer tutor raises
``ProgressError`` naming the file; it is never replaced behind the user's back. ``ProgressDB.export_to``
writes a student's history as JSON that ``read_export`` reads and ``ProgressDB.import_from`` merges
(attempts carry a unique id, so importing twice adds nothing).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.errors import TutorError
from tutor.safety import atomic_write_text, check_readable

DB_NAME = "progress.sqlite"
EXPORT_FORMAT = "tutor-progress"
EXPORT_VERSION = 1
LOCK_TIMEOUT_S = 3.0
MAX_EXPORT_BYTES = 200 * 1024 * 1024
# what an export may hold (anything else is refused before the database is touched)
MAX_ATTEMPTS = 1_000_000
MAX_DURATION_S = 24 * 3600.0  # one attempt
MAX_SCORE = 100.0
MAX_TEMPO_BPM = 1000.0
MAX_COUNT = 1_000_000  # notes in a piece, events of one kind
MAX_EVENT_KINDS = 64
TEXT_LIMITS = {"uid": 64, "exercise_id": 200, "started_at": 40, "day": 10, "recording_path": 4096, "level": 40,
               "student": 200, "exported_at": 40, "event": 64, "format": 40}
YEARS = (1970, 2200)  # an attempt's date outside these is not a real one
# characters that make a terminal do something instead of showing text: C0/C1 controls (escape sequences),
# bidirectional overrides (text that reads differently from what it is), line separators, lone surrogates
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


class ProgressError(TutorError):
    """The progress database or an export file cannot be used."""


# ---------------------------------------------------------------------------------------------
# schema and migrations: MIGRATIONS[n] turns version n into version n + 1
# ---------------------------------------------------------------------------------------------
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: attempts and a key/value table
    (
        """CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            exercise_id TEXT NOT NULL,
            started_at TEXT NOT NULL,      -- ISO 8601, UTC
            day TEXT NOT NULL,             -- the student's local date, YYYY-MM-DD
            duration_s REAL NOT NULL DEFAULT 0,
            overall REAL, pitch REAL, rhythm REAL, intonation REAL,
            notes_total INTEGER, notes_correct INTEGER,
            passed INTEGER NOT NULL DEFAULT 0,
            events_json TEXT NOT NULL DEFAULT '{}',
            recording_path TEXT
        )""",
        "CREATE INDEX attempts_by_exercise ON attempts (exercise_id)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # 1 -> 2: unique attempt ids (for export/import), tempo and level of each attempt, and the
    # per-exercise state (best score, first pass) kept up to date instead of recomputed
    (
        "ALTER TABLE attempts ADD COLUMN uid TEXT",
        "UPDATE attempts SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "CREATE UNIQUE INDEX attempts_by_uid ON attempts (uid)",
        "ALTER TABLE attempts ADD COLUMN tempo_bpm REAL",
        "ALTER TABLE attempts ADD COLUMN level TEXT",
        """CREATE TABLE exercise_state (
            exercise_id TEXT PRIMARY KEY,
            attempts INTEGER NOT NULL DEFAULT 0,
            best_overall REAL,
            best_tempo_bpm REAL,           -- fastest tempo of a passing attempt
            first_passed_at TEXT,
            last_attempt_at TEXT
        )""",
        """INSERT INTO exercise_state (exercise_id, attempts, best_overall, first_passed_at, last_attempt_at)
           SELECT exercise_id, count(*), max(overall),
                  min(CASE WHEN passed THEN started_at END), max(started_at)
           FROM attempts GROUP BY exercise_id""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    uid: str
    exercise_id: str
    started_at: str  # ISO 8601 UTC
    day: str  # local date YYYY-MM-DD
    duration_s: float
    passed: bool
    overall: float | None = None
    pitch: float | None = None
    rhythm: float | None = None
    intonation: float | None = None
    notes_total: int | None = None
    notes_correct: int | None = None
    events: Mapping[str, int] | None = None  # event type -> count
    recording_path: str | None = None
    tempo_bpm: float | None = None
    level: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["events"] = dict(self.events or {})
        return data


@dataclass(frozen=True)
class ExerciseState:
    exercise_id: str
    attempts: int
    best_overall: float | None
    best_tempo_bpm: float | None
    first_passed_at: str | None
    last_attempt_at: str | None

    @property
    def passed(self) -> bool:
        return self.first_passed_at is not None


@dataclass(frozen=True)
class Streak:
    current_days: int  # consecutive days with practice, ending today (or yesterday: still alive)
    longest_days: int
    last_day: str | None


def default_data_dir() -> Path:
    override = os.environ.get("TUTOR_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tutor", appauthor=False))


def default_db_path() -> Path:
    return default_data_dir() / DB_NAME


# ---------------------------------------------------------------------------------------------
# the database
# ---------------------------------------------------------------------------------------------
class ProgressDB:
    """One student's progress database. Use as a context manager, or call ``close()``."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if not self.path.exists():
            if not create:
                raise ProgressError("no progress database here yet", path=self.path)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ProgressError(f"cannot create its folder ({error.strerror or error})", path=self.path) from None
        elif self.path.is_dir():
            raise ProgressError("is a folder, not a progress database", path=self.path)
        elif self.path.stat().st_size > 0:
            _check_header(self.path)
        else:
            _check_empty(self.path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as error:
            raise ProgressError(f"cannot open the progress database ({error})", path=self.path) from None
        try:
            self.conn.row_factory = sqlite3.Row
            self.conn.text_factory = _text_from_sqlite  # text that is not UTF-8 (an older or foreign writer) is shown, not fatal
            self._check_integrity()
            self._execute("PRAGMA journal_mode=WAL")
            self._execute("PRAGMA synchronous=FULL")  # an attempt survives a power cut, not only a crash
            self._execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    # --- plumbing --------------------------------------------------------------------------
    def __enter__(self) -> ProgressDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _error(self, error: sqlite3.Error) -> ProgressError:
        text = str(error)
        if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return ProgressError(
                "the progress database is locked by another program (is tutor open elsewhere?); try again", path=self.path
            )
        if isinstance(error, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            return ProgressError(_corrupt_message(text), path=self.path)
        return ProgressError(f"progress database error ({text})", path=self.path)

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, tuple(params))
        except sqlite3.Error as error:
            raise self._error(error) from None

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def _check_integrity(self) -> None:
        try:
            rows = self.conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.Error as error:
            raise self._error(error) from None
        problems = [row[0] for row in rows if row[0] != "ok"]
        if problems:
            raise ProgressError(_corrupt_message("; ".join(problems[:3])), path=self.path)

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise ProgressError(
                f"was written by a newer tutor (schema version {version}; this one reads up to {SCHEMA_VERSION}); "
                "update tutor", path=self.path,
            )
        if version == SCHEMA_VERSION:
            return
        with self._transaction():
            version = self.schema_version  # another process may have migrated meanwhile
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    self._execute(statement)
                self._execute(f"PRAGMA user_version = {step + 1}")
            self._execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (_now_utc(),))

    @property
    def schema_version(self) -> int:
        return int(self._execute("PRAGMA user_version").fetchone()[0])

    # --- writing ---------------------------------------------------------------------------
    def record_attempt(
        self,
        *,
        exercise_id: str,
        passed: bool,
        summary: Mapping[str, Any] | None = None,
        events: Mapping[str, int] | None = None,
        duration_s: float = 0.0,
        recording_path: str | Path | None = None,
        tempo_bpm: float | None = None,
        level: str | None = None,
        started_at: dt.datetime | None = None,
    ) -> Attempt:
        """Store one attempt and update the exercise's best score and pass state (one transaction)."""
        when = started_at or dt.datetime.now(dt.UTC).astimezone()
        if when.tzinfo is None:
            when = when.astimezone()
        summary = dict(summary or {})
        attempt = Attempt(
            uid=uuid.uuid4().hex,
            exercise_id=exercise_id,
            started_at=when.astimezone(dt.UTC).isoformat(timespec="seconds"),
            day=when.date().isoformat(),
            duration_s=float(duration_s),
            passed=bool(passed),
            overall=_number(summary.get("overall")),
            pitch=_number(summary.get("pitch")),
            rhythm=_number(summary.get("rhythm")),
            intonation=_number(summary.get("intonation")),
            notes_total=_integer(summary.get("notes_total")),
            notes_correct=_integer(summary.get("notes_correct")),
            events=dict(events or {}),
            recording_path=str(recording_path) if recording_path is not None else None,
            tempo_bpm=_number(tempo_bpm),
            level=level,
        )
        with self._transaction():
            self._insert(attempt)
        return attempt

    def _insert(self, attempt: Attempt) -> bool:
        cursor = self._execute(
            """INSERT OR IGNORE INTO attempts (uid, exercise_id, started_at, day, duration_s, overall, pitch, rhythm,
               intonation, notes_total, notes_correct, passed, events_json, recording_path, tempo_bpm, level)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (attempt.uid, attempt.exercise_id, attempt.started_at, attempt.day, attempt.duration_s, attempt.overall,
             attempt.pitch, attempt.rhythm, attempt.intonation, attempt.notes_total, attempt.notes_correct,
             int(attempt.passed), json.dumps(dict(attempt.events or {}), sort_keys=True), attempt.recording_path,
             attempt.tempo_bpm, attempt.level),
        )
        if cursor.rowcount == 0:
            return False
        self._execute(
            """INSERT INTO exercise_state (exercise_id, attempts, best_overall, best_tempo_bpm, first_passed_at,
                                          last_attempt_at)
               VALUES (?, 1, ?, ?, ?, ?)
               ON CONFLICT (exercise_id) DO UPDATE SET
                 attempts = attempts + 1,
                 best_overall = CASE WHEN best_overall IS NULL OR excluded.best_overall > best_overall
                                     THEN excluded.best_overall ELSE best_overall END,
                 best_tempo_bpm = CASE WHEN best_tempo_bpm IS NULL OR excluded.best_tempo_bpm > best_tempo_bpm
                                       THEN excluded.best_tempo_bpm ELSE best_tempo_bpm END,
                 first_passed_at = CASE WHEN first_passed_at IS NULL OR excluded.first_passed_at < first_passed_at
                                        THEN excluded.first_passed_at ELSE first_passed_at END,
                 last_attempt_at = max(coalesce(last_attempt_at, ''), excluded.last_attempt_at)""",
            (attempt.exercise_id, attempt.overall, attempt.tempo_bpm if attempt.passed else None,
             attempt.started_at if attempt.passed else None, attempt.started_at),
        )
        return True

    def set_student(self, name: str) -> None:
        with self._transaction():
            self._execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('student', ?)", (name,))

    # --- reading ---------------------------------------------------------------------------
    @property
    def student(self) -> str:
        row = self._execute("SELECT value FROM meta WHERE key = 'student'").fetchone()
        if row and row[0] is not None:
            return _stored_text(row[0])
        try:
            return getpass.getuser()
        except (OSError, KeyError, ImportError):  # no login name in the environment nor the password database
            return "student"

    def attempts(self, exercise_id: str | None = None) -> list[Attempt]:
        sql = "SELECT * FROM attempts"
        params: tuple = ()
        if exercise_id is not None:
            sql += " WHERE exercise_id = ?"
            params = (exercise_id,)
        rows = self._execute(sql + " ORDER BY started_at, id", params).fetchall()
        return [_attempt_from_row(row) for row in rows]

    def states(self) -> dict[str, ExerciseState]:
        rows = self._execute("SELECT * FROM exercise_state ORDER BY exercise_id").fetchall()
        states = (_state_from_row(row) for row in rows)
        return {state.exercise_id: state for state in states}

    def passed_exercises(self) -> set[str]:
        rows = self._execute("SELECT exercise_id FROM exercise_state WHERE first_passed_at IS NOT NULL").fetchall()
        return {_stored_text(row[0]) for row in rows}

    def practice_by_day(self) -> dict[str, float]:
        """Seconds of practice (summed attempt durations) per local date. A row an older tutor let in
        with a duration that is not a number from 0 to ``MAX_DURATION_S``, or a day that is not a date,
        counts for nothing."""
        rows = self._execute(
            "SELECT day, total(CASE WHEN typeof(duration_s) IN ('integer', 'real') AND duration_s BETWEEN 0 AND ? "
            "THEN duration_s END) FROM attempts GROUP BY day ORDER BY day", (MAX_DURATION_S,),
        ).fetchall()
        return {row[0]: float(row[1]) for row in rows if _is_day(row[0])}

    def streak(self, *, today: dt.date | None = None) -> Streak:
        days = sorted({dt.date.fromisoformat(d) for d in self.practice_by_day()})
        return streak_of(days, today=today or dt.date.today())

    # --- export / import -------------------------------------------------------------------
    def export_data(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "student": self.student,
            "exported_at": _now_utc(),
            "attempts": [a.to_json() for a in self.attempts()],
        }

    def export_to(self, path: str | Path) -> Path:
        """Write the whole history as one JSON file (atomically)."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.export_data(), indent=1, ensure_ascii=False) + "\n")
        return path

    def import_from(self, path: str | Path) -> int:
        """Merge an export into this database (one transaction); returns the number of new attempts."""
        data = read_export(path)
        added = 0
        with self._transaction():
            for attempt in data["attempts"]:
                added += self._insert(attempt)
        return added


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: ProgressDB) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db._execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.db.conn.execute("COMMIT")
            except sqlite3.Error as error:
                self.db.conn.execute("ROLLBACK")
                raise self.db._error(error) from None
        else:
            try:
                self.db.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass


def _check_header(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not an SQLite database at all."""
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as error:
        raise ProgressError(f"cannot be read ({error.strerror or error})", path=path) from None
    if header != b"SQLite format 3\x00":
        raise ProgressError(_corrupt_message("it does not start with the SQLite header"), path=path)


def _check_empty(path: Path) -> None:
    """A 0-byte database file: SQLite would silently start a new database in it (and throw away a
    write-ahead log beside it). With a non-empty ``-wal`` beside it, that log may hold the attempts:
    refuse and leave both alone; else say, on one line, that a new database starts in this file."""
    wal = path.with_name(path.name + "-wal")
    try:
        wal_size = wal.stat().st_size
    except OSError:
        wal_size = 0
    if wal_size > 0:
        raise ProgressError(
            f"the progress database is empty (0 bytes) but its write-ahead log {wal.name} holds {wal_size} bytes; "
            "both were left untouched: restore a backup or an export, or move them away to start a new one",
            path=path,
        )
    print(f"tutor: warning: {path}: the progress database file was empty (0 bytes, no attempts in it); "
          "starting a new progress database in it", file=sys.stderr)


def _corrupt_message(detail: str) -> str:
    return (
        f"the progress database is damaged ({detail}); it was left untouched: restore a backup or an export, "
        "or move the file away to start a new one"
    )


def streak_of(days: Iterable[dt.date], *, today: dt.date) -> Streak:
    ordered = sorted(set(days))
    if not ordered:
        return Streak(0, 0, None)
    longest = run = 1
    for previous, current in zip(ordered, ordered[1:], strict=False):
        run = run + 1 if (current - previous).days == 1 else 1
        longest = max(longest, run)
    current = 0
    if (today - ordered[-1]).days <= 1:
        current = 1
        for previous, later in zip(reversed(ordered[:-1]), reversed(ordered[1:]), strict=False):
            if (later - previous).days != 1:
                break
            current += 1
    return Streak(current_days=current, longest_days=longest, last_day=ordered[-1].isoformat())


def read_export(path: str | Path) -> dict[str, Any]:
    """A student's export, checked in full: {"student", "exported_at", "attempts": [Attempt, ...]}.

    Every field is checked (type, range, length) before anything is merged, and the whole file is refused
    with ``ProgressError`` at the first problem: NaN or Infinity, numbers out of range, text with control
    characters (escape sequences) or too long, unknown fields, deeper nesting than an export has."""
    path = check_readable(path, max_bytes=MAX_EXPORT_BYTES)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ProgressError("is not a tutor progress export (not UTF-8 text)", path=path) from None
    except json.JSONDecodeError as error:
        raise ProgressError(f"is not a tutor progress export (not JSON: {error})", path=path) from None
    except RecursionError:
        raise ProgressError("is not a tutor progress export (nested far deeper than an export is)", path=path) from None
    except _NotANumber as error:
        raise ProgressError(f"is not a tutor progress export ({error})", path=path) from None
    except ValueError:  # an integer of thousands of digits (int's max_str_digits)
        raise ProgressError("is not a tutor progress export (it holds a number thousands of digits long)",
                            path=path) from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ProgressError(f"is not a tutor progress export (no \"format\": \"{EXPORT_FORMAT}\")", path=path)
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= EXPORT_VERSION:
        shown = version if isinstance(version, int) and abs(version) < 10**6 else ascii(version)[:20]
        raise ProgressError(f"export version {shown} is not one this tutor reads (1 to {EXPORT_VERSION}; "
                            "a newer tutor may read it)", path=path)
    try:
        _no_unknown(data, {"format", "version", "student", "exported_at", "attempts"})
        student = _text(data.get("student"), "student", required=False) or ""
        exported_at = _text(data.get("exported_at"), "exported_at", required=False) or ""
    except _Invalid as error:
        raise ProgressError(f"is not a valid tutor progress export ({error})", path=path) from None
    raw = data.get("attempts")
    if not isinstance(raw, list):
        raise ProgressError("has no list of attempts", path=path)
    if len(raw) > MAX_ATTEMPTS:
        raise ProgressError(f"holds {len(raw)} attempts, more than the {MAX_ATTEMPTS} an export may", path=path)
    attempts = []
    for number, item in enumerate(raw):
        try:
            attempts.append(_attempt_from_json(item))
        except _Invalid as error:
            raise ProgressError(f"attempt {number} is malformed ({error})", path=path) from None
    return {"student": student, "exported_at": exported_at, "attempts": attempts}


class _Invalid(ValueError):
    """One field of an export is not what it must be (the message names the field, never quotes raw text)."""


class _NotANumber(ValueError):
    """NaN, Infinity or -Infinity in JSON (Python's json reads them; no export holds them)."""


def _refuse_constant(name: str) -> None:
    raise _NotANumber(f"{name} is not a number an export may hold")


def _no_unknown(item: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(item) - known)
    if unknown:
        raise _Invalid(f"unknown field {ascii(unknown[0])[:60]}")


def _text(value: Any, field: str, *, required: bool = True, limit: int | None = None) -> str | None:
    """A string field: at most its length limit, no control characters (``UNSAFE_TEXT``)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _Invalid(f"{field}: must be {'a non-empty' if required else 'a'} string")
    limit = limit or TEXT_LIMITS[field]
    if len(value) > limit:
        raise _Invalid(f"{field}: longer than {limit} characters")
    bad = UNSAFE_TEXT.search(value)
    if bad:
        raise _Invalid(f"{field}: holds the control character {ascii(bad.group())}")
    return value


def _finite(value: Any, field: str, low: float, high: float, *, integer: bool = False) -> Any:
    """A number field (None stays None): finite, from ``low`` to ``high``; an int when ``integer``."""
    if value is None:
        return None
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _Invalid(f"{field}: must be {'an integer' if integer else 'a number'}")
    if not low <= value <= high:  # also false for NaN and for 1e400 (read as inf); no float() of a huge int
        raise _Invalid(f"{field}: must be from {int(low) if low == int(low) else low} to {int(high)}")
    return value if integer else float(value)


def _moment(value: Any, field: str) -> dt.datetime:
    text = _text(value, field)
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # stored times are UTC
        moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise _Invalid(f"{field}: must be an ISO 8601 date and time") from None
    if not YEARS[0] <= moment.year < YEARS[1]:
        raise _Invalid(f"{field}: must be a date from {YEARS[0]} to {YEARS[1] - 1}")
    return moment


def _attempt_from_json(item: Any) -> Attempt:
    if not isinstance(item, dict):
        raise _Invalid("not an object")
    _no_unknown(item, set(Attempt.__dataclass_fields__))
    for field in ("uid", "exercise_id", "started_at", "passed"):
        if field not in item:
            raise _Invalid(f"{field}: missing")
    uid = _text(item["uid"], "uid")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", uid):
        raise _Invalid("uid: may hold only letters, digits and _ . : -")
    started = _moment(item["started_at"], "started_at")
    day = _text(item.get("day"), "day", required=False) or started.date().isoformat()
    if not _is_day(day) or not YEARS[0] <= int(day[:4]) < YEARS[1]:
        raise _Invalid("day: must be a date written YYYY-MM-DD")
    passed = item["passed"]
    if not isinstance(passed, bool) and passed not in (0, 1):  # 0 and 1 (ints) are what older exports hold
        raise _Invalid("passed: must be true or false")
    events = item.get("events")
    if events is None:
        events = {}
    if not isinstance(events, dict):
        raise _Invalid("events: must be an object")
    if len(events) > MAX_EVENT_KINDS:
        raise _Invalid(f"events: more than {MAX_EVENT_KINDS} kinds")
    counts = {_text(kind, "event"): _finite(count, "events", 0, MAX_COUNT, integer=True) for kind, count in events.items()}
    if None in counts.values():
        raise _Invalid("events: each count must be an integer")
    return Attempt(
        uid=uid,
        exercise_id=_text(item["exercise_id"], "exercise_id"),
        started_at=started.astimezone(dt.UTC).isoformat(timespec="seconds"),
        day=day,
        duration_s=_finite(item.get("duration_s"), "duration_s", 0.0, MAX_DURATION_S) or 0.0,
        passed=bool(passed),
        overall=_finite(item.get("overall"), "overall", 0.0, MAX_SCORE),
        pitch=_finite(item.get("pitch"), "pitch", 0.0, MAX_SCORE),
        rhythm=_finite(item.get("rhythm"), "rhythm", 0.0, MAX_SCORE),
        intonation=_finite(item.get("intonation"), "intonation", 0.0, MAX_SCORE),
        notes_total=_finite(item.get("notes_total"), "notes_total", 0, MAX_COUNT, integer=True),
        notes_correct=_finite(item.get("notes_correct"), "notes_correct", 0, MAX_COUNT, integer=True),
        events=counts,
        recording_path=_text(item.get("recording_path"), "recording_path", required=False),
        tempo_bpm=_finite(item.get("tempo_bpm"), "tempo_bpm", 0.0, MAX_TEMPO_BPM),
        level=_text(item.get("level"), "level", required=False),
    )


# --- reading rows back: whatever an older tutor (or another program) let into the database, a value
# that is not what the column means is read as unknown (None, 0, {}), so that showing progress never fails
def _attempt_from_row(row: sqlite3.Row) -> Attempt:
    events: dict[str, int] = {}
    try:
        stored = json.loads(_stored_text(row["events_json"]) or "{}", parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # not JSON (JSONDecodeError), NaN/Infinity, too deep
        stored = {}
    if isinstance(stored, dict):
        events = {key: value for key, value in stored.items()
                  if _stored_number(value, 0, MAX_COUNT, integer=True) is not None}
    return Attempt(
        uid=_stored_text(row["uid"]) or "", exercise_id=_stored_text(row["exercise_id"]) or "",
        started_at=_stored_text(row["started_at"]) or "", day=_stored_text(row["day"]) or "",
        duration_s=_stored_number(row["duration_s"], 0.0, MAX_DURATION_S) or 0.0,
        passed=_stored_number(row["passed"], 0, 1, integer=True) == 1,
        overall=_stored_number(row["overall"], 0.0, MAX_SCORE), pitch=_stored_number(row["pitch"], 0.0, MAX_SCORE),
        rhythm=_stored_number(row["rhythm"], 0.0, MAX_SCORE),
        intonation=_stored_number(row["intonation"], 0.0, MAX_SCORE),
        notes_total=_stored_number(row["notes_total"], 0, MAX_COUNT, integer=True),
        notes_correct=_stored_number(row["notes_correct"], 0, MAX_COUNT, integer=True),
        events=events, recording_path=_stored_text(row["recording_path"]),
        tempo_bpm=_stored_number(row["tempo_bpm"], 0.0, MAX_TEMPO_BPM), level=_stored_text(row["level"]),
    )


def _state_from_row(row: sqlite3.Row) -> ExerciseState:
    return ExerciseState(
        exercise_id=_stored_text(row["exercise_id"]) or "",
        attempts=_stored_number(row["attempts"], 0, sys.maxsize, integer=True) or 0,
        best_overall=_stored_number(row["best_overall"], 0.0, MAX_SCORE),
        best_tempo_bpm=_stored_number(row["best_tempo_bpm"], 0.0, MAX_TEMPO_BPM),
        first_passed_at=_stored_text(row["first_passed_at"]), last_attempt_at=_stored_text(row["last_attempt_at"]),
    )


def _text_from_sqlite(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _stored_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):  # a BLOB
        return value.decode("utf-8", "replace")
    return str(value)


def _stored_number(value: Any, low: float, high: float, *, integer: bool = False) -> Any:
    """``value`` if it is a finite number from ``low`` to ``high`` (an int when ``integer``), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if integer and isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if not low <= value <= high:  # false for NaN too
        return None
    return value if integer else float(value)


def _is_day(value: Any) -> bool:
    """Whether ``value`` is a date written YYYY-MM-DD."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        return dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def escape_text(value: Any) -> str:
    """``value`` as text that is safe to print on a terminal: the characters of ``UNSAFE_TEXT`` (escape
    sequences, bidirectional overrides...) are written as ``\\x1b``, ``\\u202e``."""
    text = _stored_text(value) if value is not None else ""
    return UNSAFE_TEXT.sub(lambda match: ascii(match.group())[1:-1], text)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    return int(value)


def _now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
