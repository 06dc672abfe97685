"""Live score following: hand-made takes (wrong note, skipped note, restart, pause, wait mode)
and a real performance fed note by note."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from tests.assessment_cases import make_score, play, scale_score
from tests.conftest import shared
from tutor.practice.follower import ScoreFollower
from tutor.score.music import PlayedNote


def feed_all(follower, notes):
    events = []
    for note in notes:
        events.extend(follower.feed(note))
    return events


def types(events):
    return [e.type for e in events]


def test_play_along_clean_take_follows_every_note():
    score = scale_score()
    follower = ScoreFollower(score, mode="play-along")
    for note, expected in zip(play(score), score.notes, strict=True):
        events = follower.feed(note)  # told at once (its verdict, a few notes later, agrees: not told again)
        assert types(events) == ["correct"] and events[0].note_id == expected.id
        assert follower.position_ql == expected.onset_ql
    assert follower.finish() == []
    assert abs(follower.tempo_bpm - 100) < 5


def test_play_along_wrong_skipped_and_pause():
    score = scale_score()
    take = play(score)
    take[4] = replace(take[4], pitch=take[4].pitch + 1)
    del take[8]
    take = take[:11] + [replace(n, onset_s=n.onset_s + 3.0, offset_s=n.offset_s + 3.0) for n in take[11:]]  # a pause
    follower = ScoreFollower(score, mode="play-along")
    events = feed_all(follower, take) + follower.finish()
    wrong = [e for e in events if e.type == "wrong_pitch"]
    missed = [e for e in events if e.type == "missed"]
    assert [e.note_id for e in wrong] == [score.notes[4].id]
    assert [e.note_id for e in missed] == [score.notes[8].id]
    assert "extra" not in types(events) and "restart" not in types(events)
    assert follower.position_ql == score.notes[-1].onset_ql


def test_play_along_restart():
    score = scale_score(bars=5)
    take = play(score)
    upto = [n for n, s in zip(take, score.notes, strict=True) if s.onset_ql <= 10.0]
    resume = upto[-1].onset_s + 1.8  # the student stops, then starts again
    again = [replace(n, onset_s=n.onset_s - take[4].onset_s + resume, offset_s=n.offset_s - take[4].onset_s + resume)
             for n, s in zip(take, score.notes, strict=True) if s.onset_ql >= 4.0]
    follower = ScoreFollower(score, mode="play-along")
    events = feed_all(follower, upto)
    assert follower.position_ql == 10.0
    # the first notes back (G A B) also fit where the student was: the restart is clear a few notes later
    events = feed_all(follower, again[:4])
    assert "restart" in types(events) and follower.position_ql == 7.0
    events = feed_all(follower, again[4:]) + follower.finish()
    assert set(types(events)) == {"correct"}


def test_wait_mode_waits_for_the_right_notes():
    score = make_score([(0.0, [60], 1.0), (1.0, [64, 67], 1.0), (2.0, [65], 1.0), (3.0, [67], 1.0), (4.0, [72], 4.0)])
    follower = ScoreFollower(score, mode="wait")
    assert follower.expected_pitches() == [60]
    assert types(follower.feed_onset(onset_s=0.0, pitch=60)) == ["correct"]
    assert follower.expected_pitches() == [64, 67]
    assert types(follower.feed_onset(onset_s=5.0, pitch=66)) == ["wrong_pitch"]  # after a long pause, a wrong note
    assert follower.expected_pitches() == [64, 67]
    follower.feed_onset(onset_s=6.0, pitch=67)
    assert follower.expected_pitches() == [64]
    follower.feed_onset(onset_s=6.05, pitch=64)
    assert follower.expected_pitches() == [65]
    follower.feed_onset(onset_s=7.0, pitch=65)
    # going back to the start of the bar
    events = follower.feed_onset(onset_s=9.0, pitch=60)
    assert types(events) == ["restart", "correct"] and follower.expected_pitches() == [64, 67]


def test_real_performance_followed_note_by_note():
    from tests.bench.bench_assessment import load, tutor_score

    pt_score, sna, pna, gt = load(shared("vienna4x22", "match", "Chopin_op10_no3_p01.match"))
    score = tutor_score(pt_score, sna)
    onset_of = {n.id: n.onset_ql for n in score.notes}
    chord_of = {p: i for i, p in enumerate(sorted(set(onset_of.values())))}
    truth = {a["performance_id"]: a["score_id"] for a in gt if a["label"] == "match"}
    order = np.argsort(pna["onset_sec"], kind="stable")
    follower = ScoreFollower(score, mode="play-along")
    hits = total = 0
    times = []
    for j in order:
        r = pna[j]
        note = PlayedNote(int(r["pitch"]), float(r["onset_sec"]), float(r["onset_sec"] + r["duration_sec"]))
        started = time.perf_counter()
        follower.feed(note)
        times.append(time.perf_counter() - started)
        sid = truth.get(str(r["id"]))
        if sid is not None:
            total += 1
            hits += abs(follower.chord - chord_of[onset_of[sid]]) <= 1
    assert hits / total >= 0.95, hits / total
    assert float(np.median(times)) < 0.005  # generous: the benchmark reports the real figure


def test_note_off_reports_a_note_let_go_too_soon():
    score = make_score([(0.0, [60], 1.0), (1.0, [62], 1.0), (2.0, [64], 2.0), (4.0, [65], 4.0)])
    follower = ScoreFollower(score, mode="play-along", bpm=60)
    events = follower.feed_onset(onset_s=0.0, pitch=60)
    events += follower.note_off(pitch=60, time_s=0.9)
    events += follower.feed_onset(onset_s=1.0, pitch=62)
    events += follower.note_off(pitch=62, time_s=1.9)
    events += follower.feed_onset(onset_s=2.0, pitch=64)
    events += follower.note_off(pitch=64, time_s=2.3)  # a half note held for 0.3 s: told with its verdict
    assert types(events) == ["correct"] * 3  # told at once
    events += follower.poll(time_s=3.1)  # the player stopped: what was held back is judged
    assert types(events) == ["correct"] * 3 + ["short"] and events[-1].note_id == score.notes[2].id


def test_real_performance_with_injected_mistakes_followed_live():
    """Real performances with the benchmark's seeded student errors (wrong notes, skipped and added
    notes, a restart, hesitations, pushes), replayed live: the follower reports every injected pitch
    error and the restart, and at most one pitch error that was not injected (the earlier follower,
    judging each note at once, reported 10-45 false ones on these takes)."""
    from tests.bench.bench_assessment import in_order, inject, load, pedal_events, score_events, tutor_score
    from tutor.practice.follower import follow_performance

    for name, seed in (("Chopin_op10_no3_p01", 0), ("Chopin_op10_no3_p01", 4), ("Schubert_D783_no15_p01", 4)):
        path = shared("vienna4x22", "match", f"{name}.match")
        pt_score, sna, pna, gt = load(path)
        gt, _ = in_order(gt, sna, pna)
        matched = {a["score_id"] for a in gt if a["label"] == "match"}
        score = tutor_score(pt_score, sna[np.isin(sna["id"], list(matched))])
        performance, labels, restarts, _ = inject(score, pna, gt, np.random.default_rng(seed), pedal=pedal_events(path))
        events = follow_performance(ScoreFollower(score, mode="play-along"), performance)
        counts = score_events(events, labels, restarts)
        assert counts["restart"] == {"tp": 1, "detected": 1, "labels": 1}, (name, seed, counts["restart"])
        for kind in ("wrong_pitch", "missed", "extra"):
            assert counts[kind]["tp"] == counts[kind]["labels"], (name, seed, kind, counts[kind])
        false = sum(counts[k]["detected"] - counts[k]["tp"] for k in ("wrong_pitch", "missed", "extra"))
        assert false <= 1, (name, seed, false)


def test_second_opinion_takes_back_false_missed_notes():
    """A missed note is checked against the offline alignment of the notes played around it: in
    Chopin's op. 38 with the benchmark's errors (seed 5), the live path puts notes of the repeated
    chords one chord off; 6 notes were told missed that the pianist played (4 now), and every injected
    pitch error is still found."""
    from tests.bench.bench_assessment import in_order, inject, load, pedal_events, score_events, tutor_score
    from tutor.practice.follower import follow_performance

    path = shared("vienna4x22", "match", "Chopin_op38_p01.match")
    pt_score, sna, pna, gt = load(path)
    gt, _ = in_order(gt, sna, pna)
    matched = {a["score_id"] for a in gt if a["label"] == "match"}
    score = tutor_score(pt_score, sna[np.isin(sna["id"], list(matched))])
    performance, labels, restarts, _ = inject(score, pna, gt, np.random.default_rng(5), pedal=pedal_events(path))
    counts = score_events(follow_performance(ScoreFollower(score, mode="play-along"), performance), labels, restarts)
    for kind in ("wrong_pitch", "missed", "extra"):
        assert counts[kind]["tp"] == counts[kind]["labels"], (kind, counts[kind])
    assert counts["missed"]["detected"] - counts["missed"]["tp"] <= 4, counts["missed"]


def test_the_ring_goes_out_before_the_verdicts_and_changes_none():
    """Issue 20: with ``ring`` (the app's live path) a note's at-once ring is told before its feed works
    out the verdicts on the notes held back, which may ask the offline alignment for a second opinion
    (tens of ms each); the verdicts are the same as without it. Chopin's op. 38 with the benchmark's
    errors (seed 5), where second opinions are asked."""
    from tests.assessment_cases import vienna_with_mistakes
    from tutor.practice.follower import follow_performance

    score, performance = vienna_with_mistakes("Chopin_op38_p01", seed=5)
    plain = ScoreFollower(score, mode="play-along")
    told = follow_performance(plain, performance)

    follower = ScoreFollower(score, mode="play-along")
    log: list[tuple[str, object]] = []
    opinion = follower._second_opinion

    def second_opinion(chord, time_s):
        log.append(("opinion", time_s))
        return opinion(chord, time_s)

    follower._second_opinion = second_opinion
    rings: list = []

    def ring(events):
        log.append(("ring", events[0].time))
        rings.extend(events)

    feed = follower.feed

    def logged_feed(note, *, ring=None):
        log.append(("feed", note.onset_s))
        return feed(note, ring=ring)

    follower.feed = logged_feed
    events = follow_performance(follower, performance, ring=ring)
    assert follower._given == plain._given and follower._reported_missed == plain._reported_missed
    verdicts = [(e.type, e.note_id, e.time, e.message) for e in events if e.type != "correct"]
    assert verdicts == [(e.type, e.note_id, e.time, e.message) for e in told if e.type != "correct"]
    assert len(rings) > 0.5 * len(performance.notes)
    assert all(e.type == "correct" for e in rings)
    # each feed's log: its ring (if any) before any second opinion it asked for
    feeds, both = [], 0
    for kind, time_s in log:
        if kind == "feed":
            feeds.append([])
        elif feeds:
            feeds[-1].append((kind, time_s))
    for steps in feeds:
        kinds = [k for k, _t in steps]
        if "ring" in kinds and "opinion" in kinds:
            both += 1
            assert kinds.index("ring") < kinds.index("opinion"), steps
    assert both >= 3, both


def test_a_note_held_back_is_rung_where_the_path_puts_it(monkeypatch, tmp_path):
    """Issue 20: the live piano path (detector + follower, hop by hop in audio time) on a real Disklavier
    recording (maps-dev mz_311_1, a dev piece, first 30 s): a note held back for its verdict is rung as
    soon as the path to the newest note puts it on a chord with its pitch free, not with the verdict
    (LAG_S later): fewer rings come more than 300 ms after the note was heard than without that, and the
    verdicts are the same."""
    import librosa
    import soundfile

    import tutor.practice.follower as follower_module
    from tests.test_piano import score_midi
    from tutor.listen.piano_live import HOP, SAMPLE_RATE, PianoOnsets, follower_expectation
    from tutor.score.io import load_score

    root = shared("real-audio", "maps-dev")
    piece = "MAPS_MUS-mz_311_1_ENSTDkCl"
    audio, rate = soundfile.read(str(root / "flac" / f"{piece}.flac"), dtype="float32", always_2d=True)
    audio = librosa.resample(audio.mean(axis=1)[: 30 * rate], orig_sr=rate, target_sr=SAMPLE_RATE)
    ref = np.loadtxt(root / "tsv" / f"{piece}.tsv", skiprows=1, ndmin=2)
    ref = ref[ref[:, 0] < 29.95]
    ref[:, 0] = np.round(ref[:, 0] / 0.0625) * 0.0625
    ref[:, 1] = np.maximum(np.round(ref[:, 1] / 0.0625) * 0.0625, ref[:, 0] + 0.0625)
    score = load_score(str(score_midi(ref, tmp_path / "piece.mid")))

    import tutor.listen.piano_live as piano_live

    # the hand-made strike tests, which miss and mistake strikes often enough for held-back notes to be common here
    # (with the learned strikes 3 rings are late with or without PATH_MARKS): the follower's mechanism, tested where
    # it acts
    monkeypatch.setattr(piano_live, "LEARNED", False)

    def run(path_marks: bool):
        monkeypatch.setattr(follower_module, "PATH_MARKS", path_marks)
        follower = follower_module.ScoreFollower(score, mode="play-along")
        detector = PianoOnsets(SAMPLE_RATE)
        first: dict[str, float] = {}  # score note -> how long after its played note was heard it was first rung
        verdicts = []

        def take(events, now_s):
            for e in events:
                if e.type == "correct" and e.note_id is not None:
                    first.setdefault(e.note_id, now_s - e.time)
                elif e.type != "correct":
                    verdicts.append((e.type, e.note_id, e.time))

        for start in range(0, len(audio), HOP):
            for onset_s, midi in detector.push(audio[start:start + HOP], lambda: follower_expectation(follower)):
                take(follower.feed_onset(onset_s=onset_s, pitch=midi, ring=lambda e, t=onset_s: take(e, t)), onset_s)
            take(follower.poll(time_s=(detector.consumed + len(detector.buffer)) / SAMPLE_RATE), detector.consumed / SAMPLE_RATE)
        follower.finish()
        return sum(late > 0.3 for late in first.values()), verdicts, follower._given

    late_now, verdicts_now, given_now = run(True)
    late_before, verdicts_before, given_before = run(False)
    assert verdicts_now == verdicts_before and given_now == given_before
    assert late_now <= 0.8 * late_before, (late_now, late_before)
