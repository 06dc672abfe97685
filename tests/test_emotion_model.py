"""The emotion model's parts: the boosted trees saved as tensors, and the shipped weights on EMOPIA's
test clips read straight from the MIDI files (the inference path, not the training cache)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from tests.conftest import shared


def test_exported_trees_predict_like_scikit_learn():
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

    from tutor.models.emotion import _load, clip_inputs, predict_table, probabilities
    from tutor.models.emotion_features import EVENTS_KEPT, event_tokens
    from tutor.models.features import table_from_midi
    from tutor.models.training.emotion_data import QUADRANTS

    root = shared("emopia")
    with open(root / "dataset" / "split" / "test.csv", encoding="utf-8") as handle:
        rows = [(row["fname"], row["label"]) for row in csv.DictReader(handle)]
    archive = zipfile.ZipFile(root / "midis.zip")
    members = {name.rsplit("/", 1)[-1][:-4]: name for name in archive.namelist() if name.endswith(".mid")}
    tables = [table_from_midi(io.BytesIO(archive.read(members[name]))) for name, _ in rows]
    feats, tokens = zip(*(clip_inputs(t) for t in tables), strict=True)
    events = np.zeros((len(tables), EVENTS_KEPT), dtype=np.int64)
    for row, table in enumerate(tables):
        e = event_tokens(table)
        events[row, : len(e)] = e
    probs = probabilities(np.stack(tokens), np.stack(feats), events)
    accuracy = float(np.mean(probs.argmax(1) == [QUADRANTS.index(label) for _, label in rows]))
    weight, sequence = _load()[3], _load()[6]
    assert weight > 0 and sequence is not None and sequence[2] > 0  # the blend is what was trained and shipped
    assert accuracy == pytest.approx(_saved_test_accuracy(), abs=1e-9)
    assert accuracy > 0.58  # above the published logistic regression on this split; chance is 0.25
    short = next(i for i, t in enumerate(tables) if t.onset_s.max() <= 36.0)  # longer ones are cut into windows
    one = predict_table(tables[short])  # one clip through the public path: the same probabilities
    assert np.allclose(list(one.probabilities.values()), probs[short], atol=1e-6)


def _saved_test_accuracy() -> float:
    import torch

    from tutor.models.emotion import WEIGHTS

    return float(torch.load(WEIGHTS, map_location="cpu", weights_only=True)["test_accuracy"])


def test_midi_like_events_of_two_notes():
    from tutor.models.emotion_features import NOTE_OFF, NOTE_ON, TIME_SHIFT, VELOCITY, event_tokens
    from tutor.models.features import NoteTable

    table = NoteTable(pitch=np.array([60, 64]), onset_ql=np.zeros(2), duration_ql=np.ones(2),
                      onset_s=np.array([0.0, 0.5]), duration_s=np.array([1.5, 0.1]),
                      velocity=np.array([100.0, 40.0]), part=np.zeros(2, dtype=int))
    expected = [VELOCITY + 12, NOTE_ON + 39,  # C4 at 0 s, loud
                TIME_SHIFT + 24, VELOCITY + 5, NOTE_ON + 43,  # 25 steps of 20 ms, E4 soft
                TIME_SHIFT + 4, NOTE_OFF + 43,  # E4 ends at 0.6 s
                TIME_SHIFT + 44, NOTE_OFF + 39]  # C4 ends at 1.5 s
    assert event_tokens(table).tolist() == expected
    flat = NoteTable(pitch=np.array([60, 64]), onset_ql=np.zeros(2), duration_ql=np.ones(2),
                     onset_s=np.array([0.0, 0.5]), duration_s=np.array([0.5, 0.5]),
                     velocity=np.array([80.0, 80.0]), part=np.zeros(2, dtype=int))
    assert [e for e in event_tokens(flat).tolist() if e >= VELOCITY] == [VELOCITY + 7]  # EMOPIA's mean loudness


def test_sequence_net_ignores_padding():
    from tutor.models.encoder import SequenceLSTMNet

    torch.manual_seed(0)
    net = SequenceLSTMNet(field_sizes=[50], heads={"quadrant": 4}).eval()
    events = torch.randint(1, 50, (1, 30, 1))
    padded = torch.cat([events, torch.zeros(1, 20, 1, dtype=events.dtype)], dim=1)
    with torch.no_grad():
        assert torch.allclose(net(events)["quadrant"], net(padded)["quadrant"], atol=1e-5)
        assert torch.isfinite(net(torch.zeros(1, 10, 1, dtype=events.dtype))["quadrant"]).all()  # empty piece


def test_event_language_model_reads_only_its_own_side():
    """Pretraining (models/training/pretrain_events.py): the forward state that predicts event t+1 has
    read no event after t, and the backward state that predicts event t-1 none before t, so the language
    model cannot copy its targets; the encoder weights load into a fresh sequence member."""
    from tutor.models.emotion_features import EVENT_VOCAB
    from tutor.models.emotion_sequence import new_sequence_net, sequence_config
    from tutor.models.training.pretrain_events import encoder_state, language_model_loss
    from tutor.models.training.sequence_member import load_encoder

    torch.manual_seed(0)
    net = new_sequence_net(sequence_config("events", 0)).eval()
    events = torch.randint(1, EVENT_VOCAB, (1, 40))
    changed = events.clone()
    changed[0, 20] = (events[0, 20] % (EVENT_VOCAB - 1)) + 1
    with torch.no_grad():
        ahead, back, _ = net.lstm_states(events[..., None])
        ahead2, back2, _ = net.lstm_states(changed[..., None])
    assert torch.allclose(ahead[0, :20], ahead2[0, :20]) and not torch.allclose(ahead[0, 20], ahead2[0, 20])
    assert torch.allclose(back[0, 21:], back2[0, 21:]) and not torch.allclose(back[0, 20], back2[0, 20])
    heads = torch.nn.ModuleDict({"next": torch.nn.Linear(64, EVENT_VOCAB), "previous": torch.nn.Linear(64, EVENT_VOCAB)})
    loss, accuracy = language_model_loss(net, heads, torch.cat([events, torch.zeros(1, 8, dtype=events.dtype)], 1))
    assert 0 < float(loss) < 10 and 0 <= accuracy <= 1

    import io

    buffer = io.BytesIO()
    torch.save({"encoder": encoder_state(net)}, buffer)
    buffer.seek(0)
    fresh = new_sequence_net(sequence_config("events", 0))
    load_encoder(fresh, buffer)
    assert torch.equal(fresh.forward_lstm.weight_hh_l0, net.forward_lstm.weight_hh_l0)
    assert not torch.equal(fresh.heads["quadrant"].weight, net.heads["quadrant"].weight)  # heads start fresh


def test_transposition_averaging_is_the_mean_of_transposed_readings():
    """Test-time transposition averaging (``sequence_probabilities(shifts=...)``): the mean of the
    member's readings of the clip transposed by each shift (clamped to the piano, as in training);
    shift 0 alone is the plain reading."""
    from tutor.models.emotion_features import EVENT_VOCAB, NOTE_ON
    from tutor.models.emotion_sequence import (
        _transpose,
        new_sequence_net,
        sequence_config,
        sequence_probabilities,
        tta_shifts,
    )

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    events = np.zeros((3, 1200), dtype=np.int64)
    for row, n in enumerate((1200, 700, 90)):  # three windows, two, one
        events[row, :n] = rng.integers(1, EVENT_VOCAB, n)
    events[0, :2] = [NOTE_ON, NOTE_ON + 87]  # the lowest and highest keys stay on the piano
    split = {"x": np.zeros((3, 5)), "events": events}
    member = new_sequence_net(sequence_config("events", 5)).eval().state_dict()
    assert tta_shifts(2) == (0, 1, -1, 2, -2)
    plain = sequence_probabilities([member], split, kind="events")
    assert np.array_equal(sequence_probabilities([member], split, kind="events", shifts=(0,)), plain)
    averaged = sequence_probabilities([member], split, kind="events", shifts=tta_shifts(2))
    each = [sequence_probabilities([member], {"x": split["x"], "events": _transpose(events, np.full(3, s))},
                                   kind="events") for s in tta_shifts(2)]
    np.testing.assert_allclose(averaged, np.mean(each, axis=0), atol=1e-6)
    assert not np.allclose(averaged, plain)


def test_valence_and_arousal_halves_make_quadrants():
    """``models/training/emotion_halves_cv.py``: P(Q) = P(arousal) P(valence | arousal half), with the
    quadrants EMOPIA names (Q1 happy: high valence, high arousal; Q2 tense; Q3 sad; Q4 calm), and a
    hierarchical model fitted on separable clips reads them back."""
    from tutor.models.training.emotion_halves_cv import halves_model, quadrants

    p = quadrants(np.array([0.9, 0.2]), np.array([0.8, 0.1]))
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_allclose(p[0], [0.72, 0.08, 0.02, 0.18])  # Q1 = 0.9 * 0.8, Q4 = 0.9 * 0.2
    assert p[1].argmax() == 2  # low valence, low arousal: sad
    conditional = quadrants(np.array([[0.1, 0.9]]), np.array([0.5]))  # valence high only when aroused
    np.testing.assert_allclose(conditional[0], [0.45, 0.05, 0.45, 0.05])
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 30)
    centres = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=float)  # (valence, arousal) per quadrant
    x = centres[y] + 0.3 * rng.standard_normal((y.size, 2))
    for structure in ("factorised", "hierarchical"):
        assert np.mean(halves_model("lr", 1.0, structure, x, y, x).argmax(1) == y) > 0.95


def _chords(triads: list[tuple[int, int, int]], seconds_each: float, velocity: int, *, dynamics: bool = True):
    """A NoteTable of block chords, one every ``seconds_each`` seconds, held to the next; played (the
    chord's notes at velocity - 3, velocity, velocity + 3) or, without ``dynamics``, all at ``velocity``."""
    from tutor.models.features import NoteTable

    pitch = np.array([p for triad in triads for p in triad])
    onset = np.repeat(np.arange(len(triads)) * seconds_each, 3).astype(float)
    n = pitch.size
    return NoteTable(pitch=pitch, onset_ql=onset * 2, duration_ql=np.full(n, seconds_each * 2), onset_s=onset,
                     duration_s=np.full(n, seconds_each),
                     velocity=np.full(n, float(velocity)) + (np.tile([-3.0, 0.0, 3.0], n // 3) if dynamics else 0.0),
                     part=np.zeros(n, dtype=np.int64))


def test_musician_features_hear_mode_thirds_and_pace():
    """``models/emotion_musician.py`` (issue 26's windowed descriptors, read by the nets and the LR):
    slow soft C major cadences against fast loud C minor ones, and EMOPIA's happy/calm clips against its
    tense/sad ones."""
    from tutor.models.emotion_musician import (
        GLOBAL_NAMES,
        N_MUSICIAN_FEATURES,
        WINDOW_NAMES,
        musician_features,
    )

    def named(f: np.ndarray) -> dict[str, float]:
        n = len(WINDOW_NAMES)
        return {**{f"mean_{k}": f[i] for i, k in enumerate(WINDOW_NAMES)},
                **{f"global_{k}": f[4 * n + i] for i, k in enumerate(GLOBAL_NAMES)}}

    major = [(48, 64, 67), (53, 65, 69), (55, 62, 71), (48, 64, 67)] * 6  # I IV V I in C major
    minor = [(48, 63, 67), (53, 65, 68), (55, 62, 71), (48, 63, 67)] * 6  # i iv V i in C minor
    calm = named(musician_features(_chords(major, 1.0, 50)))
    tense = named(musician_features(_chords(minor, 0.25, 110)))
    assert musician_features(_chords(major, 1.0, 50)).shape == (N_MUSICIAN_FEATURES,)
    assert calm["global_major_minus_minor"] > 0 > tense["global_major_minus_minor"]
    assert calm["global_major_third"] > calm["global_minor_third"]
    assert tense["global_minor_third"] > tense["global_major_third"]
    assert tense["mean_attacks_per_s"] == pytest.approx(4 * calm["mean_attacks_per_s"], rel=0.2)
    assert tense["mean_velocity"] > calm["mean_velocity"]
    from tutor.models.emotion_features import VELOCITY_MEAN, VELOCITY_STD

    for score in (_chords(major, 1.0, 50, dynamics=False), _chords(minor, 0.25, 110, dynamics=False)):
        flat = named(musician_features(score))  # a score without dynamics: EMOPIA's mean loudness
        assert (flat["mean_velocity"], flat["mean_velocity_sd"]) == pytest.approx((VELOCITY_MEAN, VELOCITY_STD))

    import csv

    from tutor.models.features import table_from_midi

    root = shared("emopia")
    with open(root / "dataset" / "split" / "train.csv", encoding="utf-8") as handle:
        rows = [(row["fname"], row["label"]) for row in csv.DictReader(handle)][:160]
    archive = zipfile.ZipFile(root / "midis.zip")
    members = {name.rsplit("/", 1)[-1][:-4]: name for name in archive.namelist() if name.endswith(".mid")}
    feats = {name: named(musician_features(table_from_midi(io.BytesIO(archive.read(members[name])))))
             for name, _ in rows}
    label = dict(rows)

    def mean(key: str, quadrants: set[str]) -> float:
        return float(np.mean([f[key] for name, f in feats.items() if label[name] in quadrants]))

    assert mean("global_major_minus_minor", {"Q1", "Q4"}) > mean("global_major_minus_minor", {"Q2", "Q3"})
    assert mean("mean_attacks_per_s", {"Q1", "Q2"}) > mean("mean_attacks_per_s", {"Q3", "Q4"})
    assert mean("mean_velocity", {"Q1", "Q2"}) > mean("mean_velocity", {"Q3", "Q4"})
