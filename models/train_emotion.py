"""Train the emotion model on EMOPIA with its official splits: ``python -m models.train_emotion``.

One command, CPU, a few minutes (``nice -n 5`` on a shared machine). Steps:

1. clip features and performance tokens (``models.emotion_data``, cached in ``models/.cache``);
2. the baseline: logistic regression on the hand features (C chosen on the validation split);
3. the model: an ensemble of small ``TokenFeatureNet``s (``models.encoder``) trained on the train
   split for a fixed number of epochs with class-balanced loss (seeds 0..N-1), blended with the
   logistic regression (the blend weight chosen on the validation split);
4. test-split metrics for both: four-quadrant accuracy, valence and arousal accuracy (the quadrant's
   halves), confusion matrix, and the spread over seeds of single members; written into
   ``models/cards/emotion.md``; weights into ``models/weights/emotion.pt``.

Model choices (epochs, class balance, the valence descriptors, the blend) were made on the
validation split only; the test split is read once, at the end of a run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .emotion_data import EMOTION_TOKENS, QUADRANTS, load_emopia
from .features import EMOTION_TOKEN_FIELDS

DIM = 32  # token embedding width: 32 trains in minutes on one CPU core
HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights" / "emotion.pt"
CARD = HERE / "cards" / "emotion.md"
VALENCE_HIGH = np.array([1, 0, 0, 1])  # Q1, Q4
AROUSAL_HIGH = np.array([1, 1, 0, 0])  # Q1, Q2
# the previous recipe (commit c2e43cc: 45 descriptors, no class balance, each member's best of 30
# epochs on val, no blend) re-run with more seeds on the official test split (an experiment harness
# that reproduces its seeds 0-4 exactly: members' best val 0.657, 0.662, 0.682, 0.667, 0.677, test 0.674)
PREVIOUS_RECIPE = {
    "ensembles": {"0-4": 0.674, "5-9": 0.593, "10-14": 0.651},
    "singles": [0.651, 0.663, 0.593, 0.663, 0.663, 0.616, 0.581, 0.605, 0.593, 0.57, 0.651, 0.628, 0.523, 0.651, 0.64],
}
# what the shipped model says about a few scores (checked by hand after training; see the card)
SCORE_EXAMPLES = """Chopin's presto etude op. 10/4 in C# minor Q2 tense (P 0.99),
  op. 10/3 ("Tristesse", E major) Q1 (P 0.61, Q2 0.26: lower valence), the chorale BWV 66.6 in F#
  minor Q4 calm (P 0.66). A lively fiddle reel comes out Q2 tense: its arousal is right, its valence is
  not - the model has no notion of dance music."""


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    confusion = np.zeros((4, 4), dtype=int)
    for a, b in zip(y, pred, strict=True):
        confusion[a, b] += 1
    return {
        "accuracy": float(np.mean(y == pred)),
        "valence_accuracy": float(np.mean(VALENCE_HIGH[y] == VALENCE_HIGH[pred])),
        "arousal_accuracy": float(np.mean(AROUSAL_HIGH[y] == AROUSAL_HIGH[pred])),
        "per_class_recall": {q: float(confusion[i, i] / max(1, confusion[i].sum())) for i, q in enumerate(QUADRANTS)},
        "confusion": confusion.tolist(),
        "n": int(len(y)),
    }


BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def train_baseline(data: dict):
    """Logistic regression on the hand features, C chosen on the validation split: (test metrics,
    info, the fitted pipeline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    best = None
    for c in (0.01, 0.03, 0.1, 0.3, 1.0):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        model.fit(data["train"]["x"], data["train"]["y"])
        val = model.score(data["val"]["x"], data["val"]["y"])
        if best is None or val > best[0]:
            best = (val, c, model)
    val, c, model = best
    info = {"C": c, "val_accuracy": float(val)}
    return _metrics(data["test"]["y"], model.predict(data["test"]["x"])), info, model


def stack_of(model) -> dict:
    """The fitted logistic regression as plain tensors (saved beside the nets, loaded weights_only)."""
    import torch

    scaler, lr = model[0], model[-1]
    return {"mean": torch.tensor(scaler.mean_, dtype=torch.float32),
            "scale": torch.tensor(scaler.scale_, dtype=torch.float32),
            "coef": torch.tensor(lr.coef_, dtype=torch.float32),
            "intercept": torch.tensor(lr.intercept_, dtype=torch.float32)}


def blend(net_probs: np.ndarray, x: np.ndarray, stack: dict, weight: float) -> np.ndarray:
    """Geometric blend of the nets' quadrant probabilities with the logistic regression's:
    softmax((1 - weight) log p_nets + weight log p_lr)."""
    z = (np.asarray(x, dtype=np.float64) - stack["mean"].numpy()) / stack["scale"].numpy()
    logits = z @ stack["coef"].numpy().T.astype(np.float64) + stack["intercept"].numpy()
    log_lr = logits - logits.max(-1, keepdims=True)
    log_lr = log_lr - np.log(np.exp(log_lr).sum(-1, keepdims=True))
    mixed = (1.0 - weight) * np.log(np.clip(net_probs, 1e-9, 1.0)) + weight * log_lr
    mixed = np.exp(mixed - mixed.max(-1, keepdims=True))
    return mixed / mixed.sum(-1, keepdims=True)


def train_member(data: dict, *, seed: int, epochs: int, verbose: bool) -> tuple[dict, float]:
    import torch

    from .encoder import TokenFeatureNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train = torch.tensor(data["train"]["x"], dtype=torch.float32)
    t_train = torch.tensor(data["train"]["tokens"].astype(np.int64))
    y_train = torch.tensor(data["train"]["y"])
    x_val = torch.tensor(data["val"]["x"], dtype=torch.float32)
    t_val = torch.tensor(data["val"]["tokens"].astype(np.int64))
    y_val = data["val"]["y"]
    net = TokenFeatureNet(field_sizes=[s for _, s in EMOTION_TOKEN_FIELDS], n_features=x_train.shape[1],
                          heads={"quadrant": 4, "valence": 2, "arousal": 2}, dim=DIM)
    net.feature_mean.copy_(x_train.mean(0))
    net.feature_std.copy_(x_train.std(0).clamp(min=1e-3))
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    counts = np.bincount(data["train"]["y"], minlength=4)
    balance = torch.tensor(len(y_train) / (4 * counts), dtype=torch.float32)  # train has more Q4 clips
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    valence = torch.tensor(VALENCE_HIGH)[y_train]
    arousal = torch.tensor(AROUSAL_HIGH)[y_train]
    quadrant_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1, weight=balance)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), 32):
            batch = torch.tensor(order[start:start + 32])
            tokens = t_train[batch].clone()
            # augmentation: drop 10% of the notes, shift the register by up to an octave
            keep = torch.rand(tokens.shape[:2]) > 0.1
            tokens = tokens * keep.unsqueeze(-1)
            shift = int(rng.integers(-1, 2))
            octave = tokens[..., 1]
            tokens[..., 1] = torch.where(octave > 0, (octave + shift).clamp(1, 9), octave)
            features = x_train[batch] + 0.05 * torch.randn_like(x_train[batch]) * net.feature_std
            out = net(tokens, features)
            loss = (quadrant_loss(out["quadrant"], y_train[batch]) + 0.5 * loss_fn(out["valence"], valence[batch])
                    + 0.5 * loss_fn(out["arousal"], arousal[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        if verbose and epoch % 5 == 4:
            net.eval()
            with torch.no_grad():
                probs = combined_probabilities(net(t_val, x_val))
            print(f"    seed {seed} epoch {epoch + 1}: val accuracy {np.mean(probs.argmax(1) == y_val):.3f}", flush=True)
    # the last epoch is kept (no checkpoint picked on validation: val accuracy is flat after ~5
    # epochs, and picking the best of 30 noisy epochs only flatters the validation number)
    net.eval()
    with torch.no_grad():
        probs = combined_probabilities(net(t_val, x_val))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, float(np.mean(probs.argmax(1) == y_val))


def combined_probabilities(out: dict) -> np.ndarray:
    """Quadrant probabilities from the quadrant head, sharpened by the valence and arousal heads."""
    import torch

    q = torch.log_softmax(out["quadrant"], -1)
    v = torch.log_softmax(out["valence"], -1)  # [low, high]
    a = torch.log_softmax(out["arousal"], -1)
    # Q1 = high v, high a; Q2 = low v, high a; Q3 = low v, low a; Q4 = high v, low a
    extra = torch.stack([v[:, 1] + a[:, 1], v[:, 0] + a[:, 1], v[:, 0] + a[:, 0], v[:, 1] + a[:, 0]], dim=-1)
    return torch.softmax(q + 0.5 * extra, -1).numpy()


def cross_validate(data: dict, *, epochs: int, folds: int = 5) -> dict:
    """Song-grouped k-fold cross-validation on train + val (the test split is not read): one member
    per fold, its out-of-fold quadrant probabilities, the logistic regression's and their blend.
    A steadier yardstick than the 86-clip test split for comparing recipes (965 clips)."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .encoder import TokenFeatureNet

    pool = {k: np.concatenate([data["train"][k], data["val"][k]]) for k in ("x", "tokens", "y", "names")}
    songs = np.array([name[3:name.rindex("_")] for name in pool["names"]])  # Q1_<song>_<clip>
    unique = np.array(sorted(set(songs)))
    np.random.default_rng(123).shuffle(unique)
    fold_of = {song: i % folds for i, song in enumerate(unique)}
    fold = np.array([fold_of[song] for song in songs])
    nets, lr = np.zeros((len(fold), 4)), np.zeros((len(fold), 4))
    for f in range(folds):
        train, held = fold != f, fold == f
        split = {"train": {k: v[train] for k, v in pool.items()}, "val": {k: v[held] for k, v in pool.items()}}
        state, accuracy = train_member(split, seed=f, epochs=epochs, verbose=False)
        net = TokenFeatureNet(field_sizes=[s for _, s in EMOTION_TOKEN_FIELDS], n_features=pool["x"].shape[1],
                              heads={"quadrant": 4, "valence": 2, "arousal": 2}, dim=DIM)
        net.load_state_dict(state)
        net.eval()
        with torch.no_grad():
            nets[held] = combined_probabilities(net(torch.tensor(pool["tokens"][held].astype(np.int64)),
                                                    torch.tensor(pool["x"][held], dtype=torch.float32)))
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.03, max_iter=5000))
        lr[held] = model.fit(pool["x"][train], pool["y"][train]).predict_proba(pool["x"][held])
        print(f"  fold {f}: {int(held.sum())} clips, member accuracy {accuracy:.3f}", flush=True)
    y = pool["y"]
    out = {"clips": int(len(y)), "nets": float(np.mean(nets.argmax(1) == y)), "lr": float(np.mean(lr.argmax(1) == y))}
    for w in BLEND_WEIGHTS[1:]:
        mixed = (1 - w) * np.log(np.clip(nets, 1e-9, 1)) + w * np.log(np.clip(lr, 1e-9, 1))
        out[f"blend {w}"] = float(np.mean(mixed.argmax(1) == y))
    out["fold_sd_nets"] = float(np.std([np.mean(nets[fold == f].argmax(1) == y[fold == f]) for f in range(folds)]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5, help="ensemble size")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + members - 1")
    parser.add_argument("--no-save", action="store_true", help="report only: keep the weights and the card")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--cv", action="store_true",
                        help="song-grouped 5-fold cross-validation on train + val instead (no test, nothing saved)")
    parser.add_argument("--n-features", type=int, default=None,
                        help="use only the first N descriptors (45: emotion_vector without valence_features)")
    parser.add_argument("--card-only", action="store_true", help="rewrite the model card from the last run's results")
    args = parser.parse_args(argv)
    results_path = HERE / ".cache" / "emotion_results.json"
    if args.card_only:
        write_card(json.loads(results_path.read_text()))
        return 0

    import torch

    from .encoder import TokenFeatureNet, config_of

    torch.set_num_threads(1)  # the machine is shared: one thread is faster than two contended ones
    started = time.perf_counter()
    data = load_emopia()
    if args.n_features:  # 45: emotion_vector alone, without valence_features
        for split in data.values():
            split["x"] = split["x"][:, :args.n_features]
    print({k: int(len(v["y"])) for k, v in data.items()}, f"features {data['train']['x'].shape[1]}")
    if args.cv:
        result = cross_validate(data, epochs=args.epochs)
        print("cross-validation (out-of-fold accuracy): " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                                    for k, v in result.items()))
        return 0
    baseline, baseline_info, baseline_model = train_baseline(data)
    stack = stack_of(baseline_model)
    print(f"baseline (logistic regression, C={baseline_info['C']}): test accuracy {baseline['accuracy']:.3f}")
    seeds = list(range(args.first_seed, args.first_seed + args.members))
    members, vals = [], []
    for seed in seeds:
        state, val = train_member(data, seed=seed, epochs=args.epochs, verbose=not args.quiet)
        members.append(state)
        vals.append(val)
        print(f"  member {seed}: val accuracy {val:.3f}", flush=True)
    net = TokenFeatureNet(field_sizes=[s for _, s in EMOTION_TOKEN_FIELDS], n_features=data["train"]["x"].shape[1],
                          heads={"quadrant": 4, "valence": 2, "arousal": 2}, dim=DIM)
    config = config_of(net)

    def member_probs(split: str) -> np.ndarray:
        """(members, clips, 4) quadrant probabilities of each member."""
        tokens = torch.tensor(data[split]["tokens"].astype(np.int64))
        x = torch.tensor(data[split]["x"], dtype=torch.float32)
        out = []
        for state in members:
            net.load_state_dict(state)
            net.eval()
            with torch.no_grad():
                out.append(combined_probabilities(net(tokens, x)))
        return np.stack(out)

    def accuracy(split: str, probs: np.ndarray) -> float:
        return float(np.mean(probs.argmax(-1) == data[split]["y"]))

    val_members = member_probs("val")
    # the blend weight: chosen on the validation split (ensemble accuracy, ties to the smaller weight)
    blend_val = {w: accuracy("val", blend(val_members.mean(0), data["val"]["x"], stack, w)) for w in BLEND_WEIGHTS}
    weight = max(BLEND_WEIGHTS, key=lambda w: (blend_val[w], -w))
    print("blend weight on validation: " + ", ".join(f"{w}: {a:.3f}" for w, a in blend_val.items()) + f" -> {weight}")
    test_members = member_probs("test")  # the test split: read once, here
    val_probs = blend(val_members.mean(0), data["val"]["x"], stack, weight)
    test_probs = blend(test_members.mean(0), data["test"]["x"], stack, weight)
    val_metrics = _metrics(data["val"]["y"], val_probs.argmax(1))
    test_metrics = _metrics(data["test"]["y"], test_probs.argmax(1))
    single = {
        split: [_metrics(data[split]["y"], blend(p, data[split]["x"], stack, weight).argmax(1)) for p in probs]
        for split, probs in (("val", val_members), ("test", test_members))
    }
    nets_only = {"val": accuracy("val", val_members.mean(0)), "test": accuracy("test", test_members.mean(0))}
    wrong = [(str(n), QUADRANTS[int(y)], QUADRANTS[int(p)]) for n, y, p in
             zip(data["test"]["names"], data["test"]["y"], test_probs.argmax(1), strict=True) if y != p]
    seconds = time.perf_counter() - started
    results = {"baseline": baseline, "baseline_info": baseline_info, "model_val": val_metrics, "model": test_metrics,
               "member_val": vals, "train_seconds": seconds, "wrong": wrong, "seeds": seeds, "epochs": args.epochs,
               "blend_weight": weight, "blend_val": {str(w): a for w, a in blend_val.items()}, "nets_only": nets_only,
               "single_members": {split: {key: [m[key] for m in ms] for key in
                                          ("accuracy", "valence_accuracy", "arousal_accuracy")}
                                  for split, ms in single.items()}}
    results["n_features"] = int(data["train"]["x"].shape[1])
    results["sizes"] = " / ".join(str(len(data[k]["y"])) for k in ("train", "val", "test"))
    spread = results["single_members"]["test"]["accuracy"]
    print(f"model: val accuracy {val_metrics['accuracy']:.3f}, test accuracy {test_metrics['accuracy']:.3f}, "
          f"valence {test_metrics['valence_accuracy']:.3f}, arousal {test_metrics['arousal_accuracy']:.3f}; "
          f"single members (+ LR) test {np.mean(spread):.3f} ± {np.std(spread):.3f}; nets alone test "
          f"{nets_only['test']:.3f} ({seconds:.0f} s)")
    (HERE / ".cache").mkdir(exist_ok=True)
    if args.no_save:
        (HERE / ".cache" / f"emotion_results_seeds{seeds[0]}-{seeds[-1]}.json").write_text(json.dumps(results, indent=2))
        return 0
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "members": members, "quadrants": list(QUADRANTS), "max_tokens": EMOTION_TOKENS,
                "stack": stack, "blend_weight": weight, "test_accuracy": test_metrics["accuracy"]}, WEIGHTS)
    results_path.write_text(json.dumps(results, indent=2))
    write_card(results)
    print(f"weights: {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB)")
    return 0


def _confusion_table(confusion: list[list[int]]) -> str:
    lines = ["| true \\ predicted | " + " | ".join(QUADRANTS) + " |", "|---|" + "---|" * len(QUADRANTS)]
    for q, row in zip(QUADRANTS, confusion, strict=True):
        lines.append(f"| {q} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _seed_groups(results: dict) -> list[dict]:
    """The shipped run plus the report-only runs with other seeds (``--first-seed N --no-save``)."""
    groups = [results]
    paths = (HERE / ".cache").glob("emotion_results_seeds*.json")
    for path in sorted(paths, key=lambda p: int(p.stem.removeprefix("emotion_results_seeds").split("-")[0])):
        other = json.loads(path.read_text())
        if other.get("seeds") != results.get("seeds") and other.get("n_features") == results.get("n_features"):
            groups.append(other)
    return groups


def _song_errors(wrong: list) -> str:
    songs: dict = {}
    for name, truth, predicted in wrong:
        key = (name[3:name.rindex("_")], truth, predicted)
        songs[key] = songs.get(key, 0) + 1
    worst = sorted(songs.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{n} clips of song `{song}` ({truth} taken for {predicted})" for (song, truth, predicted), n in worst)


def write_card(results: dict) -> None:
    m, b, v = results["model"], results["baseline"], results["model_val"]
    recall = m["per_class_recall"]
    worst = min(recall, key=recall.get)
    confusion = np.array(m["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    a, p = np.unravel_index(off.argmax(), off.shape)
    groups = _seed_groups(results)
    ensembles = np.array([g["model"]["accuracy"] for g in groups])
    ens_valence = np.array([g["model"]["valence_accuracy"] for g in groups])
    ens_arousal = np.array([g["model"]["arousal_accuracy"] for g in groups])
    ens_val = np.array([g["model_val"]["accuracy"] for g in groups])
    singles = np.concatenate([g["single_members"]["test"]["accuracy"] for g in groups])
    singles_val = np.concatenate([g["single_members"]["val"]["accuracy"] for g in groups])
    seeds = ", ".join(f"{g['seeds'][0]}-{g['seeds'][-1]}" for g in groups)
    n = m["n"]
    se = float(np.sqrt(m["accuracy"] * (1 - m["accuracy"]) / n))
    text = f"""# Emotion model (EMOPIA quadrants)

`models/emotion.py`, weights `models/weights/emotion.pt`, trained by `python -m models.train_emotion`
(one command, CPU, {results['train_seconds'] / 60:.0f} min on a shared 2-core machine, run with `nice -n 5`).

## What it predicts

The Russell quadrant of a piano piece as EMOPIA labels it: **Q1** happy/excited (high valence, high
arousal), **Q2** tense/angry (low valence, high arousal), **Q3** sad (low valence, low arousal), **Q4**
calm (high valence, low arousal). Valence = P(Q1)+P(Q4)-P(Q2)-P(Q3) and arousal = P(Q1)+P(Q2)-P(Q3)-P(Q4),
both in [-1, 1]. A piece longer than 36 s is cut into 30 s windows (EMOPIA clips are ~30 s) and the
probabilities are averaged.

## Model

An ensemble of {len(results['member_val'])} small `TokenFeatureNet`s (`models/encoder.py`, 32-wide embeddings; seeds
{results['seeds'][0]}-{results['seeds'][-1]}): a two-layer residual 1-D convolution over the first 512 notes (pitch class
relative to the estimated tonic, octave, duration and time to the next chord in seconds, top-of-chord
flag, chord size) with mean/max pooling, beside an MLP on {results.get('n_features', 101)} descriptors: 45 from
`models/features.py: emotion_vector` (register, density and rhythm in seconds, key and mode strength,
pitch classes relative to the tonic, harmony and consonance, top-line intervals, dynamics) and 56 from
`models/emotion_data.py: valence_features` (which major/minor triads sound on which scale degree, the
bass line's and the top line's pitch classes relative to the tonic, whether the bass line and 8-second
windows read major or minor, whether the clip ends on the tonic or dominant in the bass). Heads:
quadrant, valence half, arousal half; the quadrant probabilities are sharpened by the two half heads.
Class-balanced loss (the train split has 240 Q4 clips against 169-187 of the others), AdamW with a
cosine schedule, {results.get('epochs', 20)} epochs, the last epoch kept (validation accuracy is flat after ~5 epochs;
picking the best of many noisy epochs on validation only flatters the validation number).
The ensemble's probabilities are blended with the logistic regression below:
softmax((1-w) log p_nets + w log p_LR), w = {results['blend_weight']} chosen on the validation split
(validation accuracy per w: {', '.join(f'{k}: {x:.3f}' for k, x in results['blend_val'].items())}).

Inputs are chosen so that a notated score and a performed clip give the same numbers: no metric grid
(EMOPIA clips are unquantised transcriptions), chords are notes starting within 50 ms, and a score
without dynamics (all velocities equal) gets EMOPIA's mean loudness instead of its flat velocity.

## Data and splits

EMOPIA (Hung et al., ISMIR 2021): 1,078 piano clips from 387 songs, labelled by quadrant. The official
song-level split files `dataset/split/{{train,val,test}}.csv`: {results.get('sizes', '767 / 198 / 86')} clips
(train / val / test). Licence: **CC BY-NC-SA 4.0** (non-commercial; the weights are derived from it and
carry the same restriction). The data is read from `../shared/data/emopia`, never copied into this repository.

## Results on the official test split ({n} clips, 32 songs)

| model | 4-quadrant accuracy | valence accuracy | arousal accuracy |
|---|---|---|---|
| logistic regression on the {results.get('n_features', 101)} descriptors (this script, C={results['baseline_info']['C']} chosen on val) | {b['accuracy']:.3f} | {b['valence_accuracy']:.3f} | {b['arousal_accuracy']:.3f} |
| **this model (the shipped ensemble, seeds {results['seeds'][0]}-{results['seeds'][-1]})** | **{m['accuracy']:.3f}** | **{m['valence_accuracy']:.3f}** | **{m['arousal_accuracy']:.3f}** |
| the same recipe, ensembles of 5 over {len(groups)} seed groups ({seeds}): mean ± std | {ensembles.mean():.3f} ± {ensembles.std():.3f} | {ens_valence.mean():.3f} ± {ens_valence.std():.3f} | {ens_arousal.mean():.3f} ± {ens_arousal.std():.3f} |
| the same recipe, single members (+ LR blend), {singles.size} seeds: mean ± std | {singles.mean():.3f} ± {singles.std():.3f} | | |
| the shipped ensemble's nets alone (no LR blend) | {results['nets_only']['test']:.3f} | | |
| previously shipped ensemble (45 descriptors, each member's best of 30 epochs on val, no blend; seeds 0-4) | 0.674 | 0.802 | 0.860 |
| the previous recipe, ensembles of 5 over {len(PREVIOUS_RECIPE['ensembles'])} seed groups ({', '.join(f'{k}: {x:.3f}' for k, x in PREVIOUS_RECIPE['ensembles'].items())}): mean ± std | {np.mean(list(PREVIOUS_RECIPE['ensembles'].values())):.3f} ± {np.std(list(PREVIOUS_RECIPE['ensembles'].values())):.3f} | | |
| the previous recipe, single members, {len(PREVIOUS_RECIPE['singles'])} seeds: mean ± std | {np.mean(PREVIOUS_RECIPE['singles']):.3f} ± {np.std(PREVIOUS_RECIPE['singles']):.3f} | | |
| previous logistic regression (45 descriptors, C=0.03) | 0.616 | 0.709 | 0.884 |
| published: logistic regression (EMOPIA paper) | 0.58 | | |
| published: LSTM-attention (EMOPIA paper) | 0.68 | | |
| published: MidiBERT-Piano | 0.68 | | |

Validation split ({v['n']} clips): shipped ensemble {v['accuracy']:.3f}; ensembles over the seed groups
{ens_val.mean():.3f} ± {ens_val.std():.3f}; single members {singles_val.mean():.3f} ± {singles_val.std():.3f}.

Target was >= 0.68 on the test split: {'reached' if m['accuracy'] >= 0.68 else '**not reached**'} by the shipped ensemble, nor by
the seed-averaged previous recipe. The previously shipped 0.674 was a lucky draw of seeds: the same
recipe with other seeds scores {', '.join(f'{x:.3f}' for k, x in PREVIOUS_RECIPE['ensembles'].items() if k != '0-4')} (its spread over seeds is
±{100 * np.std(list(PREVIOUS_RECIPE['ensembles'].values())):.0f} points, this recipe's ±{100 * ensembles.std():.1f}: fixed epochs and class balance make it steadier).
**The test split is too small to rank models that differ by a few points**: {n} clips from 32 songs,
so one clip is {100 / n:.1f} points, the binomial standard error is ±{100 * se:.0f} points (95% interval about
{m['accuracy'] - 1.96 * se:.2f}-{m['accuracy'] + 1.96 * se:.2f}), and errors come in songs (clips of one song share
their label and their sound). The recipe was chosen on the validation split alone; a song-grouped
5-fold cross-validation over train + val (965 clips, standard error ±1.5 points) was run afterwards as
a check. The test split was read for the kept recipe (three seed groups) and, as the "before" numbers,
for the previous recipe's other seed groups; nothing was chosen on it.

### How the recipe was chosen (validation split and cross-validation only)

Mean validation accuracy of single members at their last epoch, 5 seeds each (the previous
recipe's members reached 0.657-0.682 only by picking each member's best of 30 epochs on validation;
at the last epoch they score 0.638):

| recipe | val, single members | val, ensemble of 5 |
|---|---|---|
| previous (45 descriptors, 30 epochs) | 0.638 ± 0.014 | 0.636 |
| + class-balanced loss | 0.636 ± 0.015 | 0.667 |
| no octave-shift augmentation | 0.640 ± 0.009 | 0.636 |
| + class balance + the 56 valence descriptors, 20 epochs (**kept**) | 0.667 ± 0.007 | 0.667 (0.677 with the LR blend) |

Song-grouped 5-fold cross-validation on train + val (one member per fold, out-of-fold accuracy over
965 clips): previous descriptors 0.681 (logistic regression 0.679), with the valence descriptors and
class balance 0.687 (without class balance 0.686; logistic regression 0.680; blend w=0.1-0.3: 0.689-0.691,
w=0.4-0.5: 0.702-0.703 with C=0.03). So on 965 clips all these recipes sit at 0.68-0.70: the valence
descriptors help by less than a point, within noise; a heavier blend with a more regularised
logistic regression may gain a point or two (not adopted: the validation split chose C=0.3, w=0.1). The model's accuracy on clips like EMOPIA's is about 0.68-0.69
by cross-validation; the official validation and test splits are harder than the average fold
(all recipes and the logistic regression score 5-7 points lower on them).

Rerun: `python -m models.train_emotion` (shipped ensemble, card), `python -m models.train_emotion
--first-seed 5 --no-save` and `--first-seed 10 --no-save` (the other seed groups, then `--card-only`),
`python -m models.train_emotion --cv` and `--cv --n-features 45` (cross-validation).

Confusion matrix of the shipped ensemble (test split):

{_confusion_table(m['confusion'])}

Recall per quadrant: {', '.join(f'{q} {r:.2f}' for q, r in recall.items())}.

## Where it fails

* **Sad taken for calm.** Arousal is right {m['arousal_accuracy']:.0%} of the time, valence only
  {m['valence_accuracy']:.0%}. The most frequent confusion is {QUADRANTS[a]} taken for {QUADRANTS[p]} ({off.max()} clips);
  the weakest quadrant is {worst} (recall {recall[worst]:.2f}). The errors cluster in songs:
  {_song_errors(results['wrong'])}. Calm (Q4) and sad (Q3) pop-piano pieces are both slow and soft,
  and many sad ones are in major keys or move between relative major and minor, so mode and harmony
  descriptors separate them only partly (the valence descriptors added here gain 3 points on
  validation and under a point in cross-validation, and none on the test split).
* **Notated scores are not performances.** The model was trained on transcribed performances with real
  velocities and rubato; a MusicXML score has flat velocities (80) and a metronomic tempo taken from the
  file (120 bpm when none is given). Loudness and tempo cues are then missing or wrong, and a slow piece
  written without a tempo mark reads as faster and calmer than it is.
* **The price of working on scores**: a first version used the same features as the style model
  (metric-grid positions, exact chord onsets, raw velocities). It reached 0.663 test / 0.667 validation
  accuracy on EMOPIA but labelled every notated score "tense" (Q2), because quantised onsets and flat
  velocities lie far outside the transcribed clips it was trained on. The quantisation-free inputs
  above give plausible labels on scores: {SCORE_EXAMPLES}
* **Out of domain**: EMOPIA is pop/film piano. Chorales, string quartets and folk melodies are far
  from it; their quadrant is a rough guide, not a measurement (a monophonic tune has none of the
  chord and texture cues the model uses).
"""
    CARD.write_text(text, encoding="utf-8")
    print(f"card: {CARD}")


if __name__ == "__main__":
    raise SystemExit(main())
