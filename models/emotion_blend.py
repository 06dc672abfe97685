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


# which quadrants (Q1 happy, Q2 tense, Q3 sad, Q4 calm) have high valence and high arousal
QUADRANT_VALENCE_HIGH = np.array([1, 0, 0, 1])
QUADRANT_AROUSAL_HIGH = np.array([1, 1, 0, 0])


def quadrants(p_valence: np.ndarray, p_arousal: np.ndarray) -> np.ndarray:
    """(n, 4) quadrant probabilities from P(valence high) and P(arousal high): their products.
    ``p_valence`` may be (n, 2): P(valence high | arousal low), P(valence high | arousal high)."""
    pv = p_valence if p_valence.ndim == 2 else np.stack([p_valence, p_valence], 1)
    out = np.zeros((len(p_arousal), 4))
    for q in range(4):
        a = p_arousal if QUADRANT_AROUSAL_HIGH[q] else 1 - p_arousal
        v = pv[:, QUADRANT_AROUSAL_HIGH[q]]
        out[:, q] = a * (v if QUADRANT_VALENCE_HIGH[q] else 1 - v)
    return out


def halves_probabilities(halves: dict, x: np.ndarray) -> np.ndarray:
    """The valence-times-arousal trees' quadrant probabilities: {'valence', 'arousal'} binary boosted
    trees on the descriptors (``models.training.emotion_halves_cv``), P(Q) = P(valence) P(arousal)."""
    from .boosted_trees import binary_proba

    return quadrants(binary_proba(halves["valence"], x), binary_proba(halves["arousal"], x))


def blend(net_probs: np.ndarray, x: np.ndarray, stack: dict, weight: float, trees: dict | None = None,
          boost_weight: float = 0.0, sequence: np.ndarray | None = None, sequence_weight: float = 0.0,
          halves: dict | None = None, halves_weight: float = 0.0) -> np.ndarray:
    """Geometric blend of the nets' quadrant probabilities with the logistic regression's, the
    boosted trees', the sequence member's and the valence-times-arousal trees':
    softmax((1 - w - b - s - h) log p_nets + w log p_lr + b log p_trees + s log p_sequence + h log p_halves)."""
    z = (np.asarray(x, dtype=np.float64) - stack["mean"].numpy()) / stack["scale"].numpy()
    logits = z @ stack["coef"].numpy().T.astype(np.float64) + stack["intercept"].numpy()
    log_lr = logits - logits.max(-1, keepdims=True)
    log_lr = log_lr - np.log(np.exp(log_lr).sum(-1, keepdims=True))
    boosted = None
    if trees is not None and boost_weight > 0:
        from .boosted_trees import predict_proba

        boosted = predict_proba(trees, x)
    by_halves = halves_probabilities(halves, x) if halves is not None and halves_weight > 0 else None
    return mix(net_probs, np.exp(log_lr), weight, boosted, boost_weight, sequence, sequence_weight,
               by_halves, halves_weight)


def mix(net_probs: np.ndarray, lr_probs: np.ndarray, weight: float, boosted: np.ndarray | None = None,
        boost_weight: float = 0.0, sequence: np.ndarray | None = None, sequence_weight: float = 0.0,
        halves: np.ndarray | None = None, halves_weight: float = 0.0) -> np.ndarray:
    """``blend`` given the logistic regression's probabilities (and the trees') already computed."""

    def log(p: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p, 1e-9, 1.0))

    if sequence is None:
        sequence_weight = 0.0
    if halves is None:
        halves_weight = 0.0
    mixed = (1.0 - weight - boost_weight - sequence_weight - halves_weight) * log(net_probs) + weight * log(lr_probs)
    if halves_weight > 0:
        mixed = mixed + halves_weight * log(halves)
    if boosted is not None and boost_weight > 0:
        mixed = mixed + boost_weight * log(boosted)
    if sequence_weight > 0:
        mixed = mixed + sequence_weight * log(sequence)
    mixed = np.exp(mixed - mixed.max(-1, keepdims=True))
    return mixed / mixed.sum(-1, keepdims=True)
