"""A take that stops before the end of the piece: the review is about the bars that were played."""

from __future__ import annotations

from dataclasses import replace

from tests.assessment_cases import play, scale_score
from tests.conftest import shared
from tests.test_assessment import K331, K331_TAKE
from tutor.practice.assessment import assess
from tutor.practice.stopped import assess_until_stopped, stop_of
from tutor.score.music import Performance


def _take(notes) -> Performance:
    return Performance(notes=tuple(notes))


def test_a_real_take_cut_short_is_reviewed_up_to_where_it_stopped():
    from tutor.listen.takes import load_performance
    from tutor.score.io import load_score

    score, whole = load_score(shared(*K331)), load_performance(shared(*K331_TAKE))
    cut_s = whole.notes[len(whole.notes) // 3].onset_s
    played = [n for n in whole.notes if n.onset_s < cut_s]
    played[10] = replace(played[10], pitch=played[10].pitch + 2)  # a wrong note before the stop
    take = replace(whole, notes=tuple(played))
    full = assess(score, take)
    assert len(full.events_of("missed")) > 50  # the rest of the piece, as the whole-piece review has it
    reviewed, stop = assess_until_stopped(score, take, full)
    assert stop is not None and stop.measure < stop.last_measure == score.measures[-1].number
    assert stop.said().startswith(f"You stopped in bar {stop.measure}: bars {stop.reviewed_to + 1}–")
    assert max(e.measure for e in reviewed.events) <= stop.reviewed_to
    assert len(reviewed.events_of("missed")) <= 3  # the stop bar's last notes at most
    assert [e.played_pitch - e.expected_pitch for e in reviewed.events_of("wrong_pitch")] == [2]
    assert reviewed.notes_total < full.notes_total and reviewed.pitch > full.pitch


def test_a_take_played_to_the_end_or_leaving_out_the_last_notes_did_not_stop():
    score = scale_score(bars=6)
    notes = play(score)
    assert stop_of(assess(score, _take(notes)), score) is None
    short_of_the_end = assess(score, _take(notes[:-6]))  # the last bar and a half left out
    assert stop_of(short_of_the_end, score) is None
    assert len(short_of_the_end.events_of("missed")) == 6


def test_a_take_that_stops_after_two_bars_of_six():
    score = scale_score(bars=6)
    take = _take(play(score)[:8])
    full = assess(score, take)
    stop = stop_of(full, score)
    assert stop is not None and (stop.measure, stop.reviewed_to, stop.last_measure, stop.notes_left) == (2, 2, 6, 16)
    assert stop.said() == "You stopped in bar 2: bars 3–6 were not reviewed."
    reviewed, _ = assess_until_stopped(score, take, full)
    assert reviewed.notes_total == reviewed.notes_correct == 8 and not reviewed.events_of("missed")


def test_one_note_played_stopped_in_the_first_bar():
    score = scale_score(bars=6)
    stop = stop_of(assess(score, _take(play(score)[:1])), score)
    assert stop is not None and (stop.measure, stop.notes_left) == (1, 20)  # bars 2-6


def test_a_violinist_who_plays_the_repeat_and_stops_is_not_told_of_a_restart_or_a_skipped_repeat(tmp_path):
    """Real violin (bach-violin-dev, BWV 1002 mov. 6, the first 40 s: bars 1-8 twice, then 9-16): on the
    whole score the unplayed rest made the alignment read the repeat as a restart and "skipped the repeat";
    reviewed up to where the take stopped, the repeat is read as played, with every labelled note assessed."""
    import librosa
    import soundfile

    from tutor.listen.takes import load_performance
    from tutor.score.io import load_score

    root = shared("real-audio", "bach-violin-dev")
    audio, rate = librosa.load(str(root / "audio" / "john-garner_bwv1002_mov6.mp3"), sr=22050, mono=True, duration=40.0)
    take_path = tmp_path / "take.wav"
    soundfile.write(str(take_path), audio, rate)
    score = load_score(root / "scores" / "bwv1002_mov6.mxl")
    take = load_performance(take_path, instrument="violin")
    full = assess(score, take)
    reviewed, stop = assess_until_stopped(score, take, full)
    assert stop is not None and (stop.measure, stop.last_measure) == (16, 32)
    kinds = {e.type for e in reviewed.events}
    assert not kinds & {"restart", "skipped_repeat"}, kinds
    assert {e.pass_number for e in reviewed.events if e.measure is not None and e.measure <= 8} == {1, 2}
    rows = (root / "notes_abs_time" / "john-garner_bwv1002_mov6.csv").read_text().splitlines()[1:]
    labelled = sum(1 for line in rows if line and float(line.split(",")[0]) < 40.0)
    assert abs(reviewed.notes_total - labelled) <= 3, (reviewed.notes_total, labelled)
    assert len(reviewed.events_of("missed")) + len(reviewed.events_of("wrong_pitch")) <= 8
