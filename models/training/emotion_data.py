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
from ..emotion_musician import N_MUSICIAN_FEATURES, musician_features
from ..features import table_from_midi

HERE = Path(__file__).resolve().parents[1]  # the models folder: the cache stays in models/.cache
EMOPIA = HERE.parent.parent / "shared" / "data" / "emopia"
CACHE = HERE / ".cache" / "emopia_v3.npz"
EVENTS_CACHE = HERE / ".cache" / "emopia_events_v1.npz"
MUSICIAN_CACHE = HERE / ".cache" / f"emopia_musician_v1_{N_MUSICIAN_FEATURES}.npz"
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


def _pedal(midi) -> list[float]:
    """Share of the clip with the sustain pedal down and presses per second (performances only)."""
    end = max(midi.get_end_time(), 1.0)
    down, presses = 0.0, 0
    for inst in midi.instruments:
        events = sorted((c.time, c.value >= 64) for c in inst.control_changes if c.number == 64)
        state, since = False, 0.0
        for t, on in events:
            if on and not state:
                presses += 1
                since = t
            elif state and not on:
                down += t - since
            state = on
        if state:
            down += end - since
    return [min(down / end, 1.0), presses / end]


def musician_table(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(clips, N_MUSICIAN_FEATURES) descriptors and (clips, 2) pedal numbers of the named EMOPIA clips."""
    if MUSICIAN_CACHE.exists():
        cached = np.load(MUSICIAN_CACHE)
        if cached["names"].tolist() == names:
            return cached["x"], cached["pedal"]
    from tutor.score.midi import pretty_midi_module

    pm = pretty_midi_module()
    archive = zipfile.ZipFile(EMOPIA / "midis.zip")
    members = {Path(m).stem: m for m in archive.namelist() if m.endswith(".mid")}
    x = np.zeros((len(names), N_MUSICIAN_FEATURES), dtype=np.float32)
    pedal = np.zeros((len(names), 2), dtype=np.float32)
    for row, name in enumerate(names):
        midi = pm.PrettyMIDI(io.BytesIO(archive.read(members[name])))
        x[row] = musician_features(table_from_midi(midi))
        pedal[row] = _pedal(midi)
        if row % 200 == 0:
            print(f"  {row} / {len(names)} clips", flush=True)
    np.savez_compressed(MUSICIAN_CACHE, names=np.array(names), x=x, pedal=pedal)
    return x, pedal


def with_musician(data: dict) -> dict:
    """The splits with ``models.emotion_musician``'s descriptors appended to each clip's ``x`` (as
    ``models.emotion.predict_table`` reads a piece)."""
    names = sorted({n for split in data.values() for n in split["names"].tolist()})
    table, _ = musician_table(names)
    index = {n: i for i, n in enumerate(names)}
    return {k: {**split, "x": np.hstack([split["x"], table[[index[n] for n in split["names"]]]])}
            for k, split in data.items()}


if __name__ == "__main__":
    data = load_emopia()
    for split, d in data.items():
        print(split, d["x"].shape, np.bincount(d["y"], minlength=4))
