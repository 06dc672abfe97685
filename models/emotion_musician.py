"""What a musician listens for in a piece's mood, per window and over the piece (issue 26): windowed
descriptors of a ``NoteTable`` and their statistics over the clip.

Valence: how clearly the key and its mode speak (Krumhansl-Schmuckler correlation, major minus minor),
the share of notes outside the key's scale (chromaticism), major or minor thirds over the bass of each
sonority, sharp dissonances (semitones, tritones) among the notes sounding together, whether a window's own
key agrees with the piece's. Arousal: notes and attacks per second, loudness and its spread, register
and its span, how many notes sound at once, attack rate of the top line.

Each descriptor is computed in 6-second windows (hop 3 s) and summarised by mean, spread, minimum and
maximum over the windows; all are free of a metric grid (seconds only), as the emotion model's other
inputs, and a score without dynamics gets EMOPIA's mean loudness (its spread within a window: the mean
spread ``VELOCITY_STD``). ``musician_features(table)`` returns ``N_MUSICIAN_FEATURES`` float32 numbers.
"""

from __future__ import annotations

import numpy as np

from .emotion_features import VELOCITY_MEAN, VELOCITY_STD
from .features import CHORD_TOLERANCE_S, has_dynamics, key_scores, onset_clusters, pitch_class_histogram

WINDOW_S, HOP_S = 6.0, 3.0
MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR_SCALE = np.array([0, 2, 3, 5, 7, 8, 10, 11])  # natural + the raised leading tone
WINDOW_NAMES = ("notes_per_s", "attacks_per_s", "velocity", "velocity_sd", "pitch", "span", "low", "sounding",
                "clarity", "major_minus_minor", "chromatic", "major_third", "minor_third", "dissonance",
                "agrees_with_key")
GLOBAL_NAMES = ("clarity", "major_minus_minor", "chromatic", "major_third", "minor_third", "dissonance",
                "velocity_trend", "pitch_trend", "density_trend", "windows_major")
N_MUSICIAN_FEATURES = 4 * len(WINDOW_NAMES) + len(GLOBAL_NAMES)


def _key_profile(pitch: np.ndarray, weight: np.ndarray) -> tuple[int, bool, float, float]:
    """(tonic, is major, clarity = best correlation, best major minus best minor correlation)."""
    scores = key_scores(pitch_class_histogram(pitch, weight))
    best = int(np.argmax(scores))
    return best % 12, best < 12, float(scores[best]), float(scores[:12].max() - scores[12:].max())


def _sonorities(pitch: np.ndarray, onset: np.ndarray, end: np.ndarray, at: np.ndarray):
    """For each time in ``at``: (major third over the bass, minor third over the bass, sharp dissonance share)."""
    sounding = (onset[None, :] <= at[:, None]) & (end[None, :] > at[:, None])
    out = np.zeros((len(at), 3))
    for row, mask in enumerate(sounding):
        notes = pitch[mask]
        if notes.size < 2:
            continue
        bass = int(notes.min())
        rel = {(int(p) - bass) % 12 for p in notes}
        out[row, 0] = 4 in rel and 3 not in rel
        out[row, 1] = 3 in rel and 4 not in rel
        pcs = np.unique(notes % 12)
        ic = (pcs[:, None] - pcs[None, :]) % 12
        pairs = np.triu(np.ones_like(ic, dtype=bool), 1)
        ic = np.minimum(ic, 12 - ic)[pairs]
        out[row, 2] = np.mean((ic == 1) | (ic == 6)) if ic.size else 0.0
    return out


def musician_features(table) -> np.ndarray:
    """``N_MUSICIAN_FEATURES`` descriptors of a ``NoteTable`` (see the module docstring)."""
    out = np.zeros(N_MUSICIAN_FEATURES)
    if len(table) < 2:
        return out.astype(np.float32)
    pitch = table.pitch.astype(np.int64)
    onset = table.onset_s.astype(np.float64) - float(table.onset_s.min())
    duration = np.maximum(table.duration_s.astype(np.float64), 1e-3)
    end = onset + duration
    dynamics = has_dynamics(table)
    # a score without dynamics gets EMOPIA's mean loudness (as emotion_vector and event_tokens do)
    velocity = table.velocity.astype(np.float64) / 127.0 if dynamics else np.full(len(table), VELOCITY_MEAN)
    cluster = onset_clusters(table)
    first = np.flatnonzero(np.diff(cluster, prepend=-1))
    starts = onset[first]
    tonic, major, clarity, mm = _key_profile(pitch, duration)
    scale = MAJOR_SCALE if major else MINOR_SCALE
    inside = np.isin((pitch - tonic) % 12, scale)
    sample = starts if starts.size <= 400 else starts[np.linspace(0, starts.size - 1, 400).astype(int)]
    son = _sonorities(pitch, onset, end, sample + CHORD_TOLERANCE_S)
    total_s = max(float(end.max()), 1.0)
    rows = []
    for start in np.arange(0.0, max(total_s - WINDOW_S, 0.0) + 1e-9, HOP_S):
        stop = start + WINDOW_S
        m = (onset >= start) & (onset < stop)
        if m.sum() < 3:
            continue
        p, d = pitch[m], duration[m]
        w_tonic, w_major, w_clarity, w_mm = _key_profile(p, d)
        s = (sample >= start) & (sample < stop)
        ws = son[s].mean(0) if s.any() else np.zeros(3)
        overlap = np.clip(np.minimum(end, stop) - np.maximum(onset, start), 0, None).sum()
        rows.append([
            m.sum() / WINDOW_S, ((starts >= start) & (starts < stop)).sum() / WINDOW_S,
            velocity[m].mean(), velocity[m].std(), (p.mean() - 60) / 12, (np.percentile(p, 95) - np.percentile(p, 5)) / 12,
            (p.min() - 48) / 12, overlap / WINDOW_S, w_clarity, w_mm, 1 - np.average(inside[m], weights=d),
            ws[0], ws[1], ws[2], float(w_tonic == tonic and w_major == major),
        ])
    if not rows:
        rows = [[0.0] * len(WINDOW_NAMES)]
    w = np.array(rows)
    if not dynamics:
        w[:, 3] = VELOCITY_STD
    stats = np.concatenate([w.mean(0), w.std(0), w.min(0), w.max(0)])

    def trend(values: np.ndarray) -> float:
        return float(np.polyfit(np.arange(len(values)), values, 1)[0]) if len(values) > 2 else 0.0

    glob = [clarity, mm, 1 - np.average(inside, weights=duration), *son.mean(0),
            trend(w[:, 2]), trend(w[:, 4]), trend(np.log1p(w[:, 0])), float(np.mean(w[:, 9] > 0))]
    out[:] = np.nan_to_num(np.concatenate([stats, glob]), nan=0.0, posinf=0.0, neginf=0.0)
    return out.astype(np.float32)
