"""How the emotion model's members become quadrant probabilities: ``combined_probabilities`` (one
net's quadrant head sharpened by its valence and arousal heads) and ``blend`` (the geometric blend of
the nets with the logistic regression, the boosted trees and the sequence member, with the shares
``tutor.models.training.train_emotion`` chose and saved in ``models/weights/emotion.pt``).
"""

from __future__ import annotations

import numpy as np


def combined_probabilities(out: dict) -> np.ndarray:
    """Quadrant probabilities from the quadrant head, sharpened by the valence and arousal heads."""
    import torch

    q = torch.log_softmax(out["quadrant"], -1)
    v = torch.log_softmax(out["valence"], -1)  # [low, high]
    a = torch.log_softmax(out["arousal"], -1)
    # Q1 = high v, high a; Q2 = low v, high a; Q3 = low v, low a; Q4 = high v, low a
    extra = torch.stack([v[:, 1] + a[:, 1], v[:, 0] + a[:, 1], v[:, 0] + a[:, 0], v[:, 1] + a[:, 0]], dim=-1)
    return torch.softmax(q + 0.5 * extra, -1).numpy()


def blend(net_probs: np.ndarray, x: np.ndarray, stack: dict, weight: float, trees: dict | None = None,
          boost_weight: float = 0.0, sequence: np.ndarray | None = None, sequence_weight: float = 0.0) -> np.ndarray:
    """Geometric blend of the nets' quadrant probabilities with the logistic regression's, the
    boosted trees' and the sequence member's:
    softmax((1 - w - b - s) log p_nets + w log p_lr + b log p_trees + s log p_sequence)."""
    z = (np.asarray(x, dtype=np.float64) - stack["mean"].numpy()) / stack["scale"].numpy()
    logits = z @ stack["coef"].numpy().T.astype(np.float64) + stack["intercept"].numpy()
    log_lr = logits - logits.max(-1, keepdims=True)
    log_lr = log_lr - np.log(np.exp(log_lr).sum(-1, keepdims=True))
    boosted = None
    if trees is not None and boost_weight > 0:
        from .boosted_trees import predict_proba

        boosted = predict_proba(trees, x)
    return mix(net_probs, np.exp(log_lr), weight, boosted, boost_weight, sequence, sequence_weight)


def mix(net_probs: np.ndarray, lr_probs: np.ndarray, weight: float, boosted: np.ndarray | None = None,
        boost_weight: float = 0.0, sequence: np.ndarray | None = None, sequence_weight: float = 0.0) -> np.ndarray:
    """``blend`` given the logistic regression's probabilities (and the trees') already computed."""

    def log(p: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p, 1e-9, 1.0))

    if sequence is None:
        sequence_weight = 0.0
    mixed = (1.0 - weight - boost_weight - sequence_weight) * log(net_probs) + weight * log(lr_probs)
    if boosted is not None and boost_weight > 0:
        mixed = mixed + boost_weight * log(boosted)
    if sequence_weight > 0:
        mixed = mixed + sequence_weight * log(sequence)
    mixed = np.exp(mixed - mixed.max(-1, keepdims=True))
    return mixed / mixed.sum(-1, keepdims=True)
