"""A lesson exercise's take in the app, offscreen: the take is assessed once, in the review's worker,
never on the UI thread, and the attempt is recorded from that assessment."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


def _perfect_midi(score, path) -> None:
    import pretty_midi

    start = min(n.onset_s for n in score.notes)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for n in score.notes:
        onset = 0.5 + n.onset_s - start
        piano.notes.append(pretty_midi.Note(velocity=80, pitch=n.pitch, start=onset, end=onset + max(0.05, n.duration_s - 0.03)))
    midi.instruments.append(piano)
    midi.write(str(path))


def test_a_lesson_take_is_assessed_once_in_the_worker_and_recorded(qtbot, window, tmp_path, monkeypatch):
    import tutor.lessons.plans as plans
    import tutor.practice.loop as loop
    import tutor.ui.practice as practice
    from tutor.lessons.progress import ProgressDB

    catalog = window.lessons_panel.catalog
    if catalog is None:
        pytest.skip("no lesson catalog")
    exercise = next((e for e in catalog.exercises if e.kind != "compose" and e.input == "midi"), None)
    if exercise is None:
        pytest.skip("no MIDI exercise in the catalog")
    assessed = []  # the thread of each assessment

    def counted(assess):
        def run(*args, **kwargs):
            assessed.append(threading.current_thread())
            return assess(*args, **kwargs)
        return run

    monkeypatch.setattr(practice, "assess", counted(practice.assess))
    monkeypatch.setattr(loop, "assess", counted(loop.assess))
    monkeypatch.setattr(plans, "assess_take", lambda *a, **k: pytest.fail("the take was assessed a second time"))

    window.start_exercise(exercise)
    qtbot.waitUntil(lambda: window.mode == "practice" and window.practice_panel.exercise is exercise, timeout=30000)
    panel = window.practice_panel
    take = tmp_path / "take.mid"
    _perfect_midi(panel.practice_score(), take)
    panel.demo_realtime = False
    assert panel.start_take(source_path=take, input_kind="midi-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    qtbot.waitUntil(lambda: "Passed" in panel.score_label.text() or "Not passed" in panel.score_label.text(),
                    timeout=10000)
    assert len(assessed) == 1 and assessed[0] is not threading.main_thread()
    with ProgressDB() as db:
        attempts = db.attempts(exercise.id)
    assert len(attempts) == 1
    attempt = attempts[0]
    assert attempt.overall == pytest.approx(panel.assessment.overall)  # the assessment shown is the one recorded
    assert attempt.notes_total == panel.assessment.notes_total
    assert "Passed!" in panel.score_label.text()  # every note played as written


def test_a_voice_lessons_folk_song_is_heard_as_sung_whatever_its_part_is_called(qtbot, window, tmp_path):
    """The in-tune lesson's folk song (a part called "Melody", no voice program) in the app: its audio take
    is heard as a voice, as `tutor lessons take` hears it (the live follower is chosen by ``_part_instrument``)."""
    from tutor.listen.takes import take_instrument

    exercise = next(e for e in window.lessons_panel.catalog.exercises if e.score.endswith("folk_nun_schlaf.musicxml"))
    assert exercise.input == "voice"
    window.start_exercise(exercise)
    qtbot.waitUntil(lambda: window.mode == "practice" and window.practice_panel.exercise is exercise, timeout=30000)
    panel = window.practice_panel
    assert take_instrument(panel.practice_score()) is None  # by its part alone, an unnamed single line
    assert panel._take_instrument(tmp_path / "take.wav") == "voice"
    assert panel._part_instrument() == "voice"
