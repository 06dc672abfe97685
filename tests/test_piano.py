"""Piano by microphone (issue 20): a few seconds of a real Disklavier recording (maps-dev, a development
piece; tests/bench/bench_piano.py measures the held-out ones) transcribed by ``tutor.listen.piano`` once,
then: its notes against the piano's own MIDI, the errors an assessment finds when the score is altered,
the CLI's JSON and MIDI, and how a take's instrument is chosen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import shared

PIECE = "MAPS_MUS-mz_311_1_ENSTDkCl"  # Mozart K. 311, close microphones (dev split: even index)
SPAN_S = (0.0, 6.2)  # ends between two notes (5.66-5.86 s and 6.27 s)


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """(wav path, reference rows (onset, offset, pitch, velocity), transcription) of the excerpt."""
    import soundfile

    from tutor.listen.piano import transcribe_piano_file

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / f"{PIECE}.flac"), dtype="float32")
    audio = audio[int(SPAN_S[0] * rate):int(SPAN_S[1] * rate)]
    path = tmp_path_factory.mktemp("piano") / "take.wav"
    soundfile.write(str(path), audio, rate)
    ref = np.loadtxt(root / "tsv" / f"{PIECE}.tsv", skiprows=1, ndmin=2)
    ref = ref[(ref[:, 0] >= SPAN_S[0]) & (ref[:, 0] < SPAN_S[1])]
    ref[:, :2] -= SPAN_S[0]
    return path, ref, transcribe_piano_file(path, device="cpu")


def test_notes_of_a_real_piano_recording(take):
    import mir_eval

    _, ref, result = take
    notes = result.notes
    est = np.array([(n.onset_s, n.offset_s, n.pitch) for n in notes])
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)
    assert f >= 0.9, (p, r, f)
    assert all(n.cents is None and 1 <= n.velocity <= 127 for n in notes)
    loud = max(notes, key=lambda n: n.velocity)
    assert loud.velocity > 40


def score_midi(rows, path, *, shortest_s: float = 0.0):
    """Reference rows (onset, offset, pitch, velocity) written as a one-part piano MIDI file at ``path``
    (each note at least ``shortest_s`` long)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = [pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(max(b, a + shortest_s)))
                   for a, b, p, v in rows]
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


def _score(rows, folder):
    from tutor.score.io import load_score

    return load_score(score_midi(rows, folder / "score.mid", shortest_s=0.05))


def test_assessment_finds_the_wrong_missed_and_extra_notes(take, tmp_path):
    """The score is the recording's own MIDI with one pitch changed, one note deleted and one added: an
    assessment of the audio take reports exactly those (and the keyboard part is heard as a piano)."""
    from tutor.api.analyses import assess
    from tutor.api.requests import AssessRequest

    path, ref, result = take
    rows = ref.copy()
    # the sixth note (1.37 s, a melody note) a tone lower; the twelfth (1.67 s) deleted; one added at 3.0 s
    wrong_index, deleted_index = 6, 11
    rows[wrong_index, 2] -= 2
    deleted = rows[deleted_index].copy()
    rows = np.delete(rows, deleted_index, axis=0)
    added = np.array([[3.0, 3.3, 90, 70]])
    rows = np.vstack([rows, added])
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    score = _score(rows, tmp_path)
    assessment = assess(score, AssessRequest(path))
    errors = [e for e in assessment.events if e.type not in ("correct", "early", "late", "short", "long")]
    wrong = [e for e in errors if e.type == "wrong_pitch"]
    missed = [e for e in errors if e.type == "missed"]
    extra = [e for e in errors if e.type == "extra"]
    assert len(wrong) == 1 and wrong[0].played_pitch == int(ref[wrong_index, 2]), errors
    assert len(missed) == 1 and missed[0].expected_pitch == 90, errors
    assert len(extra) == 1 and extra[0].played_pitch == int(deleted[2]) and abs(extra[0].time - deleted[0]) < 0.1, errors
    assert assessment.notes_correct >= len(rows) - 3


def test_cli_json_and_midi_with_the_pedal(take, tmp_path, capsys):
    import mido

    from tutor.cli import main

    path, ref, _ = take
    out = tmp_path / "take.mid"
    assert main(["transcribe", str(path), "--instrument", "piano", "--device", "cpu", "--json", "-o", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tracker"] == "transkun-2.0" and doc["sample_rate"] == 16000
    assert len(doc["notes"]) >= 0.9 * len(ref)
    for note in doc["notes"]:
        assert set(note) >= {"onset", "offset", "pitch", "confidence", "velocity", "cents"}
        assert note["cents"] is None and note["offset"] > note["onset"]
    midi = mido.MidiFile(str(out))
    messages = [m for track in midi.tracks for m in track]
    assert sum(m.type == "note_on" and m.velocity > 0 for m in messages) == len(doc["notes"])
    pedal = [m for m in messages if m.type == "control_change" and m.control == 64]
    assert len(pedal) == 2 * len(doc["pedal"])


def test_which_transcriber_hears_a_take():
    from tutor.api.requests import AssessRequest, TranscribeRequest
    from tutor.errors import AnalysisError
    from tutor.listen.piano import is_keyboard_part
    from tutor.listen.takes import take_instrument
    from tutor.score.io import load_score
    from tutor.score.music import Part

    assert is_keyboard_part(Part("P1", "Piano", 0)) and is_keyboard_part(Part("P1", "Part 1", 0))
    assert is_keyboard_part(Part("P1", "Organ", 19)) and is_keyboard_part(Part("P2", "Klavier", 40))
    assert not is_keyboard_part(Part("P1", "Violin", 40)) and not is_keyboard_part(Part("P1", "Voice", 0))
    assert not is_keyboard_part(Part("P1", "Melody", 73))
    twinkle = load_score("assets/demo/twinkle.musicxml")  # a flute part: a single line
    assert take_instrument(twinkle) is None and take_instrument(twinkle, "piano") == "piano"
    assert TranscribeRequest("x.wav", instrument="piano").piano
    with pytest.raises(AnalysisError):
        TranscribeRequest("x.wav", instrument="kazoo")
    with pytest.raises(AnalysisError):
        TranscribeRequest("x.wav", instrument="piano", tracker="crepe")
    assert AssessRequest("x.wav", instrument="voice").fields()["instrument"] == "voice"


def test_sounding_spans_skip_silence():
    from tutor.listen.piano import sounding_spans

    rate = 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(5 * rate, np.float32), tone])
    spans = sounding_spans(audio, rate)
    assert len(spans) == 2
    assert spans[0][0] == 0 and spans[0][1] < 2 * rate and spans[1][0] > 5 * rate and spans[1][1] == len(audio)
    assert sounding_spans(np.zeros(rate, np.float32), rate) == []


def test_live_onsets_of_the_notes_the_score_expects(take):
    """The live path hears the expected pitches of the real recording as they are struck (the
    follower's window simulated: pitches starting from 0.3 s before to 0.4 s after the time heard)."""
    import soundfile

    from tutor.listen.piano_live import PianoOnsets

    path, ref, _ = take
    audio, rate = soundfile.read(str(path), dtype="float32")
    onsets = PianoOnsets(rate)

    def expected():
        now = onsets.consumed / rate
        return sorted({int(p) for p in ref[(ref[:, 0] > now - 0.3) & (ref[:, 0] < now + 0.4), 2]})

    found, lags = [], []
    for start in range(0, len(audio), 256):
        for onset_s, pitch in onsets.push(audio[start:start + 256], expected):
            found.append((onset_s, pitch, (start + 256) / rate))
    used = np.zeros(len(ref), bool)
    for onset_s, pitch, heard_s in found:
        match = np.flatnonzero(~used & (ref[:, 2] == pitch) & (np.abs(ref[:, 0] - onset_s) < 0.1))
        if len(match):
            used[match[0]] = True
            lags.append(heard_s - ref[match[0], 0])
    assert used.mean() >= 0.75, used.mean()
    assert used.sum() >= 0.55 * len(found), (used.sum(), len(found))  # the lighter path: the review hears every note
    assert np.median(lags) < 0.12


def test_the_apps_clicks_are_never_notes(take, tmp_path):
    """The app's count-in bar and metronome clicks (tutor.audio.metronome's click track, 120 bpm) mixed into
    the real recording as a microphone hears them: the live path, told when the clicks were played, hears
    no note in the count-in even when it listens for the pitches the clicks sit on, and during the piece
    the clicks add almost no onsets and lose almost none; the transcriber makes no note of the clicks."""
    import time

    import soundfile

    from tutor.audio.devices import FileSource
    from tutor.audio.metronome import click_track, steady_schedule
    from tutor.audio.recording import Recorder
    from tutor.listen.piano import transcribe_piano
    from tutor.listen.piano_live import PianoLiveListener, PianoOnsets

    path, ref, _ = take
    audio, rate = soundfile.read(str(path), dtype="float32")
    lead_s = 2.0
    schedule = steady_schedule(bpm=120, bars=5, count_in_bars=1)
    clicks = click_track(schedule, sample_rate=rate, duration_s=lead_s + len(audio) / rate, gain=0.5)
    clean = np.concatenate([np.zeros(int(lead_s * rate), np.float32), audio])
    clicked = clean + clicks[: len(clean)]
    ref = ref.copy()
    ref[:, 0] += lead_s
    click_pitches = {69, 74, 76, 81, 88, 93}  # A6 (1760 Hz), E6 (1320 Hz) and the notes with a partial there

    def heard(signal, click_times):
        onsets, found = PianoOnsets(rate, click_times=click_times), []
        for start in range(0, len(signal), 256):
            now = start / rate
            window = {int(p) for p in ref[(ref[:, 0] > now - 0.3) & (ref[:, 0] < now + 0.4), 2]}
            found += onsets.push(signal[start:start + 256], sorted(window | click_pitches))
        return found

    # through the app's live listener, from a recorder: nothing in the count-in (its clicks in silence)
    soundfile.write(str(tmp_path / "mic.wav"), clicked, rate)
    recorder = Recorder(FileSource(tmp_path / "mic.wav", realtime=False), tmp_path / "take.wav")
    listener = PianoLiveListener(recorder, lambda: sorted(click_pitches | {int(p) for p in ref[:3, 2]}))
    listener.set_clicks(schedule.times_s, schedule.count_in_s)
    listener.start()
    recorder.start()
    recorder.wait(timeout_s=60)
    deadline = time.monotonic() + 60  # the file was read at once: let the listener hear all of it before Stop
    while (not listener.analysed or listener.analysed[-1][0] < len(clicked) / rate - 0.2) and time.monotonic() < deadline:
        time.sleep(0.05)
    listener.stop(timeout_s=60)
    assert schedule.count_in_s == lead_s and listener.onsets and min(t for t, _ in listener.onsets) > lead_s - 0.2

    # during the piece (13 metronome clicks, six pitches with a partial at a click always listened for)
    with_clicks = [f for f in heard(clicked, schedule.times_s) if f[0] >= lead_s - 0.1]
    without = [f for f in heard(clean, ()) if f[0] >= lead_s - 0.1]

    def true(found):
        return sum(1 for t, p in found if np.any((ref[:, 2] == p) & (np.abs(ref[:, 0] - t) < 0.1)))

    assert true(with_clicks) >= true(without) - 2
    assert len(with_clicks) - true(with_clicks) <= len(without) - true(without) + 5, (with_clicks, without)
    assert transcribe_piano(clicks[: int(lead_s * rate) * 2], rate, device="cpu").notes == ()


def _albeniz_excerpt(start_s: float, stop_s: float):
    """maps-dev's Albeniz (dev split) from ``start_s`` to ``stop_s`` (``_maps_excerpt``)."""
    return _maps_excerpt("MAPS_MUS-alb_se2_ENSTDkCl", start_s, stop_s)


def _maps_excerpt(piece: str, start_s: float, stop_s: float):
    """maps-dev's ``piece`` from ``start_s`` to ``stop_s``: (mono audio, its rate, the reference rows [onset,
    offset, pitch, velocity] starting in it, times from the excerpt's start)."""
    import soundfile

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / f"{piece}.flac"), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)[int(start_s * rate):int(stop_s * rate)]
    ref = np.loadtxt(root / "tsv" / f"{piece}.tsv", skiprows=1, ndmin=2)
    ref = ref[(ref[:, 0] >= start_s) & (ref[:, 0] < stop_s - 0.05)]
    ref[:, :2] -= start_s
    return audio, rate, ref


def test_a_repeat_the_transcriber_merged_is_heard_again(tmp_path):
    """Albeniz (maps-dev, dev split), 18-24 s: D4 struck at 20.08 s and again at 21.81 s. A take where the
    two are one long note (as the transcriber merges repeats and trills) has the second "missed" by the
    alignment alone; the second listen at D4's partials hears the re-attack, so it is played. A note
    added to the score (E5 at 2.0 s, not in the recording) stays missed; an extra note an octave above a
    struck one is said unsure."""
    import pretty_midi

    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice.assessment import assess
    from tutor.score.io import load_score
    from tutor.score.music import Performance, PlayedNote

    audio, rate, ref = _albeniz_excerpt(18.0, 24.0)
    repeat = int(np.flatnonzero((ref[:, 2] == 62) & (np.abs(ref[:, 0] - 3.81) < 0.05))[0])
    first = int(np.flatnonzero((ref[:, 2] == 62) & (np.abs(ref[:, 0] - 2.08) < 0.05))[0])
    take = [PlayedNote(pitch=int(p), onset_s=float(a), offset_s=float(b), velocity=int(v))
            for i, (a, b, p, v) in enumerate(ref) if i not in (first, repeat)]
    take.append(PlayedNote(pitch=62, onset_s=float(ref[first, 0]), offset_s=float(ref[repeat, 1]), velocity=60))
    performance = Performance(notes=tuple(sorted(take, key=lambda n: (n.onset_s, n.pitch))))
    assert not any(abs(n[0] - 2.0) < 0.5 and int(n[2]) == 76 for n in ref)
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    rows = [*ref.tolist(), [2.0, 2.3, 76, 70]]
    piano.notes = [pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(max(b, a + 0.05)))
                   for a, b, p, v in rows]
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "score.mid"))
    score = load_score(tmp_path / "score.mid")

    def missed(result) -> set[tuple[int, float]]:
        notes = {n.id: n for n in score.notes}
        return {(notes[e.note_id].pitch, round(notes[e.note_id].onset_s, 1)) for e in result.events
                if e.type == "missed" and not e.unsure}

    assert (62, 3.8) in missed(assess(score, performance))
    heard = missed(assess(score, performance, evidence=PartialEvidence(audio, rate)))
    assert (62, 3.8) not in heard
    assert (76, 2.0) in heard

    # a Bb4 heard with the Bb3 at 2.93 s (velocity 49) may be the transcriber's octave ghost: louder than
    # the Bb3, an extra said unsure; no louder, not told (as the ghosts are)
    def extras_at_70(velocity: int) -> list:
        ghost = PlayedNote(pitch=70, onset_s=2.94, offset_s=3.4, velocity=velocity)
        with_ghost = Performance(notes=tuple(sorted([*performance.notes, ghost], key=lambda n: (n.onset_s, n.pitch))))
        return [e for e in assess(score, with_ghost, evidence=PartialEvidence(audio, rate)).events
                if e.type == "extra" and e.played_pitch == 70]

    extras = extras_at_70(80)
    assert len(extras) == 1 and extras[0].unsure
    assert extras_at_70(49) == []

    # a D5 struck 0.09 s after the E5 was due (missed by the alignment) is one wrong note, not a missed
    # E5 and an extra D5; a ghost the transcriber gives a velocity of 3 is not told at all
    wrong = PlayedNote(pitch=74, onset_s=2.09, offset_s=2.4, velocity=70)
    faint = PlayedNote(pitch=69, onset_s=5.0, offset_s=5.9, velocity=3)
    events = assess(score, Performance(notes=tuple(sorted([*performance.notes, wrong, faint],
                                                          key=lambda n: (n.onset_s, n.pitch)))),
                    evidence=PartialEvidence(audio, rate)).events
    assert [(e.expected_pitch, e.played_pitch) for e in events if e.type == "wrong_pitch"] == [(76, 74)]
    assert not any(e.type in ("missed", "extra") and 74 in (e.expected_pitch, e.played_pitch) for e in events)
    assert not any(e.type == "extra" and e.played_pitch == 69 for e in events)


def test_the_second_listen_in_blocks_equals_one_block(monkeypatch, tmp_path):
    """The take's spectrum is made in blocks (bounded memory on an hour's take): the rises and the strikes
    are those of the whole take at once; the second listen is made for piano audio takes only."""
    import soundfile

    from tutor.listen import piano_evidence
    from tutor.listen.piano_evidence import PartialEvidence, evidence_for_take

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / "MAPS_MUS-alb_se2_ENSTDkCl.flac"), dtype="float32",
                                 always_2d=True)
    audio = audio.mean(axis=1)[18 * rate:24 * rate]
    whole = PartialEvidence(audio, rate)
    monkeypatch.setattr(piano_evidence, "BLOCK_FRAMES", 37)
    blocks = PartialEvidence(audio, rate)
    assert blocks.rise.shape == whole.rise.shape == (len(whole.flux), 128)
    np.testing.assert_allclose(blocks.rise, whole.rise, atol=1e-3)
    np.testing.assert_allclose(blocks.flux, whole.flux, atol=1e-5)

    wav = tmp_path / "take.wav"
    soundfile.write(str(wav), audio, rate)
    assert isinstance(evidence_for_take(wav, "piano"), PartialEvidence)
    assert evidence_for_take(wav, "voice") is None and evidence_for_take(wav, None) is None
    assert evidence_for_take(tmp_path / "take.mid", "piano") is None


def test_a_take_transcribed_while_it_is_recorded_gets_the_whole_files_notes(tmp_path):
    """Issue 20: a take is transcribed segment by segment while the recorder writes it (17 s of Mozart,
    2.5 s of silence, 4 s more, played at real-time pace into the recorder); after the recording the
    tail is transcribed and the notes and pedal are exactly those of the whole file."""
    import time

    import soundfile

    from tutor.audio.devices import FileSource
    from tutor.audio.recording import Recorder
    from tutor.errors import TutorError
    from tutor.listen.piano import TakeFileTranscriber, transcribe_piano_file

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / f"{PIECE}.flac"), dtype="float32")
    clip = np.concatenate([audio[:17 * rate], np.zeros(int(2.5 * rate), np.float32), audio[17 * rate:21 * rate]])
    played = tmp_path / "played.wav"
    soundfile.write(str(played), clip, rate)
    take = tmp_path / "take.wav"
    recorder = Recorder(FileSource(played, realtime=True, block_frames=256), take)
    live = TakeFileTranscriber(take, device="cpu")
    recorder.start()
    live.start()
    deadline = time.monotonic() + 180
    while live.segments_done < 1 and live.error is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first segment is heard before the take is over (not after close())
    assert live.segments_done >= 1 and live.error is None
    assert recorder.wait(timeout_s=120)
    live.close()
    streamed = live.result(timeout_s=600)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as another part of the app may leave this thread (the take's thread has its own)
    try:
        whole = transcribe_piano_file(take, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert len(whole.notes) > 100
    assert streamed.performance.notes == whole.performance.notes
    assert streamed.performance.pedal == whole.performance.pedal
    np.testing.assert_array_equal(streamed.performance.onset_odds.odds, whole.performance.onset_odds.odds)
    assert live.segments_done == 3  # two in the first stretch, one after the silence

    cancelled = TakeFileTranscriber(take, device="cpu").start()
    cancelled.cancel()
    with pytest.raises(TutorError):
        cancelled.result(timeout_s=60)


def test_the_transcribers_own_odds_rescue_a_note_it_left_out(tmp_path):
    """Issue 20, score-informed: Albeniz (maps-dev, dev split), 14-20 s: the Bb1 struck at 16.91 s is not
    in the transcription (the model's best reading leaves it out), so against the recording's own MIDI
    the alignment calls it missed, and the second listen at the partials (no Bb1 sounding in the
    transcription to listen inside) does not hear it. The transcriber's own odds of a Bb1 starting then
    (``Performance.onset_odds``: its semi-CRF's best reading with the note, against its best reading)
    are far above that pitch's odds around it: the note is played. A note added to the score (E5 at
    2.0 s, never played) stays missed."""
    import soundfile

    from tutor.listen.piano import transcribe_piano
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice.assessment import assess
    from tutor.score.io import load_score

    audio, rate, ref = _albeniz_excerpt(14.0, 20.0)
    assert any(int(p) == 34 and abs(a - 2.91) < 0.05 for a, _, p, _ in ref)
    assert not any(int(p) == 76 and abs(a - 2.0) < 0.5 for a, _, p, _ in ref)
    performance = transcribe_piano(audio, rate, device="cpu").performance
    assert not any(n.pitch == 34 and abs(n.onset_s - 2.91) < 0.3 for n in performance.notes)  # left out
    odds = performance.onset_odds
    assert odds is not None and odds.odds.shape[0] == 88
    assert abs(odds.odds.shape[1] * odds.frame_s - len(audio) / rate) < 0.05
    score = load_score(score_midi([*ref.tolist(), [2.0, 2.3, 76, 70]], tmp_path / "score.mid", shortest_s=0.05))
    notes = {n.id: n for n in score.notes}
    evidence = PartialEvidence(audio, rate)

    def missed(perf) -> set[tuple[int, float]]:
        return {(notes[e.note_id].pitch, round(notes[e.note_id].onset_s, 1))
                for e in assess(score, perf, evidence=evidence).events if e.type == "missed"}

    from dataclasses import replace

    assert {(34, 2.9), (76, 2.0)} <= missed(replace(performance, onset_odds=None))  # the sound alone
    heard = missed(performance)
    assert (34, 2.9) not in heard
    assert (76, 2.0) in heard
    # Transkun's own class (float32; what a GPU runs) gives the odds too (its own decoder's notes)
    shipped_class = transcribe_piano(audio, rate, device="cpu", fast=False).performance
    assert shipped_class.onset_odds is not None and shipped_class.onset_odds.odds.shape == odds.odds.shape
    assert (34, 2.9) not in missed(shipped_class)

    # the same through the library layer (``tutor assess``, the service, batch and lessons read a take so)
    from tutor.api.analyses import assess as assess_take
    from tutor.api.requests import AssessRequest

    wav = tmp_path / "take.wav"
    soundfile.write(str(wav), audio, rate)
    events = assess_take(score, AssessRequest(wav)).events
    assert {(notes[e.note_id].pitch, round(notes[e.note_id].onset_s, 1)) for e in events if e.type == "missed"} == heard


def test_the_strikes_asked_about_are_those_of_the_whole_take():
    """The second listen's strike candidates, found by the live detector over a question's window only, are
    those it finds playing the whole take (times, pitches and features), at the take's start and inside it."""
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.models.training.train_piano_strikes import collect

    audio, rate, _ = _maps_excerpt("MAPS_MUS-pathetique_2_ENSTDkAm", 2.0, 8.0)
    evidence = PartialEvidence(audio, rate)
    times_s, pitches, features = collect(evidence.audio16)
    for start_s, stop_s in ((0.0, 0.3), (2.9, 3.2), (3.33, 3.71)):
        t, p, x = evidence.strike_candidates(start_s, stop_s)
        whole = (times_s >= start_s) & (times_s <= stop_s)
        here = (t >= start_s) & (t <= stop_s)
        assert whole.sum() > 10
        np.testing.assert_array_equal(t[here], times_s[whole])
        np.testing.assert_array_equal(p[here], pitches[whole])
        np.testing.assert_allclose(x[here], features[whole])
    assert evidence.strike_p(20, 0.0, 5.0) == 0.0 and evidence.strike_p(56, 3.2, 3.0) == 0.0


def test_a_take_transcribed_on_a_host_keeps_the_onset_odds(take):
    """Issue 20: the app's review of a piano take transcribed on a `tutor serve` host gets the notes and
    the transcriber's onset odds as here (the host's JSON carries them when asked: the review's second
    listen uses them); `tutor transcribe --json` does not carry them."""
    from tests.service_host import app_in_thread
    from tutor.listen.piano import piano_performance, piano_transcription_json
    from tutor.remote.routing import AnalysisRouter
    from tutor.service.server import ServiceConfig, create_app

    path, _, here = take
    assert "onset_odds" not in piano_transcription_json(here)
    doc = piano_transcription_json(here, onset_odds=True)
    np.testing.assert_array_equal(piano_performance(doc).onset_odds.odds, here.performance.onset_odds.odds)
    assert piano_performance(piano_transcription_json(here)).onset_odds is None

    token = "piano-odds-token-0123456789"
    with app_in_thread(create_app(ServiceConfig(token=token, device="cpu"))) as (url, _stop):
        router = AnalysisRouter()
        router.configure(device="cpu", url=url, token=token)
        remote = router.read_take(path, instrument="piano")
    assert router.text.startswith("Analysis: remote")  # the host answered
    assert remote.notes == here.performance.notes
    np.testing.assert_array_equal(remote.onset_odds.odds, here.performance.onset_odds.odds)
    assert remote.onset_odds.frame_s == here.performance.onset_odds.frame_s


def test_a_wrong_note_a_tone_from_the_written_one_is_not_heard_as_it(tmp_path):
    """Issue 20, detection: Chopin's prelude op. 28/14 (maps-dev, dev split), 11-19 s, two notes written a tone
    from what was played. The C#3 struck at 13.82 s is written as B2: the alignment keeps the two apart (a
    missed B2 and an extra C#3), and the struck C#3's partials and the transcriber's odds leak into the B2
    a tone below, so a second listen asked first called the B2 played ("correct") and the C#3 extra. The
    Bb3 struck with a Bb2 at 18.16 s is written as Ab3: the alignment gave the Bb3 to the Bb2 (an octave
    off, which the transcriber did not hear) and called the Ab3 missed. The review says what happened:
    C#3 played instead of B2, Bb3 instead of Ab3; the Bb2 was played; nothing missed or extra there."""
    from tutor.listen.piano import transcribe_piano
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice.assessment import assess
    from tutor.score.io import load_score

    audio, rate, ref = _maps_excerpt("MAPS_MUS-chpn-p14_ENSTDkAm", 11.0, 19.0)
    rows = ref.copy()
    for at_s, struck, written in ((2.82, 49, 47), (7.16, 58, 56)):
        index = np.flatnonzero((ref[:, 2] == struck) & (np.abs(ref[:, 0] - at_s) < 0.05))
        assert len(index) == 1
        rows[index[0], 2] = written
    assert any(int(p) == 46 and abs(a - 7.16) < 0.05 for a, _, p, _ in ref)  # the Bb2 under the Bb3
    score = load_score(score_midi(rows, tmp_path / "score.mid", shortest_s=0.05))
    notes = {n.id: n for n in score.notes}
    performance = transcribe_piano(audio, rate, device="cpu").performance
    assert any(n.pitch == 49 and abs(n.onset_s - 2.82) < 0.05 for n in performance.notes)  # the C#3 heard
    assert any(n.pitch == 58 and abs(n.onset_s - 7.16) < 0.05 for n in performance.notes)  # the Bb3 heard
    assert not any(n.pitch == 46 and abs(n.onset_s - 7.16) < 0.1 for n in performance.notes)  # the Bb2 not
    events = assess(score, performance, evidence=PartialEvidence(audio, rate)).events
    for at_s, struck, written in ((2.82, 49, 47), (7.16, 58, 56)):
        here = [e for e in events if (e.note_id in notes and abs(notes[e.note_id].onset_s - at_s) < 0.05
                                      and abs(notes[e.note_id].pitch - struck) in (2, 12))
                or (e.type == "extra" and e.time is not None and abs(e.time - at_s) < 0.1)]
        assert sorted((e.type, e.expected_pitch, e.played_pitch) for e in here if e.type != "correct") == \
            [("wrong_pitch", written, struck)], here
    assert not any(e.type == "missed" and notes[e.note_id].pitch == 46 for e in events if e.note_id in notes)


def test_a_wrong_note_is_not_a_written_note_played_late(tmp_path):
    """Issue 20, detection: Chopin's prelude op. 28/14 (maps-dev, dev split), 16.5-19 s. The G2 struck at 17.34 s
    is written as F2, and the F2 struck at 18.04 s is not written at all. The alignment gave that F2 to the
    written F2 0.7 s before it ("hesitation before this note") and called the G2 extra; the review says
    what a teacher would: G2 played instead of F2, and an extra F2 at 18.04 s."""
    from tutor.listen.piano import transcribe_piano
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice.assessment import assess
    from tutor.score.io import load_score

    start_s = 16.5
    audio, rate, ref = _maps_excerpt("MAPS_MUS-chpn-p14_ENSTDkAm", start_s, 19.0)
    g2_s, f2_s = 17.34 - start_s, 18.04 - start_s
    wrong = np.flatnonzero((ref[:, 2] == 43) & (np.abs(ref[:, 0] - g2_s) < 0.05))
    added = np.flatnonzero((ref[:, 2] == 41) & (np.abs(ref[:, 0] - f2_s) < 0.05))
    assert len(wrong) == 1 and len(added) == 1
    rows = ref.copy()
    rows[wrong[0], 2] = 41
    rows = np.delete(rows, added[0], axis=0)
    score = load_score(score_midi(rows, tmp_path / "score.mid", shortest_s=0.05))
    notes = {n.id: n for n in score.notes}
    performance = transcribe_piano(audio, rate, device="cpu").performance
    assert any(n.pitch == 43 and abs(n.onset_s - g2_s) < 0.05 for n in performance.notes)  # the G2 heard
    assert any(n.pitch == 41 and abs(n.onset_s - f2_s) < 0.05 for n in performance.notes)  # the F2 heard
    events = assess(score, performance, evidence=PartialEvidence(audio, rate)).events
    here = [e for e in events if e.type != "correct" and (
        (e.note_id in notes and notes[e.note_id].pitch == 41 and abs(notes[e.note_id].onset_s - g2_s) < 0.05)
        or (e.type == "extra" and e.time is not None and (abs(e.time - g2_s) < 0.1 or abs(e.time - f2_s) < 0.1)))]
    assert sorted((e.type, e.expected_pitch, e.played_pitch) for e in here) == \
        [("extra", None, 41), ("wrong_pitch", 41, 43)], here


def _as_written(rows, *, left_out=()) -> list:
    """A made piano take of ``rows`` (onset_s, offset_s, pitch, velocity) played as written at velocity 70,
    less the notes whose (pitch, onset_s) are in ``left_out``."""
    from tutor.score.music import PlayedNote

    return [PlayedNote(pitch=int(p), onset_s=a, offset_s=b, velocity=70) for a, b, p, _ in rows if (p, a) not in left_out]


def _made_take_events(score, notes, *, seconds: int, onset_odds=None) -> tuple:
    """``assess``'s events for a piano audio take of ``notes`` (in any order), the second listen given
    ``seconds`` of silence (only the transcriber's notes and odds speak)."""
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice.assessment import assess
    from tutor.score.music import Performance

    take = Performance(notes=tuple(sorted(notes, key=lambda n: (n.onset_s, n.pitch))), onset_odds=onset_odds)
    return assess(score, take, evidence=PartialEvidence(np.zeros(16000 * seconds, np.float32), 16000)).events


def test_a_note_struck_before_its_time_is_not_the_next_written_one(tmp_path):
    """Issue 20, detection (a made piano take): E5 is written at 2 s and 4 s; the student strikes an E5 at
    1.75 s that is not written, the one at 2 s, and leaves out the one at 4 s. The alignment gave the E5 at
    1.75 s to the written one at 2 s and the E5 at 2 s to the one at 4 s (2 s off, yet "correct"); the review
    says an extra E5 at 1.75 s and the E5 at 4 s missed, nothing else."""
    from tutor.score.io import load_score
    from tutor.score.music import PlayedNote

    melody = [60, 62, 64, 65, 76, 67, 69, 71, 76, 74, 72, 71]
    rows = [(0.5 * i, 0.5 * i + 0.45, p, 70) for i, p in enumerate(melody)] + \
        [(1.0 * i, 1.0 * i + 0.9, 48, 60) for i in range(6)]
    score = load_score(score_midi(rows, tmp_path / "score.mid"))
    notes = _as_written(rows, left_out={(76, 4.0)}) + [PlayedNote(pitch=76, onset_s=1.75, offset_s=1.95, velocity=70)]
    events = _made_take_events(score, notes, seconds=7)
    by_id = {n.id: n for n in score.notes}
    told = sorted((e.type, e.played_pitch if e.type == "extra" else e.expected_pitch,
                   e.time if e.type == "extra" else by_id[e.note_id].onset_s)
                  for e in events if e.type in ("extra", "missed", "wrong_pitch"))
    assert told == [("extra", 76, 1.75), ("missed", 76, 4.0)], told
    assert [e for e in events if e.type == "correct" and e.expected_pitch == 76] and \
        all(abs(e.time - by_id[e.note_id].onset_s) < 0.05 for e in events if e.type == "correct")


def test_a_ghost_two_octaves_below_a_struck_note_is_not_told(tmp_path):
    """Issue 20: the transcriber sometimes hears a low note whose upper partials are a struck note's (maps-dev,
    dev split: Schumann's Kinderszenen 6, G1 and A1 under chords with G3 and A3). An extra note two octaves
    below a note struck with it, none struck an octave above it, that the transcriber's own odds read by
    a margin under 1, is not told; read clearly (or without the odds), it is an extra."""
    from tutor.score.io import load_score
    from tutor.score.music import OnsetOdds, PlayedNote

    rows = [(0.5 * i, 0.5 * i + 0.45, p, 70) for i in range(8) for p in (50, 55, 59)]
    score = load_score(score_midi(rows, tmp_path / "score.mid"))
    frame_s = 0.02
    odds = np.full((88, 250), -20.0, np.float16)

    def extras(ghost_odds: float | None) -> list:
        ghost = PlayedNote(pitch=31, onset_s=1.5, offset_s=1.6, velocity=80)  # G1 under the G3 struck at 1.5 s
        table = odds.copy()
        if ghost_odds is not None:
            table[31 - 21, round(1.5 / frame_s)] = ghost_odds
        events = _made_take_events(score, [*_as_written(rows), ghost], seconds=5,
                                   onset_odds=None if ghost_odds is None else OnsetOdds(frame_s, 21, table))
        return [e.played_pitch for e in events if e.type == "extra"]

    assert extras(0.5) == []
    assert extras(4.0) == [31]
    assert extras(None) == [31]


def test_a_ghost_over_a_melody_in_octaves_is_not_told(tmp_path):
    """Issue 20 (maps-dev dev split: Chopin's prelude op. 28/14, both hands in octaves): the transcriber hears a note
    an octave above the upper note of an octave pair, louder than either (both sound its pitch). Struck with exactly
    those two notes it is not told as an extra note; struck with a chord that has them (a note a tone away as well),
    or above a single note, it is. A note of the melody left out is still an extra when played."""
    from tutor.score.io import load_score
    from tutor.score.music import PlayedNote

    rows = [(0.5 * i, 0.5 * i + 0.45, p + 12 * k, 70) for i, p in enumerate((50, 53, 55, 57, 58, 57, 55, 53)) for k in (0, 1)]
    score = load_score(score_midi(rows, tmp_path / "score.mid"))

    def extras(added: list) -> list:
        events = _made_take_events(score, [*_as_written(rows), *added], seconds=5)
        return sorted((e.played_pitch, round(e.time, 2)) for e in events if e.type == "extra")

    ghost = PlayedNote(pitch=79, onset_s=1.0, offset_s=1.4, velocity=90)  # G5 over the G3-G4 at 1 s
    assert extras([ghost]) == []
    chord = PlayedNote(pitch=57, onset_s=1.0, offset_s=1.4, velocity=70)  # an A3 played with them too
    assert (79, 1.0) in extras([ghost, chord])
    assert extras([PlayedNote(pitch=79, onset_s=3.2, offset_s=3.4, velocity=90)]) == [(79, 3.2)]  # over nothing


def test_a_played_octave_the_strike_model_hears_is_told_extra(monkeypatch, tmp_path):
    """Issue 20, extra notes and the strike model: Mozart's K. 311 (maps-dev, dev split), 0-6 s. The A4 struck at
    0.53 s and the D4 at 5.46 s sound over a note an octave below, struck with them as loud, so the octave-ghost rule
    alone takes them for the transcriber's ghosts. Deleted from the score (the student played notes not written),
    they are told as extra notes (said unsure): the live marks' strike model (``PartialEvidence.strike_p``) hears
    each pitch struck itself (P >= STRIKE_EXTRA_P). Without asking it (as before), neither is told. Albeniz (dev
    split), 0-3.5 s: the D5 the transcriber hears over the D4 struck at 0.52 s, never played, stays silent (the
    model's P there, 0.62 with today's weights, is under the threshold)."""
    from tutor.listen.piano import transcribe_piano
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice import assessment
    from tutor.score.io import load_score

    audio, rate, ref = _maps_excerpt("MAPS_MUS-mz_311_1_ENSTDkCl", 0.0, 6.0)
    played = {(69, 0.53), (62, 5.46)}
    deleted = np.array([any(int(p) == pitch and abs(a - onset_s) < 0.03 for pitch, onset_s in played)
                        for a, _, p, _ in ref])
    assert deleted.sum() == 2
    performance = transcribe_piano(audio, rate, device="cpu").performance
    evidence = PartialEvidence(audio, rate)
    for pitch, onset_s in played:
        got = next(n for n in performance.notes if n.pitch == pitch and abs(n.onset_s - onset_s) < 0.05)
        source = assessment._overtone_of_a_strike(got, performance.notes)
        assert assessment._ghost_rule(got, performance.notes, source, performance.onset_odds) == "octave"
    score = load_score(score_midi(ref[~deleted], tmp_path / "score.mid", shortest_s=0.05))

    def extras(score, evidence) -> dict[tuple[int, float], bool]:
        return {(e.played_pitch, round(e.time, 1)): e.unsure
                for e in assessment.assess(score, performance, evidence=evidence).events if e.type == "extra"}

    assert extras(score, evidence) == {(69, 0.5): True, (62, 5.5): True}
    monkeypatch.setattr(assessment, "STRIKE_ASKED_RULES", frozenset())  # the ghost rules alone: as before
    assert extras(score, evidence) == {}
    monkeypatch.undo()

    audio, rate, ref = _maps_excerpt("MAPS_MUS-alb_se2_ENSTDkCl", 0.0, 3.5)
    assert not any(int(p) == 74 for _, _, p, _ in ref) and any(int(p) == 62 and abs(a - 0.52) < 0.03 for a, _, p, _ in ref)
    performance = transcribe_piano(audio, rate, device="cpu").performance
    assert any(n.pitch == 74 and abs(n.onset_s - 0.52) < 0.05 for n in performance.notes)  # the ghost
    score = load_score(score_midi(ref, tmp_path / "albeniz.mid", shortest_s=0.05))
    evidence = PartialEvidence(audio, rate)
    assert extras(score, evidence) == {}


def test_a_wrong_note_is_not_the_written_note_of_its_pitch_a_chord_away(tmp_path):
    """Issue 20, detection: Schumann's Kinderszenen 6 (maps-dev, dev split), 16.5-21 s. The A2 struck at 19.22 s
    is written as B2; the transcriber does not hear the A2 written at 17.81 s (under an A1). The alignment
    gave the A2 struck at 19.22 s to that one, 1.4 s before it ("hesitation before this note"), and called the
    B2 missed; the review says what happened: A2 played instead of B2, and no A2 early or late."""
    from tutor.listen.piano import transcribe_piano
    from tutor.listen.piano_evidence import PartialEvidence
    from tutor.practice.assessment import assess
    from tutor.score.io import load_score

    start_s = 16.5
    audio, rate, ref = _maps_excerpt("MAPS_MUS-scn15_6_ENSTDkAm", start_s, 21.0)
    struck_s = 19.22 - start_s
    wrong = np.flatnonzero((ref[:, 2] == 45) & (np.abs(ref[:, 0] - struck_s) < 0.05))
    assert len(wrong) == 1
    rows = ref.copy()
    rows[wrong[0], 2] = 47
    score = load_score(score_midi(rows, tmp_path / "score.mid", shortest_s=0.05))
    notes = {n.id: n for n in score.notes}
    performance = transcribe_piano(audio, rate, device="cpu").performance
    assert any(n.pitch == 45 and abs(n.onset_s - struck_s) < 0.05 for n in performance.notes)  # the A2 heard
    events = assess(score, performance, evidence=PartialEvidence(audio, rate)).events
    a2_or_b2 = [e for e in events if e.type != "correct" and e.note_id in notes and notes[e.note_id].pitch in (45, 47)]
    assert [(e.type, e.expected_pitch, e.played_pitch) for e in a2_or_b2] == [("wrong_pitch", 47, 45)], a2_or_b2



def test_a_faint_ghost_stands_for_no_written_note(tmp_path):
    """Issue 20, detection (a made piano take): the transcriber hears ghosts of a held chord at velocity 3-8 (on
    maps-dev's dev pieces no played note got under 35), which are never told as extra notes. A C major
    chord is written three times; the E4 of the second is left out, and the transcriber hears an E4 ghost
    there (velocity 5). The ghost stands for no written note: the E4 is missed (it was "correct")."""
    from tutor.score.io import load_score
    from tutor.score.music import PlayedNote

    rows = [(1.0 * i, 1.0 * i + 0.9, p, 70) for i in range(3) for p in (60, 64, 67)]
    score = load_score(score_midi(rows, tmp_path / "score.mid"))
    notes = _as_written(rows, left_out={(64, 1.0)}) + [PlayedNote(pitch=64, onset_s=1.02, offset_s=1.5, velocity=5)]
    events = _made_take_events(score, notes, seconds=4)
    by_id = {n.id: n for n in score.notes}
    told = [(e.type, e.expected_pitch, by_id[e.note_id].onset_s) for e in events if e.type != "correct"]
    assert told == [("missed", 64, 1.0)], told


def test_the_last_written_note_is_listened_for_after_the_last_chord_played(tmp_path):
    """Issue 20, detection (a made piano take): the transcriber leaves out a take's last note, though its own
    odds read a note of that pitch starting when it was due. That note is due after the last chord played,
    at the pace of the chords before it (up to EDGE_QL), and listened for as any other: played, not missed."""
    from tutor.score.io import load_score
    from tutor.score.music import OnsetOdds

    melody = [60, 62, 64, 65, 67, 69, 71, 72]
    rows = [(0.5 * i, 0.5 * i + 0.45, p, 70) for i, p in enumerate(melody)]
    score = load_score(score_midi(rows, tmp_path / "score.mid"))
    frame_s = 0.02
    odds = np.full((88, 250), -20.0, np.float16)
    odds[72 - 21, round(3.5 / frame_s)] = 2.0  # the C5 due at 3.5 s, read by the model
    events = _made_take_events(score, _as_written(rows[:-1]), seconds=5, onset_odds=OnsetOdds(frame_s, 21, odds))
    assert not [e for e in events if e.type != "correct"], [e for e in events if e.type != "correct"]
