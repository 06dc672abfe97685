"""The EMOPIA corpus (``../shared/data/emopia``) as cached features, with its official splits.

Each clip (``midis.zip``, file names ``Q{1..4}_{song}_{clip}.mid``) becomes hand features +
emotion descriptors (``models.features``) and a note-token sequence. The official song-level split
files ``dataset/split/{train,val,test}.csv`` decide which clip is in which split. Features are cached
in ``models/.cache/emopia.npz`` (git-ignored).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from .features import emotion_tokens, emotion_vector, table_from_midi

HERE = Path(__file__).resolve().parent
EMOPIA = HERE.parent.parent / "shared" / "data" / "emopia"
CACHE = HERE / ".cache" / "emopia_v2.npz"
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
EMOTION_TOKENS = 512  # a 30 s EMOPIA clip has ~200-600 notes


# mean and spread of EMOPIA's velocities (0..1): what a score without dynamics is given instead
VELOCITY_MEAN, VELOCITY_STD = 0.50, 0.10


def clip_features(table) -> tuple[np.ndarray, np.ndarray]:
    """(feature vector, token array) of one clip or piece; the same numbers for a notated score
    and a performed clip (no metric grid, chords as 50 ms clusters, imputed dynamics for scores)."""
    feats = emotion_vector(table, velocity_mean=VELOCITY_MEAN, velocity_std=VELOCITY_STD)
    tokens = np.zeros((EMOTION_TOKENS, 6), dtype=np.int16)
    t = emotion_tokens(table, max_tokens=EMOTION_TOKENS)
    tokens[: len(t)] = t
    return feats, tokens


def load_emopia(root: Path = EMOPIA) -> dict[str, dict[str, np.ndarray]]:
    """{'train'|'val'|'test': {'x', 'tokens', 'y', 'names'}} from the official split files."""
    if CACHE.exists():
        data = np.load(CACHE, allow_pickle=False)
        names = data["names"].tolist()
        x, tokens = data["x"], data["tokens"]
    else:
        archive = zipfile.ZipFile(root / "midis.zip")
        names, rows, toks = [], [], []
        for member in sorted(archive.namelist()):
            if not member.endswith(".mid"):
                continue
            table = table_from_midi(io.BytesIO(archive.read(member)))
            feats, tok = clip_features(table)
            names.append(Path(member).stem)
            rows.append(feats)
            toks.append(tok)
        x, tokens = np.stack(rows), np.stack(toks)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(CACHE, names=np.array(names), x=x, tokens=tokens)
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for split in ("train", "val", "test"):
        with open(root / "dataset" / "split" / f"{split}.csv", encoding="utf-8") as handle:
            listed = [(row["fname"], row["label"]) for row in csv.DictReader(handle)]
        chosen = [(index[name], QUADRANTS.index(label)) for name, label in listed if name in index]
        ids = np.array([c[0] for c in chosen])
        out[split] = {
            "x": x[ids], "tokens": tokens[ids], "y": np.array([c[1] for c in chosen]),
            "names": np.array([names[i] for i in ids]),
        }
    return out


if __name__ == "__main__":
    data = load_emopia()
    for split, d in data.items():
        print(split, d["x"].shape, np.bincount(d["y"], minlength=4))
