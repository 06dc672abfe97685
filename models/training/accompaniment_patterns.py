"""How the style data's accompaniments go (issue 26): the measurements the restyler's patterns were checked against.

``python -m models.training.accompaniment_patterns`` reads ``../shared/data/style`` and prints, per style:

* **ragtime-era MIDI** (``ragtime_collection``: march, tango, rag): the left hand's (the lowest non-bass
  track's) onsets in a two-beat cell, on a sixteenth grid, in files whose left hand is quantised; the commonest cells,
  each position marked B (the cell's lowest notes: the bass) or C (a chord above it) with its number of notes; the
  left hand's median note length;
* **POP909** (every third song with 2-beat bars in its index, read on its beat as the style corpus reads it): the
  PIANO track's onsets in a two-beat cell, its notes per onset, register and lengths.

Nothing here is imported by the app or the models; it reads the data only (a few minutes for the MIDI files).
``--json OUT`` also writes the numbers. See ``docs/benchmarks.md`` (issue 26, the restyle round).
"""

from __future__ import annotations

import argparse
import csv
import json
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .style_corpus import STYLE, _midi_table


def _left_hand_cells(label: str) -> dict:
    import pretty_midi

    pretty_midi.pretty_midi.MAX_TICK = 1e16
    rows = [r for r in csv.DictReader(open(STYLE / "ragtime_collection" / "labels.csv", encoding="utf-8"))
            if r["label_from_title"] == label]
    cells: Counter = Counter()
    positions = np.zeros(8)
    lengths: list[float] = []
    files = 0
    for row in rows:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                midi = pretty_midi.PrettyMIDI(str(STYLE / "ragtime_collection" / row["file"]))
        except Exception:  # noqa: BLE001 - an unreadable file is skipped
            continue
        ts = midi.time_signature_changes
        if not ts or (ts[0].numerator, ts[0].denominator) not in ((2, 4), (4, 4)):
            continue
        tracks = [i for i in midi.instruments if not i.is_drum and i.notes]
        if len(tracks) < 2:
            continue  # both hands in one track: no left hand to read
        left = min(tracks, key=lambda i: np.median([n.pitch for n in i.notes]) if i.program != 45 else 999)  # 45: pizz bass
        onset = np.array([midi.time_to_tick(n.start) for n in left.notes]) / midi.resolution
        grid = np.round(onset * 4) / 4
        if np.mean(np.abs(onset - grid) < 0.05) < 0.8:
            continue  # played in, not quantised
        files += 1
        positions += np.bincount((np.round(np.mod(grid, 2.0) * 4).astype(int)) % 8, minlength=8) / len(grid)
        lengths += [(midi.time_to_tick(n.end) - midi.time_to_tick(n.start)) / midi.resolution for n in left.notes]
        by_cell: dict[int, dict[int, list[int]]] = defaultdict(dict)
        for note, at in zip(left.notes, grid, strict=True):
            cell = int(at // 2)
            by_cell[cell].setdefault(int(round((at - cell * 2) * 4)) % 8, []).append(note.pitch)
        for notes in by_cell.values():
            low = min(min(v) for v in notes.values())
            cells[tuple((p, "B" if min(notes[p]) <= low + 2 else "C", len(notes[p])) for p in sorted(notes))] += 1
    total = max(1, sum(cells.values()))
    return {"files": files, "cells": total,
            "onsets_per_sixteenth": np.round(positions / max(1, files), 3).tolist(),
            "median_length_ql": float(np.median(lengths)) if lengths else None,
            "commonest": [{"share": round(n / total, 3), "cell": " ".join(f"{p}{w}{k}" for p, w, k in cell)}
                          for cell, n in cells.most_common(8)]}


def _pop909_piano(limit: int = 60) -> dict:
    import pretty_midi

    rows = list(csv.DictReader(open(STYLE / "pop909" / "index.csv", encoding="utf-8")))[1::3][:limit]
    cells: Counter = Counter()
    positions = np.zeros(8)
    lengths: list[float] = []
    per_onset: list[int] = []
    pitches: list[int] = []
    songs = 0
    for row in rows:
        if (row["num_beats_per_measure"], row["num_quavers_per_beat"]) != ("2", "2"):
            continue
        path = STYLE / "pop909" / "POP909" / row["song_id"] / f"{row['song_id']}.mid"
        names = [i.name.strip().upper() for i in pretty_midi.PrettyMIDI(str(path)).instruments if not i.is_drum]
        if "PIANO" not in names:
            continue
        table = _midi_table(path, melody_track="MELODY", beats=(2.0, 1.0))[0]
        piano = table.part == names.index("PIANO")
        onset, pitch = table.onset_ql[piano], table.pitch[piano]
        songs += 1
        positions += np.bincount(np.round(np.mod(onset, 2.0) * 4).astype(int) % 8, minlength=8) / len(onset)
        lengths += table.duration_ql[piano].tolist()
        per_onset += np.unique(np.round(onset, 3), return_counts=True)[1].tolist()
        pitches += pitch.tolist()
        for cell in np.unique(np.floor(onset / 2.0)):
            inside = (onset >= cell * 2) & (onset < cell * 2 + 2)
            cells[tuple(sorted(set(np.round((onset[inside] - cell * 2) * 4).astype(int).tolist())))] += 1
    total = max(1, sum(cells.values()))
    return {"songs": songs, "onsets_per_sixteenth": np.round(positions / max(1, songs), 3).tolist(),
            "notes_per_onset": float(np.mean(per_onset)), "median_pitch": float(np.median(pitches)),
            "length_ql_p25_p50_p75": np.round(np.percentile(lengths, [25, 50, 75]), 2).tolist(),
            "commonest": [{"share": round(n / total, 3), "cell": list(cell)} for cell, n in cells.most_common(6)]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    out = {label: _left_hand_cells(label) for label in ("march", "tango", "rag")}  # (two-beat cells: duple metres)
    out["pop909_piano"] = _pop909_piano()
    for name, numbers in out.items():
        print(f"== {name}")
        for key, value in numbers.items():
            if key != "commonest":
                print(f"   {key}: {value}")
        for c in numbers["commonest"]:
            print(f"   {c['share']:.3f}  {c['cell']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
