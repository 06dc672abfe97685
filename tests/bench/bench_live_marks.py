"""Live piano marks against the truth and the review (issue 20: "as long as its marks agree with the review").

For each maps-dev piece (split as ``bench_piano``: the 12 pieces sorted by name, even ones = dev; first
``TUTOR_BENCH_PIANO_S`` = 30 s), the live detector (``tutor.listen.piano_live.PianoOnsets``) and the score
follower run hop by hop in audio time, the detector listening for what the follower expects (the real loop,
no app, no threads). The score is the MAPS reference as a MIDI file (``bench_piano.score_of``). Measured:

- *detector onsets* against the real strikes (MAPS ground truth): P / R with 0.1 s (as ``bench_piano``'s live
  part) and the share within 0.15 s of a strike of that pitch;
- *rings* (a ``correct`` mark on a score note, as the app paints it) against *the review* (the shipped
  transcription's ``assess`` verdicts, cached by ``bench_piano.cached_transcription``): a ring on a note the
  review calls right agrees, one on a note it calls missed or wrong is a false ring; ``ringed_at_end``: the
  note's last live mark is still ``correct``; the review's right notes that were ringed (recall);
- *wrong notes*: the score altered (``WRONG_SHARE`` of its notes a tone up or down, spaced 0.6 s apart, as
  ``bench_piano.altered_reference``'s wrong notes), the same audio: an altered score note ringed is a false
  ring on a wrong note (the student played the written pitch, the score now asks for another);
- *in place*: a ring heard within ``IN_PLACE_S`` of when the note it rings was really played (the score is the
  recording's own MIDI, so each score note has the time it was struck): a ring elsewhere lights the right pitch in
  the wrong bar (a follower that has lost its place); with a MIDI keyboard every ring is in place;
- *latency*: audio time from the true strike to the ring (rings of a played note within 0.3 s of a true strike
  of its pitch), median / p95.

Rerun: ``nice -n 10 .venv/bin/python -m tests.bench live_marks`` (``TUTOR_BENCH_PIANO_SPLIT=dev|held-out``;
``TUTOR_BENCH_LIVE_FREE=0``: the peer with no score-free listening, as before issue 20's evening round;
``TUTOR_BENCH_LIVE_SEGMENTS=4``: 60 s segments of each piece, no review; ``TUTOR_BENCH_LIVE_STRIKE_S=0``: the
peer that reads the follower's expectation anew within a strike; ``TUTOR_BENCH_LIVE_LEARNED=0``: the peer with the
hand-made strike tests instead of the learned strike model; ``TUTOR_BENCH_LIVE_SPECTRUM=1``: the peer with the
model that hears the whole spectrum instead of the 47-feature strike trees (``=0``: the trees, as shipped); ``TUTOR_BENCH_LIVE_SPECTRUM_WEIGHTS=PATH``:
another model of that kind; ``TUTOR_BENCH_LIVE_STRIKE_P`` /
``..._FREE_STRIKE_P``: its thresholds; ``TUTOR_BENCH_LIVE_NEIGHBOUR_MARGIN=M|off``, ``..._NEIGHBOUR_S=S``: the
network's written-neighbour rule; ``TUTOR_BENCH_LIVE_TRUTH=1``: the follower fed the truth's strikes, a perfect
detector).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

WRONG_SHARE = float(os.environ.get("TUTOR_BENCH_LIVE_WRONG_SHARE", "0.1"))
# the peer of issue 20's evening round: no score-free listening (``tutor.listen.piano_live.FREE_LISTEN`` off), so the
# follower is never told where the student is when it has lost its place
FREE = os.environ.get("TUTOR_BENCH_LIVE_FREE", "1") != "0"
# 60 s segments of each piece (up to this many, from 0, 60, 120... s; no review: rings from a real strike and
# changed score notes ringed only), as well as the first 30 s: more music, so less luck in where the follower
# loses its place
# the peer before issue 20's "rings in place" round: the expectation read anew every hop, within a strike too
# (``tutor.listen.piano_live.STRIKE_S`` = 0)
STRIKE_S = os.environ.get("TUTOR_BENCH_LIVE_STRIKE_S")
SEGMENTS = int(os.environ.get("TUTOR_BENCH_LIVE_SEGMENTS", "0"))
# the peer before issue 20's learned strikes: the hand-made rise and peak tests (``tutor.listen.piano_live.LEARNED``
# off); the thresholds of the learned one can be set here to choose them on dev
LEARNED = os.environ.get("TUTOR_BENCH_LIVE_LEARNED", "1") != "0"
STRIKE_P = os.environ.get("TUTOR_BENCH_LIVE_STRIKE_P")
# the tenth session's peer: "1" the model that hears the whole spectrum judges the strikes, "0" the 47-feature trees
# (``tutor.listen.piano_live.SPECTRUM``; unset: as shipped, the trees)
SPECTRUM = os.environ.get("TUTOR_BENCH_LIVE_SPECTRUM")
# another model of that kind (a weights file made by ``train_piano_strikes --spectrum ... --out PATH``)
SPECTRUM_WEIGHTS = os.environ.get("TUTOR_BENCH_LIVE_SPECTRUM_WEIGHTS")
FREE_STRIKE_P = os.environ.get("TUTOR_BENCH_LIVE_FREE_STRIKE_P")
# the network's written-neighbour rule (``tutor.listen.piano_live.NEIGHBOUR_MARGIN``, ``NEIGHBOUR_S``): a margin
# of "off" turns it off (a margin no P can pass)
NEIGHBOUR_MARGIN = os.environ.get("TUTOR_BENCH_LIVE_NEIGHBOUR_MARGIN")
NEIGHBOUR_S = os.environ.get("TUTOR_BENCH_LIVE_NEIGHBOUR_S")
# a perfect detector: the follower fed the recording's own strikes (``truth_run``), each 50 ms after it, the expected
# pitches as onsets and the others heard score-free: what the follower rings with nothing lost or invented in the sound
TRUTH = os.environ.get("TUTOR_BENCH_LIVE_TRUTH", "0") != "0"
# the live thread's cost: each hop's ``PianoOnsets.push`` timed on a 60 s take (the first dev piece long enough),
# driven by the follower, with the 47-feature trees and with the model that hears the whole spectrum
HOP_TIMES = os.environ.get("TUTOR_BENCH_LIVE_HOP_TIMES", "0") != "0"
SEED = 20
POLL_EVERY_S = 0.05
IN_PLACE_S = 0.3


def wrong_score_rows(ref: np.ndarray, rng: np.random.Generator, share: float = WRONG_SHARE):
    """(rows, indices of the changed notes): ``share`` of the notes a tone up or down, 0.6 s apart."""
    count = max(1, round(share * len(ref)))
    chosen: list[int] = []
    for index in rng.permutation(len(ref)):
        if all(abs(ref[index, 0] - ref[j, 0]) > 0.6 for j in chosen):
            chosen.append(int(index))
        if len(chosen) == count:
            break
    rows = ref.copy()
    sounding = {(round(r[0], 2), int(r[2])) for r in ref}
    for index in chosen:
        step = 2 if rng.random() < 0.5 else -2
        while (round(rows[index, 0], 2), int(rows[index, 2] + step)) in sounding:
            step += 1 if step > 0 else -1
        rows[index, 2] += step
    return rows, chosen


def detector_hops(audio16: np.ndarray, follower):
    """The live detector driven by ``follower`` as the app drives it, one hop of ``audio16`` at a time: yields
    (the expected pitches' onsets heard, the events the score-free onsets brought the follower, the time heard up
    to); the caller feeds the onsets before the next hop is analysed."""
    from tutor.listen.piano_live import (
        HOP,
        SAMPLE_RATE,
        PianoOnsets,
        follower_expectation,
        follower_range,
    )

    detector = PianoOnsets(SAMPLE_RATE)
    free = follower_range(follower)
    for start in range(0, len(audio16), HOP):
        heard = detector.push(audio16[start:start + HOP], lambda: follower_expectation(follower), free)
        moved = [event for onset_s, midi in detector.free_found for event in follower.hear(onset_s=onset_s, pitch=midi)]
        yield heard, moved, (detector.consumed + len(detector.buffer)) / SAMPLE_RATE


def marking_follower(score):
    """(a play-along follower of ``score`` at the advanced level, note_id -> [(told_s, event)], ``take(events,
    now_s)`` that records the events' marks there): what ``live_run`` and ``truth_run`` drive."""
    from tutor.practice.follower import ScoreFollower

    follower = ScoreFollower(score, mode="play-along", level="advanced")
    marks: dict[str, list] = {}

    def take(events, now_s):
        for event in events:
            if event.note_id is not None and event.type in ("correct", "wrong_pitch", "missed"):
                marks.setdefault(event.note_id, []).append((now_s, event))

    return follower, marks, take


def changed_note_ids(score, rows: np.ndarray, changed) -> set[str]:
    """The ids of ``score``'s notes made from the rows ``changed`` of ``rows`` (``wrong_score_rows``' changed notes)."""
    return {n.id for n in score.notes for i in changed
            if abs(n.onset_s - rows[i, 0]) < 0.02 and n.pitch == int(rows[i, 2])}


def ringed_ids(marks: dict) -> set[str]:
    """The score notes ``marks`` (``live_run``'s) rang ``correct`` at least once."""
    return {note_id for note_id, told in marks.items() if any(e.type == "correct" for _, e in told)}


def live_run(audio16: np.ndarray, score) -> tuple[list, dict]:
    """(detector onsets, note_id -> [(told_s, event)], all events) of the detector + follower loop."""
    from tutor.listen.piano_live import SAMPLE_RATE

    follower, marks, take = marking_follower(score)
    onsets: list[tuple[float, int]] = []

    polled = 0.0
    for heard, moved, now_s in detector_hops(audio16, follower):
        take(moved, now_s)
        for onset_s, midi in heard:
            onsets.append((onset_s, midi))
            take(follower.feed_onset(onset_s=onset_s, pitch=midi, ring=lambda ev, now_s=now_s: take(ev, now_s)), now_s)
        if now_s - polled >= POLL_EVERY_S:
            polled = now_s
            take(follower.poll(time_s=now_s), now_s)
    take(follower.finish(), len(audio16) / SAMPLE_RATE)
    return onsets, marks


def truth_run(ref: np.ndarray, score, heard_after_s: float = 0.05) -> tuple[list, dict]:
    """As ``live_run``, but the detector is the truth: every strike of ``ref`` heard ``heard_after_s`` after it, given
    to the follower as an onset when its pitch is expected (``follower_expectation``), else heard score-free."""
    from tutor.listen.piano_live import HOP, SAMPLE_RATE, follower_expectation

    follower, marks, take = marking_follower(score)
    onsets: list[tuple[float, int]] = []

    order = np.argsort(ref[:, 0], kind="stable")
    end_s = float(ref[:, 1].max()) + 1.0 if len(ref) else 0.0
    polled, i, hop_s = 0.0, 0, HOP / SAMPLE_RATE
    for k in range(int(end_s / hop_s)):
        now_s = k * hop_s
        expected = follower_expectation(follower)
        while i < len(order) and ref[order[i], 0] + heard_after_s <= now_s:
            onset_s, pitch = float(ref[order[i], 0]), int(ref[order[i], 2])
            i += 1
            if pitch in expected:
                onsets.append((onset_s, pitch))
                take(follower.feed_onset(onset_s=onset_s, pitch=pitch, ring=lambda ev, now_s=now_s: take(ev, now_s)), now_s)
            else:
                take(follower.hear(onset_s=onset_s, pitch=pitch), now_s)
        if now_s - polled >= POLL_EVERY_S:
            polled = now_s
            take(follower.poll(time_s=now_s), now_s)
    take(follower.finish(), end_s)
    return onsets, marks


def review_verdicts(score, performance) -> dict[str, str]:
    """note_id -> "right" | "wrong" | "missed" from the offline assessment of the shipped transcription."""
    from tutor.practice.assessment import assess

    verdicts: dict[str, str] = {}
    for event in assess(score, performance).events:
        if event.note_id is None:
            continue
        if event.type == "wrong_pitch":
            verdicts[event.note_id] = "wrong"
        elif event.type == "missed":
            verdicts[event.note_id] = "missed"
        elif event.type == "correct":
            verdicts.setdefault(event.note_id, "right")
    return verdicts


def onset_scores(onsets, ref) -> dict:
    used = np.zeros(len(ref), bool)
    hits = near = 0
    for onset_s, pitch in onsets:
        same = ref[:, 2] == pitch
        if np.any(same & (np.abs(ref[:, 0] - onset_s) < 0.15)):
            near += 1
        match = np.flatnonzero(~used & same & (np.abs(ref[:, 0] - onset_s) < 0.1))
        if len(match):
            used[match[0]] = True
            hits += 1
    return {"onsets": len(onsets), "hits_0.1": hits, "near_0.15": near, "strikes": len(ref)}


def ring_scores(marks, verdicts, ref, by_id, changed_ids=()) -> dict:
    counts = {"rings": 0, "agree": 0, "false_missed": 0, "false_wrong": 0, "unjudged": 0, "ringed_at_end": 0,
              "false_at_end": 0, "review_right": sum(v == "right" for v in verdicts.values()), "right_ringed": 0,
              "from_strike": 0, "changed": len(changed_ids), "changed_ringed": 0, "changed_ringed_at_end": 0,
              "changed_ringed_struck": 0, "in_place": 0, "astray_1s": 0}
    latencies: list[float] = []
    for note_id, told in marks.items():
        rings = [(t, e) for t, e in told if e.type == "correct"]
        if not rings:
            continue
        counts["rings"] += 1
        verdict = verdicts.get(note_id)
        at_end = told[-1][1].type == "correct"
        counts["ringed_at_end"] += at_end
        played = rings[0][1]
        struck = bool(np.any((ref[:, 2] == played.played_pitch) & (np.abs(ref[:, 0] - played.time) < 0.15)))
        if note_id in changed_ids:
            counts["changed_ringed"] += 1
            counts["changed_ringed_at_end"] += at_end
            counts["changed_ringed_struck"] += struck  # the changed pitch was in fact struck near (a neighbour's note)
        if verdict == "right":
            counts["agree"] += 1
            counts["right_ringed"] += 1
        elif verdict in ("missed", "wrong"):
            counts["false_" + verdict] += 1
            counts["false_at_end"] += at_end
        else:
            counts["unjudged"] += 1
        told_s, event = rings[0]
        if by_id is not None and event.time is not None:
            off_s = abs(event.time - by_id[note_id].onset_s)
            counts["in_place"] += off_s < IN_PLACE_S
            counts["astray_1s"] += off_s >= 1.0
        strikes = np.flatnonzero((ref[:, 2] == event.played_pitch) & (np.abs(ref[:, 0] - event.time) < 0.3))
        if len(strikes):
            counts["from_strike"] += 1
            i = strikes[np.argmin(np.abs(ref[strikes, 0] - event.time))]
            latencies.append((told_s - ref[i, 0]) * 1000)
    return counts, latencies


def main() -> None:
    import librosa

    import tutor.listen.piano_live as piano_live
    from tests.bench._results import save
    from tests.bench.bench_piano import cached_transcription, excerpt, pieces, reference, score_of
    from tutor.listen.piano_live import SAMPLE_RATE

    piano_live.FREE_LISTEN = FREE
    piano_live.LEARNED = LEARNED
    if SPECTRUM is not None:
        piano_live.SPECTRUM = SPECTRUM != "0"
    if SPECTRUM_WEIGHTS:
        from tutor.models.piano_strikes import load_spectrum_model

        piano_live._spectrum_model = lambda: load_spectrum_model(Path(SPECTRUM_WEIGHTS))
    if STRIKE_S is not None:
        piano_live.STRIKE_S = float(STRIKE_S)
    if STRIKE_P is not None:
        piano_live.STRIKE_P = float(STRIKE_P)
    if FREE_STRIKE_P is not None:
        piano_live.FREE_STRIKE_P = float(FREE_STRIKE_P)
    if NEIGHBOUR_MARGIN is not None:
        piano_live.NEIGHBOUR_MARGIN = 2.0 if NEIGHBOUR_MARGIN == "off" else float(NEIGHBOUR_MARGIN)
    if NEIGHBOUR_S is not None:
        piano_live.NEIGHBOUR_S = float(NEIGHBOUR_S)
    if HOP_TIMES:
        hop_times()
        return
    if SEGMENTS:
        segments(SEGMENTS)
        return
    split = os.environ.get("TUTOR_BENCH_PIANO_SPLIT", "dev")
    names = pieces(split)
    totals: dict[str, dict] = {"as_played": {}, "wrong_notes": {}}
    lats: dict[str, list] = {"as_played": [], "wrong_notes": []}
    detector = {}
    cpu = time.process_time()
    for name in names:
        audio, rate = excerpt(name)
        ref = reference(name)
        performance = cached_transcription(name, audio, rate)
        audio16 = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
        rows, changed = wrong_score_rows(ref, np.random.default_rng(SEED))
        line = [f"{name[9:]:24s}"]
        for key, score_rows, changed_rows in (("as_played", ref, []), ("wrong_notes", rows, changed)):
            with tempfile.TemporaryDirectory() as folder:
                score = score_of(score_rows, Path(folder))
            by_id = {n.id: n for n in score.notes}
            changed_ids = changed_note_ids(score, score_rows, changed_rows)
            onsets, marks = truth_run(ref, score) if TRUTH else live_run(audio16, score)
            counts, latencies = ring_scores(marks, review_verdicts(score, performance), ref, by_id, changed_ids)
            if key == "as_played":
                for k, v in onset_scores(onsets, ref).items():
                    detector[k] = detector.get(k, 0) + v
            for k, v in counts.items():
                totals[key][k] = totals[key].get(k, 0) + v
            lats[key] += latencies
            line.append(f"{key}: rings {counts['rings']} agree {counts['agree']} false {counts['false_missed']}+"
                        f"{counts['false_wrong']} changed {counts['changed_ringed']}/{counts['changed']}")
        print("  " + " | ".join(line), flush=True)
    results = {"split": split, "pieces": names, "detector": detector, "cpu_s": time.process_time() - cpu,
               "free_listen": FREE}
    d = detector
    print(f"\ndetector ({split}, {len(names)} x 30 s, follower's expectation): P {d['hits_0.1'] / d['onsets']:.3f} "
          f"R {d['hits_0.1'] / d['strikes']:.3f} (0.1 s); within 0.15 s of a strike of that pitch "
          f"{d['near_0.15']}/{d['onsets']} = {d['near_0.15'] / d['onsets']:.3f}")
    for key in totals:
        t = totals[key]
        lat = sorted(lats[key])
        summary = {**t, "agree_share": t["agree"] / max(t["rings"], 1),
                   "false_share": (t["false_missed"] + t["false_wrong"]) / max(t["rings"], 1),
                   "right_ringed_share": t["right_ringed"] / max(t["review_right"], 1),
                   "changed_ringed_share": t["changed_ringed"] / max(t["changed"], 1),
                   "in_place_share": t["in_place"] / max(t["rings"], 1),
                   "latency_median_ms": statistics.median(lat) if lat else float("nan"),
                   "latency_p95_ms": float(np.percentile(lat, 95)) if lat else float("nan"),
                   "over_300_ms": int(sum(v > 300 for v in lat))}
        results[key] = summary
        print(f"{key}: rings {t['rings']}, agree with the review {summary['agree_share']:.3f}, false "
              f"{summary['false_share']:.3f} (missed {t['false_missed']}, wrong {t['false_wrong']}, unjudged "
              f"{t['unjudged']}; still ringed at the end {t['false_at_end']}), review's right notes ringed "
              f"{t['right_ringed']}/{t['review_right']} = {summary['right_ringed_share']:.3f}, from a real strike "
              f"{t['from_strike']}; rings in place {t['in_place']}/{t['rings']} = {summary['in_place_share']:.3f} "
              f"({t['astray_1s']} a second or more away); changed score notes ringed {t['changed_ringed']}/{t['changed']} "
              f"({t['changed_ringed_at_end']} at the end; {t['changed_ringed_struck']} by a real strike of that pitch "
              f"within 0.15 s, another note's); strike -> ring median {summary['latency_median_ms']:.0f} "
              f"p95 {summary['latency_p95_ms']:.0f} ms ({summary['over_300_ms']} over 300 ms)")
    save(("live_marks" if FREE else "live_marks_no_free") + f"_{split}" + _peer_suffix(), results)


def segments(count: int) -> None:
    """The detector and the follower on 60 s segments of each piece of the split (``TUTOR_BENCH_LIVE_SEGMENTS``)."""
    import librosa
    import soundfile

    from tests.bench._results import save
    from tests.bench.bench_piano import DATA, pieces, score_of
    from tutor.listen.piano_live import SAMPLE_RATE
    from tutor.models.training.train_piano_strikes import REAL_FROM_S

    split = os.environ.get("TUTOR_BENCH_PIANO_SPLIT", "dev")
    totals: dict[str, dict] = {}
    lats: dict[str, list] = {"as_played": [], "wrong_notes": []}
    taken = []
    for name in pieces(split):
        audio, rate = soundfile.read(str(DATA / "flac" / f"{name}.flac"), dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        rows_all = np.loadtxt(DATA / "tsv" / f"{name}.tsv", skiprows=1, ndmin=2)
        for k in range(count):
            start_s = 60.0 * k
            if len(audio) / rate < start_s + 20:
                break
            if split == "dev" and LEARNED and start_s + 60.0 > REAL_FROM_S:
                print(f"  {name}: dev segments from {REAL_FROM_S:g} s on are the strike model's training audio: not read")
                break
            part = audio[int(start_s * rate): int((start_s + 60) * rate)]
            length_s = len(part) / rate
            ref = rows_all[(rows_all[:, 0] >= start_s) & (rows_all[:, 0] < start_s + length_s - 0.05)].copy()
            ref[:, 0] -= start_s
            ref[:, 1] = np.minimum(ref[:, 1] - start_s, length_s)
            audio16 = librosa.resample(part, orig_sr=rate, target_sr=SAMPLE_RATE)
            taken.append((name, start_s, round(length_s, 1)))
            rows, changed = wrong_score_rows(ref, np.random.default_rng(SEED))
            for key, score_rows, changed_rows in (("as_played", ref, []), ("wrong_notes", rows, changed)):
                with tempfile.TemporaryDirectory() as folder:
                    score = score_of(score_rows, Path(folder))
                changed_ids = changed_note_ids(score, score_rows, changed_rows)
                onsets, marks = truth_run(ref, score) if TRUTH else live_run(audio16, score)
                counts, latencies = ring_scores(marks, {}, ref, {n.id: n for n in score.notes}, changed_ids)
                total = totals.setdefault(key, {})
                for k2, v in {**counts, **onset_scores(onsets, ref)}.items():
                    total[k2] = total.get(k2, 0) + v
                lats[key] += latencies
    results = {"split": split, "segments": taken, "free_listen": FREE}
    for key, t in totals.items():
        lat = np.array(lats[key])
        results[key] = {**t, "P": t["hits_0.1"] / max(t["onsets"], 1), "R": t["hits_0.1"] / max(t["strikes"], 1),
                        "changed_ringed_share": t["changed_ringed"] / max(t["changed"], 1),
                        "in_place_share": t["in_place"] / max(t["rings"], 1),
                        "latency_median_ms": float(np.median(lat)), "latency_p95_ms": float(np.percentile(lat, 95)),
                        "over_300_ms": int((lat > 300).sum())}
        r = results[key]
        print(f"{split} {key}, {len(taken)} segments: onsets P {r['P']:.3f} R {r['R']:.3f}; rings {t['rings']}, from a "
              f"real strike {t['from_strike']}, in place {t['in_place']} = {r['in_place_share']:.3f} ({t['astray_1s']} a "
              f"second or more away); changed score notes ringed {t['changed_ringed']}/{t['changed']} = "
              f"{r['changed_ringed_share']:.3f}; strike -> ring median {r['latency_median_ms']:.0f} p95 "
              f"{r['latency_p95_ms']:.0f} ms ({r['over_300_ms']} over 300 ms)", flush=True)
    save(("live_marks_segments" if FREE else "live_marks_segments_no_free") + f"_{split}" + _peer_suffix(), results)


def hop_times(seconds: float = 60.0) -> None:
    """Mean, p95 and largest time of one hop's ``PianoOnsets.push`` (wall clock, the follower driving it as in
    ``live_run``), on the first ``seconds`` of the first piece of the split that long, both strike models."""
    import librosa
    import soundfile

    import tutor.listen.piano_live as piano_live
    from tests.bench._results import save
    from tests.bench.bench_piano import DATA, pieces, reference, score_of
    from tutor.listen.piano_live import HOP, SAMPLE_RATE, follower_expectation, follower_range
    from tutor.practice.follower import ScoreFollower

    split = os.environ.get("TUTOR_BENCH_PIANO_SPLIT", "dev")
    for name in pieces(split):
        audio, rate = soundfile.read(str(DATA / "flac" / f"{name}.flac"), dtype="float32", always_2d=True)
        if len(audio) >= seconds * rate:
            break
    audio16 = librosa.resample(audio.mean(axis=1)[: int(seconds * rate)], orig_sr=rate, target_sr=SAMPLE_RATE)
    ref = reference(name, seconds)
    results = {"split": split, "piece": name, "seconds": seconds}
    for spectrum in (False, True):
        piano_live.SPECTRUM = spectrum
        with tempfile.TemporaryDirectory() as folder:
            follower = ScoreFollower(score_of(ref, Path(folder)), mode="play-along", level="advanced")
        detector = piano_live.PianoOnsets(SAMPLE_RATE)
        free = follower_range(follower)
        took = []
        for start in range(0, len(audio16), HOP):
            began = time.perf_counter()
            heard = detector.push(audio16[start:start + HOP], lambda f=follower: follower_expectation(f), free)
            took.append(time.perf_counter() - began)
            for onset_s, midi in detector.free_found:
                follower.hear(onset_s=onset_s, pitch=midi)
            for onset_s, midi in heard:
                follower.feed_onset(onset_s=onset_s, pitch=midi)
        ms = np.array(took) * 1000
        key = "spectrum" if spectrum else "trees47"
        results[key] = {"mean_ms": float(ms.mean()), "p95_ms": float(np.percentile(ms, 95)),
                        "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()), "hops": len(ms)}
        print(f"{name} first {seconds:g} s, {key}: per hop mean {ms.mean():.2f} ms, p95 {np.percentile(ms, 95):.2f}, "
              f"p99 {np.percentile(ms, 99):.2f}, max {ms.max():.1f} ms ({len(ms)} hops of {HOP / SAMPLE_RATE * 1000:.0f} ms)",
              flush=True)
    save(f"live_hop_times_{split}", results)


def _peer_suffix() -> str:
    if TRUTH:
        return "_truth"
    suffix = "" if STRIKE_S is None else f"_strike{STRIKE_S}"
    if not LEARNED:
        return suffix + "_rules"
    if SPECTRUM is not None:
        suffix += "_trees47" if SPECTRUM == "0" else "_spectrum"
    if SPECTRUM_WEIGHTS:
        suffix += "_" + Path(SPECTRUM_WEIGHTS).stem
    return suffix + "".join(f"_{key}{value}" for key, value in (("p", STRIKE_P), ("freep", FREE_STRIKE_P),
                                                                ("nbm", NEIGHBOUR_MARGIN), ("nbs", NEIGHBOUR_S))
                            if value is not None)


if __name__ == "__main__":
    main()
