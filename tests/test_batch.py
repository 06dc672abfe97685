"""``tutor batch``: a class folder of real takes (Vienna 4x22, Schubert D783 no. 15 by three pianists), a
composition and a corrupt file; reports, class CSV, and resuming after an interruption."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from tests.conftest import shared
from tutor.cli import main


@pytest.fixture
def classroom(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for n in ("01", "02", "03"):
        shutil.copy(shared("vienna4x22", "midi", f"Schubert_D783_no15_p{n}.mid"), folder / f"pianist{n}.mid")
    (folder / "corrupt.mid").write_bytes(b"this is not a MIDI file at all" * 10)
    (folder / "notes.txt").write_text("not a submission")  # ignored: not a music file
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    return folder, score, tmp_path / "reports"


def test_batch_marks_the_class_and_skips_the_bad_file(classroom, capsys):
    folder, score, out = classroom
    assert main(["batch", "--score", str(score), str(folder), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "4 submissions: 3 marked" in said.out and "1 failed" in said.out
    assert "skipped corrupt.mid" in said.err
    rows = {r["student"]: r for r in csv.DictReader((out / "class_summary.csv").open())}
    assert set(rows) == {"pianist01", "pianist02", "pianist03", "corrupt"}
    assert rows["corrupt"]["status"] == "failed" and "MIDI" in rows["corrupt"]["problem"]
    for name in ("pianist01", "pianist02", "pianist03"):
        assert rows[name]["status"] == "done" and float(rows[name]["overall"]) > 80  # real pianists play it well
        report = json.loads((out / f"{name}.json").read_text())
        assert report["kind"] == "assess" and report["ran_on"] == "local" and report["score"] == score.name
        assert report["result"]["summary"]["notes_total"] == int(rows[name]["notes_total"]) > 100
        xml = (out / f"{name}.musicxml").read_text()
        assert "<score-partwise" in xml
    # the same JSON as tutor assess --json
    assert main(["assess", "--score", str(score), str(folder / "pianist02.mid"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((out / "pianist02.json").read_text())["result"]


def test_batch_resumes_after_an_interruption(classroom, capsys):
    from tutor.batch import run_batch

    folder, score, out = classroom
    seen = []

    def interrupt_after_two(submission, entry):
        seen.append(submission.path.name)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(folder, out, score=score, progress=interrupt_after_two)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest) == 2
    finished = [e for e in manifest.values() if e["status"] == "done"]
    stamps = {e["report"]: (out / e["report"]).stat().st_mtime_ns for e in finished}

    again = []
    outcome = run_batch(folder, out, score=score, progress=lambda s, e: again.append(s.path.name))
    assert outcome.skipped == len(finished) and outcome.total == 4
    assert not set(again) & {e["file"] for e in finished}  # nothing finished is done again
    assert {e["report"]: (out / e["report"]).stat().st_mtime_ns for e in finished} == stamps
    rows = list(csv.DictReader((out / "class_summary.csv").open()))
    assert sorted(r["status"] for r in rows) == ["done", "done", "done", "failed"]


def test_batch_without_a_score_critiques_compositions(tmp_path, capsys):
    from tutor.score.io import load_score, save_score

    folder = tmp_path / "compositions"
    folder.mkdir()
    save_score(load_score("corpus:bach/bwv102.7"), folder / "chorale.musicxml")
    (folder / "empty.musicxml").write_text("")
    out = tmp_path / "reports"
    assert main(["batch", str(folder), "--out", str(out), "--remote", "http://127.0.0.1:9"]) == 0  # nobody there
    report = json.loads((out / "chorale.json").read_text())
    assert report["kind"] == "critique" and report["ran_on"] == "local" and "fell back" in report["note"]
    assert report["result"]["key"] and "findings" in report["result"]
    assert "<score-partwise" in (out / "chorale.musicxml").read_text()
    rows = {r["student"]: r for r in csv.DictReader((out / "class_summary.csv").open())}
    assert rows["empty"]["status"] == "failed" and rows["chorale"]["status"] == "done"
