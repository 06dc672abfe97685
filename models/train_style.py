"""Train the style classifier: ``python -m models.train_style``.

One command, CPU, a few minutes (run it with ``nice -n 5`` on a shared machine):

1. the corpus (``models.style_data``): real pieces per class, read through ``tutor.scoreio``, cut into
   8-bar windows, features cached under ``models/.cache/style``;
2. a piece-disjoint split (a stable hash of the piece, movements of one work together): about
   70 % train, 15 % validation, 15 % test;
3. the baseline: logistic regression on the hand features;
4. the model: an ensemble of small ``TokenFeatureNet``s (note tokens + hand features), class-weighted,
   early stopping on the validation windows;
5. test metrics for both, per window and per piece (mean of its windows' probabilities): accuracy,
   per-class F1, confusion matrix -> ``models/cards/style.md`` data in ``models/.cache/style_results.json``;
   weights -> ``models/weights/style.pt``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from models.features import TOKEN_FIELDS
from models.style_data import CLASSES, build_dataset, split_of

DIM = 32  # token embedding width: 32 trains in minutes on one CPU core
HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights" / "style.pt"


def _arrays(pieces, split: str):
    chosen = [p for p in pieces if split_of(p.group) == split]
    x = np.concatenate([p.hand for p in chosen]).astype(np.float32)
    tokens = np.concatenate([p.tokens for p in chosen]).astype(np.int64)
    y = np.concatenate([np.full(len(p.hand), CLASSES.index(p.style)) for p in chosen])
    piece = np.concatenate([np.full(len(p.hand), i) for i, p in enumerate(chosen)])
    return {"x": x, "tokens": tokens, "y": y, "piece": piece, "n_pieces": len(chosen)}


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    k = len(CLASSES)
    confusion = np.zeros((k, k), dtype=int)
    for a, b in zip(y, pred, strict=True):
        confusion[a, b] += 1
    f1 = {}
    for i, name in enumerate(CLASSES):
        tp = confusion[i, i]
        precision = tp / max(1, confusion[:, i].sum())
        recall = tp / max(1, confusion[i].sum())
        f1[name] = float(2 * precision * recall / max(1e-9, precision + recall))
    return {"accuracy": float(np.mean(y == pred)), "macro_f1": float(np.mean(list(f1.values()))), "f1": f1,
            "confusion": confusion.tolist(), "n": int(len(y))}


def _piece_level(data: dict, probs: np.ndarray) -> dict:
    pieces = np.unique(data["piece"])
    y = np.array([data["y"][data["piece"] == p][0] for p in pieces])
    pred = np.array([probs[data["piece"] == p].mean(0).argmax() for p in pieces])
    return _metrics(y, pred)


def train_baseline(train: dict, val: dict, test: dict) -> tuple[dict, dict, dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    best = None
    for c in (0.03, 0.1, 0.3, 1.0):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight="balanced"))
        model.fit(train["x"], train["y"])
        score = model.score(val["x"], val["y"])
        if best is None or score > best[0]:
            best = (score, c, model)
    _, c, model = best
    probs = model.predict_proba(test["x"])
    return _metrics(test["y"], probs.argmax(1)), _piece_level(test, probs), {"C": c, "val_accuracy": float(best[0])}


def train_member(train: dict, val: dict, *, seed: int, epochs: int) -> tuple[dict, float]:
    import torch

    from models.encoder import TokenFeatureNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, t, y = (torch.tensor(train["x"]), torch.tensor(train["tokens"]), torch.tensor(train["y"]))
    xv, tv = torch.tensor(val["x"]), torch.tensor(val["tokens"])
    net = TokenFeatureNet(field_sizes=[s for _, s in TOKEN_FIELDS], n_features=x.shape[1], heads={"style": len(CLASSES)}, dim=DIM)
    net.feature_mean.copy_(x.mean(0))
    net.feature_std.copy_(x.std(0).clamp(min=1e-3))
    counts = np.bincount(train["y"], minlength=len(CLASSES))
    weight = torch.tensor(len(train["y"]) / (len(CLASSES) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    best_state, best_val = None, -1.0
    for _ in range(epochs):
        net.train()
        order = rng.permutation(len(y))
        for start in range(0, len(order), 64):
            batch = torch.tensor(order[start:start + 64])
            tokens = t[batch] * (torch.rand(t[batch].shape[:2]) > 0.1).unsqueeze(-1)
            out = net(tokens, x[batch])
            loss = loss_fn(out["style"], y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        net.eval()
        with torch.no_grad():
            pred = net(tv, xv)["style"].argmax(1).numpy()
        # balanced accuracy on validation windows: every class counts the same
        recall = [np.mean(pred[val["y"] == k] == k) for k in range(len(CLASSES)) if np.any(val["y"] == k)]
        score = float(np.mean(recall))
        if score > best_val:
            best_val = score
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return best_state, best_val


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args(argv)

    import torch

    from models.encoder import TokenFeatureNet, config_of

    torch.set_num_threads(1)  # the machine is shared: one thread is faster than two contended ones
    started = time.perf_counter()
    pieces = build_dataset()
    train, val, test = (_arrays(pieces, s) for s in ("train", "val", "test"))
    sizes = {s: {"pieces": d["n_pieces"], "windows": int(len(d["y"])),
                 "per_class_windows": {c: int(n) for c, n in zip(CLASSES, np.bincount(d["y"], minlength=len(CLASSES)), strict=True)},
                 "per_class_pieces": dict(Counter(CLASSES[d["y"][d["piece"] == p][0]] for p in np.unique(d["piece"])))}
             for s, d in (("train", train), ("val", val), ("test", test))}
    print(json.dumps(sizes))
    base_w, base_p, base_info = train_baseline(train, val, test)
    print(f"baseline: test window accuracy {base_w['accuracy']:.3f}, piece accuracy {base_p['accuracy']:.3f}")
    members, vals = [], []
    for seed in range(args.members):
        state, score = train_member(train, val, seed=seed, epochs=args.epochs)
        members.append(state)
        vals.append(score)
        print(f"  member {seed}: validation balanced accuracy {score:.3f}", flush=True)
    net = TokenFeatureNet(field_sizes=[s for _, s in TOKEN_FIELDS], n_features=train["x"].shape[1], heads={"style": len(CLASSES)}, dim=DIM)
    probs = np.zeros((len(test["y"]), len(CLASSES)))
    with torch.no_grad():
        for state in members:
            net.load_state_dict(state)
            net.eval()
            probs += torch.softmax(net(torch.tensor(test["tokens"]), torch.tensor(test["x"]))["style"], -1).numpy()
    probs /= len(members)
    model_w, model_p = _metrics(test["y"], probs.argmax(1)), _piece_level(test, probs)
    seconds = time.perf_counter() - started
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config_of(net), "members": members, "classes": list(CLASSES)}, WEIGHTS)
    results = {"sizes": sizes, "baseline_window": base_w, "baseline_piece": base_p, "baseline_info": base_info,
               "model_window": model_w, "model_piece": model_p, "member_val": vals, "train_seconds": seconds}
    (HERE / ".cache").mkdir(exist_ok=True)
    (HERE / ".cache" / "style_results.json").write_text(json.dumps(results, indent=2))
    print(f"model: test window accuracy {model_w['accuracy']:.3f} (macro F1 {model_w['macro_f1']:.3f}), "
          f"piece accuracy {model_p['accuracy']:.3f} ({seconds:.0f} s)")
    print(f"weights: {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
