"""MIDI input: note pairing, sustain pedal, callbacks, virtual source, saving a take, ports."""

from __future__ import annotations

import time

import mido
import pytest

from tutor.audio import midi_input
from tutor.audio.midi_input import (
    NoteTracker,
    PortMidiSource,
    VirtualMidiSource,
    list_midi_inputs,
    midi_system_problem,
    save_take,
)
from tutor.cli import main
from tutor.errors import DeviceError
from tutor.listen.takes import load_performance
from tutor.score.io import load_score, save_score
from tutor.score.music import PlayedNote


def on(pitch, velocity=90, channel=0):
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(pitch, channel=0):
    return mido.Message("note_off", note=pitch, velocity=0, channel=channel)


def pedal(value):
    return mido.Message("control_change", control=64, value=value)


def test_note_on_off_pairs_into_played_notes():
    tracker = NoteTracker()
    tracker.feed(on(60, 100), 0.10)
    tracker.feed(on(64), 0.20)
    assert tracker.feed(off(60), 0.50) == PlayedNote(60, 0.10, 0.50, 100)
    tracker.feed(on(64, 0), 0.70)  # a note-on with velocity 0 is a note-off
    notes = tracker.performance().notes
    assert [(n.pitch, n.onset_s, n.offset_s) for n in notes] == [(60, 0.10, 0.50), (64, 0.20, 0.70)]


def test_restruck_key_and_held_notes_at_the_end():
    tracker = NoteTracker()
    tracker.feed(on(67), 0.0)
    tracker.feed(on(67), 0.4)  # struck again without a release
    tracker.feed(on(72, channel=1), 0.5)
    assert tracker.held == {67: 0.4, 72: 0.5}
    tracker.finish(1.0)
    notes = tracker.performance().notes
    assert [(n.pitch, n.onset_s, n.offset_s, n.channel) for n in notes] == [
        (67, 0.0, 0.4, 0), (67, 0.4, 1.0, 0), (72, 0.5, 1.0, 1)]


def test_sustain_pedal_events_and_what_is_heard():
    tracker = NoteTracker()
    tracker.feed(on(60), 0.0)
    tracker.feed(pedal(127), 0.2)
    tracker.feed(pedal(100), 0.25)  # still down: no new event
    tracker.feed(off(60), 0.3)
    tracker.feed(pedal(0), 1.2)
    take = tracker.performance()
    assert [(e.time_s, e.down) for e in take.pedal] == [(0.2, True), (1.2, False)]
    assert take.notes[0].offset_s == 0.3
    assert take.sustained().notes[0].offset_s == 1.2  # held by the pedal


def test_callbacks_fire_for_note_on_completed_note_and_pedal():
    seen = []
    source = VirtualMidiSource(on_note_on=lambda p, v, t: seen.append(("on", p, v, t)),
                               on_note=lambda n: seen.append(("note", n.pitch, n.onset_s, n.offset_s)),
                               on_pedal=lambda e: seen.append(("pedal", e.time_s, e.down)))
    source.send(on(62, 70), 1.0)
    source.send(pedal(127), 1.1)
    source.send(off(62), 1.5)
    assert seen == [("on", 62, 70, 1.0), ("pedal", 1.1, True), ("note", 62, 1.0, 1.5)]


def test_virtual_source_plays_a_corpus_piece_with_exact_times(tmp_path):
    score = load_score("corpus:bach/bwv66.6")
    path = tmp_path / "chorale.mid"
    save_score(score, path)
    take = VirtualMidiSource().play_file(path)
    played = sorted((n.pitch, round(n.onset_s, 4), round(n.offset_s, 4)) for n in take.notes)
    written = sorted((n.pitch, round(n.onset_s, 4), round(n.offset_s, 4)) for n in score.notes)
    assert played == written


def test_realtime_virtual_source_stamps_arrival_times():
    source = VirtualMidiSource().start()
    source.send(on(60))
    time.sleep(0.15)
    source.send(off(60))
    [note] = source.stop().notes
    assert 0.12 < note.duration_s < 0.5


def test_saved_take_reads_back_with_pedal(tmp_path):
    source = VirtualMidiSource()
    for message, t in [(on(60, 80), 0.25), (on(64, 90), 0.5), (pedal(127), 0.6), (off(60), 0.9),
                       (off(64), 1.0), (pedal(0), 1.75)]:
        source.send(message, t)
    take = source.stop()
    path = source.save(tmp_path / "take.mid")
    back = load_performance(path)
    assert [(n.pitch, n.velocity) for n in back.notes] == [(60, 80), (64, 90)]
    for a, b in zip(back.notes, take.notes, strict=True):
        assert a.onset_s == pytest.approx(b.onset_s, abs=0.002)
        assert a.offset_s == pytest.approx(b.offset_s, abs=0.002)
    assert [(round(e.time_s, 3), e.down) for e in back.pedal] == [(0.6, True), (1.75, False)]
    again = save_take(take, tmp_path / "again.mid")
    assert [(n.pitch, round(n.onset_s, 3)) for n in load_performance(again).notes] == [(60, 0.25), (64, 0.5)]


def test_port_listing_never_raises():
    assert isinstance(list_midi_inputs(), list)


def test_no_midi_port_is_a_clear_error(capsys, tmp_path):
    if list_midi_inputs():
        pytest.skip("this machine has MIDI inputs")
    with pytest.raises(DeviceError):
        PortMidiSource("keyboard")
    assert main(["record", "--midi", "keyboard", "--out", str(tmp_path / "take.mid"), "--seconds", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MIDI" in err[0]
    assert not (tmp_path / "take.mid").exists()
    if midi_system_problem() is None:
        assert "no MIDI input port" in err[0]


class _FakeMidiIn:
    """Stands in for rtmidi.MidiIn: one keyboard port; the test delivers (bytes, delta_s) events."""

    def __init__(self):
        self.callback = None
        self.opened = None

    def get_ports(self):
        return ["Midi Through 14:0", "Digital Piano 20:0"]

    def open_port(self, index, name=None):
        self.opened = index

    def ignore_types(self, **kwargs):
        pass

    def set_callback(self, callback, data=None):
        self.callback = callback

    def cancel_callback(self):
        self.callback = None

    def close_port(self):
        self.opened = None

    def delete(self):
        pass


def test_port_source_times_notes_by_the_driver_deltas(monkeypatch):
    fake = _FakeMidiIn()
    monkeypatch.setattr(midi_input, "_rtmidi_in", lambda: fake)
    heard = []
    source = PortMidiSource("piano", on_note=heard.append)
    assert source.name == "Digital Piano 20:0" and source.port_index == 1
    source.start()
    assert fake.opened == 1
    time.sleep(0.05)
    fake.callback(([0x90, 60, 100], 0.0))  # anchored at arrival
    fake.callback(([0xB0, 64, 127], 0.25))
    fake.callback(([0x80, 60, 0], 0.25))
    fake.callback(([0x90, 62, 70], 0.5))  # still held at stop
    take = source.stop()
    assert fake.callback is None and fake.opened is None
    first, second = take.notes
    assert first.pitch == 60 and 0.04 < first.onset_s < 0.5
    assert first.offset_s - first.onset_s == pytest.approx(0.5)
    assert second.pitch == 62 and second.onset_s - first.onset_s == pytest.approx(1.0)
    assert [e.down for e in take.pedal] == [True, False]  # released at the end of the take
    assert [n.pitch for n in heard] == [60, 62]
    with pytest.raises(DeviceError, match="no MIDI input port 'organ'.*Digital Piano"):
        PortMidiSource("organ")
