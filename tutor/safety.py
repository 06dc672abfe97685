"""Checks on input files before any parser sees them, and atomic writes for every output.

Parsers are given only files that exist, are readable, are not absurdly large and (for XML) do
not declare entities. Outputs are written to a temporary file in the target folder and renamed
over the target only when complete, so a failure never leaves a partial or truncated file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tutor.errors import InputFileError, OutputFileError

MAX_SCORE_BYTES = 30 * 1024 * 1024  # the largest real MusicXML scores are a few MB
MAX_MIDI_BYTES = 10 * 1024 * 1024
MAX_AUDIO_BYTES = 2 * 1024 * 1024 * 1024


def check_readable(path: str | Path, *, max_bytes: int) -> Path:
    """The path as a ``Path`` if it is a readable, non-empty file no larger than ``max_bytes``."""
    path = Path(path)
    if not path.exists():
        raise InputFileError("no such file", path=path)
    if path.is_dir():
        raise InputFileError("is a folder, not a file", path=path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise InputFileError(f"cannot be read ({error.strerror or error})", path=path) from None
    if size == 0:
        raise InputFileError("is empty", path=path)
    if size > max_bytes:
        raise InputFileError(
            f"is {size / 1e6:.0f} MB, larger than the {max_bytes / 1e6:.0f} MB this kind of file may be", path=path
        )
    return path


def check_xml_text(text: str | bytes, *, path: str | Path) -> None:
    """Refuse XML that declares entities (entity-expansion attacks) or is not XML at all."""
    head = text[:200_000] if isinstance(text, str) else text[:200_000].decode("utf-8", "replace")
    if "<!ENTITY" in head.upper():
        raise InputFileError("declares XML entities, which MusicXML never needs; refusing to parse it", path=path)
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped.startswith("<"):
        raise InputFileError("is not an XML file (it does not start with '<')", path=path)


@contextlib.contextmanager
def atomic_write(path: str | Path, *, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path``; replace ``path`` only if the block succeeds."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputFileError("cannot write: its folder does not exist", path=path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as error:
        raise OutputFileError(f"cannot write ({error.strerror or error})", path=path) from None
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600 files; outputs are ordinary files
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OutputFileError(f"cannot write ({error.strerror or error})", path=path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The existing file's permissions, or the usual ones for a new file under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # read, not set: os.umask() would change it for every thread for a moment
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, mode="wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def check_not_an_input(output: str | Path, *inputs: str | Path | None) -> None:
    """Refuse to write ``output`` when it is one of ``inputs`` (the same path, or the same file by another
    name): the input would be lost. ``corpus:`` references and None are not files and are skipped."""
    out = Path(output)
    for source in inputs:
        if source is None or str(source).startswith("corpus:"):
            continue
        given = Path(source)
        try:
            same = out.resolve() == given.resolve() or (out.exists() and given.exists() and os.path.samefile(out, given))
        except OSError:  # a name that cannot be resolved is not the input's name
            same = False
        if same:
            raise OutputFileError(f"is also the input file {given.name}: write the output to another file (the input "
                                  "would be lost)", path=out)
