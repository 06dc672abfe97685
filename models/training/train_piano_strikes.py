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

The model that hears the whole spectrum (``piano_strikes.SPECTRUM_WEIGHTS``; the live path's with
``piano_live.SPECTRUM`` on, off as shipped): ``--spectrum mlp`` (the recipe chosen on dev: a network on each candidate's ``spectrum_patch`` and its
``SPECTRUM_FEATURES``, fitted with torch on every strike and ``NETWORK_NEGATIVES`` of the other candidates, the
negatives weighted back; exported as numpy arrays) or ``--spectrum trees`` (the same trees on ``SPECTRUM_FEATURES``);
the same sources and labels, the candidates' frames cached in ``SPECTRUM_CACHE`` (~1.3 GB, ~1.5 min to make);
``--spectrum trees --check``: the 47-feature trees, the trees on ``SPECTRUM_FEATURES`` and the network trained without
the last real piece and compared there (AUC, frame P / R, R at the 47-feature trees' P at 0.4).
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
# the model that hears the whole spectrum (``--spectrum``): its own cache (the candidates' frames too), negatives
# kept for the patch network (all positives), its size and schedule
SPECTRUM_CACHE = Path.home() / ".cache" / "tutor" / "piano_strikes_spectrum"
NETWORK_NEGATIVES = 0.3
NETWORK_HIDDEN = (256, 64)
NETWORK_EPOCHS = 8
NETWORK_BATCH = 512


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


def collect_spectrum(audio16: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(times_s, pitches, FEATURES rows, each candidate's frame index, the frames' ``spectrum_frame`` float16) of
    every candidate ``PianoOnsets`` keeps in ``audio16`` with every pitch listened for."""
    from tutor.listen.piano_live import HOP, SAMPLE_RATE, PianoOnsets

    onsets = PianoOnsets(SAMPLE_RATE)
    onsets.collect, onsets.collect_spectrum = [], True
    for start in range(0, len(audio16), 64 * HOP):
        onsets.push(audio16[start:start + 64 * HOP], [], (21, 108))
    found = onsets.collect
    return (np.concatenate([np.full(len(p), t) for t, p, _, _ in found]), np.concatenate([p for _, p, _, _ in found]),
            np.concatenate([x for _, _, x, _ in found]),
            np.concatenate([np.full(len(p), i) for i, (_, p, _, _) in enumerate(found)]),
            np.stack([f for _, _, _, f in found]).astype(np.float16))


def spectrum_rows(log=print, renders: int = RENDERS) -> list[tuple[str, dict]]:
    """Per source (the same sources as ``all_rows``): its candidates' pitches, FEATURES rows, labels, frame index
    and frames, cached in SPECTRUM_CACHE."""
    SPECTRUM_CACHE.mkdir(parents=True, exist_ok=True)
    started = time.time()
    out = []

    def cached(name, make):
        path = SPECTRUM_CACHE / (name.replace("/", "__").replace(":", "_") + ".npz")
        if not path.exists():
            audio, truth = make()
            times, pitches, x, frame_of, frames = collect_spectrum(audio)
            np.savez(path, times=times, pitches=pitches, x=x, y=labels(times, pitches, truth), frame_of=frame_of,
                     frames=frames)
        with np.load(path) as data:
            out.append((name, {key: data[key] for key in data.files}))
        log(f"  {name}: {len(out[-1][1]['y'])} candidates ({time.time() - started:.0f} s)")

    for name, audio, truth in real_sources():
        cached(name, lambda audio=audio, truth=truth: (audio, truth))
    for index, midi in enumerate(render_midis(renders)):
        name = (CACHE / f"render{index}.name").read_text()

        def make(index=index, midi=midi, name=name):
            made, audio, truth = rendered_source(index, midi)
            assert made == name, (made, name)
            return audio, truth
        cached(name, make)
    return out


def spectrum_table(rows: list[tuple[str, dict]]) -> tuple[np.ndarray, np.ndarray]:
    """(SPECTRUM_FEATURES rows, labels) of the candidates not left out."""
    xs, ys = [], []
    for _, r in rows:
        keep = r["y"] >= 0
        xs.append(np.concatenate([r["x"][keep], _partials(r, keep)], axis=1))
        ys.append(r["y"][keep])
    return np.concatenate(xs), np.concatenate(ys)


def _partials(r: dict, keep: np.ndarray) -> np.ndarray:
    """``partial_features`` of a source's kept candidates, frame by frame."""
    from tutor.models.piano_strikes import PARTIAL_FEATURES, partial_features

    index = np.flatnonzero(keep)
    frame_of = r["frame_of"][index]
    parts = [partial_features(r["pitches"][index[chunk]], r["frames"][frame_of[chunk[0]]].astype(np.float32))
             for chunk in np.split(np.arange(len(index)), np.flatnonzero(np.diff(frame_of)) + 1) if len(chunk)]
    return np.concatenate(parts) if parts else np.empty((0, len(PARTIAL_FEATURES)))


def network_table(rows: list[tuple[str, dict]], mean: np.ndarray, scale: np.ndarray, *,
                  negatives: float = NETWORK_NEGATIVES, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(``piano_strikes.network_inputs`` rows, labels) of the candidates not left out: every strike, a ``negatives``
    share of the others (drawn with ``seed``; 1: all)."""
    from tutor.models.piano_strikes import network_inputs

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _, r in rows:
        keep = (r["y"] == 1) | ((r["y"] == 0) & (rng.random(len(r["y"])) < negatives))
        index = np.flatnonzero(keep)
        frame_of = r["frame_of"][index]
        for chunk in np.split(np.arange(len(index)), np.flatnonzero(np.diff(frame_of)) + 1):
            if len(chunk):
                at = index[chunk]
                xs.append(network_inputs(r["pitches"][at], r["x"][at], r["frames"][frame_of[chunk[0]]].astype(np.float32),
                                         mean, scale))
        ys.append(r["y"][index])
    return np.concatenate(xs), np.concatenate(ys)


def fit_network(x: np.ndarray, y: np.ndarray, *, negatives: float = NETWORK_NEGATIVES, log=print) -> dict:
    """A small network (``NETWORK_HIDDEN``, ReLU) fitted with torch on rows ``x`` (negatives weighted 1 / ``negatives``,
    so its odds are those of all candidates), exported as numpy arrays."""
    import torch

    torch.manual_seed(SEED)
    sizes = (x.shape[1], *NETWORK_HIDDEN, 1)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = NETWORK_EPOCHS * (len(x) // NETWORK_BATCH + 1)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    weight = torch.where(yt > 0, 1.0, 1.0 / negatives)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(NETWORK_EPOCHS):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), NETWORK_BATCH):
            batch = order[start:start + NETWORK_BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt[batch])[:, 0], yt[batch],
                                                                        weight=weight[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss) * len(batch)
        log(f"  epoch {epoch}: loss {total / len(x):.4f}")
    linear = [m for m in net if isinstance(m, torch.nn.Linear)]
    out = {"kind": np.array("mlp"), "layers": np.array(len(linear))}
    for i, m in enumerate(linear):
        out[f"w{i}"] = m.weight.detach().numpy().T.copy()
        out[f"b{i}"] = m.bias.detach().numpy().copy()
    return out


def spectrum_main(argv: list[str]) -> None:
    """``--spectrum [trees|mlp] [--check]``: the model that hears the whole spectrum, saved to
    ``piano_strikes.SPECTRUM_WEIGHTS``; with ``--check`` both recipes and the 47-feature trees trained without the
    last real piece and compared there (AUC, P / R at thresholds, R at the 47-feature trees' P at 0.4)."""
    from tutor.models.note_onsets import export, predict
    from tutor.models.piano_strikes import SPECTRUM_WEIGHTS

    started = time.time()
    rows = spectrum_rows()
    recipe = argv[argv.index("--spectrum") + 1] if len(argv) > argv.index("--spectrum") + 1 else "trees"
    check = "--check" in argv
    real = [i for i, (name, _) in enumerate(rows) if name.startswith("maps-dev")]
    test = real[-1] if check else None
    train = [r for i, r in enumerate(rows) if i != test]
    x, y = spectrum_table(train)
    x = x.astype(np.float32)
    print(f"{len(train)} sources, {len(y)} candidates, {int((y == 1).sum())} strikes, {x.shape[1]} features "
          f"({time.time() - started:.0f} s)", flush=True)
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0) + 1e-3
    models = {}
    if check or recipe == "trees":
        models["trees"] = export(fit(x, y))
        models["trees"]["kind"] = np.array("trees")
        print(f"  trees fitted ({time.time() - started:.0f} s)", flush=True)
    if check:
        models["trees47"] = export(fit(x[:, :47], y))
        print(f"  47-feature trees fitted ({time.time() - started:.0f} s)", flush=True)
    del x
    if check or recipe == "mlp":
        xn, yn = network_table(train, mean, scale)
        print(f"  network rows {xn.shape} ({time.time() - started:.0f} s)", flush=True)
        models["mlp"] = {**fit_network(xn, yn), "mean": mean, "scale": scale}
        del xn
        print(f"  network fitted ({time.time() - started:.0f} s)", flush=True)
    if check:
        from sklearn.metrics import roc_auc_score

        xt, yt = spectrum_table([rows[test]])
        xn, _ = network_table([rows[test]], mean, scale, negatives=1.0)
        odds = {"trees47": predict(models["trees47"], xt[:, :47]), "trees": predict(models["trees"], xt)}
        m = models["mlp"]
        h = xn
        for i in range(int(m["layers"])):
            h = h @ m[f"w{i}"] + m[f"b{i}"]
            h = np.maximum(h, 0.0) if i < int(m["layers"]) - 1 else h
        odds["mlp"] = 1.0 / (1.0 + np.exp(-h[:, 0]))
        base = odds["trees47"] >= 0.4
        base_p = (yt[base] == 1).mean()
        for key, p in odds.items():
            print(f"{rows[test][0]} {key}: AUC {roc_auc_score(yt == 1, p):.4f}; "
                  + "; ".join(f"P>={t}: P {(yt[p >= t] == 1).mean():.3f} R {(p >= t)[yt == 1].mean():.3f}"
                              for t in (0.3, 0.4, 0.5, 0.6)))
            order = np.argsort(-p)
            precision = np.cumsum(yt[order] == 1) / np.arange(1, len(p) + 1)
            ok = np.flatnonzero(precision >= base_p)
            recall = np.sum(yt[order][: ok.max() + 1] == 1) / np.sum(yt == 1) if len(ok) else 0.0
            print(f"    R at the 47-feature trees' P at 0.4 ({base_p:.3f}): {recall:.3f}", flush=True)
        np.savez("/tmp/piano_strikes_check_odds.npz", y=yt, pitches=rows[test][1]["pitches"][rows[test][1]["y"] >= 0],
                 **odds)
        return
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else SPECTRUM_WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **models[recipe], sources=np.array([name for name, _ in rows]))
    print(f"saved {out} ({out.stat().st_size // 1024} kB, {recipe}) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    import sys

    if "--spectrum" in sys.argv:
        spectrum_main(sys.argv[1:])
    else:
        main()
