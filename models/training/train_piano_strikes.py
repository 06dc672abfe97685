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

The live path's model is told what the score expects (``--score``: ``models/weights/piano_strikes_score.npz``,
``FEATURES`` then ``EXPECTATION_FEATURES``). Training has no follower, so the expectation is simulated to look like
the live one (``simulated_expectation``): at each candidate frame, the pitches of the truth's chord about to be struck
and the two after it (``tutor.listen.piano_live.follower_expectation`` listens for the current chord and the next two),
from a copy of the truth with ``WRONG_SHARE`` of its notes a tone off (an expected pitch not played, a played one not
expected), the frame's time jittered, one chord behind ``BEHIND_SHARE`` of the time (a follower still waiting on the
last chord), one ahead ``AHEAD_SHARE`` of the time (a follower that moved on early: the chord struck not expected)
and a few chords off ``LOST_SHARE`` of the time (a follower that has lost its place). The chords after
the one struck keep expected pitches that were not struck plentiful.

Run: ``nice -n 10 .venv/bin/python -m models.training.train_piano_strikes [--score]`` (features cached in
``~/.cache/tutor/piano_strikes``, with the candidates' times for ``--score``; ``--renders N``: another number of
renders; ``--out PATH``: the weights elsewhere; ``--check``: train without the real dev audio's last piece and print
frame P/R there, nothing saved).
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
# the simulated expectation (``simulated_expectation``)
CHORD_S = 0.03  # truth onsets this close to a chord's first one are in the chord
STRUCK_BY_S = 0.08  # the chord about to be struck: the first whose onset is at most this long before the frame
JITTER_S = 0.03
WRONG_SHARE = 0.1
BEHIND_SHARE = 0.3
AHEAD_SHARE = 0.15
LOST_SHARE = 0.25
LOST_CHORDS = (-5, -4, -3, -2, 2, 3, 4, 5)
AHEAD = 2


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


def timed_source_rows(name: str, audio16: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """x, y, the candidates' times and pitches, and the truth of a source, cached by name (``--score``)."""
    folder = CACHE / "timed"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name.replace("/", "__").replace(":", "_") + ".npz")
    if path.exists():
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    times, pitches, x = collect(audio16)
    out = {"x": x, "y": labels(times, pitches, truth), "times": times, "pitches": pitches, "truth": truth}
    np.savez_compressed(path, **out)
    return out


def all_timed_rows(log=print, renders: int = RENDERS) -> list[tuple[str, dict]]:
    """The sources of ``all_rows`` with their candidates' times and truth (``timed_source_rows``)."""
    started = time.time()
    out = []
    for name, audio, truth in real_sources():
        out.append((name, timed_source_rows(name, audio, truth)))
        log(f"  {name}: {len(out[-1][1]['y'])} candidates ({time.time() - started:.0f} s)", flush=True)
    for index, midi in enumerate(render_midis(renders)):
        cached = CACHE / (f"render{index}.name")
        path = CACHE / "timed" / (cached.read_text().replace("/", "__").replace(":", "_") + ".npz") \
            if cached.exists() else None
        if path is not None and path.exists():
            out.append((cached.read_text(), timed_source_rows(cached.read_text(), np.zeros(0), np.zeros((0, 2)))))
        else:
            name, audio, truth = rendered_source(index, midi)
            out.append((name, timed_source_rows(name, audio, truth)))
        if index % 6 == 5:
            log(f"  renders 0-{index}: ({time.time() - started:.0f} s)", flush=True)
    return out


def simulated_expectation(times_s: np.ndarray, pitches: np.ndarray, truth: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
    """``EXPECTATION_FEATURES`` rows for candidates (``times_s``, ``pitches``) of a source whose strikes are
    ``truth`` (onset_s, midi): what a score follower would expect at each frame (module docstring)."""
    from tutor.listen.piano_live import LOWEST_MIDI
    from tutor.models.piano_strikes import EXPECTATION_FEATURES, expectation_features
    out = np.zeros((len(times_s), len(EXPECTATION_FEATURES)))
    if not len(truth) or not len(times_s):
        return out
    order = np.argsort(truth[:, 0], kind="stable")
    onsets, written = truth[order, 0], truth[order, 1].astype(np.int64).copy()
    moved = rng.random(len(written)) < WRONG_SHARE
    written[moved] += np.where(rng.random(int(moved.sum())) < 0.5, 2, -2)
    starts: list[int] = []
    for i, onset in enumerate(onsets):
        if not starts or onset - onsets[starts[-1]] > CHORD_S:
            starts.append(i)
    chord_onsets = onsets[starts]
    bounds = [*starts, len(onsets)]
    chords = [written[bounds[c]:bounds[c + 1]] for c in range(len(starts))]
    frame_times, frame_of = np.unique(times_s, return_inverse=True)
    for f, time_s in enumerate(frame_times):
        rows = np.flatnonzero(frame_of == f)
        current = int(np.searchsorted(chord_onsets, time_s + rng.normal(0.0, JITTER_S) - STRUCK_BY_S))
        draw = rng.random()
        current += -1 if draw < BEHIND_SHARE else 1 if draw < BEHIND_SHARE + AHEAD_SHARE else 0
        if rng.random() < LOST_SHARE:
            current += int(rng.choice(LOST_CHORDS))
        current = min(max(current, 0), len(chords) - 1)
        expected = np.concatenate(chords[current:current + AHEAD + 1])
        expected = expected[(expected >= LOWEST_MIDI) & (expected <= 108)]
        rising = np.zeros(128, bool)  # the candidates are the pitches whose partials rose GATE_DB
        rising[pitches[rows]] = True
        out[rows] = expectation_features(pitches[rows], expected=expected, rising=rising)
    return out


def score_rows(log=print, renders: int = RENDERS) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, ``FEATURES`` + ``EXPECTATION_FEATURES`` rows, labels) of every source (``--score``)."""
    out = []
    for index, (name, data) in enumerate(all_timed_rows(log, renders)):
        context = simulated_expectation(data["times"], data["pitches"], data["truth"],
                                        np.random.default_rng(SEED + 1000 + index))
        out.append((name, np.concatenate([data["x"], context], axis=1), data["y"]))
    return out


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
    from tutor.models.piano_strikes import SCORE_WEIGHTS, WEIGHTS

    argv = sys.argv[1:] if argv is None else argv
    started = time.time()
    renders = int(argv[argv.index("--renders") + 1]) if "--renders" in argv else RENDERS
    score = "--score" in argv
    rows = score_rows(renders=renders) if score else all_rows(renders=renders)
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
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else SCORE_WEIGHTS if score else WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **trees, sources=np.array([r[0] for r in rows]))
    print(f"saved {out} ({out.stat().st_size // 1024} kB, {x.shape[1]} features, "
          f"{trees['feature'].shape[0]} trees) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
