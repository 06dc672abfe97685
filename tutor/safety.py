"""Checks on input files before any parser sees them, and atomic writes for every output.

Parsers are given only files that exist, are readable, are not absurdly large and (for XML) do
not declare entities. Outputs are written to a temporary file in the target folder and renamed
over the target only when complete, so a failure never leaves a partial or truncated file.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tutor.errors import InputFileError, OutputFileError, display_name  # noqa: F401 - display_name is part of this module's API

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
    """Refuse XML that declares entities (entity-expansion attacks) or is not XML at all.

    Bytes are decoded first as an XML parser would (byte-order mark, UTF-16/32 without one, the declared
    encoding); the whole prolog, up to the root element however long it is, is searched for entity
    declarations."""
    if isinstance(text, bytes):
        text = decode_xml(text)
    if not text.startswith("<", _SPACE.match(text).end()):
        raise InputFileError("is not an XML file (it does not start with '<')", path=path)
    if _ENTITY.search(text, 0, _prolog_end(text)):
        raise InputFileError("declares XML entities, which MusicXML never needs; refusing to parse it", path=path)


_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)
_SPACE = re.compile("[\ufeff \t\r\n]*")
_DECLARATION_MARK = re.compile(r"""["'\[\]>]|<!--|<\?""")  # what matters inside a <!DOCTYPE ...>
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def xml_encoding(data: bytes) -> str:
    """The encoding of XML ``data``: its byte-order mark, else the pattern of NUL bytes that UTF-16 and
    UTF-32 text without one has, else its declaration's ``encoding=``, else UTF-8."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:512]
    if len(head) >= 4 and head.count(0) >= len(head) // 4:
        # ASCII markup in a wide encoding: the NULs fall on fixed positions of each 2- or 4-byte unit
        nul = [sum(1 for i in range(k, len(head), 4) if head[i] == 0) for k in range(4)]
        quarter = len(head) // 4
        if min(nul[1], nul[2], nul[3]) >= 0.9 * quarter > nul[0]:
            return "utf-32-le"
        if min(nul[0], nul[1], nul[2]) >= 0.9 * quarter > nul[3]:
            return "utf-32-be"
        if min(nul[1], nul[3]) >= 0.9 * quarter and nul[0] + nul[2] < quarter:
            return "utf-16-le"
        if min(nul[0], nul[2]) >= 0.9 * quarter and nul[1] + nul[3] < quarter:
            return "utf-16-be"
    declared = re.match(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""", head)
    if declared:
        name = declared.group(1).decode("ascii")
        try:
            codecs.lookup(name)
        except LookupError:
            return "utf-8"
        if not name.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32", "ucs")):
            return name  # a declared wide encoding without its NUL pattern is wrong: read as UTF-8
    return "utf-8"


def decode_xml(data: bytes) -> str:
    """XML ``data`` as text, decoded by ``xml_encoding`` (undecodable bytes replaced)."""
    try:
        text = data.decode(xml_encoding(data), "replace")
    except LookupError:  # a codec that decodes nothing (rot13...): read as UTF-8
        text = data.decode("utf-8", "replace")
    return text.removeprefix("\ufeff")


def _prolog_end(text: str) -> int:
    """Where the root element starts: after the declaration, comments, processing instructions and the
    document type (with its internal subset) however long they are; the end of ``text`` when that
    cannot be told (then the whole text counts as prolog)."""
    position, size = 0, len(text)
    while True:
        position = _SPACE.match(text, position).end()
        if text.startswith("<?", position):
            end = text.find("?>", position + 2)
            position = end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            position = end + 3
        elif text.startswith("<!", position):
            end = _declaration_end(text, position + 2)
            position = end + 1
        elif text.startswith("<", position):
            return position
        else:
            return size
        if end < 0:
            return size


def _declaration_end(text: str, position: int) -> int:
    """The index of the '>' closing a ``<!DOCTYPE`` (skipping quoted literals, comments, processing
    instructions and the bracketed internal subset), or -1."""
    depth = 0
    while (mark := _DECLARATION_MARK.search(text, position)) is not None:
        token, position = mark.group(), mark.end()
        closing = {"<!--": "-->", "<?": "?>", '"': '"', "'": "'"}.get(token)
        if closing is not None:
            end = text.find(closing, position)
            if end < 0:  # an unclosed literal, comment or instruction
                return -1
            position = end + len(closing)
        elif token == "[":
            depth += 1
        elif token == "]":
            depth = max(0, depth - 1)
        elif depth == 0:  # '>'
            return mark.start()
    return -1


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
