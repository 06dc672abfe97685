"""The CLI on good and bad input: one clear line, exit code 2, no traceback, no partial output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


def tutor(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tutor", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_clean_error(result, name):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert name in lines[0], lines[0]


def test_version_and_help():
    result = tutor("--version")
    assert result.returncode == 0 and result.stdout.startswith("tutor ")
    result = tutor("--help")
    assert result.returncode == 0 and "info" in result.stdout and "convert" in result.stdout


def test_info_json_on_demo():
    result = tutor("info", DEMO, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["title"] == "Twinkle, Twinkle, Little Star"
    assert info["key"] == "C major" and info["time_signature"] == "4/4"
    assert info["tempo_bpm"] == 90 and info["notes"] == 42 and info["measures"] == 12
    assert info["duration_s"] == pytest.approx(32.0)


def test_convert_musicxml_to_midi_and_back(tmp_path):
    midi = tmp_path / "demo.mid"
    assert tutor("convert", DEMO, midi).returncode == 0
    xml = tmp_path / "back.musicxml"
    assert tutor("convert", midi, xml).returncode == 0
    info = json.loads(tutor("info", xml, "--json").stdout)
    assert info["notes"] == 42 and info["measures"] == 12 and info["tempo_bpm"] == 90


def _hostile_xml(tmp_path):
    path = tmp_path / "laughs.musicxml"
    entities = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 10))
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE score-partwise [<!ENTITY l0 "lol">{entities}]>'
        "<score-partwise><work><work-title>&l9;</work-title></work></score-partwise>"
    )
    return path


BAD_INPUTS = {
    "empty.mid": b"",
    "random.mid": os.urandom(4096),
    "truncated.mid": None,  # first half of a real MIDI file
    "garbage.musicxml": b"this is not xml at all",
    "broken.musicxml": b'<?xml version="1.0"?><score-partwise><part-list><score-part id="P1">',
    "damaged.mxl": b"PK\x03\x04 not really a zip",
    "binary.abc": b"\x00\x01\x02\x03" * 100,
    "notes.txt": b"hello",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_inputs_give_one_clear_line_and_write_nothing(tmp_path, name):
    path = tmp_path / name
    data = BAD_INPUTS[name]
    if data is None:
        good = tmp_path / "good.mid"
        assert tutor("convert", DEMO, good).returncode == 0
        data = good.read_bytes()[: len(good.read_bytes()) // 2]
    path.write_bytes(data)
    out = tmp_path / "out.musicxml"
    assert_clean_error(tutor("info", path), name)
    assert_clean_error(tutor("convert", path, out), name)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.musicxml*")), "temporary file left behind"


def test_entity_expansion_is_refused(tmp_path):
    path = _hostile_xml(tmp_path)
    result = tutor("info", path)
    assert_clean_error(result, path.name)
    assert "entit" in result.stderr


def test_huge_file_is_refused_quickly(tmp_path):
    path = tmp_path / "huge.musicxml"
    with path.open("wb") as handle:
        handle.write(b'<?xml version="1.0"?><score-partwise>')
        handle.seek(100 * 1024 * 1024)
        handle.write(b"</score-partwise>")
    result = tutor("info", path)
    assert_clean_error(result, path.name)
    assert "MB" in result.stderr


def test_missing_path_folder_and_unknown_extension(tmp_path):
    assert_clean_error(tutor("info", tmp_path / "nope.mid"), "nope.mid")
    assert_clean_error(tutor("info", tmp_path), tmp_path.name)
    odd = tmp_path / "score.pdf"
    odd.write_bytes(b"%PDF-1.4")
    assert_clean_error(tutor("info", odd), "score.pdf")


def test_unwritable_output_keeps_existing_file(tmp_path):
    assert_clean_error(tutor("convert", DEMO, tmp_path / "no" / "such" / "dir.mid"), "dir.mid")
    assert_clean_error(tutor("convert", DEMO, tmp_path / "out.pdf"), "out.pdf")
    existing = tmp_path / "existing.mid"
    existing.write_bytes(b"keep me")
    broken = tmp_path / "broken.musicxml"
    broken.write_bytes(b"<score-partwise>")
    assert tutor("convert", broken, existing).returncode == 2
    assert existing.read_bytes() == b"keep me"


def test_python_dash_m_and_console_script_agree():
    script = Path(sys.executable).with_name("tutor")  # the console script pip installs beside the interpreter
    assert script.exists(), f"{script}: tutor's console script is not installed"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.stdout == tutor("--version").stdout
