"""The desktop app, offscreen: open a piece, edit and undo, critique and suggestions (when installed),
a practice take from a MIDI file source with its marks on the right notes, modes, autosave."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

import pytest

from tests.conftest import REPO

# what the panels run, imported here so that a broken module fails these tests instead of leaving a panel empty
from tutor.compose import critique, similar, suggest  # noqa: F401
from tutor.listen.pitch import open_stream
from tutor.practice import follower  # noqa: F401
from tutor.practice.assessment import assess  # noqa: F401

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"
DEMO_TAKE = REPO / "assets" / "demo" / "twinkle_take.mid"


def _open(qtbot, win, path=DEMO):
    win.open_file(str(path))
    # the piece read and engraved (a long file's preview shows earlier, without the piece: issue 24)
    qtbot.waitUntil(lambda: win.score is not None and win.score_view.engraved_score is win.score, timeout=30000)
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
    from tutor.score.io import load_score

    assert load_score(found[0].path).note_by_id("P1-m2-n0").pitch == 68  # A4 moved down to Ab4


def test_practice_take_from_midi_file_marks_the_right_notes(qtbot, window):
    _open(qtbot, window)
    panel = window.practice_panel
    panel.demo_realtime = False
    assert panel.start_take(source_path=DEMO_TAKE, input_kind="midi-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    marks = window.score_view.marks
    from tutor.practice.assessment import COLORS

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


def test_a_midi_file_played_as_a_take_is_never_written_over(qtbot, window, tmp_path):
    """Played in real time while the input box says "MIDI keyboard", the file is the take's source,
    not its recording: the two-second crash save and the save at the end leave it as it was."""
    import shutil

    _open(qtbot, window)
    panel = window.practice_panel
    panel.input_box.setCurrentIndex(panel.input_box.findData("midi"))
    take = tmp_path / "mine.mid"
    shutil.copy(DEMO_TAKE, take)
    before = take.read_bytes()
    panel.demo_realtime = True
    assert panel.start_take(source_path=take, input_kind="midi-file")
    qtbot.wait(2600)  # past the first crash save of a keyboard take
    panel.stop_take()
    assert take.read_bytes() == before


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


def _drag_across_bars(qtbot, view, first: int, last: int):
    """Press the mouse in bar ``first`` (above its notes), move to bar ``last``, release there."""
    from PySide6.QtCore import Qt

    start, end = view.measure_rects(first)[0], view.measure_rects(last)[0]
    press = view.mapFromScene(start.center())
    press.setY(view.mapFromScene(start.topLeft()).y() + 4)
    release = view.mapFromScene(end.center())
    with qtbot.waitSignal(view.rangeSelected, timeout=5000) as selected:
        qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=press)
        qtbot.mouseMove(view.viewport(), pos=release)
        qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=release)
    return selected.args


def test_drag_across_bars_selects_a_range_and_a_click_selects_a_note(qtbot, window):
    from PySide6.QtCore import Qt

    _open(qtbot, window)
    view, panel = window.score_view, window.practice_panel

    def at(point):  # scene point -> viewport pixel
        return view.mapFromScene(point)

    assert _drag_across_bars(qtbot, view, 3, 4) == [3, 4]
    assert view.selected_range == (3, 4)
    assert (panel.first_bar.value(), panel.last_bar.value()) == (3, 4)
    highlighted = view._selection_items
    assert highlighted and all(any(r.intersects(item.rect()) for r in view.measure_rects(3) + view.measure_rects(4))
                               for item in highlighted)
    # a click (no drag) on a notehead selects that note
    with qtbot.waitSignal(view.noteClicked, timeout=5000) as clicked:
        point = at(view.note_rect("P1-m2-n1").center())
        qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=point)
        qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=point)
    assert clicked.args == ["P1-m2-n1"]
    assert view.selected_range == (3, 4)  # a note click keeps the range


def _looped_take(score, path, *, first: int, last: int, passes: int, wrong: dict, skip: dict) -> None:
    """The measures first-last played ``passes`` times back to back from the score; ``wrong``:
    {pass: (note id, played pitch)}, ``skip``: {pass: note id} (1-based passes)."""
    import pretty_midi

    notes = [n for n in score.notes if first <= n.measure <= last]
    start = notes[0].onset_s
    length = score.seconds_at(score.measure(last).end_ql) - score.seconds_at(score.measure(first).start_ql)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for k in range(passes):
        for n in notes:
            if skip.get(k + 1) == n.id:
                continue
            pitch = wrong[k + 1][1] if wrong.get(k + 1, (None,))[0] == n.id else n.pitch
            onset = 0.5 + k * length + n.onset_s - start
            piano.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=onset, end=onset + 0.9 * n.duration_s))
    midi.instruments.append(piano)
    midi.write(str(path))


def test_looped_take_marks_each_pass_in_the_range_only(qtbot, window, tmp_path):
    from tutor.practice.assessment import COLORS
    from tutor.practice.loop import PassStart

    score = _open(qtbot, window)
    panel, view = window.practice_panel, window.score_view
    take = tmp_path / "loop.mid"
    _looped_take(score, take, first=3, last=4, passes=3, skip={1: "P1-m4-n2"}, wrong={2: ("P1-m3-n2", 63)})
    assert _drag_across_bars(qtbot, view, 3, 4) == [3, 4]
    assert (panel.first_bar.value(), panel.last_bar.value()) == (3, 4)
    assert panel.loop.isEnabled()
    panel.loop.setChecked(True)
    panel.demo_realtime = False
    ringed, pass_starts = [], []
    add_live_mark = view.add_live_mark
    view.add_live_mark = lambda note_id, *a, **k: (ringed.append(note_id), add_live_mark(note_id, *a, **k))[1]
    on_events = panel._on_events
    panel._on_events = lambda events, t: (pass_starts.extend(e for e in events if isinstance(e, PassStart)),
                                          on_events(events, t))
    assert panel.start_take(source_path=take, input_kind="midi-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    in_range = {n.id for n in score.notes if 3 <= n.measure <= 4}
    assert ringed and set(ringed) <= in_range  # live rings only on the range's notes
    assert set(view.marks) <= in_range and view.marks  # the review's marks too
    assert [p.index for p in pass_starts] == [2, 3]
    assert pass_starts[0].previous_right == 6  # pass 1 skipped the last C
    # one assessment per pass, on the range only
    assert len(panel.passes) == 3
    for assessment, _ in panel.passes:
        assert assessment.notes_total == 7
        assert {e.measure for e in assessment.events} <= {3, 4}
    kinds = [{(e.type, e.note_id) for e in a.events if e.type != "correct"} for a, _ in panel.passes]
    assert ("missed", "P1-m4-n2") in kinds[0]
    assert ("wrong_pitch", "P1-m3-n2") in kinds[1] and ("missed", "P1-m4-n2") not in kinds[1]
    assert not {k for k in kinds[2] if k[0] in ("missed", "wrong_pitch", "extra")}
    # the review shows the latest pass; the pass chooser shows the others
    assert panel.assessment is panel.passes[-1][0]
    assert view.marks["P1-m3-n2"]["color"] == COLORS["correct"]
    assert panel.pass_box.isVisible() and panel.pass_box.count() == 3
    panel.pass_box.setCurrentIndex(1)
    assert panel.assessment is panel.passes[1][0]
    assert view.marks["P1-m3-n2"]["color"] == COLORS["wrong_pitch"]
    assert "Pass 2 of 3" in panel.score_label.text()


def test_looped_take_without_live_pass_starts_is_cut_on_the_tempo(tmp_path):
    """No follower to say where passes began (or an audio take): the passes are where the tempo puts them."""
    from tutor.listen.takes import load_performance
    from tutor.practice.loop import LoopReview, split_passes
    from tutor.score.io import load_score

    score = load_score(DEMO).at_tempo(bpm=90)
    _looped_take(score, tmp_path / "loop.mid", first=3, last=4, passes=3, wrong={}, skip={})
    take = load_performance(tmp_path / "loop.mid")
    review = LoopReview(score=score, measures=(3, 4), starts_s=None, count_in_s=0.0)
    passes = split_passes(take, review.pass_starts(take))
    assert [len(p.notes) for p in passes] == [7, 7, 7]
    assert [p.notes[0].pitch for p in passes] == [65, 65, 65]


def test_looped_clicks_count_in_once_then_repeat_the_range():
    from tutor.audio.metronome import click_schedule
    from tutor.practice.loop import looped_clicks
    from tutor.score.io import load_score

    score = load_score(DEMO).slice_measures(3, 4)
    looped = looped_clicks(click_schedule(score, count_in_bars=1))
    count_in = [c for c in looped.clicks if c.count_in]
    assert len(count_in) == 4  # one bar of 4/4, once
    bar_s = 4 * 60 / 90
    downbeats = [c.time_s for c in looped.clicks if c.accent and not c.count_in][:5]
    assert downbeats == pytest.approx([bar_s * k for k in range(1, 6)])  # m3, m4, m3, m4, m3


def test_live_audio_marks_every_note_of_a_rendered_take(qtbot, window, tmp_path):
    """Audio at real-time pace through the recorder, the live pitch tracker and the follower: every
    note of bar 1 (repeated notes: C C G G) gets its ring while it plays."""
    from tutor.audio.playback import render_midi_to_wav

    open_stream(sample_rate=16000)  # the live tracker loads (no sound card needed: the take is a file)
    score = _open(qtbot, window)
    panel = window.practice_panel
    take = tmp_path / "bar1.mid"
    _looped_take(score, take, first=1, last=1, passes=1, wrong={}, skip={})
    wav = render_midi_to_wav(take, tmp_path / "bar1.wav").path
    panel.first_bar.setValue(1)
    panel.last_bar.setValue(1)
    ringed = []
    add_live_mark = window.score_view.add_live_mark
    window.score_view.add_live_mark = lambda note_id, *a, **k: (ringed.append(note_id), add_live_mark(note_id, *a, **k))[1]
    assert panel.start_take(source_path=wav, input_kind="audio-file")
    live = panel.audio_live
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    wanted = [n for n in score.notes if n.measure == 1]
    right = {e.note_id for e in panel.live_events if e.type not in ("missed", "extra", "wrong_pitch")}
    assert right == {n.id for n in wanted}
    assert [pitch for _, pitch, _ in live.onsets] == [n.pitch for n in wanted]  # no doubled or lost repeats
    onsets = [n.onset_s - wanted[0].onset_s + 0.5 for n in wanted]
    assert [t for t, _, _ in live.onsets] == pytest.approx(onsets, abs=0.04)
    assert set(ringed) == {n.id for n in wanted}


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
    assert panel.catalog is not None and panel.catalog.exercises, panel.card.toPlainText()  # the bundled lessons
    window.set_mode("lessons")
    panel.select_first()
    assert panel.exercise is not None
    assert "To pass" in panel.card.toPlainText()
    panel.start()
    qtbot.waitUntil(lambda: window.score is not None and window.mode in ("practice", "compose"), timeout=30000)
    assert window.practice_panel.exercise is panel.exercise or window.mode == "compose"


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
    from PySide6.QtWidgets import QLabel

    def caveat_shown() -> bool:
        return window.compose_panel.findChild(QLabel, "emotion_caveat") is not None

    assert caveat_shown()  # a single melody line: the piano-trained emotion model is a rough guess
    window.open_file("corpus:bach/bwv66.6")
    qtbot.waitUntil(lambda: len(window.score.parts) == 4, timeout=30000)
    window.compose_panel.report = None
    window.compose_panel.run_critique()
    qtbot.waitUntil(lambda: window.compose_panel.report is not None, timeout=60000)
    qtbot.waitUntil(lambda: not caveat_shown(), timeout=5000)  # four voices: no caveat


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
    assert panel.suggestions, panel.suggest_status.text()
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


def test_compose_menu_actions_open_compose_mode(qtbot, window):
    _open(qtbot, window)
    window.set_mode("practice")
    from PySide6.QtGui import QAction

    actions = {a.text(): a for a in window.findChildren(QAction)}
    assert {"Harmonise the melody", "Similar pieces", "Generate a new piece…"} <= set(actions)
    assert actions["Similar pieces"].shortcut().toString() == "Ctrl+L"
    actions["Similar pieces"].trigger()
    assert window.mode == "compose"
    qtbot.waitUntil(lambda: bool(window.compose_panel.similar.results), timeout=60000)


def test_pitch_plot_shows_the_piece_as_played_with_its_repeats(qtbot, window, tmp_path):
    """Barry's Favourite (Nottingham, |: A :| |: B [1 :| [2 ||): the notes on the pitch plot are the tune as
    played (214 notes) while Repeats is ticked, and each passage once, through the second ending (107 of the
    111 written notes), when it is not."""
    from tests.conftest import shared
    from tutor.score.io import load_score, save_score

    path = save_score(load_score(shared("nottingham", "ABC_cleaned", "ashover.abc"), index=1),
                      tmp_path / "barrys.musicxml")
    _open(qtbot, window, path)
    panel = window.practice_panel

    def notes_on_plot() -> int:
        return sum(1 for x in panel._targets.xs if x == x) // 2  # two points a note, nan between notes

    assert panel.repeats.isChecked() and notes_on_plot() == 214
    panel.repeats.setChecked(False)
    assert notes_on_plot() == 107
