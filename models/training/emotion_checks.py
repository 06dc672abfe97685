"""The emotion model's checks beyond EMOPIA, without reading EMOPIA's test split:
``OMP_NUM_THREADS=1 nice -n 10 python -m models.training.emotion_checks [--peer OLD_WEIGHTS.pt]``.

YM2413 game tracks held out by title group (the model alone and with the musician's reading,
``models.emotion_prior``), the demo's Twinkle (a major-key nursery tune: not sad), a few scores' quadrants,
the weights' size, and the time of ``predict_emotion`` on 32 bars of Chopin op. 10/4 against ``--peer`` (another
weights file, e.g. the previous shipped one from ``git show``) in the same run, interleaved (ratio, not absolute
time). The chorale-calmer-than-reel check is ``tests/test_critique.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _use_weights(path: str | None) -> None:
    """Point ``models.emotion`` at a weights file (None: the shipped one)."""
    from .. import emotion

    if not hasattr(emotion, "_shipped_load"):
        emotion._shipped_load = emotion._load
    base = emotion._shipped_load
    base.cache_clear()
    emotion._load = base if path is None else functools.lru_cache(maxsize=1)(lambda: base.__wrapped__(path))


def beyond_emopia() -> dict:
    from ..emotion import WEIGHTS, predict_emotion
    from ..emotion_prior import _load as prior
    from .style_corpus import collection_split
    from .train_emotion_prior import featurize, mixed, scores, ym2413_tracks

    saved = prior()
    data = featurize(ym2413_tracks())
    test = np.array([collection_split(g) == "test" for g in data["group"]])
    out = {"ym2413_held_out": {"model_alone": scores(data["p"][test], data["y"][test]),
                               "with_musician": scores(mixed(data["p"][test], data["x"][test], saved, saved["weight"]),
                                                       data["y"][test])},
           "weights_mb": WEIGHTS.stat().st_size / 1e6}
    from tutor.score.io import load_score

    pieces = {"twinkle": REPO / "assets" / "demo" / "twinkle.musicxml"}
    for name, path in pieces.items():
        r = predict_emotion(load_score(path))
        out[name] = {"quadrant": r.quadrant, "label": r.label, "valence": r.valence, "arousal": r.arousal,
                     "probabilities": r.probabilities}
    return out


def timing(peer: str | None, rounds: int = 5) -> dict:
    from tutor.score.io import load_score

    from ..emotion import predict_emotion

    chopin = REPO.parent / "shared" / "data" / "nasap-dev" / "Chopin" / "Etudes_op_10" / "4" / "xml_score.musicxml"
    piece = load_score(str(chopin))
    numbers = [m.number for m in piece.measures]
    piece32 = piece.slice_measures(numbers[0], numbers[min(31, len(numbers) - 1)])
    runs: dict[str, list[float]] = {"shipped": [], "peer": []}
    for _ in range(rounds):
        for name, path in (("shipped", None), ("peer", peer)):
            if name == "peer" and peer is None:
                continue
            _use_weights(path)
            predict_emotion(piece32)  # load once
            began = time.perf_counter()
            predict_emotion(piece32)
            runs[name].append((time.perf_counter() - began) * 1000)
    _use_weights(None)
    out = {"notes": len(piece32.notes), "shipped_ms": statistics.median(runs["shipped"])}
    if peer:
        out["peer_ms"] = statistics.median(runs["peer"])
        out["ratio"] = out["shipped_ms"] / out["peer_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", default=None, help="another emotion weights file, timed in the same run")
    args = parser.parse_args(argv)
    out = beyond_emopia()
    out["timing"] = timing(args.peer)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
