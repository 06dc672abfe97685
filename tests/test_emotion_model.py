"""The emotion model's parts: the boosted trees saved as tensors, and the shipped weights on EMOPIA's
test clips read straight from the MIDI files (the inference path, not the training cache)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from tests.conftest import shared


def test_exported_trees_predict_like_scikit_learn():
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")  # installed with librosa; the trainer uses it, inference does not
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from tutor.models.boosted_trees import export, predict_proba

    x, y = make_classification(n_samples=300, n_features=12, n_informative=6, n_classes=4, random_state=0)
    with threadpool_limits(1):  # small trees: threads only contend on a shared machine
        model = HistGradientBoostingClassifier(max_iter=20, max_depth=3, random_state=0).fit(x, y)
    buffer = io.BytesIO()
    torch.save(export(model), buffer)
    buffer.seek(0)
    trees = torch.load(buffer, weights_only=True)
    x_new = np.random.default_rng(1).normal(size=(50, 12)) * 2
    x_new[0, 3] = np.nan  # a missing value goes the way scikit-learn sends it
    np.testing.assert_allclose(predict_proba(trees, x_new), model.predict_proba(x_new), atol=1e-12)


def test_shipped_model_scores_emopia_test_clips_as_trained():
    import csv

    from tutor.models.emotion import _load, predict_table, probabilities
    from tutor.models.emotion_data import QUADRANTS, clip_features
    from tutor.models.features import table_from_midi

    root = shared("emopia")
    with open(root / "dataset" / "split" / "test.csv", encoding="utf-8") as handle:
        rows = [(row["fname"], row["label"]) for row in csv.DictReader(handle)]
    archive = zipfile.ZipFile(root / "midis.zip")
    members = {name.rsplit("/", 1)[-1][:-4]: name for name in archive.namelist() if name.endswith(".mid")}
    tables = [table_from_midi(io.BytesIO(archive.read(members[name]))) for name, _ in rows]
    feats, tokens = zip(*(clip_features(t) for t in tables), strict=True)
    probs = probabilities(np.stack(tokens), np.stack(feats))
    accuracy = float(np.mean(probs.argmax(1) == [QUADRANTS.index(label) for _, label in rows]))
    nets, _, _, weight, trees, boost_weight = _load()
    assert trees is not None and boost_weight > 0 and weight > 0  # the blend is what was trained and shipped
    assert accuracy == pytest.approx(_saved_test_accuracy(), abs=1e-9)
    assert accuracy > 0.58  # above the published logistic regression on this split; chance is 0.25
    short = next(i for i, t in enumerate(tables) if t.onset_s.max() <= 36.0)  # longer ones are cut into windows
    one = predict_table(tables[short])  # one clip through the public path: the same probabilities
    assert np.allclose(list(one.probabilities.values()), probs[short], atol=1e-6)


def _saved_test_accuracy() -> float:
    import torch

    from tutor.models.emotion import WEIGHTS

    return float(torch.load(WEIGHTS, map_location="cpu", weights_only=True)["test_accuracy"])
