"""The musician's windowed descriptors (``models.emotion_musician``) judged by song-grouped
cross-validation on train + val over several song partitions, and on the official validation split:
``OMP_NUM_THREADS=1 nice -n 15 python -m models.training.emotion_musician_cv`` (the test split is not read).

Models on the shipped descriptors (``old``: 101), the musician's (``new``) and both, with the logistic
regression (several C) and the boosted trees (the shipped setting); 4-way and factorised (P(Q) =
P(valence) P(arousal)). Then the best of them as a member added to the shipped blend, in log space, on
the partition whose out-of-fold probabilities of the shipped members are cached (``train_emotion --cv``,
``--cv --sequence events``) and on the validation split (the shipped model's own validation
probabilities). Results: ``models/.cache/emotion_musician_cv.json``.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

from .emotion_data import load_emopia, musician_table, with_musician
from .emotion_halves_cv import quadrants
from .emotion_loss import AROUSAL_HIGH, VALENCE_HIGH
from .train_emotion import HERE, LR_C, OOF_CACHE, _join, fit_boosted_trees, logistic_regression, song_of

RESULTS = HERE / ".cache" / "emotion_musician_cv.json"
PARTITIONS = (123, 1, 2, 3, 4, 5)  # 123 is train_emotion.song_folds' partition (its out-of-fold cache)


def song_partition(names: np.ndarray, seed: int, folds: int = 5) -> np.ndarray:
    songs = np.array([song_of(n) for n in names])
    unique = np.array(sorted(set(songs)))
    np.random.default_rng(seed).shuffle(unique)
    fold_of = {s: i % folds for i, s in enumerate(unique)}
    return np.array([fold_of[s] for s in songs])


def _model(kind: str, structure: str):
    """A function (x, y, x_held) -> quadrant probabilities."""

    def fit(x, y):
        if kind == "trees":
            return fit_boosted_trees(x, y)
        return logistic_regression(float(kind[3:])).fit(x, y)

    def predict(x, y, x_held):
        if structure == "4way":
            return fit(x, y).predict_proba(x_held)
        pv = fit(x, VALENCE_HIGH[y].astype(int)).predict_proba(x_held)[:, 1]
        pa = fit(x, AROUSAL_HIGH[y].astype(int)).predict_proba(x_held)[:, 1]
        return quadrants(pv, pa)

    return predict


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-9, 1.0))


def _softmax_logs(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=len(PARTITIONS))
    parser.add_argument("--replace", action="store_true",
                        help="only the shipped blend with its logistic regression refitted on old + new descriptors")
    parser.add_argument("--nets", type=int, default=0, metavar="M",
                        help="only the nets fed old + new descriptors: cross-validated on partition 123 (one member "
                             "per fold, the cached run's seeds) and M members fitted on train read on validation")
    parser.add_argument("--spread", type=int, nargs="+", default=None, metavar="SEED",
                        help="only the nets and LR, old against old + new descriptors, on these song partitions")
    parser.add_argument("--candidate", action="store_true",
                        help="only the shipped blend's shares with its nets (after --nets) and LR fed old + new")
    parser.add_argument("--full", type=int, default=None, metavar="SEED",
                        help="only the shipped blend and the candidate, every member refitted, on one song partition")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    data = load_emopia()
    pool = _join(data["train"], data["val"])
    all_names = sorted({*pool["names"].tolist(), *data["test"]["names"].tolist()})
    table, pedal = musician_table(all_names)
    index = {n: i for i, n in enumerate(all_names)}

    def sets(split: dict) -> dict[str, np.ndarray]:
        rows = np.array([index[n] for n in split["names"]])
        new = table[rows]
        return {"old": split["x"], "new": new, "old+new": np.hstack([split["x"], new]),
                "old+new+pedal": np.hstack([split["x"], new, pedal[rows]])}

    x_pool, x_train, x_val = sets(pool), sets(data["train"]), sets(data["val"])
    y, y_train, y_val = pool["y"], data["train"]["y"], data["val"]["y"]
    if args.replace:
        return replace_grid(data, x_pool, x_train, x_val)
    if args.full:
        return full_blend(data, x_pool, args.full)
    if args.candidate:
        return candidate(data, x_pool, x_train, x_val)
    if args.spread:
        return spread(data, x_pool, args.spread)
    if args.nets:
        return nets_with_new(data, x_pool, x_train, x_val, members=args.nets)
    candidates = [(f, k, s) for f in ("old", "new", "old+new", "old+new+pedal")
                  for k in ("lr_0.003", "lr_0.01", "lr_0.03", "trees") for s in ("4way", "factorised")]
    result: dict = {"clips": int(len(y)), "partitions": list(PARTITIONS[: args.partitions]), "alone": {}}
    oof_123: dict = {}
    for feats, kind, structure in candidates:
        predict = _model(kind, structure)
        accs = []
        for seed in PARTITIONS[: args.partitions]:
            fold = song_partition(pool["names"], seed)
            p = np.zeros((len(y), 4))
            for f in range(5):
                tr, held = fold != f, fold == f
                p[held] = predict(x_pool[feats][tr], y[tr], x_pool[feats][held])
            accs.append(float(np.mean(p.argmax(1) == y)))
            if seed == 123:
                oof_123[(feats, kind, structure)] = p
        pv = predict(x_train[feats], y_train, x_val[feats])
        name = f"{feats}|{kind}|{structure}"
        result["alone"][name] = {"cv": accs, "cv_mean": float(np.mean(accs)), "cv_sd": float(np.std(accs)),
                                 "val": float(np.mean(pv.argmax(1) == y_val)), "_val_p": pv}
        print(f"{name:36s} cv {np.mean(accs):.3f} ± {np.std(accs):.3f} ({' '.join(f'{a:.3f}' for a in accs)})"
              f"  val {result['alone'][name]['val']:.3f}", flush=True)

    oof = dict(np.load(OOF_CACHE)) if OOF_CACHE.exists() else {}
    seq = [k for k in oof if k.startswith("sequence_events_") and "pre" not in k and "tta" not in k]
    if {"nets", f"lr_{LR_C}", "y"} <= set(oof) and seq and np.array_equal(oof["y"], y):
        from ..emotion import probabilities

        shipped_cv = _softmax_logs(0.5 * _log(oof["nets"]) + 0.3 * _log(oof[f"lr_{LR_C}"]) + 0.2 * _log(oof[seq[0]]))
        val = data["val"]
        shipped_val = probabilities(val["tokens"], val["x"], val["events"].astype(np.int64))
        base = {"cv": float(np.mean(shipped_cv.argmax(1) == y)), "val": float(np.mean(shipped_val.argmax(1) == y_val))}
        result["shipped"] = base
        print(f"shipped blend: cv (partition 123) {base['cv']:.3f}  val {base['val']:.3f}", flush=True)
        result["blends"] = {}
        for (feats, kind, structure), p in oof_123.items():
            name = f"{feats}|{kind}|{structure}"
            pv = result["alone"][name]["_val_p"]
            row = {}
            for w in (0.1, 0.2, 0.3, 0.4, 0.5):
                cv = _softmax_logs((1 - w) * _log(shipped_cv) + w * _log(p))
                va = _softmax_logs((1 - w) * _log(shipped_val) + w * _log(pv))
                row[str(w)] = (float(np.mean(cv.argmax(1) == y)), float(np.mean(va.argmax(1) == y_val)))
            result["blends"][name] = row
            print(f"shipped + {name:36s}", "  ".join(f"{w}: {a:.3f}/{b:.3f}" for w, (a, b) in row.items()), flush=True)
    for r in result["alone"].values():
        r.pop("_val_p")
    RESULTS.write_text(json.dumps(result, indent=1))
    return 0


NETS_CACHE = HERE / ".cache" / "emotion_musician_nets.npz"


def nets_with_new(data: dict, x_pool: dict, x_train: dict, x_val: dict, *, members: int) -> int:
    """The shipped nets' recipe with the old + new descriptors as their feature input (paired with the
    cached out-of-fold nets on the old descriptors: same folds, same seeds)."""
    import time

    from .train_emotion import member_probabilities, train_member

    pool = _join(data["train"], data["val"])
    fold = song_partition(pool["names"], 123)
    y = pool["y"]
    oof = dict(np.load(OOF_CACHE))
    feats = "old+new"
    nets = np.zeros((len(y), 4))
    for f in range(5):
        began = time.time()
        tr, held = fold != f, fold == f
        split = {"x": x_pool[feats][tr], "tokens": pool["tokens"][tr], "y": y[tr]}
        state, _ = train_member(split, seed=f, epochs=20)
        nets[held] = member_probabilities([state], {"x": x_pool[feats][held], "tokens": pool["tokens"][held]})[0]
        print(f"  fold {f}: new {np.mean(nets[held].argmax(1) == y[held]):.3f}, "
              f"old {np.mean(oof['nets'][held].argmax(1) == y[held]):.3f} ({time.time() - began:.0f} s)", flush=True)
    print(f"nets cv (partition 123): old descriptors {np.mean(oof['nets'].argmax(1) == y):.3f}, "
          f"old + new {np.mean(nets.argmax(1) == y):.3f}", flush=True)
    train, val = data["train"], data["val"]
    states = [train_member({"x": x_train[feats], "tokens": train["tokens"], "y": train["y"]}, seed=s, epochs=20)[0]
              for s in range(members)]
    p_val = member_probabilities(states, {"x": x_val[feats], "tokens": val["tokens"]})
    print(f"nets val ({members} members, fitted on train): {np.mean(p_val.mean(0).argmax(1) == val['y']):.3f}; "
          f"single members {np.mean([np.mean(p.argmax(1) == val['y']) for p in p_val]):.3f}", flush=True)
    np.savez(NETS_CACHE, oof=nets, val=p_val.mean(0))
    return 0


CANDIDATE_RESULTS = HERE / ".cache" / "emotion_musician_candidate.json"


def candidate(data: dict, x_pool: dict, x_train: dict, x_val: dict) -> int:
    """The candidate fixed before it was seen: the shipped shares (nets 0.5, LR 0.3, sequence 0.2) with the
    nets (``--nets``' cache) and the LR (C=0.01, 4-way) fed old + new descriptors, the same sequence member;
    against the shipped blend on partition 123 (cached out-of-fold readings) and the validation split. Then
    the shares chosen by cross-validation alone, for the new members and the shipped ones."""
    from .emotion_loss import AROUSAL_HIGH, VALENCE_HIGH

    oof = dict(np.load(OOF_CACHE))
    seq_key = [k for k in oof if k.startswith("sequence_events_") and "pre" not in k and "tta" not in k][0]
    nets_new = np.load(NETS_CACHE)
    pool = _join(data["train"], data["val"])
    y, y_val = oof["y"], data["val"]["y"]
    fold = song_partition(pool["names"], 123)
    lr_new = np.zeros((len(y), 4))
    for f in range(5):
        tr, held = fold != f, fold == f
        lr_new[held] = logistic_regression(LR_C).fit(x_pool["old+new"][tr], y[tr]).predict_proba(x_pool["old+new"][held])
    lr_new_val = logistic_regression(LR_C).fit(x_train["old+new"], data["train"]["y"]).predict_proba(x_val["old+new"])
    val = shipped_members_val(data["val"])
    members = {"shipped": (oof["nets"], oof[f"lr_{LR_C}"], val["nets"], val["lr"]),
               "nets new": (nets_new["oof"], oof[f"lr_{LR_C}"], nets_new["val"], val["lr"]),
               "LR new": (oof["nets"], lr_new, val["nets"], lr_new_val),
               "candidate": (nets_new["oof"], lr_new, nets_new["val"], lr_new_val)}

    def mix(n, lr, seq, w=(0.5, 0.3, 0.2)):
        return _softmax_logs(w[0] * _log(n) + w[1] * _log(lr) + w[2] * _log(seq))

    def judged(p, truth):
        pred = p.argmax(1)
        return {"accuracy": float(np.mean(pred == truth)),
                "valence": float(np.mean(VALENCE_HIGH[pred] == VALENCE_HIGH[truth])),
                "arousal": float(np.mean(AROUSAL_HIGH[pred] == AROUSAL_HIGH[truth]))}

    out: dict = {}
    in_train = np.isin(pool["names"], data["train"]["names"])
    for name, (n, lr, n_val, lr_val) in members.items():
        cv, va = mix(n, lr, oof[seq_key]), mix(n_val, lr_val, val["seq"])
        out[name] = {"cv": judged(cv, y), "val": judged(va, y_val),
                     "cv_train_clips": float(np.mean(cv[in_train].argmax(1) == y[in_train])),
                     "cv_val_clips": float(np.mean(cv[~in_train].argmax(1) == y[~in_train]))}
        print(f"{name:10s} cv {out[name]['cv']['accuracy']:.3f} (train clips {out[name]['cv_train_clips']:.3f}, "
              f"val clips {out[name]['cv_val_clips']:.3f})  val {out[name]['val']['accuracy']:.3f} "
              f"(valence {out[name]['val']['valence']:.3f}, arousal {out[name]['val']['arousal']:.3f})", flush=True)
    ship_right = mix(*members["shipped"][:2], oof[seq_key]).argmax(1) == y
    cand_right = mix(*members["candidate"][:2], oof[seq_key]).argmax(1) == y
    out["discordant"] = {"candidate_only": int((cand_right & ~ship_right).sum()), "shipped_only": int((ship_right & ~cand_right).sum())}
    print("clips only the candidate gets right / only the shipped blend:", out["discordant"])
    for name in ("candidate", "shipped"):
        n, lr, n_val, lr_val = members[name]
        cells = []
        for w_lr in np.round(np.arange(0, 1.01, 0.1), 1):
            for w_seq in np.round(np.arange(0, 1.01 - w_lr, 0.1), 1):
                w = (round(1 - w_lr - w_seq, 1), w_lr, w_seq)
                cells.append((float(np.mean(mix(n, lr, oof[seq_key], w).argmax(1) == y)), w))
        best = max(cells, key=lambda c: c[0])
        out[f"{name}_cv_chosen"] = {"shares": best[1], "cv": best[0],
                                    "val": float(np.mean(mix(n_val, lr_val, val["seq"], best[1]).argmax(1) == y_val))}
        print(f"{name}: shares chosen by cross-validation (nets, LR, sequence) {best[1]}: "
              f"cv {best[0]:.3f}, val {out[f'{name}_cv_chosen']['val']:.3f}", flush=True)
    CANDIDATE_RESULTS.write_text(json.dumps(out, indent=1))
    return 0


def full_blend(data: dict, x_pool: dict, seed: int) -> int:
    """Every member of the shipped blend refitted per fold on song partition ``seed`` (one net on the old and
    one on the old + new descriptors, the LR on each, one sequence member; seed = fold): the shipped blend
    against the candidate (nets 0.5, LR 0.3, sequence 0.2). Out-of-fold readings saved for later blends."""
    from ..emotion_sequence import sequence_probabilities
    from .sequence_member import train_sequence_member
    from .train_emotion import SEQUENCE_EPOCHS, SEQUENCE_KIND

    pool = _join(data["train"], data["val"])
    y = pool["y"]
    fold = song_partition(pool["names"], seed)
    p = {k: np.zeros((len(y), 4)) for k in ("nets_old", "nets_new", "lr_old", "lr_new", "seq")}
    for f in range(5):
        tr, held = fold != f, fold == f
        _old_and_new_members(p, x_pool, pool, tr, held, seed=f)
        split = {k: v[tr] for k, v in pool.items()}
        member, _ = train_sequence_member(split, kind=SEQUENCE_KIND, seed=f, epochs=SEQUENCE_EPOCHS)
        p["seq"][held] = sequence_probabilities([member], {k: v[held] for k, v in pool.items()}, kind=SEQUENCE_KIND)[0]
        print(f"  partition {seed} fold {f} done", flush=True)
    np.savez(HERE / ".cache" / f"emotion_musician_full_{seed}.npz", y=y, **p)
    row = {k: float(np.mean(v.argmax(1) == y)) for k, v in p.items()}
    for tag in ("old", "new"):
        mixed = 0.5 * _log(p[f"nets_{tag}"]) + 0.3 * _log(p[f"lr_{tag}"]) + 0.2 * _log(p["seq"])
        row["shipped_blend" if tag == "old" else "candidate"] = float(np.mean(mixed.argmax(1) == y))
    print(f"partition {seed}:", "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    out = json.loads(SPREAD_RESULTS.read_text()) if SPREAD_RESULTS.exists() else {}
    out[f"full_{seed}"] = row
    SPREAD_RESULTS.write_text(json.dumps(out, indent=1))
    return 0


def _old_and_new_members(p: dict, x_pool: dict, pool: dict, tr: np.ndarray, held: np.ndarray, *, seed: int) -> None:
    """One fold: a net (``seed``) and the logistic regression on the old and on the old + new descriptors,
    trained on ``tr``; their readings of ``held`` written into ``p`` (nets_old, nets_new, lr_old, lr_new)."""
    from .train_emotion import member_probabilities, train_member

    y = pool["y"]
    for feats, tag in (("old", "old"), ("old+new", "new")):
        state, _ = train_member({"x": x_pool[feats][tr], "tokens": pool["tokens"][tr], "y": y[tr]}, seed=seed, epochs=20)
        p[f"nets_{tag}"][held] = member_probabilities([state], {"x": x_pool[feats][held], "tokens": pool["tokens"][held]})[0]
        p[f"lr_{tag}"][held] = logistic_regression(LR_C).fit(x_pool[feats][tr], y[tr]).predict_proba(x_pool[feats][held])


SPREAD_RESULTS = HERE / ".cache" / "emotion_musician_spread.json"


def spread(data: dict, x_pool: dict, seeds: list[int]) -> int:
    """Nets (one member per fold, seed = fold) and the logistic regression (C=0.01, 4-way) on the old and
    on the old + new descriptors, and their blend at the shipped nets:LR ratio (5:3, no sequence member),
    on other song partitions: how much of partition 123's gain is the partition."""

    pool = _join(data["train"], data["val"])
    y = pool["y"]
    out = json.loads(SPREAD_RESULTS.read_text()) if SPREAD_RESULTS.exists() else {}
    for seed in seeds:
        fold = song_partition(pool["names"], seed)
        p = {k: np.zeros((len(y), 4)) for k in ("nets_old", "nets_new", "lr_old", "lr_new")}
        for f in range(5):
            tr, held = fold != f, fold == f
            _old_and_new_members(p, x_pool, pool, tr, held, seed=f)
            print(f"  partition {seed} fold {f} done", flush=True)
        row = {k: float(np.mean(v.argmax(1) == y)) for k, v in p.items()}
        for tag in ("old", "new"):
            row[f"blend_{tag}"] = float(np.mean((0.625 * _log(p[f"nets_{tag}"]) + 0.375 * _log(p[f"lr_{tag}"])).argmax(1) == y))
        out[str(seed)] = row
        print(f"partition {seed}:", "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
        SPREAD_RESULTS.write_text(json.dumps(out, indent=1))
    return 0


REPLACE_RESULTS = HERE / ".cache" / "emotion_musician_replace.json"


def shipped_members_val(val: dict) -> dict[str, np.ndarray]:
    """The shipped model's members' probabilities on the validation split: nets, LR, sequence."""
    import torch

    from ..emotion import _load
    from ..emotion_blend import blend, combined_probabilities
    from ..emotion_sequence import sequence_probabilities
    from ..encoder import run_net, single_thread

    nets, _, stack, _, _, _, sequence = _load()
    if nets[0].feature_mean.numel() > val["x"].shape[1]:  # weights that read the musician's descriptors too
        val = with_musician({"val": val})["val"]
    x = torch.tensor(val["x"][:, : nets[0].feature_mean.numel()], dtype=torch.float32)
    t = torch.tensor(val["tokens"].astype(np.int64))
    with single_thread():
        p_nets = np.mean([combined_probabilities(run_net(net, t, x)) for net in nets], 0)
        kind, members, _ = sequence
        p_seq = sequence_probabilities(members, {"x": val["x"], "events": val["events"].astype(np.int64)},
                                       kind=kind).mean(0)
    p_lr = blend(np.full_like(p_nets, 0.25), val["x"], stack, 1.0)  # the LR alone (weight 1)
    return {"nets": p_nets, "lr": p_lr, "seq": p_seq}


def replace_grid(data: dict, x_pool: dict, x_train: dict, x_val: dict) -> int:
    """The shipped members with the logistic regression refitted on the old + new descriptors, over a grid
    of shares: cross-validation on partition 123 (the shipped members' cached out-of-fold probabilities)
    and the validation split (the shipped nets and sequence members, the LR fitted on train)."""
    oof = dict(np.load(OOF_CACHE))
    seq_key = [k for k in oof if k.startswith("sequence_events_") and "pre" not in k and "tta" not in k][0]
    pool_y, y_val = oof["y"], data["val"]["y"]
    members_val = shipped_members_val(data["val"])
    fold = song_partition(_join(data["train"], data["val"])["names"], 123)
    lrs_cv, lrs_val = {"old_C0.01": oof[f"lr_{LR_C}"]}, {"old_C0.01": members_val["lr"]}
    for feats in ("old+new",):
        for c in (0.003, 0.01, 0.03):
            for structure in ("4way", "factorised"):
                predict = _model(f"lr_{c}", structure)
                p = np.zeros((len(pool_y), 4))
                for f in range(5):
                    tr, held = fold != f, fold == f
                    p[held] = predict(x_pool[feats][tr], pool_y[tr], x_pool[feats][held])
                name = f"{feats}_C{c}_{structure}"
                lrs_cv[name], lrs_val[name] = p, predict(x_train[feats], data["train"]["y"], x_val[feats])
    grid = np.round(np.arange(0.0, 1.01, 0.1), 2)
    rows = []
    for name in lrs_cv:
        for w_lr in grid:
            for w_seq in grid:
                w_nets = round(1 - w_lr - w_seq, 2)
                if w_nets < -1e-9:
                    continue
                cv = _softmax_logs(w_nets * _log(oof["nets"]) + w_lr * _log(lrs_cv[name]) + w_seq * _log(oof[seq_key]))
                va = _softmax_logs(w_nets * _log(members_val["nets"]) + w_lr * _log(lrs_val[name])
                                   + w_seq * _log(members_val["seq"]))
                rows.append({"lr": name, "w_nets": w_nets, "w_lr": float(w_lr), "w_seq": float(w_seq),
                             "cv": float(np.mean(cv.argmax(1) == pool_y)), "val": float(np.mean(va.argmax(1) == y_val))})
    shipped = next(r for r in rows if r["lr"] == "old_C0.01" and r["w_lr"] == 0.3 and r["w_seq"] == 0.2)
    print(f"shipped cell: cv {shipped['cv']:.3f} val {shipped['val']:.3f}")
    for name in lrs_cv:
        mine = [r for r in rows if r["lr"] == name]
        alone = next(r for r in mine if r["w_lr"] == 1.0)
        best = max(mine, key=lambda r: r["cv"] + r["val"])
        at = next(r for r in mine if r["w_lr"] == 0.3 and r["w_seq"] == 0.2)
        print(f"{name:28s} alone {alone['cv']:.3f}/{alone['val']:.3f}  at the shipped shares {at['cv']:.3f}/{at['val']:.3f}"
              f"  best mean (nets {best['w_nets']}, lr {best['w_lr']}, seq {best['w_seq']}) {best['cv']:.3f}/{best['val']:.3f}")
    REPLACE_RESULTS.write_text(json.dumps({"shipped": shipped, "rows": rows}, indent=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
