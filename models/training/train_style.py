"""Train the style classifier: ``python -m models.training.train_style``.

One command, CPU, a few minutes (run it with ``nice -n 5`` on a shared machine):

1. the corpus (``models.training.style_data``): real pieces per class, read through ``tutor.score.io``, cut into
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

from ..features import TOKEN_FIELDS
from ..style import CLASS_LABELS, CLASSES, STYLE_TOKENS
from .style_data import build_dataset, split_of

DIM = 32  # token embedding width: 32 trains in minutes on one CPU core
HERE = Path(__file__).resolve().parents[1]  # the models folder: weights, cards and .cache stay there
WEIGHTS = HERE / "weights" / "style.pt"


def _arrays(pieces, split: str):
    chosen = [p for p in pieces if split_of(p.group) == split]
    x = np.concatenate([p.hand for p in chosen]).astype(np.float32)
    tokens = np.concatenate([p.tokens[:, :STYLE_TOKENS] for p in chosen]).astype(np.int64)
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

    from ..encoder import TokenFeatureNet

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
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--card-only", action="store_true", help="rewrite the model card from the last run's results")
    args = parser.parse_args(argv)
    results_path = HERE / ".cache" / "style_results.json"
    if args.card_only:
        write_card(json.loads(results_path.read_text()))
        return 0

    import torch

    from ..encoder import TokenFeatureNet, config_of

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
    results_path.write_text(json.dumps(results, indent=2))
    write_card(results)
    print(f"model: test window accuracy {model_w['accuracy']:.3f} (macro F1 {model_w['macro_f1']:.3f}), "
          f"piece accuracy {model_p['accuracy']:.3f} ({seconds:.0f} s)")
    print(f"weights: {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB)")
    return 0



CARD = HERE / "cards" / "style.md"


def _table(confusion: list[list[int]]) -> str:
    short = [c.replace("_", " ") for c in CLASSES]
    lines = ["| true \\ predicted | " + " | ".join(short) + " |", "|---|" + "---|" * len(CLASSES)]
    for name, row in zip(short, confusion, strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def write_card(results: dict) -> None:
    mw, mp, bw, bp = results["model_window"], results["model_piece"], results["baseline_window"], results["baseline_piece"]
    sizes = results["sizes"]
    rows = []
    for c in CLASSES:
        rows.append(f"| {CLASS_LABELS[c]} (`{c}`) | {sizes['train']['per_class_pieces'].get(c, 0)} / "
                    f"{sizes['val']['per_class_pieces'].get(c, 0)} / {sizes['test']['per_class_pieces'].get(c, 0)} | "
                    f"{sizes['train']['per_class_windows'][c]} / {sizes['val']['per_class_windows'][c]} / "
                    f"{sizes['test']['per_class_windows'][c]} | {bw['f1'][c]:.3f} | {mw['f1'][c]:.3f} | {mp['f1'][c]:.3f} |")
    confusion = np.array(mw["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    a, p = np.unravel_index(off.argmax(), off.shape)
    missing = [CLASS_LABELS[c] for c in CLASSES if not sizes["val"]["per_class_pieces"].get(c)]
    missing_note = (f"* The piece-disjoint hash left no {', '.join(missing)} piece in the validation split, so early "
                    "stopping could not watch that class; its test figures are the only check.\n") if missing else ""
    text = f"""# Style model

> Since issue 26 `tutor critique`, Generate and restyling read style from the taxonomy model
> (`models/cards/style_taxonomy.md`); these six-class nets still give the similar-pieces embedding.

`models/style.py`, weights `models/weights/style.pt`, trained by `python -m models.training.train_style` (one
command, CPU, {results['train_seconds'] / 60:.0f} min on a shared 2-core machine including feature extraction from cache;
the first run also parses the corpus with music21: about 40 min on this shared 2-core machine, cached in
`models/.cache/style`).

## What it predicts

One of six styles a student recognises, for a whole piece (the mean over its 8-bar windows):
{', '.join(f'**{CLASS_LABELS[c]}**' for c in CLASSES)}. The critique uses it to choose the rule set for
single melodies (a fiddle tune gets dance-tune rules, a folk song singing rules) and for polyphony
(Renaissance/Baroque counterpoint rules vs. free Classical/Romantic writing).

## Model

An ensemble of {len(results['member_val'])} small `TokenFeatureNet`s (`models/encoder.py`): embeddings of each note's pitch
class relative to the estimated tonic, octave, duration, position in the bar, melodic interval in its
part and chord size, two residual 1-D convolutions, mean/max pooling, beside an MLP on 76 hand features
(`models/features.py`); class-weighted cross-entropy, early stopping on validation balanced accuracy.

## Data, split, licences

Each piece is read through `tutor.score.io` exactly as the critique reads a student's file and cut
into 8-bar windows (at most 2-16 per piece, by class). The split is **piece-disjoint**: a stable hash
of the piece (all movements of a work, all sections of a mass go together) sends it to train (~70 %),
validation (~15 %) or test (~15 %).

| class | pieces train / val / test | windows train / val / test | baseline F1 | model F1 (windows) | model F1 (pieces) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Sources: Renaissance - Palestrina (170 mass movements) and Josquin chansons from music21's corpus;
Baroque - Bach chorales (music21, 130), Bach keyboard works (nASAP scores, `../shared/data/nasap-dev`),
Corelli and Handel (music21); Classical - Haydn, Mozart and Beethoven string quartets (music21);
Romantic piano - Chopin, Schumann, Liszt, Brahms, Rachmaninoff, Scriabin (nASAP scores), a Chopin mazurka
and Clara Schumann polonaises (music21); Folk dance tunes - O'Neill's 1850 and Ryan's Mammoth Collection
(music21); Folk song - the Essen folk song collection (music21).
Licences: music21's corpus is distributed with music21 (BSD; the encodings carry their own terms, mostly
public-domain music encoded for research, e.g. the Essen collection and the Humdrum Palestrina/Bach
encodings for research use); (n)ASAP is **CC BY-NC-SA 4.0** (non-commercial). Nothing is copied into this
repository.

## Results on the test split

| model | window accuracy | window macro F1 | piece accuracy | piece macro F1 |
|---|---|---|---|---|
| logistic regression on the hand features (this script, C={results['baseline_info']['C']}) | {bw['accuracy']:.3f} | {bw['macro_f1']:.3f} | {bp['accuracy']:.3f} | {bp['macro_f1']:.3f} |
| **this model (ensemble)** | **{mw['accuracy']:.3f}** | **{mw['macro_f1']:.3f}** | **{mp['accuracy']:.3f}** | **{mp['macro_f1']:.3f}** |

{sizes['test']['windows']} test windows from {sizes['test']['pieces']} test pieces.

Confusion matrix of the model on the test windows (rows: true class):

{_table(mw['confusion'])}

## Where it fails

* The most frequent confusion is {CLASSES[a].replace('_', ' ')} taken for {CLASSES[p].replace('_', ' ')} ({off.max()} windows).
* Classes are defined by corpora, not by musicology: "Classical" is string quartets (plus one piano
  sonata), "Romantic piano" is virtuoso piano music, so a Classical piano sonatina or a Romantic song
  may be labelled by texture rather than by era.
* Few pieces in some classes (Classical and Romantic piano have tens of pieces, cut into many windows):
  test figures for those classes rest on a handful of works.
* A student's own pastiche is out of domain by definition; treat the label as "sounds most like".
{missing_note}"""
    CARD.write_text(text, encoding="utf-8")
    print(f"card: {CARD}")


if __name__ == "__main__":
    raise SystemExit(main())
