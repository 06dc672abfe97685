"""A MIDI file read as a score: notes on a fine grid, measures from its time signatures.

Read with mido, not music21 (whose import re-bars each track on its own and splits overlapping notes): every
MIDI note is one sounding ``Note`` and all parts share one set of measures. Onsets and offsets snap to the
nearer of a 64th-note and a 32nd-triplet grid. The pickup and measure-number markers that
``tutor.score.io.midi_bytes`` writes are honoured, so a MusicXML -> MIDI -> score round trip keeps measures
and note ids.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor.errors import InputFileError
from tutor.safety import display_name
from tutor.score.music import (
    KeySignature,
    Measure,
    Note,
    Part,
    Score,
    TempoChange,
    TempoMap,
    TimeSignature,
    sort_notes,
    time_notes,
)

GRIDS_QL = (1 / 16, 1 / 12)
IRREGULAR_MARKER = "tutor:irregular-bar"
RESTORE_MARKER = "tutor:restore-meter"
MEASURE_MARKER = "tutor:measure="

log = logging.getLogger(__name__)

# Limits no real piece reaches, checked on the file's bytes before mido parses it: the longest real scores
# have a few thousand measures, about 30,000 notes and last a few hours (a performance of those too).
MAX_NOTES = 100_000
MAX_EVENTS = 1_000_000  # every MIDI message: notes, pedal, controllers, meta events
MAX_PARTS = 128  # (track, channel) pairs that hold notes
MAX_LENGTH_QL = 100_000  # quarter notes, to the file's last event (25,000 bars of 4/4)
MAX_LENGTH_S = 6 * 3600.0
MAX_MEASURES = 10_000  # checked while measures are built (tiny meters make many bars of few quarters)
SMPTE_FRAME_RATES = (24, 25, 29, 30)  # 29: 30-frame drop-frame timecode, 29.97 frames a second

_KEYS_MAJOR = {"Cb": -7, "Gb": -6, "Db": -5, "Ab": -4, "Eb": -3, "Bb": -2, "F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F#": 6, "C#": 7}
_KEYS_MINOR = {"Ab": -7, "Eb": -6, "Bb": -5, "F": -4, "C": -3, "G": -2, "D": -1, "A": 0, "E": 1, "B": 2, "F#": 3, "C#": 4, "G#": 5, "D#": 6, "A#": 7}


def snap_ql(position_ql: float) -> float:
    """The nearest point of the 64th-note or 32nd-triplet grid."""
    best = min((round(position_ql / g) * g for g in GRIDS_QL), key=lambda p: abs(p - position_ql))
    return round(best, 6)


# ---------------------------------------------------------------------------------------------
# a MIDI file's size, counted on its bytes before mido parses it
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MidiSummary:
    """What a MIDI file holds, counted on its bytes by ``check_midi``."""

    smpte: tuple[int, int] | None  # (frames a second, ticks a frame) for SMPTE time, else None
    events: int
    notes: int
    parts: int
    end_tick: int  # of the latest event of any track
    length_ql: float
    length_s: float


class _Unreadable(Exception):
    """Bytes that mido refuses too: counting stops there, and mido's parse says what is wrong."""


def check_midi(data: bytes, *, path: str | Path) -> MidiSummary | None:
    """Count a MIDI file's events, notes, parts and length on its bytes, the way mido reads them, and refuse a
    file past the limits above (an ``InputFileError``) before mido builds an object for each of its events and
    before measures are built to its length. None when even the header cannot be read (mido then says why)."""
    import struct

    if len(data) < 14 or data[:4] != b"MThd":
        return None
    header_size, _kind, track_count, division = struct.unpack(">Ihhh", data[4:14])  # signed, as mido reads them
    if header_size < 6:
        return None
    smpte = None
    if division < 0:  # SMPTE time: -frames a second in the high byte, ticks a frame in the low one
        fps, per_frame = -(division >> 8), division & 0xFF
        if fps not in SMPTE_FRAME_RATES or per_frame == 0:
            raise InputFileError(f"has an invalid SMPTE time division ({fps} frames a second, {per_frame} ticks a "
                                 f"frame; SMPTE time has 24, 25, 29 or 30 frames a second)", path=path)
        smpte = (fps, per_frame)
    elif division == 0:
        raise InputFileError("has a time division of 0 ticks per quarter note", path=path)
    counts = _Counts()
    position = 8 + header_size
    try:
        for track_index in range(track_count):
            if data[position:position + 4] != b"MTrk" or position + 8 > len(data):
                break
            length = int.from_bytes(data[position + 4:position + 8], "big")
            position = _count_track(data, position + 8, length, track_index, counts, path=path)
    except _Unreadable:
        pass
    if len(counts.parts) > MAX_PARTS:
        raise InputFileError(f"has notes in more than {MAX_PARTS} parts (tracks and channels); a score has far "
                             "fewer, refusing to read it", path=path)
    if smpte is not None:
        fps, per_frame = smpte
        ticks_per_quarter, length_s = smpte_ticks_per_quarter(smpte), counts.end_tick / ((29.97 if fps == 29 else fps) * per_frame)
    else:
        ticks_per_quarter, length_s = division, _seconds(counts.tempos, counts.end_tick, division)
    length_ql = counts.end_tick / ticks_per_quarter
    if length_ql > MAX_LENGTH_QL:
        raise InputFileError(f"lasts {length_ql:,.0f} quarter notes, more than the {MAX_LENGTH_QL:,} a score can "
                             "(its events lie far apart); refusing to read it", path=path)
    if length_s > MAX_LENGTH_S:
        raise InputFileError(f"lasts {length_s / 3600:,.1f} hours, longer than the {MAX_LENGTH_S / 3600:.0f} hours "
                             "a score or a take can; refusing to read it", path=path)
    return MidiSummary(smpte, counts.events, counts.notes, len(counts.parts), counts.end_tick, length_ql, length_s)


@dataclass
class _Counts:
    events: int = 0
    notes: int = 0
    end_tick: int = 0
    parts: set[tuple[int, int]] = field(default_factory=set)  # (track, channel) pairs with notes
    tempos: list[tuple[int, int]] = field(default_factory=list)  # (tick, microseconds a quarter note)


def _count_track(data: bytes, start: int, length: int, track: int, counts: _Counts, *, path: str | Path) -> int:
    """Count one track's events (as mido's ``read_track`` reads them: until exactly ``length`` bytes are
    read); the position after it."""
    from mido.messages.specs import SPEC_BY_STATUS

    size, position, tick, running = len(data), start, 0, None
    while position - start != length:
        if position >= size:
            raise _Unreadable
        delta, position = _variable_int(data, position, path=path)
        tick += delta
        status = data[position] if position < size else None
        if status is None:
            raise _Unreadable
        position += 1
        if status < 0x80:
            if running is None:
                raise _Unreadable
            status, position = running, position - 1  # running status: that byte was data
            if status in (0xF0, 0xF7):
                position += 1  # mido drops it and reads a sysex length next
        elif status != 0xFF:
            running = status
        if status == 0xFF:
            if position >= size:
                raise _Unreadable
            kind = data[position]
            count, position = _variable_int(data, position + 1, path=path)
            if count > 1_000_000:  # mido refuses longer messages
                raise _Unreadable
            if kind == 0x51 and count >= 3:
                counts.tempos.append((tick, int.from_bytes(data[position:position + 3], "big")))
            position += count
        elif status in (0xF0, 0xF7):
            count, position = _variable_int(data, position, path=path)
            if count > 1_000_000:
                raise _Unreadable
            position += count
        else:
            spec = SPEC_BY_STATUS.get(status)
            if spec is None:
                raise _Unreadable
            count = spec["length"] - 1
            if position + count > size or max(data[position:position + count], default=0) > 127:
                raise _Unreadable
            if status & 0xF0 == 0x90 and data[position + 1] > 0:
                counts.notes += 1
                counts.parts.add((track, status & 0x0F))
                if counts.notes > MAX_NOTES:
                    raise InputFileError(f"has more than {MAX_NOTES:,} notes; the longest real scores have a few "
                                         "tens of thousands, refusing to read it", path=path)
            position += count
        counts.events += 1
        if counts.events > MAX_EVENTS:
            raise InputFileError(f"has more than {MAX_EVENTS:,} MIDI events; refusing to read it", path=path)
        counts.end_tick = max(counts.end_tick, tick)
    return position


def _variable_int(data: bytes, position: int, *, path: str | Path) -> tuple[int, int]:
    """A variable-length number (at most 4 bytes, as the MIDI standard has them) and the position after it."""
    value = 0
    for _ in range(4):
        if position >= len(data):
            raise _Unreadable
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, position
    raise InputFileError("is a corrupt MIDI file (a variable-length number longer than 4 bytes)", path=path)


def _seconds(tempos: list[tuple[int, int]], end_tick: int, ticks_per_quarter: int) -> float:
    """Seconds from tick 0 to ``end_tick`` under the tempo events of all tracks (120 bpm before the first)."""
    seconds, tick, tempo = 0.0, 0, 500_000
    for at, value in sorted(tempos, key=lambda t: t[0]):
        if at >= end_tick:
            break
        seconds += (at - tick) * tempo / 1e6 / ticks_per_quarter
        tick, tempo = at, value
    return seconds + (end_tick - tick) * tempo / 1e6 / ticks_per_quarter


def smpte_ticks_per_quarter(smpte: tuple[int, int]) -> int:
    fps, per_frame = smpte
    return (30 if fps == 29 else fps) * per_frame


def smpte_as_metrical(midi: Any, smpte: tuple[int, int]) -> None:
    """Turn a parsed SMPTE-timed ``mido.MidiFile`` into metrical time, in place: a quarter note lasts one second
    (1.001 s at 29.97 frames a second), so every tick keeps its time. Its tempo events, which SMPTE time
    ignores, are set to that tempo."""
    import mido

    tempo = 1_001_001 if smpte[0] == 29 else 1_000_000
    midi.ticks_per_beat = smpte_ticks_per_quarter(smpte)
    for track in midi.tracks:
        for message in track:
            if message.type == "set_tempo":
                message.tempo = tempo
    if midi.tracks:
        midi.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=tempo, time=0))


@dataclass
class _RawNote:
    track: int
    channel: int
    pitch: int
    start_tick: int
    end_tick: int
    velocity: int


def score_from_midi(path: Path, midi) -> Score:
    """Our ``Score`` for a parsed ``mido.MidiFile`` read from ``path``."""
    tpq = midi.ticks_per_beat
    notes: list[_RawNote] = []
    tempos: list[tuple[int, float]] = []
    meters: list[tuple[int, int, int]] = []
    keys: list[tuple[int, str]] = []
    markers: dict[int, list[str]] = defaultdict(list)
    track_names: dict[int, str] = {}
    programs: dict[tuple[int, int], int] = {}
    for track_index, track in enumerate(midi.tracks):
        now = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for message in track:
            now += message.time
            kind = message.type
            if kind == "note_on" and message.velocity > 0:
                sounding[(message.channel, message.note)].append((now, message.velocity))
            elif kind in ("note_off", "note_on"):
                started = sounding.get((message.channel, message.note))
                if started:
                    # last in, first out: in scores a short note on the pitch of a held one (another
                    # voice) ends inside it; first-in pairing swapped their lengths on 51 of 91 nASAP scores
                    start, velocity = started.pop()
                    notes.append(_RawNote(track_index, message.channel, message.note, start, now, velocity))
            elif kind == "set_tempo":
                if message.tempo > 0:  # a tempo of 0 is not one: ignored
                    tempos.append((now, 60_000_000 / message.tempo))
            elif kind == "time_signature":
                if message.numerator > 0 and message.denominator <= 64:
                    meters.append((now, message.numerator, message.denominator))
                else:  # 0/4, or 4/2^255: bars of (almost) no length
                    log.info("%s: ignoring the time signature %d/%d", path.name, message.numerator, message.denominator)
            elif kind == "key_signature":
                keys.append((now, message.key))
            elif kind == "marker" and message.text.startswith("tutor:"):
                markers[now].append(message.text)
            elif kind == "track_name" and message.name.strip():
                track_names.setdefault(track_index, message.name.strip())
            elif kind == "program_change":
                programs.setdefault((track_index, message.channel), message.program)
        for (channel, pitch), pending in sounding.items():  # notes never released: end of track
            for start, velocity in pending:
                notes.append(_RawNote(track_index, channel, pitch, start, max(now, start + tpq // 4), velocity))

    notes = [n for n in notes if n.channel != 9]  # General MIDI drums are not pitched notes
    groups = sorted({(n.track, n.channel) for n in notes})
    tracks_with_many_channels = {t for t, _ in groups if sum(1 for g in groups if g[0] == t) > 1}

    def part_key(n: _RawNote) -> tuple[int, int]:
        return (n.track, n.channel if n.track in tracks_with_many_channels else -1)

    part_keys = sorted({part_key(n) for n in notes})
    parts: list[Part] = []
    part_of: dict[tuple[int, int], str] = {}
    for index, key in enumerate(part_keys):
        track, channel = key
        program = programs.get((track, channel if channel >= 0 else _first_channel(notes, track)), 0)
        name = track_names.get(track, "") if track not in tracks_with_many_channels else ""
        parts.append(Part(id=f"P{index + 1}", name=name or _program_name(program, index), program=program))
        part_of[key] = f"P{index + 1}"

    def ql(tick: int) -> float:
        return snap_ql(tick / tpq)

    end_ql = max((ql(n.end_tick) for n in notes), default=0.0)
    measures, time_signatures = _measures(meters, markers, tpq=tpq, end_ql=end_ql, path=path)
    starts = [m.start_ql for m in measures]

    built: list[Note] = []
    counters: dict[tuple[str, int], int] = defaultdict(int)
    # same order as tutor.score.io.identified_noteheads: (onset, pitch, longest first)
    for raw in sorted(notes, key=lambda n: (part_of[part_key(n)], ql(n.start_tick), n.pitch, -ql(n.end_tick))):
        onset = ql(raw.start_tick)
        offset = max(ql(raw.end_tick), onset + GRIDS_QL[0])
        measure = measures[_index_at(starts, onset)]
        part_id = part_of[part_key(raw)]
        k = counters[(part_id, measure.number)]
        counters[(part_id, measure.number)] += 1
        built.append(
            Note(
                id=f"{part_id}-m{measure.number}-n{k}", pitch=raw.pitch, onset_ql=onset,
                duration_ql=round(offset - onset, 6), onset_s=0.0, duration_s=0.0, part=part_id,
                measure=measure.number, beat=_beat(measure, onset), velocity=raw.velocity,
            )
        )
    tempo = TempoMap(tuple(TempoChange(ql(t), bpm) for t, bpm in _dedupe(tempos)))
    key_signatures = tuple(
        KeySignature(measures[_index_at(starts, ql(t))].number, ql(t), *_key(name)) for t, name in _dedupe(keys)
    )
    title = track_names.get(0, "") if midi.type == 1 and not any(n.track == 0 for n in notes) else ""
    return Score(
        title=title or display_name(path.stem),
        parts=tuple(parts),
        notes=sort_notes(time_notes(built, tempo)),
        measures=tuple(measures),
        time_signatures=tuple(time_signatures),
        key_signatures=key_signatures,
        tempo_map=tempo,
        source_path=path,
    )


def _first_channel(notes: list[_RawNote], track: int) -> int:
    return next((n.channel for n in notes if n.track == track), 0)


def pretty_midi_module():
    """The ``pretty_midi`` module, imported with its import-time chatter dropped.

    pretty_midi imports pyfluidsynth, which prints where it found libfluidsynth when ``$CI`` is set;
    on stdout that line would break ``--json`` output, and on stderr it reads as an error."""
    with contextlib.redirect_stdout(io.StringIO()):
        import pretty_midi
    return pretty_midi


def _program_name(program: int, index: int) -> str:
    try:
        return pretty_midi_module().program_to_instrument_name(program)
    except (ImportError, ValueError):  # no pretty_midi, or a program number outside 0-127
        return f"Part {index + 1}"


def _dedupe(events: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """One event per tick (the last wins), and no repeats of the value in force."""
    by_tick = {}
    for tick, value in sorted(events, key=lambda e: e[0]):
        by_tick[tick] = value
    out: list[tuple[int, object]] = []
    for tick, value in sorted(by_tick.items()):
        if out and out[-1][1] == value:
            continue
        out.append((tick, value))
    return out


def _key(name: str) -> tuple[int, str | None]:
    if name.endswith("m"):
        return _KEYS_MINOR.get(name[:-1], 0), "minor"
    return _KEYS_MAJOR.get(name, 0), "major"


def _index_at(starts: list[float], position_ql: float) -> int:
    return max(0, bisect.bisect_right(starts, position_ql + 1e-9) - 1)


def beat_length_ql(*, numerator: int, denominator: int) -> float:
    """The beat of a meter in quarter notes: a dotted beat in compound meters (6/8, 9/8, 12/8)."""
    if denominator >= 8 and numerator % 3 == 0 and numerator > 3:
        return 3 * 4.0 / denominator
    return 4.0 / denominator


def _beat(measure: Measure, onset_ql: float) -> float:
    numerator, denominator = (int(x) for x in measure.time_signature.split("/"))
    return round(1.0 + (onset_ql - measure.start_ql) / beat_length_ql(numerator=numerator, denominator=denominator), 4)


def _measures(
    meters: list[tuple[int, int, int]], markers: dict[int, list[str]], *, tpq: int, end_ql: float, path: Path
) -> tuple[list[Measure], list[TimeSignature]]:
    """Measures from time-signature events (and our markers), covering 0..end_ql."""
    events: dict[float, tuple[int, int, str]] = {}
    for tick, numerator, denominator in meters:
        texts = markers.get(tick, [])
        kind = "irregular" if IRREGULAR_MARKER in texts else "restore" if RESTORE_MARKER in texts else "real"
        events[snap_ql(tick / tpq)] = (numerator, denominator, kind)
    numbers = {snap_ql(t / tpq): int(text[len(MEASURE_MARKER):]) for t, texts in markers.items()
               for text in texts if text.startswith(MEASURE_MARKER)}
    ordered = sorted(events.items())
    first_real = next(((n, d) for _, (n, d, kind) in ordered if kind != "irregular"), (4, 4))
    current = first_real
    measures: list[Measure] = []
    signatures: list[TimeSignature] = []
    position, number = 0.0, 1
    end_ql = max(end_ql, max((p for p, _ in ordered), default=0.0))
    positions = [p for p, _ in ordered]
    while position < end_ql - 1e-9 or not measures:
        if len(measures) >= MAX_MEASURES:
            raise InputFileError(f"has more than {MAX_MEASURES:,} measures (the longest real scores have a few "
                                 "thousand); refusing to read it", path=path)
        number = numbers.get(position, number)
        numerator, denominator, kind = events.get(position, (*current, "none"))
        bar = None
        if kind == "irregular":
            bar = numerator * 4.0 / denominator
            if position == 0.0:
                signatures.append(TimeSignature(number, 0.0, *current))
        elif kind == "real":
            current = (numerator, denominator)
            signatures.append(TimeSignature(number, position, numerator, denominator))
        elif kind == "restore":
            current = (numerator, denominator)
        if position == 0.0 and not signatures:
            signatures.append(TimeSignature(number, 0.0, *current))
        if bar is None:
            bar = current[0] * 4.0 / current[1]
        later = bisect.bisect_right(positions, position + 1e-9)
        if later < len(positions) and positions[later] < position + bar - 1e-9:
            bar = positions[later] - position  # a meter change inside a bar (a file not written by us): the bar ends there
        measures.append(Measure(number, round(position, 6), round(bar, 6), f"{current[0]}/{current[1]}"))
        position = round(position + bar, 6)
        number += 1
    return measures, signatures
