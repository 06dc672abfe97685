"""Importing the core must not import Qt or torch; the core must never import the UI."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

CORE_MODULES = ["tutor", "tutor.score.music", "tutor.score.io", "tutor.cli", "tutor.errors", "tutor.safety"]


def test_core_imports_neither_qt_nor_torch():
    code = (
        "import sys, importlib\n"
        f"for name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        "import tutor.cli; tutor.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'shiboken6', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported: {out.stdout.strip()}"


def test_core_never_imports_ui():
    offenders = []
    launcher = REPO / "tutor" / "cli" / "commands" / "app.py"  # `tutor app` starts the UI, inside run() only
    for path in (REPO / "tutor").rglob("*.py"):
        if path == launcher:
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("import PySide6", "from PySide6", "tutor.ui", "import pyqtgraph"):
            if needle in text:
                offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert not offenders, offenders
