"""A sung or single-line take followed live in the key the player holds (issue 22).

Many singers start in another key than written (an octave down, a tone low) and keep it, and a violin
may be tuned to A = 444 Hz; the review finds that key or tuning (``tutor.practice.singing.held_key``)
and judges the take in it. ``KeyedFollower`` does the same while the student plays: it follows the
notes as written and, from the ``CHECK_FROM``-th note heard to the ``CHECK_UNTIL``-th, asks
``held_key`` whether the notes heard so far line up with the score's opening far better in another key
or tuning. When they do, it starts a fresh follower, hears the notes again in that key, and from then on
moves every note it is fed into it: the events it returns begin with a ``KeyFound`` (the UI clears the
rings drawn so far and says the key once), then the verdicts on the notes heard again.

Once the key is settled (found, or the written one after ``CHECK_UNTIL`` notes), the last
``WINDOW_NOTES`` notes are asked again after each note (``tutor.practice.singing.changed_key``: the same
test on them and the score's notes where the follower put them): a singer who slid a semitone low
after a high passage, or a key found wrong from a few first notes, is followed from where the new key
began (``KeyChanged``: said once; a fresh follower hears the notes before that point as before, without
a word, and the notes from it in the new key, whose verdicts replace the rings drawn for them). Each
window costs one to four alignments of about a dozen notes; a change hears the whole take again once.

The follower made may be a looped take's ``tutor.practice.loop.LoopFollower``: the notes are moved into the
key held before it looks for a pass's start by the range's written first pitches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tutor.practice.alignment import align
from tutor.practice.loop import PassStart
from tutor.practice.singing import (
    MIN_NOTES,
    WINDOW_NOTES,
    HeldKey,
    KeyChange,
    changed_key,
    held_key,
    moved_key,
    window_segment,
)
from tutor.score.music import Performance, PlayedNote

CHECK_FROM = MIN_NOTES  # the key is first asked once this many notes were heard...
CHECK_UNTIL = 16  # ...and no more after this many (then the windows of recent notes are asked)
SCORE_SLACK = 4  # the notes heard are lined up with this many more of the score's first notes (a note left out)


def _capitalised(text: str) -> str:
    """``text`` with its first letter a capital (a live line is a sentence of its own)."""
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class KeyFound:
    """The live follower found the key the singer holds; the notes heard before are heard again in it."""

    key: HeldKey

    @property
    def message(self) -> str:
        return _capitalised(f"{self.key.said}: following {'your tuning' if self.key.tuning else 'you in that key'}")


@dataclass(frozen=True)
class KeyChanged:
    """The live follower heard the singer move to another key mid-take: followed there from ``change``'s note."""

    change: KeyChange

    @property
    def message(self) -> str:
        return _capitalised(f"{self.change.said}: following you there")


@dataclass
class _Heard:
    note: PlayedNote  # as heard (its onset's cents)
    key: HeldKey | None  # the key it was moved by when fed
    settled_cents: float | None = None  # ``retune``'s
    chord: int = -1  # the chord the follower was at after it (where it was put)

    def asked(self) -> PlayedNote:
        """The note with its settled cents when known (the better evidence of the key)."""
        return self.note if self.settled_cents is None else replace(self.note, cents=self.settled_cents)


class KeyedFollower:
    """A score follower (made by ``make_follower``, a ``ScoreFollower`` or anything with its input methods)
    that finds the key a singer holds and a change of it, as above (``sung`` False: an instrument's, whose
    tuning off A = 440 is allowed for from fewer cents, as the review does). Every other attribute is the
    current follower's. ``changes``: the key changes heard so far."""

    def __init__(self, make_follower: Callable[[], object], *, sung: bool = True) -> None:
        self._make = make_follower
        self._sung = sung
        self.follower = make_follower()
        self.key: HeldKey | None = None
        self.changes: list[KeyChange] = []
        self._heard: list[_Heard] = []
        self._asking = True
        self._settled_from = 0  # the first note of the key followed now (windows start there or later)
        self._passes_told = 0  # a looped take's last pass start told (a replay's are not told again)

    def __getattr__(self, name: str):  # position_at, note_off, pedal, hear, poll, finish, expected_pitches...
        if name == "follower":  # (not set yet)
            raise AttributeError(name)
        return getattr(self.follower, name)

    @property
    def start_pitches(self) -> list[int]:
        """A looped take's pitch heard at each pass start (``LoopFollower.starts_s``), as sung, not moved into the
        written key (the review cuts the take, in the sung key, at those notes)."""
        loop = self.follower  # (read once: a key change's replay puts another follower there)
        sung = {heard.note.onset_s: heard.note.pitch for heard in list(self._heard)}
        return [sung.get(start_s, pitch) for start_s, pitch in zip(list(getattr(loop, "starts_s", [])),
                                                                    list(getattr(loop, "start_pitches", [])),
                                                                    strict=False)]

    def feed_onset(self, *, onset_s: float, pitch: int, cents: float | None = None,
                   ring: Callable[[list], None] | None = None) -> list:
        heard = _Heard(PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s, cents=cents), self.key)
        self._heard.append(heard)
        moved = self._in_key(heard.note, heard.key)
        events = self.follower.feed_onset(onset_s=onset_s, pitch=moved.pitch, cents=moved.cents, ring=ring)
        heard.chord = self.follower.chord
        if self._asking:
            if len(self._heard) >= CHECK_FROM:
                events += self._ask()
        else:
            events += self._ask_window()
        self._passes_told = max([self._passes_told] + [e.index for e in events if isinstance(e, PassStart)])
        return events

    def retune(self, *, onset_s: float, pitch: int, cents: float) -> None:
        """A note's settled cents (``ScoreFollower.retune``), for the key asked and the follower, in the key held.
        (The note is found by its onset time, the same float ``LiveNotes`` gave with the onset.)"""
        for heard in reversed(self._heard):
            if heard.note.onset_s == onset_s and heard.note.pitch == pitch:
                heard.settled_cents = cents
                moved = self._in_key(replace(heard.note, cents=cents), heard.key)
                self.follower.retune(onset_s=onset_s, pitch=moved.pitch, cents=moved.cents)
                return
        moved = self._in_key(PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s, cents=cents), self.key)
        self.follower.retune(onset_s=onset_s, pitch=moved.pitch, cents=moved.cents)

    @staticmethod
    def _in_key(note: PlayedNote, key: HeldKey | None) -> PlayedNote:
        """``note`` moved into ``key``: by its semitones, its cents taken off the note's own (not rounded
        again: a note's cents at its onset are its attack's, and its settled cents must find it by its pitch)."""
        if key is None:
            return note
        cents = None if note.cents is None else note.cents - key.cents
        return replace(note, pitch=note.pitch - key.semitones, cents=cents)

    def _ask(self) -> list:
        """Whether the notes heard so far hold another key; if so, follow them again in it."""
        heard = tuple(h.asked() for h in self._heard)
        opening = self.follower.score.notes[:len(heard) + SCORE_SLACK]
        key = held_key(opening, Performance(notes=heard), align, sung=self._sung)
        if key is None:
            self._asking = len(heard) < CHECK_UNTIL
            self._settled_from = 0
            return []
        self._asking = False
        self.key = key
        self._settled_from = 0
        return [KeyFound(key)] + self._follow_again(0)

    def _ask_window(self) -> list:
        """Whether the last WINDOW_NOTES notes (none before the key followed now began) hold another key
        against the score's notes where they were put (or, when those are under MIN_NOTES, WINDOW_NOTES chords
        from the first one's on); if so, follow from the first note in it."""
        first = len(self._heard) - WINDOW_NOTES
        if first < self._settled_from:
            return []
        window = self._heard[first:]
        chords = [h.chord for h in window]
        segment = window_segment(self.follower.notes, self.follower.chord_onsets_ql, chords)
        if len(segment) < MIN_NOTES:
            # after a move the follower cannot follow (an octave) it stays on its chord, and the chords its notes
            # were put on hold too few of the score's notes to ask: the score from the window's first chord on,
            # WINDOW_NOTES chords (a looped take's new pass puts notes back on the first chords: from the least)
            span = [max(min(chords), 0), max(max(chords), max(chords[0], 0) + WINDOW_NOTES - 1)]
            segment = window_segment(self.follower.notes, self.follower.chord_onsets_ql, span)
        found = changed_key(segment, [self._in_key(h.asked(), h.key) for h in window], align, self.key, sung=self._sung)
        if found is None:
            return []
        semitones, cents, split = found
        start = first + split
        self.key = moved_key(self.key, semitones, cents, sung=self._sung)
        self._settled_from = start
        events = self._follow_again(start)
        where = self._heard[start]  # (put on its chord by the follower in the new key)
        change = KeyChange(onset_s=where.note.onset_s, measure=self._measure_of(where.chord), key=self.key, sung=self._sung)
        self.changes.append(change)
        return [KeyChanged(change)] + events

    def _measure_of(self, chord: int) -> int | None:
        """The measure of the follower's chord ``chord``; None for a note put on no chord (-1: the change is
        then said by its time)."""
        notes = self.follower.chord_notes[chord] if 0 <= chord < len(self.follower.chord_notes) else ()
        return self.follower.notes[notes[0]].measure if notes else None

    def _follow_again(self, start: int) -> list:
        """A fresh follower hears every note again: those before ``start`` as they were fed (their events
        were told already, and are left out), those from it in the key held now (their events returned, but
        for a looped take's pass starts told already).
        It takes the current follower's place once it has heard them all (one assignment), so that a reader on
        another thread (the UI's cursor, ``position_at``) sees the old follower or the new, never one half fed."""
        follower = self._make()
        events: list = []
        for k, heard in enumerate(self._heard):
            if k >= start:
                heard.key = self.key
            moved = self._in_key(heard.note, heard.key)
            told = follower.feed_onset(onset_s=moved.onset_s, pitch=moved.pitch, cents=moved.cents)
            if heard.settled_cents is not None:
                settled = self._in_key(replace(heard.note, cents=heard.settled_cents), heard.key)
                follower.retune(onset_s=moved.onset_s, pitch=moved.pitch, cents=settled.cents)
            heard.chord = follower.chord
            if k >= start:
                events += [e for e in told if not (isinstance(e, PassStart) and e.index <= self._passes_told)]
        self.follower = follower
        return events
