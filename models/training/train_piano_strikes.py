"""Train the live piano strike model (``models/piano_strikes.py``; card ``models/cards/piano_strikes.md``).

Data (``sources``), none of it read by the live benchmark:
- real piano: maps-dev's dev pieces (``bench_piano.pieces("dev")``) after their first ``REAL_FROM_S`` seconds
  (``bench_live_marks`` reads 0-120 s of each on dev: its first 30 s and two 60 s segments, and no later segment
  while the learned strikes are on); the held-out pieces never;
- renders: ``RENDERS`` nasap-dev performances (one per piece, composers in turn, none of the pieces
  ``bench_piano``'s renders part evaluates), the first ``RENDER_S`` seconds, FluidSynth (two piano sounds), each in
  one condition in turn: dry, a room (RT60 0.6-1.8 s), a phone-like microphone (band-limited, noise), and the app's
  metronome clicks mixed in at a random tempo and level on every other one.

Each source is played through ``PianoOnsets`` with every pitch listened for (``collect``): the candidates it would
judge and their ``FEATURES``. A candidate is a strike (1) when a true onset of its pitch lies ``POSITIVE_S`` around
the frame's centre, left out when one lies just before that (the same strike heard late: the detector's refractory
time keeps it from ringing twice), else 0. Model: scikit-learn's ``HistGradientBoostingClassifier``, exported
as arrays to ``models/weights/piano_strikes.npz`` (the sources' names saved with them).

Run: ``nice -n 10 .venv/bin/python -m models.training.train_piano_strikes`` (features cached in
``~/.cache/tutor/piano_strikes``; ``--renders N``: another number of renders; ``--out PATH``: the weights elsewhere;
``--check``: train without the real dev audio's last piece and print frame P/R there,
nothing saved).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

REAL_FROM_S = 120.0
RENDERS = 36
RENDER_S = 45.0
POSITIVE_S = (-0.05, 0.07)  # true onset minus the frame's centre
LATE_S = (-0.15, -0.05)
MAX_ITER = 250
MAX_LEAF_NODES = 31
SEED = 0
CACHE = Path.home() / ".cache" / "tutor" / "piano_strikes"
CONDITIONS = ("dry", "room", "phone")


def collect(audio16: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times_s, pitches, features) of every candidate ``PianoOnsets`` keeps in ``audio16``."""
    from tutor.listen.piano_live import strike_candidates

    return strike_candidates(audio16)


def labels(times_s: np.ndarray, pitches: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1 (a strike of the pitch), 0 (none), -1 (left out: the same strike heard late) per candidate; ``truth``
    (onset_s, midi) rows."""
    out = np.zeros(len(times_s), np.int8)
    for pitch in np.unique(pitches):
        at = np.flatnonzero(pitches == pitch)
        true = np.sort(truth[truth[:, 1] == pitch, 0])
        if not len(true):
            continue
        for lo, hi, value in ((*LATE_S, -1), (*POSITIVE_S, 1)):
            first = np.searchsorted(true, times_s[at] + lo)
            inside = (first < len(true)) & (true[np.minimum(first, len(true) - 1)] <= times_s[at] + hi)
            out[at[inside]] = value
    return out


def real_sources() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, 16 kHz audio, (onset_s, midi) truth) of the dev pieces after REAL_FROM_S."""
    import soundfile

    from tests.bench.bench_piano import DATA, pieces

    out = []
    for name in pieces("dev"):
        audio, rate = soundfile.read(str(DATA / "flac" / f"{name}.flac"), dtype="float32", always_2d=True)
        audio = _to16(audio.mean(axis=1), rate)[int(REAL_FROM_S * 16000):]
        if len(audio) < 16000 * 10:
            continue
        rows = np.loadtxt(DATA / "tsv" / f"{name}.tsv", skiprows=1, ndmin=2)
        rows = rows[rows[:, 0] >= REAL_FROM_S]
        out.append((f"maps-dev/{name}@{REAL_FROM_S:g}s", audio, np.stack([rows[:, 0] - REAL_FROM_S, rows[:, 2]], 1)))
    return out


def render_midis(count: int = RENDERS) -> list[Path]:
    """``count`` nasap-dev performances of pieces the piano benchmark's renders part does not evaluate."""
    from tests.bench.bench_piano import render_performances

    return render_performances(count, skip=frozenset(p.parent for p in render_performances()))


def rendered_source(index: int, midi_path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """A render of the performance in condition ``CONDITIONS[index % 3]``, clicks on every other one."""
    from scipy.signal import butter, fftconvolve, sosfilt

    from tests.bench.bench_piano import RENDER_RATE, render
    from tutor.audio.metronome import click_sound

    rng = np.random.default_rng(SEED + index)
    program = index % 2
    audio, rows = render(midi_path, program, RENDER_S)
    audio = _to16(audio, RENDER_RATE)
    condition = CONDITIONS[index % len(CONDITIONS)]
    if condition == "room":
        rt60 = rng.uniform(0.6, 1.8)
        t = np.arange(int(rt60 * 16000)) / 16000
        impulse = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)
        impulse /= np.sqrt(np.sum(impulse ** 2))
        wet = rng.uniform(0.3, 0.7)
        audio = (1 - wet) * audio + wet * fftconvolve(audio, impulse)[: len(audio)].astype(np.float32)
    elif condition == "phone":
        audio = sosfilt(butter(4, (rng.uniform(150, 300), rng.uniform(3500, 6000)), "bandpass", fs=16000,
                               output="sos"), audio).astype(np.float32)
        audio += rng.standard_normal(len(audio)).astype(np.float32) * np.abs(audio).max() * 10 ** (rng.uniform(-55, -40) / 20)
    if index % 2:
        beat_s = 60.0 / rng.uniform(60, 140)
        level = np.abs(audio).max() * rng.uniform(0.1, 0.6)
        for k, at in enumerate(np.arange(rng.uniform(0, beat_s), len(audio) / 16000 - 0.1, beat_s)):
            click = click_sound(sample_rate=16000, accent=k % 4 == 0) * level
            start = int(at * 16000)
            audio[start:start + len(click)] += click[: len(audio) - start]
    audio = (audio * 0.5 / max(float(np.abs(audio).max()), 1e-9)).astype(np.float32)
    name = f"nasap-dev/{midi_path.parent.relative_to(midi_path.parents[2])}/{midi_path.stem}:{condition}:p{program}"
    return name + (":clicks" if index % 2 else ""), audio, np.stack([rows[:, 0], rows[:, 2]], 1)


def _to16(audio: np.ndarray, rate: int) -> np.ndarray:
    import librosa

    return audio.astype(np.float32) if rate == 16000 else librosa.resample(audio, orig_sr=rate, target_sr=16000)


def source_rows(name: str, audio16: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of a source, cached by name."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (name.replace("/", "__").replace(":", "_") + ".npz")
    if path.exists():
        with np.load(path) as data:
            return data["x"], data["y"]
    times, pitches, x = collect(audio16)
    y = labels(times, pitches, truth)
    np.savez_compressed(path, x=x, y=y)
    return x, y


def all_rows(log=print, renders: int = RENDERS) -> list[tuple[str, np.ndarray, np.ndarray]]:
    started = time.time()
    out = []
    for name, audio, truth in real_sources():
        out.append((name, *source_rows(name, audio, truth)))
        log(f"  {name}: {len(out[-1][1])} candidates, {int((out[-1][2] == 1).sum())} strikes "
            f"({time.time() - started:.0f} s)")
    for index, midi in enumerate(render_midis(renders)):
        cached = CACHE / (f"render{index}.name")
        if cached.exists():
            name = cached.read_text()
            x, y = source_rows(name, np.zeros(0), np.zeros((0, 2)))
        else:
            name, audio, truth = rendered_source(index, midi)
            x, y = source_rows(name, audio, truth)
            cached.write_text(name)
        out.append((name, x, y))
        if index % 6 == 5:
            log(f"  renders 0-{index}: ({time.time() - started:.0f} s)")
    return out


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=MAX_ITER, max_leaf_nodes=MAX_LEAF_NODES, learning_rate=0.1,
                                           l2_regularization=1.0, random_state=SEED)
    return model.fit(x, y)


def main(argv: list[str] | None = None) -> None:
    import sys

    from tutor.models.note_onsets import export
    from tutor.models.piano_strikes import FEATURES, WEIGHTS

    argv = sys.argv[1:] if argv is None else argv
    started = time.time()
    rows = all_rows(renders=int(argv[argv.index("--renders") + 1]) if "--renders" in argv else RENDERS)
    if "--check" in argv:  # the last real piece left out
        real = [i for i, (name, _, _) in enumerate(rows) if name.startswith("maps-dev")]
        test = real[-1]
        train = [r for i, r in enumerate(rows) if i != test]
        x = np.concatenate([r[1] for r in train])
        y = np.concatenate([r[2] for r in train])
        keep = y >= 0
        model = fit(x[keep], y[keep])
        xt, yt = rows[test][1], rows[test][2]
        p = model.predict_proba(xt[yt >= 0])[:, 1]
        yt = yt[yt >= 0]
        for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            hit = p >= threshold
            print(f"{rows[test][0]} P>={threshold}: frame P {(yt[hit] == 1).mean():.3f} "
                  f"R {hit[yt == 1].mean():.3f}")
        return
    x = np.concatenate([r[1] for r in rows])
    y = np.concatenate([r[2] for r in rows])
    keep = y >= 0
    print(f"{len(rows)} sources, {int(keep.sum())} candidates, {int((y == 1).sum())} strikes "
          f"({time.time() - started:.0f} s)", flush=True)
    trees = export(fit(x[keep], y[keep]))
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **trees, sources=np.array([r[0] for r in rows]))
    print(f"saved {out} ({out.stat().st_size // 1024} kB, {len(FEATURES)} features, "
          f"{trees['feature'].shape[0]} trees) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
