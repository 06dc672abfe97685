"""The app's window for the composition helpers' pytest-qt tests (harmonise, generate, similar).

``app_window`` is a fixture: a ``MainWindow`` offscreen with throw-away settings, data and autosave
folders; ``open_piece`` loads a file (or sets a score) and waits for its engraving.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


@pytest.fixture
def app_window(request, tmp_path, monkeypatch):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt makes its application
    qtbot = request.getfixturevalue("qtbot")
    from PySide6.QtCore import QSettings

    from tutor.ui.app import MainWindow

    monkeypatch.setenv("TUTOR_NO_DIALOGS", "1")
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "autosave").mkdir()
    window = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat),
                        autosave_folder=tmp_path / "autosave")
    window.resize(1300, 850)
    window.show()
    window.qtbot = qtbot
    yield window
    window.practice_panel.shutdown()
    window.cancel_jobs()
    window.undo_stack.setClean()
    window.close()
    window.deleteLater()


def open_piece(window, path=DEMO, *, score=None):
    """Open ``path`` (or show ``score`` as a new piece) in compose mode and wait for its engraving."""
    window.set_mode("compose")
    if score is None:
        window.open_file(str(path))
        window.qtbot.waitUntil(lambda: window.score is not None and bool(window.score_view.pages), timeout=60000)
    else:
        window.set_score(score)
        window.qtbot.waitUntil(lambda: window.score_view.score is score and bool(window.score_view.pages),
                               timeout=60000)
    return window.score
