"""Peak memory and time of ``tutor transcribe`` on long recordings (issue 25: bounded memory whatever the length).

A melody of harmonic tones (with rests and repeated notes) is synthesized block by block into a 44.1 kHz
16-bit WAV in a temporary folder (never committed), then ``tutor transcribe FILE --json`` runs in a child
process; its peak resident memory is the child's ``ru_maxrss`` (``os.wait4``).

Run: ``python -m tests.bench memory`` (TUTOR_BENCH_MEMORY_MINUTES=1,10,60 by default 1,10; TUTOR_BENCH_MEMORY_TRACKER
picks the tracker, default the CPU default) or ``python -m tests.bench.bench_memory --minutes 1 10 60 [--tracker pyin]``.
Results go to bench-results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RATE = 44100
NOTE_S = (0.25, 0.5, 0.75, 1.0)
SCALE = (60, 62, 64, 65, 67, 69, 71, 72, 74, 76)  # C4..E5


def melody(duration_s: float, *, seed: int = 0) -> list[tuple[float, float, int]]:
    """(onset_s, offset_s, midi) of a random melody filling ``duration_s``: notes of 0.25-1 s with short
    gaps (repeated pitches stay separate notes), and a 1.5 s rest every 20 notes."""
    rng = np.random.default_rng(seed)
    notes, t, count = [], 0.3, 0
    while t < duration_s - 1.2:
        length = float(rng.choice(NOTE_S))
        notes.append((t, t + length - 0.05, int(rng.choice(SCALE))))
        t += length
        count += 1
        if count % 20 == 0:
            t += 1.5
    return notes


def write_melody_wav(path: str | Path, duration_s: float, *, rate: int = RATE, channels: int = 1, seed: int = 0,
                     block_s: float = 30.0) -> list[tuple[float, float, int]]:
    """Write the melody as a 16-bit WAV, synthesized ``block_s`` at a time (bounded memory); returns its notes."""
    import soundfile

    notes = melody(duration_s, seed=seed)
    onsets = np.array([n[0] for n in notes])
    total = int(round(duration_s * rate))
    block = int(block_s * rate)
    with soundfile.SoundFile(str(path), "w", samplerate=rate, channels=channels, subtype="PCM_16") as out:
        for start in range(0, total, block):
            stop = min(total, start + block)
            t = np.arange(start, stop) / rate
            signal = np.zeros(stop - start)
            # the notes sounding in this block (a note is at most 1 s long)
            first = max(0, int(np.searchsorted(onsets, start / rate - 1.1)))
            last = int(np.searchsorted(onsets, stop / rate))
            for onset, offset, pitch in notes[first:last]:
                inside = (t >= onset) & (t < offset)
                if not inside.any():
                    continue
                local = t[inside] - onset
                hz = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
                envelope = np.minimum(1.0, local / 0.01) * np.minimum(1.0, (offset - t[inside]) / 0.02)
                tone = sum(0.5 / k * np.sin(2 * np.pi * k * hz * local) for k in (1, 2, 3))
                signal[inside] += 0.4 * envelope * tone
            frames = np.repeat(signal[:, None], channels, axis=1) if channels > 1 else signal
            out.write(frames.astype(np.float32))
    return notes


def tutor_command(audio: str | Path, *extra: str) -> list[str]:
    """``tutor transcribe AUDIO --json`` with this interpreter (the venv's ``tutor`` script does the same)."""
    return [sys.executable, "-c", "import sys; from tutor.cli import main; sys.exit(main())", "transcribe", str(audio),
            "--json", *extra]


# runs argv[2:] as a grandchild and writes its peak RSS (kB) to the file argv[1]: the grandchild is forked
# from this small launcher, so its ru_maxrss is its own (a child forked straight from a test run would
# count the test process's gigabytes, copied between fork and exec)
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: list[str], *, timeout_s: float | None = None, env: dict | None = None) -> dict:
    """Run ``command`` in a child process: its exit code, stdout, stderr, wall time and peak RSS (MB)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".maxrss") as peak:
        launcher = [sys.executable, "-c", _LAUNCHER, peak.name, shutil.which(command[0]) or command[0], *command[1:]]
        proc = subprocess.Popen(launcher, stdout=out, stderr=err, cwd=str(REPO), env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        text = peak.read().strip()
        return {"returncode": proc.returncode, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace"), "seconds": time.perf_counter() - started,
                "peak_mb": int(text) / 1024.0 if text else float("nan")}


def measure(minutes: float, *, tracker: str | None = None, folder: Path | None = None, keep_stdout: bool = False) -> dict:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        wav = Path(tmp) / f"melody-{minutes:g}min.wav"
        notes = write_melody_wav(wav, minutes * 60.0)
        extra = ("--tracker", tracker) if tracker else ()
        result = run_measured(tutor_command(wav, *extra))
    if result["returncode"] != 0:
        raise RuntimeError(f"tutor transcribe failed ({result['returncode']}): {result['stderr'][-2000:]}")
    found = len(json.loads(result["stdout"])["notes"])
    row = {"minutes": minutes, "tracker": tracker or "default", "peak_mb": round(result["peak_mb"], 1),
           "seconds": round(result["seconds"], 1), "notes_written": len(notes), "notes_found": found}
    if keep_stdout:
        row["stdout"] = result["stdout"]
    return row


def main(argv: list[str] | None = None) -> None:
    from tests.bench._results import save

    parser = argparse.ArgumentParser(prog="bench_memory")
    parser.add_argument("--minutes", type=float, nargs="+",
                        default=[float(m) for m in os.environ.get("TUTOR_BENCH_MEMORY_MINUTES", "1,10").split(",") if m])
    parser.add_argument("--tracker", default=os.environ.get("TUTOR_BENCH_MEMORY_TRACKER") or None)
    args = parser.parse_args([] if argv is None else argv)
    rows = []
    for minutes in args.minutes:
        row = measure(minutes, tracker=args.tracker)
        rows.append(row)
        print(f"{minutes:6g} min  tracker={row['tracker']:10s} peak {row['peak_mb']:8.1f} MB  {row['seconds']:7.1f} s  "
              f"notes {row['notes_found']}/{row['notes_written']}", flush=True)
    save("memory", {"runs": rows})


if __name__ == "__main__":
    main(sys.argv[1:])
