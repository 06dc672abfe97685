"""Make ``student_melody.musicxml``: the demo tune as a beginner might rewrite it, with the kind of
slips a composition teacher points out (the compose-mode demo and screenshot).

Changes to ``twinkle.musicxml``: an out-of-key F#4 in measure 3, a leap of a ninth up to A5 in
measure 5 that is not recovered by step, and an ending on D4 instead of the tonic (no final cadence).

Run from the repository root: ``python assets/demo/make_student_melody.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tutor.score.io import load_score, save_score

HERE = Path(__file__).resolve().parent
CHANGES = {"P1-m3-n1": 66, "P1-m5-n1": 81, "P1-m12-n2": 62}  # note id -> new pitch


def make_piece():
    score = load_score(HERE / "twinkle.musicxml")
    notes = tuple(replace(n, pitch=CHANGES.get(n.id, n.pitch)) for n in score.notes)
    return replace(score, notes=notes, title="Little Star (student version)", source_path=None)


if __name__ == "__main__":
    print(save_score(make_piece(), HERE / "student_melody.musicxml"))
