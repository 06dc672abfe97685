"""Chord-progression habits of pop songs and jazz standards: ``python -m models.training.chord_habits``.

Counts, from real chord sequences, how often a chord of one quality moves by a root step to a chord of another
quality (key-independent bigrams: step 0-11, qualities maj, min, dim, maj7, dom7, min7, hdim7), smoothed and
stored as log-probabilities in ``models/weights/chord_habits.json`` for ``tutor.compose.restyle``'s chord choice:

* ``pop``: POP909's chord annotations (``chord_midi.txt``, 909 songs; repeated chords merged, "N" dropped);
* ``jazz``: the chord charts of 1,382 jazz standards (``jazzstandards_chords``: every section's main segment).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .style_corpus import STYLE

QUALITIES = ("maj", "min", "dim", "maj7", "dom7", "min7", "hdim7")
ROOTS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
OUT = Path(__file__).resolve().parents[1] / "weights" / "chord_habits.json"


def _root(text: str) -> int | None:
    m = re.match(r"([A-G])([b#]?)", text)
    if not m:
        return None
    return (ROOTS[m.group(1)] + {"b": -1, "#": 1, "": 0}[m.group(2)]) % 12


def pop_quality(q: str) -> str | None:
    q = q.split("/")[0]
    return {"maj": "maj", "min": "min", "dim": "dim", "maj7": "maj7", "7": "dom7", "min7": "min7", "hdim7": "hdim7",
            "maj6": "maj", "sus4(b7)": "dom7", "sus2": "maj", "sus4": "maj", "aug": None}.get(q)


def jazz_quality(q: str) -> str | None:
    q = q.split("/")[0]
    if q.startswith("maj7") or q in ("6", "69", "maj9", "add9"):
        return "maj7"
    if q.startswith(("m7b5", "m9b5")):
        return "hdim7"
    if q.startswith(("m7", "m9", "m11", "m13")):
        return "min7"
    if q in ("m", "m6", "mb6") or q.startswith("m(") or q == "mmaj7":
        return "min"
    if q.startswith(("07", "0", "dim", "o")):
        return "dim"
    if q == "":
        return "maj"
    if q[0] in "79" or q.startswith("13") or q.startswith("7"):
        return "dom7"
    return None


def pop_sequences() -> list[list[tuple[int, str]]]:
    out = []
    for path in sorted((STYLE / "pop909" / "POP909").glob("*/chord_midi.txt")):
        seq = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or ":" not in parts[2]:
                continue
            root_text, q = parts[2].split(":", 1)
            root, quality = _root(root_text), pop_quality(q)
            if root is None or quality is None:
                continue
            if not seq or seq[-1] != (root, quality):
                seq.append((root, quality))
        out.append(seq)
    return out


def jazz_sequences() -> list[list[tuple[int, str]]]:
    data = json.loads((STYLE / "jazzstandards_chords" / "JazzStandards.json").read_text(encoding="utf-8"))
    out = []
    for tune in data:
        for section in tune["Sections"]:
            seq = []
            for chord in re.split(r"[|,]", section["MainSegment"]["Chords"]):
                chord = chord.strip()
                root = _root(chord)
                m = re.match(r"[A-G][b#]?(.*)", chord)
                quality = jazz_quality(m.group(1)) if m else None
                if root is None or quality is None:
                    continue
                if not seq or seq[-1] != (root, quality):
                    seq.append((root, quality))
            out.append(seq)
    return out


def habits(sequences) -> dict[str, float]:
    """log P(step, next quality | quality), add-one smoothed, keyed 'quality|step|quality'."""
    counts = Counter()
    for seq in sequences:
        for (ra, qa), (rb, qb) in zip(seq, seq[1:], strict=False):
            counts[(qa, (rb - ra) % 12, qb)] += 1
    out = {}
    for qa in QUALITIES:
        total = sum(counts[(qa, s, qb)] for s in range(12) for qb in QUALITIES) + 12 * len(QUALITIES)
        for s in range(12):
            for qb in QUALITIES:
                out[f"{qa}|{s}|{qb}"] = round(float(np.log((counts[(qa, s, qb)] + 1) / total)), 4)
    return out


def main() -> int:
    pop, jazz = pop_sequences(), jazz_sequences()
    result = {"pop": habits(pop), "jazz": habits(jazz),
              "sources": {"pop": f"POP909 chord_midi.txt, {len(pop)} songs, {sum(len(s) for s in pop)} chords",
                          "jazz": f"JazzStandards, {len(jazz)} sections, {sum(len(s) for s in jazz)} chords"}}
    OUT.write_text(json.dumps(result, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    for name in ("pop", "jazz"):
        top = sorted(result[name].items(), key=lambda kv: -kv[1])[:6]
        print(name, result["sources"][name], top)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
