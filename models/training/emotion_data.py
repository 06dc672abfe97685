"""The EMOPIA corpus (``../shared/data/emopia``) as cached features, with its official splits.

Each clip (``midis.zip``, file names ``Q{1..4}_{song}_{clip}.mid``) becomes emotion descriptors
(``models.features.emotion_vector``) + valence descriptors (``models.emotion_features.valence_features``:
chords, bass and melody relative to the tonic), a note-token sequence and MIDI-like events
(``models.emotion_features.clip_features`` and ``event_tokens``, as the emotion model reads a piece).
The official song-level split files ``dataset/split/{train,val,test}.csv`` decide which clip is in
which split. Features are cached in ``models/.cache/emopia.npz`` (git-ignored).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from ..emotion_features import EVENTS_KEPT, clip_features, event_tokens
from ..features import table_from_midi

HERE = Path(__file__).resolve().parents[1]  # the models folder: the cache stays in models/.cache
EMOPIA = HERE.parent.parent / "shared" / "data" / "emopia"
CACHE = HERE / ".cache" / "emopia_v3.npz"
EVENTS_CACHE = HERE / ".cache" / "emopia_events_v1.npz"
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")


def _events_of_all(root: Path, names: list[str]) -> np.ndarray:
    """(clips, EVENTS_KEPT) event arrays of the named clips, cached in ``EVENTS_CACHE``."""
    if EVENTS_CACHE.exists():
        cached = np.load(EVENTS_CACHE, allow_pickle=False)
        if cached["names"].tolist() == names:
            return cached["events"]
    archive = zipfile.ZipFile(root / "midis.zip")
    members = {Path(m).stem: m for m in archive.namelist() if m.endswith(".mid")}
    events = np.zeros((len(names), EVENTS_KEPT), dtype=np.int16)
    for row, name in enumerate(names):
        e = event_tokens(table_from_midi(io.BytesIO(archive.read(members[name]))))
        events[row, : len(e)] = e
    EVENTS_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(EVENTS_CACHE, names=np.array(names), events=events)
    return events


def load_emopia(root: Path = EMOPIA) -> dict[str, dict[str, np.ndarray]]:
    """{'train'|'val'|'test': {'x', 'tokens', 'events', 'y', 'names'}} from the official split files."""
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
    events = _events_of_all(root, names)
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for split in ("train", "val", "test"):
        with open(root / "dataset" / "split" / f"{split}.csv", encoding="utf-8") as handle:
            listed = [(row["fname"], row["label"]) for row in csv.DictReader(handle)]
        chosen = [(index[name], QUADRANTS.index(label)) for name, label in listed if name in index]
        ids = np.array([c[0] for c in chosen])
        out[split] = {
            "x": x[ids], "tokens": tokens[ids], "events": events[ids], "y": np.array([c[1] for c in chosen]),
            "names": np.array([names[i] for i in ids]),
        }
    return out


if __name__ == "__main__":
    data = load_emopia()
    for split, d in data.items():
        print(split, d["x"].shape, np.bincount(d["y"], minlength=4))
