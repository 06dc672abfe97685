"""Emotion of a piece: the EMOPIA quadrant (Q1 happy, Q2 tense, Q3 sad, Q4 calm) with valence and
arousal, from the ensemble trained by ``models/training/train_emotion.py`` (``models/weights/emotion.pt``).

The quadrant probabilities are the ensemble's, blended with a logistic regression on the same hand
features and an LSTM-attention sequence member over MIDI-like events (and gradient-boosted trees where
the weights hold them; ``models.emotion_blend.blend``; the weights were chosen by song-grouped
cross-validation on EMOPIA's train + validation splits, with the validation split as a check).
Valence and arousal are read off the quadrant probabilities: valence = P(Q1) + P(Q4) - P(Q2) - P(Q3),
arousal = P(Q1) + P(Q2) - P(Q3) - P(Q4), both in [-1, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "emotion.pt"
QUADRANT_LABELS = {"Q1": "happy / excited", "Q2": "tense / angry", "Q3": "sad / depressed", "Q4": "calm / relaxed"}
MAX_SECONDS = 60.0  # long pieces: the mean over 30 s windows (the length of an EMOPIA clip)


@dataclass(frozen=True)
class EmotionResult:
    quadrant: str
    label: str
    valence: float
    arousal: float
    probabilities: dict[str, float]


@functools.lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS)):
    from .encoder import load_ensemble

    nets, saved = load_ensemble(path, model="emotion model", trainer="models.training.train_emotion")
    sequence = saved.get("sequence")
    if sequence:  # the LSTM-attention member over MIDI-like events (models.emotion_sequence)
        from .encoder import SequenceLSTMNet

        members = []
        for state in sequence["members"]:
            net = SequenceLSTMNet(**sequence["config"])
            net.load_state_dict(state)
            members.append(net.eval())
        sequence = (sequence["kind"], members, float(sequence["weight"]))
    return (nets, tuple(saved["quadrants"]), saved.get("stack"), float(saved.get("blend_weight", 0.0)),
            saved.get("trees"), float(saved.get("boost_weight", 0.0)), sequence)


def probabilities(tokens: np.ndarray, features: np.ndarray, events: np.ndarray | None = None) -> np.ndarray:
    """(clips, 4) quadrant probabilities of clips given as token arrays, feature vectors and event
    arrays (``emotion_features.event_tokens``, padded; needed when the weights hold a sequence member)."""
    import torch

    from .emotion_blend import blend, combined_probabilities
    from .encoder import run_net, single_thread

    nets, _, stack, weight, trees, boost_weight, sequence = _load()
    features = np.asarray(features)[:, : nets[0].feature_mean.numel()]  # valence_features only where trained with
    x = torch.tensor(features, dtype=torch.float32)
    t = torch.tensor(np.asarray(tokens).astype(np.int64))
    total = np.zeros((len(x), 4))
    with single_thread():
        for net in nets:
            total += combined_probabilities(run_net(net, t, x))
        seq, sequence_weight = None, 0.0
        if sequence is not None:
            from .emotion_sequence import sequence_probabilities

            kind, members, sequence_weight = sequence
            if events is None:
                raise ValueError("the emotion model's sequence member needs the clips' events")
            seq = sequence_probabilities(members, {"x": features, "events": events}, kind=kind).mean(0)
    total /= len(nets)
    if stack is None or weight + boost_weight + sequence_weight <= 0:
        return total
    return blend(total, features, stack, weight, trees, boost_weight, seq, sequence_weight)


def _clips(table):
    """30-second windows of a piece (a short piece is one clip)."""
    from .features import NoteTable

    if len(table) == 0 or table.onset_s.max() <= 36.0:
        return [table]
    out = []
    start = 0.0
    end = float(table.onset_s.max())
    while start < end - 10.0 and len(out) < 8:
        mask = (table.onset_s >= start) & (table.onset_s < start + 30.0)
        if mask.sum() >= 8:
            sub = table.select(mask)
            out.append(NoteTable(sub.pitch, sub.onset_ql, sub.duration_ql, sub.onset_s - start, sub.duration_s,
                                 sub.velocity, sub.part, sub.bar_ql, sub.beat_ql, sub.meter, sub.n_parts))
        start += 30.0
    return out or [table]


def clip_inputs(clip) -> tuple[np.ndarray, np.ndarray]:
    """(feature vector, token array) of one clip as the shipped weights read it: ``clip_features``, and
    ``models.emotion_musician.musician_features`` after it where the weights were trained with them."""
    from .emotion_features import N_VALENCE_FEATURES, clip_features
    from .features import N_EMOTION_VECTOR

    width = _load()[0][0].feature_mean.numel()
    feats, tokens = clip_features(clip, valence=width > N_EMOTION_VECTOR)  # weights trained with valence_features
    if width > N_EMOTION_VECTOR + N_VALENCE_FEATURES:  # ... and with the musician's windowed descriptors
        from .emotion_musician import musician_features

        feats = np.concatenate([feats, musician_features(clip)]).astype(np.float32)
    return feats, tokens


def predict_table(table, *, musician: bool = True) -> EmotionResult:
    """The emotion of a ``NoteTable``; ``musician`` blends in ``models.emotion_prior`` outside EMOPIA's domain."""
    from .emotion_features import EVENTS_KEPT, event_tokens

    _, quadrants, *_, sequence = _load()
    clips = _clips(table)
    feats, toks = zip(*(clip_inputs(c) for c in clips), strict=True)
    events = None
    if sequence is not None:  # the sequence member reads MIDI-like events
        events = np.zeros((len(clips), EVENTS_KEPT), dtype=np.int64)
        for row, clip in enumerate(clips):
            e = event_tokens(clip)
            events[row, : len(e)] = e
    p = probabilities(np.stack(toks), np.stack(feats), events).mean(0)
    if musician:
        from .emotion_prior import blend

        p = blend(p, table)
    best = int(np.argmax(p))
    return EmotionResult(
        quadrant=quadrants[best], label=QUADRANT_LABELS[quadrants[best]],
        valence=float(p[0] + p[3] - p[1] - p[2]), arousal=float(p[0] + p[1] - p[2] - p[3]),
        probabilities={q: float(v) for q, v in zip(quadrants, p, strict=True)},
    )


def predict_emotion(score) -> EmotionResult:
    """The emotion of a ``tutor.score.music.Score``."""
    from .features import table_from_score

    return predict_table(table_from_score(score))
