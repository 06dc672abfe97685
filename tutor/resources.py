"""Where the data that ships with tutor lives: the lesson plans and the demo pieces.

In a checkout (or an editable install) they are the repository's ``lessons/`` and ``assets/`` folders;
a wheel carries the same folders as the data packages ``tutor/lesson_plans`` and ``tutor/assets``
(mapped in ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

# folder in the repository -> the same folder inside an installed wheel
_PACKAGED_AS = {"lessons": "lesson_plans", "assets": "assets"}


def bundled_dir(name: str) -> Path:
    """The bundled ``lessons`` or ``assets`` folder, from a checkout or from an installed wheel."""
    installed = PACKAGE_DIR / _PACKAGED_AS[name]
    return installed if installed.is_dir() else REPO_ROOT / name


def in_repository(relative: Path) -> Path:
    """A repository-relative path such as ``assets/demo/twinkle.musicxml``, found where that folder is
    installed (a wheel has no repository root)."""
    head, *rest = relative.parts or ("",)
    if head in _PACKAGED_AS:
        return bundled_dir(head).joinpath(*rest)
    return REPO_ROOT / relative


def demo_piece() -> Path:
    """The piece the app opens first (and the one `make run` shows)."""
    return bundled_dir("assets") / "demo" / "twinkle.musicxml"
