"""Train the single-line note onset classifier (``models/note_onsets.py``; card ``models/cards/note_onsets.md``).

Data: the *tuning* part of the real recordings as ``tests/bench/bench_real_sound.split`` draws it (SSVD
sight-singers, Bach violin movements 6 and 7) and rendered melodies 20-59 of bench_pitch (the benchmark
uses 0-19), each as the PESTO frames and spectral flux that ``tutor transcribe`` computes (cached by the
benchmark in bench-results/real-sound-cache/), with the instrument each is played on (``instrument_code``:
voice, bowed string, other; a render's own instrument). A frame is positive within ``LABEL_REACH`` frames
of a labelled onset. Model: scikit-learn's ``HistGradientBoostingClassifier`` (small: ``MAX_ITER`` trees of
``MAX_LEAF_NODES`` leaves), exported as arrays to ``models/weights/note_onsets.npz``.

Run: ``nice -n 10 .venv/bin/python -m models.training.train_note_onsets`` (``--two-fold [24]``: the fourth pass's
comparison on the tuning split, with all features or the first 24)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

LABEL_REACH = 2  # frames (20 ms) either side of a labelled onset (third pass: 1, 3, 4 and 3 for the violin only were
# tried, each violin movement left out of training in turn: 1 and 4 worse everywhere, 3 better on the violin, worse on renders)
MAX_ITER = 150
MAX_LEAF_NODES = 15
RENDERED_TRAIN = (20, 60)
SEED = 0


def _midi(f0_hz: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f0_hz > 0, 69.0 + 12.0 * np.log2(np.maximum(f0_hz, 1e-9) / 440.0), np.nan)


def clip_rows(f0, flux, onsets_s: np.ndarray, instrument: str | None = None, read=None) -> tuple[np.ndarray, np.ndarray]:
    """(features, 0/1 labels) of a clip's frames; ``read(lo, hi)`` its 16 kHz samples (harmonic features)."""
    from tutor.models.note_onsets import features

    x = features(_midi(f0.f0_hz), f0.voiced, f0.confidence, f0.level_db, flux, instrument, read)
    y = np.zeros(len(x), np.int8)
    for onset in onsets_s:
        centre = int(round(onset / f0.hop_s))
        y[max(0, centre - LABEL_REACH):centre + LABEL_REACH + 1] = 1
    return x, y


def training_clips():
    from tests.bench import bench_pitch
    from tests.bench import bench_real_sound as bench

    clips = [c for c in bench.ssvd_clips() + bench.violin_clips() if c.part == "tune"]
    clean = [c for c in bench_pitch.build_synthetic() if c.condition == "clean"]
    for item in clean[RENDERED_TRAIN[0]:RENDERED_TRAIN[1]]:
        instrument = next((kind for _program, kind, _centre in bench_pitch.INSTRUMENTS if f" {kind}" in item.name), None)
        clips.append(bench.Clip("rendered-train", item.name.split()[0], item.wav, "tune", item.ref_notes,
                                instrument=instrument))
    return clips


def two_fold(columns: int | None = None) -> dict[str, float]:
    """The fourth pass's comparison on the tuning split, scored on what training did not see: trained on
    (SSVD tuning recordings sorted by name, even ones; violin movement 6; renders 20-39) and on (odd ones;
    movement 7; renders 40-59), each model scored on the other half, the other movement and the other
    renders' voice and violin melodies, as ``transcribe_file`` segments them (the learned onsets, note pitch
    from the audio). ``columns``: train on the first ``columns`` features only (24: the third pass's set). Mean onset F1 per recording, strict and SSVD's labels lowered 4.5 Hz."""
    import re

    from tests.bench import bench_real_sound as bench
    from tutor.listen.transcription import array_reader
    from tutor.models import note_onsets

    ssvd = sorted((c for c in bench.ssvd_clips() if c.part == "tune"), key=lambda c: c.name)
    violin = {c.name[-4:]: c for c in bench.violin_clips() if c.part == "tune"}
    renders = [c for c in training_clips() if c.dataset == "rendered-train"]
    number = {c.name: int(re.match(r"\d+", c.name).group()) for c in renders}
    low, high = [c for c in renders if number[c.name] < 40], [c for c in renders if number[c.name] >= 40]
    rows = {}

    def clip_data(clip):
        if (clip.dataset, clip.name) not in rows:
            f0, flux = bench.tracked(clip, "pesto")
            x, y = clip_rows(f0, flux, clip.notes[:, 0], clip.instrument, array_reader(bench.audio16(clip)))
            if columns is not None:
                x = x[:, :columns]  # the trees index only these; inference's extra columns go unread
            rows[(clip.dataset, clip.name)] = (x, y)
        return rows[(clip.dataset, clip.name)]

    scores: dict[str, list[float]] = {}
    original = note_onsets.load_trees
    try:
        for train, test, moved, scored, r_train, r_test in ((ssvd[0::2], ssvd[1::2], "mov6", "mov7", low, high),
                                                             (ssvd[1::2], ssvd[0::2], "mov7", "mov6", high, low)):
            data = [clip_data(c) for c in train + [violin[moved]] + r_train]
            trees = note_onsets.export(_fit(np.concatenate([d[0] for d in data]), np.concatenate([d[1] for d in data])))
            note_onsets.load_trees = lambda path=None, trees=trees: trees  # the fold's model for _learned_notes
            for key, clips in (("ssvd", test), (scored, [violin[scored]]),
                               ("renders", [c for c in r_test if c.instrument in ("voice", "violin")])):
                for clip in clips:
                    est, _ = bench.tutor_notes(clip, segmenter="learned")
                    got = bench.note_scores(clip.notes, est, bench.LABEL_BIAS_HZ.get(clip.dataset, 0.0))
                    for name in ("onset_f1_50", "onset_f1_100", "onset_f1_50_fixed", "onset_f1_100_fixed",
                                 "onset_only_f1_50"):
                        if name in got:
                            scores.setdefault(f"{key} {name}", []).append(got[name])
    finally:
        note_onsets.load_trees = original
    return {key: round(float(np.mean(values)), 3) for key, values in scores.items()}


def _fit(x: np.ndarray, y: np.ndarray):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # every frame weighs the same (the violin's frames weighted 3x did worse on the movement left out: third pass)
    model = HistGradientBoostingClassifier(max_iter=MAX_ITER, max_leaf_nodes=MAX_LEAF_NODES, learning_rate=0.1,
                                           l2_regularization=1.0, random_state=SEED)
    return model.fit(x, y)


def main(argv: list[str] | None = None) -> None:
    """``--cached-only``: train on the clips whose tracker frames are already cached (the machine's two
    shared cores track about 2 s of audio a second); the clips used are saved with the weights.
    ``--out PATH``: write the weights there instead of ``WEIGHTS`` (to compare before shipping).
    ``--two-fold [N]``: print ``two_fold``'s comparison (with only the first N features) and save nothing."""
    import sys

    from tests.bench import bench_real_sound as bench
    from tutor.listen.transcription import array_reader
    from tutor.models.note_onsets import FEATURES, WEIGHTS, export

    argv = sys.argv[1:] if argv is None else argv
    started = time.time()
    if "--two-fold" in argv:
        at = argv.index("--two-fold") + 1
        columns = int(argv[at]) if at < len(argv) and argv[at].isdigit() else None
        for key, value in two_fold(columns).items():
            print(f"{key:28s} {value:.3f}")
        print(f"({time.time() - started:.0f} s)")
        return
    xs, ys, groups, used = [], [], [], []
    for index, clip in enumerate(training_clips()):
        if "--cached-only" in argv and not (bench.CACHE / "pesto" / clip.dataset / f"{clip.name}.npz").exists():
            continue
        used.append(f"{clip.dataset}/{clip.name}")
        f0, flux = bench.tracked(clip, "pesto")
        x, y = clip_rows(f0, flux, clip.notes[:, 0], clip.instrument, array_reader(bench.audio16(clip)))
        xs.append(x)
        ys.append(y)
        groups.append(np.full(len(x), index))
    x, y = np.concatenate(xs), np.concatenate(ys)
    print(f"{len(xs)} clips, {len(x)} frames, {int(y.sum())} positive ({time.time() - started:.0f} s)", flush=True)
    trees = export(_fit(x, y))
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **trees, clips=np.array(used))
    print(f"saved {out} ({out.stat().st_size // 1024} kB, {len(FEATURES)} features, "
          f"{trees['feature'].shape[0]} trees) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
