"""Train the musician's mood reading (``models/emotion_prior.py``): ``nice -n 15 python -m
models.training.train_emotion_prior``.

YM2413-MDB (``../shared/data/style/ym2413_mdb``): 669 FM game tracks with a valence/arousal quadrant. The files
name no game, so tracks are grouped by their title without the track number and about 30 % of the groups are held
out. Two logistic regressions (valence, arousal) on ``prior_features``; the blend weight with the EMOPIA model is
chosen by 3 group folds on the training tracks; the held-out tracks give the benchmark's numbers (also
``tests/bench/bench_style.py``). Writes ``models/weights/emotion_prior.json``.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np

from ..emotion_prior import FEATURES, WEIGHTS, prior_features, quadrant_probabilities
from .style_corpus import CACHE, STYLE, collection_split

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
YM = STYLE / "ym2413_mdb"


def ym2413_tracks() -> list[tuple[Path, int, str]]:
    """(MIDI path, quadrant index, group) of every annotated track."""
    out = []
    for row in csv.DictReader(open(YM / "emotion_annotation" / "verified_annotation.csv", encoding="utf-8")):
        path = YM / "midi" / "adjust_tempo_remove_delayed_inst" / (Path(row["fname"]).stem + ".mid")
        if path.exists() and row["4Q"] in QUADRANTS:
            group = "ym2413/" + re.sub(r"^\d+\s*[-_ ]?\s*", "", path.stem)
            out.append((path, QUADRANTS.index(row["4Q"]), group))
    return out


def featurize(tracks) -> dict:
    """Prior features and the EMOPIA model's own probabilities (cached under the style cache)."""
    import hashlib

    import pretty_midi

    from ..emotion import WEIGHTS, predict_table
    from ..features import table_from_midi

    # the model's probabilities depend on its weights: one cache file per weights file
    cache = CACHE / f"ym2413_emotion_{hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:10]}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return {k: data[k] for k in data.files}
    pretty_midi.pretty_midi.MAX_TICK = 1e16
    xs, ps, ys, groups, applies = [], [], [], [], []
    from ..emotion_prior import applies as prior_applies

    for i, (path, y, group) in enumerate(tracks):
        try:
            table = table_from_midi(str(path))
        except Exception:  # noqa: BLE001 - an unreadable track is skipped
            continue
        if len(table) < 8:
            continue
        xs.append(prior_features(table))
        ps.append([predict_table(table, musician=False).probabilities[q] for q in QUADRANTS])
        ys.append(y)
        groups.append(group)
        applies.append(prior_applies(table))
        if i % 100 == 0:
            print(f"  {i}/{len(tracks)}", flush=True)
    out = {"x": np.array(xs), "p": np.array(ps), "y": np.array(ys), "group": np.array(groups),
           "applies": np.array(applies)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def fit(x: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    valence = np.isin(y, (0, 3)).astype(int)
    arousal = np.isin(y, (0, 1)).astype(int)
    lv = LogisticRegression(C=0.5, max_iter=1000).fit(z, valence)
    la = LogisticRegression(C=0.5, max_iter=1000).fit(z, arousal)
    return {"features": list(FEATURES), "mean": mean.tolist(), "std": std.tolist(),
            "valence_coef": lv.coef_[0].tolist(), "valence_intercept": float(lv.intercept_[0]),
            "arousal_coef": la.coef_[0].tolist(), "arousal_intercept": float(la.intercept_[0])}


def mixed(p: np.ndarray, x: np.ndarray, saved: dict, w: float) -> np.ndarray:
    prior = np.stack([quadrant_probabilities(row, saved) for row in x])
    m = (1 - w) * np.log(np.clip(p, 1e-9, 1)) + w * np.log(np.clip(prior, 1e-9, 1))
    m = np.exp(m - m.max(1, keepdims=True))
    return m / m.sum(1, keepdims=True)


def scores(probs: np.ndarray, y: np.ndarray) -> dict:
    pred = probs.argmax(1)
    return {"quadrant_accuracy": float(np.mean(pred == y)),
            "valence_accuracy": float(np.mean(np.isin(pred, (0, 3)) == np.isin(y, (0, 3)))),
            "arousal_accuracy": float(np.mean(np.isin(pred, (0, 1)) == np.isin(y, (0, 1)))), "n": int(len(y))}


def main() -> int:
    from sklearn.model_selection import GroupKFold

    started = time.perf_counter()
    data = featurize(ym2413_tracks())
    split = np.array([collection_split(g) for g in data["group"]])
    train, test = split == "train", split == "test"
    x, y, p, g = data["x"][train], data["y"][train], data["p"][train], data["group"][train]
    best = None
    for w in (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0):
        right = 0
        for a, b in GroupKFold(n_splits=3).split(x, y, g):
            saved = fit(x[a], y[a])
            right += np.sum(mixed(p[b], x[b], saved, w).argmax(1) == y[b])
        if best is None or right > best[0]:
            best = (right, w)
    saved = {**fit(x, y), "weight": best[1]}
    held = {"model_alone": scores(data["p"][test], data["y"][test]),
            "musician_alone": scores(mixed(data["p"][test], data["x"][test], saved, 1.0), data["y"][test]),
            "blend": scores(mixed(data["p"][test], data["x"][test], saved, best[1]), data["y"][test]),
            "weight": best[1], "applies_share": float(data["applies"][test].mean()),
            "train_tracks": int(train.sum()), "test_tracks": int(test.sum()), "seconds": time.perf_counter() - started}
    saved["held_out_ym2413"] = held
    WEIGHTS.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(held, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
