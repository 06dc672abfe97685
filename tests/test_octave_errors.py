"""A note played an octave away is one wrong note, "an octave high/low", not a missed and an extra note
(issue 24, item 6)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.assessment_cases import play, scale_score
from tutor.practice.assessment import assess, marks_for
from tutor.score.io import load_score
from tutor.score.music import Performance

from .conftest import REPO


@pytest.mark.parametrize("shift, words", [(12, "an octave high"), (-12, "an octave low")])
def test_an_octave_displacement_is_named(shift, words):
    score = scale_score(4)
    take = play(score, bpm=100)
    index = 5
    take[index] = replace(take[index], pitch=take[index].pitch + shift)
    result = assess(score, Performance(notes=tuple(take)), bpm=100)
    kinds = [e.type for e in result.events if e.type not in ("correct",)]
    assert "missed" not in kinds and "extra" not in kinds, [(e.type, e.message) for e in result.events]
    wrong = [e for e in result.events if e.type == "wrong_pitch"]
    assert len(wrong) == 1 and wrong[0].note_id == score.notes[index].id
    assert words in wrong[0].message, wrong[0].message
    assert marks_for(result.events)[score.notes[index].id]["text"] == ("8va?" if shift > 0 else "8vb?")


def test_an_octave_displacement_in_twinkle():
    score = load_score(REPO / "assets" / "demo" / "twinkle.musicxml")
    take = play(score, bpm=90)
    take[8] = replace(take[8], pitch=take[8].pitch + 12)
    result = assess(score, Performance(notes=tuple(take)), bpm=90)
    shown = [(e.type, e.message) for e in result.events if e.type != "correct"]
    assert [t for t, _ in shown] == ["wrong_pitch"] and "an octave high" in shown[0][1], shown
