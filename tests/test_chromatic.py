"""Chromatic notes with a reason are not errors (issue 24, item 10): a secondary dominant, written as a
chord or arpeggiated in a piano texture, a diminished seventh, a Neapolitan; a real piece's count drops;
a chromatic note with no reason is still found."""

from __future__ import annotations

from tests.conftest import shared
from tests.rule_scores import make_score, quarters
from tutor.compose.rules import check_rules
from tutor.score.io import load_score


def out_of_key(score, style):
    return [f for f in check_rules(score, style=style, rules=["out_of_key"])]


def test_a_secondary_dominant_in_four_parts_is_not_out_of_key():
    # C major: I - V7/V (D F# A C) - V - I; the F# leads up to G in the soprano
    soprano = quarters(72, 72, 74, 72, 72, 66, 67, 67)
    alto = quarters(67, 67, 66, 67, 64, 69, 67, 64)
    tenor = quarters(64, 64, 62, 62, 60, 60, 62, 60)
    bass = quarters(48, 48, 50, 43, 48, 50, 43, 48)
    assert out_of_key(make_score(soprano, alto, tenor, bass), "chorale") == []


def test_an_arpeggiated_secondary_dominant_in_a_piano_part_is_not_out_of_key():
    eighths = [(p, 0.5) for p in (48, 55, 64, 67, 48, 55, 64, 67,  # C major
                                  50, 54, 57, 60, 50, 54, 57, 60,  # D7 (V7 of G), F# in the middle of the figure
                                  43, 50, 55, 59, 43, 50, 55, 59,  # G major
                                  48, 55, 64, 72)]
    assert out_of_key(make_score(eighths), "keyboard") == []


def test_a_chromatic_note_without_a_reason_is_still_found():
    # over a C major chord, the melody's F# neither passes, returns, leads nor belongs to a chord
    melody = quarters(72, 76, 78, 72, 72, 71, 72, 72)
    chords = [(48, 1), (52, 1), (55, 1), (52, 1), (48, 1), (55, 1), (48, 2)]
    found = out_of_key(make_score(melody, chords), "keyboard")
    assert len(found) == 1 and "F#5" in found[0].message


def test_a_romantic_piano_piece_is_not_covered_in_warnings():
    score = load_score(shared("nasap-dev", "Schumann", "Arabeske", "xml_score.musicxml"))
    found = out_of_key(score, None)
    assert len(found) <= 25, len(found)  # 66 before: its secondary dominants and diminished sevenths
