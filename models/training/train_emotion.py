"""Train the emotion model on EMOPIA with its official splits: ``python -m models.training.train_emotion``.

One command, CPU, a few minutes (``nice -n 5`` on a shared machine). Steps:

1. clip features and performance tokens (``models.training.emotion_data``, cached in ``models/.cache``);
2. the baseline: logistic regression on the hand features (``LR_C``);
3. the model: an ensemble of small ``TokenFeatureNet``s (``models.encoder``) trained for a fixed number
   of epochs with class-balanced loss (seeds 0..N-1), blended with the logistic regression
   (``BLEND_WEIGHT``), gradient-boosted trees (``BOOST_WEIGHT``) and the LSTM-attention sequence member
   over MIDI-like events (``SEQUENCE_WEIGHT``, ``models.emotion_sequence``), all fitted on the official
   train split (``--fit-on train+val`` adds the validation split: a candidate, not shipped; see the card);
4. test-split metrics for both: four-quadrant accuracy, valence and arousal accuracy (the quadrant's
   halves), confusion matrix, and the spread over seeds of single members; written into
   ``models/cards/emotion.md``; weights into ``models/weights/emotion.pt``.

Every choice (epochs, class balance, the descriptors, ``LR_C``, the blend weights) was made on the
validation split and on song-grouped cross-validation over train + validation (``--cv``), never on
the test split, which is read once, at the end of a run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..emotion_blend import blend, combined_probabilities, mix
from ..emotion_features import EMOTION_TOKENS
from ..features import EMOTION_TOKEN_FIELDS
from .emotion_data import QUADRANTS, load_emopia, with_musician
from .emotion_loss import AROUSAL_HIGH, VALENCE_HIGH, emotion_loss

DIM = 32  # token embedding width: 32 trains in minutes on one CPU core
HERE = Path(__file__).resolve().parents[1]  # the models folder: weights, cards and .cache stay there
WEIGHTS = HERE / "weights" / "emotion.pt"
CARD = HERE / "cards" / "emotion.md"
# what the shipped model says about a few scores (checked by hand after training; see the card)
SCORE_EXAMPLES = """Chopin's presto etude op. 10/4 in C# minor Q2 tense (P 0.56,
  Q1 0.34), op. 10/3 ("Tristesse", E major) Q4 calm (P 0.54, Q1 0.32), the chorale BWV 66.6 in F#
  minor Q4 calm (P 0.40, Q1 happy 0.28), a lively fiddle reel Q1 happy (P 0.57, Q2 0.18; the previous model
  called it Q2 tense, P 0.58), the demo's Twinkle Q4 calm (P 0.53). The chorale-calmer-than-reel check passes
  (chorale arousal -0.19, reel +0.49; the previous model -0.19 and +0.77)."""


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


# the logistic regression's C and the blend weights, chosen by song-grouped cross-validation over
# train + val (``--cv``: 965 clips) with the validation split as a check (``--fit-on train``); the
# out-of-fold and validation accuracy of every C and weight pair is in the card
LR_C = 0.01
LR_CS = (0.003, 0.01, 0.03, 0.1, 0.3)
BLEND_WEIGHT = 0.3  # the logistic regression's share of the log-probabilities
BOOST_WEIGHT = 0.0  # the gradient-boosted trees' share
BLEND_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
# the sequence member (``models.emotion_sequence``): the EMOPIA paper's LSTM-attention baseline over
# MIDI-like events, a fourth model in the blend; its share chosen like the others (``--cv --sequence``,
# ``--sequence``: the card's table)
SEQUENCE_KIND = "events"
SEQUENCE_WEIGHT = 0.2
SEQUENCE_EPOCHS = 20
# the nets and the logistic regression also read ``models.emotion_musician``'s 70 windowed descriptors
# (issue 26, chosen by the rule in docs/benchmarks.md "why validation disagrees with CV": song-grouped CV
# over 4 partitions, paired, validation read as one more fold; ``--no-musician``: the 101 descriptors alone)
MUSICIAN = True
# the previous round's shipped blend (nets + LR 0.1 + trees 0.2, fitted on train): its numbers, for the card
PREVIOUS = {"lr": 0.1, "trees": 0.2, "cv": 0.698, "val": 0.687, "test": 0.605, "valence": 0.744, "arousal": 0.860}
# the rule fixed before the sequence member was tried: ship a blend only if both judges beat the previous
RULE_CV, RULE_VAL = 0.705, 0.687
# gradient-boosted trees on the hand features: small, shallow trees (one setting, not tuned)
BOOST = {"max_iter": 150, "learning_rate": 0.05, "max_depth": 3, "l2_regularization": 1.0, "random_state": 0}


def logistic_regression(c: float = LR_C):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def fit_boosted_trees(x: np.ndarray, y: np.ndarray):
    """The trees fitted on one thread (small trees: more threads only contend on a shared machine)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return HistGradientBoostingClassifier(**BOOST).fit(x, y)


def stack_of(model) -> dict:
    """The fitted logistic regression as plain tensors (saved beside the nets, loaded weights_only)."""
    import torch

    scaler, lr = model[0], model[-1]
    return {"mean": torch.tensor(scaler.mean_, dtype=torch.float32),
            "scale": torch.tensor(scaler.scale_, dtype=torch.float32),
            "coef": torch.tensor(lr.coef_, dtype=torch.float32),
            "intercept": torch.tensor(lr.intercept_, dtype=torch.float32)}


def _grid(nets: np.ndarray, lr: np.ndarray, boosted: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy of every (LR weight, trees weight) blend: {"w_lr": {"w_trees": accuracy}}."""
    return {str(w): {str(b): float(np.mean(mix(nets, lr, w, boosted, b).argmax(1) == y)) for b in BLEND_GRID
                     if w + b <= 0.7 + 1e-9} for w in BLEND_GRID}


def _new_net(n_features: int):
    from ..encoder import TokenFeatureNet

    return TokenFeatureNet(field_sizes=[s for _, s in EMOTION_TOKEN_FIELDS], n_features=n_features,
                           heads={"quadrant": 4, "valence": 2, "arousal": 2}, dim=DIM)


def train_member(train: dict, *, seed: int, epochs: int, held: dict | None = None,
                 verbose: bool = False) -> tuple[dict, float | None]:
    """One member trained on ``train`` ({'x', 'tokens', 'y'}) for ``epochs`` epochs, the last kept:
    (state dict, accuracy on ``held`` or None)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train = torch.tensor(train["x"], dtype=torch.float32)
    t_train = torch.tensor(train["tokens"].astype(np.int64))
    net = _new_net(x_train.shape[1])
    net.feature_mean.copy_(x_train.mean(0))
    net.feature_std.copy_(x_train.std(0).clamp(min=1e-3))
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_of = emotion_loss(train["y"])

    def held_accuracy() -> float | None:
        if held is None:
            return None
        net.eval()
        with torch.no_grad():
            probs = combined_probabilities(net(torch.tensor(held["tokens"].astype(np.int64)),
                                               torch.tensor(held["x"], dtype=torch.float32)))
        return float(np.mean(probs.argmax(1) == held["y"]))

    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(train["y"]))
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
            loss = loss_of(net(tokens, features), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        if verbose and held is not None and epoch % 5 == 4:
            print(f"    seed {seed} epoch {epoch + 1}: held-out accuracy {held_accuracy():.3f}", flush=True)
    # the last epoch is kept (no checkpoint picked on validation: val accuracy is flat after ~5
    # epochs, and picking the best of 30 noisy epochs only flatters the validation number)
    accuracy = held_accuracy()
    net.eval()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, accuracy


def member_probabilities(members: list[dict], split: dict) -> np.ndarray:
    """(members, clips, 4) quadrant probabilities of each member on a split."""
    import torch

    net = _new_net(split["x"].shape[1])
    tokens = torch.tensor(split["tokens"].astype(np.int64))
    x = torch.tensor(split["x"], dtype=torch.float32)
    out = []
    for state in members:
        net.load_state_dict(state)
        net.eval()
        with torch.no_grad():
            out.append(combined_probabilities(net(tokens, x)))
    return np.stack(out)


def _join(*splits: dict) -> dict:
    return {k: np.concatenate([s[k] for s in splits]) for k in ("x", "tokens", "events", "y", "names")}


def song_of(clip_name: str) -> str:
    """The song of an EMOPIA clip (clip names are Q<n>_<song>_<clip>)."""
    return clip_name[3:clip_name.rindex("_")]


def song_folds(names: np.ndarray, folds: int = 5) -> np.ndarray:
    """Fold index of each clip, whole songs per fold."""
    songs = np.array([song_of(name) for name in names])
    unique = np.array(sorted(set(songs)))
    np.random.default_rng(123).shuffle(unique)
    fold_of = {song: i % folds for i, song in enumerate(unique)}
    return np.array([fold_of[song] for song in songs])


OOF_CACHE = HERE / ".cache" / "emotion_cv_oof.npz"  # out-of-fold probabilities of every member kind
SEQUENCE_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def _save_oof(**arrays: np.ndarray) -> dict:
    """Add out-of-fold probabilities to ``OOF_CACHE`` (one array per member kind); all of them."""
    saved = dict(np.load(OOF_CACHE)) if OOF_CACHE.exists() else {}
    saved.update(arrays)
    OOF_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OOF_CACHE, **saved)
    return saved


def sequence_tag(kind: str, init: str | None, lr: float, tta: int = 0) -> str:
    """The sequence member's name in the caches: its inputs, ``_pre`` when started from a pretrained
    event language model (and the file's name when it is not ``models.training.pretrain_events``' default), the
    learning rate when it is not the default, ``_ttaN`` when read at transpositions up to ±N semitones."""
    from .sequence_member import LEARNING_RATE

    pre = "" if not init else "_pre" if Path(init).stem == "emotion_events_pretrained" else f"_pre-{Path(init).stem}"
    return f"sequence_{kind}{pre}" + ("" if lr == LEARNING_RATE else f"_lr{lr:g}") + (f"_tta{tta}" if tta else "")


def cross_validate_sequence(data: dict, *, kind: str, epochs: int, seeds: int = 1, folds: int = 5,
                            init: str | None = None, sequence_lr: float | None = None, tta: int = 0) -> dict:
    """The sequence member (``models.emotion_sequence``, inputs ``kind``) in the same song-grouped
    cross-validation as ``cross_validate`` (its folds, ``seeds`` members per fold), and its blends with
    the nets, the logistic regression and the trees (their out-of-fold probabilities from a ``--cv`` run,
    ``OOF_CACHE``): {"sequence": accuracy alone, "grid": {w_seq: {w_lr: {w_trees: accuracy}}}}.
    ``tta`` > 0: the members are also read at transpositions up to ±``tta`` semitones, averaged
    (``emotion_sequence.tta_shifts``); the result is then theirs, with the same members read plainly
    under "plain" (a paired comparison: the same trained members, two ways of reading them)."""
    from ..emotion_sequence import sequence_probabilities, tta_shifts
    from .sequence_member import LEARNING_RATE, train_sequence_member

    sequence_lr = sequence_lr or LEARNING_RATE
    pool = _join(data["train"], data["val"])
    fold = song_folds(pool["names"], folds)
    y = pool["y"]
    seq, seq_tta = np.zeros((len(y), 4)), np.zeros((len(y), 4))
    for f in range(folds):
        train, held = fold != f, fold == f
        split = {k: v[train] for k, v in pool.items()}
        members = [train_sequence_member(split, kind=kind, seed=f + 100 * s, epochs=epochs, init=init, lr=sequence_lr)[0]
                   for s in range(seeds)]
        held_split = {k: v[held] for k, v in pool.items()}
        seq[held] = sequence_probabilities(members, held_split, kind=kind).mean(0)
        line = f"  fold {f}: {int(held.sum())} clips, {kind} accuracy {np.mean(seq[held].argmax(1) == y[held]):.3f}"
        if tta:
            seq_tta[held] = sequence_probabilities(members, held_split, kind=kind, shifts=tta_shifts(tta)).mean(0)
            line += f", read at ±{tta} semitones {np.mean(seq_tta[held].argmax(1) == y[held]):.3f}"
        print(line, flush=True)
    plain_name = f"{sequence_tag(kind, init, sequence_lr)}_{seeds}s_{epochs}e"
    name = f"{sequence_tag(kind, init, sequence_lr, tta)}_{seeds}s_{epochs}e"
    oof = _save_oof(**{name: seq_tta if tta else seq})
    if not {"nets", "trees", f"lr_{LR_C}", "y"} <= set(oof) or not np.array_equal(oof["y"], y):
        raise SystemExit("run --cv first: the nets' out-of-fold probabilities are not cached")

    def judged(p: np.ndarray, member: str) -> dict:
        return {"member": member, "sequence": float(np.mean(p.argmax(1) == y)),
                "grid": _grid_with_sequence(oof["nets"], oof[f"lr_{LR_C}"], oof["trees"], p, y)}

    if not tta:
        return judged(seq, name)
    return {**judged(seq_tta, name), "tta": tta, "plain": judged(seq, plain_name)}


def validate_sequence(data: dict, *, kind: str, members: int, epochs: int, sequence_epochs: int,
                      init: str | None = None, sequence_lr: float | None = None, tta: int = 0) -> dict:
    """The validation-split check of the sequence member's blends: every model fitted on the train
    split (the nets as shipped: seeds 0..members-1), read on the validation split only (never the test
    split): {"sequence": its accuracy alone, "nets": ..., "grid": {w_seq: {w_lr: {w_trees: accuracy}}}}.
    ``tta``: as in ``cross_validate_sequence`` (the same members read plainly under "plain")."""
    from ..emotion_sequence import sequence_probabilities, tta_shifts
    from .sequence_member import LEARNING_RATE, train_sequence_member

    sequence_lr = sequence_lr or LEARNING_RATE
    train, val = data["train"], data["val"]
    y = val["y"]
    nets_cache = HERE / ".cache" / f"emotion_val_nets_{members}m_{epochs}e.npy"  # the shipped nets' recipe
    if nets_cache.exists():
        nets = np.load(nets_cache)
    else:
        nets = member_probabilities([train_member(train, seed=s, epochs=epochs)[0] for s in range(members)],
                                    val).mean(0)
        np.save(nets_cache, nets)
    lr = logistic_regression().fit(train["x"], train["y"]).predict_proba(val["x"])
    boosted = fit_boosted_trees(train["x"], train["y"]).predict_proba(val["x"])
    seq_members = []
    for seed in range(members):
        seq_members.append(train_sequence_member(train, kind=kind, seed=seed, epochs=sequence_epochs, init=init,
                                                 lr=sequence_lr)[0])
        print(f"  {kind} member {seed} trained", flush=True)

    def accuracy(p: np.ndarray) -> float:
        return float(np.mean(p.argmax(1) == y))

    def judged(each: np.ndarray, reading: int) -> dict:
        seq = each.mean(0)
        return {"member": f"{sequence_tag(kind, init, sequence_lr, reading)}_{members}m_{sequence_epochs}e",
                "sequence": accuracy(seq), "sequence_single": [accuracy(p) for p in each], "nets": accuracy(nets),
                "lr": accuracy(lr), "trees": accuracy(boosted), "grid": _grid_with_sequence(nets, lr, boosted, seq, y)}

    plain = judged(sequence_probabilities(seq_members, val, kind=kind), 0)
    if not tta:
        return plain
    each = sequence_probabilities(seq_members, val, kind=kind, shifts=tta_shifts(tta))
    return {**judged(each, tta), "tta": tta, "plain": plain}


def _grid_with_sequence(nets: np.ndarray, lr: np.ndarray, boosted: np.ndarray, seq: np.ndarray,
                        y: np.ndarray) -> dict:
    """{w_seq: {w_lr: {w_trees: accuracy}}}: the nets' share is what is left, the sequence member
    joins the geometric blend as a fourth model."""
    def log(p: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p, 1e-9, 1.0))

    out = {}
    for ws in SEQUENCE_GRID:
        out[str(ws)] = {}
        for w in BLEND_GRID:
            out[str(ws)][str(w)] = {}
            for b in BLEND_GRID:
                if ws + w + b > 0.8 + 1e-9:
                    continue
                mixed = (1 - ws - w - b) * log(nets) + w * log(lr) + b * log(boosted) + ws * log(seq)
                out[str(ws)][str(w)][str(b)] = float(np.mean(mixed.argmax(1) == y))
    return out


def cross_validate(data: dict, *, epochs: int, seeds: int = 1, folds: int = 5) -> dict:
    """Song-grouped k-fold cross-validation on train + val (the test split is not read): ``seeds``
    members per fold (seeds fold, fold + 100, ...), their mean out-of-fold quadrant probabilities,
    the logistic regression's for each C, the boosted trees', and their blends. This chose ``LR_C``,
    ``BLEND_WEIGHT`` and ``BOOST_WEIGHT`` (with the validation split as a check):
    a steadier yardstick than the 198-clip validation or the 86-clip test split (965 clips)."""
    pool = _join(data["train"], data["val"])
    fold = song_folds(pool["names"], folds)
    y = pool["y"]
    nets, boosted = np.zeros((len(y), 4)), np.zeros((len(y), 4))
    lr = {c: np.zeros((len(y), 4)) for c in LR_CS}
    for f in range(folds):
        train, held = fold != f, fold == f
        split = {k: v[train] for k, v in pool.items()}
        members = [train_member(split, seed=f + 100 * s, epochs=epochs)[0] for s in range(seeds)]
        nets[held] = member_probabilities(members, {k: v[held] for k, v in pool.items()}).mean(0)
        for c in LR_CS:
            lr[c][held] = logistic_regression(c).fit(pool["x"][train], y[train]).predict_proba(pool["x"][held])
        boosted[held] = fit_boosted_trees(pool["x"][train], y[train]).predict_proba(pool["x"][held])
        print(f"  fold {f}: {int(held.sum())} clips, nets accuracy {np.mean(nets[held].argmax(1) == y[held]):.3f}",
              flush=True)

    def accuracy(p: np.ndarray) -> float:
        return float(np.mean(p.argmax(1) == y))

    _save_oof(y=y, nets=nets, trees=boosted, **{f"lr_{c}": p for c, p in lr.items()})
    return {"clips": int(len(y)), "seeds_per_fold": seeds, "epochs": epochs, "n_features": int(pool["x"].shape[1]),
            "nets": accuracy(nets),
            "nets_fold_sd": float(np.std([np.mean(nets[fold == f].argmax(1) == y[fold == f]) for f in range(folds)])),
            "lr": {str(c): accuracy(p) for c, p in lr.items()}, "trees": accuracy(boosted),
            "blend_lr_only": {str(c): {str(w): accuracy(mix(nets, p, w)) for w in BLEND_GRID} for c, p in lr.items()},
            "grid": _grid(nets, lr[LR_C], boosted, y)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5, help="ensemble size")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + members - 1")
    parser.add_argument("--fit-on", choices=("train", "train+val"), default="train",
                        help="the splits the nets, the logistic regression and the trees are fitted on "
                             "(train: also report the validation split)")
    parser.add_argument("--no-save", action="store_true", help="report only: keep the weights and the card")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--cv", action="store_true",
                        help="song-grouped 5-fold cross-validation on train + val instead (no test, nothing saved)")
    parser.add_argument("--cv-seeds", type=int, default=3, help="members per fold in --cv")
    parser.add_argument("--sequence", choices=("events", "notes", "notes+features"), default=None,
                        help="the LSTM-attention sequence member on these inputs, a candidate: with --cv its "
                             "cross-validated blends (after a plain --cv run), else its blends on the validation "
                             "split (fitted on train; the test split is not read, nothing saved)")
    parser.add_argument("--sequence-epochs", type=int, default=20)
    parser.add_argument("--sequence-init", default=None,
                        help="start the sequence members' embedding and LSTMs from this event language model "
                             "(python -m models.training.pretrain_events)")
    parser.add_argument("--sequence-lr", type=float, default=None, help="the sequence members' learning rate")
    parser.add_argument("--sequence-tta", type=int, default=0, metavar="N",
                        help="also read the sequence members at transpositions up to ±N semitones, averaged "
                             "(test-time augmentation; results tagged _ttaN, the plain reading kept beside)")
    parser.add_argument("--n-features", type=int, default=None,
                        help="use only the first N descriptors (45: emotion_vector without valence_features)")
    parser.add_argument("--hold-test", action="store_true",
                        help="train and save the weights without reading the blend's test accuracy (check them on "
                             "scores first; the LR and trees alone are still scored on test, as every run does)")
    parser.add_argument("--read-test", action="store_true",
                        help="read the test split once for the weights --hold-test saved; write the card")
    parser.add_argument("--card-only", action="store_true", help="rewrite the model card from the last run's results")
    parser.add_argument("--no-musician", action="store_true",
                        help="the 101 descriptors alone, without the musician's 70 (the recipe before issue 26's "
                             "evening round; its --cv cache is what emotion_musician_cv reads as the old blend)")
    args = parser.parse_args(argv)
    cache = HERE / ".cache"
    results_path = cache / "emotion_results.json"
    if args.card_only:
        write_card(json.loads(results_path.read_text()))
        return 0

    import torch

    from ..encoder import config_of

    torch.set_num_threads(1)  # the machine is shared: one thread is faster than two contended ones
    started = time.perf_counter()
    data = load_emopia()
    if MUSICIAN and not args.no_musician and not args.n_features:
        data = with_musician(data)
    if args.n_features:  # 45: emotion_vector alone, without valence_features
        for split in data.values():
            split["x"] = split["x"][:, :args.n_features]
    print({k: int(len(v["y"])) for k, v in data.items()}, f"features {data['train']['x'].shape[1]}")
    cache.mkdir(exist_ok=True)
    if args.cv and args.sequence:
        result = cross_validate_sequence(data, kind=args.sequence, epochs=args.sequence_epochs, seeds=args.cv_seeds,
                                         init=args.sequence_init,
                                         sequence_lr=args.sequence_lr, tta=args.sequence_tta)
        print(json.dumps(result, indent=1))
        (cache / f"emotion_cv_{result['member']}.json").write_text(json.dumps(result, indent=2))
        return 0
    if args.sequence:  # the validation check; the test split is not read
        result = validate_sequence(data, kind=args.sequence, members=args.members, epochs=args.epochs,
                                   sequence_epochs=args.sequence_epochs, init=args.sequence_init,
                                   sequence_lr=args.sequence_lr, tta=args.sequence_tta)
        print(json.dumps(result, indent=1))
        (cache / f"emotion_val_{result['member']}.json").write_text(json.dumps(result, indent=2))
        return 0
    if args.cv:
        result = cross_validate(data, epochs=args.epochs, seeds=args.cv_seeds)
        print(json.dumps(result, indent=1))
        (cache / f"emotion_cv_{result['n_features']}f_{args.cv_seeds}s.json").write_text(json.dumps(result, indent=2))
        return 0
    from ..emotion_sequence import sequence_probabilities
    from .sequence_member import train_sequence_member

    def evaluate(split: str) -> tuple[np.ndarray, dict, list[dict], float]:
        """(blended probabilities, metrics, single members' metrics, nets-alone accuracy) on a split."""
        each = member_probabilities(members, data[split])
        y, x = data[split]["y"], data[split]["x"]
        seq = (sequence_probabilities(sequence_members, data[split], kind=SEQUENCE_KIND) if sequence_members
               else [None] * len(each))
        seq_mean = seq.mean(0) if sequence_members else None
        probs = blend(each.mean(0), x, stack, BLEND_WEIGHT, trees, BOOST_WEIGHT, seq_mean, SEQUENCE_WEIGHT)
        singles = [_metrics(y, blend(p, x, stack, BLEND_WEIGHT, trees, BOOST_WEIGHT, q, SEQUENCE_WEIGHT).argmax(1))
                   for p, q in zip(each, seq, strict=True)]
        if sequence_members:
            results[f"sequence_{split}"] = float(np.mean(seq_mean.argmax(1) == y))
        if split == "val":  # the validation check of the blend weights
            results["val_grid"] = _grid(each.mean(0), baseline_model.predict_proba(x), trees_model.predict_proba(x), y)
            if sequence_members:
                results["val_grid_sequence"] = _grid_with_sequence(
                    each.mean(0), baseline_model.predict_proba(x), trees_model.predict_proba(x), seq_mean, y)
        return probs, _metrics(y, probs.argmax(1)), singles, float(np.mean(each.mean(0).argmax(1) == y))

    if args.read_test:  # the weights --hold-test saved, after the checks on scores: the test split read once
        saved = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
        results = json.loads(results_path.read_text())
        members, stack, trees, config = saved["members"], saved["stack"], saved["trees"], saved["config"]
        sequence_members = saved["sequence"]["members"] if saved.get("sequence") else []
        seeds = results["seeds"]
    else:
        fit = _join(data["train"], data["val"]) if args.fit_on == "train+val" else data["train"]
        held = data["val"] if args.fit_on == "train" else None
        baseline_model = logistic_regression().fit(fit["x"], fit["y"])
        stack = stack_of(baseline_model)
        from ..boosted_trees import export

        trees_model = fit_boosted_trees(fit["x"], fit["y"])
        trees = export(trees_model)
        baseline = _metrics(data["test"]["y"], baseline_model.predict(data["test"]["x"]))
        print(f"baseline (logistic regression, C={LR_C}, fitted on {args.fit_on}): test accuracy {baseline['accuracy']:.3f}")
        seeds = list(range(args.first_seed, args.first_seed + args.members))
        members, held_accuracies = [], []
        for seed in seeds:
            state, accuracy = train_member(fit, seed=seed, epochs=args.epochs, held=held, verbose=not args.quiet)
            members.append(state)
            held_accuracies.append(accuracy)
            print(f"  member {seed}" + (f": val accuracy {accuracy:.3f}" if accuracy is not None else " trained"), flush=True)
        config = config_of(_new_net(fit["x"].shape[1]))
        sequence_members = []
        if SEQUENCE_WEIGHT > 0:
            for seed in seeds:
                sequence_members.append(train_sequence_member(fit, kind=SEQUENCE_KIND, seed=seed, epochs=SEQUENCE_EPOCHS,
                                                              held=held)[0])
                print(f"  sequence member {seed} trained", flush=True)
        results = {"fit_on": args.fit_on, "sizes": " / ".join(str(len(data[k]["y"])) for k in ("train", "val", "test")),
                   "n_features": int(fit["x"].shape[1]), "seeds": seeds, "epochs": args.epochs, "lr_c": LR_C,
                   "blend_weight": BLEND_WEIGHT, "boost_weight": BOOST_WEIGHT, "sequence_weight": SEQUENCE_WEIGHT,
                   "sequence_kind": SEQUENCE_KIND, "baseline": baseline,
                   "trees_test": _metrics(data["test"]["y"], trees_model.predict(data["test"]["x"]))}
        if held is not None:
            _, results["model_val"], val_singles, results["nets_only_val"] = evaluate("val")
            results["baseline_val"] = float(baseline_model.score(data["val"]["x"], data["val"]["y"]))
            results["trees_val"] = float(trees_model.score(data["val"]["x"], data["val"]["y"]))
            results["single_members_val"] = [m["accuracy"] for m in val_singles]
            print(f"validation: model {results['model_val']['accuracy']:.3f}, nets alone {results['nets_only_val']:.3f}, "
                  f"logistic regression {results['baseline_val']:.3f}, trees {results['trees_val']:.3f}")
        if args.hold_test:
            results["train_seconds"] = time.perf_counter() - started
            torch.save(_weights(config, members, stack, trees, sequence_members, fit, None), WEIGHTS)
            results_path.write_text(json.dumps(results, indent=2))
            print(f"weights: {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB), the blend's test accuracy not read "
                  "(only the unchanged LR and trees alone): check them on scores, then --read-test")
            return 0
    test_probs, test_metrics, test_singles, results["nets_only_test"] = evaluate("test")  # the test split: read once, here
    results["model"] = test_metrics
    results["single_members_test"] = [m["accuracy"] for m in test_singles]
    results["wrong"] = [(str(n), QUADRANTS[int(y)], QUADRANTS[int(p)]) for n, y, p in
                        zip(data["test"]["names"], data["test"]["y"], test_probs.argmax(1), strict=True) if y != p]
    if not args.read_test:  # --read-test keeps the training time --hold-test recorded
        results["train_seconds"] = time.perf_counter() - started
    spread = results["single_members_test"]
    print(f"model: test accuracy {test_metrics['accuracy']:.3f}, valence {test_metrics['valence_accuracy']:.3f}, "
          f"arousal {test_metrics['arousal_accuracy']:.3f}; single members (+ LR) test {np.mean(spread):.3f} ± "
          f"{np.std(spread):.3f}; nets alone test {results['nets_only_test']:.3f} ({results['train_seconds']:.0f} s)")
    if args.no_save:
        name = f"emotion_results_{args.fit_on}_seeds{seeds[0]}-{seeds[-1]}.json".replace("+", "_")
        (cache / name).write_text(json.dumps(results, indent=2))
        return 0
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_weights(config, members, stack, trees, sequence_members, data["train"], test_metrics["accuracy"]),
               WEIGHTS)
    results_path.write_text(json.dumps(results, indent=2))
    write_card(results)
    print(f"weights: {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB)")
    return 0


def _weights(config: dict, members: list, stack: dict, trees: dict, sequence_members: list, fit: dict,
             test_accuracy: float | None) -> dict:
    """What ``models/weights/emotion.pt`` holds (the trees only where the blend gives them a share)."""
    from ..emotion_sequence import sequence_config

    return {"config": config, "members": members, "quadrants": list(QUADRANTS), "max_tokens": EMOTION_TOKENS,
            "stack": stack, "blend_weight": BLEND_WEIGHT, "trees": trees if BOOST_WEIGHT > 0 else None,
            "boost_weight": BOOST_WEIGHT,
            "sequence": ({"kind": SEQUENCE_KIND, "config": sequence_config(SEQUENCE_KIND, fit["x"].shape[1]),
                          "members": sequence_members, "weight": SEQUENCE_WEIGHT} if sequence_members else None),
            "test_accuracy": test_accuracy}


def _confusion_table(confusion: list[list[int]]) -> str:
    lines = ["| true \\ predicted | " + " | ".join(QUADRANTS) + " |", "|---|" + "---|" * len(QUADRANTS)]
    for q, row in zip(QUADRANTS, confusion, strict=True):
        lines.append(f"| {q} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _song_errors(wrong: list) -> str:
    songs: dict = {}
    for name, truth, predicted in wrong:
        key = (song_of(name), truth, predicted)
        songs[key] = songs.get(key, 0) + 1
    worst = sorted(songs.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{n} clips of song `{song}` ({truth} taken for {predicted})" for (song, truth, predicted), n in worst)


def _grid_table(grid: dict, other: dict | None = None) -> str:
    """Rows: the logistic regression's weight; columns: the trees' weight; cells: accuracy
    (``other``'s beside it after a slash when given)."""
    columns = [str(b) for b in BLEND_GRID]
    lines = ["| LR weight \\ trees weight | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for w, row in grid.items():
        cells = []
        for b in columns:
            if b not in row:
                cells.append("")
                continue
            cell = f"{row[b]:.3f}" + (f" / {other[w][b]:.3f}" if other else "")
            cells.append(f"**{cell}**" if (float(w), float(b)) == (PREVIOUS["lr"], PREVIOUS["trees"]) else cell)
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sequence_table(cv: dict, val: dict, rule_cv: float = RULE_CV, rule_val: float = RULE_VAL) -> str:
    """The sequence member's blends: per sequence weight, the previous round's LR/trees pair and the
    best cross-validated pair, cross-validation / validation split; which cells pass the rule."""
    lines = ["| sequence weight | at LR 0.1, trees 0.2 | best in cross-validation (LR, trees) | cells passing the rule |",
             "|---|---|---|---|"]
    passing = []
    for ws, grid in cv["grid"].items():
        cells = [(a, val["grid"][ws][w][b], w, b) for w, row in grid.items() for b, a in row.items()]
        best = max(cells)
        ok = [c for c in cells if c[0] >= rule_cv - 1e-9 and round(c[1], 3) >= rule_val]
        passing += [(ws, *c) for c in ok] if ws != "0.0" else []
        lines.append(f"| {ws} | {grid['0.1']['0.2']:.3f} / {val['grid'][ws]['0.1']['0.2']:.3f} | "
                     f"{best[0]:.3f} / {best[1]:.3f} ({best[2]}, {best[3]}) | {len(ok)} of {len(cells)} |")
    shown = "; ".join(f"sequence {ws}, LR {w}, trees {b}: {a:.3f} / {v:.3f}" for ws, a, v, w, b in passing)
    return "\n".join(lines) + f"\n\nCells with a sequence share that pass: {shown or 'none'}."


# the rule fixed before the pretrained sequence member was tried (the shipped blend's 0.706 CV plus a
# point, and at least its 0.687 on validation); the test split is read only for a recipe that passes
PRETRAIN_RULE_CV, PRETRAIN_RULE_VAL = 0.716, 0.687


def _sequence_results(cache: Path, judge: str) -> dict:
    """{member name: result} of every cached sequence check (``judge``: "cv" or "val"), with the
    plain readings a ``--sequence-tta`` run keeps beside its own (a result cached under its own
    name comes first)."""
    out: dict = {}
    paths = sorted(cache.glob(f"emotion_{judge}_sequence_*.json"))
    results = [json.loads(path.read_text()) for path in paths]
    for result in results:
        out.setdefault(result["member"], result)
    for result in results:
        if "plain" in result:
            out.setdefault(result["plain"]["member"], result["plain"])
    return out


def _pretrained_rows(cache: Path) -> list[dict]:
    """Every pretrained sequence recipe tried (``--sequence-init``): both judges' caches, summarised."""
    rows = []
    vals = _sequence_results(cache, "val")
    for member, cv in sorted(_sequence_results(cache, "cv").items()):
        if not member.startswith("sequence_events_pre") or "_2s_" not in member:
            continue
        tag, epochs = member.rsplit("_2s_", 1)
        val = vals.get(f"{tag}_5m_{epochs}")
        if val is None:
            continue
        cells = [(a, val["grid"][ws][w][b], ws, w, b) for ws, grid in cv["grid"].items() if ws != "0.0"
                 for w, row in grid.items() for b, a in row.items()]
        passing = [c for c in cells if c[0] >= PRETRAIN_RULE_CV - 1e-9 and round(c[1], 3) >= PRETRAIN_RULE_VAL]
        rows.append({"tag": tag, "epochs": epochs, "cv": cv, "val": val, "best_cv": max(cells),
                     "best_mean": max(cells, key=lambda c: (c[0] + c[1], c[0])), "passing": passing,
                     "cells": len(cells), "val_range": (min(c[1] for c in cells), max(c[1] for c in cells))})
    return rows


def _pretrain_text(cache: Path) -> str:
    """The card's account of the pretrained sequence member (``models/training/pretrain_events.py``): the
    rule fixed before it was judged, both judges for every recipe tried, and what was decided."""
    rows = {r["tag"] + "_" + r["epochs"]: r for r in _pretrained_rows(cache)}
    main = rows.get("sequence_events_pre_20e")
    base_val = cache / f"emotion_val_sequence_{SEQUENCE_KIND}_5m_{SEQUENCE_EPOCHS}e.json"
    base_cv = cache / f"emotion_cv_sequence_{SEQUENCE_KIND}_2s_{SEQUENCE_EPOCHS}e.json"
    if main is None or not base_val.exists() or not base_cv.exists():
        return ("**Pretraining the sequence member** (`models/training/pretrain_events.py`): run `--sequence events "
                "--sequence-init PATH` and `--cv --sequence events --cv-seeds 2 --sequence-init PATH` for its table.")
    base_val, base_cv = json.loads(base_val.read_text()), json.loads(base_cv.read_text())

    def singles(result: dict) -> str:
        return f"{np.mean(result['sequence_single']):.3f} ± {np.std(result['sequence_single']):.3f}"

    screens = []
    for name, label in (("sequence_events_pre_lr0.001_5m_20e", "learning rate 1e-3 instead of 2e-3"),
                        ("sequence_events_pre_5m_40e", "40 epochs instead of 20"),
                        ("sequence_events_pre-pre2400_5m_20e", "pretrained twice as long (2,400 steps, one thread, "
                         "18 min; held-out next-event accuracy 0.262, 2.72 nats)")):
        path = cache / f"emotion_val_{name}.json"
        if path.exists():
            r = json.loads(path.read_text())
            cells = [a for ws, g in r["grid"].items() if ws != "0.0" for row in g.values() for a in row.values()]
            text = (f"{label}: alone {r['sequence']:.3f} (single members {singles(r)}), blends "
                    f"{min(cells):.3f}-{max(cells):.3f}, {sum(a >= 136 / 198 - 1e-9 for a in cells)} of "
                    f"{len(cells)} cells at 136 of 198 clips or more")
            cross = rows.get(name.replace("_5m_", "_"))
            if cross:  # cross-validated too
                a, v, ws, w, b = cross["best_cv"]
                text += (f"; cross-validated as well: alone {cross['cv']['sequence']:.3f}, best blend sequence {ws}, "
                         f"LR {w}, trees {b} ({a:.3f} / {v:.3f}), {len(cross['passing'])} of {cross['cells']} cells "
                         "passing the rule")
                near = [(a2, v2, ws2, w2, b2) for ws2, g in cross["cv"]["grid"].items() if ws2 != "0.0"
                        for w2, row in g.items() for b2, a2 in row.items()
                        for v2 in [cross["val"]["grid"][ws2][w2][b2]] if round(v2, 3) >= PRETRAIN_RULE_VAL]
                if near:
                    a, v, ws, w, b = max(near)
                    text += (f" (the nearest, at the validation bar: sequence {ws}, LR {w}, trees {b}, "
                             f"{a:.3f} / {v:.3f})")
            screens.append(text)
    passing = sorted(main["passing"], key=lambda c: (c[0] + c[1], c[0]), reverse=True)
    if passing:
        a, v, ws, w, b = passing[0]
        verdict = (f"{len(passing)} of {main['cells']} cells with a sequence share pass; the best mean of the two "
                   f"judges among them, sequence {ws}, LR {w}, trees {b} ({a:.3f} / {v:.3f}), is the candidate.")
    else:
        a, v, ws, w, b = main["best_cv"]
        cells = [(a2, v2) for ws2, g in main["cv"]["grid"].items() if ws2 != "0.0" for w2, row in g.items()
                 for b2, a2 in row.items() for v2 in [main["val"]["grid"][ws2][w2][b2]]]
        val_ok = [c[0] for c in cells if round(c[1], 3) >= PRETRAIN_RULE_VAL]
        cv_ok = [c[1] for c in cells if c[0] >= PRETRAIN_RULE_CV - 1e-9]
        verdict = (f"**No cell passes.** The two judges disagree again: the {len(val_ok)} cells that reach the "
                   f"validation bar score {min(val_ok, default=0):.3f}-{max(val_ok, default=0):.3f} in cross-validation, "
                   f"the {len(cv_ok)} that reach the cross-validation bar {min(cv_ok, default=0):.3f}-"
                   f"{max(cv_ok, default=0):.3f} on validation; the best in cross-validation is sequence {ws}, LR {w}, "
                   f"trees {b} ({a:.3f} / {v:.3f}), and the shipped cell (sequence 0.2, LR 0.3) with the pretrained "
                   f"member reads {main['cv']['grid']['0.2']['0.3']['0.0']:.3f} / {main['val']['grid']['0.2']['0.3']['0.0']:.3f} "
                   "(shipped: 0.706 / 0.687). The shipped weights are unchanged and the test split was not read for "
                   "any of it.")
    return f"""**This round: the sequence member pretrained on unlabelled piano performances** (what MidiBERT
does, the one idea the previous rounds left untried). `python -m models.training.pretrain_events` trains the
member's embedding and its two LSTMs as a bidirectional event language model (as ELMo: the forward
LSTM's state predicts the next event, the backward LSTM's the previous one) on random 512-event windows,
transposed by up to ±3 semitones, of 1,231 unlabelled performances, 2.0 M events: the 156 nasap-dev
performance MIDIs (0.85 M events), 110 vienna4x22 performances (0.22 M; the `-average` files left out)
and EMOPIA's 965 train and validation clips without their labels (0.94 M; never the test clips); 1,200
steps of 32 windows (~10 passes), AdamW with a one-cycle schedule up to 3e-3, seed 0, 14 min with
`nice -n 5` at load ~2-3. Next-event accuracy on 14 held-out performances 0.219 (cross-entropy 2.99 nats;
a uniform guess 5.32). The members are then fine-tuned by the unchanged recipe from it
(`--sequence-init`; the heads start fresh). The pretraining read the events of the validation clips and
of every cross-validation fold's clips (not their labels): a small head start for both judges that the test
split, never read, would not share.
The rule was fixed before any of it was judged: ship only if the best blend reaches cross-validation
>= {PRETRAIN_RULE_CV} (the shipped 0.706 plus one point) and validation >= {PRETRAIN_RULE_VAL} (the shipped 0.687), keeps the
chorale-calmer-than-reel check, 32 bars under 300 ms and the weights at most ~5 MB; pick by the best
mean of the two judges among passing cells; read the test split once only then.

Pretraining helps the member alone: {main['cv']['sequence']:.3f} in cross-validation (from {base_cv['sequence']:.3f}) and
{main['val']['sequence']:.3f} on validation (from {base_val['sequence']:.3f}; single members {singles(main['val'])}
from {singles(base_val)}), still below the logistic regression. The blends (cross-validation / validation split):

{_sequence_table(main['cv'], main['val'], PRETRAIN_RULE_CV, PRETRAIN_RULE_VAL)}

{verdict}
Screened (5 members on the validation split): {'; '.join(screens) or 'none'}.
Reading every 512-event window of a clip instead of the first four changes nothing here: the events are
kept up to 2,048 per clip (four windows), and only 3% of EMOPIA's clips are longer than that.
Rerun: `python -m models.training.pretrain_events` (writes `models/.cache/emotion_events_pretrained.pt`), then
`python -m models.training.train_emotion --sequence events --sequence-init models/.cache/emotion_events_pretrained.pt`
(validation, ~20 min) and, after `--cv`, `--cv --sequence events --cv-seeds 2 --sequence-init ...` (~30 min);
`--sequence-lr`, `--sequence-epochs` for the screens; the longer pretraining: `python -m models.training.pretrain_events
--steps 2400 --threads 1 --output models/.cache/pre2400.pt`, then `--sequence events --sequence-init models/.cache/pre2400.pt`.
"""


# the sequence recipes judged with test-time transposition averaging (``--sequence-tta 2``), each beside
# the same members read plainly: (what the card calls it, its cache tag)
TTA_RECIPES = (("pretrained 1,200 steps", "sequence_events_pre"), ("pretrained 2,400 steps", "sequence_events_pre-pre2400"))
TTA_SEMITONES = 2


def _tta_text(cache: Path) -> str:
    """The card's account of test-time transposition averaging for the sequence member, and of the
    longer pretraining cross-validated: both judges, the same rule as the pretrained member, the verdict."""
    rows = {r["tag"] + "_" + r["epochs"]: r for r in _pretrained_rows(cache)}
    pairs = [(label, rows.get(f"{tag}_{SEQUENCE_EPOCHS}e"), rows.get(f"{tag}_tta{TTA_SEMITONES}_{SEQUENCE_EPOCHS}e"))
             for label, tag in TTA_RECIPES]
    pairs = [(label, plain, tta) for label, plain, tta in pairs if plain and tta]
    if not pairs:
        return ("**Test-time transposition averaging**: run `--sequence events --sequence-init PATH --sequence-tta 2` "
                "and `--cv --sequence events --cv-seeds 2 --sequence-init PATH --sequence-tta 2` for its table.")

    def singles(result: dict) -> str:
        return f"{np.mean(result['sequence_single']):.3f} ± {np.std(result['sequence_single']):.3f}"

    alone = "; ".join(f"{label}: {plain['cv']['sequence']:.3f} / {plain['val']['sequence']:.3f} read plainly, "
                      f"{tta['cv']['sequence']:.3f} / {tta['val']['sequence']:.3f} averaged (single members on "
                      f"validation {singles(plain['val'])} and {singles(tta['val'])})" for label, plain, tta in pairs)
    reproduced = all(tta[judge].get("plain", plain[judge])["grid"] == plain[judge]["grid"]
                     for _, plain, tta in pairs for judge in ("cv", "val"))
    # judged this round: every recipe averaged over transpositions, and the longer pretraining read plainly
    # too (the 1,200-step recipe read plainly is the pretrained member's table above)
    new_rows = [(f"{label}, averaged over transpositions", tta) for label, _, tta in pairs]
    new_rows += [(f"{label}, read plainly", plain) for label, plain, _ in pairs if label != TTA_RECIPES[0][0]]
    tables = "\n\n".join(f"{name} (cross-validation / validation split):\n\n"
                          f"{_sequence_table(row['cv'], row['val'], PRETRAIN_RULE_CV, PRETRAIN_RULE_VAL)}"
                          for name, row in new_rows)
    candidates = [(c, name) for name, row in new_rows for c in row["passing"]]
    n_cells = sum(row["cells"] for _, row in new_rows)
    if candidates:
        (a, v, ws, w, b), label = max(candidates, key=lambda item: (item[0][0] + item[0][1], item[0][0]))
        verdict = (f"{len(candidates)} of the {n_cells} new cells pass the rule; the best mean of the two judges "
                   f"among them is {label}, sequence {ws}, LR {w}, trees {b} ({a:.3f} / {v:.3f}).")
    else:
        cells = [(a, v, f"{name}, sequence {ws}, LR {w}, trees {b}") for name, row in new_rows
                 for ws, g in row["cv"]["grid"].items() if ws != "0.0" for w, r in g.items()
                 for b, a in r.items() for v in [row["val"]["grid"][ws][w][b]]]
        val_ok = [c for c in cells if round(c[1], 3) >= PRETRAIN_RULE_VAL]
        cv_ok = [c[1] for c in cells if c[0] >= PRETRAIN_RULE_CV - 1e-9]
        a, v, where = max(val_ok) if val_ok else (0.0, 0.0, "none")
        n_cv = 965  # the clips cross-validation reads: train + val
        short = int(np.ceil(PRETRAIN_RULE_CV * n_cv - 1e-6)) - round(a * n_cv)
        gains = "; ".join(f"{label} {100 * (tta['cv']['sequence'] - plain['cv']['sequence']):+.1f} / "
                          f"{100 * (tta['val']['sequence'] - plain['val']['sequence']):+.1f} points"
                          for label, plain, tta in pairs)
        verdict = (f"**No cell passes** ({n_cells} new cells). Transposition averaging helps the member alone "
                   f"(cross-validation / validation: {gains}), not the blends, and the two judges disagree as "
                   f"before: the {len(val_ok)} cells that reach the validation bar score "
                   f"{min(c[0] for c in val_ok):.3f}-{a:.3f} in cross-validation, the {len(cv_ok)} that reach the "
                   f"cross-validation bar {min(cv_ok, default=0):.3f}-{max(cv_ok, default=0):.3f} on validation. The "
                   f"nearest, {where} ({a:.3f} / {v:.3f}), is {short} clips of {n_cv} short of the cross-validation bar. "
                   "The shipped weights are unchanged and the test split was not read.")
    return f"""**This round: test-time transposition averaging** (`--sequence-tta {TTA_SEMITONES}`,
`models/emotion_sequence.py: sequence_probabilities(shifts=...)`): the member is trained on windows
transposed by up to ±3 semitones, so at reading time each 512-event window is also read transposed by
±1 and ±2 semitones (clamped to the piano, as in training) and the five readings' probabilities are
averaged. Judged by the pretrained member's rule (cross-validation >= {PRETRAIN_RULE_CV}, validation >= {PRETRAIN_RULE_VAL}), on the same trained
members read both ways (a paired comparison; {"the plain readings reproduce the earlier runs" if reproduced
else "the plain readings differ from the earlier runs', which were not run again"}), and the
longer pretraining (2,400 steps) cross-validated as well. The member alone, cross-validation / validation:
{alone}.

{tables}

{verdict}
Rerun (after `--cv`): `python -m models.training.train_emotion --sequence events --sequence-init PATH --sequence-tta 2`
(validation, ~25 min) and `--cv --sequence events --cv-seeds 2 --sequence-init PATH --sequence-tta 2`
(~50 min at load 3), for PATH `models/.cache/emotion_events_pretrained.pt` and `models/.cache/pre2400.pt`
(`python -m models.training.pretrain_events` and `python -m models.training.pretrain_events --steps 2400 --threads 1 --output
models/.cache/pre2400.pt`).
"""


def write_card(results: dict) -> None:
    m, b, t = results["model"], results["baseline"], results["trees_test"]
    recall = m["per_class_recall"]
    worst = min(recall, key=recall.get)
    confusion = np.array(m["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    a, p = np.unravel_index(off.argmax(), off.shape)
    cache = HERE / ".cache"
    seeds = f"{results['seeds'][0]}-{results['seeds'][-1]}"
    other_path = cache / f"emotion_results_train_val_seeds{seeds}.json"  # the train + val fit (--no-save)
    other = json.loads(other_path.read_text()) if other_path.exists() else None
    cv_path = cache / f"emotion_cv_{results['n_features']}f_3s.json"
    cv = json.loads(cv_path.read_text()) if cv_path.exists() else None
    singles = np.array(results["single_members_test"])
    n = m["n"]
    se = float(np.sqrt(m["accuracy"] * (1 - m["accuracy"]) / n))
    v = results["model_val"]
    val_text = (f"Validation split ({v['n']} clips): shipped model {v['accuracy']:.3f} "
                f"(valence {v['valence_accuracy']:.3f}, arousal {v['arousal_accuracy']:.3f}), its nets alone "
                f"{results['nets_only_val']:.3f}, logistic regression {results['baseline_val']:.3f}, boosted trees "
                f"{results['trees_val']:.3f}, single members + blend {np.mean(results['single_members_val']):.3f} ± "
                f"{np.std(results['single_members_val']):.3f}, its sequence member alone {results.get('sequence_val', float('nan')):.3f}; "
                f"the previous shipped model (the same blend on 101 descriptors) 0.687, the blend before it (nets + LR + trees) "
                f"{PREVIOUS['val']:.3f}, the round before 0.677.")
    val_grid = results["val_grid"]
    if other:
        o = other["model"]
        other_row = (f"| the previous round's recipe fitted on train + val (965 clips; not shipped, see below; test read 1) | "
                     f"{o['accuracy']:.3f} | {o['valence_accuracy']:.3f} | {o['arousal_accuracy']:.3f} |\n"
                     f"| its nets alone | {other['nets_only_test']:.3f} | | |\n")
        read_1 = (f"1. the recipe fitted on train + val (`--fit-on train+val --no-save`), the first candidate: "
                  f"{o['accuracy']:.3f} (nets alone {other['nets_only_test']:.3f}); not shipped, see below.")
    else:
        other_row, read_1 = "", ""
    if cv:
        cv_text = f"""Song-grouped 5-fold cross-validation on train + val (965 clips, whole songs per fold, {cv['seeds_per_fold']} members
per fold, out-of-fold accuracy; `--cv`): nets alone {cv['nets']:.3f} (spread over folds ±{cv['nets_fold_sd']:.3f}),
logistic regression alone {', '.join(f'C={c}: {x:.3f}' for c, x in cv['lr'].items())} (C={LR_C} kept), boosted trees
alone {cv['trees']:.3f}; the previous round's recipe (nets + LR C=0.3 at w=0.1) {cv['blend_lr_only']['0.3']['0.1']:.3f}.
The blends of nets, LR and trees (cross-validation / validation split; the previous round's shipped pair in bold):

{_grid_table(cv['grid'], val_grid)}
"""
    else:
        cv_text = "(run `--cv` for the cross-validation table)"
    seq_cv_path = cache / f"emotion_cv_sequence_{SEQUENCE_KIND}_2s_{SEQUENCE_EPOCHS}e.json"
    seq_val_path = cache / f"emotion_val_sequence_{SEQUENCE_KIND}_5m_{SEQUENCE_EPOCHS}e.json"
    if seq_cv_path.exists() and seq_val_path.exists():
        seq_text = _sequence_table(json.loads(seq_cv_path.read_text()), json.loads(seq_val_path.read_text()))
    else:
        seq_text = "(run `--cv --sequence events --cv-seeds 2` and `--sequence events` for the table)"
    nets_share = 1 - BLEND_WEIGHT - BOOST_WEIGHT - SEQUENCE_WEIGHT
    seq_cv = json.loads(seq_cv_path.read_text()) if seq_cv_path.exists() else None
    seq_val = json.loads(seq_val_path.read_text()) if seq_val_path.exists() else None
    seq_cv_alone = f"{seq_cv['sequence']:.3f}" if seq_cv else "?"
    pre_path = cache / f"emotion_cv_sequence_{SEQUENCE_KIND}_pre_2s_{SEQUENCE_EPOCHS}e.json"
    pre_cv_alone = (f"; {json.loads(pre_path.read_text())['sequence']:.3f} when pretrained on 2 M events of "
                    "unlabelled piano performances first" if pre_path.exists() else "")
    best_path = cache / f"emotion_cv_sequence_{SEQUENCE_KIND}_pre-pre2400_tta{TTA_SEMITONES}_2s_{SEQUENCE_EPOCHS}e.json"
    if best_path.exists():
        pre_cv_alone += (f", {json.loads(best_path.read_text())['sequence']:.3f} pretrained twice as long and read "
                         "at five transpositions")
    seq_val_alone = f"{seq_val['sequence']:.3f}" if seq_val else "?"
    val_cells = ([a for ws, g in seq_val["grid"].items() if ws != "0.0" for row in g.values() for a in row.values()]
                 if seq_val else [])
    seq_val_range = f"{min(val_cells):.3f}-{max(val_cells):.3f}" if val_cells else "?"
    seq_val_level = sum(a >= 136 / 198 - 1e-9 for a in val_cells)
    seq_cells = sum(len(row) for ws, g in seq_cv["grid"].items() if ws != "0.0" for row in g.values()) if seq_cv else "?"
    text = f"""# Emotion model (EMOPIA quadrants)

`models/emotion.py`, weights `models/weights/emotion.pt`, trained by `python -m models.training.train_emotion`
(one command, CPU, {results['train_seconds'] / 60:.0f} min on a shared 2-core machine, run with `nice -n 5`).

## What it predicts

The Russell quadrant of a piano piece as EMOPIA labels it: **Q1** happy/excited (high valence, high
arousal), **Q2** tense/angry (low valence, high arousal), **Q3** sad (low valence, low arousal), **Q4**
calm (high valence, low arousal). Valence = P(Q1)+P(Q4)-P(Q2)-P(Q3) and arousal = P(Q1)+P(Q2)-P(Q3)-P(Q4),
both in [-1, 1]. A piece longer than 36 s is cut into 30 s windows (EMOPIA clips are ~30 s) and the
probabilities are averaged.

## Model

Three models, blended:
softmax({nets_share:.1f} log p_nets + {BLEND_WEIGHT} log p_LR + {SEQUENCE_WEIGHT} log p_sequence)
(the boosted trees of the previous round have weight {BOOST_WEIGHT} in the blend chosen below and are not shipped).

* **nets**: an ensemble of {len(results['seeds'])} small `TokenFeatureNet`s (`models/encoder.py`, 32-wide embeddings;
  seeds {seeds}): a two-layer residual 1-D convolution over the first 512 notes (pitch class relative
  to the estimated tonic, octave, duration and time to the next chord in seconds, top-of-chord flag,
  chord size) with mean/max pooling, beside an MLP on {results['n_features']} descriptors: 45 from
  `models/features.py: emotion_vector` (register, density and rhythm in seconds, key and mode strength,
  pitch classes relative to the tonic, harmony and consonance, top-line intervals, dynamics) and 56 from
  `models/emotion_features.py: valence_features` (which major/minor triads sound on which scale degree, the
  bass line's and the top line's pitch classes relative to the tonic, whether the bass line and
  8-second windows read major or minor, whether the clip ends on the tonic or dominant in the bass)
  and, since the evening round of issue 26, 70 from `models/emotion_musician.py: musician_features` (a
  musician's windowed descriptors: per 6 s window, key clarity, major minus minor, chromaticism, thirds over
  the bass, dissonance, attacks a second, loudness, register, summarised by mean, spread, minimum and maximum).
  Heads: quadrant, valence half, arousal half; the quadrant probabilities are sharpened by the two
  half heads. Class-balanced loss, AdamW with a cosine schedule, {results['epochs']} epochs, the last epoch kept.
* **LR**: logistic regression on the standardised descriptors (the same {results['n_features']}), C = {LR_C}.
* **sequence**: the EMOPIA paper's own symbolic baseline, an ensemble of {len(results['seeds'])} LSTM-attention
  nets (`models/encoder.py: SequenceLSTMNet`, `models/emotion_sequence.py`; seeds {seeds}): MIDI-like
  performance events (`models/emotion_features.py: event_tokens`: note-on and note-off for each of 88 keys,
  time shifts of 20 ms up to 1 s, 16 velocity bins; a score without dynamics gets EMOPIA's mean
  loudness), a 64-wide embedding, a bidirectional LSTM (64 units each way) and structured
  self-attention pooling (4 hops, Lin et al. 2017), then the same three heads and loss as the nets.
  Trained on a random 512-event window of each clip per epoch with a random transposition of up to
  ±3 semitones, {SEQUENCE_EPOCHS} epochs, the last kept; a clip is read as the mean over its first four 512-event
  windows (a 30 s clip has 400-1900 events). It sees no hand descriptors and no key.
* **trees** (fitted and reported, weight {BOOST_WEIGHT} in the blend): gradient-boosted trees on the descriptors
  (scikit-learn `HistGradientBoostingClassifier`, 150 rounds of depth-3 trees, learning rate 0.05, L2 1.0),
  walked in numpy from plain tensors when shipped (`models/boosted_trees.py`; equal to scikit-learn's output, tested).

All are fitted on the official **train** split (767 clips), like the previous rounds' models.
C and the blend weights were chosen by cross-validation on train + val, with the validation
split as a second check (below); no number was chosen on the test split. Fitting the previous
round's recipe on train + val (965 clips) was tried and not shipped (below: it calls a chorale happy).

Inputs are chosen so that a notated score and a performed clip give the same numbers: no metric grid
(EMOPIA clips are unquantised transcriptions), chords are notes starting within 50 ms, and a score
without dynamics (all velocities equal) gets EMOPIA's mean loudness instead of its flat velocity.
Weights: {WEIGHTS.stat().st_size / 1e6 if WEIGHTS.exists() else 0:.1f} MB (nets 1.0 MB, sequence members 3.4 MB).

## Data and splits

EMOPIA (Hung et al., ISMIR 2021): 1,078 piano clips from 387 songs, labelled by quadrant. The official
song-level split files `dataset/split/{{train,val,test}}.csv`: {results['sizes']} clips
(train / val / test). Licence: **CC BY-NC-SA 4.0** (non-commercial; the weights are derived from it and
carry the same restriction). The data is read from `../shared/data/emopia`, never copied into this repository.

## Results on the official test split ({n} clips, 32 songs)

| model | 4-quadrant accuracy | valence accuracy | arousal accuracy |
|---|---|---|---|
| **this model (shipped: nets + LR on the 101 + 70 musician's descriptors, + sequence, fitted on the train split, seeds {seeds}; test read 5)** | **{m['accuracy']:.3f}** | **{m['valence_accuracy']:.3f}** | **{m['arousal_accuracy']:.3f}** |
| the previous shipped model (the same blend on the 101 descriptors; test read 3) | 0.640 | 0.767 | 0.872 |
| valence-times-arousal trees as a fifth member at 0.3 (a later round; not shipped, test read 4) | 0.593 | 0.721 | 0.872 |
| its nets alone (no blend) | {results['nets_only_test']:.3f} | | |
| its sequence member alone (LSTM-attention over MIDI-like events) | {results.get('sequence_test', float('nan')):.3f} | | |
| its single members (+ blend), {singles.size} seeds: mean ± std | {singles.mean():.3f} ± {singles.std():.3f} | | |
| logistic regression alone (this script, C={LR_C}): the baseline | {b['accuracy']:.3f} | {b['valence_accuracy']:.3f} | {b['arousal_accuracy']:.3f} |
| boosted trees alone | {t['accuracy']:.3f} | {t['valence_accuracy']:.3f} | {t['arousal_accuracy']:.3f} |
| previous round, shipped (nets + LR 0.1 + trees 0.2, fitted on train; test read 2) | {PREVIOUS['test']:.3f} | {PREVIOUS['valence']:.3f} | {PREVIOUS['arousal']:.3f} |
{other_row}| the round before (nets + LR C=0.3 at w=0.1 chosen on val, fitted on train; seeds 0-4) | 0.616 | 0.767 | 0.849 |
| the round before, ensembles of 5 over 3 seed groups: mean ± std | 0.609 ± 0.005 | 0.748 ± 0.015 | 0.857 ± 0.005 |
| first round (45 descriptors, each member's best of 30 epochs on val; seeds 0-4) | 0.674 | 0.802 | 0.860 |
| first round recipe, ensembles of 5 over 3 seed groups (0.674, 0.593, 0.651) | 0.639 ± 0.034 | | |
| previous logistic regressions (train only): 101 descriptors C=0.3 / 45 descriptors C=0.03 | 0.570 / 0.616 | | |
| published: logistic regression (EMOPIA paper) | 0.58 | | |
| published: LSTM-attention (EMOPIA paper) | 0.68 | | |
| published: MidiBERT-Piano | 0.68 | | |

Target >= 0.68 on the test split: {'**reached**' if m['accuracy'] >= 0.68 else '**not reached**'} ({m['accuracy']:.3f}).
**The test split is too small to rank models that differ by a few points**: {n} clips from 32 songs,
so one clip is {100 / n:.1f} points, the binomial standard error is ±{100 * se:.0f} points (95% interval about
{m['accuracy'] - 1.96 * se:.2f}-{m['accuracy'] + 1.96 * se:.2f}), and errors come in songs (clips of one song share
their label and their sound).

{val_text}

### Every read of the test split

Earlier rounds (see git history of this card): the first round's shipped ensemble and two more of its
seed groups; the round before's recipe over three seed groups and its logistic regression. The previous
round, after its choices were fixed:

{read_1}
2. the previous round's recipe fitted on the train split, shipped then: {PREVIOUS['test']:.3f}.

This round (the LSTM-attention sequence member), after the recipe was fixed by the rule below
(cross-validation >= 0.705 and validation >= 0.687) and the chorale-calmer-than-reel check had passed
on the saved weights (`--hold-test`, then `--read-test`):

3. nets + LR + sequence fitted on the train split, shipped then: 0.640 (valence 0.767,
   arousal 0.872; its sequence member alone 0.547).

A later round (valence and arousal as two classifiers, below), after its recipe was fixed by its
cross-validation rule and the chorale-calmer-than-reel check had passed on the saved weights
(`--reuse-members --hold-test`, then `--read-test`; that code is commit 398156a, reverted since the candidate
was not shipped):

4. nets 0.2 + LR 0.3 + sequence 0.2 + valence-times-arousal trees 0.3 (the shipped members, LR
   and sequence fitted on the train split, the new trees too): 0.593 (valence 0.721, arousal 0.872;
   recall Q1 0.83, Q2 0.53, Q3 0.30, Q4 0.65): 4 clips below the shipped 0.640. Not shipped.

The evening round of issue 26 (docs/benchmarks.md, "Emotion: why validation disagrees with CV"), after the
nets and LR fed the musician's 70 descriptors passed that round's rule (song-grouped cross-validation over 4
partitions, paired: +1.7 points, more than twice its song-clustered error; the validation split read as one more
fold, -0.5 ± 2.0 points, no contradiction) and the checks beyond EMOPIA had passed on the saved weights
(`--hold-test`, `python -m models.training.emotion_checks`, `tests/test_critique.py`, then `--read-test`):

5. nets and LR on the 101 + 70 descriptors + the sequence member, fitted on the train split: {m['accuracy']:.3f}
   (valence {m['valence_accuracy']:.3f}, arousal {m['arousal_accuracy']:.3f}). Shipped, as the rule said before the read, whatever it read.
   The same training run scored its logistic regression and boosted trees alone on the test split too (every run
   does; table above).

Rerunning the command, and `python -m tests.bench critique`, read the shipped model's test accuracy again
(the same model, not a new choice).

**Why the train + val fit was not shipped.** Fitted on 965 clips instead of 767, the nets read
notated scores, which lie outside EMOPIA (flat velocities, metronomic tempo), differently: the
Bach chorale BWV 66.6 came out Q1 happy (P 0.56, Q4 calm 0.41; its five members alone 0.41-0.71 for
Q1), where the train-split nets say Q4 calm (members 0.62-0.92 for Q4), and the repository's check
that a chorale reads calmer than a fiddle reel (`tests/test_critique.py`) failed. That score check
decided, not the test split: on the test split the train + val fit scored one clip higher (see the
reads above), within its ±5 points. Nothing on EMOPIA says which fit is better (the validation split
is inside the train + val fit, and cross-validation shows no gain from more clips for the logistic
regression).

### How the recipe was chosen (cross-validation and the validation split only)

{cv_text}
The previous round kept the pair (LR 0.1, trees 0.2): the best mean of the two (cross-validation and the
validation split with the nets as 5 members fitted on the train split), and the best cross-validation
accuracy among the pairs that do not score below the round before's 0.677 on validation. Heavier
tree weights score up to 0.71 in cross-validation but 0.65-0.67 on validation: the two judges disagree
there, and within their noise (±1.5 and ±3.3 points) nothing heavier is clearly better.

**This round: the LSTM-attention sequence member** (the EMOPIA paper's own baseline, above). The rule was
fixed before it was tried: ship a new recipe only if its cross-validation accuracy is >= {RULE_CV} and its
validation accuracy >= {RULE_VAL} (both at least the previous round's {PREVIOUS['cv']:.3f} / {PREVIOUS['val']:.3f}), it keeps the
chorale-calmer-than-reel check, a 32-bar piece stays under 300 ms and the weights under ~5 MB; read the
test split once only after that. Cross-validation: the same song folds, 2 sequence members per fold
(`--cv --sequence events --cv-seeds 2`, after `--cv` has cached the other models' out-of-fold
probabilities); validation: 5 members fitted on the train split beside the shipped nets, LR and trees
(`--sequence events`). The member alone is weak ({seq_cv_alone} in cross-validation, {seq_val_alone} on validation:
below the logistic regression), but its errors differ from the descriptor models': at the previous
round's LR/trees pair every sequence weight gains 1-2 points in cross-validation, while on the
validation split the same blends lose 1-4 points; over all {seq_cells} cells with a sequence share, validation
reads {seq_val_range}, and {seq_val_level} of them reach the previous round's 136 of 198 clips.
The blends (cross-validation / validation split):

{seq_text}

The single passing cell (nets 0.5, LR 0.3, sequence 0.2, trees 0) is shipped: it is also the best mean of
the two judges among the passing cells, as the previous rounds chose. Checked on the saved weights
before the test read: the chorale BWV 66.6 reads Q4 calm (P 0.56) and the reel Q2 tense (arousal
-0.19 against +0.77; `tests/test_critique.py` passes); style + emotion on 32 bars of Chopin op. 10/4
(878 notes) take 91-96 ms (`python -m tests.bench critique`, load average ~2 on the shared 2 cores;
the previous blend 120 ms at load 3); the weights are 4.6 MB. **Read this with care**: it was found
by scanning {seq_cells} blend cells with a sequence share, it clears the cross-validation bar by less than one
clip (681 of 965 clips right, where 0.705 is 680.3; ±1.5 points of noise) and ties the previous round on
validation (136 of 198 clips both); the gain over the previous round is not established by either
judge, and the test split cannot settle it either (read 3 above: {m['accuracy']:.3f} against {PREVIOUS['test']:.3f},
{round((m['accuracy'] - PREVIOUS['test']) * n)} clips of 86, inside its ±5 points).

Also screened on the validation split with one member each, not cross-validated and not shipped (the
time went to the events member, the paper's baseline): the same LSTM-attention over the nets' note
tokens instead of events (0.591 alone; blends 0.652-0.687) and over note tokens beside the descriptor
MLP (0.652 alone; blends 0.657-0.672).

{_pretrain_text(cache)}

{_tta_text(cache)}

**A later round: valence and arousal as two classifiers** (`python -m models.training.emotion_halves_cv`,
after `--cv --cv-seeds 1` and `--cv --sequence events --cv-seeds 1`). Arousal is the easy half (0.89 in
cross-validation) and valence the weak one (0.76; within the calm half, Q3 against Q4, 0.72-0.74, against
0.79-0.81 within the excited half). Tried on the descriptors, on the same song folds (out of fold, 965
clips): **factorised** (one binary classifier for valence, one for arousal, P(Q) = P(valence) P(arousal))
and **hierarchical** (an arousal classifier, then a valence classifier fitted within each arousal half),
against the direct 4-way model:

| descriptors model | 4-way | factorised | hierarchical |
|---|---|---|---|
| logistic regression C=0.003 | 0.677 | 0.666 | 0.675 |
| logistic regression C=0.01 | 0.689 | 0.688 | 0.686 |
| logistic regression C=0.03 | 0.680 | 0.679 | 0.691 |
| logistic regression C=0.1 | 0.669 | 0.674 | 0.669 |
| boosted trees (the shipped setting) | 0.690 | **0.702** (valence 0.771, arousal 0.911) | 0.679 |

The rule was fixed before any blend with it was seen: the factorised trees join the shipped blend
(nets 0.5, LR 0.3, sequence 0.2) at a share of 0.1, 0.2 or 0.3 taken from the nets, and are shipped only
if the best share beats the shipped blend by 10 clips of 965 (0.010) in the same cross-validation (one
net and one sequence member per fold) and the chorale-calmer-than-reel check holds; then the test split
is read once. Cross-validation: shipped blend 0.698; with the factorised trees 0.708 / 0.707 / **0.711**
(0.1 / 0.2 / 0.3): it passed (36 clips right that the shipped blend gets wrong, 24 the other way; better
in 4 of 5 folds). The 4-way trees in the same place score the same (0.708 / 0.706 / 0.711), so the gain
is the trees', not the factorisation's; the halves fitted by the logistic regression add less (0.701-0.704).
But the gain sits on the clips of the official train split (out of fold 0.700 -> 0.724); on the
validation split's 198 clips the same out-of-fold readings lose (0.692 -> 0.662), and fitted on the
train split the blend scored 0.662 on validation against the shipped 0.687 (valence 0.732, arousal 0.909).
The chorale stayed Q4 calm (P 0.38) and the reel became Q1 happy (P 0.51; arousal -0.20 against +0.47).
The test split, read once (read 4 above): 0.593 against the shipped 0.640. Both official held-out splits
say what the previous rounds found for heavier tree shares (better in cross-validation, worse on the
official splits), so the shipped weights are unchanged (the code that read such trees, commit 398156a,
was reverted: `git show 398156a`). Keeping the old blend was decided with
the test read in view (the validation split pointed the same way before it): the test split has now been
read 4 times, and its 0.640 for the shipped model is no longer an untouched estimate.

Tried and not kept (a throw-away harness on the same folds; one member per fold where it says so):

* **Label-keeping augmentation** with the descriptors recomputed on the changed clip: 4 copies of every
  clip with tempo stretched ×0.88-1.12, velocities scaled ×0.85-1.15 and offset ±8, 8 ms onset jitter,
  up to 10% of the notes dropped and a transposition of up to ±2 semitones. Nets trained on half
  original, half augmented clips: 0.682 in cross-validation (one member per fold) against 0.687 without;
  the logistic regression on original + augmented rows 0.681 against 0.689 (validation 0.652 against
  0.636); the trees 0.697 against 0.690 (validation 0.611 against 0.631). No consistent gain.
* **More valence descriptors** for Q3 against Q4 (12 more: how often the top line and the bass line
  step down or up, the top line's mean interval and slope over time, the velocity's trend and range,
  the velocity-pitch correlation, the top-to-bass spread, the share of sonorities with a minor rather
  than a major third above the bass): logistic regression 0.680 against 0.689 in cross-validation and
  0.606 against 0.636 on validation; trees 0.703 against 0.690 and 0.601 against 0.631. Not kept.
* **Other classifiers on the descriptors** (cross-validation / validation): RBF support vector machine
  (C=1) 0.692 / 0.611, random forest 0.696 / 0.606, extra trees 0.693 / 0.611, larger boosted trees
  (15 leaves, 200 rounds) 0.696 / 0.591, the kept small boosted trees 0.690 / 0.631, logistic
  regression C=0.01 0.689 / 0.636. All sit at 0.69-0.70 in cross-validation.
* **The heavier LR blend** the previous card pointed to (w=0.4-0.5, C=0.03: 0.702-0.703 with one member
  per fold): with three members per fold it is {cv['blend_lr_only']['0.03']['0.4'] if cv else float('nan'):.3f} (w=0.4) and {cv['blend_lr_only']['0.03']['0.5'] if cv else float('nan'):.3f} (w=0.5); most of that gain was one
  member's noise. On validation it scored 0.662-0.672.
* **How noisy cross-validation itself is**: the logistic regression (C=0.01) over three other random
  song partitions scores 0.682, 0.647 and 0.687 in 5-fold cross-validation, and 3-fold (643 training
  clips) 0.685 against 10-fold (868) 0.681 on average: the partition alone moves it by ±2 points and
  there is no visible gain from more clips in that range for the logistic regression.

**A later round: a musician's windowed descriptors** (`models/training/emotion_musician.py`, harness
`python -m models.training.emotion_musician_cv`; measured, not shipped in that round; shipped in the evening
round, read 5 above). 70 more descriptors, each computed in
6-second windows (hop 3 s) and summarised by mean, spread, minimum and maximum: valence cues (key clarity,
major minus minor key correlation, notes outside the key's scale, major or minor thirds over the bass,
semitone and tritone clashes, whether the window's key agrees with the clip's) and arousal cues (notes and
attacks a second, loudness and its spread, register, span, lowest note, notes sounding at once), plus the
clip's trends. Judged by song-grouped 5-fold cross-validation on train + val over 6 song partitions (mean ±
spread over partitions) and on the validation split (fitted on train):

| descriptors model | old 101 | new 70 | old + new |
|---|---|---|---|
| logistic regression C=0.01, 4-way | 0.675 ± 0.014 / 0.636 | 0.680 ± 0.003 / 0.621 | 0.694 ± 0.007 / 0.672 |
| logistic regression C=0.01, factorised | 0.681 ± 0.011 / 0.631 | 0.677 ± 0.006 / 0.636 | 0.705 ± 0.010 / 0.687 |
| boosted trees, 4-way | 0.686 ± 0.013 / 0.631 | 0.690 ± 0.009 / 0.606 | 0.703 ± 0.012 / 0.646 |
| boosted trees, factorised | 0.692 ± 0.006 / 0.646 | 0.700 ± 0.010 / 0.626 | 0.714 ± 0.009 / 0.672 |

The sustain pedal (share of time down, presses a second; performances only, a score has none) adds nothing
(old + new + pedal: 0.704 ± 0.008 / 0.682 for the factorised LR, 0.714 ± 0.006 / 0.682 for the trees).
The nets fed old + new descriptors (the shipped recipe otherwise; one member per fold with the cached run's
seeds, a paired comparison): partition 123 / 1 / 2 0.687 / 0.668 / 0.693 -> 0.708 / 0.708 / 0.712; the LR
(C=0.01, 4-way) 0.689 / 0.647 / 0.687 -> 0.699 / 0.686 / 0.693; nets and LR at the shipped 5:3 ratio (no
sequence member) 0.698 / 0.681 / 0.703 -> 0.706 / 0.706 / 0.715 (+1.5 ± 0.7 points). On the validation split
(5 nets fitted on train): nets 0.667 -> 0.682, LR 0.636 -> 0.672, nets and LR 5:3 0.682 -> 0.697. Every member
gains on both judges. **The shipped blend does not**: the candidate fixed before it was seen (the shipped
shares, nets 0.5, LR 0.3, sequence 0.2, with the nets and the LR fed old + new descriptors; the same sequence
member) scores 0.715 in cross-validation (partition 123, the only one with the sequence member's out-of-fold
readings; 67 clips right that the shipped blend gets wrong, 51 the other way) against 0.698, but 0.682 on
validation against 0.687 (valence 0.753 against 0.763, arousal 0.894 against 0.904). As in the earlier rounds
the cross-validation gain sits on the train split's clips (out of fold 0.700 -> 0.726), while the validation
split's clips lose (0.692 -> 0.672). With the shares chosen by cross-validation instead (nets 0.3, LR 0.4,
sequence 0.3: 0.727) validation reads 0.692 (+1 clip); the same procedure on the shipped members picks
(0.3, 0.3, 0.4) at 0.708 / 0.652. Every member refitted on song partition 1 (one net, LR and sequence member
per fold; and on partition 2): shipped blend 0.687 / 0.708, candidate 0.708 / 0.719 (the sequence member alone
0.607 / 0.624); over the three partitions shipped 0.698 ± 0.009, candidate 0.714 ± 0.005, a paired gain of
+1.6 ± 0.4 points: cross-validation says better by more than its spread, validation does not. Rule of this round (from the brief): ship only if cross-validation and the
validation split both say better by more than the cross-validation spread (about 1 point); validation does
not (-0.5 or +0.5 points), so the weights are unchanged and **the test split was not read** (still 4 reads then; the evening round's
rule, in docs/benchmarks.md, judged the same candidate over 4 partitions with song-clustered errors and shipped it: read 5 above).
Adding the new models as a fourth member of the shipped blend (shares 0.1-0.5) repeats the earlier rounds'
pattern: cross-validation 0.70-0.72, validation 0.64-0.70.
Rerun (none reads the test split): `OMP_NUM_THREADS=1 nice -n 15 python -m models.training.emotion_musician_cv`
(the descriptor models over 6 partitions and as a fourth member, ~8 min; descriptors cached in
`models/.cache/emopia_musician_v1_70.npz`), then `... emotion_musician_cv --nets 5` (the nets, ~10 min),
`--candidate` (the blends above, ~1 min), `--spread 123 1 2` (nets and LR on three partitions, ~45 min at load 7),
`--full 1`, `--full 2` (every member refitted on partitions 1 and 2, ~30 min each),
`--replace` (the LR alone refitted, over a grid of shares); results in `models/.cache/emotion_musician_*.json`.

The previous rounds chose the nets' recipe on the validation split (class balance, the 56 valence
descriptors, 20 fixed epochs with the last kept: single members 0.667 ± 0.007 on validation against
0.638 ± 0.014 for the first round's recipe at its last epoch).

Rerun: `python -m models.training.train_emotion` (shipped model, card; or `--hold-test`, checks, then `--read-test`),
`python -m models.training.train_emotion --cv` then `--cv --sequence events --cv-seeds 2` (cross-validation of the
sequence member's blends, ~25 min), `--sequence events` (their validation check, ~12 min), `python -m models.training.train_emotion --fit-on
train+val --no-save` (the train + val fit, then `--card-only`),
`python -m models.training.train_emotion --cv` (cross-validation, three members per fold, ~10 min),
`--first-seed N --no-save` (other seeds, not in the card).

Confusion matrix of the shipped model (test split):

{_confusion_table(m['confusion'])}

Recall per quadrant: {', '.join(f'{q} {r:.2f}' for q, r in recall.items())}.

## Where it fails

* **Sad taken for calm.** Arousal is right {m['arousal_accuracy']:.0%} of the time, valence only
  {m['valence_accuracy']:.0%}. The most frequent confusion is {QUADRANTS[a]} taken for {QUADRANTS[p]} ({off.max()} clips);
  the weakest quadrant is {worst} (recall {recall[worst]:.2f}). The errors cluster in songs:
  {_song_errors(results['wrong'])}. Calm (Q4) and sad (Q3) pop-piano pieces are both slow and soft,
  and many sad ones are in major keys or move between relative major and minor, so mode and harmony
  descriptors separate them only partly.
* **The ceiling on this data.** Every model and blend tried sits at 0.68-0.72 in cross-validation over
  965 clips, and the official validation and test splits are harder than the average fold (the models
  score 1-6 points lower on validation and 7-10 lower on test). The shipped model (the musician's
  descriptors added) is +1.7 ± 0.75 points above the previous one in song-grouped cross-validation over 4
  partitions, -0.5 ± 2.0 on validation (one song of 32 clips is 16 % of it; its effective size is 23 songs), and
  {m['accuracy']:.3f} against 0.640 on test (one clip is {100 / n:.1f} points; ±5 points), and {'it reaches' if m['accuracy'] >= 0.68 else 'none of it reaches'} 0.68 there. The
  paper's LSTM-attention baseline alone, over the same kind of events, is far from the paper's 0.68 here
  ({seq_cv_alone} in cross-validation{pre_cv_alone}): small data (767 training clips) and a CPU-sized net. Arousal is mostly right from
  tempo, density and loudness; valence (Q3 against Q4) is where the symbolic cues run out.
* **Notated scores are not performances.** The model was trained on transcribed performances with real
  velocities and rubato; a MusicXML score has flat velocities (80) and a metronomic tempo taken from the
  file (120 bpm when none is given). Loudness and tempo cues are then missing or wrong, and a slow piece
  written without a tempo mark reads as faster and calmer than it is.
* **The price of working on scores**: a first version used the same features as the style model
  (metric-grid positions, exact chord onsets, raw velocities). It reached 0.663 test / 0.667 validation
  accuracy on EMOPIA but labelled every notated score "tense" (Q2), because quantised onsets and flat
  velocities lie far outside the transcribed clips it was trained on. The quantisation-free inputs
  avoid that; what the shipped model says about a few scores: {SCORE_EXAMPLES}
* **Out of domain**: EMOPIA is pop/film piano. Chorales, string quartets and folk melodies are far
  from it; their quadrant is a rough guide, not a measurement (a monophonic tune has none of the
  chord and texture cues the model uses).
"""
    text = text.replace("\n\n\n", "\n\n")
    CARD.write_text(text, encoding="utf-8")
    print(f"card: {CARD}")


if __name__ == "__main__":
    raise SystemExit(main())
