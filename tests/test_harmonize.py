"""tutor suggest --harmonize: a real chorale soprano gets alto, tenor and bass under it."""

from __future__ import annotations

import json
from pathlib import Path

from tutor.cli import main
from tutor.compose.rules import check_rules
from tutor.score.io import load_score

SOPRANO = Path(__file__).resolve().parents[1] / "lessons" / "scores" / "chorale_bwv269_soprano_phrase.musicxml"


def test_chorale_soprano_harmonised_in_four_parts(tmp_path, capsys):
    out = tmp_path / "satb.musicxml"
    assert main(["suggest", str(SOPRANO), "--harmonize", "-k", "1", "--json", "-o", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    (suggestion,) = data["suggestions"]
    assert set(suggestion) == {"kind", "measures", "notes", "log_likelihood", "keeps_rhythm"}
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


# --- in the app (pytest-qt, offscreen) -------------------------------------------------------------
from tests.compose_app import open_piece  # noqa: E402


def test_app_harmonise_overlay_accept_and_undo(app_window):
    window, qtbot = app_window, app_window.qtbot
    original = open_piece(window, SOPRANO)
    panel, view = window.compose_panel, window.score_view
    assert [p.id for p in original.parts] == ["P1"]
    panel.harmonize_candidates = 2  # 4 in the app: 2 keep the test short
    panel.harmony_style.setCurrentIndex(panel.harmony_style.findData("chorale"))
    panel.suggest_harmonization()
    qtbot.waitUntil(lambda: bool(panel.suggestions), timeout=90000)
    assert panel.alternatives.count() == len(panel.suggestions) >= 1
    assert all(s.kind == "harmonization" for s in panel.suggestions)
    assert "Harmonisation 1" in panel.alternatives.item(0).text()
    # the chosen candidate is drawn over the piece: the melody black, every alto/tenor/bass note in colour
    first = panel.suggestions[0]
    lower = [n for n in first.notes if n.part in ("HA", "HT", "HB")]
    qtbot.waitUntil(lambda: view.score is not original and bool(view.pages)
                    and len(view.boxes) == len(first.notes), timeout=60000)
    coloured = {k for k, m in view.marks.items() if m["color"] == "#1E88E5"}
    assert len(coloured) == len(lower) and coloured <= set(view.boxes)
    assert not any(k.startswith("P1-") for k in coloured)
    # accept: the piece gets the three voices; undo brings back the melody alone, redo the four parts
    panel.accept()
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=60000)
    assert [p.name for p in window.score.parts] == ["Soprano" if original.parts[0].name == "Soprano" else
                                                    original.parts[0].name, "Alto", "Tenor", "Bass"]
    assert len(window.score.notes) == len(first.notes)
    assert not panel.suggestions and not window.undo_stack.isClean()
    window.undo_stack.undo()
    assert len(window.score.parts) == 1
    assert [(n.pitch, n.onset_ql) for n in window.score.notes] == [(n.pitch, n.onset_ql) for n in original.notes]
    window.undo_stack.redo()
    assert len(window.score.parts) == 4


def test_app_overlay_ends_in_another_mode_and_comes_back(app_window):
    window, qtbot = app_window, app_window.qtbot
    original = open_piece(window, SOPRANO)
    panel, view = window.compose_panel, window.score_view
    panel.harmonize_candidates = 1
    panel.suggest_harmonization()
    qtbot.waitUntil(lambda: bool(panel.suggestions) and view.score is not original and bool(view.marks),
                    timeout=90000)
    window.set_mode("practice")  # practice shows (and follows) the piece itself
    qtbot.waitUntil(lambda: view.score is original and len(view.boxes) == len(original.notes), timeout=60000)
    window.set_mode("compose")
    qtbot.waitUntil(lambda: view.score is not original and len(view.boxes) == len(panel.suggestions[0].notes),
                    timeout=60000)
    panel.overlay_box.setChecked(False)  # the alternative on a staff of its own instead
    qtbot.waitUntil(lambda: view.score is original, timeout=60000)
    assert panel.alternative_view.isVisibleTo(panel)


def test_overlay_draws_a_fix_over_its_bar_and_greys_what_it_replaces():
    import xml.etree.ElementTree as ET
    from dataclasses import replace

    from tests.compose_app import DEMO
    from tutor.compose.suggest import Suggestion, apply_suggestion
    from tutor.ui.compose import REPLACED_COLOR, SUGGESTION_COLOR, overlay_view
    from tutor.ui.engraving import engrave

    score = load_score(DEMO)
    bar2 = [n for n in score.notes if n.measure == 2]
    fix = Suggestion("correction", 2, 2, tuple(replace(n, id=f"new{i}", pitch=n.pitch - 2) for i, n in enumerate(bar2)), -5.0)
    shown, musicxml, colors = overlay_view(score, apply_suggestion(score, fix), fix)
    assert sorted(colors.values()).count(SUGGESTION_COLOR) == len(bar2)
    assert sorted(colors.values()).count(REPLACED_COLOR) == len(bar2)
    root = ET.fromstring(musicxml)
    for measure in root.find("part").findall("measure"):
        for note in measure.findall("note"):
            if note.findtext("voice") == "2":  # the suggestion's voice: notes in bar 2, rests hidden elsewhere
                assert (note.find("rest") is None) == (measure.get("number") == "2")
                assert note.find("rest") is None or note.get("print-object") == "no"
    pages = engrave(shown, musicxml=musicxml)
    drawn = {note_id for page in pages for note_id in page.notes}
    assert set(colors) <= drawn and len(drawn) == len(score.notes) + len(bar2)
