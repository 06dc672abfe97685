"""MIDI keyboard input: timestamped messages -> ``PlayedNote``s and sustain-pedal events.

``NoteTracker`` is the pure logic (note-on/off pairing, a velocity-0 note-on is a note-off, a re-struck
key ends the sounding note, sustain pedal CC 64 >= 64 is down, open notes closed at the end).
``PortMidiSource(port, on_note_on=..., on_note=..., on_pedal=...)`` reads a port through python-rtmidi,
timed by the driver's timestamps; ``VirtualMidiSource`` is fed in memory (``send``, ``play_file``) for
tests and demos. Callbacks run on the MIDI thread. ``source.stop()`` returns the take as a ``Performance``
(seconds from ``start()``); ``save_take`` writes it as a MIDI file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tutor.errors import DeviceError, InputFileError
from tutor.score.music import PedalEvent, Performance, PlayedNote, sort_played

log = logging.getLogger(__name__)

SUSTAIN_CC = 64
TICKS_PER_QUARTER = 480
SAVE_BPM = 120.0  # tempo written into saved takes: 1 beat = 0.5 s, ticks map straight to seconds


class NoteTracker:
    """Pairs note-ons with note-offs and follows the sustain pedal. Thread-safe."""

    def __init__(self, *, on_note_on: Callable[[int, int, float], None] | None = None,
                 on_note: Callable[[PlayedNote], None] | None = None,
                 on_pedal: Callable[[PedalEvent], None] | None = None) -> None:
        self.on_note_on = on_note_on
        self.on_note = on_note
        self.on_pedal = on_pedal
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) -> (onset_s, velocity)
        self._notes: list[PlayedNote] = []
        self._pedal: list[PedalEvent] = []
        self._pedal_down: dict[int, bool] = {}
        self.messages: list[tuple[float, object]] = []  # (time_s, mido.Message) as received
        self.last_time_s = 0.0

    def feed(self, message, time_s: float) -> PlayedNote | None:
        """Take one ``mido.Message`` at ``time_s``; returns the note it completed, if any."""
        finished: PlayedNote | None = None
        started: tuple[int, int] | None = None
        pedal: PedalEvent | None = None
        with self._lock:
            self.messages.append((time_s, message))
            self.last_time_s = max(self.last_time_s, time_s)
            kind = message.type
            if kind == "note_on" and message.velocity > 0:
                key = (message.channel, message.note)
                if key in self._open:  # re-struck without a note-off: end the sounding note here
                    finished = self._close(key, time_s)
                self._open[key] = (time_s, message.velocity)
                started = (message.note, message.velocity)
            elif kind == "note_off" or (kind == "note_on" and message.velocity == 0):
                key = (message.channel, message.note)
                if key in self._open:
                    finished = self._close(key, time_s)
            elif kind == "control_change" and message.control == SUSTAIN_CC:
                down = message.value >= 64
                if self._pedal_down.get(message.channel, False) != down:
                    self._pedal_down[message.channel] = down
                    pedal = PedalEvent(time_s, down)
                    self._pedal.append(pedal)
        if started is not None and self.on_note_on is not None:
            self.on_note_on(started[0], started[1], time_s)
        if finished is not None and self.on_note is not None:
            self.on_note(finished)
        if pedal is not None and self.on_pedal is not None:
            self.on_pedal(pedal)
        return finished

    def _close(self, key: tuple[int, int], time_s: float) -> PlayedNote:
        onset_s, velocity = self._open.pop(key)
        note = PlayedNote(pitch=key[1], onset_s=onset_s, offset_s=max(time_s, onset_s), velocity=velocity,
                          channel=key[0])
        self._notes.append(note)
        return note

    def finish(self, end_s: float | None = None) -> list[PlayedNote]:
        """End the notes still held at ``end_s`` (default: the last message's time)."""
        with self._lock:
            end = self.last_time_s if end_s is None else end_s
            closed = [self._close(key, end) for key in sorted(self._open)]
            if any(self._pedal_down.values()):
                self._pedal.append(PedalEvent(end, False))
                self._pedal_down.clear()
        if self.on_note is not None:
            for note in closed:
                self.on_note(note)
        return closed

    @property
    def held(self) -> dict[int, float]:
        """Pitches sounding now -> their onset_s."""
        with self._lock:
            return {pitch: onset for (_channel, pitch), (onset, _v) in self._open.items()}

    def performance(self, *, source_path: Path | None = None) -> Performance:
        """The completed notes so far (held notes are not included until they end)."""
        with self._lock:
            return Performance(notes=sort_played(self._notes), source_path=source_path,
                               pedal=tuple(sorted(self._pedal, key=lambda e: e.time_s)))


class MidiSource:
    """Base class: start/stop, callbacks, the take as a ``Performance`` and as a .mid file."""

    kind = "midi"

    def __init__(self, *, name: str, on_note_on=None, on_note=None, on_pedal=None) -> None:
        self.name = name
        self.tracker = NoteTracker(on_note_on=on_note_on, on_note=on_note, on_pedal=on_pedal)
        self._started_at: float | None = None
        self._running = False
        self.error: DeviceError | None = None

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def start(self) -> MidiSource:
        if not self._running:
            self._open()
            self._started_at = time.perf_counter()
            self._running = True
        return self

    def stop(self) -> Performance:
        """Stop listening, end held notes now, return the take."""
        if self._running:
            self._running = False
            self._close()
            self.tracker.finish(max(self.elapsed_s, self.tracker.last_time_s))
        return self.performance()

    def __enter__(self) -> MidiSource:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self._started_at is None else time.perf_counter() - self._started_at

    def receive(self, message, time_s: float | None = None) -> PlayedNote | None:
        """Feed one ``mido.Message`` (at ``time_s`` seconds from start; default: now)."""
        return self.tracker.feed(message, self.elapsed_s if time_s is None else time_s)

    def performance(self) -> Performance:
        return self.tracker.performance()

    @property
    def notes(self) -> tuple[PlayedNote, ...]:
        return self.performance().notes

    def save(self, path: str | Path) -> Path:
        """Write every message received (with its timing) to a .mid file, atomically."""
        return save_messages(self.tracker.messages, path)


class VirtualMidiSource(MidiSource):
    """In-memory MIDI input: tests and demos push messages with ``send``/``play_file``."""

    kind = "virtual"

    def __init__(self, name: str = "virtual", **callbacks) -> None:
        super().__init__(name=name, **callbacks)

    def send(self, message, time_s: float | None = None) -> PlayedNote | None:
        if not self._running:
            self.start()
        return self.receive(message, time_s)

    def play_file(self, path: str | Path, *, realtime: bool = False) -> Performance:
        """Send every message of a MIDI file (at its times; ``realtime`` waits for them)."""
        import mido

        try:
            midi = mido.MidiFile(str(path))
        except Exception as error:  # noqa: BLE001 - mido raises many types (EOFError, KeyError, ValueError...) for corrupt data
            raise InputFileError(f"cannot be read as MIDI ({error})", path=path) from None
        self.start()
        elapsed = 0.0
        for message in midi:  # merged tracks, .time in seconds since the previous message
            elapsed += message.time
            if message.is_meta:
                continue
            if realtime:
                delay = elapsed - self.elapsed_s
                if delay > 0:
                    time.sleep(delay)
            self.receive(message, elapsed)
        return self.stop()


def _rtmidi_in():
    try:
        import rtmidi
    except ImportError as error:
        raise DeviceError(f"python-rtmidi is not installed ({error})") from None
    try:
        return rtmidi.MidiIn()
    except rtmidi.RtMidiError as error:  # no ALSA sequencer (/dev/snd/seq), no CoreMIDI server...
        log.info("no MIDI system: %s", str(error).strip())  # the details (ALSA's words) for a log, not the student
        raise DeviceError("no MIDI keyboard can be reached: this computer's MIDI system is not running "
                          "(connect the keyboard by USB and start the app again, or choose another Input)") from None


def list_midi_inputs() -> list[str]:
    """Names of the MIDI input ports; empty when there are none or no MIDI system is running."""
    from tutor.audio.devices import _quiet_stderr

    with _quiet_stderr():
        try:
            midi_in = _rtmidi_in()
        except DeviceError:
            return []
        try:
            return list(midi_in.get_ports())
        finally:
            midi_in.delete()


def list_midi_outputs() -> list[str]:
    from tutor.audio.devices import _quiet_stderr

    with _quiet_stderr():
        try:
            import rtmidi
        except ImportError:
            return []
        try:
            midi_out = rtmidi.MidiOut()
        except rtmidi.RtMidiError:  # no MIDI system running
            return []
        try:
            return list(midi_out.get_ports())
        finally:
            midi_out.delete()


def midi_system_problem() -> str | None:
    """Why MIDI ports cannot be listed, or None when the MIDI system works."""
    from tutor.audio.devices import _quiet_stderr

    with _quiet_stderr():
        try:
            _rtmidi_in().delete()
        except DeviceError as error:
            return str(error)
    return None


def find_midi_input(port: str | int | None) -> tuple[int, str]:
    """(index, name) of the input port given by number or (part of its) name; None: the first."""
    from tutor.audio.devices import _quiet_stderr

    with _quiet_stderr():
        midi_in = _rtmidi_in()
        try:
            ports = list(midi_in.get_ports())
        finally:
            midi_in.delete()
    if not ports:
        raise DeviceError("no MIDI input port found; connect a keyboard (see `tutor devices`)")
    if port is None:
        return 0, ports[0]
    if isinstance(port, int) or str(port).isdigit():
        number = int(port)
        if 0 <= number < len(ports):
            return number, ports[number]
    else:
        for index, name in enumerate(ports):
            if str(port).lower() in name.lower():
                return index, name
    listed = ", ".join(f"{i} ({n})" for i, n in enumerate(ports))
    raise DeviceError(f"no MIDI input port {port!r}; ports are {listed}")


class PortMidiSource(MidiSource):
    """A MIDI input port (keyboard) through python-rtmidi; messages parsed by mido."""

    kind = "port"

    def __init__(self, port: str | int | None = None, **callbacks) -> None:
        self.port_index, port_name = find_midi_input(port)
        super().__init__(name=port_name, **callbacks)
        self._midi_in = None
        self._anchor_s: float | None = None
        self._driver_s = 0.0

    def _open(self) -> None:
        midi_in = _rtmidi_in()
        import rtmidi

        try:
            midi_in.open_port(self.port_index, name="tutor")
        except rtmidi.RtMidiError as error:  # InvalidPortError (unplugged since it was listed), SystemError...
            midi_in.delete()
            raise DeviceError(f"cannot open MIDI input {self.name!r}: {error}") from None
        midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
        self._anchor_s = None
        self._driver_s = 0.0
        midi_in.set_callback(self._callback)
        self._midi_in = midi_in

    def _callback(self, event, data=None) -> None:  # rtmidi's thread
        import mido

        payload, delta_s = event
        if self._anchor_s is None:
            self._anchor_s = self.elapsed_s
        else:
            self._driver_s += delta_s
        try:
            message = mido.Message.from_bytes(payload)
        except ValueError:
            return
        self.receive(message, self._anchor_s + self._driver_s)

    def _close(self) -> None:
        midi_in, self._midi_in = self._midi_in, None
        if midi_in is not None:
            midi_in.cancel_callback()
            midi_in.close_port()
            midi_in.delete()


# ---------------------------------------------------------------------------------------------
# saving a take
# ---------------------------------------------------------------------------------------------
def save_messages(messages: Iterable[tuple[float, object]], path: str | Path) -> Path:
    """Write timestamped ``mido`` channel messages to a type-0 .mid (120 bpm, 480 ticks per quarter)."""
    import io

    import mido

    from tutor.safety import atomic_write_bytes

    path = Path(path)
    ticks_per_second = TICKS_PER_QUARTER * SAVE_BPM / 60.0
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_QUARTER)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(SAVE_BPM), time=0))
    previous = 0
    for time_s, message in sorted(messages, key=lambda item: item[0]):
        tick = max(previous, int(round(max(0.0, time_s) * ticks_per_second)))
        track.append(message.copy(time=tick - previous))
        previous = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_take(performance: Performance, path: str | Path) -> Path:
    """Write a ``Performance`` (notes and sustain pedal) to a .mid file, atomically."""
    import mido

    messages: list[tuple[float, object]] = []
    for note in performance.notes:
        channel = note.channel if 0 <= note.channel < 16 else 0
        messages.append((note.onset_s, mido.Message("note_on", channel=channel, note=note.pitch,
                                                    velocity=max(1, min(127, note.velocity)))))
        messages.append((note.offset_s, mido.Message("note_off", channel=channel, note=note.pitch, velocity=0)))
    for event in performance.pedal:
        messages.append((event.time_s, mido.Message("control_change", control=SUSTAIN_CC,
                                                     value=127 if event.down else 0)))
    # at equal times: note-offs before note-ons so a repeated note is not cut off
    order = {"note_off": 0, "control_change": 1, "note_on": 2}
    messages.sort(key=lambda item: (item[0], order.get(item[1].type, 3)))
    return save_messages(messages, path)
