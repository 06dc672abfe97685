"""Training of the emotion model's sequence member (``tutor.models.emotion_sequence``, which reads it):
random ``WINDOW``-event crops of each clip with a random transposition of up to ``TRANSPOSE``
semitones (or the note tokens with notes dropped and the register shifted), the loss every emotion
net is trained with (``emotion_loss``), optionally started from the encoder of the event language model
that ``pretrain_events`` trains (``load_encoder``). Used by ``train_emotion``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..emotion_sequence import (
    KINDS,
    WINDOW,
    _transpose,
    new_sequence_net,
    sequence_config,
    sequence_probabilities,
)
from .emotion_loss import emotion_loss

TRANSPOSE = 3
LEARNING_RATE = 2e-3
ENCODER_KEYS = ("embeddings.", "forward_lstm.", "backward_lstm.")  # what is saved and loaded for fine-tuning


def load_encoder(net, path: str | Path) -> None:
    """Start ``net`` (a ``SequenceLSTMNet`` over events) from pretrained encoder weights."""
    import torch

    saved = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in saved["encoder"] if k not in net.state_dict()]
    if missing:
        raise ValueError(f"{path}: pretrained weights do not fit the sequence net ({missing[:3]})")
    net.load_state_dict(saved["encoder"], strict=False)


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
    the embedding and the LSTMs from an event language model (``models.training.pretrain_events``)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    inputs, with_features = KINDS[kind]
    config = sequence_config(kind, train["x"].shape[1])
    x = torch.tensor(train["x"], dtype=torch.float32)
    net = new_sequence_net(config)
    if init:
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
