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


def _darkest_in(image, rect) -> int:
    """The darkest grey level (0 black, 255 white) of ``image`` inside ``rect`` (device pixels)."""
    from PySide6.QtGui import QColor

    darkest = 255
    for x in range(max(0, int(rect.left())), min(image.width(), int(rect.right()) + 1)):
        for y in range(max(0, int(rect.top())), min(image.height(), int(rect.bottom()) + 1)):
            darkest = min(darkest, QColor(image.pixel(x, y)).lightness())
    return darkest


def test_stems_are_drawn_at_the_default_zoom_of_a_small_window(qtbot, window):  # noqa: F811
    from PySide6.QtCore import QRectF

    window.resize(1024, 700)
    _open(qtbot, window, DEMO)
    view = window.score_view
    view.zoom_to_width()  # what a small window shows: the page's width in the view (zoom about 0.6)
    assert view.zoom < 0.75
    qtbot.wait(50)
    image = view.viewport().grab().toImage()
    space = view.pages[0].page.staff_space  # one staff space in scene pixels
    checked = 0
    for note in window.score.notes:
        if note.duration_ql > 2 or note.pitch >= 71:  # filled heads with their stems up (below the middle line)
            continue
        head = view.note_rect(note.id)
        # the stem rises from the head's right side for about three staff spaces
        top_left = view.mapFromScene(head.right() - 0.6 * space, head.top() - 2.5 * space)
        bottom_right = view.mapFromScene(head.right() + 0.3 * space, head.top() - 0.8 * space)
        stem = QRectF(top_left.toPointF(), bottom_right.toPointF())
        assert _darkest_in(image, stem) < 120, (note.id, _darkest_in(image, stem), view.zoom)
        checked += 1
    assert checked >= 20
