"""Analysis of a composition: key (with modulations per section), meter, voices, ranges, phrases and
cadences, chords with roman numerals.

Keys, voices, slices and cadences are numpy/pure Python on ``tutor.score.music`` notes, fast enough for the
rule checker (``tutor.compose.rules``) to re-run them on every candidate correction; roman numerals come
from music21 (``chords(score)``), slower, for the critique report only. Key finding is Krumhansl-Schmuckler
with the Krumhansl-Kessler profiles, kept to the keys the file's key signature allows unless the notes
clearly say otherwise.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

from tutor.score import music
from tutor.score.music import PITCH_NAMES, Note, Score

log = logging.getLogger(__name__)

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 9, 11)  # natural minor plus the raised 6th and 7th
_MAJOR_TONIC_BY_FIFTHS = {f: (7 * f) % 12 for f in range(-7, 8)}


_MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
_LETTERS = "CDEFGAB"
_LETTER_PC = (0, 2, 4, 5, 7, 9, 11)
_SPELLING_KEY: list = [None]  # the key whose spelling pitch_name uses (set by the rule checker)


def key_spelling(tonic: int, mode: str) -> tuple[str, ...]:
    """Names of the 12 pitch classes as a key spells them: its scale degrees by letter (with the
    raised 6th and 7th in minor), other notes as sharps in sharp keys and flats in flat keys."""
    tonic_name = (_MAJOR_TONICS if mode == "major" else _MINOR_TONICS)[tonic % 12]
    steps = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    first = _LETTERS.index(tonic_name[0])
    names: list[str | None] = [None] * 12

    def spell(letter_index: int, pc: int) -> str:
        letter = _LETTERS[letter_index % 7]
        offset = (pc - _LETTER_PC[letter_index % 7] + 6) % 12 - 6
        return letter + {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}.get(offset, "")

    for degree, step in enumerate(steps):
        names[(tonic + step) % 12] = spell(first + degree, (tonic + step) % 12)
    if mode == "minor":
        for degree in (5, 6):  # raised 6th and 7th
            pc = (tonic + steps[degree] + 1) % 12
            names[pc] = names[pc] or spell(first + degree, pc)
    sharp_side = "#" in tonic_name or tonic_name in (("G", "D", "A", "E", "B") if mode == "major" else ("E", "B"))
    for pc in range(12):
        if names[pc] is None:
            names[pc] = SHARP_NAMES[pc] if sharp_side else PITCH_NAMES[pc]
    return tuple(n or "" for n in names)


def pitch_name(pitch: int, key: Key | None = None) -> str:
    """'F#4'; spelled for ``key`` (or the key the rule checker set) when there is one."""
    key = key or _SPELLING_KEY[0]
    if key is None:
        return music.pitch_name(pitch)
    name = key_spelling(key.tonic, key.mode)[pitch % 12]
    octave = pitch // 12 - 1
    if name.startswith("B#"):
        octave -= 1
    elif name.startswith("Cb"):
        octave += 1
    return f"{name}{octave}"


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    mode: str  # "major" | "minor"
    strength: float = 0.0  # correlation with the key profile

    @property
    def name(self) -> str:
        tonic = (_MAJOR_TONICS if self.mode == "major" else _MINOR_TONICS)[self.tonic]
        return f"{tonic} {self.mode}" if self.mode == "major" else f"{tonic.lower()} minor"

    @property
    def scale(self) -> frozenset[int]:
        steps = MAJOR_SCALE if self.mode == "major" else MINOR_SCALE
        return frozenset((self.tonic + s) % 12 for s in steps)

    @property
    def leading_tone(self) -> int:
        return (self.tonic + 11) % 12

    def degree(self, pitch: int) -> int | None:
        """1..7 for a diatonic pitch (raised 6/7 in minor count as 6/7), else None."""
        rel = (pitch - self.tonic) % 12
        table = {0: 1, 2: 2, 4: 3, 5: 4, 7: 5, 9: 6, 11: 7} if self.mode == "major" else \
            {0: 1, 2: 2, 3: 3, 5: 4, 7: 5, 8: 6, 9: 6, 10: 7, 11: 7}
        return table.get(rel)


@dataclass(frozen=True)
class KeySection:
    first_measure: int
    last_measure: int
    key: Key


@dataclass(frozen=True)
class Voice:
    """One melodic line: a monophonic part, or one line split out of a chordal part."""

    name: str  # "Soprano", "Piano (upper)", ...
    part: str  # Part.id
    notes: tuple[Note, ...]  # no two notes start together

    @property
    def mean_pitch(self) -> float:
        return sum(n.pitch for n in self.notes) / max(1, len(self.notes))


@dataclass(frozen=True)
class PartRange:
    part: str
    name: str
    lowest: int
    highest: int
    tessitura_low: int  # 10th percentile
    tessitura_high: int  # 90th percentile
    median: int

    def as_text(self, key: Key | None = None) -> str:
        return (f"{self.name}: {pitch_name(self.lowest, key)}-{pitch_name(self.highest, key)}, "
                f"tessitura {pitch_name(self.tessitura_low, key)}-{pitch_name(self.tessitura_high, key)}")


@dataclass(frozen=True)
class Cadence:
    measure: int
    beat: float
    kind: str  # "authentic", "half", "plagal", "deceptive", "other"
    perfect: bool  # authentic with tonic in the top voice and root position


@dataclass(frozen=True)
class Phrase:
    first_measure: int
    last_measure: int
    cadence: Cadence | None


@dataclass(frozen=True)
class ChordLabel:
    measure: int
    beat: float
    onset_ql: float
    name: str  # "G major triad"
    roman: str  # "V7", "" where not tonal


@dataclass(frozen=True)
class Analysis:
    key: Key
    sections: tuple[KeySection, ...]
    meter: str
    texture: str  # "melody" | "chorale" | "polyphony" | "keyboard"
    voices: tuple[Voice, ...]
    ranges: tuple[PartRange, ...]
    phrases: tuple[Phrase, ...]
    chords: tuple[ChordLabel, ...] = ()


# ---------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------
def _correlation(a: list[float], b: tuple[float, ...]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    da = sum((x - ma) ** 2 for x in a) ** 0.5
    db = sum((y - mb) ** 2 for y in b) ** 0.5
    return num / (da * db) if da > 0 and db > 0 else 0.0


def key_candidates(notes: list[Note] | tuple[Note, ...]) -> list[Key]:
    """All 24 keys, best first, for duration-weighted pitch classes of ``notes``."""
    hist = [0.0] * 12
    for note in notes:
        hist[note.pitch % 12] += max(note.duration_ql, 0.05)
    keys = []
    for tonic in range(12):
        for mode, profile in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
            rotated = tuple(profile[(pc - tonic) % 12] for pc in range(12))
            keys.append(Key(tonic, mode, _correlation(hist, rotated)))
    return sorted(keys, key=lambda k: -k.strength)


def _signature_keys(score: Score) -> tuple[int, int] | None:
    if not score.key_signatures:
        return None
    fifths = score.key_signatures[0].fifths
    major = _MAJOR_TONIC_BY_FIFTHS.get(max(-7, min(7, fifths)), 0)
    return major, (major + 9) % 12


def estimate_key(score: Score, notes: list[Note] | tuple[Note, ...] | None = None) -> Key:
    """The main key; a key signature in the file breaks near-ties (major or its relative minor)."""
    notes = score.notes if notes is None else notes
    if not notes:
        return Key(0, "major", 0.0)
    candidates = key_candidates(notes)
    best = candidates[0]
    allowed = _signature_keys(score)
    if allowed is not None:
        major, minor = allowed
        for key in candidates:
            if (key.mode == "major" and key.tonic == major) or (key.mode == "minor" and key.tonic == minor):
                if key.strength >= best.strength - 0.15:
                    best = key
                break
    # a piece normally ends on its tonic: among near-equal keys prefer the one whose tonic is the last bass
    last_onset = max(n.onset_ql for n in notes)
    bass = min((n for n in notes if n.onset_ql >= last_onset - 1e-6), key=lambda n: n.pitch)
    if best.tonic != bass.pitch % 12:
        for key in candidates[:4]:
            if key.tonic == bass.pitch % 12 and key.strength >= best.strength - 0.05 and key.mode == best.mode:
                best = key
                break
    return best


def key_sections(score: Score, *, main: Key | None = None, window_measures: int = 4) -> tuple[KeySection, ...]:
    """Keys per section: each ``window_measures`` window takes the best local key, unless the main key
    is close; neighbouring windows in the same key are merged."""
    main = main or estimate_key(score)
    numbers = [m.number for m in score.measures] or sorted({n.measure for n in score.notes})
    if not numbers:
        return ()
    by_measure: dict[int, list[Note]] = defaultdict(list)
    for note in score.notes:
        by_measure[note.measure].append(note)
    sections: list[KeySection] = []
    for start in range(0, len(numbers), window_measures):
        chunk = numbers[start:start + window_measures]
        # look one measure either side so that a window is not fooled by a single chord
        context = numbers[max(0, start - 1): start + window_measures + 1]
        notes = [n for m in context for n in by_measure.get(m, [])]
        key = main
        if len(notes) >= 12 and len(chunk) >= 2:  # a short last chunk keeps the key before it
            candidates = key_candidates(notes)
            local = candidates[0]
            main_here = next(k for k in candidates if k.tonic == main.tonic and k.mode == main.mode)
            if local.strength > main_here.strength + 0.12 and local.strength > 0.6:
                key = local
        if start + window_measures >= len(numbers) and _ends_on(score, main):
            key = main  # the piece ends in its home key
        elif len(chunk) < 2 and sections:
            key = sections[-1].key
        if sections and sections[-1].key.tonic == key.tonic and sections[-1].key.mode == key.mode:
            sections[-1] = KeySection(sections[-1].first_measure, chunk[-1], sections[-1].key)
        else:
            sections.append(KeySection(chunk[0], chunk[-1], key))
    return tuple(sections)


def _ends_on(score: Score, key: Key) -> bool:
    last = max(n.onset_ql for n in score.notes)
    bass = min((n for n in score.notes if n.onset_ql >= last - 1e-6), key=lambda n: n.pitch)
    return bass.pitch % 12 == key.tonic


def key_at(sections: tuple[KeySection, ...], measure: int, default: Key) -> Key:
    for section in sections:
        if section.first_measure <= measure <= section.last_measure:
            return section.key
    return default


# ---------------------------------------------------------------------------------------------
# voices
# ---------------------------------------------------------------------------------------------
def _onset_groups(notes: tuple[Note, ...]) -> list[list[Note]]:
    groups: dict[float, list[Note]] = defaultdict(list)
    for note in notes:
        groups[round(note.onset_ql, 4)].append(note)
    return [sorted(groups[k], key=lambda n: -n.pitch) for k in sorted(groups)]


def voices(score: Score) -> tuple[Voice, ...]:
    """Melodic lines, highest first. A part whose notes never sound together (or only as a note doubled an octave
    below) is one voice; a part with the same number of notes (2-4) at most onsets (a chorale on two staves, a piano
    reduction) is split by rank; other chordal parts (piano textures) give their top line and their bass line."""
    found: list[Voice] = []
    parts = score.parts
    vocal = [p for p in parts if any(v in p.name.lower() for v in ("soprano", "alto", "tenor", "bass"))]
    if len(vocal) >= 3 and len(vocal) < len(parts):
        parts = tuple(vocal)  # an orchestrated chorale: instruments double the voices
    keyboard_staves = [p.id for p in parts if 0 <= p.program <= 7 and "piano" in p.name.lower()]
    for part in parts:
        notes = score.notes_of(part.id)
        if not notes:
            continue
        groups = _onset_groups(notes)
        sizes = Counter(len(g) for g in groups)
        if all(_one_line(g) for g in groups):  # (a tune doubled in octaves, as a pianist's right hand: one line)
            found.append(Voice(part.name, part.id, tuple(g[0] for g in groups)))
            continue
        by_voice: dict[int, list[Note]] = defaultdict(list)
        for note in notes:
            by_voice[note.voice].append(note)
        if len(by_voice) > 1 and all(
            all(len(g) == 1 for g in _onset_groups(tuple(v))) for v in by_voice.values()
        ):
            lines = sorted(by_voice.values(), key=lambda v: -sum(n.pitch for n in v) / len(v))
            for i, line in enumerate(lines):
                found.append(Voice(f"{part.name} (voice {i + 1})", part.id, tuple(sorted(line, key=lambda n: n.onset_ql))))
            continue
        full = max(sizes)
        if 2 <= full <= 4 and sizes[full] >= 0.4 * len(groups):
            for i, line in enumerate(_split_by_nearest(groups, full)):
                found.append(Voice(f"{part.name} (voice {i + 1})", part.id, tuple(line)))
            continue
        # a chordal part: its top line and its bass line (of a piano on two staves, the right
        # hand's top line and the left hand's bass line)
        top = tuple(g[0] for g in groups)
        bass = tuple(g[-1] for g in groups if len(g) > 1 or g[-1].pitch < 55)
        two_staves = len(keyboard_staves) >= 2 and part.id in keyboard_staves
        if not two_staves or part.id == keyboard_staves[0]:
            found.append(Voice(f"{part.name} (upper)", part.id, top))
        if bass and (not two_staves or part.id == keyboard_staves[-1]):
            found.append(Voice(f"{part.name} (bass)", part.id, bass))
    return tuple(found)  # parts in score order (top staff first), lines inside a part high to low


def _one_line(group: list[Note]) -> bool:
    """Whether the notes struck together at an onset (high to low) are one line's note: a single note, or a note
    doubled an octave below."""
    return len(group) == 1 or len(group) == 2 and group[0].pitch - group[1].pitch == 12


def _split_by_nearest(groups: list[list[Note]], k: int) -> list[list[Note]]:
    """Split onset groups (notes high to low) into ``k`` lines: a full group is dealt out by rank;
    in a thinner group each note goes to the free line (its last note ended) nearest in pitch -
    how a reader follows the moving voice in a chorale on two staves."""
    lines: list[list[Note]] = [[] for _ in range(k)]
    for group in groups:
        if len(group) == k:
            for i, note in enumerate(group):
                lines[i].append(note)
            continue
        taken: set[int] = set()
        for note in group:
            free = [i for i in range(k) if i not in taken and (not lines[i] or lines[i][-1].offset_ql <= note.onset_ql + 1e-6)]
            if not free:
                continue
            best = min(free, key=lambda i: (abs(lines[i][-1].pitch - note.pitch) if lines[i] else 0, i))
            taken.add(best)
            lines[best].append(note)
    return lines


def texture(score: Score, lines: tuple[Voice, ...]) -> str:
    """'melody' (one line), 'chorale' (3-5 mostly note-against-note lines), 'keyboard' (a chordal
    part that could not be split into lines, or a melody over a chordal accompaniment) or 'polyphony'."""
    if len(lines) <= 1:
        return "melody"
    if any(v.name.endswith(("(upper)", "(bass)")) for v in lines) or _accompanied_melody(score, lines):
        return "keyboard"
    onsets = [set(round(n.onset_ql, 4) for n in v.notes) for v in lines]
    every = set().union(*onsets)
    together = sum(1 for t in every if sum(t in o for o in onsets) >= len(lines) - 1)
    if 3 <= len(lines) <= 5 and together >= 0.6 * len(every):
        return "chorale"
    return "polyphony"


def _accompanied_melody(score: Score, lines: tuple[Voice, ...]) -> bool:
    """Whether one of the lines' parts is a single line and another strikes chords in one notated voice (at
    a quarter or more of its onsets): a tune over a keyboard or guitar accompaniment, whose chords double
    the tune and each other in octaves as accompaniments do, not independent voices."""
    single = chordal = False
    for part_id in dict.fromkeys(v.part for v in lines):
        notes = score.notes_of(part_id)
        groups = _onset_groups(notes)
        if all(_one_line(g) for g in groups):
            single = True
            continue
        by_voice: dict[int, list[Note]] = defaultdict(list)
        for note in notes:
            by_voice[note.voice].append(note)
        struck = [g for v in by_voice.values() for g in _onset_groups(tuple(v))]
        chordal = chordal or sum(len(g) >= 2 for g in struck) >= 0.25 * len(struck)
    return single and chordal


def part_ranges(score: Score) -> tuple[PartRange, ...]:
    out = []
    for part in score.parts:
        pitches = sorted(n.pitch for n in score.notes_of(part.id))
        if not pitches:
            continue
        k = len(pitches)
        out.append(PartRange(part.id, part.name, pitches[0], pitches[-1], pitches[int(0.1 * (k - 1))],
                             pitches[int(0.9 * (k - 1))], pitches[k // 2]))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# vertical slices, phrases, cadences
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slice:
    onset_ql: float
    notes: tuple[Note | None, ...]  # the note each voice sounds at this onset (None: resting)
    starts: tuple[bool, ...]  # whether that note starts here


def slices(lines: tuple[Voice, ...]) -> list[Slice]:
    """The sounding note of every voice at each onset of any voice."""
    onsets = sorted({round(n.onset_ql, 4) for v in lines for n in v.notes})
    cursors = [0] * len(lines)
    out = []
    for t in onsets:
        row: list[Note | None] = []
        starts: list[bool] = []
        for i, v in enumerate(lines):
            notes = v.notes
            while cursors[i] + 1 < len(notes) and notes[cursors[i] + 1].onset_ql <= t + 1e-6:
                cursors[i] += 1
            note = notes[cursors[i]] if notes else None
            if note is not None and note.onset_ql <= t + 1e-6 < note.offset_ql - 1e-6 + 1e-6 and t < note.offset_ql - 1e-6:
                row.append(note)
                starts.append(abs(note.onset_ql - t) < 1e-4)
            else:
                row.append(None)
                starts.append(False)
        out.append(Slice(t, tuple(row), tuple(starts)))
    return out


def phrase_ends(score: Score, melody: Voice) -> list[Note]:
    """Notes that end phrases: followed by a rest, or long notes on a strong beat after shorter ones,
    and the last note."""
    notes = melody.notes
    if not notes:
        return []
    durations = sorted(n.duration_ql for n in notes)
    median = durations[len(durations) // 2]
    ends = []
    for i, note in enumerate(notes[:-1]):
        rest_after = notes[i + 1].onset_ql - note.offset_ql > 1e-3
        long = note.duration_ql >= 2 * median and note.duration_ql >= 1.0 and i > 0 and notes[i - 1].duration_ql < note.duration_ql
        if rest_after or long:
            if not ends or note.measure - ends[-1].measure >= 2:
                ends.append(note)
    ends.append(notes[-1])
    return ends


def cadence_at(lines: tuple[Voice, ...], end: Note, key: Key) -> Cadence:
    """Kind of cadence whose last chord sounds at ``end`` (a note of the top voice)."""
    def sounding(t: float) -> list[Note]:
        return [n for v in lines for n in v.notes if n.onset_ql <= t + 1e-6 < n.offset_ql]

    final = sounding(end.onset_ql)
    if not final:
        return Cadence(end.measure, end.beat, "other", False)
    bass = min(final, key=lambda n: n.pitch)
    top = max(final, key=lambda n: n.pitch)
    before_t = max((n.onset_ql for v in lines for n in v.notes if n.onset_ql < end.onset_ql - 1e-6), default=None)
    previous = sounding(before_t) if before_t is not None else []
    bass_degree = key.degree(bass.pitch)
    prev_bass = min(previous, key=lambda n: n.pitch) if previous else None
    prev_degree = key.degree(prev_bass.pitch) if prev_bass else None
    pcs = {n.pitch % 12 for n in final}
    if len(lines) == 1:  # a melody: judge the last note and the approach
        degree = key.degree(end.pitch)
        if degree == 1:
            return Cadence(end.measure, end.beat, "authentic", prev_degree in (2, 7))
        if degree in (2, 5, 7):
            return Cadence(end.measure, end.beat, "half", False)
        return Cadence(end.measure, end.beat, "other", False)
    tonic_triad = bass_degree == 1 and (key.tonic + (4 if key.mode == "major" else 3)) % 12 in pcs | {(key.tonic + 3) % 12, (key.tonic + 4) % 12}
    if bass_degree == 1 and tonic_triad:
        if prev_degree == 5 or (prev_bass is not None and any(n.pitch % 12 == key.leading_tone for n in previous)):
            return Cadence(end.measure, end.beat, "authentic", top.pitch % 12 == key.tonic)
        if prev_degree == 4:
            return Cadence(end.measure, end.beat, "plagal", False)
        return Cadence(end.measure, end.beat, "other", False)
    if bass_degree == 5:
        return Cadence(end.measure, end.beat, "half", False)
    if bass_degree == 6 and prev_degree == 5:
        return Cadence(end.measure, end.beat, "deceptive", False)
    return Cadence(end.measure, end.beat, "other", False)


def phrases(score: Score, lines: tuple[Voice, ...], key: Key, sections: tuple[KeySection, ...]) -> tuple[Phrase, ...]:
    if not lines:
        return ()
    melody = lines[0]
    out = []
    first = score.measures[0].number if score.measures else melody.notes[0].measure
    for end in phrase_ends(score, melody):
        local = key_at(sections, end.measure, key) if end is not melody.notes[-1] else key
        out.append(Phrase(first, end.measure, cadence_at(lines, end, local)))
        first = end.measure + 1
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# chords (music21)
# ---------------------------------------------------------------------------------------------
def chords(score: Score, key: Key, *, max_measures: int = 64) -> tuple[ChordLabel, ...]:
    """Chord names and roman numerals (music21) at each change of sonority, for the first
    ``max_measures`` measures."""
    import warnings

    import music21

    from tutor.score.io import music21_from_notes

    numbers = [m.number for m in score.measures]
    short = score.slice_measures(numbers[0], numbers[min(len(numbers), max_measures) - 1]) if numbers else score
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m21 = music21_from_notes(short)
        tonic = (_MAJOR_TONICS if key.mode == "major" else _MINOR_TONICS)[key.tonic]
        m21_key = music21.key.Key(tonic.replace("b", "-") if key.mode == "major" else tonic.replace("b", "-").lower(), key.mode)
        spelling = key_spelling(key.tonic, key.mode)
        out: list[ChordLabel] = []
        try:
            chordified = m21.chordify()
        except Exception:  # noqa: BLE001 - music21 raises any type on odd notation; chord labels are optional
            log.debug("chordify failed", exc_info=True)
            return ()
        previous = None
        for chord in chordified.recurse().getElementsByClass(music21.chord.Chord):
            pcs = tuple(sorted({p.pitchClass for p in chord.pitches}))
            if pcs == previous or len(pcs) < 2:
                continue
            previous = pcs
            try:
                spelled = music21.chord.Chord([music21.pitch.Pitch(spelling[p.pitchClass].replace("b", "-") + str(p.octave))
                                               for p in chord.pitches])
                roman = music21.roman.romanNumeralFromChord(spelled, m21_key).figure
            except Exception:  # noqa: BLE001 - music21's roman numeral code raises any type on unusual chords
                roman = ""
            measure = chord.getContextByClass(music21.stream.Measure)
            out.append(ChordLabel(
                measure=int(measure.number) if measure is not None else 0,
                beat=float(chord.beat) if chord.beat is not None else 1.0,
                onset_ql=float(chord.getOffsetInHierarchy(chordified)),
                name=chord.pitchedCommonName, roman=roman,
            ))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
def analyse(score: Score, *, with_chords: bool = False) -> Analysis:
    """Key and sections, meter, voices and texture, ranges, phrases and cadences (and chords)."""
    key = estimate_key(score)
    sections = key_sections(score, main=key)
    lines = voices(score)
    tex = texture(score, lines)
    return Analysis(
        key=key, sections=sections, meter=score.time_signature, texture=tex, voices=lines,
        ranges=part_ranges(score), phrases=phrases(score, lines, key, sections),
        chords=chords(score, key) if with_chords else (),
    )
