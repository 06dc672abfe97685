"""`tutor app FILE --mode M --screenshot OUT.png` under Xvfb, for the three modes."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"
STUDENT = REPO / "assets" / "demo" / "student_melody.musicxml"  # a piece with findings for the critique


@pytest.mark.parametrize("mode", ["practice", "compose", "lessons"])
def test_screenshot(mode, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    out = tmp_path / f"{mode}.png"
    env = {"TUTOR_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "tutor", "app", str(STUDENT if mode == "compose" else DEMO),
         "--mode", mode, "--screenshot", str(out)],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1500, 900)
    assert out.stat().st_size > 30_000  # a rendered window, not an empty frame
