"""Loading, saving and round trips of scores on real files; the data model's time conversions."""

from __future__ import annotations

import random

import pytest

from tests.conftest import REPO, shared
from tutor.listen.takes import load_performance
from tutor.score.io import load_score, musicxml_bytes, save_score
from tutor.score.music import TempoChange, TempoMap


def _signature(score):
    return sorted((n.id, n.pitch, round(n.onset_ql, 3), round(n.duration_ql, 3), n.measure) for n in score.notes)


def _round_trip(score, tmp_path, ext):
    out = tmp_path / f"round{ext}"
    save_score(score, out)
    return load_score(out)


@pytest.mark.parametrize("ext", [".musicxml", ".mid", ".mxl"])
def test_round_trip_bach_chorale_keeps_notes_measures_and_ids(tmp_path, ext):
    score = load_score("corpus:bach/bwv66.6")
    assert len(score.parts) == 4 and len(score.notes) > 150
    back = _round_trip(score, tmp_path, ext)
    assert _signature(back) == _signature(score)
    assert [m.number for m in back.measures] == [m.number for m in score.measures]  # pickup bar 0 kept
    assert back.time_signature == "4/4"


def test_round_trip_nasap_score(tmp_path):
    path = shared("nasap-dev", "Bach", "Prelude", "bwv_875", "xml_score.musicxml")
    score = load_score(path)
    for ext in (".musicxml", ".mid"):
        back = _round_trip(score, tmp_path, ext)
        assert _signature(back) == _signature(score), ext


def test_round_trip_nottingham_midi(tmp_path):
    folder = shared("nottingham", "MIDI")
    files = sorted(folder.glob("*.mid"))
    for path in random.Random(7).sample(files, 3):
        score = load_score(path)
        assert score.notes and score.measures
        for ext in (".musicxml", ".mid"):
            back = _round_trip(score, tmp_path, ext)
            assert _signature(back) == _signature(score), (path.name, ext)


def test_multi_tune_abc_by_index():
    path = shared("nottingham", "ABC_cleaned", "ashover.abc")
    first = load_score(path, index=0)
    second = load_score(path, index=1)
    assert first.title != second.title
    assert first.notes and second.notes


def test_ties_make_one_sounding_note():
    score = load_score("corpus:bach/bwv66.6")
    tied = [n for n in score.notes if n.tied_ids]
    assert tied, "bwv66.6 has tied notes"
    for note in tied:
        assert all(t.startswith(note.id + "-t") for t in note.tied_ids)
        assert score.note_by_id(note.tied_ids[0]) is note


def test_ids_are_unique_and_appear_in_musicxml_and_verovio_svg():
    score = load_score(REPO / "assets" / "demo" / "twinkle.musicxml")
    ids = [n.id for n in score.notes]
    assert len(ids) == len(set(ids))
    xml = musicxml_bytes(score, colors={ids[3]: "#FF0000"}, texts={ids[3]: "late"}).decode()
    for note_id in ids:
        assert f'id="{note_id}"' in xml
    import verovio

    toolkit = verovio.toolkit()
    toolkit.loadData(xml)
    svg = toolkit.renderToSVG(1)
    assert f'id="{ids[0]}"' in svg and f'id="{ids[-1]}"' in svg
    assert "#FF0000" in svg.upper()


def test_a_note_no_one_notehead_writes_gets_an_id_per_notehead_and_its_tie_is_engraved(tmp_path):
    """A 2.5-quarter note (a half tied to an eighth, in one bar) is written as two noteheads with ids of their
    own (the exporter's split gave both the note's id, and Verovio dropped the tie: the pop restyle's long notes)."""
    import re

    import verovio

    from tests.assessment_cases import make_score

    score = make_score([(0.0, [62], 1.0), (1.0, [62], 0.5), (1.5, [60], 2.5), (4.0, [64], 4.0)])
    xml = musicxml_bytes(score).decode()
    ids = re.findall(r'<note[^>]*\sid="([^"]+)"', xml)
    assert len(ids) == len(set(ids)) == 5 and "P1-m1-n2-t1" in ids
    toolkit = verovio.toolkit()
    toolkit.loadData(xml)
    assert "identical values in @startid and @endid" not in toolkit.getLog()
    back = load_score(save_score(score, tmp_path / "long.musicxml"))
    assert [(n.id, n.pitch, n.onset_ql, n.duration_ql) for n in back.notes] == [
        (n.id, n.pitch, n.onset_ql, n.duration_ql) for n in score.notes]


def test_note_times_follow_tempo_map():
    score = load_score(REPO / "assets" / "demo" / "twinkle.musicxml")
    assert score.tempo_map.initial_bpm == 90
    fifth = score.notes[4]
    assert fifth.onset_s == pytest.approx(fifth.onset_ql * 60 / 90)
    assert score.seconds_at(8.0, bpm=60) == pytest.approx(8.0)
    assert score.position_at(score.seconds_at(13.5)) == pytest.approx(13.5)


def test_tempo_map_with_changes_is_invertible():
    tempo = TempoMap((TempoChange(0.0, 60.0), TempoChange(4.0, 120.0), TempoChange(10.0, 90.0)))
    assert tempo.seconds_at(4.0) == pytest.approx(4.0)
    assert tempo.seconds_at(6.0) == pytest.approx(5.0)
    for position in (0.0, 3.3, 4.0, 7.5, 10.0, 15.25):
        assert tempo.position_at(tempo.seconds_at(position)) == pytest.approx(position)
    assert tempo.scaled(bpm=30).seconds_at(6.0) == pytest.approx(10.0)


def test_slice_measures_keeps_positions_and_ids():
    score = load_score("corpus:bach/bwv66.6")
    part = score.slice_measures(2, 4)
    assert [m.number for m in part.measures] == [2, 3, 4]
    assert {n.measure for n in part.notes} == {2, 3, 4}
    assert all(score.note_by_id(n.id) == n for n in part.notes)


def test_sliced_score_exports_only_those_measures(tmp_path):
    score = load_score("corpus:bach/bwv66.6").slice_measures(2, 3)
    back = _round_trip(score, tmp_path, ".musicxml")
    assert len(back.notes) == len(score.notes)
    assert sorted(n.pitch for n in back.notes) == sorted(n.pitch for n in score.notes)


def test_performance_from_real_midi_keeps_raw_seconds_and_pedal():
    folder = shared("nasap-dev", "Bach", "Prelude", "bwv_875")
    performance_file = next(p for p in sorted(folder.glob("*.mid")))
    performance = load_performance(performance_file)
    assert len(performance.notes) > 500
    onsets = [n.onset_s for n in performance.notes]
    assert onsets == sorted(onsets)
    assert any(abs(o * 8 - round(o * 8)) > 0.01 for o in onsets)  # not quantised
    sustained = performance.sustained()
    assert all(b.offset_s >= a.offset_s for a, b in zip(performance.notes, sustained.notes, strict=True))


@pytest.mark.parametrize("piece", ["Mozart_K331_1st-mov_p02", "Chopin_op10_no3_p01"])
def test_a_performance_midi_opened_as_a_piece_is_drawn(piece):
    """A real pianist's MIDI (Vienna 4x22: unquantised, lengths like 25/48 of a beat) opened as a piece: music21
    cannot write its notes as they are, so they are drawn on a sixteenth grid (``on_drawn_grid``), every note once,
    with its own id and pitch (the marks land on it); the score assessed keeps its own times."""
    import re

    from tutor.errors import OutputFileError
    from tutor.score.io import _write_musicxml, music21_from_notes, on_drawn_grid

    score = load_score(shared("vienna4x22", "midi", f"{piece}.mid"))
    with pytest.raises(OutputFileError):
        _write_musicxml(music21_from_notes(score))  # (what the score view could not draw)
    xml = musicxml_bytes(score).decode("utf-8")
    steps = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    heads = {}
    for note_id, body in re.findall(r'<note[^>]* id="([^"]+)">(.*?)</note>', xml, re.S):
        if "-t" in note_id or "<rest" in body:
            continue
        step, alter, octave = (re.search(rf"<{tag}>(-?\w+)</{tag}>", body) for tag in ("step", "alter", "octave"))
        assert note_id not in heads, f"{note_id} drawn twice"
        heads[note_id] = 12 * (int(octave.group(1)) + 1) + steps[step.group(1)] + (int(alter.group(1)) if alter else 0)
    assert {n.id: n.pitch for n in score.notes}.items() <= heads.items()
    drawn = on_drawn_grid(score)
    assert [(n.id, n.pitch) for n in drawn.notes] == [(n.id, n.pitch) for n in score.notes]
    assert all(d.duration_ql > 0 for d in drawn.notes)


def test_a_pitch_struck_twice_at_the_start_keeps_two_heads():
    """Two strikes of one pitch within a step of the piece's start: the later one is drawn a step after."""
    from dataclasses import replace

    from tutor.score.io import on_drawn_grid

    score = load_score(shared("vienna4x22", "midi", "Mozart_K331_1st-mov_p01.mid"))
    first = min(score.notes, key=lambda n: n.onset_ql)
    again = replace(first, id="again", onset_ql=first.onset_ql + 0.05)
    drawn = {n.id: n for n in on_drawn_grid(replace(score, notes=score.notes + (again,))).notes}
    assert drawn["again"].onset_ql != drawn[first.id].onset_ql
    assert 'id="again"' in musicxml_bytes(replace(score, notes=score.notes + (again,))).decode("utf-8")
