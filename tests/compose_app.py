"""Opening a piece in the app's window for the composition helpers' pytest-qt tests (harmonise, generate,
similar, restyle); their window is the ``app_window`` fixture of ``tests/conftest.py``."""

from __future__ import annotations

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


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
