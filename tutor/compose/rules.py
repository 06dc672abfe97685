"""The theory rule set the composition critique applies.

Each ``Rule`` has an ``id``, a one-paragraph explanation written for students, a severity (``error``:
breaks the style's basic rules; ``warning``: usually avoided, look at it; ``info``: taste or polish) and
the writing ``STYLES`` it applies to, so a folk melody gets no chorale voice-leading rules.
``check_rules(score, style=None)`` runs the rules that fit and returns ``Finding``s: part, measure, beat,
the ids of the notes involved (as in the engraved score), a message and a suggestion; ``rule_table()``
lists the rules. Pure Python on the score's notes (no music21, no models), so that the generator can
re-check candidate corrections quickly.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tutor.score.analysis import (
    _SPELLING_KEY,
    Key,
    KeySection,
    Slice,
    Voice,
    cadence_at,
    estimate_key,
    key_at,
    key_sections,
    phrase_ends,
    pitch_name,
    slices,
    texture,
    voices,
)
from tutor.score.music import Note, Score

# Writing styles: ``chorale`` four-part (3-5 voices) note-against-note writing, strict voice leading;
# ``counterpoint`` independent polyphonic lines (Renaissance and Baroque polyphony); ``keyboard`` free
# accompanied or piano textures (Classical, Romantic), outer-voice rules only; ``song`` a single melody to
# be sung (folk song, melody exercise); ``dance_tune`` a single instrumental dance melody (fiddle tunes),
# where running notes and arpeggios are idiomatic.
STYLES = ("chorale", "counterpoint", "keyboard", "song", "dance_tune")
SEVERITIES = ("error", "warning", "info")
# the writing style each style-model class suggests; the texture has the last word (writing_style)
MODEL_STYLE_TO_WRITING = {
    "renaissance": "counterpoint",
    "baroque": "chorale",  # "counterpoint" when the texture is not note-against-note
    "classical": "keyboard",
    "romantic_piano": "keyboard",
    "folk_fiddle": "dance_tune",
    "folk_song": "song",
    # the style taxonomy's popular, jazz and dance classes (issue 26): free accompanied writing
    "pop": "keyboard",
    "jazz": "keyboard",
    "blues": "keyboard",
    "ragtime": "keyboard",
    "waltz": "keyboard",
    "march": "keyboard",
    "tango": "keyboard",
    "game": "keyboard",
}
ALL = frozenset(STYLES)
PART_WRITING = frozenset({"chorale", "counterpoint"})
MELODIC = frozenset({"chorale", "counterpoint", "song", "dance_tune"})


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "error" | "warning" | "info"
    part: str  # the part's (or line's) name
    measure: int
    beat: float
    message: str
    suggestion: str
    note_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "part": self.part, "measure": self.measure,
                "beat": round(float(self.beat), 3), "message": self.message, "suggestion": self.suggestion,
                "note_ids": list(self.note_ids)}


@dataclass(frozen=True)
class Context:
    """What the rules need, computed once per check."""

    score: Score
    style: str
    key: Key
    sections: tuple[KeySection, ...]
    voices: tuple[Voice, ...]
    slices: list[Slice]

    def key_at(self, measure: int) -> Key:
        return key_at(self.sections, measure, self.key)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    styles: frozenset[str]
    explanation: str
    check: Callable[[Context], Iterable[Finding]]


RULES: dict[str, Rule] = {}


def rule(id: str, *, severity: str, styles: Iterable[str], explanation: str):
    def register(check: Callable[[Context], Iterable[Finding]]):
        RULES[id] = Rule(id, severity, frozenset(styles), " ".join(explanation.split()), check)
        return check
    return register


def _finding(rule_id: str, voice_name: str, note: Note, message: str, suggestion: str, *notes: Note | None) -> Finding:
    ids = tuple(dict.fromkeys(n.id for n in (note, *notes) if n is not None))
    return Finding(rule_id, RULES[rule_id].severity, voice_name, note.measure, note.beat, message, suggestion, ids)


def _where(note: Note) -> str:
    return f"m. {note.measure} beat {note.beat:g}"


# ---------------------------------------------------------------------------------------------
# consecutive perfect intervals
# ---------------------------------------------------------------------------------------------
def _moves(ctx: Context):
    """(upper index, lower index, previous slice, slice) for each pair of voices where both voices
    start a new note at the slice, with both sounding in the previous slice."""
    n = len(ctx.voices)
    for previous, current in zip(ctx.slices, ctx.slices[1:], strict=False):
        for i in range(n):
            for j in range(i + 1, n):
                a0, b0, a1, b1 = previous.notes[i], previous.notes[j], current.notes[i], current.notes[j]
                if None in (a0, b0, a1, b1) or not (current.starts[i] and current.starts[j]):
                    continue
                if a1.onset_ql - a0.offset_ql > 1e-3 or b1.onset_ql - b0.offset_ql > 1e-3:
                    continue  # a rest in between
                yield i, j, a0, b0, a1, b1


def _parallel(ctx: Context, rule_id: str, interval: int, label: str) -> Iterable[Finding]:
    for i, j, a0, b0, a1, b1 in _moves(ctx):
        if a0.pitch == a1.pitch or b0.pitch == b1.pitch:
            continue
        if a0.pitch % 12 == a1.pitch % 12 and b0.pitch % 12 == b1.pitch % 12:
            continue  # both voices leap an octave: the same two notes, re-voiced
        if (a1.pitch - a0.pitch > 0) != (b1.pitch - b0.pitch > 0):
            continue  # contrary motion
        first, second = abs(a0.pitch - b0.pitch), abs(a1.pitch - b1.pitch)
        if first % 12 == interval and second % 12 == interval and first > 0 or (interval == 0 and first == second == 0):
            upper, lower = ctx.voices[i].name, ctx.voices[j].name
            yield _finding(
                rule_id, upper, a1,
                f"parallel {label} between {upper} and {lower}: {pitch_name(a0.pitch)}/{pitch_name(b0.pitch)} to "
                f"{pitch_name(a1.pitch)}/{pitch_name(b1.pitch)} ({_where(a1)})",
                f"move {upper} or {lower} in contrary or oblique motion here (keep one voice still or move it "
                f"the other way), or choose another chord tone for {upper} on {_where(a1)}",
                b1, a0, b0,
            )


@rule("parallel_fifths", severity="error", styles=PART_WRITING, explanation="""
    Two voices a perfect fifth apart that both move in the same direction to another perfect fifth
    sound like one voice doubled: the independence of the parts is lost for a moment and the texture
    becomes hollow. In chorale and contrapuntal writing, avoid consecutive fifths between any two
    voices; contrary motion or a different chord tone in one of the voices solves it.""")
def _parallel_fifths(ctx: Context) -> Iterable[Finding]:
    return _parallel(ctx, "parallel_fifths", 7, "fifths")


@rule("parallel_octaves", severity="error", styles=PART_WRITING, explanation="""
    Two voices an octave (or unison) apart that both move to another octave merge into a single
    line: four-part writing becomes three-part writing. Avoid consecutive octaves and unisons between
    independent voices; let one of the voices move by contrary motion or take another chord tone.""")
def _parallel_octaves(ctx: Context) -> Iterable[Finding]:
    return _parallel(ctx, "parallel_octaves", 0, "octaves")


@rule("hidden_fifths_octaves", severity="warning", styles={"chorale"}, explanation="""
    When the outer voices (soprano and bass) move in the same direction into a perfect fifth or
    octave, and the soprano arrives by a leap, the ear hears the perfect interval exposed as if it
    were a parallel one ("hidden" or "direct" fifths and octaves). Approach outer-voice fifths and
    octaves by contrary motion or let the soprano move by step.""")
def _hidden(ctx: Context) -> Iterable[Finding]:
    if len(ctx.voices) < 2:
        return
    last = len(ctx.voices) - 1
    for i, j, a0, b0, a1, b1 in _moves(ctx):
        if i != 0 or j != last:
            continue
        up, down = a1.pitch - a0.pitch, b1.pitch - b0.pitch
        if up == 0 or down == 0 or (up > 0) != (down > 0) or abs(up) <= 2:
            continue
        second = abs(a1.pitch - b1.pitch) % 12
        first = abs(a0.pitch - b0.pitch) % 12
        if second in (0, 7) and first != second:
            label = "octave" if second == 0 else "fifth"
            yield _finding(
                "hidden_fifths_octaves", ctx.voices[0].name, a1,
                f"hidden {label} between the outer voices: both move {'up' if up > 0 else 'down'} into "
                f"{pitch_name(a1.pitch)}/{pitch_name(b1.pitch)} with a leap in the soprano ({_where(a1)})",
                f"let the soprano reach {pitch_name(a1.pitch)} by step, or move the bass the other way",
                b1, a0, b0,
            )


# ---------------------------------------------------------------------------------------------
# voice crossing, overlap, spacing
# ---------------------------------------------------------------------------------------------
@rule("voice_crossing", severity="warning", styles=PART_WRITING, explanation="""
    Each voice has its own register: soprano above alto above tenor above bass. When a lower voice
    goes above the voice above it, listeners lose track of which line is which. Keep every voice
    below the one above it; if two voices need the same notes, let them share a unison instead.""")
def _crossing(ctx: Context) -> Iterable[Finding]:
    reported: set[tuple[int, int]] = set()
    for sl in ctx.slices:
        for i in range(len(ctx.voices) - 1):
            a, b = sl.notes[i], sl.notes[i + 1]
            if a is None or b is None or a.pitch >= b.pitch or not (sl.starts[i] or sl.starts[i + 1]):
                continue
            key = (i, b.measure)
            if key in reported:
                continue
            reported.add(key)
            upper, lower = ctx.voices[i].name, ctx.voices[i + 1].name
            yield _finding(
                "voice_crossing", lower, b,
                f"{lower} ({pitch_name(b.pitch)}) crosses above {upper} ({pitch_name(a.pitch)}) at {_where(b)}",
                f"swap the two notes between {upper} and {lower}, or move {lower} down an octave or to a "
                f"lower chord tone",
                a,
            )


@rule("voice_overlap", severity="warning", styles={"chorale"}, explanation="""
    Voices overlap when a voice moves above the previous note of the voice above it (or below the
    previous note of the voice below it), even without crossing. The ear follows the nearest notes
    and mixes up the two lines. Keep each new note between the neighbouring voices' previous notes.""")
def _overlap(ctx: Context) -> Iterable[Finding]:
    for previous, current in zip(ctx.slices, ctx.slices[1:], strict=False):
        for i in range(len(ctx.voices) - 1):
            a0, b0, a1, b1 = previous.notes[i], previous.notes[i + 1], current.notes[i], current.notes[i + 1]
            if None in (a0, b0, a1, b1):
                continue
            if a1.pitch < b1.pitch:
                continue  # a crossing, reported by voice_crossing
            if current.starts[i + 1] and current.starts[i] and b1.pitch > a0.pitch and a0.pitch >= b0.pitch:
                lower = ctx.voices[i + 1].name
                yield _finding("voice_overlap", lower, b1,
                               f"{lower} rises to {pitch_name(b1.pitch)}, above the {ctx.voices[i].name}'s previous "
                               f"{pitch_name(a0.pitch)} ({_where(b1)})",
                               f"keep {lower} at or below {pitch_name(a0.pitch)} here, or move the "
                               f"{ctx.voices[i].name} up first", a0)
            elif current.starts[i] and current.starts[i + 1] and a1.pitch < b0.pitch and a0.pitch >= b0.pitch:
                upper = ctx.voices[i].name
                yield _finding("voice_overlap", upper, a1,
                               f"{upper} falls to {pitch_name(a1.pitch)}, below the {ctx.voices[i + 1].name}'s previous "
                               f"{pitch_name(b0.pitch)} ({_where(a1)})",
                               f"keep {upper} at or above {pitch_name(b0.pitch)} here", b0)


@rule("spacing", severity="warning", styles={"chorale"}, explanation="""
    In four-part writing, adjacent upper voices (soprano-alto, alto-tenor) should be no more than an
    octave apart; only the bass may be further from the tenor. Wider gaps make the chord sound thin
    and split into two groups. Bring the inner voice closer to the voice above it.""")
def _spacing(ctx: Context) -> Iterable[Finding]:
    if len(ctx.voices) < 3:
        return
    reported: set[tuple[int, int]] = set()
    for sl in ctx.slices:
        for i in range(len(ctx.voices) - 2):  # pairs above the bass
            a, b = sl.notes[i], sl.notes[i + 1]
            if a is None or b is None or a.pitch - b.pitch <= 12 or (i, a.measure) in reported:
                continue
            if not (sl.starts[i] or sl.starts[i + 1]):
                continue
            reported.add((i, a.measure))
            yield _finding("spacing", ctx.voices[i + 1].name, b,
                           f"{ctx.voices[i].name} and {ctx.voices[i + 1].name} are {a.pitch - b.pitch} semitones "
                           f"apart (more than an octave) at {_where(b)}",
                           f"raise the {ctx.voices[i + 1].name} to a chord tone within an octave of "
                           f"{pitch_name(a.pitch)}", a)


# ---------------------------------------------------------------------------------------------
# range
# ---------------------------------------------------------------------------------------------
VOICE_RANGES = {"soprano": (60, 81), "alto": (55, 74), "tenor": (48, 69), "bass": (40, 62)}
PROGRAM_RANGES = [  # (first GM program, last, lowest, highest, name)
    (0, 7, 21, 108, "piano"), (40, 40, 55, 103, "violin"), (41, 41, 48, 91, "viola"), (42, 42, 36, 84, "cello"),
    (43, 43, 28, 67, "double bass"), (73, 73, 60, 96, "flute"), (71, 71, 50, 94, "clarinet"),
    (68, 68, 58, 91, "oboe"), (70, 70, 34, 75, "bassoon"), (56, 56, 54, 82, "trumpet"), (60, 60, 34, 77, "horn"),
    (57, 57, 40, 72, "trombone"), (24, 31, 40, 88, "guitar"),
]
SONG_RANGE = (55, 81)  # a singable compass for a general melody: G3-A5
SONG_SPAN = 19  # more than an octave and a fifth is hard for untrained singers


def _voice_range(ctx: Context, index: int, voice: Voice) -> tuple[int, int, str] | None:
    name = voice.name.lower()
    for label, (low, high) in VOICE_RANGES.items():
        if label in name and not name.endswith(("(bass)", "(upper)")):
            return low, high, label
    if ctx.style == "chorale" and len(ctx.voices) == 4:
        label = ("soprano", "alto", "tenor", "bass")[index]
        return (*VOICE_RANGES[label], label)
    part = next((p for p in ctx.score.parts if p.id == voice.part), None)
    if part is not None:
        for first, last, low, high, label in PROGRAM_RANGES:
            if first <= part.program <= last and (part.program != 0 or "piano" in part.name.lower() or ctx.style == "keyboard"):
                return low, high, label
        if "violin" in part.name.lower() or ctx.style == "dance_tune":
            return 55, 103, "violin"
    if ctx.style == "song":
        return (*SONG_RANGE, "voice")
    return None


@rule("out_of_range", severity="warning", styles=ALL, explanation="""
    Every voice and instrument has a comfortable compass. Notes outside it are strained, unplayable
    or simply unavailable (a violin has nothing below G3). In four-part writing the usual ranges are
    soprano C4-A5, alto G3-D5, tenor C3-A4 and bass E2-D4; a melody meant to be sung by anyone should
    stay between about G3 and A5 and span no more than an octave and a fifth.""")
def _out_of_range(ctx: Context) -> Iterable[Finding]:
    for index, voice in enumerate(ctx.voices):
        found = _voice_range(ctx, index, voice)
        if found is None:
            continue
        low, high, label = found
        outside = [n for n in voice.notes if n.pitch < low or n.pitch > high]
        reported_measures: set[int] = set()
        for note in outside:
            if note.measure in reported_measures:
                continue
            reported_measures.add(note.measure)
            direction = "below" if note.pitch < low else "above"
            limit = low if note.pitch < low else high
            yield _finding("out_of_range", voice.name, note,
                           f"{pitch_name(note.pitch)} is {direction} the {label} range "
                           f"({pitch_name(low)}-{pitch_name(high)}) at {_where(note)}",
                           f"move this passage an octave {'up' if direction == 'below' else 'down'} or rewrite it "
                           f"to stay {'above' if direction == 'below' else 'below'} {pitch_name(limit)}")
        if ctx.style == "song" and voice.notes:
            span = max(n.pitch for n in voice.notes) - min(n.pitch for n in voice.notes)
            if span > SONG_SPAN:
                top = max(voice.notes, key=lambda n: n.pitch)
                yield _finding("out_of_range", voice.name, top,
                               f"the melody spans {span} semitones ({pitch_name(min(n.pitch for n in voice.notes))}-"
                               f"{pitch_name(top.pitch)}), more than an octave and a fifth",
                               "bring the highest phrase down an octave or narrow the melody's compass")


# ---------------------------------------------------------------------------------------------
# key
# ---------------------------------------------------------------------------------------------
def _neighbours(voice: Voice, index: int) -> tuple[Note | None, Note | None]:
    """The notes the line comes from and goes to: the one sounding into this note's start and the one
    starting by its end, the nearest in pitch where several do (issue 24: in a piano's upper line the
    melody's A4-Bb4-A4 had an inner E4 of the accompaniment between its notes, and the Bb4 was flagged)."""
    notes = voice.notes
    note = notes[index]
    before_candidates = [n for n in notes[max(0, index - 12):index]
                         if n.onset_ql < note.onset_ql - 1e-6 and note.onset_ql - n.offset_ql < 1e-3]
    after_candidates = [n for n in notes[index + 1:index + 13]
                        if n.onset_ql > note.onset_ql + 1e-6 and n.onset_ql - note.offset_ql < 1e-3]
    if not before_candidates and index > 0 and note.onset_ql - notes[index - 1].offset_ql < 1e-3:
        before_candidates = [notes[index - 1]]  # a chord's notes starting together
    if not after_candidates and index + 1 < len(notes) and notes[index + 1].onset_ql - note.offset_ql < 1e-3:
        after_candidates = [notes[index + 1]]
    before = min(before_candidates, key=lambda n: (abs(n.pitch - note.pitch), -n.offset_ql), default=None)
    after = min(after_candidates, key=lambda n: (abs(n.pitch - note.pitch), n.onset_ql), default=None)
    return before, after


def explained_chromatic(voice: Voice, index: int, key: Key) -> str | None:
    """Why an out-of-key note is fine: 'passing', 'neighbour', 'leading' (resolves up a semitone as
    an applied leading tone), 'lowered' (resolves down a semitone), or None."""
    before, after = _neighbours(voice, index)
    note = voice.notes[index]
    if before is not None and after is not None:
        d1, d2 = note.pitch - before.pitch, after.pitch - note.pitch
        if 0 < abs(d1) <= 2 and 0 < abs(d2) <= 2 and (d1 > 0) == (d2 > 0):
            return "passing"
        if 0 < abs(d1) <= 2 and after.pitch == before.pitch:
            return "neighbour"
    if after is not None and after.pitch - note.pitch == 1 and after.pitch % 12 in key.scale:
        return "leading"
    if after is not None and after.pitch - note.pitch == -1 and after.pitch % 12 in key.scale:
        return "lowered"
    return None


@rule("out_of_key", severity="warning", styles=ALL, explanation="""
    A note outside the key (a chromatic note) draws attention. It is fine, and colourful, when it has
    a reason: a chromatic passing note between two steps, a chromatic neighbour that returns, a
    raised note that leads up by a semitone into the next note (an applied leading tone), or a
    modulation to a new key. A chromatic note without such a reason usually sounds like a wrong
    note: check the accidental.""")
def _out_of_key(ctx: Context) -> Iterable[Finding]:
    for voice in ctx.voices:
        for index, note in enumerate(voice.notes):
            local = ctx.key_at(note.measure)
            if note.pitch % 12 in local.scale or note.pitch % 12 in ctx.key.scale and local is not ctx.key:
                continue
            if explained_chromatic(voice, index, local):
                continue
            # another voice holding the same pitch class at this moment makes it a chord note of a
            # borrowed or applied chord (for example a secondary dominant)
            # a note of an applied or borrowed chord; in the outer voices it must also move on like
            # a chromatic tone (inner voices are freer, as in Bach's chorales)
            inner = 0 < ctx.voices.index(voice) < len(ctx.voices) - 1
            # a piano's lines are its hands, not voices led note to note: there a note of an applied or
            # borrowed chord (a triad, a dominant or diminished seventh with it) need not resolve as a voice
            keyboard = ctx.style == "keyboard"
            if (_in_chromatic_chord(ctx, note, voice, templates=_FUNCTIONAL_CHORDS if keyboard else _CHORD_TEMPLATES)
                    and (inner or keyboard or _resolves_like_chromatic(voice, index, local))):
                continue
            if _applied_or_borrowed(ctx, note, local):  # a secondary dominant or a borrowed chord (issue 24)
                continue
            options = sorted({(note.pitch + d) for d in (-1, 1) if (note.pitch + d) % 12 in local.scale})
            suggestion = (" or ".join(pitch_name(p) for p in options) + f" (in {local.name})") if options else "a note of the key"
            yield _finding("out_of_key", voice.name, note,
                           f"{pitch_name(note.pitch)} is not in {local.name} and is neither a chromatic passing or "
                           f"neighbour note nor part of a modulation ({_where(note)})",
                           f"use {suggestion}, or make it lead by step to the next note")


def _resolves_like_chromatic(voice: Voice, index: int, key: Key) -> bool:
    """A raised note (a semitone above a scale note) moves on up or stays; a lowered note moves on
    down or stays: how the chromatic tone of an applied or borrowed chord behaves."""
    note = voice.notes[index]
    after = _next_note(voice, index)
    if after is None:
        return False
    step = after.pitch - note.pitch
    raised = (note.pitch - 1) % 12 in key.scale
    return step == 0 or (0 < step <= 2 if raised else -2 <= step < 0)


def _chromatic_chords(key: Key) -> list[frozenset[int]]:
    """Chords whose notes outside ``key`` are not wrong notes: the dominant seventh and the diminished
    seventh applied to each degree (secondary dominants), the Neapolitan sixth, the augmented sixths,
    and the tonic, subdominant and dominant chords of the parallel mode (borrowed chords)."""
    t = key.tonic
    chords = []
    for target in key.scale:
        chords.append(frozenset((target + d) % 12 for d in (7, 11, 2, 5)))  # V7 of the degree
        chords.append(frozenset((target + d) % 12 for d in (11, 2, 5, 8)))  # vii°7 of the degree
    chords.append(frozenset((t + d) % 12 for d in (1, 5, 8)))  # Neapolitan
    chords.append(frozenset((t + d) % 12 for d in (8, 0, 6, 3)))  # German sixth
    chords.append(frozenset((t + d) % 12 for d in (8, 0, 6, 2)))  # French sixth
    third = 3 if key.mode == "major" else 4  # the parallel mode's third
    for root, quality in ((0, third), (5, third), (7, 4)):
        chords.append(frozenset((t + root + d) % 12 for d in (0, quality, 7)))
    if key.mode == "major":
        chords.append(frozenset((t + d) % 12 for d in (8, 0, 3)))  # bVI
        chords.append(frozenset((t + d) % 12 for d in (10, 2, 5)))  # bVII
    return chords


def _applied_or_borrowed(ctx: Context, note: Note, key: Key) -> bool:
    """Whether the notes sounding around ``note`` (its beat, every part: a piano's arpeggiated chord
    too) make one of ``_chromatic_chords`` with it: at least three of its notes, at most two others
    (a pedal note, a passing note)."""
    notes = ctx.score.notes  # sorted by onset
    onsets = [n.onset_ql for n in notes]
    low, high = note.onset_ql - 0.5, note.onset_ql + 0.75
    first = bisect.bisect_left(onsets, low - 8.0)
    last = bisect.bisect_left(onsets, high)
    pcs = {n.pitch % 12 for n in notes[first:last] if n.offset_ql > low + 1e-6}
    pc = note.pitch % 12
    for chord in _chromatic_chords(key):
        if pc in chord and len(pcs & chord) >= 3 and len(pcs - chord) <= 2:
            return True
    return False


def _in_chromatic_chord(ctx: Context, note: Note, voice: Voice, *, templates) -> bool:
    """Whether the other notes sounding with ``note`` (any part, inner notes of piano chords too)
    make a triad or seventh chord with it: a borrowed or applied chord, not a wrong note."""
    notes = ctx.score.notes  # sorted by onset
    index = bisect.bisect_right([n.onset_ql for n in notes], note.onset_ql + 1e-6)
    pcs = set()
    for n in notes[max(0, index - 48): index]:
        if n is not note and n.onset_ql <= note.onset_ql + 1e-6 < n.offset_ql:
            pcs.add(n.pitch % 12)
    pcs.discard(note.pitch % 12)
    if len(pcs) < 2:
        return False
    every = pcs | {note.pitch % 12}
    for root in every:
        rel = {(p - root) % 12 for p in every}
        for template in templates:
            if rel <= template and len(rel) >= 3:
                return True
    return False


_CHORD_TEMPLATES = (
    frozenset({0, 4, 7}), frozenset({0, 3, 7}), frozenset({0, 3, 6}), frozenset({0, 4, 8}),
    frozenset({0, 4, 7, 10}), frozenset({0, 4, 7, 11}), frozenset({0, 3, 7, 10}), frozenset({0, 3, 6, 10}),
    frozenset({0, 3, 6, 9}), frozenset({0, 4, 10}), frozenset({0, 4, 6, 10}),
    frozenset({0, 1, 4, 7, 10}),  # a dominant seventh with its minor ninth (Schumann's A7b9 in d minor)
)
# applied dominants: sevenths (dominant, diminished, half-diminished, with the ninth), not triads (a
# wrong note in a piano's chord often makes a triad with the others; planted semitone errors in the
# Arabeske were found 10 of 60 times with triads here, 12 without)
_FUNCTIONAL_CHORDS = (
    frozenset({0, 4, 7, 10}), frozenset({0, 4, 10}), frozenset({0, 3, 6, 9}), frozenset({0, 3, 6, 10}),
    frozenset({0, 1, 4, 7, 10}),
)


# ---------------------------------------------------------------------------------------------
# tendency tones
# ---------------------------------------------------------------------------------------------
def _next_note(voice: Voice, index: int) -> Note | None:
    return voice.notes[index + 1] if index + 1 < len(voice.notes) else None


def _sounding(ctx: Context, t: float) -> list[Note]:
    return [n for v in ctx.voices for n in v.notes if n.onset_ql <= t + 1e-6 < n.offset_ql - 1e-6]


@rule("unresolved_leading_tone", severity="warning", styles=PART_WRITING | {"song"}, explanation="""
    The leading tone (the seventh degree, a semitone below the tonic) pulls strongly up to the
    tonic. In a dominant chord that goes to the tonic chord, the leading tone in an outer voice should
    rise to the tonic; a melody should not end on the leading tone or leave it by a leap at a cadence.
    Inner voices may occasionally drop to the fifth, but the soprano and bass should resolve it.""")
def _leading_tone(ctx: Context) -> Iterable[Finding]:
    outer = {0, len(ctx.voices) - 1}
    for vi, voice in enumerate(ctx.voices):
        if vi not in outer:
            continue
        for index, note in enumerate(voice.notes):
            key = ctx.key_at(note.measure)
            if note.pitch % 12 != key.leading_tone:
                continue
            after = _next_note(voice, index)
            if after is None:
                if vi == 0:
                    yield _finding("unresolved_leading_tone", voice.name, note,
                                   f"the piece ends on the leading tone {pitch_name(note.pitch)} of {key.name}",
                                   f"end on the tonic: move to {pitch_name(note.pitch + 1)}")
                continue
            if after.pitch == note.pitch or after.pitch - note.pitch == 1:
                continue
            if len(ctx.voices) == 1:
                # a melody: only at cadences (the last two notes of a phrase)
                if not _is_phrase_end(ctx, voice, after):
                    continue
            else:
                # part writing: dominant to tonic (bass moves 5 -> 1 at the next change)
                here = _sounding(ctx, note.onset_ql)
                there = _sounding(ctx, after.onset_ql)
                if not here or not there:
                    continue
                bass_here = min(here, key=lambda n: n.pitch)
                bass_there = min(there, key=lambda n: n.pitch)
                if key.degree(bass_here.pitch) != 5 or key.degree(bass_there.pitch) != 1 or (bass_here.pitch - key.tonic) % 12 != 7:
                    continue
            yield _finding("unresolved_leading_tone", voice.name, note,
                           f"the leading tone {pitch_name(note.pitch)} in {voice.name} goes to {pitch_name(after.pitch)} "
                           f"instead of rising to the tonic ({_where(note)})",
                           f"move {voice.name} up a semitone to {pitch_name(note.pitch + 1)} on {_where(after)}",
                           after)


def _is_phrase_end(ctx: Context, voice: Voice, note: Note) -> bool:
    return any(end.id == note.id for end in phrase_ends(ctx.score, voice))


@rule("unresolved_seventh", severity="warning", styles=PART_WRITING, explanation="""
    The seventh of a seventh chord (for example F in G-B-D-F) is a dissonance that wants to fall by
    step: in a dominant seventh going to the tonic, the seventh resolves down to the third of the
    tonic chord. Leaping away from it or moving it up leaves the tension unresolved. Let the voice
    with the seventh step down (or hold it while the harmony stays the same).""")
def _unresolved_seventh(ctx: Context) -> Iterable[Finding]:
    if len(ctx.voices) < 3:
        return
    for sl in ctx.slices:
        sounding = [n for n in sl.notes if n is not None]
        pcs = {n.pitch % 12 for n in sounding}
        if len(pcs) < 3:
            continue
        bass = min(sounding, key=lambda n: n.pitch)
        for root in pcs:
            if (root + 4) % 12 in pcs and (root + 10) % 12 in pcs and ((root + 7) % 12 in pcs or len(pcs) == 3):
                seventh = (root + 10) % 12
                if bass.pitch % 12 == seventh:
                    continue  # third inversion: the bass resolution is judged by the ear of the bass
                for vi, note in enumerate(sl.notes):
                    if note is None or note.pitch % 12 != seventh or not sl.starts[vi]:
                        continue
                    voice = ctx.voices[vi]
                    index = voice.notes.index(note)
                    after = _next_note(voice, index)
                    if after is None or after.onset_ql - note.offset_ql > 1e-3 or after.pitch == note.pitch:
                        continue
                    if note.pitch - after.pitch in (1, 2):
                        continue
                    later = _sounding(ctx, after.onset_ql)
                    if {root, (root + 4) % 12} <= {n.pitch % 12 for n in later}:
                        continue  # still the same harmony: the seventh is being decorated
                    yield _finding("unresolved_seventh", voice.name, note,
                                   f"{pitch_name(note.pitch)} is the seventh of the chord on {pitch_name(root + 48)[:-1]} "
                                   f"and moves to {pitch_name(after.pitch)} instead of falling by step ({_where(note)})",
                                   f"let {voice.name} step down to {pitch_name(note.pitch - (1 if (note.pitch - 1) % 12 in ctx.key_at(note.measure).scale else 2))}",
                                   after)
                break


# ---------------------------------------------------------------------------------------------
# melodic intervals
# ---------------------------------------------------------------------------------------------
def _melodic_pairs(voice: Voice):
    for a, b in zip(voice.notes, voice.notes[1:], strict=False):
        if b.onset_ql - a.offset_ql > 1e-3:
            continue  # a rest: a new phrase may start anywhere
        yield a, b


@rule("augmented_interval", severity="warning", styles=PART_WRITING | {"song"}, explanation="""
    Augmented melodic intervals - the augmented second between the sixth and raised seventh degree
    of the minor scale, and the augmented fourth (tritone) - are awkward to sing and sound exotic in
    tonal music. In a minor key, raise the sixth degree too (melodic minor) or reach the leading tone
    from another note; avoid leaping a tritone.""")
def _augmented(ctx: Context) -> Iterable[Finding]:
    for voice in ctx.voices:
        for a, b in _melodic_pairs(voice):
            key = ctx.key_at(b.measure)
            interval = b.pitch - a.pitch
            rel = {(a.pitch - key.tonic) % 12, (b.pitch - key.tonic) % 12}
            if abs(interval) == 6:
                # a descending diminished fifth that turns back by step is standard
                index = voice.notes.index(b)
                after = _next_note(voice, index)
                if interval < 0 and after is not None and 0 < after.pitch - b.pitch <= 2:
                    continue
                label = "augmented fourth (tritone)"
                fix = "change one of the notes so that the leap is a perfect fourth or fifth"
            elif abs(interval) == 3 and key.mode == "minor" and rel == {8, 11}:
                label = "augmented second"
                fix = f"use the raised sixth degree ({pitch_name(key.tonic + 9 + 12 * (a.pitch // 12))[:-1]}) before the leading tone, or approach it from the tonic"
            else:
                continue
            yield _finding("augmented_interval", voice.name, b,
                           f"{label} in {voice.name}: {pitch_name(a.pitch)} to {pitch_name(b.pitch)} ({_where(b)})",
                           fix, a)


@rule("large_leap", severity="warning", styles=MELODIC, explanation="""
    Melodies move mostly by step. A leap larger than an octave is hard to sing and breaks the line;
    a large leap (a sixth or more) should be followed by a step in the opposite direction, which
    "recovers" the gap the leap left. Leaps within an arpeggio of one chord are fine in instrumental
    tunes.""")
def _large_leap(ctx: Context) -> Iterable[Finding]:
    last = len(ctx.voices) - 1
    for vi, voice in enumerate(ctx.voices):
        is_bass = vi == last and len(ctx.voices) > 1
        for a, b in _melodic_pairs(voice):
            leap = b.pitch - a.pitch
            size = abs(leap)
            if size > 12 and not (is_bass and ctx.style == "keyboard"):
                yield _finding("large_leap", voice.name, b,
                               f"leap of {size} semitones (more than an octave) from {pitch_name(a.pitch)} to "
                               f"{pitch_name(b.pitch)} ({_where(b)})",
                               f"take {pitch_name(b.pitch)} an octave {'lower' if leap > 0 else 'higher'} "
                               f"({pitch_name(b.pitch - 12 if leap > 0 else b.pitch + 12)})", a)
                continue
            if size < 8 or size == 12 or ctx.style in ("dance_tune", "keyboard"):
                continue
            index = voice.notes.index(b)
            after = _next_note(voice, index)
            if after is None or after.onset_ql - b.offset_ql > 1e-3:
                continue
            back = after.pitch - b.pitch
            if back != 0 and (back > 0) != (leap > 0) and abs(back) <= 4:
                continue
            yield _finding("large_leap", voice.name, b,
                           f"leap of {size} semitones from {pitch_name(a.pitch)} to {pitch_name(b.pitch)} is not "
                           f"recovered: the next note {'continues' if back and (back > 0) == (leap > 0) else 'does not step back'} "
                           f"({_where(b)})",
                           f"after the leap, move by step {'down' if leap > 0 else 'up'} (to "
                           f"{pitch_name(b.pitch - 2 if leap > 0 else b.pitch + 2)} or nearby), or make the leap smaller",
                           a, after)


# ---------------------------------------------------------------------------------------------
# dissonance
# ---------------------------------------------------------------------------------------------
def _is_chord(pcs: set[int]) -> bool:
    for root in pcs:
        rel = {(p - root) % 12 for p in pcs}
        if rel <= {0, 3, 4, 7, 10, 11} and len(rel & {3, 4}) == 1:
            return True
        if rel <= {0, 3, 6, 9, 10}:  # diminished triad / seventh chords
            return True
    return False


def _is_triad(pcs: set[int]) -> bool:
    """A complete triad (root, third, fifth), possibly with a seventh."""
    for root in pcs:
        rel = {(p - root) % 12 for p in pcs}
        if rel & {3, 4} and rel & {6, 7} and rel <= {0, 3, 4, 6, 7, 10, 11}:
            return True
    return False


def _strong(note: Note, score: Score) -> bool:
    meter = score.time_signature
    if meter in ("4/4", "2/2", "4/2"):
        return note.beat in (1.0, 3.0) if meter == "4/4" else note.beat == 1.0
    return note.beat == 1.0


@rule("unprepared_dissonance", severity="warning", styles=PART_WRITING, explanation="""
    On a strong beat, a note that clashes with the other voices (a second, seventh or fourth that is
    not part of the chord) is heard as an accent of tension. In strict part writing such a note must
    be prepared - sounded in the same voice just before, as a suspension - and then resolve down by
    step. An unprepared clash on the beat sounds like a mistake; make it a chord tone, or tie it over
    from the previous beat.""")
def _unprepared(ctx: Context) -> Iterable[Finding]:
    if len(ctx.voices) < 2:
        return
    for sl in ctx.slices:
        sounding = [(vi, n) for vi, n in enumerate(sl.notes) if n is not None]
        if len(sounding) < 3:
            continue
        pcs = {n.pitch % 12 for _, n in sounding}
        if _is_chord(pcs):
            continue
        for vi, note in sounding:
            if not sl.starts[vi] or not _strong(note, ctx.score):
                continue
            rest = {n.pitch % 12 for vj, n in sounding if vj != vi}
            if not _is_triad(rest):
                continue  # the other voices do not make a chord either: no single culprit
            if note.pitch % 12 in rest:
                continue
            voice = ctx.voices[vi]
            index = voice.notes.index(note)
            before, after = _neighbours(voice, index)
            if before is not None and before.pitch == note.pitch:
                continue  # prepared (a suspension re-struck)
            if before is not None and after is not None and 0 < abs(note.pitch - before.pitch) <= 2 \
                    and 0 < abs(after.pitch - note.pitch) <= 2 and note.duration_ql <= 0.5:
                continue  # a short accented passing note
            yield _finding("unprepared_dissonance", voice.name, note,
                           f"{pitch_name(note.pitch)} in {voice.name} clashes with the chord on a strong beat and "
                           f"is not prepared ({_where(note)})",
                           "use a chord tone here, or sound the same note in this voice on the beat before "
                           "(a suspension) and let it fall by step", *[n for _, n in sounding if n is not note][:1])


# ---------------------------------------------------------------------------------------------
# form and rhythm
# ---------------------------------------------------------------------------------------------
def _merged_measures(score: Score) -> list:
    """Measures with bars split by a mid-bar repeat or fermata barline (the same number twice) joined."""
    from dataclasses import replace

    out: list = []
    for measure in score.measures:
        if out and out[-1].number == measure.number:
            out[-1] = replace(out[-1], duration_ql=out[-1].duration_ql + measure.duration_ql)
        else:
            out.append(measure)
    return out


@rule("incomplete_measure", severity="error", styles=ALL, explanation="""
    Every measure must hold exactly the beats its time signature promises (rests count). A measure
    that is too short or too long throws every later barline out. Only the first measure may be
    shorter (a pickup or anacrusis), and then the last measure is usually shortened by the same
    amount so that together they make one full bar.""")
def _incomplete(ctx: Context) -> Iterable[Finding]:
    measures = _merged_measures(ctx.score)
    if len(measures) < 2:
        return
    sigs = {ts.measure: ts.bar_ql for ts in ctx.score.time_signatures}
    bar = next(iter(sigs.values()), 4.0)
    first_note = {}
    for note in ctx.score.notes:
        first_note.setdefault(note.measure, note)
    part_name = ctx.score.parts[0].name if ctx.score.parts else "score"
    for index, measure in enumerate(measures):
        bar = sigs.get(measure.number, bar)
        if abs(measure.duration_ql - bar) < 1e-3:
            continue
        if index == 0 and measure.duration_ql < bar:
            continue  # pickup
        neighbours = measures[index - 1: index] + measures[index + 1: index + 2]
        if measure.duration_ql < bar and any(abs(m.duration_ql + measure.duration_ql - bar) < 1e-3 for m in neighbours):
            continue  # a bar split in two by a repeat sign or a fermata line, as hymnals print it
        if index == len(measures) - 1 and measure.duration_ql < bar:
            pickup = measures[0].duration_ql if measures[0].duration_ql < bar - 1e-3 else 0.0
            if pickup == 0.0 or abs(pickup + measure.duration_ql - bar) < 1e-3:
                if pickup:
                    continue
        note = first_note.get(measure.number)
        missing = bar - measure.duration_ql
        yield Finding("incomplete_measure", "error", part_name, measure.number, 1.0,
                      f"measure {measure.number} holds {measure.duration_ql:g} quarter notes but the time signature "
                      f"needs {bar:g}",
                      (f"add {missing:g} quarter notes of notes or rests" if missing > 0 else
                       f"remove {-missing:g} quarter notes or move them to the next measure"),
                      (note.id,) if note else ())


@rule("no_final_cadence", severity="warning", styles=ALL, explanation="""
    A tonal piece ends with a cadence on the tonic: the last chord (or last melody note) is the
    key's first degree, prepared by the dominant. Ending elsewhere leaves the music sounding
    unfinished. Finish on the tonic chord in root position, approached from the dominant (V-I), with
    the melody on the tonic.""")
def _no_final(ctx: Context) -> Iterable[Finding]:
    cadence = _final_cadence(ctx)
    if cadence is None:
        return
    end, kind, perfect = cadence
    if kind in ("authentic", "plagal"):
        return
    yield _finding("no_final_cadence", ctx.voices[0].name, end,
                   f"the piece ends on {pitch_name(end.pitch)} without a cadence on the tonic of {ctx.key.name} "
                   f"({'a half cadence' if kind == 'half' else 'no cadence'})",
                   f"end on a {ctx.key.name.split()[0]} {'chord' if len(ctx.voices) > 1 else 'note'}: "
                   f"{'bass ' + NOTE_FIFTH(ctx.key) + ' to ' + ctx.key.name.split()[0] + ' (V-I)' if len(ctx.voices) > 1 else 'approach it by step from the 2nd or 7th degree'}")


def NOTE_FIFTH(key: Key) -> str:  # noqa: N802 - reads as a note name in messages
    return pitch_name(key.tonic + 7 + 48)[:-1]


def _final_cadence(ctx: Context) -> tuple[Note, str, bool] | None:
    if not ctx.voices or not ctx.voices[0].notes:
        return None
    end = ctx.voices[0].notes[-1]
    cadence = cadence_at(ctx.voices, end, ctx.key)
    return end, cadence.kind, cadence.perfect


@rule("weak_cadence", severity="info", styles=ALL, explanation="""
    The final cadence is strongest as a perfect authentic cadence: dominant to tonic, both chords in
    root position, the melody ending on the tonic (approached by step in a melody). A plagal ending
    (IV-I), a melody that ends on the third or fifth, or a tonic chord in inversion sounds less final.
    That can be a deliberate choice; at the very end it usually is not.""")
def _weak(ctx: Context) -> Iterable[Finding]:
    cadence = _final_cadence(ctx)
    if cadence is None:
        return
    end, kind, perfect = cadence
    if kind == "authentic" and perfect:
        return
    if kind not in ("authentic", "plagal"):
        return  # no cadence at all: reported by no_final_cadence
    tonic = ctx.key.name.split()[0]
    if len(ctx.voices) == 1:
        message = f"the melody reaches the tonic {pitch_name(end.pitch)} by a leap rather than by step"
        suggestion = "approach the last note by step, from the 2nd degree above or the leading tone below"
    elif kind == "plagal":
        message = "the piece ends with a plagal cadence (IV-I), which sounds softer than V-I"
        suggestion = f"put a dominant ({NOTE_FIFTH(ctx.key)}) chord before the final {tonic} chord"
    else:
        message = f"imperfect authentic cadence: the melody ends on {pitch_name(end.pitch)}, not the tonic"
        suggestion = f"end the top voice on {tonic} (for example from the leading tone or the 2nd degree)"
    yield _finding("weak_cadence", ctx.voices[0].name, end, message, suggestion)


def _measure_rhythms(voice: Voice) -> dict[int, tuple[tuple[float, float], ...]]:
    out: dict[int, list[tuple[float, float]]] = {}
    for note in voice.notes:
        out.setdefault(note.measure, []).append((round(note.beat, 3), round(note.duration_ql, 3)))
    return {m: tuple(v) for m, v in out.items()}


@rule("monotonous_rhythm", severity="info", styles={"song", "keyboard"}, explanation="""
    A melody whose every bar has the same rhythm, in only one or two note values, quickly sounds
    mechanical. Rhythm gives a melody its character: vary it with longer notes at phrase ends,
    dotted figures, a few quicker notes, or a rest before a new phrase.""")
def _monotonous(ctx: Context) -> Iterable[Finding]:
    if not ctx.voices:
        return
    voice = ctx.voices[0]
    rhythms = _measure_rhythms(voice)
    measures = sorted(rhythms)[:-1]  # the final bar may differ
    if len(measures) < 6:
        return
    patterns = [rhythms[m] for m in measures]
    common = max(set(patterns), key=patterns.count)
    durations = {d for pattern in patterns for _, d in pattern}
    if patterns.count(common) >= 0.85 * len(patterns) and len(durations) <= 2:
        first = next(n for n in voice.notes if n.measure == measures[0])
        yield _finding("monotonous_rhythm", voice.name, first,
                       f"{patterns.count(common)} of {len(patterns)} bars of the melody have the same rhythm, "
                       f"using only {len(durations)} note value{'s' if len(durations) > 1 else ''}",
                       "vary the rhythm: lengthen the last note of each phrase, add a dotted rhythm or a pair of "
                       "quicker notes in some bars")


@rule("repetitive_melody", severity="info", styles={"song", "dance_tune", "keyboard"}, explanation="""
    Repetition makes a melody memorable, but the same bar three or more times in a row, or a tune
    that circles around only two or three pitches, loses the listener's interest. Repeat a motif,
    then vary it: sequence it a step higher, change its ending, or answer it with a contrasting
    phrase.""")
def _repetitive(ctx: Context) -> Iterable[Finding]:
    if not ctx.voices:
        return
    voice = ctx.voices[0]
    bars: dict[int, list[Note]] = {}
    for note in voice.notes:
        bars.setdefault(note.measure, []).append(note)
    numbers = sorted(bars)
    signature = {m: tuple((round(n.beat, 3), n.pitch, round(n.duration_ql, 3)) for n in bars[m]) for m in numbers}
    run = 1
    for previous, current in zip(numbers, numbers[1:], strict=False):
        if signature[current] == signature[previous] and current == previous + 1 and len(signature[current]) > 0:
            run += 1
            if run == 3:
                first = bars[current][0]
                yield _finding("repetitive_melody", voice.name, first,
                               f"the same bar is played three times in a row (m. {current - 2}-{current})",
                               f"vary the third statement in m. {current}: move it up a step (a sequence) or change "
                               f"its rhythm or ending")
        else:
            run = 1
    if len(numbers) >= 8:
        pitches = {n.pitch for n in voice.notes}
        if len(pitches) <= 3:
            yield _finding("repetitive_melody", voice.name, voice.notes[0],
                           f"the melody uses only {len(pitches)} different pitches over {len(numbers)} bars",
                           "widen the melody: add a phrase that rises to a climax a fourth or fifth higher")


# ---------------------------------------------------------------------------------------------
def writing_style(score: Score, *, style: str | None = None, lines: tuple[Voice, ...] | None = None) -> str:
    """The writing style whose rules apply. ``style`` may name one of ``STYLES`` (used as given) or a
    style-model class, which refines what the texture says: a single line is a dance tune or a song,
    note-against-note voices are a chorale whatever the era, independent lines are counterpoint in
    Renaissance or Baroque music and free writing in Classical or Romantic music."""
    if style in STYLES:
        return style
    if style is not None and style not in MODEL_STYLE_TO_WRITING:
        raise ValueError(f"unknown style {style!r}; use one of {', '.join(STYLES + tuple(MODEL_STYLE_TO_WRITING))}")
    lines = voices(score) if lines is None else lines
    tex = texture(score, lines)
    if tex == "melody":
        return "dance_tune" if style == "folk_fiddle" else "song"
    if tex == "chorale":
        return "chorale"
    if tex == "polyphony":
        return "counterpoint" if style in (None, "renaissance", "baroque") else "keyboard"
    return "keyboard"


def context(score: Score, *, style: str | None = None) -> Context:
    lines = voices(score)
    key = estimate_key(score)
    return Context(score=score, style=writing_style(score, style=style, lines=lines), key=key,
                   sections=key_sections(score, main=key), voices=lines, slices=slices(lines))


def check_rules(score: Score, *, style: str | None = None, rules: Iterable[str] | None = None,
                ctx: Context | None = None) -> list[Finding]:
    """Findings of every rule that fits the score's writing style, sorted by measure and beat.

    ``style`` is a writing style (``STYLES``) or a style-model class (``MODEL_STYLE_TO_WRITING``);
    None guesses it from the texture. ``rules`` limits the check to some rule ids.
    """
    if not score.notes:
        return []
    ctx = ctx or context(score, style=style)
    wanted = set(rules) if rules is not None else None
    findings: list[Finding] = []
    _SPELLING_KEY[0] = ctx.key  # note names in messages follow the piece's key (F# minor: E#, not F)
    try:
        for r in RULES.values():
            if ctx.style not in r.styles or (wanted is not None and r.id not in wanted):
                continue
            findings.extend(r.check(ctx))
    finally:
        _SPELLING_KEY[0] = None
    severity_rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (f.measure, f.beat, severity_rank[f.severity], f.rule, f.part))


def rule_table() -> list[dict]:
    """The documented rule set (for the CLI, the UI and the docs)."""
    return [{"id": r.id, "severity": r.severity, "styles": sorted(r.styles), "explanation": r.explanation}
            for r in RULES.values()]
