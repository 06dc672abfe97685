""""Practise these bars" (issue 24): one click loops the bars the review names, slower, with a count-in;
the tempo goes up as they come right. The coach's rules (tutor.practice.coach) and the panel driving it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

from tests.test_app import DEMO, DEMO_TAKE, _open
from tutor.practice.coach import CoachPlan, next_step, plan_for


def test_the_coach_picks_the_worst_bars_and_a_slower_tempo():
    bars = list(range(1, 13))
    assert plan_for((6, 3, 9), bars) == CoachPlan(6, 6, 70)
    assert plan_for((6, 7, 3), bars) == CoachPlan(6, 7, 70)
    assert plan_for((5, 7, 12), bars, tempo_percent=60) == CoachPlan(5, 7, 60)  # never faster than it was
    assert plan_for((1, 2, 3, 4, 5, 6), bars).last - plan_for((1, 2, 3, 4, 5, 6), bars).first < 4
    assert plan_for((), bars) is None and plan_for((40,), bars) is None


def test_the_tempo_rises_as_the_bars_come_right():
    plan = CoachPlan(6, 6, 70)
    assert next_step(plan, 9, 10).tempo_percent == 80
    assert next_step(plan, 7, 10).tempo_percent == 70
    assert next_step(plan, 3, 10).tempo_percent == 60
    assert next_step(CoachPlan(6, 6, 50), 3, 10).tempo_percent == 50
    assert next_step(CoachPlan(6, 6, 100), 10, 10).done


def _take_of_bars(score, path, *, first: int, last: int, passes: int, percent: int, wrong: str | None = None):
    """Bars first-last played ``passes`` times at ``percent`` of the written tempo (``wrong``: a note id
    played a tone too high in every pass)."""
    import pretty_midi

    stretch = 100.0 / percent
    notes = [n for n in score.notes if first <= n.measure <= last]
    start = score.seconds_at(score.measure(first).start_ql)
    length = (score.seconds_at(score.measure(last).end_ql) - start) * stretch
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for k in range(passes):
        for n in notes:
            onset = 0.5 + k * length + (n.onset_s - start) * stretch
            pitch = n.pitch + 2 if n.id == wrong else n.pitch
            piano.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=onset,
                                                end=onset + 0.9 * n.duration_s * stretch))
    midi.instruments.append(piano)
    midi.write(str(path))


def test_practise_these_bars_loops_them_slower_and_speeds_up(qtbot, window, tmp_path):
    from tutor.listen.takes import load_performance

    score = _open(qtbot, window, DEMO)
    window.set_mode("practice")
    panel = window.practice_panel
    panel.input_box.setCurrentIndex(panel.input_box.findData("midi-file"))
    panel.demo_realtime = False
    panel.review(performance=load_performance(DEMO_TAKE), path=DEMO_TAKE)
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    assert panel.assessment.practice_measures[0] == 6
    assert panel.coach_button.isVisible() and "Practise these bars" in panel.coach_button.text()
    # one click: bar 6 looped at 70 %, with a count-in; the student plays it right three times
    take = tmp_path / "bar6.mid"
    _take_of_bars(score, take, first=6, last=6, passes=3, percent=70)
    previous = panel.assessment
    assert panel.practise_weak_bars(source_path=take)
    assert (panel.first_bar.value(), panel.last_bar.value(), panel.tempo.value()) == (6, 6, 70)
    assert panel.loop.isChecked() and panel.count_in.value() >= 1
    qtbot.waitUntil(lambda: panel.assessment is not previous and bool(panel.passes), timeout=60000)
    assert len(panel.passes) >= 2
    assert panel.coach.tempo_percent == 80 and panel.tempo.value() == 80  # right: faster
    assert "80 %" in panel.coach_button.text() and "Coach" in panel.score_label.text()
    # the next click plays it at 80 %; a wrong note in every pass keeps the tempo there
    take2 = tmp_path / "bar6-wrong.mid"
    wrong = next(n.id for n in score.notes if n.measure == 6)
    _take_of_bars(score, take2, first=6, last=6, passes=3, percent=80, wrong=wrong)
    previous = panel.assessment
    assert panel.practise_weak_bars(source_path=take2)
    assert panel.tempo.value() == 80
    qtbot.waitUntil(lambda: panel.assessment is not previous and bool(panel.passes), timeout=60000)
    assert panel.coach.tempo_percent == 80 and "once more" in panel.score_label.text()
