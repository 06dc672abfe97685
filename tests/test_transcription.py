"""Pitch tracking and note transcription on FluidSynth renders with exact ground truth and on vocadito."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.bench.bench_pitch import (
    RATE,
    away_from_boundaries,
    rearticulate,
    reference_f0,
    reference_for_render,
    render_midi,
    write_melody_midi,
)
from tests.conftest import shared
from tutor.listen.pitch import HOP_S, F0Track
from tutor.listen.transcription import notes_from_track, transcribe, transcribe_file

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists(),
    reason="fluidsynth and FluidR3_GM.sf2 are needed to render test clips")


def _render(tmp_path: Path, name: str, notes, *, program: int, vibrato=None) -> Path:
    midi = tmp_path / f"{name}.mid"
    write_melody_midi(midi, notes, program=program, vibrato=vibrato)
    wav = tmp_path / f"{name}.wav"
    render_midi(midi, wav)
    return wav


def _raw_pitch_accuracy(wav: Path, notes, f0: F0Track, *, vibrato=None) -> tuple[float, float]:
    """(RPA, RPA away from note boundaries) of a track against the exact f0 of a render (MIREX style: the
    pitch guess counts on unvoiced frames too, passed as a negative frequency)."""
    import mir_eval

    clean, _rate = soundfile.read(str(wav), dtype="float32")
    times, ref_f0, moved = reference_for_render(notes, clean, vibrato)
    estimate = np.where(f0.voiced, f0.f0_hz, -f0.f0_hz)
    scores = []
    for keep in (np.ones(len(times), bool),
                 away_from_boundaries(times, moved)):
        ref_v, ref_c, est_v, est_c = mir_eval.melody.to_cent_voicing(times[keep], ref_f0[keep], f0.times_s, estimate)
        scores.append(mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c))
    return scores[0], scores[1]


def _onset_f1(ref_notes, played, *, offsets: bool = False) -> float:
    import mir_eval

    if not played:
        return 0.0
    ref_int = np.array([[a, b] for _p, a, b in ref_notes])
    ref_hz = np.array([440.0 * 2 ** ((p - 69) / 12) for p, _a, _b in ref_notes])
    est_int = np.array([[n.onset_s, n.offset_s] for n in played])
    est_hz = np.array([440.0 * 2 ** ((n.pitch + n.cents / 100 - 69) / 12) for n in played])
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref_int, ref_hz, est_int, est_hz, onset_tolerance=0.05, pitch_tolerance=50.0,
        offset_ratio=0.2 if offsets else None)[2]


# raw pitch accuracy of the default tracker (PESTO) through the transcription on the renders below, overall /
# away from note boundaries (measured: melody 1.0 / 1.0, vibrato 0.993 / 1.0); the misses are the first
# frames of a note, where the analysis window still hears the last one over the new note's attack
RPA_MIN, STEADY_RPA_MIN = 0.96, 0.99

# a folk-like phrase on a clarinet, with a 60 ms grace note, a leap and a rest
MELODY = [(67, 0.30, 0.60), (69, 0.60, 0.90), (71, 0.90, 1.40), (72, 1.50, 1.56), (74, 1.56, 2.10),
          (79, 2.10, 2.60), (76, 2.60, 2.90), (74, 3.20, 3.80)]


@needs_fluidsynth
def test_melody_notes_and_intonation(tmp_path):
    wav = _render(tmp_path, "melody", MELODY, program=71)
    result = transcribe_file(wav, device="cpu")
    assert result.sample_rate == RATE
    assert _onset_f1(MELODY, result.notes) >= 0.85, [(n.pitch, n.onset_s) for n in result.notes]
    assert [n.pitch for n in result.notes] == [p for p, _a, _b in MELODY]
    for note in result.notes:
        assert abs(note.cents) < 15  # the synth plays in tune
        assert 0.0 < note.confidence <= 1.0
    performance = result.performance
    assert performance.is_audio and performance.pitch_track is not None
    assert performance.source_path == wav
    rpa, steady = _raw_pitch_accuracy(wav, MELODY, result.f0)
    assert rpa >= RPA_MIN and steady >= STEADY_RPA_MIN, (rpa, steady)


@needs_fluidsynth
def test_vibrato_is_one_note_and_repeated_notes_are_separate(tmp_path):
    # a held A4 with +-50 cents of vibrato at 5.5 Hz, then four repeated D5s (re-bowed: 40 ms breaks)
    notes = rearticulate([(69, 0.3, 2.0)] + [(74, 2.0 + 0.3 * i, 2.3 + 0.3 * i) for i in range(4)])
    wav = _render(tmp_path, "vibrato", notes, program=40, vibrato=(5.5, 50.0))
    result = transcribe_file(wav, device="cpu")
    pitches = [n.pitch for n in result.notes]
    assert pitches == [69, 74, 74, 74, 74], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]
    held = result.notes[0]
    assert abs(held.onset_s - 0.3) < 0.06 and abs(held.offset_s - 2.0) < 0.1
    assert abs(held.cents) < 15  # the median over a symmetric vibrato is the note
    assert _onset_f1(notes, result.notes) >= 0.99
    rpa, steady = _raw_pitch_accuracy(wav, notes, result.f0, vibrato=(5.5, 50.0))
    assert rpa >= RPA_MIN and steady >= STEADY_RPA_MIN, (rpa, steady)


@needs_fluidsynth
def test_legato_note_changes_start_at_the_attack(tmp_path):
    # a violin scale played legato: each new note's attack is quieter than the last note for a few tens of
    # ms, so the tracker's window hears the old pitch late; the note still starts at its attack (within
    # 25 ms) and the pitch track takes the new pitch there (measured: onsets 4-14 ms late, RPA 0.974)
    notes = [(62, 0.30, 0.55), (64, 0.55, 0.80), (66, 0.80, 1.05), (67, 1.05, 1.30), (69, 1.30, 1.80),
             (71, 1.80, 2.05), (73, 2.05, 2.30), (74, 2.30, 3.0)]
    wav = _render(tmp_path, "legato", notes, program=40)
    result = transcribe_file(wav, device="cpu")
    assert [n.pitch for n in result.notes] == [p for p, _a, _b in notes]
    clean, _rate = soundfile.read(str(wav), dtype="float32")
    _times, _f0, moved = reference_for_render(notes, clean, None)
    late_ms = [1000 * (n.onset_s - m[0]) for n, m in zip(result.notes[1:], moved[1:], strict=True)]
    assert all(abs(ms) <= 25 for ms in late_ms), late_ms
    rpa, steady = _raw_pitch_accuracy(wav, notes, result.f0)
    assert rpa >= 0.965 and steady >= STEADY_RPA_MIN, (rpa, steady)


@needs_fluidsynth
def test_held_oboe_vibrato_is_not_a_struck_repeat(tmp_path):
    # an oboe's held notes with vibrato: the swells bring flux bursts and 3 dB rises like a piano's repeated
    # stroke, but the level does not die away, so each written note stays one note
    notes = [(78, 0.3, 1.17), (74, 1.17, 2.9), (71, 2.9, 3.4)]
    wav = _render(tmp_path, "oboe", notes, program=68, vibrato=(5.5, 50.0))
    result = transcribe_file(wav, device="cpu")
    assert [n.pitch for n in result.notes] == [78, 74, 71], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]


@needs_fluidsynth
def test_sung_repeated_notes_split_and_vibrato_onset_does_not(tmp_path):
    # voice oohs with vibrato setting in 150 ms into each note: a G3 sung twice (the release fills the 40 ms
    # break, so only the level, the flux and the tracker's confidence mark it), then B3 and a long D4, whose
    # vibrato onset (the level swelling and fading with the pitch) once split it into two notes
    notes = rearticulate([(55, 0.3, 1.1), (55, 1.1, 1.9), (59, 1.9, 2.7), (62, 2.7, 4.4)])
    wav = _render(tmp_path, "sung", notes, program=53, vibrato=(5.5, 45.0))
    result = transcribe_file(wav, device="cpu")
    found = [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]
    assert [n.pitch for n in result.notes] == [55, 55, 59, 62], found
    assert _onset_f1(notes, result.notes) >= 0.99, found


@needs_fluidsynth
def test_scoop_takes_the_pitch_where_it_settles(tmp_path):
    import mido

    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.Message("program_change", program=53, time=0))
    track.append(mido.Message("pitchwheel", pitch=-6144, time=0))  # 150 cents flat
    track.append(mido.Message("note_on", note=64, velocity=90, time=288))  # 0.3 s at 120 bpm
    for step in range(1, 11):  # slides up over 100 ms
        track.append(mido.Message("pitchwheel", pitch=int(-6144 * (1 - step / 10)), time=19))
    track.append(mido.Message("note_off", note=64, velocity=0, time=960))
    path = tmp_path / "scoop.mid"
    midi.save(str(path))
    render_midi(path, tmp_path / "scoop.wav")
    result = transcribe_file(tmp_path / "scoop.wav", device="cpu")
    assert [n.pitch for n in result.notes] == [64]
    assert abs(result.notes[0].cents) < 15


def test_segmentation_handles_octave_slips_breaths_and_short_notes():
    """The note logic on a made-up pitch track: octave slips stay inside the note, a low-confidence
    breath makes no note, a 60 ms note survives."""
    n = 300
    times = np.arange(n) * HOP_S
    f0 = np.zeros(n)
    conf = np.zeros(n)
    level = np.full(n, -80.0)

    def put(start_s, end_s, midi, confidence=0.9):
        frames = (times >= start_s) & (times < end_s)
        f0[frames] = 440.0 * 2 ** ((midi - 69) / 12)
        conf[frames] = confidence
        level[frames] = -20.0

    put(0.10, 1.00, 60.1)
    f0[(times >= 0.40) & (times < 0.44)] *= 2.0  # tracker jumps an octave up for 40 ms
    f0[(times >= 0.70) & (times < 0.72)] *= 0.5  # and an octave down for 20 ms
    put(1.20, 1.26, 67.0)  # a 60 ms note
    put(1.26, 1.90, 65.0)
    put(2.10, 2.50, 70.0, confidence=0.1)  # breath noise: tracker not confident
    level[(times >= 2.10) & (times < 2.50)] = -45.0
    voiced = conf >= 0.5
    track = F0Track(times_s=times, f0_hz=f0, confidence=conf, voiced=voiced, level_db=level, tracker="test")
    notes = notes_from_track(track)
    assert [n.pitch for n in notes] == [60, 67, 65], [(n.pitch, n.onset_s, n.offset_s) for n in notes]
    assert abs(notes[0].cents - 10.0) < 2.0
    assert abs(notes[1].onset_s - 1.20) < 0.015 and abs(notes[1].offset_s - 1.26) < 0.015


def test_silence_gives_no_notes(tmp_path):
    quiet = (np.random.default_rng(0).standard_normal(RATE * 2) * 1e-4).astype(np.float32)
    assert transcribe(quiet, RATE, device="cpu").notes == ()
    path = tmp_path / "silence.wav"
    soundfile.write(str(path), np.zeros(RATE, np.float32), RATE)
    assert transcribe_file(path, device="cpu").notes == ()


@needs_fluidsynth
def test_stereo_and_other_sample_rates(tmp_path):
    wav = _render(tmp_path, "short", MELODY[:3], program=73)
    audio, rate = soundfile.read(str(wav), dtype="float32")
    import soxr

    audio44 = soxr.resample(audio, rate, 44100)
    stereo = np.column_stack([audio44, audio44 * 0.5])
    path = tmp_path / "stereo.flac"
    soundfile.write(str(path), stereo, 44100)
    result = transcribe_file(path, device="cpu")
    assert result.sample_rate == 44100
    assert [n.pitch for n in result.notes] == [67, 69, 71]


def test_vocadito_accuracy():
    """Real singing (vocadito 1, first 15 s): pitch accuracy against its f0 annotation and notes
    against annotator A1."""
    import mir_eval

    base = shared("f0-audio", "vocadito")
    audio, rate = soundfile.read(str(base / "Audio/vocadito_1.wav"), dtype="float32")
    clip_s = 15.0
    result = transcribe(audio[: int(clip_s * rate)], rate, device="cpu")
    ref = np.loadtxt(base / "Annotations/F0/vocadito_1_f0.csv", delimiter=",")
    keep = ref[:, 0] < clip_s - 0.1
    f0 = result.f0
    est = np.where(f0.voiced, f0.f0_hz, -f0.f0_hz)
    scores = mir_eval.melody.evaluate(ref[keep, 0], ref[keep, 1], f0.times_s, est)
    assert scores["Raw Pitch Accuracy"] >= 0.95, scores
    assert scores["Voicing Recall"] >= 0.9, scores
    notes = np.loadtxt(base / "Annotations/Notes/vocadito_1_notesA1.csv", delimiter=",")
    inside = notes[:, 0] + notes[:, 2] < clip_s - 0.2
    ref_notes = [(69 + 12 * np.log2(hz / 440), onset, onset + length) for onset, hz, length in notes[inside]]
    played = [n for n in result.notes if n.offset_s < clip_s - 0.2]
    # annotator A1 starts many notes after the scoop that we count as part of the note: onsets differ by
    # 50-90 ms there. A note after a rest starts where its pitch is heard, not at the consonant before it
    # (measured 0.53 here, 0.30 when it started at the level's rise; the benchmark: 0.57 on the whole clip)
    assert _onset_f1(ref_notes, played) >= 0.45


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``tutor transcribe`` in this process (models stay loaded between tests)."""
    from tutor.cli import main

    code = main(["transcribe", *args])
    out, err = capsys.readouterr()
    return code, out, err


@needs_fluidsynth
def test_cli_json_midi_and_f0(tmp_path, capsys):
    wav = _render(tmp_path, "cli", MELODY[:4], program=71)
    out_mid, out_csv = tmp_path / "notes.mid", tmp_path / "f0.csv"
    code, out, err = _cli(capsys, str(wav), "--tracker", "pesto", "--device", "cpu", "--json", "-o", str(out_mid),
                          "--f0", str(out_csv))
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"tracker", "sample_rate", "notes"}
    assert data["tracker"] == "pesto" and data["sample_rate"] == RATE
    assert [n["pitch"] for n in data["notes"]] == [67, 69, 71, 72]
    for note in data["notes"]:
        assert set(note) == {"onset", "offset", "pitch", "cents", "confidence"}
        assert isinstance(note["pitch"], int) and note["offset"] > note["onset"]
    import mido

    midi_notes = [m.note for m in mido.MidiFile(str(out_mid)) if m.type == "note_on" and m.velocity > 0]
    assert midi_notes == [67, 69, 71, 72]
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "time_s,f0_hz,confidence,voiced" and len(lines) > 100
    code, out, err = _cli(capsys, str(wav), "--tracker", "pesto")  # the human-readable listing
    assert code == 0 and "4 notes" in out and "G4" in out


def test_cli_bad_input_exits_2(tmp_path, capsys):
    corrupt = tmp_path / "take.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    out_mid = tmp_path / "out.mid"
    code, out, err = _cli(capsys, str(corrupt), "--json", "-o", str(out_mid))
    assert code == 2
    assert err.count("\n") == 1 and "take.wav" in err and "Traceback" not in err
    assert out == "" and not out_mid.exists()
    code, _out, err = _cli(capsys, str(tmp_path / "nothing.flac"))
    assert code == 2 and "no such file" in err
    code, _out, err = _cli(capsys, str(corrupt), "-o", str(tmp_path / "notes.txt"))
    assert code == 2 and ".mid" in err


def test_silent_file_cli_gives_empty_list(tmp_path, capsys):
    path = tmp_path / "silence.wav"
    soundfile.write(str(path), np.zeros(RATE // 2, np.float32), RATE)
    code, out, err = _cli(capsys, str(path), "--json", "--tracker", "pyin")
    assert code == 0, err
    assert json.loads(out) == {"tracker": "pyin", "sample_rate": RATE, "notes": []}


def test_pesto_stream_frames_follow_the_input():
    from tutor.listen.pitch import PestoStream

    rate = 16000
    t = np.arange(int(0.6 * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    stream = PestoStream(sample_rate=rate, device="cpu")
    got = [stream.push(tone[i:i + 700]) for i in range(0, len(tone), 700)]  # blocks that are not hops
    times = np.concatenate([g.times_s for g in got])
    f0 = np.concatenate([g.f0_hz for g in got])
    voiced = np.concatenate([g.voiced for g in got])
    assert len(times) == len(tone) // stream.hop
    assert np.allclose(np.diff(times), HOP_S)
    settled = voiced[10:]
    assert settled.mean() > 0.9
    assert np.median(np.abs(1200 * np.log2(f0[10:][settled] / 440.0))) < 10


def test_stream_small_batch_modules_match_pesto():
    """The stream's matmul modules give PESTO's own outputs when the input comes one hop at a time, whatever
    the size of the pushes and blocks (bfloat16 convolutions where the CPU has it: within 2 cents)."""
    import copy

    from tutor.listen.pitch import PestoStream, _pesto_checkpoint_model

    rate = 16000
    t = np.arange(int(0.8 * rate)) / rate
    f0 = np.where(t < 0.4, 220.0, 330.0) * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tone = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)).astype(np.float32)
    shipped = PestoStream(sample_rate=rate)
    shipped.model = copy.deepcopy(_pesto_checkpoint_model(rate, True, 1.0, HOP_S))
    reference = [shipped.push(tone[i:i + shipped.hop]) for i in range(0, len(tone), shipped.hop)]
    reference_f0 = np.concatenate([g.f0_hz for g in reference])
    voiced = np.concatenate([g.voiced for g in reference])
    assert voiced.mean() > 0.9
    for block_s in (0.0, 0.08):
        stream = PestoStream(sample_rate=rate, block_s=block_s)
        got = [stream.push(tone[i:i + 256]) for i in range(0, len(tone), 256)] + [stream.flush()]
        got_f0 = np.concatenate([g.f0_hz for g in got])
        assert np.array_equal(np.concatenate([g.voiced for g in got]), voiced)
        assert np.max(np.abs(1200 * np.log2(got_f0[voiced] / reference_f0[voiced]))) < 2.0


def test_stream_blocks_and_flush():
    from tutor.listen.pitch import PestoStream

    rate = 16000
    t = np.arange(int(0.5 * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    stream = PestoStream(sample_rate=rate, block_s=0.04)
    parts = [stream.push(tone[i:i + 256]) for i in range(0, len(tone), 256)]
    counts = [len(p.times_s) for p in parts]
    assert counts[0] == 0 and max(counts) <= 5  # nothing until 40 ms are in, then 4-5 frames a run
    parts.append(stream.flush())
    times = np.concatenate([p.times_s for p in parts])
    assert len(times) == len(tone) // stream.hop and np.allclose(np.diff(times), HOP_S)
    levels = np.concatenate([p.level_db for p in parts])
    assert len(levels) == len(times) and abs(np.median(levels) - 20 * np.log10(0.3 / np.sqrt(2))) < 0.5
    f0 = np.concatenate([p.f0_hz for p in parts])[10:]
    assert np.median(np.abs(1200 * np.log2(f0 / 440.0))) < 10
    assert len(stream.flush().times_s) == 0


def test_reference_f0_helper_is_exact():
    times, f0 = reference_f0([(69, 0.1, 0.2)], 0.3, None)
    assert np.allclose(f0[(times >= 0.1) & (times < 0.2)], 440.0) and f0[times >= 0.2].max() == 0


@needs_fluidsynth
def test_a_held_piano_note_lasts_until_its_key_is_released(tmp_path):
    # a piano's held note dies away: the tracker loses it 15 dB down (0.3-1 s in), but it sounds until the
    # key comes up; a note released early (dampers) ends at once: "short" in the assessment means that
    notes = [(67, 0.3, 2.3), (72, 2.3, 4.3), (71, 4.3, 4.6), (67, 5.8, 7.0)]
    wav = _render(tmp_path, "piano", notes, program=0)
    result = transcribe_file(wav, device="cpu")
    found = [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]
    assert [n.pitch for n in result.notes] == [67, 72, 71, 67], found
    for (_pitch, onset, offset), note in zip(notes, result.notes, strict=True):
        assert abs(note.onset_s - onset) < 0.05, found
        assert abs(note.offset_s - offset) < 0.25, found


def test_a_soft_note_struck_after_a_loud_one_is_not_its_tail():
    """A made-up track: a loud C5 dying away, then a soft F4 struck 18 dB under the C5's attack; the tail
    gate (15 dB under the loudest frame of the last second) reaches back only to the F4's attack."""
    n = 200
    times = np.arange(n) * HOP_S
    f0 = np.zeros(n)
    level = np.full(n, -80.0)
    loud = (times >= 0.1) & (times < 0.6)
    f0[loud] = 523.25
    level[loud] = -20.0 - 50.0 * (times[loud] - 0.1)  # -20 dB, falling 50 dB/s
    soft = (times >= 0.6) & (times < 1.4)
    f0[soft] = 349.23
    level[soft] = -37.0 - 4.0 * (times[soft] - 0.6)  # an 8 dB rise over the C5's decay, then falling
    conf = np.where(f0 > 0, 0.9, 0.0)
    track = F0Track(times_s=times, f0_hz=f0, confidence=conf, voiced=conf >= 0.5, level_db=level, tracker="test")
    notes = notes_from_track(track)
    assert [n.pitch for n in notes] == [72, 65], [(n.pitch, n.onset_s, n.offset_s) for n in notes]
    assert abs(notes[1].onset_s - 0.6) < 0.03 and notes[1].offset_s > 1.3


@needs_fluidsynth
def test_a_short_struck_note_a_semitone_off_is_a_note_not_a_fall(tmp_path):
    # piano B-flat, a 0.18 s B, then A (a turn in Chopin's op. 38 melody): the B starts with a stroke of its
    # own, a little after the cut, so it is not the B-flat's fall off its end
    notes = [(70, 0.3, 0.9), (71, 0.9, 1.08), (69, 1.08, 1.6), (72, 1.6, 2.2), (73, 2.2, 2.36), (71, 2.36, 3.0)]
    wav = _render(tmp_path, "turn", notes, program=0)
    result = transcribe_file(wav, device="cpu")
    assert [n.pitch for n in result.notes] == [70, 71, 69, 72, 73, 71], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]


@needs_fluidsynth
def test_a_quick_repeated_piano_note_after_a_rest_is_two_notes(tmp_path):
    # Schubert D783 no. 15's melody: after a rest, C#5 struck twice in 0.16 s, legato (no gap): the first
    # stroke is a note, not a scoop into the second
    notes = [(77, 0.3, 0.8), (73, 1.4, 1.56), (73, 1.56, 1.9), (73, 1.9, 2.5)]
    wav = _render(tmp_path, "repeat", notes, program=0)
    result = transcribe_file(wav, device="cpu")
    assert [n.pitch for n in result.notes] == [77, 73, 73, 73], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]


@needs_fluidsynth
@pytest.mark.parametrize(("pitch", "velocity"), [(66, 47), (64, 45)])
def test_a_soft_held_flute_note_with_slow_swells_is_one_note(tmp_path, pitch, velocity):
    # FluidR3's flute, soft in its low register: the level swells every 0.25 s (the sample's loop), 3-4 dB
    # at F#4 and 7 dB at E4, with a flux burst at each, and each swell's fall looks like a struck note dying
    # away over 0.3 s; but there is no breath or tongue gap, and the level had fallen as low before
    from tests.bench.bench_assessment import render
    from tutor.score.music import Performance, PlayedNote

    played = Performance(notes=(PlayedNote(pitch=pitch, onset_s=0.3, offset_s=2.2, velocity=velocity),
                                PlayedNote(pitch=68, onset_s=2.2, offset_s=2.7, velocity=55)))
    wav = render(played, tmp_path / "flute.wav", program=73)
    result = transcribe_file(wav, device="cpu")
    assert [n.pitch for n in result.notes] == [pitch, 68], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]


@needs_fluidsynth
def test_a_short_note_after_a_rest_is_not_a_scoop_into_the_next(tmp_path):
    # Schubert D783 no. 15: after a rest, a 0.16 s C#5 then C5. The C5's stroke comes after the C#5 has died
    # away by 4 dB: not the one onset still swelling (a sung scoop), so the C#5 is a note of its own
    notes = [(77, 0.3, 0.8), (73, 1.5, 1.66), (72, 1.66, 2.6)]
    wav = _render(tmp_path, "after_rest", notes, program=0)
    result = transcribe_file(wav, device="cpu")
    assert [n.pitch for n in result.notes] == [77, 73, 72], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]


def test_struck_repeats_are_split_but_a_swelling_held_note_is_not():
    """The struck-repeat cut on made-up level and flux curves (one segment, the same pitch throughout).
    A held note that swells every 0.23 s (a sampled wind's loop) with a small flux burst at each rise,
    its troughs 1.2 dB deeper each time, stays one note: the level swelled back up before each trough,
    which a struck string dying away never does. A struck note dying away and struck again is cut."""
    from tutor.listen.transcription import _split_struck_repeats

    n = 200
    t = np.arange(n) * HOP_S
    midi = np.full(n, 65.0)
    state = 65 - 24 + 1  # the Viterbi state of MIDI 65 (LOW_MIDI = 24)
    no_gap = np.ones(n)
    # blown in over 0.25 s, then swelling 7 dB every 0.23 s
    after = np.clip(t - 0.25, 0.0, None)
    swell = -40.0 + 3.5 * np.cos(2 * np.pi * after / 0.23) - 1.2 * np.maximum(np.floor(after / 0.23 - 0.25), 0.0)
    swell = np.where(t < 0.25, -50.0 + 13.5 * t / 0.25, swell)
    swell_flux = np.zeros(n)
    for k in range(7):  # a 1.3 burst as each swell rises out of its trough
        swell_flux[min(n - 1, round((0.25 + 0.115 + 0.23 * k) / HOP_S) + 3)] = 1.3
    assert _split_struck_repeats([[state, 0, n]], swell, no_gap, swell_flux, midi) == [[state, 0, n]]
    struck = np.where(t < 1.0, -30.0 - 12.0 * t, -30.0 - 12.0 * (t - 1.0))  # dies away, struck again at 1 s
    struck_flux = np.zeros(n)
    struck_flux[100:103] = 15.0
    cuts = [s[1] for s in _split_struck_repeats([[state, 0, n]], struck, no_gap, struck_flux, midi)]
    assert len(cuts) == 2 and abs(cuts[1] - 100) <= 3, cuts


@needs_fluidsynth
def test_a_slurred_neighbour_note_is_a_note_not_a_vibrato_flip(tmp_path):
    # Mozart K. 331 (bar 31) on FluidR3's flute: C#5, a 140 ms D5 slurred (the turn), C#5 again, two E5s.
    # The D5 holds its pitch for 100 ms; a vibrato's crest only passes through the semitone above, and only
    # that flip is merged back into its note
    from tests.bench.bench_assessment import render
    from tutor.score.music import Performance, PlayedNote

    notes = [(73, 0.34, 1.09, 87), (74, 1.07, 1.21, 86), (73, 1.23, 1.81, 103), (76, 1.75, 2.66, 103), (76, 2.66, 3.31, 108)]
    played = Performance(notes=tuple(PlayedNote(pitch=p, onset_s=a, offset_s=b, velocity=v) for p, a, b, v in notes))
    result = transcribe_file(render(played, tmp_path / "turn.wav", program=73), device="cpu")
    assert [n.pitch for n in result.notes] == [73, 74, 73, 76, 76], [(n.pitch, n.onset_s, n.offset_s) for n in result.notes]
