"""A looped take (``tutor.practice.loop``), without Qt: the follower of the passes, the cut into passes,
where the tempo puts them, the looped clicks and the assessment of each pass on the range alone."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tutor.practice.loop import (
    LoopFollower,
    LoopReview,
    PassStart,
    assess_passes,
    looped_clicks,
    split_passes,
)
from tutor.score.io import load_score
from tutor.score.music import Performance, PlayedNote, sort_played

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


@pytest.fixture(scope="module")
def piece():
    return load_score(DEMO)


def looped_performance(score, *, first: int, last: int, passes: int, wrong=None, skip=None, lead_s=0.5) -> Performance:
    """Measures first-last played ``passes`` times back to back as written; ``wrong``: {pass: (note id,
    played pitch)}, ``skip``: {pass: note id} (1-based passes)."""
    wrong, skip = wrong or {}, skip or {}
    notes = [n for n in score.notes if first <= n.measure <= last]
    start = notes[0].onset_s
    length = score.seconds_at(score.measure(last).end_ql) - score.seconds_at(score.measure(first).start_ql)
    played = []
    for k in range(passes):
        for n in notes:
            if skip.get(k + 1) == n.id:
                continue
            pitch = wrong[k + 1][1] if wrong.get(k + 1, (None,))[0] == n.id else n.pitch
            onset = lead_s + k * length + n.onset_s - start
            played.append(PlayedNote(pitch, onset, onset + 0.9 * n.duration_s))
    return Performance(sort_played(played))


def follow(loop: LoopFollower, performance: Performance, *, ring: bool = False) -> list:
    """The take through the follower in time order, as the app feeds it: note-ons and releases (``ring``:
    each note's at-once ring told first, through ``feed_onset(ring=...)``, as the app's live session does)."""
    timeline = sorted([(n.onset_s, 1, n.pitch) for n in performance.notes]
                      + [(n.offset_s, 0, n.pitch) for n in performance.notes])
    events = []
    for time_s, on, pitch in timeline:
        if on:
            events += loop.feed_onset(onset_s=time_s, pitch=pitch, ring=events.extend if ring else None)
        else:
            events += loop.note_off(pitch=pitch, time_s=time_s)
    events += loop.poll(time_s=performance.duration_s + 5.0)
    return events + loop.finish()


@pytest.mark.parametrize("ring", [False, True], ids=["rings-returned", "rings-told-first"])
def test_the_loop_follower_starts_a_fresh_pass_at_the_range_s_first_chord(piece, ring):
    from tutor.practice.follower import ScoreFollower

    bpm = piece.tempo_map.initial_bpm
    ranged = piece.slice_measures(3, 4).at_tempo(bpm=bpm)
    take = looped_performance(piece, first=3, last=4, passes=3, skip={1: "P1-m4-n2"}, wrong={2: ("P1-m3-n2", 63)})
    loop = LoopFollower(lambda: ScoreFollower(ranged, mode="play-along", level="advanced", bpm=bpm))
    events = follow(loop, take, ring=ring)
    starts = [e for e in events if isinstance(e, PassStart)]
    assert [s.index for s in starts] == [2, 3]
    assert (starts[0].previous_right, starts[0].previous_total) == (6, 7)  # pass 1 skipped the last C
    assert starts[1].previous_right == 6  # pass 2 played one wrong note
    range_s = 2 * 4 * 60 / bpm  # two bars of 4/4
    assert loop.starts_s == [s.time_s for s in starts] == pytest.approx([0.5 + range_s, 0.5 + 2 * range_s])
    assert loop.index == 3
    noted = [e for e in events if not isinstance(e, PassStart) and e.note_id]
    assert {e.note_id for e in noted} <= {n.id for n in ranged.notes}  # only the range's notes are judged


def test_split_passes_cuts_a_little_before_each_start():
    notes = tuple(PlayedNote(60 + i % 3, t, t + 0.2) for i, t in enumerate((0.0, 0.5, 1.0, 1.48, 2.0, 2.5, 2.98)))
    take = Performance(notes)
    passes = split_passes(take, [1.5, 3.0])  # the starts as the follower heard them (a note 20 ms early)
    assert [[n.onset_s for n in p.notes] for p in passes] == [[0.0, 0.5, 1.0], [1.48, 2.0, 2.5], [2.98]]
    assert [p.notes for p in split_passes(take, [])] == [take.notes]  # no starts: one pass


def test_a_sung_pass_s_first_note_heard_late_live_stays_with_its_pass():
    """A sung note is heard live once its pitch settles, 0.1-0.3 s after the offline transcription places it: cut
    0.1 s before the live start, the pass's own first note (a C, after the last pass's G a third of a second
    before it) fell into the pass before and was missed; with the pitch heard live at each start the cut goes
    before that note. The tune ends on the C it begins with: the last pass's held C (0.8 s before) is not taken."""
    onsets = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 2.83, 3.33, 3.83, 4.33, 4.83, 5.33, 5.66)
    pitches = (60, 62, 64, 60, 67, 60, 60, 62, 64, 60, 67, 60, 60)
    take = Performance(tuple(PlayedNote(p, t, t + 0.3) for p, t in zip(pitches, onsets, strict=True)))
    live = [3.05, 5.88]  # the first C of passes 2 and 3 as the live path heard it, 0.22 s late
    late = split_passes(take, live)
    assert [len(p.notes) for p in late] == [7, 6, 0]  # before: each pass's first C in the pass before
    passes = split_passes(take, live, [60, 60])
    assert [[n.onset_s for n in p.notes] for p in passes] == [list(onsets[:6]), list(onsets[6:12]), [5.66]]
    # a pitch a semitone off (the live pitch of a rough note) still finds it; none near: the start as heard
    assert [len(p.notes) for p in split_passes(take, live, [61, 61])] == [6, 6, 1]
    assert [len(p.notes) for p in split_passes(take, live, [70, 70])] == [7, 6, 0]


def test_a_pass_that_begins_on_a_repeated_note_or_follows_a_short_one_is_cut_at_its_first_note():
    """"Hap-py": the tune's first two notes are the same C, 0.25 s apart, and the live path hears the first 0.2 s
    late, nearer the second: the cut goes before the first. Passes shorter than the live lag never share a note."""
    tune = ((60, 0.0), (60, 0.25), (67, 0.5), (67, 0.75), (65, 1.0), (64, 1.25))
    take = Performance(tuple(PlayedNote(p, t + k * 1.5, t + k * 1.5 + 0.2) for k in range(3) for p, t in tune))
    passes = split_passes(take, [1.7, 3.2], [60, 60])
    assert [[n.onset_s for n in p.notes][:2] for p in passes] == [[0.0, 0.25], [1.5, 1.75], [3.0, 3.25]]
    assert [len(p.notes) for p in passes] == [6, 6, 6]
    short = Performance(tuple(PlayedNote(p, t + k * 0.35, t + k * 0.35 + 0.1) for k in range(4)
                              for p, t in ((60, 0.0), (62, 0.17))))
    cut = split_passes(short, [0.6, 0.95, 1.3], [60, 60, 60])  # each heard 0.25 s late
    assert [[round(n.onset_s, 2) for n in p.notes] for p in cut] == [[0.0, 0.17], [0.35, 0.52], [0.7, 0.87], [1.05, 1.22]]


def test_without_live_pass_starts_the_passes_are_where_the_tempo_puts_them(piece):
    score = piece.at_tempo(bpm=90)
    take = looped_performance(score, first=3, last=4, passes=3)
    review = LoopReview(score=score, measures=(3, 4), starts_s=None, count_in_s=0.0)
    passes = split_passes(take, review.pass_starts(take))
    assert [len(p.notes) for p in passes] == [7, 7, 7]
    assert [p.notes[0].pitch for p in passes] == [65, 65, 65]
    given = LoopReview(score=score, measures=(3, 4), starts_s=[1.0, 2.0], count_in_s=0.0)
    assert given.pass_starts(take) == [1.0, 2.0]  # the follower's, when there are some


def test_looped_clicks_count_in_once_then_repeat_the_range(piece):
    from tutor.audio.metronome import click_schedule

    looped = looped_clicks(click_schedule(piece.slice_measures(3, 4), count_in_bars=1))
    assert len([c for c in looped.clicks if c.count_in]) == 4  # one bar of 4/4, once
    bar_s = 4 * 60 / 90
    downbeats = [c.time_s for c in looped.clicks if c.accent and not c.count_in][:5]
    assert downbeats == pytest.approx([bar_s * k for k in range(1, 6)])  # m3, m4, m3, m4, m3


def test_each_pass_is_assessed_on_the_range_alone(piece):
    bpm = piece.tempo_map.initial_bpm
    whole = piece.at_tempo(bpm=bpm)
    take = looped_performance(piece, first=3, last=4, passes=3, skip={1: "P1-m4-n2"}, wrong={2: ("P1-m3-n2", 63)})
    # the last pass stopped after two notes: left out of the review
    take = Performance(take.notes[:-5])
    loop = LoopReview(score=whole, measures=(3, 4), starts_s=None, count_in_s=0.0)
    said = []
    passes = assess_passes(loop, take, notes_per_pass=7, bpm=bpm, level="advanced",
                           progress=lambda fraction, text: said.append((fraction, text)))
    assert len(passes) == 2
    assert said == [(pytest.approx(0.5), "Pass 1 of 2…"), (pytest.approx(1.0), "Pass 2 of 2…")]
    for assessment, notes in passes:
        assert assessment.notes_total == 7 and notes.notes
        assert {e.measure for e in assessment.events} <= {3, 4}
    kinds = [{(e.type, e.note_id) for e in a.events if e.type != "correct"} for a, _ in passes]
    assert ("missed", "P1-m4-n2") in kinds[0]
    assert ("wrong_pitch", "P1-m3-n2") in kinds[1] and ("missed", "P1-m4-n2") not in kinds[1]


def test_a_looped_piano_take_s_passes_are_listened_for_again(piece):
    """A note the piano transcriber left out of a pass, but whose start its own onset odds read, is not
    called missed in that pass: the passes get the take's second listen as a whole take does (issue 20)."""
    import numpy as np

    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.score.music import OnsetOdds

    bpm = piece.tempo_map.initial_bpm
    whole = piece.at_tempo(bpm=bpm)
    take = looped_performance(piece, first=3, last=4, passes=2, skip={1: "P1-m4-n1"})
    pitch = next(n.pitch for n in piece.notes if n.id == "P1-m4-n1")
    frame_s, first_pitch = 0.0232, 21
    odds = np.full((88, int(take.duration_s / frame_s) + 40), -np.inf, dtype=np.float16)
    odds[pitch - first_pitch] = 0.0  # the model reads a start of that pitch wherever it is asked
    heard = Performance(take.notes, onset_odds=OnsetOdds(frame_s=frame_s, first_pitch=first_pitch, odds=odds))
    silence = PartialEvidence(np.zeros(int(16000 * (take.duration_s + 1)), np.float32), 16000)
    loop = LoopReview(score=whole, measures=(3, 4), starts_s=None, count_in_s=0.0)

    def missed(evidence):
        passes = assess_passes(loop, heard, notes_per_pass=7, bpm=bpm, level="advanced", evidence=evidence)
        return [{e.note_id for e in a.events if e.type == "missed"} for a, _ in passes]

    assert missed(None)[0] == {"P1-m4-n1"}  # without the second listen: missed
    assert missed(silence) == [set(), set()]


def test_a_range_that_holds_a_repeat_is_looped_as_written():
    """Issue 21: measures 1-8 of a Nottingham tune (|: 1-8 :|) looped twice, each pass with its repeat: the
    follower of a pass follows the range unfolded (going back at the repeat is its next chord, not the next
    pass), the clock cuts a pass at the unfolded range's length, and each pass is assessed with its repeat."""
    from tests.conftest import shared
    from tutor.practice.follower import ScoreFollower
    from tutor.score.form import unfold

    tune = load_score(shared("nottingham", "ABC_cleaned", "ashover.abc"), index=1)
    bpm = tune.tempo_map.initial_bpm
    whole = tune.at_tempo(bpm=bpm)
    ranged = whole.slice_measures(1, 8)
    played = unfold(ranged).score
    assert [m.number for m in played.measures] == [*range(1, 9), *range(1, 9)]
    start_s, end_s = played.seconds_at(played.measures[0].start_ql), played.seconds_at(played.measures[-1].end_ql)
    notes = []
    for k in range(2):
        for n in played.notes:
            onset = 0.5 + k * (end_s - start_s) + played.seconds_at(n.onset_ql) - start_s
            notes.append(PlayedNote(n.pitch, onset, onset + 0.9 * (played.seconds_at(n.offset_ql) - played.seconds_at(n.onset_ql))))
    take = Performance(sort_played(notes))
    loop = LoopFollower(lambda: ScoreFollower(ranged, mode="play-along", level="advanced", bpm=bpm, repeats=True))
    events = follow(loop, take)
    starts = [e for e in events if isinstance(e, PassStart)]
    assert [(s.index, s.previous_right, s.previous_total) for s in starts] == [(2, 108, 108)]
    assert starts[0].time_s == pytest.approx(0.5 + end_s - start_s)
    assert {e.type for e in events if not isinstance(e, PassStart)} == {"correct"}
    # the range once (repeats off): the repeat read as the next pass, as before
    once = LoopFollower(lambda: ScoreFollower(ranged, mode="play-along", level="advanced", bpm=bpm, repeats=False))
    assert len([e for e in follow(once, take) if isinstance(e, PassStart)]) == 3
    for given in (list(loop.starts_s), None):
        review = LoopReview(score=whole, measures=(1, 8), starts_s=given, count_in_s=0.0)
        assert review.pass_starts(take) == pytest.approx([0.5 + end_s - start_s], abs=0.01)
        passes = assess_passes(review, take, notes_per_pass=108, bpm=bpm, level="advanced")
        assert [(a.notes_total, a.notes_correct) for a, _ in passes] == [(108, 108), (108, 108)]
        assert all({e.type for e in a.events} == {"correct"} and {e.pass_number for e in a.events} == {1, 2}
                   for a, _ in passes)


def test_a_pass_begun_with_a_wrong_note_starts_there(piece):
    """The next pass's first note played wrong (a tone off) right after the range's end: the pass starts at it
    (it is judged there as a wrong note), not a note later with the wrong note an extra at the end."""
    from tutor.practice.follower import ScoreFollower

    bpm = piece.tempo_map.initial_bpm
    ranged = piece.slice_measures(3, 4).at_tempo(bpm=bpm)
    first = ranged.notes[0]
    take = looped_performance(piece, first=3, last=4, passes=3, wrong={2: (first.id, first.pitch + 2), 3: (first.id, first.pitch + 2)})
    loop = LoopFollower(lambda: ScoreFollower(ranged, mode="play-along", level="advanced", bpm=bpm))
    events = follow(loop, take)
    range_s = 2 * 4 * 60 / bpm
    assert loop.starts_s == pytest.approx([0.5 + range_s, 0.5 + 2 * range_s])
    told = [(e.type, e.note_id) for e in events if not isinstance(e, PassStart) and e.type != "correct"]
    assert told == [("wrong_pitch", first.id), ("wrong_pitch", first.id)]
