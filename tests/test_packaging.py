"""A wheel carries what the app needs at run time (lesson plans, demo pieces, weights) under ``tutor``."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know the project's files")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    source = tmp_path_factory.mktemp("source")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, capture_output=True)
    (built,) = out.glob("tutor-*.whl")
    return built


def test_wheel_holds_the_data_under_the_tutor_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {"ui", "models", "lessons", "assets"}.isdisjoint(top)  # no generic top-level packages
    plans = sorted(p.name for p in (REPO / "lessons").glob("*.toml"))
    assert plans and all(f"tutor/lesson_plans/{p}" in names for p in plans)
    scores = list((REPO / "lessons" / "scores").glob("*.musicxml"))
    assert len([n for n in names if n.startswith("tutor/lesson_plans/scores/")]) == len(scores)
    assert "tutor/assets/demo/twinkle.musicxml" in names and "tutor/assets/demo/twinkle_take.mid" in names
    assert {"tutor/models/weights/style.pt", "tutor/models/weights/emotion.pt"} <= set(names)
    # every committed weight file, whatever its format (.pt, .npz, .json)
    weights = {f"tutor/models/weights/{p.name}" for p in (REPO / "models" / "weights").iterdir() if p.is_file()}
    assert weights <= set(names), sorted(weights - set(names))


def test_installed_wheel_finds_its_lessons_and_demo(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    probe = ("import tutor, tutor.lessons.plans as l, tutor.resources as r;"
             "c = l.load_catalog([l.BUNDLED_LESSONS_DIR]);"
             "print(tutor.__file__); print(l.BUNDLED_LESSONS_DIR);"
             "print(sum(len(co.exercises) for co in c.courses)); print(r.demo_piece().is_file())")
    env = {**os.environ, "PYTHONPATH": str(target)}
    lines = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert lines[0].startswith(str(target)) and lines[1].startswith(str(target))
    from tutor.lessons.plans import BUNDLED_LESSONS_DIR, load_catalog

    here = load_catalog([BUNDLED_LESSONS_DIR])
    assert int(lines[2]) == sum(len(co.exercises) for co in here.courses) > 0
    assert lines[3] == "True"
