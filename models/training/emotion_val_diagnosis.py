"""Why EMOPIA's official validation split disagrees with song-grouped cross-validation:
``OMP_NUM_THREADS=1 nice -n 15 python -m models.training.emotion_val_diagnosis [--paired]``
(no model is read on the test split: its clips are only counted, by quadrant too, and searched for duplicates).

Without ``--paired`` (nothing here compares two models):

* sizes: clips and songs of each split, quadrant mix, clips per song, the effective number of songs
  ((sum of clips)^2 / sum of clips^2 per song), songs whose clips carry more than one quadrant, song ids
  shared between splits;
* duplicates under other song ids (the same music uploaded twice, or in a compilation): stretches of top
  line (transposition-free interval 8-grams) shared by clips of different songs;
* whether validation looks like train: a train-against-validation classifier on the descriptors, song-grouped
  (AUC 0.5 = the same population);
* how wide an accuracy on validation is: binomial and song-clustered bootstrap standard errors;
* where validation's songs fall in each cross-validation partition.

With ``--paired``: a candidate against the shipped blend as the rule in ``docs/benchmarks.md`` (issue 26,
"why validation disagrees with CV") reads them: the paired gain per fold over every partition with
cached out-of-fold readings, validation read as one more fold with its song-clustered error bar.
Results: ``models/.cache/emotion_val_diagnosis.json``.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

from ..emotion_features import N_PITCHES, NOTE_ON, TIME_SHIFT
from .emotion_data import load_emopia
from .train_emotion import HERE, _join, song_of

RESULTS = HERE / ".cache" / "emotion_val_diagnosis.json"
PARTITIONS = (123, 1, 2, 3, 4, 5)


def _songs(names: np.ndarray) -> np.ndarray:
    return np.array([song_of(n) for n in names])


def sizes(data: dict) -> dict:
    out: dict = {}
    song_sets = {}
    for split, d in data.items():
        songs = _songs(d["names"])
        song_sets[split] = set(songs)
        per_song = np.unique(songs, return_counts=True)[1]
        mixed = sum(len(set(d["y"][songs == s])) > 1 for s in set(songs))
        out[split] = {"clips": int(len(songs)), "songs": int(len(set(songs))),
                      "quadrants": np.bincount(d["y"], minlength=4).tolist(),
                      "quadrant_share": np.round(np.bincount(d["y"], minlength=4) / len(songs), 3).tolist(),
                      "clips_per_song_mean": float(per_song.mean()), "clips_per_song_max": int(per_song.max()),
                      "effective_songs": float(per_song.sum() ** 2 / np.sum(per_song ** 2)),
                      "songs_with_two_quadrants": int(mixed)}
    out["shared_song_ids"] = {f"{a}&{b}": len(song_sets[a] & song_sets[b])
                              for a, b in (("train", "val"), ("train", "test"), ("val", "test"))}
    return out


def top_line(events: np.ndarray) -> list[int]:
    """The highest note starting at each time step of a clip's events (MIDI-like, 20 ms steps)."""
    line, now, best = [], 0, -1
    for e in events:
        e = int(e)
        if e == 0:
            break
        if TIME_SHIFT <= e < TIME_SHIFT + 50:
            if best >= 0:
                line.append(best)
            best = -1
            now += e - TIME_SHIFT + 1
        elif NOTE_ON <= e < NOTE_ON + N_PITCHES:
            best = max(best, e - NOTE_ON)
    if best >= 0:
        line.append(best)
    return line


def duplicates(names: np.ndarray, events: np.ndarray, split_of: np.ndarray, n: int = 8) -> dict:
    """Clips of different songs that share stretches of top line: distinct interval n-grams (transposition-free,
    at least three different steps, n-grams found in more than 30 clips left out as figures) shared per pair."""
    import collections
    import itertools

    grams = []
    for ev in events:
        steps = np.clip(np.diff(top_line(ev)), -24, 24)
        grams.append({g for g in (tuple(steps[i:i + n]) for i in range(len(steps) - n + 1)) if len(set(g)) > 2})
    index = collections.defaultdict(list)
    for row, g in enumerate(grams):
        for gram in g:
            index[gram].append(row)
    shared: collections.Counter = collections.Counter()
    for rows in index.values():
        if len(rows) <= 30:
            shared.update(itertools.combinations(rows, 2))
    songs = _songs(names)
    across = sorted(((c, a, b) for (a, b), c in shared.items() if songs[a] != songs[b]), reverse=True)
    within = [c for (a, b), c in shared.items() if songs[a] == songs[b]]
    return {"pairs_sharing_any": {"across_songs": len(across), "within_songs": len(within)},
            "across_songs_sharing_10_or_more": [{"shared": c, "a": str(names[a]), "b": str(names[b]),
                                                 "splits": f"{split_of[a]}/{split_of[b]}"}
                                                for c, a, b in across if c >= 10],
            "within_songs_sharing_10_or_more": int(sum(c >= 10 for c in within))}


def _out_of_fold(x: np.ndarray, y: np.ndarray, fold: np.ndarray, c: float) -> np.ndarray:
    """P(y = 1) of each clip from a balanced logistic regression (strength ``c``) fitted on the other 4 folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    p = np.zeros(len(y))
    for f in range(5):
        tr, held = fold != f, fold == f
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
        p[held] = model.fit(x[tr], y[tr]).predict_proba(x[held])[:, 1]
    return p


def domain_auc(data: dict) -> dict:
    """Train against validation clips, song-grouped 5-fold, on the descriptors: AUC (0.5: no difference)."""
    from sklearn.metrics import roc_auc_score

    from .emotion_musician_cv import song_partition

    pool = _join(data["train"], data["val"])
    is_val = np.isin(pool["names"], data["val"]["names"]).astype(int)
    out = {}
    for c in (0.01, 0.1):
        aucs = []
        for seed in PARTITIONS[:3]:
            p = _out_of_fold(pool["x"], is_val, song_partition(pool["names"], seed), c)
            aucs.append(float(roc_auc_score(is_val, p)))
        # the same with the labels shuffled by song: what AUC chance gives here
        rng = np.random.default_rng(0)
        songs = _songs(pool["names"])
        unique = np.array(sorted(set(songs)))
        null = []
        for _ in range(5):
            fake_val = set(rng.choice(unique, size=len(set(_songs(data["val"]["names"]))), replace=False))
            fake = np.array([s in fake_val for s in songs]).astype(int)
            p = _out_of_fold(pool["x"], fake, song_partition(pool["names"], 123), c)
            null.append(float(roc_auc_score(fake, p)))
        out[f"C{c}"] = {"auc": aucs, "null_auc_random_song_sets": null}
    return out


def clustered_se(right: np.ndarray, songs: np.ndarray, reps: int = 4000, seed: int = 0) -> float:
    """Song-clustered bootstrap standard error of the mean of ``right`` (per clip, e.g. 0/1 or a difference)."""
    unique, inverse = np.unique(songs, return_inverse=True)
    sums = np.bincount(inverse, weights=right.astype(float))
    counts = np.bincount(inverse)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(unique), size=(reps, len(unique)))
    return float(np.std(sums[pick].sum(1) / counts[pick].sum(1)))


def fold_layout(data: dict) -> dict:
    from .emotion_musician_cv import song_partition

    pool = _join(data["train"], data["val"])
    is_val = np.isin(pool["names"], data["val"]["names"])
    out = {}
    for seed in PARTITIONS[:3]:
        fold = song_partition(pool["names"], seed)
        songs = _songs(pool["names"])
        out[str(seed)] = []
        for f in range(5):
            per_song = np.unique(songs[fold == f], return_counts=True)[1]
            out[str(seed)].append({"clips": int((fold == f).sum()), "val_clips": int((is_val & (fold == f)).sum()),
                                   "effective_songs": round(float(per_song.sum() ** 2 / np.sum(per_song ** 2)), 1)})
    return out


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-9, 1.0))


def _mix(nets: np.ndarray, lr: np.ndarray, seq: np.ndarray, w=(0.5, 0.3, 0.2)) -> np.ndarray:
    return w[0] * _log(nets) + w[1] * _log(lr) + w[2] * _log(seq)


def cv_readings(data: dict) -> dict[int, dict[str, np.ndarray]]:
    """Out-of-fold readings of the shipped blend and the candidate (nets and LR fed the shipped 101 + the
    musician's 70 descriptors, the same shares) on every partition with every member refitted per fold:
    123 (``train_emotion --cv`` cache, ``emotion_musician_cv --nets``; the candidate's LR refitted here)
    and ``emotion_musician_cv --full SEED``'s."""
    from .emotion_musician_cv import NETS_CACHE, musician_table, song_partition
    from .train_emotion import LR_C, OOF_CACHE, logistic_regression

    pool = _join(data["train"], data["val"])
    y = pool["y"]
    out = {}
    oof = dict(np.load(OOF_CACHE))
    seq_key = [k for k in oof if k.startswith("sequence_events_") and "pre" not in k and "tta" not in k][0]
    all_names = sorted({*pool["names"].tolist(), *data["test"]["names"].tolist()})
    table, _ = musician_table(all_names)
    index = {n: i for i, n in enumerate(all_names)}
    x_new = np.hstack([pool["x"], table[[index[n] for n in pool["names"]]]])
    fold = song_partition(pool["names"], 123)
    lr_new = np.zeros((len(y), 4))
    for f in range(5):
        tr, held = fold != f, fold == f
        lr_new[held] = logistic_regression(LR_C).fit(x_new[tr], y[tr]).predict_proba(x_new[held])
    out[123] = {"nets_old": oof["nets"], "lr_old": oof[f"lr_{LR_C}"], "nets_new": np.load(NETS_CACHE)["oof"],
                "lr_new": lr_new, "seq": oof[seq_key], "fold": fold}
    for path in sorted((HERE / ".cache").glob("emotion_musician_full_*.npz")):
        seed = int(path.stem.rsplit("_", 1)[1])
        p = np.load(path)
        assert np.array_equal(p["y"], y)
        out[seed] = {k: p[k] for k in ("nets_old", "lr_old", "nets_new", "lr_new", "seq")}
        out[seed]["fold"] = song_partition(pool["names"], seed)
    for r in out.values():
        r["shipped"] = _mix(r["nets_old"], r["lr_old"], r["seq"])
        r["candidate"] = _mix(r["nets_new"], r["lr_new"], r["seq"])
        r["lr_only"] = _mix(r["nets_old"], r["lr_new"], r["seq"])
    return out


SHARES = [(round(1 - a - b, 1), a, b) for a in np.round(np.arange(0, 1.01, 0.1), 1)
          for b in np.round(np.arange(0, 1.01 - a, 0.1), 1)]


def _best_shares(members: list[tuple[np.ndarray, np.ndarray, np.ndarray]], ys: list[np.ndarray]) -> tuple:
    """The (nets, LR, sequence) shares with the most clips right over the given readings (first on ties)."""
    def right(w):
        return sum(int(np.sum(_mix(*m, w=w).argmax(1) == y)) for m, y in zip(members, ys, strict=True))

    return max(SHARES, key=right)


def nested_shares(cv: dict, y: np.ndarray) -> dict:
    """Candidate C: per partition and fold, the shares chosen on the other four folds; its out-of-fold mix."""
    chosen = {}
    for seed, r in cv.items():
        mixed = np.zeros((len(y), 4))
        members = (r["nets_new"], r["lr_new"], r["seq"])
        picks = []
        for f in range(5):
            inner = r["fold"] != f
            w = _best_shares([tuple(m[inner] for m in members)], [y[inner]])
            held = r["fold"] == f
            mixed[held] = _mix(*(m[held] for m in members), w=w)
            picks.append(w)
        r["nested"] = mixed
        chosen[str(seed)] = picks
    return chosen


def val_readings(data: dict) -> dict[str, np.ndarray]:
    """The shipped blend and the candidate on the validation split (members fitted on train: the shipped
    weights' nets, LR and sequence members; the candidate's 5 nets from ``--nets``, its LR fitted here)."""
    from .emotion_musician_cv import NETS_CACHE, musician_table, shipped_members_val
    from .train_emotion import LR_C, logistic_regression

    train, val = data["train"], data["val"]
    all_names = sorted({*train["names"].tolist(), *val["names"].tolist(), *data["test"]["names"].tolist()})
    table, _ = musician_table(all_names)
    index = {n: i for i, n in enumerate(all_names)}

    def x_of(split):
        return np.hstack([split["x"], table[[index[n] for n in split["names"]]]])

    members = shipped_members_val(val)
    lr_new = logistic_regression(LR_C).fit(x_of(train), train["y"]).predict_proba(x_of(val))
    return {"members_new": (np.load(NETS_CACHE)["val"], lr_new, members["seq"]),"shipped": _mix(members["nets"], members["lr"], members["seq"]),
            "candidate": _mix(np.load(NETS_CACHE)["val"], lr_new, members["seq"]),
            "lr_only": _mix(members["nets"], lr_new, members["seq"])}


def paired(data: dict) -> dict:
    """The rule's evidence for each candidate: ``candidate`` (nets and LR fed 101 + 70 descriptors) and
    ``lr_only`` (B: the LR alone refitted on them), against the shipped blend."""
    cv, vr = cv_readings(data), val_readings(data)
    y = _join(data["train"], data["val"])["y"]
    out = {"nested_shares": nested_shares(cv, y)}
    w_val = _best_shares([(r["nets_new"], r["lr_new"], r["seq"]) for r in cv.values()], [y] * len(cv))
    out["nested_val_shares"] = w_val
    vr["nested"] = _mix(*vr["members_new"], w=w_val)
    print("nested shares:", out["nested_shares"], "validation:", w_val, flush=True)
    for name in ("candidate", "lr_only", "nested"):
        print(f"== {name}", flush=True)
        out[name] = paired_one(data, {s: {"shipped": r["shipped"], "candidate": r[name], "fold": r["fold"]}
                                      for s, r in cv.items()},
                               {"shipped": vr["shipped"], "candidate": vr[name]})
    return out


def paired_one(data: dict, cv: dict, vr: dict) -> dict:
    pool = _join(data["train"], data["val"])
    y, songs = pool["y"], _songs(pool["names"])
    is_val = np.isin(pool["names"], data["val"]["names"])
    gains, folds, per_partition = [], [], {}
    for seed, r in cv.items():
        g = (r["candidate"].argmax(1) == y).astype(float) - (r["shipped"].argmax(1) == y)
        gains.append(g)
        fold_gains = [float(g[r["fold"] == f].mean()) for f in range(5)]
        folds += fold_gains
        per_partition[str(seed)] = {"shipped": float(np.mean(r["shipped"].argmax(1) == y)),
                                    "candidate": float(np.mean(r["candidate"].argmax(1) == y)),
                                    "gain": float(g.mean()), "gain_train_clips": float(g[~is_val].mean()),
                                    "gain_val_clips": float(g[is_val].mean()), "fold_gains": fold_gains}
        print(f"partition {seed}: {per_partition[str(seed)]}", flush=True)
    g = np.mean(gains, 0)
    se = clustered_se(g, songs)
    yv, songs_v = data["val"]["y"], _songs(data["val"]["names"])
    gv = (vr["candidate"].argmax(1) == yv).astype(float) - (vr["shipped"].argmax(1) == yv)
    se_v = clustered_se(gv, songs_v)
    by_song = {}
    for s in sorted(set(songs_v), key=lambda s: -np.sum(songs_v == s)):
        m = songs_v == s
        if gv[m].any() or m.sum() >= 10:
            by_song[s] = {"clips": int(m.sum()), "net_gain_clips": int(gv[m].sum()),
                          "shipped_right": int((vr["shipped"].argmax(1) == yv)[m].sum()),
                          "quadrants": np.bincount(yv[m], minlength=4).tolist()}
    cv_val_clips = np.mean([x[is_val] for x in gains], 0)
    result = {
        "partitions": per_partition,
        "cv_gain": float(g.mean()), "cv_gain_se_songs": se, "cv_gain_sd_partitions": float(np.std([x.mean() for x in gains])),
        "cv_gain_se_clips_unclustered": float(np.std(g) / np.sqrt(len(g))),
        "cv_gain_on_val_clips": float(cv_val_clips.mean()), "cv_gain_on_val_clips_se_songs": clustered_se(cv_val_clips, songs[is_val]),
        "cv_gain_on_train_clips": float(g[~is_val].mean()), "cv_gain_on_train_clips_se_songs": clustered_se(g[~is_val], songs[~is_val]),
        "folds_level_or_better": int(np.sum(np.array(folds) >= 0)), "folds": len(folds),
        "val_shipped": float(np.mean(vr["shipped"].argmax(1) == yv)), "val_candidate": float(np.mean(vr["candidate"].argmax(1) == yv)),
        "val_shipped_se_songs": clustered_se((vr["shipped"].argmax(1) == yv).astype(float), songs_v),
        "val_gain": float(gv.mean()), "val_gain_se_songs": se_v, "val_by_song": by_song,
    }
    result["rule"] = {
        "a_cv_gain_ge_1pt_and_gt_2se": bool(g.mean() >= 0.01 and g.mean() > 2 * se),
        "b_val_not_below_cv_by_2se": bool(gv.mean() >= g.mean() - 2 * se_v),
        "c_level_in_two_thirds_of_folds": bool(np.sum(np.array(folds) >= 0) >= 2 * len(folds) / 3),
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("partitions", "val_by_song")}, indent=1))
    print(json.dumps(result["val_by_song"]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paired", action="store_true", help="the rule's paired comparison (see the module doc)")
    parser.add_argument("--previous", default=None, metavar="WEIGHTS",
                        help="with --paired: the weights the candidates were judged against, read on validation as "
                             "'shipped' (since commit b0b4dc9 shipped candidate A: `git show "
                             "9eaa1a6:models/weights/emotion.pt > /tmp/emotion_before.pt`)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    data = load_emopia()
    out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.paired:
        if args.previous:
            from .emotion_checks import _use_weights

            _use_weights(args.previous)
        out["paired"] = paired(data)
        RESULTS.write_text(json.dumps(out, indent=1))
        return 0
    out["sizes"] = sizes(data)
    print(json.dumps(out["sizes"], indent=1), flush=True)
    val = data["val"]
    p = 0.687
    out["val_se"] = {"binomial_at_0.687": float(np.sqrt(p * (1 - p) / len(val["y"]))),
                     "one_clip": 1 / len(val["y"])}
    out["fold_layout"] = fold_layout(data)
    print(json.dumps(out["fold_layout"]), flush=True)
    out["domain_auc"] = domain_auc(data)
    print(json.dumps(out["domain_auc"]), flush=True)
    names = np.concatenate([data[s]["names"] for s in ("train", "val", "test")])
    events = np.concatenate([data[s]["events"] for s in ("train", "val", "test")])
    split_of = np.concatenate([[s] * len(data[s]["names"]) for s in ("train", "val", "test")])
    out["duplicates"] = duplicates(names, events, split_of)
    print(json.dumps(out["duplicates"], indent=1), flush=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
