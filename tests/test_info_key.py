"""``tutor info`` names the key the notes are in, not only the key signature's major key (issue 24:
a D-minor fugue was "F major")."""

from __future__ import annotations

import json

from tests.conftest import REPO, shared
from tutor.cli import main


def test_a_d_minor_fugue_is_d_minor(capsys):
    fugue = shared("nasap-dev", "Bach", "Fugue", "bwv_875", "xml_score.musicxml")  # WTC II no. 6, one flat
    assert main(["info", str(fugue), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["key"] == "F major" and info["key_heard"] == "d minor"  # "key" keeps its meaning (the signature)
    assert main(["info", str(fugue)]) == 0
    assert "Key:       d minor (key signature of F major)" in capsys.readouterr().out


def test_a_major_piece_reads_as_before(capsys):
    assert main(["info", str(REPO / "assets" / "demo" / "twinkle.musicxml")]) == 0
    assert "Key:       C major\n" in capsys.readouterr().out
