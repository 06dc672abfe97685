"""A disk cache of read scores: a piece opened again is not parsed by music21 again (issue 24).

Reading the longest nasap-dev piece (Schumann's Arabeske, 1.3 MB of MusicXML) took ~5 s, almost all
of it music21's parse. The ``Score`` read from a file is pickled in the user's cache folder
(``$TUTOR_CACHE_DIR``, else platformdirs' ``user_cache_dir('tutor')/scores``), keyed by

- the SHA-256 of the file's bytes (an edited file is read again, whatever its time stamp says),
- the path it was read from and the tune index (the title may come from the file name),
- a digest of the code that reads scores (``tutor/score/*.py``) and music21's version, so that a
  change to the reader never serves an old reading.

Entries are written atomically (a temporary file in the same folder, then ``os.replace``); an entry that
cannot be read is ignored and read again. ``TUTOR_SCORE_CACHE=0`` turns the cache off. The folder keeps
the ``MAX_ENTRIES`` most recently used entries.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path

from tutor.score.music import Score

log = logging.getLogger(__name__)

MAX_ENTRIES = 64
_SUFFIX = ".score.pickle"


def enabled() -> bool:
    return os.environ.get("TUTOR_SCORE_CACHE", "1").strip().lower() not in ("0", "no", "off", "false")


def cache_dir() -> Path:
    override = os.environ.get("TUTOR_CACHE_DIR")
    if override:
        return Path(override).expanduser() / "scores"
    import platformdirs

    return Path(platformdirs.user_cache_dir("tutor", appauthor=False)) / "scores"


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """What the reading depends on: the score package's code and music21's version."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    try:
        import music21

        digest.update(str(music21.VERSION_STR).encode())
    except (ImportError, AttributeError):  # pragma: no cover - music21 is a dependency
        pass
    return digest.hexdigest()[:16]


def key_for(path: Path, index: int | None) -> str | None:
    """The cache key of ``path`` as it is now (None: the file cannot be read)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(data)
    digest.update(b"\0" + str(Path(path)).encode("utf-8", "surrogateescape"))
    digest.update(b"\0" + repr(index).encode())
    digest.update(b"\0" + _code_digest().encode())
    return digest.hexdigest()


def get(key: str | None) -> Score | None:
    """The cached score for ``key``, or None."""
    if key is None or not enabled():
        return None
    entry = cache_dir() / (key + _SUFFIX)
    try:
        with entry.open("rb") as handle:
            score = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign entry: read the file again
        log.debug("score cache entry %s unreadable: %s", entry, error)
        return None
    if not isinstance(score, Score):
        return None
    try:
        os.utime(entry)  # recently used: kept by the pruning
    except OSError:
        pass
    return score


def put(key: str | None, score: Score) -> None:
    """Store ``score`` under ``key`` (atomically; failures only logged: the cache is an optimisation)."""
    if key is None or not enabled():
        return
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=_SUFFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(score, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, folder / (key + _SUFFIX))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _prune(folder)
    except Exception as error:  # noqa: BLE001 - a full disk or a read-only home: no cache, same result
        log.debug("score cache write failed: %s", error)


def _prune(folder: Path) -> None:
    entries = []
    for entry in folder.glob("*" + _SUFFIX):
        if entry.name.startswith(".tmp-"):
            continue
        try:
            entries.append((entry.stat().st_mtime, entry))
        except OSError:
            continue
    entries.sort(reverse=True)
    for _, entry in entries[MAX_ENTRIES:]:
        entry.unlink(missing_ok=True)
