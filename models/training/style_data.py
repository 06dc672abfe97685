"""The style corpus: which real pieces stand for each style class, read and cached as features.

Every piece is read with ``tutor.score.io`` (exactly as ``tutor critique`` reads a student's file),
cut into 8-bar windows and turned into hand features and note tokens (``models.features``). Results
are cached per piece under ``models/.cache/style/`` (git-ignored) so that training runs only pay for
parsing once.

Classes (``models.style.CLASSES``) and sources (music21's bundled corpus and ``../shared/data``):

* ``renaissance`` - Renaissance polyphony: Palestrina masses (music21), Josquin chansons (music21)
* ``baroque`` - Bach chorales (music21), Bach keyboard preludes/fugues/concerto (nASAP scores),
  Corelli trio sonatas and Handel (music21)
* ``classical`` - string quartets by Haydn, Mozart and Beethoven, Mozart K.545 (music21)
* ``romantic_piano`` - Chopin, Schumann, Liszt, Brahms, Rachmaninoff, Scriabin (nASAP scores), Chopin
  mazurka and Clara Schumann polonaises (music21)
* ``folk_fiddle`` - Irish/Scottish/American dance tunes: O'Neill's 1850 and Ryan's Mammoth (music21)
* ``folk_song`` - German and European folk songs of the Essen collection (music21)
"""

from __future__ import annotations

import csv
import hashlib
import logging
import random
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..features import MAX_TOKENS, NoteTable, hand_features, note_tokens, table_from_score, windows
from ..style import WINDOW_BARS

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parents[1]  # the models folder: the cache stays in models/.cache
CACHE = HERE / ".cache" / "style"
SHARED = HERE.parent.parent / "shared" / "data"

# windows kept per piece: few long pieces in some classes, many short tunes in others
MAX_WINDOWS = {"renaissance": 4, "baroque": 4, "classical": 14, "romantic_piano": 16, "folk_fiddle": 2, "folk_song": 2}


@dataclass(frozen=True)
class PieceRef:
    style: str
    source: str  # corpus path, file path
    index: int | None = None  # tune in a multi-tune file
    group: str = ""  # pieces of the same group go to the same split (movements of one work)

    @property
    def key(self) -> str:
        return f"{self.source}#{self.index}" if self.index is not None else self.source


def split_of(group: str, *, val: float = 0.15, test: float = 0.15) -> str:
    """'train' | 'val' | 'test' from a stable hash of the piece group: piece-disjoint splits."""
    value = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if value < test else "val" if value < test + val else "train"


def _corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def piece_refs(seed: int = 0) -> list[PieceRef]:
    rng = random.Random(seed)
    root = _corpus_root()
    refs: list[PieceRef] = []

    def corpus_files(folder: str, pattern: str) -> list[Path]:
        return sorted((root / folder).rglob(pattern))

    pal = corpus_files("palestrina", "*.krn")
    for path in rng.sample(pal, 170):
        name = re.sub(r"_\d+$", "", path.stem)  # movements of one mass stay together
        refs.append(PieceRef("renaissance", str(path), group=f"pal/{name}/{path.stem}"))
    for path in corpus_files("josquin", "*.abc"):
        refs.append(PieceRef("renaissance", str(path), group=f"josquin/{path.stem}"))

    chorales = [p for p in corpus_files("bach", "*.mxl") if p.stem.startswith("bwv")]
    for path in rng.sample(chorales, 130):
        refs.append(PieceRef("baroque", str(path), group=f"bach/{path.stem.split('.')[0]}"))
    nasap = SHARED / "nasap-dev"
    if (nasap / "metadata.csv").exists():
        rows = list(csv.DictReader(open(nasap / "metadata.csv", encoding="utf-8")))
        scores = {row["xml_score"]: row for row in rows}
        for xml, row in sorted(scores.items()):
            style = "baroque" if row["composer"] == "Bach" else "romantic_piano"
            if row["composer"] in ("Debussy", "Ravel"):
                continue  # impressionist: not a class of its own here
            refs.append(PieceRef(style, str(nasap / xml), group=f"nasap/{row['folder']}"))
    for path in corpus_files("corelli", "*.mxl") + corpus_files("corelli", "*.krn") + corpus_files("handel", "*.mxl"):
        refs.append(PieceRef("baroque", str(path), group=f"{path.parent.name}/{path.stem}"))

    quartets = []
    for composer in ("haydn", "mozart", "beethoven"):
        for path in corpus_files(composer, "*.mxl"):
            quartets.append(path)
        for path in corpus_files(composer, "*.krn"):
            if not path.with_suffix(".mxl").exists():
                quartets.append(path)
    for path in quartets:
        work = path.parent.name if path.parent.name.startswith(("opus", "k")) else path.stem
        refs.append(PieceRef("classical", str(path), group=f"classical/{path.parent.parent.name}/{work}"))

    for path in corpus_files("chopin", "*.krn") + corpus_files("schumann_clara", "polonaise*.mxl"):
        refs.append(PieceRef("romantic_piano", str(path), group=f"m21/{path.stem}"))

    fiddle_files = corpus_files("oneills1850", "*.abc") + rng.sample(corpus_files("ryansMammoth", "*.abc"), 120)
    for path in fiddle_files:
        refs.append(PieceRef("folk_fiddle", str(path), index=-1, group=f"fiddle/{path.stem}"))
    # the first 17 files in name order (12 tunes drawn from each): parsing a whole Essen file takes
    # music21 up to a minute, and 200 tunes are plenty
    essen = [p for p in corpus_files("essenFolksong", "*.abc") if not p.stem.startswith("test")][:17]
    for path in essen:
        refs.append(PieceRef("folk_song", str(path), index=-1, group=f"essen/{path.stem}"))
    return refs


# tunes drawn from each multi-tune ABC file (index=-1 expands to this many, spread over the file)
TUNES_PER_FILE = {"folk_fiddle": 6, "folk_song": 12}


@dataclass(frozen=True)
class PieceFeatures:
    key: str
    style: str
    group: str
    hand: np.ndarray  # (windows, features)
    tokens: np.ndarray  # (windows, MAX_TOKENS, fields), zero padded


def _featurize(table: NoteTable, style: str) -> tuple[np.ndarray, np.ndarray] | None:
    parts = windows(table, bars=WINDOW_BARS, max_windows=MAX_WINDOWS[style])
    if not parts:
        return None
    hand = np.stack([hand_features(w) for w in parts])
    tokens = np.zeros((len(parts), MAX_TOKENS, 6), dtype=np.int16)
    for i, w in enumerate(parts):
        t = note_tokens(w)
        tokens[i, : len(t)] = t
    return hand, tokens


def _scores_of(ref: PieceRef) -> Iterator[tuple[str, object]]:
    """(key, tutor Score) for a reference; a multi-tune file yields several tunes."""
    import music21

    from tutor.score.io import load_score, score_from_music21

    if ref.index != -1:
        yield ref.key, load_score(ref.source)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = music21.converter.parse(ref.source)
    scores = list(parsed.scores) if isinstance(parsed, music21.stream.Opus) else [parsed]
    want = TUNES_PER_FILE[ref.style]
    pick = sorted(set(np.linspace(0, len(scores) - 1, min(want, len(scores))).round().astype(int).tolist()))
    for i in pick:
        yield f"{ref.source}#{i}", score_from_music21(scores[i], source_path=Path(ref.source))


def load_piece_features(ref: PieceRef) -> list[PieceFeatures]:
    """Features of one reference (cached)."""
    name = hashlib.sha1(ref.key.encode()).hexdigest()[:16]
    path = CACHE / ref.style / f"{name}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        keys = data["keys"].tolist()
        return [PieceFeatures(k, ref.style, g, data[f"hand{i}"], data[f"tokens{i}"])
                for i, (k, g) in enumerate(zip(keys, data["groups"].tolist(), strict=True))]
    out: list[PieceFeatures] = []
    try:
        for key, score in _scores_of(ref):
            made = _featurize(table_from_score(score), ref.style)
            if made is None:
                continue
            group = ref.group if ref.index != -1 else f"{ref.group}#{key.rsplit('#', 1)[-1]}"
            out.append(PieceFeatures(key, ref.style, group, *made))
    except Exception as error:  # noqa: BLE001 - an unreadable corpus file is skipped, not fatal
        log.warning("skipping %s: %s", ref.key, error)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"keys": np.array([p.key for p in out]), "groups": np.array([p.group for p in out])}
    for i, p in enumerate(out):
        arrays[f"hand{i}"] = p.hand
        arrays[f"tokens{i}"] = p.tokens
    np.savez_compressed(path, **arrays)
    return out


def build_dataset(*, verbose: bool = True) -> list[PieceFeatures]:
    refs = piece_refs()
    pieces: list[PieceFeatures] = []
    for i, ref in enumerate(refs):
        pieces.extend(load_piece_features(ref))
        if verbose and (i % 50 == 0 or i == len(refs) - 1):
            print(f"  features: {i + 1}/{len(refs)} references, {len(pieces)} pieces", flush=True)
    return pieces


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    data = build_dataset()
    from collections import Counter

    print(Counter(p.style for p in data))
    print(Counter(p.style for p in data for _ in range(len(p.hand))))
