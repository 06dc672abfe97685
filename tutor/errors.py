"""One error hierarchy for the whole project.

Every error a user can cause (a bad file, a missing device, a model that cannot load) is a
``TutorError`` whose message says what was wrong and, where there is one, with which file.
The CLI prints ``str(error)`` on one line and exits with code 2.
"""

from __future__ import annotations

import os
from pathlib import Path


class TutorError(Exception):
    """Base class for every error the app reports to a user."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{display_name(self.path)}: {message}" if self.path is not None else message)


class InputFileError(TutorError):
    """A file could not be read or does not contain what its name promises."""


class UnsupportedFormatError(InputFileError):
    """The file's extension names no format we read or write."""


class OutputFileError(TutorError):
    """A result could not be written (full disk, no permission, bad folder)."""


class DeviceError(TutorError):
    """An audio or MIDI device is missing, busy or disappeared."""


class ModelError(TutorError):
    """A model's weights are missing or do not fit the code."""


class AnalysisError(TutorError):
    """An analysis could not be carried out on valid input (for example: nothing to compare)."""


def display_name(name: str | Path) -> str:
    """A file name (or path) fit to print on one line and to write into a file. A name whose bytes are not
    UTF-8 reaches Python with surrogate escapes, which no output can encode: its bytes are read as Windows
    Latin-1 (what such names most often are) instead; control characters (a newline, an escape) are
    written as escapes."""
    name = str(name)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        name = os.fsencode(name).decode("cp1252", "replace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
