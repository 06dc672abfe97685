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
