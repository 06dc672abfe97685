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


# --- in the app (pytest-qt, offscreen) -------------------------------------------------------------
from tests.compose_app import open_piece  # noqa: E402


def test_app_similar_list_with_why_and_double_click_opens(app_window):
    window, qtbot = app_window, app_window.qtbot
    original = open_piece(window)
    box = window.compose_panel.similar
    box.find()
    qtbot.waitUntil(lambda: bool(box.results), timeout=60000)
    assert box.list.count() == len(box.results) == 10
    first = box.list.item(0)
    assert box.results[0].title in first.text() and "style" in first.text() and "per beat" in first.text()
    sims = [r.similarity for r in box.results]
    assert sims == sorted(sims, reverse=True)
    # open a tune of a corpus collection (corpus:FILE#N) by double-click
    row = next(i for i, r in enumerate(box.results) if r.source.startswith("corpus:"))
    box.list.itemDoubleClicked.emit(box.list.item(row))  # the list sits below the fold of the panel
    qtbot.waitUntil(lambda: window.score is not original and bool(window.score_view.pages), timeout=60000)
    assert window.score.notes and window.mode == "compose"


def test_lessons_offer_similar_pieces_once_an_exercise_has_results(app_window):
    from tutor.lessons.progress import ProgressDB

    window, qtbot = app_window, app_window.qtbot
    window.set_mode("lessons")
    panel = window.lessons_panel
    panel.select_first()
    exercise = panel.exercise
    assert exercise is not None and not panel.similar.isVisibleTo(panel)
    with ProgressDB() as db:
        db.record_attempt(exercise_id=exercise.id, passed=False, summary={"overall": 55.0})
    panel.refresh()
    assert panel.exercise.id == exercise.id and panel.similar.isVisibleTo(panel)
    assert "tried" in panel.similar.title()
    panel.similar.find()
    qtbot.waitUntil(lambda: bool(panel.similar.results), timeout=60000)
    assert all(r.source != "" and r.why for r in panel.similar.results)
