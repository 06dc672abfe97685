"""Assessment of a take: injected mistakes in real performances are reported (and little else),
the JSON contract of ``tutor assess``, annotated MusicXML, hand-made cases."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.assessment_cases import play, scale_score
from tests.conftest import shared
from tutor.cli import main
from tutor.practice.assessment import assess
from tutor.score.music import Performance, PlayedNote

K331 = ("vienna4x22", "musicxml", "Mozart_K331_1st-mov.musicxml")
K331_TAKE = ("vienna4x22", "midi", "Mozart_K331_1st-mov_p01.mid")


@pytest.fixture(scope="module")
def k331():
    from tutor.listen.takes import load_performance
    from tutor.score.io import load_score

    return load_score(shared(*K331)), load_performance(shared(*K331_TAKE))


def _errors(result, kinds=("wrong_pitch", "missed", "extra")):
    return [e for e in result.events if e.type in kinds]


def test_real_take_with_injected_mistakes(k331):
    """The real pipeline (MusicXML score, performance MIDI): three wrong notes, three left out
    and three extra notes put into a pianist's take are all found, and little else is new."""
    score, take = k331
    clean = assess(score, take)
    assert clean.notes_correct / clean.notes_total > 0.7
    before = {(e.type, e.note_id, e.time) for e in _errors(clean)}
    assert len(before) < 0.03 * clean.notes_total
    # unambiguous sites: no other note of that pitch or a semitone or two away within 0.6 s
    onsets = np.array([n.onset_s for n in take.notes])
    pitches = np.array([n.pitch for n in take.notes])

    def clear(event) -> bool:
        near = np.abs(onsets - event.time) < 0.6
        return int(np.sum(near & (np.abs(pitches - event.played_pitch) <= 2))) == 1

    correct = [e for e in clean.events if e.type == "correct" and clear(e)]
    rng = np.random.default_rng(1)
    chosen = sorted(rng.choice(np.arange(20, len(correct) - 20, 12), size=9, replace=False))
    notes = list(take.notes)
    index_of = {(n.onset_s, n.pitch): i for i, n in enumerate(notes)}
    expected = {"wrong_pitch": set(), "missed": set(), "extra": set()}
    removed = []
    for k, site in enumerate(chosen):
        event = correct[site]
        i = index_of[(event.time, event.played_pitch)]
        if k % 3 == 0:
            notes[i] = replace(notes[i], pitch=notes[i].pitch + (1 if k % 2 else -1))
            expected["wrong_pitch"].add(event.note_id)
        elif k % 3 == 1:
            removed.append(i)
            expected["missed"].add(event.note_id)
        else:
            at = event.time + 0.15
            extra = PlayedNote(pitch=event.played_pitch + 13, onset_s=at, offset_s=at + 0.1)
            notes.append(extra)
            expected["extra"].add((round(at, 4), extra.pitch))
    notes = [n for i, n in enumerate(notes) if i not in removed]
    result = assess(score, replace(take, notes=tuple(sorted(notes, key=lambda n: (n.onset_s, n.pitch)))))
    found = {kind: {e.note_id for e in result.events if e.type == kind} for kind in ("wrong_pitch", "missed")}
    found["extra"] = {(round(e.time, 4), e.played_pitch) for e in result.events if e.type == "extra"}
    for kind, wanted in expected.items():
        assert wanted <= found[kind], (kind, wanted - found[kind])
    new = {(e.type, e.note_id, e.time) for e in _errors(result)} - before
    assert len(new) <= 9 + 2


def test_benchmark_injection_on_real_data():
    """The benchmark's seeded student errors (wrong, missed, extra notes, restarts, hesitations,
    pushes) in a real Vienna 4x22 performance: pitch errors and restarts are all found."""
    from tests.bench.bench_assessment import (
        clean_take,
        detected_keys,
        in_order,
        inject,
        load,
        pedal_events,
        score_events,
        tutor_score,
    )

    path = shared("vienna4x22", "match", "Schubert_D783_no15_p01.match")
    pt_score, sna, pna, gt = load(path)
    gt, _dropped = in_order(gt, sna, pna)
    matched = {a["score_id"] for a in gt if a["label"] == "match"}
    score = tutor_score(pt_score, sna[np.isin(sna["id"], list(matched))])
    pedal = pedal_events(path)
    assert pedal
    take, labels, restarts, _truth = inject(score, pna, gt, np.random.default_rng(5), pedal=pedal)
    assert take.pedal
    baseline = detected_keys(assess(score, clean_take(score, pna, gt, pedal)).events)
    counts = score_events(assess(score, take).events, labels, restarts, baseline)
    for kind in ("wrong_pitch", "missed", "extra", "restart"):
        c = counts[kind]
        assert c["tp"] == c["labels"] > 0, (kind, c)
        assert c["tp"] == c["detected"], (kind, c)  # nothing else: a repeated note left out is the one missed
    assert max(counts["false_errors_after_restart"]) <= 1


def test_hand_made_take_events_and_scores():
    score = scale_score()
    take = play(score, bpm=100)
    take[3] = replace(take[3], pitch=take[3].pitch - 1)
    take[10] = replace(take[10], onset_s=take[10].onset_s + 0.2, offset_s=take[10].offset_s + 0.2)  # pushed late
    result = assess(score, Performance(notes=tuple(take)))
    assert [e.note_id for e in result.events_of("wrong_pitch")] == [score.notes[3].id]
    assert [e.note_id for e in result.events_of("late")] == [score.notes[10].id]
    assert not result.events_of("missed") and not result.events_of("extra") and not result.events_of("early")
    assert result.notes_correct == len(score.notes) - 2
    assert 80 < result.overall < 100 and result.intonation is None
    assert result.practice_measures[0] in (1, 3)
    assert abs(result.played_bpm - 100) < 2
    assert result.marks[score.notes[3].id]["text"] == "E4?"


def test_going_back_within_a_bar_says_where_to():
    """The student plays bar 2 up to its third beat, stops and starts bar 2 again: one restart, whose
    message names the beat gone back to (not 'from measure 2 to measure 2')."""
    score = scale_score()
    take = play(score, bpm=100)
    spq = 0.6
    cut = 7  # bar 2's third note is played, then back to bar 2's first
    back = [replace(n, onset_s=n.onset_s + 3 * spq + 1.0, offset_s=n.offset_s + 3 * spq + 1.0) for n in take[4:cut]]
    later = [replace(n, onset_s=n.onset_s + 3 * spq + 1.0, offset_s=n.offset_s + 3 * spq + 1.0) for n in take[cut:]]
    result = assess(score, Performance(notes=tuple(take[:cut] + back + later)))
    assert [(e.measure, e.message) for e in result.events_of("restart")] == [(2, "went back to beat 1 of measure 2")]
    assert not result.events_of("extra") and not result.events_of("missed")


def test_wrong_bass_note_played_ahead_of_its_chord_is_a_wrong_note():
    """A pianist's left hand often comes a little before the right. A wrong bass note (D3 for C3) played
    0.15 s ahead of its chord, nearer in time to the chord before, is still that chord's wrong note,
    not an extra note beside a missed one."""
    from tests.assessment_cases import make_score

    score = make_score([(0.0, [52, 60, 64], 1.0), (1.0, [53, 62, 65], 1.0), (2.0, [48, 64, 67], 1.0), (3.0, [55, 60, 64], 1.0)])
    take = play(score, bpm=100)
    bass = next(i for i, n in enumerate(take) if n.pitch == 48)
    take[bass] = replace(take[bass], pitch=50, onset_s=take[bass].onset_s - 0.15)
    result = assess(score, Performance(notes=tuple(take)))
    assert [(e.expected_pitch, e.played_pitch) for e in result.events_of("wrong_pitch")] == [(48, 50)]
    assert not result.events_of("extra") and not result.events_of("missed")


def test_intonation_from_audio_cents():
    score = scale_score(bars=2)
    take = [replace(n, cents=0.0) for n in play(score)]
    take[2] = replace(take[2], cents=38.0)
    take[5] = replace(take[5], cents=-45.0)
    result = assess(score, Performance(notes=tuple(take)))
    assert [e.note_id for e in result.events_of("sharp")] == [score.notes[2].id]
    assert [e.note_id for e in result.events_of("flat")] == [score.notes[5].id]
    assert result.intonation is not None and result.intonation < 100


def test_audio_fragment_of_a_note_is_not_an_extra_note():
    """A transcriber's split (a 60 ms piece of the same pitch right after a note) is joined to
    the note in an audio take; the same in a MIDI take is a key struck again: an extra note."""
    score = scale_score(bars=2)
    take = [replace(n, cents=0.0) for n in play(score)]
    fragment = replace(take[4], onset_s=take[4].offset_s + 0.01, offset_s=take[4].offset_s + 0.07)
    audio = assess(score, Performance(notes=tuple(sorted([*take, fragment], key=lambda n: n.onset_s))))
    assert not audio.events_of("extra") and audio.notes_correct == len(score.notes)
    midi = [replace(n, cents=None) for n in (*take, fragment)]
    assert len(assess(score, Performance(notes=tuple(sorted(midi, key=lambda n: n.onset_s)))).events_of("extra")) == 1


def test_beginner_is_more_lenient_than_advanced(k331):
    score, take = k331
    timing = ("early", "late", "short", "long")
    advanced = len(_errors(assess(score, take, level="advanced"), timing))
    beginner = len(_errors(assess(score, take, level="beginner"), timing))
    assert beginner <= advanced


def test_cli_json_contract_and_annotated_musicxml(tmp_path, capsys):
    out = tmp_path / "marked.musicxml"
    code = main(["assess", "--score", str(shared(*K331)), str(shared(*K331_TAKE)), "--measures", "1-8", "--json", "-o", str(out)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    summary = data["summary"]
    for key in ("overall", "pitch", "rhythm"):
        assert 0 <= summary[key] <= 100
    assert summary["intonation"] is None
    assert summary["pitch"] > 90  # the whole take, measures 1-8 found in it
    assert isinstance(summary["notes_total"], int) and isinstance(summary["notes_correct"], int)
    fields = {"type", "score_position", "measure", "beat", "expected_pitch", "played_pitch", "time", "deviation_ms", "cents", "message"}
    assert data["events"] and all(fields <= set(e) for e in data["events"])
    assert sum(e["type"] == "correct" for e in data["events"]) == summary["notes_correct"]
    covered = {e["note_id"] for e in data["events"] if e["note_id"]}
    assert len(covered) == summary["notes_total"]
    assert all(1 <= e["measure"] <= 8 for e in data["events"] if e["measure"] is not None)
    text = out.read_text(encoding="utf-8")
    assert "<score-partwise" in text and 'color="#' in text


@pytest.mark.parametrize("extra_args, needle", [
    (["--measures", "9-3"], "--measures"),
    (["--part", "Violin"], "no part named"),
    (["--tempo", "-5"], "--tempo"),
])
def test_cli_bad_options_exit_2(extra_args, needle, capsys):
    code = main(["assess", "--score", str(shared(*K331)), str(shared(*K331_TAKE)), *extra_args])
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_cli_missing_performance_exit_2(tmp_path, capsys):
    code = main(["assess", "--score", str(shared(*K331)), str(tmp_path / "nothing.mid")])
    assert code == 2
    assert "nothing.mid" in capsys.readouterr().err


def _untouched_take(*relative):
    """Score (the notes the ground truth matches) and the pianist's untouched take of a .match file."""
    from tests.bench.bench_assessment import clean_take, in_order, load, pedal_events, tutor_score

    path = shared(*relative)
    pt_score, sna, pna, gt = load(path)
    gt, _dropped = in_order(gt, sna, pna)
    matched = {a["score_id"] for a in gt if a["label"] == "match"}
    score = tutor_score(pt_score, sna[np.isin(sna["id"], list(matched))])
    return score, clean_take(score, pna, gt, pedal_events(path))


def test_long_notes_stretched_within_the_players_rubato_are_not_hesitations():
    """Kreisleriana no. 2 (nASAP, a real pianist): half notes this player lengthens at phrase ends
    by no more than the player's rubato stretches steps around them (into beat 3 of bars 5, 24, 63
    and 82, ...) are not hesitations; a 1 s pause put into the same take where the pulse is
    steady still is one."""
    score, take = _untouched_take("nasap-dev", "Schumann", "Kreisleriana", "2", "ParkJH05.match")
    clean = assess(score, take)
    hesitations = {e.score_position for e in clean.events_of("late") if "hesitation" in e.message}
    assert not hesitations & {11.0, 35.0, 89.0, 198.0, 252.0}, sorted(hesitations)
    at = 416.5
    start = min(e.time for e in clean.events if e.score_position == at and e.time is not None) - 0.01
    paused = [replace(n, onset_s=n.onset_s + 1.0, offset_s=n.offset_s + 1.0) if n.onset_s >= start else n for n in take.notes]
    result = assess(score, replace(take, notes=tuple(paused)))
    assert any(e.score_position == at and "hesitation" in e.message for e in result.events_of("late"))


def test_note_after_its_ornament_is_not_apart_from_its_chord():
    """Bach WTC I fugue in C (nASAP): a main note sounded after the short upper note of its written-out
    ornament (bars 13 and 19) is not 'late against the rest of the chord'."""
    score, take = _untouched_take("nasap-dev", "Bach", "Fugue", "bwv_846", "Shi05M.match")
    apart = {e.score_position for e in assess(score, take).events if "against the rest of the chord" in e.message}
    assert not apart & {51.0, 73.0}, sorted(apart)


def test_restart_in_a_melody_of_repeated_notes_is_a_restart():
    """A pianist's melody (Vienna 4x22 Schubert D783 no. 15, top voice) in which the player goes back
    from bar 16 to bar 15 (C5 C#5 C5 | C5 ...): the replayed repeated C5s are a restart, not extra
    notes absorbed by a one-note chord. The player stops (lets bar 16's C5 go) and starts again a
    second later; a C5 held through the pause would leave which C5 the replay starts from to pitch
    alone (bar 14's last note is a C5 too)."""
    from tests.bench.bench_assessment import clean_take, load, melody, tutor_score

    pt_score, sna, pna, gt = load(shared("vienna4x22", "match", "Schubert_D783_no15_p01.match"))
    tune, tune_gt = melody(tutor_score(pt_score, sna), sna, gt)
    take = clean_take(tune, pna, tune_gt)
    times = {e.note_id: e.time for e in assess(tune, take).events if e.type == "correct"}
    bar15 = [n for n in tune.notes if n.measure == 15]
    back_to = times[bar15[0].id]
    stop = times[next(n for n in tune.notes if n.measure == 16).id]  # bar 16's first note, then back
    replay = [replace(n, onset_s=n.onset_s + stop + 1.0 - back_to, offset_s=n.offset_s + stop + 1.0 - back_to)
              for n in take.notes if back_to - 0.01 <= n.onset_s <= stop + 0.01]
    shift = replay[-1].onset_s - stop
    notes = [n if n.onset_s < stop - 0.01 else replace(n, offset_s=min(n.offset_s, stop + 0.5)) if n.onset_s <= stop + 0.01
             else replace(n, onset_s=n.onset_s + shift, offset_s=n.offset_s + shift) for n in take.notes]
    result = assess(tune, replace(take, notes=tuple(sorted(notes + replay, key=lambda n: n.onset_s))))
    assert len(result.events_of("restart")) == 1
    assert result.events_of("restart")[0].measure == 15
    assert not result.events_of("extra") and not result.events_of("missed")


def test_short_stop_in_a_fast_piece_is_a_hesitation():
    """Bach WTC I fugue in C (nASAP, a real pianist in a fairly steady tempo): a 0.6 s stop put
    before a chord is a hesitation nearly everywhere. The threshold comes from the pace of the steps
    around the stop; from the local tempo fit, which the stop itself slows, it was about 1 s and
    found 1 of 27 such stops."""
    score, take = _untouched_take("nasap-dev", "Bach", "Fugue", "bwv_846", "Shi05M.match")
    sites = sorted({(e.score_position, e.time) for e in assess(score, take).events if e.type == "correct"})[40::50]
    found = 0
    for position, time_s in sites:
        stopped = [replace(n, onset_s=n.onset_s + 0.6, offset_s=n.offset_s + 0.6) if n.onset_s >= time_s - 0.01 else n
                   for n in take.notes]
        late = assess(score, replace(take, notes=tuple(stopped))).events_of("late")
        found += any(e.score_position == position and "hesitation" in e.message for e in late)
    assert len(sites) >= 10 and found >= 0.75 * len(sites), (found, len(sites))


def _restarted_take(*relative: str, back_to_measure: int, stop_measure: int, stop_beat: float = 99.0, pause_s: float):
    """A real performance (its notes that the ground truth matches, against the score of those notes),
    in which the player stops after ``stop_measure`` up to ``stop_beat`` and, ``pause_s`` after that
    note, plays again from the start of ``back_to_measure``: (score, take, time gone back to, the
    replay's start)."""
    from tests.bench.bench_assessment import clean_take, load, tutor_score

    pt_score, sna, pna, gt = load(shared(*relative))
    played = {a["score_id"] for a in gt if a["label"] == "match"}
    score = tutor_score(pt_score, sna[np.isin(sna["id"], list(played))])  # the pianist's own omissions taken out
    take = clean_take(score, pna, gt)
    times = {e.note_id: e.time for e in assess(score, take).events if e.type == "correct"}
    back_to = min(times[n.id] for n in score.notes if n.measure == back_to_measure and n.id in times)
    stop = max(times[n.id] for n in score.notes if n.measure == stop_measure and n.beat <= stop_beat and n.id in times)
    offset = stop + pause_s - back_to
    replay = [replace(n, onset_s=n.onset_s + offset, offset_s=n.offset_s + offset) for n in take.notes
              if back_to - 0.01 <= n.onset_s <= stop + 0.01]
    notes = [n if n.onset_s <= stop + 0.01 else replace(n, onset_s=n.onset_s + offset, offset_s=n.offset_s + offset)
             for n in take.notes]
    return score, replace(take, notes=tuple(sorted(notes + replay, key=lambda n: (n.onset_s, n.pitch)))), back_to, back_to + offset


def test_replaying_a_bar_of_repeated_chords_is_a_restart():
    """Chopin op. 38 (Vienna 4x22, both hands), bar 27: four F major chords, the last two the same.
    The player plays the bar, stops half a second and plays it again. Staying on a chord used to take
    its pitches struck again for free, so the first attempt read as 17 extra notes; a pitch struck
    again at the chord (not as a trill's quick repeat) is now an extra note, and the replay a restart."""
    score, take, _back_to, _again = _restarted_take("vienna4x22", "match", "Chopin_op38_p01.match",
                                                    back_to_measure=27, stop_measure=27, pause_s=1.1)
    result = assess(score, take)
    assert [e.measure for e in result.events_of("restart")] == [27]
    assert not result.events_of("extra") and not result.events_of("missed")


def test_restart_is_placed_at_the_stop_not_where_the_same_notes_recur():
    """Schubert D783 no. 15 (Vienna 4x22, both hands): bar 6 begins as bar 4 does. The player goes on
    from bar 5 into bar 6, stops after its third chord without lifting the hands (the notes ring into
    the stop: no silent pause) and goes back to bar 5. In pitch alone 'bar 6 was bar 4 replayed' costs
    the same as the truth and was taken, with two false missed notes; the stop now settles it."""
    score, take, _back_to, again = _restarted_take("vienna4x22", "match", "Schubert_D783_no15_p01.match",
                                                   back_to_measure=5, stop_measure=6, stop_beat=2.5, pause_s=0.9)
    result = assess(score, take)
    restarts = result.events_of("restart")
    assert [e.measure for e in restarts] == [5] and abs(restarts[0].time - again) < 0.3, restarts
    assert not result.events_of("missed") and not result.events_of("extra")


def test_restart_found_where_an_earlier_bar_has_the_same_chords():
    """Schumann, Kreisleriana no. 2 (nASAP, a real performance): the player plays bars 23-24 up to the
    third beat, stops and goes back to bar 23. Bar 22's last beat has the chords of bar 24's first
    beats, and the second pass, placing notes near where a line through the first pass's matches puts
    them, drew that line across the restart and moved the first attempt of bar 24 back into bar 22:
    the restart was reported two bars early, with a false extra note."""
    score, take, back_to, again = _restarted_take("nasap-dev", "Schumann", "Kreisleriana", "2", "ParkJH05.match",
                                                  back_to_measure=23, stop_measure=24, stop_beat=3.0, pause_s=0.9)
    result = assess(score, take)
    restarts = result.events_of("restart")
    assert [e.measure for e in restarts] == [23] and abs(restarts[0].time - again) < 0.3, restarts
    assert not [e for e in result.events_of("extra") if back_to <= e.time <= again + 6.0]


def test_a_note_played_out_of_order_before_a_restart_is_not_an_extra_note():
    """Debussy, Reflets dans l'eau (nASAP, a real performance): the player goes on from bar 31 into
    bar 32, stops and goes back to bar 31. In the first attempt the pianist plays bar 32's C5 just after
    the C#5 written after it; the replay matches the C5, and the first attempt's C5, left on a chord the
    replay did not visit again, was called an extra note. It is a note of the attempt the restart
    replayed, as the first attempt's other notes are."""
    score, take, back_to, again = _restarted_take("nasap-dev", "Debussy", "Images_Book_1", "1_Reflets_dans_lEau",
                                                  "Kleisen11M.match", back_to_measure=31, stop_measure=32,
                                                  stop_beat=3.67, pause_s=0.98)
    result = assess(score, take)
    assert [e.measure for e in result.events_of("restart")] == [31]
    assert not [e for e in result.events_of("extra") if back_to <= e.time <= again + 6.0]


def test_going_back_a_bar_in_a_sparse_melody_is_a_restart():
    """Chopin op. 38's melody (Vienna 4x22, top voice, two or three notes a bar): the player goes back
    from bar 11 to bar 10 without a pause, replaying F4 and C5 (then the C5s of bar 11). Two or three
    notes replayed read cheaper as extra notes than as a restart of a dense piano score's cost: the
    restart's cost follows the score's notes per bar."""
    from tests.bench.bench_assessment import clean_take, load, melody, tutor_score

    pt_score, sna, pna, gt = load(shared("vienna4x22", "match", "Chopin_op38_p01.match"))
    tune, tune_gt = melody(tutor_score(pt_score, sna), sna, gt)
    take = clean_take(tune, pna, tune_gt)
    times = {e.note_id: e.time for e in assess(tune, take).events if e.type == "correct"}
    back_to = times[next(n for n in tune.notes if n.measure == 10).id]
    stop = times[[n for n in tune.notes if n.measure == 11][1].id]  # bar 11's second note, then back
    gap = 0.5
    replay = [replace(n, onset_s=n.onset_s + stop + gap - back_to, offset_s=n.offset_s + stop + gap - back_to)
              for n in take.notes if back_to - 0.01 <= n.onset_s <= stop + 0.01]
    shift = replay[-1].onset_s - stop
    notes = [n if n.onset_s <= stop + 0.01 else replace(n, onset_s=n.onset_s + shift, offset_s=n.offset_s + shift)
             for n in take.notes]
    result = assess(tune, replace(take, notes=tuple(sorted(notes + replay, key=lambda n: n.onset_s))))
    assert [e.measure for e in result.events_of("restart")] == [10]
    assert result.events_of("restart")[0].message == "went back from measure 11 to measure 10"
    assert not result.events_of("extra") and not result.events_of("missed")
