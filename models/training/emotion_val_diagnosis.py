"""Why EMOPIA's official validation split disagrees with song-grouped cross-validation:
``OMP_NUM_THREADS=1 nice -n 15 python -m models.training.emotion_val_diagnosis [--paired]``
(never reads the test split's labels; the test split's clips are only counted and searched for duplicates).

Without ``--paired`` (nothing here compares two models):

* sizes: clips and songs of each split, quadrant mix, clips per song, songs whose clips carry more than one
  quadrant, song ids shared between splits;
* duplicates under other song ids (the same tune uploaded twice, or two covers): each clip's top line as
  transposition-free interval 4-grams, tf-idf cosine between clips of different songs, against the same
  score between two clips of one song;
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


def duplicates(names: np.ndarray, events: np.ndarray, split_of: np.ndarray, n: int = 4) -> dict:
    """Clips of different songs whose top lines share unusually many interval n-grams."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = []
    for ev in events:
        line = top_line(ev)
        steps = np.clip(np.diff(line), -12, 12)
        docs.append(" ".join("_".join(f"{s:+d}" for s in steps[i:i + n]) for i in range(len(steps) - n + 1)))
    tfidf = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True).fit_transform(docs)
    sim = (tfidf @ tfidf.T).toarray()
    songs = _songs(names)
    same = songs[:, None] == songs[None, :]
    upper = np.triu(np.ones_like(sim, dtype=bool), 1)
    within, across = sim[same & upper], sim[~same & upper]
    threshold = float(np.quantile(within, 0.5))
    pairs = np.argwhere((~same) & upper & (sim >= threshold))
    listed = sorted(((float(sim[i, j]), names[i], names[j], split_of[i], split_of[j]) for i, j in pairs), reverse=True)
    return {"within_song_median": float(np.median(within)), "within_song_q90": float(np.quantile(within, 0.9)),
            "across_songs_median": float(np.median(across)), "across_songs_q999": float(np.quantile(across, 0.999)),
            "across_pairs_at_or_over_within_median": len(listed),
            "top_across_pairs": [{"cos": round(s, 3), "a": str(a), "b": str(b), "splits": f"{sa}/{sb}"}
                                 for s, a, b, sa, sb in listed[:25]]}


def domain_auc(data: dict) -> dict:
    """Train against validation clips, song-grouped 5-fold, on the descriptors: AUC (0.5: no difference)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .emotion_musician_cv import song_partition

    pool = _join(data["train"], data["val"])
    is_val = np.isin(pool["names"], data["val"]["names"]).astype(int)
    out = {}
    for c in (0.01, 0.1):
        aucs = []
        for seed in PARTITIONS[:3]:
            fold = song_partition(pool["names"], seed)
            p = np.zeros(len(is_val))
            for f in range(5):
                tr, held = fold != f, fold == f
                model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
                p[held] = model.fit(pool["x"][tr], is_val[tr]).predict_proba(pool["x"][held])[:, 1]
            aucs.append(float(roc_auc_score(is_val, p)))
        # the same with the labels shuffled by song: what AUC chance gives here
        rng = np.random.default_rng(0)
        songs = _songs(pool["names"])
        unique = np.array(sorted(set(songs)))
        null = []
        for _ in range(5):
            fake_val = set(rng.choice(unique, size=len(set(_songs(data["val"]["names"]))), replace=False))
            fake = np.array([s in fake_val for s in songs]).astype(int)
            fold = song_partition(pool["names"], 123)
            p = np.zeros(len(fake))
            for f in range(5):
                tr, held = fold != f, fold == f
                model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
                p[held] = model.fit(pool["x"][tr], fake[tr]).predict_proba(pool["x"][held])[:, 1]
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
        out[str(seed)] = [{"clips": int((fold == f).sum()), "val_clips": int((is_val & (fold == f)).sum())}
                          for f in range(5)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paired", action="store_true", help="the rule's paired comparison (see the module doc)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    data = load_emopia()
    out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.paired:
        from .emotion_val_paired import paired

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
