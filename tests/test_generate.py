"""tutor generate: a brief becomes a real, readable piece in the asked key, metre and length."""

from __future__ import annotations

import json

from tutor.cli import main
from tutor.score.io import load_score


def test_song_brief_written_as_asked_and_repeatable(tmp_path, capsys):
    out = tmp_path / "song.musicxml"
    argv = ["generate", "--style", "song", "--mood", "Q2", "--key", "E minor", "--meter", "3/4", "--bars", "4",
            "--seed", "3", "--json", "-o", str(out)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["brief"] == {"style": "song", "mood": "Q2", "key": "E minor", "meter": "3/4", "bars": 4, "seed": 3}
    assert data["rules"]["errors"] == 0
    assert data["style"]["label"] == "folk_song" and data["style"]["agrees"]
    assert data["mood"]["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    score = load_score(out)
    assert len(score.measures) == 4 and score.time_signature == "3/4"
    assert score.key_signatures[0].fifths == 1 and score.notes
    assert all(abs(m.duration_ql - 3.0) < 1e-6 for m in score.measures)
    first = [(n.pitch, n.onset_ql) for n in score.notes]
    assert main(argv[:-3] + ["-o", str(tmp_path / "again.musicxml")]) == 0
    capsys.readouterr()
    assert [(n.pitch, n.onset_ql) for n in load_score(tmp_path / "again.musicxml").notes] == first


def test_range_for_a_beginner_singer_is_kept():
    from tutor.compose.generate import generate, parse_brief

    brief = parse_brief(style="song", mood="Q4", key="D major", meter="6/8", bars=4, seed=0, pitch_range="D4-D5")
    assert (brief.low, brief.high) == (62, 74)
    result = generate(brief)
    assert result.outside_range == 0
    assert all(62 <= n.pitch <= 74 for n in result.score.notes)
    assert result.errors == 0


def test_chorale_brief_has_four_parts(capsys):
    from tutor.compose.generate import generate, parse_brief

    result = generate(parse_brief(style="chorale", mood="calm", key="F", meter="4/4", bars=2, seed=1))
    assert len({n.part for n in result.score.notes}) == 4
    assert result.brief.mood == "Q4" and result.brief.fifths == -1
    assert result.errors == 0


def test_bad_briefs_exit_2(capsys):
    base = ["generate", "--mood", "Q1", "--key", "G", "--meter", "4/4", "--bars", "4"]
    assert main(base + ["--style", "jazz"]) == 2
    assert main(["generate", "--style", "song", "--mood", "Q9", "--key", "G", "--meter", "4/4", "--bars", "4"]) == 2
    assert main(["generate", "--style", "song", "--mood", "Q1", "--key", "H", "--meter", "4/4", "--bars", "4"]) == 2
    assert main(["generate", "--style", "song", "--mood", "Q1", "--key", "G", "--meter", "7/8", "--bars", "4"]) == 2
    assert main(["generate", "--style", "chorale", "--mood", "Q1", "--key", "G", "--meter", "4/4", "--bars", "40"]) == 2
    assert main(["generate", "--style", "song", "--mood", "Q1", "--key", "G", "--meter", "4/4", "--bars", "4",
                 "--range", "C4"]) == 2
    err = capsys.readouterr().err
    assert "jazz" in err and "--bars 40" in err


# --- in the app (pytest-qt, offscreen) -------------------------------------------------------------
from tests.compose_app import open_piece  # noqa: E402


def test_app_generate_dialog_opens_a_new_piece_and_cancels(app_window):
    window, qtbot = app_window, app_window.qtbot
    original = open_piece(window)
    panel = window.compose_panel
    dialog = panel.open_generate_dialog()
    # a brief the generator cannot write says why and keeps the dialog open
    dialog.set_brief(style="song", mood="Q1", key="H major", meter="2/4", bars=2)
    dialog.accept()
    assert dialog.isVisible() and "--key" in dialog.problem.text() and panel.generate_job is None
    # cancelled at once: nothing replaces the open piece
    dialog.set_brief(style="song", mood="Q1", key="G major", meter="2/4", bars=2, seed=4)
    dialog.accept()
    assert not dialog.isVisible() and panel.generate_job is not None
    assert panel.cancel_generate_button.isVisible() and not panel.generate_button.isEnabled()
    cancelled = panel.generate_job
    panel.cancel_generation()
    qtbot.waitUntil(lambda: cancelled.finished, timeout=60000)
    assert window.score is original and "cancelled" in panel.generate_status.text()
    assert panel.generate_button.isEnabled() and not panel.generate_progress.isVisible()
    # run to the end: progress reported, the piece opens as a new unsaved piece in the asked key and metre
    panel.open_generate_dialog().set_brief(style="song", mood="Q1", key="G major", meter="2/4", bars=2, seed=4)
    steps = []
    panel.generate_dialog.accept()
    panel.generate_job.progressed.connect(lambda fraction, text: steps.append((fraction, text)))
    qtbot.waitUntil(lambda: window.score is not original, timeout=90000)
    score = window.score
    assert len(score.measures) == 2 and score.time_signature == "2/4" and score.key_signatures[0].fifths == 1
    assert score.notes and window.score_path is None and not window.undo_stack.isClean()
    assert "Song in G major" in window.windowTitle()
    assert steps and all(0 <= f <= 1 for f, _ in steps) and any("candidate" in t for _, t in steps)
    assert "rules:" in panel.generate_status.text()
