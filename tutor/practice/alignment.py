"""Note-level alignment of a performance to its score, robust to what students do.

``align(score_notes, performance)`` (``align_arrays`` on plain arrays, for the benchmark and the live
follower) gives an ``Alignment``: ``NotePair``s (match, wrong_pitch, missed, extra) and the ``Restart``s.
It follows the order and pitches of the notes, not their times, so tempo changes, rubato, pauses,
ornaments, arpeggiated chords, wrong or skipped notes, restarts and repeats not written out are handled.
numpy only, no model; the method is described at ``align_arrays``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tutor.score.music import Note, Performance, PlayedNote

# costs of the dynamic programme (unit: one extra note)
EXTRA_COST = 1.0  # a played note that belongs to no score note
SKIP_COST = 1.0  # per score chord passed over without playing it
JUMP_COST = 12.0  # cap on skipping forward (the student leaves out a passage)
RESTART_COST = 5.0  # going back to an earlier chord...
RESTART_COST_MIN = 3.0  # ...less in a sparse score: at most RESTART_BAR_SHARE of its notes per 4 quarters
RESTART_BAR_SHARE = 0.6  # (a melody's bar replayed is 2-6 notes, which would otherwise read as extra notes)
RESTART_PAUSE_S = 0.5  # ...right after a pause this long (the student stopped to start again)...
RESTART_PAUSE_BONUS = 2.0  # ...costs this much less
RESTART_STOP_BONUS = 0.75  # ...and this much less after such a step with notes still sounding
PAUSE_STEPS = 1.8  # a pause is also this many times the recent steps between notes
PAUSE_SILENCE_S = 0.3  # ...and, where the notes' ends are known, this long with nothing sounding
RESTART_QUICK_COST = 1.0  # ...within RESTART_QUICK_S of the note before (a chord is not left half-played)
RESTART_QUICK_S = 0.1
NEAR_COST = 1.0  # arriving at a chord with a pitch 1-2 semitones from one of its notes
FAR_COST = 1.6  # arriving at a chord with a pitch far from all of its notes
CHORD_GAP_S = 0.12  # notes of one chord are normally played within this of each other
CHORD_GAP_COST_PER_S = 3.0
HAND_BREAK_S = 0.3  # a wrong note this close before (after) the chord after (before) its own may belong there
ORNAMENT_REPEAT_S = 0.25  # a pitch played again at a chord sooner than this is a trill's, not the chord struck again
BAND_BACK = 192  # chords behind the best position kept in the band (restarts, repeats)
BAND_AHEAD = 192  # chords ahead of it (skips)
NEAR_SEMITONES = 2


def _wrong_distance(semitones: int) -> int:
    """How far a played note is from the score note it may stand for, as a wrong note: an octave (the right
    note in the wrong octave) counts as near as a semitone (issue 24: it was a missed and an extra note)."""
    return 1 if abs(semitones) == 12 else abs(semitones)
# of two equally good paths, the one that jumps later (where the same notes come twice, the take is on the first
# time through until it leaves it: a repeat left out is the second time, skipped as late as the notes allow; a
# take starts at the first time through rather than skipping it; issue 21): a jump at played note j costs
# LATER_COST * (notes after it) more, a start past the first chord LATER_COST * (notes + 1). Settles ties only.
LATER_COST = 1e-8
TIME_WEIGHT = 0.3  # second pass: cost of a chord TIME_SCALE_QL or more away from where the first pass puts the note
TIME_SCALE_QL = 4.0
TIME_WINDOW = 8  # matched notes on each side used to place a played note in the second pass
OUT_OF_ORDER_WRONG_S = 0.5  # a wrong note is not called when the right pitch was played this close, out of order
OUT_OF_ORDER_CHORDS = 8  # a played note left over may belong to a chord this many chords away
REPLAY_CHORDS = 2  # after a restart, a note may take over its chord's match from the earlier attempt this many chords away
# leaving a chord with some of its pitches unplayed costs this much per pitch, at most SKIP_COST (as much as
# passing over it): a path that runs through chords one note each to catch up after a false restart is not
# free (issue 21: a chord like one a bar before, in a passage of similar chords, was read as a going back)
LEAVE_COST = 0.3
RESEAT_S = 0.08  # a played note moves to a same-pitch score note a chord or two away when its time fits that one this much better


@dataclass(frozen=True)
class NotePair:
    """One line of the alignment. ``kind``: "match" (same pitch), "wrong_pitch" (another pitch
    played where the score note was due), "missed" (score note not played), "extra" (played note
    with no score note). Indices refer to the arrays given to ``align_arrays``."""

    kind: str
    score_index: int | None
    perf_index: int | None
    attempt: int = 0  # 0 = first time through; n = after the n-th restart
    final: bool = True  # False for a score note's earlier attempts that a restart replayed


@dataclass(frozen=True)
class Restart:
    """The student went back: ``perf_index`` is the first note played after going back."""

    perf_index: int
    from_ql: float  # score position reached before going back
    to_ql: float  # score position played again


@dataclass(frozen=True)
class Alignment:
    pairs: tuple[NotePair, ...]
    restarts: tuple[Restart, ...]
    chord_of_perf: tuple[int, ...]  # chord index each played note was assigned to
    chord_onsets_ql: tuple[float, ...]

    def matches(self) -> list[NotePair]:
        return [p for p in self.pairs if p.kind == "match" and p.final]

    def final_pairs(self) -> list[NotePair]:
        return [p for p in self.pairs if p.final]


# ---------------------------------------------------------------------------------------------
# chords
# ---------------------------------------------------------------------------------------------
def group_chords(onsets_ql: np.ndarray, *, tolerance_ql: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(chord index per note, onset per chord) for notes sorted by onset."""
    order = np.argsort(onsets_ql, kind="stable")
    chord_of = np.empty(len(onsets_ql), dtype=np.int64)
    chord_onsets: list[float] = []
    for index in order:
        onset = float(onsets_ql[index])
        if not chord_onsets or onset - chord_onsets[-1] > tolerance_ql:
            chord_onsets.append(onset)
        chord_of[index] = len(chord_onsets) - 1
    return chord_of, np.asarray(chord_onsets, dtype=float)


def _pitch_tables(chord_of: np.ndarray, pitches: np.ndarray, n_chords: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean tables [chord, pitch]: the chord has this pitch / a pitch within NEAR_SEMITONES."""
    has = np.zeros((n_chords, 128), dtype=bool)
    has[chord_of, np.clip(pitches, 0, 127)] = True
    near = has.copy()
    for shift in range(1, NEAR_SEMITONES + 1):
        near[:, shift:] |= has[:, :-shift]
        near[:, :-shift] |= has[:, shift:]
    return has, near


# ---------------------------------------------------------------------------------------------
# step 1: dynamic programme over (played note, chord)
# ---------------------------------------------------------------------------------------------
STAY, ADVANCE, JUMP, RESTART = 0, 1, 2, 3


def is_pause(gap_s: float, recent_steps_s: Sequence[float]) -> bool:
    """A gap before a note that is a pause: RESTART_PAUSE_S or more, and several times the steps
    between the notes just before (so that a slow passage is not a string of pauses)."""
    steps = [x for x in recent_steps_s if x > 0.05]
    return gap_s > RESTART_PAUSE_S and (not steps or gap_s > PAUSE_STEPS * float(np.median(steps)))


def pause_bonus(onsets_s: np.ndarray, offsets_s: np.ndarray | None = None) -> np.ndarray:
    """For notes sorted by onset: how much cheaper going back is right before each. RESTART_PAUSE_BONUS
    after a pause (``is_pause``) and, with ``offsets_s`` (what is heard: pedal included), only where
    nothing sounded for PAUSE_SILENCE_S before it (a long written note held is not a pause, however long
    the step after it); RESTART_STOP_BONUS after such a step with notes still sounding (a player who stops
    without lifting the hands): it settles a tie between places the same notes could have been replayed."""
    gaps = np.diff(onsets_s, prepend=onsets_s[0] if len(onsets_s) else 0.0)
    stopped = np.array([is_pause(float(gaps[j]), gaps[max(1, j - 8):j]) for j in range(len(onsets_s))], dtype=bool)
    silent = np.ones(len(onsets_s), dtype=bool)
    if offsets_s is not None and len(onsets_s) > 1:
        sounding_until = np.maximum.accumulate(offsets_s)
        silent = np.concatenate(([np.inf], onsets_s[1:] - sounding_until[:-1])) >= PAUSE_SILENCE_S
    return np.where(stopped & silent, RESTART_PAUSE_BONUS, np.where(stopped, RESTART_STOP_BONUS, 0.0))


def restart_cost(score_onset_ql: np.ndarray) -> float:
    """The cost of going back: RESTART_COST, or, where a bar holds few notes (a melody), about what its
    notes replayed would cost as extra notes (RESTART_BAR_SHARE of the notes per 4 quarters, not under
    RESTART_COST_MIN), so that a singer going back a bar is a restart, not a string of extra notes."""
    if len(score_onset_ql) < 2:
        return RESTART_COST
    span_ql = float(np.ptp(score_onset_ql))
    per_four = len(score_onset_ql) / max(span_ql / 4.0, 1.0)
    return float(np.clip(RESTART_BAR_SHARE * per_four, RESTART_COST_MIN, RESTART_COST))


def _since_same_pitch(perf_pitch: np.ndarray, perf_onset_s: np.ndarray) -> np.ndarray:
    """For notes sorted by onset: seconds since the same pitch was last played (inf the first time); a
    trill or a tremolo repeats its pitches faster than a chord struck again."""
    since_same = np.full(len(perf_pitch), np.inf)
    last_at: dict[int, float] = {}
    for k in range(len(perf_pitch)):
        since_same[k] = perf_onset_s[k] - last_at.get(int(perf_pitch[k]), -np.inf)
        last_at[int(perf_pitch[k])] = float(perf_onset_s[k])
    return since_same


def _follow(perf_pitch: np.ndarray, perf_onset_s: np.ndarray, has: np.ndarray, near: np.ndarray,
            chord_onsets: np.ndarray | None = None, expected_ql: np.ndarray | None = None, *,
            going_back: float, bonus: np.ndarray, since_same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chord index and transition kind for every played note (the cheapest path). With
    ``expected_ql`` (a score position per played note, from a first pass), being far from it
    costs a little: it settles ties between repeated notes and patterns. ``bonus``: ``pause_bonus``
    per played note; ``since_same``: ``_since_same_pitch``."""
    n_perf, n_chords = len(perf_pitch), has.shape[0]
    # a one-note chord has no other note to play: a second note while staying there is an extra note
    # (a melody's repeated pitch replayed after a restart is not absorbed as part of the chord)
    single = has.sum(axis=1) <= 1
    width = min(n_chords, BAND_BACK + BAND_AHEAD)
    rows = np.empty((n_perf, width), dtype=np.float64)
    kinds = np.empty((n_perf, width), dtype=np.int8)
    leaving = np.zeros((n_perf, width), dtype=np.float64)  # leave_cost of the previous row's chords, per row
    # the pitches the path has played at each chord since it arrived there (two 64-bit words per chord)
    played_words = np.zeros((2, width), dtype=np.uint64)
    los = np.empty(n_perf, dtype=np.int64)
    columns = np.arange(width, dtype=np.float64)
    inf = np.inf
    # each chord's pitches as two 64-bit words, and how many distinct pitches it has
    chord_words = np.zeros((2, n_chords), dtype=np.uint64)
    for word in range(2):
        bits = has[:, 64 * word:64 * word + 64].astype(np.uint64) << np.arange(64, dtype=np.uint64)
        chord_words[word] = np.bitwise_or.reduce(bits, axis=1)
    chord_size = has.sum(axis=1).astype(np.float64)

    def leave_cost(words: np.ndarray, lo: int) -> np.ndarray:
        """The cost of leaving each chord of the band with the pitches ``words`` played there."""
        hits = (np.bitwise_count(words[0] & chord_words[0, lo:lo + width])
                + np.bitwise_count(words[1] & chord_words[1, lo:lo + width]))
        return np.minimum(LEAVE_COST * (chord_size[lo:lo + width] - hits), SKIP_COST)

    def match_cost(j: int, lo: int) -> np.ndarray:
        p = int(np.clip(perf_pitch[j], 0, 127))
        h = has[lo:lo + width, p]
        n = near[lo:lo + width, p]
        return np.where(h, 0.0, np.where(n, NEAR_COST, FAR_COST))

    def time_cost(j: int, lo: int) -> np.ndarray | float:
        if expected_ql is None or np.isnan(expected_ql[j]):
            return 0.0
        return TIME_WEIGHT * np.minimum(np.abs(chord_onsets[lo:lo + width] - expected_ql[j]) / TIME_SCALE_QL, 1.0)

    # first note: the take starts anywhere, skipping the chords before costs as skipping
    lo = 0
    los[0] = lo
    # (a later start costs a hair more: where the same notes come twice, a repeat left out, the take is the
    # first time through and the second is skipped, not the other way round; issue 21)
    start = np.minimum(columns * SKIP_COST, JUMP_COST) + np.where(columns > 0, LATER_COST * (n_perf + 1), 0.0)
    rows[0] = start + match_cost(0, lo) + time_cost(0, lo)
    kinds[0] = JUMP
    best = int(np.argmin(rows[0]))
    for j in range(1, n_perf):
        lo_prev = lo
        lo = int(np.clip(lo_prev + best - BAND_BACK, 0, n_chords - width))
        los[j] = lo
        prev = np.full(width, inf)
        arrived = np.zeros((2, width), dtype=np.uint64)
        shift = lo - lo_prev
        outside_left = inf
        if shift >= 0:
            prev[: width - shift] = rows[j - 1][shift:]
            arrived[:, : width - shift] = played_words[:, shift:]
            if shift:
                outside_left = float(rows[j - 1][:shift].min())
        else:
            prev[-shift:] = rows[j - 1][: width + shift]
            arrived[:, -shift:] = played_words[:, : width + shift]
        m = match_cost(j, lo)
        dt = float(perf_onset_s[j] - perf_onset_s[j - 1])
        gap = max(0.0, dt - CHORD_GAP_S) * CHORD_GAP_COST_PER_S
        # a pitch played again while staying at a chord is an extra note (a chord struck a second time,
        # a beat later, is no longer the chord being played): only a restart or an extra note explains it
        word, bit = int(perf_pitch[j]) // 64 % 2, np.uint64(1 << (int(perf_pitch[j]) % 64))
        again = ((arrived[word] & bit) != 0) & (since_same[j] > ORNAMENT_REPEAT_S)
        timing = time_cost(j, lo)
        stay = prev + np.where(single[lo:lo + width] | again, EXTRA_COST, np.minimum(m + gap, EXTRA_COST)) + timing
        m = m + timing
        leaving[j] = leave_cost(arrived, lo)
        prev = prev + leaving[j]  # every move below leaves the chord
        # advance from i' < i: linear skip cost, capped at JUMP_COST
        linear = np.minimum.accumulate(prev - SKIP_COST * columns) + SKIP_COST * columns  # = min_{i'<=i} prev[i'] + s(i-i')
        advance = np.full(width, inf)
        advance[1:] = linear[:-1]  # from i' <= i-1, with (i-1-i') skipped chords
        prefix = np.minimum.accumulate(prev)
        jump_cost = JUMP_COST + LATER_COST * (n_perf - j)
        jump = np.full(width, min(outside_left, inf) + jump_cost)
        jump[1:] = np.minimum(jump[1:], prefix[:-1] + jump_cost)
        suffix = np.minimum.accumulate(prev[::-1])[::-1]
        restart = np.full(width, inf)
        # going back is rarely done in the middle of a chord: a note right after the last costs more
        quick = RESTART_QUICK_COST if dt < RESTART_QUICK_S else -float(bonus[j])
        restart[:-1] = suffix[1:] + going_back + quick
        moves = np.vstack((stay, advance + m, jump + m, restart + m))
        kind = np.argmin(moves, axis=0)
        row = moves[kind, np.arange(width)]
        rows[j] = row
        kinds[j] = kind
        played_words = np.where(kind == STAY, arrived, np.uint64(0))
        played_words[word] |= bit
        best = int(np.argmin(row))

    # back-track from the cheapest end (chords left unplayed at the end cost as skipped)
    end_cost = (rows[-1] + np.minimum((n_chords - 1 - (los[-1] + columns)) * SKIP_COST, JUMP_COST)
                + leave_cost(played_words, int(los[-1])))
    col = int(np.argmin(end_cost))
    chord = np.empty(n_perf, dtype=np.int64)
    moves_out = np.empty(n_perf, dtype=np.int8)
    for j in range(n_perf - 1, -1, -1):
        lo = int(los[j])
        chord[j] = lo + col
        kind = int(kinds[j, col])
        moves_out[j] = kind
        if j == 0:
            break
        lo_prev = int(los[j - 1])
        shift = lo - lo_prev
        prev_left = rows[j - 1].copy()
        if kind != STAY:  # leaving[j] is in row j's band (shifted from row j-1's)
            if shift >= 0:
                prev_left[shift:] += leaving[j][: width - shift]
            else:
                prev_left[: width + shift] += leaving[j][-shift:]
        col = predecessor(kind, lo + col - lo_prev, prev_left)
    return chord, moves_out


def predecessor(kind: int, rel: int, prev: np.ndarray) -> int:
    """Back-tracking one step: the column of the previous played note's chord on the cheapest path,
    given the move ``kind`` that reached chord ``rel`` (in the previous row's columns) and that row."""
    width = len(prev)
    if kind == STAY:
        col = rel
    elif kind == ADVANCE:
        upto = min(rel, width)  # i' in [0, rel-1]
        cand = prev[:upto] - SKIP_COST * np.arange(upto)
        col = int(np.argmin(cand)) if upto > 0 else 0
    elif kind == JUMP:
        upto = min(max(rel, 1), width)
        col = int(np.argmin(prev[:upto]))
    else:  # RESTART: from a later chord
        start_col = max(rel + 1, 0)
        col = start_col + int(np.argmin(prev[start_col:])) if start_col < width else width - 1
    return int(np.clip(col, 0, width - 1))


# ---------------------------------------------------------------------------------------------
# step 2: local note matching
# ---------------------------------------------------------------------------------------------
def align_arrays(
    score_onset_ql: Sequence[float],
    score_pitch: Sequence[int],
    perf_onset_s: Sequence[float],
    perf_pitch: Sequence[int],
    perf_offset_s: Sequence[float] | None = None,
) -> Alignment:
    """Align played notes to score notes; indices in the result refer to these arrays.

    Played notes need not be sorted. Score onsets are in quarter notes (any unit that grows along
    the score works). ``perf_offset_s`` (optional: where each played note stops sounding) tells a
    pause from a long note held, for restarts.

    Two steps:

    1. Score following by dynamic programming. Score notes are grouped into chords (notes with the same
       onset). Each played note, in order, is assigned to a chord: it belongs to the chord the player is
       at (another note of it, or an extra note), or moves the player on to a later chord (skipping chords
       costs per chord, capped for big jumps), or - a restart - back to an earlier chord at a fixed cost.
       A played pitch that is not in the chord costs more the further it is from the chord's pitches;
       leaving a chord with some of its pitches unplayed costs a little per pitch (``LEAVE_COST``).
       This is a DTW/HMM over (played note, chord) with an explicit backward transition; a band around
       the previous note's best position keeps it linear in the length of the piece.
    2. Local note matching. Inside each visit of a chord, played notes are matched to score notes by
       pitch; leftover pairs a semitone or two apart are wrong notes, the rest missed or extra. Notes
       played slightly out of order across neighbouring chords are then matched if their pitch fits and
       they were played near that chord.
    """
    s_onset = np.asarray(score_onset_ql, dtype=float)
    s_pitch = np.asarray(score_pitch, dtype=np.int64)
    p_onset_raw = np.asarray(perf_onset_s, dtype=float)
    p_pitch_raw = np.asarray(perf_pitch, dtype=np.int64)
    n_score, n_perf = len(s_onset), len(p_onset_raw)
    if n_score == 0 or n_perf == 0:
        pairs = [NotePair("missed", i, None) for i in range(n_score)] + [NotePair("extra", None, j) for j in range(n_perf)]
        return Alignment(tuple(pairs), (), tuple([-1] * n_perf), ())
    chord_of, chord_onsets = group_chords(s_onset)
    n_chords = len(chord_onsets)
    has, near = _pitch_tables(chord_of, s_pitch, n_chords)
    order = np.lexsort((p_pitch_raw, p_onset_raw))
    p_onset, p_pitch = p_onset_raw[order], p_pitch_raw[order]
    p_offset = np.asarray(perf_offset_s, dtype=float)[order] if perf_offset_s is not None else None
    # the same for both passes: the cost of going back, and what the played notes say of it
    paths = {"going_back": restart_cost(s_onset), "bonus": pause_bonus(p_onset, p_offset),
             "since_same": _since_same_pitch(p_pitch, p_onset)}
    first = _match(*_follow(p_pitch, p_onset, has, near, **paths), s_onset=s_onset, s_pitch=s_pitch,
                   p_onset=p_onset, p_pitch=p_pitch, order=order, chord_of=chord_of, chord_onsets=chord_onsets, has=has)
    expected = _expected_positions(first, s_onset, p_onset, order)
    return _match(*_follow(p_pitch, p_onset, has, near, chord_onsets, expected, **paths),
                  s_onset=s_onset, s_pitch=s_pitch,
                  p_onset=p_onset, p_pitch=p_pitch, order=order, chord_of=chord_of, chord_onsets=chord_onsets, has=has)


def _expected_positions(alignment: Alignment, s_onset: np.ndarray, p_onset: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Score position where each played note (in sorted order) should be, from the matches of a
    first pass: a line through the matched notes played around it between the same two restarts (a
    line across a restart would pull the notes before it back towards the bars replayed), NaN where
    there are none."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    points = sorted((int(rank[p.perf_index]), float(s_onset[p.score_index])) for p in alignment.matches())
    expected = np.full(len(order), np.nan)
    if len(points) < 2:
        return expected
    ks = np.array([k for k, _q in points])
    qs = np.array([q for _k, q in points])
    ts = p_onset[ks]
    starts = np.array(sorted({0, *(int(rank[r.perf_index]) for r in alignment.restarts)}), dtype=np.int64)
    for j in range(len(order)):
        attempt = int(np.searchsorted(starts, j, side="right")) - 1
        first = int(np.searchsorted(ks, starts[attempt]))
        last = int(np.searchsorted(ks, starts[attempt + 1])) if attempt + 1 < len(starts) else len(ks)
        centre = int(np.clip(np.searchsorted(ks, j), first, last))
        lo, hi = max(first, centre - TIME_WINDOW), min(last, centre + TIME_WINDOW)
        t, q = ts[lo:hi], qs[lo:hi]
        if hi - lo >= 3 and np.ptp(t) > 1e-6:
            slope, intercept = np.polyfit(t, q, 1)
            expected[j] = intercept + slope * p_onset[j]
        elif hi > lo:
            expected[j] = float(np.median(q))
    return expected


def _match(chord: np.ndarray, moves: np.ndarray, *, s_onset, s_pitch, p_onset, p_pitch, order, chord_of, chord_onsets,
           has) -> Alignment:
    """Step 2 for one path of step 1: local note matching, visit by visit."""
    n_score, n_perf, n_chords = len(s_onset), len(p_onset), len(chord_onsets)
    p_onset_raw = np.empty(n_perf)
    p_onset_raw[order] = p_onset

    # visits: a new visit of a chord starts whenever the path arrives at it (not a STAY)
    notes_of_chord: list[list[int]] = [[] for _ in range(n_chords)]
    for i in np.argsort(s_pitch, kind="stable"):
        notes_of_chord[chord_of[i]].append(int(i))
    visits: list[tuple[int, int, list[int]]] = []  # (chord, attempt, sorted-perf positions)
    attempt = 0
    restarts: list[Restart] = []
    reached = -1
    for k in range(n_perf):
        c = int(chord[k])
        if k > 0 and moves[k] == RESTART:
            attempt += 1
            restarts.append(Restart(int(order[k]), float(chord_onsets[max(reached, 0)]), float(chord_onsets[c])))
        if k == 0 or moves[k] != STAY or c != chord[k - 1]:
            visits.append((c, attempt, [k]))
        else:
            visits[-1][2].append(k)
        reached = c if moves[k] != RESTART else c

    # the visit of a chord with the most of its pitches (the last of equals) decides its notes;
    # the others are attempts that a restart replayed
    # (the last visit that has at least half as many as the best: the last attempt is judged)
    last_visit: dict[int, int] = {}
    best_hits: dict[int, int] = {}
    visit_hits = []
    for c, _a, ks in visits:
        hits = len({int(p_pitch[k]) for k in ks} & {int(s_pitch[s]) for s in notes_of_chord[c]})
        visit_hits.append(hits)
        best_hits[c] = max(best_hits.get(c, -1), hits)
    for v, (c, _a, _ks) in enumerate(visits):
        if visit_hits[v] >= best_hits[c] or (visit_hits[v] > 0 and 2 * visit_hits[v] >= best_hits[c]):
            last_visit[c] = v
    pairs: list[NotePair] = []
    score_done = np.zeros(n_score, dtype=bool)
    leftovers: list[tuple[int, int, int, bool]] = []  # (sorted perf position, chord, attempt, final visit) unmatched
    free_of_visit: list[list[int]] = []  # score notes of each visit's chord that it did not play
    for v, (c, a, ks) in enumerate(visits):
        final = last_visit[c] == v
        free_score = list(notes_of_chord[c])
        unmatched_perf = []
        for k in sorted(ks, key=lambda k: p_onset[k]):
            hit = next((s for s in free_score if s_pitch[s] == p_pitch[k]), None)
            if hit is None:
                unmatched_perf.append(k)
                continue
            free_score.remove(hit)
            pairs.append(NotePair("match", hit, int(order[k]), a, final))
            if final:
                score_done[hit] = True
        for k in unmatched_perf:
            leftovers.append((k, c, a, final))
        free_of_visit.append(free_score)

    # wrong notes: a played note left over and a score note of its chord still unplayed, a
    # semitone or two apart, when no neighbouring chord has that pitch unplayed
    visit_of: dict[int, int] = {}
    for v, (_c, _a, ks) in enumerate(visits):
        for k in ks:
            visit_of[k] = v
    remaining = []
    leftover_notes = [(float(p_onset[k]), int(p_pitch[k]), k) for k, _c, _a, _f in leftovers]

    def played_nearby(pitch: int, k: int) -> bool:
        """Another leftover played note has exactly this pitch close by: it, not k, is that note."""
        return any(q == pitch and j != k and abs(t - p_onset[k]) < OUT_OF_ORDER_WRONG_S for t, q, j in leftover_notes)

    visit_start = [float(min(p_onset[k] for k in ks)) for _c, _a, ks in visits]

    def wrong_in(v: int, k: int) -> int | None:
        """The unplayed score note of visit v's chord that played note k stands for (a semitone or two away)."""
        c, _a, _ks = visits[v]
        final = last_visit[c] == v
        free = [s for s in free_of_visit[v] if not (final and score_done[s])]
        if any(s_pitch[s] == p_pitch[k] for s in free):
            return None  # its own pitch is free there: the note played out of order (matched below)
        nearest = min(free, key=lambda s: _wrong_distance(int(s_pitch[s]) - int(p_pitch[k])), default=None)
        if (nearest is not None and _wrong_distance(int(s_pitch[nearest]) - int(p_pitch[k])) <= NEAR_SEMITONES
                and not _neighbour_has(c, int(p_pitch[k]), has, notes_of_chord, score_done, s_pitch)
                and not played_nearby(int(s_pitch[nearest]), k)):
            return nearest
        return None

    for k, c, a, final in leftovers:
        v = visit_of[k]
        # its own chord first; then the chord played right after or before it, when the note came within
        # a hand's break of it (a wrong bass note played ahead of its chord is not on the chord before)
        for v2 in (v, v + 1, v - 1):
            if v2 != v and not (0 <= v2 < len(visits) and abs(float(p_onset[k]) - visit_start[v2]) <= HAND_BREAK_S):
                continue
            nearest = wrong_in(v2, k)
            if nearest is not None:
                c2, a2, _ks = visits[v2]
                final2 = last_visit[c2] == v2
                free_of_visit[v2].remove(nearest)
                pairs.append(NotePair("wrong_pitch", nearest, int(order[k]), a2, final2))
                if final2:
                    score_done[nearest] = True
                break
        else:
            remaining.append((k, c, a, final))
    leftovers = remaining

    # out-of-order notes: a leftover played note whose pitch is still unplayed in a chord nearby
    # (a note anticipated or delayed past its neighbours, a voice played apart)
    # notes from an attempt that a restart replayed: only near the time the chord was finally played
    final_time = np.full(n_chords, np.nan)
    for v, (c, _a, ks) in enumerate(visits):
        if last_visit[c] == v:
            final_time[c] = float(min(p_onset[k] for k in ks))
    known = np.flatnonzero(~np.isnan(final_time))

    def played_around(c2: int, t: float) -> bool:
        if known.size == 0:
            return True
        i = int(np.searchsorted(known, c2))
        before = final_time[known[i - 1]] if i > 0 and known[i - 1] < c2 else None
        j = i + 1 if i < known.size and known[i] == c2 else i
        after = final_time[known[j]] if j < known.size else None
        lo = before if before is not None else (final_time[c2] if not np.isnan(final_time[c2]) else t) - 1.0
        hi = after if after is not None else (final_time[c2] if not np.isnan(final_time[c2]) else t) + 1.0
        return lo - 0.3 <= t <= hi + 0.3

    still: list[tuple[int, int, int]] = []
    nearby = sorted(range(-OUT_OF_ORDER_CHORDS, OUT_OF_ORDER_CHORDS + 1), key=abs)
    for k, c, a, final in leftovers:
        hit = None
        for dc in nearby:
            c2 = c + dc
            if dc == 0 or not 0 <= c2 < n_chords or (not final and not played_around(c2, float(p_onset[k]))):
                continue
            hit = next((s for s in notes_of_chord[c2] if not score_done[s] and s_pitch[s] == p_pitch[k]), None)
            if hit is not None:
                break
        if hit is not None:
            score_done[hit] = True
            pairs.append(NotePair("match", hit, int(order[k]), a, True))
            continue
        if final and a > 0:
            # after a restart: the note of a replayed chord whose final match is still from an
            # earlier attempt (the replay reached that chord out of order, so its visit did not count)
            earlier = next((i for dc in nearby[:2 * REPLAY_CHORDS + 1] for i, pr in enumerate(pairs)
                            if pr.final and pr.kind == "match" and pr.attempt < a and 0 <= c + dc < n_chords
                            and chord_of[pr.score_index] == c + dc and s_pitch[pr.score_index] == p_pitch[k]), None)
            if earlier is not None:
                old = pairs[earlier]
                pairs[earlier] = NotePair("match", old.score_index, old.perf_index, old.attempt, False)
                pairs.append(NotePair("match", old.score_index, int(order[k]), a, True))
                continue
        if final and a < len(restarts) and restarts[a].to_ql - 1e-9 <= chord_onsets[c] <= restarts[a].from_ql + 1e-9:
            # in the bars that the restart ending this attempt replayed, on a chord the replay did not
            # visit again: a note of the attempt replayed, out of order (its pitch a chord or two away)
            replayed = next((s for dc in nearby[:2 * REPLAY_CHORDS + 1] if 0 <= c + dc < n_chords
                             for s in notes_of_chord[c + dc] if s_pitch[s] == p_pitch[k]), None)
            if replayed is not None:
                pairs.append(NotePair("match", replayed, int(order[k]), a, False))
                continue
        if not final:
            # a note of an attempt that a restart replayed, played out of order: not an extra
            replayed = next((s for dc in nearby if 0 <= c + dc < n_chords for s in notes_of_chord[c + dc]
                             if s_pitch[s] == p_pitch[k]), None)
            if replayed is not None:
                pairs.append(NotePair("match", replayed, int(order[k]), a, False))
                continue
        still.append((k, c, a))
    pairs = _reseat(pairs, score_done, s_onset, s_pitch, p_onset_raw, chord_of, chord_onsets)
    pairs, extras = _reseat_extras(pairs, [int(order[k]) for k, _c, a in still if a == attempt], s_pitch,
                                   p_onset_raw, p_pitch_of=dict(zip((int(j) for j in order), (int(q) for q in p_pitch), strict=True)),
                                   chord_of=chord_of, chord_onsets=chord_onsets)
    still = [(k, c, a) for k, c, a in still if a != attempt or int(order[k]) not in extras[1]] + \
        [(k, int(chord[k]), extras[0][int(order[k])]) for k in range(n_perf) if int(order[k]) in extras[0]]
    pairs = _untangle(pairs, s_onset, s_pitch, p_onset_raw)
    for k, _c, a in still:
        pairs.append(NotePair("extra", None, int(order[k]), a, True))
    for s in range(n_score):
        if not score_done[s]:
            pairs.append(NotePair("missed", s, None, attempt, True))
    chord_of_perf = np.empty(n_perf, dtype=np.int64)
    chord_of_perf[order] = chord
    return Alignment(tuple(pairs), tuple(restarts), tuple(int(c) for c in chord_of_perf), tuple(float(x) for x in chord_onsets))


def _reseat(pairs: list[NotePair], score_done: np.ndarray, s_onset: np.ndarray, s_pitch: np.ndarray, p_onset: np.ndarray,
            chord_of: np.ndarray, chord_onsets: np.ndarray) -> list[NotePair]:
    """A played note matched to one of two same-pitch score notes a chord or two apart, the other
    left unplayed: it belongs to the one whose time it was played at (the notes played around it
    tell), e.g. a repeated melody note left out the first time. ``score_done`` is updated."""
    final = [i for i, pr in enumerate(pairs) if pr.final and pr.kind in ("match", "wrong_pitch")]
    if len(final) < 4:
        return pairs
    chord_time = _chord_clock(pairs, final, p_onset, chord_of, chord_onsets)  # median onset of each chord's played notes
    missed = [s for s in range(len(s_onset)) if not score_done[s]]
    if not missed:
        return pairs
    matched_by_pitch: dict[int, list[int]] = {}
    for i in final:
        if pairs[i].kind == "match":
            matched_by_pitch.setdefault(int(s_pitch[pairs[i].score_index]), []).append(i)
    for s in missed:
        cm = int(chord_of[s])
        for i in matched_by_pitch.get(int(s_pitch[s]), []):
            pr = pairs[i]
            c = int(chord_of[pr.score_index])
            if c == cm or abs(c - cm) > 2 or not pr.final:
                continue
            t = float(p_onset[pr.perf_index])
            d_new, d_old = abs(t - chord_time(cm, pr.perf_index)), abs(t - chord_time(c, pr.perf_index))
            if d_old - d_new > RESEAT_S and d_new < 0.5 * d_old:
                pairs[i] = NotePair("match", s, pr.perf_index, pr.attempt, True)
                score_done[s], score_done[pr.score_index] = True, False
                break
    return pairs


def _reseat_extras(pairs: list[NotePair], extras: list[int], s_pitch: np.ndarray, p_onset: np.ndarray, *,
                   p_pitch_of: dict[int, int], chord_of: np.ndarray, chord_onsets: np.ndarray
                   ) -> tuple[list[NotePair], tuple[dict[int, int], set[int]]]:
    """A score note matched to a played note of its pitch far from its time, while another played note of
    that pitch, left over as extra, came right at it: the one played at its time is the note, the other the
    extra (e.g. a note played twice where the score has it once, or the note before it left out: the
    left-over note was the one on time). ``extras``: the played notes left over (indices of the played
    notes, of the last attempt). Returns the pairs and (played notes that became extra: their attempt, extras
    now matched)."""
    final = [i for i, pr in enumerate(pairs) if pr.final and pr.kind in ("match", "wrong_pitch")]
    if len(final) < 4 or not extras:
        return pairs, ({}, set())
    clock = _chord_clock(pairs, final, p_onset, chord_of, chord_onsets)
    became_extra: dict[int, int] = {}
    matched: set[int] = set()
    for j in extras:
        pitch, t_new = p_pitch_of[j], float(p_onset[j])
        best = None
        for i in final:
            pr = pairs[i]
            if pr.kind != "match" or int(s_pitch[pr.score_index]) != pitch or pr.perf_index in became_extra:
                continue
            due = clock(int(chord_of[pr.score_index]), pr.perf_index)
            d_new, d_old = abs(t_new - due), abs(float(p_onset[pr.perf_index]) - due)
            if d_old - d_new > RESEAT_S and d_new < 0.5 * d_old and (best is None or d_old - d_new > best[0]):
                best = (d_old - d_new, i)
        if best is not None:
            pr = pairs[best[1]]
            pairs[best[1]] = NotePair("match", pr.score_index, j, pr.attempt, True)
            became_extra[pr.perf_index] = pr.attempt
            matched.add(j)
    return pairs, (became_extra, matched)


def _chord_clock(pairs: list[NotePair], final: list[int], p_onset: np.ndarray, chord_of: np.ndarray,
                 chord_onsets: np.ndarray):
    """``time(chord, without)``: when a chord was played (the median onset of its matched notes but
    ``without``, else interpolated between the chords played around it; NaN outside them)."""
    by_chord: dict[int, list[tuple[int, float]]] = {}
    for i in final:
        by_chord.setdefault(int(chord_of[pairs[i].score_index]), []).append((pairs[i].perf_index, float(p_onset[pairs[i].perf_index])))
    known = np.array(sorted(by_chord))

    def chord_time(c: int, without: int) -> float:
        here = [t for j, t in by_chord.get(c, []) if j != without]
        if here:
            return float(np.median(here))
        i = int(np.searchsorted(known, c))
        lo = known[i - 1] if i > 0 else None
        hi = known[i + 1] if i + 1 < known.size and known[i] == c else (known[i] if i < known.size and known[i] != c else None)
        if lo is None or hi is None:
            return float("nan")
        t_lo, t_hi = float(np.median([t for _j, t in by_chord[int(lo)]])), float(np.median([t for _j, t in by_chord[int(hi)]]))
        q_lo, q_hi = chord_onsets[lo], chord_onsets[hi]
        return t_lo + (t_hi - t_lo) * (chord_onsets[c] - q_lo) / max(q_hi - q_lo, 1e-9)

    return chord_time


def _untangle(pairs: list[NotePair], s_onset: np.ndarray, s_pitch: np.ndarray, p_onset: np.ndarray) -> list[NotePair]:
    """Final matches of one pitch must keep the score's order in time: where two of them cross
    (a note of the same pitch in neighbouring chords, played in the other order), swap them."""
    out = list(pairs)
    groups: dict[tuple[int, int], list[int]] = {}  # per pitch and attempt (a replay goes back in the score)
    for index, pair in enumerate(out):
        if pair.kind == "match" and pair.final:
            groups.setdefault((int(s_pitch[pair.score_index]), pair.attempt), []).append(index)
    for members in groups.values():
        if len(members) < 2:
            continue
        by_score = sorted(members, key=lambda i: (s_onset[out[i].score_index], out[i].score_index))
        perf_sorted = sorted((out[i].perf_index for i in members), key=lambda j: p_onset[j])
        attempts = {out[i].perf_index: out[i].attempt for i in members}
        scores = [out[i].score_index for i in by_score]
        for i, s, j in zip(by_score, scores, perf_sorted, strict=True):
            out[i] = NotePair("match", s, j, attempts[j], True)
    return out


def _neighbour_has(c: int, pitch: int, has: np.ndarray, notes_of_chord, score_done, s_pitch) -> bool:
    for c2 in (c - 1, c + 1):
        if 0 <= c2 < has.shape[0] and has[c2, pitch]:
            if any(not score_done[s] and s_pitch[s] == pitch for s in notes_of_chord[c2]):
                return True
    return False


# ---------------------------------------------------------------------------------------------
# tutor objects
# ---------------------------------------------------------------------------------------------
def align(score_notes: Sequence[Note], performance: Performance | Sequence[PlayedNote]) -> Alignment:
    """Align ``performance`` to ``score_notes``; indices refer to ``score_notes`` and to the
    performance's ``notes``."""
    heard = performance.sustained() if isinstance(performance, Performance) else None
    played = performance.notes if isinstance(performance, Performance) else tuple(performance)
    return align_arrays(
        [n.onset_ql for n in score_notes], [n.pitch for n in score_notes],
        [n.onset_s for n in played], [n.pitch for n in played],
        [n.offset_s for n in (heard.notes if heard is not None else played)],
    )


def as_match_list(alignment: Alignment, score_ids: Sequence[str], perf_ids: Sequence[str]) -> list[dict]:
    """The alignment as parangonar/partitura dictionaries (label match/insertion/deletion)."""
    out: list[dict] = []
    used_perf: set[int] = set()
    for pair in alignment.final_pairs():
        if pair.kind == "match":
            out.append({"label": "match", "score_id": score_ids[pair.score_index], "performance_id": perf_ids[pair.perf_index]})
            used_perf.add(pair.perf_index)
        elif pair.score_index is not None:
            out.append({"label": "deletion", "score_id": score_ids[pair.score_index]})
    for j in range(len(perf_ids)):
        if j not in used_perf:
            out.append({"label": "insertion", "performance_id": perf_ids[j]})
    return out
