"""A musician's reading of mood, for music unlike EMOPIA's pop-piano performances (issue 26).

EMOPIA's model hears pop piano played with dynamics; a notated melody, a chorale or multi-track game music is far
from it (the demo's major-key nursery tune came out "sad"). Here valence and arousal are each a logistic regression
on a few descriptors a musician uses: mode (major against minor key-profile fit), register, tempo, notes per
second, articulation, and how chromatic the line is; trained on YM2413-MDB game music by
``models/training/train_emotion_prior.py`` (``models/weights/emotion_prior.json``). ``models.emotion`` blends its
quadrant probabilities with the model's, with the weight chosen on held-out game tracks, for pieces that are not a
solo performance with dynamics (a score, or several instruments).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "emotion_prior.json"
FEATURES = ("mode", "key_strength", "register", "log_tempo", "log_notes_per_s", "articulation", "chromatic",
            "pitch_range")


def prior_features(table) -> np.ndarray:
    from .features import estimate_key, key_scores, pitch_class_histogram

    n = len(table)
    if n == 0:
        return np.zeros(len(FEATURES))
    hist = pitch_class_histogram(table.pitch, np.maximum(table.duration_ql, 1e-3))
    scores = key_scores(hist)
    mode = float(scores[:12].max() - scores[12:].max())  # > 0: the major profiles fit better
    tonic, kind, strength = estimate_key(table.pitch, table.duration_ql)
    span_s = max(1e-3, float((table.onset_s + table.duration_s).max() - table.onset_s.min()))
    span_ql = max(1e-3, float((table.onset_ql + table.duration_ql).max() - table.onset_ql.min()))
    bpm = 60.0 * span_ql / span_s
    onsets = np.unique(np.round(table.onset_s, 3))
    ioi = np.diff(onsets)
    articulation = float(np.median(np.clip(table.duration_s / np.maximum(np.median(ioi) if ioi.size else 1.0, 1e-3),
                                           0, 3)))
    from .features import KK_MAJOR, KK_MINOR

    profile = KK_MAJOR if kind == "major" else KK_MINOR
    in_scale = np.roll(profile, tonic) > 3.4
    chromatic = float(1 - hist[in_scale].sum())
    top = np.percentile(table.pitch, 90)
    return np.array([mode, strength, (top - 66) / 12, np.log(np.clip(bpm, 20, 300) / 100), np.log1p(onsets.size / span_s),
                     articulation, chromatic, (np.percentile(table.pitch, 95) - np.percentile(table.pitch, 5)) / 24])


@functools.lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS)) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def quadrant_probabilities(x: np.ndarray, saved: dict) -> np.ndarray:
    """(4,) probabilities Q1..Q4 from valence and arousal probabilities taken as independent."""
    z = (np.asarray(x, dtype=np.float64) - np.array(saved["mean"])) / np.array(saved["std"])
    v = 1 / (1 + np.exp(-(z @ np.array(saved["valence_coef"]) + saved["valence_intercept"])))
    a = 1 / (1 + np.exp(-(z @ np.array(saved["arousal_coef"]) + saved["arousal_intercept"])))
    return np.array([v * a, (1 - v) * a, (1 - v) * (1 - a), v * (1 - a)])


def applies(table) -> bool:
    """Whether the piece is outside EMOPIA's domain (not one instrument played with dynamics)."""
    from .features import has_dynamics

    return not has_dynamics(table) or table.n_parts > 1


def blend(p: np.ndarray, table) -> np.ndarray:
    """The model's quadrant probabilities ``p`` blended with the musician's reading where it applies."""
    saved = _load()
    if saved is None or not applies(table) or len(table) == 0:
        return p
    w = float(saved["weight"])
    prior = quadrant_probabilities(prior_features(table), saved)
    mixed = (1 - w) * np.log(np.clip(p, 1e-9, 1)) + w * np.log(np.clip(prior, 1e-9, 1))
    mixed = np.exp(mixed - mixed.max())
    return mixed / mixed.sum()
