"""basic-pitch (Spotify, ICASSP 2022) as a benchmark peer: its ONNX model run with onnxruntime.

The wheel is fetched with ``pip download basic-pitch --no-deps`` into ``bench-results/basic-pitch/`` (git-ignored)
and unpacked there; its pure-Python inference and note decoding are imported from that folder (basic-pitch's
own code, so the peer is the published system), with ``nmp.onnx`` as the model: TensorFlow is never needed
and the app never imports any of it. Needs ``onnxruntime`` (``pip install -e .[bench]``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
HOME = REPO / "bench-results" / "basic-pitch"
UNPACKED = HOME / "wheel"
MODEL = UNPACKED / "basic_pitch" / "saved_models" / "icassp_2022" / "nmp.onnx"
HOP_S = 0.01


def _ensure() -> None:
    if MODEL.exists():
        return
    HOME.mkdir(parents=True, exist_ok=True)
    wheels = sorted(HOME.glob("basic_pitch-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "basic-pitch", "--no-deps", "-q", "-d", str(HOME)], check=True)
        wheels = sorted(HOME.glob("basic_pitch-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(UNPACKED)


def _model():
    global _MODEL
    if _MODEL is None:
        _ensure()
        if str(UNPACKED) not in sys.path:
            sys.path.insert(0, str(UNPACKED))
        logging.getLogger().setLevel(logging.ERROR)  # basic_pitch warns about every backend it lacks
        with contextlib.redirect_stderr(io.StringIO()):
            from basic_pitch.inference import Model
        _MODEL = Model(MODEL)
    return _MODEL


_MODEL = None


def transcribe(path: Path):
    """(notes as (onset_s, offset_s, fractional MIDI) rows, 10 ms times, f0 Hz of the loudest note sounding)."""
    model = _model()
    from basic_pitch.inference import predict

    with contextlib.redirect_stdout(io.StringIO()):
        _output, _midi, events = predict(str(path), model)
    rows = []
    for start, end, pitch, _amplitude, bends in events:
        offset = float(np.median(bends)) / 3.0 if bends else 0.0  # bends in 1/3 semitones of the contour
        rows.append((float(start), float(end), pitch + offset, float(_amplitude)))
    rows.sort()
    notes = np.array([r[:3] for r in rows], dtype=float).reshape(-1, 3)
    end = max((r[1] for r in rows), default=0.0)
    times = np.arange(int(end / HOP_S) + 2) * HOP_S
    f0 = np.zeros(len(times))
    loudest = np.zeros(len(times))
    for start, stop, pitch, amplitude in rows:
        span = (times >= start) & (times < stop) & (amplitude > loudest)
        f0[span] = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)
        loudest[span] = amplitude
    return notes, times, f0
