"""Learned note onsets of a single line (voice, bowed and blown instruments) from a pitch track (issue 22).

A frame classifier (scikit-learn gradient-boosted trees, exported to ``weights/note_onsets.npz`` by
``models/training/train_note_onsets.py``; model card ``cards/note_onsets.md``) gives each 10 ms frame the
probability that a note starts there, from what the pitch tracker already computed: the spectral flux
around the frame (a consonant, a bow change, a tongued attack), the level's rise and dip, the tracker's
confidence and voicing, and how far the pitch moves across the frame and how steady it is on either side
(a legato change of note), and the kind of instrument (``instrument_code``: a voice, a bowed string or
another single line: a sung note starts where its pitch does, a bowed one at the bow or finger change).
``onset_probability(f0, flux, instrument=...)`` gives that curve; ``tutor.listen.transcription`` picks
its peaks. Only numpy at inference: the trees are walked here.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "note_onsets.npz"
FLUX_REACH = (-3, 5)  # frames of flux either side of the frame (librosa's flux lags one frame)
PITCH_SPAN = 10  # frames each side over which the pitch's median and spread are taken
PITCH_GAP = 2  # frames left out right at the frame (the tracker's window straddles the change)

FEATURES = (
    [f"flux{k:+d}" for k in range(*FLUX_REACH)]
    + ["level_rel_max", "level_rise", "level_slope", "level_dip", "conf_before", "conf_at", "conf_after",
       "conf_min", "voiced_before", "voiced_after", "pitch_jump", "pitch_spread_before", "pitch_spread_after",
       "pitch_slope", "unvoiced_run_before", "instrument"]
)
# the ``instrument`` feature (issue 22, third pass): without it one curve served singers and violin alike; with
# it, leaving each violin movement out of training in turn, onset F1 at 50 ms rose 0.855 -> 0.883 and
# 0.532 -> 0.573 on the movement left out (docs/benchmarks.md, "Issue 22, third pass")
# harmonic features (issue 22, fourth pass): the energy at the tracked pitch's harmonics, measured from the
# 16 kHz audio (SSVD labels a sung onset where the 2nd harmonic appears; a bow change shows in the partials
# before the tracker's pitch moves)
HARMONIC_FEATURES = (
    ["h1_rise", "h2_rise", "h3_rise", "h1_rise_after", "h2_rise_after", "h3_rise_after", "h1_rel", "h2_rel",
     "h3_rel", "hsum_m4", "hsum_m2", "hsum_p2", "hsum_p4", "hsum_rel", "harmonicity_m3", "harmonicity",
     "harmonicity_p3", "old_note_fall", "harmonic_flux", "h2_over_h1"]
)
# ...and ten of them again 30 ms before and after the frame (a short context window)
CONTEXT_FEATURES = ("h1_rise", "h2_rise", "h3_rise", "hsum_m4", "hsum_m2", "hsum_p2", "hsum_p4", "harmonicity",
                    "old_note_fall", "harmonic_flux")
CONTEXT_FRAMES = (-3, 3)
FEATURES = (FEATURES + HARMONIC_FEATURES
            + [f"{name}@{d:+d}" for d in CONTEXT_FRAMES for name in CONTEXT_FEATURES])
HARM_SR = 16000  # the transcription's rate (tutor.listen.pitch.MODEL_SAMPLE_RATE)
HARM_HOP = 160  # 10 ms, the tracker's frames
HARM_WINDOW = 640  # 40 ms Hann
HARM_NFFT = 2048
HARM_COUNT = 6  # partials in the harmonic sum
HARM_REACH = 4  # frames either side measured at a frame's own reference pitch
HARM_CHUNK = 1024  # frames a pass (memory stays bounded for an hour's take)
VOICE, BOWED, OTHER = 0.0, 1.0, 2.0
BOWED_WORDS = ("violin", "viola", "cello", "fiddle", "contrabass", "double bass")


def instrument_code(instrument: str | None) -> float:
    """The ``instrument`` feature: VOICE for "voice", BOWED for a bowed string ("violin", "cello", ...),
    OTHER for anything else or None (wind renders in training; the app uses the model for voice and violin)."""
    name = (instrument or "").lower()
    if name == "voice":
        return VOICE
    return BOWED if any(word in name for word in BOWED_WORDS) else OTHER


def _windows(x: np.ndarray, before: int, after: int, fill: float) -> np.ndarray:
    """(n, before + after) rows: x[t - before : t + after] for every frame t (edges filled)."""
    padded = np.concatenate([np.full(before, fill), x, np.full(after, fill)])
    return np.lib.stride_tricks.sliding_window_view(padded, before + after)[: len(x)]


def features(midi: np.ndarray, voiced: np.ndarray, confidence: np.ndarray, level_db: np.ndarray,
             flux: np.ndarray | None, instrument: str | None = None, read=None, *, flux_p95: float | None = None,
             level_max_db: float | None = None) -> np.ndarray:
    """(frames, len(FEATURES)) float32 features of a pitch track: ``midi`` fractional semitones (NaN where
    unvoiced), ``flux`` the spectral flux per frame (None: zeros), scaled here by its 95th percentile;
    ``instrument`` what the take is played on (``instrument_code``); ``read(lo, hi)`` the clip's 16 kHz
    samples for the ``HARMONIC_FEATURES`` (``harmonic_features``; None: those are NaN). ``flux_p95`` and
    ``level_max_db``: the take's flux percentile and loudest frame when the frames given are a part of it (a live
    window), instead of those of the frames given."""
    n = len(midi)
    if n == 0:
        return np.zeros((0, len(FEATURES)), np.float32)
    base = _track_features(midi, voiced, confidence, level_db, flux, instrument, flux_p95=flux_p95,
                           level_max_db=level_max_db)
    if read is None:
        harmonic = np.full((n, len(HARMONIC_FEATURES)), np.nan, np.float32)
    else:
        harmonic = harmonic_features(read, midi, voiced)
    chosen = harmonic[:, [HARMONIC_FEATURES.index(name) for name in CONTEXT_FEATURES]]
    context = []
    for d in CONTEXT_FRAMES:  # the chosen columns at frame t + d (NaN past the ends)
        moved = np.full_like(chosen, np.nan)
        if d > 0:
            moved[:-d] = chosen[d:]
        else:
            moved[-d:] = chosen[:d]
        context.append(moved)
    return np.column_stack([base, harmonic, *context]).astype(np.float32)


def _reference_pitches(midi: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(before, after): the median pitch of the frames before and after each frame (as ``pitch_jump``
    takes them), each standing in for the other where it has no voiced frame."""
    m = np.where(voiced, midi, np.nan)
    before = _windows(m, PITCH_SPAN, 0, np.nan)[:, : PITCH_SPAN - PITCH_GAP]
    after = _windows(m, 0, PITCH_SPAN, np.nan)[:, PITCH_GAP:]
    with np.errstate(all="ignore"), _quiet():
        mb, ma = np.nanmedian(before, 1), np.nanmedian(after, 1)
    return np.where(np.isnan(mb), ma, mb), np.where(np.isnan(ma), mb, ma)


def _band_edges(midi_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) FFT bins of the bands around harmonics 1..HARM_COUNT of each pitch (+-3 %, at least 25 Hz)."""
    bin_hz = HARM_SR / HARM_NFFT
    centre = 440.0 * 2.0 ** ((midi_ref[:, None] - 69.0) / 12.0) * np.arange(1, HARM_COUNT + 1)[None, :]
    half = np.maximum(centre * 0.03, 25.0)
    lo = np.clip(np.floor((centre - half) / bin_hz), 0, HARM_NFFT // 2).astype(np.int64)
    hi = np.clip(np.ceil((centre + half) / bin_hz) + 1, 1, HARM_NFFT // 2 + 1).astype(np.int64)
    return lo, hi


def _harmonic_powers(read, midi: np.ndarray, voiced: np.ndarray):
    """(after, before, total): dB power in each harmonic band of the pitch after / before frame t, measured
    in frames t - HARM_REACH .. t + HARM_REACH ((frames, 2 HARM_REACH + 1, HARM_COUNT); NaN where no pitch),
    and each frame's power from 50 Hz to 5 kHz. 40 ms Hann frames every 10 ms, centred as the tracker's."""
    import scipy.fft

    n = len(midi)
    mb, ma = _reference_pitches(midi, voiced)
    edges = {key: _band_edges(np.where(np.isfinite(ref), ref, 60.0)) for key, ref in (("a", ma), ("b", mb))}
    window = np.hanning(HARM_WINDOW).astype(np.float32)
    width = 2 * HARM_REACH + 1
    out = {key: np.full((n, width, HARM_COUNT), np.nan, np.float32) for key in edges}
    total = np.zeros(n, np.float32)
    bin_hz = HARM_SR / HARM_NFFT
    band = (int(50 / bin_hz), int(5000 / bin_hz))
    for c0 in range(0, n, HARM_CHUNK):
        c1 = min(n, c0 + HARM_CHUNK)
        first, last = c0 - HARM_REACH, c1 + HARM_REACH
        samples = read(first * HARM_HOP - HARM_WINDOW // 2, (last - 1) * HARM_HOP + HARM_WINDOW // 2)
        frames = np.lib.stride_tricks.sliding_window_view(samples, HARM_WINDOW)[::HARM_HOP][: last - first]
        spectrum = scipy.fft.rfft(frames * window, n=HARM_NFFT, axis=1)
        power = spectrum.real.astype(np.float64) ** 2 + spectrum.imag.astype(np.float64) ** 2
        cumulative = np.concatenate([np.zeros((len(power), 1)), np.cumsum(power, 1)], 1)
        rows = np.arange(c0, c1)
        local = rows - first
        total[c0:c1] = 10 * np.log10(cumulative[local, band[1]] - cumulative[local, band[0]] + 1e-10)
        for d in range(-HARM_REACH, HARM_REACH + 1):
            at = (local + d)[:, None]
            for key, (lo, hi) in edges.items():
                out[key][c0:c1, d + HARM_REACH] = 10 * np.log10(cumulative[at, hi[rows]] - cumulative[at, lo[rows]] + 1e-10)
    out["a"][~np.isfinite(ma)] = np.nan
    out["b"][~np.isfinite(mb)] = np.nan
    return out["a"], out["b"], total


def harmonic_features(read, midi: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """(frames, len(HARMONIC_FEATURES)): at the pitch the tracker hears after each frame, the rise of the
    1st-3rd partials' energy over the 30 ms before and after it, their level against the clip's loudest
    harmonic sum, the harmonic sum's change from 40 / 20 ms before to 20 / 40 ms after, its share of the
    frame's whole energy (harmonicity) 30 ms before, at and after, the fall of the previous pitch's harmonic
    sum, a positive flux summed over the partials' bands, and the 2nd partial against the 1st.
    ``read(lo, hi)``: the clip's 16 kHz samples (zeros outside it)."""
    after, before, total = _harmonic_powers(read, midi, voiced)
    r = HARM_REACH
    with np.errstate(all="ignore"), _quiet():
        hsum = 10 * np.log10(np.sum(10 ** (after / 10.0), axis=-1))
        hsum_before = 10 * np.log10(np.sum(10 ** (before / 10.0), axis=-1))
        top = float(np.nanmax(hsum[:, r])) if np.isfinite(hsum[:, r]).any() else 0.0
        shifted = {d: np.concatenate([np.full(d, np.nan), total[:-d]]) if d > 0 else
                   np.concatenate([total[-d:], np.full(-d, np.nan)]) for d in (3, -3)}
        cols = [after[:, r, h] - after[:, r - 3, h] for h in range(3)]
        cols += [after[:, r + 3, h] - after[:, r, h] for h in range(3)]
        cols += [after[:, r, h] - top for h in range(3)]
        cols += [hsum[:, r + d] - hsum[:, r] for d in (-4, -2, 2, 4)]
        cols += [hsum[:, r] - top, hsum[:, r - 3] - shifted[3], hsum[:, r] - total, hsum[:, r + 3] - shifted[-3]]
        cols += [hsum_before[:, r + 3] - hsum_before[:, r - 3],
                 np.nansum(np.clip(after[:, r] - after[:, r - 2], 0, None), 1), after[:, r, 1] - after[:, r, 0]]
    return np.column_stack(cols).astype(np.float32)


def _track_features(midi, voiced, confidence, level_db, flux, instrument, *, flux_p95: float | None = None,
                    level_max_db: float | None = None) -> np.ndarray:
    """The first len(FEATURES) - len(HARMONIC_FEATURES) columns: what the pitch tracker computed."""
    n = len(midi)
    flux = np.zeros(n) if flux is None else np.asarray(flux, dtype=np.float64)[:n]
    if len(flux) < n:
        flux = np.pad(flux, (0, n - len(flux)))
    scale = flux_p95 if flux_p95 is not None else float(np.percentile(flux, 95)) if flux.any() else 1.0
    flux = flux / max(scale, 1e-6)
    level = np.maximum(np.asarray(level_db, dtype=np.float64), -80.0)
    conf = np.asarray(confidence, dtype=np.float64)
    v = np.asarray(voiced, dtype=np.float64)
    cols = [_windows(flux, -FLUX_REACH[0], FLUX_REACH[1], 0.0)]
    lw_before = _windows(level, 10, 1, -80.0)  # t-10 .. t
    lw_after = _windows(level, 0, 6, -80.0)  # t .. t+5
    rise = lw_after.max(1) - lw_before[:, -6:].min(1)
    slope = _windows(level, 3, 4, -80.0)
    cols.append(np.column_stack([
        level - (level.max() if level_max_db is None else max(level_max_db, level.max())), rise, slope[:, -1] - slope[:, 0], lw_before.max(1) - level,
    ]))
    cw = _windows(conf, 3, 4, 0.0)
    cols.append(np.column_stack([cw[:, 0], conf, cw[:, -1], cw.min(1)]))
    vb, va = _windows(v, PITCH_SPAN, 0, 0.0), _windows(v, 0, PITCH_SPAN, 0.0)
    cols.append(np.column_stack([vb.mean(1), va.mean(1)]))
    m = np.where(voiced, midi, np.nan)
    before = _windows(m, PITCH_SPAN, 0, np.nan)[:, : PITCH_SPAN - PITCH_GAP]
    after = _windows(m, 0, PITCH_SPAN, np.nan)[:, PITCH_GAP:]
    with np.errstate(all="ignore"), _quiet():
        mb, ma = np.nanmedian(before, 1), np.nanmedian(after, 1)
        sb, sa = np.nanstd(before, 1), np.nanstd(after, 1)
    local = _windows(m, 1, 2, np.nan)
    # unvoiced frames just before the frame (a consonant or a breath, the gap before a sung note)
    run = np.zeros(n)
    count = 0
    for t in range(n):
        run[t] = count
        count = 0 if voiced[t] else count + 1
    cols.append(np.column_stack([np.abs(ma - mb), sb, sa, np.abs(local[:, 2] - local[:, 0]), np.minimum(run, 50),
                                 np.full(n, instrument_code(instrument))]))
    return np.column_stack(cols).astype(np.float32)


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


@functools.cache
def load_trees(path: Path = WEIGHTS) -> dict[str, np.ndarray] | None:
    """The exported trees (None when the weights file is missing)."""
    if not path.exists():
        return None
    with np.load(path) as data:
        return {key: data[key] for key in data.files if key != "clips"}  # clips: what it was trained on


def predict(trees: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """P(onset) of each row of ``x`` (a binary ``HistGradientBoostingClassifier``'s trees). Each (row, tree) pair
    is walked down its tree level by level, and leaves the walk once at a leaf (most trees are far shallower than
    the deepest: the live piano path judges a hop's strike candidates with it)."""
    x = np.asarray(x, dtype=np.float64)
    n_trees, width = trees["feature"].shape
    feature, threshold = trees["feature"].ravel(), trees["threshold"].ravel()
    left, right, leaf = trees["left"].ravel(), trees["right"].ravel(), trees["leaf"].ravel()
    missing_left, value = trees["missing_left"].ravel(), trees["value"].ravel()
    n_rows, n_features = x.shape
    x_flat = x.ravel()
    root = np.tile(np.arange(n_trees) * width, n_rows)  # each pair's tree (its root node, flat)
    row = np.repeat(np.arange(n_rows) * n_features, n_trees)  # its row of x (flat)
    at = root.copy()  # its node (flat)
    walking = np.flatnonzero(~leaf[at])
    for _ in range(int(trees["depth"])):
        if not len(walking):
            break
        here = at[walking]
        values = x_flat[row[walking] + feature[here]]
        go_left = np.where(np.isnan(values), missing_left[here], values <= threshold[here])
        at[walking] = root[walking] + np.where(go_left, left[here], right[here])
        walking = walking[~leaf[at[walking]]]
    raw = float(trees["baseline"]) + value[at].reshape(n_rows, n_trees).sum(1)
    return 1.0 / (1.0 + np.exp(-raw))


def export(model) -> dict[str, np.ndarray]:
    """A fitted binary ``HistGradientBoostingClassifier`` as padded arrays (one row per tree)."""
    trees = [predictor.nodes for iteration in model._predictors for predictor in iteration]
    width = max(nodes.shape[0] for nodes in trees)

    def padded(field: str, dtype) -> np.ndarray:
        out = np.zeros((len(trees), width), dtype=dtype)
        for i, nodes in enumerate(trees):
            out[i, : nodes.shape[0]] = nodes[field]
        return out

    leaf = padded("is_leaf", np.bool_)
    leaf |= np.arange(width)[None, :] >= np.array([n.shape[0] for n in trees])[:, None]
    depth = max(int(nodes["depth"].max()) for nodes in trees) + 1
    return {"feature": padded("feature_idx", np.int64), "threshold": padded("num_threshold", np.float64),
            "left": padded("left", np.int64), "right": padded("right", np.int64), "leaf": leaf,
            "missing_left": padded("missing_go_to_left", np.bool_), "value": padded("value", np.float64),
            "baseline": np.array(float(np.ravel(model._baseline_prediction)[0])), "depth": np.array(depth)}


@functools.lru_cache(maxsize=2)
def _loaded_trees(path: str, modified_ns: int) -> dict[str, np.ndarray] | None:
    trees = load_trees(Path(path))
    for array in (trees or {}).values():
        array.flags.writeable = False  # one copy for every caller
    return trees


def shipped_trees() -> dict[str, np.ndarray] | None:
    """The shipped weights' trees, read once (again if the file changes); None without them. The live path asks
    for them ten times a second (``tutor.listen.windowed_notes``)."""
    return _loaded_trees(str(WEIGHTS), WEIGHTS.stat().st_mtime_ns) if WEIGHTS.exists() else None


def onset_probability(midi, voiced, confidence, level_db, flux, trees: dict | None = None,
                      instrument: str | None = None, read=None, *, flux_p95: float | None = None,
                      level_max_db: float | None = None) -> np.ndarray | None:
    """P(a note starts at this frame) for every frame of a take played on ``instrument``, or None without
    weights; ``read(lo, hi)``: the take's 16 kHz samples (the harmonic features; None: those are NaN)."""
    trees = trees if trees is not None else shipped_trees()
    if trees is None:
        return None
    return predict(trees, features(midi, voiced, confidence, level_db, flux, instrument, read, flux_p95=flux_p95,
                                   level_max_db=level_max_db))
