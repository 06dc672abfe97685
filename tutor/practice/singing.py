"""Singing as a teacher hears it (issue 22): the key a singer holds, and a drift of pitch over a phrase.

An amateur singer without an accompaniment often starts in another key than written (a tone low, an
octave down) or between two keys (40 cents flat throughout) and keeps it. Marking every note wrong or flat
tells them nothing; a teacher says it once and listens to the rest relative to the key they held.
``held_key(score_notes, performance)`` finds such a key: the transposition (semitones) under which the take
lines up with the score far better than as written, and the offset in cents the singer held on top of
it. ``relative_to`` moves the take by it, so that ``assess`` judges pitches and intonation against that
key. ``drifts`` finds phrases over which the pitch sank or rose steadily (a drift, told as one, rather
than a run of "flat" marks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tutor.score.music import Note, Performance, PlayedNote

MIN_NOTES = 6  # fewer notes than this: no key is inferred
SHIFTS = range(-24, 25)
CANDIDATES = 3  # transpositions (besides none) tried with the full alignment, best pitch overlap first
MIN_GAIN_SHARE = 0.25  # a transposition must match this share of the score's notes more than none does...
MIN_MATCHED_SHARE = 0.5  # ...and match at least this share of them
WRITTEN_ENOUGH = 1.0 - MIN_GAIN_SHARE  # as written, more than this share matched: no transposition can gain enough
TUNING_MIN_CENTS = 25.0  # a singer's held offset this large (median over the matched notes) is told and allowed for
PLAYED_TUNING_MIN_CENTS = 10.0  # an instrument's: tuned to A = 444 Hz is 16 cents sharp of the written A = 440
PHRASE_GAP_S = 0.6  # a rest this long ends a phrase
DRIFT_MIN_NOTES = 6
DRIFT_MIN_CENTS = 40.0  # the fitted line moves this far over the phrase...
DRIFT_MIN_R2 = 0.5  # ...and explains this much of the notes' intonation

INTERVALS = {1: "a semitone", 2: "a tone", 3: "a minor third", 4: "a major third", 5: "a fourth", 6: "a tritone",
             7: "a fifth", 8: "a minor sixth", 9: "a major sixth", 10: "a minor seventh", 11: "a major seventh",
             12: "an octave"}


@dataclass(frozen=True)
class HeldKey:
    semitones: int  # the take is this many semitones above the score (negative: below)
    cents: float  # and this many cents off that key on top (median over the matched notes)
    said: str  # what was held, told once: "you sang a tone low throughout"
    tuning: bool = False  # an instrument held off the written key by cents alone: tuned there

    @property
    def message(self) -> str:
        return f"{self.said}: the notes are marked against {'your tuning' if self.tuning else 'the key you held'}"

    def to_json(self) -> dict:
        return {"semitones": self.semitones, "cents": round(self.cents, 1), "message": self.message}


@dataclass(frozen=True)
class Drift:
    start_s: float
    end_s: float
    first_measure: int | None
    last_measure: int | None
    cents: float  # how far the pitch moved over the phrase (the fitted line's end less its start)
    message: str

    def to_json(self) -> dict:
        return {"start": round(self.start_s, 3), "end": round(self.end_s, 3), "first_measure": self.first_measure,
                "last_measure": self.last_measure, "cents": round(self.cents, 1), "message": self.message}


def interval_words(semitones: int) -> str:
    size = abs(semitones)
    if size in INTERVALS:
        return INTERVALS[size]
    if size > 12:
        rest = INTERVALS.get(size - 12)
        return f"an octave and {rest[2:] if rest.startswith('a ') else rest}" if rest else f"{size} semitones"
    return f"{size} semitones"


def _values(notes: Sequence[PlayedNote]) -> np.ndarray:
    return np.array([n.pitch + (n.cents or 0.0) / 100.0 for n in notes], dtype=float)


def _overlap(score_notes: Sequence[Note], played: Sequence[PlayedNote], shift: int) -> float:
    """Share of the written pitch content (by duration) that the take covers when moved down ``shift``."""
    written: dict[int, float] = {}
    for n in score_notes:
        written[n.pitch] = written.get(n.pitch, 0.0) + max(n.duration_s, 1e-3)
    heard: dict[int, float] = {}
    for n in played:
        heard[n.pitch - shift] = heard.get(n.pitch - shift, 0.0) + max(n.duration_s, 1e-3)
    total_w, total_h = sum(written.values()), sum(heard.values())
    if total_w <= 0 or total_h <= 0:
        return 0.0
    return sum(min(w / total_w, heard.get(p, 0.0) / total_h) for p, w in written.items())


def _moved(performance: Performance, semitones: int, cents: float) -> Performance:
    """The take moved down by ``semitones`` + ``cents``: each note's pitch and cents from its sung value."""
    notes = []
    for n in performance.notes:
        value = n.pitch + (n.cents or 0.0) / 100.0 - semitones - cents / 100.0
        pitch = int(round(value))
        notes.append(replace(n, pitch=pitch, cents=round((value - pitch) * 100.0, 1) if n.cents is not None else None))
    return replace(performance, notes=tuple(notes))


def held_key(score_notes: Sequence[Note], performance: Performance, align: Callable,
             *, sung: bool = True, shifts: Iterable[int] = SHIFTS) -> HeldKey | None:
    """The key the take holds against the score (None when it is the written one, within
    TUNING_MIN_CENTS for a singer, or PLAYED_TUNING_MIN_CENTS for an instrument): a
    transposition (one of ``shifts``) that ``align`` matches far more notes under than as written, and the
    median offset in cents of the matched notes on top of it. An instrument held off the written key by cents alone was
    tuned there (a baroque violinist at A = 444 Hz): it is told as its tuning."""
    played = performance.notes
    if len(played) < MIN_NOTES or len(score_notes) < MIN_NOTES or not performance.is_audio:
        return None

    def matches(shift: int) -> list[tuple[int, int]]:
        alignment = align(score_notes, _moved(performance, shift, 0.0))
        return [(p.score_index, p.perf_index) for p in alignment.pairs if p.kind == "match"]

    as_written = matches(0)
    best, best_pairs = 0, as_written
    if len(as_written) > WRITTEN_ENOUGH * len(score_notes):  # at exactly 3/4, one matching all notes gains enough
        ranked = []  # the take lines up with the score as written: no other key is tried (one alignment)
    else:
        ranked = sorted((s for s in shifts if s != 0), key=lambda s: -_overlap(score_notes, played, s))
    for shift in ranked[:CANDIDATES]:
        pairs = matches(shift)
        if len(pairs) > len(best_pairs):
            best, best_pairs = shift, pairs
    if best != 0 and not (len(best_pairs) >= len(as_written) + MIN_GAIN_SHARE * len(score_notes)
                          and len(best_pairs) >= MIN_MATCHED_SHARE * len(score_notes)):
        best, best_pairs = 0, as_written
    values = _values(played)
    offsets = [values[p] - score_notes[s].pitch - best for s, p in best_pairs]
    cents = 100.0 * float(np.median(offsets)) if len(offsets) >= MIN_NOTES else 0.0
    if abs(cents) < (TUNING_MIN_CENTS if sung else PLAYED_TUNING_MIN_CENTS):
        cents = 0.0
    return _key(best, cents, sung=sung)


def _key(semitones: int, cents: float, *, sung: bool, when: str = "throughout") -> HeldKey | None:
    """The key ``semitones`` + ``cents`` from the written one, with what is said of it, held ``when`` (None:
    the written key)."""
    if semitones == 0 and cents == 0.0:
        return None
    when = f" {when}" if when else ""
    if semitones == 0 and not sung:
        a4_hz = 440.0 * 2.0 ** (cents / 1200.0)
        said = (f"you played {abs(cents):.0f} cents {'sharp' if cents > 0 else 'flat'} of A = 440 Hz{when} "
                f"(tuned to about A = {a4_hz:.0f} Hz)")
        return HeldKey(semitones=0, cents=round(cents, 1), said=said, tuning=True)
    parts = []
    if semitones:
        parts.append(f"{interval_words(semitones)} {'high' if semitones > 0 else 'low'}")
    if cents:
        parts.append(f"{abs(cents):.0f} cents {'sharp' if cents > 0 else 'flat'}")
    said = f"you {'sang' if sung else 'played'} {' and '.join(parts)}{when}"
    return HeldKey(semitones=semitones, cents=round(cents, 1), said=said)


def relative_to(performance: Performance, key: HeldKey | None) -> Performance:
    """The take as heard in the key it held (unchanged for None)."""
    return performance if key is None else _moved(performance, key.semitones, key.cents)


def drifts(score_notes: Sequence[Note], played: Sequence[PlayedNote], perf_of_score: dict[int, int]) -> list[Drift]:
    """Phrases (runs of matched notes without a rest of PHRASE_GAP_S) over which the intonation moves
    steadily by DRIFT_MIN_CENTS or more: a least-squares line through each note's cents off its written
    pitch explains DRIFT_MIN_R2 of their spread."""
    pairs = sorted(((p, s) for s, p in perf_of_score.items()), key=lambda ps: played[ps[0]].onset_s)
    pairs = [(p, s) for p, s in pairs if played[p].cents is not None]
    phrases: list[list[tuple[int, int]]] = []
    for p, s in pairs:
        if phrases and played[p].onset_s - played[phrases[-1][-1][0]].offset_s < PHRASE_GAP_S:
            phrases[-1].append((p, s))
        else:
            phrases.append([(p, s)])
    out = []
    for phrase in phrases:
        if len(phrase) < DRIFT_MIN_NOTES:
            continue
        t = np.array([played[p].onset_s for p, _ in phrase])
        c = np.array([100.0 * (played[p].pitch - score_notes[s].pitch) + (played[p].cents or 0.0) for p, s in phrase])
        if np.ptp(t) <= 0:
            continue
        slope, intercept = np.polyfit(t, c, 1)
        fitted = intercept + slope * t
        spread = float(np.sum((c - c.mean()) ** 2))
        r2 = 1.0 - float(np.sum((c - fitted) ** 2)) / spread if spread > 0 else 0.0
        moved = float(slope * (t[-1] - t[0]))
        if abs(moved) >= DRIFT_MIN_CENTS and r2 >= DRIFT_MIN_R2:
            first, last = score_notes[phrase[0][1]].measure, score_notes[phrase[-1][1]].measure
            where = f"measure {first}" if first == last else f"measures {first}-{last}"
            direction = "sank" if moved < 0 else "rose"
            out.append(Drift(start_s=float(t[0]), end_s=float(played[phrase[-1][0]].offset_s), first_measure=first,
                             last_measure=last, cents=round(moved, 1),
                             message=f"the pitch {direction} {abs(moved):.0f} cents over {where}"))
    return out


# ---------------------------------------------------------------------------------------------
# a key changed mid-take: a singer who slid a semitone low after a high passage, or a key found wrong
# from the first notes. Asked on a window of recent notes, live (``tutor.practice.live_key``) and in the
# review (``key_changes``) alike.
# ---------------------------------------------------------------------------------------------
WINDOW_NOTES = 10  # a key change is looked for on this many recent notes...
WINDOW_SLACK_CHORDS = 1  # ...lined up with the score's notes from the chords they were put on, this many more each side
# ...for a move of one of these (semitones: a singer sliding a semitone or a tone, or an octave), or back to the written key
WINDOW_SHIFTS = (-12, -2, -1, 1, 2, 12)


@dataclass(frozen=True)
class KeyChange:
    """From the note at ``onset_s`` (in ``measure``) the take held ``key`` (against the score; None: the
    written key) instead of the key held before it."""

    onset_s: float
    measure: int | None
    key: HeldKey | None
    sung: bool = True

    @property
    def said(self) -> str:
        where = f"from measure {self.measure}" if self.measure is not None else f"from {self.onset_s:.1f} s"
        if self.key is None:
            return f"{where} you {'sang' if self.sung else 'played'} in the written key"
        return f"{where} {self.key.said}"

    @property
    def message(self) -> str:
        against = "your tuning" if self.key is not None and self.key.tuning else "that key"
        return f"{self.said}: the notes from there are marked against {against}"

    def to_json(self) -> dict:
        return {"onset": round(self.onset_s, 3), "measure": self.measure,
                "semitones": 0 if self.key is None else self.key.semitones,
                "cents": 0.0 if self.key is None else round(self.key.cents, 1), "message": self.message}


def window_segment(score_notes: Sequence[Note], chord_onsets_ql: Sequence[float], chords: Sequence[int]) -> list[Note]:
    """The score's notes on the chords ``chords`` (where a window's notes were put) and WINDOW_SLACK_CHORDS
    chords more each side (a note left out or put a chord off)."""
    lo = max(0, min(chords) - WINDOW_SLACK_CHORDS)
    hi = min(len(chord_onsets_ql) - 1, max(max(chords), 0) + WINDOW_SLACK_CHORDS)
    if len(chord_onsets_ql) == 0 or hi < lo:
        return []
    lo_ql, hi_ql = chord_onsets_ql[lo] - 1e-6, chord_onsets_ql[hi] + 1e-6
    return [n for n in score_notes if lo_ql <= n.onset_ql <= hi_ql]


def changed_key(segment: Sequence[Note], window: Sequence[PlayedNote], align: Callable, key: HeldKey | None = None,
                *, sung: bool = True) -> tuple[int, float, int] | None:
    """Whether the recent notes ``window`` (moved into the key followed, ``key``) hold another key against
    ``segment`` (the score's notes where they were put): ``held_key``'s test and thresholds on them, for a
    move of one of WINDOW_SHIFTS or back to the written key. Returns the move (semitones, cents) and the
    index in ``window`` of the first note in the new key (the split that lines up the most notes: those
    before it as followed, the rest moved); None when the window holds the key followed."""
    performance = Performance(notes=tuple(window))
    back = () if key is None or key.semitones == 0 else (-key.semitones,)
    moved = held_key(segment, performance, align, sung=sung, shifts=WINDOW_SHIFTS + back)
    if moved is None or moved.semitones == 0:
        return None

    def matched(shift: int) -> np.ndarray:
        hit = np.zeros(len(window), dtype=int)
        for pair in align(segment, _moved(performance, shift, 0.0)).pairs:
            if pair.kind == "match" and pair.perf_index is not None:
                hit[pair.perf_index] = 1
        return hit

    before, after = matched(0), matched(moved.semitones)
    # lined up at each split: the notes before it as followed, those from it in the new key
    lined_up = [int(before[:s].sum() + after[s:].sum()) for s in range(len(window))]
    return moved.semitones, moved.cents, int(np.argmax(lined_up))


def moved_key(key: HeldKey | None, semitones: int, cents: float, *, sung: bool) -> HeldKey | None:
    """The key held after a change of ``semitones`` + ``cents`` from ``key`` (None: the written key), as a
    ``HeldKey`` against the score (said without "throughout": it is held from the change on)."""
    total = (0 if key is None else key.semitones) + semitones
    total_cents = (0.0 if key is None else key.cents) + cents
    return _key(total, round(total_cents, 1), sung=sung, when="")


def key_changes(score_notes: Sequence[Note], performance: Performance, align: Callable, key: HeldKey | None,
                *, sung: bool = True) -> tuple[Performance, HeldKey | None, tuple[KeyChange, ...]]:
    """The key changes of a take already moved into ``key`` (``relative_to``), found as the live follower
    finds them: each window of WINDOW_NOTES notes, from the last change on, asked with ``changed_key``
    against the score's notes where the alignment of the take put them. Returns the take with the notes
    from each change on moved into the key held there, the key held from the start (a change found at
    the first note is the key held there: ``key`` is the key most of the take held), and the changes."""
    notes = list(performance.notes)
    changes: list[tuple[int, HeldKey | None]] = []  # (first note, the key held from it)
    start = 0
    alignment = align(score_notes, replace(performance, notes=tuple(notes)))
    while True:
        found = None
        for end in range(start + WINDOW_NOTES, len(notes) + 1):
            chords = alignment.chord_of_perf[end - WINDOW_NOTES:end]
            segment = window_segment(score_notes, alignment.chord_onsets_ql, chords)
            found = changed_key(segment, notes[end - WINDOW_NOTES:end], align, changes[-1][1] if changes else key, sung=sung)
            if found is not None:
                break
        if found is None:
            break
        semitones, cents, split = found
        at = end - WINDOW_NOTES + split
        notes[at:] = _moved(Performance(notes=tuple(notes[at:])), semitones, cents).notes
        moved = moved_key(changes[-1][1] if changes else key, semitones, cents, sung=sung)
        if at == 0:  # the take began in that key (most of it held ``key``)
            key = _key(moved.semitones, moved.cents, sung=sung) if moved is not None else None
        else:
            changes.append((at, moved))
        start = max(at, start + 1)
        alignment = align(score_notes, replace(performance, notes=tuple(notes)))
    out = []
    for at, held in changes:
        chord = alignment.chord_of_perf[at]
        onset_ql = alignment.chord_onsets_ql[chord] if 0 <= chord < len(alignment.chord_onsets_ql) else None
        measure = next((n.measure for n in score_notes if onset_ql is not None and abs(n.onset_ql - onset_ql) < 1e-6), None)
        out.append(KeyChange(onset_s=notes[at].onset_s, measure=measure, key=held, sung=sung))
    if out and key is not None:  # not held throughout
        key = _key(key.semitones, key.cents, sung=sung, when="at first")
    return replace(performance, notes=tuple(notes)), key, tuple(out)
