"""Latency of the live audio path.

1. Input: time from a block arriving in the producer (the callback's ``_push``) to its being in
   the analysis worker's hands (``source.read_into`` returned it), with 256-frame blocks at 48 kHz
   paced like a sound card. Measured for the ring buffer that ``tutor.audio.devices`` uses and, as a
   peer in the same run, for a ``queue.Queue`` hand-off (copy + put per block), each alone and with a
   busy Python thread competing for the GIL (the analysis of a real app); and through the practice
   path, where the ``Recorder`` writes each block to a WAV first and the worker reads ``recorder.tap``.
   Target: median < 5 ms.
2. Output: playback start latency of ``Player`` (``output="null"``: the same callback, paced by a
   thread instead of a sound card) from ``play()`` to the first rendered block ready in the output
   ring and to the first audio handed to the callback; FluidSynth (streams as it renders) against
   the additive synth (renders the whole piece first) on a Bach chorale. A real device adds its own
   buffer latency (PortAudio reports it as ``stream.latency``), which no machine here has.

Run: ``python -m tests.bench latency`` (about a minute); results in ``bench-results/latency.json``.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time

import numpy as np

from tests.bench._results import save
from tutor.audio.devices import SyntheticSource

SAMPLE_RATE = 48000
BLOCK = 256
SECONDS = 4.0


class _TimedSource(SyntheticSource):
    """A paced synthetic source that notes when each block was pushed."""

    def __init__(self, **kwargs):
        super().__init__(sample_rate=SAMPLE_RATE, block_frames=BLOCK, duration_s=SECONDS, **kwargs)
        self.pushed_at = np.zeros(int(SECONDS * SAMPLE_RATE / BLOCK) + 2)
        self.blocks = 0

    def _push(self, block):
        self.pushed_at[self.blocks] = time.perf_counter()
        self.blocks += 1
        super()._push(block)


def _busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(2000))  # pure Python: holds the GIL like analysis code does


def _ring_latency(busy: bool) -> np.ndarray:
    source = _TimedSource()
    got_at = np.zeros_like(source.pushed_at)
    out = np.zeros((4096, 1), np.float32)
    stop = threading.Event()
    hog = threading.Thread(target=_busy, args=(stop,), daemon=True)
    if busy:
        hog.start()
    source.start()
    total = 0
    done = 0
    while not source.at_end:
        if not source.wait(1, timeout_s=0.05):
            continue
        total += source.read_into(out)
        now = time.perf_counter()
        while (done + 1) * BLOCK <= total:
            got_at[done] = now
            done += 1
    stop.set()
    return (got_at[:done] - source.pushed_at[:done]) * 1000


def _tap_latency(busy: bool) -> np.ndarray:
    """The practice path: the Recorder writes each block to a WAV first, the worker reads its tap."""
    import tempfile
    from pathlib import Path

    from tutor.audio.recording import Recorder

    source = _TimedSource()
    got_at = np.zeros_like(source.pushed_at)
    stop = threading.Event()
    hog = threading.Thread(target=_busy, args=(stop,), daemon=True)
    if busy:
        hog.start()
    with tempfile.TemporaryDirectory() as folder:
        recorder = Recorder(source, Path(folder) / "bench.wav").start()
        tap = recorder.tap
        total = done = 0
        while not (recorder.finished and tap.available == 0):
            if not tap.wait(1, timeout_s=0.05):
                continue
            total += len(tap.read())
            now = time.perf_counter()
            while (done + 1) * BLOCK <= total:
                got_at[done] = now
                done += 1
        recorder.stop()
    stop.set()
    return (got_at[:done] - source.pushed_at[:done]) * 1000


def _queue_latency(busy: bool) -> np.ndarray:
    handoff: queue.Queue = queue.Queue()
    pushed_at = []

    class _QueueSource(_TimedSource):
        def _push(self, block):
            pushed_at.append(time.perf_counter())
            handoff.put(block.copy())

    source = _QueueSource()
    stop = threading.Event()
    hog = threading.Thread(target=_busy, args=(stop,), daemon=True)
    if busy:
        hog.start()
    source.start()
    got_at = []
    while True:
        try:
            handoff.get(timeout=0.2)
        except queue.Empty:
            if source.at_end:
                break
            continue
        got_at.append(time.perf_counter())
    stop.set()
    n = min(len(got_at), len(pushed_at))
    return (np.array(got_at[:n]) - np.array(pushed_at[:n])) * 1000


def _stats(ms: np.ndarray) -> dict:
    return {"blocks": int(len(ms)), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(np.max(ms))}


def _playback_latency(engine: str, score, repeats: int) -> dict:
    from tutor.audio.playback import Player

    created = time.perf_counter()
    player = Player(output="null", engine=engine, sample_rate=44100, block_frames=512)
    prepare_s = time.perf_counter() - created
    ready, first_audio = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        player.play(score)
        while player.ring.total_written == 0:
            time.sleep(0.0002)
        ready.append((time.perf_counter() - started) * 1000)
        while player.start_latency_s is None:
            time.sleep(0.0005)
        first_audio.append(player.start_latency_s * 1000)
        player.stop()
    return {"engine": player.engine.name, "engine_prepare_ms": prepare_s * 1000, "repeats": repeats,
            "first_block_ready_median_ms": statistics.median(ready),
            "first_block_ready_p95_ms": float(np.percentile(ready, 95)),
            "first_audio_to_output_median_ms": statistics.median(first_audio),
            "first_audio_to_output_p95_ms": float(np.percentile(first_audio, 95)),
            "output_block_ms": 512 / 44100 * 1000}


def main() -> dict:
    from tutor.score.io import load_score

    results: dict = {"block_frames": BLOCK, "sample_rate": SAMPLE_RATE, "seconds_per_run": SECONDS, "input": {}}
    print(f"input: {BLOCK}-frame blocks at {SAMPLE_RATE} Hz ({BLOCK / SAMPLE_RATE * 1000:.2f} ms), {SECONDS:g} s each")
    print(f"{'hand-off':<26}{'blocks':>8}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    for busy in (False, True):
        for name, measure in (("ring buffer", _ring_latency), ("queue.Queue (peer)", _queue_latency),
                              ("recorder tap", _tap_latency)):
            stats = _stats(measure(busy))
            label = name + (" +busy" if busy else "")
            results["input"][label] = stats
            print(f"{label:<26}{stats['blocks']:>8}{stats['median_ms']:>11.3f}{stats['p95_ms']:>9.3f}"
                  f"{stats['max_ms']:>9.2f}")
    for busy in ("", " +busy"):
        ring, peer = results["input"]["ring buffer" + busy], results["input"]["queue.Queue (peer)" + busy]
        results["input"]["ratio_median_ring_vs_queue" + busy.replace(" +", "_")] = ring["median_ms"] / peer["median_ms"]
    results["input"]["target_median_ms"] = 5.0
    results["input"]["meets_target"] = all(
        results["input"][k]["median_ms"] < 5.0
        for k in ("ring buffer", "ring buffer +busy", "recorder tap", "recorder tap +busy"))

    score = load_score("corpus:bach/bwv66.6")
    results["playback"] = {"piece": "corpus:bach/bwv66.6", "duration_s": score.duration_s}
    print(f"\nplayback start on {results['playback']['piece']} ({score.duration_s:.1f} s), null output, 512-frame blocks")
    for engine in ("fluidsynth", "additive"):
        stats = _playback_latency(engine, score, repeats=10)
        results["playback"][engine] = stats
        print(f"{stats['engine']:<12} prepare {stats['engine_prepare_ms']:7.1f} ms | first block ready "
              f"median {stats['first_block_ready_median_ms']:7.2f} ms p95 {stats['first_block_ready_p95_ms']:7.2f} | "
              f"first audio to output median {stats['first_audio_to_output_median_ms']:7.2f} ms "
              f"p95 {stats['first_audio_to_output_p95_ms']:7.2f}")
    save("latency", results)
    return results


if __name__ == "__main__":
    main()
