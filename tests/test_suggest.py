"""tutor suggest: continuations and corrections from the trained generator, on held-out real pieces."""

from __future__ import annotations

import json

import pytest

from tutor.cli import main
from tutor.compose.rules import check_rules
from tutor.compose.suggest import (
    CLOSENESS_NATS,
    apply_suggestion,
    continue_piece,
    correct_measures,
    remaining_problems,
    violations,
)
from tutor.score.io import load_score

# both are in the generator's test split (never trained on)
MELODY = "corpus:ryansMammoth/BottleOfBrandyJig.abc"  # 6/8 jig in G major
CHORALE = "corpus:bach/bwv102.7"  # a chorale of the standard JSB test split
MAJOR = (0, 2, 4, 5, 7, 9, 11)


@pytest.fixture(scope="module")
def melody():
    return load_score(MELODY)


@pytest.fixture(scope="module")
def chorale():
    return load_score(CHORALE)


def in_key_fraction(notes, fifths: int, mode: str | None) -> float:
    tonic = (7 * fifths) % 12 if mode != "minor" else (7 * fifths + 9) % 12
    scale = {(tonic + step) % 12 for step in MAJOR} if mode != "minor" else {
        (tonic + step) % 12 for step in (0, 2, 3, 5, 7, 8, 10, 11)}  # natural minor + leading tone
    return sum(n.pitch % 12 in scale for n in notes) / max(len(notes), 1)


def test_continuations_have_the_asked_shape(melody):
    suggestions = continue_piece(melody, bars=4, k=4, seed=1)
    assert len(suggestions) == 4
    last = melody.measures[-1]
    bar_ql = 3.0  # 6/8
    for s in suggestions:
        assert s.kind == "continuation"
        assert (s.first_measure, s.last_measure) == (last.number + 1, last.number + 4)
        assert len(s.notes) >= 8  # a jig has about six notes a bar
        for note in s.notes:
            assert last.end_ql - 1e-6 <= note.onset_ql < last.end_ql + 4 * bar_ql
            assert note.duration_ql > 0 and note.offset_ql <= last.end_ql + 4 * bar_ql + 1e-6
            assert note.part == "P1"
        assert s.log_likelihood < 0


def test_continuations_fit_the_key(melody, chorale):
    for score in (melody, chorale):
        ks = score.key_signatures[0]
        notes = [n for s in continue_piece(score, bars=4, k=4, seed=2) for n in s.notes]
        own = in_key_fraction(score.notes, ks.fifths, ks.mode)  # chorales use chromatic chords too
        fraction = in_key_fraction(notes, ks.fifths, ks.mode)
        assert fraction >= 0.75 and fraction >= own - 0.1, (score.title, fraction, own)


def test_same_seed_same_suggestions(melody):
    first = [s.to_json() for s in continue_piece(melody, bars=2, k=3, seed=5)]
    again = [s.to_json() for s in continue_piece(melody, bars=2, k=3, seed=5)]
    other = [s.to_json() for s in continue_piece(melody, bars=2, k=3, seed=6)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("source,first,last", [(MELODY, 5, 6), (CHORALE, 6, 7)])
def test_corrections_keep_the_music_around_and_clear_the_rules(source, first, last, melody, chorale):
    score = melody if source == MELODY else chorale
    style = "chorale" if source == CHORALE else None
    suggestions = correct_measures(score, first=first, last=last, k=3, seed=0)
    flagged = violations(score, first, last, check_rules, style=style)
    assert suggestions, "no correction passed the rules"
    span = [m for m in score.measures if first <= m.number <= last]
    start, end = span[0].start_ql, span[-1].end_ql
    outside = {(n.part, n.pitch, n.onset_ql) for n in score.notes if not start - 1e-6 <= n.onset_ql < end - 1e-6}
    # ranked by model likelihood plus the prior for keeping the passage's own notes
    ranks = [s.log_likelihood + CLOSENESS_NATS * s.kept_notes for s in suggestions]
    assert ranks == sorted(ranks, reverse=True)
    for s in suggestions:
        assert s.kind == "correction" and (s.first_measure, s.last_measure) == (first, last)
        assert all(start - 1e-6 <= n.onset_ql and n.offset_ql <= end + 1e-6 for n in s.notes)
        applied = apply_suggestion(score, s)
        assert {(n.part, n.pitch, n.onset_ql) for n in applied.notes if not start - 1e-6 <= n.onset_ql < end - 1e-6} == outside
        # no error, no rule flagged in the passage still firing, no more warnings than before
        found = violations(applied, first, last, check_rules, style=style)
        assert not [f for f in found if f.severity == "error" or f.rule in {g.rule for g in flagged}]
        assert len(found) <= len(flagged)
        assert remaining_problems(found, flagged) == []
    # rhythm-keeping suggestions have the passage's onsets in every part and change pitches only;
    # in a melody some always pass the rules (four voices at once are harder: free rewrites fill in)
    rhythm = sorted((n.part, n.onset_ql) for n in score.notes if start - 1e-6 <= n.onset_ql < end - 1e-6)
    kept = [s for s in suggestions if s.keeps_rhythm]
    assert kept or source == CHORALE
    for s in kept:
        assert sorted((n.part, n.onset_ql) for n in s.notes) == rhythm


def test_corrections_keep_the_right_notes_of_a_corrupted_bar(melody):
    """Two wrong notes put into a bar of a held-out jig: the best correction keeps (nearly) all the
    other notes and changes the wrong ones; without the closeness prior (ranked by likelihood
    alone) the model rewrites more of the bar."""
    from dataclasses import replace

    number = 5
    bar = sorted((n for n in melody.notes if n.measure == number), key=lambda n: n.onset_ql)
    wrong = {bar[1].id: bar[1].pitch + 1, bar[4].id: bar[4].pitch - 2}
    corrupted = replace(melody, notes=tuple(replace(n, pitch=wrong.get(n.id, n.pitch)) for n in melody.notes))
    right = {(n.part, round(n.onset_ql, 3), n.pitch) for n in bar if n.id not in wrong}
    best = correct_measures(corrupted, first=number, last=number, k=3, seed=0)[0]
    by_likelihood = correct_measures(corrupted, first=number, last=number, k=3, seed=0, closeness=0.0)[0]

    def kept(s):
        return len(right & {(n.part, round(n.onset_ql, 3), n.pitch) for n in s.notes})

    assert kept(best) >= len(right) - 1 and kept(best) >= kept(by_likelihood)
    assert best.keeps_rhythm and best.kept_notes >= kept(best)
    assert correct_measures(corrupted, first=number, last=number, k=3, seed=0)[0] == best  # deterministic


def test_cli_json_shape(capsys):
    assert main(["suggest", MELODY, "--fix", "5-6", "-k", "2", "--seed", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"suggestions"}
    assert 1 <= len(data["suggestions"]) <= 2
    for s in data["suggestions"]:
        assert set(s) == {"kind", "measures", "notes", "log_likelihood", "keeps_rhythm"}
        assert s["kind"] == "correction" and s["measures"] == [5, 6]
        assert isinstance(s["log_likelihood"], float)
        for note in s["notes"]:
            assert set(note) == {"pitch", "position", "duration", "part"}
            assert isinstance(note["pitch"], int) and isinstance(note["part"], str)
            assert note["duration"] > 0


def test_cli_writes_the_piece_with_the_best_continuation(tmp_path, capsys, melody):
    out = tmp_path / "longer.musicxml"
    assert main(["suggest", MELODY, "--continue", "2", "--seed", "1", "--json", "-o", str(out)]) == 0
    best = json.loads(capsys.readouterr().out)["suggestions"][0]
    written = load_score(out)
    last = melody.measures[-1].number
    assert [m.number for m in written.measures][-3:] == [last, last + 1, last + 2]
    start = written.measure(last + 1).start_ql
    new = sorted((n.pitch, round(n.onset_ql - start, 3)) for n in written.notes if n.measure > last)
    first_position = melody.measures[-1].end_ql
    assert new == sorted((n["pitch"], round(n["position"] - first_position, 3)) for n in best["notes"])


def test_cli_bad_input_is_one_line_exit_2(capsys):
    assert main(["suggest", MELODY, "--fix", "7-3"]) == 2
    assert main(["suggest", MELODY, "--fix", "500"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tutor: error:") for line in err)


def test_fix_flagged_corrects_the_places_the_rules_flag(tmp_path, capsys, chorale):
    from tutor.compose.suggest import flagged_ranges

    places = flagged_ranges(chorale)
    assert places and all(last - first <= 1 for first, last in places)
    out = tmp_path / "fixed.musicxml"
    assert main(["suggest", CHORALE, "--fix-flagged", "-k", "1", "--seed", "1", "--json", "-o", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {tuple(s["measures"]) for s in data["suggestions"]} <= set(map(tuple, places))
    assert load_score(out).measures[-1].number == chorale.measures[-1].number
