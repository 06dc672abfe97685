"""Golden outputs: the text and ``--json`` output of every command on fixed inputs, locally and through a
``tutor serve`` host on loopback, compared with the files in ``tests/golden/``.

A change that alters what a user or an outside script reads fails here. When a change of output is
meant, regenerate the files with ``TUTOR_GOLDEN_UPDATE=1 pytest tests/test_golden.py`` and say why in the
commit. JSON is compared after rounding floats to 4 decimals; temporary paths read ``<tmp>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

GOLDEN = Path(__file__).parent / "golden"
DEMO = REPO / "assets" / "demo"
TWINKLE = DEMO / "twinkle.musicxml"
TAKE = DEMO / "twinkle_take.mid"
MELODY = DEMO / "student_melody.musicxml"
UPDATE = os.environ.get("TUTOR_GOLDEN_UPDATE") == "1"

# name -> the command's arguments; {tmp} is a fresh folder, {wav} a rendered take of the demo tune
LOCAL_CASES = {
    "info_text": ["info", TWINKLE],
    "info_json": ["info", TWINKLE, "--json"],
    "info_melody_json": ["info", MELODY, "--json"],
    "convert_midi": ["convert", TWINKLE, "{tmp}/twinkle.mid"],
    "convert_abc_to_xml": ["convert", REPO / "lessons" / "scores", "{tmp}/x.musicxml"],  # replaced below
    "assess_text": ["assess", "--score", TWINKLE, TAKE],
    "assess_json": ["assess", "--score", TWINKLE, TAKE, "--json"],
    "assess_beginner_measures_json": ["assess", "--score", TWINKLE, TAKE, "--json", "--level", "beginner",
                                      "--measures", "3-8", "--tempo", "90"],
    "assess_annotated": ["assess", "--score", TWINKLE, TAKE, "-o", "{tmp}/annotated.musicxml"],
    "assess_audio_json": ["assess", "--score", TWINKLE, "{wav}", "--json"],
    "critique_text": ["critique", MELODY],
    "critique_json": ["critique", MELODY, "--json"],
    "critique_chorale_text": ["critique", "corpus:bach/bwv66.6"],
    "critique_annotated": ["critique", MELODY, "-o", "{tmp}/critique.musicxml"],
    "suggest_fix_text": ["suggest", MELODY, "--fix-flagged", "-k", "2", "--seed", "1"],
    "suggest_fix_json": ["suggest", MELODY, "--fix-flagged", "-k", "2", "--seed", "1", "--json"],
    "suggest_continue_text": ["suggest", TWINKLE, "--continue", "2", "-k", "2", "--seed", "3"],
    "suggest_continue_json": ["suggest", TWINKLE, "--continue", "2", "-k", "2", "--seed", "3", "--json"],
    "suggest_harmonize_text": ["suggest", TWINKLE, "--harmonize", "-k", "2", "--seed", "1"],
    "suggest_harmonize_json": ["suggest", TWINKLE, "--harmonize", "-k", "2", "--seed", "1", "--json"],
    "suggest_piano_text": ["suggest", TWINKLE, "--harmonize", "--style", "piano", "-k", "1", "--seed", "1"],
    "suggest_written": ["suggest", MELODY, "--fix", "3-4", "-k", "2", "--seed", "2", "-o", "{tmp}/fixed.musicxml"],
    "transcribe_text": ["transcribe", "{wav}", "--tracker", "pyin"],
    "transcribe_json": ["transcribe", "{wav}", "--tracker", "pyin", "--json"],
    "similar_text": ["similar", MELODY, "-n", "3"],
    "similar_json": ["similar", MELODY, "-n", "3", "--json"],
    "generate_text": ["generate", "--style", "song", "--mood", "Q1", "--key", "D major", "--meter", "3/4",
                      "--bars", "4", "--seed", "1"],
    "generate_json": ["generate", "--style", "chorale", "--mood", "Q4", "--key", "F major", "--meter", "4/4",
                      "--bars", "4", "--seed", "1", "--json"],
    "lessons_list_text": ["lessons", "list"],
    "lessons_list_json": ["lessons", "list", "--json"],
    "lessons_show_text": ["lessons", "show", "{exercise}"],
    "lessons_show_json": ["lessons", "show", "{exercise}", "--json"],
    "lessons_start_json": ["lessons", "start", "{exercise}", "--performance", "{exercise_take}", "--json"],
    "progress_json": ["progress", "--json"],
    "lessons_check": ["lessons", "check"],
    "batch_assess": ["batch", "--score", TWINKLE, "{submissions}", "--out", "{tmp}/reports"],
}
# the analyses a `tutor serve` host runs: through --remote they must print exactly the local output
REMOTE_CASES = ("assess_text", "assess_json", "assess_beginner_measures_json", "assess_annotated", "assess_audio_json",
                "critique_text", "critique_json", "critique_annotated", "suggest_fix_text", "suggest_fix_json",
                "suggest_continue_text", "suggest_continue_json", "suggest_harmonize_text", "suggest_harmonize_json",
                "suggest_written", "transcribe_text", "transcribe_json")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The inputs every case shares: a rendered take of the demo tune, a class of submissions, a data folder."""
    from tutor.cli import main

    folder = tmp_path_factory.mktemp("golden_inputs")
    wav = folder / "twinkle.wav"
    assert main(["render", str(TWINKLE), "--out", str(wav), "--tempo", "180", "--synth", "fluidsynth"]) == 0
    submissions = folder / "class"
    submissions.mkdir()
    shutil.copy(TAKE, submissions / "ann.mid")
    shutil.copy(TAKE, submissions / "ben.mid")
    return {"wav": wav, "submissions": submissions}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TUTOR_DATA_DIR", str(data))
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(tmp_path / "no_user_lessons"))
    monkeypatch.delenv("TUTOR_REMOTE", raising=False)
    monkeypatch.delenv("TUTOR_REMOTE_TOKEN", raising=False)
    return tmp_path


def _lesson_case():
    """A bundled exercise with a MIDI take of its own score (a faultless take)."""
    from tutor.lessons.plans import load_catalog

    return next(e for e in load_catalog().exercises if e.kind == "perform")


def _arguments(name: str, tmp: Path, inputs: dict) -> list[str]:
    args = list(LOCAL_CASES[name])
    if name == "convert_abc_to_xml":
        args = ["convert", "corpus:bach/bwv66.6", "{tmp}/chorale.musicxml"]
    values = {"tmp": str(tmp), "wav": str(inputs["wav"]), "submissions": str(inputs["submissions"])}
    if any("{exercise" in str(a) for a in args):
        exercise = _lesson_case()
        values["exercise"] = exercise.id
        take = tmp / "exercise_take.mid"
        from tutor.lessons.plans import exercise_score
        from tutor.score.io import save_score

        save_score(exercise_score(exercise), take)
        values["exercise_take"] = str(take)
    return [str(a).format(**values) for a in args]


def _run(args: list[str], capsys) -> tuple[int, str]:
    from tutor.cli import main

    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr().out
    return code, out


def _normalise(text: str, tmp: Path, inputs: dict) -> str:
    """The output with what changes from run to run masked: the checkout's folder, temporary folders, attempt ids, dates, seconds taken."""
    text = text.replace(str(tmp.parent), "<tmp>").replace(str(inputs["wav"].parent), "<inputs>")
    text = text.replace(str(REPO) + "/", "<repo>/")
    text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
    text = re.sub(r"\b20\d\d-\d\d-\d\d\b", "<date>", text)  # days of the calendar (a JSON map of days keeps one)
    text = re.sub(r"; \d+\.\d s$", "; <seconds> s", text, flags=re.MULTILINE)
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_rounded(doc), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4) + 0.0
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _files(tmp: Path) -> str:
    """What the command wrote: each file's name and, for text files, its content's hash."""
    lines = []
    for path in sorted(p for p in tmp.rglob("*") if p.is_file() and p.parent.name != "data"):
        if path.name in ("exercise_take.mid",) or "data" in path.relative_to(tmp).parts:
            continue
        data = path.read_bytes()
        if path.suffix in (".json", ".csv"):
            text = _normalise(data.decode("utf-8"), tmp, {"wav": Path("/nonexistent/x")})
            text = "\n".join(line for line in text.splitlines() if '"seconds"' not in line and '"finished' not in line
                             and '"started' not in line and '"elapsed' not in line)
            lines.append(f"--- {path.relative_to(tmp)}\n{text}")
        else:
            if path.suffix in (".musicxml", ".xml"):  # music21 writes the day's date and random instrument ids
                data = re.sub(rb"<encoding-date>[^<]*</encoding-date>", b"", data)
                data = re.sub(rb"[0-9a-f]{32}", b"<id>", data)
            lines.append(f"--- {path.relative_to(tmp)} sha256:{hashlib.sha256(data).hexdigest()[:16]}")
    return "\n".join(lines) + ("\n" if lines else "")


def _check(name: str, actual: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden output {path.name}: run with TUTOR_GOLDEN_UPDATE=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name}: output differs from tests/golden/{path.name}"


def _case_output(name, args, tmp, inputs, capsys) -> str:
    code, out = _run(args, capsys)
    return f"exit {code}\n" + _normalise(out, tmp, inputs) + _files(tmp)


@pytest.mark.parametrize("name", sorted(LOCAL_CASES))
def test_local_output_is_golden(name, inputs, isolated, capsys):
    work = isolated / "work"
    work.mkdir()
    _check(name, _case_output(name, _arguments(name, work, inputs), work, inputs, capsys))


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A ``tutor serve`` app on loopback and its token."""
    from tests.service_host import app_in_thread
    from tutor.service.server import ServiceConfig, create_app

    app = create_app(ServiceConfig(token="golden-token", device="cpu"))
    with app_in_thread(app) as (url, _stop):
        yield url


@pytest.mark.parametrize("name", REMOTE_CASES)
def test_remote_output_equals_local(name, inputs, isolated, host, capsys, monkeypatch):
    monkeypatch.setenv("TUTOR_REMOTE_TOKEN", "golden-token")
    work = isolated / "work"
    work.mkdir()
    args = _arguments(name, work, inputs) + ["--remote", host]
    actual = _case_output(name, args, work, inputs, capsys)
    expected = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    assert actual == expected, f"{name} through --remote differs from the local output"
