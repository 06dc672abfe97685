"""One pitch-name table (``tutor.score.music.pitch_name``): every message spells notes the same way."""

from __future__ import annotations

from tutor.score.music import PITCH_NAMES, pitch_name


def test_pitch_names_and_octaves():
    assert [pitch_name(p) for p in range(60, 72)] == ["C4", "C#4", "D4", "Eb4", "E4", "F4", "F#4", "G4", "Ab4",
                                                      "A4", "Bb4", "B4"]
    assert (pitch_name(0), pitch_name(21), pitch_name(59), pitch_name(108), pitch_name(127)) == ("C-1", "A0", "B3",
                                                                                                 "C8", "G9")
    assert len(PITCH_NAMES) == 12


def test_the_analysis_without_a_key_and_the_assessment_use_it():
    from tutor.practice.assessment import Event, marks_for
    from tutor.score.analysis import pitch_name as spelled

    assert [spelled(p) for p in range(128)] == [pitch_name(p) for p in range(128)]
    def wrong(note_id, played):
        return Event("wrong_pitch", 0.0, 1, 1.0, 60, played, 0.0, None, None, "", note_id=note_id)


    assert marks_for([wrong("n1", 63)])["n1"]["text"] == "Eb4?"
    assert marks_for([wrong("n2", None)])["n2"]["text"] == "??"
