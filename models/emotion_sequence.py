"""The sequence member of the emotion model: the EMOPIA paper's LSTM-attention baseline
(``models.encoder.SequenceLSTMNet``) over MIDI-like performance events
(``models.emotion_features.event_tokens``), as inference reads it.

Trained on random ``WINDOW``-event crops of each clip (``tutor.models.training.sequence_member``); a
clip's probabilities are the mean over its first ``WINDOWS`` non-overlapping windows. Trained and
evaluated by ``tutor.models.training.train_emotion``.
"""

from __future__ import annotations

import numpy as np

from .emotion_blend import combined_probabilities
from .emotion_features import EVENT_VOCAB, N_PITCHES, NOTE_OFF, NOTE_ON

WINDOW = 512  # events per window: ~15 s of a typical clip
WINDOWS = 4  # a clip is read as up to 4 windows (EMOPIA clips: 400-1900 events, 5th-95th percentile)
MIN_WINDOW = 64  # a shorter tail is not a window of its own
DIM, HIDDEN = 64, 64
HEADS = {"quadrant": 4, "valence": 2, "arousal": 2}
# the inputs a sequence member reads: "events" (MIDI-like events, the EMOPIA paper's baseline) or
# "notes" (the note tokens the TokenFeatureNets read); with or without the hand features
KINDS = {"events": ("events", False), "notes": ("notes", False), "notes+features": ("notes", True)}


def sequence_config(kind: str, n_features: int) -> dict:
    from .features import EMOTION_TOKEN_FIELDS

    inputs, with_features = KINDS[kind]
    fields = [EVENT_VOCAB] if inputs == "events" else [size for _, size in EMOTION_TOKEN_FIELDS]
    return {"field_sizes": fields, "heads": HEADS, "n_features": n_features if with_features else 0,
            "dim": DIM, "hidden": HIDDEN}


def new_sequence_net(config: dict):
    from .encoder import SequenceLSTMNet

    return SequenceLSTMNet(**config)


def windows_of(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(windows, WINDOW) event windows of (clips, n) padded event arrays and the clip of each window."""
    rows, owner = [], []
    for clip, e in enumerate(np.asarray(events)):
        n = int((e > 0).sum())
        for w in range(WINDOWS):
            start = w * WINDOW
            if w > 0 and n - start < MIN_WINDOW:
                break
            window = np.zeros(WINDOW, dtype=np.int64)
            part = e[start:start + WINDOW]
            window[: len(part)] = part
            rows.append(window)
            owner.append(clip)
    return np.stack(rows), np.array(owner)


def _transpose(events: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Shift note-on and note-off pitches by ``shift`` semitones per row (clamped to the piano)."""
    out = events.copy()
    for base in (NOTE_ON, NOTE_OFF):
        is_note = (out >= base) & (out < base + N_PITCHES)
        moved = np.clip(out - base + shift[:, None], 0, N_PITCHES - 1) + base
        out = np.where(is_note, moved, out)
    return out


def tta_shifts(semitones: int) -> tuple[int, ...]:
    """The transpositions read at test time: 0, ±1, ..., ±``semitones`` (0: the clip as it is)."""
    return (0,) + tuple(s for k in range(1, semitones + 1) for s in (k, -k))


def sequence_probabilities(members: list, split: dict, *, kind: str, shifts: tuple[int, ...] = (0,)) -> np.ndarray:
    """(members, clips, 4) quadrant probabilities: for events, each member's mean over a clip's windows.
    ``members`` are state dicts or ``SequenceLSTMNet``s; ``split`` holds 'x' and 'events' or 'tokens'.
    ``shifts``: test-time transposition averaging (events only): every window is also read transposed
    by these semitones (clamped to the piano, as in training) and the probabilities are averaged."""
    import torch

    inputs, with_features = KINDS[kind]
    n_clips = len(split["x"])
    if inputs == "events":
        rows, owner = windows_of(split["events"])
        rows = np.concatenate([rows if s == 0 else _transpose(rows, np.full(len(rows), s)) for s in shifts])
        owner = np.tile(owner, len(shifts))
        rows = rows[..., None]
    else:
        rows, owner = np.asarray(split["tokens"]).astype(np.int64), np.arange(n_clips)
    x = torch.tensor(np.asarray(split["x"])[owner], dtype=torch.float32) if with_features else None
    net = new_sequence_net(sequence_config(kind, split["x"].shape[1])) if isinstance(members[0], dict) else None
    out = []
    for member in members:
        if isinstance(member, dict):
            net.load_state_dict(member)
        else:
            net = member
        net.eval()
        with torch.inference_mode():
            p = np.concatenate([combined_probabilities(net(torch.tensor(rows[i:i + 256]),
                                                           None if x is None else x[i:i + 256]))
                                for i in range(0, len(rows), 256)])
        clip = np.zeros((n_clips, 4))
        np.add.at(clip, owner, p)
        out.append(clip / np.bincount(owner, minlength=n_clips)[:, None])
    return np.stack(out)
