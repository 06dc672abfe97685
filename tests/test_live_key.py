"""A sung take followed live in the key the singer holds (issue 22: ``tutor.practice.live_key``)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import (the window test)
os.environ["TUTOR_NO_DIALOGS"] = "1"

from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import shared
from tests.test_singing import TUNE, audio_take, sung_score
from tutor.practice.assessment import assess
from tutor.practice.follower import ScoreFollower
from tutor.practice.live_key import CHECK_FROM, CHECK_UNTIL, KeyChanged, KeyedFollower, KeyFound
from tutor.practice.loop import LoopFollower, PassStart
from tutor.practice.singing import changed_key
from tutor.score.music import Performance

# the tune and a second half: 8 measures of quarter notes
LONG_TUNE = TUNE + [64, 65, 67, 69, 67, 65, 64, 62, 60, 62, 64, 60, 59, 60, 62, 60]


def long_score():
    return sung_score(LONG_TUNE)


def slid_take(score, *, from_note: int, shift: int, before: int = 0):
    """A sung take of ``score`` (5 cents sharp) ``before`` semitones off the written key up to note ``from_note``
    and ``shift`` semitones off from there."""
    take = audio_take(score, cents=5.0)
    return Performance(notes=tuple(replace(n, pitch=n.pitch + (shift if k >= from_note else before))
                                   for k, n in enumerate(take.notes)))


def _follow(follower, take) -> tuple[list, dict]:
    """Every event of ``take`` fed live, and each written note's last verdict."""
    events = []
    for note in take.notes:
        events += follower.feed_onset(onset_s=note.onset_s, pitch=note.pitch, cents=note.cents)
    events += follower.finish()
    return events, {e.note_id: e.type for e in events if getattr(e, "note_id", None) is not None}


def test_a_singer_an_octave_low_is_followed_in_that_key_after_a_few_notes():
    score = sung_score()
    take = audio_take(score, shift=-12, cents=-10.0)
    _, written = _follow(ScoreFollower(score), take)
    assert sum(v == "correct" for v in written.values()) <= 1  # as written, nearly every note is wrong (C5 -> C4)
    keyed = KeyedFollower(lambda: ScoreFollower(score))
    events, verdicts = _follow(keyed, take)
    found = [i for i, e in enumerate(events) if isinstance(e, KeyFound)]
    assert len(found) == 1 and keyed.key is not None and keyed.key.semitones == -12
    assert events[found[0]].message == "You sang an octave low throughout: following you in that key"
    assert list(verdicts.values()).count("correct") == len(TUNE)
    assert keyed.position_ql == ScoreFollower(score).notes[-1].onset_ql  # the wrapper is the follower


@pytest.mark.parametrize("cents", [8.0, -20.0])
def test_a_singer_in_the_written_key_is_followed_as_by_the_plain_follower(cents, monkeypatch):
    """The long tune sung in the written key (a little sharp, or flat): past the key's first asking, the windows
    of recent notes are asked after every note, and none hears a change: the events are the plain follower's."""
    import tutor.practice.live_key as live_key

    asked = []

    def counted(*args, **kwargs):
        asked.append(1)
        return changed_key(*args, **kwargs)

    monkeypatch.setattr(live_key, "changed_key", counted)
    score = long_score()
    take = audio_take(score, cents=cents)
    plain, _ = _follow(ScoreFollower(score), take)
    keyed_follower = KeyedFollower(lambda: ScoreFollower(score))
    keyed, _ = _follow(keyed_follower, take)
    assert len(asked) >= len(LONG_TUNE) - CHECK_UNTIL  # the windows were asked
    assert keyed_follower.key is None and not keyed_follower.changes
    assert not any(isinstance(e, (KeyFound, KeyChanged)) for e in keyed)
    assert [(e.type, e.note_id) for e in keyed] == [(e.type, e.note_id) for e in plain]


def test_a_real_singer_sung_an_octave_below_the_written_line_is_marked_right_live():
    """SSVD take 1072 (an amateur on a phone microphone, tuning split) through the live path (PESTO's stream,
    ``LiveNotes`` for a voice), against its labelled line written an octave higher than sung: as written the
    live marks call nearly every note wrong; followed in the key found, most are right, as in the review."""
    import librosa

    from tests.assessment_cases import make_score
    from tutor.listen.live import LiveListener, LiveNotes
    from tutor.listen.pitch import open_stream
    from tutor.score.music import Part

    root = shared("real-audio", "ssvd-dev")
    labels = np.loadtxt(root / "notes" / "1072.txt", ndmin=2)
    labels = labels[labels[:, 0] < 20.0]
    sung = 69.0 + 12.0 * np.log2((440.0 * 2.0 ** ((labels[:, 2] - 69.0) / 12.0) - 4.5) / 440.0)  # the labels' bias
    score = make_score([(float(on), [int(round(p)) + 12], max(0.05, float(off - on)))
                        for (on, off, _), p in zip(labels, sung, strict=True)], bpm=60.0)
    score = type(score)(**{**score.__dict__, "parts": (Part("P1", "Voice", program=53),)})
    audio, _ = librosa.load(str(root / "audio" / "1072.ogg"), sr=LiveListener.SAMPLE_RATE, mono=True, duration=21.0)
    frames = open_stream(sample_rate=LiveListener.SAMPLE_RATE).push(audio.astype(np.float32))
    notes = LiveNotes("voice")
    onsets = [found for row in zip(frames.times_s, frames.f0_hz, frames.voiced, frames.level_db, strict=True)
              if (found := notes.push(float(row[0]), float(row[1]), bool(row[2]), float(row[3]))) is not None]
    assert len(onsets) >= CHECK_FROM

    def right(follower) -> int:
        verdicts = {}
        for onset_s, midi, cents in onsets:
            for e in follower.feed_onset(onset_s=onset_s, pitch=midi, cents=cents):
                if getattr(e, "note_id", None) is not None:
                    verdicts[e.note_id] = e.type
        return sum(v == "correct" for v in verdicts.values())

    keyed = KeyedFollower(lambda: ScoreFollower(score, level="beginner"))
    as_written, in_key = right(ScoreFollower(score, level="beginner")), right(keyed)
    assert keyed.key is not None and keyed.key.semitones == -12
    assert as_written <= 0.1 * len(score.notes) and in_key >= 0.6 * len(score.notes), (as_written, in_key, len(score.notes))


def _sung_in_the_app(qtbot, window, tmp_path, score, sung):
    """``sung`` (a score) rendered as a 'Voice Oohs' take standing in for the microphone at real-time pace, against
    ``score`` opened in the app's window: (the score as opened, the panel, the live lines said, the status lines),
    once the take's review is in."""
    from tests.test_app import _open
    from tutor.audio.playback import render_midi_to_wav
    from tutor.listen.pitch import open_stream
    from tutor.score.io import save_score

    open_stream(sample_rate=16000)  # the live tracker loads (no sound card needed: the take is a file)
    save_score(score, tmp_path / "line.musicxml")
    save_score(sung, tmp_path / "sung.mid")
    wav = render_midi_to_wav(tmp_path / "sung.mid", tmp_path / "sung.wav").path
    score = _open(qtbot, window, tmp_path / "line.musicxml")
    panel = window.practice_panel
    said: list[str] = []
    panel.live_label.setText = lambda text, set_text=panel.live_label.setText: (said.append(text), set_text(text))[1]
    statuses: list[str] = []
    panel.status.connect(statuses.append)
    assert panel.start_take(source_path=wav, input_kind="audio-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=120000)
    return score, panel, said, statuses


def test_the_app_follows_a_singer_an_octave_low_live_and_says_so(qtbot, window, tmp_path):
    """A voice part sung an octave low (a FluidSynth 'Voice Oohs' render standing in for the microphone, at
    real-time pace): after a few notes the live rings turn right, the live line says the key once, and the
    review says it too."""
    score = replace(sung_score(), title="Sung line")
    low = replace(score, notes=tuple(replace(n, pitch=n.pitch - 12) for n in score.notes))
    score, panel, said, statuses = _sung_in_the_app(qtbot, window, tmp_path, score, low)
    assert "You sang an octave low throughout: following you in that key" in said
    assert "You sang an octave low throughout: following you in that key" in statuses
    right = {e.note_id for e in panel.live_events if e.type == "correct"}
    assert len(right) >= 0.8 * len(score.notes), (len(right), len(score.notes))
    assert "You sang an octave low throughout" in panel.score_label.text()


def test_a_violin_tuned_sharp_of_a_440_is_not_marked_sharp_live_note_by_note():
    """An instrument 21 cents sharp throughout (A = 445 Hz): live, as in the review, its tuning is found
    and said once, and its notes are not rung "sharp" one by one (over the advanced level's 20 cents)."""
    from tutor.score.music import Part

    violin = replace(sung_score(), parts=(Part("P1", "Violin", program=40),))
    take = audio_take(violin, cents=21.0)
    _, written = _follow(ScoreFollower(violin), take)
    assert list(written.values()).count("sharp") == len(TUNE)
    keyed = KeyedFollower(lambda: ScoreFollower(violin), sung=False)
    events, verdicts = _follow(keyed, take)
    assert keyed.key is not None and (keyed.key.semitones, keyed.key.cents) == (0, 21.0)
    found = [e for e in events if isinstance(e, KeyFound)]
    assert [e.message for e in found] == ["You played 21 cents sharp of A = 440 Hz throughout (tuned to about A = 445 Hz): "
                                          "following your tuning"]
    assert list(verdicts.values()).count("correct") == len(TUNE)


def test_a_notes_attack_does_not_make_it_another_note_in_the_tuning_held():
    """A singer held 30 cents sharp: a later note whose onset reads 35 cents flat (its scoop; PESTO's steps)
    and settles at +30 is the written note, in tune, once its settled cents come (not the semitone below)."""
    score = sung_score()
    take = audio_take(score, cents=30.0)
    keyed = KeyedFollower(lambda: ScoreFollower(score))
    events = []
    for k, note in enumerate(take.notes):
        scooped = k == CHECK_FROM + 2
        events += keyed.feed_onset(onset_s=note.onset_s, pitch=note.pitch, cents=-35.0 if scooped else note.cents)
        if scooped:
            keyed.retune(onset_s=note.onset_s, pitch=note.pitch, cents=30.0)
    events += keyed.finish()
    assert keyed.key is not None and (keyed.key.semitones, keyed.key.cents) == (0, 30.0)
    verdicts = {e.note_id: e.type for e in events if getattr(e, "note_id", None) is not None}
    assert list(verdicts.values()).count("correct") == len(TUNE), verdicts


def test_a_singer_who_slides_a_semitone_low_mid_way_is_followed_there_and_told_once():
    """Written key for four measures, then a semitone low (after a breath, as amateurs do): the follower in the
    written key is left at the change, the notes from there are heard again a semitone low, and the change is said
    once, live and in the review alike; the notes before it keep their verdicts."""
    score = long_score()
    take = slid_take(score, from_note=18, shift=-1)  # from the third note of measure 5
    _, written = _follow(ScoreFollower(score, level="beginner"), take)
    assert sum(v == "correct" for v in written.values()) <= 20
    keyed = KeyedFollower(lambda: ScoreFollower(score, level="beginner"))
    events, verdicts = _follow(keyed, take)
    said = [e for e in events if isinstance(e, (KeyFound, KeyChanged))]
    assert [e.message for e in said] == ["From measure 5 you sang a semitone low: following you there"]
    assert keyed.key is not None and keyed.key.semitones == -1
    assert [(c.onset_s, c.measure) for c in keyed.changes] == [(take.notes[18].onset_s, 5)]
    assert list(verdicts.values()).count("correct") == len(LONG_TUNE)
    change = events.index(said[0])
    before_change = {n.id for n in score.notes[:18]}
    assert all(e.type == "correct" for e in events[:change] if getattr(e, "note_id", None) in before_change)
    review = assess(score, take, level="beginner")
    assert review.held_key is None and review.notes_correct == len(LONG_TUNE)
    assert review.said_once() == ["From measure 5 you sang a semitone low: the notes from there are marked against that key."]
    assert review.to_json()["key_changes"] == [{"onset": round(take.notes[18].onset_s, 3), "measure": 5, "semitones": -1,
                                                 "cents": 0.0, "message": review.key_changes[0].message}]


def test_the_held_key_keeps_its_meaning_when_the_take_changes_key():
    """A take a semitone low from its third measure on: ``held_key`` is the key the whole take held, as before key
    changes were heard ("a semitone low throughout", the JSON contract other tools read); the key held at first (the
    written one) and the change live in ``key_at_start`` and ``key_changes``, and those are what is said."""
    from tutor.api.reports import assessment_lines
    from tutor.practice.alignment import align
    from tutor.practice.singing import held_key

    score = long_score()
    take = slid_take(score, from_note=10, shift=-1)
    review = assess(score, take, level="beginner")
    assert review.held_key is not None and review.held_key.semitones == -1
    assert review.held_key == held_key(score.notes, take, align)
    assert review.held_key.said == "you sang a semitone low throughout"
    assert review.key_at_start is None and [(c.measure, c.key.semitones) for c in review.key_changes] == [(3, -1)]
    assert review.notes_correct == len(LONG_TUNE)
    doc = review.to_json()
    assert doc["held_key"] == review.held_key.to_json() and "low throughout" in doc["held_key"]["message"]
    assert doc["key_at_start"] is None
    said = ["From measure 3 you sang a semitone low: the notes from there are marked against that key."]
    assert review.said_once() == said and said[0] in assessment_lines(doc)
    low_at_first = assess(score, slid_take(score, from_note=14, shift=-1, before=-2), level="beginner")
    assert low_at_first.key_at_start is not None and low_at_first.key_at_start.said == "you sang a tone low at first"
    assert low_at_first.to_json()["key_at_start"]["semitones"] == -2
    assert "at first" not in low_at_first.held_key.message and "at first" in low_at_first.said_once()[0]


def test_a_reader_never_sees_a_follower_half_way_through_hearing_the_take_again():
    """The UI's timer reads ``position_at`` from another thread while a key change makes a fresh follower hear the
    whole take again: whenever a follower is fed (each step of a replay included), the follower a reader reaches
    through the wrapper has heard every note before the one fed now, so the cursor never runs back to the start."""
    score = long_score()
    take = slid_take(score, from_note=18, shift=-1)
    seen: list[tuple[int, int]] = []  # (notes the follower read had heard, notes fed to the wrapper before this one)
    fed_before = [0]

    class Watched(ScoreFollower):
        fed = 0

        def feed_onset(self, **note):
            seen.append((keyed.follower.fed, fed_before[0]))
            self.fed += 1
            return super().feed_onset(**note)

    keyed = KeyedFollower(lambda: Watched(score, level="beginner"))
    for note in take.notes:
        keyed.feed_onset(onset_s=note.onset_s, pitch=note.pitch, cents=note.cents)
        fed_before[0] += 1
    assert len(keyed.changes) == 1 and len(seen) > len(take.notes) + 18  # a change was heard, and the take replayed
    assert all(heard >= before for heard, before in seen), [s for s in seen if s[0] < s[1]][:3]
    assert keyed.follower.fed == len(take.notes)


@pytest.mark.parametrize("shift", [12, -12])
def test_a_singer_who_moves_an_octave_mid_way_is_followed_there_live_as_in_the_review(shift):
    """The long tune as written for four measures and an octave off from there: the follower in the written key
    stays on its chord, so the window asked is the score from the window's first chord on (not only the chords
    the notes were put on): the change is heard at measure 5, live as in the review, and every note is right."""
    score = long_score()
    take = slid_take(score, from_note=18, shift=shift)
    keyed = KeyedFollower(lambda: ScoreFollower(score, level="beginner"))
    _, verdicts = _follow(keyed, take)
    assert [(c.measure, c.key.semitones) for c in keyed.changes] == [(5, shift)]
    assert list(verdicts.values()).count("correct") == len(LONG_TUNE)
    review = assess(score, take, level="beginner")
    assert [(c.measure, c.key.semitones) for c in review.key_changes] == [(5, shift)]
    assert review.notes_correct == len(LONG_TUNE)


def test_a_change_from_a_note_put_on_no_chord_is_said_by_its_time_not_as_measure_1():
    """Where a change began is the measure of the chord its first note was put on; a note put on none (chord -1:
    an extra before the first chord reached) has no measure, and the change is said by its time."""
    from tutor.practice.singing import KeyChange

    score = long_score()
    keyed = KeyedFollower(lambda: ScoreFollower(score, level="beginner"))
    assert keyed._measure_of(-1) is None
    assert [keyed._measure_of(c) for c in (0, 4, 17)] == [1, 2, 5]  # quarter notes, four to a measure
    change = KeyChange(onset_s=1.5, measure=keyed._measure_of(-1), key=None)
    assert KeyChanged(change).message == "From 1.5 s you sang in the written key: following you there"


def test_a_key_found_wrong_from_the_first_notes_is_put_right_later():
    """The first six notes a tone high (as held-out SSVD take 1188's first notes gave a wrong key), the rest as
    written: the key asked at the sixth note is a tone high, and the window of recent notes brings the follower
    back to the written key, said once; every note after the first ones is right."""
    score = long_score()
    take = slid_take(score, from_note=6, shift=0, before=2)
    keyed = KeyedFollower(lambda: ScoreFollower(score, level="beginner"))
    events, verdicts = _follow(keyed, take)
    said = [e.message for e in events if isinstance(e, (KeyFound, KeyChanged))]
    assert said == ["You sang a tone high throughout: following you in that key",
                    "From measure 2 you sang in the written key: following you there"]
    assert keyed.key is None and len(keyed.changes) == 1
    assert list(verdicts.values()).count("correct") >= len(LONG_TUNE) - 1
    right_late = {n.id for n in score.notes[8:]}
    assert all(verdicts[i] == "correct" for i in right_late)


def test_a_looped_take_sung_an_octave_low_is_followed_in_that_key_pass_after_pass():
    """Three passes of the tune an octave low: the loop follower alone finds no pass start (it looks for the
    range's written first pitch) and marks nearly every note wrong; behind a ``KeyedFollower`` the notes are moved
    into the key found before it gets them, and each pass starts where it began, every note right."""
    score = sung_score()
    one = audio_take(score, shift=-12, cents=-10.0)
    length_s = len(TUNE) * (one.notes[1].onset_s - one.notes[0].onset_s)  # quarter notes back to back
    take = Performance(notes=tuple(replace(n, onset_s=n.onset_s + k * length_s, offset_s=n.offset_s + k * length_s)
                                   for k in range(3) for n in one.notes))

    def loop():
        return LoopFollower(lambda: ScoreFollower(score, level="beginner"))

    plain_events, _ = _follow(loop(), take)
    assert not any(isinstance(e, PassStart) for e in plain_events)
    keyed = KeyedFollower(loop)
    events, _ = _follow(keyed, take)
    assert [e.message for e in events if isinstance(e, KeyFound)] == ["You sang an octave low throughout: following you in that key"]
    starts = [e for e in events if isinstance(e, PassStart)]
    assert [(s.index, s.previous_right, s.previous_total) for s in starts] == [(2, 16, 16), (3, 16, 16)]
    assert keyed.starts_s == [take.notes[16].onset_s, take.notes[32].onset_s]
    # the pitch heard at each start as sung (an octave low), where the review finds the pass's first note
    assert keyed.start_pitches == [take.notes[16].pitch, take.notes[32].pitch] == [score.notes[0].pitch - 12] * 2
    assert keyed.index == 3


def test_a_looped_take_that_slides_a_semitone_low_announces_each_pass_once():
    """Four passes of the tune, the last two a semitone low from pass 3's first note: the change is followed, and
    its replay of the take does not announce pass 3 again (the UI would fade the rings again and write over the
    change's line); every pass is announced once, where it began."""
    score = sung_score()
    one = audio_take(score, cents=5.0)
    length_s = len(TUNE) * (one.notes[1].onset_s - one.notes[0].onset_s)
    take = Performance(notes=tuple(replace(n, pitch=n.pitch - (1 if k >= 2 else 0), onset_s=n.onset_s + k * length_s,
                                           offset_s=n.offset_s + k * length_s) for k in range(4) for n in one.notes))
    keyed = KeyedFollower(lambda: LoopFollower(lambda: ScoreFollower(score, level="beginner")))
    events, _ = _follow(keyed, take)
    assert len(keyed.changes) == 1 and keyed.key is not None and keyed.key.semitones == -1
    starts = [e for e in events if isinstance(e, PassStart)]
    assert [(s.index, s.time_s) for s in starts] == [(k + 1, take.notes[16 * k].onset_s) for k in (1, 2, 3)]
    assert keyed.index == 4


def test_the_app_follows_a_singer_who_slides_a_semitone_low_and_says_so_once(qtbot, window, tmp_path):
    """The long tune sung as written for four measures and a semitone low from there (a 'Voice Oohs' render
    standing in for the microphone, at real-time pace): the live line and the status bar say the change once,
    the notes after it are ringed right, and the review says the same change."""
    score = replace(long_score(), title="Long line")
    slid = replace(score, notes=tuple(replace(n, pitch=n.pitch - (1 if k >= 18 else 0)) for k, n in enumerate(score.notes)))
    score, panel, said, statuses = _sung_in_the_app(qtbot, window, tmp_path, score, slid)
    message = "From measure 5 you sang a semitone low: following you there"
    assert said.count(message) == 1 and statuses.count(message) == 1, said
    assert not any(text.startswith("You sang") for text in said)
    verdicts = {e.note_id: e.type for e in panel.live_events}
    late = [n.id for n in score.notes[18:]]
    assert sum(verdicts.get(i) == "correct" for i in late) >= 0.8 * len(late), verdicts
    assert "From measure 5 you sang a semitone low: the notes from there are marked against that key." in panel.score_label.text()


def test_the_app_follows_a_looped_take_sung_an_octave_low_pass_after_pass(qtbot, window, tmp_path):
    """*Loop the range* over the whole tune, sung an octave low three times (a 'Voice Oohs' render at real-time
    pace): the key is said once, each later pass starts where it began (found in the key held), and each pass's
    review is judged in that key. The review cuts the passes at the note of the pitch heard at each live start (the
    live onset of a sung note comes later than the review's: cut at the live time alone, a pass's first note fell
    in the pass before and was missed). (This render loses two notes of bar 2 in the review's transcription.)"""
    from tests.test_app import _drag_across_bars, _open
    from tutor.audio.playback import render_midi_to_wav
    from tutor.listen.pitch import open_stream
    from tutor.practice.loop import PassStart
    from tutor.score.io import save_score

    open_stream(sample_rate=16000)
    score = replace(sung_score(), title="Looped line")
    save_score(score, tmp_path / "line.musicxml")
    length_ql = len(TUNE)
    passes = tuple(replace(n, id=f"{n.id}-{k}", pitch=n.pitch - 12, onset_ql=n.onset_ql + k * length_ql)
                   for k in range(3) for n in score.notes)
    looped = replace(score, notes=passes, measures=tuple(replace(m, number=m.number + 4 * k, start_ql=m.start_ql + k * length_ql)
                                                         for k in range(3) for m in score.measures))
    save_score(looped, tmp_path / "sung.mid")
    wav = render_midi_to_wav(tmp_path / "sung.mid", tmp_path / "sung.wav").path
    score = _open(qtbot, window, tmp_path / "line.musicxml")
    panel, view = window.practice_panel, window.score_view
    assert _drag_across_bars(qtbot, view, 1, 4) == [1, 4]
    panel.loop.setChecked(True)
    said, pass_starts = [], []
    panel.live_label.setText = lambda text, set_text=panel.live_label.setText: (said.append(text), set_text(text))[1]
    on_events = panel._on_events
    panel._on_events = lambda events, t: (pass_starts.extend(e for e in events if isinstance(e, PassStart)),
                                          on_events(events, t))
    assert panel.start_take(source_path=wav, input_kind="audio-file")
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=180000)
    assert said.count("You sang an octave low throughout: following you in that key") == 1, said
    assert [p.index for p in pass_starts] == [2, 3]
    assert all(p.previous_right >= 0.8 * len(TUNE) for p in pass_starts), pass_starts
    assert len(panel.passes) == 3
    for assessment, _ in panel.passes:
        assert assessment.held_key is not None and assessment.held_key.semitones == -12
        assert not assessment.events_of("wrong_pitch")
    follower = panel.loop_follower
    assert len(follower.start_pitches) == 2 and all(p in (48, 50) for p in follower.start_pitches), follower.start_pitches
    # the tune's second note is never missed (cut at the live time alone, pass 3's fell in pass 2; its first C, sung
    # legato after the last pass's closing C, is one note with it in this render, live and in the review)
    second = score.notes[1].id
    assert not any(e.note_id == second for assessment, _ in panel.passes for e in assessment.events_of("missed"))
