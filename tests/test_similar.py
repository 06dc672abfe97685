"""tutor similar: real pieces find real neighbours of their kind, with the exact JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

from tutor.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_chorale_finds_other_bach_chorales_not_itself(capsys):
    assert main(["similar", "corpus:bach/bwv66.6", "-n", "10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"results"}
    results = data["results"]
    assert len(results) == 10
    for r in results:
        assert set(r) == {"title", "source", "similarity", "why"}
        assert isinstance(r["title"], str) and isinstance(r["source"], str) and isinstance(r["why"], str)
        assert isinstance(r["similarity"], float) and -1.0 <= r["similarity"] <= 1.0
    assert all("bwv66.6" not in r["source"] for r in results)
    assert [r["similarity"] for r in results] == sorted((r["similarity"] for r in results), reverse=True)
    bach = [r for r in results if r["source"].startswith("corpus:bach/")]
    assert len(bach) >= 8, results
    assert "Baroque" in results[0]["why"]


def test_folk_song_lesson_finds_folk_songs_text(capsys):
    song = REPO / "lessons" / "scores" / "essen_rosa.musicxml"
    assert main(["similar", str(song), "-n", "5"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    assert len(lines) == 5
    assert sum("essenFolksong" in line or "lesson" in line for line in lines) >= 4, out
    assert "essen_rosa" not in out


def test_bad_count_and_missing_file_exit_2(capsys, tmp_path):
    assert main(["similar", str(tmp_path / "none.musicxml")]) == 2
    assert main(["similar", "corpus:bach/bwv66.6", "-n", "0"]) == 2
