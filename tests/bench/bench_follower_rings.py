"""Live piano rings without the app (issue 20): the live detector (``PianoOnsets``, listening for what the
score follower expects) and the follower fed hop by hop in audio time, no threads, no UI. For each
ring (the first event on a score note, as the app paints it): the audio time when the event was told
minus the true strike of the reference note it marks (same pitch, struck within 0.3 s). This is the
detector + follower share of the app's strike -> ring latency (``bench_app_latency``), without load.

The peers in the same run: the follower ringing at once only notes of the cursor's chord
(``PROVISIONAL_AHEAD = 0``, as before); ``no_path_marks``: a note held back not rung again where the path
puts it (``PATH_MARKS = False``, as before). ``ring_events_contradicted``: rings told before the verdict
(at once or again) on a score note the verdict did not give that played note. ``feed_to_ring_ms``: the wall time from the feed's call to its
at-once ring, told through ``ring`` before the verdicts are worked out (as the app does); its peer,
``ring_with_verdicts``, tells the ring with the feed's return, after them (as before). Also counted: provisional rings whose verdict, notes later,
put the played note on another score note or none (a ring told too soon).

``no_free``: the detector listening only for what the follower expects, nothing score-free, so the follower is
never told where it is when lost (``tutor.listen.piano_live.FREE_LISTEN`` off; as before issue 20's evening
round).

Data: maps-dev (held-out piece ``TUTOR_BENCH_RINGS_PIECE``, default mz_545_3, as the app bench; first
``TUTOR_BENCH_RINGS_S`` = 60 s), the score the reference on a 1/32 grid at 120 bpm.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

PIECE = os.environ.get("TUTOR_BENCH_RINGS_PIECE", "MAPS_MUS-mz_545_3_ENSTDkCl")
TAKE_S = float(os.environ.get("TUTOR_BENCH_RINGS_S", "60"))
POLL_EVERY_S = 0.05  # as the app (``ui.practice.PianoLive``)


def _run(audio: np.ndarray, ref: np.ndarray, score, ahead: int, *, ring: bool = True) -> dict:
    import tutor.practice.follower as follower_module
    from tests.bench.bench_live_marks import detector_hops
    from tutor.listen.piano_live import SAMPLE_RATE

    saved = follower_module.PROVISIONAL_AHEAD
    follower_module.PROVISIONAL_AHEAD = ahead
    waits_ms: list[float] = []  # wall time from the feed's call to its at-once ring (processing, not audio)
    try:
        follower = follower_module.ScoreFollower(score, mode="play-along", level="advanced")
        rings: dict[str, tuple[float, object]] = {}

        def take(events, now_s):
            for event in events:
                if event.note_id is None or event.type == "missed" or event.time is None:
                    continue
                rings.setdefault(event.note_id, (now_s, event))

        polled = 0.0
        for heard, moved, now_s in detector_hops(audio, follower):
            take(moved, now_s)
            for onset_s, midi in heard:
                called = time.perf_counter()

                def early(events, now_s=now_s, called=called):
                    waits_ms.append((time.perf_counter() - called) * 1000)
                    take(events, now_s)

                told = follower.feed_onset(onset_s=onset_s, pitch=midi, ring=early if ring else None)
                if not ring and any(e.type == "correct" and e.time == onset_s for e in told):
                    waits_ms.append((time.perf_counter() - called) * 1000)  # told with the feed's return
                take(told, now_s)
            if now_s - polled >= POLL_EVERY_S:
                polled = now_s
                take(follower.poll(time_s=now_s), now_s)
        take(follower.finish(), len(audio) / SAMPLE_RATE)
    finally:
        follower_module.PROVISIONAL_AHEAD = saved
    latencies = []
    for now_s, event in rings.values():
        near = [i for i, row in enumerate(ref) if int(row[2]) == event.played_pitch and abs(row[0] - event.time) < 0.3]
        if near:
            i = min(near, key=lambda k: abs(ref[k, 0] - event.time))
            latencies.append((now_s - ref[i, 0]) * 1000)
    latencies.sort()
    return {"rings": len(latencies), "median_ms": statistics.median(latencies),
            "p95_ms": float(np.percentile(latencies, 95)),
            "over_150_ms": sum(v > 150 for v in latencies), "over_300_ms": sum(v > 300 for v in latencies),
            "feed_to_ring_ms_median": statistics.median(waits_ms) if waits_ms else float("nan"),
            "feed_to_ring_ms_p95": float(np.percentile(waits_ms, 95)) if waits_ms else float("nan"),
            "feed_to_ring_ms_max": max(waits_ms, default=float("nan"))}


def _disagreements(audio, score, ahead: int) -> dict:
    """Provisional rings (told at once) and how many of them the verdict put on another score note or none."""
    import tutor.practice.follower as follower_module
    from tests.bench.bench_live_marks import detector_hops

    saved = follower_module.PROVISIONAL_AHEAD
    follower_module.PROVISIONAL_AHEAD = ahead
    counts = {"provisional": 0, "verdict_differs": 0}
    original = follower_module.ScoreFollower._judge_on_path

    def judge_on_path(self, chord, kind, note):
        told = self._provisional.get(note)
        events = original(self, chord, kind, note)
        if told is not None:
            counts["provisional"] += 1
            counts["verdict_differs"] += self._given.get(note) != told
        return events

    follower_module.ScoreFollower._judge_on_path = judge_on_path
    try:
        follower = follower_module.ScoreFollower(score, mode="play-along", level="advanced")
        # every ring told before the verdict (at once, or again where the path puts a note held back)
        told: list[tuple[object, str]] = []
        for name in ("_provisional_mark", "_path_marks"):
            method = getattr(follower, name)

            def wrapped(*args, _method=method, **kwargs):
                events = _method(*args, **kwargs)
                told.extend((follower._heard_by.get((e.time, e.played_pitch)), e.note_id) for e in events)
                return events

            setattr(follower, name, wrapped)
        follower._heard_by = {}
        for heard, _moved, _now_s in detector_hops(audio, follower):
            for onset_s, midi in heard:
                note = follower_module.PlayedNote(pitch=int(midi), onset_s=onset_s, offset_s=onset_s)
                follower._heard_by[(onset_s, int(midi))] = note
                follower.feed(note)
        follower.finish()
        given = {note: follower.notes[index].id for note, index in follower._given.items()}
        counts["ring_events"] = len(told)
        counts["ring_events_contradicted"] = sum(given.get(note) != note_id for note, note_id in told)
    finally:
        follower_module.ScoreFollower._judge_on_path = original
        follower_module.PROVISIONAL_AHEAD = saved
    return counts


def main() -> None:
    import librosa
    import soundfile

    from tests.bench._results import save
    from tests.conftest import shared
    from tests.test_piano import score_midi
    from tutor.listen.piano_live import SAMPLE_RATE
    from tutor.practice.follower import PROVISIONAL_AHEAD
    from tutor.score.io import load_score

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / f"{PIECE}.flac"), dtype="float32", always_2d=True)
    audio = librosa.resample(audio.mean(axis=1)[: int(TAKE_S * rate)], orig_sr=rate, target_sr=SAMPLE_RATE)
    ref = np.loadtxt(root / "tsv" / f"{PIECE}.tsv", skiprows=1, ndmin=2)
    ref = ref[ref[:, 0] < TAKE_S - 0.05]
    grid = np.array(ref)
    grid[:, 0] = np.round(grid[:, 0] / 0.0625) * 0.0625
    grid[:, 1] = np.maximum(np.round(grid[:, 1] / 0.0625) * 0.0625, grid[:, 0] + 0.0625)
    with tempfile.TemporaryDirectory() as tmp:
        score = load_score(str(score_midi(grid, Path(tmp) / "piece.mid")))
    results: dict = {"piece": PIECE, "take_s": TAKE_S, "notes": len(ref)}
    for name, ahead in (("shipped", PROVISIONAL_AHEAD), ("cursor_chord_only", 0)):
        results[name] = _run(audio, ref, score, ahead) | _disagreements(audio, score, ahead)
        print(f"{name} (PROVISIONAL_AHEAD={ahead}): {results[name]}", flush=True)
    # the peer for the rings of notes held back (``PATH_MARKS``): rung only at once or with the verdict
    import tutor.practice.follower as follower_module

    follower_module.PATH_MARKS = False
    try:
        results["no_path_marks"] = _run(audio, ref, score, PROVISIONAL_AHEAD) | _disagreements(audio, score, PROVISIONAL_AHEAD)
    finally:
        follower_module.PATH_MARKS = True
    print(f"no_path_marks (peer): {results['no_path_marks']}", flush=True)
    # the peer for the follower finding its place (issue 20, evening): no score-free listening, as before
    import tutor.listen.piano_live as piano_live

    piano_live.FREE_LISTEN = False
    try:
        results["no_free"] = _run(audio, ref, score, PROVISIONAL_AHEAD) | _disagreements(audio, score, PROVISIONAL_AHEAD)
    finally:
        piano_live.FREE_LISTEN = True
    print(f"no_free (peer: nothing heard score-free, the follower never moved to where it is): {results['no_free']}",
          flush=True)
    # the peer for the ring's processing wait: the ring told with the feed's return, after the verdicts
    results["ring_with_verdicts"] = _run(audio, ref, score, PROVISIONAL_AHEAD, ring=False)
    print(f"ring_with_verdicts (as before, peer): {results['ring_with_verdicts']}", flush=True)
    save("follower_rings", results)


if __name__ == "__main__":
    main()
