"""Live piano marks agree with what was played (issue 20): on a real maps-dev recording, the live detector
driven by the score follower (as in the app) hears the pitches that were struck, not every pitch it listens
for, and a score note changed by a tone (the student "plays a wrong note") is rarely ringed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tests.conftest import shared

PIECE = "MAPS_MUS-mz_311_1_ENSTDkCl"  # dev split (even index)


def _scn15_6_passage():
    """Dev scn15_6 (Träumerei in the reverberant room, never trained on), first 30 s: (its 16 kHz audio, the reference
    rows, the score as played, the score with 10% of its notes a tone off, the ids of those notes in it)."""
    import librosa

    from tests.bench.bench_live_marks import changed_note_ids, wrong_score_rows
    from tests.bench.bench_piano import excerpt, reference, score_of
    from tutor.listen.piano_live import SAMPLE_RATE

    shared("real-audio", "maps-dev")
    piece = "MAPS_MUS-scn15_6_ENSTDkAm"
    audio, rate = excerpt(piece, 30.0)
    ref = reference(piece, 30.0)
    rows, changed = wrong_score_rows(ref, np.random.default_rng(20), 0.1)
    with tempfile.TemporaryDirectory() as folder:
        score = score_of(ref, Path(folder))
    with tempfile.TemporaryDirectory() as folder:
        wrong = score_of(rows, Path(folder))
    audio16 = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    return audio16, ref, score, wrong, changed_note_ids(wrong, rows, changed)


def test_a_score_note_changed_by_a_tone_is_rarely_ringed():
    import librosa

    from tests.bench.bench_live_marks import (
        changed_note_ids,
        live_run,
        onset_scores,
        ringed_ids,
        wrong_score_rows,
    )
    from tests.bench.bench_piano import excerpt, reference, score_of
    from tutor.listen.piano_live import SAMPLE_RATE

    shared("real-audio", "maps-dev")
    audio, rate = excerpt(PIECE, 30.0)
    ref = reference(PIECE, 30.0)
    audio16 = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    rows, changed = wrong_score_rows(ref, np.random.default_rng(20), 0.1)
    with tempfile.TemporaryDirectory() as folder:
        score = score_of(rows, Path(folder))
    changed_ids = changed_note_ids(score, rows, changed)
    assert len(changed_ids) >= 25
    onsets, marks = live_run(audio16, score)
    ringed = ringed_ids(marks)
    # before the pitch-peak test 30 of 34 changed notes were ringed (the detector fired at every expected pitch)
    assert len(ringed & changed_ids) <= 0.5 * len(changed_ids), (len(ringed & changed_ids), len(changed_ids))
    # the notes as written (the other 90%) are still ringed often
    assert len(ringed - changed_ids) >= 0.4 * (len(score.notes) - len(changed_ids))
    counts = onset_scores(onsets, ref)
    # the detector's onsets are real strikes of that pitch (0.22 of them on dev before, within 0.1 s)
    assert counts["hits_0.1"] >= 0.45 * counts["onsets"], counts



def _rings_in_place(marks, score) -> tuple[int, int]:
    """(rings heard within 0.3 s of when their note was played, all rings): the score is the recording's own MIDI."""
    from tests.bench.bench_live_marks import ring_scores

    counts, _ = ring_scores(marks, {}, np.zeros((0, 4)), {n.id: n for n in score.notes})
    return counts["in_place"], counts["rings"]


def test_a_chord_does_not_run_the_follower_ahead(monkeypatch):
    """Dev deb_menu, 30 s: a chord's partials raise pitches of the chords after it; were those listened for as the
    follower moved on within the same strike, it ran chords ahead of the student and rang notes where they were not
    being played. With one expectation per strike (``STRIKE_S``) the rings are where the student is. Measured with
    the hand-made strike tests (``LEARNED`` off), which heard those partials as strikes; the learned strikes hear few
    of them, and ``STRIKE_S`` changes little there."""
    import librosa

    import tutor.listen.piano_live as piano_live
    from tests.bench.bench_live_marks import live_run
    from tests.bench.bench_piano import excerpt, reference, score_of

    shared("real-audio", "maps-dev")
    piece = "MAPS_MUS-deb_menu_ENSTDkCl"
    audio, rate = excerpt(piece, 30.0)
    with tempfile.TemporaryDirectory() as folder:
        score = score_of(reference(piece, 30.0), Path(folder))
    audio16 = librosa.resample(audio, orig_sr=rate, target_sr=piano_live.SAMPLE_RATE)
    monkeypatch.setattr(piano_live, "LEARNED", False)
    monkeypatch.setattr(piano_live, "STRIKE_S", 0.0)
    in_before, rings_before = _rings_in_place(live_run(audio16, score)[1], score)
    monkeypatch.setattr(piano_live, "STRIKE_S", 0.1)
    in_after, rings_after = _rings_in_place(live_run(audio16, score)[1], score)
    # measured: 108 of 179 rings in place -> 207 of 234 (the 6 dev pieces: 557 of 978 -> 713 of 1017)
    assert in_after >= in_before + 60, (in_before, rings_before, in_after, rings_after)
    assert in_after >= 0.8 * rings_after, (in_after, rings_after)


def test_learned_strikes_ring_where_the_student_is(monkeypatch):
    """Dev scn15_6 (Schumann's Träumerei in the reverberant room; too short to be in the strike model's training,
    which takes the dev pieces after 120 s), 30 s: the hand-made strike tests hear a held chord's partials and the
    room's tail as strikes, and the follower runs away from the student; the learned strikes ring far fewer notes
    where they were not played. Measured: rules 41 of 188 rings in place, learned 104 of 132; a wrong-notes score
    (10% of the notes a tone off): changed notes ringed 10 -> 3 of 33."""
    import tutor.listen.piano_live as piano_live
    from tests.bench.bench_live_marks import live_run, ringed_ids

    audio16, _ref, score, wrong, changed_ids = _scn15_6_passage()
    results = {}
    for learned in (False, True):
        monkeypatch.setattr(piano_live, "LEARNED", learned)
        in_place, rings = _rings_in_place(live_run(audio16, score)[1], score)
        marks = live_run(audio16, wrong)[1]
        ringed = ringed_ids(marks)
        results[learned] = (in_place, rings, len(ringed & changed_ids))
    (rules_in, _, rules_changed), (in_place, rings, changed_ringed) = results[False], results[True]
    assert rings >= 100 and in_place >= 0.7 * rings, results
    assert in_place >= 2 * rules_in and changed_ringed < rules_changed, results


def test_the_strike_model_never_learnt_from_what_the_live_bench_reads():
    """The weights exist, and their sources are the dev pieces after 120 s and renders: no held-out piece, no
    passage ``bench_live_marks`` reads on dev."""
    from tests.bench.bench_piano import pieces
    from tutor.models.piano_strikes import FEATURES, WEIGHTS, load_trees

    trees = load_trees()
    assert trees is not None, f"{WEIGHTS} is missing"
    assert int(trees["feature"].max()) < len(FEATURES)
    with np.load(WEIGHTS) as data:
        sources = [str(s) for s in data["sources"]]
    real = [s for s in sources if s.startswith("maps-dev/")]
    assert real and all(s.endswith("@120s") for s in real)
    assert not any(name in s for s in real for name in pieces("held-out"))
    assert sum(s.startswith("nasap-dev/") for s in sources) >= 30


def test_the_spectrum_model_never_learnt_from_what_the_live_bench_reads():
    """The model that hears the whole spectrum: its weights exist, take the inputs the live path makes, and were
    trained on the same sources as the trees (the dev pieces after 120 s and renders, no held-out piece)."""
    from tests.bench.bench_piano import pieces
    from tutor.models.piano_strikes import (
        FEATURES,
        FINE_BINS,
        SPECTRUM_CHANNELS,
        SPECTRUM_WEIGHTS,
        load_spectrum_model,
        network_inputs,
    )

    model = load_spectrum_model()
    assert model is not None, f"{SPECTRUM_WEIGHTS} is missing"
    width = network_inputs(np.array([40, 60]), np.zeros((2, len(FEATURES))),
                           np.zeros((len(SPECTRUM_CHANNELS), FINE_BINS), np.float32), model["mean"], model["scale"]).shape[1]
    assert str(model["kind"]) == "mlp" and model["w0"].shape[0] == width
    with np.load(SPECTRUM_WEIGHTS) as data:
        sources = [str(s) for s in data["sources"]]
    real = [s for s in sources if s.startswith("maps-dev/")]
    assert real and all(s.endswith("@120s") for s in real)
    assert not any(name in s for s in real for name in pieces("held-out"))
    assert sum(s.startswith("nasap-dev/") for s in sources) >= 30


def test_the_whole_spectrum_hears_the_strikes_the_summed_partials_lost(monkeypatch):
    """Dev scn15_6 (Träumerei in the reverberant room, never trained on), 30 s, the detector driven by the follower:
    the 47-feature trees see each pitch's four partials summed into one number and hear few bass strikes (a bass
    band's rise is mostly a higher note's partials); the network on the candidate's patch of the spectrum hears each
    partial. Measured: strikes heard 119 -> 222 of 368 (P 0.78 -> 0.90), below C3 17 -> 61 of 143; on a wrong-notes
    score (10% of the notes a tone off) changed notes ringed 3 -> 4 of 33 (the rules: 10)."""
    import tutor.listen.piano_live as piano_live
    from tests.bench.bench_live_losses import matched
    from tests.bench.bench_live_marks import live_run, onset_scores, ringed_ids

    audio16, ref, score, wrong, changed_ids = _scn15_6_passage()
    bass = ref[:, 2] < 48
    results = {}
    for spectrum in (False, True):
        monkeypatch.setattr(piano_live, "SPECTRUM", spectrum)
        onsets, _ = live_run(audio16, score)
        heard, _ = matched(onsets, ref)
        marks = live_run(audio16, wrong)[1]
        ringed = ringed_ids(marks)
        results[spectrum] = (onset_scores(onsets, ref), int(heard[bass].sum()), len(ringed & changed_ids))
    (trees, trees_bass, _), (whole, whole_bass, whole_changed) = results[False], results[True]
    assert whole["hits_0.1"] >= 1.5 * trees["hits_0.1"] and whole["hits_0.1"] >= 0.85 * whole["onsets"], results
    assert whole_bass >= 2.5 * trees_bass, results
    assert whole_changed <= 6, results


def test_the_network_does_not_ring_a_wrong_notes_written_neighbour(monkeypatch):
    """Dev deb_menu (never trained on), first 12 s, its own MIDI as the score but the A4 of the A minor chord at 5.04 s
    written as G4: the student plays A where G is written. The network hears the G's band rise at the A's strike (the
    A's partials and hammer) and calls it struck at P 0.53, the A at 1.00: the G was rung there. With the
    written-neighbour rule (``NEIGHBOUR_MARGIN``) it is not rung at that strike, and the notes played as written are
    rung as before. (Measured: the G is still rung 0.35 s later, at P 0.65 a hop before the next chord, E2 and E4,
    with no candidate near it: what the rule cannot see.)"""
    import librosa

    import tutor.listen.piano_live as piano_live
    from tests.bench.bench_live_marks import live_run, ringed_ids
    from tests.bench.bench_piano import excerpt, reference, score_of

    shared("real-audio", "maps-dev")
    piece = "MAPS_MUS-deb_menu_ENSTDkCl"
    audio, rate = excerpt(piece, 12.0)
    rows = reference(piece, 12.0).copy()
    (changed,) = np.flatnonzero((np.abs(rows[:, 0] - 5.045) < 0.01) & (rows[:, 2] == 69))
    rows[changed, 2] = 67
    with tempfile.TemporaryDirectory() as folder:
        score = score_of(rows, Path(folder))
    (written,) = [n.id for n in score.notes if n.pitch == 67 and abs(n.onset_s - rows[changed, 0]) < 0.02]
    audio16 = librosa.resample(audio, orig_sr=rate, target_sr=piano_live.SAMPLE_RATE)
    monkeypatch.setattr(piano_live, "SPECTRUM", True)
    ringed, at_strike = {}, {}
    for margin in (2.0, 0.0):  # 2.0: no P passes it, the rule is off
        monkeypatch.setattr(piano_live, "NEIGHBOUR_MARGIN", margin)
        marks = live_run(audio16, score)[1]
        ringed[margin] = ringed_ids(marks)
        at_strike[margin] = [e.time for _, e in marks.get(written, [])
                             if e.type == "correct" and abs(e.time - rows[changed, 0]) < 0.1]
    assert at_strike[2.0] and not at_strike[0.0], at_strike
    others = ringed[2.0] - {written}
    assert len(ringed[0.0] & others) >= len(others) - 2, (len(others), len(ringed[0.0] & others))
