"""The music data model: scores, notes and performances, as frozen dataclasses.

Music data is never modified in place: functions make new objects (``Score.slice_measures``,
``dataclasses.replace``). Units, everywhere in the project: ``*_ql`` quarter notes ("quarter lengths")
from the start of the piece or as a length (a 6/8 bar is 3.0 ql); ``*_s`` seconds (a ``Score``'s from its
tempo map, a ``Performance``'s the times in the take); ``bpm`` quarter notes per minute whatever the beat;
``pitch`` a MIDI note number (60 = middle C); ``cents`` off equal temperament (100 = one semitone);
``measure`` the printed number (0 for a pickup); ``beat`` 1-based in the time signature's beats (in 6/8 a
beat is a dotted quarter). Note ids such as ``P1-m3-n2`` (part P1, measure 3, third sounding note in
onset/pitch order) are stable and written into exported MusicXML (``<note id=...>``), so marks find their
note in Verovio's SVG; a tied note is one ``Note`` whose ``tied_ids`` name its continuation noteheads.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_BPM = 120.0
# the names of the 12 pitch classes, as every message and label in the project spells them
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def pitch_name(midi: int) -> str:
    """'C4' for 60, 'Eb5' for 75: the pitch class's name and the octave (middle C is C4)."""
    return f"{PITCH_NAMES[midi % 12]}{midi // 12 - 1}"


def hz_to_midi(hz):
    """The (fractional) MIDI pitch of a frequency, A4 = 440 Hz = 69: a float for a Python number, an
    array for a numpy array or scalar (numpy's ``log2``, element by element). Not defined at 0 Hz: clip
    first (``np.maximum(f0_hz, 1e-6)``) where unvoiced frames carry 0."""
    if type(hz) in (float, int):
        return 69.0 + 12.0 * math.log2(hz / 440.0)
    import numpy as np

    return 69.0 + 12.0 * np.log2(hz / 440.0)


def midi_to_hz(pitch):
    """The frequency of a (fractional) MIDI pitch, A4 = 69 = 440 Hz (``hz_to_midi``'s inverse; numbers
    or numpy arrays)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


@dataclass(frozen=True)
class TempoChange:
    """A tempo that holds from ``position_ql`` until the next change."""

    position_ql: float
    bpm: float  # quarter notes per minute


@dataclass(frozen=True)
class TimeSignature:
    measure: int
    position_ql: float
    numerator: int
    denominator: int

    @property
    def text(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @property
    def bar_ql(self) -> float:
        return self.numerator * 4.0 / self.denominator


@dataclass(frozen=True)
class KeySignature:
    measure: int
    position_ql: float
    fifths: int  # sharps (>0) or flats (<0)
    mode: str | None = None  # "major", "minor" or None when the file does not say

    @property
    def text(self) -> str:
        return key_name(fifths=self.fifths, mode=self.mode)


_MAJOR_BY_FIFTHS = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_MINOR_BY_FIFTHS = ["ab", "eb", "bb", "f", "c", "g", "d", "a", "e", "b", "f#", "c#", "g#", "d#", "a#"]


def key_name(*, fifths: int, mode: str | None) -> str:
    """'D major', 'b minor', or for an unknown mode the major key's name with its signature."""
    index = max(-7, min(7, fifths)) + 7
    if mode == "minor":
        return f"{_MINOR_BY_FIFTHS[index]} minor"
    return f"{_MAJOR_BY_FIFTHS[index]} major"


@dataclass(frozen=True)
class Measure:
    number: int
    start_ql: float
    duration_ql: float  # as written: a pickup bar is shorter than its time signature
    time_signature: str  # "3/4"

    @property
    def end_ql(self) -> float:
        return self.start_ql + self.duration_ql


@dataclass(frozen=True)
class Part:
    id: str  # "P1", "P2", ... stable within a file
    name: str
    program: int = 0  # General MIDI program (0 = acoustic grand piano)


@dataclass(frozen=True)
class Note:
    """One sounding score note (tied noteheads merged into one)."""

    id: str
    pitch: int
    onset_ql: float
    duration_ql: float
    onset_s: float
    duration_s: float
    part: str  # Part.id
    measure: int
    beat: float
    voice: int = 1
    velocity: int = 80
    tied_ids: tuple[str, ...] = ()

    @property
    def offset_ql(self) -> float:
        return self.onset_ql + self.duration_ql

    @property
    def offset_s(self) -> float:
        return self.onset_s + self.duration_s


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo; converts quarter-note positions to seconds and back."""

    changes: tuple[TempoChange, ...] = (TempoChange(0.0, DEFAULT_BPM),)

    def __post_init__(self) -> None:
        if not self.changes:
            object.__setattr__(self, "changes", (TempoChange(0.0, DEFAULT_BPM),))
        changes = sorted(self.changes, key=lambda c: c.position_ql)
        if changes[0].position_ql > 0:
            changes.insert(0, TempoChange(0.0, changes[0].bpm))
        for change in changes:
            if not change.bpm > 0:
                raise ValueError(f"tempo must be positive, got {change.bpm} bpm")
        object.__setattr__(self, "changes", tuple(changes))
        starts_s = [0.0]
        for previous, current in zip(changes, changes[1:], strict=False):
            starts_s.append(starts_s[-1] + (current.position_ql - previous.position_ql) * 60.0 / previous.bpm)
        object.__setattr__(self, "_starts_s", tuple(starts_s))
        object.__setattr__(self, "_positions_ql", tuple(c.position_ql for c in changes))

    @property
    def initial_bpm(self) -> float:
        return self.changes[0].bpm

    def scaled(self, *, bpm: float) -> TempoMap:
        """The same map with every tempo scaled so that the first one is ``bpm``."""
        factor = bpm / self.initial_bpm
        return TempoMap(tuple(TempoChange(c.position_ql, c.bpm * factor) for c in self.changes))

    def bpm_at(self, position_ql: float) -> float:
        index = max(0, bisect.bisect_right(self._positions_ql, position_ql) - 1)
        return self.changes[index].bpm

    def seconds_at(self, position_ql: float) -> float:
        index = max(0, bisect.bisect_right(self._positions_ql, position_ql) - 1)
        change = self.changes[index]
        return self._starts_s[index] + (position_ql - change.position_ql) * 60.0 / change.bpm

    def position_at(self, seconds: float) -> float:
        index = max(0, bisect.bisect_right(self._starts_s, seconds) - 1)
        change = self.changes[index]
        return change.position_ql + (seconds - self._starts_s[index]) * change.bpm / 60.0


@dataclass(frozen=True)
class MeasureMarks:
    """What the notation of one written measure says about the play order (``tutor.score.form`` unfolds it)."""

    repeat_start: bool = False  # a |: at its start
    repeat_end: int = 0  # a :| at its end: the times the repeated passage is played (0: none)
    endings: tuple[int, ...] = ()  # under an ending bracket: the times through it is played on
    segno: bool = False
    coda: bool = False  # the coda starts here
    to_coda: bool = False  # "To Coda" at its end: after the jump, leave here for the coda
    fine: bool = False  # "Fine" at its end: after the jump, the piece ends here
    jump: str = ""  # at its end: "dc" (da capo) or "ds" (dal segno)
    jump_until: str = ""  # "fine", "coda" or "" (al Fine, al Coda, or to the end)

    @property
    def any(self) -> bool:
        return self != MeasureMarks()


@dataclass(frozen=True)
class Form:
    """The form marks of a piece, keyed by the written start (quarter notes) of their measure, and an ABC
    tune's labelled parts (label, first and last measure start) with their play order."""

    marks: tuple[tuple[float, MeasureMarks], ...] = ()
    parts: tuple[tuple[str, float, float], ...] = ()
    part_order: str = ""
    start_ql: float = 0.0  # where the piece's first measure starts (a repeat with no start sign goes back there)

    def at(self, start_ql: float) -> MeasureMarks:
        for position, marks in self.marks:
            if abs(position - start_ql) < 1e-6:
                return marks
        return MeasureMarks()

    @property
    def has_repeats(self) -> bool:
        return bool(self.marks) or bool(self.part_order and self.parts)


@dataclass(frozen=True)
class Score:
    """A piece as written: parts, notes, measures, signatures and tempo."""

    title: str
    parts: tuple[Part, ...]
    notes: tuple[Note, ...]  # sorted by (onset_ql, pitch)
    measures: tuple[Measure, ...]
    time_signatures: tuple[TimeSignature, ...] = ()
    key_signatures: tuple[KeySignature, ...] = ()
    tempo_map: TempoMap = field(default_factory=TempoMap)
    source_path: Path | None = None
    composer: str = ""
    form: Form | None = None  # repeats, endings, jumps (tutor.score.form); None: played as written

    # --- lookups -------------------------------------------------------------------------
    def part(self, part_id_or_name: str) -> Part:
        for part in self.parts:
            if part_id_or_name in (part.id, part.name):
                return part
        lowered = part_id_or_name.lower()
        for part in self.parts:
            if part.name.lower() == lowered:
                return part
        names = ", ".join(f"{p.id} ({p.name})" for p in self.parts)
        raise KeyError(f"no part named {part_id_or_name!r}; parts are {names}")

    def notes_of(self, part_id: str) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.part == part_id)

    def note_by_id(self, note_id: str) -> Note:
        for note in self.notes:
            if note.id == note_id or note_id in note.tied_ids:
                return note
        raise KeyError(note_id)

    def measure(self, number: int) -> Measure:
        for measure in self.measures:
            if measure.number == number:
                return measure
        raise KeyError(f"no measure {number}")

    def measure_at(self, position_ql: float) -> Measure | None:
        starts = [m.start_ql for m in self.measures]
        index = bisect.bisect_right(starts, position_ql + 1e-9) - 1
        return self.measures[index] if index >= 0 else None

    @property
    def duration_ql(self) -> float:
        ends = [m.end_ql for m in self.measures] + [n.offset_ql for n in self.notes]
        return max(ends, default=0.0)

    @property
    def duration_s(self) -> float:
        return self.seconds_at(self.duration_ql)

    @property
    def time_signature(self) -> str:
        return self.time_signatures[0].text if self.time_signatures else "4/4"

    @property
    def key(self) -> str | None:
        return self.key_signatures[0].text if self.key_signatures else None

    # --- time ----------------------------------------------------------------------------
    def seconds_at(self, position_ql: float, *, bpm: float | None = None) -> float:
        """Seconds from the start at ``position_ql``; ``bpm`` plays the piece at another tempo
        (the first tempo becomes ``bpm`` and later tempo changes keep their proportions)."""
        tempo = self.tempo_map if bpm is None else self.tempo_map.scaled(bpm=bpm)
        return tempo.seconds_at(position_ql)

    def position_at(self, seconds: float, *, bpm: float | None = None) -> float:
        """Quarter-note position reached after ``seconds`` (inverse of ``seconds_at``)."""
        tempo = self.tempo_map if bpm is None else self.tempo_map.scaled(bpm=bpm)
        return tempo.position_at(seconds)

    def at_tempo(self, *, bpm: float) -> Score:
        """This score with its tempo map scaled so that it starts at ``bpm``."""
        tempo = self.tempo_map.scaled(bpm=bpm)
        return replace(self, tempo_map=tempo, notes=_timed(self.notes, tempo))

    # --- slicing -------------------------------------------------------------------------
    def slice_measures(self, first: int, last: int) -> Score:
        """Measures ``first``..``last`` (inclusive, printed numbers), positions kept as in the
        full piece so that ids, positions and measure numbers still match the original."""
        chosen = tuple(m for m in self.measures if first <= m.number <= last)
        if not chosen:
            numbers = [m.number for m in self.measures]
            raise KeyError(f"no measures {first}-{last}; the piece has {min(numbers, default=0)}-{max(numbers, default=0)}")
        start, end = chosen[0].start_ql, chosen[-1].end_ql
        notes = tuple(n for n in self.notes if start - 1e-9 <= n.onset_ql < end - 1e-9)
        return replace(self, measures=chosen, notes=notes)

    def only_parts(self, part_ids: Iterable[str]) -> Score:
        wanted = set(part_ids)
        return replace(
            self,
            parts=tuple(p for p in self.parts if p.id in wanted),
            notes=tuple(n for n in self.notes if n.part in wanted),
        )


def _timed(notes: Sequence[Note], tempo: TempoMap) -> tuple[Note, ...]:
    out = []
    for note in notes:
        onset_s = tempo.seconds_at(note.onset_ql)
        out.append(replace(note, onset_s=onset_s, duration_s=tempo.seconds_at(note.offset_ql) - onset_s))
    return tuple(out)


def time_notes(notes: Sequence[Note], tempo: TempoMap) -> tuple[Note, ...]:
    """Fill in ``onset_s``/``duration_s`` of ``notes`` from ``tempo``."""
    return _timed(notes, tempo)


@dataclass(frozen=True)
class PlayedNote:
    """A note as played: from a MIDI keyboard or file, or transcribed from audio."""

    pitch: int
    onset_s: float
    offset_s: float
    velocity: int = 80
    cents: float | None = None  # intonation, audio only
    confidence: float | None = None  # transcription confidence 0..1, audio only
    channel: int = 0

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


@dataclass(frozen=True, eq=False)
class PitchTrack:
    """A frame-wise f0 curve: ``times_s``, ``f0_hz`` (0 where unvoiced) and ``confidence``."""

    times_s: tuple[float, ...]
    f0_hz: tuple[float, ...]
    confidence: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class OnsetOdds:
    """A piano transcriber's own evidence of where notes start (issue 20, ``tutor.listen.piano``):
    ``odds[pitch - first_pitch, frame]`` (frames every ``frame_s`` from the take's start) is how strongly
    its note-interval scores say that a note of that pitch starts then, against its best reading of the
    take: > 0 where it reads a note starting (the margin over not starting one), <= 0 elsewhere (how much
    worse its best reading with a note starting there is; -inf where it heard nothing)."""

    frame_s: float
    first_pitch: int
    odds: object  # numpy float16 array [pitches, frames]

    def best(self, pitch: int, start_s: float, stop_s: float) -> float:
        """The highest odds of a note of ``pitch`` starting between ``start_s`` and ``stop_s``
        (-inf where the take was not heard there or the pitch is out of range)."""
        row = pitch - self.first_pitch
        if not 0 <= row < self.odds.shape[0]:
            return -math.inf
        a = max(0, math.ceil(start_s / self.frame_s - 1e-9))
        b = min(self.odds.shape[1], math.floor(stop_s / self.frame_s + 1e-9) + 1)
        return float(self.odds[row, a:b].max()) if b > a else -math.inf

    def usual(self, pitch: int, start_s: float, stop_s: float, context_s: float) -> float:
        """The median odds of a note of ``pitch`` starting in the ``context_s`` before ``start_s`` and
        after ``stop_s`` (how this pitch reads around then; -inf where nothing was heard)."""
        import numpy as np

        row = pitch - self.first_pitch
        if not 0 <= row < self.odds.shape[0]:
            return -math.inf
        frames = self.odds.shape[1]
        before = self.odds[row, max(0, math.ceil((start_s - context_s) / self.frame_s)): max(0, math.floor(start_s / self.frame_s))]
        after = self.odds[row, min(frames, math.ceil(stop_s / self.frame_s) + 1): min(frames, math.floor((stop_s + context_s) / self.frame_s) + 1)]
        values = np.concatenate([before, after]).astype(np.float32)
        values = values[np.isfinite(values)]
        return float(np.median(values)) if len(values) else -math.inf


@dataclass(frozen=True)
class PedalEvent:
    time_s: float
    down: bool


@dataclass(frozen=True)
class Performance:
    """What a student played, in seconds from the start of the take."""

    notes: tuple[PlayedNote, ...]  # sorted by onset
    pitch_track: PitchTrack | None = None
    source_path: Path | None = None
    pedal: tuple[PedalEvent, ...] = ()
    # a piano take: the transcriber's evidence of note starts (issue 20), for the review's second listen
    onset_odds: OnsetOdds | None = field(default=None, compare=False, repr=False)

    @property
    def duration_s(self) -> float:
        return max((n.offset_s for n in self.notes), default=0.0)

    @property
    def is_audio(self) -> bool:
        return any(n.cents is not None for n in self.notes) or self.pitch_track is not None

    def pedal_spans(self) -> tuple[tuple[float, float], ...]:
        """(down_s, up_s) of each time the sustain pedal is held; ``inf`` when never released."""
        spans: list[tuple[float, float]] = []
        start: float | None = None
        for event in sorted(self.pedal, key=lambda e: e.time_s):
            if event.down and start is None:
                start = event.time_s
            elif not event.down and start is not None:
                spans.append((start, event.time_s))
                start = None
        if start is not None:
            spans.append((start, float("inf")))
        return tuple(spans)

    def sustained(self) -> Performance:
        """Notes with offsets extended while the sustain pedal is down (what is heard)."""
        if not self.pedal:
            return self
        downs = self.pedal_spans()
        notes = []
        for note in self.notes:
            offset = note.offset_s
            for down_s, up_s in downs:
                if down_s <= offset < up_s:
                    offset = up_s if up_s != float("inf") else max(offset, self.duration_s)
            notes.append(replace(note, offset_s=offset))
        return replace(self, notes=tuple(notes))


def sort_notes(notes: Iterable[Note]) -> tuple[Note, ...]:
    return tuple(sorted(notes, key=lambda n: (n.onset_ql, n.pitch, n.part)))


def sort_played(notes: Iterable[PlayedNote]) -> tuple[PlayedNote, ...]:
    return tuple(sorted(notes, key=lambda n: (n.onset_s, n.pitch)))
