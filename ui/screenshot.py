"""``tutor app FILE --mode M --screenshot OUT.png``: the window as a user sees it, saved as a PNG.

The analysis a user would see runs first, and the command waits for it: the critique in compose
mode (in this thread), the review of the piece's demo take (``<stem>_take.mid`` beside it) in practice
mode (assessed in the panel's worker, as after a take: the UI thread never assesses), the first
exercise's card in lessons mode. Settings come from a throw-away file, so a
screenshot never depends on (or changes) the user's own settings.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tutor.errors import OutputFileError


def take_screenshot(file: str | None, *, mode: str, out: str | Path, width: int = 1500, height: int = 900) -> Path:
    os.environ.setdefault("TUTOR_NO_DIALOGS", "1")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from tutor.ui.app import MainWindow, demo_piece, demo_take_for, make_app

    out = Path(out)
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise OutputFileError("cannot write: its folder does not exist", path=out)
    app = make_app()
    with tempfile.TemporaryDirectory() as folder:
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.IniFormat)
        window = MainWindow(settings=settings, autosave_folder=Path(folder))
        window.resize(width, height)
        window.show()
        source = file or str(demo_piece())
        window.open_file(source, wait=True)
        window.set_mode(mode)
        _settle(app)
        window.score_view.zoom_to_width()
        if mode == "practice":
            _practice_review(window, demo_take_for(window.score_path))
        elif mode == "compose":
            window.compose_panel.critique_now()
        else:
            window.preview_wait = True
            window.lessons_panel.select_first()
            window.score_view.zoom_to_width()
        _settle(app)
        image = window.grab()
        with tempfile.NamedTemporaryFile(suffix=".png", dir=out.parent if str(out.parent) else ".", delete=False) as tmp:
            tmp_path = Path(tmp.name)
        if not image.save(str(tmp_path), "PNG"):
            tmp_path.unlink(missing_ok=True)
            raise OutputFileError("cannot write the screenshot", path=out)
        os.replace(tmp_path, out)
        window.undo_stack.setClean()
        window.close()
        QApplication.processEvents()
    return out


def _settle(app, seconds: float = 0.3) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def _practice_review(window, take: Path | None) -> None:
    from PySide6.QtWidgets import QApplication

    panel = window.practice_panel
    if take is None:
        return
    from tutor.listen.takes import load_performance

    performance = load_performance(take)
    index = panel.input_box.findData("midi-file")
    panel.input_box.setCurrentIndex(index)
    panel.take_path = take
    if panel.pitch_plot is not None:
        panel._played_points = ([n.onset_s for n in performance.notes], [n.pitch for n in performance.notes])
        panel.played_curve.setData(*panel._played_points)
    panel.review(performance=performance, path=take)  # assessed in the worker; the review shows when it is done
    job = getattr(panel, "_review_job", None)
    while job is not None and not job.finished:
        QApplication.processEvents()
        time.sleep(0.01)
