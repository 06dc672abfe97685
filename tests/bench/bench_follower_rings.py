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
round). ``no_pair_at_once``: a heard note that fits none of the chords ahead not rung at once where its verdict
will pair it (``tutor.practice.follower.PAIR_AT_ONCE`` off; as before issue 20's night round).

``TUTOR_BENCH_RINGS_PART=causes``: where the late rings come from (``ring_causes``), on the first
``TUTOR_BENCH_RINGS_S`` s of each piece of ``TUTOR_BENCH_PIANO_SPLIT`` (default dev): the rings more than
``TUTOR_BENCH_RINGS_LATE_MS`` (300) after the strike counted by the follower's methods that told them, by event
type and by where the shadow follower was; a histogram of strike -> ring.

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


CAUSE_METHODS = ("_provisional_mark", "_path_marks", "_commit", "_relocate", "_flush_loose", "_missed_or_paired",
                 "poll", "finish", "hear")


def ring_causes(audio16: np.ndarray, ref: np.ndarray, score) -> list[dict]:
    """Each ring matched to a true strike (as ``_run`` counts them), with where it came from: ``cause`` names the
    follower's methods that produced its event, outermost first (``feed.ring``: the at-once ring through ``ring``;
    ``feed>_commit``: a verdict told by a later note's feed; ``hear>_relocate>_commit``: a verdict told when the
    follower moved to where the shadow is; ``feed>_path_marks``...), ``detect_ms`` (strike -> the hop the note was
    heard) and ``wait_ms`` (heard -> rung), the event's type, and where the shadow follower was when the note
    was fed: ``shadow_dist`` (its chord minus the follower's) and ``shadow_has`` (a free score note of the pitch
    on the shadow's chord or the next two)."""
    from tests.bench.bench_live_marks import detector_hops
    from tutor.listen.piano_live import SAMPLE_RATE
    from tutor.practice.follower import ScoreFollower

    follower = ScoreFollower(score, mode="play-along", level="advanced")
    stack: list[str] = []
    tags: dict[int, tuple[str, ...]] = {}
    kept: list = []  # (the events tagged, kept alive so that their ids stay theirs)

    def wrap(name):
        method = getattr(follower, name)

        def wrapped(*args, **kwargs):
            stack.append(name)
            try:
                events = method(*args, **kwargs)
                for event in events:
                    tags.setdefault(id(event), tuple(stack))
                    kept.append(event)
                return events
            finally:
                stack.pop()

        setattr(follower, name, wrapped)

    for name in CAUSE_METHODS:
        wrap(name)
    rings: dict[str, tuple[float, object, tuple[str, ...]]] = {}
    heard_at: dict[tuple[float, int], float] = {}
    shadow_at: dict[tuple[float, int], tuple[int | None, bool]] = {}

    told_for: dict[tuple[float, int], list[tuple[float, str]]] = {}  # played note -> (when, score note) rung

    def take(events, now_s, outer):
        for event in events:
            if event.note_id is None or event.type == "missed" or event.time is None:
                continue
            rings.setdefault(event.note_id, (now_s, event, (outer,) + tags.get(id(event), ())))
            told_for.setdefault((event.time, event.played_pitch), []).append((now_s, event.note_id))

    polled = 0.0
    for heard, moved, now_s in detector_hops(audio16, follower):
        take(moved, now_s, "hear")
        for onset_s, midi in heard:
            heard_at[(onset_s, midi)] = now_s
            shadow = follower._shadow
            if shadow is not None and shadow.chord >= 0:
                c = shadow.chord
                has = any(follower.notes[i].pitch == midi for k in range(c, min(c + 3, follower.n_chords))
                          for i in follower.chord_notes[k])
                shadow_at[(onset_s, midi)] = (c - follower.chord, has)
            stack.append("feed")
            try:
                told = follower.feed_onset(onset_s=onset_s, pitch=midi,
                                           ring=lambda ev, now_s=now_s: take(ev, now_s, "feed.ring"))
            finally:
                stack.pop()
            take(told, now_s, "feed")
        if now_s - polled >= POLL_EVERY_S:
            polled = now_s
            take(follower.poll(time_s=now_s), now_s, "tick")
    take(follower.finish(), len(audio16) / SAMPLE_RATE, "end")
    out = []
    by_id = {n.id: n for n in score.notes}
    for note_id, (now_s, event, cause) in rings.items():
        near = np.flatnonzero((ref[:, 2] == event.played_pitch) & (np.abs(ref[:, 0] - event.time) < 0.3))
        if not len(near):
            continue
        strike = float(ref[near[np.argmin(np.abs(ref[near, 0] - event.time))], 0])
        key = (event.time, event.played_pitch)
        heard = heard_at.get(key, now_s)
        dist, has = shadow_at.get(key, (None, False))
        out.append({"note_id": note_id, "type": event.type, "cause": _path_of(cause),
                    "latency_ms": (now_s - strike) * 1000, "detect_ms": (heard - strike) * 1000,
                    "wait_ms": (now_s - heard) * 1000, "shadow_dist": dist, "shadow_has": has,
                    "score_note_off_ms": (by_id[note_id].onset_s - strike) * 1000 if note_id in by_id else None,
                    "rung_elsewhere_first": any(t < now_s and other != note_id for t, other in told_for.get(key, [])),
                    "first_ring_off_ms": next(((by_id[other].onset_s - strike) * 1000 for t, other in told_for.get(key, [])
                                               if t < now_s and other != note_id and other in by_id), None)})
    return out


def _path_of(names: tuple[str, ...]) -> str:
    """The call path as one string, a name repeated in a row once (``feed``, ``feed``, ``_commit``: feed>_commit)."""
    return ">".join(n for k, n in enumerate(names) if not k or names[k - 1].split(".")[0] != n)


def causes() -> None:
    """``TUTOR_BENCH_RINGS_PART=causes``: where the late rings come from, on the pieces of
    ``TUTOR_BENCH_PIANO_SPLIT`` (default dev), the first ``TUTOR_BENCH_RINGS_S`` s of each: the rings over
    ``TUTOR_BENCH_RINGS_LATE_MS`` (default 300) counted by cause, event type, and where the shadow follower was."""
    import collections

    from tests.bench._results import save
    from tests.bench.bench_piano import DATA, pieces

    split = os.environ.get("TUTOR_BENCH_PIANO_SPLIT", "dev")
    late_ms = float(os.environ.get("TUTOR_BENCH_RINGS_LATE_MS", "300"))
    every: list[dict] = []
    for name in pieces(split):
        audio16, ref, score = take_and_score(DATA, name)
        rows = ring_causes(audio16, ref, score)
        lat = np.array([r["latency_ms"] for r in rows])
        print(f"{name[9:]:24s} rings {len(rows)} median {np.median(lat):.0f} p95 {np.percentile(lat, 95):.0f} ms, "
              f"over {late_ms:.0f} ms {int((lat > late_ms).sum())}", flush=True)
        every += [r | {"piece": name} for r in rows]
    lat = np.array([r["latency_ms"] for r in every])
    late = [r for r in every if r["latency_ms"] > late_ms]
    summary = {"split": split, "take_s": TAKE_S, "rings": len(every), "median_ms": float(np.median(lat)),
               "p95_ms": float(np.percentile(lat, 95)), "late": len(late), "late_ms": late_ms}
    print(f"\n{split}: {len(every)} rings, median {summary['median_ms']:.0f} p95 {summary['p95_ms']:.0f} ms, "
          f"{len(late)} over {late_ms:.0f} ms")
    for key in ("cause", "type"):
        counted = collections.Counter(r[key] for r in late)
        summary["late_by_" + key] = dict(counted.most_common())
        print(f"late rings by {key}: " + ", ".join(f"{k} {v}" for k, v in counted.most_common()))
    detect_late = sum(r["detect_ms"] > late_ms for r in late)
    shadow = collections.Counter("no shadow" if r["shadow_dist"] is None else
                                 f"shadow {'far' if abs(r['shadow_dist']) >= 3 else 'near'}"
                                 f"{' (has it)' if r['shadow_has'] else ''}" for r in late)
    summary |= {"late_heard_late": detect_late, "late_by_shadow": dict(shadow)}
    print(f"late rings heard late by the detector (strike -> heard over {late_ms:.0f} ms): {detect_late}; "
          "where the shadow was: " + ", ".join(f"{k} {v}" for k, v in shadow.most_common()))
    bins = [0, 100, 150, 200, 300, 400, 600, 1000, 2000, np.inf]
    hist = np.histogram(lat, bins=bins)[0]
    summary["histogram_ms"] = {f"{a}-{b}": int(n) for a, b, n in zip(bins, bins[1:], hist, strict=False)}
    print("histogram: " + ", ".join(f"{k}: {v}" for k, v in summary["histogram_ms"].items()))
    summary["late_rows"] = late
    save(f"follower_rings_causes_{split}", summary)


def take_and_score(root: Path, name: str):
    """The first TAKE_S of maps-dev recording ``name`` at the live detector's rate, its reference rows (onset,
    offset, pitch, velocity) and the score written from them on a sixteenth grid at 60 bpm."""
    import librosa
    import soundfile

    from tests.test_piano import score_midi
    from tutor.listen.piano_live import SAMPLE_RATE
    from tutor.score.io import load_score

    audio, rate = soundfile.read(str(root / "flac" / f"{name}.flac"), dtype="float32", always_2d=True)
    audio16 = librosa.resample(audio.mean(axis=1)[: int(TAKE_S * rate)], orig_sr=rate, target_sr=SAMPLE_RATE)
    ref = np.loadtxt(root / "tsv" / f"{name}.tsv", skiprows=1, ndmin=2)
    ref = ref[ref[:, 0] < TAKE_S - 0.05]
    grid = np.array(ref)
    grid[:, 0] = np.round(grid[:, 0] / 0.0625) * 0.0625
    grid[:, 1] = np.maximum(np.round(grid[:, 1] / 0.0625) * 0.0625, grid[:, 0] + 0.0625)
    with tempfile.TemporaryDirectory() as tmp:
        score = load_score(str(score_midi(grid, Path(tmp) / "piece.mid")))
    return audio16, ref, score


def main() -> None:
    if os.environ.get("TUTOR_BENCH_RINGS_PART") == "causes":
        causes()
        return

    from tests.bench._results import save
    from tests.conftest import shared
    from tutor.practice.follower import PROVISIONAL_AHEAD

    audio, ref, score = take_and_score(shared("real-audio", "maps-dev"), PIECE)
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
    # the peer for the pairs rung at once (issue 20, night): a note left for its verdict to pair, rung with it
    follower_module.PAIR_AT_ONCE = False
    try:
        results["no_pair_at_once"] = (_run(audio, ref, score, PROVISIONAL_AHEAD)
                                      | _disagreements(audio, score, PROVISIONAL_AHEAD))
    finally:
        follower_module.PAIR_AT_ONCE = True
    print(f"no_pair_at_once (peer): {results['no_pair_at_once']}", flush=True)
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
