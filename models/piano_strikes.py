"""Learned strikes for the live piano marks (issue 20): is this pitch being struck now?

``tutor.listen.piano_live.PianoOnsets`` keeps, every 16 ms hop, the energy at each pitch's first partials
(a long and a short window) and the spectrum's flux. A pitch whose partials rose ``GATE_DB`` over their
recent minimum at a strike (flux) is a *candidate*; one hop later this model says how likely it is that the
pitch itself was struck, from ``FEATURES``: the rise and level of the pitch, the same one hop later, its
fundamental's rise, the short window's rise, and the rise and level of the pitches around it (a semitone
or two either side: a wide strike's thump; an octave, a twelfth or two octaves either side: the partials
of another note that cover this one's). Gradient-boosted trees (scikit-learn, exported to
``weights/piano_strikes.npz`` by ``models/training/train_piano_strikes.py``; card ``cards/piano_strikes.md``),
walked in numpy here; trained on real piano sound (maps-dev's dev pieces after their first 120 s, which the live
benchmark does not read on dev) and on FluidSynth renders of nasap-dev performances, dry, in a room and through a
phone-like microphone, with the app's metronome clicks mixed in (never a strike).

A second model hears the whole spectrum (``spectrum_probability``, weights ``weights/piano_strikes_spectrum.npz``,
the same training data; the live path uses it with ``piano_live.SPECTRUM`` on, off as shipped): a small network, run
in numpy, on the candidate's patch of a quarter-semitone spectrum (``spectrum_frame``, ``spectrum_patch``) and on
each of its first ten partials' own rise (``partial_features``) as well as ``FEATURES``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "piano_strikes.npz"
GATE_DB = 4.0  # a candidate: the pitch's partials this far over their recent minimum at a strike
AROUND = (-24, -19, -12, -7, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7, 12, 19, 24)
LIMIT_DB = 40.0  # differences of level are clipped to +-this (pitches outside the bands have none)
FEATURES = (
    ["rise", "rise_next", "step", "level", "level_next", "short_rise", "short_rise_next", "fundamental_rise",
     "flux", "flux_next", "pitch"]
    + [f"rise{k:+d}" for k in AROUND] + [f"level{k:+d}" for k in AROUND]
)


@functools.cache
def load_trees(path: Path = WEIGHTS) -> dict[str, np.ndarray] | None:
    """The exported trees (None when the weights file is missing)."""
    if not path.exists():
        return None
    with np.load(path) as data:
        return {key: data[key] for key in data.files if key != "sources"}


def features(pitches: np.ndarray, *, bands: np.ndarray, bands_next: np.ndarray, bands_before: np.ndarray,
             recent: np.ndarray, short_rise: np.ndarray, short_rise_next: np.ndarray,
             fundamental_rise: np.ndarray, flux: float, flux_next: float) -> np.ndarray:
    """(len(pitches), len(FEATURES)) rows for candidate ``pitches`` at a frame: ``bands`` its 128 pitch levels (dB),
    ``bands_next`` the next hop's, ``bands_before`` the previous hop's, ``recent`` their minima over the hops before,
    the short window's and the fundamentals' rises over their own recent minima, and the frame's and the next
    hop's flux."""
    pitches = np.asarray(pitches, dtype=np.int64)
    rise, rise_next = bands - recent, bands_next - recent
    level, level_next = bands - bands.max(), bands_next - bands_next.max()
    around = np.clip(pitches[:, None] + np.array(AROUND)[None, :], 0, 127)
    clip = functools.partial(np.clip, a_min=-LIMIT_DB, a_max=LIMIT_DB)
    own = np.stack([rise[pitches], rise_next[pitches], bands[pitches] - bands_before[pitches], level[pitches],
                    level_next[pitches], short_rise[pitches], short_rise_next[pitches], fundamental_rise[pitches],
                    np.full(len(pitches), flux), np.full(len(pitches), flux_next)], axis=1)
    return np.concatenate([clip(own), pitches[:, None].astype(np.float64), clip(rise[around] - rise[pitches, None]),
                           clip(bands[around] - bands[pitches, None])], axis=1)


def strike_probability(x: np.ndarray, trees: dict | None = None) -> np.ndarray | None:
    """P(the pitch was struck) for each row of ``features``; None without weights."""
    from tutor.models.note_onsets import predict

    trees = trees if trees is not None else load_trees()
    if trees is None:
        return None
    return predict(trees, x) if len(x) else np.zeros(0)


# --- the strike model that hears the whole spectrum (issue 20, tenth session) ---
# ``PianoOnsets`` also keeps, every hop, the spectrum on a log-frequency grid of FINE_PER_SEMITONE bins a semitone
# from MIDI FINE_LOW_MIDI up (``tutor.listen.piano_live.fine_bins``), in both windows. At a candidate's frame, one
# hop later, ``spectrum_frame`` makes SPECTRUM_CHANNELS arrays over that grid; ``partial_features`` reads each
# candidate's first PARTIALS partials from them (each partial's own rise, not summed), ``spectrum_patch`` the grid
# around the pitch and its partials for the learned patch model.
FINE_PER_SEMITONE = 4
FINE_LOW_MIDI = 21.0
FINE_BINS = 392  # MIDI 21 .. 118.75 (7.7 kHz)
SPECTRUM_CHANNELS = ("rise", "rise_next", "rise_2hops", "level", "short_rise", "short_rise_next")
PARTIALS = 10
BELOW = (-19, -12, -7, 7)  # the fundamentals of a twelfth and an octave below, and their partials near this pitch
PARTIAL_FEATURES = (
    [f"partial{h}_{name}" for h in range(1, PARTIALS + 1)
     for name in ("rise", "rise_next", "rise_2hops", "level", "short_rise", "peak")]
    + [f"fine_rise{k:+d}" for k in BELOW]
)
SPECTRUM_FEATURES = FEATURES + PARTIAL_FEATURES
PATCH_SEMITONES = (-24, 48)  # the patch model's grid around the pitch, every half semitone
SPECTRUM_WEIGHTS = Path(__file__).resolve().parent / "weights" / "piano_strikes_spectrum.npz"


def spectrum_frame(*, fine: np.ndarray, fine_next: np.ndarray, fine_2hops_before: np.ndarray, fine_recent: np.ndarray,
                   short_fine: np.ndarray, short_fine_next: np.ndarray, short_fine_recent: np.ndarray) -> np.ndarray:
    """(len(SPECTRUM_CHANNELS), FINE_BINS) float32 for a candidate frame, from the fine grid's levels (dB): the rise
    over the recent minimum now and one hop later, the rise over two hops, the level against the frame's loudest
    bin, and the short window's rise over its own recent minimum now and one hop later; clipped to +-LIMIT_DB."""
    rows = (fine - fine_recent, fine_next - fine_recent, fine - fine_2hops_before, fine - fine.max(),
            short_fine - short_fine_recent, short_fine_next - short_fine_recent)
    return np.clip(np.stack(rows), -LIMIT_DB, LIMIT_DB).astype(np.float32)


def _fine_index(semitones: np.ndarray) -> np.ndarray:
    """Fine-grid bin of each MIDI pitch (fractional), -1 where it is outside the grid."""
    index = np.rint((semitones - FINE_LOW_MIDI) * FINE_PER_SEMITONE).astype(np.int64)
    return np.where((index >= 0) & (index < FINE_BINS), index, -1)


def partial_features(pitches: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(len(pitches), len(PARTIAL_FEATURES)): for each of the first PARTIALS partials of each pitch, the largest of
    each channel of ``frame`` within a quarter of a semitone of it (the short window's at the partial itself), and
    its peak: the rise there over the larger rise half a semitone either side; then the rise at the fundamentals
    of the pitches a twelfth and an octave below and at their partials a fifth either side. NaN off the grid."""
    pitches = np.asarray(pitches, dtype=np.int64)
    partials = pitches[:, None] + 12.0 * np.log2(np.arange(1, PARTIALS + 1))[None, :]
    centre = _fine_index(partials)
    valid = centre >= 0
    padded = np.pad(frame, ((0, 0), (2, 2)), constant_values=np.nan)  # index i of the grid is i + 2 here
    at = np.where(valid, centre, 0) + 2
    around = np.stack([padded[:, at + d] for d in (-1, 0, 1)])  # (3, channels, n, PARTIALS)
    best = np.nanmax(around, axis=0)
    peak = best[0] - np.fmax(padded[0, at - 2], padded[0, at + 2])
    columns = [best[0], best[1], best[2], best[3], padded[4, at], peak]
    own = np.stack([np.where(valid, c, np.nan) for c in columns], axis=2).reshape(len(pitches), -1)
    below_at = _fine_index(pitches[:, None] + np.array(BELOW, dtype=np.float64)[None, :])
    below = np.where(below_at >= 0, frame[0, np.maximum(below_at, 0)], np.nan)
    return np.concatenate([own, below], axis=1).astype(np.float64)


def spectrum_patch(pitches: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(len(pitches), len(SPECTRUM_CHANNELS) + 1, PATCH_SEMITONES span * 2 + 1) float32: each channel of ``frame``
    every half semitone from PATCH_SEMITONES[0] to [1] around each pitch (the largest of the three fine bins
    there), scaled to about +-1 (/ 20 dB); the last row is 1 where the grid has that point, else 0 (channels 0)."""
    pitches = np.asarray(pitches, dtype=np.int64)
    steps = np.arange(PATCH_SEMITONES[0] * 2, PATCH_SEMITONES[1] * 2 + 1) / 2.0
    centre = _fine_index(pitches[:, None] + steps[None, :])
    valid = centre >= 0
    padded = np.pad(frame, ((0, 0), (1, 1)), mode="edge")
    at = np.where(valid, centre, 0) + 1
    best = np.maximum(np.maximum(padded[:, at - 1], padded[:, at]), padded[:, at + 1])  # (channels, n, steps)
    best = np.where(valid[None], best / 20.0, 0.0).transpose(1, 0, 2)
    return np.concatenate([best, valid[:, None, :]], axis=1).astype(np.float32)


@functools.cache
def load_spectrum_model(path: Path = SPECTRUM_WEIGHTS) -> dict[str, np.ndarray] | None:
    """The exported model that hears the whole spectrum (None when its weights file is missing): trees on
    ``SPECTRUM_FEATURES`` (``kind`` "trees") or a small network on ``spectrum_patch`` and those features ("mlp")."""
    if not path.exists():
        return None
    with np.load(path) as data:
        return {key: data[key] for key in data.files if key != "sources"}


def spectrum_inputs(pitches: np.ndarray, x: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``SPECTRUM_FEATURES`` rows: the ``FEATURES`` rows ``x`` and the ``partial_features`` of the candidates."""
    return np.concatenate([x, partial_features(pitches, frame)], axis=1)


def network_inputs(pitches: np.ndarray, x: np.ndarray, frame: np.ndarray, mean: np.ndarray,
                   scale: np.ndarray) -> np.ndarray:
    """The patch network's input rows (float32): the flattened ``spectrum_patch`` and the ``SPECTRUM_FEATURES``
    standardised by ``mean`` and ``scale`` (NaN: 0)."""
    scalars = np.nan_to_num((spectrum_inputs(pitches, x, frame) - mean) / scale, nan=0.0)
    patch = spectrum_patch(pitches, frame)
    return np.concatenate([patch.reshape(len(patch), -1), scalars.astype(np.float32)], axis=1)


def spectrum_probability(pitches: np.ndarray, x: np.ndarray, frame: np.ndarray, model: dict) -> np.ndarray:
    """P(the pitch was struck) for candidates ``pitches`` (their ``FEATURES`` rows ``x``, their frame's
    ``spectrum_frame``), by ``model`` (``load_spectrum_model``)."""
    from tutor.models.note_onsets import predict

    if not len(x):
        return np.zeros(0)
    if str(model["kind"]) == "trees":
        return predict(model, spectrum_inputs(pitches, x, frame))
    h = network_inputs(pitches, x, frame, model["mean"], model["scale"])
    layers = int(model["layers"])
    for i in range(layers):
        h = h @ model[f"w{i}"] + model[f"b{i}"]
        if i < layers - 1:
            h = np.maximum(h, 0.0)
    return 1.0 / (1.0 + np.exp(-h[:, 0].astype(np.float64)))
