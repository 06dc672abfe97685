"""Learned verdicts on a piano audio take (issue 20): was an expected note struck? is a transcribed note real?

Two small gradient-boosted tree classifiers (scikit-learn ``HistGradientBoostingClassifier``, exported to
``weights/piano_verdicts.npz`` by ``models/training/train_piano_verdicts.py``; model card
``cards/piano_verdicts.md``) over the features ``tutor.listen.piano_evidence`` measures:

- ``struck``: P(a key of this pitch was struck within 0.2 s of when the note was due), from how the
  pitch's partials rise there (against the octave below and above and the neighbours a semitone and a
  tone away), its level, and what the transcriber heard around it. Asked before a note is called missed.
- ``real``: P(a transcribed note was played), from its strike in the sound, its velocity against the notes
  struck with it, the notes below it whose partials it may be, its length. Asked before a note is called extra.

Trained on the development pieces of ``real-audio/maps-dev`` only (the benchmark's held-out pieces are
never seen). Only numpy at inference (the trees are walked by ``tutor.models.note_onsets.predict``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "piano_verdicts.npz"
KINDS = ("struck", "real")


@functools.cache
def load(path: Path) -> dict[str, dict[str, np.ndarray]] | None:
    """{"struck": trees, "real": trees} (None when the weights file is missing)."""
    path = Path(path)
    if not path.exists():
        return None
    with np.load(path) as data:
        return {kind: {key[len(kind) + 1:]: data[key] for key in data.files if key.startswith(kind + "_")}
                for kind in KINDS}


def probability(kind: str, x: np.ndarray, path: Path | None = None) -> np.ndarray | None:
    """P(struck) or P(real) for each row of ``x`` (None without weights; ``path``: default ``WEIGHTS``)."""
    from tutor.models.note_onsets import predict

    models = load(Path(path or WEIGHTS))
    if models is None:
        return None
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return predict(models[kind], x) if len(x) else np.zeros(0)
