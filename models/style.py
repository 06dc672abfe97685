"""Style of a piece, in classes a student recognises (``models.style.CLASS_LABELS``), from the
ensemble trained by ``models/training/train_style.py`` (``models/weights/style.pt``). A piece is cut into
8-bar windows; its probabilities are the mean over the windows."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "style.pt"
MAX_WINDOWS = 12

# the classes (the corpus that stands for each: ``tutor.models.training.style_data``)
CLASSES = ("renaissance", "baroque", "classical", "romantic_piano", "folk_fiddle", "folk_song")
CLASS_LABELS = {
    "renaissance": "Renaissance polyphony",
    "baroque": "Baroque",
    "classical": "Classical",
    "romantic_piano": "Romantic piano",
    "folk_fiddle": "Folk dance tune (fiddle)",
    "folk_song": "Folk song",
}
WINDOW_BARS = 8
STYLE_TOKENS = 192  # notes per window the sequence encoder reads (8 bars of a chorale are ~130)


@dataclass(frozen=True)
class StyleResult:
    label: str  # class id, e.g. "baroque"
    name: str  # for people, e.g. "Baroque"
    probabilities: dict[str, float]


@functools.lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS)):
    from .encoder import load_ensemble

    nets, saved = load_ensemble(path, model="style model", trainer="models.training.train_style")
    return nets, tuple(saved["classes"])


def predict_table(table) -> StyleResult:
    import torch

    from .encoder import run_net, single_thread
    from .features import hand_features, note_tokens, windows

    nets, classes = _load()
    parts = windows(table, bars=WINDOW_BARS, max_windows=MAX_WINDOWS) or [table]
    x = torch.tensor(np.stack([hand_features(w) for w in parts]), dtype=torch.float32)
    tokens = np.zeros((len(parts), STYLE_TOKENS, 6), dtype=np.int64)
    for i, w in enumerate(parts):
        t = note_tokens(w, max_tokens=STYLE_TOKENS)
        tokens[i, : len(t)] = t
    total = np.zeros(len(classes))
    with single_thread():
        for net in nets:
            total += torch.softmax(run_net(net, torch.tensor(tokens), x)["style"], -1).mean(0).numpy()
    p = total / len(nets)
    best = int(np.argmax(p))
    return StyleResult(classes[best], CLASS_LABELS.get(classes[best], classes[best]),
                       {c: float(v) for c, v in zip(classes, p, strict=True)})


def predict_style(score) -> StyleResult:
    """The style of a ``tutor.score.music.Score``."""
    from .features import table_from_score

    return predict_table(table_from_score(score))
