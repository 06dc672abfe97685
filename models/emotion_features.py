"""What the emotion model reads from one clip or piece: the hand feature vector and note tokens
(``clip_features``: ``models.features.emotion_vector`` + ``valence_features``) and the MIDI-like
performance events of its sequence member (``event_tokens``, with the event vocabulary).

The same numbers for a notated score and a performed EMOPIA clip; ``tutor.models.training.emotion_data``
computes them for the training corpus with these functions.
"""

from __future__ import annotations

import numpy as np

from .features import (
    CHORD_TOLERANCE_S,
    emotion_tokens,
    emotion_vector,
    estimate_key,
    key_scores,
    onset_clusters,
    pitch_class_histogram,
)

EMOTION_TOKENS = 512  # a 30 s EMOPIA clip has ~200-600 notes


# mean and spread of EMOPIA's velocities (0..1): what a score without dynamics is given instead
VELOCITY_MEAN, VELOCITY_STD = 0.50, 0.10


N_VALENCE_FEATURES = 56


def valence_features(table) -> np.ndarray:
    """Descriptors for the sad/calm and tense/happy split (valence), all relative to the estimated
    tonic and free of any metric grid: which triads sound on which degree (major 0-11, minor 12-23,
    at up to 300 chord onsets), the bass line's and the top line's pitch classes, whether the bass
    line reads major or minor, the share of 8-second windows that read major, whether the last
    4 seconds rest on the tonic or dominant in the bass, and major-minor balances of the triads."""
    out = np.zeros(N_VALENCE_FEATURES)
    if len(table) == 0:
        return out.astype(np.float32)
    tonic, mode, strength = estimate_key(table.pitch, table.duration_s)
    cluster = onset_clusters(table)
    first = np.flatnonzero(np.diff(cluster, prepend=-1))  # a cluster's notes are contiguous
    starts = np.minimum.reduceat(table.onset_s, first)
    ends = table.onset_s + table.duration_s
    sample = starts if starts.size <= 300 else starts[np.linspace(0, starts.size - 1, 300).astype(int)]
    at = sample[:, None] + CHORD_TOLERANCE_S
    sounding_at = (table.onset_s[None, :] <= at) & (ends[None, :] > at)  # (samples, notes)
    triads, bass, counted = np.zeros(24), np.zeros(12), 0
    for row in sounding_at:
        sounding = table.pitch[row]
        if sounding.size == 0:
            continue
        lowest = int(sounding.min())
        bass[(lowest - tonic) % 12] += 1
        pcs = set((sounding % 12).tolist())
        for root in sorted(pcs, key=lambda p: (p - lowest) % 12):  # roots tried from the bass up
            rel = {(p - root) % 12 for p in pcs}
            if {4, 7} <= rel or (rel == {0, 4} and root == lowest % 12):
                triads[(root - tonic) % 12] += 1
                break
            if {3, 7} <= rel:
                triads[12 + (root - tonic) % 12] += 1
                break
        counted += 1
    triads /= max(1, counted)
    bass /= max(1.0, bass.sum())
    top = np.maximum.reduceat(table.pitch, first)
    low = np.minimum.reduceat(table.pitch, first)
    held = np.maximum(np.append(np.diff(starts), 0.5), 1e-3)
    melody = pitch_class_histogram((top - tonic) % 12, held)
    bass_keys = key_scores(pitch_class_histogram(low, held))
    major_windows = []
    for start in np.arange(0.0, max(1e-3, float(table.onset_s.max())), 8.0):
        mask = (table.onset_s >= start) & (table.onset_s < start + 8.0)
        if mask.sum() >= 8:
            scores = key_scores(pitch_class_histogram(table.pitch[mask], np.maximum(table.duration_s[mask], 1e-3)))
            major_windows.append(float(scores[:12].max() > scores[12:].max()))
    tail = table.onset_s >= table.onset_s.max() - 4.0
    last_bass = (int(table.pitch[tail].min()) - tonic) % 12
    out[:] = np.concatenate([triads, bass, melody, [
        bass_keys[:12].max() - bass_keys[12:].max(), np.mean(major_windows) if major_windows else 0.5,
        float(last_bass == 0), float(last_bass == 7), triads[:12].sum() - triads[12:].sum(),
        triads[0] - triads[12], triads[21] - triads[0], float(mode == "major") * strength]])
    return np.nan_to_num(out).astype(np.float32)


def clip_features(table, *, valence: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(feature vector, token array) of one clip or piece; the same numbers for a notated score
    and a performed clip (no metric grid, chords as 50 ms clusters, imputed dynamics for scores).
    The vector is ``emotion_vector`` followed by ``valence_features`` (left out when not ``valence``);
    weights trained with the musician's descriptors read ``models.emotion_musician.musician_features``
    after it (``models.emotion.predict_table``)."""
    feats = emotion_vector(table, velocity_mean=VELOCITY_MEAN, velocity_std=VELOCITY_STD)
    if valence:
        feats = np.concatenate([feats, valence_features(table)])
    feats = feats.astype(np.float32)
    tokens = np.zeros((EMOTION_TOKENS, 6), dtype=np.int16)
    t = emotion_tokens(table, max_tokens=EMOTION_TOKENS)
    tokens[: len(t)] = t
    return feats, tokens


# MIDI-like performance events (Oore et al. 2018; the EMOPIA paper's "MIDI-like" sequences for its
# LSTM-attention baseline): note-on and note-off per piano key, time shifts of 20 ms up to 1 s, and a
# velocity bin before a note-on whose loudness changed. 0 is padding.
EVENTS_KEPT = 2048  # a 30 s EMOPIA clip has ~700-2500 events; the sequence member reads 512-event windows
PITCH_LOW, N_PITCHES = 21, 88
SHIFT_S, N_SHIFTS = 0.02, 50
N_VELOCITIES = 16
NOTE_ON, NOTE_OFF = 1, 1 + N_PITCHES
TIME_SHIFT = NOTE_OFF + N_PITCHES  # TIME_SHIFT + k - 1: k steps of SHIFT_S
VELOCITY = TIME_SHIFT + N_SHIFTS
EVENT_VOCAB = VELOCITY + N_VELOCITIES


def event_tokens(table, *, max_events: int = EVENTS_KEPT) -> np.ndarray:
    """(<= max_events,) int16 MIDI-like events of a clip or piece, from seconds (the same for a score
    and a performance; a score without dynamics gets EMOPIA's mean loudness).

    Hand-written rather than miditok's MIDILike: miditok counts time in beats of a tick grid, and
    these inputs must be read in seconds (EMOPIA clips are unquantised transcriptions)."""
    from .features import has_dynamics

    if len(table) == 0:
        return np.zeros(0, dtype=np.int16)
    pitch = np.clip(table.pitch, PITCH_LOW, PITCH_LOW + N_PITCHES - 1) - PITCH_LOW
    velocity = table.velocity if has_dynamics(table) else np.full(len(table), VELOCITY_MEAN * 127)
    bins = np.clip(velocity * N_VELOCITIES // 128, 0, N_VELOCITIES - 1).astype(int)
    steps_on = np.round(table.onset_s / SHIFT_S).astype(int)
    steps_off = np.maximum(np.round((table.onset_s + table.duration_s) / SHIFT_S).astype(int), steps_on + 1)
    # (time step, offs before ons, pitch, note index or -1 for an off)
    events = sorted([(int(t), 1, int(p), i) for i, (t, p) in enumerate(zip(steps_on, pitch, strict=True))]
                    + [(int(t), 0, int(p), -1) for t, p in zip(steps_off, pitch, strict=True)])
    out, now, loud = [], events[0][0], -1
    for step, is_on, p, i in events:
        while step > now:
            shift = min(step - now, N_SHIFTS)
            out.append(TIME_SHIFT + shift - 1)
            now += shift
        if is_on:
            if bins[i] != loud:
                out.append(VELOCITY + bins[i])
                loud = bins[i]
            out.append(NOTE_ON + p)
        else:
            out.append(NOTE_OFF + p)
        if len(out) >= max_events:
            break
    return np.array(out[:max_events], dtype=np.int16)
