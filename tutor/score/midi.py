"""A MIDI file read as a score: notes on a fine grid, measures from its time signatures.

Read with mido, not music21 (whose import re-bars each track on its own and splits overlapping notes): every
MIDI note is one sounding ``Note`` and all parts share one set of measures. Onsets and offsets snap to the
nearer of a 64th-note and a 32nd-triplet grid. The pickup and measure-number markers that
``tutor.score.io.midi_bytes`` writes are honoured, so a MusicXML -> MIDI -> score round trip keeps measures
and note ids.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

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

_KEYS_MAJOR = {"Cb": -7, "Gb": -6, "Db": -5, "Ab": -4, "Eb": -3, "Bb": -2, "F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F#": 6, "C#": 7}
_KEYS_MINOR = {"Ab": -7, "Eb": -6, "Bb": -5, "F": -4, "C": -3, "G": -2, "D": -1, "A": 0, "E": 1, "B": 2, "F#": 3, "C#": 4, "G#": 5, "D#": 6, "A#": 7}


def snap_ql(position_ql: float) -> float:
    """The nearest point of the 64th-note or 32nd-triplet grid."""
    best = min((round(position_ql / g) * g for g in GRIDS_QL), key=lambda p: abs(p - position_ql))
    return round(best, 6)


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
                tempos.append((now, 60_000_000 / message.tempo))
            elif kind == "time_signature":
                meters.append((now, message.numerator, message.denominator))
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
    measures, time_signatures = _measures(meters, markers, tpq=tpq, end_ql=end_ql)
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
        title=title or path.stem,
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


def _program_name(program: int, index: int) -> str:
    try:
        import pretty_midi

        return pretty_midi.program_to_instrument_name(program)
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
    import bisect

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
    meters: list[tuple[int, int, int]], markers: dict[int, list[str]], *, tpq: int, end_ql: float
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
    while position < end_ql - 1e-9 or not measures:
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
        later = [p for p, _ in ordered if position + 1e-9 < p < position + bar - 1e-9]
        if later:  # a meter change inside a bar (a file not written by us): the bar ends there
            bar = later[0] - position
        measures.append(Measure(number, round(position, 6), round(bar, 6), f"{current[0]}/{current[1]}"))
        position = round(position + bar, 6)
        number += 1
    return measures, signatures
