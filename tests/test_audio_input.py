"""Ring buffer, audio sources (file, synthetic, device through a stand-in PortAudio), level, resampling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tutor.audio import devices as audio_input
from tutor.audio.devices import (
    AudioDevice,
    DeviceSource,
    FileSource,
    StreamResampler,
    SyntheticSource,
    Tone,
    level_dbfs,
    list_audio_devices,
    resample,
)
from tutor.audio.ringbuffer import RingBuffer
from tutor.errors import DeviceError, InputFileError


# --- ring buffer -----------------------------------------------------------------------------------
def test_ring_buffer_wraps_and_keeps_order():
    ring = RingBuffer(10, 1)
    ring.write(np.arange(7, dtype=np.float32))
    assert ring.read(5)[:, 0].tolist() == [0, 1, 2, 3, 4]
    ring.write(np.arange(7, 14, dtype=np.float32))  # wraps around the end
    assert ring.available == 9
    assert ring.read()[:, 0].tolist() == list(range(5, 14))
    assert ring.available == 0 and ring.overflows == 0


def test_ring_buffer_drops_and_counts_when_full():
    ring = RingBuffer(8, 2)
    assert ring.write(np.ones((6, 2), np.float32))
    assert not ring.write(np.ones((4, 2), np.float32))  # does not fit: dropped, old data intact
    assert ring.overflows == 1 and ring.dropped_frames == 4
    assert ring.read().shape == (6, 2)


def test_ring_buffer_latest_does_not_consume():
    ring = RingBuffer(6, 1)
    ring.write(np.arange(5, dtype=np.float32))
    ring.read(4)
    ring.write(np.arange(5, 9, dtype=np.float32))
    assert ring.latest(3)[:, 0].tolist() == [6, 7, 8]
    assert ring.available == 5


def test_ring_buffer_threads_lose_nothing():
    """One producer thread, one consumer thread: every sample arrives once, in order."""
    ring = RingBuffer(1000, 1)
    total, block = 200_000, 97
    received = []

    def produce():
        sent = 0
        while sent < total:
            frames = min(block, total - sent)
            chunk = np.arange(sent, sent + frames, dtype=np.float32)
            while not ring.write(chunk):
                time.sleep(0.0001)
            sent += frames

    producer = threading.Thread(target=produce)
    producer.start()
    out = np.zeros((256, 1), np.float32)
    count = 0
    deadline = time.time() + 30
    while count < total and time.time() < deadline:
        got = ring.read_into(out)
        if got:
            received.append(out[:got, 0].copy())
            count += got
    producer.join()
    data = np.concatenate(received)
    assert len(data) == total
    assert np.array_equal(data, np.arange(total, dtype=np.float32))


@pytest.mark.parametrize("wakeup", [True, False])
def test_ring_buffer_wait_wakes_when_the_producer_writes(wakeup):
    ring = RingBuffer(100, 1, wakeup=wakeup)
    assert not ring.wait(1, timeout_s=0.02)  # nothing written: times out
    timer = threading.Timer(0.05, ring.write, args=(np.ones(10, np.float32),))
    started = time.perf_counter()
    timer.start()
    assert ring.wait(10, timeout_s=5.0)
    assert 0.04 < time.perf_counter() - started < 1.0
    assert ring.read().shape == (10, 1)
    ring.close()
    ring.write(np.ones(5, np.float32))  # still works without the pipe
    assert ring.wait(5, timeout_s=0.1)


# --- level and resampling --------------------------------------------------------------------------
def test_level_of_a_sine_and_of_silence():
    t = np.arange(48000) / 48000
    level = level_dbfs(0.5 * np.sin(2 * np.pi * 1000 * t))
    assert level.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    assert level.rms_dbfs == pytest.approx(-9.03, abs=0.05)
    assert level_dbfs(np.zeros(100)).rms_dbfs == -120.0
    assert level_dbfs(np.ones(10)).clipping


def test_resample_keeps_the_pitch():
    t = np.arange(48000) / 48000
    out = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), orig_sr=48000, target_sr=16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * 16000 / len(out) == pytest.approx(1000, abs=2)


def test_stream_resampler_matches_whole_signal_resampling():
    t = np.arange(44100) / 44100
    signal = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    whole = resample(signal, orig_sr=44100, target_sr=16000)
    resampler = StreamResampler(orig_sr=44100, target_sr=16000)
    pieces = [resampler.process(signal[i:i + 256]) for i in range(0, len(signal), 256)]
    streamed = np.concatenate(pieces + [resampler.flush()])
    assert len(streamed) == pytest.approx(16000, abs=2)
    n = min(len(whole), len(streamed))
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 1e-3  # same filter, state kept across blocks


# --- sources --------------------------------------------------------------------------------------
def _read_all(source, timeout_s=10.0):
    chunks = []
    deadline = time.time() + timeout_s
    while not source.at_end and time.time() < deadline:
        if source.wait(1, timeout_s=0.05):
            chunks.append(source.read())
    return np.concatenate(chunks) if chunks else np.zeros((0, source.channels), np.float32)


@pytest.fixture
def stereo_file(tmp_path):
    sr = 22050
    t = np.arange(int(0.6 * sr)) / sr
    left, right = 0.4 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)
    path = tmp_path / "clip.wav"
    soundfile.write(path, np.stack([left, right], axis=1), sr, subtype="FLOAT")
    return path, (left + right) / 2


def test_file_source_plays_at_real_time_pace(stereo_file):
    path, mono = stereo_file
    source = FileSource(path, block_frames=512)
    assert source.sample_rate == 22050 and source.channels == 1
    started = time.perf_counter()
    source.start()
    data = _read_all(source)
    elapsed = time.perf_counter() - started
    source.close()
    assert elapsed >= 0.55  # 0.6 s of audio: it cannot arrive faster than it plays
    assert data.shape == (len(mono), 1)
    assert np.allclose(data[:, 0], mono, atol=1e-6)
    assert source.overflows == 0


def test_file_source_as_fast_as_read_keeps_channels(stereo_file):
    path, _ = stereo_file
    source = FileSource(path, realtime=False, mono=False, buffer_s=0.05)  # tiny buffer: must wait, not drop
    started = time.perf_counter()
    source.start()
    data = _read_all(source)
    assert time.perf_counter() - started < 0.5
    assert data.shape == (int(0.6 * 22050), 2)
    assert source.overflows == 0


def test_file_source_rejects_non_audio(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(InputFileError, match="notes.wav"):
        FileSource(bad)


def test_synthetic_source_sounds_its_tones():
    tones = [Tone(0.0, 0.25, 440.0, 0.5), Tone(0.25, 0.5, 660.0, 0.5)]
    source = SyntheticSource(tones, sample_rate=16000, realtime=False)
    source.start()
    data = _read_all(source)[:, 0]
    assert len(data) == int(round(0.7 * 16000))
    for start, hz in ((0.05, 440.0), (0.3, 660.0)):
        segment = data[int(start * 16000): int((start + 0.15) * 16000)]
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n=16000))
        assert np.argmax(spectrum) == pytest.approx(hz, abs=3)
    assert level_dbfs(data[-1000:]).peak_dbfs == -120.0  # silent after the last tone


def test_level_meter_follows_the_input():
    source = SyntheticSource(sample_rate=16000, realtime=True, duration_s=0.4)
    source.start()
    time.sleep(0.2)
    level = source.level()
    source.stop()
    assert level.peak_dbfs == pytest.approx(-10.0, abs=0.3)


def test_a_slow_reader_gets_overflows_counted():
    source = SyntheticSource(sample_rate=16000, realtime=False, duration_s=0.5, buffer_s=0.01)
    source.realtime = True  # paced, as a device would be: it cannot wait for the reader
    source.start()
    time.sleep(0.6)
    assert source.overflows > 0
    source.stop()


# --- the device path, with a stand-in for PortAudio --------------------------------------------------
class _FakeStream:
    """Calls the callback from a thread like PortAudio; ``unplug`` stops it like a lost device."""

    instances: list = []

    def __init__(self, *, device, samplerate, channels, dtype, blocksize, callback, finished_callback):
        self.callback, self.finished_callback = callback, finished_callback
        self.blocksize, self.channels, self.samplerate = blocksize, channels, samplerate
        self.active = False
        self.blocks = 0
        self._unplug_after = None
        _FakeStream.instances.append(self)

    def start(self):
        self.active = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        block = np.zeros((self.blocksize, self.channels), np.float32)
        while self.active:
            block[:, 0] = self.blocks
            self.callback(block, self.blocksize, None, 0)
            self.blocks += 1
            if self._unplug_after is not None and self.blocks >= self._unplug_after:
                self.active = False
                self.finished_callback()
                return
            time.sleep(self.blocksize / self.samplerate)

    def stop(self):
        self.active = False

    def close(self):
        pass


class _FakeSoundDevice:
    InputStream = _FakeStream


@pytest.fixture
def fake_device(monkeypatch):
    device = AudioDevice(index=3, name="Fake USB Mic", hostapi="ALSA", max_input_channels=2, max_output_channels=0,
                         default_samplerate=16000.0, is_default_input=True)
    monkeypatch.setattr(audio_input, "list_audio_devices", lambda: [device])
    monkeypatch.setattr(audio_input, "_sounddevice", lambda: _FakeSoundDevice)
    _FakeStream.instances.clear()
    return device


def test_device_source_copies_callback_blocks_into_the_ring(fake_device):
    source = DeviceSource(block_frames=160)
    assert source.sample_rate == 16000 and source.name == "Fake USB Mic"
    source.start()
    assert source.wait(160 * 5, timeout_s=2.0)
    source.stop()
    data = _read_all(source)
    blocks = data[:, 0].reshape(-1, 160)
    assert np.array_equal(blocks[:, 0], np.arange(len(blocks)))  # every block, in order, none dropped
    assert source.overflows == 0


def test_device_that_disappears_keeps_the_take_then_raises(fake_device):
    source = DeviceSource(block_frames=160)
    source.start()
    _FakeStream.instances[-1]._unplug_after = 6
    deadline = time.time() + 3
    while source.running and time.time() < deadline:
        time.sleep(0.01)
    frames = source.read()
    assert frames.shape[0] == 6 * 160  # everything that arrived is still there
    with pytest.raises(DeviceError, match="Fake USB Mic.*kept"):
        source.read()


def test_device_choice_by_number_and_name(fake_device):
    assert audio_input.find_device(3, kind="input").name == "Fake USB Mic"
    assert audio_input.find_device("usb", kind="input").index == 3
    with pytest.raises(DeviceError, match="no audio input device number 7"):
        audio_input.find_device(7, kind="input")
    with pytest.raises(DeviceError, match="no audio output device found"):
        audio_input.find_device(None, kind="output")


def test_no_device_gives_a_clear_error():
    if any(d.max_input_channels > 0 for d in list_audio_devices()):
        pytest.skip("this machine has an audio input")
    with pytest.raises(DeviceError, match="no audio input device found"):
        DeviceSource()


# --- the real PortAudio path, on ALSA's "null" device (no sound card needed) -------------------------
ASOUNDRC = """
pcm.tutornull {
    type null
    hint { show on description "tutor test null device" }
}
"""
REAL_DEVICE_SCRIPT = """
import json, time
import numpy as np
from tutor.audio.devices import DeviceSource, list_audio_devices
from tutor.audio.playback import Player, PlaybackPlan, NoteEvent
names = [d.name for d in list_audio_devices()]
if "tutornull" not in names:
    print(json.dumps({"skip": names})); raise SystemExit
source = DeviceSource("tutornull", block_frames=256).start()
got = 0
deadline = time.time() + 10
while got < 22050 and time.time() < deadline:
    if source.wait(256, timeout_s=0.1):
        got += len(source.read())
latency = source.latency_s
source.stop()
player = Player(device="tutornull", engine="additive")
player.play(PlaybackPlan((NoteEvent(0.0, 0.2, 69),), tail_s=0.1))
finished = player.wait(10)
print(json.dumps({"frames": got, "rate": source.sample_rate, "latency": latency,
                  "played": player.frames_played, "finished": finished}))
"""


def test_real_portaudio_input_and_output_on_alsa_null_device(tmp_path):
    (tmp_path / ".asoundrc").write_text(ASOUNDRC)
    env = {**os.environ, "HOME": str(tmp_path)}
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", REAL_DEVICE_SCRIPT], env=env, cwd=repo, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(f"PortAudio does not see ALSA's null device here (devices: {result['skip']})")
    assert result["frames"] >= 22050 and result["rate"] > 0 and result["latency"] > 0
    assert result["finished"] and result["played"] >= int(0.3 * 44100) - 1024
    out = tmp_path / "null.wav"
    record = subprocess.run([sys.executable, "-m", "tutor", "record", "--device", "tutornull", "--out", str(out),
                             "--seconds", "0.5"], env=env, cwd=repo, capture_output=True, text=True, timeout=120)
    assert record.returncode == 0, record.stderr
    assert soundfile.info(out).frames == int(0.5 * soundfile.info(out).samplerate)
