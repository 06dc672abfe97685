"""tutor suggest --harmonize: a real chorale soprano gets alto, tenor and bass under it."""

from __future__ import annotations

import json
from pathlib import Path

from tutor.cli import main
from tutor.rules import check_rules
from tutor.scoreio import load_score

SOPRANO = Path(__file__).resolve().parents[1] / "lessons" / "scores" / "chorale_bwv269_soprano_phrase.musicxml"


def test_chorale_soprano_harmonised_in_four_parts(tmp_path, capsys):
    out = tmp_path / "satb.musicxml"
    assert main(["suggest", str(SOPRANO), "--harmonize", "-k", "1", "--json", "-o", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    (suggestion,) = data["suggestions"]
    assert set(suggestion) == {"kind", "measures", "notes", "log_likelihood"}
    assert suggestion["kind"] == "harmonization"
    melody = load_score(SOPRANO)
    by_part: dict[str, list] = {}
    for note in suggestion["notes"]:
        by_part.setdefault(note["part"], []).append(note)
    soprano = sorted((n["position"], n["pitch"]) for n in by_part.pop(melody.parts[0].id))
    assert soprano == sorted((round(n.onset_ql, 4), n.pitch) for n in melody.notes)
    assert set(by_part) == {"HA", "HT", "HB"}
    top = dict(soprano)
    for notes in by_part.values():  # note against note, below the soprano
        assert sorted(n["position"] for n in notes) == sorted(top)
        assert all(n["pitch"] < top[n["position"]] for n in notes)
    written = load_score(out)
    assert len(written.parts) == 4
    assert not [f for f in check_rules(written, style="chorale") if f.severity == "error"]


def test_piano_style_only_with_harmonize(capsys):
    assert main(["suggest", str(SOPRANO), "--continue", "2", "--style", "piano"]) == 2
    assert "--harmonize" in capsys.readouterr().err
