"""Shared test helpers. Import them as ``from tests.conftest import shared, REPO`` (tests/ is a package)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if "TUTOR_CACHE_DIR" not in os.environ:  # tests neither read nor fill the user's score cache (issue 24)
    import atexit
    import shutil
    import tempfile

    os.environ["TUTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="tutor-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TUTOR_CACHE_DIR"], True)
SHARED_DATA = Path(os.environ.get("TUTOR_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped when the data is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The app's main window, shown offscreen with its own data folder, settings and autosave folder
    (a test module using it sets ``QT_QPA_PLATFORM=offscreen`` before any Qt import)."""
    from PySide6.QtCore import QSettings

    from tutor.ui.app import MainWindow

    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings, autosave_folder=tmp_path / "autosave")
    (tmp_path / "autosave").mkdir()
    win.resize(1300, 850)
    win.show()
    yield win
    win.practice_panel.shutdown()
    win.cancel_jobs()
    win.undo_stack.setClean()
    win.close()
    win.deleteLater()


@pytest.fixture
def app_window(request, monkeypatch):
    """``window`` with message boxes answered by default (``TUTOR_NO_DIALOGS``) and its ``qtbot`` attached, for
    tests that drive the composition helpers (see ``tests.compose_app.open_piece``)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt makes its application
    monkeypatch.setenv("TUTOR_NO_DIALOGS", "1")
    win = request.getfixturevalue("window")
    win.qtbot = request.getfixturevalue("qtbot")
    return win
