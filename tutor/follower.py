"""Live score following: where in the score the student is, and what just went right or wrong.

Fed the notes as they are played (``feed``: a ``PlayedNote`` from a MIDI keyboard, or an onset and
pitch from the microphone's pitch tracker), the follower keeps the score position and returns the
events that the offline assessment would give (``tutor.assessment.Event``: ``correct``,
``wrong_pitch``, ``missed``, ``extra``, ``early``, ``late``, ``restart``, ``sharp``, ``flat``; and
``short``/``long`` when told of the key's release with ``note_off``).

Modes:

* ``play-along`` follows the student wherever they go: the same dynamic programme as the offline
  alignment (``tutor.alignment``), run one played note at a time over a band of chords around the
  current position. Skipped notes are reported ``missed`` once the student is two chords past them,
  going back is a ``restart``, a pause changes nothing. ``position_at(time_s)`` extrapolates the
  position with the student's tempo (for an accompaniment or a cursor between notes).
* ``wait`` waits for the right notes, like a teacher at the piano: the position moves on only when
  every note of the current chord has been played; other notes are ``wrong_pitch`` (or ``extra``);
  playing the start of the current or one of the two previous measures again is a ``restart``.

Each ``feed`` call does a fixed amount of numpy work (a band of a few hundred chords): well under
a millisecond, so it can run in the analysis worker right behind the audio/MIDI input.
"""

from __future__ import annotations

import numpy as np

from tutor.alignment import (
    ADVANCE,
    BAND_AHEAD,
    BAND_BACK,
    CHORD_GAP_COST_PER_S,
    CHORD_GAP_S,
    EXTRA_COST,
    FAR_COST,
    JUMP_COST,
    NEAR_COST,
    RESTART_COST,
    RESTART_PAUSE_BONUS,
    RESTART_QUICK_COST,
    RESTART_QUICK_S,
    SKIP_COST,
    STAY,
    _pitch_tables,
    group_chords,
    is_pause,
)
from tutor.assessment import HELD_MIN_S, LEVELS, Event, beat_ql, pitch_name
from tutor.music import Note, PlayedNote, Score

MODES = ("play-along", "wait")
TIMING_WEIGHT = 0.4  # cost (in extra notes) of a note four quarter notes away from where the tempo puts it


class ScoreFollower:
    def __init__(self, score: Score, *, mode: str = "play-along", level: str = "advanced", bpm: float | None = None,
                 part: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if part is not None:
            score = score.only_parts([score.part(part).id])
        self.score = score
        self.mode = mode
        self.tolerances = LEVELS[level]
        self.notes: tuple[Note, ...] = score.notes
        chord_of, onsets = group_chords(np.array([n.onset_ql for n in self.notes], dtype=float))
        self.chord_onsets_ql = onsets
        self.n_chords = len(onsets)
        self.chord_notes: list[list[int]] = [[] for _ in range(self.n_chords)]
        for index, chord in enumerate(chord_of):
            self.chord_notes[int(chord)].append(index)
        pitches = np.array([n.pitch for n in self.notes], dtype=np.int64)
        self._has, self._near = _pitch_tables(chord_of, pitches, self.n_chords)
        self._width = min(self.n_chords, BAND_BACK + BAND_AHEAD)
        self._columns = np.arange(self._width, dtype=float)
        self._row: np.ndarray | None = None
        self._lo = 0
        self._last_onset_s: float | None = None
        self._steps: list[float] = []  # recent time steps between played notes
        self._sounding: dict[int, tuple[int, float, PlayedNote]] = {}  # pitch -> (score note, onset) until note-off
        self.chord = -1  # chord index the student is at (-1: not started)
        self._played: list[set[int]] = [set() for _ in range(self.n_chords)]  # score notes done, per chord
        self._reported_missed: set[int] = set()
        self._anchors: list[tuple[float, float]] = []  # (position_ql, time_s) of chords as reached
        self._spq = 60.0 / (bpm or score.tempo_map.initial_bpm)
        self.attempt = 0

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
        return min(position + max(0.0, time_s - at) / self._spq, max(next_onset, position))

    # --- input ---------------------------------------------------------------------------
    def feed_onset(self, *, onset_s: float, pitch: int, cents: float | None = None) -> list[Event]:
        return self.feed(PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=onset_s, cents=cents))

    def feed(self, note: PlayedNote) -> list[Event]:
        if not self.n_chords:
            return [self._event("extra", None, note, f"extra {pitch_name(note.pitch)}")]
        if self.mode == "wait":
            return self._feed_wait(note)
        return self._feed_follow(note)

    def note_off(self, *, pitch: int, time_s: float) -> list[Event]:
        """A key released (MIDI note-off): ``short`` or ``long`` when the note was held far from
        its written length at the student's tempo (notes of HELD_MIN_S or more, as offline)."""
        held = self._sounding.pop(int(pitch), None)
        if held is None:
            return []
        index, onset_s, note = held
        written = self.notes[index]
        expected_s = written.duration_ql * self._spq
        duration = time_s - onset_s
        played = PlayedNote(pitch=int(pitch), onset_s=onset_s, offset_s=time_s)
        if expected_s >= HELD_MIN_S and duration < self.tolerances.short_ratio * expected_s:
            return [self._event("short", None, played, f"held {duration:.2f} s of {expected_s:.2f} s", score_note=written,
                                deviation_ms=(duration - expected_s) * 1000)]
        if expected_s >= HELD_MIN_S and duration > self.tolerances.long_ratio * expected_s + 0.3:
            return [self._event("long", None, played, f"held {duration:.2f} s instead of {expected_s:.2f} s", score_note=written,
                                deviation_ms=(duration - expected_s) * 1000)]
        return []

    def finish(self) -> list[Event]:
        """Call at the end of the take: the notes never played are missed."""
        events = []
        for chord in range(self.n_chords):
            events.extend(self._missed_in(chord))
        return events

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
        return TIMING_WEIGHT * np.minimum(np.abs(onsets - expected_ql) / 4.0, 1.0)

    def _feed_follow(self, note: PlayedNote) -> list[Event]:
        width, columns = self._width, self._columns
        if self._row is None:
            self._lo = 0
            row = np.minimum(columns * SKIP_COST, JUMP_COST) + self._match_cost(note.pitch)
            kinds = np.full(width, ADVANCE, dtype=np.int8)
        else:
            best = self._lo + int(np.argmin(self._row))
            lo = int(np.clip(best - BAND_BACK, 0, self.n_chords - width))
            prev = np.full(width, np.inf)
            shift = lo - self._lo
            if shift >= 0:
                prev[: width - shift] = self._row[shift:]
            else:
                prev[-shift:] = self._row[: width + shift]
            self._lo = lo
            timing = self._timing_cost(note.onset_s)
            m = self._match_cost(note.pitch) + timing
            dt = note.onset_s - (self._last_onset_s if self._last_onset_s is not None else note.onset_s)
            gap = max(0.0, dt - CHORD_GAP_S) * CHORD_GAP_COST_PER_S
            stay = prev + np.minimum(m - timing + gap, EXTRA_COST) + timing
            linear = np.minimum.accumulate(prev - SKIP_COST * columns) + SKIP_COST * columns
            advance = np.full(width, np.inf)
            advance[1:] = linear[:-1]
            jump = np.full(width, np.inf)
            jump[1:] = np.minimum.accumulate(prev)[:-1] + JUMP_COST
            restart = np.full(width, np.inf)
            quick = RESTART_QUICK_COST if dt < RESTART_QUICK_S else (-RESTART_PAUSE_BONUS if is_pause(dt, self._steps) else 0.0)
            restart[:-1] = np.minimum.accumulate(prev[::-1])[::-1][1:] + RESTART_COST + quick
            moves = np.vstack((stay, advance + m, jump + m, restart + m - timing))  # going back: no tempo guess
            kinds = np.argmin(moves, axis=0).astype(np.int8)
            row = moves[kinds, np.arange(width)]
            row -= row.min()  # keep numbers small over long takes
        self._row = row
        if self._last_onset_s is not None:
            self._steps = (self._steps + [note.onset_s - self._last_onset_s])[-8:]
        self._last_onset_s = note.onset_s
        col = int(np.argmin(row))
        chord = self._lo + col
        kind = int(kinds[col])
        events: list[Event] = []
        previous = self.chord
        if previous >= 0 and chord < previous:  # went back (the path may have turned a note or two ago)
            self.attempt += 1
            events.append(self._event("restart", float(self.chord_onsets_ql[chord]), note,
                                      f"went back to measure {self._measure_of(chord)}"))
            for c in range(chord, min(previous + 1, self.n_chords)):
                self._played[c].clear()
            self._anchors = []  # timing starts afresh (the tempo estimate is kept)
        events.extend(self._judge(chord, note, arrived=kind != STAY or chord != previous))
        self.chord = chord
        # notes two or more chords behind the position that were never played are missed
        for c in range(max(0, previous - 1), chord - 1):
            events.extend(self._missed_in(c))
        return events

    def _judge(self, chord: int, note: PlayedNote, *, arrived: bool) -> list[Event]:
        free = [i for i in self.chord_notes[chord] if i not in self._played[chord]]
        hit = next((i for i in free if self.notes[i].pitch == note.pitch), None)
        if hit is None:
            # out of order by a chord: the next or previous chord may have this pitch free
            for c in (chord + 1, chord - 1):
                if 0 <= c < self.n_chords:
                    other = next((i for i in self.chord_notes[c] if i not in self._played[c] and self.notes[i].pitch == note.pitch), None)
                    if other is not None and abs(c - chord) == 1 and self._near_in_time(c, note):
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
            return [self._event("wrong_pitch", None, note, f"played {pitch_name(note.pitch)} instead of {pitch_name(expected.pitch)}",
                                score_note=expected)]
        return [self._event("extra", float(self.chord_onsets_ql[chord]), note, f"extra {pitch_name(note.pitch)}")]

    def _near_in_time(self, chord: int, note: PlayedNote) -> bool:
        if not self._anchors:
            return True
        position, at = self._anchors[-1]
        expected = at + (self.chord_onsets_ql[chord] - position) * self._spq
        return abs(note.onset_s - expected) < 0.25

    def _timed_correct(self, index: int, chord: int, note: PlayedNote, *, arrived: bool = True) -> list[Event]:
        expected_note = self.notes[index]
        position = float(self.chord_onsets_ql[chord])
        events = []
        first_of_chord = len(self._played[chord]) == 1
        if first_of_chord and self._anchors:
            last_position, last_time = self._anchors[-1]
            if position > last_position:
                expected = last_time + (position - last_position) * self._spq
                deviation = note.onset_s - expected
                measure = self.score.measure_at(position)
                beat_s = self._spq * beat_ql(measure.time_signature if measure else "4/4")
                tol = float(np.clip(self.tolerances.onset_beats * beat_s * 1.5, self.tolerances.onset_min_ms / 1000 * 1.5,
                                    self.tolerances.onset_max_ms / 1000 * 2))
                if abs(deviation) > tol and len(self._anchors) >= 3:
                    kind = "late" if deviation > 0 else "early"
                    events.append(self._event(kind, None, note, f"{abs(deviation) * 1000:.0f} ms {kind}",
                                              score_note=expected_note, deviation_ms=deviation * 1000))
                # tempo: smoothed seconds per quarter from the recent chords
                step = (note.onset_s - last_time) / (position - last_position)
                if 0.3 * self._spq < step < 3.0 * self._spq and deviation < max(0.4, 2 * tol):
                    self._spq = 0.75 * self._spq + 0.25 * step
        if first_of_chord:
            self._anchors.append((position, note.onset_s))
            if len(self._anchors) > 64:
                del self._anchors[:32]
        if note.cents is not None and abs(note.cents) > self.tolerances.cents:
            kind = "sharp" if note.cents > 0 else "flat"
            events.append(self._event(kind, None, note, f"{abs(note.cents):.0f} cents {kind}", score_note=expected_note, cents=note.cents))
        if not events:
            events.append(self._event("correct", None, note, "correct", score_note=expected_note))
        self._sounding[note.pitch] = (index, note.onset_s, note)
        return events

    def _missed_in(self, chord: int) -> list[Event]:
        events = []
        for i in self.chord_notes[chord]:
            if i not in self._played[chord] and (i, self.attempt) not in self._reported_missed:
                self._reported_missed.add((i, self.attempt))
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
        return Event(
            type=kind, score_position=position, measure=measure, beat=beat,
            expected_pitch=score_note.pitch if score_note is not None else None,
            played_pitch=note.pitch if note is not None else None,
            time=note.onset_s if note is not None else None, deviation_ms=deviation_ms, cents=cents,
            message=message, note_id=score_note.id if score_note is not None else None, attempt=self.attempt,
        )
