"""Live score following: where in the score the student is, and what just went right or wrong.

``ScoreFollower(score, mode=..., level=...)`` is fed the notes as they are played (``feed`` a
``PlayedNote``, or ``feed_onset`` from the pitch tracker; ``note_off`` and ``pedal`` for releases) and
returns the ``tutor.practice.assessment.Event``s the offline assessment would give, a little after the
note; ``poll(time_s)`` judges what it holds back when the player stops. Modes (described at
``ScoreFollower``): ``play-along`` follows the student wherever they go, ``wait`` waits for the right
notes. ``follow_performance`` replays a recorded take through it. Times are seconds on the take's clock;
each call does a bounded amount of numpy work, so it can run right behind the audio/MIDI input.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np

from tutor.practice.alignment import (
    ADVANCE,
    BAND_AHEAD,
    BAND_BACK,
    CHORD_GAP_COST_PER_S,
    CHORD_GAP_S,
    EXTRA_COST,
    FAR_COST,
    JUMP_COST,
    NEAR_COST,
    ORNAMENT_REPEAT_S,
    PAUSE_SILENCE_S,
    RESTART_COST,
    RESTART_PAUSE_BONUS,
    RESTART_QUICK_COST,
    RESTART_QUICK_S,
    RESTART_STOP_BONUS,
    SKIP_COST,
    STAY,
    _pitch_tables,
    align_arrays,
    group_chords,
    is_pause,
    predecessor,
)
from tutor.practice.assessment import (
    HELD_MIN_S,
    LEVELS,
    Event,
    _as_written,
    _Onset,
    _timing,
    beat_ql,
    meant_cents,
    timing_message,
)
from tutor.score.form import unfold, written_id
from tutor.score.music import Note, Performance, PlayedNote, Score, pitch_name

MODES = ("play-along", "wait")
# play-along judges a note once LAG_NOTES newer notes have come and LAG_S has passed since it: the notes
# after it say which of two readings was right (a restart or a stray note, a skip or a wrong note)
LAG_NOTES = 3
LAG_S = 0.5
LAG_MAX_S = 1.0  # ...or, in slow music (notes SLOW_STEP_S apart), one newer note and this long
SLOW_STEP_S = 0.3
STOP_S = 1.0  # ...and all notes held back once none has come for this long (the player stopped)
PATIENT_COST = 2.5  # notes held back that cost the path more than this (in extra notes)...
PATIENT_NOTES = 10  # ...wait for up to this many notes...
PATIENT_S = 2.0  # ...or this long
TIMING_WEIGHT = 0.4  # cost (in extra notes) of a note TIMING_SCALE_QL or more away from where the tempo puts it
TIMING_SCALE_QL = 2.0  # (offline's second pass: 4 quarters; live there is no second pass, and a hand a chord
# behind the other must not move the path on two chords at once)
OUT_OF_ORDER_CHORDS = 3  # a note may belong to a chord this many chords behind the position (or two ahead)...
OUT_OF_ORDER_S = 0.3  # ...if it was played within this of when the position reached (or passed) that chord
MISSED_AFTER_S = 0.35  # a chord's unplayed notes are missed this long after the position passed it...
PAIR_S = 1.0  # ...unless a note held back as extra has that pitch and came this close to when the chord was reached
PAIR_CHORDS = 8  # ...and was held back on a chord this many chords away at most
LOOSE_S = 1.5  # an extra note is told this long after it was played (time for that pairing)
TIMING_WINDOW = 16  # chords as played before a chord that its timing is judged on
RESTART_FAR_COST = 0.25  # per 4 quarter notes that going back goes further than 8 quarter notes...
RESTART_FAR_BARS = 4.0  # ...up to this many
PROVISIONAL_AHEAD = 2  # a note free in one of this many chords after the cursor's is ringed at once (issue 20)
PATH_MARKS = True  # ...and a note held back is rung again where the path to the newest note puts it (issue 20)
# a note heard by a microphone's follower (one that gets ``hear``) that fits none of those chords is rung at once where
# its verdict may pair it, on a chord up to PAIR_CHORDS away (``_pair_mark``; issue 20: the commonest late rings were
# those pairs, told a second or more after the note)
PAIR_AT_ONCE = True
SECOND_OPINION_S = 2.5  # a missed or extra verdict is checked by the offline alignment of the notes this close...
SECOND_OPINION_CHORDS = 4  # ...which may give an extra note to a chord this many chords from its own, if reached
SECOND_OPINION_MARGIN = 2  # ...over the chords the live path put those notes on and this many more each side
# finding its place again (issue 20, live piano marks): a score-informed listener hears only the pitches the
# follower expects, so once it is behind the student nothing it hears can move it on. Notes heard score-free
# (``hear``: every pitch of the piece's range, stricter tests) and the notes fed go to a shadow follower (the
# same dynamic programme, all pitches, no verdicts); when it is RELOCATE_CHORDS or more from the cursor (ahead,
# or behind with RELOCATE_BACK) and RELOCATE_HERE of its last RELOCATE_NOTES notes fell on a chord of their pitch,
# moving forward, RELOCATE_SPAN chords apart at most, the follower moves there (going forward, with
# RELOCATE_JUDGE_FIRST, its notes held back are judged first; going back, what it judged ahead is taken back)
RELOCATE_CHORDS = 3
RELOCATE_NOTES = 3
RELOCATE_SPAN = 6
RELOCATE_HERE = 3
RELOCATE_JUDGE_FIRST = True
RELOCATE_BACK = True


class ScoreFollower:
    """Follows one take through ``score`` (optionally one ``part``), one played note at a time.

    * ``play-along`` follows the student wherever they go: the same dynamic programme as the offline
      alignment (``tutor.practice.alignment``: its moves, costs and rules), run one played note at a time
      over a band of chords around the current position. ``chord`` (the cursor) moves at once; the verdict
      on a note comes a little later (fixed-lag smoothing): once three newer notes have come and 0.5 s has
      passed (in slow music one newer note and 1 s), later while the notes held back go wrong (up to 10
      notes or 2 s: a restart is seen before its first notes are called extra), and at once when the
      player stops (1 s). Skipped notes are ``missed`` once the student is two chords and 0.35 s past them,
      going back is a ``restart``, and ``early``/``late`` are judged as offline (``_timing``) on the chords
      just played, each chord when the chord after next begins. ``position_at(time_s)`` extrapolates the
      position with the student's tempo (for an accompaniment or a cursor between notes).
    * ``wait`` waits for the right notes, like a teacher at the piano: the position moves on only when
      every note of the current chord has been played; other notes are ``wrong_pitch`` (or ``extra``);
      playing the start of the current or one of the two previous measures again is a ``restart``.

    ``short``/``long`` need ``note_off``; ``note_off`` and ``pedal`` also tell whether the hands were off
    the keys before a pause (a stop to start again). Each ``feed`` does a fixed amount of numpy work (a
    band of a few hundred chords, and the timing of 16 chords when a chord begins).
    """

    def __init__(self, score: Score, *, mode: str = "play-along", level: str = "advanced", bpm: float | None = None,
                 part: str | None = None, repeats: bool = False, track_only: bool = False) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if part is not None:
            score = score.only_parts([score.part(part).id])
        # ``repeats`` (issue 21): follow the piece as played (repeats, endings, D.C./D.S.); events and
        # ``position_at`` name the written note, position and pass, ``position_ql`` is the position as played
        self.unfolding = None
        if repeats:
            unfolding = unfold(score)
            if unfolding.repeats:
                self.unfolding, score = unfolding, unfolding.score
        self.score = score
        self.mode = mode
        self.tolerances = LEVELS[level]
        self.notes: tuple[Note, ...] = score.notes
        self._note_onsets_ql = np.array([n.onset_ql for n in self.notes], dtype=float)
        chord_of, onsets = group_chords(self._note_onsets_ql)
        self._chord_of_note = chord_of
        self.chord_onsets_ql = onsets
        self.n_chords = len(onsets)
        self.chord_notes: list[list[int]] = [[] for _ in range(self.n_chords)]
        for index, chord in enumerate(chord_of):
            self.chord_notes[int(chord)].append(index)
        pitches = np.array([n.pitch for n in self.notes], dtype=np.int64)
        self._has, self._near = _pitch_tables(chord_of, pitches, self.n_chords)
        self._single = self._has.sum(axis=1) <= 1  # a one-note chord: a second note there is an extra note
        # going back costs the full RESTART_COST here, not the offline alignment's lower price in a sparse
        # score (``restart_cost``): a melody note left out leaves a gap that reads as a pause, and live
        # there is no second pass with the student's tempo to undo a restart taken for it
        self._going_back = RESTART_COST
        self._width = min(self.n_chords, BAND_BACK + BAND_AHEAD)
        self._columns = np.arange(self._width, dtype=float)
        self._row: np.ndarray | None = None
        # per band column: the pitches the path has played at that chord since arriving (two 64-bit words)
        self._words = np.zeros((2, self._width), dtype=np.uint64)
        self._last_at: dict[int, float] = {}  # pitch -> onset it was last played
        self._lo = 0
        self._last_onset_s: float | None = None
        self._steps: list[float] = []  # recent time steps between played notes
        self._sounding: dict[int, tuple[int, float, PlayedNote]] = {}  # pitch -> (score note, onset) until note-off
        self.chord = -1  # chord index the student is at (-1: not started)
        self._at = -1  # chord of the last note judged (a few notes behind ``chord``)
        self._arrived_s: dict[int, float] = {}  # chord -> when the position reached it (this attempt)
        self._passed_s: dict[int, float] = {}  # chord -> when the position moved past it, until its missed notes are told
        self._groups: list[_Onset] = []  # chords as played in this attempt (for timing)
        self._take: list[PlayedNote] = []  # the notes in them
        self._right: set[int] = set()  # score notes played right (timing is told for them only)
        self._provisional: dict[PlayedNote, int] = {}  # notes told ``correct`` at once -> the score note
        self._loose: list[tuple[PlayedNote, int]] = []  # notes held back as extra (and their chord), LOOSE_S
        self._released: dict[PlayedNote, tuple[float, bool]] = {}  # notes let go while waiting for their verdict
        self._settled_cents: dict[tuple[float, int], float] = {}  # (onset_s, pitch) -> cents, ``retune``
        # (band start, row, moves, note, what was taken off the row's costs so far)
        self._pending: list[tuple[int, np.ndarray, np.ndarray, PlayedNote, float]] = []
        self._offset = 0.0
        self._played: list[set[int]] = [set() for _ in range(self.n_chords)]  # score notes done, per chord
        self._reported_missed: set[int] = set()  # score notes told missed (until their chord is played again)
        self._anchors: list[tuple[float, float]] = []  # (position_ql, time_s) of chords as reached
        self._spq = 60.0 / (bpm or score.tempo_map.initial_bpm)
        self.attempt = 0
        # what is sounding (known once note-offs or the pedal are reported): a stop with the hands still
        # down is a weaker sign of going back than a silent pause, as offline (``pause_bonus``)
        self._keys_down: dict[int, int] = {}
        self._pedal_down = False
        self._quiet_since_s: float | None = None  # when the last sound stopped (None: something sounds)
        self._hears_releases = False
        self._heard: list[PlayedNote] = []  # every note fed, in time order (for the second opinion)
        self._given: dict[PlayedNote, int] = {}  # played notes judged right -> their score note
        self._placed: dict[PlayedNote, int] = {}  # played notes judged -> the chord the live path put them on
        self._attempt_start_s = -np.inf  # onset of the first note of this attempt
        # the last second opinion (cached): (chord, first note, last note), score note -> played note
        self._opinion: tuple[tuple[int, int, int], dict[int, PlayedNote]] | None = None
        # ``track_only``: the position alone (no verdicts, nothing held back), for ``hear``'s shadow follower
        self._track_only = track_only
        self._shadow: ScoreFollower | None = None  # made at the first ``hear`` (never for a MIDI keyboard)
        self._shadow_trail: list[tuple[int, bool]] = []  # its chord after each note, and whether the note was there
        self.relocations: list[tuple[float, int, int]] = []  # (time_s, from chord, to chord)
        self._moved_back_to: int | None = None  # the chord a move back went to (its path's first note is no restart)

    # --- state ---------------------------------------------------------------------------
    @property
    def position_ql(self) -> float:
        return float(self.chord_onsets_ql[max(self.chord, 0)]) if self.n_chords else 0.0

    @property
    def measure(self) -> int | None:
        m = self.score.measure_at(self.position_ql)
        return m.number if m else None

    @property
    def tempo_bpm(self) -> float:
        return 60.0 / self._spq

    def expected_pitches(self) -> list[int]:
        """Pitches still due at the current chord (wait mode) or at the next one."""
        chord = self.chord if self.mode == "wait" else self.chord + 1
        if self.mode == "wait" and chord < 0:
            chord = 0
        if not 0 <= chord < self.n_chords:
            return []
        return sorted(self.notes[i].pitch for i in self.chord_notes[chord] if i not in self._played[chord])

    def position_at(self, time_s: float) -> float:
        """Score position (quarter notes) at ``time_s``, extrapolated with the student's tempo."""
        if not self._anchors:
            return self.position_ql
        position, at = self._anchors[-1]
        next_onset = float(self.chord_onsets_ql[min(self.chord + 1, self.n_chords - 1)])
        played = min(position + max(0.0, time_s - at) / self._spq, max(next_onset, position))
        return played if self.unfolding is None else self.unfolding.written_position(played)[0]

    # --- input ---------------------------------------------------------------------------
    def feed_onset(self, *, onset_s: float, pitch: int, cents: float | None = None,
                   ring: Callable[[list[Event]], None] | None = None) -> list[Event]:
        return self.feed(PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s, cents=cents), ring=ring)

    def feed(self, note: PlayedNote, *, ring: Callable[[list[Event]], None] | None = None) -> list[Event]:
        """The events ``note`` brings (its own, told at once or not, and the verdicts on notes before it).
        With ``ring`` (play-along; the app's live path), the note's at-once ``correct`` goes to ``ring(events)``
        before the verdicts on the notes held back are worked out (they may take the offline alignment's
        second opinion, tens of ms), so the student sees the ring without waiting for them (issue 20)."""
        if not self.n_chords:
            return [self._event("extra", None, note, f"extra {pitch_name(note.pitch)}")]
        moved = self._track(note) if self._shadow is not None else []
        self._heard.append(note)
        events = moved + (self._feed_wait(note) if self.mode == "wait" else self._feed_follow(note, ring))
        self._keys_down[note.pitch] = self._keys_down.get(note.pitch, 0) + 1
        self._quiet_since_s = None
        return events

    def hear(self, *, onset_s: float, pitch: int) -> list[Event]:
        """A note heard score-free (a listener's onset of a pitch it was not told to expect; issue 20): not
        judged, not rung, only evidence of where the student is, for the shadow follower that also gets every
        note fed; the follower moves to where the shadow is when it is far from the cursor and its recent notes
        agree (``RELOCATE_*``). Returns the events that brings (a move may judge the notes held back first)."""
        if self.mode != "play-along" or self._track_only or not self.n_chords:
            return []
        if self._shadow is None:
            self._shadow = ScoreFollower(self.score, mode="play-along", track_only=True)
        return self._track(PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s))

    def _track(self, note: PlayedNote) -> list[Event]:
        """``note`` to the shadow follower; the follower moves to it when its recent notes agree it is far away."""
        shadow = self._shadow
        shadow._feed_follow(note)
        at = shadow.chord
        here = any(self.notes[i].pitch == note.pitch for i in self.chord_notes[at]) if 0 <= at < self.n_chords else False
        self._shadow_trail = (self._shadow_trail + [(at, here)])[-RELOCATE_NOTES:]
        trail = self._shadow_trail
        far = at - self.chord >= RELOCATE_CHORDS or (RELOCATE_BACK and self.chord - at >= RELOCATE_CHORDS)
        if (len(trail) < RELOCATE_NOTES or sum(h for _c, h in trail) < RELOCATE_HERE or not far
                or any(b[0] < a[0] for a, b in zip(trail, trail[1:], strict=False)) or trail[-1][0] - trail[0][0] > RELOCATE_SPAN):
            return []
        return self._relocate(at, note.onset_s)

    def _relocate(self, chord: int, time_s: float) -> list[Event]:
        """The cursor to ``chord``: the path to the newest note is made to end there, and the tempo's anchor is put
        there. With RELOCATE_JUDGE_FIRST the notes held back are judged first, where the path put them."""
        if self._row is None or not self._lo <= chord < self._lo + self._width:
            return []
        back = chord < self.chord
        events = self._commit() if RELOCATE_JUDGE_FIRST and not back else []
        self.relocations.append((time_s, self.chord, chord))
        row = self._row  # (the newest note's row, also held in ``_pending``: the path is read back from it)
        row[chord - self._lo] = float(row.min()) - 1.0
        self.chord = chord
        position = float(self.chord_onsets_ql[chord])
        if back:  # the follower ran ahead: the notes it judged there are taken back, silently (no ``restart``)
            self._moved_back_to = chord
            self._anchors = [a for a in self._anchors if a[0] < position]
        if not self._anchors or position > self._anchors[-1][0]:
            self._anchors.append((position, time_s))
        return events

    def retune(self, *, onset_s: float, pitch: int, cents: float) -> None:
        """A note fed before (``onset_s``, ``pitch``) has settled at ``cents`` (a microphone's, measured past
        the note's attack: ``tutor.listen.live.LiveNotes.settled``): its verdict, if not told yet, judges
        its intonation by them."""
        self._settled_cents[(float(onset_s), int(pitch))] = float(cents)
        if len(self._settled_cents) > 256:  # (notes judged long ago)
            del self._settled_cents[next(iter(self._settled_cents))]

    def note_off(self, *, pitch: int, time_s: float) -> list[Event]:
        """A key released (MIDI note-off): ``short`` or ``long`` when the note was held far from
        its written length at the student's tempo (notes of HELD_MIN_S or more, as offline)."""
        self._hears_releases = True
        if self._keys_down.get(int(pitch), 0) > 1:
            self._keys_down[int(pitch)] -= 1
        else:
            self._keys_down.pop(int(pitch), None)
        self._update_quiet(time_s)
        held = self._sounding.pop(int(pitch), None)
        if held is None:
            # a note still waiting for its verdict (LAG_NOTES): its length is judged with it
            waiting = [n for _lo, _r, _k, n, _o in self._pending if n.pitch == int(pitch) and n.onset_s <= time_s]
            if waiting:
                self._released[waiting[-1]] = (time_s, self._pedal_down)
            return []
        index, onset_s, _note = held
        return self._held_events(index, onset_s=onset_s, release_s=time_s, pitch=int(pitch), pedalled=self._pedal_down)

    def _held_events(self, index: int, *, onset_s: float, release_s: float, pitch: int, pedalled: bool) -> list[Event]:
        """``short`` or ``long`` for a note let go at ``release_s`` (not ``short`` while the pedal holds it on)."""
        written = self.notes[index]
        expected_s = written.duration_ql * self._spq
        duration = release_s - onset_s
        played = PlayedNote(pitch=pitch, onset_s=onset_s, offset_s=release_s)
        if expected_s >= HELD_MIN_S and duration < self.tolerances.short_ratio * expected_s and not pedalled:
            return [self._event("short", None, played, f"held {duration:.2f} s of {expected_s:.2f} s", score_note=written,
                                deviation_ms=(duration - expected_s) * 1000)]
        if expected_s >= HELD_MIN_S and duration > self.tolerances.long_ratio * expected_s + 0.3:
            return [self._event("long", None, played, f"held {duration:.2f} s instead of {expected_s:.2f} s", score_note=written,
                                deviation_ms=(duration - expected_s) * 1000)]
        return []

    def pedal(self, *, down: bool, time_s: float) -> None:
        """The sustain pedal pressed or let go (notes keep sounding while it is down)."""
        self._hears_releases = True
        self._pedal_down = bool(down)
        self._update_quiet(time_s)

    def _update_quiet(self, time_s: float) -> None:
        if self._pedal_down or self._keys_down:
            self._quiet_since_s = None
        elif self._quiet_since_s is None:
            self._quiet_since_s = time_s

    def _silent_before(self, onset_s: float) -> bool:
        """Nothing sounded for PAUSE_SILENCE_S before ``onset_s`` (always true when no releases are reported)."""
        if not self._hears_releases:
            return True
        return self._quiet_since_s is not None and onset_s - self._quiet_since_s >= PAUSE_SILENCE_S

    def finish(self) -> list[Event]:
        """Call at the end of the take: the notes never played are missed."""
        events = self._commit() + self._judge_last_timing() if self.mode == "play-along" else []
        for chord in range(self.n_chords):
            events.extend(self._missed_or_paired(chord))
        return events + self._flush_loose(before_s=np.inf)

    # --- play-along --------------------------------------------------------------------------
    def _match_cost(self, pitch: int) -> np.ndarray:
        p = int(np.clip(pitch, 0, 127))
        has = self._has[self._lo:self._lo + self._width, p]
        near = self._near[self._lo:self._lo + self._width, p]
        return np.where(has, 0.0, np.where(near, NEAR_COST, FAR_COST))

    def _timing_cost(self, onset_s: float) -> np.ndarray:
        """Live, ties between 'a wrong note' and 'an extra note', or 'an extra note' and 'a skipped
        one', are settled by where the student's tempo puts this note."""
        if len(self._anchors) < 2:
            return np.zeros(self._width)
        position, at = self._anchors[-1]
        expected_ql = position + (onset_s - at) / self._spq
        onsets = self.chord_onsets_ql[self._lo:self._lo + self._width]
        return TIMING_WEIGHT * np.minimum(np.abs(onsets - expected_ql) / TIMING_SCALE_QL, 1.0)

    def _feed_follow(self, note: PlayedNote, ring: Callable[[list[Event]], None] | None = None) -> list[Event]:
        """One step of the offline alignment's dynamic programme (``tutor.practice.alignment._follow``, the same
        moves and costs) over the band of chords around the best position so far."""
        width, columns = self._width, self._columns
        word, bit = note.pitch // 64 % 2, np.uint64(1 << (note.pitch % 64))
        if self._row is None:
            self._lo = 0
            row = np.minimum(columns * SKIP_COST, JUMP_COST) + self._match_cost(note.pitch)
            kinds = np.full(width, ADVANCE, dtype=np.int8)
            arrived = np.zeros((2, width), dtype=np.uint64)
        else:
            best = self._lo + int(np.argmin(self._row))
            lo = int(np.clip(best - BAND_BACK, 0, self.n_chords - width))
            prev = np.full(width, np.inf)
            arrived = np.zeros((2, width), dtype=np.uint64)
            shift = lo - self._lo
            if shift >= 0:
                prev[: width - shift] = self._row[shift:]
                arrived[:, : width - shift] = self._words[:, shift:]
            else:
                prev[-shift:] = self._row[: width + shift]
                arrived[:, -shift:] = self._words[:, : width + shift]
            self._lo = lo
            timing = self._timing_cost(note.onset_s)
            m = self._match_cost(note.pitch) + timing
            dt = note.onset_s - (self._last_onset_s if self._last_onset_s is not None else note.onset_s)
            gap = max(0.0, dt - CHORD_GAP_S) * CHORD_GAP_COST_PER_S
            # a pitch played again at the chord the path stays at (not a trill's quick repeat) is not
            # that chord being played: a chord struck again is a restart or an extra note
            again = ((arrived[word] & bit) != 0) & (note.onset_s - self._last_at.get(note.pitch, -np.inf) > ORNAMENT_REPEAT_S)
            alone = self._single[lo:lo + width] | again
            stay = prev + np.where(alone, EXTRA_COST, np.minimum(m - timing + gap, EXTRA_COST)) + timing
            linear = np.minimum.accumulate(prev - SKIP_COST * columns) + SKIP_COST * columns
            advance = np.full(width, np.inf)
            advance[1:] = linear[:-1]
            jump = np.full(width, np.inf)
            jump[1:] = np.minimum.accumulate(prev)[:-1] + JUMP_COST
            restart = np.full(width, np.inf)
            if dt < RESTART_QUICK_S:
                quick = RESTART_QUICK_COST
            elif is_pause(dt, self._steps):  # stopped: more so in silence than with notes still sounding
                quick = -(RESTART_PAUSE_BONUS if self._silent_before(note.onset_s) else RESTART_STOP_BONUS)
            else:
                quick = 0.0
            restart[:-1] = np.minimum.accumulate(prev[::-1])[::-1][1:] + self._going_back + quick
            # a student goes back a bar or two: where the same notes come back earlier (a repeat, a
            # returning theme), the nearer place is the one replayed
            behind_ql = self.chord_onsets_ql[best] - self.chord_onsets_ql[lo:lo + width]
            restart += RESTART_FAR_COST * np.clip(behind_ql / 4.0 - 2.0, 0.0, RESTART_FAR_BARS)
            moves = np.vstack((stay, advance + m, jump + m, restart + m - timing))  # going back: no tempo guess
            kinds = np.argmin(moves, axis=0).astype(np.int8)
            row = moves[kinds, np.arange(width)]
            self._offset += float(row.min())
            row -= row.min()  # keep numbers small over long takes (``_offset`` keeps the sum)
        self._words = np.where(kinds == STAY, arrived, np.uint64(0))
        self._words[word] |= bit
        self._last_at[note.pitch] = note.onset_s
        self._row = row
        if self._last_onset_s is not None:
            self._steps = (self._steps + [note.onset_s - self._last_onset_s])[-8:]
        self._last_onset_s = note.onset_s
        self.chord = self._lo + int(np.argmin(row))  # where the student is now (the cursor)
        if self._track_only:
            return []
        self._pending.append((self._lo, row, kinds, note, self._offset))
        if ring is None:
            events = self._commit(now_s=note.onset_s) + self._provisional_mark(note)
            return events + self._path_marks() if PATH_MARKS else events
        early = self._provisional_mark(note)
        if early:
            ring(early)
        events = self._commit(now_s=note.onset_s)
        told = self._provisional.get(note)
        if told is not None and (told in self._played[int(self._chord_of_note[told])] or told in self._reported_missed):
            # the verdicts just told gave that score note to another played note (their event came after
            # the ring and stands) or called it missed: this note is rung again as it would have been
            del self._provisional[note]
            events += self._provisional_mark(note)
        return events + self._path_marks() if PATH_MARKS else events

    def _path_marks(self) -> list[Event]:
        """Notes held back for their verdict are rung (``correct``, provisional) where the cheapest path to the
        newest note now puts them, when a free score note of their pitch is there (or, out of order, on a chord
        near it played about then, as ``_judge`` looks): a note not rung at once, or rung on another score
        note, is rung there a note or two later instead of with its verdict, LAG_S and more after it (issue
        20: a note of a chord the cursor had passed, a chord struck again). As for the rings told at once, the
        verdict is told again only if it differs, and nothing here changes a verdict."""
        if len(self._pending) < 2:
            return []
        lo, row, kinds, _newest, _offset = self._pending[-1]
        col = int(np.argmin(row))
        path = []
        for k in range(len(self._pending) - 1, 0, -1):
            lo, row, kinds, _note, _offset = self._pending[k]
            lo_prev, prev, _kinds, note, _o = self._pending[k - 1]
            col = predecessor(int(kinds[col]), lo + col - lo_prev, prev)
            path.append((lo_prev + col, note))
        told = set(self._provisional.values())
        events = []
        for chord, note in reversed(path):  # oldest first
            current = self._provisional.get(note)
            if current is not None and int(self._chord_of_note[current]) == chord:
                continue
            index = None
            for c in sorted(range(chord - OUT_OF_ORDER_CHORDS, chord + 3), key=lambda c: abs(c - chord)):
                if not 0 <= c < self.n_chords or (c != chord and not self._near_in_time(c, note)):
                    continue
                index = next((i for i in self.chord_notes[c] if self.notes[i].pitch == note.pitch and i not in self._played[c]
                              and (i not in told or i == current) and i not in self._reported_missed), None)
                if index is not None:
                    break
            if index is None or index == current:
                continue
            self._provisional[note] = index
            told.add(index)
            events.append(self._event("correct", None, note, "correct", score_note=self.notes[index]))
        return events

    def _provisional_mark(self, note: PlayedNote) -> list[Event]:
        """A note that is one of the cursor's chord's, still free there, is told ``correct`` at once (the
        student sees the ring as they play); its verdict, a few notes later, is told again only if it
        differs (a ring is replaced by the later event of its note). So is a note free in one of the
        PROVISIONAL_AHEAD chords after the cursor's (the path often waits a note or two before moving on:
        one hand a little ahead, a chord's notes heard apart), unless a chord between has that pitch too
        (the same key heard again, as in an Alberti bass, is left to the verdict). A microphone's follower rings a
        note that fits none of them where its verdict may pair it (``_pair_mark``)."""
        chord = self.chord
        told = set(self._provisional.values())
        index = None
        for c in range(chord, min(chord + PROVISIONAL_AHEAD + 1, self.n_chords)):
            if c > chord and any(self.notes[i].pitch == note.pitch for i in self.chord_notes[c - 1]):
                break
            index = self._free_note(c, note.pitch, told)
            if index is not None:
                break
        if index is None and self._shadow is not None and PAIR_AT_ONCE:
            index = self._pair_mark(note, told)
        if index is None:
            return []
        self._provisional[note] = index
        return [self._event("correct", None, note, "correct", score_note=self.notes[index])]

    def _pair_mark(self, note: PlayedNote, told: set[int]) -> int | None:
        """The score note a heard note that fits none of the cursor's chord and the chords just after it is rung
        on at once (issue 20): a free note of its pitch on a chord up to PAIR_CHORDS from the cursor's (the nearest
        behind it, else the nearest after) that was reached (or, not judged yet, is due at the student's tempo)
        within PAIR_S of the note -- where its verdict may pair it (``_missed_or_paired``) once that chord is
        passed without that note, a second or more later. Only for a follower that hears score-free (``hear``: a
        microphone's, which misses strikes, so a note is often left over for a chord it missed); a MIDI keyboard's
        follower never gets this. The verdict is told as before (a ring it contradicts is replaced by the score
        note's own later event)."""
        behind = range(self.chord - 1, max(-1, self.chord - PAIR_CHORDS - 1), -1)
        for c in [*behind, *range(self.chord + 1, min(self.n_chords, self.chord + PAIR_CHORDS + 1))]:
            at = self._arrived_s.get(c, self._passed_s.get(c))
            if at is None and self._anchors:
                at = self._extrapolated_s(c)
            if at is None or abs(note.onset_s - at) >= PAIR_S:
                continue
            index = self._free_note(c, note.pitch, told)
            if index is not None:
                return index
        return None

    def _free_note(self, chord: int, pitch: int, told: set[int]) -> int | None:
        """A note of ``pitch`` in ``chord`` not played yet, not rung at once (``told``) and not told missed."""
        return next((i for i in self.chord_notes[chord] if self.notes[i].pitch == pitch and i not in self._played[chord]
                     and i not in told and i not in self._reported_missed), None)

    def _extrapolated_s(self, chord: int) -> float:
        """When ``chord`` is due at the student's tempo from the last chord reached (``_anchors`` not empty)."""
        position, at = self._anchors[-1]
        return at + (float(self.chord_onsets_ql[chord]) - position) * self._spq

    def poll(self, *, time_s: float) -> list[Event]:
        """Call now and then (the analysis worker's idle tick, with the take's clock): notes held back
        for STOP_S are judged on the path as it stands (in slow music, and when the player stops)."""
        if self.mode != "play-along":
            return []
        return self._commit(now_s=time_s, polled=True)

    def _waiting(self, now_s: float, *, polled: bool) -> int:
        """How many of the newest notes held back still wait: a note is judged once LAG_NOTES newer
        notes have come and LAG_S has passed, or in slow music one newer note and LAG_MAX_S; all once none
        has come for STOP_S."""
        if self._last_onset_s is not None and now_s - self._last_onset_s >= STOP_S:
            return 0
        slow = bool(self._steps) and float(np.median(self._steps)) >= SLOW_STEP_S
        newer = 0
        for *_, note, _offset in reversed(self._pending):
            age = now_s - note.onset_s
            if (newer >= LAG_NOTES and age >= LAG_S and not polled) or (slow and newer >= 1 and age >= LAG_MAX_S):
                break
            newer += 1
        return newer

    def _commit(self, *, now_s: float | None = None, polled: bool = False) -> list[Event]:
        """Judge the played notes held back that have waited long enough (all of them without
        ``now_s``) on the cheapest path to where the student is now (fixed-lag smoothing: a note is
        read with the notes after it)."""
        keep = 0 if now_s is None else self._waiting(now_s, polled=polled)
        if len(self._pending) <= keep:
            return []
        lo, row, kinds, newest, offset = self._pending[-1]
        col = int(np.argmin(row))
        path = []
        for k in range(len(self._pending) - 1, -1, -1):
            lo, row, kinds, note, offset = self._pending[k]
            path.append((lo + col, int(kinds[col]), note, float(row[col]) + offset))
            if k:
                lo_prev, prev, *_ = self._pending[k - 1]
                col = predecessor(int(kinds[col]), lo + col - lo_prev, prev)
        path.reverse()
        # patience: while the notes held back cost the path more than PATIENT_COST (two slips, or the
        # first notes of a restart read as extra notes), more of them are waited for before judging
        troubled = path[-1][3] - path[0][3] > PATIENT_COST
        if keep and troubled and len(path) < PATIENT_NOTES and now_s - path[0][2].onset_s < PATIENT_S:
            return []
        events: list[Event] = []
        for chord, kind, note, _cost in path[: len(path) - keep]:
            events += self._judge_on_path(chord, kind, note)
        del self._pending[: len(path) - keep]
        return events

    def _judge_on_path(self, chord: int, kind: int, note: PlayedNote) -> list[Event]:
        events: list[Event] = []
        previous = self._at
        if previous >= 0 and chord < previous and self._moved_back_to is not None and chord >= self._moved_back_to - 2:
            # the follower ran ahead of the student and was moved back (``_relocate``): not a restart
            for c in range(chord, min(previous + 1, self.n_chords)):
                self._played[c].clear()
                self._reported_missed.difference_update(self.chord_notes[c])
                self._arrived_s.pop(c, None)
                self._passed_s.pop(c, None)
            self._groups = [g for g in self._groups if g.position_ql < float(self.chord_onsets_ql[chord])]
            previous, self._moved_back_to = chord, None
        elif previous >= 0 and chord < previous:  # went back
            events += self._flush_loose(before_s=np.inf) + self._judge_last_timing()
            self.attempt += 1
            self._attempt_start_s = note.onset_s
            events.append(self._event("restart", float(self.chord_onsets_ql[chord]), note,
                                      f"went back to measure {self._measure_of(chord)}"))
            for c in range(chord, min(previous + 1, self.n_chords)):
                self._played[c].clear()
                self._reported_missed.difference_update(self.chord_notes[c])
                self._arrived_s.pop(c, None)
                self._passed_s.pop(c, None)
            self._anchors = []  # timing starts afresh (the tempo estimate is kept)
        for c in range(max(previous, 0), chord):  # chords the position moves past now
            self._passed_s.setdefault(c, note.onset_s)
        self._arrived_s.setdefault(chord, note.onset_s)
        self._placed[note] = chord
        told = self._provisional.pop(note, None)
        verdict = self._judge(chord, note, arrived=kind != STAY or chord != previous)
        if told is not None:  # told ``correct`` at once: not again if that was right
            verdict = [e for e in verdict if not (e.type == "correct" and (e.note_id, e.pass_number) == written_id(self.notes[told].id))]
        events.extend(verdict)
        self._at = chord
        # a chord's notes never played are missed once the position is two chords past it and
        # MISSED_AFTER_S has gone by (a hand a little behind the other still gets its notes in), and
        # every note played within PAIR_S of the chord has been judged (one of them, held back as
        # extra, may be the chord's: a trill or a run read one note off)
        for c, passed_s in list(self._passed_s.items()):
            at = self._arrived_s.get(c, passed_s)
            if chord - c >= 2 and note.onset_s - passed_s >= MISSED_AFTER_S and note.onset_s - at >= PAIR_S:
                events.extend(self._missed_or_paired(c))
                del self._passed_s[c]
        return events + self._flush_loose(before_s=note.onset_s - LOOSE_S)

    def _judge(self, chord: int, note: PlayedNote, *, arrived: bool) -> list[Event]:
        free = [i for i in self.chord_notes[chord] if i not in self._played[chord]]
        hit = next((i for i in free if self.notes[i].pitch == note.pitch), None)
        if hit is None:
            # out of order: a chord nearby may have this pitch free, played about when that chord was
            for c in sorted(range(chord - OUT_OF_ORDER_CHORDS, chord + 3), key=lambda c: abs(c - chord)):
                if c == chord or not 0 <= c < self.n_chords or not self._near_in_time(c, note):
                    continue
                other = next((i for i in self.chord_notes[c] if i not in self._played[c] and self.notes[i].pitch == note.pitch
                              and i not in self._reported_missed), None)
                if other is not None:
                    self._played[c].add(other)
                    return self._timed_correct(other, c, note)
        if hit is not None:
            self._played[chord].add(hit)
            return self._timed_correct(hit, chord, note, arrived=arrived)
        near = [i for i in free if abs(self.notes[i].pitch - note.pitch) <= 2]
        if near:
            target = min(near, key=lambda i: abs(self.notes[i].pitch - note.pitch))
            self._played[chord].add(target)
            expected = self.notes[target]
            # the written note out of tune, as the review hears it (its settled cents when ``retune`` gave them)
            off_cents = meant_cents(note.pitch, self._settled_cents.get((note.onset_s, note.pitch), note.cents),
                                    expected.pitch)
            if off_cents is not None:
                return self._timed_correct(target, chord, note, arrived=arrived, cents=off_cents)
            return [self._event("wrong_pitch", None, note, f"played {pitch_name(note.pitch)} instead of {pitch_name(expected.pitch)}",
                                score_note=expected)]
        if self.mode == "play-along":  # told later: it may be a note of a chord beside this one, left unplayed
            self._loose.append((note, chord))
            return []
        return [self._extra(note, chord)]

    def _extra(self, note: PlayedNote, chord: int) -> Event:
        return self._event("extra", float(self.chord_onsets_ql[chord]), note, f"extra {pitch_name(note.pitch)}")

    def _missed_or_paired(self, chord: int) -> list[Event]:
        """The chord's notes never played are missed, unless a note held back as extra has the pitch
        and was played near that chord (a hand break, an ornament: given to the chord beside its own)."""
        at = self._arrived_s.get(chord, self._passed_s.get(chord))
        events: list[Event] = []
        for i in self.chord_notes[chord] if at is not None else ():
            if i in self._played[chord]:
                continue
            loose = next((k for k, (n, c) in enumerate(self._loose) if n.pitch == self.notes[i].pitch
                          and abs(c - chord) <= PAIR_CHORDS and abs(n.onset_s - at) < PAIR_S), None)
            if loose is not None:
                note, _c = self._loose.pop(loose)
                self._played[chord].add(i)
                events += self._timed_correct(i, chord, note)
        return events + self._missed_in(chord, at=at)

    def _flush_loose(self, *, before_s: float) -> list[Event]:
        """Notes held back as extra since before ``before_s`` are told extra, unless the offline
        alignment of the notes around them (``_second_opinion``) gives one a score note of its pitch
        that is still free, on a chord already reached, near its own and when it was reached: then
        it is that note's, played right."""
        due = [(n, c) for n, c in self._loose if n.onset_s < before_s]
        self._loose = [(n, c) for n, c in self._loose if n.onset_s >= before_s]
        events: list[Event] = []
        for note, chord in due:
            # (the alignment, tens of ms, only where a score note could pass the checks below)
            index = next((i for i, n in self._second_opinion(chord, note.onset_s).items() if n is note), None) \
                if self._could_take(note, chord) else None
            own = int(self._chord_of_note[index]) if index is not None else -1
            if (index is None or self.notes[index].pitch != note.pitch or index in self._played[own]
                    or index in self._reported_missed or own > self._at or abs(own - chord) > SECOND_OPINION_CHORDS
                    or abs(note.onset_s - self._arrived_s.get(own, np.inf)) > PAIR_S / 2):
                events.append(self._extra(note, chord))
                continue
            self._played[own].add(index)
            events += self._timed_correct(index, own, note)
        return events

    def _could_take(self, note: PlayedNote, chord: int) -> bool:
        """Whether a score note of ``note``'s pitch is free, not told missed, on a chord reached (up to the
        one judged last) within SECOND_OPINION_CHORDS of ``chord`` and reached within PAIR_S / 2 of the
        note: the only ones ``_flush_loose`` may give it (if none, the second opinion is not asked)."""
        for own in range(max(0, chord - SECOND_OPINION_CHORDS), min(self._at, chord + SECOND_OPINION_CHORDS) + 1):
            if abs(note.onset_s - self._arrived_s.get(own, np.inf)) > PAIR_S / 2:
                continue
            if any(self.notes[i].pitch == note.pitch and i not in self._played[own] and i not in self._reported_missed
                   for i in self.chord_notes[own]):
                return True
        return False

    def _could_vouch(self, index: int, time_s: float) -> bool:
        """Whether a note played within SECOND_OPINION_S of ``time_s`` in this attempt has score note
        ``index``'s pitch and was given to no other score note: the only ones ``_missed_in`` may take from
        the second opinion (if none, it is not asked)."""
        if self.mode != "play-along" or not np.isfinite(time_s):
            return False
        first = bisect.bisect_left(self._heard, max(time_s - SECOND_OPINION_S, self._attempt_start_s), key=_onset_s)
        last = bisect.bisect_right(self._heard, time_s + SECOND_OPINION_S, key=_onset_s)
        pitch = self.notes[index].pitch
        return any(n.pitch == pitch and self._given.get(n, index) == index for n in self._heard[first:last])

    def _second_opinion(self, chord: int, time_s: float) -> dict[int, PlayedNote]:
        """Score note -> the played note the offline alignment (``tutor.practice.alignment.align_arrays``, with
        the whole of its two passes) gives it, over the notes of this attempt played within
        SECOND_OPINION_S of ``time_s`` and the chords the live path put them on (and ``chord``),
        SECOND_OPINION_MARGIN more each side. The live path judges each note a few notes after it; a
        missed or an extra note, told a second or more later, is checked against this reading of the
        notes around it (a hand break or an ornament read one chord off live is an extra plus a missed
        note)."""
        if self.mode != "play-along" or not np.isfinite(time_s):
            return {}
        first = bisect.bisect_left(self._heard, max(time_s - SECOND_OPINION_S, self._attempt_start_s), key=_onset_s)
        last = bisect.bisect_right(self._heard, time_s + SECOND_OPINION_S, key=_onset_s)
        key = (chord, first, last)
        if self._opinion is not None and self._opinion[0] == key:
            return self._opinion[1]
        played = self._heard[first:last]
        # the score the live path put these notes on (the newest, not judged yet: at the cursor), and a
        # little around: the offline reading may move a note a chord or two, not elsewhere
        placed = [self._placed.get(n, self.chord) for n in played] + [chord]
        lo, hi = max(0, min(placed) - SECOND_OPINION_MARGIN), min(self.n_chords - 1, max(placed) + SECOND_OPINION_MARGIN)
        score_index = np.flatnonzero((self._chord_of_note >= lo) & (self._chord_of_note <= hi))
        found: dict[int, PlayedNote] = {}
        if len(score_index) and played:
            alignment = align_arrays(self._note_onsets_ql[score_index], [self.notes[i].pitch for i in score_index],
                                     [n.onset_s for n in played], [n.pitch for n in played])
            for pair in alignment.final_pairs():
                if pair.kind in ("match", "wrong_pitch") and pair.perf_index is not None:
                    found[int(score_index[pair.score_index])] = played[pair.perf_index]
        self._opinion = (key, found)
        return found

    def _near_in_time(self, chord: int, note: PlayedNote) -> bool:
        """``note`` was played about when ``chord`` was (reached, or passed over) or is due."""
        for at in (self._arrived_s.get(chord), self._passed_s.get(chord)):
            if at is not None:
                return abs(note.onset_s - at) < OUT_OF_ORDER_S
        if chord < self._at or not self._anchors:
            return chord >= self._at
        return abs(note.onset_s - self._extrapolated_s(chord)) < OUT_OF_ORDER_S

    def _timed_correct(self, index: int, chord: int, note: PlayedNote, *, arrived: bool = True,
                       cents: float | None = None) -> list[Event]:
        """``note`` is score note ``index`` of ``chord``: ``correct``, or ``sharp``/``flat`` past the level's cents
        tolerance (its settled cents, else its own; ``cents``: how far it lies from the written pitch, for a
        microphone's note that rounds to a neighbour of it), and its timing."""
        expected_note = self.notes[index]
        self._given[note] = index
        self._right.add(index)
        position = float(self.chord_onsets_ql[chord])
        events = []
        first_of_chord = len(self._played[chord]) == 1
        if first_of_chord and self._anchors:
            last_position, last_time = self._anchors[-1]
            if position > last_position:
                # tempo (for the cursor and the path's timing cost): smoothed seconds per quarter
                step = (note.onset_s - last_time) / (position - last_position)
                if 0.3 * self._spq < step < 3.0 * self._spq:
                    self._spq = 0.75 * self._spq + 0.25 * step
        if first_of_chord and (not self._anchors or position > self._anchors[-1][0]):
            self._anchors.append((position, note.onset_s))
            if len(self._anchors) > 64:
                del self._anchors[:32]
        settled = self._settled_cents.pop((note.onset_s, note.pitch), note.cents)
        cents = settled if cents is None else round(cents, 1)
        if cents is not None and abs(cents) > self.tolerances.cents:
            kind = "sharp" if cents > 0 else "flat"
            events.append(self._event(kind, None, note, f"{abs(cents):.0f} cents {kind}", score_note=expected_note, cents=cents))
        if not events:
            events.append(self._event("correct", None, note, "correct", score_note=expected_note))
        self._sounding[note.pitch] = (index, note.onset_s, note)
        if note in self._released:  # let go before its verdict
            del self._sounding[note.pitch]
            release_s, pedalled = self._released.pop(note)
            events += self._held_events(index, onset_s=note.onset_s, release_s=release_s, pitch=note.pitch, pedalled=pedalled)
        if self.mode == "play-along":
            events += self._in_time(index, position, note)
        return events

    # --- timing (play-along) -----------------------------------------------------------------
    def _in_time(self, index: int, position: float, note: PlayedNote) -> list[Event]:
        """Put a note judged right into its chord as played; when a new chord begins, the chord two
        before it is judged for timing as the offline assessment judges it (``_timing``: a hesitation
        before it, or the step into it and the step out of it off the local tempo in opposite
        directions, or a note apart from the rest of its chord), from the chords before it."""
        self._take.append(note)
        member = (index, len(self._take) - 1)
        groups = self._groups
        for group in reversed(groups[-OUT_OF_ORDER_CHORDS - 1:]):
            if abs(group.position_ql - position) < 1e-9:
                group.notes.append(member)
                group.time_s = float(np.median([self._take[p].onset_s for _s, p in group.notes]))
                return []
        if groups and position < groups[-1].position_ql:
            return []  # out of order into a chord no longer at hand: its time says nothing
        groups.append(_Onset(position, note.onset_s, self.attempt, [member]))
        return self._judge_timing(len(groups) - 3)

    def _judge_timing(self, target: int, *, last: int | None = None) -> list[Event]:
        """Timing events for ``self._groups[target]``, judged on the groups up to ``last`` (default:
        the one before the newest, which may still be arriving)."""
        last = len(self._groups) - 2 if last is None else last
        if not 0 <= target <= last:
            return []
        window = self._groups[max(0, last + 1 - TIMING_WINDOW):last + 1]
        at = target - max(0, last + 1 - TIMING_WINDOW)
        spq = [self._spq] * len(window)  # (sets the level's tolerance in beats: the running tempo will do)
        verdicts = _timing(self.score, window, spq, self._take, self.tolerances)
        events = []
        for s_index, p_index in window[at].notes:
            if s_index in verdicts and s_index in self._right:
                kind, deviation, detail = verdicts[s_index]
                events.append(self._event(kind, None, self._take[p_index], timing_message(kind, deviation, detail),
                                          score_note=self.notes[s_index], deviation_ms=deviation * 1000))
        return events

    def _judge_last_timing(self) -> list[Event]:
        """The chords of an attempt not judged yet (the last two), when it ends."""
        n = len(self._groups)
        events = []
        for target in range(max(0, n - 2), n):
            events += self._judge_timing(target, last=n - 1)
        self._groups = []
        return events

    def _missed_in(self, chord: int, *, at: float | None) -> list[Event]:
        """The chord's notes not played are told missed (once), unless the offline reading of the notes
        played around ``at``, when the chord was reached or passed (``_second_opinion``), gives one a
        played note of its pitch that the live path gave to no other note: a note held back as extra
        is then told correct for it, any other is told nothing."""
        events = []
        # a unison written in two voices (two noteheads, one key) is played once, as offline
        sounded = {self.notes[i].pitch for i in self._played[chord] if i in self._right}
        for i in self.chord_notes[chord]:
            if self.notes[i].pitch in sounded or i in self._played[chord] or i in self._reported_missed:
                continue
            vouched = self._second_opinion(chord, at).get(i) if at is not None and self._could_vouch(i, at) else None
            if vouched is not None and vouched.pitch == self.notes[i].pitch and self._given.get(vouched, i) == i:
                loose = next((k for k, (n, _c) in enumerate(self._loose) if n is vouched), None)
                if loose is not None:
                    del self._loose[loose]
                    self._played[chord].add(i)
                    events += self._timed_correct(i, chord, vouched)
                else:
                    self._reported_missed.add(i)  # played, the offline reading says: neither told nor looked for again
                continue
            self._reported_missed.add(i)
            n = self.notes[i]
            events.append(self._event("missed", None, None, f"{pitch_name(n.pitch)} not played", score_note=n))
        return events

    # --- wait mode ---------------------------------------------------------------------------
    def _feed_wait(self, note: PlayedNote) -> list[Event]:
        chord = max(self.chord, 0)
        if self.chord < 0:
            self.chord = 0
        free = [i for i in self.chord_notes[chord] if i not in self._played[chord]]
        if any(self.notes[i].pitch == note.pitch for i in free):
            events = self._judge(chord, note, arrived=True)
            if all(i in self._played[chord] for i in self.chord_notes[chord]) and chord + 1 < self.n_chords:
                self.chord = chord + 1
            elif all(i in self._played[chord] for i in self.chord_notes[chord]):
                self.chord = self.n_chords  # finished
            return events
        # going back: the first chord of this measure or of the two before, if its pitch fits
        for target in self._restart_targets(chord):
            if any(self.notes[i].pitch == note.pitch for i in self.chord_notes[target]):
                self.attempt += 1
                for c in range(target, min(chord + 1, self.n_chords)):
                    self._played[c].clear()
                self.chord = target
                events = [self._event("restart", float(self.chord_onsets_ql[target]), note,
                                      f"went back to measure {self._measure_of(target)}")]
                events += self._feed_wait(note)
                return events
        expected = [self.notes[i] for i in free]
        if expected:
            target = min(expected, key=lambda n: abs(n.pitch - note.pitch))
            return [self._event("wrong_pitch", None, note, f"played {pitch_name(note.pitch)}, waiting for {pitch_name(target.pitch)}",
                                score_note=target)]
        return [self._event("extra", float(self.chord_onsets_ql[min(chord, self.n_chords - 1)]), note, f"extra {pitch_name(note.pitch)}")]

    def _restart_targets(self, chord: int) -> list[int]:
        if chord <= 0 or chord >= self.n_chords:
            return []
        number = self._measure_of(chord)
        targets = []
        for m in self.score.measures:
            if number is not None and number - 2 <= m.number <= number:
                first = int(np.searchsorted(self.chord_onsets_ql, m.start_ql - 1e-9))
                if first < chord:
                    targets.append(first)
        return sorted(set(targets), reverse=True)

    # --- events --------------------------------------------------------------------------
    def _measure_of(self, chord: int) -> int | None:
        m = self.score.measure_at(float(self.chord_onsets_ql[min(max(chord, 0), self.n_chords - 1)]))
        return m.number if m else None

    def _event(self, kind: str, position: float | None, note: PlayedNote | None, message: str, *,
               score_note: Note | None = None, deviation_ms: float | None = None, cents: float | None = None) -> Event:
        if score_note is not None:
            position, measure, beat = score_note.onset_ql, score_note.measure, score_note.beat
        elif position is not None:
            m = self.score.measure_at(position)
            measure = m.number if m else None
            beat = 1.0 + (position - m.start_ql) / beat_ql(m.time_signature) if m else None
        else:
            measure = beat = None
        event = Event(
            type=kind, score_position=position, measure=measure, beat=beat,
            expected_pitch=score_note.pitch if score_note is not None else None,
            played_pitch=note.pitch if note is not None else None,
            time=note.onset_s if note is not None else None, deviation_ms=deviation_ms, cents=cents,
            message=message, note_id=score_note.id if score_note is not None else None, attempt=self.attempt,
        )
        return event if self.unfolding is None else _as_written(event, self.unfolding)


def _onset_s(note: PlayedNote) -> float:
    return note.onset_s


def follow_performance(follower: ScoreFollower, performance: Performance, *,
                       ring: Callable[[list[Event]], None] | None = None) -> list[Event]:
    """Replay a recorded take through ``follower`` as it would have come live: note-ons, note-offs
    and the sustain pedal in time order; returns every event, ``finish()``'s included (with ``ring``,
    the at-once rings go there instead, as in the app: ``ScoreFollower.feed``)."""
    stream: list[tuple[float, int, object]] = []  # (time, order at equal times: offs, pedal, ons)
    for note in performance.notes:
        stream.append((note.onset_s, 2, note))
        if note.offset_s > note.onset_s:
            stream.append((note.offset_s, 0, note))
    stream += [(p.time_s, 1, p) for p in performance.pedal]
    stream.sort(key=lambda item: (item[0], item[1]))
    events: list[Event] = []
    for time_s, order, item in stream:
        events += follower.poll(time_s=time_s)
        if order == 2:  # (``ring`` only when given: a wrapped follower's ``feed`` may take the note alone)
            events += follower.feed(item) if ring is None else follower.feed(item, ring=ring)
        elif order == 0:
            events += follower.note_off(pitch=item.pitch, time_s=time_s)
        else:
            follower.pedal(down=item.down, time_s=time_s)
    return events + follower.finish()
