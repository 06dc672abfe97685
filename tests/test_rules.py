"""Each theory rule: a minimal example that must fire and a close one that must not."""

from __future__ import annotations

import pytest

from tests.rule_scores import SATB, make_score, quarters
from tutor.compose.rules import RULES, SEVERITIES, STYLES, check_rules

C_MAJOR_TUNE = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 65, 64, 62, 64, 62, 60]


def fired(score, rule, style=None):
    return [f for f in check_rules(score, style=style, rules=[rule])]


def test_rule_set_is_documented():
    required = {"parallel_fifths", "parallel_octaves", "hidden_fifths_octaves", "voice_crossing", "voice_overlap",
                "spacing", "out_of_range", "out_of_key", "unresolved_leading_tone", "unresolved_seventh",
                "augmented_interval", "large_leap", "unprepared_dissonance", "incomplete_measure",
                "weak_cadence", "no_final_cadence", "monotonous_rhythm", "repetitive_melody"}
    assert required <= set(RULES)
    for rule in RULES.values():
        assert rule.severity in SEVERITIES
        assert rule.styles and rule.styles <= set(STYLES)
        assert len(rule.explanation) > 150, rule.id
    # no chorale voice-leading on a folk melody
    for rule_id in ("parallel_fifths", "parallel_octaves", "hidden_fifths_octaves", "voice_crossing", "spacing"):
        assert "song" not in RULES[rule_id].styles and "dance_tune" not in RULES[rule_id].styles


def test_parallel_fifths_fire_and_contrary_motion_does_not():
    bad = make_score(quarters(72, 74, 76, 77), quarters(65, 67, 60, 65))
    found = fired(bad, "parallel_fifths", "counterpoint")
    assert len(found) == 1 and found[0].measure == 1 and found[0].beat == 2.0
    assert set(found[0].note_ids) >= {"P1-m1-n1", "P2-m1-n1"}
    assert found[0].severity == "error" and "contrary" in found[0].suggestion
    good = make_score(quarters(72, 79, 76, 77), quarters(65, 60, 60, 65))  # fifth to twelfth by contrary motion
    assert fired(good, "parallel_fifths", "counterpoint") == []


def test_parallel_octaves_fire_and_oblique_does_not():
    bad = make_score(quarters(72, 74, 72, 71), quarters(60, 62, 57, 55))
    assert [f.beat for f in fired(bad, "parallel_octaves", "chorale")] == [2.0]
    good = make_score(quarters(72, 74, 72, 71), quarters(60, 59, 57, 55))
    assert fired(good, "parallel_octaves", "chorale") == []


def test_parallels_are_not_chorale_rules_for_keyboard_textures():
    bad = make_score(quarters(72, 74, 76, 77), quarters(65, 67, 60, 65))
    assert fired(bad, "parallel_fifths", "keyboard") == []


def test_hidden_octave_in_outer_voices():
    bad = make_score(quarters(64, 72), quarters(60, 64), quarters(55, 55), quarters(53, 60), names=SATB)
    found = fired(bad, "hidden_fifths_octaves", "chorale")
    assert len(found) == 1 and found[0].part == "Soprano"
    good = make_score(quarters(71, 72), quarters(62, 64), quarters(55, 55), quarters(53, 60), names=SATB)
    assert fired(good, "hidden_fifths_octaves", "chorale") == []


def test_voice_crossing():
    bad = make_score(quarters(67, 67), quarters(64, 69), quarters(55, 55), quarters(48, 48), names=SATB)
    found = fired(bad, "voice_crossing", "chorale")
    assert len(found) == 1 and found[0].part == "Alto" and found[0].beat == 2.0
    good = make_score(quarters(67, 67), quarters(64, 65), quarters(55, 55), quarters(48, 48), names=SATB)
    assert fired(good, "voice_crossing", "chorale") == []


def test_voice_overlap():
    bad = make_score(quarters(67, 71), quarters(64, 69), quarters(55, 55), quarters(48, 48), names=SATB)
    assert [f.part for f in fired(bad, "voice_overlap", "chorale")] == ["Alto"]
    good = make_score(quarters(67, 71), quarters(64, 65), quarters(55, 55), quarters(48, 48), names=SATB)
    assert fired(good, "voice_overlap", "chorale") == []


def test_spacing():
    bad = make_score(quarters(76, 76), quarters(60, 64), quarters(55, 55), quarters(48, 48), names=SATB)
    found = fired(bad, "spacing", "chorale")
    assert len(found) == 1 and found[0].part == "Alto" and found[0].beat == 1.0
    good = make_score(quarters(72, 76), quarters(64, 67), quarters(55, 60), quarters(48, 48), names=SATB)
    assert fired(good, "spacing", "chorale") == []


def test_out_of_range_soprano_and_song():
    bad = make_score(quarters(72, 84), quarters(64, 67), quarters(55, 60), quarters(48, 48), names=SATB)
    found = fired(bad, "out_of_range", "chorale")
    assert len(found) == 1 and found[0].part == "Soprano" and "above" in found[0].message
    good = make_score(quarters(72, 81), quarters(64, 67), quarters(55, 60), quarters(48, 48), names=SATB)
    assert fired(good, "out_of_range", "chorale") == []
    wide = make_score(quarters(55, 60, 64, 67, 72, 76, 79, 72, 67, 60))  # G3-G5: two octaves
    assert any("spans" in f.message for f in fired(wide, "out_of_range", "song"))
    narrow = make_score(quarters(60, 62, 64, 67, 72, 71, 67, 64, 62, 60))
    assert fired(narrow, "out_of_range", "song") == []


def test_out_of_key_but_not_a_chromatic_passing_note():
    bad = make_score(quarters(*C_MAJOR_TUNE[:8], 64, 66, 62, 60, *C_MAJOR_TUNE[8:]))
    found = fired(bad, "out_of_key", "song")
    assert len(found) == 1 and found[0].measure == 3 and found[0].beat == 2.0
    assert "F4" in found[0].suggestion or "G4" in found[0].suggestion
    passing = make_score(quarters(*C_MAJOR_TUNE[:8], 65, 66, 67, 60, *C_MAJOR_TUNE[8:]))
    assert fired(passing, "out_of_key", "song") == []
    neighbour = make_score(quarters(*C_MAJOR_TUNE[:8], 67, 66, 67, 60, *C_MAJOR_TUNE[8:]))
    assert fired(neighbour, "out_of_key", "song") == []


def test_unresolved_leading_tone_at_the_end_of_a_melody():
    bad = make_score(quarters(*C_MAJOR_TUNE[:-2], 71, 67))
    found = fired(bad, "unresolved_leading_tone", "song")
    assert len(found) == 1 and "C5" in found[0].suggestion
    good = make_score(quarters(*C_MAJOR_TUNE[:-2], 71, 72))
    assert fired(good, "unresolved_leading_tone", "song") == []


def test_unresolved_seventh():
    bad = make_score(quarters(74, 72), quarters(65, 67), quarters(59, 60), quarters(43, 48), names=SATB)
    found = fired(bad, "unresolved_seventh", "chorale")
    assert len(found) == 1 and found[0].part == "Alto" and "E4" in found[0].suggestion
    good = make_score(quarters(74, 72), quarters(65, 64), quarters(59, 60), quarters(43, 48), names=SATB)
    assert fired(good, "unresolved_seventh", "chorale") == []


def test_augmented_second_in_minor():
    a_minor = [69, 71, 72, 74, 76, 72, 69, 64, 69, 72, 76, 74, 72, 71, 69, 64]
    bad = make_score(quarters(*a_minor, 65, 68, 69, 69), fifths=0, mode="minor")
    found = fired(bad, "augmented_interval", "song")
    assert len(found) == 1 and "augmented second" in found[0].message
    good = make_score(quarters(*a_minor, 66, 68, 69, 69), fifths=0, mode="minor")
    assert fired(good, "augmented_interval", "song") == []


def test_large_leap_and_unrecovered_leap():
    over_octave = make_score(quarters(60, 62, 64, 79, 77, 76, 74, 72))
    assert any("more than an octave" in f.message for f in fired(over_octave, "large_leap", "song"))
    unrecovered = make_score(quarters(60, 62, 60, 69, 71, 72, 71, 72))
    assert len(fired(unrecovered, "large_leap", "song")) == 1
    recovered = make_score(quarters(60, 62, 60, 69, 67, 65, 64, 62))
    assert fired(recovered, "large_leap", "song") == []


def test_unprepared_dissonance_but_not_a_suspension():
    bad = make_score([(76, 4), (74, 4)], [(67, 4), (64, 4)], [(60, 4), (55, 4)], [(48, 4), (48, 4)], names=SATB)
    found = [f for f in fired(bad, "unprepared_dissonance", "chorale") if f.measure == 2]
    assert len(found) == 1 and found[0].part == "Soprano" and found[0].beat == 1.0
    suspension = make_score([(74, 4), (74, 4)], [(67, 4), (64, 4)], [(59, 4), (55, 4)], [(55, 4), (48, 4)], names=SATB)
    assert [f for f in fired(suspension, "unprepared_dissonance", "chorale") if f.measure == 2] == []


def test_incomplete_measure_but_not_a_pickup():
    bad = make_score(quarters(*([60, 62, 64, 65] * 3))[:11], measure_lengths=[4.0, 3.0, 4.0])
    found = fired(bad, "incomplete_measure", "song")
    assert len(found) == 1 and found[0].measure == 2 and found[0].severity == "error"
    pickup = make_score(quarters(*([67] + [60, 62, 64, 65] * 2 + [64, 62, 60])), measure_lengths=[1.0, 4.0, 4.0, 3.0])
    assert fired(pickup, "incomplete_measure", "song") == []


def test_final_cadence():
    half = make_score(quarters(*C_MAJOR_TUNE[:-1], 62))
    assert fired(half, "no_final_cadence", "song")
    full = make_score(quarters(*C_MAJOR_TUNE))
    assert fired(full, "no_final_cadence", "song") == []
    assert fired(full, "weak_cadence", "song") == []
    leap = make_score(quarters(*C_MAJOR_TUNE[:-2], 67, 60))
    assert fired(leap, "weak_cadence", "song") and fired(leap, "no_final_cadence", "song") == []


def test_monotonous_rhythm():
    tune = C_MAJOR_TUNE + C_MAJOR_TUNE[::-1][1:] + [60] * 1 + [64, 67, 72, 67, 64, 62, 60]
    flat = make_score(quarters(*tune[:32]))
    assert fired(flat, "monotonous_rhythm", "song")
    varied = []
    for i in range(8):
        varied += [(tune[4 * i], 1.5), (tune[4 * i + 1], 0.5), (tune[4 * i + 2], 2.0)] if i % 2 else quarters(*tune[4 * i: 4 * i + 4])
    assert fired(make_score(varied), "monotonous_rhythm", "song") == []


def test_repetitive_melody():
    bar = [60, 64, 67, 64]
    bad = make_score(quarters(*bar, *bar, *bar, 65, 69, 72, 69, 67, 65, 64, 62, 60, 60, 60, 60))
    found = fired(bad, "repetitive_melody", "song")
    assert len(found) == 1 and found[0].measure == 3
    sequence = make_score(quarters(*bar, *bar, 62, 65, 69, 65, 65, 69, 72, 69, 67, 65, 64, 62, 60, 60, 60, 60))
    assert fired(sequence, "repetitive_melody", "song") == []


@pytest.mark.parametrize("style", ["song", "dance_tune", "folk_song", "folk_fiddle"])
def test_folk_melody_gets_no_part_writing_rules(style):
    score = make_score(quarters(*C_MAJOR_TUNE))
    ids = {f.rule for f in check_rules(score, style=style)}
    assert not ids & {"parallel_fifths", "parallel_octaves", "voice_crossing", "spacing", "unprepared_dissonance"}
