"""Coaching the bars a review says to practise (issue 24): loop them slower, then faster as they come right.

The review says "Practise measures 6, 3, 9" (worst first). ``plan_for`` picks the bars to loop: the
worst bar and the listed bars next to it (a gap of one bar is bridged), at most ``MAX_BARS`` bars, at
``START_PERCENT`` of the tempo the student played at (never faster). After each looped take,
``next_step`` reads the passes: when the last pass had ``RIGHT_SHARE`` of its notes right the tempo
goes up by ``STEP_PERCENT`` (up to 100 %: the bars are done there); when fewer than ``SLOWER_SHARE``
were right it goes down a step (not below ``MIN_PERCENT``); otherwise the same tempo again. No Qt:
the practice panel drives it (Yousician and Flowkey coach in the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

START_PERCENT = 70
STEP_PERCENT = 10
MIN_PERCENT = 50
MAX_BARS = 4
RIGHT_SHARE = 0.9
SLOWER_SHARE = 0.6


@dataclass(frozen=True)
class CoachPlan:
    first: int  # the bars looped, as numbered in the score
    last: int
    tempo_percent: int  # of the written tempo
    done: bool = False  # right at full tempo
    said: str = ""  # what the coach says after the last take

    @property
    def bars(self) -> str:
        return f"bar {self.first}" if self.first == self.last else f"bars {self.first}-{self.last}"


def plan_for(practice_measures: tuple[int, ...] | list[int], measure_numbers: list[int], *,
             tempo_percent: int = 100) -> CoachPlan | None:
    """The bars to loop and the tempo to start at, or None when the review names no bar."""
    listed = [m for m in practice_measures if m in set(measure_numbers)]
    if not listed:
        return None
    worst = listed[0]
    first = last = worst
    grown = True
    while grown:
        grown = False
        for bar in sorted(set(listed)):
            if first - 2 <= bar < first and last - bar + 1 <= MAX_BARS:
                first, grown = bar, True
            elif last < bar <= last + 2 and bar - first + 1 <= MAX_BARS:
                last, grown = bar, True
    return CoachPlan(first, last, min(START_PERCENT, int(tempo_percent)))


def next_step(plan: CoachPlan, right: int, total: int) -> CoachPlan:
    """The plan after a looped take whose last pass had ``right`` of ``total`` notes right."""
    share = right / total if total else 0.0
    if share >= RIGHT_SHARE:
        if plan.tempo_percent >= 100:
            return replace(plan, done=True, said=f"{plan.bars} right at full tempo: well done.")
        faster = min(100, plan.tempo_percent + STEP_PERCENT)
        return replace(plan, tempo_percent=faster,
                       said=f"{right} of {total} right at {plan.tempo_percent} %: now {faster} %.")
    if share < SLOWER_SHARE and plan.tempo_percent > MIN_PERCENT:
        slower = max(MIN_PERCENT, plan.tempo_percent - STEP_PERCENT)
        return replace(plan, tempo_percent=slower,
                       said=f"{right} of {total} right: slower, at {slower} %.")
    return replace(plan, said=f"{right} of {total} right at {plan.tempo_percent} %: once more at this tempo.")
