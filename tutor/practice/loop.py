"""A looped take: the measures of a range played again and again in one take, each pass marked and
scored on its own. No Qt: the app's practice panel drives these.

``LoopFollower`` gives each pass of the range a fresh score follower and puts a ``PassStart`` in the
events where a pass begins; ``looped_clicks`` makes the metronome's clicks for it (the count-in once,
then the range's clicks again and again); after the take, ``split_passes`` cuts it at the pass starts
(from the follower, or where the tempo puts them: ``LoopReview.pass_starts``) and ``assess_passes``
assesses each pass on the range alone (``assess(..., measures=...)``). A singer's looped take is followed in
the key held (``tutor.practice.live_key.KeyedFollower`` around the ``LoopFollower``: the notes are moved into
that key before the loop follower looks for a pass's start by the range's written first pitches).

A range that holds a repeat is looped as written (issue 21): a pass is the range played as its form says
(``tutor.score.form.unfold`` of the range: the repeats that start in it, with their endings), so the follower
made for each pass follows the range unfolded (``ScoreFollower(..., repeats=True)``), and going back at the
repeat is its next chord in play order, in the middle of the pass, while a new pass starts only at the end
of the unfolded range; the clicks, the cut by the clock and the assessment of each pass use the same
unfolding (``LoopReview.repeats``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tutor.audio.metronome import ClickSchedule
from tutor.practice.alignment import NEAR_SEMITONES
from tutor.practice.assessment import assess
from tutor.score.form import unfold
from tutor.score.music import Performance, Score


@dataclass(frozen=True)
class PassStart:
    """In a looped take's event stream: pass ``index`` (1-based) began with the note at ``time_s``."""

    index: int
    time_s: float
    previous_right: int  # notes right in the pass that just ended
    previous_total: int


class LoopFollower:
    """The score follower for a looped take: the range is played again and again, and each pass
    gets a fresh ``ScoreFollower`` (so each pass is judged on the range alone).

    A new pass starts when a note of the range's first chord comes while the follower is at the
    end of the range (the last chord reached), or in the range's last measure (wait mode: last two)
    when that note is not one it expects next (the end of the range was cut short). The notes of the previous pass
    that were never played are reported missed first; then a ``PassStart`` goes into the events.
    """

    def __init__(self, make_follower) -> None:
        self.make_follower = make_follower
        self.current = make_follower()
        self.starts_s: list[float] = []  # onset of the first note of each pass (from pass 2 on)
        self.start_pitches: list[int] = []  # ...and its pitch, as fed
        self.index = 1
        self._right: set[tuple[str, int]] = set()  # (written note id, time through): a repeat's notes count each time
        notes = self.current.notes
        first_chord = self.current.chord_notes[0] if self.current.n_chords else []
        self.first_pitches = {notes[i].pitch for i in first_chord}
        measures = self.current.score.measures
        # where a first note of the range, unexpected, means "from the top": the last measure; in wait
        # mode (which holds at a wrong note until it is put right) the last two
        tail = measures[-2:] if self.current.mode == "wait" else measures[-1:]
        self.last_measure_from_ql = tail[0].start_ql if tail else 0.0

    def _pass_is_over(self, pitch: int) -> bool:
        f = self.current
        if f.chord < max(1, f.n_chords // 2):
            return False
        expected = f.expected_pitches()
        if f.chord >= f.n_chords - 1 and not expected:  # the end of the range reached (wait mode: past it)
            # the next pass's first note, or a wrong note a semitone or two from it (the next pass begun with
            # a wrong note: read as the first note of the pass, it is judged there, not an extra note here)
            return any(abs(pitch - first) <= NEAR_SEMITONES for first in self.first_pitches)
        if pitch not in self.first_pitches:
            return False
        in_last_measure = f.position_ql >= self.last_measure_from_ql - 1e-9
        return in_last_measure and pitch not in expected

    def feed_onset(self, *, onset_s: float, pitch: int, cents: float | None = None,
                   ring: Callable[[list], None] | None = None) -> list:
        """As ``ScoreFollower.feed_onset`` (``ring``: the note's at-once ring, told first; a new pass's
        start and the last pass's missed notes go to it before that ring)."""
        events: list = []
        if self._pass_is_over(pitch):
            events.extend(self._count(self.current.finish()))
            events.append(PassStart(self.index + 1, onset_s, len(self._right), len(self.current.notes)))
            self.current = self.make_follower()
            self.index += 1
            self.starts_s.append(onset_s)
            self.start_pitches.append(int(pitch))
            self._right = set()
        if ring is None:
            return events + self._count(self.current.feed_onset(onset_s=onset_s, pitch=pitch, cents=cents))
        if events:
            ring(events)
        return self._count(self.current.feed_onset(onset_s=onset_s, pitch=pitch, cents=cents,
                                                   ring=lambda early: ring(self._count(early))))

    def _count(self, events: list) -> list:
        """Keep the notes right in this pass: a note's latest event decides (a note told ``correct`` at
        once may be judged missed or wrong a few notes later)."""
        for event in events:
            if not event.note_id:
                continue
            key = (event.note_id, event.pass_number)
            if event.type in ("wrong_pitch", "missed", "extra", "restart"):
                self._right.discard(key)
            else:
                self._right.add(key)
        return events

    def note_off(self, *, pitch: int, time_s: float) -> list:
        return self._count(self.current.note_off(pitch=pitch, time_s=time_s))

    def hear(self, *, onset_s: float, pitch: int) -> list:
        """A note heard score-free, for this pass's follower (``ScoreFollower.hear``; issue 20)."""
        return self._count(self.current.hear(onset_s=onset_s, pitch=pitch))

    def pedal(self, *, down: bool, time_s: float) -> None:
        self.current.pedal(down=down, time_s=time_s)

    def retune(self, *, onset_s: float, pitch: int, cents: float) -> None:
        """A note's settled cents, for this pass's follower (``ScoreFollower.retune``)."""
        self.current.retune(onset_s=onset_s, pitch=pitch, cents=cents)

    def poll(self, *, time_s: float) -> list:
        return self._count(self.current.poll(time_s=time_s))

    def finish(self) -> list:
        return self.current.finish()

    def position_at(self, time_s: float) -> float:
        return self.current.position_at(time_s)

    # the range and where this pass is in it (the current pass's follower's): what ``KeyedFollower`` reads
    # to ask the key a singer holds, when it moves the notes into that key before this follower gets them
    @property
    def score(self) -> Score:
        return self.current.score

    @property
    def notes(self) -> tuple:
        return self.current.notes

    @property
    def chord(self) -> int:
        return self.current.chord

    @property
    def chord_onsets_ql(self):
        return self.current.chord_onsets_ql

    @property
    def chord_notes(self) -> list[list[int]]:
        return self.current.chord_notes


# a pass's first note as the review's transcription has it may start this long before the live path heard it (a sung
# note is heard live once its pitch has settled; the offline transcription places it where the pitch begins)
LIVE_LAG_S = 0.4
LIVE_EARLY_S = 0.1  # ...or this long after
LIVE_JITTER_S = 0.03  # a note this little after the live start is the same note, timed differently


def split_passes(performance: Performance, starts_s: list[float], pitches: list[int] | None = None) -> list[Performance]:
    """The take cut into its passes at ``starts_s`` (a little before each start, so a note played
    a hair early, or timed a little differently offline, stays with its pass). With ``pitches`` (the pitch
    heard live at each start, in the take's own key) a start is first moved to the pass's own first note as this
    take places it (``_own_first_onset``), never to or before the previous pass's."""
    notes = list(performance.notes)
    cuts = []
    previous_s = -float("inf")
    for k, start in enumerate(starts_s):
        if pitches is not None and k < len(pitches):
            start = _own_first_onset(notes, start, pitches[k], after_s=previous_s)
        previous_s = start
        # the note before the pass (not the pass's own first note, timed a few ms differently)
        before = [n.onset_s for n in notes if n.onset_s < start - 0.05]
        gap = start - before[-1] if before else 1.0
        cuts.append(start - min(0.1, 0.5 * gap))
    edges = [-float("inf"), *cuts, float("inf")]
    return [replace(performance, notes=tuple(n for n in notes if lo <= n.onset_s < hi))
            for lo, hi in zip(edges, edges[1:], strict=False)]


def _own_first_onset(notes: list, start_s: float, pitch: int, *, after_s: float) -> float:
    """Where a pass heard live to start at ``start_s`` with ``pitch`` starts in the take: of its notes of that pitch
    (else a semitone off) from LIVE_LAG_S before to LIVE_EARLY_S after, and after ``after_s``, the latest at or
    before the live start (heard late: a note of that pitch just after it is the tune's next one, "Hap-py"), else
    the first after it; ``start_s`` where there is none."""
    for off in (0, 1):
        near = sorted(n.onset_s for n in notes if abs(n.pitch - pitch) == off
                      and max(start_s - LIVE_LAG_S, after_s) < n.onset_s <= start_s + LIVE_EARLY_S)
        if near:
            before = [onset_s for onset_s in near if onset_s <= start_s + LIVE_JITTER_S]
            return before[-1] if before else near[0]
    return start_s


@dataclass(frozen=True)
class LoopReview:
    """What the review of a looped take needs: the part at the take's tempo (every measure, for the
    alignment's context), the range, and where the passes started (None: unknown, cut by the clock), with the
    pitch heard live at each start in the take's own key (``start_pitches``; None: not known, cut by the time alone).
    ``repeats``: a pass is the range with the repeats that start in it (as written), or the range once."""

    score: Score
    measures: tuple[int, int]
    starts_s: list[float] | None
    count_in_s: float
    repeats: bool = True
    start_pitches: list[int] | None = None

    def pass_starts(self, performance: Performance) -> list[float]:
        if self.starts_s is not None:
            return self.starts_s
        # no live follower: the passes are where the metronome puts them
        ranged = unfold(self.score.slice_measures(*self.measures), repeats=self.repeats).score  # measures in play order
        length_s = ranged.seconds_at(ranged.measures[-1].end_ql) - ranged.seconds_at(ranged.measures[0].start_ql)
        first = self.count_in_s if self.count_in_s > 0 else min((n.onset_s for n in performance.notes), default=0.0)
        end = performance.duration_s
        return [first + k * length_s for k in range(1, int((end - first) / max(length_s, 1e-3)) + 1)]


def looped_clicks(schedule: ClickSchedule) -> ClickSchedule:
    """A click schedule's count-in once, then its clicks for the piece again and again (up to ten minutes)."""
    length_s = schedule.duration_s - schedule.count_in_s
    if length_s <= 0:
        return schedule
    passes = max(1, min(200, int(600 / length_s)))
    piece = [c for c in schedule.clicks if not c.count_in]
    clicks = [c for c in schedule.clicks if c.count_in]
    for k in range(passes):
        clicks += [replace(c, time_s=c.time_s + k * length_s) for c in piece]
    return ClickSchedule(tuple(clicks), count_in_s=schedule.count_in_s, duration_s=schedule.count_in_s + passes * length_s)


def assess_passes(loop: LoopReview, performance: Performance, *, notes_per_pass: int, bpm: float, level: str,
                  progress: Callable[[float, str], None] | None = None, evidence=None) -> tuple:
    """((assessment, the pass's notes), ...) for each pass of a looped take, each assessed on the range
    alone (``loop.measures`` of ``loop.score``); empty when no pass has a note. A last pass with fewer
    than half of ``notes_per_pass`` notes (the player stopped early) is left out, unless it is the only
    one. ``progress(fraction, text)`` is called before each pass (it may raise to stop the work).
    ``evidence``: a piano take's second listen, as ``assess`` takes it (the passes keep the take's clock,
    so the whole take's evidence and the transcriber's onset odds serve every pass)."""
    pieces = split_passes(performance, loop.pass_starts(performance),
                          loop.start_pitches if loop.starts_s is not None else None)
    while len(pieces) > 1 and len(pieces[-1].notes) < notes_per_pass / 2:
        pieces.pop()  # stopped early in the last pass: the review is of the complete ones
    passes = []
    for number, piece in enumerate(pieces, start=1):
        if progress is not None:
            progress(number / len(pieces), f"Pass {number} of {len(pieces)}…")
        if piece.notes:
            # each pass is the range as written (its repeats played, issue 21), or once with repeats off
            passes.append((assess(loop.score, piece, measures=loop.measures, bpm=bpm, level=level, repeats=loop.repeats,
                                  evidence=evidence), piece))
    return tuple(passes)
