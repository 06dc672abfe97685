"""Live piano marks agree with what was played (issue 20): on a real maps-dev recording, the live detector
driven by the score follower (as in the app) hears the pitches that were struck, not every pitch it listens
for, and a score note changed by a tone (the student "plays a wrong note") is rarely ringed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tests.conftest import shared

PIECE = "MAPS_MUS-mz_311_1_ENSTDkCl"  # dev split (even index)


def test_a_score_note_changed_by_a_tone_is_rarely_ringed():
    import librosa

    from tests.bench.bench_live_marks import live_run, onset_scores, wrong_score_rows
    from tests.bench.bench_piano import excerpt, reference, score_of
    from tutor.listen.piano_live import SAMPLE_RATE

    shared("real-audio", "maps-dev")
    audio, rate = excerpt(PIECE, 30.0)
    ref = reference(PIECE, 30.0)
    audio16 = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    rows, changed = wrong_score_rows(ref, np.random.default_rng(20), 0.1)
    with tempfile.TemporaryDirectory() as folder:
        score = score_of(rows, Path(folder))
    changed_ids = {n.id for n in score.notes for i in changed
                   if abs(n.onset_s - rows[i, 0]) < 0.02 and n.pitch == int(rows[i, 2])}
    assert len(changed_ids) >= 25
    onsets, marks = live_run(audio16, score)
    ringed = {note_id for note_id, told in marks.items() if any(e.type == "correct" for _, e in told)}
    # before the pitch-peak test 30 of 34 changed notes were ringed (the detector fired at every expected pitch)
    assert len(ringed & changed_ids) <= 0.5 * len(changed_ids), (len(ringed & changed_ids), len(changed_ids))
    # the notes as written (the other 90%) are still ringed often
    assert len(ringed - changed_ids) >= 0.4 * (len(score.notes) - len(changed_ids))
    counts = onset_scores(onsets, ref)
    # the detector's onsets are real strikes of that pitch (0.22 of them on dev before, within 0.1 s)
    assert counts["hits_0.1"] >= 0.45 * counts["onsets"], counts

