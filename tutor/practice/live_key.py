"""A sung or single-line take followed live in the key the player holds (issue 22).

Many singers start in another key than written (an octave down, a tone low) and keep it, and a violin
may be tuned to A = 444 Hz; the review finds that key or tuning (``tutor.practice.singing.held_key``)
and judges the take in it. ``KeyedFollower`` does the same while the student plays: it follows the
notes as written and, from the ``CHECK_FROM``-th note heard to the ``CHECK_UNTIL``-th, asks
``held_key`` whether the notes heard so far line up with the score's opening far better in another key
or tuning. When they do, it starts a fresh follower, hears the notes again in that key, and from then on
moves every note it is fed into it: the events it returns begin with a ``KeyFound`` (the UI clears the
rings drawn so far and says the key once), then the verdicts on the notes heard again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tutor.practice.alignment import align
from tutor.practice.singing import MIN_NOTES, HeldKey, held_key
from tutor.score.music import Performance, PlayedNote

CHECK_FROM = MIN_NOTES  # the key is first asked once this many notes were heard...
CHECK_UNTIL = 16  # ...and no more after this many (a singer in the written key costs one short alignment a note)
SCORE_SLACK = 4  # the notes heard are lined up with this many more of the score's first notes (a note left out)


@dataclass(frozen=True)
class KeyFound:
    """The live follower found the key the singer holds; the notes heard before are heard again in it."""

    key: HeldKey

    @property
    def message(self) -> str:
        text = f"{self.key.said}: following {'your tuning' if self.key.tuning else 'you in that key'}"
        return text[:1].upper() + text[1:]


class KeyedFollower:
    """A score follower (made by ``make_follower``, a ``ScoreFollower`` or anything with its input methods)
    that finds the key a singer holds, as above (``sung`` False: an instrument's, whose tuning off A = 440
    is allowed for from fewer cents, as the review does). Every other attribute is the current follower's."""

    def __init__(self, make_follower: Callable[[], object], *, sung: bool = True) -> None:
        self._make = make_follower
        self._sung = sung
        self.follower = make_follower()
        self.key: HeldKey | None = None
        self._heard: list[PlayedNote] = []
        self._asking = True

    def __getattr__(self, name: str):  # position_at, note_off, pedal, hear, poll, finish, expected_pitches...
        if name == "follower":  # (not set yet)
            raise AttributeError(name)
        return getattr(self.follower, name)

    def feed_onset(self, *, onset_s: float, pitch: int, cents: float | None = None,
                   ring: Callable[[list], None] | None = None) -> list:
        note = PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s, cents=cents)
        if self._asking:
            self._heard.append(note)
        moved = self._in_key(note)
        events = self.follower.feed_onset(onset_s=onset_s, pitch=moved.pitch, cents=moved.cents, ring=ring)
        if self._asking and len(self._heard) >= CHECK_FROM:
            events += self._ask()
        return events

    def retune(self, *, onset_s: float, pitch: int, cents: float) -> None:
        """A note's settled cents (``ScoreFollower.retune``), for the key asked and the follower, in the key held.
        (The note is found by its onset time, the same float ``LiveNotes`` gave with the onset.)"""
        for k, note in enumerate(self._heard):
            if note.onset_s == onset_s and note.pitch == pitch:
                self._heard[k] = PlayedNote(pitch=note.pitch, onset_s=onset_s, offset_s=onset_s, cents=cents)
        moved = self._in_key(PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s, cents=cents))
        self.follower.retune(onset_s=onset_s, pitch=moved.pitch, cents=moved.cents)

    def _in_key(self, note: PlayedNote) -> PlayedNote:
        """``note`` moved into the key held: by its semitones, its cents taken off the note's own (not rounded
        again: a note's cents at its onset are its attack's, and its settled cents must find it by its pitch)."""
        if self.key is None:
            return note
        cents = None if note.cents is None else note.cents - self.key.cents
        return replace(note, pitch=note.pitch - self.key.semitones, cents=cents)

    def _ask(self) -> list:
        """Whether the notes heard so far hold another key; if so, follow them again in it."""
        heard = tuple(self._heard)
        opening = self.follower.score.notes[:len(heard) + SCORE_SLACK]
        key = held_key(opening, Performance(notes=heard), align, sung=self._sung)
        if key is None:
            self._asking = len(heard) < CHECK_UNTIL
            return []
        self._asking = False
        self.key = key
        self.follower = self._make()
        events: list = [KeyFound(key)]
        for note in map(self._in_key, heard):
            events += self.follower.feed_onset(onset_s=note.onset_s, pitch=note.pitch, cents=note.cents)
        return events
