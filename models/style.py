"""Style of a piece, in classes a student recognises.

``predict_style`` answers in the style taxonomy of issue 26 (``TAXONOMY``: pop, jazz, blues, ragtime, waltz, march,
tango, game music, folk dance tunes and songs, and the classical periods), from gradient-boosted trees trained by
``models/training/train_style_taxonomy.py`` (``models/weights/style_taxonomy.pt``) on ``style_features`` of 8-bar
windows, calibrated (one temperature), with "not sure" when the piece is far from every piece it was trained on.
The older six-class network ensemble (``models/weights/style.pt``, ``CLASSES``) stays for the similar-pieces
embedding (``tutor.compose.similar``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "style.pt"
MAX_WINDOWS = 12

# the classes (the corpus that stands for each: ``tutor.models.training.style_data``)
CLASSES = ("renaissance", "baroque", "classical", "romantic_piano", "folk_fiddle", "folk_song")
CLASS_LABELS = {
    "renaissance": "Renaissance polyphony",
    "baroque": "Baroque",
    "classical": "Classical",
    "romantic_piano": "Romantic piano",
    "folk_fiddle": "Folk dance tune (fiddle)",
    "folk_song": "Folk song",
}
WINDOW_BARS = 8
STYLE_TOKENS = 192  # notes per window the sequence encoder reads (8 bars of a chorale are ~130)


TAXONOMY_WEIGHTS = Path(__file__).resolve().parent / "weights" / "style_taxonomy.pt"
TAXONOMY = ("pop", "jazz", "blues", "ragtime", "waltz", "march", "tango", "game", "folk_fiddle", "folk_song",
            "renaissance", "baroque", "classical", "romantic_piano")
TAXONOMY_LABELS = {**CLASS_LABELS, "pop": "Pop / rock / soul", "jazz": "Jazz", "blues": "Blues", "ragtime": "Ragtime",
                   "waltz": "Waltz", "march": "March", "tango": "Tango", "game": "Game / film music"}
TAXONOMY_WINDOWS = 6


@dataclass(frozen=True)
class StyleResult:
    label: str  # class id, e.g. "baroque"
    name: str  # for people, e.g. "Baroque"
    probabilities: dict[str, float]
    sure: bool = True  # False: the piece is far from everything the model was trained on ("not sure")
    distance: float = 0.0  # how far (1.0 = the "not sure" threshold)


@functools.lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS)):
    from .encoder import load_ensemble

    nets, saved = load_ensemble(path, model="style model", trainer="models.training.train_style")
    return nets, tuple(saved["classes"])


def predict_table(table) -> StyleResult:
    import torch

    from .encoder import run_net, single_thread
    from .features import hand_features, note_tokens, windows

    nets, classes = _load()
    parts = windows(table, bars=WINDOW_BARS, max_windows=MAX_WINDOWS) or [table]
    x = torch.tensor(np.stack([hand_features(w) for w in parts]), dtype=torch.float32)
    tokens = np.zeros((len(parts), STYLE_TOKENS, 6), dtype=np.int64)
    for i, w in enumerate(parts):
        t = note_tokens(w, max_tokens=STYLE_TOKENS)
        tokens[i, : len(t)] = t
    total = np.zeros(len(classes))
    with single_thread():
        for net in nets:
            total += torch.softmax(run_net(net, torch.tensor(tokens), x)["style"], -1).mean(0).numpy()
    p = total / len(nets)
    best = int(np.argmax(p))
    return StyleResult(classes[best], CLASS_LABELS.get(classes[best], classes[best]),
                       {c: float(v) for c, v in zip(classes, p, strict=True)})


def predict_style(score) -> StyleResult:
    """The style of a ``tutor.score.music.Score`` in the taxonomy (the six-class ensemble when the taxonomy's
    weights are missing)."""
    from .features import table_from_score

    table = table_from_score(score)
    if TAXONOMY_WEIGHTS.exists():
        return predict_taxonomy(table)
    return predict_table(table)


@functools.lru_cache(maxsize=1)
def _load_taxonomy(path: str = str(TAXONOMY_WEIGHTS)) -> dict:
    import torch

    from tutor.errors import ModelError

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:
        raise ModelError(f"the style model cannot be read ({error}); run python -m "
                         "models.training.train_style_taxonomy", path=path) from None
    return {**saved, "feature_mean": saved["feature_mean"].numpy().astype(np.float64),
            "feature_std": saved["feature_std"].numpy().astype(np.float64),
            "reference": saved["reference"].float().numpy().astype(np.float64)}


def taxonomy_windows(table) -> np.ndarray:
    """The style features of a piece's 8-bar windows (the whole piece when it is shorter than one)."""
    from .features import windows

    parts = windows(table, bars=WINDOW_BARS, max_windows=TAXONOMY_WINDOWS) or [table]
    return np.stack([style_features(w) for w in parts])


def predict_taxonomy(table) -> StyleResult:
    from .boosted_trees import predict_proba

    saved = _load_taxonomy()
    x = taxonomy_windows(table)
    off_grid = saved.get("performed_off_grid")
    if off_grid is not None and performed(x, float(off_grid)):  # judged as the model learnt performances: from
        x = timing_blind(x)  # their notes, their timing unknown
    probs = predict_proba(saved["trees"], x)
    log_p = np.log(np.clip(probs, 1e-9, 1)).mean(0) / float(saved["temperature"])
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    z = np.nan_to_num((x.mean(0) - saved["feature_mean"]) / saved["feature_std"])  # (unknown timing: the mean)
    d = np.sort(np.sqrt(((saved["reference"] - z[None, :]) ** 2).sum(1)))[: int(saved["neighbours"])].mean()
    distance = float(d / saved["distance_threshold"])
    classes = tuple(saved["classes"])
    best = int(np.argmax(p))
    return StyleResult(classes[best], TAXONOMY_LABELS.get(classes[best], classes[best]),
                       {c: float(v) for c, v in zip(classes, p, strict=True)}, sure=distance <= 1.0,
                       distance=distance)


# ---------------------------------------------------------------------------------------------
# the style taxonomy (issue 26): features shared by training (models/training/style_corpus.py) and inference
# ---------------------------------------------------------------------------------------------
_BEAT_OFFSETS = np.array([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75])


def melody_table(table):
    """The melody of a texture: the highest note at each onset, as one part (a lead sheet's view)."""
    import dataclasses

    from .features import _top_line

    top = np.sort(_top_line(table))
    mel = table.select(top)
    return dataclasses.replace(mel, part=np.zeros(len(mel), dtype=np.int64), n_parts=1)


def _bass_line(table) -> np.ndarray:
    if len(table) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((table.pitch, table.onset_ql))
    onsets = table.onset_ql[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = np.diff(onsets) > 1e-6
    return order[first]


def rhythm_features(table) -> np.ndarray:
    """Where onsets fall in the beat and the bar, the bass line's pulse, syncopation (21 values)."""
    n = len(table)
    if n == 0:
        return np.zeros(21, dtype=np.float32)
    beat = table.beat_ql
    in_beat = np.mod(table.onset_ql, beat) / beat
    near = np.abs(in_beat[:, None] - _BEAT_OFFSETS[None, :])
    near = np.minimum(near, 1 - near)
    hit = near.min(1) < 0.03
    offsets = np.bincount(np.where(hit, near.argmin(1), 6), minlength=7)[:7] / n
    beats_in_bar = max(1, int(round(table.bar_ql / beat)))
    bar_beat = np.floor(np.mod(table.onset_ql + 1e-6, table.bar_ql) / beat).astype(int)
    on_beat = np.abs(in_beat) < 0.03
    per_beat = np.bincount(np.clip(bar_beat[on_beat], 0, 3), minlength=4)[:4] / max(1, on_beat.sum())
    chordal = n > len(np.unique(np.round(table.onset_ql, 3))) * 1.3 or table.n_parts > 1
    bass = _bass_line(table) if chordal else np.zeros(0, dtype=np.int64)
    if bass.size > 2:
        b_in = np.mod(table.onset_ql[bass], beat) / beat
        b_on = np.minimum(b_in, 1 - b_in) < 0.03
        b_bar = np.floor(np.mod(table.onset_ql[bass] + 1e-6, table.bar_ql) / beat).astype(int)
        bars = max(1.0, (table.onset_ql.max() - table.onset_ql.min()) / table.bar_ql)
        steps = np.abs(np.diff(table.pitch[bass]))
        b = [np.mean(b_on), np.mean(b_on & (b_bar == 0)), np.mean(b_on & (b_bar % 2 == 1)),
             np.log1p(bass.size / bars) / 3, np.mean((steps >= 1) & (steps <= 2)), np.mean(steps >= 7),
             (table.pitch.mean() - table.pitch[bass].mean()) / 24]
    else:
        b = [0.0] * 7
    # syncopation: onsets off the beat that last past the next beat
    off = ~on_beat & (np.abs(in_beat - 0.5) > 0.03) | (np.abs(in_beat - 0.5) < 0.03)
    crosses = (np.floor((table.onset_ql + table.duration_ql - 1e-3) / beat) > np.floor(table.onset_ql / beat))
    sync = float(np.mean(off & crosses))
    # long-short pairs inside a beat (swing, dotted rhythms)
    dotted = float(np.mean(np.abs(in_beat - 0.75) < 0.03) + np.mean(np.abs(in_beat - 2 / 3) < 0.03))
    extra = [beats_in_bar / 4, sync, dotted]
    return np.asarray(np.concatenate([offsets, per_beat, b, extra]), dtype=np.float32)


# the style features that read timing on the file's beat grid or in performed seconds: note lengths and rates,
# inter-onset times, where onsets fall, the metre, chord size (a rolled chord is several onsets), and of the rhythm
# features all but the bass line's steps, leaps and register (``rhythm_features``). A performance with no written
# grid to read it on (a scanned piano roll, MIDI played in) is learnt and judged with them unknown (NaN: the trees
# send a missing value down the side that fits it best), from what its notes are
TIMING_HAND_FEATURES = ("dur_hist", "log_notes_per_ql", "log_onsets_per_ql", "ioi_s_median_std", "on_beat",
                        "on_downbeat", "on_eighth", "on_sixteenth", "triplet", "meter", "chord_size", "log_dur_s")
RHYTHM_PITCH_ONLY = (15, 16, 17)  # the bass line's steps, leaps and register
OFF_GRID_FEATURE = 6  # "off the grid" in ``rhythm_features``: onsets on none of 0, 1/4, 1/3, 1/2, 2/3, 3/4 of a
# beat (0.5 when they fall evenly over it, as a performance read on a beat it does not keep; 0.0-0.1 in a score)


def timing_features() -> np.ndarray:
    """A boolean mask over ``style_features``: True where a feature reads timing (``TIMING_HAND_FEATURES``)."""
    from .features import HAND_FEATURE_NAMES, NoteTable, hand_features

    if not HAND_FEATURE_NAMES:  # filled by the first call
        hand_features(NoteTable(np.array([60, 64]), np.array([0.0, 1.0]), np.ones(2), np.array([0.0, 0.5]),
                                np.full(2, 0.5), np.full(2, 80.0), np.zeros(2, dtype=np.int64)))
    hand = [any(n.startswith(p) for p in TIMING_HAND_FEATURES) for n in HAND_FEATURE_NAMES]
    return np.array(hand + [i not in RHYTHM_PITCH_ONLY for i in range(21)], dtype=bool)


def timing_blind(x: np.ndarray) -> np.ndarray:
    """Windows' ``style_features`` with their timing features unknown (NaN): how a performance is read."""
    out = np.array(x, dtype=np.float32, copy=True)
    out[:, timing_features()] = np.nan
    return out


def performed(x: np.ndarray, share: float) -> bool:
    """Whether windows' features say a performance with no written grid: on average ``share`` or more of the onsets
    off every written position in the beat."""
    off = x.shape[1] - 21 + OFF_GRID_FEATURE  # (the rhythm features come last)
    return bool(len(x)) and float(np.nanmean(x[:, off])) >= share


def style_features(table) -> np.ndarray:
    """Hand features (velocity left out: scores and recordings differ in it, styles do not) and rhythm."""
    import dataclasses

    from .features import hand_features

    table = notated(table)
    neutral = dataclasses.replace(table, velocity=np.full(len(table), 80.0))
    return np.concatenate([hand_features(neutral), rhythm_features(table)]).astype(np.float32)


GRID_QL = 1 / 12  # sixteenths and eighth- and sixteenth-note triplets lie on it


def notated(table):
    """A performed table (onsets off the notation's grid: POP909, piano rolls, sequenced MIDI played in) read as
    notation: onsets and lengths on a twelfth of a quarter note. A score's table is already on it and is kept as
    it is, so that a student's file and a performance of the same music give the same features."""
    import dataclasses

    if len(table) == 0:
        return table
    snapped = np.round(table.onset_ql / GRID_QL) * GRID_QL
    if np.mean(np.abs(table.onset_ql - snapped) < 1e-3) >= 0.9:
        return table
    ends = np.round((table.onset_ql + table.duration_ql) / GRID_QL) * GRID_QL
    return dataclasses.replace(table, onset_ql=snapped, duration_ql=np.maximum(ends - snapped, GRID_QL))
