"""Make ``twinkle_take.mid``: a student's MIDI take of ``twinkle.musicxml`` with a few real mistakes.

The take follows the score at its tempo with a little human timing and dynamics (seeded, so the
file is the same every time), and three mistakes a teacher would point out:

* a wrong note: measure 3, beat 2 — G instead of F (``P1-m3-n1``);
* a missed note: measure 6, beat 2 is not played (``P1-m6-n1``);
* a late note: measure 9, beat 3 comes 0.28 s late (``P1-m9-n2``), the notes after it back on time.

Run from the repository root: ``python assets/demo/make_twinkle_take.py``.
"""

from __future__ import annotations

import random
from pathlib import Path

from tutor.audio.midi_input import save_take
from tutor.score.io import load_score
from tutor.score.music import Performance, PlayedNote

HERE = Path(__file__).resolve().parent
WRONG = {"P1-m3-n1": 67}  # note id -> the pitch played instead
MISSED = {"P1-m6-n1"}
LATE_S = {"P1-m9-n2": 0.28}
LEAD_IN_S = 0.5


def make_take(seed: int = 8) -> Performance:
    score = load_score(HERE / "twinkle.musicxml")
    rng = random.Random(seed)
    notes = []
    for note in score.notes:
        if note.id in MISSED:
            continue
        onset = LEAD_IN_S + note.onset_s + rng.uniform(-0.012, 0.012) + LATE_S.get(note.id, 0.0)
        length = note.duration_s * rng.uniform(0.82, 0.92)
        if note.id in LATE_S:
            length -= LATE_S[note.id]
        notes.append(PlayedNote(pitch=WRONG.get(note.id, note.pitch), onset_s=round(onset, 4),
                                offset_s=round(onset + length, 4), velocity=rng.randint(62, 86)))
    return Performance(notes=tuple(notes))


if __name__ == "__main__":
    out = save_take(make_take(), HERE / "twinkle_take.mid")
    print(out)
