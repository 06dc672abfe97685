"""Piano by microphone in the app (issue 20): the Input list offers "Microphone (piano)", and an audio take
of a piano part (a real Disklavier recording, maps-dev) is reviewed through the piano transcriber with
the wrong, missed and extra notes marked on the score."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

import numpy as np
import pytest

from tests.conftest import shared
from tests.test_piano import PIECE, SPAN_S


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from tutor.ui.app import MainWindow

    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings, autosave_folder=tmp_path / "autosave")
    (tmp_path / "autosave").mkdir()
    win.resize(1300, 850)
    win.show()
    yield win
    win.practice_panel.shutdown()
    win.undo_stack.setClean()
    win.close()


def test_review_of_a_piano_audio_take_marks_its_errors(qtbot, window, tmp_path):
    import pretty_midi
    import soundfile

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / f"{PIECE}.flac"), dtype="float32")
    take = tmp_path / "take.wav"
    soundfile.write(str(take), audio[int(SPAN_S[0] * rate):int(SPAN_S[1] * rate)], rate)
    ref = np.loadtxt(root / "tsv" / f"{PIECE}.tsv", skiprows=1, ndmin=2)
    ref = ref[ref[:, 0] < SPAN_S[1]]
    ref[6, 2] -= 2  # a wrong note (the recording plays a tone higher)
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = [pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(b)) for a, b, p, v in ref]
    midi.instruments.append(piano)
    score_path = tmp_path / "piece.mid"
    midi.write(str(score_path))

    window.open_file(str(score_path))
    # (the Disklavier's unquantised MIDI cannot be engraved: the page stays empty, the review still runs)
    qtbot.waitUntil(lambda: window.score is not None, timeout=60000)
    panel = window.practice_panel
    assert panel.input_box.findData("mic-piano") >= 0
    assert panel.input_box.itemText(panel.input_box.findData("mic-piano")) == "Microphone (piano)"
    assert panel._piano_part() and panel._take_instrument(take) == "piano"
    panel.review(path=take)
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=300000)
    errors = [(e.type, e.expected_pitch, e.played_pitch) for e in panel.assessment.events
              if e.type in ("wrong_pitch", "missed", "extra")]
    assert errors == [("wrong_pitch", int(ref[6, 2]), int(ref[6, 2]) + 2)]
    assert panel.assessment.notes_correct == len(ref) - 1


def test_live_marks_from_a_piano_at_the_microphone(qtbot, window, tmp_path, monkeypatch):
    """'Microphone (piano)' with the recording standing in for the microphone (played at real-time pace):
    the notes the follower expects are heard live and ringed; the review then hears every note."""
    import pretty_midi
    import soundfile

    import tutor.ui.practice as practice
    from tutor.audio.devices import FileSource

    root = shared("real-audio", "maps-dev")
    audio, rate = soundfile.read(str(root / "flac" / f"{PIECE}.flac"), dtype="float32")
    take = tmp_path / "played.wav"
    soundfile.write(str(take), audio[int(SPAN_S[0] * rate):int(SPAN_S[1] * rate)], rate)
    ref = np.loadtxt(root / "tsv" / f"{PIECE}.tsv", skiprows=1, ndmin=2)
    ref = ref[ref[:, 0] < SPAN_S[1]]
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = [pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(b)) for a, b, p, v in ref]
    midi.instruments.append(piano)
    score_path = tmp_path / "piece.mid"
    midi.write(str(score_path))
    window.open_file(str(score_path))
    qtbot.waitUntil(lambda: window.score is not None, timeout=60000)
    panel = window.practice_panel
    panel.count_in.setValue(0)
    panel.metronome.setChecked(False)
    monkeypatch.setattr(practice, "DeviceSource", lambda device=None: FileSource(take, realtime=True, block_frames=256))
    panel.input_box.setCurrentIndex(panel.input_box.findData("mic-piano"))
    assert panel.start_take(input_kind="mic-piano")
    assert isinstance(panel.audio_live, practice.PianoLive)
    qtbot.waitUntil(lambda: panel.source is None or panel.recorder is None or panel.recorder.finished, timeout=30000)
    qtbot.wait(500)
    if panel.source is not None:
        panel.stop_take()
    correct = [e for e in panel.live_events if e.type == "correct"]
    assert len(correct) >= 0.6 * len(ref), (len(correct), len(ref))
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=300000)
    assert panel.assessment.notes_correct >= len(ref) - 2
