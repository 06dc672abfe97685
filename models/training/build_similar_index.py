"""Build ``models/weights/similar_index.npz``, the index of ``tutor similar``.

Pieces: the style corpus (music21's corpus and, where present, ``../shared/data/nasap-dev``; read from
the feature cache ``models/.cache/style`` that ``models/training/style_data.py`` fills, so a rebuild costs seconds
once the style model has been trained), plus every score of the lesson library. Each entry keeps its
embedding (``tutor.compose.similar.embed_windows``, float16), the "why" facts, a title, a source reference
(``corpus:...`` for music21's corpus, ``lessons/scores/...`` or a lesson's own reference,
``shared:...`` relative to ``../shared/data``, marked ``shared``) and its collection and group (for the
retrieval benchmark, ``tests/bench/bench_similar.py``).

    python -m models.training.build_similar_index
"""

from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path

import numpy as np

from tutor.compose.similar import INDEX, corpus_reference, embed_windows, info_from_hand, score_windows

from ..style import CLASSES
from .style_data import SHARED, load_piece_features, piece_refs

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
log = logging.getLogger(__name__)


def collection_of(group: str) -> str:
    """The collection a piece belongs to, from its style-corpus group: "bach", "pal", "essen",
    "fiddle", "classical/haydn", "nasap/Chopin", "corelli"..."""
    head, _, rest = group.partition("/")
    if head in ("classical", "nasap"):
        return f"{head}/{rest.split('/')[0]}"
    if head == "m21":
        return "m21/" + re.sub(r"[\d_\-.].*$", "", rest.lower())
    return head


def _reference(source: str) -> tuple[str, bool]:
    """(reference, shared?) of a style-corpus source path (``path#i`` for a tune in a collection)."""
    path, _, tune = source.partition("#")
    suffix = f"#{tune}" if tune else ""
    ref = corpus_reference(Path(path))
    if ref:
        return ref + suffix, False
    try:
        return "shared:" + str(Path(path).resolve().relative_to(SHARED.resolve())) + suffix, True
    except ValueError:
        return path + suffix, False


def _title(reference: str) -> str:
    body = reference.split(":", 1)[-1]
    path, _, tune = body.partition("#")
    parts = Path(path).parts
    if reference.startswith("shared:nasap-dev"):
        name = " ".join(parts[1:-1])  # composer, work, number
    else:
        name = Path(path).stem.replace("_", " ")
        if parts and parts[0] not in ("lessons",):
            name = f"{parts[0]}: {name}"
    return f"{name} (tune {int(tune) + 1})" if tune else name


def corpus_entries() -> list[dict]:
    out = []
    for ref in piece_refs():
        for piece in load_piece_features(ref):
            embedding, probabilities = embed_windows(piece.hand, piece.tokens)
            style = CLASSES[int(np.argmax(probabilities))]
            reference, shared = _reference(piece.key)
            out.append({"embedding": embedding, "info": info_from_hand(piece.hand, style), "title": _title(reference),
                        "source": reference, "collection": collection_of(piece.group), "group": piece.group,
                        "shared": shared})
    return out


def lesson_entries() -> list[dict]:
    from tutor.score.io import load_score

    seen = set()
    out = []
    for toml in sorted((REPO / "lessons").glob("*.toml")):
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
        for unit in data.get("units", []):
            for exercise in unit.get("exercises", []):
                for field in ("score", "solution"):
                    value = exercise.get(field)
                    if not value or value in seen:
                        continue
                    seen.add(value)
                    if value.startswith("corpus:"):
                        reference, source = value, value
                    elif (REPO / "lessons" / value).exists():
                        source = str(REPO / "lessons" / value)
                        reference = str(Path("lessons") / value)
                    elif (REPO / value).exists():
                        source, reference = str(REPO / value), value
                    else:
                        continue
                    try:
                        score = load_score(source)
                        hand, tokens, _ = score_windows(score)
                    except Exception as error:  # noqa: BLE001 - a lesson file the index cannot read is skipped
                        log.warning("skipping %s: %s", value, error)
                        continue
                    embedding, probabilities = embed_windows(hand, tokens)
                    style = CLASSES[int(np.argmax(probabilities))]
                    title = exercise.get("title") or score.title
                    out.append({"embedding": embedding, "info": info_from_hand(hand, style),
                                "title": f"{title} (lesson: {data.get('title', toml.stem)})", "source": reference,
                                "collection": "lessons", "group": f"lessons/{reference}", "shared": False})
    return out


def save(entries: list[dict], path: Path = INDEX) -> None:
    infos = [e["info"] for e in entries]
    arrays = {
        "embeddings": np.stack([e["embedding"] for e in entries]).astype(np.float16),
        "title": np.array([e["title"] for e in entries]),
        "source": np.array([e["source"] for e in entries]),
        "collection": np.array([e["collection"] for e in entries]),
        "group": np.array([e["group"] for e in entries]),
        "shared": np.array([e["shared"] for e in entries]),
        "style": np.array([i.style for i in infos]),
        "minor": np.array([i.minor for i in infos]),
        "meter": np.array([i.meter for i in infos]),
        "notes_per_beat": np.array([i.notes_per_beat for i in infos], dtype=np.float32),
        "notes_per_s": np.array([i.notes_per_s for i in infos], dtype=np.float32),
        "difficulty": np.array([i.difficulty for i in infos], dtype=np.float32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    entries = corpus_entries()
    print(f"corpus: {len(entries)} pieces ({sum(e['shared'] for e in entries)} from ../shared/data)", flush=True)
    lessons = lesson_entries()
    print(f"lessons: {len(lessons)} scores", flush=True)
    save(entries + lessons)
    print(f"wrote {INDEX} ({INDEX.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
