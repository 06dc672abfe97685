"""Playback and offline render (FluidSynth with the system GM soundfont, additive fallback), metronome."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import soundfile

from tutor.audio import playback
from tutor.audio.metronome import beats_of, click_schedule, click_track, steady_schedule
from tutor.audio.playback import Player, find_soundfont, plan_score, render_midi_to_wav, render_score_to_wav
from tutor.cli import main
from tutor.score.io import load_score, save_score
from tutor.score.music import Measure, Score, TempoChange, TempoMap, TimeSignature

WINDOW_S = 0.05  # onset tolerance, as in MIREX onset evaluation


def _needs_soundfont():
    if find_soundfont() is None:
        pytest.skip("no General MIDI soundfont installed (fluid-soundfont-gm)")


def _onsets(path):
    import librosa

    audio, sr = soundfile.read(path, dtype="float32")
    lead_s = 0.1  # silence before the start, so that a sound at 0.0 s has an onset too
    padded = np.concatenate([np.zeros(int(lead_s * sr), np.float32), audio.mean(axis=1)])
    return librosa.onset.onset_detect(y=padded, sr=sr, units="time", backtrack=False) - lead_s


def _f_measure(reference, estimated):
    import mir_eval

    return mir_eval.onset.f_measure(np.asarray(reference), np.asarray(estimated), window=WINDOW_S)[0]


def _dbfs(x):
    return 20 * np.log10(max(float(x), 1e-12))


@pytest.fixture(scope="module")
def chorale():
    return load_score("corpus:bach/bwv66.6")


@pytest.fixture(scope="module")
def chorale_render(chorale, tmp_path_factory):
    _needs_soundfont()
    out = tmp_path_factory.mktemp("render") / "bwv66.6.wav"
    return render_score_to_wav(chorale, out), out


def test_render_of_a_corpus_chorale_has_the_right_format_length_and_level(chorale, chorale_render):
    result, out = chorale_render
    assert result.engine == "fluidsynth" and result.offset_s == 0.0 and result.notes == len(chorale.notes)
    info = soundfile.info(out)
    assert info.samplerate == 44100 and info.channels == 2 and info.subtype == "PCM_16"
    assert info.frames / 44100 == pytest.approx(chorale.duration_s + playback.TAIL_S, abs=0.01)
    audio, _ = soundfile.read(out, dtype="float32")
    assert -20 < _dbfs(np.max(np.abs(audio))) <= -0.9  # loud enough, never clipped
    assert _dbfs(np.sqrt(np.mean(audio**2))) > -40
    assert _dbfs(np.max(np.abs(audio[-2205:]))) < -30  # the tail has died away


def test_rendered_notes_sound_at_the_score_times(chorale, chorale_render):
    _result, out = chorale_render
    reference = np.unique(np.round([n.onset_s for n in chorale.notes], 4))
    assert _f_measure(reference, _onsets(out)) >= 0.9


def test_count_in_and_tempo_shift_the_music(chorale, tmp_path):
    _needs_soundfont()
    excerpt = chorale.slice_measures(1, 2)
    out = tmp_path / "count-in.wav"
    result = render_score_to_wav(excerpt, out, bpm=120.0, count_in_bars=1, program=0)
    assert result.offset_s == pytest.approx(2.0)  # one 4/4 bar at 120 bpm
    assert soundfile.info(out).duration == pytest.approx(2.0 + 4.0 + playback.TAIL_S, abs=0.01)
    detected = _onsets(out)
    clicks = [0.0, 0.5, 1.0, 1.5]
    start_s = excerpt.at_tempo(bpm=120.0).seconds_at(excerpt.measures[0].start_ql)
    notes = np.unique(np.round([2.0 + n.onset_s - start_s for n in excerpt.at_tempo(bpm=120.0).notes], 4))
    assert _f_measure(clicks, detected[detected < 1.9]) == 1.0
    assert _f_measure(notes, detected[detected >= 1.9]) >= 0.9
    audio, _ = soundfile.read(out, dtype="float32")
    accent = np.max(np.abs(audio[: int(0.05 * 44100)]))
    beat = np.max(np.abs(audio[int(0.5 * 44100): int(0.55 * 44100)]))
    assert accent > beat * 1.3  # the downbeat is accented


def test_renders_are_reproducible(chorale, tmp_path):
    _needs_soundfont()
    excerpt = chorale.slice_measures(1, 1)
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    render_score_to_wav(excerpt, first)
    render_score_to_wav(excerpt, second)
    assert np.array_equal(soundfile.read(first)[0], soundfile.read(second)[0])


def test_midi_file_renders_with_its_own_timing_and_program(chorale, tmp_path):
    _needs_soundfont()
    midi = tmp_path / "chorale.mid"
    save_score(chorale.slice_measures(0, 3), midi)
    out = tmp_path / "chorale-guitar.wav"
    result = render_midi_to_wav(midi, out, program=24)
    plan = playback.plan_midi_file(midi, program=24)
    assert result.engine == "fluidsynth" and {n.program for n in plan.notes} == {24}
    reference = np.unique(np.round([n.onset_s for n in plan.notes], 4))
    assert _f_measure(reference, _onsets(out)) >= 0.9


def test_without_a_soundfont_the_additive_synth_plays(chorale, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(playback, "SOUNDFONT_PATHS", ())
    monkeypatch.delenv("TUTOR_SOUNDFONT", raising=False)
    excerpt = chorale.slice_measures(1, 3)
    out = tmp_path / "additive.wav"
    with caplog.at_level(logging.WARNING, logger="tutor.audio.playback"):
        result = render_score_to_wav(excerpt, out, sample_rate=22050)
    assert result.engine == "additive" and "no soundfont found" in caplog.text
    assert soundfile.info(out).samplerate == 22050
    start_s = excerpt.seconds_at(excerpt.measures[0].start_ql)
    reference = np.unique(np.round([n.onset_s - start_s for n in excerpt.notes], 4))
    assert _f_measure(reference, _onsets(out)) >= 0.9


def test_a_missing_configured_soundfont_is_an_error(tmp_path):
    from tutor.errors import InputFileError

    with pytest.raises(InputFileError, match="no-such.sf2"):
        find_soundfont(tmp_path / "no-such.sf2")


def test_player_plays_through_the_output_callback(chorale):
    finished = []
    player = Player(output="null", engine="additive", sample_rate=22050, on_finished=lambda: finished.append(True))
    excerpt = chorale.slice_measures(1, 1)
    plan = player.play(excerpt, bpm=480.0, count_in_bars=1)
    assert player.playing
    assert player.wait(10.0)
    assert finished == [True]
    assert player.position_s == pytest.approx(plan.duration_s, abs=0.05)
    assert player.start_latency_s is not None and player.start_latency_s < 1.0


# --- metronome -------------------------------------------------------------------------------------
def _score(measures, tempo):
    signatures = tuple(TimeSignature(m.number, m.start_ql, *map(int, m.time_signature.split("/"))) for m in measures)
    return Score(title="t", parts=(), notes=(), measures=tuple(measures), time_signatures=signatures,
                 tempo_map=TempoMap(tuple(tempo)))


def test_beats_of_simple_and_compound_meters():
    assert beats_of("4/4") == (4, 1.0)
    assert beats_of("3/4") == (3, 1.0)
    assert beats_of("2/2") == (2, 2.0)
    assert beats_of("6/8") == (2, 1.5)
    assert beats_of("12/8") == (4, 1.5)
    assert beats_of("3/8") == (3, 0.5)
    assert beats_of("5/8") == (5, 0.5)


def test_clicks_follow_meter_changes_and_tempo_changes():
    measures = [Measure(1, 0.0, 3.0, "3/4"), Measure(2, 3.0, 3.0, "6/8"), Measure(3, 6.0, 3.0, "6/8")]
    score = _score(measures, [TempoChange(0.0, 60.0), TempoChange(6.0, 120.0)])
    schedule = click_schedule(score, count_in_bars=1)
    assert schedule.count_in_s == pytest.approx(3.0)  # one 3/4 bar at 60
    count_in = [c for c in schedule.clicks if c.count_in]
    assert [(c.time_s, c.beat, c.accent) for c in count_in] == [(0.0, 1, True), (1.0, 2, False), (2.0, 3, False)]
    piece = [(round(c.time_s, 3), c.measure, c.beat, c.accent) for c in schedule.clicks if not c.count_in]
    assert piece == [
        (3.0, 1, 1, True), (4.0, 1, 2, False), (5.0, 1, 3, False),  # 3/4 at 60: a second a beat
        (6.0, 2, 1, True), (7.5, 2, 2, False),  # 6/8 at 60: dotted quarters, 1.5 s
        (9.0, 3, 1, True), (9.75, 3, 2, False),  # 6/8 at 120
    ]
    assert schedule.duration_s == pytest.approx(10.5)


def test_pickup_bar_clicks_its_last_beats_and_bpm_override(chorale):
    schedule = click_schedule(chorale, bpm=60.0, count_in_bars=1)
    assert schedule.count_in_s == pytest.approx(4.0)
    first_piece = [c for c in schedule.clicks if not c.count_in][:2]
    assert [(c.measure, c.beat, c.accent, c.time_s) for c in first_piece] == [(0, 4, False, 4.0), (1, 1, True, 5.0)]


def test_click_track_sounds_at_the_click_times():
    schedule = steady_schedule(bpm=120.0, time_signature="3/4", bars=2)
    audio = click_track(schedule, sample_rate=16000)
    assert len(audio) == pytest.approx(3.0 * 16000, abs=2)
    energy = [np.max(np.abs(audio[int(t * 16000): int(t * 16000) + 200])) for t in schedule.times_s]
    assert all(e > 0.2 for e in energy)
    assert energy[0] > energy[1] and energy[3] > energy[4]  # accented downbeats
    assert np.max(np.abs(audio[int(0.1 * 16000): int(0.45 * 16000)])) < 0.01  # silence between clicks


def test_a_plain_metronome_renders_without_notes():
    plan = playback.PlaybackPlan((), clicks=steady_schedule(bpm=90.0, time_signature="6/8", bars=2), tail_s=0.0)
    audio, _engine = playback.render_plan(plan, sample_rate=16000)
    assert len(audio) == pytest.approx(4.0 * 16000, abs=2)  # two 6/8 bars at 90 quarter notes a minute
    onsets = [t for t in (0.0, 1.0, 2.0, 3.0) if np.max(np.abs(audio[int(t * 16000): int(t * 16000) + 160])) > 0.1]
    assert onsets == [0.0, 1.0, 2.0, 3.0]


def test_plan_uses_part_channels_and_programs(chorale):
    plan = plan_score(chorale, program=None)
    assert sorted(plan.programs) == [0, 1, 2, 3]
    plan = plan_score(chorale, program=73)
    assert set(plan.programs.values()) == {73}


# --- command line --------------------------------------------------------------------------------------
def test_cli_render_and_errors(tmp_path, capsys):
    out = tmp_path / "tune.wav"
    assert main(["render", "corpus:bach/bwv66.6", "--out", str(out), "--tempo", "120", "--count-in", "1",
                 "--instrument", "0", "--synth", "additive", "--sample-rate", "16000"]) == 0
    assert "the music starts at 2.00 s" in capsys.readouterr().out
    assert soundfile.info(out).samplerate == 16000
    assert main(["render", "corpus:bach/bwv66.6", "--out", str(tmp_path / "x.wav"), "--instrument", "200"]) == 2
    assert main(["render", "corpus:bach/bwv66.6", "--out", str(tmp_path / "x.mp3")]) == 2
    assert main(["render", str(tmp_path / "missing.musicxml"), "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("tutor: error:") for line in err)
    assert not (tmp_path / "x.wav").exists()


def test_cli_devices_json(capsys):
    assert main(["devices", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"audio_inputs", "audio_outputs", "midi_inputs", "midi_outputs"}
    assert main(["devices"]) == 0
    text = capsys.readouterr().out
    assert "Audio inputs:" in text and "MIDI inputs:" in text
