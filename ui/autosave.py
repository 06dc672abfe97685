"""Autosave of composition edits, and recovery after a crash.

Every edit schedules a save a couple of seconds later (in a worker) of the edited piece as
MusicXML into ``<user data dir>/autosave/``, with a JSON sidecar saying which file it came from
and when. A clean save or a clean exit removes it; what is still there at the next start is
offered for recovery.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from tutor.safety import atomic_write_text
from tutor.score.music import Score
from tutor.ui.workers import run_job

log = logging.getLogger(__name__)
DELAY_MS = 2000


def autosave_dir() -> Path:
    from tutor.lessons.progress import default_data_dir

    folder = default_data_dir() / "autosave"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class Recoverable:
    path: Path  # the autosaved MusicXML
    original: str | None  # the file it was edited from
    saved_at: str
    edits: int


def recoverable(folder: Path | None = None) -> list[Recoverable]:
    folder = folder or autosave_dir()
    found = []
    for sidecar in sorted(folder.glob("*.musicxml.json")):
        score_path = sidecar.with_suffix("")
        if not score_path.exists():
            continue
        try:
            info = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        found.append(Recoverable(score_path, info.get("original"), info.get("saved_at", ""), int(info.get("edits", 0))))
    return found


def discard(item: Recoverable) -> None:
    for path in (item.path, Path(str(item.path) + ".json")):
        path.unlink(missing_ok=True)


def _write(task, score: Score, path: Path, info: dict) -> Path:
    from tutor.score.io import save_score

    save_score(score, path)
    atomic_write_text(Path(str(path) + ".json"), json.dumps(info, indent=2))
    return path


class Autosaver(QObject):
    """Saves the window's edited score a little after each edit."""

    def __init__(self, parent=None, *, folder: Path | None = None, delay_ms: int = DELAY_MS) -> None:
        super().__init__(parent)
        self.folder = folder
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self.save_now)
        self.score: Score | None = None
        self.original: str | None = None
        self.edits = 0
        self.path: Path | None = None
        self.last_job = None

    def _path(self) -> Path:
        if self.path is None:
            stem = Path(self.original).stem if self.original else "untitled"
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            self.path = (self.folder or autosave_dir()) / f"{stem}-{stamp}.musicxml"
        return self.path

    def edited(self, score: Score, *, original: str | None, edits: int) -> None:
        self.score, self.original, self.edits = score, original, edits
        self.timer.start()

    def save_now(self) -> None:
        if self.score is None:
            return
        info = {"original": self.original, "saved_at": dt.datetime.now().isoformat(timespec="seconds"),
                "edits": self.edits}
        self.last_job = run_job(_write, self.score, self._path(), info,
                                on_error=lambda e: log.warning("autosave failed: %s", e), name="autosave")

    def clear(self) -> None:
        """The edits were saved (or thrown away on purpose): forget the autosave."""
        self.timer.stop()
        if self.path is not None:
            discard(Recoverable(self.path, self.original, "", self.edits))
        self.path = None
        self.score = None
        self.edits = 0
