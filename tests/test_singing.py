"""Singing as a teacher hears it (issue 22): a held key is told once, a drift as a drift, doubt is said."""

from __future__ import annotations

from dataclasses import replace

from tests.assessment_cases import make_score, play
from tutor.practice.assessment import assess
from tutor.score.music import Part, Performance, PlayedNote

TUNE = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 62, 60]


def sung_score(tune=TUNE):
    score = make_score([(float(i), [p], 1.0) for i, p in enumerate(tune)])
    return replace(score, parts=(Part("P1", "Voice", program=53),))


def audio_take(score, *, shift: int = 0, cents: float = 0.0, drift_cents_per_s: float = 0.0, confidence: float = 0.9):
    notes = []
    for n in play(score):
        value = n.pitch + shift + (cents + drift_cents_per_s * n.onset_s) / 100.0
        pitch = round(value)
        notes.append(PlayedNote(pitch=pitch, onset_s=n.onset_s, offset_s=n.offset_s, cents=round((value - pitch) * 100, 1),
                                confidence=confidence))
    return Performance(notes=tuple(notes))


def test_a_singer_a_tone_low_throughout_is_told_once_not_marked_wrong_on_every_note():
    score = sung_score()
    result = assess(score, audio_take(score, shift=-2), level="beginner")
    assert result.held_key is not None and result.held_key.semitones == -2
    assert "a tone low throughout" in result.held_key.message and result.held_key.message.startswith("you sang")
    assert not result.events_of("wrong_pitch")
    assert result.notes_correct == len(TUNE)
    doc = result.to_json()
    assert doc["held_key"]["semitones"] == -2 and doc["drifts"] == []


def test_an_instrument_tuned_off_a_440_is_told_its_tuning_once_and_judged_against_it():
    """A violin tuned to A = 444 Hz (16 cents sharp): told once, in the report too, and its notes are not
    marked sharp one by one; a singer 16 cents sharp is left to the note-by-note marks (under 25 cents)."""
    from tutor.api.reports import assessment_lines

    violin = replace(sung_score(), parts=(Part("P1", "Violin", program=40),))
    result = assess(violin, audio_take(violin, cents=16.0))
    assert result.held_key is not None and (result.held_key.semitones, result.held_key.cents) == (0, 16.0)
    assert result.held_key.message.startswith("you played 16 cents sharp of A = 440 Hz throughout")
    assert "(tuned to about A = 444 Hz)" in result.held_key.message
    assert result.notes_correct == len(TUNE) and not result.events_of("sharp")
    assert result.said_once() == [result.held_key.message[:1].upper() + result.held_key.message[1:] + "."]
    assert result.said_once()[0] in assessment_lines(result.to_json())
    in_tune = assess(violin, audio_take(violin, cents=6.0))
    assert in_tune.held_key is None
    singer = assess(sung_score(), audio_take(sung_score(), cents=16.0))
    assert singer.held_key is None


def test_an_octave_down_and_between_keys_are_held_keys_too():
    score = sung_score()
    octave = assess(score, audio_take(score, shift=-12), level="beginner")
    assert octave.held_key is not None and octave.held_key.semitones == -12 and "an octave low" in octave.held_key.message
    assert not octave.events_of("wrong_pitch")
    flat = assess(score, audio_take(score, cents=-45.0), level="beginner")  # between B and C major
    assert flat.held_key is not None and flat.held_key.semitones in (0, -1)
    assert not flat.events_of("flat") and not flat.events_of("sharp") and not flat.events_of("wrong_pitch")


def test_a_take_in_the_written_key_has_no_held_key_and_a_wrong_note_is_still_wrong():
    score = sung_score()
    take = audio_take(score)
    notes = list(take.notes)
    notes[4] = replace(notes[4], pitch=notes[4].pitch + 2)
    result = assess(score, Performance(notes=tuple(notes)), level="beginner")
    assert result.held_key is None
    assert len(result.events_of("wrong_pitch")) == 1


def test_a_note_sung_well_out_of_tune_is_told_flat_against_the_note_meant_live_and_in_the_review():
    """A G sung 60 cents flat rounds to F#, but the singer meant the written G: "60 cents flat", live and in the
    review, with the same cents. A G sung 90 cents flat (10 sharp of F#) is a wrong note."""
    from tutor.practice.follower import ScoreFollower

    score = sung_score()
    notes = list(audio_take(score).notes)
    notes[4] = replace(notes[4], pitch=66, cents=40.0)  # G4 (67) sung 60 cents flat
    notes[10] = replace(notes[10], pitch=66, cents=10.0)  # G4 sung 90 cents flat
    take = Performance(notes=tuple(notes))
    result = assess(score, take, level="beginner")
    flat = result.events_of("flat")
    assert [(e.note_id, e.expected_pitch, e.played_pitch, e.cents) for e in flat] == [(score.notes[4].id, 67, 67, -60.0)]
    assert flat[0].message == "60 cents flat"
    assert [e.note_id for e in result.events_of("wrong_pitch")] == [score.notes[10].id]
    assert result.notes_correct == len(TUNE) - 2
    follower = ScoreFollower(score, level="beginner")
    live = []
    for note in notes:
        live += follower.feed_onset(onset_s=note.onset_s, pitch=note.pitch, cents=note.cents)
    live += follower.finish()
    verdicts = {e.note_id: (e.type, e.cents) for e in live if e.note_id in (score.notes[4].id, score.notes[10].id)}
    assert verdicts == {score.notes[4].id: ("flat", -60.0), score.notes[10].id: ("wrong_pitch", None)}


def test_a_singer_between_keys_followed_live_is_not_told_flat_within_the_levels_tolerance():
    """A line sung 45 cents flat throughout, each note +-15 cents: the live follower finds that tuning, and a note
    that rounds to the semitone below once the tuning is taken off is judged against the written note with the
    level's tolerance, as the review judges it (not "5 cents flat")."""
    import numpy as np

    from tests.test_live_key import LONG_TUNE, _follow
    from tutor.practice.follower import ScoreFollower
    from tutor.practice.live_key import KeyedFollower

    score = sung_score(LONG_TUNE)
    scatter = np.random.default_rng(0).uniform(-15.0, 15.0, len(LONG_TUNE))
    notes = []
    for note, off in zip(audio_take(score, cents=-45.0).notes, scatter, strict=True):
        value = note.pitch + (note.cents + off) / 100.0
        notes.append(replace(note, pitch=round(value), cents=round((value - round(value)) * 100.0, 1)))
    take = Performance(notes=tuple(notes))
    keyed = KeyedFollower(lambda: ScoreFollower(score, level="beginner"))
    events, verdicts = _follow(keyed, take)
    assert keyed.key is not None and keyed.key.semitones == 0 and keyed.key.cents < -25
    assert not [e for e in events if getattr(e, "type", None) in ("flat", "sharp", "wrong_pitch") and abs(e.cents or 0.0) <= 35.0]
    assert list(verdicts.values()).count("correct") >= len(LONG_TUNE) - 2
    assert assess(score, take, level="beginner").notes_correct == len(LONG_TUNE)


def test_a_drift_over_the_phrase_is_reported_as_a_drift():
    score = sung_score()
    result = assess(score, audio_take(score, drift_cents_per_s=-9.0), level="advanced")  # ~ -85 cents over 9.6 s
    assert len(result.drifts) == 1
    drift = result.drifts[0]
    assert drift.cents < -40 and "sank" in drift.message
    steady = assess(score, audio_take(score), level="advanced")
    assert steady.drifts == ()


def test_a_verdict_on_a_note_heard_unclearly_says_so():
    score = sung_score()
    take = audio_take(score, confidence=0.3)
    notes = list(take.notes)
    notes[4] = replace(notes[4], pitch=notes[4].pitch + 2)
    result = assess(score, Performance(notes=tuple(notes)), level="beginner")
    wrong = result.events_of("wrong_pitch")
    assert len(wrong) == 1 and wrong[0].unsure and "not heard clearly" in wrong[0].message
    assert wrong[0].to_json()["unsure"] is True
    sure = assess(score, Performance(notes=tuple(replace(n, confidence=0.9) for n in notes)), level="beginner")
    assert not sure.events_of("wrong_pitch")[0].unsure


def test_a_take_three_quarters_right_as_written_can_still_hold_another_key():
    """A chromatic run sung a semitone high: as written, the aligner pairs 12 of its 16 notes (each sung
    note is the next written one), a semitone down all 16. That gain is exactly the 1/4 of the notes a
    held key needs, so the transpositions must still be tried when 3/4 match as written (the shortcut
    skipped them at 3/4 and said nothing)."""
    from tutor.practice.alignment import align
    from tutor.practice.singing import held_key

    tune = [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 55, 53, 50]
    score = replace(make_score([(float(i), [p], 1.0) for i, p in enumerate(tune)]),
                    parts=(Part("P1", "Voice", program=53),))
    take = audio_take(score, shift=1)
    as_written = [p for p in align(score.notes, take).pairs if p.kind == "match"]
    assert len(as_written) == 12  # the boundary: 3/4 of the 16 notes
    key = held_key(score.notes, take, align)
    assert key is not None and key.semitones == 1 and "a semitone high" in key.message
    result = assess(score, take, level="beginner")
    assert result.held_key is not None and result.held_key.semitones == 1
    assert not result.events_of("wrong_pitch")
