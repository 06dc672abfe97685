"""The loss every emotion net is trained with (the ``TokenFeatureNet`` members of
``train_emotion`` and the sequence members of ``sequence_member``), and the quadrants' valence and
arousal halves it reads."""

from __future__ import annotations

import numpy as np

VALENCE_HIGH = np.array([1, 0, 0, 1])  # Q1, Q4
AROUSAL_HIGH = np.array([1, 1, 0, 0])  # Q1, Q2


def emotion_loss(y: np.ndarray):
    """The training loss of every emotion net on clips labelled ``y``, as ``loss(outputs, batch)``
    (``batch``: a tensor of clip indices): the class-balanced quadrant loss (train has more Q4 clips)
    plus half of each of the valence and arousal halves' losses, all with label smoothing 0.1."""
    import torch

    labels = torch.tensor(y)
    counts = np.bincount(y, minlength=4)
    quadrant_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1,
                                              weight=torch.tensor(len(y) / (4 * counts), dtype=torch.float32))
    half_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    valence, arousal = torch.tensor(VALENCE_HIGH)[labels], torch.tensor(AROUSAL_HIGH)[labels]

    def loss(out: dict, batch):
        return (quadrant_loss(out["quadrant"], labels[batch]) + 0.5 * half_loss(out["valence"], valence[batch])
                + 0.5 * half_loss(out["arousal"], arousal[batch]))

    return loss
