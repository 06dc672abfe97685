"""The sequence member of the emotion model: the EMOPIA paper's LSTM-attention baseline
(``models.encoder.SequenceLSTMNet``) over MIDI-like performance events (``models.emotion_data.event_tokens``).

Trained on random ``WINDOW``-event crops of each clip (with a random transposition of up to
``TRANSPOSE`` semitones); a clip's probabilities are the mean over its first ``WINDOWS``
non-overlapping windows. Trained and evaluated by ``models.train_emotion``.
"""

from __future__ import annotations

import numpy as np

from .emotion_data import EVENT_VOCAB, N_PITCHES, NOTE_OFF, NOTE_ON

WINDOW = 512  # events per window: ~15 s of a typical clip
WINDOWS = 4  # a clip is read as up to 4 windows (EMOPIA clips: 400-1900 events, 5th-95th percentile)
MIN_WINDOW = 64  # a shorter tail is not a window of its own
DIM, HIDDEN = 64, 64
TRANSPOSE = 3
LEARNING_RATE = 2e-3
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


def _crops(events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random WINDOW-event crop per clip (the whole clip when it is shorter)."""
    n = (events > 0).sum(1)
    starts = (rng.random(len(events)) * np.maximum(n - WINDOW, 0)).astype(int)
    out = np.zeros((len(events), WINDOW), dtype=np.int64)
    for row, start in enumerate(starts):
        part = events[row, start:start + WINDOW]
        out[row, : len(part)] = part
    return out


def _training_tokens(split: dict, inputs: str, rng: np.random.Generator) -> np.ndarray:
    """One epoch's (clips, length, fields) inputs: a transposed random event window per clip, or the
    note tokens with 10% of the notes dropped and the register shifted by up to an octave (as the
    TokenFeatureNets are trained)."""
    if inputs == "events":
        events = np.asarray(split["events"]).astype(np.int64)
        crops = _transpose(_crops(events, rng), rng.integers(-TRANSPOSE, TRANSPOSE + 1, len(events)))
        return crops[..., None]
    tokens = np.asarray(split["tokens"]).astype(np.int64)
    tokens = tokens * (rng.random(tokens.shape[:2]) > 0.1)[..., None]
    octave = tokens[..., 1]
    shift = rng.integers(-1, 2, (len(tokens), 1))
    tokens[..., 1] = np.where(octave > 0, np.clip(octave + shift, 1, 9), octave)
    return tokens


def train_sequence_member(train: dict, *, kind: str, seed: int, epochs: int, held: dict | None = None,
                          verbose: bool = False, init: str | None = None,
                          lr: float = LEARNING_RATE) -> tuple[dict, float | None]:
    """One member trained on ``train`` ({'events' or 'tokens', 'x', 'y'}) for ``epochs`` epochs, the last
    kept: (state dict, quadrant accuracy on ``held`` or None). The same loss as the other nets:
    class-balanced quadrant loss plus valence and arousal halves, label smoothing 0.1. ``init``: start
    the embedding and the LSTMs from an event language model (``models.pretrain_events``)."""
    import torch

    from .train_emotion import emotion_loss

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    inputs, with_features = KINDS[kind]
    config = sequence_config(kind, train["x"].shape[1])
    x = torch.tensor(train["x"], dtype=torch.float32)
    net = new_sequence_net(config)
    if init:
        from .pretrain_events import load_encoder

        load_encoder(net, init)
    if with_features:
        net.feature_mean.copy_(x.mean(0))
        net.feature_std.copy_(x.std(0).clamp(min=1e-3))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_of = emotion_loss(train["y"])

    def held_accuracy() -> float:
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        p = sequence_probabilities([state], held, kind=kind)[0]
        return float(np.mean(p.argmax(1) == held["y"]))

    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(train["y"]))
        tokens = _training_tokens(train, inputs, rng)
        for start in range(0, len(order), 32):
            b = torch.tensor(order[start:start + 32])
            features = x[b] + 0.05 * torch.randn_like(x[b]) * net.feature_std if with_features else None
            loss = loss_of(net(torch.tensor(tokens[b.numpy()]), features), b)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
        scheduler.step()
        if verbose and held is not None and epoch % 5 == 4:
            print(f"    {kind} seed {seed} epoch {epoch + 1}: held-out accuracy {held_accuracy():.3f}", flush=True)
    net.eval()
    accuracy = held_accuracy() if held is not None else None
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, accuracy


def tta_shifts(semitones: int) -> tuple[int, ...]:
    """The transpositions read at test time: 0, ±1, ..., ±``semitones`` (0: the clip as it is)."""
    return (0,) + tuple(s for k in range(1, semitones + 1) for s in (k, -k))


def sequence_probabilities(members: list, split: dict, *, kind: str, shifts: tuple[int, ...] = (0,)) -> np.ndarray:
    """(members, clips, 4) quadrant probabilities: for events, each member's mean over a clip's windows.
    ``members`` are state dicts or ``SequenceLSTMNet``s; ``split`` holds 'x' and 'events' or 'tokens'.
    ``shifts``: test-time transposition averaging (events only): every window is also read transposed
    by these semitones (clamped to the piano, as in training) and the probabilities are averaged."""
    import torch

    from .train_emotion import combined_probabilities

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
