"""Metronome and count-in: a schedule of clicks that follows a score's meters and tempo map, and the click
track as audio.

A simple meter clicks its denominator (3/4: three quarters), a compound meter its dotted beats (6/8: two
clicks a bar); full bars accent the downbeat, a pickup clicks the beats it holds. Count-in bars use the
first meter and tempo and end where the piece begins; times are seconds from the start of the audio::

    schedule = click_schedule(score, count_in_bars=1)     # or bpm=80 to practise slower
    schedule.count_in_s                                    # where the piece's first note sits
    audio = click_track(schedule, sample_rate=44100)       # mono float32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tutor.score.music import Measure, Score

ACCENT_HZ = 1760.0
BEAT_HZ = 1320.0
CLICK_S = 0.03


@dataclass(frozen=True)
class Click:
    time_s: float  # from the start of the audio (count-in included)
    position_ql: float  # in the score (negative during the count-in)
    measure: int  # the score's measure number; count-in bars are -count_in_bars .. -1
    beat: int  # 1-based beat in the bar
    accent: bool  # downbeat of a full bar
    count_in: bool = False


@dataclass(frozen=True)
class ClickSchedule:
    clicks: tuple[Click, ...]
    count_in_s: float  # the piece starts this many seconds into the audio
    duration_s: float  # count-in plus the piece

    @property
    def times_s(self) -> tuple[float, ...]:
        return tuple(c.time_s for c in self.clicks)


def beats_of(time_signature: str) -> tuple[int, float]:
    """(beats per bar, beat length in quarter notes) for a meter such as ``"6/8"``."""
    try:
        numerator, denominator = (int(x) for x in time_signature.split("/"))
    except ValueError:
        numerator, denominator = 4, 4
    if numerator <= 0 or denominator <= 0:
        numerator, denominator = 4, 4
    if numerator > 3 and numerator % 3 == 0 and denominator >= 8:  # compound: dotted beats
        return numerator // 3, 3 * 4.0 / denominator
    return numerator, 4.0 / denominator


def _measure_clicks(measure: Measure, *, is_first: bool) -> list[tuple[float, int, bool]]:
    """(position_ql, beat, accent) for each beat of ``measure``."""
    beats, beat_ql = beats_of(measure.time_signature)
    bar_ql = beats * beat_ql
    out = []
    if is_first and measure.duration_ql < bar_ql - 1e-6:  # pickup: the last beats of a bar
        skipped = bar_ql - measure.duration_ql
        for k in range(beats):
            inside = k * beat_ql - skipped
            if inside >= -1e-6:
                out.append((measure.start_ql + inside, k + 1, False))
        return out
    k = 0
    while k * beat_ql < measure.duration_ql - 1e-6:
        out.append((measure.start_ql + k * beat_ql, k % beats + 1, k % beats == 0))
        k += 1
    return out


def click_schedule(score: Score, *, bpm: float | None = None, count_in_bars: int = 0,
                   piece: bool = True) -> ClickSchedule:
    """Clicks for ``count_in_bars`` bars of count-in and (``piece=True``) every beat of the piece.

    ``bpm`` plays at another tempo (the first tempo becomes ``bpm``; later changes keep their ratio).
    """
    tempo = score.tempo_map if bpm is None else score.tempo_map.scaled(bpm=bpm)
    measures = score.measures
    if not measures:
        bar = 4.0
        count = max(1, int(-(-score.duration_ql // bar)))
        measures = tuple(Measure(i + 1, i * bar, bar, score.time_signature) for i in range(count))
    start_ql = measures[0].start_ql
    beats, beat_ql = beats_of(measures[0].time_signature)
    beat_s = beat_ql * 60.0 / tempo.bpm_at(start_ql)
    count_in_s = max(0, count_in_bars) * beats * beat_s
    clicks = []
    for bar in range(max(0, count_in_bars)):
        for k in range(beats):
            index = bar * beats + k
            clicks.append(Click(time_s=index * beat_s, position_ql=start_ql - (count_in_bars * beats - index) * beat_ql,
                                measure=bar - count_in_bars, beat=k + 1, accent=k == 0, count_in=True))
    origin_s = tempo.seconds_at(start_ql)
    if piece:
        for index, measure in enumerate(measures):
            for position_ql, beat, accent in _measure_clicks(measure, is_first=index == 0):
                clicks.append(Click(time_s=count_in_s + tempo.seconds_at(position_ql) - origin_s,
                                    position_ql=position_ql, measure=measure.number, beat=beat, accent=accent))
    end_ql = max(score.duration_ql, measures[-1].end_ql)
    duration_s = count_in_s + tempo.seconds_at(end_ql) - origin_s
    return ClickSchedule(tuple(clicks), count_in_s=count_in_s, duration_s=duration_s)


def steady_schedule(*, bpm: float, time_signature: str = "4/4", bars: int, count_in_bars: int = 0) -> ClickSchedule:
    """A plain metronome: ``bars`` bars of ``time_signature`` at ``bpm`` (quarter notes per minute)."""
    from tutor.score.music import TempoChange, TempoMap

    beats, beat_ql = beats_of(time_signature)
    bar_ql = beats * beat_ql
    measures = tuple(Measure(i + 1, i * bar_ql, bar_ql, time_signature) for i in range(bars))
    score = Score(title="metronome", parts=(), notes=(), measures=measures,
                  tempo_map=TempoMap((TempoChange(0.0, bpm),)))
    return click_schedule(score, count_in_bars=count_in_bars)


def click_sound(*, sample_rate: int, accent: bool) -> np.ndarray:
    """One click: a short decaying sine burst (higher and louder on the downbeat), float32."""
    n = int(CLICK_S * sample_rate)
    t = np.arange(n) / sample_rate
    freq = ACCENT_HZ if accent else BEAT_HZ
    envelope = np.exp(-t / (CLICK_S / 5)) * np.minimum(1.0, t / 0.0005)
    return ((1.0 if accent else 0.6) * envelope * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def click_track(schedule: ClickSchedule, *, sample_rate: int = 44100, duration_s: float | None = None,
                gain: float = 0.5) -> np.ndarray:
    """The schedule as mono float32 audio of ``duration_s`` (default: the schedule's duration)."""
    total_s = schedule.duration_s if duration_s is None else duration_s
    out = np.zeros(int(round(total_s * sample_rate)) + 1, dtype=np.float32)
    sounds = {True: gain * click_sound(sample_rate=sample_rate, accent=True),
              False: gain * click_sound(sample_rate=sample_rate, accent=False)}
    for click in schedule.clicks:
        start = int(round(click.time_s * sample_rate))
        if start >= len(out):
            continue
        sound = sounds[click.accent]
        end = min(len(out), start + len(sound))
        out[start:end] += sound[: end - start]
    return out
