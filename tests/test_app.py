"""The desktop app, offscreen: open a piece, edit and undo, critique and suggestions (when installed),
a practice take from a MIDI file source with its marks on the right notes, modes, autosave."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

import importlib.util

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"
DEMO_TAKE = REPO / "assets" / "demo" / "twinkle_take.mid"


def _has(module: str) -> bool:
    return importlib.util.find_spec(f"tutor.{module}") is not None


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
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
    win.undo_stack.setClean()
    win.close()
    win.deleteLater()


def _open(qtbot, win, path=DEMO):
    win.open_file(str(path))
    qtbot.waitUntil(lambda: win.score is not None and bool(win.score_view.pages), timeout=30000)
    return win.score


def test_open_file_engraves_every_note(qtbot, window):
    score = _open(qtbot, window)
    assert len(score.notes) == 42
    # every score note has a notehead on the page, at a distinct place, inside its measure
    assert set(window.score_view.boxes) == {n.id for n in score.notes}
    first, second = window.score_view.note_rect("P1-m1-n0"), window.score_view.note_rect("P1-m1-n2")
    assert second.center().x() > first.center().x()
    assert second.center().y() < first.center().y()  # G4 sits higher than C4
    rect_m3 = window.score_view.measure_rects(3)[0]
    assert rect_m3.contains(window.score_view.note_rect("P1-m3-n1").center())
    assert "Twinkle" in window.windowTitle()


def test_edit_and_undo(qtbot, window):
    score = _open(qtbot, window)
    window.selected_note = "P1-m1-n2"
    window.transpose_selected(1)
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=30000)
    assert window.score.note_by_id("P1-m1-n2").pitch == score.note_by_id("P1-m1-n2").pitch + 1
    assert not window.undo_stack.isClean()
    window.undo_stack.undo()
    assert window.score.note_by_id("P1-m1-n2").pitch == score.note_by_id("P1-m1-n2").pitch
    window.undo_stack.redo()
    assert window.score.note_by_id("P1-m1-n2").pitch == 68


def test_autosave_and_recovery(qtbot, window, tmp_path):
    from tutor.ui.autosave import recoverable

    _open(qtbot, window)
    window.selected_note = "P1-m2-n0"
    window.transpose_selected(-1)
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=30000)
    window.autosaver.save_now()
    qtbot.waitUntil(lambda: window.autosaver.last_job is not None and window.autosaver.last_job.finished, timeout=30000)
    found = recoverable(tmp_path / "autosave")
    assert len(found) == 1 and found[0].original == str(DEMO)
    from tutor.scoreio import load_score

    assert load_score(found[0].path).note_by_id("P1-m2-n0").pitch == 68  # A4 moved down to Ab4


@pytest.mark.skipif(not (_has("follower") and _has("assessment")), reason="tutor.follower/assessment not installed")
def test_practice_take_from_midi_file_marks_the_right_notes(qtbot, window):
    _open(qtbot, window)
    panel = window.practice_panel
    panel.demo_realtime = False
    assert panel.start_take(source_path=DEMO_TAKE, input_kind="midi-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    marks = window.score_view.marks
    from tutor.assessment import COLORS

    # the three mistakes the demo take was made with (assets/demo/make_twinkle_take.py)
    assert marks["P1-m3-n1"]["color"] == COLORS["wrong_pitch"]
    assert marks["P1-m6-n1"]["color"] == COLORS["missed"]
    assert marks["P1-m9-n2"]["color"] == COLORS["late"]
    assert marks["P1-m1-n0"]["color"] == COLORS["correct"]
    kinds = {(e.type, e.note_id) for e in panel.assessment.events if e.type != "correct"}
    assert {("wrong_pitch", "P1-m3-n1"), ("missed", "P1-m6-n1"), ("late", "P1-m9-n2")} <= kinds
    assert panel.events_tree.topLevelItemCount() == len([e for e in panel.assessment.events if e.type != "correct"])
    # the SVG of the page carries the colours on those notes
    svg = window.score_view.pages[0].renderer
    assert svg.isValid()


@pytest.mark.skipif(not _has("follower"), reason="tutor.follower not installed")
def test_live_marks_land_on_the_played_notes(qtbot, window):
    _open(qtbot, window)
    panel = window.practice_panel
    panel.demo_realtime = False
    view = window.score_view
    add_live_mark = view.add_live_mark
    on_notehead = {}  # note id -> whether its ring, as drawn, sat on the notehead

    def record(note_id, *args, **kwargs):
        added = add_live_mark(note_id, *args, **kwargs)
        if added:  # the review clears live marks when it arrives: check each ring as it is drawn
            ring = view._live_items[note_id][0]
            on_notehead[note_id] = ring.sceneBoundingRect().contains(view.note_rect(note_id).center())
        return added

    view.add_live_mark = record
    assert panel.start_take(source_path=DEMO_TAKE, input_kind="midi-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    assert len(on_notehead) >= 30
    assert on_notehead["P1-m1-n0"] and on_notehead["P1-m3-n1"]
    assert all(on_notehead.values())  # each ring sits on its notehead
    seen = {(e.type, e.note_id) for e in panel.live_events}
    assert ("wrong_pitch", "P1-m3-n1") in seen and ("correct", "P1-m1-n0") in seen
    assert ("missed", "P1-m6-n1") in seen  # reported as soon as the player is past it
    assert ("correct", "P1-m6-n1") not in seen


def test_switch_modes(qtbot, window):
    _open(qtbot, window)
    for index, mode in enumerate(("compose", "lessons", "practice")):
        window.set_mode(mode)
        assert window.mode == mode
        assert window.mode_buttons[mode].isChecked()
        assert window.panels.currentWidget().widget() is (window.compose_panel, window.lessons_panel, window.practice_panel)[index]
        assert mode.capitalize() in window.windowTitle()


def test_lessons_tree_and_start_exercise(qtbot, window):
    panel = window.lessons_panel
    if panel.catalog is None or not panel.catalog.exercises:
        pytest.skip("no lesson catalog")
    window.set_mode("lessons")
    panel.select_first()
    assert panel.exercise is not None
    assert "To pass" in panel.card.toPlainText()
    panel.start()
    qtbot.waitUntil(lambda: window.score is not None and window.mode in ("practice", "compose"), timeout=30000)
    assert window.practice_panel.exercise is panel.exercise or window.mode == "compose"


@pytest.mark.skipif(not _has("critique"), reason="tutor.critique not installed")
def test_critique_lists_findings_grouped_by_measure(qtbot, window):
    _open(qtbot, window)
    window.set_mode("compose")
    window.compose_panel.run_critique()
    qtbot.waitUntil(lambda: window.compose_panel.report is not None, timeout=60000)
    report = window.compose_panel.report
    assert "findings" in report and "key" in report
    tree = window.compose_panel.findings
    measures = {int(f.get("measure") or 0) for f in report["findings"]}
    assert tree.topLevelItemCount() == len(measures)


@pytest.mark.skipif(not _has("suggest"), reason="tutor.suggest not installed")
def test_accept_a_suggestion_and_undo(qtbot, window):
    score = _open(qtbot, window)
    window.set_mode("compose")
    panel = window.compose_panel
    window.score_view.select_range(3, 3)
    errors = []
    panel.suggest_status.setText("")
    panel.suggest_fix()
    qtbot.waitUntil(lambda: bool(panel.suggestions) or panel.suggest_status.text().startswith("No suggestions"),
                    timeout=90000)
    if not panel.suggestions:
        pytest.skip(f"the suggestion model is not usable here: {panel.suggest_status.text()}")
    before = [(n.pitch, n.onset_ql) for n in score.notes]
    panel.alternatives.setCurrentRow(0)
    panel.accept()
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=30000)
    assert [(n.pitch, n.onset_ql) for n in window.score.notes] != before
    window.undo_stack.undo()
    assert [(n.pitch, n.onset_ql) for n in window.score.notes] == before
    assert not errors


def test_export_musicxml_with_marks(qtbot, window, tmp_path):
    _open(qtbot, window)
    window.score_view.set_marks({"P1-m2-n1": {"color": "#D32F2F", "text": "late"}})
    out = tmp_path / "marked.musicxml"
    window.export("musicxml", str(out))
    qtbot.waitUntil(out.exists, timeout=30000)
    text = out.read_text(encoding="utf-8")
    assert 'id="P1-m2-n1"' in text and "#D32F2F" in text.upper()
