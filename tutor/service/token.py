"""The service token: made with ``secrets`` on the first start of ``tutor serve`` and kept, mode 0600, in
``service-token`` in the user config folder (``$TUTOR_DATA_DIR`` when set)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tutor.errors import TutorError

TOKEN_FILE = "service-token"


# ---------------------------------------------------------------------------------------------
def config_dir() -> Path:
    """``$TUTOR_DATA_DIR`` if set, else the user config folder (platformdirs)."""
    override = os.environ.get("TUTOR_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("tutor", appauthor=False))


def token_path(folder: Path | None = None) -> Path:
    return (folder or config_dir()) / TOKEN_FILE


def load_or_create_token(folder: Path | None = None) -> tuple[str, bool]:
    """The service token and whether it was just made (then the caller shows it, once)."""
    path = token_path(folder)
    try:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, False
    except FileNotFoundError:
        pass
    except OSError as error:
        raise TutorError(f"cannot read the service token ({error.strerror or error})", path=path) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        os.chmod(path, 0o600)
    except OSError as error:
        raise TutorError(f"cannot store the service token ({error.strerror or error})", path=path) from None
    return token, True
