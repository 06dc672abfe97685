"""Train the emotion model on EMOPIA with its official splits: ``python -m models.train_emotion``.

One command, CPU, a few minutes (``nice -n 5`` on a shared machine). Steps:

1. clip features and performance tokens (``models.emotion_data``, cached in ``models/.cache``);
2. the baseline: logistic regression on the hand features (C chosen on the validation split);
3. the model: an ensemble of small ``TokenFeatureNet``s (``models.encoder``) trained on the train
   split with early stopping on the validation split (seeds 0..N-1);
4. test-split metrics for both: four-quadrant accuracy, valence and arousal accuracy (the quadrant's
   halves), confusion matrix, written into ``models/cards/emotion.md``; weights into
   ``models/weights/emotion.pt``.
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


def train_baseline(data: dict) -> tuple[dict, dict]:
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
    return _metrics(data["test"]["y"], model.predict(data["test"]["x"])), {"C": c, "val_accuracy": float(val)}


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
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    valence = torch.tensor(VALENCE_HIGH)[y_train]
    arousal = torch.tensor(AROUSAL_HIGH)[y_train]
    best_state, best_val = None, -1.0
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
            loss = (loss_fn(out["quadrant"], y_train[batch]) + 0.5 * loss_fn(out["valence"], valence[batch])
                    + 0.5 * loss_fn(out["arousal"], arousal[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        net.eval()
        with torch.no_grad():
            probs = combined_probabilities(net(t_val, x_val))
        val = float(np.mean(probs.argmax(1) == y_val))
        if val > best_val:
            best_val = val
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if verbose and epoch % 10 == 9:
            print(f"    seed {seed} epoch {epoch + 1}: val accuracy {val:.3f} (best {best_val:.3f})", flush=True)
    return best_state, best_val


def combined_probabilities(out: dict) -> np.ndarray:
    """Quadrant probabilities from the quadrant head, sharpened by the valence and arousal heads."""
    import torch

    q = torch.log_softmax(out["quadrant"], -1)
    v = torch.log_softmax(out["valence"], -1)  # [low, high]
    a = torch.log_softmax(out["arousal"], -1)
    # Q1 = high v, high a; Q2 = low v, high a; Q3 = low v, low a; Q4 = high v, low a
    extra = torch.stack([v[:, 1] + a[:, 1], v[:, 0] + a[:, 1], v[:, 0] + a[:, 0], v[:, 1] + a[:, 0]], dim=-1)
    return torch.softmax(q + 0.5 * extra, -1).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5, help="ensemble size (5: chosen on validation)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quiet", action="store_true")
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
    print({k: int(len(v["y"])) for k, v in data.items()}, f"features {data['train']['x'].shape[1]}")
    baseline, baseline_info = train_baseline(data)
    print(f"baseline (logistic regression, C={baseline_info['C']}): test accuracy {baseline['accuracy']:.3f}")
    members, vals = [], []
    for seed in range(args.members):
        state, val = train_member(data, seed=seed, epochs=args.epochs, verbose=not args.quiet)
        members.append(state)
        vals.append(val)
        print(f"  member {seed}: best val accuracy {val:.3f}", flush=True)
    net = TokenFeatureNet(field_sizes=[s for _, s in EMOTION_TOKEN_FIELDS], n_features=data["train"]["x"].shape[1],
                          heads={"quadrant": 4, "valence": 2, "arousal": 2}, dim=DIM)
    config = config_of(net)

    def ensemble_probs(split: str) -> np.ndarray:
        tokens = torch.tensor(data[split]["tokens"].astype(np.int64))
        x = torch.tensor(data[split]["x"], dtype=torch.float32)
        total = np.zeros((len(x), 4))
        for state in members:
            net.load_state_dict(state)
            net.eval()
            with torch.no_grad():
                total += combined_probabilities(net(tokens, x))
        return total / len(members)

    val_metrics = _metrics(data["val"]["y"], ensemble_probs("val").argmax(1))
    test_probs = ensemble_probs("test")
    test_metrics = _metrics(data["test"]["y"], test_probs.argmax(1))
    wrong = [(str(n), QUADRANTS[int(y)], QUADRANTS[int(p)]) for n, y, p in
             zip(data["test"]["names"], data["test"]["y"], test_probs.argmax(1), strict=True) if y != p]
    seconds = time.perf_counter() - started
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "members": members, "quadrants": list(QUADRANTS), "max_tokens": EMOTION_TOKENS,
                "test_accuracy": test_metrics["accuracy"]}, WEIGHTS)
    results = {"baseline": baseline, "baseline_info": baseline_info, "model_val": val_metrics, "model": test_metrics,
               "member_val": vals, "train_seconds": seconds, "wrong": wrong}
    (HERE / ".cache").mkdir(exist_ok=True)
    results["n_features"] = int(data["train"]["x"].shape[1])
    results["sizes"] = " / ".join(str(len(data[k]["y"])) for k in ("train", "val", "test"))
    results_path.write_text(json.dumps(results, indent=2))
    write_card(results)
    print(f"model: val accuracy {val_metrics['accuracy']:.3f}, test accuracy {test_metrics['accuracy']:.3f}, "
          f"valence {test_metrics['valence_accuracy']:.3f}, arousal {test_metrics['arousal_accuracy']:.3f} "
          f"({seconds:.0f} s)")
    print(f"weights: {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB)")
    return 0



def _confusion_table(confusion: list[list[int]]) -> str:
    lines = ["| true \\ predicted | " + " | ".join(QUADRANTS) + " |", "|---|" + "---|" * len(QUADRANTS)]
    for q, row in zip(QUADRANTS, confusion, strict=True):
        lines.append(f"| {q} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def write_card(results: dict) -> None:
    m, b, v = results["model"], results["baseline"], results["model_val"]
    recall = m["per_class_recall"]
    worst = min(recall, key=recall.get)
    confusion = np.array(m["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    a, p = np.unravel_index(off.argmax(), off.shape)
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

An ensemble of {len(results['member_val'])} small `TokenFeatureNet`s (`models/encoder.py`, 32-wide embeddings): a
two-layer residual 1-D convolution over the first 512 notes (pitch class relative to the estimated
tonic, octave, duration and time to the next chord in seconds, top-of-chord flag, chord size) with
mean/max pooling, beside an MLP on {results.get('n_features', 45)} descriptors (register, density and rhythm in seconds,
key and mode strength, pitch classes relative to the tonic, harmony and consonance, top-line
intervals, dynamics; `models/features.py: emotion_vector`). Heads: quadrant, valence half, arousal
half; the quadrant probabilities are sharpened by the two half heads. Early stopping on the
validation split.

Inputs are chosen so that a notated score and a performed clip give the same numbers: no metric grid
(EMOPIA clips are unquantised transcriptions), chords are notes starting within 50 ms, and a score
without dynamics (all velocities equal) gets EMOPIA's mean loudness instead of its flat velocity.

## Data and splits

EMOPIA (Hung et al., ISMIR 2021): 1,078 piano clips from 387 songs, labelled by quadrant. The official
song-level split files `dataset/split/{{train,val,test}}.csv`: {results.get('sizes', '767 / 198 / 86')} clips
(train / val / test). Licence: **CC BY-NC-SA 4.0** (non-commercial; the weights are derived from it and
carry the same restriction). The data is read from `../shared/data/emopia`, never copied into this repository.

## Results on the official test split ({m['n']} clips)

| model | 4-quadrant accuracy | valence accuracy | arousal accuracy |
|---|---|---|---|
| logistic regression on the hand features (this script, C={results['baseline_info']['C']}) | {b['accuracy']:.3f} | {b['valence_accuracy']:.3f} | {b['arousal_accuracy']:.3f} |
| **this model (ensemble)** | **{m['accuracy']:.3f}** | **{m['valence_accuracy']:.3f}** | **{m['arousal_accuracy']:.3f}** |
| published: logistic regression (EMOPIA paper) | 0.58 | | |
| published: LSTM-attention (EMOPIA paper) | 0.68 | | |
| published: MidiBERT-Piano | 0.68 | | |

Validation accuracy of the ensemble: {v['accuracy']:.3f} (members: {', '.join(f'{x:.3f}' for x in results['member_val'])}).
The ensemble size was chosen on the validation split: 3 members gave 0.652 validation (0.640 test),
5 members 0.667, 8 members 0.667 again (0.663 test); `--members 5` is the default.
Target was >= 0.68 on the test split: {'reached' if m['accuracy'] >= 0.68 else '**not reached**'}.
The test split is small: one clip is 1.2 points of accuracy, so differences of a few points are noise.

Confusion matrix (test split):

{_confusion_table(m['confusion'])}

Recall per quadrant: {', '.join(f'{q} {r:.2f}' for q, r in recall.items())}.

## Where it fails

* **Valence within the same arousal** is the hard part: arousal is right {m['arousal_accuracy']:.0%} of the time,
  valence only {m['valence_accuracy']:.0%}. The most frequent confusion is {QUADRANTS[a]} taken for {QUADRANTS[p]}
  ({off.max()} clips); the weakest quadrant is {worst} (recall {recall[worst]:.2f}). Calm (Q4) and sad (Q3) pieces
  differ mostly in mode and harmony, which a 30-second pop-piano transcription blurs.
* **Notated scores are not performances.** The model was trained on transcribed performances with real
  velocities and rubato; a MusicXML score has flat velocities (80) and a metronomic tempo taken from the
  file (120 bpm when none is given). Loudness and tempo cues are then missing or wrong, and a slow piece
  written without a tempo mark reads as faster and calmer than it is.
* **The price of working on scores**: a first version used the same features as the style model
  (metric-grid positions, exact chord onsets, raw velocities). It reached 0.663 test / 0.667 validation
  accuracy on EMOPIA but labelled every notated score "tense" (Q2), because quantised onsets and flat
  velocities lie far outside the transcribed clips it was trained on. The quantisation-free inputs
  above cost about two points on EMOPIA with the same three-member ensemble (0.640) and give
  plausible labels on scores: Chopin's presto etude op. 10/4 in C# minor Q2 tense, op. 10/3
  ("Tristesse", E major) Q1 with low valence, the chorale BWV 66.6 in F# minor Q4 calm. A lively
  fiddle reel comes out Q2 tense: its arousal is right, its valence is not - the model has no notion
  of dance music.
* **Out of domain**: EMOPIA is pop/film piano. Chorales, string quartets and folk melodies are far
  from it; their quadrant is a rough guide, not a measurement (a monophonic tune has none of the
  chord and texture cues the model uses).
"""
    CARD.write_text(text, encoding="utf-8")
    print(f"card: {CARD}")


if __name__ == "__main__":
    raise SystemExit(main())
