"""Emotion of a piece: the EMOPIA quadrant (Q1 happy, Q2 tense, Q3 sad, Q4 calm) with valence and
arousal, from the ensemble trained by ``models/train_emotion.py`` (``models/weights/emotion.pt``).

Valence and arousal are read off the quadrant probabilities: valence = P(Q1) + P(Q4) - P(Q2) - P(Q3),
arousal = P(Q1) + P(Q2) - P(Q3) - P(Q4), both in [-1, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "emotion.pt"
QUADRANT_LABELS = {"Q1": "happy / excited", "Q2": "tense / angry", "Q3": "sad / depressed", "Q4": "calm / relaxed"}
MAX_SECONDS = 60.0  # long pieces: the mean over 30 s windows (the length of an EMOPIA clip)


@dataclass(frozen=True)
class EmotionResult:
    quadrant: str
    label: str
    valence: float
    arousal: float
    probabilities: dict[str, float]


@functools.lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS)):
    from .encoder import load_ensemble

    nets, saved = load_ensemble(path, model="emotion model", trainer="models.train_emotion")
    return nets, tuple(saved["quadrants"]), int(saved["max_tokens"])


def _clips(table):
    """30-second windows of a piece (a short piece is one clip)."""
    from .features import NoteTable

    if len(table) == 0 or table.onset_s.max() <= 36.0:
        return [table]
    out = []
    start = 0.0
    end = float(table.onset_s.max())
    while start < end - 10.0 and len(out) < 8:
        mask = (table.onset_s >= start) & (table.onset_s < start + 30.0)
        if mask.sum() >= 8:
            sub = table.select(mask)
            out.append(NoteTable(sub.pitch, sub.onset_ql, sub.duration_ql, sub.onset_s - start, sub.duration_s,
                                 sub.velocity, sub.part, sub.bar_ql, sub.beat_ql, sub.meter, sub.n_parts))
        start += 30.0
    return out or [table]


def predict_table(table) -> EmotionResult:
    import torch

    from .emotion_data import clip_features
    from .encoder import single_thread
    from .train_emotion import combined_probabilities

    nets, quadrants, _ = _load()
    clips = _clips(table)
    feats, toks = zip(*(clip_features(c) for c in clips), strict=True)
    x = torch.tensor(np.stack(feats), dtype=torch.float32)
    tokens = torch.tensor(np.stack(toks).astype(np.int64))
    total = np.zeros(4)
    with single_thread():
        for net in nets:
            total += combined_probabilities(net(tokens, x)).mean(0)
    p = total / len(nets)
    best = int(np.argmax(p))
    return EmotionResult(
        quadrant=quadrants[best], label=QUADRANT_LABELS[quadrants[best]],
        valence=float(p[0] + p[3] - p[1] - p[2]), arousal=float(p[0] + p[1] - p[2] - p[3]),
        probabilities={q: float(v) for q, v in zip(quadrants, p, strict=True)},
    )


def predict_emotion(score) -> EmotionResult:
    """The emotion of a ``tutor.music.Score``."""
    from .features import table_from_score

    return predict_table(table_from_score(score))
