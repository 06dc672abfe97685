"""Every bar of every MusicXML file the app writes adds up, and its rests are seen (issue 24, item 3).

The F-major chorale below had 5 quarters in the soprano's first 4/4 bar (a half note under the
next beat written one after the other) and bar 3 held one quarter and a hidden dotted half rest
in every part. ``tutor.score.barcheck.bar_problems`` reads the written file itself.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tutor.api.analyses import generate
from tutor.api.requests import GenerateRequest
from tutor.compose.suggest import apply_suggestion, continue_piece
from tutor.score.barcheck import bar_problems
from tutor.score.io import load_score, musicxml_bytes, save_score

from .conftest import REPO


def _notes(score):
    return sorted((n.part, n.pitch, round(n.onset_ql, 4), round(n.duration_ql, 4)) for n in score.notes)


def test_the_checker_finds_a_full_bar_too_long_and_a_hidden_rest():
    def bar(notes: str) -> bytes:
        return (f'<score-partwise><part id="P1"><measure number="1"><attributes><divisions>1</divisions><time>'
                f'<beats>4</beats><beat-type>4</beat-type></time></attributes>{notes}</measure>'
                f'<measure number="2"><note><rest/><duration>4</duration></note></measure></part>'
                f'</score-partwise>').encode()

    quarter = "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note>"
    assert bar(quarter * 4) and bar_problems(bar(quarter * 4)) == []
    assert [p.text for p in bar_problems(bar(quarter * 5))] == ["voice 1 holds 5 quarters, the bar 4 quarters"]
    hidden = quarter + '<note print-object="no"><rest/><duration>3</duration></note>'
    assert [p.text for p in bar_problems(bar(hidden))] == ["a hidden rest in voice 1"]


@pytest.fixture(scope="module")
def chorale():
    return generate(GenerateRequest(style="chorale", mood="Q4", key="F major", meter="4/4", bars=4, seed=1))[1].score


def test_a_generated_chorale_is_written_with_full_bars_and_seen_rests(chorale, tmp_path):
    soprano = chorale.notes_of("P1")
    # the case of the issue: the soprano's half note on beat 3 of bar 1 under a quarter on beat 4, a gap in bar 3
    assert any(a.offset_ql > b.onset_ql + 1e-6 for a, b in zip(soprano, soprano[1:], strict=False))
    path = save_score(chorale, tmp_path / "chorale.musicxml")
    assert [str(p) for p in bar_problems(path.read_bytes())] == []
    assert "<rest" in path.read_text()  # bar 3's rests are there, and seen
    assert _notes(load_score(path)) == _notes(chorale)  # every note read back where it was
    again = load_score(path)  # re-read and written again (the app writes what it re-read)
    assert [str(p) for p in bar_problems(musicxml_bytes(again))] == []
    assert [str(p) for p in bar_problems(musicxml_bytes(replace(again, source_path=None)))] == []


@pytest.mark.parametrize("source", [
    "corpus:bach/bwv66.6",  # a chorale with a pickup bar and a short last bar
    "corpus:essenFolksong/altdeu10.abc",  # a corpus tune as Similar pieces opens it (ABC: written from the notes)
    str(REPO / "assets" / "demo" / "twinkle.musicxml"),
    str(REPO / "assets" / "demo" / "student_melody.musicxml"),
])
def test_pieces_the_app_opens_are_written_with_full_bars(source):
    score = load_score(source)
    assert [str(p) for p in bar_problems(musicxml_bytes(score))] == []
    # an edit makes the app build the notation from the notes
    assert [str(p) for p in bar_problems(musicxml_bytes(replace(score, source_path=None)))] == []


def test_an_accepted_continuation_is_written_with_full_bars():
    melody = load_score("corpus:ryansMammoth/BottleOfBrandyJig.abc")
    suggestion = continue_piece(melody, bars=2, k=1, seed=1)[0]
    accepted = apply_suggestion(melody, suggestion)
    assert [str(p) for p in bar_problems(musicxml_bytes(accepted))] == []


def test_an_edited_piece_keeps_its_parts_short_name():
    score = load_score(REPO / "assets" / "demo" / "twinkle.musicxml")  # Melody, a flute sound: "Mel." on line 2
    edited = replace(score, notes=tuple(replace(n, pitch=n.pitch + 1) if n.id == "P1-m1-n2" else n for n in score.notes))
    text = musicxml_bytes(edited).decode()
    assert "<part-abbreviation>Mel.</part-abbreviation>" in text and "<part-abbreviation>Fl" not in text
