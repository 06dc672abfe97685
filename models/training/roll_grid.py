"""A scanned piano roll read as notation: its onsets put on a sixteenth grid followed through the roll's drift.

The Pianolatron rolls (``../shared/data/style/pianolatron_dances``) carry no time signature and no bar lines: a
metronomic 88-note roll is punched on a steady grid, but its MIDI's quarter notes (the file's tempo map, about one a
second) are the roll's speed, not the music's beat, and the roll's acceleration makes the grid drift against them.
So ``models.style.notated`` (which rounds onsets to a twelfth of the file's quarter note) leaves about half of a
roll's onsets off every written position. ``written_roll`` finds the roll's own smallest regular step (a sixteenth,
between ``MIN_STEP_QL`` and ``MAX_STEP_QL`` of the file's quarter notes), follows it through the roll with a
phase-locked grid, and writes every note on it: chords struck together, onsets on sixteenths, lengths in
sixteenths, in a 2/4 bar whose first beat is where the bass falls most (``bass_weight``); in seconds the chords
are struck together and the lengths are the written ones at the roll's pace. A roll whose onsets do not
keep to one steady grid (a played Welte roll) is left alone (``None``): ``MIN_ON_GRID`` of its onset clusters must
lie within ``ON_GRID_TOLERANCE`` of a step of the tracked grid.

This is how the style corpus learns each roll twice, as performed and as a score of it would write it
(``models.training.style_corpus``), so that a student's notated tango is near the tango class's rolls.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..features import NoteTable

CHORD_SPREAD_QL = 0.06  # onsets closer than this (a rolled or spread chord, about 60 ms on a roll) are one onset
MIN_STEP_QL = 0.18  # the roll's sixteenth, in the file's quarter notes (the file's tempo map: about 1 s a quarter),
MAX_STEP_QL = 0.36  # by default: a quarter at 42-83 a minute (a tango's 2/4; a march's is faster: ``step_ql``)
ON_GRID_TOLERANCE = 0.2  # of a step
MIN_ON_GRID = 0.8
PHASE_GAIN = 0.3  # how far the grid moves toward an onset it is late or early for
PERIOD_GAIN = 0.02  # how far the step lengthens or shortens for it
WINDOW_QL = 10.0  # the step is chosen by its fit within windows this long (the drift spoils a global fit)


@dataclasses.dataclass(frozen=True)
class GridFit:
    step_ql: float  # the roll's sixteenth in the file's quarter notes (at its start)
    on_grid: float  # share of onset clusters within ON_GRID_TOLERANCE of a grid step
    index: np.ndarray  # each onset cluster's sixteenth, counted from the roll's first onset


def onset_clusters(onset_ql: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each note's cluster, the clusters' first onsets): notes struck within ``CHORD_SPREAD_QL`` of the cluster's
    first note are one onset."""
    order = np.argsort(onset_ql, kind="stable")
    cluster = np.zeros(onset_ql.size, dtype=np.int64)
    starts: list[float] = []
    for i in order:
        if not starts or onset_ql[i] - starts[-1] > CHORD_SPREAD_QL:
            starts.append(float(onset_ql[i]))
        cluster[i] = len(starts) - 1
    return cluster, np.array(starts)


def _local_fit(onsets: np.ndarray, step_ql: float) -> float:
    """The median over ``WINDOW_QL`` windows of how well onsets keep to a grid of ``step_ql`` (1: all on it)."""
    fits = []
    for start in np.arange(onsets.min(), onsets.max(), WINDOW_QL):
        w = onsets[(onsets >= start) & (onsets < start + WINDOW_QL)]
        if w.size >= 8:
            fits.append(abs(np.exp(2j * np.pi * w / step_ql).mean()))
    return float(np.median(fits)) if fits else 0.0


def fit_grid(onsets: np.ndarray, *, step_ql: tuple[float, float] = (MIN_STEP_QL, MAX_STEP_QL)) -> GridFit | None:
    """The roll's sixteenth grid, followed from its first onset (``onsets``: the clusters' first onsets, sorted;
    ``step_ql``: the range of the sixteenth's length in the file's quarter notes)."""
    if onsets.size < 16:
        return None
    steps = np.arange(step_ql[0], step_ql[1], 0.0025)
    fit = np.array([_local_fit(onsets, s) for s in steps])
    # the largest step that fits nearly as well as the best (half of a good step fits as well as the step itself)
    step = float(steps[np.flatnonzero(fit >= 0.9 * fit.max())].max())
    at, period, k = float(onsets[0]), step, 0
    index = np.zeros(onsets.size, dtype=np.int64)
    near = np.zeros(onsets.size, dtype=bool)
    for i, t in enumerate(onsets):
        while t > at + period / 2:
            at += period
            k += 1
        error = t - at
        index[i] = k
        near[i] = abs(error) <= ON_GRID_TOLERANCE * period
        if near[i]:
            at += PHASE_GAIN * error
            period = float(np.clip(period + PERIOD_GAIN * error, 0.8 * step, 1.25 * step))
    return GridFit(step, float(near.mean()), index)


def bass_weight(pitch: np.ndarray) -> np.ndarray:
    """How much a note says "downbeat": the lower, the more (nothing from middle C up)."""
    return np.clip(60 - pitch, 0, None).astype(np.float64)


def written_roll(table: NoteTable, *, beats_in_bar: int = 2,
                 step_ql: tuple[float, float] = (MIN_STEP_QL, MAX_STEP_QL)) -> NoteTable | None:
    """The roll as a score would write it (sixteenths, ``beats_in_bar`` quarter notes a bar), or ``None`` when its
    onsets keep to no steady grid. In seconds the roll keeps its pace: each chord struck when its first note is,
    each length its written length at the roll's median seconds a quarter."""
    if len(table) == 0:
        return None
    cluster, starts = onset_clusters(table.onset_ql)
    fit = fit_grid(starts, step_ql=step_ql)
    if fit is None or fit.on_grid < MIN_ON_GRID:
        return None
    sixteenth = fit.index[cluster]
    # the bar's first sixteenth: where the bass falls most (beats first, then which beat of the bar)
    weight = bass_weight(table.pitch)
    beat_phase = int(np.argmax(np.bincount(np.mod(sixteenth, 4), weights=weight, minlength=4)))
    bar = 4 * beats_in_bar
    bar_phase = beat_phase + 4 * int(np.argmax(np.bincount(np.mod((sixteenth - beat_phase) // 4, beats_in_bar),
                                                           weights=weight, minlength=beats_in_bar)))
    shift = (bar - bar_phase) % bar  # sixteenths added so that the bar's first sixteenth is a multiple of the bar
    onset = (sixteenth + shift) * 0.25
    # a note's end: its length in the roll's steps, at least a sixteenth
    length = np.maximum(1, np.round(table.duration_ql / fit.step_ql)).astype(np.int64) * 0.25
    # in seconds: a chord's notes struck together, at the time its first note is struck, and lengths at the roll's
    # pace (its median seconds a written quarter)
    first_s = np.full(starts.size, np.inf)
    np.minimum.at(first_s, cluster, table.onset_s)
    onset_s = first_s[cluster]
    step_s = np.diff(first_s) / np.maximum(np.diff(fit.index), 1)
    quarter_s = 4 * float(np.median(step_s[np.diff(fit.index) > 0])) if np.any(np.diff(fit.index) > 0) else 1.0
    order = np.lexsort((table.pitch, onset))
    written = dataclasses.replace(table, onset_ql=onset, duration_ql=length, onset_s=onset_s - onset_s.min(),
                                  duration_s=length * quarter_s, bar_ql=beats_in_bar * 1.0, beat_ql=1.0,
                                  meter=f"{beats_in_bar}/4")
    return written.select(order)
