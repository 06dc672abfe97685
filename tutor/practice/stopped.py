"""Where a take stopped, when the student stopped before the end of the piece (or the range) they chose.

A student who plays the first bars of a piece and presses Stop has not "missed" the rest: a teacher
would talk about the bars that were played. ``stop_of(assessment, score)`` reads an assessment: when no
note was played in the written measures after some measure, and they hold at least ``STOPPED_MIN_NOTES``
notes in at least ``STOPPED_MIN_MEASURES`` measures, the take stopped (in the measure of the last note it
played, in playing order).
``assess_until_stopped`` then assesses the take again on the score up to that note (up to the end of
the last measure played, where a repeat went back), so the review, its scores and its marks are about
what was played.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tutor.practice.assessment import Assessment, assess, select
from tutor.score.music import Performance, Score

STOPPED_MIN_NOTES = 8  # this many score notes or more after the last one played, all missed...
STOPPED_MIN_MEASURES = 2  # ...in at least this many measures after the one it stopped in: the take stopped
UNPLAYED = ("missed", "skipped_repeat")  # what a score note after the stop is reported as
NOT_A_SCORE_NOTE = ("extra", "restart", "extra_repeat")  # events that say nothing about a score note being played


@dataclass(frozen=True)
class Stop:
    """A take that ended before its piece did."""

    measure: int  # the written measure of the last score note played
    position_ql: float  # its written position (quarter notes from the start)
    reviewed_to: int  # the last written measure with a note played (after ``measure`` when a repeat went back)
    last_measure: int  # the last written measure of the piece (or range) as chosen
    notes_left: int  # written notes in the measures after ``reviewed_to`` (none played)

    def said(self) -> str:
        if self.last_measure == self.reviewed_to + 1:
            rest = f"bar {self.last_measure} was not reviewed"
        else:
            rest = f"bars {self.reviewed_to + 1}–{self.last_measure} were not reviewed"
        return f"You stopped in bar {self.measure}: {rest}."


def stop_of(assessment: Assessment, score: Score) -> Stop | None:
    """Where the take stopped, or None when it went on to the end (or played nothing at all).

    The written measures after the last one with a note played must hold ``STOPPED_MIN_NOTES`` notes or more,
    in ``STOPPED_MIN_MEASURES`` measures or more (reported missed, or folded into a "skipped the repeat")."""
    events = [e for e in assessment.events if e.type not in NOT_A_SCORE_NOTE]
    played = [e for e in events if e.type not in UNPLAYED and e.measure is not None]
    if not played:
        return None
    reviewed_to = max(e.measure for e in played)
    later = [n for n in score.notes if n.measure is not None and n.measure > reviewed_to]
    if len(later) < STOPPED_MIN_NOTES or len({n.measure for n in later}) < STOPPED_MIN_MEASURES:
        return None
    return Stop(measure=played[-1].measure, position_ql=played[-1].score_position, reviewed_to=reviewed_to,
                last_measure=max(m.number for m in score.measures), notes_left=len(later))


def assess_until_stopped(score: Score, performance: Performance, assessment: Assessment,
                         **assess_options) -> tuple[Assessment, Stop | None]:
    """The take's assessment on the measures it reached (the same assessment when it went to the end).

    ``assessment`` is the take's assessment on the whole of ``score``; ``assess_options`` are the ones it was
    made with (bpm, level, repeats, evidence...)."""
    stop = stop_of(assessment, score)
    if stop is None:
        return assessment, None
    reached = select(score, measures=(score.measures[0].number, stop.reviewed_to))
    if stop.measure == stop.reviewed_to:  # not gone back by a repeat: the stop bar's notes after the stop go too
        reached = replace(reached, notes=tuple(n for n in reached.notes if n.onset_ql <= stop.position_ql + 1e-6))
    return assess(reached, performance, **assess_options), stop
