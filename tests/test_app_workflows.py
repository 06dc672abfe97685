"""The app as a student and a teacher meet it (issue 24), driven through the window offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

from tests.conftest import shared
from tests.test_app import DEMO, _open, window  # noqa: F401 (the fixture)


def _cursor_rect(view):
    line = view._cursor.line()
    return min(line.y1(), line.y2()), max(line.y1(), line.y2()), line.x1()


def test_the_cursor_is_one_system_high(qtbot, window):  # noqa: F811
    _open(qtbot, window, DEMO)
    view = window.score_view
    for bar in (1, 5):  # Twinkle's bars 1 and 5 are on its first and second lines
        measure = window.score.measures[bar - 1]
        view.set_cursor(measure.start_ql)
        top, bottom, x = _cursor_rect(view)
        staff = view.measure_rects(bar)[0]
        assert view.cursor_visible
        assert staff.left() - 10 <= x <= staff.right()
        assert top >= staff.top() - 30 and bottom <= staff.bottom() + 30, (bar, top, bottom, staff)
        assert bottom - top < 2 * staff.height()


def test_following_the_cursor_keeps_the_played_bar_in_sight(qtbot, window):  # noqa: F811
    window.resize(1024, 700)
    _open(qtbot, window, shared("nasap-dev", "Bach", "Fugue", "bwv_846", "xml_score.musicxml"))
    view = window.score_view
    assert view.follow_cursor
    for bar in (2, 8, 20, 3):  # forward through the fugue, then back to the start (a restart)
        measure = next(m for m in window.score.measures if m.number == bar)
        view.set_cursor(measure.start_ql + 0.5)
        top, bottom, x = _cursor_rect(view)
        seen = view.mapToScene(view.viewport().rect()).boundingRect()
        assert seen.contains(x, top) and seen.contains(x, bottom), (bar, seen, top, bottom)
        staff = view.measure_rects(bar)[0]
        assert seen.top() <= staff.top() and staff.bottom() <= seen.bottom()
