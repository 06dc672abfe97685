"""Transcription in bounded memory (issue 25): audio read and analysed block by block, with the results of
a whole-clip analysis, and ``tutor transcribe`` of a long recording under 1.5 GB whatever its length."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import soundfile

from tests.bench.bench_memory import run_measured, tutor_command, write_melody_wav
from tutor.listen import transcription
from tutor.listen.blocks import (
    LevelMeter,
    OnsetFlux,
    ViterbiTail,
    _audioread_pieces,
    array_pieces,
    iter_blocks,
    read_pieces,
    resample_pieces,
)
from tutor.listen.pitch import MODEL_SAMPLE_RATE, frame_level_db, get_tracker, to_model_rate
from tutor.listen.transcription import notes_and_f0, read_audio, transcribe, transcribe_file

HOP = 160


def _clip(tmp_path, seconds: float, *, rate: int = 44100, channels: int = 1, silence_s: float = 0.0):
    """A synthesized melody (with a rest of ``silence_s`` in the middle) written to a WAV; its samples."""
    path = tmp_path / f"clip-{seconds:g}-{rate}-{channels}.wav"
    write_melody_wav(path, seconds, rate=rate, channels=channels, seed=3)
    if silence_s:
        audio, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
        middle = len(audio) // 2
        audio[middle:middle + int(silence_s * rate)] = 0.0
        soundfile.write(str(path), audio, rate, subtype="PCM_16")
    return path


def _whole_clip(path, tracker: str):
    """The analysis of the whole clip at once (what transcribe_file did before it went block by block)."""
    audio, rate = read_audio(path)
    audio16 = to_model_rate(audio, rate)
    f0 = get_tracker(tracker, device="cpu").track(audio16, MODEL_SAMPLE_RATE)
    notes, track = notes_and_f0(f0, audio16)
    if transcription.REFINE_PITCH:  # each note's pitch measured from the audio (issue 22)
        notes = transcription.refine_note_pitches(notes, f0, transcription.array_reader(audio16))
    return notes, track


def _assert_same(result, notes, f0) -> None:
    assert result.notes == notes
    for field in ("times_s", "f0_hz", "confidence", "voiced", "level_db"):
        assert np.array_equal(getattr(result.f0, field), getattr(f0, field)), field


def _blocks(audio16: np.ndarray, block_frames: int, context: int = 2080, piece: int = 7777):
    pieces = (audio16[i:i + piece] for i in range(0, len(audio16), piece))
    return iter_blocks(pieces, block_frames=block_frames, context=context, hop=HOP)


# ---------------------------------------------------------------------------------------------
# the pieces: bit for bit what a whole-clip analysis computes
# ---------------------------------------------------------------------------------------------
def test_reading_and_resampling_in_pieces_give_the_whole_files_samples(tmp_path):
    import librosa

    for rate, channels in ((44100, 1), (48000, 2), (16000, 1)):
        path = _clip(tmp_path, 7.3, rate=rate, channels=channels)
        audio, read_rate = read_audio(path)
        source = read_pieces(path, piece_frames=10_000)
        assert (source.sample_rate, source.length) == (read_rate, len(audio))
        assert np.array_equal(np.concatenate(list(source.pieces)), audio)
        resampled = np.concatenate(list(resample_pieces(array_pieces(audio, piece_frames=9_999), rate, MODEL_SAMPLE_RATE)))
        assert np.array_equal(resampled, to_model_rate(audio, rate))
        # the audioread path (formats libsndfile does not read) gives librosa.load's samples
        with warnings.catch_warnings():  # librosa's audioread loader is deprecated (its fallback for such files)
            warnings.simplefilter("ignore")
            import audioread

            expected, _ = librosa.load(audioread.audio_open(str(path)), sr=None, mono=True)
        fallback = _audioread_pieces(path, RuntimeError("not a libsndfile format"))
        assert fallback.sample_rate == rate
        assert np.array_equal(np.concatenate(list(fallback.pieces)), expected)


def test_blocks_cover_every_frame_once_with_their_context():
    audio16 = np.random.default_rng(0).standard_normal(123_457).astype(np.float32)
    blocks = list(_blocks(audio16, block_frames=97))
    assert [b.first for b in blocks] == list(range(0, 1 + len(audio16) // HOP, 97))[:len(blocks)]
    assert blocks[-1].last and blocks[-1].frames_end == 1 + len(audio16) // HOP
    for block in blocks:
        assert np.array_equal(block.samples, audio16[block.start:block.end])
        assert block.start == max(0, block.first * HOP - 2080)
        assert block.last or block.end == block.stop * HOP + 2080
    short = list(_blocks(audio16[:1000], block_frames=97))
    assert len(short) == 1 and short[0].last and np.array_equal(short[0].samples, audio16[:1000])
    empty = list(_blocks(audio16[:0], block_frames=97))
    assert len(empty) == 1 and empty[0].frames_end == 1


def test_level_and_onset_strength_block_by_block_equal_the_whole_clips():
    import librosa

    rng = np.random.default_rng(1)
    t = np.arange(16000 * 9) / 16000
    audio16 = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1.0 < 0.6) + 1e-3 * rng.standard_normal(len(t))).astype(np.float32)
    audio16[40_000:60_000] = 0.0  # digital silence: under the loudest bin's 80 dB floor
    meter = LevelMeter()
    with OnsetFlux(MODEL_SAMPLE_RATE, HOP) as flux:
        levels = []
        for block in _blocks(audio16, block_frames=131):
            levels.append(meter.push(block))
            flux.push(block)
        onset = flux.flux()
    assert np.array_equal(np.concatenate(levels), frame_level_db(audio16, hop=HOP))
    whole = librosa.onset.onset_strength(y=audio16, sr=MODEL_SAMPLE_RATE, n_fft=1024, lag=2, max_size=3, hop_length=HOP,
                                         center=True)
    assert onset.dtype == whole.dtype  # equal to float32 rounding (the FFT's summation order depends on the numpy build)
    np.testing.assert_allclose(onset, whole, rtol=1e-5, atol=1e-6)


def test_viterbi_tail_decides_the_path_of_a_whole_pass():
    import librosa

    rng = np.random.default_rng(2)
    states, frames = 12, 700
    transition = librosa.sequence.transition_local(states, 5, window="triangle", wrap=False)
    prob = rng.dirichlet(np.ones(states) * 0.3, size=frames).T
    prob[:, 300:420] = 1.0 / states  # a stretch without evidence
    expected = librosa.sequence.viterbi(prob, transition)
    tiny = np.finfo(np.float64).tiny  # librosa's epsilon
    log_trans, log_prob = np.log(transition + tiny), np.log(prob + tiny).T
    tail = ViterbiTail(lambda path, payload: (path, payload))
    decided, value = [], None
    for lo in range(0, frames, 64):
        rows = log_prob[lo:lo + 64]
        pointers = np.zeros(rows.shape, np.uint16)
        for t in range(len(rows)):
            if value is None:
                value = rows[0] + np.log(1.0 / states + tiny)
                continue
            scores = value[:, None] + log_trans
            pointers[t] = np.argmax(scores, axis=0)
            value = rows[t] + scores[pointers[t], np.arange(states)]
        out = tail.push(pointers, np.arange(lo, lo + len(rows)))
        if out is not None:
            decided.append(out)
        assert tail.pending <= frames
    decided.append(tail.finish(int(np.argmax(value))))
    path = np.concatenate([d[0] for d in decided])
    assert np.array_equal(np.concatenate([d[1] for d in decided]), np.arange(frames))
    assert np.array_equal(path, expected)
    assert len(decided) > 3  # decided along the way, not only at the end


# ---------------------------------------------------------------------------------------------
# transcription: the same notes and pitch track as a whole-clip analysis, blocks or not
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tracker", "seconds", "block_frames"), [("pesto", 15.0, 300), ("pyin", 9.0, 150)])
def test_transcription_in_blocks_equals_the_whole_clips(tmp_path, monkeypatch, tracker, seconds, block_frames):
    path = _clip(tmp_path, seconds, rate=44100, channels=2, silence_s=2.5)
    notes, f0 = _whole_clip(path, tracker)
    assert len(notes) > 5
    _assert_same(transcribe_file(path, tracker=tracker, device="cpu"), notes, f0)  # a few blocks of 512
    monkeypatch.setattr(get_tracker(tracker, device="cpu"), "block_frames", block_frames)
    _assert_same(transcribe_file(path, tracker=tracker, device="cpu"), notes, f0)  # many blocks
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    _assert_same(transcribe(audio, rate, tracker=tracker, device="cpu"), notes, f0)  # (frames, channels) in memory


def test_crepe_in_blocks_equals_the_whole_clips(tmp_path):
    path = _clip(tmp_path, 11.0, rate=16000)
    notes, f0 = _whole_clip(path, "crepe-tiny")
    assert len(notes) > 5
    _assert_same(transcribe_file(path, tracker="crepe-tiny", device="cpu"), notes, f0)  # blocks of whole batches


def test_progress_is_reported_per_block_and_can_cancel(tmp_path):
    path = _clip(tmp_path, 12.0)
    calls = []
    result = transcribe_file(path, device="cpu", progress=lambda fraction, text: calls.append((fraction, text)))
    fractions = [fraction for fraction, _ in calls]
    assert len(calls) >= 4 and fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 0.5
    assert "0:12" in calls[0][1]
    assert result.notes

    class Cancelled(Exception):
        pass

    def cancel(fraction, text):
        raise Cancelled

    with pytest.raises(Cancelled):
        transcribe_file(path, device="cpu", progress=cancel)


def test_an_unreadable_or_broken_file_is_an_input_error(tmp_path):
    from tutor.errors import InputFileError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file at all" * 10)
    with pytest.raises(InputFileError, match="cannot be read as audio"):
        transcribe_file(bad, device="cpu")
    nan = tmp_path / "nan.wav"
    audio = np.zeros(40_000, np.float32)
    audio[30_000] = np.nan
    soundfile.write(str(nan), audio, 16000, subtype="FLOAT")
    with pytest.raises(InputFileError, match="invalid samples"):
        transcribe_file(nan, device="cpu")


# ---------------------------------------------------------------------------------------------
# memory: a 10-minute recording under 1.5 GB, and hardly more than a 2-minute one
# ---------------------------------------------------------------------------------------------
LIMIT_MB = 1500
GROWTH_MB = 300


@pytest.mark.slow
def test_a_long_recording_transcribes_in_bounded_memory(tmp_path):
    peaks = {}
    for minutes in (2, 10):
        wav = tmp_path / f"take-{minutes}.wav"
        written = write_melody_wav(wav, minutes * 60.0)
        run = run_measured(tutor_command(wav), timeout_s=540)
        assert run["returncode"] == 0, run["stderr"][-2000:]
        assert abs(len(json.loads(run["stdout"])["notes"]) - len(written)) <= 0.02 * len(written)
        peaks[minutes] = run["peak_mb"]
        wav.unlink()
    assert peaks[10] < LIMIT_MB, peaks
    assert peaks[10] - peaks[2] < GROWTH_MB, peaks
