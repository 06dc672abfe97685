"""Style transfer: a melody carried into another style (``tutor suggest FILE --restyle STYLE``).

Every melody note is kept (its pitch and order; ``melody_of`` gives the melody: the first part's top line).
What changes is what a musician changes when arranging a tune in another style:

* the **metre and rhythm**: a duple melody becomes a waltz by giving each half bar a bar of three beats (the first
  beat takes two: quarter-quarter becomes half-quarter, the waltz lilt); a triple melody becomes a march, a rag or a
  tango the other way round, and swing is taken "in four" the same way (a 3/4 bar becomes half a 4/4 bar); swing
  moves off-beat eighths to the last third of the beat and anticipates beats one and three (over the bar line
  too); ragtime anticipates strong-beat melody notes by an eighth (its syncopation);
* the **harmony**: chords chosen for the melody by dynamic programming over the key's chords, with each style's
  habits (pop's I-V-vi-IV, jazz's ii-V and sevenths, ragtime's secondary dominants, cadences at the end);
* the **accompaniment**: pop-ballad broken chords (the left hand's in eighths under a held chord, as POP909's piano
  parts go, or the right hand's over a held bass), the waltz's bass-chord-chord, the march's oom-pah in the left
  hand (a bass octave on the beat, a chord just above it on the "and", in 2/4, common time or 6/8, the tune in
  octaves in the right hand on the tune's own staff, as a published piano march and the style data's marches write
  it, over I, IV, V, ii and V7 of V, or in a minor key i, iv, V(7), VI, III and VII), ragtime's stride left hand
  (in 2/4, as the rags in the style data are), a swing walking bass with comping on two and four or the Charleston, or alone
  under the tune (every third version: the jazz the style model knows is solos over a bass line), the tango's
  habanera bass (in 2/4, at a tango's dancing pace: quarter = 64); ``chorale`` sets the tune as a hymn (its pulse
  in quarter notes: a jig's 6/8 becomes 3/4) and writes alto, tenor and bass under it (``tutor.compose.harmonize``), with Bach's passing eighths in the lower
  voices and the voices in their SATB ranges where the chorale rules allow (``passing_notes``), at quarter = 96.

``restyle(score, style=..., k=..., seed=...)`` returns ``k`` ``Restyled`` versions, best first, ranked by
critique-rule errors and how surely the style model hears the asked style. Deterministic for a seed; imports no
torch (only the ranking and ``chorale`` use the models).
"""

from __future__ import annotations

import functools
import json
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

from tutor.errors import AnalysisError
from tutor.score.music import (
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

# style -> (the style model's class that should hear it, tempo in quarter notes per minute, label)
RESTYLE_STYLES = {
    "pop": ("pop", 72.0, "pop ballad piano"),
    "waltz": ("waltz", 150.0, "waltz"),
    "march": ("march", 116.0, "march"),
    "ragtime": ("ragtime", 96.0, "ragtime"),
    "swing": ("jazz", 144.0, "swing"),
    "tango": ("tango", 64.0, "tango"),  # (a tango's 2/4 is danced at 31-33 bars a minute, a quarter at 62-66; the
    # Argentine tango rolls of the style data, written on their sixteenth grid, go at about 59-65)
    "chorale": ("baroque", 96.0, "chorale (four voices)"),  # (a sung chorale's quarter: 80-100; the music21 Bach
    # chorales the style model learnt from are read at 96)
}
RESTYLE_ALIASES = {"pop_ballad": "pop", "ballad": "pop", "jazz": "swing", "rag": "ragtime", "hymn": "chorale",
                   "baroque": "chorale"}
# styles whose after-beat chords are the left hand's (the right hand plays the tune in octaves: it cannot also take
# the chords), as a published piano march writes its oom-pah: bass octave on the beat, chord on the "and"
LEFT_HAND_CHORDS = frozenset({"march"})
# styles whose right hand is the tune in octaves on the tune's own staff (the octave notes join the melody part), as a
# piano march is printed: two staves, the right hand's octaves over the left hand's oom-pah
OCTAVES_ON_THE_TUNE_STAFF = frozenset({"march"})
# styles written in 2/4 (a 4/4 tune's bar becomes two): the rags, marches and tangos of the style data mostly are
TWO_FOUR = frozenset({"ragtime", "march", "tango"})
# in score order, top to bottom (the rules read a lower part crossing above a part listed below it as a crossing)
ACCOMPANIMENT_PARTS = {"RO": ("Piano (melody in octaves)", 0), "RR": ("Piano right hand", 0),
                       "RL": ("Piano left hand", 0), "RB": ("Bass", 32)}


@dataclass(frozen=True)
class Restyled:
    """One restyled version of a piece: the whole new score and what was done."""

    style: str
    score: Score
    melody_part: str
    chords: tuple[tuple[float, str], ...]  # (position in quarter notes, chord name)
    errors: int
    warnings: int
    style_probability: float  # the style model's probability of the asked style's class (1.0 when not asked)
    melody_notes: int  # melody notes in the original
    melody_notes_kept: int  # of them, in the restyled melody (same pitch, same order)

    # the fields every suggestion has (``tutor.compose.suggest.Suggestion``)
    kind = "restyle"

    @property
    def first_measure(self) -> int:
        return self.score.measures[0].number if self.score.measures else 1

    @property
    def last_measure(self) -> int:
        return self.score.measures[-1].number if self.score.measures else 1

    @property
    def notes(self) -> tuple[Note, ...]:
        return self.score.notes

    @property
    def log_likelihood(self) -> float:
        """log p(asked style | restyled piece) under the style model (natural log)."""
        return math.log(max(self.style_probability, 1e-9))

    def to_json(self) -> dict:
        ts = self.score.time_signatures[0] if self.score.time_signatures else None
        return {
            "kind": self.kind,
            "measures": [self.first_measure, self.last_measure],
            "notes": [{"pitch": n.pitch, "position": round(n.onset_ql, 4), "duration": round(n.duration_ql, 4),
                       "part": n.part} for n in self.notes],
            "log_likelihood": round(self.log_likelihood, 4),
            "keeps_rhythm": False,
            "style": self.style,
            "meter": f"{ts.numerator}/{ts.denominator}" if ts else None,
            "first_bar_duration": round(self.score.measures[0].duration_ql, 4) if self.score.measures else None,
            "tempo_bpm": round(self.score.tempo_map.initial_bpm, 2),
            "melody_part": self.melody_part,
            "melody_notes": self.melody_notes,
            "melody_notes_kept": self.melody_notes_kept,
            "chords": [{"position": round(p, 4), "name": name} for p, name in self.chords],
            "errors": self.errors,
            "warnings": self.warnings,
            "style_probability": round(self.style_probability, 4),
        }


def style_name(style: str) -> str:
    """The canonical restyle style for ``style`` (an alias such as ``jazz`` allowed)."""
    name = RESTYLE_ALIASES.get(style, style)
    if name not in RESTYLE_STYLES:
        raise AnalysisError(f"--restyle {style!r}: use one of {', '.join(RESTYLE_STYLES)}")
    return name


# ---------------------------------------------------------------------------------------------
# metre: a piecewise-linear map of positions from the old bars to the new ones
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Meter:
    numerator: int
    denominator: int

    @property
    def bar_ql(self) -> float:
        return self.numerator * 4.0 / self.denominator

    @property
    def beat_ql(self) -> float:
        return 1.5 if self.denominator == 8 and self.numerator % 3 == 0 and self.numerator > 3 else 4.0 / self.denominator

    @property
    def text(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def _meter_of(score: Score) -> _Meter:
    if score.time_signatures:
        ts = score.time_signatures[0]
        return _Meter(ts.numerator, ts.denominator)
    return _Meter(4, 4)


def _plan(meter: _Meter, style: str, variant: int = 0) -> tuple[_Meter, float, tuple[float, ...], tuple[float, ...]]:
    """(new metre, old period, old knots, new knots): each old period maps onto the new one piecewise. A 4/4 tune's
    march is written in 2/4 in the even ``variant`` s and in common time in the odd ones (marches are printed both
    ways)."""
    triple = meter.numerator == 3 and meter.denominator in (4, 8)
    if style == "march" and variant % 2 == 1 and (meter.numerator, meter.denominator) == (4, 4):
        return meter, meter.bar_ql, (0.0, meter.bar_ql), (0.0, meter.bar_ql)
    compound = meter.beat_ql == 1.5
    if style == "waltz":
        if triple:
            return _Meter(3, 4), meter.bar_ql, (0.0, meter.bar_ql), (0.0, 3.0)
        if compound:  # a dotted-quarter beat becomes a bar: the jig's three eighths, the waltz's three quarters
            return _Meter(3, 4), 1.5, (0.0, 1.5), (0.0, 3.0)
        half = 2.0 * meter.beat_ql  # two beats -> one bar, the first beat taking two of its three
        return _Meter(3, 4), half, (0.0, meter.beat_ql, half), (0.0, 2.0, 3.0)
    if style in TWO_FOUR and meter.numerator == 4 and meter.denominator == 4:  # a rag, a piano march and a tango
        # are written in 2/4 (most of the ragtime-era rags, marches and tangos in the shared data are): a 4/4 bar
        # becomes two (the notes stay where they are)
        return _Meter(2, 4), meter.bar_ql, (0.0, meter.bar_ql), (0.0, meter.bar_ql)
    if style == "swing" and meter.numerator == 2 and meter.denominator in (2, 4):  # jazz is written in 4/4: two
        # bars of a 2/4 reel or hornpipe make one (the notes stay where they are)
        return _Meter(4, 4), meter.bar_ql, (0.0, meter.bar_ql), (0.0, meter.bar_ql)
    if style == "swing" and triple:  # a waltz tune swung "in four", as jazz players take a 3/4 song (Falling in
        # Love with Love): a 3/4 bar becomes half a 4/4 bar, its dotted half a half note, its first two beats the
        # first beat (quarter-quarter-quarter: two swung eighths and a quarter, as the march's 2/4 takes a 3/4 bar)
        return _Meter(4, 4), meter.bar_ql, (0.0, 2.0 * meter.beat_ql, meter.bar_ql), (0.0, 1.0, 2.0)
    if style == "swing" and compound:  # a jig's long-short eighths are swing's: the dotted-quarter beat becomes a
        # quarter and its three eighths triplet eighths (6/8 and 12/8 -> 4/4, 9/8 -> 3/4)
        period = meter.bar_ql * (2 if meter.numerator == 6 else 1)
        new = period * 2 / 3
        return _Meter(int(round(new)), 4), period, (0.0, period), (0.0, new)
    if style in ("ragtime", "tango") and compound:  # a dotted-quarter beat becomes a quarter, the jig's long-short
        # (quarter, eighth) a dotted eighth and a sixteenth: 6/8 -> 2/4, 12/8 -> 4/4
        return (_Meter(max(2, meter.numerator // 3), 4), 1.5, (0.0, 0.5, 1.0, 1.5), (0.0, 0.5, 0.75, 1.0))
    if style in ("march", "ragtime", "tango") and triple:
        return _Meter(2, 4), meter.bar_ql, (0.0, 2.0 * meter.beat_ql, meter.bar_ql), (0.0, 1.0, 2.0)
    if style == "march" and compound and meter.numerator == 9:  # a slip jig's march is in 6/8: its first two
        # dotted-quarter beats take one, the third the other (as a 3/4 tune's first two beats take one in 2/4)
        return _Meter(6, 8), meter.bar_ql, (0.0, 3.0, 4.5), (0.0, 1.5, 3.0)
    return meter, meter.bar_ql, (0.0, meter.bar_ql), (0.0, meter.bar_ql)


class _TimeMap:
    def __init__(self, old_pad: float, period: float, old_knots, new_knots):
        self.pad, self.period = old_pad, period
        self.old, self.new = old_knots, new_knots
        self.new_period = new_knots[-1]

    def __call__(self, position_ql: float) -> float:
        v = position_ql + self.pad
        cycle, rest = divmod(v, self.period)
        if rest > self.period - 1e-9:
            cycle, rest = cycle + 1, 0.0
        for (a, b), (c, d) in zip(zip(self.old, self.old[1:], strict=False), zip(self.new, self.new[1:], strict=False),
                                  strict=True):
            if rest <= b + 1e-9:
                return cycle * self.new_period + c + (rest - a) * (d - c) / (b - a)
        return (cycle + 1) * self.new_period


def _pickup_ql(score: Score, meter: _Meter) -> float:
    """How much of the first bar is missing (a pickup)."""
    if score.measures and score.measures[0].duration_ql < meter.bar_ql - 1e-6:
        return meter.bar_ql - score.measures[0].duration_ql
    return 0.0


# ---------------------------------------------------------------------------------------------
# harmony
# ---------------------------------------------------------------------------------------------
_MAJOR_CHORDS = ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (2, "maj"), (4, "maj"),
                 (0, "maj7"), (7, "dom7"), (2, "dom7"), (9, "dom7"), (4, "dom7"), (2, "min7"), (5, "maj7"), (9, "min7"))
_MINOR_CHORDS = ((0, "min"), (5, "min"), (7, "maj"), (8, "maj"), (3, "maj"), (10, "maj"), (2, "dim"), (7, "dom7"),
                 (0, "min7"), (5, "min7"), (2, "hdim7"), (8, "maj7"))
_QUALITY = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "maj7": (0, 4, 7, 11), "dom7": (0, 4, 7, 10),
            "min7": (0, 3, 7, 10), "hdim7": (0, 3, 6, 10)}
_SEVENTHS = {"maj7", "dom7", "min7", "hdim7"}
_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "maj7": "maj7", "dom7": "7", "min7": "m7", "hdim7": "m7b5"}


def _chord_name(root_pc: int, quality: str) -> str:
    return _NAMES[root_pc % 12] + _SUFFIX[quality]


def _vocabulary(mode: str, style: str) -> list[tuple[int, str]]:
    chords = list(_MAJOR_CHORDS if mode == "major" else _MINOR_CHORDS)
    if style == "swing":  # jazz: sevenths for every function, and the tritone substitute of the dominant (bII7)
        return [c for c in chords if c[1] in _SEVENTHS or c[1] == "maj" and c[0] == 0] + [(1, "dom7")]
    if style == "ragtime":  # dominant sevenths (secondary ones too), no other sevenths
        return [c for c in chords if c[1] not in _SEVENTHS or c[1] == "dom7"]
    if style == "march" and mode == "minor":  # a minor strain's chords: i, iv, V and V7, with VI, III and VII (the
        # relative major's own I and V); no diminished ii (the style data's marches have fewer diminished chords than
        # its rags)
        return [c for c in chords if c in ((0, "min"), (5, "min"), (7, "maj"), (7, "dom7"), (8, "maj"), (3, "maj"),
                                          (10, "maj"))]
    if style == "march" and mode == "major":  # a march's strong primary chords: I, IV, V and V7, with ii and the
        # dominant seventh of V (a band's harmony: no iii or vi, few minor chords)
        return [c for c in chords if c in ((0, "maj"), (5, "maj"), (7, "maj"), (7, "dom7"), (2, "dom7"), (2, "min"))]
    if style in ("chorale", "waltz", "march", "tango", "pop"):
        chords = [c for c in chords if c[1] not in _SEVENTHS or c[1] == "dom7" and c[0] == 7]
        if style in ("pop", "tango", "chorale"):
            chords = [c for c in chords if not (c[1] in ("maj", "dom7") and c[0] in (2, 4, 9))]
    return chords


@functools.lru_cache(maxsize=1)
def chord_habits() -> dict:
    """Learnt chord bigrams (``models/training/chord_habits.py``): {'pop'|'jazz': {'quality|step|quality': log p}}."""
    import tutor.models

    path = Path(tutor.models.__file__).resolve().parent / "weights" / "chord_habits.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


_HABITS = {"pop": "pop", "swing": "jazz"}  # whose habits each style follows
HABIT_WEIGHT = 0.6


def _transition(a: tuple[int, str], b: tuple[int, str], style: str, mode: str) -> float:
    """How natural chord ``b`` is after ``a`` (roots relative to the tonic): functional harmony's habits, and for
    pop and swing the progressions of POP909's songs and of jazz standards."""
    ra, rb = a[0], b[0]
    step = (rb - ra) % 12
    score = 0.0
    learnt = chord_habits().get(_HABITS.get(style, ""), {})
    if learnt and a != b:
        score += HABIT_WEIGHT * (learnt.get(f"{a[1]}|{step}|{b[1]}", -8.0) + 4.4)  # 4.4 ~ -log(1/84): chance level
    if a == b:
        score -= 0.4
    if step == 5:  # down a fifth: the strongest progression
        score += 1.0
    elif step in (2, 7):
        score += 0.3
    if a[1] in ("dom7", "maj") and a[0] in (2, 4, 9) and step != 5:
        score -= 1.5  # a secondary dominant resolves down a fifth
    if ra == 7 and rb == 5:
        score -= 0.8  # V -> IV is rare outside blues and rock
    if style == "pop" and (ra, rb) in ((0, 7), (7, 9), (9, 5), (5, 0), (0, 9), (9, 5), (5, 7)):
        score += 0.8  # I-V-vi-IV and I-vi-IV-V
    if style == "swing" and a[1] in ("min7", "hdim7") and b[1] == "dom7" and step == 5:
        score += 1.0  # ii-V
    if a == (1, "dom7"):  # the tritone substitute resolves down a half step to the tonic, or not at all
        score += 1.5 if rb == 0 else -3.0
    if style == "ragtime" and b[1] in ("maj", "dom7") and rb in (2, 4, 9) and step in (0, 5, 7):
        score += 0.4  # ragtime's circle of secondary dominants
    return score


def _fit(pcs_weights: list[tuple[int, float, bool]], chord: tuple[int, str], tonic: int) -> float:
    tones = {(tonic + chord[0] + t) % 12 for t in _QUALITY[chord[1]]}
    root = (tonic + chord[0]) % 12
    score = 0.0
    for pc, weight, strong in pcs_weights:
        if pc in tones:
            score += weight * (1.3 if pc == root else 1.0) * (1.5 if strong else 1.0)
        else:
            score -= weight * (1.4 if strong else 0.6)
    return score


def choose_chords(segments: list[list[tuple[int, float, bool]]], *, tonic: int, mode: str, style: str,
                  rng: random.Random | None = None, noise: float = 0.0) -> list[tuple[int, str]]:
    """A chord (root relative to the tonic, quality) per segment: the best path (Viterbi) through the key's chords,
    the segment's melody notes (pitch class, weight, on a strong beat) and the style's progressions."""
    vocab = _vocabulary(mode, style)
    n = len(segments)
    if n == 0:
        return []
    tonic_chord = vocab[0]

    def jitter() -> float:
        return rng.gauss(0.0, noise) if rng is not None and noise > 0 else 0.0

    fit = [[_fit(seg, c, tonic) + (jitter() if i < n - 2 else 0.0) for c in vocab] for i, seg in enumerate(segments)]
    for j, c in enumerate(vocab):
        if c != tonic_chord:  # a restyle ends on the tonic chord (the last segment may hold no melody note)
            fit[-1][j] -= 100.0
        if style == "tango" and c[1] in ("min", "min7"):  # the tango's minor colour
            for row in fit[1:-1]:
                row[j] += 0.5
        if c == tonic_chord:
            fit[0][j] += 1.0
            fit[-1][j] += 3.0
        if c[0] == 7 and n > 2:  # the authentic cadence: V before the final tonic (0.8 left 22 of 32 tuning marches
            # and most rags, tangos and waltzes with a plagal or tonic approach: "no final cadence" in the critique)
            fit[-2][j] += 2.0
    best = list(fit[0])
    back: list[list[int]] = []
    for i in range(1, n):
        row, ptr = [], []
        for j, c in enumerate(vocab):
            options = [best[a] + _transition(vocab[a], c, style, mode) for a in range(len(vocab))]
            a = max(range(len(vocab)), key=options.__getitem__)
            row.append(options[a] + fit[i][j])
            ptr.append(a)
        best = row
        back.append(ptr)
    j = max(range(len(vocab)), key=best.__getitem__)
    path = [j]
    for ptr in reversed(back):
        j = ptr[j]
        path.append(j)
    path.reverse()
    return [vocab[j] for j in path]


# ---------------------------------------------------------------------------------------------
# accompaniment patterns: (offset in the segment in quarter notes, duration, what: "bass"|"chord"|"fifth"|...)
# ---------------------------------------------------------------------------------------------
def _pattern(style: str, meter: _Meter, seg_ql: float, variant: int, *, comp: bool = True) -> list[tuple[float, float, str]]:
    """``comp=False``: swing without the piano's comping (the tune over the walking bass alone)."""
    beat = meter.beat_ql
    beats = max(1, int(round(seg_ql / beat)))
    out: list[tuple[float, float, str]] = []
    if style == "pop":
        if beat == 1.5:
            for b in range(beats):
                out.append((b * 1.5, 1.5, "bass" if b == 0 else "fifth_low"))
                out += [(b * 1.5 + 0.5 * i, 0.5, f"arp{i + (1 if variant % 2 else 0)}") for i in range(3)]
            return out
        steps = int(round(seg_ql / 0.5))
        if variant % 2 == 0:  # the left hand's broken chord in eighths under a chord held in the right, as POP909's
            # piano parts mostly go (onsets on the eighths, about two notes an onset, around C4)
            return [(0.0, seg_ql, "chord")] + [(0.5 * i, 0.5, f"low{(0, 1, 2, 1)[i % 4]}") for i in range(steps)]
        out.append((0.0, seg_ql, "bass"))
        order = (0, 2, 1, 3, 1, 2)
        out += [(0.5 * i, 0.5, f"arp{order[i % len(order)]}") for i in range(steps)]
        return out
    if style == "waltz":
        for bar in range(max(1, int(round(seg_ql / 3.0)))):
            base = bar * 3.0
            out += [(base, 1.0, "bass" if (bar + variant) % 2 == 0 else "fifth_low"), (base + 1.0, 0.9, "chord"),
                    (base + 2.0, 0.9, "chord")]
        return out
    if style in ("march", "ragtime"):
        if beat == 1.5:  # 6/8 march: bass on the beats, chords on the last eighth of each
            for b in range(beats):
                out += [(b * 1.5, 1.0, "bass_oct" if b % 2 == 0 else "fifth_low"), (b * 1.5 + 1.0, 0.45, "chord")]
            return out
        unit = 1.0 if meter.bar_ql <= 2.0 or style == "ragtime" else 1.0
        for b in range(int(round(seg_ql / unit))):
            low = "bass_oct"  # (the march's and the rag's oom-pah bass in octaves)
            if style == "ragtime" or meter.bar_ql <= 2.0:  # oom-pah in eighths: bass on the beat, chord on the "and"
                out += [(b * unit, 0.5, low if b % 2 == 0 else "fifth_low"), (b * unit + 0.5, 0.45, "chord")]
            else:
                out.append((b * unit, 0.95, ("bass_oct" if b % 4 == 0 else "fifth_low") if b % 2 == 0 else "chord"))
        return out
    if style == "swing":
        for b in range(beats):
            out.append((b * beat, beat * 0.95, f"walk{b}"))
            if not comp:
                continue
            if variant % 2 == 0 and b % 2 == 1:  # comping on two and four
                out.append((b * beat, beat * 0.6, "shell"))
            elif variant % 2 == 1 and b % 2 == 0:  # the Charleston: on the beat, then pushed to the next's last third
                out += [(b * beat, beat * 0.9, "shell"), (b * beat + beat * 5 / 3, beat / 3, "shell")]
        return out
    if style == "tango":
        for cell in range(max(1, int(round(seg_ql / 2.0)))):
            base = cell * 2.0
            if variant % 2 == 0:  # the habanera (dotted eighth, sixteenth, two eighths) as a tango pianist's left
                # hand: the bass on one, a staccato chord on its sixteenth, the fifth on two, a staccato chord after
                out += [(base, 0.75, "bass"), (base + 0.75, 0.25, "chord"), (base + 1.0, 0.5, "fifth_low"),
                        (base + 1.5, 0.25, "chord")]
            else:  # 3-3-2: accents on the first, fourth and seventh sixteenth, marcato chords with the bass
                out += [(base, 0.7, "bass"), (base + 0.75, 0.7, "fifth_low"), (base + 1.5, 0.45, "bass"),
                        (base, 0.3, "chord"), (base + 0.75, 0.3, "chord"), (base + 1.5, 0.3, "chord")]
        return out
    raise AnalysisError(f"no accompaniment for style {style!r}")


def _notatable(duration_ql: float) -> float:
    """A length an engraver writes plainly: sixteenths or triplet eighths (a chord of 0.9 beats came out as
    quintuplets with rests)."""
    for grid in (0.25, 1 / 3):
        if abs(round(duration_ql / grid) * grid - duration_ql) < 1e-6:
            return duration_ql
    return max(0.25, round(duration_ql * 4) / 4)


def _near(pc: int, target: int) -> int:
    """The pitch of pitch class ``pc`` nearest ``target``."""
    return target + ((pc - target + 6) % 12) - 6


def _voice(tones: list[int], below: int, previous: list[int] | None, size: int = 3, floor: int = 45) -> list[int]:
    """A close-position chord of ``size`` notes from ``tones`` (pitch classes), its top under ``below``, near the
    previous chord."""
    best = None
    for top_pc in tones:
        top = _near(top_pc, below - 2)
        if top > below - 1:
            top -= 12
        chord = [top]
        pcs = [t for t in tones if t != top_pc]
        pcs.sort(key=lambda pc: (top - _near(pc, top - 4)) % 12)
        for pc in pcs[: size - 1]:
            p = top - ((top - pc) % 12 or 12)
            chord.append(p)
        chord.sort()
        cost = sum(abs(a - b) for a, b in zip(chord, previous, strict=False)) if previous else abs(chord[-1] - (below - 3))
        if chord[0] < floor:
            cost += 20
        if best is None or cost < best[0]:
            best = (cost, chord)
    return best[1]


def _bass_range(pitch: int) -> int:
    """The walking bass's register: E2 to F3, under the piano's voicings."""
    while pitch < 40:
        pitch += 12
    while pitch > 53:
        pitch -= 12
    return pitch


def _parallel_to(previous: int | None, pitch: int, melody: tuple[int, int] | None) -> bool:
    """Whether a bass moving ``previous`` -> ``pitch`` makes parallel octaves or fifths with the melody moving
    ``melody`` = (the note before, the note starting with the bass's)."""
    if previous is None or melody is None or previous == pitch or melody[0] == melody[1]:
        return False
    if (melody[1] - melody[0] > 0) != (pitch - previous > 0):
        return False  # contrary motion
    first, second = abs(melody[0] - previous) % 12, abs(melody[1] - pitch) % 12
    return first == second and first in (0, 7)


# ---------------------------------------------------------------------------------------------
def melody_of(score: Score) -> tuple[str, tuple[Note, ...]]:
    from tutor.compose.harmonize import melody_of as melody

    return melody(score)


def _plain_triplet(duration_ql: float) -> bool:
    """A length written as one note, plain or in a triplet: a triplet eighth, quarter or half, a quarter, a half..."""
    return any(abs(duration_ql - d) < 1e-6 for d in (1 / 3, 2 / 3, 1.0, 4 / 3, 2.0, 3.0, 4.0))


def _transform_melody(melody: tuple[Note, ...], time_map: _TimeMap, style: str, meter: _Meter,
                      rng: random.Random, shift: float) -> list[tuple[Note, float, float]]:
    """(note, new onset, new duration) of each melody note."""
    out = []
    for n in melody:
        start = time_map(n.onset_ql) - shift
        end = time_map(n.onset_ql + n.duration_ql) - shift
        out.append([n, start, max(0.05, end - start)])
    beat = meter.beat_ql
    if style == "swing" and beat == 1.0:
        for item in out:
            frac = item[1] % 1.0
            if abs(frac - 0.5) < 1e-6:  # an off-beat eighth moves to the beat's last third
                item[1] += 1 / 6
                item[2] = max(0.05, item[2] - 1 / 6)
            elif abs(frac) < 1e-6 and abs(item[2] - 0.5) < 1e-6:
                item[2] = 2 / 3
        for prev, cur in zip(out, out[1:], strict=False):
            # the push: a note on beat one or three after a held note (a quarter or longer) comes on the swung "and"
            # before it, tied over (the jazz anticipation; over the bar line too, the commonest in jazz)
            # (only where both lengths stay plain triplet values: a half note less a third was drawn as a sextuplet)
            if abs(cur[1] % 2.0) < 1e-6 and prev[2] >= 1.0 - 1e-6 and abs(prev[1] + prev[2] - cur[1]) < 1e-6 \
                    and rng.random() < 0.5 and _plain_triplet(prev[2] - 1 / 3) and _plain_triplet(cur[2] + 1 / 3):
                prev[2] -= 1 / 3
                cur[1] -= 1 / 3
                cur[2] += 1 / 3
    if style == "pop" and beat == 1.0:
        for prev, cur in zip(out, out[1:], strict=False):
            # the pop anticipation: a note on beat one or three after a held note (a quarter or longer) comes an eighth
            # early, tied over (POP909's songs syncopate: a fifth of their notes start off the beat and last past it)
            # (not over a bar line: a tie across it is harder to read)
            if abs((cur[1] + shift) % 2.0) < 1e-6 and prev[2] >= 1.0 - 1e-6 and abs(prev[1] + prev[2] - cur[1]) < 1e-6 \
                    and abs((cur[1] + shift) % meter.bar_ql) > 1e-6 and rng.random() < 0.5:
                prev[2] -= 0.5
                cur[1] -= 0.5
                cur[2] += 0.5
    if style == "march" and beat == 1.0:
        for a, b in zip(out, out[1:], strict=False):
            # two even eighths on the bar's last beat become a dotted eighth and a sixteenth: the march's dotted
            # upbeat into the next bar (dotting every pair, 80 % before, made the tune jerky and was the length the
            # style data's marches have least of: notes of 0.6-0.8 quarters in no more than half their windows)
            if abs(a[1] % 1.0) < 1e-6 and abs(a[2] - 0.5) < 1e-6 and abs(b[1] - a[1] - 0.5) < 1e-6 \
                    and abs(b[2] - 0.5) < 1e-6 and abs((a[1] + shift) % meter.bar_ql - (meter.bar_ql - 1.0)) < 1e-6:
                a[2], b[1], b[2] = 0.75, b[1] + 0.25, 0.25
    if style == "ragtime" and beat == 1.0:
        for i in range(1, len(out)):
            prev, cur = out[i - 1], out[i]
            pos = cur[1] % 2.0
            # a note on the second beat of a 2/4 unit, after a note of at least a quarter, comes an eighth early
            if abs(pos - 1.0) < 1e-6 and prev[2] >= 1.0 - 1e-6 and abs(prev[1] + prev[2] - cur[1]) < 1e-6 \
                    and rng.random() < 0.7:
                prev[2] -= 0.5
                cur[1] -= 0.5
                cur[2] += 0.5
    return [(n, round(a, 6), round(d, 6)) for n, a, d in out]


def _beat_of(meter: _Meter, offset_ql: float) -> float:
    return 1.0 + offset_ql / meter.beat_ql


def _segments(total_ql: float, first_bar_ql: float, bar_ql: float, style: str, meter: _Meter,
              last_onset: float | None = None) -> list[tuple[float, float]]:
    """(start, length) of the harmony's segments: a bar or half a bar each; the final tonic chord starts with the
    melody's last note (``last_onset``; without it the last bar is split in two: a dominant, then the tonic)."""
    per = bar_ql
    if style in ("pop", "swing", "tango", "chorale") and bar_ql >= 4.0:
        per = bar_ql / 2
    out = []
    position = 0.0
    if first_bar_ql < bar_ql - 1e-6:
        out.append((0.0, first_bar_ql))
        position = first_bar_ql
    while position < total_ql - 1e-6:
        out.append((position, per))
        position += per
    if last_onset is not None and out[0][0] < last_onset - 1e-6:  # the cadence: the tonic under the last note
        keep = [(a, length) for a, length in out if a < last_onset - 1e-6]
        keep[-1] = (keep[-1][0], min(keep[-1][1], last_onset - keep[-1][0]))
        return keep + [(last_onset, total_ql - last_onset)]
    start, length = out[-1]
    beats = int(round(length / meter.beat_ql))
    if beats >= 2:  # the last bar is split: a dominant, then the tonic on its second half (the cadence)
        first = math.ceil(beats / 2) * meter.beat_ql
        out[-1:] = [(start, first), (start + first, length - first)]
    return out


def _arrange(score: Score, style: str, rng: random.Random, variant: int, noise: float, *,
             keep_melody: bool = False) -> tuple[Score, str, tuple, int]:
    """The piece arranged in ``style``; ``keep_melody`` keeps the melody's rhythm, metre and tempo as written
    (Harmonise in pop or jazz style) instead of rewriting them."""
    from tutor.score.analysis import estimate_key

    melody_part, melody = melody_of(score)
    meter = _meter_of(score)
    new_meter, period, old_knots, new_knots = _plan(meter, style, variant)
    if keep_melody:
        new_meter, period, old_knots, new_knots = meter, meter.bar_ql, (0.0, meter.bar_ql), (0.0, meter.bar_ql)
    pickup = _pickup_ql(score, meter)
    time_map = _TimeMap(pickup, period, old_knots, new_knots)
    shift = time_map(0.0)  # the new pickup's missing part (modulo the new bar: the first note starts the piece)
    placed = _transform_melody(melody, time_map, "keep" if keep_melody else style, new_meter, rng, shift)
    # bars of the new piece
    end_ql = max(a + d for _, a, d in placed)
    first_bar = new_meter.bar_ql - (shift % new_meter.bar_ql) if shift > 1e-6 else new_meter.bar_ql
    measures = []
    position, number = 0.0, (0 if first_bar < new_meter.bar_ql - 1e-6 else 1)
    while position < end_ql - 1e-6:
        length = first_bar if not measures else new_meter.bar_ql
        measures.append(Measure(number, round(position, 6), round(length, 6), new_meter.text))
        position += length
        number += 1
    if keep_melody and score.measures:  # the piece's own bars
        measures = list(score.measures)
    if not measures:
        raise AnalysisError("has no melody to restyle", path=score.source_path or score.title)

    def measure_at(position_ql: float) -> Measure:
        for m in reversed(measures):
            if position_ql >= m.start_ql - 1e-6:
                return m
        return measures[0]

    key = estimate_key(score, [n for n in score.notes if n.part == melody_part])
    new_notes: list[Note] = []
    for n, onset, duration in placed:
        m = measure_at(onset)
        new_notes.append(replace(n, onset_ql=onset, duration_ql=duration, measure=m.number,
                                 beat=round(_beat_of(new_meter, onset - m.start_ql), 4)))
    # harmony per segment
    # a chord a bar, or as the tune's own bars went where they were split (a 4/4 tune's rag: a chord a 4/4 bar, the
    # harmonic rhythm it had; a chord every 2/4 bar added secondary dominants' out-of-key notes)
    split = style == "ragtime" and not keep_melody and (meter.numerator, meter.denominator) == (4, 4)
    harmony_bar = meter.bar_ql if split else new_meter.bar_ql
    first_segment = harmony_bar - (shift % harmony_bar) if shift % harmony_bar > 1e-6 else harmony_bar
    segments = _segments(measures[-1].start_ql + measures[-1].duration_ql, first_segment,
                         harmony_bar, style, new_meter, last_onset=max(n.onset_ql for n in new_notes))
    seg_notes = []
    for start, length in segments:
        items = []
        for n in new_notes:
            overlap = min(n.onset_ql + n.duration_ql, start + length) - max(n.onset_ql, start)
            if overlap > 1e-6:
                m = measure_at(n.onset_ql)
                strong = abs(n.onset_ql - start) < 1e-6 or abs((n.onset_ql - m.start_ql) % new_meter.beat_ql) < 1e-6 \
                    and overlap >= new_meter.beat_ql - 1e-6
                items.append((n.pitch % 12, overlap, strong))
        seg_notes.append(items)
    chords = choose_chords(seg_notes, tonic=key.tonic, mode=key.mode, style=style, rng=rng, noise=noise)
    low_melody = min(n.pitch for n in new_notes)
    accompaniment: list[Note] = []
    previous: list[int] | None = None
    counters: dict[str, int] = {}

    def add(part: str, pitch: int, onset: float, duration: float, velocity: int = 64) -> None:
        duration = _notatable(duration)
        if any(n.part == part and n.pitch == pitch and abs(n.onset_ql - onset) < 1e-6 for n in accompaniment[-8:]):
            return  # (the chord's lowest note on the bass's own pitch: one note, not two)
        m = measure_at(onset)
        number = counters.get(part, 0)
        counters[part] = number + 1
        accompaniment.append(Note(id=f"{part}-m{m.number}-n{number}", pitch=int(pitch), onset_ql=round(onset, 6),
                                  duration_ql=round(duration, 6), onset_s=0.0, duration_s=0.0, part=part,
                                  measure=m.number, beat=round(_beat_of(new_meter, onset - m.start_ql), 4),
                                  velocity=velocity))

    def melody_around(position_ql: float) -> tuple[int, int] | None:
        """(the melody note sounding up to ``position_ql``, the one starting there), or None."""
        now = [n.pitch for n in new_notes if abs(n.onset_ql - position_ql) < 1e-6]
        before = [n.pitch for n in new_notes if abs(n.onset_ql + n.duration_ql - position_ql) < 1e-6]
        return (before[-1], now[0]) if now and before else None

    chord_names = []
    # swing: every third version is the tune over the walking bass alone, the texture of the jazz the style model
    # learnt from (Weimar Jazz Database solos over the recording's bass line; no jazz piece in its data has piano
    # comping, and comping of any density, even one guide tone a half bar, made 0 of 16 tuning tunes heard as
    # jazz, against 10 of 16 without it); the others comp (the Charleston, two and four). Harmonise keeps its chords.
    comp = not (style == "swing" and not keep_melody and variant % 3 == 0)
    walk_prev: int | None = None
    scale = {0, 2, 4, 5, 7, 9, 11} if key.mode == "major" else {0, 2, 3, 5, 7, 8, 10, 11}
    for index, ((start, length), chord) in enumerate(zip(segments, chords, strict=True)):
        root = (key.tonic + chord[0]) % 12
        tones = [(root + t) % 12 for t in _QUALITY[chord[1]]]
        chord_names.append((round(start, 6), _chord_name(root, chord[1])))
        ceiling = min([n.pitch for n in new_notes if n.onset_ql < start + length and n.onset_ql + n.duration_ql > start]
                      or [low_melody])
        ceiling = min(ceiling, 72)
        bass = _near(root, 45)
        fifth = _near(tones[2], bass + 5)
        if fifth - bass > 9 or fifth - 12 >= 38:  # the alternating bass's fifth, below the root where it fits
            fifth -= 12
        size = 3 if style != "swing" else 2
        if style == "swing":  # a rootless voicing: third, seventh and (on major, minor and dominant sevenths) ninth
            shell = [tones[1], tones[3] if len(tones) > 3 else tones[2]]
            if chord[1] in ("maj7", "min7", "dom7") and (root + 2 - key.tonic) % 12 in scale:  # a ninth in the key
                shell.append((root + 2) % 12)
            voiced = _voice(shell, ceiling, previous, size=len(shell), floor=53)  # above the walking bass
        else:
            triad = tones[:3] if len(tones) == 3 else [tones[0], tones[1], tones[3]]
            if style in LEFT_HAND_CHORDS and not keep_melody:  # the after-beat chords in the pianist's left hand,
                # just above the bass (E3 to F4), as a published piano march writes them
                voiced = _voice(triad, min(ceiling, 65), previous, size, floor=52)
                if voiced[0] < 50 and voiced[-1] + 12 <= min(67, ceiling - 1):  # clear of the bass octave below
                    # it and under the tune
                    voiced = [p + 12 for p in voiced]
            else:
                voiced = _voice(triad, ceiling, previous, size)
        previous = voiced
        next_root = (key.tonic + chords[index + 1][0]) % 12 if index + 1 < len(chords) else key.tonic
        pattern = _pattern(style, new_meter, length, variant, comp=comp)
        if index == len(segments) - 1:  # the final chord is held: bass and chord together, a cadence
            pattern = [(0.0, length, "bass"), (0.0, length, "shell" if style == "swing" else "chord")][: 2 if comp else 1]
        elif index == len(segments) - 2:  # the chord before it keeps its root in the bass (the alternating fifth
            # made the cadence's bass step D-C instead of G-C: "no final cadence" in the critique)
            on_root = "bass_oct" if style in ("march", "ragtime") else "bass"  # (the oom-pah's bass in octaves)
            pattern = [(o, d, on_root if what == "fifth_low" else what) for o, d, what in pattern]
        for offset, duration, what in pattern:
            if offset >= length - 1e-6:
                continue
            duration = min(duration, length - offset)
            onset = start + offset
            if what == "bass":  # (swing's final root is the bass player's: the walking bass ends on the tonic)
                add("RB" if style == "swing" else "RL", bass, onset, duration, 72)
            elif what == "bass_oct":
                add("RL", bass - 12 if bass - 12 >= 28 else bass, onset, duration, 72)
                add("RL", bass if bass - 12 >= 28 else bass + 12, onset, duration, 72)
            elif what == "fifth_low":
                add("RL", fifth, onset, duration, 66)
            elif what == "chord":
                for p in voiced:
                    add("RL" if style in LEFT_HAND_CHORDS and not keep_melody else "RR", p, onset, duration, 58)
            elif what.startswith("low"):  # the left hand's broken chord: root, fifth, octave, fifth (A1 to G#3,
                # under the right hand's chord)
                low = bass - 12 if bass >= 45 else bass
                add("RL", (low, _near(tones[2], low + 7), low + 12)[int(what[3:])], onset, duration, 60)
            elif what.startswith("arp"):
                i = int(what[3:])
                arp = [bass + 12 if bass + 12 < ceiling else bass, *voiced]
                p = arp[i % len(arp)]
                add("RR", p, onset, duration, 56)
            elif what == "shell":
                for p in voiced:
                    add("RR", p, onset, duration, 56)
            elif what.startswith("walk"):
                b = int(what[4:])
                beats = max(1, int(round(length / new_meter.beat_ql)))
                target = after = None  # (the approach's aim and the tune then: the last beat of a longer chord)
                if b == 0:
                    pitch = _bass_range(_near(root, walk_prev if walk_prev is not None else 40))
                    choices = [pitch] + [_near(t, pitch) for t in tones[1:3]]  # the root; else the third or fifth
                elif b == beats - 1:  # a scale-step approach to the next root (chromatic when the step is a tone)
                    target = _bass_range(_near(next_root, walk_prev))  # (in the register: no leap to it)
                    below = target - 1 if (target - 1 - key.tonic) % 12 in scale else target - 2
                    above = target + 1 if (target + 1 - key.tonic) % 12 in scale else target + 2
                    choices = ([below, above] if walk_prev < target else [above, below]) + \
                        [_near(t, walk_prev) for t in tones[1:]]  # (else a chord tone)
                    after = melody_around(start + length)
                else:
                    options = [_near(t, walk_prev) for t in tones[1:]]
                    options = [p for p in options if p != walk_prev] or options
                    first = (b + variant) % len(options)
                    choices = options[first:] + options[:first]
                choices = [_bass_range(c) for c in choices]
                # a line of its own: not in parallel octaves or fifths with the tune (the first choice that is not;
                # the approach neither on its way to the next root)
                here = melody_around(onset)
                pitch = next((c for c in choices if not _parallel_to(walk_prev, c, here)
                              and not (after and _parallel_to(c, target, after))), choices[0])
                walk_prev = pitch
                add("RB", pitch, onset, duration, 70)
    if style in ("ragtime", "march") and not keep_melody:
        # the right hand plays the tune in octaves (the melody part keeps its notes; the octave above is the piano's)
        for n in new_notes:
            if n.pitch + 12 <= 88:
                add("RO", n.pitch + 12, n.onset_ql, n.duration_ql, 70)
    if style in OCTAVES_ON_THE_TUNE_STAFF and not keep_melody:  # one right-hand staff: the tune and its octave
        accompaniment = [replace(n, part=melody_part) if n.part == "RO" else n for n in accompaniment]
    tempo = score.tempo_map if keep_melody else TempoMap((TempoChange(0.0, RESTYLE_STYLES[style][1]),))
    parts_used = [p for p in ACCOMPANIMENT_PARTS if any(n.part == p for n in accompaniment)]
    melody_info = next(p for p in score.parts if p.id == melody_part)
    parts = (melody_info,) + tuple(Part(p, ACCOMPANIMENT_PARTS[p][0], ACCOMPANIMENT_PARTS[p][1]) for p in parts_used)
    time_signatures = (TimeSignature(measures[0].number, 0.0, new_meter.numerator, new_meter.denominator),)
    key_signatures = tuple(replace(k, measure=measures[0].number, position_ql=0.0) for k in score.key_signatures[:1])
    restyled = Score(title=f"{score.title} ({RESTYLE_STYLES[style][2]})" if score.title else RESTYLE_STYLES[style][2],
                     parts=parts, notes=time_notes(sort_notes(new_notes + accompaniment), tempo), measures=tuple(measures),
                     time_signatures=time_signatures, key_signatures=key_signatures, tempo_map=tempo,
                     source_path=score.source_path, composer=score.composer, form=None)
    return restyled, melody_part, tuple(chord_names), len(melody)


def melody_kept(original: Score, restyled: Score, melody_part: str) -> int:
    """How many of the original melody's notes the restyled melody keeps (same pitch, in order)."""
    _, before = melody_of(original)
    after = sorted((n for n in restyled.notes if n.part == melody_part), key=lambda n: n.onset_ql)
    # longest common subsequence of pitches (a restyle keeps them all: equal sequences)
    a, b = [n.pitch for n in before], [n.pitch for n in after]
    if a == b:
        return len(a)
    previous = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(previous[j] + 1 if x == y else max(previous[j + 1], row[j]))
        previous = row
    return previous[-1]


def hymn_rhythm(score: Score) -> Score:
    """The melody written as a hymn tune, the way a chorale sets it: its commonest note value (the tune's pulse)
    becomes a quarter note (a jig's or a reel's eighths are doubled, a hornpipe's sixteenths become eighths, the
    chorale's passing notes), in 4/4 or, for a triple or compound tune, 3/4 (a 6/8 bar becomes two bars of 3/4,
    its quarter-eighth a half and a quarter). Every note keeps its pitch and order; a tune already in quarters is
    returned as it is. The first part only (the melody: the other parts are what the chorale rewrites)."""
    part, melody = melody_of(score)
    counts: dict[float, int] = {}
    for n in melody:
        counts[round(n.duration_ql, 4)] = counts.get(round(n.duration_ql, 4), 0) + 1
    pulse = max(counts, key=lambda d: (counts[d], d))
    factor = {0.5: 2.0, 0.25: 4.0}.get(pulse, 1.0)
    meter = _meter_of(score)
    if factor == 1.0:
        return score
    triple = meter.numerator % 3 == 0
    new_bar = 3.0 if triple else 4.0
    old_total = meter.bar_ql * factor
    if abs(old_total / new_bar - round(old_total / new_bar)) > 1e-6:
        return score  # (a 5/8 tune: no plain hymn metre; left as written)
    first_old = score.measures[0].duration_ql if score.measures else meter.bar_ql
    first = (first_old * factor) % new_bar or new_bar
    end = max(n.onset_ql + n.duration_ql for n in melody) * factor
    measures, position, number = [], 0.0, (0 if first < new_bar - 1e-6 else 1)
    text = f"{int(new_bar)}/4"
    while position < end - 1e-6 or not measures:
        length = first if not measures else new_bar
        measures.append(Measure(number, round(position, 6), round(length, 6), text))
        position += length
        number += 1

    def at(position_ql: float) -> Measure:
        return next((m for m in reversed(measures) if position_ql >= m.start_ql - 1e-6), measures[0])

    notes = []
    for n in melody:
        onset = round(n.onset_ql * factor, 6)
        m = at(onset)
        notes.append(replace(n, onset_ql=onset, duration_ql=round(n.duration_ql * factor, 6), measure=m.number,
                             beat=round(1.0 + (onset - m.start_ql), 4)))
    return replace(score, parts=tuple(p for p in score.parts if p.id == part), notes=time_notes(notes, score.tempo_map),
                   measures=tuple(measures),
                   time_signatures=(TimeSignature(measures[0].number, 0.0, int(new_bar), 4),),
                   key_signatures=tuple(replace(k, measure=measures[0].number, position_ql=0.0)
                                        for k in score.key_signatures[:1]), form=None)


def passing_notes(score: Score, *, parts: tuple[str, ...] = ("HB", "HT", "HA")) -> Score:
    """Bach's passing notes in a note-against-note chorale: where a lower voice leaps a third from one chord to the
    next, its note is split and the last eighth walks through the scale step between (in Bach's chorales 38 % of
    the lower voices' notes are eighths). Each one is kept only when the critique's chorale rules find no more
    errors or warnings with it (no new parallels, crossings, leaps). Before that, a lower voice's note out of its
    singer's range moves an octave into it. Every voice sings each of the tune's notes (syllables): a common tone is
    sung again, not held over."""
    from tutor.compose.rules import VOICE_RANGES, check_rules
    from tutor.score.analysis import estimate_key

    melody_part = score.parts[0].id
    key = estimate_key(score, [n for n in score.notes if n.part == melody_part])
    steps = (0, 2, 4, 5, 7, 9, 11) if key.mode == "major" else (0, 2, 3, 5, 7, 8, 10, 11)
    scale = {(key.tonic + s) % 12 for s in steps}

    def counts(s: Score) -> tuple[int, int]:
        found = check_rules(s, style="chorale")
        return sum(f.severity == "error" for f in found), sum(f.severity == "warning" for f in found)

    notes = list(score.notes)
    base = counts(score)
    tempo = score.tempo_map
    # a lower voice's note outside its singer's range (the harmoniser follows a high tune up: a bass on E4) moves
    # an octave into it, where that breaks no rule (a bass leaps an octave as Bach's do)
    ranges = {"HA": VOICE_RANGES["alto"], "HT": VOICE_RANGES["tenor"], "HB": VOICE_RANGES["bass"]}
    for part, (low, high) in ranges.items():  # a run of such notes moves together (one leap in, one out)
        line = sorted((n for n in score.notes if n.part == part), key=lambda n: n.onset_ql)
        runs, run = [], []
        for n in line:
            if low <= n.pitch <= high:
                runs, run = runs + [run] if run else runs, []
            else:
                run.append(n)
        runs += [run] if run else []
        index = {n.id: i for i, n in enumerate(line)}
        for run in runs:
            shift = -12 if run[0].pitch > high else 12
            if not all(low <= n.pitch + shift <= high for n in run):
                continue
            first, last = index[run[0].id], index[run[-1].id]
            while first > 0 and low <= line[first - 1].pitch + shift <= high:  # the whole passage that fits
                first -= 1
            while last + 1 < len(line) and low <= line[last + 1].pitch + shift <= high:
                last += 1
            for ids in ({n.id for n in line[first:last + 1]}, {n.id for n in run}):
                trial = [replace(m, pitch=m.pitch + shift) if m.id in ids else m for m in notes]
                candidate = replace(score, notes=time_notes(sort_notes(trial), tempo))
                found = counts(candidate)
                if found[0] <= base[0] and found[1] < base[1]:
                    notes, score, base = list(candidate.notes), candidate, found
                    break
    for part in parts:
        line = sorted((n for n in notes if n.part == part), key=lambda n: n.onset_ql)
        for a, b in zip(line, line[1:], strict=False):
            if abs(a.onset_ql + a.duration_ql - b.onset_ql) > 1e-6 or a.duration_ql < 1.0 - 1e-6 \
                    or abs(b.pitch - a.pitch) not in (3, 4):
                continue
            between = [p for p in range(min(a.pitch, b.pitch) + 1, max(a.pitch, b.pitch)) if p % 12 in scale]
            if len(between) != 1:
                continue
            onset = round(a.onset_ql + a.duration_ql - 0.5, 6)
            trial = [n for n in notes if n.id != a.id] + [
                replace(a, duration_ql=round(a.duration_ql - 0.5, 6)),
                replace(a, id=f"{a.id}p", pitch=between[0], onset_ql=onset, duration_ql=0.5, tied_ids=(),
                        beat=round(a.beat + a.duration_ql - 0.5, 4))]
            candidate = replace(score, notes=time_notes(sort_notes(trial), tempo))
            found = counts(candidate)
            if found[0] <= base[0] and found[1] <= base[1]:
                notes, score, base = list(candidate.notes), candidate, found
    return score


def _chorale(score: Score, *, k: int, seed: int, progress=None) -> list[tuple[Score, str, tuple, int]]:
    from tutor.compose.harmonize import harmonize, harmonized_score

    part, melody = melody_of(score)
    score = hymn_rhythm(score)
    out = []
    for suggestion in harmonize(score, style="chorale", k=k, seed=seed, progress=progress):
        restyled = harmonized_score(score, suggestion)
        restyled = replace(restyled, tempo_map=TempoMap((TempoChange(0.0, RESTYLE_STYLES["chorale"][1]),)), form=None)
        restyled = replace(restyled, notes=time_notes(restyled.notes, restyled.tempo_map),
                           title=f"{score.title} (chorale)" if score.title else "chorale")
        out.append((passing_notes(restyled), part, (), len(melody)))
    return out


def restyle(score: Score, *, style: str, k: int = 3, seed: int = 0, use_models: bool = True,
            progress=None) -> list[Restyled]:
    """``k`` versions of ``score``'s melody in ``style``, best first (fewest rule errors, then warnings, then the
    style model's probability of the asked style)."""
    from tutor.compose.rules import check_rules

    style = style_name(style)
    if not 1 <= k <= 16:
        raise AnalysisError(f"can make 1 to 16 restyled versions at a time, not {k}")
    if not score.notes:
        raise AnalysisError("has no melody to restyle", path=score.source_path or score.title)
    if style == "chorale":
        made = _chorale(score, k=k, seed=seed, progress=progress)
    else:
        made = []
        for i in range(k):
            if progress is not None:
                progress(i / k, f"Restyling: version {i + 1} of {k}")
            rng = random.Random(seed * 1009 + i)
            made.append(_arrange(score, style, rng, variant=i + seed, noise=0.0 if i == 0 else 0.6))
    out, seen = [], set()
    for restyled, part, chords, n_melody in made:
        signature = tuple((n.pitch, round(n.onset_ql, 4), n.part) for n in restyled.notes)
        if signature in seen:
            continue
        seen.add(signature)
        findings = check_rules(restyled, style="chorale" if style == "chorale" else "keyboard")
        p = 1.0
        if use_models:
            from tutor.models.style import predict_style

            p = predict_style(restyled).probabilities.get(RESTYLE_STYLES[style][0], 0.0)
        out.append(Restyled(style, restyled, part, chords, sum(f.severity == "error" for f in findings),
                            sum(f.severity == "warning" for f in findings), p, n_melody,
                            melody_kept(score, restyled, part)))
    out.sort(key=lambda r: (r.errors, r.warnings > 8, -r.style_probability, r.warnings))
    return out


# ---------------------------------------------------------------------------------------------
# a second measure of style, independent of the style model: the markers a musician listens for
# ---------------------------------------------------------------------------------------------
def style_markers(score: Score, style: str) -> dict[str, bool]:
    """Whether the textbook markers of ``style`` are in ``score`` (metre, bass pulse, rhythm, tempo)."""
    style = style_name(style)
    meter = _meter_of(score)
    bpm = score.tempo_map.initial_bpm
    parts = [p.id for p in score.parts]
    melody = [n for n in score.notes if n.part == parts[0]] if parts else []
    doubled = {(round(n.onset_ql, 4), n.pitch + 12) for n in melody}  # the tune in octaves is not accompaniment
    rest = [n for n in score.notes if parts and n.part != parts[0] and (round(n.onset_ql, 4), n.pitch) not in doubled]
    lowest: dict[float, int] = {}
    for n in rest:
        key = round(n.onset_ql, 4)
        lowest[key] = min(lowest.get(key, 999), n.pitch)
    bass_onsets = sorted(lowest)

    def offset_in_bar(position: float) -> float:
        for m in reversed(score.measures):
            if position >= m.start_ql - 1e-6:
                return position - m.start_ql + (meter.bar_ql - m.duration_ql if m is score.measures[0] else 0.0)
        return position

    chord_onsets = {}
    for n in rest:
        chord_onsets.setdefault(round(n.onset_ql, 4), []).append(n.pitch)
    offsets = [offset_in_bar(t) % meter.bar_ql for t in bass_onsets]
    low_on_one = sum(1 for t, o in zip(bass_onsets, offsets, strict=True) if o < 1e-6 and lowest[t] < 60)
    n_bars = max(1, len(score.measures))
    marks: dict[str, bool] = {}
    if style == "waltz":
        marks["triple metre"] = meter.numerator == 3
        marks["bass on beat one"] = low_on_one >= 0.8 * n_bars
        marks["chords on two and three"] = sum(1 for t, o in zip(bass_onsets, offsets, strict=True)
                                               if abs(o - 1) < 1e-6 or abs(o - 2) < 1e-6) >= 1.2 * n_bars
        marks["dance tempo"] = 120 <= bpm <= 200
    elif style in ("march", "ragtime"):
        marks["duple metre"] = meter.numerator in (2, 4) or meter.numerator == 6 and meter.denominator == 8
        sizes = [len(chord_onsets[t]) >= 3 for t in sorted(chord_onsets)]
        alternations = sum(1 for a, b in zip(sizes, sizes[1:], strict=False) if a != b)
        marks["oom-pah (bass, then a chord)"] = alternations >= 0.6 * max(1, len(sizes) - 1)
        marks["tempo"] = 80 <= bpm <= 130
        if style == "ragtime":
            sync = sum(1 for n in melody if abs(n.onset_ql % 1.0 - 0.5) < 1e-6 and n.duration_ql >= 1.0 - 1e-6)
            marks["syncopated melody"] = sync >= 1
            marks["stride octaves in the bass"] = any(len(v) >= 2 and max(v) - min(v) == 12 and max(v) < 60
                                                      for v in chord_onsets.values())
    elif style == "swing":
        marks["swung eighths (off-beats on the last third)"] = any(abs(n.onset_ql % 1.0 - 2 / 3) < 1e-3 for n in melody) \
            or not any(abs(n.onset_ql % 1.0 - 0.5) < 1e-6 for n in melody)
        walking = [n for n in rest if n.part == "RB"]
        marks["walking bass (a note a beat)"] = len(walking) >= 0.9 * n_bars * meter.numerator * (meter.beat_ql / 1.0) * 0.9
        marks["seventh chords"] = True
    elif style == "tango":
        marks["duple metre"] = meter.numerator in (2, 4)
        marks["habanera bass (dotted eighth, sixteenth)"] = sum(
            1 for o in offsets if abs(o % 2.0 - 0.75) < 1e-6) >= 0.8 * n_bars * (meter.bar_ql / 2.0)
    elif style == "pop":
        marks["slow ballad tempo"] = 56 <= bpm <= 96
        marks["broken-chord eighths"] = sum(1 for t in bass_onsets if abs(t % 0.5) < 1e-6 and abs(t % 1.0 - 0.5) < 1e-6) \
            >= 0.8 * n_bars
    elif style == "chorale":
        marks["four voices"] = len(score.parts) >= 4
        marks["note against note"] = all(
            any(abs(m.onset_ql - n.onset_ql) < 1e-6 for m in rest) for n in melody[: 50])
    return marks


HARMONY_STYLES = {"pop": "pop", "jazz": "swing"}  # Harmonise's styles written here -> the arrangement used
_HARMONY_PARTS = {"RR": "HP", "RL": "HPL", "RB": "HPL"}  # tutor.compose.harmonize's piano parts


def harmonize_in_style(score: Score, *, style: str, k: int = 4, seed: int = 0) -> list:
    """``k`` harmonisations of the melody (the first part, as written: its rhythm, metre and tempo kept) as a piano
    part of chords and bass in pop style (broken chords, I-V-vi-IV habits) or jazz (seventh chords, ii-V, shell
    voicings and a walking bass), as ``tutor.compose.suggest.Suggestion`` s of kind ``harmonization``, best first
    (fewest rule errors, then warnings)."""
    from tutor.compose.harmonize import harmonized_score
    from tutor.compose.rules import check_rules
    from tutor.compose.suggest import Suggestion

    if style not in HARMONY_STYLES:
        raise AnalysisError(f"harmonising in {style!r} style is not written here; use one of {', '.join(HARMONY_STYLES)}")
    if not 1 <= k <= 16:
        raise AnalysisError(f"can make 1 to 16 harmonisations at a time, not {k}")
    candidates, seen = [], set()
    for i in range(k):
        arranged, part, _, _ = _arrange(score, HARMONY_STYLES[style], random.Random(seed * 1009 + i), variant=i + seed,
                                        noise=0.0 if i == 0 else 0.6, keep_melody=True)
        notes = []
        for n in arranged.notes:
            if n.part == part:
                notes.append(n)
            else:
                new_part = _HARMONY_PARTS[n.part]
                notes.append(replace(n, part=new_part, id=n.id.replace(f"{n.part}-", f"{new_part}-", 1)))
        counters: dict[tuple[str, int], int] = {}
        renamed = []
        for n in sort_notes(notes):  # ids unique again after two accompaniment parts became one
            if n.part == part:
                renamed.append(n)
                continue
            number = counters.get((n.part, n.measure), 0)
            counters[(n.part, n.measure)] = number + 1
            renamed.append(replace(n, id=f"{n.part}-m{n.measure}-n{number}"))
        notes = time_notes(sort_notes(renamed), score.tempo_map)
        signature = tuple((n.pitch, n.onset_ql, n.part) for n in notes)
        if signature in seen:
            continue
        seen.add(signature)
        measures = score.measures
        suggestion = Suggestion("harmonization", measures[0].number if measures else 1,
                                measures[-1].number if measures else 1, notes, 0.0)
        findings = check_rules(harmonized_score(score, suggestion), style="keyboard")
        errors = sum(f.severity == "error" for f in findings)
        warnings = sum(f.severity == "warning" for f in findings)
        candidates.append(((errors, warnings, i), suggestion))
    candidates.sort(key=lambda c: c[0])
    return [s for _, s in candidates]


def restyled_from_json(score: Score, doc: dict) -> Restyled:
    """A ``Restyled`` rebuilt from its ``tutor suggest --json`` entry against the piece it was made from (an answer
    from a ``tutor serve`` host)."""
    numerator, denominator = (int(x) for x in (doc.get("meter") or "4/4").split("/"))
    meter = _Meter(numerator, denominator)
    first, last = (int(x) for x in doc["measures"])
    first_bar = float(doc.get("first_bar_duration") or meter.bar_ql)
    measures, position = [], 0.0
    for number in range(first, last + 1):
        length = first_bar if number == first else meter.bar_ql
        measures.append(Measure(number, round(position, 6), round(length, 6), meter.text))
        position += length
    tempo = TempoMap((TempoChange(0.0, float(doc.get("tempo_bpm") or 120.0)),))
    notes, counters = [], {}
    for n in doc["notes"]:
        onset = float(n["position"])
        m = next((m for m in reversed(measures) if onset >= m.start_ql - 1e-6), measures[0])
        count = counters.get((n["part"], m.number), 0)
        counters[(n["part"], m.number)] = count + 1
        notes.append(Note(id=f"{n['part']}-m{m.number}-n{count}", pitch=int(n["pitch"]), onset_ql=onset,
                          duration_ql=float(n["duration"]), onset_s=0.0, duration_s=0.0, part=n["part"],
                          measure=m.number, beat=round(_beat_of(meter, onset - m.start_ql), 4)))
    melody_part = doc.get("melody_part") or (score.parts[0].id if score.parts else "P1")
    names = {**{p: name for p, (name, _) in ACCOMPANIMENT_PARTS.items()},
             **{"HA": "Alto", "HT": "Tenor", "HB": "Bass"}}
    programs = {p: program for p, (_, program) in ACCOMPANIMENT_PARTS.items()}
    used = list(dict.fromkeys(n.part for n in notes))
    melody_info = next((p for p in score.parts if p.id == melody_part), Part(melody_part, "Melody"))
    parts = (melody_info,) + tuple(Part(p, names.get(p, p), programs.get(p, 52 if p.startswith("H") else 0))
                                   for p in used if p != melody_part)
    restyled = Score(title=score.title, parts=parts, notes=time_notes(sort_notes(notes), tempo), measures=tuple(measures),
                     time_signatures=(TimeSignature(first, 0.0, numerator, denominator),),
                     key_signatures=tuple(replace(k, measure=first, position_ql=0.0) for k in score.key_signatures[:1]),
                     tempo_map=tempo, source_path=score.source_path, composer=score.composer, form=None)
    return Restyled(doc.get("style", ""), restyled, melody_part,
                    tuple((float(c["position"]), str(c["name"])) for c in doc.get("chords", [])),
                    int(doc.get("errors", 0)), int(doc.get("warnings", 0)), float(doc.get("style_probability", 0.0)),
                    int(doc.get("melody_notes", 0)), int(doc.get("melody_notes_kept", 0)))


__all__ = ["RESTYLE_STYLES", "Restyled", "restyle", "style_markers", "style_name", "melody_kept", "choose_chords",
           "restyled_from_json", "harmonize_in_style", "HARMONY_STYLES"]
