"""Symbolic features shared by the style and emotion models (numpy only, no torch).

A piece is a ``NoteTable``: one row per sounding note with its pitch, position and length in quarter notes
and in seconds, velocity and part, made from a ``Score`` (``table_from_score``) or a MIDI file
(``table_from_midi``), so that training and inference compute exactly the same numbers.
``hand_features`` gives a fixed-length vector of interpretable descriptors, ``note_tokens`` per-note
integer codes for the sequence encoders, ``windows`` 8-bar windows of a long piece; the ``emotion_*`` and
``performance_tokens`` functions are the emotion model's inputs. Why not miditok: ``models/cards/style.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Krumhansl-Kessler key profiles (major, minor), C tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True, eq=False)
class NoteTable:
    """Notes of a piece as parallel arrays, sorted by onset then pitch."""

    pitch: np.ndarray  # int, MIDI numbers
    onset_ql: np.ndarray
    duration_ql: np.ndarray
    onset_s: np.ndarray
    duration_s: np.ndarray
    velocity: np.ndarray
    part: np.ndarray  # int, 0-based part index
    bar_ql: float = 4.0  # length of a bar of the (first) metre
    beat_ql: float = 1.0  # the metre's beat (1.5 in 6/8)
    meter: str = "4/4"
    n_parts: int = 1

    def __len__(self) -> int:
        return int(self.pitch.size)

    def select(self, mask: np.ndarray) -> NoteTable:
        return NoteTable(
            self.pitch[mask], self.onset_ql[mask], self.duration_ql[mask], self.onset_s[mask],
            self.duration_s[mask], self.velocity[mask], self.part[mask], self.bar_ql, self.beat_ql,
            self.meter, self.n_parts,
        )


def _meter_beat(numerator: int, denominator: int) -> float:
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return 1.5
    return 4.0 / denominator


def table_from_score(score) -> NoteTable:
    """The ``NoteTable`` of a ``tutor.score.music.Score``; onsets are shifted so a pickup starts at its bar."""
    notes = sorted(score.notes, key=lambda n: (n.onset_ql, n.pitch))
    part_index = {p.id: i for i, p in enumerate(score.parts)}
    numerator, denominator = 4, 4
    if score.time_signatures:
        numerator, denominator = score.time_signatures[0].numerator, score.time_signatures[0].denominator
    bar_ql = numerator * 4.0 / denominator
    shift = 0.0
    if score.measures:  # a pickup measure: shift so that bar lines fall on multiples of bar_ql
        first = score.measures[0]
        if first.duration_ql < bar_ql - 1e-6:
            shift = bar_ql - first.duration_ql
    return NoteTable(
        pitch=np.array([n.pitch for n in notes], dtype=np.int64),
        onset_ql=np.array([n.onset_ql + shift for n in notes], dtype=np.float64),
        duration_ql=np.array([n.duration_ql for n in notes], dtype=np.float64),
        onset_s=np.array([n.onset_s for n in notes], dtype=np.float64),
        duration_s=np.array([n.duration_s for n in notes], dtype=np.float64),
        velocity=np.array([n.velocity for n in notes], dtype=np.float64),
        part=np.array([part_index.get(n.part, 0) for n in notes], dtype=np.int64),
        bar_ql=bar_ql, beat_ql=_meter_beat(numerator, denominator), meter=f"{numerator}/{denominator}",
        n_parts=max(1, len(score.parts)),
    )


def table_from_midi(source) -> NoteTable:
    """A performed MIDI file (a path, a binary file object: EMOPIA clips, or a ``PrettyMIDI`` already read)
    as a ``NoteTable``; quarter notes come from the file's tempo map."""
    from tutor.score.midi import pretty_midi_module

    pretty_midi = pretty_midi_module()
    if isinstance(source, pretty_midi.PrettyMIDI):
        midi = source
    else:
        midi = pretty_midi.PrettyMIDI(str(source) if isinstance(source, str | Path) else source)
    rows = []
    for index, instrument in enumerate(i for i in midi.instruments if not i.is_drum):
        for note in instrument.notes:
            rows.append((note.start, note.end, note.pitch, note.velocity, index))
    rows.sort(key=lambda r: (r[0], r[2]))
    onset_s = np.array([r[0] for r in rows], dtype=np.float64)
    offset_s = np.array([r[1] for r in rows], dtype=np.float64)
    ticks_on = np.array([midi.time_to_tick(t) for t in onset_s], dtype=np.float64)
    ticks_off = np.array([midi.time_to_tick(t) for t in offset_s], dtype=np.float64)
    tpq = float(midi.resolution)
    ts = midi.time_signature_changes[0] if midi.time_signature_changes else None
    numerator, denominator = (ts.numerator, ts.denominator) if ts else (4, 4)
    return NoteTable(
        pitch=np.array([r[2] for r in rows], dtype=np.int64),
        onset_ql=ticks_on / tpq, duration_ql=(ticks_off - ticks_on) / tpq,
        onset_s=onset_s, duration_s=offset_s - onset_s,
        velocity=np.array([r[3] for r in rows], dtype=np.float64),
        part=np.array([r[4] for r in rows], dtype=np.int64),
        bar_ql=numerator * 4.0 / denominator, beat_ql=_meter_beat(numerator, denominator),
        meter=f"{numerator}/{denominator}", n_parts=max(1, len({r[4] for r in rows})),
    )


# ---------------------------------------------------------------------------------------------
# key
# ---------------------------------------------------------------------------------------------
def pitch_class_histogram(pitch: np.ndarray, weight: np.ndarray) -> np.ndarray:
    hist = np.bincount(np.asarray(pitch) % 12, weights=weight, minlength=12).astype(np.float64)
    total = hist.sum()
    return hist / total if total > 0 else hist


def key_scores(hist: np.ndarray) -> np.ndarray:
    """Correlation of a pitch-class histogram with the 24 rotated KK profiles: [major C..B, minor C..B]."""
    if not hist.any() or hist.std() == 0:
        return np.zeros(24)
    h = (hist - hist.mean()) / hist.std()
    return _PROFILES_Z @ h / 12.0


def _standardised_profiles() -> np.ndarray:
    rows = [np.roll(KK_MAJOR, t) for t in range(12)] + [np.roll(KK_MINOR, t) for t in range(12)]
    m = np.array(rows)
    return (m - m.mean(1, keepdims=True)) / m.std(1, keepdims=True)


_PROFILES_Z = _standardised_profiles()


def estimate_key(pitch: np.ndarray, duration: np.ndarray) -> tuple[int, str, float]:
    """(tonic pitch class, 'major'|'minor', correlation) by Krumhansl-Schmuckler."""
    scores = key_scores(pitch_class_histogram(pitch, np.maximum(duration, 1e-3)))
    best = int(np.argmax(scores))
    return best % 12, "major" if best < 12 else "minor", float(scores[best])


# ---------------------------------------------------------------------------------------------
# hand features
# ---------------------------------------------------------------------------------------------
DURATION_BINS_QL = np.array([0.0, 0.2, 0.3, 0.4, 0.6, 0.8, 1.1, 1.6, 2.1, 3.1, 4.1, 1e9])
INTERVAL_BINS = np.array([-100, -12.5, -7.5, -4.5, -2.5, -0.5, 0.5, 2.5, 4.5, 7.5, 12.5, 100])


def _hist(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return np.zeros(len(bins) - 1)
    h, _ = np.histogram(values, bins=bins)
    return h / max(1, values.size)


def _top_line(table: NoteTable) -> np.ndarray:
    """Indices of the highest note at each onset (the melody of a texture)."""
    if len(table) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((-table.pitch, table.onset_ql))
    onsets = table.onset_ql[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = np.diff(onsets) > 1e-6
    return order[first]


def _part_intervals(table: NoteTable) -> np.ndarray:
    out = []
    for part in np.unique(table.part):
        idx = np.flatnonzero(table.part == part)
        if idx.size < 2:
            continue
        # highest note per onset inside the part (chords in a piano part)
        onsets = table.onset_ql[idx]
        order = np.lexsort((-table.pitch[idx], onsets))
        keep = np.ones(order.size, dtype=bool)
        keep[1:] = np.diff(onsets[order]) > 1e-6
        line = table.pitch[idx][order][keep]
        out.append(np.diff(line))
    return np.concatenate(out) if out else np.zeros(0)


HAND_FEATURE_NAMES: list[str] = []


def hand_features(table: NoteTable) -> np.ndarray:
    """Fixed-length descriptors of a piece or window (see HAND_FEATURE_NAMES)."""
    names: list[str] = []
    values: list[float] = []

    def add(name: str, value) -> None:
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if arr.size == 1:
            names.append(name)
        else:
            names.extend(f"{name}{i}" for i in range(arr.size))
        values.extend(np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0).tolist())

    n = len(table)
    pitch = table.pitch.astype(np.float64) if n else np.zeros(1)
    dur_ql = table.duration_ql if n else np.zeros(1)
    span_ql = max(1e-3, float(table.onset_ql.max() + 0 if n else 1.0) - float(table.onset_ql.min() if n else 0.0)) + 1.0
    span_s = max(1e-3, float((table.onset_s + table.duration_s).max() - table.onset_s.min()) if n else 1.0)
    add("pitch_mean", (pitch.mean() - 60) / 12)
    add("pitch_std", pitch.std() / 12)
    add("pitch_p10_p90", (np.percentile(pitch, [10, 90]) - 60) / 12)
    add("pitch_range", (pitch.max() - pitch.min()) / 24)
    add("log_notes_per_ql", np.log1p(n / span_ql))
    add("log_notes_per_s", np.log1p(n / span_s))
    unique_onsets = np.unique(np.round(table.onset_ql, 4)) if n else np.zeros(1)
    add("chord_size", n / max(1, unique_onsets.size))
    add("log_onsets_per_ql", np.log1p(unique_onsets.size / span_ql))
    ioi_s = np.diff(np.unique(np.round(table.onset_s, 3))) if n > 1 else np.zeros(1)
    add("ioi_s_median_std", [np.median(ioi_s) if ioi_s.size else 0, ioi_s.std() if ioi_s.size else 0])
    add("dur_hist", _hist(dur_ql, DURATION_BINS_QL))
    add("log_dur_s", [np.log(np.median(table.duration_s) + 1e-3) if n else 0, np.log(table.duration_s.std() + 1e-3) if n else 0])
    add("velocity", [table.velocity.mean() / 127 if n else 0, table.velocity.std() / 127 if n else 0])
    # metre
    position = np.mod(table.onset_ql, table.bar_ql) if n else np.zeros(1)
    add("on_beat", np.mean(np.abs(np.mod(position + 1e-6, table.beat_ql)) < 1e-3))
    add("on_downbeat", np.mean(position < 1e-3))
    add("on_eighth", np.mean(np.abs(np.mod(position + 1e-6, 0.5)) < 1e-3))
    add("on_sixteenth", np.mean(np.abs(np.mod(position + 1e-6, 0.25)) < 1e-3))
    add("triplet", np.mean(np.abs(np.mod(table.onset_ql * 3 + 1e-6, 1.0)) < 1e-3) - np.mean(np.abs(np.mod(table.onset_ql + 1e-6, 1.0)) < 1e-3) if n else 0)
    add("meter", [table.bar_ql / 4, float(table.beat_ql == 1.5), float(table.meter in ("2/2", "4/2", "3/2"))])
    # pitch content relative to the key
    tonic, mode, strength = estimate_key(table.pitch, table.duration_ql) if n else (0, "major", 0.0)
    hist = pitch_class_histogram(table.pitch, np.maximum(table.duration_ql, 1e-3)) if n else np.zeros(12)
    add("pc_rel", np.roll(hist, -tonic))
    add("key", [float(mode == "minor"), strength])
    scores = key_scores(hist)
    add("key_margin", np.sort(scores)[-1] - np.sort(scores)[-2] if n else 0)
    add("n_pitch_classes", np.sum(hist > 0.01) / 12)
    profile = KK_MAJOR if mode == "major" else KK_MINOR
    in_scale = np.roll(profile, tonic) > 3.4
    add("chromatic", 1 - hist[in_scale].sum() if n else 0)
    # melodic intervals
    intervals = _part_intervals(table)
    add("interval_hist", _hist(intervals, INTERVAL_BINS))
    add("interval_abs_mean", np.abs(intervals).mean() / 12 if intervals.size else 0)
    add("repeat_rate", np.mean(intervals == 0) if intervals.size else 0)
    top = _top_line(table)
    top_int = np.diff(table.pitch[top]) if top.size > 1 else np.zeros(1)
    add("top_interval_abs", np.abs(top_int).mean() / 12)
    add("top_step", np.mean(np.isin(np.abs(top_int), (1, 2))))
    # texture and harmony: pitch-class sets at each onset (sounding notes)
    add("parts", [min(table.n_parts, 8) / 8, float(table.n_parts == 1)])
    add("harmony", _harmony_features(table, tonic))
    add("n", np.log1p(n))
    if not HAND_FEATURE_NAMES:
        HAND_FEATURE_NAMES.extend(names)
    return np.asarray(values, dtype=np.float32)


_TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8)}


def _harmony_features(table: NoteTable, tonic: int) -> np.ndarray:
    """Share of onsets whose sounding pitch classes form major/minor/dim triads, 7ths, clusters."""
    n = len(table)
    if n == 0:
        return np.zeros(7)
    onsets = np.unique(np.round(table.onset_ql, 4))
    if onsets.size > 400:
        onsets = onsets[np.linspace(0, onsets.size - 1, 400).astype(int)]
    ends = table.onset_ql + table.duration_ql
    counts = np.zeros(7)
    for t in onsets:
        sounding = (table.onset_ql <= t + 1e-6) & (ends > t + 1e-6)
        pcs = set((table.pitch[sounding] % 12).tolist())
        if len(pcs) < 3:
            counts[6] += 1
            continue
        found = False
        for root in pcs:
            rel = {(p - root) % 12 for p in pcs}
            for k, (name, triad) in enumerate(_TRIADS.items()):
                if set(triad) <= rel:
                    counts[k] += 1
                    if (10 in rel or 11 in rel) and name in ("maj", "min", "dim"):
                        counts[4] += 1
                    found = True
                    break
            if found:
                break
        if not found:
            counts[5] += 1
    return counts / onsets.size


# ---------------------------------------------------------------------------------------------
# token sequences
# ---------------------------------------------------------------------------------------------
TOKEN_FIELDS = (("pc", 13), ("octave", 10), ("dur", 12), ("pos", 18), ("interval", 13), ("chord", 6))
MAX_TOKENS = 256


def note_tokens(table: NoteTable, *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """(len, 6) int array: pitch class relative to the estimated tonic, octave, duration class,
    position-in-bar class (16ths of the bar, 16 = off the grid), melodic interval class, chord size.
    Value 0 of each field is kept for padding."""
    n = len(table)
    if n == 0:
        return np.zeros((1, len(TOKEN_FIELDS)), dtype=np.int64)
    tonic, _, _ = estimate_key(table.pitch, table.duration_ql)
    pc = (table.pitch - tonic) % 12 + 1
    octave = np.clip(table.pitch // 12, 0, 8) + 1
    dur = np.clip(np.digitize(table.duration_ql, DURATION_BINS_QL[1:-1]), 0, 10) + 1
    position = np.mod(table.onset_ql, table.bar_ql) / table.bar_ql * 16
    pos = np.where(np.abs(position - np.round(position)) < 0.05, np.round(position) % 16, 16).astype(np.int64) + 1
    interval = np.zeros(n, dtype=np.int64)
    for part in np.unique(table.part):
        idx = np.flatnonzero(table.part == part)
        if idx.size > 1:
            interval[idx[1:]] = np.diff(table.pitch[idx])
    interval = np.clip(np.digitize(interval, INTERVAL_BINS[1:-1]), 0, 11) + 1
    rounded = np.round(table.onset_ql, 4)
    _, inverse, counts = np.unique(rounded, return_inverse=True, return_counts=True)
    chord = np.clip(counts[inverse], 1, 5)
    tokens = np.stack([pc, octave, dur, pos, interval, chord], axis=1).astype(np.int64)
    if tokens.shape[0] > max_tokens:
        tokens = tokens[:max_tokens]
    return tokens


def windows(table: NoteTable, *, bars: int = 8, max_windows: int | None = None) -> list[NoteTable]:
    """Consecutive ``bars``-bar windows (the last one kept when at least half full)."""
    if len(table) == 0:
        return []
    length = bars * table.bar_ql
    start = float(np.floor(table.onset_ql.min() / table.bar_ql) * table.bar_ql)
    end = float(table.onset_ql.max())
    out = []
    position = start
    while position <= end:
        mask = (table.onset_ql >= position - 1e-6) & (table.onset_ql < position + length - 1e-6)
        if mask.sum() >= 8 and (position + length <= end + table.bar_ql or not out):
            sub = table.select(mask)
            out.append(NoteTable(sub.pitch, sub.onset_ql - position, sub.duration_ql, sub.onset_s - sub.onset_s.min(),
                                 sub.duration_s, sub.velocity, sub.part, sub.bar_ql, sub.beat_ql, sub.meter, sub.n_parts))
        position += length
    if max_windows is not None and len(out) > max_windows:
        pick = np.linspace(0, len(out) - 1, max_windows).round().astype(int)
        out = [out[i] for i in pick]
    return out


# ---------------------------------------------------------------------------------------------
# emotion descriptors (seconds, dynamics, consonance): added to the hand features for EMOPIA
# ---------------------------------------------------------------------------------------------
_DISSONANT = np.zeros(12, dtype=bool)
_DISSONANT[[1, 2, 6, 10, 11]] = True


def emotion_features(table: NoteTable) -> np.ndarray:
    """Tempo, loudness, articulation, register and consonance descriptors in seconds."""
    n = len(table)
    if n == 0:
        return np.zeros(16, dtype=np.float32)
    span_s = max(1.0, float((table.onset_s + table.duration_s).max() - table.onset_s.min()))
    onsets = np.unique(np.round(table.onset_s, 2))
    ioi = np.diff(onsets) if onsets.size > 1 else np.array([1.0])
    vel = table.velocity
    # sounding pitch pairs at each onset: share of dissonant intervals
    ends = table.onset_s + table.duration_s
    sample = onsets if onsets.size <= 300 else onsets[np.linspace(0, onsets.size - 1, 300).astype(int)]
    dissonant = total = 0
    low, high, poly = [], [], []
    for t in sample:
        sounding = table.pitch[(table.onset_s <= t + 1e-3) & (ends > t + 1e-3)]
        if sounding.size == 0:
            continue
        low.append(sounding.min())
        high.append(sounding.max())
        poly.append(sounding.size)
        if sounding.size > 1:
            diffs = np.abs(sounding[:, None] - sounding[None, :])[np.triu_indices(sounding.size, 1)] % 12
            dissonant += int(_DISSONANT[diffs].sum())
            total += diffs.size
    tonic, mode, _ = estimate_key(table.pitch, table.duration_s)
    scores = key_scores(pitch_class_histogram(table.pitch, np.maximum(table.duration_s, 1e-3)))
    values = [
        np.log(n / span_s), np.log(onsets.size / span_s), np.log(np.median(ioi) + 1e-3), np.std(np.log(ioi + 1e-3)),
        vel.mean() / 127, vel.std() / 127, np.percentile(vel, 90) / 127,
        np.median(table.duration_s / np.maximum(np.median(ioi), 1e-2)) / 4,
        (np.mean(low) - 48) / 12 if low else 0, (np.mean(high) - 72) / 12 if high else 0,
        np.mean(poly) / 4 if poly else 0, dissonant / max(1, total),
        scores[:12].max() - scores[12:].max(), float(mode == "major"),
        np.corrcoef(table.onset_s, table.velocity)[0, 1] if n > 2 and vel.std() > 0 else 0,
        np.corrcoef(table.onset_s, table.pitch)[0, 1] if n > 2 and table.pitch.std() > 0 else 0,
    ]
    return np.nan_to_num(np.asarray(values, dtype=np.float32))


PERFORMANCE_TOKEN_FIELDS = (("pc", 13), ("octave", 10), ("dur_s", 10), ("ioi_s", 10), ("velocity", 9), ("chord", 6))
_TIME_BINS_S = np.array([0.06, 0.1, 0.15, 0.22, 0.33, 0.5, 0.75, 1.1])


def performance_tokens(table: NoteTable, *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """(len, 6) int array for performed music (emotion): pitch class relative to the estimated
    tonic, octave, duration and inter-onset interval in seconds (log bins), velocity (8 bins),
    chord size. Value 0 of each field is padding."""
    n = len(table)
    if n == 0:
        return np.zeros((1, len(PERFORMANCE_TOKEN_FIELDS)), dtype=np.int64)
    tonic, _, _ = estimate_key(table.pitch, table.duration_s)
    pc = (table.pitch - tonic) % 12 + 1
    octave = np.clip(table.pitch // 12, 0, 8) + 1
    dur = np.digitize(table.duration_s, _TIME_BINS_S) + 1
    ioi = np.diff(table.onset_s, append=table.onset_s[-1] + 0.5)
    ioi_bin = np.digitize(ioi, _TIME_BINS_S) + 1
    vel = np.clip(table.velocity // 16, 0, 7).astype(np.int64) + 1
    rounded = np.round(table.onset_s, 2)
    _, inverse, counts = np.unique(rounded, return_inverse=True, return_counts=True)
    chord = np.clip(counts[inverse], 1, 5)
    tokens = np.stack([pc, octave, dur, ioi_bin, vel, chord], axis=1).astype(np.int64)
    return tokens[:max_tokens]


# ---------------------------------------------------------------------------------------------
# emotion: descriptors that mean the same for a notated score and a performed (transcribed) clip
# ---------------------------------------------------------------------------------------------
CHORD_TOLERANCE_S = 0.05  # notes starting within 50 ms are one chord (performed chords are spread)


def onset_clusters(table: NoteTable) -> np.ndarray:
    """Cluster index of each note: notes whose onsets lie within ``CHORD_TOLERANCE_S`` of the
    cluster's first note sound as one chord."""
    cluster = np.zeros(len(table), dtype=np.int64)
    if len(table) == 0:
        return cluster
    start = table.onset_s[0]
    current = 0
    for i in range(1, len(table)):
        if table.onset_s[i] - start > CHORD_TOLERANCE_S:
            current += 1
            start = table.onset_s[i]
        cluster[i] = current
    return cluster


def has_dynamics(table: NoteTable) -> bool:
    """False for a notated score whose notes all carry the same default velocity."""
    return len(table) > 0 and float(table.velocity.std()) > 1.0


EMOTION_FEATURE_NAMES: list[str] = []
N_EMOTION_VECTOR = 45  # the length of emotion_vector (an empty piece gets as many zeros)


def emotion_vector(table: NoteTable, *, velocity_mean: float = 0.5, velocity_std: float = 0.1) -> np.ndarray:
    """Quantisation-free descriptors for emotion: register, density and rhythm in seconds, key and
    mode, pitch classes relative to the tonic, harmony and consonance, top-line intervals, dynamics.
    A score without dynamics gets ``velocity_mean``/``velocity_std`` (the training means) instead."""
    names: list[str] = []
    values: list[float] = []

    def add(name: str, value) -> None:
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
        names.extend([name] if arr.size == 1 else [f"{name}{i}" for i in range(arr.size)])
        values.extend(np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0).tolist())

    n = len(table)
    if n == 0:
        return np.zeros(N_EMOTION_VECTOR, dtype=np.float32)
    pitch = table.pitch.astype(np.float64)
    span_s = max(1.0, float((table.onset_s + table.duration_s).max() - table.onset_s.min()))
    cluster = onset_clusters(table)
    n_clusters = int(cluster.max()) + 1
    starts = np.array([table.onset_s[cluster == c].min() for c in range(n_clusters)])
    ioi = np.diff(starts) if n_clusters > 1 else np.array([1.0])
    top = np.array([pitch[cluster == c].max() for c in range(n_clusters)])
    low = np.array([pitch[cluster == c].min() for c in range(n_clusters)])
    top_int = np.diff(top) if top.size > 1 else np.zeros(1)
    add("pitch", [(pitch.mean() - 60) / 12, pitch.std() / 12, (np.percentile(pitch, 10) - 60) / 12,
                  (np.percentile(pitch, 90) - 60) / 12, (top.mean() - 72) / 12, (low.mean() - 48) / 12])
    add("density", [np.log(n / span_s), np.log(n_clusters / span_s), n / n_clusters])
    add("ioi", [np.log(np.median(ioi) + 1e-3), np.std(np.log(ioi + 1e-3)), np.mean(ioi > 0.6)])
    add("duration", [np.log(np.median(table.duration_s) + 1e-3), np.log(np.percentile(table.duration_s, 90) + 1e-3)])
    add("articulation", np.median(table.duration_s) / max(np.median(ioi), 1e-2) / 4)
    tonic, mode, strength = estimate_key(table.pitch, table.duration_s)
    hist = pitch_class_histogram(table.pitch, np.maximum(table.duration_s, 1e-3))
    scores = key_scores(hist)
    add("pc_rel", np.roll(hist, -tonic))
    add("key", [float(mode == "major"), strength, scores[:12].max() - scores[12:].max()])
    add("n_pitch_classes", np.sum(hist > 0.02) / 12)
    add("top_interval", [np.abs(top_int).mean() / 12, np.mean(np.abs(top_int) <= 2), np.mean(top_int == 0),
                         np.mean(np.abs(top_int) >= 7)])
    # harmony and consonance of what sounds at each cluster start
    ends = table.onset_s + table.duration_s
    sample = starts if starts.size <= 300 else starts[np.linspace(0, starts.size - 1, 300).astype(int)]
    dissonant = total = 0
    poly = []
    triads = np.zeros(4)
    for t in sample:
        sounding = table.pitch[(table.onset_s <= t + CHORD_TOLERANCE_S) & (ends > t + CHORD_TOLERANCE_S)]
        poly.append(sounding.size)
        if sounding.size > 1:
            diffs = np.abs(sounding[:, None] - sounding[None, :])[np.triu_indices(sounding.size, 1)] % 12
            dissonant += int(_DISSONANT[diffs].sum())
            total += diffs.size
        pcs = set((sounding % 12).tolist())
        for root in pcs:
            rel = {(p - root) % 12 for p in pcs}
            if {4, 7} <= rel:
                triads[0] += 1
                break
            if {3, 7} <= rel:
                triads[1] += 1
                break
            if {3, 6} <= rel:
                triads[2] += 1
                break
        else:
            triads[3] += 1
    add("polyphony", [np.mean(poly) / 4, np.percentile(poly, 90) / 6])
    add("dissonance", dissonant / max(1, total))
    add("triads", triads / max(1, len(sample)))
    if has_dynamics(table):
        vel = table.velocity / 127
        add("velocity", [vel.mean(), vel.std(), np.percentile(vel, 90)])
    else:
        add("velocity", [velocity_mean, velocity_std, min(1.0, velocity_mean + 1.3 * velocity_std)])
    if not EMOTION_FEATURE_NAMES:
        assert len(names) == N_EMOTION_VECTOR, f"emotion_vector has {len(names)} descriptors, N_EMOTION_VECTOR says {N_EMOTION_VECTOR}"
        EMOTION_FEATURE_NAMES.extend(names)
    return np.asarray(values, dtype=np.float32)


EMOTION_TOKEN_FIELDS = (("pc", 13), ("octave", 10), ("dur_s", 10), ("ioi_s", 10), ("top", 3), ("chord", 6))


def emotion_tokens(table: NoteTable, *, max_tokens: int = 512) -> np.ndarray:
    """(len, 6) int array, the same for scores and performances: pitch class relative to the tonic,
    octave, duration and time to the next chord in seconds (log bins), whether the note is the top
    of its chord, chord size (50 ms clusters). 0 is padding."""
    n = len(table)
    if n == 0:
        return np.zeros((1, len(EMOTION_TOKEN_FIELDS)), dtype=np.int64)
    tonic, _, _ = estimate_key(table.pitch, table.duration_s)
    cluster = onset_clusters(table)
    counts = np.bincount(cluster)
    starts = np.array([table.onset_s[cluster == c].min() for c in range(counts.size)])
    next_start = np.append(starts[1:], starts[-1] + 0.5)
    ioi = next_start[cluster] - starts[cluster]
    tops = np.array([table.pitch[cluster == c].max() for c in range(counts.size)])
    tokens = np.stack([
        (table.pitch - tonic) % 12 + 1,
        np.clip(table.pitch // 12, 0, 8) + 1,
        np.digitize(table.duration_s, _TIME_BINS_S) + 1,
        np.digitize(ioi, _TIME_BINS_S) + 1,
        (table.pitch == tops[cluster]).astype(np.int64) + 1,
        np.clip(counts[cluster], 1, 5),
    ], axis=1).astype(np.int64)
    return tokens[:max_tokens]
