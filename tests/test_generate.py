"""tutor generate: a brief becomes a real, readable piece in the asked key, metre and length."""

from __future__ import annotations

import json

from tutor.cli import main
from tutor.scoreio import load_score


def test_song_brief_written_as_asked_and_repeatable(tmp_path, capsys):
    out = tmp_path / "song.musicxml"
    argv = ["generate", "--style", "song", "--mood", "Q2", "--key", "E minor", "--meter", "3/4", "--bars", "8",
            "--seed", "3", "--json", "-o", str(out)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["brief"] == {"style": "song", "mood": "Q2", "key": "E minor", "meter": "3/4", "bars": 8, "seed": 3}
    assert data["rules"]["errors"] == 0
    assert data["style"]["label"] == "folk_song" and data["style"]["agrees"]
    assert data["mood"]["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    score = load_score(out)
    assert len(score.measures) == 8 and score.time_signature == "3/4"
    assert score.key_signatures[0].fifths == 1 and score.notes
    assert all(abs(m.duration_ql - 3.0) < 1e-6 for m in score.measures)
    first = [(n.pitch, n.onset_ql) for n in score.notes]
    assert main(argv[:-3] + ["-o", str(tmp_path / "again.musicxml")]) == 0
    capsys.readouterr()
    assert [(n.pitch, n.onset_ql) for n in load_score(tmp_path / "again.musicxml").notes] == first


def test_range_for_a_beginner_singer_is_kept():
    from tutor.generate import generate, parse_brief

    brief = parse_brief(style="song", mood="Q4", key="D major", meter="6/8", bars=8, seed=0, pitch_range="D4-D5")
    assert (brief.low, brief.high) == (62, 74)
    result = generate(brief)
    assert result.outside_range == 0
    assert all(62 <= n.pitch <= 74 for n in result.score.notes)
    assert result.errors == 0


def test_chorale_brief_has_four_parts(capsys):
    from tutor.generate import generate, parse_brief

    result = generate(parse_brief(style="chorale", mood="calm", key="F", meter="4/4", bars=4, seed=1))
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
