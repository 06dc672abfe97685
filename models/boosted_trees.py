"""A fitted scikit-learn ``HistGradientBoostingClassifier`` as plain tensors, and its prediction in numpy.

The emotion model blends its nets with gradient-boosted trees on the hand features. Weights are loaded
with ``torch.load(..., weights_only=True)``, which cannot hold a pickled scikit-learn object, so the
trees are saved as padded arrays (one row per tree: split feature, threshold, children, leaf values)
and walked here; ``predict_proba`` gives the same numbers as scikit-learn's (a test checks it).
"""

from __future__ import annotations

import numpy as np


def export(model) -> dict:
    """The trees of a fitted multi-class ``HistGradientBoostingClassifier`` (numerical features, no
    categorical splits) as tensors: {'feature', 'threshold', 'left', 'right', 'leaf', 'missing_left',
    'value'} of shape (trees, nodes), 'klass' (trees,) and 'baseline' (classes,)."""
    import torch

    trees = [(k, predictor.nodes) for iteration in model._predictors for k, predictor in enumerate(iteration)]
    if any(nodes["is_categorical"].any() for _, nodes in trees):
        raise ValueError("categorical splits are not supported")
    width = max(nodes.shape[0] for _, nodes in trees)

    def padded(field: str, dtype) -> torch.Tensor:
        out = np.zeros((len(trees), width), dtype=dtype)
        for i, (_, nodes) in enumerate(trees):
            out[i, : nodes.shape[0]] = nodes[field]
        return torch.from_numpy(out)

    leaf = padded("is_leaf", np.bool_)
    leaf[:, :] |= torch.arange(width)[None, :] >= torch.tensor([n.shape[0] for _, n in trees])[:, None]  # padding
    return {"feature": padded("feature_idx", np.int64), "threshold": padded("num_threshold", np.float64),
            "left": padded("left", np.int64), "right": padded("right", np.int64), "leaf": leaf,
            "missing_left": padded("missing_go_to_left", np.bool_), "value": padded("value", np.float64),
            "klass": torch.tensor([k for k, _ in trees], dtype=torch.int64),
            "baseline": torch.tensor(np.ravel(model._baseline_prediction), dtype=torch.float64)}


def predict_proba(trees: dict, x: np.ndarray) -> np.ndarray:
    """(samples, classes) class probabilities of the exported trees for the rows of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    feature, threshold = trees["feature"].numpy(), trees["threshold"].numpy()
    left, right, leaf = trees["left"].numpy(), trees["right"].numpy(), trees["leaf"].numpy()
    missing_left, value = trees["missing_left"].numpy(), trees["value"].numpy()
    klass, baseline = trees["klass"].numpy(), trees["baseline"].numpy()
    n_trees = feature.shape[0]
    rows = np.arange(n_trees)[None, :]
    node = np.zeros((x.shape[0], n_trees), dtype=np.int64)
    for _ in range(feature.shape[1]):  # a tree is never deeper than its node count
        at_leaf = leaf[rows, node]
        if at_leaf.all():
            break
        values = np.take_along_axis(x, feature[rows, node], axis=1)
        go_left = np.where(np.isnan(values), missing_left[rows, node], values <= threshold[rows, node])
        node = np.where(at_leaf, node, np.where(go_left, left[rows, node], right[rows, node]))
    raw = np.tile(baseline, (x.shape[0], 1))
    np.add.at(raw.T, klass, value[rows, node].T)
    raw -= raw.max(1, keepdims=True)
    probs = np.exp(raw)
    return probs / probs.sum(1, keepdims=True)
