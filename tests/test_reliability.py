"""Nothing a user has is lost, whatever they type: hostile or mistaken inputs end in one clear line
(exit 2) with every input file intact."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.conftest import REPO
from tests.test_cli_io import assert_clean_error, tutor

DEMO = REPO / "assets" / "demo"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def work(tmp_path):
    shutil.copy(DEMO / "twinkle.musicxml", tmp_path / "tune.musicxml")
    shutil.copy(DEMO / "twinkle_take.mid", tmp_path / "take.mid")
    assert tutor("render", tmp_path / "tune.musicxml", "--out", tmp_path / "rec.wav", "--tempo", "240").returncode == 0
    (tmp_path / "link.musicxml").symlink_to(tmp_path / "tune.musicxml")
    return tmp_path


@pytest.mark.parametrize("args", [
    ("record", "--from-file", "{w}/rec.wav", "--out", "{w}/rec.wav", "--force"),
    ("record", "--from-file", "{w}/rec.wav", "--out", "{w}/./rec.wav", "--force"),
    ("convert", "{w}/tune.musicxml", "{w}/tune.musicxml"),
    ("convert", "{w}/tune.musicxml", "{w}/link.musicxml"),  # the same file by another name
    ("critique", "{w}/tune.musicxml", "-o", "{w}/tune.musicxml"),
    ("assess", "--score", "{w}/tune.musicxml", "{w}/take.mid", "-o", "{w}/tune.musicxml"),
    ("transcribe", "{w}/rec.wav", "--tracker", "pyin", "--f0", "{w}/../{d}/rec.wav.csv"),  # not the input: works
    ("transcribe", "{w}/take.mid", "-o", "{w}/take.mid"),
    ("suggest", "{w}/tune.musicxml", "--continue", "1", "-o", "{w}/tune.musicxml"),
])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(work, args):
    before = {p.name: _digest(p) for p in work.iterdir() if p.is_file() and not p.is_symlink()}
    result = tutor(*(a.format(w=work, d=work.name) for a in args))
    if "--f0" in args:
        assert result.returncode == 0, result.stderr
    else:
        assert_clean_error(result, "is also the input file")
    after = {p.name: _digest(p) for p in work.iterdir() if p.is_file() and not p.is_symlink() and p.name in before}
    assert after == before
