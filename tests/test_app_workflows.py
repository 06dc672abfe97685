"""The app as a student and a teacher meet it (issue 24), driven through the window offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

from tests.conftest import REPO, shared
from tests.test_app import DEMO, _open


def _cursor_rect(view):
    line = view._cursor.line()
    return min(line.y1(), line.y2()), max(line.y1(), line.y2()), line.x1()


def test_the_cursor_is_one_system_high(qtbot, window):
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


def test_following_the_cursor_keeps_the_played_bar_in_sight(qtbot, window):
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


def test_stems_are_drawn_at_the_default_zoom_of_a_small_window(qtbot, window):
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


def test_start_exercise_after_an_edit_asks_before_dropping_it(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    _open(qtbot, window, DEMO)
    window.selected_note = "P1-m1-n2"
    window.transpose_selected(1)
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=30000)
    edited = window.score
    asked = []
    monkeypatch.delenv("TUTOR_NO_DIALOGS")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.Cancel)
    window.set_mode("lessons")
    window.lessons_panel.select_first()
    window.lessons_panel.start()  # the student answers Cancel
    qtbot.wait(300)
    assert asked and "unsaved" in asked[0]
    assert window.score is edited and window.undo_stack.count() == 1 and window.undo_stack.canUndo()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    window.lessons_panel.start()  # now the edits may go
    qtbot.waitUntil(lambda: window.score is not edited and window.mode in ("practice", "compose"), timeout=30000)
    assert window.undo_stack.isClean() and "•" not in window.windowTitle()


def test_a_piece_opened_after_generate_is_not_marked_unsaved(qtbot, window):
    _open(qtbot, window, DEMO)
    window.set_mode("compose")
    panel = window.compose_panel
    panel.open_generate_dialog().set_brief(style="song", mood="Q1", key="G major", meter="2/4", bars=2, seed=4)
    before = window.score
    panel.generate_dialog.accept()
    qtbot.waitUntil(lambda: window.score is not before, timeout=90000)
    assert not window.undo_stack.isClean() and "•" in window.windowTitle()  # the new piece is not saved anywhere
    for path in (DEMO, REPO / "assets" / "demo" / "student_melody.musicxml"):
        generated = window.score
        window.open_file(str(path))
        qtbot.waitUntil(lambda shown=generated: window.score is not shown, timeout=30000)
        assert window.undo_stack.isClean() and "•" not in window.windowTitle(), path


def _review_demo_take(qtbot, win):
    from tests.test_app import DEMO_TAKE
    from tutor.listen.takes import load_performance

    panel = win.practice_panel
    panel.take_path = DEMO_TAKE
    panel.review(performance=load_performance(DEMO_TAKE), path=DEMO_TAKE)
    qtbot.waitUntil(lambda: panel.events_tree.topLevelItemCount() > 0, timeout=60000)
    qtbot.wait(100)
    return panel


def _seen_in_window(widget, rect) -> bool:
    """Whether ``rect`` (``widget``'s coordinates) shows in the window: inside every scrolling parent."""
    from PySide6.QtCore import QRect

    if not widget.isVisible():
        return False
    region = widget.visibleRegion()
    return region.intersects(QRect(rect))


def test_the_review_is_in_view_in_a_small_window(qtbot, window):
    window.resize(1024, 700)
    _open(qtbot, window, DEMO)
    window.set_mode("practice")
    panel = _review_demo_take(qtbot, window)
    tree = panel.events_tree
    first = tree.visualItemRect(tree.topLevelItem(0))
    assert _seen_in_window(tree.viewport(), first)  # the first mistake, on screen without scrolling
    assert _seen_in_window(panel.score_label, panel.score_label.rect())
    scroller = window.panels.currentWidget()
    assert not scroller.horizontalScrollBar().isVisible()  # the panel is not clipped on the right
    assert panel.width() <= scroller.viewport().width()


def test_the_wheel_scrolls_the_panel_and_changes_no_setting(qtbot, window):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    window.resize(1024, 700)
    _open(qtbot, window, DEMO)
    window.set_mode("practice")
    panel = window.practice_panel

    def wheel(widget, steps: int = -3) -> None:
        centre = QPointF(widget.rect().center())
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                            Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)

    tempo, part = panel.tempo.value(), panel.part_box.currentIndex()
    window.score_view.setFocus()
    wheel(panel.tempo)
    wheel(panel.part_box)
    wheel(panel.count_in, 2)
    assert (panel.tempo.value(), panel.part_box.currentIndex(), panel.count_in.value()) == (tempo, part, 1)
    if panel.pitch_plot is not None:
        box = panel.pitch_plot.getViewBox()
        before = box.viewRange()
        wheel(panel.pitch_plot.viewport(), -10)
        assert box.viewRange() == before
    panel.tempo.setFocus()  # clicked into: the wheel is the student's to use there
    wheel(panel.tempo, 1)
    assert panel.tempo.value() != tempo


def test_every_side_panel_fits_a_small_window(qtbot, window):
    window.resize(1024, 700)
    _open(qtbot, window, DEMO)
    for mode in ("practice", "compose", "lessons"):
        window.set_mode(mode)
        qtbot.wait(50)
        scroller = window.panels.currentWidget()
        panel = scroller.widget()
        assert not scroller.horizontalScrollBar().isVisible(), mode
        assert panel.minimumSizeHint().width() <= scroller.viewport().width(), mode  # nothing clipped on the right


def test_a_piano_score_lists_its_right_and_left_hand(qtbot, window):
    _open(qtbot, window, shared("nasap-dev", "Bach", "Prelude", "bwv_854", "xml_score.musicxml"))
    box = window.practice_panel.part_box
    labels = [box.itemText(i) for i in range(box.count())]
    assert labels == ["All parts", "Piano: right hand", "Piano: left hand"]
    box.setCurrentIndex(2)  # the left hand alone
    practised = window.practice_panel.practice_score()
    assert {n.part for n in practised.notes} == {"P2"} and max(n.pitch for n in practised.notes) < 72


def _click_item(qtbot, tree, item):
    from PySide6.QtCore import Qt

    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualItemRect(item).center())


def test_clicking_a_finding_after_a_suggestion_redrew_the_score(qtbot, window):
    _open(qtbot, window, REPO / "assets" / "demo" / "student_melody.musicxml")
    window.set_mode("compose")
    panel = window.compose_panel
    panel.run_critique()
    qtbot.waitUntil(lambda: panel.report is not None, timeout=60000)
    tree = panel.findings
    notes = [tree.topLevelItem(i).child(j) for i in range(tree.topLevelItemCount())
             for j in range(tree.topLevelItem(i).childCount())]
    notes = [item for item in notes if item.data(0, 0x0100) and item.data(0, 0x0100)[2]]  # findings on notes
    assert notes, panel.report["findings"]
    tree.expandAll()
    _click_item(qtbot, tree, notes[0])  # the score shows the note (a ring around it)
    assert window.score_view._flash is not None
    # a suggestion is shown over the piece (the score is drawn anew), then the student goes back to a finding
    window.score_view.select_range(3, 3)
    panel.suggest_fix()
    qtbot.waitUntil(lambda: bool(panel.suggestions) or panel.suggest_status.text().startswith("No suggestions"),
                    timeout=90000)
    assert panel.suggestions
    with qtbot.waitSignal(window.score_view.engraved, timeout=60000):
        panel.alternatives.setCurrentRow(0)
    _click_item(qtbot, tree, notes[-1])  # raised RuntimeError: the ring's item went with the old drawing
    assert window.score_view._flash is not None and window.score_view._flash.scene() is window.score_view.scene()


def test_marks_sit_over_their_own_staff_and_do_not_pile_up(qtbot, window):
    score = _open(qtbot, window, "corpus:bach/bwv66.6")  # four staves: soprano, alto, tenor, bass
    view = window.score_view
    bass = [n for n in score.notes if n.part == "P4" and n.measure in (1, 2)]
    soprano = [n for n in score.notes if n.part == "P1" and n.measure in (1, 2)]
    marks = {n.id: {"color": "#D32F2F", "text": "trill 3 notes"} for n in soprano}
    marks[bass[0].id] = {"color": "#6A1B9A", "text": "parallel fifths"}
    view.set_marks(marks)
    labels = {item.toolTip(): item.sceneBoundingRect() for item in view._mark_items if item.toolTip() == "parallel fifths"}
    head = view.note_rect(bass[0].id)
    x = head.center().x()
    system = next(r for r in view.measure_rects(bass[0].measure) if r.contains(head.center()))
    staves = sorted({round(r.top()): r for r in view.staff_rects
                     if r.left() < x < r.right() and system.contains(r.center())}.values(), key=lambda r: r.top())
    assert len(staves) == 4
    tenor, bass_staff = staves[2], staves[3]
    label = labels["parallel fifths"]
    assert tenor.bottom() < label.top() and label.bottom() <= bass_staff.top() + 1  # over the bass staff
    rects = [item.sceneBoundingRect() for item in view._mark_items]
    assert len(rects) == len(marks)
    for i, a in enumerate(rects):  # no two marks on top of each other
        for b in rects[i + 1:]:
            assert not a.intersects(b)
    for rect in rects:  # none climbs into the staff above
        x = rect.center().x()
        above = [r for r in view.staff_rects if r.left() - 20 < x < r.right() + 20 and r.bottom() < rect.bottom()]
        if above:
            assert rect.top() > max(r.bottom() for r in above), rect


def test_opening_a_long_piece_shows_what_it_does_and_can_be_cancelled(qtbot, window):
    fugue = shared("nasap-dev", "Bach", "Fugue", "bwv_846", "xml_score.musicxml")
    window.open_file(str(fugue))
    view = window.score_view
    assert "Reading bwv_846" not in window.windowTitle() and "xml_score.musicxml" in view._message.text()
    assert window.cancel_button.isVisible() and window.progress.isVisible()
    qtbot.waitUntil(lambda: window.score is not None, timeout=60000)  # read: now it engraves, with a progress
    qtbot.waitUntil(lambda: window.job_label.text().startswith(("Engraving", "Writing", "Laying", "Drawing")),
                    timeout=30000)
    assert window.cancel_button.isVisible()
    window.cancel_button.click()
    qtbot.wait(3000)
    assert not view.pages and "Cancelled" in view._message.text()
    # opened again and left to finish: pages of a page's proportions, not one long strip
    window.open_file(str(fugue))
    qtbot.waitUntil(lambda: view.engraved_score is not None and view.engraved_score is window.score, timeout=60000)
    assert len(view.pages) >= 2 and all(p.page.height <= 1.5 * p.page.width for p in view.pages)
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible(), timeout=5000)


def test_a_take_review_shows_its_progress_and_a_cancel(qtbot, window):
    _open(qtbot, window, DEMO)
    window.set_mode("practice")
    from tests.test_app import DEMO_TAKE
    from tutor.listen.takes import load_performance

    panel = window.practice_panel
    panel.review(performance=load_performance(DEMO_TAKE), path=DEMO_TAKE)
    assert panel._review_job in window.jobs and window.cancel_button.isVisible()
    qtbot.waitUntil(lambda: panel._review_job.finished, timeout=60000)
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible(), timeout=5000)


def test_small_things_a_student_meets(qtbot, window, monkeypatch):
    from PySide6.QtGui import QColor, QKeySequence
    from PySide6.QtWidgets import QMessageBox

    from tutor.score.music import Part
    from tutor.ui.practice import Tuner, part_labels

    # Ctrl+, opens the settings (QKeySequence.Preferences is no key at all on Linux)
    keys = {a.text(): a.shortcut() for a in window.findChildren(type(window.menuBar().actions()[0]))}
    assert keys["Settings…"] == QKeySequence("Ctrl+,")
    # the shortcuts list is a table (its columns line up whatever the font)
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: shown.append(text))
    window.show_shortcuts()
    assert shown and shown[0].startswith("<table>") and shown[0].count("<tr>") >= 10
    # the tuner is not green when nothing sounds
    tuner = Tuner()
    tuner.resize(200, 40)
    image = tuner.grab().toImage()
    band = QColor(image.pixel(100, int(40 * 0.55) + 2))
    assert not (band.green() > 100 and band.red() < 80), band.name()
    # no lock emoji (an empty box without a colour emoji font)
    window.set_mode("lessons")
    tree = window.lessons_panel.tree
    texts, items = [], [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while items:
        item = items.pop()
        texts.append(item.text(0))
        items += [item.child(j) for j in range(item.childCount())]
    assert texts and not any("🔒" in t for t in texts) and any(t.startswith("(locked)") for t in texts)
    # the empty progress chart counts whole attempts
    axis = window.lessons_panel.chart.getAxis("bottom")
    assert axis.tickSpacing(0, 5, 400)[0][0] == 1
    # a MIDI file's "Midi_1" is Part 1 in the Part list
    assert part_labels((Part("P1", "Midi_1"), Part("P2", "Flute"))) == {"P1": "Part 1", "P2": "Flute"}


def test_the_first_piece_fits_the_view(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from tutor.ui.app import MainWindow

    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=QSettings(str(tmp_path / "fresh.ini"), QSettings.IniFormat), autosave_folder=tmp_path)
    win.resize(1024, 700)
    win.show()
    try:
        _open(qtbot, win, DEMO)
        view = win.score_view
        page = view.pages[0].page
        right = view.mapFromScene(page.width, 0).x()
        assert right <= view.viewport().width(), (right, view.viewport().width())  # the page's right edge is seen
    finally:
        win.practice_panel.shutdown()
        win.close()


def test_a_missing_midi_keyboard_is_said_in_plain_words():
    from tutor.audio import midi_input
    from tutor.errors import DeviceError

    try:
        midi_input._rtmidi_in()
    except DeviceError as error:
        assert "ALSA" not in str(error) and "MIDI keyboard" in str(error)


def test_suggestions_say_what_they_change_and_style_goes_with_the_piece(qtbot, window):
    from dataclasses import replace as changed

    from tutor.compose.describe import describe_suggestion
    from tutor.compose.suggest import Suggestion

    score = _open(qtbot, window, DEMO)
    window.set_mode("compose")
    panel = window.compose_panel
    # a correction of bar 3 that keeps the rhythm and moves one note: said as a note change, not a likelihood
    bar3 = [n for n in score.notes if n.measure == 3]
    fix = Suggestion("correction", 3, 3, tuple(changed(n, pitch=n.pitch - 1) if i == 1 else n
                                               for i, n in enumerate(bar3)), -9.4)
    text = describe_suggestion(score, fix)
    assert "bar 3 beat 2" in text and "→" in text and "keeps the rhythm" in text, text
    panel.show_suggestions([fix])
    shown = panel.alternatives.item(0).text()
    assert "log-likelihood" not in shown and "→" in shown, shown
    # the previous piece's style and emotion do not stay on screen for the next piece
    panel.run_critique()
    qtbot.waitUntil(lambda: panel.report is not None, timeout=60000)
    assert panel.character_grid.count() > 0
    # the style classes are named for people ("Folk song", not the class id "folk_song")
    from PySide6.QtWidgets import QLabel

    shown = [panel.character_grid.itemAt(i).widget().text() for i in range(panel.character_grid.count())
             if isinstance(panel.character_grid.itemAt(i).widget(), QLabel)]
    assert "Folk song" in shown and "Pop / rock / soul" in shown and not any("_" in t for t in shown), shown
    window.open_file(str(REPO / "assets" / "demo" / "student_melody.musicxml"))
    qtbot.waitUntil(lambda: window.score is not score, timeout=30000)
    assert panel.character_grid.count() == 0


def test_a_fix_offers_the_critiques_own_advice(qtbot, window):
    score = _open(qtbot, window, REPO / "assets" / "demo" / "student_melody.musicxml")
    window.set_mode("compose")
    panel = window.compose_panel
    panel.run_critique()
    qtbot.waitUntil(lambda: panel.report is not None, timeout=60000)
    finding = next(f for f in panel.report["findings"] if f["rule"] == "out_of_key")
    assert "F4" in finding["suggestion"]
    note = score.note_by_id(finding["note_ids"][0])
    window.score_view.select_range(note.measure, note.measure)
    panel.suggest_fix()
    qtbot.waitUntil(lambda: bool(panel.suggestions) or panel.suggest_status.text().startswith("No suggestions"),
                    timeout=90000)
    first = panel.alternatives.item(0).text()
    assert "the critique's advice" in first and "F#4 → F4" in first, first
    assert "fixes an out-of-key note in bar 3" in first, first
    shown = [panel.alternatives.item(i).text().split(": ", 1)[1] for i in range(panel.alternatives.count())]
    assert len(set(shown)) == len(shown), shown  # the model's copy of the advice is not offered twice
    panel.alternatives.setCurrentRow(0)
    panel.accept()
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=30000)
    assert window.score.note_by_id(note.id).pitch == 65  # F4, as the critique said


def test_the_followed_system_sits_high_with_the_music_after_it_in_view(qtbot, window):
    window.resize(1024, 700)
    _open(qtbot, window, shared("nasap-dev", "Bach", "Fugue", "bwv_846", "xml_score.musicxml"))
    view = window.score_view
    view.set_zoom(1.0)
    for bar in range(1, 28, 3):
        measure = next(m for m in window.score.measures if m.number == bar)
        view.set_cursor(measure.start_ql + 0.5)
        line = view._cursor.line()
        seen = view.mapToScene(view.viewport().rect()).boundingRect()
        at_end = view.verticalScrollBar().value() == view.verticalScrollBar().maximum()
        assert seen.top() <= min(line.y1(), line.y2()) and max(line.y1(), line.y2()) <= seen.bottom(), bar
        assert at_end or max(line.y1(), line.y2()) <= seen.top() + 0.6 * seen.height(), bar  # the next lines below


def test_a_long_piece_is_on_screen_while_it_is_read_and_takes_its_note_ids(qtbot, window, tmp_path, monkeypatch):
    """Issue 24: the file's own engraving shows before music21 has read it; when the piece arrives, the
    same pages take its note ids (every note, where a fresh engraving of the piece puts it)."""
    from tutor.score import io
    from tutor.ui.engraving import engrave

    monkeypatch.setenv("TUTOR_CACHE_DIR", str(tmp_path / "cache"))  # a first open: not in the score cache
    io._cached_music21.cache_clear()

    fugue = shared("nasap-dev", "Bach", "Fugue", "bwv_846", "xml_score.musicxml")
    window.open_file(str(fugue))
    view = window.score_view
    qtbot.waitUntil(lambda: bool(view.pages) or window.score is not None, timeout=60000)
    assert view.pages and window.score is None and view.engraved_score is None  # the preview, no piece yet
    assert window.cancel_button.isVisible()  # still reading
    qtbot.waitUntil(lambda: window.score is not None and view.engraved_score is window.score, timeout=60000)
    score = window.score
    assert set(view.boxes) >= {n.id for n in score.notes}
    fresh = {note_id: box for page in engrave(score, layout=view.layout_options) for note_id, box in page.notes.items()}
    assert set(fresh) == set(view.boxes)
    for note_id, (box, _) in view.boxes.items():
        assert (round(box.x, 1), round(box.y, 1)) == (round(fresh[note_id].x, 1), round(fresh[note_id].y, 1)), note_id
    # marks find their notes on the adopted pages
    first = score.notes[0].id
    from tutor.ui.engraving import recolor_svg

    assert view.note_rect(first) is not None
    assert any('fill="#d32f2f"' in recolor_svg(p.page.svg, {first: "#d32f2f"}) for p in view.pages)
    assert not any("tutorpv" in p.page.svg for p in view.pages if first in p.page.notes)
    # opened again: read from the score cache, no preview needed
    window.open_file(str(fugue))
    qtbot.waitUntil(lambda: window.score is not None and window.score is not score
                    and view.engraved_score is window.score, timeout=60000)
    assert window.score == score


def _bar_heads(xml: str, bar: int) -> list[tuple[str, str, str | None, str]]:
    """(voice, step, accidental, id) of the noteheads of ``bar`` in written order."""
    import xml.etree.ElementTree as ET

    measure = next(m for m in ET.fromstring(xml).iter("measure") if m.get("number") == str(bar))
    return [(n.findtext("voice"), n.findtext("pitch/step"), n.findtext("accidental"), n.get("id"))
            for n in measure.findall("note") if n.find("pitch") is not None]


def test_suggestions_are_ranked_by_what_they_fix_and_draw_no_stray_natural():
    """Issue 24 item 9: the model's proposals in the order of what they fix, said in musical words; the
    drawn suggestion has no natural sign on a note before any sharp sounds."""
    from dataclasses import replace as changed

    from tutor.api.analyses import critique
    from tutor.compose.describe import advice_suggestions, rank_by_fixes
    from tutor.compose.suggest import Suggestion, apply_suggestion
    from tutor.score.io import load_score
    from tutor.ui.compose import overlay_view

    score = load_score(REPO / "assets" / "demo" / "student_melody.musicxml")
    bar3 = [n for n in score.notes if n.measure == 3]  # F4 F#4 E4 E4: the F#4 is out of C major
    assert [n.pitch for n in bar3] == [65, 66, 64, 64]
    taste = Suggestion("correction", 3, 3, tuple(changed(n, pitch=62) if i == 3 else n for i, n in enumerate(bar3)), -2.0)
    fix = Suggestion("correction", 3, 3, tuple(changed(n, pitch=67) if i == 1 else n for i, n in enumerate(bar3)), -9.0)
    ranked = rank_by_fixes(score, [taste, fix])
    assert [s for s, _ in ranked] == [fix, taste]  # the likelier one fixes nothing: it comes second
    assert ranked[0][1] == "fixes an out-of-key note in bar 3", ranked
    # the critique's advice (F#4 -> F4) drawn over the bar: no natural on the unchanged F4 of beat 1,
    # one on the suggested F4 of beat 2 beside the original's F#4
    findings = [f.as_dict() for f in critique(score).findings]
    advice = advice_suggestions(score, findings, 3, 3)
    f4 = next(a for a in advice if 65 in {n.pitch for n in a.notes if n.id == "P1-m3-n1"})
    _, xml, _ = overlay_view(score, apply_suggestion(score, f4), f4)
    heads = _bar_heads(xml, 3)
    suggested = [h for h in heads if h[0] == "2"]
    assert [(h[1], h[2]) for h in suggested[:2]] == [("F", None), ("F", "natural")], heads
    assert [(h[1], h[2]) for h in heads if h[0] == "1"][:2] == [("F", None), ("F", "sharp")], heads


def test_a_take_stopped_in_bar_six_is_reviewed_up_to_bar_six(qtbot, window, tmp_path):
    """A student plays the fugue's first bars on a MIDI keyboard and stops: the review is of those bars
    (not hundreds of "missed" notes after them), and says where the take stopped."""
    from dataclasses import replace

    from tutor.listen.takes import load_performance

    fugue = shared("nasap-dev", "Bach", "Fugue", "bwv_846")
    _open(qtbot, window, fugue / "xml_score.musicxml")
    whole = load_performance(fugue / "Shi05M.mid")
    take = replace(whole, notes=tuple(n for n in whole.notes if n.onset_s < 25.0))
    window.set_mode("practice")
    panel = window.practice_panel
    panel.review(performance=take)
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=120000)
    text = panel.score_label.text()
    assert "You stopped in bar 6: bars 7–27 were not reviewed." in text, text
    bars = [int(panel.events_tree.topLevelItem(i).text(0) or 0) for i in range(panel.events_tree.topLevelItemCount())]
    assert bars and max(bars) <= 6
    assert panel.assessment.notes_correct >= 0.95 * panel.assessment.notes_total


def test_a_recorded_violin_take_is_reviewed_as_a_violin(qtbot, window, tmp_path):
    """"Review a recorded take..." of a violin part transcribes the file as `tutor assess` does: with the
    violin's own segmentation (issue 22), not as an unnamed single line."""
    import librosa
    import soundfile

    root = shared("real-audio", "bach-violin-dev")
    _open(qtbot, window, root / "scores" / "bwv1002_mov6.mxl")
    window.set_mode("practice")
    panel = window.practice_panel
    assert panel._take_instrument(tmp_path / "take.wav") == "violin"
    # a take started with "Microphone" after one with "Microphone (piano)": its live notes are a violin's
    panel._source_kind_at_start, panel.take_path = "mic-piano", tmp_path / "last.wav"
    assert panel._take_instrument(panel.take_path, kind="mic") == "violin"
    panel._source_kind_at_start, panel.take_path = "", None
    # John Garner's violin is tuned near A = 444 Hz: the review says so once and marks the notes against it
    audio, rate = librosa.load(str(root / "audio" / "john-garner_bwv1002_mov6.mp3"), sr=22050, mono=True, duration=20.0)
    soundfile.write(str(tmp_path / "take.wav"), audio, rate)
    panel.review(path=tmp_path / "take.wav")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=180000)
    text = panel.score_label.text()
    assert "You played 1" in text and "cents sharp of A = 440 Hz throughout (tuned to about A = 44" in text, text
    off = panel.assessment.events_of("sharp") + panel.assessment.events_of("flat")
    assert len(off) <= 0.2 * panel.assessment.notes_total, (len(off), panel.assessment.notes_total)
