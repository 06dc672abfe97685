"""Crash-safe recording: continuous writing, the sidecar, SIGKILL mid-take, header repair, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tutor.audio.devices import FileSource, SyntheticSource, Tone
from tutor.audio.recording import Recorder, record, repair_recording, repair_recordings, sidecar_path
from tutor.cli import main
from tutor.errors import DeviceError, OutputFileError

SR = 16000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source_wav(tmp_path_factory):
    """4 s of a gliding tone with noise, 16-bit (so a 16-bit recording of it is bit-exact)."""
    rng = np.random.default_rng(1)
    t = np.arange(4 * SR) / SR
    audio = 0.3 * np.sin(2 * np.pi * (300 * t + 60 * t * t)) + 0.05 * rng.standard_normal(len(t))
    path = tmp_path_factory.mktemp("src") / "take-source.wav"
    soundfile.write(path, audio, SR, subtype="PCM_16")
    return path, soundfile.read(path, dtype="float32")[0]


def test_records_a_source_to_wav_with_sidecar(tmp_path, source_wav):
    path, original = source_wav
    out = tmp_path / "take.wav"
    result = record(FileSource(path, realtime=False), out, piece="corpus:bach/bwv66.6", tempo_bpm=92.0)
    assert result.error is None and result.frames == len(original)
    data, sr = soundfile.read(out, dtype="float32")
    assert sr == SR and np.allclose(data, original, atol=1e-4)
    side = json.loads(sidecar_path(out).read_text())
    assert side["piece"] == "corpus:bach/bwv66.6" and side["tempo_bpm"] == 92.0
    assert side["device"] == "file take-source.wav" and side["sample_rate"] == SR
    assert dt.datetime.fromisoformat(side["started_at"]).tzinfo is not None
    assert repair_recording(out).repaired is False


def test_analysis_reads_the_take_from_the_tap_while_it_is_recorded(tmp_path, source_wav):
    path, original = source_wav
    recorder = Recorder(FileSource(path, realtime=False), tmp_path / "tapped.wav", max_seconds=1.0)
    recorder.start()
    seen = []
    while not (recorder.finished and recorder.tap.available == 0):
        if recorder.tap.wait(1, timeout_s=0.05):
            seen.append(recorder.tap.read())
    tapped = np.concatenate(seen)[:, 0]
    assert len(tapped) == SR and np.array_equal(tapped, original[:SR])
    assert recorder.tap.overflows == 0


def test_records_flac_and_stops_after_max_seconds(tmp_path):
    out = tmp_path / "take.flac"
    source = SyntheticSource([Tone(0.0, 2.0, 440.0)], sample_rate=SR, realtime=False)
    result = record(source, out, seconds=0.75)
    info = soundfile.info(out)
    assert result.frames == info.frames == int(0.75 * SR)
    assert info.format == "FLAC"


def test_refuses_to_overwrite_and_bad_extensions(tmp_path):
    existing = tmp_path / "old.wav"
    existing.write_bytes(b"keep me")
    with pytest.raises(OutputFileError, match="already exists"):
        Recorder(SyntheticSource(), existing)
    with pytest.raises(OutputFileError, match=r"\.wav or \.flac"):
        Recorder(SyntheticSource(), tmp_path / "take.mp3")
    assert existing.read_bytes() == b"keep me"


class _FailingSource(SyntheticSource):
    """A device that 'disappears' after 0.3 s."""

    def _push(self, block):
        super()._push(block)
        if self.ring.total_written >= 0.3 * self.sample_rate and self.error is None:
            self.error = DeviceError("audio input 1 (Fake Mic) stopped in the middle of the take")
            self._ended = True
            self._stop_event.set()


def test_a_device_lost_mid_take_keeps_the_take(tmp_path):
    out = tmp_path / "lost.wav"
    recorder = Recorder(_FailingSource(sample_rate=SR, realtime=False, duration_s=5.0, block_frames=160), out)
    recorder.start()
    assert recorder.wait(5.0)
    assert isinstance(recorder.error, DeviceError)
    info = soundfile.info(out)
    assert info.frames == recorder.frames_written == int(0.3 * SR)
    assert "Fake Mic" in recorder.result.error


def _kill_mid_take(tmp_path, source, suffix):
    """Start `tutor record --from-file`, SIGKILL it after >= 1.5 s are on disk; (out, seconds it had received)."""
    out = tmp_path / f"killed{suffix}"
    process = subprocess.Popen([sys.executable, "-m", "tutor", "record", "--from-file", str(source), "--out", str(out)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if out.exists() and out.stat().st_size > 1.5 * SR * 2 * (0.5 if suffix == ".flac" else 1):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the recorder wrote nothing")
        time.sleep(0.3)
        killed_at = dt.datetime.now(dt.UTC)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    started = dt.datetime.fromisoformat(json.loads(sidecar_path(out).read_text())["started_at"])
    return out, (killed_at - started).total_seconds()


def test_sigkill_mid_take_loses_at_most_half_a_second_wav(tmp_path, source_wav):
    path, original = source_wav
    out, received_s = _kill_mid_take(tmp_path, path, ".wav")
    assert 1.5 < received_s < 3.9
    before = soundfile.info(out)  # opens as it is: the header was kept up to date while recording
    assert before.frames / SR >= received_s - 0.5
    result = repair_recording(out)
    frames = result.frames
    assert received_s - 0.5 <= frames / SR <= received_s + 0.05
    data, _ = soundfile.read(out, dtype="float32")
    assert len(data) == frames
    assert np.allclose(data, original[:frames], atol=1e-4)  # exactly what was played, from the start
    header = out.read_bytes()[:44]
    assert int.from_bytes(header[4:8], "little") == out.stat().st_size - 8  # now right for any program


def test_sigkill_mid_take_loses_at_most_half_a_second_flac(tmp_path, source_wav):
    path, original = source_wav
    out, received_s = _kill_mid_take(tmp_path, path, ".flac")
    assert not [r for r in repair_recordings(tmp_path) if r.path == out]  # just written: maybe still recording
    [result] = [r for r in repair_recordings(tmp_path, idle_s=0.0) if r.path == out]
    assert result.repaired
    info = soundfile.info(out)
    assert info.frames == result.frames
    assert received_s - 0.5 <= info.frames / SR <= received_s + 0.05
    data, _ = soundfile.read(out, dtype="float32")
    assert np.allclose(data, original[: len(data)], atol=1e-4)


def test_repair_fixes_a_truncated_wav_header(tmp_path):
    path = tmp_path / "cut.wav"
    soundfile.write(path, np.zeros(SR, np.float32), SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[4:8] = (36).to_bytes(4, "little")  # as libsndfile leaves it when killed before any header update
    raw[40:44] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(raw[: 44 + 2 * 1000 + 1]))  # and a half-written last sample
    result = repair_recording(path)
    assert result.repaired and result.frames == 1000
    assert soundfile.info(path).frames == 1000


def test_cli_record_from_file(tmp_path, source_wav, capsys):
    path, original = source_wav
    out = tmp_path / "cli.wav"
    assert main(["record", "--from-file", str(path), "--out", str(out), "--seconds", "0.4",
                 "--piece", "scale", "--tempo", "80"]) == 0
    assert "recorded 0.40 s" in capsys.readouterr().out
    assert soundfile.info(out).frames == int(0.4 * SR)
    assert json.loads(sidecar_path(out).read_text())["tempo_bpm"] == 80.0
    assert main(["record", "--from-file", str(path), "--out", str(out), "--seconds", "0.1"]) == 2  # exists
    assert "already exists" in capsys.readouterr().err


def test_cli_record_without_a_device_is_a_clear_error(capsys):
    from tutor.audio.devices import list_audio_devices

    if any(d.max_input_channels > 0 for d in list_audio_devices()):
        pytest.skip("this machine has an audio input")
    assert main(["record", "--out", "nowhere.wav", "--seconds", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no audio input device found" in err[0]
