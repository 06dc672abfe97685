"""A student's progress: every attempt, best scores, passes, streaks and practice time, in SQLite.

The database lives in the user data folder (``$TUTOR_DATA_DIR``, else platformdirs' user data
dir for "tutor") as ``progress.sqlite``. It runs in WAL mode, so a crash mid-write loses at most
the attempt being written; every write is one transaction. Its schema is versioned with
``PRAGMA user_version`` and older databases are migrated in place, in a transaction, on open.

A database that is corrupt, locked by another program, or written by a newer tutor raises
``ProgressError`` naming the file; it is never replaced or "repaired" behind the user's back.

A student's whole history exports to one JSON file (``export_progress``) that a teacher can read
(``read_export``) or that can be merged into another database (``import_progress``; attempts
carry a unique id, so importing twice adds nothing).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sqlite3
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
        try:
            self.conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as error:
            raise ProgressError(f"cannot open the progress database ({error})", path=self.path) from None
        try:
            self.conn.row_factory = sqlite3.Row
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
        if row:
            return row[0]
        try:
            return getpass.getuser()
        except Exception:
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
        return {row["exercise_id"]: ExerciseState(**{k: row[k] for k in row.keys()}) for row in rows}

    def passed_exercises(self) -> set[str]:
        rows = self._execute("SELECT exercise_id FROM exercise_state WHERE first_passed_at IS NOT NULL").fetchall()
        return {row[0] for row in rows}

    def practice_by_day(self) -> dict[str, float]:
        """Seconds of practice (summed attempt durations) per local date."""
        rows = self._execute("SELECT day, sum(duration_s) FROM attempts GROUP BY day ORDER BY day").fetchall()
        return {row[0]: float(row[1] or 0.0) for row in rows}

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
    """A student's export, checked: {"student", "exported_at", "attempts": [Attempt, ...]}."""
    path = check_readable(path, max_bytes=MAX_EXPORT_BYTES)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProgressError(f"is not a tutor progress export (not JSON: {error})", path=path) from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ProgressError(f"is not a tutor progress export (no \"format\": \"{EXPORT_FORMAT}\")", path=path)
    if not isinstance(data.get("version"), int) or data["version"] > EXPORT_VERSION:
        raise ProgressError(f"export version {data.get('version')!r} is newer than this tutor reads", path=path)
    raw = data.get("attempts")
    if not isinstance(raw, list):
        raise ProgressError("has no list of attempts", path=path)
    attempts = []
    for number, item in enumerate(raw):
        try:
            attempts.append(_attempt_from_json(item))
        except (KeyError, TypeError, ValueError) as error:
            raise ProgressError(f"attempt {number} is malformed ({type(error).__name__}: {error})", path=path) from None
    return {"student": str(data.get("student", "")), "exported_at": str(data.get("exported_at", "")),
            "attempts": attempts}


def _attempt_from_json(item: Mapping[str, Any]) -> Attempt:
    if not isinstance(item, Mapping):
        raise TypeError("not an object")
    started = str(item["started_at"])
    dt.datetime.fromisoformat(started)
    day = str(item.get("day") or started[:10])
    dt.date.fromisoformat(day)
    events = item.get("events") or {}
    if not isinstance(events, Mapping):
        raise TypeError("events must be an object")
    return Attempt(
        uid=str(item["uid"]),
        exercise_id=str(item["exercise_id"]),
        started_at=started,
        day=day,
        duration_s=float(item.get("duration_s") or 0.0),
        passed=bool(item["passed"]),
        overall=_number(item.get("overall")),
        pitch=_number(item.get("pitch")),
        rhythm=_number(item.get("rhythm")),
        intonation=_number(item.get("intonation")),
        notes_total=_integer(item.get("notes_total")),
        notes_correct=_integer(item.get("notes_correct")),
        events={str(k): int(v) for k, v in events.items()},
        recording_path=item.get("recording_path"),
        tempo_bpm=_number(item.get("tempo_bpm")),
        level=item.get("level"),
    )


def _attempt_from_row(row: sqlite3.Row) -> Attempt:
    try:
        events = json.loads(row["events_json"] or "{}")
    except json.JSONDecodeError:
        events = {}
    return Attempt(
        uid=row["uid"], exercise_id=row["exercise_id"], started_at=row["started_at"], day=row["day"],
        duration_s=row["duration_s"], passed=bool(row["passed"]), overall=row["overall"], pitch=row["pitch"],
        rhythm=row["rhythm"], intonation=row["intonation"], notes_total=row["notes_total"],
        notes_correct=row["notes_correct"], events=events, recording_path=row["recording_path"],
        tempo_bpm=row["tempo_bpm"], level=row["level"],
    )


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
