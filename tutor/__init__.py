"""tutor: a desktop app that gives musicians real feedback.

Importing ``tutor`` is light: it imports neither Qt nor torch (``tests/test_import_boundary.py``
enforces it). The data model is in ``tutor.score.music``, file I/O in ``tutor.score.io``.
"""

from tutor._version import __version__
from tutor.errors import TutorError

__all__ = ["__version__", "TutorError"]
