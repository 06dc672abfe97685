"""Train the piano take verdicts (``models/piano_verdicts.py``; card ``models/cards/piano_verdicts.md``).

Data: the development pieces of ``real-audio/maps-dev`` (the 12 pieces sorted by name, even ones, as
``tests/bench/bench_piano.py`` splits them; the odd ones are held out for the benchmark), the first
``TRAIN_S`` seconds of each: the Disklavier's own MIDI is the truth, the shipped transcription
(``tutor.listen.piano``, cached in ~/.cache/tutor/bench/piano) is what the take's review has.

- ``struck`` (was a key of this pitch struck near the time?): each reference note is a positive, listened
  for at its onset moved by up to ``JITTER_S`` (the review only knows when a note was due from the chords
  around it); ``NEGATIVES`` pitches per note that were not struck then (no reference onset of that pitch
  within ``CLEAR_S``: a semitone or tone away, an octave or a twelfth up or down, or any within an octave)
  are negatives, at the same time.
- ``real`` (is a transcribed note real?): each transcribed note, positive when a reference note of its
  pitch starts within ``MATCH_S``.

Leave-one-piece-out cross-validation is printed (average precision, and the share of each class below /
above a few cut points) before the final fit on all the pieces given. Model: ``HistGradientBoostingClassifier``
(``MAX_ITER`` trees of ``MAX_LEAF_NODES`` leaves), exported as arrays (``tutor.models.note_onsets.export``).

Run: ``nice -n 10 .venv/bin/python -m models.training.train_piano_verdicts [--pieces 0,2,4] [--out PATH]``
(``--pieces``: indices into the dev pieces, to fit on some and judge the rest).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TRAIN_S = 120.0
JITTER_S = 0.08
NEGATIVES = 2
CLEAR_S = 0.3
MATCH_S = 0.08
MAX_ITER = 120
MAX_LEAF_NODES = 15
SEED = 0
NEGATIVE_STEPS = (-2, -1, 1, 2, -12, 12, 7, -7, 19)


def piece_rows(name: str, seconds: float, rng: np.random.Generator):
    """(struck x, struck y, real x, real y) of one piece's first ``seconds``."""
    from tests.bench import bench_piano as bench
    from tutor.listen.piano_evidence import PartialEvidence, _Played, note_features, struck_features

    audio, rate = bench.excerpt(name, seconds)
    ref = bench.reference(name, seconds)
    performance = bench.cached_transcription(name, audio, rate, seconds)
    evidence = PartialEvidence(audio, rate)
    played = _Played(performance.notes)
    sx, sy = [], []
    for onset, _, pitch, _ in ref:
        pitch = int(pitch)
        sx.append(struck_features(evidence, pitch, onset + rng.uniform(-JITTER_S, JITTER_S), played))
        sy.append(1)
        near = ref[np.abs(ref[:, 0] - onset) < CLEAR_S, 2].astype(int)
        steps = list(rng.permutation(NEGATIVE_STEPS)) + list(rng.integers(-12, 13, 4))
        taken = 0
        for step in steps:
            other = pitch + int(step)
            if step == 0 or not 21 <= other <= 108 or other in near:
                continue
            sx.append(struck_features(evidence, other, onset + rng.uniform(-JITTER_S, JITTER_S), played))
            sy.append(0)
            taken += 1
            if taken == NEGATIVES:
                break
    rx, ry = [], []
    for index, note in enumerate(played.notes):
        if note.onset_s > seconds - 0.2:
            continue
        rx.append(note_features(evidence, index, played))
        ry.append(int(np.any((ref[:, 2] == note.pitch) & (np.abs(ref[:, 0] - note.onset_s) <= MATCH_S))))
    return np.array(sx), np.array(sy), np.array(rx), np.array(ry)


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=MAX_ITER, max_leaf_nodes=MAX_LEAF_NODES, learning_rate=0.08,
                                          l2_regularization=1.0, min_samples_leaf=20, random_state=SEED).fit(x, y)


def main(argv: list[str] | None = None) -> None:
    from sklearn.metrics import average_precision_score

    from tests.bench import bench_piano as bench
    from tutor.models.note_onsets import export
    from tutor.models.piano_verdicts import WEIGHTS

    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", default="", help="indices into the dev pieces (default: all)")
    parser.add_argument("--seconds", type=float, default=TRAIN_S)
    parser.add_argument("--out", default=str(WEIGHTS))
    args = parser.parse_args(argv)
    names = bench.pieces("dev")
    if args.pieces:
        names = [names[int(i)] for i in args.pieces.split(",")]
    started = time.time()
    rng = np.random.default_rng(SEED)
    data = {name: piece_rows(name, args.seconds, rng) for name in names}
    print(f"{len(names)} pieces x {args.seconds:g} s ({time.time() - started:.0f} s): " + ", ".join(
        f"{n[9:]} struck {int(d[1].sum())}/{len(d[1])} real {int(d[3].sum())}/{len(d[3])}" for n, d in data.items()))
    out = {}
    for kind, (xi, yi) in {"struck": (0, 1), "real": (2, 3)}.items():
        x = np.vstack([d[xi] for d in data.values()])
        y = np.concatenate([d[yi] for d in data.values()])
        if len(names) > 1:  # leave one piece out
            oof = np.zeros(len(y))
            at = 0
            for name in names:
                held = len(data[name][yi])
                mask = np.ones(len(y), bool)
                mask[at:at + held] = False
                oof[at:at + held] = fit(x[mask], y[mask]).predict_proba(x[~mask])[:, 1]
                at += held
            cuts = " ".join(f"<{c}: pos {np.mean(oof[y == 1] < c):.3f} neg {np.mean(oof[y == 0] < c):.3f}"
                            for c in (0.1, 0.3, 0.5, 0.7))
            print(f"{kind}: {len(y)} rows, {int(y.sum())} positive; leave-one-piece-out AP "
                  f"{average_precision_score(y, oof):.3f} (of the negatives {average_precision_score(1 - y, 1 - oof):.3f}); {cuts}")
        trees = export(fit(x, y))
        out.update({f"{kind}_{key}": value for key, value in trees.items()})
    np.savez_compressed(args.out, **out, pieces=np.array(names), seconds=np.array(args.seconds))
    print(f"saved {args.out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
