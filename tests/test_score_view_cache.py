"""The score view draws each page's engraving from a pixmap cache: at any zoom it must look as drawn directly
(an item-coordinate cache larger than the page once drew the SVG at the zoom twice over, the music running off
the page and the live marks beside their notes), and the cache must be used (a page over QGraphicsSvgItem's
default maximum cache size was drawn from the SVG at every paint)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np
import pytest

from tests.conftest import REPO


def _pixels(widget) -> np.ndarray:
    """The widget as drawn now, one byte per colour channel (height x width*4)."""
    from PySide6.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format_RGB32)
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].astype(int)


@pytest.mark.parametrize("zoom", [0.8, 1.3, 2.0])
def test_cached_pages_look_as_drawn_directly(qtbot, zoom):
    from PySide6.QtWidgets import QGraphicsItem

    from tutor.score.io import load_score
    from tutor.ui.score_view import ScoreView

    view = ScoreView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    with qtbot.waitSignal(view.engraved, timeout=60000):
        view.set_score(load_score(REPO / "assets" / "demo" / "twinkle.musicxml"))
    view.set_zoom(zoom)
    assert all(p.svg_item.cacheMode() != QGraphicsItem.NoCache for p in view.pages)
    # ...and used: Qt draws an item larger on screen than its maximum cache size straight from the SVG at
    # every paint (QGraphicsSvgItem's default, 1024 x 768, is less than a page at these zooms; issue 20)
    for page in view.pages:
        on_screen, most = view.transform().mapRect(page.svg_item.boundingRect()), page.svg_item.maximumCacheSize()
        assert on_screen.width() <= most.width() and on_screen.height() <= most.height(), (on_screen, most)
    qtbot.wait(50)
    cached = _pixels(view.viewport())
    for page in view.pages:
        page.svg_item.setCacheMode(QGraphicsItem.NoCache)
    qtbot.wait(50)
    direct = _pixels(view.viewport())
    assert (np.abs(cached - direct) > 60).mean() < 0.002  # a few antialiased edges at most
