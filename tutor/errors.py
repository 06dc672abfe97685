"""One error hierarchy for the whole project.

Every error a user can cause (a bad file, a missing device, a model that cannot load) is a
``TutorError`` whose message says what was wrong and, where there is one, with which file.
The CLI prints ``str(error)`` on one line and exits with code 2.
"""

from __future__ import annotations

from pathlib import Path


class TutorError(Exception):
    """Base class for every error the app reports to a user."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


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
