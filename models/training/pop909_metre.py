"""What POP909's bars really are (issue 26): ``nice -n 10 python -m models.training.pop909_metre [--json OUT]``.

POP909's ``index.csv`` says ``num_beats_per_measure = 2`` for 857 of 909 songs, and the MIDI files claim 1/4 or
4/4. This measures, per index group (beats, quavers), on every song (about a minute):

* the file's beat: its tempo, and where the onsets fall inside it (halves and quarters: a simple quarter-note
  beat; thirds: a beat of three quavers, compound time);
* the bar: where the chord changes (``chord_midi.txt``, a song's harmonic rhythm) fall, by beat mod 4 and mod 8
  from the song's strongest beat, by mod 3 for the songs in three. In a bar the first beat takes more changes
  than the third; between two bars the first beats take about the same. So the ratio of changes on beat 1 to
  beat 3 (the 4-beat level) against beat 1 to beat 5 (the 8-beat level) says where the bar is;
* the melody: where its phrases (after a rest of a beat or more) and its long notes (>= 1.5 beats) start.

Used by ``models.training.style_corpus`` to give POP909 4-beat bars (a 2-beat index entry is half a bar) and
12/8 to the songs with three quavers a beat. Not imported by inference.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from .style_corpus import STYLE

_FRACTIONS = np.array([0, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1])


def song(path: Path) -> dict | None:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    beat = lambda t: midi.time_to_tick(t) / midi.resolution  # noqa: E731 - seconds -> the file's beats
    rows = [line.split() for line in (path.parent / "chord_midi.txt").read_text().splitlines()]
    chords = [(float(a), float(b)) for a, b, name in (r for r in rows if len(r) >= 3) if name != "N"]
    if len(chords) < 8:
        return None
    notes = np.array([beat(n.start) for inst in midi.instruments for n in inst.notes])
    # the notes' beat phase (they sit a constant fraction of a beat off the file's grid) and the onsets in it
    offsets = np.arange(48) / 48
    frac = np.mod(notes[None] - offsets[:, None], 1.0)
    phase = offsets[int(np.argmax((np.minimum(frac, 1 - frac) < 1 / 24).sum(1)))]
    within = np.mod(notes - phase, 1.0)
    dist = np.abs(within[:, None] - _FRACTIONS[None])
    kind = np.where(dist.min(1) < 1 / 24, dist.argmin(1), 7)
    kind[kind == 6] = 0
    subdivision = {"beat": np.mean(kind == 0), "half": np.mean(kind == 3), "quarters": np.mean((kind == 1) | (kind == 5)),
                   "thirds": np.mean((kind == 2) | (kind == 4))}
    # chord changes on the beat grid, rolled so that the strongest beat of four comes first
    starts = np.array([beat(a) for a, _ in chords])
    frac = np.mod(starts[None] - offsets[:, None], 1.0)
    cphase = offsets[int(np.argmax((np.minimum(frac, 1 - frac) < 0.15).sum(1)))]
    on = np.round(starts - cphase).astype(int)
    c4 = np.bincount(np.mod(on, 4), minlength=4)
    first = int(np.argmax(c4))
    c4 = np.roll(c4, -first) / c4.sum()
    c8 = np.bincount(np.mod(on - first, 8), minlength=8) / len(on)
    c3 = np.bincount(np.mod(on, 3), minlength=3)
    c3 = np.roll(c3, -int(np.argmax(c3))) / c3.sum()
    melody = sorted((n for inst in midi.instruments if inst.name.strip().upper() == "MELODY" for n in inst.notes),
                    key=lambda n: n.start)
    m_on = np.array([beat(n.start) for n in melody])
    m_off = np.array([beat(n.end) for n in melody])
    phrase = m_on[1:][m_on[1:] - m_off[:-1] >= 1.0]
    long = m_on[(m_off - m_on) >= 1.5]
    where = lambda x: np.bincount(np.mod(np.round(x - cphase - first).astype(int), 4), minlength=4) / max(1, len(x))  # noqa: E731
    _, tempi = midi.get_tempo_changes()
    return {"tempo_bpm": float(tempi[0]), "subdivision": subdivision, "chords_mod4": c4, "chords_mod8": c8,
            "chords_mod3": c3, "phrase_starts_mod4": where(phrase), "long_notes_mod4": where(long),
            "time_signatures": [f"{t.numerator}/{t.denominator}" for t in midi.time_signature_changes]}


def measure() -> dict:
    rows = list(csv.DictReader(open(STYLE / "pop909" / "index.csv", encoding="utf-8")))
    groups: dict[str, list[dict]] = {}
    for row in rows:
        sid = row["song_id"]
        out = song(STYLE / "pop909" / "POP909" / sid / f"{sid}.mid")
        if out is not None:
            groups.setdefault(f"{row['num_beats_per_measure']} beats, {row['num_quavers_per_beat']} quavers", []).append(out)
    report = {}
    for name, songs in sorted(groups.items()):
        mean = lambda k, songs=songs: np.mean([s[k] for s in songs], 0)  # noqa: E731
        c4, c8 = mean("chords_mod4"), mean("chords_mod8")
        report[name] = {
            "songs": len(songs), "tempo_bpm_median": float(np.median([s["tempo_bpm"] for s in songs])),
            "onsets_in_beat": {k: round(float(np.mean([s["subdivision"][k] for s in songs])), 3)
                               for k in ("beat", "half", "quarters", "thirds")},
            "chord_changes_mod4": np.round(c4, 3).tolist(), "chord_changes_mod8": np.round(c8, 3).tolist(),
            "chord_changes_mod3": np.round(mean("chords_mod3"), 3).tolist(),
            "beat1_over_beat3": round(float(c4[0] / c4[2]), 2), "beat1_over_beat5": round(float(c8[0] / c8[4]), 2),
            "phrase_starts_mod4": np.round(mean("phrase_starts_mod4"), 3).tolist(),
            "long_notes_mod4": np.round(mean("long_notes_mod4"), 3).tolist(),
            "files_claiming_4/4": int(sum("4/4" in s["time_signatures"] for s in songs)),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    report = measure()
    for name, r in report.items():
        print(f"{name}: {r['songs']} songs, median tempo {r['tempo_bpm_median']:.0f}; onsets in the beat {r['onsets_in_beat']}")
        print(f"  chord changes mod 4 {r['chord_changes_mod4']} (beat 1 / beat 3 = {r['beat1_over_beat3']}), "
              f"mod 8 {r['chord_changes_mod8']} (beat 1 / beat 5 = {r['beat1_over_beat5']}), mod 3 {r['chord_changes_mod3']}")
        print(f"  melody phrase starts mod 4 {r['phrase_starts_mod4']}, long notes mod 4 {r['long_notes_mod4']}; "
              f"files claiming 4/4: {r['files_claiming_4/4']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
