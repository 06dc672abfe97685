""""More pieces like this": the nearest pieces to a score in an index of real music.

The embedding is the style model's penultimate layer (each ensemble member's 128-unit ``joint`` layer,
averaged over the piece's 8-bar windows, L2-normalised, concatenated): two pieces are near when the style
model hears them alike. The index (``models/weights/similar_index.npz``, built by
``models/training/build_similar_index.py`` from the music21 corpus, the lesson library and, where present,
``../shared/data`` as ``shared:...`` references that may be missing elsewhere) is read by ``load_index``.
Each result says why it is near: style, mode and metre, pace (notes per beat and per second), difficulty.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.errors import ModelError

REPO = Path(__file__).resolve().parent.parent  # the checkout (lesson references are relative to it)


def _index_path() -> Path:
    """``weights/similar_index.npz`` of the ``tutor.models`` package (``models/`` in a checkout)."""
    import tutor.models

    return Path(tutor.models.__file__).resolve().parent / "weights" / "similar_index.npz"


INDEX = _index_path()
WINDOW_TOKENS = 192  # as models.style reads windows
DIFFICULTY_NAMES = ("easy", "intermediate", "advanced")


@dataclass(frozen=True)
class PieceInfo:
    """What "why" compares: the style label, mode, metre, pace and a difficulty level."""

    style: str  # class id of models.style.CLASSES
    minor: bool
    meter: str  # "4/4", "6/8", "2/2": from the first time signature
    notes_per_beat: float
    notes_per_s: float
    difficulty: float  # a 0..1 score; DIFFICULTY_NAMES by thirds

    @property
    def difficulty_name(self) -> str:
        return DIFFICULTY_NAMES[min(2, int(self.difficulty * 3))]


@dataclass(frozen=True)
class SimilarPiece:
    title: str
    source: str
    similarity: float
    why: str
    shared: bool = False  # from ../shared/data (may be absent on this machine)

    def as_json(self) -> dict:
        return {"title": self.title, "source": self.source, "similarity": round(self.similarity, 4), "why": self.why}


# ---------------------------------------------------------------------------------------------
# embedding (used by the index builder and at query time: the same numbers)
# ---------------------------------------------------------------------------------------------
def embed_windows(hand: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(embedding, style probabilities) of a piece from its windows' hand features (W, F) and note
    tokens (W, L, 6)."""
    import torch

    from tutor.models.encoder import single_thread
    from tutor.models.style import _load

    nets, _ = _load()
    tok = np.zeros((tokens.shape[0], WINDOW_TOKENS, tokens.shape[2]), dtype=np.int64)
    n = min(WINDOW_TOKENS, tokens.shape[1])
    tok[:, :n] = tokens[:, :n]
    x = torch.tensor(np.asarray(hand, dtype=np.float32))
    t = torch.tensor(tok)
    parts = []
    probabilities = 0.0
    with single_thread():
        for net in nets:
            captured = {}
            handle = net.joint.register_forward_hook(lambda _m, _i, out, c=captured: c.__setitem__("h", out))
            try:
                logits = net(t, x)["style"]
            finally:
                handle.remove()
            h = captured["h"].mean(0).numpy()
            parts.append(h / (np.linalg.norm(h) + 1e-9))
            probabilities = probabilities + torch.softmax(logits, -1).mean(0).numpy()
    embedding = np.concatenate(parts) / np.sqrt(len(parts))
    return embedding.astype(np.float32), np.asarray(probabilities) / len(nets)


def info_from_hand(hand: np.ndarray, style: str) -> PieceInfo:
    """The "why" facts from the windows' hand features (see models.features.hand_features)."""
    from tutor.models.features import HAND_FEATURE_NAMES

    names = _hand_names(HAND_FEATURE_NAMES)
    mean = np.asarray(hand, dtype=np.float64).mean(0)

    def get(name: str) -> float:
        return float(mean[names.index(name)])

    bar_ql = get("meter0") * 4
    compound = get("meter1") > 0.5
    beat_ql = 1.5 if compound else 1.0
    onsets_per_ql = float(np.expm1(get("log_onsets_per_ql")))
    notes_per_s = float(np.expm1(get("log_notes_per_s")))
    chord = get("chord_size")
    pitch_range = get("pitch_range") * 24
    # difficulty: how fast the onsets come, how many notes at once, how wide the range, how chromatic
    difficulty = (0.35 * np.clip((onsets_per_ql - 0.7) / 2.5, 0, 1) + 0.25 * np.clip((chord - 1) / 3, 0, 1)
                  + 0.25 * np.clip((pitch_range - 8) / 30, 0, 1) + 0.15 * np.clip(get("chromatic") / 0.2, 0, 1))
    meter = f"{bar_ql * 2:g}/8" if compound or bar_ql % 1 else f"{bar_ql:g}/4"
    if get("meter2") > 0.5:
        meter = f"{bar_ql / 2:g}/2"
    return PieceInfo(style=style, minor=get("key0") > 0.5, meter=meter, notes_per_beat=onsets_per_ql * beat_ql,
                     notes_per_s=notes_per_s, difficulty=float(difficulty))


def _hand_names(names: list[str]) -> list[str]:
    if not names:
        from tutor.models.features import NoteTable, hand_features

        hand_features(NoteTable(np.full(8, 60), np.arange(8.0), np.ones(8), np.arange(8.0), np.ones(8),
                                np.full(8, 64), np.zeros(8, dtype=np.int64)))
    return names


def score_windows(score) -> tuple[np.ndarray, np.ndarray, object]:
    """(hand features, tokens, NoteTable) of a score's 8-bar windows, as models.style cuts them."""
    from tutor.models.features import hand_features, note_tokens, table_from_score, windows
    from tutor.models.style import MAX_WINDOWS, WINDOW_BARS

    table = table_from_score(score)
    if len(table) == 0:
        from tutor.errors import InputFileError

        raise InputFileError("has no notes to compare", path=score.source_path or score.title)
    parts = windows(table, bars=WINDOW_BARS, max_windows=MAX_WINDOWS) or [table]
    hand = np.stack([hand_features(w) for w in parts])
    tokens = np.zeros((len(parts), WINDOW_TOKENS, 6), dtype=np.int64)
    for i, w in enumerate(parts):
        t = note_tokens(w, max_tokens=WINDOW_TOKENS)
        tokens[i, : len(t)] = t
    return hand, tokens, table


# ---------------------------------------------------------------------------------------------
# index and query
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SimilarIndex:
    embeddings: np.ndarray  # (N, D) float32, unit length
    titles: list[str]
    sources: list[str]
    collections: list[str]  # e.g. "bach", "essen", "nasap/Chopin": for the retrieval benchmark
    groups: list[str]  # pieces of one work share a group
    infos: list[PieceInfo]
    shared: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.titles)


@functools.lru_cache(maxsize=2)
def load_index(path: str = str(INDEX)) -> SimilarIndex:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ModelError("the similar-pieces index is missing; run python -m models.training.build_similar_index", path=path) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # unreadable, truncated, not an .npz
        raise ModelError(f"the similar-pieces index cannot be read ({error})", path=path) from None
    emb = data["embeddings"].astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9
    infos = [PieceInfo(style=str(s), minor=bool(m), meter=str(me), notes_per_beat=float(b), notes_per_s=float(ps),
                       difficulty=float(d))
             for s, m, me, b, ps, d in zip(data["style"], data["minor"], data["meter"], data["notes_per_beat"],
                                           data["notes_per_s"], data["difficulty"], strict=True)]
    return SimilarIndex(emb, data["title"].tolist(), data["source"].tolist(), data["collection"].tolist(),
                        data["group"].tolist(), infos, data["shared"].astype(bool))


def explain(query: PieceInfo, other: PieceInfo) -> str:
    """Why ``other`` is near ``query``, in words."""
    from tutor.models.style import CLASS_LABELS

    reasons = []
    if query.style == other.style:
        reasons.append(f"same style ({CLASS_LABELS.get(other.style, other.style)})")
    else:
        reasons.append(f"style {CLASS_LABELS.get(other.style, other.style)}")
    mode = "minor" if other.minor else "major"
    reasons.append(f"both {mode}" if query.minor == other.minor else f"in {mode}")
    if query.meter == other.meter:
        reasons.append(f"same metre ({other.meter})")
    ratio = (other.notes_per_beat + 1e-6) / (query.notes_per_beat + 1e-6)
    pace = "similar pace" if 0.75 <= ratio <= 1.33 else "busier" if ratio > 1 else "calmer"
    reasons.append(f"{pace} ({other.notes_per_beat:.1f} notes per beat)")
    level = other.difficulty_name
    reasons.append(f"same level ({level})" if level == query.difficulty_name else f"{level}")
    return ", ".join(reasons)


def query_embedding(score) -> tuple[np.ndarray, PieceInfo]:
    from tutor.models.style import CLASSES

    hand, tokens, _ = score_windows(score)
    embedding, probabilities = embed_windows(hand, tokens)
    style = CLASSES[int(np.argmax(probabilities))] if len(probabilities) == len(CLASSES) else ""
    info = info_from_hand(hand, style)
    return embedding, info


def nearest(index: SimilarIndex, embedding: np.ndarray, *, n: int, exclude=None) -> list[tuple[int, float]]:
    """Indices and cosine similarities of the ``n`` nearest entries (``exclude(i)`` drops entries)."""
    e = embedding / (np.linalg.norm(embedding) + 1e-9)
    sims = index.embeddings @ e
    out = []
    for i in np.argsort(-sims):
        if exclude is not None and exclude(int(i)):
            continue
        out.append((int(i), float(sims[i])))
        if len(out) == n:
            break
    return out


def find_similar(score, *, n: int = 10, index_path: Path | None = None) -> list[SimilarPiece]:
    """The ``n`` pieces of the index nearest to ``score`` (the piece itself, when indexed, left out)."""
    index = load_index(str(index_path or INDEX))
    embedding, info = query_embedding(score)
    own = _own_references(score)
    results = []
    for i, sim in nearest(index, embedding, n=n, exclude=lambda i: index.sources[i] in own or
                          float(index.embeddings[i] @ (embedding / (np.linalg.norm(embedding) + 1e-9))) > 0.9999):
        why = explain(info, index.infos[i])
        if index.shared[i]:
            why += "; in the shared corpora (../shared/data)"
        results.append(SimilarPiece(index.titles[i], index.sources[i], sim, why, bool(index.shared[i])))
    return results


def _own_references(score) -> set[str]:
    """How the index would name this score, so that a piece does not find itself."""
    refs = set()
    if score.source_path is not None:
        path = Path(score.source_path).resolve()
        refs.add(str(path))
        repo = REPO
        try:
            refs.add(str(path.relative_to(repo)))
        except ValueError:
            pass
        refs.add(corpus_reference(path) or "")
        try:
            refs.add("shared:" + str(path.relative_to((repo.parent / "shared" / "data").resolve())))
        except ValueError:
            pass
    title = getattr(score, "title", "")
    if title.startswith("corpus:"):
        refs.add(title)
    return refs


def corpus_reference(path: Path) -> str | None:
    """``corpus:bach/bwv66.6.mxl`` for a file of music21's corpus, else None."""
    import importlib.util

    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent / "corpus"
    try:
        return "corpus:" + str(Path(path).resolve().relative_to(root))
    except ValueError:
        return None


def resolve_source(source: str) -> tuple[str, int | None]:
    """(what ``tutor.score.io.load_score`` opens, tune index) for a result's ``source``: ``corpus:FILE#N``
    is tune N of a corpus collection, ``shared:PATH`` a file under ``../shared/data``, a relative path a
    file of the lesson library (found where the lessons are installed)."""
    from tutor.errors import InputFileError
    from tutor.resources import in_repository

    if source.startswith("corpus:"):
        reference, _, number = source.partition("#")
        return reference, int(number) if number.isdigit() else None
    if source.startswith("shared:"):
        path = REPO.parent / "shared" / "data" / source[len("shared:"):]
        if not path.exists():
            raise InputFileError("is in the shared corpora (../shared/data), which this machine does not have",
                                 path=source)
        return str(path), None
    path = Path(source)
    return str(path if path.is_absolute() else in_repository(path)), None
