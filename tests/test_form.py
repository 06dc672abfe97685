"""Musical form (issue 21): repeats, endings, part orders and D.C./D.S. read, unfolded, played, exported and
assessed; on real Nottingham tunes (the set's own MIDI rendition's melody as the faultless take)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import shared
from tutor.api.reports import assessment_lines
from tutor.practice.assessment import assess
from tutor.score.form import play_order, unfold, written_id
from tutor.score.io import load_score, save_score

ASHOVER = ("nottingham", "ABC_cleaned", "ashover.abc")


def tune(index: int, midi: str):
    from tests.bench.bench_form import melody_take

    score = load_score(shared(*ASHOVER), index=index)
    return score, melody_take(shared("nottingham", "MIDI", midi))


def test_repeats_and_endings_unfold_as_the_set_plays_them():
    # Barry's Favourite: |: A :| |: B [1 :| [2 ||, the set's MIDI melody is the tune played with its repeats
    score, take = tune(1, "ashover2.mid")
    order = [(v.number, v.pass_number) for v in play_order(score)]
    assert order[:10] == [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (1, 2)]
    assert (16, 1) in order and (16, 2) not in order and order[-1] == (17, 1)  # first ending once, then the second
    played = unfold(score).score
    assert [n.pitch for n in played.notes] == [n.pitch for n in take.notes]
    assert len(score.notes) == 111 and len(played.notes) == 214
    assert written_id(played.notes[-1].id) == (played.notes[-1].id, 1)
    assert any(written_id(n.id)[1] == 2 for n in played.notes)


def test_part_order_header_and_musicxml_round_trip(tmp_path):
    # Chestnut Reel: Y:ABBCB over parts P:A (a pickup), P:B and P:C, each with its own repeats and endings
    score, take = tune(9, "ashover10.mid")
    assert score.form.part_order == "ABBCB"
    played = unfold(score)
    assert [n.pitch for n in played.score.notes] == [n.pitch for n in take.notes]
    assert played.passes == 6  # measures of part B: twice in each of its three turns
    path = save_score(score, tmp_path / "chestnut.musicxml")
    again = load_score(path)
    assert [(v.number, v.pass_number) for v in play_order(again)] == [(v.number, v.pass_number) for v in played.visits]
    midi = load_score(save_score(score, tmp_path / "chestnut.mid"))  # MIDI plays the repeats out
    assert [n.pitch for n in midi.notes] == [n.pitch for n in take.notes]


def test_faultless_take_with_repeats_is_all_correct():
    score, take = tune(1, "ashover2.mid")
    result = assess(score, take)
    assert {e.type for e in result.events} == {"correct"}
    assert result.notes_total == 214 and result.notes_correct == 214
    assert {e.to_json()["pass"] for e in result.events} == {1, 2}
    # the score's own note ids and measure numbers: the second time through names the written note
    assert all("@" not in e.note_id for e in result.events)
    assert all(note_id in {n.id for n in score.notes} for note_id in result.marks)
    # read as written once (repeats ignored), the same take was restarts and wrong notes
    before = assess(replace(score, form=None), take)
    assert before.events_of("restart")


def test_skipped_repeat_is_one_event_not_missed_notes():
    from tests.bench.bench_form import skip_repeat

    score, take = tune(1, "ashover2.mid")
    straight, gaps = skip_repeat(score, take)
    result = assess(score, straight)
    skipped = result.events_of("skipped_repeat")
    assert gaps == 2 and len(skipped) == 2
    assert skipped[0].message == "skipped the repeat of measures 1-8"
    assert not result.events_of("missed") and not result.events_of("restart") and not result.events_of("extra")
    assert any("skipped the repeat of measures 1-8" in line for line in assessment_lines(result.to_json()))


def test_repeat_played_when_none_was_asked():
    score, take = tune(1, "ashover2.mid")
    result = assess(score, take, repeats=False)
    repeats = result.events_of("extra_repeat")
    assert [e.message for e in repeats] == ["played the repeat of measures 1-8 (not asked: repeats off)",
                                            "played the repeat of measures 9-16 (not asked: repeats off)"]
    assert not result.events_of("restart")


def test_restart_inside_a_repeat_names_the_second_time():
    from tests.bench.bench_form import restart_in_repeat

    score, take = tune(1, "ashover2.mid")
    restarted, measure = restart_in_repeat(score, take)
    result = assess(score, restarted)
    restarts = result.events_of("restart")
    assert len(restarts) == 1 and restarts[0].pass_number == 2
    assert restarts[0].message == f"went back from measure {measure - 1}, 2nd time to measure {measure - 2}, 2nd time"
    assert not [e for e in result.events if e.type not in ("correct", "restart")]
    lines = assessment_lines(result.to_json())
    assert any(f"m. {measure - 2} beat 1, 2nd time" in line for line in lines)


def test_no_repeats_plays_each_passage_once():
    from tutor.audio.playback import plan_score

    score, _take = tune(1, "ashover2.mid")
    with_repeats, once = plan_score(score), plan_score(score, repeats=False)
    assert len(with_repeats.notes) == 214
    first_ending = [n for n in score.notes if n.measure == 16]
    assert len(first_ending) == 4 and len(once.notes) == len(score.notes) - 4  # the first ending is not played
    assert with_repeats.music_end_s == pytest.approx(2 * once.music_end_s, rel=0.1)


def _jump_score(tmp_path, marks):
    """A MusicXML file of 6 one-note measures (pitches 60..65) with music21 repeat expressions."""
    import music21

    part = music21.stream.Part()
    for number in range(1, 7):
        measure = music21.stream.Measure(number=number)
        if number == 1:
            measure.timeSignature = music21.meter.TimeSignature("4/4")
        measure.append(music21.note.Note(59 + number, quarterLength=4))
        for mark in marks.get(number, ()):
            measure.insert(0, mark)
        part.append(measure)
    score = music21.stream.Score([part])
    path = tmp_path / "jumps.musicxml"
    score.write("musicxml", fp=str(path))
    return path, score


def test_da_capo_al_fine_and_dal_segno_al_coda(tmp_path):
    import music21

    path, m21 = _jump_score(tmp_path, {3: [music21.repeat.Fine()], 6: [music21.repeat.DaCapoAlFine()]})
    score = load_score(path)
    assert [v.number for v in play_order(score)] == [1, 2, 3, 4, 5, 6, 1, 2, 3]
    expanded = music21.repeat.Expander(m21.parts[0]).process()  # the peer agrees (it numbers on: 7, 8, 9)
    assert [n.pitch.midi for n in expanded.recurse().notes] == [n.pitch for n in unfold(score).score.notes]
    assert [v.number for v in play_order(score, repeats=False)] == [1, 2, 3, 4, 5, 6]
    path, _ = _jump_score(tmp_path, {2: [music21.repeat.Segno()], 3: [music21.repeat.Coda()],
                                     4: [music21.repeat.DalSegnoAlCoda()], 5: [music21.repeat.Coda()]})
    assert [v.number for v in play_order(load_score(path))] == [1, 2, 3, 4, 2, 3, 5, 6]



def test_jumps_written_as_words(tmp_path):
    """Many editors write Fine, D.S. al Coda, To Coda and Coda as words, not as signs."""
    import music21

    def words(text):
        return music21.expressions.TextExpression(text)

    path, _ = _jump_score(tmp_path, {3: [words("Fine")], 6: [words("D.C. al Fine")]})
    assert [v.number for v in play_order(load_score(path))] == [1, 2, 3, 4, 5, 6, 1, 2, 3]
    path, _ = _jump_score(tmp_path, {2: [words("Segno")], 3: [words("To Coda")],
                                     4: [words("D.S.  al   Coda")], 5: [words("Coda")]})
    assert [v.number for v in play_order(load_score(path))] == [1, 2, 3, 4, 2, 3, 5, 6]
    path, _ = _jump_score(tmp_path, {3: [words("dolce")], 6: [words("Da Capo")]})
    assert [v.number for v in play_order(load_score(path))] == [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]

def test_live_follower_follows_the_repeats():
    from tutor.practice.follower import ScoreFollower, follow_performance

    score, take = tune(1, "ashover2.mid")
    events = follow_performance(ScoreFollower(score, repeats=True), take)
    assert not [e for e in events if e.type not in ("correct",)]
    assert {e.pass_number for e in events} == {1, 2}
    assert all("@" not in (e.note_id or "") for e in events)
    # without the repeats the follower hears restarts
    assert [e for e in follow_performance(ScoreFollower(score), take) if e.type == "restart"]


def test_info_and_the_cursor_follow_the_piece_as_played(capsys):
    import json

    from tutor.cli import main

    path = shared(*ASHOVER)
    assert main(["info", str(path), "--index", "1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["measures"], info["played_measures"], info["passes"]) == (18, 33, 2)
    assert info["played_duration_s"] == pytest.approx(64.0) and info["duration_s"] == pytest.approx(34.0)
    # the cursor: a position after the first ending, as played, is back in measure 1 as written
    played = unfold(load_score(path, index=1))
    after_repeat = played.visits[9]  # (1, 2): measure 1 the second time
    written, pass_number = played.written_position(after_repeat.played_start_ql + 0.5)
    assert pass_number == 2 and written == pytest.approx(after_repeat.written_start_ql + 0.5)
    assert written < played.visits[8].written_start_ql
