"""The composition critique on real music: Bach chorales, folk tunes, a student exercise; the CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, shared
from tests.rule_scores import SATB, jsb_chorales, make_score, quarters
from tutor.cli import main
from tutor.compose.critique import critique
from tutor.compose.rules import check_rules
from tutor.score.io import load_score, save_score

CHORALES = ["bach/bwv66.6", "bach/bwv269", "bach/bwv1.6", "bach/bwv26.6", "bach/bwv281"]


def test_music21_bach_chorales_have_few_errors():
    errors = []
    for reference in CHORALES:
        score = load_score(f"corpus:{reference}")
        errors += [(reference, f.rule, f.measure) for f in check_rules(score) if f.severity == "error"]
    assert len(errors) <= len(CHORALES), errors  # at most one per chorale on average


def test_jsb_chorales_have_few_errors():
    scores = jsb_chorales(shared("jsb-chorales", "Jsb16thSeparated.json"))[:12]
    errors = [f for score in scores for f in check_rules(score) if f.severity == "error"]
    assert len(errors) <= len(scores), [(f.rule, f.measure) for f in errors]


def test_chorale_analysis_finds_key_voices_and_final_cadence():
    score = load_score("corpus:bach/bwv66.6")
    result = critique(score, use_models=False)
    assert result.key == "f# minor" and result.meter == "4/4"
    assert result.writing_style == "chorale" and [v.name for v in result.analysis.voices] == SATB
    assert result.analysis.phrases[-1].cadence.kind == "authentic"
    assert any(c.roman.startswith(("i", "V")) for c in result.analysis.chords)


def student_exercise():
    """An 8-bar four-part exercise in C major with typical beginner's mistakes: parallel fifths and
    octaves against the bass (m. 4, 6, 8), an alto that leaps a ninth above the soprano (m. 5) and
    an ending with the soprano on the fifth."""
    soprano = quarters(72, 71, 72, 74, 76, 74, 72, 71, 72, 74, 76, 77, 79, 77, 76, 74,
                       72, 74, 76, 74, 72, 71, 69, 71, 72, 74, 72, 71, 72, 71, 74, 67)
    alto = quarters(64, 62, 64, 65, 67, 65, 64, 62, 64, 65, 67, 69, 71, 69, 67, 65,
                    64, 77, 67, 65, 64, 62, 60, 62, 64, 65, 64, 62, 64, 62, 65, 64)
    tenor = quarters(55, 55, 55, 57, 60, 59, 55, 55, 55, 57, 60, 60, 62, 60, 60, 59,
                     55, 57, 60, 59, 55, 55, 57, 55, 55, 57, 55, 55, 55, 55, 59, 60)
    bass = quarters(48, 55, 48, 53, 52, 55, 48, 55, 48, 53, 48, 53, 55, 53, 48, 55,
                    48, 53, 48, 55, 48, 55, 53, 55, 48, 53, 48, 55, 48, 55, 55, 48)
    return make_score(soprano, alto, tenor, bass, names=SATB, title="student exercise")


def test_cli_json_on_a_student_exercise_names_its_problems(tmp_path, capsys):
    path = tmp_path / "exercise.musicxml"
    save_score(student_exercise(), path)
    annotated = tmp_path / "annotated.musicxml"
    assert main(["critique", str(path), "--json", "-o", str(annotated)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"key", "meter", "findings", "style", "emotion"}
    assert data["key"] == "C major" and data["meter"] == "4/4"
    for finding in data["findings"]:
        assert set(finding) >= {"rule", "severity", "part", "measure", "beat", "message", "suggestion"}
        assert finding["severity"] in ("error", "warning", "info")
        assert isinstance(finding["measure"], int) and isinstance(finding["beat"], float)
        assert finding["message"] and finding["suggestion"]
    rules = {(f["rule"], f["measure"]) for f in data["findings"]}
    assert {("parallel_fifths", 4), ("parallel_octaves", 4), ("parallel_fifths", 8), ("voice_crossing", 5)} <= rules, rules
    assert any(r == "large_leap" and m == 5 for r, m in rules), rules
    assert set(data["style"]) >= {"label", "probabilities"}
    assert abs(sum(data["style"]["probabilities"].values()) - 1) < 1e-3
    emotion = data["emotion"]
    assert emotion["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and set(emotion["probabilities"]) == {"Q1", "Q2", "Q3", "Q4"}
    assert -1 <= emotion["valence"] <= 1 and -1 <= emotion["arousal"] <= 1 and emotion["label"]
    xml = annotated.read_text(encoding="utf-8")
    assert 'color="#D32F2F"' in xml and "parallel fifths" in xml


def test_cli_text_and_bad_input(tmp_path, capsys):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"not midi at all")
    assert main(["critique", str(bad)]) == 2
    assert "broken.mid" in capsys.readouterr().err
    empty = tmp_path / "empty.musicxml"
    save_score(make_score([(None, 4.0)]), empty)
    assert main(["critique", str(empty)]) == 2
    assert "no notes" in capsys.readouterr().err
    assert main(["critique", "corpus:bach/bwv66.6", "-o", str(tmp_path / "out.pdf")]) == 2
    assert ".musicxml" in capsys.readouterr().err


@pytest.mark.parametrize("reference, expected", [
    ("corpus:bach/bwv66.6", "baroque"),
    ("corpus:ryansMammoth/BlackberryBlossomReel", "folk_fiddle"),
])
def test_models_give_sensible_labels_on_real_pieces(reference, expected):
    result = critique(load_score(reference), with_chords=False)
    assert result.style.label == expected, result.style.probabilities
    assert result.emotion.quadrant in ("Q1", "Q2", "Q3", "Q4")


def test_a_fiddle_tune_gets_dance_tune_rules_and_no_part_writing():
    result = critique(load_score("corpus:ryansMammoth/BlackberryBlossomReel"), with_chords=False)
    assert result.writing_style == "dance_tune"
    assert not {f.rule for f in result.findings} & {"parallel_fifths", "voice_crossing", "spacing"}


def test_a_chorale_played_as_one_piano_part_is_split_into_four_voices():
    from dataclasses import replace

    from tutor.score.analysis import texture, voices
    from tutor.score.music import Part

    score = load_score("corpus:bach/bwv66.6")
    piano = replace(score, parts=(Part("P1", "Piano", 0),),
                    notes=tuple(replace(n, part="P1", voice=1) for n in score.notes), source_path=None)
    lines = voices(piano)
    assert [v.name for v in lines] == [f"Piano (voice {i})" for i in range(1, 5)]
    assert texture(piano, lines) == "chorale"
    soprano = [n.pitch for n in lines[0].notes]
    assert soprano[:4] == [n.pitch for n in score.notes_of("P1")][:4]


def test_emotion_hears_a_reel_as_livelier_than_a_chorale():
    from tutor.models.emotion import predict_emotion

    chorale = predict_emotion(load_score("corpus:bach/bwv66.6"))
    reel = predict_emotion(load_score("corpus:ryansMammoth/BlackberryBlossomReel"))
    assert reel.arousal > 0 > chorale.arousal
    assert chorale.quadrant in ("Q3", "Q4") and reel.quadrant in ("Q1", "Q2")
    assert abs(sum(reel.probabilities.values()) - 1) < 1e-4


@pytest.mark.parametrize("style", ["waltz", "swing", "march"])
def test_a_tune_over_a_chordal_accompaniment_is_not_judged_as_counterpoint(style):
    """An accepted restyle (a tune, piano chords, a bass) is critiqued as accompanied keyboard writing: its chords
    double the tune in octaves as accompaniments do (these were dozens of 'parallel octaves' errors)."""
    from tutor.compose.restyle import restyle

    twinkle = load_score(REPO / "assets" / "demo" / "twinkle.musicxml")
    # (the version with piano chords: one swing version in three is the tune over the walking bass alone; the
    # march's after-beat chords are the left hand's, RL)
    version = next(v.score for v in restyle(twinkle, style=style, k=3, use_models=False)
                   if any(n.part in ("RR", "RL") for n in v.score.notes))
    result = critique(version, use_models=False)
    assert result.analysis.texture == "keyboard" and result.writing_style == "keyboard"
    assert not [f for f in result.findings if f.rule.startswith("parallel")]
    assert critique(load_score("corpus:bach/bwv66.6"), use_models=False).writing_style == "chorale"
