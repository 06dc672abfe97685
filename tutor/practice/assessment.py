"""Assessing a take against its score: note by note, what went wrong, as a teacher would say it.

``assess(score, performance)`` aligns the take (``tutor.practice.alignment``) and returns an
``Assessment``: ``Event``s (``correct``, ``wrong_pitch``, ``missed``, ``extra``, ``early``/``late``,
``short``/``long``, ``sharp``/``flat`` for audio, ``restart``), scores 0-100 for pitch, rhythm,
intonation (audio only, else ``None``) and overall, per measure and for the take, a tempo curve and the
three measures most worth practising. ``marks_for`` and ``annotated_musicxml`` put it on the score.
Timing is judged against the tempo the student plays at that moment (the rules: ``assess``), with
tolerances that scale with the tempo and the level preset (``Tolerances``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tutor.errors import AnalysisError
from tutor.practice.alignment import Alignment, NotePair, align
from tutor.practice.singing import Drift, HeldKey, KeyChange, drifts, held_key, key_changes, relative_to
from tutor.score.form import Unfolding, pass_label, unfold, written_id
from tutor.score.music import Note, Performance, PlayedNote, Score, pitch_name

EVENT_TYPES = ("correct", "wrong_pitch", "missed", "extra", "early", "late", "short", "long", "sharp", "flat", "restart",
               "skipped_repeat", "extra_repeat")
COLORS = {
    "wrong_pitch": "#D32F2F", "missed": "#9E9E9E", "extra": "#E91E63", "early": "#1E88E5", "late": "#8E24AA",
    "short": "#FB8C00", "long": "#F9A825", "sharp": "#00897B", "flat": "#00ACC1", "restart": "#6D4C41",
    "correct": "#2E7D32", "skipped_repeat": "#9E9E9E", "extra_repeat": "#6D4C41",
}
# what a mark on a note shows when several events concern it (most important first)
SEVERITY = ("missed", "wrong_pitch", "restart", "skipped_repeat", "extra_repeat", "early", "late", "sharp", "flat", "short",
            "long", "extra", "correct")
SKIPPED_REPEAT_MIN_NOTES = 3  # a repeated passage this long or longer, all of it missed, was skipped
REPEAT_EDGE_NOTES = 2  # a skipped passage's first or last notes that the alignment gave it (a shared pickup)
REPEAT_ENDING_MEASURES = 4  # a first ending this long, played though the score without repeats leaves it out
REPEAT_LEAD_QL = 2.0  # a going back to this little (or the measure) before a repeated passage (its pickup) is the repeat


def _played_name(pitch: int | None) -> str:
    """The name of a played pitch ('?' when the event has none)."""
    return "?" if pitch is None else pitch_name(pitch)


@dataclass(frozen=True)
class Tolerances:
    """How far off a note may be before it is an error (a level preset)."""

    onset_beats: float  # fraction of a beat...
    onset_min_ms: float  # ...but never less than this
    onset_max_ms: float  # ...nor more than this
    hesitation_beats: float  # a pause (in quarter notes) before a note, after which the pulse goes on
    hesitation_min_ms: float
    short_ratio: float  # held for less than this fraction of the written duration
    long_ratio: float  # held for more than this multiple of the written duration
    cents: float  # intonation (audio only)


RATE_TREND = True  # expected step length follows the local trend of the neighbouring steps
TIMING_SPREAD_FACTOR = 2.5  # a timing error stands out this many times the player's usual spread
HELD_MIN_S = 0.6  # held durations are judged for notes at least this long (short ones vary with touch)
CHORD_APART_S = 0.2  # a chord note this far from the rest of its chord...
CHORD_TOGETHER_S = 0.06  # ...when the rest are played together (rolled chords are not errors)
AUDIO_FRAGMENT_S = 0.1  # audio: a same-pitch note this short, starting within
AUDIO_FRAGMENT_GAP_S = 0.03  # this of the end of the note before, is a piece of that note
BREATH_RITARDANDO = 1.25  # a pause after steps this much slower than the local pace is a breath, not a hesitation
ORNAMENT_QL = 0.125  # a note this short (a 32nd) or a grace note (0) sounding with a chord is an ornament
BASS_BREAK_EARLY = True  # the lowest note of a chord played before the rest is a break between the hands, not "early"

LEVELS = {
    "beginner": Tolerances(onset_beats=0.25, onset_min_ms=110, onset_max_ms=220, hesitation_beats=1.5,
                           hesitation_min_ms=900, short_ratio=0.25, long_ratio=2.5, cents=35),
    "advanced": Tolerances(onset_beats=0.12, onset_min_ms=55, onset_max_ms=75, hesitation_beats=0.4,
                           hesitation_min_ms=400, short_ratio=0.35, long_ratio=2.0, cents=20),
}


@dataclass(frozen=True)
class Event:
    type: str
    score_position: float | None
    measure: int | None
    beat: float | None
    expected_pitch: int | None
    played_pitch: int | None
    time: float | None
    deviation_ms: float | None
    cents: float | None
    message: str
    note_id: str | None = None
    attempt: int = 0
    pass_number: int = 1  # which time through the measure (repeats): 1 the first time; "pass" in JSON
    unsure: bool = False  # audio: the transcriber was unsure of the played note (said in the message)

    def to_json(self) -> dict:
        out = asdict(self)
        out["pass"] = out.pop("pass_number")
        for key in ("score_position", "beat", "time", "deviation_ms", "cents"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 4 if key in ("score_position", "beat", "time") else 1)
        return out


@dataclass(frozen=True)
class MeasureResult:
    measure: int
    overall: float
    pitch: float
    rhythm: float
    intonation: float | None
    notes_total: int
    notes_correct: int
    errors: int
    bpm: float | None


@dataclass(frozen=True)
class TempoPoint:
    time: float  # seconds in the take
    score_position: float
    measure: int | None
    bpm: float


@dataclass(frozen=True)
class Assessment:
    overall: float
    pitch: float
    rhythm: float
    intonation: float | None
    notes_total: int
    notes_correct: int
    events: tuple[Event, ...]
    measures: tuple[MeasureResult, ...]
    tempo_curve: tuple[TempoPoint, ...]
    practice_measures: tuple[int, ...]
    marks: dict[str, dict[str, str]] = field(default_factory=dict)
    level: str = "advanced"
    asked_bpm: float | None = None
    played_bpm: float | None = None
    held_key: HeldKey | None = None  # audio: the key the take held, when not the written one (issue 22)
    drifts: tuple[Drift, ...] = ()  # audio: phrases over which the pitch sank or rose steadily
    key_changes: tuple[KeyChange, ...] = ()  # audio, a single line: where the take moved to another key
    # audio, a single line: the key held from the first note when it is not ``held_key`` (the take changed key
    # mid-take, or began in another key than most of it held); None otherwise or when it is the written key
    key_at_start: HeldKey | None = None

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def said_once(self) -> list[str]:
        """What the take is told once rather than note by note: the key or tuning it held (at first, when it
        changed key), each change of key, each drift."""
        first = self.key_at_start if self.key_changes or self.key_at_start is not None else self.held_key
        held = [] if first is None else [first.message]
        return _sentences(held + [c.message for c in self.key_changes] + [d.message for d in self.drifts])

    def to_json(self) -> dict:
        return {
            "summary": {
                "overall": round(self.overall, 1), "pitch": round(self.pitch, 1), "rhythm": round(self.rhythm, 1),
                "intonation": None if self.intonation is None else round(self.intonation, 1),
                "notes_total": self.notes_total, "notes_correct": self.notes_correct,
                "level": self.level, "asked_bpm": self.asked_bpm,
                "played_bpm": None if self.played_bpm is None else round(self.played_bpm, 1),
            },
            "events": [e.to_json() for e in self.events],
            "measures": [
                {**asdict(m), **{k: (None if getattr(m, k) is None else round(getattr(m, k), 1))
                                 for k in ("overall", "pitch", "rhythm", "intonation", "bpm")}}
                for m in self.measures
            ],
            "tempo_curve": [
                {"time": round(p.time, 3), "score_position": round(p.score_position, 3), "measure": p.measure,
                 "bpm": round(p.bpm, 1)} for p in self.tempo_curve
            ],
            "practice_measures": list(self.practice_measures),
            "marks": self.marks,
            "held_key": None if self.held_key is None else self.held_key.to_json(),
            "drifts": [d.to_json() for d in self.drifts],
            "key_changes": [c.to_json() for c in self.key_changes],
            "key_at_start": None if self.key_at_start is None else self.key_at_start.to_json(),
        }


def said_once(doc: dict) -> list[str]:
    """An assessment document's messages told once for the whole take (its ``held_key``, ``key_changes``
    and ``drifts``), each as a sentence; none for a document without them (an older ``tutor serve`` host's)."""
    first = doc.get("key_at_start") if doc.get("key_changes") or doc.get("key_at_start") else doc.get("held_key")
    held = [first["message"]] if first else []
    changes = [c["message"] for c in doc.get("key_changes") or ()]
    return _sentences(held + changes + [d["message"] for d in doc.get("drifts") or ()])


def _sentences(messages: list[str]) -> list[str]:
    return [m[:1].upper() + m[1:] + "." for m in messages]


# ---------------------------------------------------------------------------------------------
# helpers: beats, measures
# ---------------------------------------------------------------------------------------------
def beat_ql(time_signature: str) -> float:
    """Length of one beat in quarter notes ('6/8' -> 1.5, '3/4' -> 1.0, '2/2' -> 2.0)."""
    try:
        numerator, denominator = (int(x) for x in time_signature.split("/"))
    except ValueError:
        return 1.0
    unit = 4.0 / denominator
    if denominator >= 8 and numerator % 3 == 0 and numerator > 3:
        return unit * 3
    return unit


def _place(score: Score, position_ql: float) -> tuple[int | None, float | None]:
    measure = score.measure_at(position_ql)
    if measure is None:
        return None, None
    return measure.number, round(1.0 + (position_ql - measure.start_ql) / beat_ql(measure.time_signature), 4)


def select(score: Score, *, part: str | None = None, measures: tuple[int, int] | None = None) -> Score:
    """The part(s) and measures to assess (TutorError with the choices when they do not exist)."""
    if part is not None:
        try:
            chosen = score.part(part)
        except KeyError as error:
            raise AnalysisError(str(error).strip("'\"")) from None
        score = score.only_parts([chosen.id])
    if measures is not None:
        try:
            score = score.slice_measures(*measures)
        except KeyError as error:
            raise AnalysisError(str(error).strip("'\"")) from None
    if not score.notes:
        raise AnalysisError("nothing to assess: the chosen part and measures have no notes")
    return score


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------
def _fit(q: np.ndarray, t: np.ndarray, tol_s: float) -> tuple[float, float] | None:
    """Least-squares line t = a + b*q, refitted once without points further than tol_s off."""
    if len(q) < 2 or np.ptp(q) <= 1e-9:
        return None
    b, a = np.polyfit(q, t, 1)
    residual = np.abs(t - (a + b * q))
    keep = residual <= max(tol_s, np.median(residual) * 2)
    if keep.sum() >= 2 and keep.sum() < len(q) and np.ptp(q[keep]) > 1e-9:
        b, a = np.polyfit(q[keep], t[keep], 1)
    if b <= 0:
        return None
    return float(a), float(b)


@dataclass
class _Onset:
    """One chord as played (its final, matched notes)."""

    position_ql: float
    time_s: float
    attempt: int
    notes: list[tuple[int, int]]  # (score index, perf index)


def _onset_groups(score_notes, played, alignment: Alignment) -> list[_Onset]:
    by_position: dict[float, list[tuple[int, int, int]]] = defaultdict(list)
    for pair in alignment.final_pairs():
        if pair.kind in ("match", "wrong_pitch") and pair.perf_index is not None:
            by_position[round(score_notes[pair.score_index].onset_ql, 6)].append((pair.score_index, pair.perf_index, pair.attempt))
    groups = []
    for position, members in sorted(by_position.items()):
        times = np.array([played[p].onset_s for _s, p, _a in members])
        attempt = max(a for _s, _p, a in members)
        groups.append(_Onset(position, float(np.median(times)), attempt, [(s, p) for s, p, _a in members]))
    return groups


def _local_seconds_per_ql(groups: list[_Onset], index: int, fallback: float) -> float:
    lo, hi = max(0, index - 4), min(len(groups), index + 5)
    sub = [g for g in groups[lo:hi] if g.attempt == groups[index].attempt]
    if len(sub) >= 2:
        q = np.array([g.position_ql for g in sub])
        t = np.array([g.time_s for g in sub])
        fit = _fit(q, t, 0.08)
        if fit is not None and 0.05 < fit[1] < 5.0:
            return fit[1]
    return fallback


# ---------------------------------------------------------------------------------------------
# assessment
# ---------------------------------------------------------------------------------------------
def assess(
    score: Score,
    performance: Performance,
    *,
    part: str | None = None,
    measures: tuple[int, int] | None = None,
    bpm: float | None = None,
    level: str = "advanced",
    alignment: Alignment | None = None,
    diagnostics: dict | None = None,
    repeats: bool = True,
    evidence=None,
) -> Assessment:
    """Assess ``performance`` against ``score`` (optionally one part and a measure range).

    Timing is judged against the tempo the student is playing at that moment, estimated from the
    neighbouring notes on both sides: rubato and gradual tempo changes are not errors; a note that comes
    off the pulse of the notes before *and* after it is early or late; a pause before a note after which
    the pulse goes on is a hesitation (reported as ``late``), unless the player slowed down into it (a
    breath at a phrase ending) or the step is stretched no more than this player's rubato stretches the
    steps around it (TIMING_SPREAD_FACTOR times their spread, on a ratio scale); a bass note played
    before its chord is a break between the hands, and a note sounded after the grace or short ornament
    note written with it is the ornament: neither is ``early``/``late``. Tolerances are a fraction of a
    beat, within a floor and a ceiling in ms, set by ``level``.
    ``diagnostics``: a dict the timing judgement fills for study (chord position -> (seconds the
    step into it and the step out of it are off the local tempo, tolerance); ("hesitation",
    position) -> (excess pause, threshold)).
    ``evidence``: a second listen to a piano take's sound (``tutor.listen.piano_evidence.PartialEvidence``,
    issue 20): a note the alignment finds missed is listened for where it was due (see ``_heard_again``), and an
    extra note a ghost rule would drop is told where the strike model heard its pitch struck (``_struck_itself``)."""
    if level not in LEVELS:
        raise AnalysisError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    tolerances = LEVELS[level]
    # a take of measures M-N is aligned with one measure more on each side (a student who starts a
    # little early or plays on), or with the whole piece when the take is much longer; only M-N
    # are reported
    wanted = select(score, part=part, measures=measures)
    if measures is not None:
        numbers = [m.number for m in score.measures]
        context = (max(measures[0] - 1, min(numbers)), min(measures[1] + 1, max(numbers)))
        whole_part = select(score, part=part)
        score = select(score, part=part, measures=context)
        # (the measures as played: a range that holds a repeat is played as written, issue 21)
        if len(performance.notes) > 1.5 * len(unfold(score, repeats=repeats).score.notes) + 10:
            score = whole_part  # the take is more than these measures: find them in the whole piece
    else:
        score = wanted
    # repeats (issue 21): the take is judged against the piece as played (``tutor.score.form``), measures
    # and notes in play order; events name the written note, measure and pass. ``repeats=False``: each
    # passage once. A caller's own ``alignment`` refers to the score as it gives it.
    unfolding: Unfolding | None = None
    if alignment is None:
        written = score
        unfolding = unfold(score, repeats=repeats)
        wanted, score = unfold(wanted, repeats=repeats).score, unfolding.score
    score_notes: tuple[Note, ...] = score.notes
    key_held = None
    key_at_start = None  # (the key held from the first note, when not ``key_held``)
    changed_keys: tuple[KeyChange, ...] = ()
    # a piano take: the transcriber's own odds of note starts, asked with the second listen (issue 20)
    odds = performance.onset_odds if evidence is not None else None
    if alignment is None:
        performance = join_fragments(performance)
        # a singer who holds another key (or sings between keys) is judged in that key, told once (issue 22)
        key_held = held_key(score_notes, performance, align, sung=_sung(score))
        performance = relative_to(performance, key_held)
        if evidence is None and performance.is_audio:  # a single line: a key changed mid-take (slid a semitone low)
            performance, at_start, changed_keys = key_changes(score_notes, performance, align, key_held, sung=_sung(score))
            key_at_start = at_start if changed_keys or at_start != key_held else None
    # a piano audio take (issue 20): its missed and extra notes are settled by the second listen below
    piano_audio = evidence is not None and key_held is None
    if piano_audio and alignment is None:  # the transcriber's faint ghosts stand in for no written note
        performance = replace(performance, notes=tuple(n for n in performance.notes if n.velocity >= FAINT_VELOCITY))
    played: tuple[PlayedNote, ...] = performance.notes
    if alignment is None:
        alignment = align(score_notes, performance)
        if unfolding is not None and repeats and unfolding.repeats:  # the repeats left out? (issue 21)
            alignment = _straight_if_better(alignment, written, unfolding, performance)
        elif unfolding is not None and not repeats and written.form is not None:  # played though not asked?
            alignment = _repeats_if_better(alignment, written, unfolding, performance)
    is_audio = performance.is_audio
    if is_audio and evidence is None:  # a single line: a note nearer the written pitch than a neighbour's is it, out of tune
        alignment, played = _out_of_tune_not_wrong(alignment, score_notes, played)  # (a unison's too: before sharing)
    alignment = _share_unisons(alignment, score_notes)
    if piano_audio:  # (before the chords' times are taken from it)
        alignment = _unmatch_far(alignment, score_notes, played, _onset_groups(score_notes, played, alignment))
    events: list[Event] = []

    def event(kind: str, *, note: Note | None = None, position: float | None = None, played_note: PlayedNote | None = None,
              deviation_ms: float | None = None, cents: float | None = None, message: str, attempt: int = 0) -> None:
        if note is not None:
            position = note.onset_ql
            measure, beat = note.measure, note.beat
        elif position is not None:
            measure, beat = _place(score, position)
        else:
            measure = beat = None
        events.append(Event(
            type=kind, score_position=position, measure=measure, beat=beat,
            expected_pitch=note.pitch if note is not None else None,
            played_pitch=played_note.pitch if played_note is not None else None,
            time=played_note.onset_s if played_note is not None else None,
            deviation_ms=deviation_ms, cents=cents, message=message,
            note_id=note.id if note is not None else None, attempt=attempt,
        ))

    # --- tempo: chords as played, seconds per quarter note around each ---------------------
    groups = _onset_groups(score_notes, played, alignment)
    q_all = np.array([g.position_ql for g in groups]) if groups else np.zeros(0)
    t_all = np.array([g.time_s for g in groups]) if groups else np.zeros(0)
    whole = _fit(q_all, t_all, 0.5) if len(groups) >= 2 else None
    if bpm:
        default_spq = 60.0 / bpm
    elif whole is not None:
        default_spq = whole[1]
    else:
        default_spq = 60.0 / score.tempo_map.initial_bpm
    spq = [_local_seconds_per_ql(groups, i, default_spq) for i in range(len(groups))]

    # --- timing per chord ---------------------------------------------------------------------
    timing = _timing(score, groups, spq, played, tolerances, diagnostics)

    # --- note events ------------------------------------------------------------------------
    if piano_audio and len(q_all) >= 2:
        alignment = _tone_before_octave(alignment, score_notes, played, q_all, t_all)
    outcome: dict[int, str] = {}
    perf_of_score: dict[int, int] = {}
    unsettled_missed: list[int] = []  # a piano audio take's missed and extra notes, settled after the loop
    unsettled_extra: list = []
    for pair in alignment.pairs:
        if pair.kind == "match" and pair.final:
            perf_of_score[pair.score_index] = pair.perf_index
        elif pair.kind == "wrong_pitch":
            note, got = score_notes[pair.score_index], played[pair.perf_index]
            suffix = "" if pair.final else " (then went back)"
            octave = {12: ", an octave high", -12: ", an octave low"}.get(got.pitch - note.pitch)
            event("wrong_pitch", note=note, played_note=got, attempt=pair.attempt,
                  message=(f"played {pitch_name(got.pitch)}{octave}{suffix}" if octave else
                           f"played {pitch_name(got.pitch)} instead of {pitch_name(note.pitch)}{suffix}"))
            if pair.final:
                outcome[pair.score_index] = "wrong_pitch"
        elif pair.kind == "missed":
            if piano_audio:  # settled below
                unsettled_missed.append(pair.score_index)
                continue
            note = score_notes[pair.score_index]
            event("missed", note=note, message=f"{pitch_name(note.pitch)} not played")
            outcome[pair.score_index] = "missed"
        elif pair.kind == "extra" and pair.final:  # (not final: a first ending played in a repeat not asked)
            if evidence is not None:  # a piano take: settled below (issue 20)
                unsettled_extra.append(pair)
                continue
            got = played[pair.perf_index]
            chord = alignment.chord_of_perf[pair.perf_index]
            position = alignment.chord_onsets_ql[chord] if chord >= 0 else None
            event("extra", position=position, played_note=got, attempt=pair.attempt,
                  message=f"extra {pitch_name(got.pitch)}")
    # a piano audio take (issue 20): a missed note and an extra note a tone or less from it, struck when it
    # was due, are one wrong note, whatever the second listen or the ghost rules would say of either (the
    # struck note's partials and the transcriber's odds leak into a neighbour's; a played note an octave
    # above another is no ghost when the written note beside it is missing); then the second listen for the
    # missed notes left, and the ghost rules for the extras left
    paired: dict[int, int] = {}
    if piano_audio and len(q_all) >= 2:
        paired = _wrong_note_pairs(unsettled_missed, [pair.perf_index for pair in unsettled_extra], score_notes,
                                   played, q_all, t_all)
    for s in unsettled_missed:
        note = score_notes[s]
        if s in paired:
            got = played[paired[s]]
            event("wrong_pitch", note=note, played_note=got,
                  message=f"played {pitch_name(got.pitch)} instead of {pitch_name(note.pitch)}")
            if _overtone_of_a_strike(got, played) is not None:  # (it might be an octave ghost)
                events[-1] = _said_unsure(events[-1])
            outcome[s] = "wrong_pitch"
            continue
        heard = _heard_again(evidence, note, q_all, t_all, played, odds)
        if heard is not None and heard[0] == "played":
            event("correct", note=note, played_note=heard[1], message="correct")
            outcome[s] = "correct"
            continue
        event("missed", note=note, message=f"{pitch_name(note.pitch)} not played")
        if heard is not None:  # a faint strike where it was due: said with the doubt
            events[-1] = _said_unsure(events[-1])
        outcome[s] = "missed"
    for pair in unsettled_extra:
        if pair.perf_index in paired.values():
            continue
        got = played[pair.perf_index]
        chord = alignment.chord_of_perf[pair.perf_index]
        position = alignment.chord_onsets_ql[chord] if chord >= 0 else None
        source = _overtone_of_a_strike(got, played)
        ghost = _ghost_rule(got, played, source, odds)
        if ghost is not None and not (ghost in STRIKE_ASKED_RULES and _struck_itself(evidence, got)):
            continue  # the transcriber's ghost of other notes (the strike model did not hear it struck itself)
        event("extra", position=position, played_note=got, attempt=pair.attempt, message=f"extra {pitch_name(got.pitch)}")
        if source is not None:  # said with the doubt
            events[-1] = _said_unsure(events[-1])
    pedal_down = _pedal_checker(performance)
    for s, p in sorted(perf_of_score.items()):
        note, got = score_notes[s], played[p]
        problems = 0
        if s in timing:
            kind, deviation, detail = timing[s]
            event(kind, note=note, played_note=got, deviation_ms=deviation * 1000, message=timing_message(kind, deviation, detail))
            problems += 1
        # held duration, against the local tempo
        index = _group_index(groups, note.onset_ql)
        local_spq = spq[index] if index is not None else default_spq
        expected_s = note.duration_ql * local_spq
        held = got.duration_s
        if expected_s >= HELD_MIN_S and held < tolerances.short_ratio * expected_s and not pedal_down(got.offset_s):
            event("short", note=note, played_note=got, deviation_ms=(held - expected_s) * 1000,
                  message=f"held {held:.2f} s of {expected_s:.2f} s")
            problems += 1
        elif expected_s >= HELD_MIN_S and held > tolerances.long_ratio * expected_s + 0.3:
            event("long", note=note, played_note=got, deviation_ms=(held - expected_s) * 1000,
                  message=f"held {held:.2f} s instead of {expected_s:.2f} s")
            problems += 1
        if is_audio and got.cents is not None and abs(got.cents) > tolerances.cents:
            kind = "sharp" if got.cents > 0 else "flat"
            event(kind, note=note, played_note=got, cents=got.cents, message=f"{abs(got.cents):.0f} cents {kind}")
            problems += 1
        if problems == 0:
            event("correct", note=note, played_note=got, cents=got.cents if is_audio else None, message="correct")
            outcome[s] = "correct"
        else:
            outcome.setdefault(s, "timing")
    for restart in alignment.restarts:
        got = played[restart.perf_index]
        frm, _ = _place(score, restart.from_ql)
        to, beat = _place(score, restart.to_ql)
        frm_pass, to_pass = (_pass_at(unfolding, restart.from_ql), _pass_at(unfolding, restart.to_ql))
        asked_repeat = None if unfolding is None else _unasked_repeat(written, unfolding, restart, repeats)
        if asked_repeat is not None:
            event("extra_repeat", position=restart.to_ql, played_note=got,
                  message=f"played the repeat of measures {asked_repeat[0]}-{asked_repeat[1]} (not asked: repeats off)")
            continue
        frm_text, to_text = _with_pass(frm, frm_pass), _with_pass(to, to_pass)
        event("restart", position=restart.to_ql, played_note=got,
              message=f"went back to beat {beat:g} of {to_text}" if (frm, frm_pass) == (to, to_pass) and beat is not None
              else f"went back from {frm_text} to {to_text}")
    skipped: set[int] = set()
    if unfolding is not None and repeats:
        skipped = _skipped_repeats(unfolding, score_notes, outcome, events, perf_of_score, timing)

    if is_audio:
        events[:] = _flag_unsure(events, played)
        if evidence is None:  # a single line: a second note the transcriber added to a double stop it was unsure of
            events[:] = [e for e in events if not _unsure_double_stop(e, played)]
    events.sort(key=lambda e: (e.score_position if e.score_position is not None else float("inf"),
                               e.time if e.time is not None else float("inf"), EVENT_TYPES.index(e.type)))

    # --- scores -----------------------------------------------------------------------------
    per_note_rhythm: dict[int, float] = {}
    for s in perf_of_score:
        value = 1.0
        if s in timing:
            kind, deviation, detail = timing[s]
            value = 0.3 if detail == "hesitation" else max(0.0, 1.0 - abs(deviation) / 0.3)
        per_note_rhythm[s] = value
    if measures is not None:
        first, last = measures
        events = [e for e in events if e.measure is not None and first <= e.measure <= last]
        outcome = {s: v for s, v in outcome.items() if first <= score_notes[s].measure <= last}
        in_range = [s for s, n in enumerate(score_notes) if first <= n.measure <= last and s not in skipped]
        groups_spq = [(g, v) for g, v in zip(groups, spq, strict=True) if first <= (_place(score, g.position_ql)[0] or 0) <= last]
        groups, spq = [g for g, _v in groups_spq], [v for _g, v in groups_spq]
    else:
        in_range = [s for s in range(len(score_notes)) if s not in skipped]
    results = _measure_results(wanted, score_notes, events, outcome, per_note_rhythm, played, perf_of_score, groups, spq, is_audio)
    if unfolding is not None:  # a measure played twice is one measure of the score (its first pass's tempo)
        results = sorted({m.measure: m for m in reversed(results)}.values(), key=lambda m: m.measure)
    pitch, rhythm, intonation, overall = _scores(in_range, events, outcome, per_note_rhythm, played, perf_of_score, is_audio)
    practice = tuple(m.measure for m in sorted((m for m in results if m.errors > 0), key=lambda m: (m.overall, -m.errors))[:3])
    curve = tuple(
        TempoPoint(time=g.time_s, score_position=g.position_ql, measure=_place(score, g.position_ql)[0], bpm=60.0 / spq[i])
        for i, g in enumerate(groups)
    )
    notes_correct = sum(1 for v in outcome.values() if v == "correct")
    if unfolding is not None:
        events = [_as_written(e, unfolding) for e in events]
        curve = tuple(replace(p, score_position=unfolding.written_position(p.score_position)[0]) for p in curve)
    return Assessment(
        overall=overall, pitch=pitch, rhythm=rhythm, intonation=intonation,
        notes_total=len(in_range), notes_correct=notes_correct, events=tuple(events),
        measures=tuple(results), tempo_curve=curve, practice_measures=practice,
        marks=marks_for(events), level=level, asked_bpm=bpm,
        played_bpm=60.0 / whole[1] if whole is not None else None,
        held_key=key_held, drifts=tuple(drifts(score_notes, played, perf_of_score)) if is_audio else (),
        key_changes=changed_keys, key_at_start=key_at_start,
    )


# ---------------------------------------------------------------------------------------------
# repeats (issue 21): the score as played, named as written
# ---------------------------------------------------------------------------------------------
def _pass_at(unfolding: Unfolding | None, played_ql: float) -> int:
    return 1 if unfolding is None else unfolding.written_position(played_ql)[1]


def _with_pass(measure: int | None, pass_number: int) -> str:
    """'measure 5' or 'measure 5, 2nd time'."""
    label = pass_label(pass_number)
    return f"measure {measure}" + (f", {label}" if label else "")


def _as_written(e: Event, unfolding: Unfolding) -> Event:
    """An event on the score as played, named as written: the written note's id, its written position and
    the pass (which time through its measure)."""
    if e.score_position is None:
        return e
    position, pass_number = unfolding.written_position(e.score_position)
    note_id = e.note_id
    if note_id is not None:
        note_id, pass_number = written_id(note_id)
    return replace(e, score_position=position, note_id=note_id, pass_number=pass_number)


def _visit_runs(unfolding: Unfolding) -> list[tuple[int, int]]:
    """The score as played cut into runs of visits (first, last) that follow each other as written and
    are on the same pass: a repeated passage, a first or second ending, the part after a repeat."""
    runs: list[tuple[int, int]] = []
    visits = unfolding.visits
    for k, visit in enumerate(visits):
        if runs and visit.index == visits[k - 1].index + 1 and visit.pass_number == visits[k - 1].pass_number:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def _skipped_repeats(unfolding: Unfolding, score_notes, outcome: dict[int, str], events: list[Event],
                     perf_of_score: dict[int, int], timing: dict) -> set[int]:
    """Repeated passages that the take left out, all of whose notes are missed while another time through
    the same measures was played: one ``skipped_repeat`` event each ("skipped the repeat of measures 1-8")
    instead of a missed note per note. Returns the score indices of those notes (left out of the scores).
    A note or two at the edge of such a passage that the alignment gave to it, while the same pitch is missed
    at the same place of the passage next to it (a pickup that opens both), is moved there first."""
    visits = unfolding.visits
    runs = _visit_runs(unfolding)
    if len(runs) < 2:
        return set()
    starts = [v.played_start_ql for v in visits]
    run_of_note: dict[int, int] = {}
    for s, note in enumerate(score_notes):
        k = max(0, bisect.bisect_right(starts, note.onset_ql + 1e-9) - 1)
        run_of_note[s] = next(r for r, (a, b) in enumerate(runs) if a <= k <= b)
    by_run: dict[int, list[int]] = defaultdict(list)
    for s, r in run_of_note.items():
        by_run[r].append(s)
    for r in range(len(runs)):
        _move_edge_notes(by_run, r, score_notes, outcome, events, perf_of_score, timing)
    # visits whose notes are all missed, in blocks of consecutive visits (a repeat left out with the first
    # ending before it): a block that holds a time through measures played at another time was skipped
    notes_of_visit: dict[int, list[int]] = defaultdict(list)
    for s, note in enumerate(score_notes):
        notes_of_visit[max(0, bisect.bisect_right(starts, note.onset_ql + 1e-9) - 1)].append(s)
    _slide_back(unfolding, notes_of_visit, score_notes, outcome, events, perf_of_score, timing)
    played_index = {visits[k].index for k, here in notes_of_visit.items()
                    if any(outcome.get(s) not in (None, "missed") for s in here)}
    skipped: set[int] = set()
    k = 0
    while k < len(visits):
        if not _all_missed(notes_of_visit.get(k, []), outcome) or not notes_of_visit.get(k):
            k += 1
            continue
        end = k
        while end + 1 < len(visits) and _all_missed(notes_of_visit.get(end + 1, []), outcome):
            end += 1
        block = [s for j in range(k, end + 1) for s in notes_of_visit.get(j, [])]
        repeated = any(visits[j].index in played_index for j in range(k, end + 1))
        # a whole passage of it (a repeat, not a bar or two missed inside one)
        bounded = any(k <= a and b <= end for a, b in runs)
        if len(block) >= SKIPPED_REPEAT_MIN_NOTES and repeated and bounded:
            skipped.update(block)
            numbers = [visits[j].number for j in range(k, end + 1)]
            first, last = min(numbers), max(numbers)
            span = f"measures {first}-{last}" if first != last else f"measure {first}"
            events.append(Event(type="skipped_repeat", score_position=visits[k].played_start_ql, measure=visits[k].number,
                                beat=1.0, expected_pitch=None, played_pitch=None, time=None, deviation_ms=None,
                                cents=None, message=f"skipped the repeat of {span}"))
        k = end + 1
    if skipped:
        ids = {score_notes[s].id for s in skipped}
        events[:] = [e for e in events if not (e.type == "missed" and e.note_id in ids)]
        for s in skipped:
            outcome.pop(s, None)
    return skipped


def _move_edge_notes(by_run: dict[int, list[int]], r: int, score_notes, outcome: dict[int, str], events: list[Event],
                     perf_of_score: dict[int, int], timing: dict) -> None:
    """Run ``r``'s played notes, when they are at most REPEAT_EDGE_NOTES and the rest is missed, moved to
    missed notes of the same pitch among the first notes of the run after (for a note in the run's first half)
    or the last notes of the run before (the alignment let a pickup shared by both open the skipped one)."""
    notes = sorted(by_run.get(r, []), key=lambda s: (score_notes[s].onset_ql, score_notes[s].pitch))
    hit = [s for s in notes if outcome.get(s) not in (None, "missed")]
    if not hit or len(notes) < SKIPPED_REPEAT_MIN_NOTES or len(hit) > REPEAT_EDGE_NOTES:
        return
    moves: dict[int, int] = {}
    after = sorted(by_run.get(r + 1, []), key=lambda t: score_notes[t].onset_ql)[:2 * REPEAT_EDGE_NOTES]
    before = sorted(by_run.get(r - 1, []), key=lambda t: score_notes[t].onset_ql)[-2 * REPEAT_EDGE_NOTES:]
    for s in hit:
        k = notes.index(s)
        if k < len(notes) // 2:  # in the first half: it opens the run after as well (a pickup)
            near = after
        else:
            near = before[::-1]
        target = next((t for t in near if outcome.get(t) == "missed" and score_notes[t].pitch == score_notes[s].pitch
                       and t not in moves.values()), None)
        if target is None:
            return
        moves[s] = target
    for s, t in moves.items():
        _move_note(s, t, score_notes, outcome, events, perf_of_score, timing)


def _move_note(s: int, t: int, score_notes, outcome: dict[int, str], events: list[Event], perf_of_score: dict[int, int],
               timing: dict) -> None:
    """What was played for score note ``s`` (missed before) goes to score note ``t``; ``s`` is missed."""
    old, new = score_notes[s], score_notes[t]
    outcome[t] = outcome.pop(s)
    outcome[s] = "missed"
    if s in perf_of_score:
        perf_of_score[t] = perf_of_score.pop(s)
    if s in timing:
        timing[t] = timing.pop(s)
    events[:] = [e for e in events if not (e.type == "missed" and e.note_id == new.id)]
    for i, e in enumerate(events):
        if e.note_id == old.id:
            events[i] = replace(e, note_id=new.id, score_position=new.onset_ql, measure=new.measure, beat=new.beat,
                                expected_pitch=new.pitch)
    events.append(Event(type="missed", score_position=old.onset_ql, measure=old.measure, beat=old.beat,
                        expected_pitch=old.pitch, played_pitch=None, time=None, deviation_ms=None, cents=None,
                        message=f"{pitch_name(old.pitch)} not played", note_id=old.id))


def _slide_back(unfolding: Unfolding, notes_of_visit: dict[int, list[int]], score_notes, outcome: dict[int, str],
                events: list[Event], perf_of_score: dict[int, int], timing: dict) -> None:
    """Never a pass ahead: where visits left unplayed are followed by played visits of the same measures
    (one jump over two repeats left out, A [A B] B for A B), the played notes go to the earlier visits, so
    that each repeat left out is a block of its own (A [A] B [B])."""
    visits = unfolding.visits
    k = 0
    while k < len(visits):
        if not notes_of_visit.get(k) or not _all_missed(notes_of_visit[k], outcome):
            k += 1
            continue
        end = k
        while end + 1 < len(visits) and _all_missed(notes_of_visit.get(end + 1, []), outcome):
            end += 1
        # m visits of the block, from j on, are the same measures (and notes) as the m visits after it
        best, best_j = 0, k
        for j in range(k, end + 1):
            m = 0
            while (j + m <= end and end + 1 + m < len(visits) and visits[j + m].index == visits[end + 1 + m].index
                   and _same_notes(notes_of_visit.get(j + m, []), notes_of_visit.get(end + 1 + m, []), score_notes)):
                m += 1
            if m > best:
                best, best_j = m, j
        if best:
            for a, b in zip(range(best_j, best_j + best), range(end + 1, end + 1 + best), strict=True):
                by_id = {written_id(score_notes[t].id)[0]: t for t in notes_of_visit.get(a, [])}
                for s in notes_of_visit.get(b, []):
                    t = by_id.get(written_id(score_notes[s].id)[0])
                    if t is not None and outcome.get(s) not in (None, "missed"):
                        _move_note(s, t, score_notes, outcome, events, perf_of_score, timing)
        k = end + 1


def _same_notes(a: list[int], b: list[int], score_notes) -> bool:
    return sorted(written_id(score_notes[s].id)[0] for s in a) == sorted(written_id(score_notes[s].id)[0] for s in b)


def _alignment_cost(alignment: Alignment, ignore: set[int] = frozenset()) -> float:
    """What an alignment says went wrong, to compare two: a note missed, extra or wrong counts 1, a restart
    RESTART_COST (``ignore``: score notes whose missing is explained otherwise)."""
    from tutor.practice.alignment import RESTART_COST

    wrong = sum(1 for p in alignment.final_pairs() if p.kind in ("extra", "wrong_pitch")
                or (p.kind == "missed" and p.score_index not in ignore))
    return wrong + RESTART_COST * len(alignment.restarts)


def _straight_if_better(alignment: Alignment, written: Score, unfolding: Unfolding, performance: Performance) -> Alignment:
    """The take aligned to the piece played straight through (each passage once, last endings), put on the
    piece as played (the passages left out missed), when that explains the take better than ``alignment``
    to the piece with its repeats: a student who left the repeats out is told so, once per repeat, and the
    notes played are judged where they were played (the same notes come twice: the alignment to the piece
    with its repeats may jump into the second time through and leave a first ending and a second time
    half played)."""
    straight = unfold(written, repeats=False)
    visits = unfolding.visits
    kept: list[int] = []  # for each straight visit, the visit of the piece as played that it is
    pointer = 0
    for visit in straight.visits:
        while pointer < len(visits) and visits[pointer].index != visit.index:
            pointer += 1
        if pointer >= len(visits):
            return alignment
        kept.append(pointer)
        pointer += 1
    if len(kept) == len(visits):
        return alignment
    notes = unfolding.score.notes
    index_of = {n.id: i for i, n in enumerate(notes)}
    straight_starts = [v.played_start_ql for v in straight.visits]

    def position(straight_ql: float) -> float:
        k = max(0, bisect.bisect_right(straight_starts, straight_ql + 1e-9) - 1)
        return visits[kept[k]].played_start_ql + (straight_ql - straight.visits[k].played_start_ql)

    mapping: list[int] = []
    for note in straight.score.notes:
        k = max(0, bisect.bisect_right(straight_starts, note.onset_ql + 1e-9) - 1)
        pass_number = visits[kept[k]].pass_number
        target = index_of.get(written_id(note.id)[0] + ("" if pass_number == 1 else f"@{pass_number}"))
        if target is None:
            return alignment
        mapping.append(target)
    alt = align(straight.score.notes, performance)
    covered = set(mapping)
    left_out = {i for i in range(len(notes)) if i not in covered}
    pairs = [replace(p, score_index=None if p.score_index is None else mapping[p.score_index]) for p in alt.pairs]
    pairs += [NotePair("missed", i, None, 0, True) for i in sorted(left_out)]
    chord_onsets = tuple(position(q) for q in alt.chord_onsets_ql)
    restarts = tuple(replace(r, from_ql=position(r.from_ql), to_ql=position(r.to_ql)) for r in alt.restarts)
    translated = Alignment(tuple(pairs), restarts, alt.chord_of_perf, chord_onsets)
    gaps = sum(1 for a, b in zip(kept, kept[1:], strict=False) if b != a + 1) + (kept[-1] != len(visits) - 1)
    if _alignment_cost(translated, left_out) + gaps < _alignment_cost(alignment):
        return translated
    return alignment


def _repeats_if_better(alignment: Alignment, written: Score, straight: Unfolding, performance: Performance) -> Alignment:
    """With repeats off: the take aligned to the piece with its repeats, put on the piece played straight
    through, when that explains the take better than ``alignment``: each going back of the form is a restart
    from the end of the passage to its start (told as the repeat played, ``_unasked_repeat``), the times
    through before the last are earlier attempts, first endings' notes are extra. Without it a going back
    to a passage whose notes come elsewhere too may be placed there (a restart to the wrong measure)."""
    from tutor.practice.alignment import Restart

    full = unfold(written, repeats=True)
    if not full.repeats:
        return alignment
    alt = align(full.score.notes, performance)
    jumps = sum(1 for k in range(1, len(full.visits)) if full.visits[k].index < full.visits[k - 1].index)
    if _alignment_cost(alt) + jumps >= _alignment_cost(alignment):
        return alignment
    straight_notes = straight.score.notes
    index_of = {n.id: i for i, n in enumerate(straight_notes)}
    straight_visit = {v.index: v for v in straight.visits}
    full_starts = [v.played_start_ql for v in full.visits]

    def visit_of(played_ql: float) -> int:
        return max(0, bisect.bisect_right(full_starts, played_ql + 1e-9) - 1)

    def straight_ql(played_ql: float) -> float:
        visit = full.visits[visit_of(played_ql)]
        target = straight_visit.get(visit.index)
        if target is None:  # a first ending left out of the straight piece: where the next passage starts
            later = [straight_visit[v.index] for v in full.visits[visit_of(played_ql):] if v.index in straight_visit]
            return later[0].played_start_ql if later else straight.score.duration_ql
        return target.played_start_ql + (played_ql - visit.played_start_ql)

    last_visit: dict[int, int] = {}
    for k, v in enumerate(full.visits):
        last_visit[v.index] = k
    perf_onsets = [n.onset_s for n in performance.notes]
    first_in_visit: dict[int, int] = {}
    for p in alt.pairs:
        if p.score_index is not None and p.perf_index is not None and p.kind in ("match", "wrong_pitch"):
            k = visit_of(full.score.notes[p.score_index].onset_ql)
            if k not in first_in_visit or perf_onsets[p.perf_index] < perf_onsets[first_in_visit[k]]:
                first_in_visit[k] = p.perf_index
    restarts = list(alt.restarts and [replace(r, from_ql=straight_ql(r.from_ql), to_ql=straight_ql(r.to_ql))
                                      for r in alt.restarts])
    for k in range(1, len(full.visits)):
        before, after = full.visits[k - 1], full.visits[k]
        if after.index < before.index and k in first_in_visit:
            j = k - 1  # reached: the last measure before it that the straight piece has (not a first ending)
            while j > 0 and full.visits[j].index not in straight_visit:
                j -= 1
            restarts.append(Restart(first_in_visit[k], straight_ql(full.visits[j].played_start_ql),
                                    straight_ql(after.played_start_ql)))
    restarts.sort(key=lambda r: perf_onsets[r.perf_index])
    restart_times = [perf_onsets[r.perf_index] for r in restarts]

    def attempt(perf_index: int | None) -> int:
        return 0 if perf_index is None else bisect.bisect_right(restart_times, perf_onsets[perf_index])

    pairs: list[NotePair] = []
    for p in alt.pairs:
        if p.score_index is None:
            pairs.append(replace(p, attempt=attempt(p.perf_index)))
            continue
        note = full.score.notes[p.score_index]
        k = visit_of(note.onset_ql)
        target = index_of.get(written_id(note.id)[0])
        final = last_visit[full.visits[k].index] == k
        if target is None:  # a first ending's note
            if p.perf_index is not None:  # part of the repeat played (told once): not an extra note of its own
                pairs.append(NotePair("extra", None, p.perf_index, attempt(p.perf_index), False))
            continue
        if p.kind == "missed" and not final:
            continue
        pairs.append(NotePair(p.kind, target, p.perf_index, attempt(p.perf_index), final))
    chord_onsets = sorted({round(n.onset_ql, 6) for n in straight_notes})
    chord_of_perf = []
    for c in alt.chord_of_perf:
        if c < 0 or c >= len(alt.chord_onsets_ql):
            chord_of_perf.append(-1)
            continue
        q = straight_ql(alt.chord_onsets_ql[c])
        chord_of_perf.append(max(0, bisect.bisect_right(chord_onsets, q + 1e-9) - 1))
    return Alignment(tuple(pairs), tuple(restarts), tuple(chord_of_perf), tuple(chord_onsets))


def _all_missed(indices: list[int], outcome: dict[int, str]) -> bool:
    """No note of these was played (a visit of a measure without notes counts as missed)."""
    return all(outcome.get(s) == "missed" for s in indices)


def _unasked_repeat(written: Score, unfolding: Unfolding, restart, repeats: bool) -> tuple[int, int] | None:
    """With repeats off, a going back from the end of a repeated passage to its start is the repeat played
    (not asked), not a restart: the written measures (first, last) of that passage, else None."""
    if repeats or written.form is None:
        return None
    taken = unfold(written, repeats=True)
    if not taken.repeats:
        return None
    frm = unfolding.visit_at(restart.from_ql)
    to = unfolding.visit_at(restart.to_ql)
    if frm is None or to is None:
        return None
    # the repeat as written: a visit of ``to``'s measure that comes right after a visit of ``frm``'s
    for k in range(1, len(taken.visits)):
        before, after = taken.visits[k - 1], taken.visits[k]
        # reached: the measure before the repeat sign, or the last one before a first ending left out
        if after.pass_number < 2 or after.index >= before.index or not -1 <= before.index - frm.index <= REPEAT_ENDING_MEASURES:
            continue
        # the passage's start as the take went back to it, or the note before it (a pickup, or the last
        # note of an ending that leads into it, played again as the take's first note back)
        at = next((j for j, v in enumerate(unfolding.visits) if v.index == after.index), None)
        if at is None:
            continue
        section_ql = unfolding.visits[at].played_start_ql
        lead_ql = max(REPEAT_LEAD_QL, unfolding.visits[at - 1].duration_ql if at > 0 else 0.0)
        if -lead_ql - 1e-9 <= restart.to_ql - section_ql <= 1.0 + 1e-9:
            return written.measures[after.index].number, written.measures[before.index].number
    return None


MEANT_CENTS = 75.0  # a single line: a note this near the written pitch is that note out of tune (``_out_of_tune_not_wrong``)
UNSURE_CONFIDENCE = 0.5  # audio: a played note the transcriber gives less confidence than this is "unsure"
UNSURE_KINDS = ("wrong_pitch", "extra", "sharp", "flat")  # verdicts on what was heard, said with a doubt
VOICE_PROGRAMS = range(52, 55)  # General MIDI choir aahs, voice oohs, synth voice
VOICE_NAMES = ("voice", "vocal", "sing", "soprano", "alto", "tenor", "baritone", "bass voice", "choir", "melody")


def _sung(score: Score) -> bool:
    """Whether the score's parts are for voice (by General MIDI program or part name)."""
    return any(p.program in VOICE_PROGRAMS or any(w in p.name.lower() for w in VOICE_NAMES) for p in score.parts)


HEARD_RISE_DB = 5.0  # a second listen (issue 20): a strike this strong where a "missed" note was due: played
FAINT_RISE_DB = 3.0  # ...this strong: still missed, but said unsure
HEARD_WINDOW_S = 0.2  # ...within this of the time the note was due (from the chords played around it)
OVERTONE_STEPS = (12, 19, 24, 28)  # a note struck this many semitones below at the time: the rise counts less
OVERTONE_PENALTY_DB = 6.0
SAME_PITCH_MARGIN_S = 0.2  # the transcribed note of the pitch may start this late after the window
GHOST_STEPS = (12, 19, 24)  # an extra note this far above a note struck with it: said unsure
GHOST_ONSET_S = 0.06
# a note of a piano audio take the transcriber gives a velocity under this is left out before the take is
# aligned with the score (it stands for no written note, right or wrong) and is never told as an extra: on
# maps-dev's development pieces every such extra was a ghost of a held chord (velocities 3-8; no played note
# under 35)
FAINT_VELOCITY = 20
# an extra note that may be an octave ghost (``_overtone_of_a_strike``) no louder than this times the note
# below it is not told either: on the dev pieces 234 of the 243 such extras (5 alterations) were ghosts
# (the transcriber gives a ghost about its source's velocity, 0.95 in the median; a played octave note
# 1.13); extra precision 0.43 -> 0.70, recall 0.88 -> 0.85; 0.95: 0.56 / 0.86, 1.05: 0.78 / 0.83
GHOST_DROP_RATIO = 1.0
# the transcriber's own odds of a note start (issue 20, ``Performance.onset_odds``: its semi-CRF's best reading
# with a note of the pitch starting then, against its best reading; > 0 where it reads one): a "missed" note
# with odds of at least MODEL_HEARD_ODDS within MODEL_WINDOW_S of when it was due was played (the model
# heard it, though its best reading left it out), at least MODEL_FAINT_ODDS: still missed, said unsure
MODEL_WINDOW_S = 0.1
MODEL_HEARD_ODDS = -5.0
MODEL_FAINT_ODDS = -7.0
# ...or odds that far above the pitch's usual odds (the median) in the MODEL_CONTEXT_S around the window,
# leaving MODEL_GAP_S out on each side
MODEL_HEARD_LIFT = 7.0
MODEL_FAINT_LIFT = 5.0
MODEL_CONTEXT_S = 0.8
MODEL_GAP_S = 0.1
# (chosen on maps-dev's development pieces, 5 alterations: no added note, never played, reached odds -5.6
# within 0.1 s of its time, nor a lift of 6.7; missed P 0.596 -> 0.784 at recall 0.975; odds alone >= -5:
# 0.698, lift alone >= 7: 0.768, >= 5: 0.831 at recall 0.924)
# (an "extra" note's own odds were tried on dev: not telling or doubting those the model read by a small
# margin lost about as many true extras as false ones; see docs/benchmarks.md)
PAIR_STEPS = 2  # a missed note and an extra note this many semitones or less apart...
PAIR_S = 0.1  # ...struck within this of when the missed note was due: one wrong note
EDGE_QL = 1.0  # a note this far before the first chord played or after the last is due at the edge's pace


def _due_s(note: Note, q_all: np.ndarray, t_all: np.ndarray) -> float | None:
    """When ``note`` was due, interpolated from the chords played around it (``q_all`` quarter notes, ``t_all``
    seconds), or, up to EDGE_QL before the first chord played or after the last, at the pace of the two
    chords at that edge (a take's first or last notes); None with fewer than two chords or further out."""
    if len(q_all) < 2:
        return None
    if q_all[0] <= note.onset_ql <= q_all[-1]:
        return float(np.interp(note.onset_ql, q_all, t_all))
    (qa, qb), (ta, tb) = (q_all[:2], t_all[:2]) if note.onset_ql < q_all[0] else (q_all[-2:], t_all[-2:])
    if min(abs(note.onset_ql - qa), abs(note.onset_ql - qb)) > EDGE_QL or qb <= qa:
        return None
    return float(ta + (note.onset_ql - qa) * (tb - ta) / (qb - qa))


def _said_unsure(event: Event) -> Event:
    """``event`` told with the doubt: ``unsure`` in the JSON and "(not heard clearly)" in the message."""
    return replace(event, unsure=True, message=f"{event.message} (not heard clearly)")


def _heard_again(evidence, note: Note, q_all: np.ndarray, t_all: np.ndarray,
                 played: tuple[PlayedNote, ...], odds=None) -> tuple[str, PlayedNote] | None:
    """A piano take's note the alignment calls missed, listened for again (issue 20): ("played", the
    strike as a note) where the transcriber's own odds (``odds``, ``OnsetOdds``) of a note of its pitch
    starting within MODEL_WINDOW_S of when it was due reach MODEL_HEARD_ODDS, or its pitch's partials
    rise at a strike within HEARD_WINDOW_S of then (the transcriber merged a repeated note or a trill's
    notes into one, or did not hear a soft one); ("faint", ...) for weaker odds or a weaker rise, None for
    neither (or no time to listen at)."""
    due_s = _due_s(note, q_all, t_all)
    if due_s is None:
        return None
    strike = PlayedNote(pitch=note.pitch, onset_s=round(due_s, 4), offset_s=round(due_s + 0.1, 4), confidence=1.0)
    model = lift = -np.inf
    if odds is not None:
        model = odds.best(note.pitch, due_s - MODEL_WINDOW_S, due_s + MODEL_WINDOW_S)
        lift = model - odds.usual(note.pitch, due_s - MODEL_WINDOW_S - MODEL_GAP_S, due_s + MODEL_WINDOW_S + MODEL_GAP_S,
                                  MODEL_CONTEXT_S)
    if model >= MODEL_HEARD_ODDS or lift >= MODEL_HEARD_LIFT:
        return "played", strike
    faint = ("faint", strike) if model >= MODEL_FAINT_ODDS or lift >= MODEL_FAINT_LIFT else None
    start_s, stop_s = due_s - HEARD_WINDOW_S, due_s + HEARD_WINDOW_S
    # only where the transcriber heard this pitch sounding then (a merged repeat or trill, a note it
    # placed off the beat): elsewhere the partials of other notes rise as often as a missed note's
    if not any(p.pitch == note.pitch and p.onset_s <= stop_s + SAME_PITCH_MARGIN_S and p.offset_s >= start_s
               for p in played):
        return faint
    rise = evidence.rise_db(note.pitch, start_s, stop_s)
    # a note struck then an octave, a twelfth or two octaves below sounds at this pitch's partials too
    if any(start_s - 0.05 <= p.onset_s <= stop_s + 0.05 and note.pitch - p.pitch in OVERTONE_STEPS for p in played):
        rise -= OVERTONE_PENALTY_DB
    if rise >= HEARD_RISE_DB:
        return "played", strike
    if rise >= FAINT_RISE_DB:
        return "faint", strike
    return faint


def _wrong_note_pairs(missed: list[int], extras: list[int], score_notes: tuple[Note, ...],
                      played: tuple[PlayedNote, ...], q_all: np.ndarray, t_all: np.ndarray) -> dict[int, int]:
    """A piano audio take's missed notes (score indices) and extra notes (indices of ``played``) that are one
    wrong note (issue 20): an extra note ``PAIR_STEPS`` semitones or less from a missed one, struck within
    ``PAIR_S`` of when it was due (from the chords played around it), the nearest in time first. The
    alignment, which also weighs the transcription's timing, sometimes keeps the two apart (on maps-dev's
    development pieces, 7 of the 38 wrong notes not reported as wrong, in 5 alterations). Asked before the
    second listen and the ghost rules: the struck note's partials and the transcriber's odds leak into
    the written note a tone away (which the second listen would then call played), and a wrong note an
    octave above another struck note looks like an octave ghost (which the rules would not tell)."""
    out: dict[int, int] = {}
    taken: set[int] = set()
    for s in missed:
        note = score_notes[s]
        due_s = _due_s(note, q_all, t_all)
        if due_s is None:
            continue
        near = [(abs(played[j].onset_s - due_s), j) for j in extras if j not in taken
                and 1 <= abs(played[j].pitch - note.pitch) <= PAIR_STEPS and abs(played[j].onset_s - due_s) <= PAIR_S]
        if near:
            out[s] = min(near)[1]
            taken.add(out[s])
    return out


def _tone_before_octave(alignment: Alignment, score_notes: tuple[Note, ...], played: tuple[PlayedNote, ...],
                        q_all: np.ndarray, t_all: np.ndarray) -> Alignment:
    """A piano audio take's played note that the alignment gave, as a wrong note, to a score note an octave
    from it, while a score note ``PAIR_STEPS`` semitones or less from it, due when it was struck (within
    ``PAIR_S``), is missed: it is that note, played wrong (issue 20), and the note an octave away is
    missed (then listened for again). The transcriber often does not hear a low note of a chord, and the
    alignment (which counts an octave as near as a semitone, issue 24) then gave the played note a tone
    from the written one to the unheard note an octave from it (dev: 3 of the 24 wrong notes not reported
    as wrong, 5 alterations; a note matched out of order far from its time, tried too: one wrong note
    more found, one false "missed" more)."""
    missed = {pr.score_index for pr in alignment.pairs if pr.kind == "missed" and pr.final}
    if not missed:
        return alignment
    due = {m: _due_s(score_notes[m], q_all, t_all) for m in missed}
    pairs = list(alignment.pairs)
    taken: set[int] = set()  # missed notes now played wrong
    for i, pr in enumerate(alignment.pairs):
        if not pr.final or pr.kind != "wrong_pitch":
            continue
        got, note = played[pr.perf_index], score_notes[pr.score_index]
        if abs(got.pitch - note.pitch) != 12:
            continue
        near = [(abs(got.onset_s - due[m]), m) for m in missed if due[m] is not None
                and 1 <= abs(got.pitch - score_notes[m].pitch) <= PAIR_STEPS and abs(got.onset_s - due[m]) <= PAIR_S]
        if not near:
            continue
        m = min(near)[1]
        missed.discard(m)
        taken.add(m)
        pairs[i] = NotePair("wrong_pitch", m, pr.perf_index, pr.attempt, True)
        pairs.append(NotePair("missed", pr.score_index, None, pr.attempt, True))
    if not taken:
        return alignment
    return replace(alignment, pairs=tuple(q for q in pairs if not (q.kind == "missed" and q.score_index in taken)))


FAR_MATCH_S = 0.25  # a piano audio take's note matched to a played note of its pitch this far from when it was due...
SHIFT_FROM_S = 0.15  # (or this far, to be moved to another written note or be a wrong note, ``_unmatch_far``)...
SHIFT_NEAR_S = 0.08  # ...that came this near another written note of its pitch (nearer than its own played note)


class _DueWithout:
    """When each score note was due, its own played note left out (``_unmatch_far``): the median of the rest
    of its chord as played (two notes or more: one may be as far off as this one), else interpolated from the
    chords played before and after it (None outside)."""

    def __init__(self, groups: list[_Onset], played: tuple[PlayedNote, ...]) -> None:
        self.groups, self.played = groups, played
        self.q = np.array([g.position_ql for g in groups])
        self.t = np.array([g.time_s for g in groups])

    def __call__(self, s: int, note: Note) -> float | None:
        k = int(np.searchsorted(self.q, note.onset_ql - 1e-6))
        here = k < len(self.q) and abs(self.q[k] - note.onset_ql) <= 1e-6
        if here:
            rest = [self.played[p].onset_s for t, p in self.groups[k].notes if t != s]
            if len(rest) >= 2:
                return float(np.median(rest))
        before, after = k - 1, k + 1 if here else k
        if before < 0 or after >= len(self.q):
            return None
        return float(np.interp(note.onset_ql, self.q[[before, after]], self.t[[before, after]]))


def _unmatch_far(alignment: Alignment, score_notes: tuple[Note, ...], played: tuple[PlayedNote, ...],
                 groups: list[_Onset]) -> Alignment:
    """A piano audio take's score note that the alignment matched to a played note of its pitch far from when
    it was due (from the rest of its chord as played, or the chords around it) is unmatched (issue 20) where
    - the far note is more than FAR_MATCH_S off and an extra note ``PAIR_STEPS`` semitones or less from the
      score note was struck when it was due (within ``PAIR_S``): it is missed and the far note extra; the
      pairs then make the note on time a wrong note;
    - the far note is more than SHIFT_FROM_S off and came within SHIFT_NEAR_S of when another written note
      of its pitch was due, one left missed or matched to a played note further from it: the far note goes
      to that one, this one is missed (then listened for again), and that one's note, if it had one, is
      extra (``_shift_target``);
    - the far note is more than SHIFT_FROM_S off and was struck within ``PAIR_S`` of when a missed score
      note ``PAIR_STEPS`` semitones or less from it was due: it is that note, played wrong, and this one is
      missed (then listened for again).
    The alignment gave a played note with no score note of its own (a note added, or a wrong note a tone
    from the written one) to the nearest written note of its pitch a chord or more away, which the review
    then called early, late or even correct, and the note on time extra or missed (measured in
    docs/benchmarks.md, "Detection: a second opinion" and "Detection, 2026-12-07 night")."""
    due = _DueWithout(groups, played)
    extras = [pr.perf_index for pr in alignment.pairs if pr.kind == "extra" and pr.final]
    pairs = list(alignment.pairs)
    matched = {pr.score_index: i for i, pr in enumerate(pairs) if pr.final and pr.kind == "match"}
    missed = {pr.score_index: i for i, pr in enumerate(pairs) if pr.final and pr.kind == "missed"}
    for s, i in list(matched.items()):
        pr = pairs[i]
        if pr.kind != "match":  # (undone by a shift below)
            continue
        note, got = score_notes[s], played[pr.perf_index]
        due_s = due(s, note)
        if due_s is None or abs(got.onset_s - due_s) <= min(FAR_MATCH_S, SHIFT_FROM_S):
            continue
        if abs(got.onset_s - due_s) > FAR_MATCH_S and any(
                1 <= abs(played[j].pitch - note.pitch) <= PAIR_STEPS and abs(played[j].onset_s - due_s) <= PAIR_S
                for j in extras):
            pairs[i] = NotePair("missed", s, None, pr.attempt, True)
            pairs.append(NotePair("extra", None, pr.perf_index, pr.attempt, True))
            continue
        shift = _shift_target(s, got, {**matched, **missed}, pairs, score_notes, played, due)
        if shift is not None:
            if pairs[shift].kind == "match":
                pairs.append(NotePair("extra", None, pairs[shift].perf_index, pairs[shift].attempt, True))
            pairs[shift] = NotePair("match", pairs[shift].score_index, pr.perf_index, pairs[shift].attempt, True)
            pairs[i] = NotePair("missed", s, None, pr.attempt, True)
            continue
        wrong = [(abs(got.onset_s - other_s), j) for other, j in missed.items() if pairs[j].kind == "missed"
                 and 1 <= abs(score_notes[other].pitch - got.pitch) <= PAIR_STEPS
                 and (other_s := due(other, score_notes[other])) is not None and abs(got.onset_s - other_s) <= PAIR_S]
        if wrong:
            j = min(wrong)[1]
            pairs[j] = NotePair("wrong_pitch", pairs[j].score_index, pr.perf_index, pairs[j].attempt, True)
            pairs[i] = NotePair("missed", s, None, pr.attempt, True)
    return replace(alignment, pairs=tuple(pairs)) if pairs != list(alignment.pairs) else alignment


def _shift_target(s: int, got: PlayedNote, candidates: dict[int, int], pairs: list[NotePair],
                  score_notes: tuple[Note, ...], played: tuple[PlayedNote, ...], due: _DueWithout) -> int | None:
    """The index in ``pairs`` of the written note of ``got``'s pitch (other than score note ``s``) that ``got``
    came within SHIFT_NEAR_S of when it was due, the nearest, where that note is missed or its played note
    is further from then by more than SHIFT_NEAR_S; None where there is none (``_unmatch_far``)."""
    best = None
    for other, j in candidates.items():
        if other == s or pairs[j].kind not in ("match", "missed") or score_notes[other].pitch != got.pitch:
            continue
        other_s = due(other, score_notes[other])
        if other_s is None:
            continue
        near = abs(got.onset_s - other_s)
        old = abs(played[pairs[j].perf_index].onset_s - other_s) if pairs[j].kind == "match" else np.inf
        if near <= SHIFT_NEAR_S and old > near + SHIFT_NEAR_S and (best is None or near < best[0]):
            best = (near, j)
    return None if best is None else best[1]


# an extra note of a piano audio take that a note struck with it (within GHOST_ONSET_S) lies a twelfth, two
# octaves, ... above (its 3rd, 4th, 5th, 6th or 8th partial), with nothing struck an octave above it, that the
# transcriber read by an odds margin under UNDERTONE_ODDS, is not told: its ghost below a struck note
UNDERTONE_STEPS = (19, 24, 28, 31, 36)
UNDERTONE_ODDS = 1.0
# a note a ghost rule (``_ghost_rule``) would drop is told all the same where the strike model heard its pitch struck
# itself (``_struck_itself``): the rules it is asked for, the P it must reach, the window either side of the onset.
# Chosen on maps-dev's dev pieces (6 x 30 s, 5 alterations): of the 320 ghost-rule drops, 14 were true extras (12
# octave, 2 undertone); at 0.8 within 0.05 s the model keeps 3 of them and 5 ghosts (one ghost, 5 alterations),
# extra P/R 0.889/0.865 -> 0.875/0.875; at 0.7: 0.850/0.879; at 0.5: 0.789/0.882. The octave-pair ghosts (a
# melody doubled in octaves) reach at most 0.25 there and are not asked; faint ones never reach this loop.
STRIKE_ASKED_RULES = frozenset({"octave", "undertone"})
STRIKE_EXTRA_P = 0.8
STRIKE_EXTRA_WINDOW_S = 0.05


def _ghost_rule(got: PlayedNote, played: tuple[PlayedNote, ...], source: int | None, odds) -> str | None:
    """The ghost rule that takes ``got``, an extra note of a piano audio take, for the transcriber's ghost of other
    notes, or None: "faint" (under FAINT_VELOCITY: a ghost of held notes), "octave" (an octave ghost no louder than
    its source, ``source`` the velocity from ``_overtone_of_a_strike``), "undertone" (``_undertone_ghost``) or
    "octave_pair" (``_octave_pair_ghost``)."""
    if got.velocity < FAINT_VELOCITY:
        return "faint"
    if source is not None and got.velocity <= GHOST_DROP_RATIO * source:
        return "octave"
    if _undertone_ghost(got, played, odds):
        return "undertone"
    if _octave_pair_ghost(got, played):
        return "octave_pair"
    return None


def _struck_itself(evidence, got: PlayedNote) -> bool:
    """Whether the learned strike model (``PartialEvidence.strike_p``) heard ``got``'s pitch itself struck within
    STRIKE_EXTRA_WINDOW_S of its onset with P of at least STRIKE_EXTRA_P: a note a ghost ``rule`` would drop that
    was played (the rules cannot tell a played octave from a ghost by its velocity; the model hears the strike)."""
    window_s = STRIKE_EXTRA_WINDOW_S
    p = evidence.strike_p(got.pitch, got.onset_s - window_s, got.onset_s + window_s)
    return p >= STRIKE_EXTRA_P


def _undertone_ghost(got: PlayedNote, played: tuple[PlayedNote, ...], odds) -> bool:
    """Whether ``got``, an extra note of a piano audio take, is the transcriber's ghost below a struck note
    (issue 20): a note struck with it lies UNDERTONE_STEPS above (every partial of that note is one of
    this one's), none an octave above (a bass octave with one of its notes left out is a true extra),
    and the transcriber's own odds of its start (``Performance.onset_odds``) stand under UNDERTONE_ODDS.
    Dev (maps-dev, 5 alterations): 24 of the 82 false extras, 2 of the 257 true ones."""
    if odds is None:
        return False
    with_it = _steps_struck_with(got, played)
    if 12 in with_it or not any(step in UNDERTONE_STEPS for step in with_it):
        return False
    return odds.best(got.pitch, got.onset_s - 0.03, got.onset_s + 0.03) < UNDERTONE_ODDS


def _octave_pair_ghost(got: PlayedNote, played: tuple[PlayedNote, ...]) -> bool:
    """Whether ``got``, an extra note of a piano audio take, was struck with exactly two notes, an octave and two
    octaves below it: a melody doubled in octaves, whose two notes both sound ``got``'s pitch (the upper one's
    second partial, the lower one's fourth), so the transcriber hears it louder than either (the octave-ghost rule,
    ``GHOST_DROP_RATIO``, lets it through) and no second listen can tell (issue 20). Dev (maps-dev, 5 alterations):
    30 of the 57 false extras (Chopin's op. 28/14, in octaves), none of the 257 true ones."""
    return sorted(_steps_struck_with(got, played)) == [-24, -12]


def _steps_struck_with(got: PlayedNote, played: tuple[PlayedNote, ...]) -> list[int]:
    """The semitones from ``got`` to each other note of ``played`` struck within GHOST_ONSET_S of it (the ghost rules'
    notes struck with it)."""
    return [p.pitch - got.pitch for p in played if p is not got and abs(p.onset_s - got.onset_s) <= GHOST_ONSET_S]


def _overtone_of_a_strike(got: PlayedNote, played: tuple[PlayedNote, ...]) -> int | None:
    """An extra note of a piano audio take an octave, a twelfth or two octaves above a note struck with it:
    every partial of it is one of the lower note's, so the transcriber often hears one that was not
    played (on the dev pieces of maps-dev, 47 of 57 false "extra" marks; 7 of 40 true ones, in octave
    passages) and a second listen cannot tell (issue 20). The velocity of the loudest such lower note, or
    None where there is none."""
    return max((p.velocity for p in played if abs(p.onset_s - got.onset_s) <= GHOST_ONSET_S
                and got.pitch - p.pitch in GHOST_STEPS), default=None)


def _flag_unsure(events: list[Event], played: tuple[PlayedNote, ...]) -> list[Event]:
    """A verdict on a note the transcriber was unsure of (confidence under UNSURE_CONFIDENCE) says so:
    ``unsure`` in the JSON and "(not heard clearly)" in the message, so that a student is not told a note
    was wrong without the doubt (issue 22)."""
    confidence = {(round(n.onset_s, 4), n.pitch): n.confidence for n in played}
    out = []
    for e in events:
        value = confidence.get((round(e.time, 4), e.played_pitch)) if e.time is not None else None
        if e.type in UNSURE_KINDS and value is not None and value < UNSURE_CONFIDENCE:
            e = _said_unsure(e)
        out.append(e)
    return out


def _unsure_double_stop(event: Event, played: tuple[PlayedNote, ...]) -> bool:
    """An extra note, said unsure, that starts and ends with another played note: the second note of a double
    stop that a bowed take's transcriber added (``tutor.listen.transcription.add_double_stops``) where the score
    has one note. It is not told: the transcriber's doubt and a written single note agree that it was not played."""
    if event.type != "extra" or not event.unsure or event.time is None:
        return False
    own = next((n for n in played if n.pitch == event.played_pitch and abs(n.onset_s - event.time) < 1e-4), None)
    return own is not None and any(n is not own and n.pitch != own.pitch and abs(n.onset_s - own.onset_s) < 1e-4
                                   and abs(n.offset_s - own.offset_s) < 1e-4 for n in played)


def join_fragments(performance: Performance) -> Performance:
    """Audio only: a very short note (under AUDIO_FRAGMENT_S) of the same pitch right after the
    note before it is a piece of that note that the transcriber split off (its decay, or the
    moment the next note takes over), not an extra note: joined to it. MIDI takes are unchanged."""
    if not performance.is_audio or len(performance.notes) < 2:
        return performance
    out: list[PlayedNote] = []
    for note in sorted(performance.notes, key=lambda n: (n.onset_s, n.pitch)):
        before = out[-1] if out else None
        if (before is not None and note.pitch == before.pitch and note.duration_s < AUDIO_FRAGMENT_S
                and note.onset_s - before.offset_s < AUDIO_FRAGMENT_GAP_S):
            out[-1] = replace(before, offset_s=max(before.offset_s, note.offset_s))
            continue
        out.append(note)
    return performance if len(out) == len(performance.notes) else replace(performance, notes=tuple(out))


def _timing(score: Score, groups: list[_Onset], spq: list[float], played, tolerances: Tolerances,
            diagnostics: dict | None = None) -> dict[int, tuple[str, float, str]]:
    """score index -> (early|late, deviation_s, pushed|hesitation|apart) for notes off the pulse.

    1. Hesitations: a gap before a chord longer than the local tempo explains by more than the
       hesitation threshold, and than the player's own rubato stretches steps there. They (and
       restarts) split the take into segments of steady playing.
    2. Pushed chords: inside a segment, the step into a chord and the step out of it are off the
       local tempo (the trend of the neighbouring steps: ritardando and accelerando are not errors)
       in opposite directions, by more than the level's tolerance and more than
       TIMING_SPREAD_FACTOR times the player's usual spread there.
    3. A note of a chord played apart from the rest of the chord.
    """
    timing: dict[int, tuple[str, float, str]] = {}
    n = len(groups)
    if n == 0:
        return timing
    q = np.array([g.position_ql for g in groups])
    t = np.array([g.time_s for g in groups])
    beat_s = np.empty(n)
    for i, g in enumerate(groups):
        measure = score.measure_at(g.position_ql)
        beat_s[i] = spq[i] * beat_ql(measure.time_signature if measure else "4/4")
    base_tol = np.clip(tolerances.onset_beats * beat_s, tolerances.onset_min_ms / 1000, tolerances.onset_max_ms / 1000)
    # 1. hesitations and segments
    segment = np.zeros(n, dtype=np.int64)
    rates = np.full(n, np.nan)  # seconds per quarter of the step into chord i
    for i in range(1, n):
        dq = q[i] - q[i - 1]
        if groups[i].attempt == groups[i - 1].attempt and dq > 1e-9:
            rates[i] = (t[i] - t[i - 1]) / dq
    current = 0
    for i in range(1, n):
        if groups[i].attempt != groups[i - 1].attempt:
            current += 1
        elif not np.isnan(rates[i]):
            around = np.concatenate((rates[max(1, i - 6):i], rates[i + 1:i + 7]))
            around = around[~np.isnan(around)]
            if len(around) >= 2:
                # the pace of the steps around the pause, not the local tempo fit, which the pause
                # itself slows down (a 1 s stop in a fast piece raised its own threshold to ~1 s)
                pace = float(np.median(around))
                excess = (t[i] - t[i - 1]) - (q[i] - q[i - 1]) * pace
                hesitation_s = max(tolerances.hesitation_beats * pace, tolerances.hesitation_min_ms / 1000)
                if diagnostics is not None:
                    diagnostics[("hesitation", groups[i].position_ql)] = (float(excess), float(hesitation_s))
                if excess > hesitation_s:
                    current += 1
                    before = rates[max(1, i - 3):i]
                    before = before[~np.isnan(before)]
                    # a breath, not a hesitation: the player slowed down into the pause (a phrase ending)
                    breath = before.size > 0 and float(np.median(before)) > BREATH_RITARDANDO * pace
                    # nor a step stretched no more than the player's own rubato stretches steps there
                    # (a long note lengthened at a phrase end by a player whose steps vary as much)
                    expressive = _stretch_within_rubato(around, pace, t[i] - t[i - 1], q[i] - q[i - 1])
                    for s_index, _p in groups[i].notes if not (breath or expressive) else ():
                        timing[s_index] = ("late", float(excess), "hesitation")
        segment[i] = current
    # 2. pushed chords: the step into the chord and the step out of it are off the local tempo in
    #    opposite directions (a ritardando stretches both, an agogic accent only the first)
    step_error = np.full(n + 1, np.nan)  # step_error[i]: seconds the step into chord i is off
    for i in range(1, n):
        if segment[i] == segment[i - 1] and not np.isnan(rates[i]):
            window = np.r_[max(1, i - 7):i - 1, i + 2:min(n, i + 8)]
            window = window[~np.isnan(rates[window])] if window.size else window
            if window.size >= 3:
                step_error[i] = (t[i] - t[i - 1]) - (q[i] - q[i - 1]) * _local_rate(q[window], rates[window], float(q[i]))
    for i in range(1, n - 1):
        e_in, e_out = step_error[i], step_error[i + 1]
        if np.isnan(e_in) or np.isnan(e_out) or any(s in timing for s, _p in groups[i].notes):
            continue
        # steps off in the same direction (a tempo change, an agogic stretch) displace nothing
        push = float(np.sign(e_in) * min(abs(e_in), abs(e_out))) if e_in * e_out < 0 else 0.0
        around = np.concatenate((step_error[max(1, i - 8):i], step_error[i + 2:i + 10]))
        around = np.abs(around[~np.isnan(around)])
        spread = 1.4826 * float(np.median(around)) if len(around) >= 4 else 0.0
        tol = max(float(base_tol[i]), TIMING_SPREAD_FACTOR * spread)
        if diagnostics is not None:
            diagnostics[groups[i].position_ql] = (float(e_in), float(e_out), tol)
        if push != 0.0 and abs(push) > tol:
            kind = "late" if push > 0 else "early"
            for s_index, _p in groups[i].notes:
                timing[s_index] = (kind, push, "pushed")
    # 3. a note played apart from the rest of its chord, the rest being together (not rolled); a
    #    bass note played before the chord is a pianist's break between the hands, not an error
    #    (nor is a note that an ornament written with it delays: a grace note or a short
    #    ornament note a step or less away, played first on the beat)
    for i, g in enumerate(groups):
        if len(g.notes) < 3:
            continue
        onsets = np.array([played[p].onset_s for _s, p in g.notes])
        lowest = min(played[p].pitch for _s, p in g.notes)
        ornaments = [score.notes[s].pitch for s, _p in g.notes if score.notes[s].duration_ql <= ORNAMENT_QL]
        for k, (s_index, p_index) in enumerate(g.notes):
            others = np.delete(onsets, k)
            if s_index in timing or np.ptp(others) > CHORD_TOGETHER_S:
                continue
            pitch = score.notes[s_index].pitch
            if score.notes[s_index].duration_ql > ORNAMENT_QL and any(abs(pitch - o) <= 2 for o in ornaments):
                continue
            apart = float(onsets[k] - np.median(others))
            if apart < 0 and played[p_index].pitch == lowest and BASS_BREAK_EARLY:
                continue
            if abs(apart) > max(2.5 * float(base_tol[i]), CHORD_APART_S):
                timing[s_index] = ("late" if apart > 0 else "early", apart, "apart")
    return timing


def timing_message(kind: str, deviation_s: float, detail: str) -> str:
    """The message of an early/late verdict of ``_timing``."""
    ms = abs(deviation_s) * 1000
    return {"pushed": f"{ms:.0f} ms {kind}", "hesitation": f"hesitation ({deviation_s:.1f} s) before this note",
            "apart": f"{ms:.0f} ms {kind} against the rest of the chord"}[detail]


def _stretch_within_rubato(around: np.ndarray, pace: float, step_s: float, step_ql: float) -> bool:
    """Whether a step of ``step_s`` seconds over ``step_ql`` quarters is longer than the pace of the
    neighbouring steps (seconds per quarter, ``around``; ``pace``: their median) by no more than
    TIMING_SPREAD_FACTOR times the player's usual step-to-step variation there (robust spread of the log
    ratios): the same standard as for a pushed note, on a ratio scale, since rubato stretches a step in
    proportion."""
    if pace <= 0 or step_s <= 0 or step_ql <= 0:
        return False
    spread = 1.4826 * float(np.median(np.abs(np.log(np.clip(around, 1e-3 * pace, None) / pace))))
    return float(np.log(step_s / (step_ql * pace))) <= TIMING_SPREAD_FACTOR * spread


def _local_rate(q: np.ndarray, rates: np.ndarray, at: float) -> float:
    """Seconds per quarter note expected at ``at`` from the neighbouring steps: their median, or
    with RATE_TREND their linear trend (a gradual ritardando or accelerando is followed)."""
    if RATE_TREND and q.size >= 5 and np.ptp(q) > 1e-9:
        slope, intercept = np.polyfit(q, rates, 1)
        fitted = intercept + slope * q
        keep = np.abs(rates - fitted) <= 2.0 * np.median(np.abs(rates - fitted)) + 1e-9
        if keep.sum() >= 3 and np.ptp(q[keep]) > 1e-9:
            slope, intercept = np.polyfit(q[keep], rates[keep], 1)
        value = float(intercept + slope * at)
        low, high = float(rates.min()), float(rates.max())
        return min(max(value, low), high)
    return float(np.median(rates))


def meant_cents(pitch: int, cents: float | None, written: int) -> float | None:
    """How far a single line's note (``pitch`` and its ``cents``) lies from the pitch ``written``, in cents, when that
    is under MEANT_CENTS (the written note out of tune); None further off, or without cents (MIDI, a piano)."""
    if cents is None:
        return None
    off_cents = 100.0 * (pitch - written) + cents
    return off_cents if abs(off_cents) < MEANT_CENTS else None


def _out_of_tune_not_wrong(alignment: Alignment, score_notes, played: tuple[PlayedNote, ...]
                           ) -> tuple[Alignment, tuple[PlayedNote, ...]]:
    """A sung or single-line note whose pitch (with its cents) lies within MEANT_CENTS of the written note it
    was played for is that note out of tune (issue 22: "intonation in cents against the note the singer
    meant"), not the semitone its pitch rounds to: a C sung 60 cents flat is "60 cents flat", not "sang B
    instead of C". Its pair becomes a match and the played note is given as the written pitch with the cents
    off it, so the intonation check tells it flat or sharp (in an attempt the student went back from, such a
    note is, like a right one, not told)."""
    pairs, notes = list(alignment.pairs), list(played)
    for k, pair in enumerate(pairs):
        if pair.kind != "wrong_pitch" or pair.perf_index is None or pair.score_index is None:
            continue
        got, written = notes[pair.perf_index], score_notes[pair.score_index].pitch
        off_cents = meant_cents(got.pitch, got.cents, written)
        if off_cents is not None:
            notes[pair.perf_index] = replace(got, pitch=written, cents=round(off_cents, 1))
            pairs[k] = replace(pair, kind="match")
    if notes == list(played):
        return alignment, played
    return replace(alignment, pairs=tuple(pairs)), tuple(notes)


def _share_unisons(alignment: Alignment, score_notes) -> Alignment:
    """A unison written in two voices (two noteheads, one key) is played once: the note left
    'missed' shares the played note of its twin."""
    played_at: dict[tuple[float, int], int] = {}
    for pair in alignment.pairs:
        if pair.kind == "match" and pair.final:
            note = score_notes[pair.score_index]
            played_at[(round(note.onset_ql, 6), note.pitch)] = pair.perf_index
    pairs = []
    for pair in alignment.pairs:
        if pair.kind == "missed":
            note = score_notes[pair.score_index]
            twin = played_at.get((round(note.onset_ql, 6), note.pitch))
            if twin is not None:
                pair = replace(pair, kind="match", perf_index=twin)
        pairs.append(pair)
    return replace(alignment, pairs=tuple(pairs))


def _group_index(groups: list[_Onset], position_ql: float) -> int | None:
    for i, g in enumerate(groups):
        if abs(g.position_ql - position_ql) < 1e-6:
            return i
    return None


def _pedal_checker(performance: Performance):
    spans = performance.pedal_spans()

    def down(time_s: float) -> bool:
        return any(a <= time_s < b for a, b in spans)

    return down


def _scores(indices, events, outcome, per_note_rhythm, played, perf_of_score, is_audio):
    """(pitch, rhythm, intonation, overall) 0-100 over the score notes ``indices``."""
    index_set = set(indices)
    total = len(indices)
    extra = sum(1 for e in events if e.type == "extra")
    right = sum(1 for s in indices if outcome.get(s) in ("correct", "timing"))
    pitch = 100.0 * right / max(1, total + extra) if total else 100.0
    played_here = [s for s in indices if s in per_note_rhythm]
    rhythm = 100.0 * float(np.mean([per_note_rhythm[s] for s in played_here])) if played_here else 0.0
    if any(e.type == "short" or e.type == "long" for e in events):
        held_errors = sum(1 for e in events if e.type in ("short", "long"))
        rhythm *= max(0.5, 1.0 - 0.5 * held_errors / max(1, len(played_here)))
    intonation = None
    if is_audio:
        cents = [abs(played[perf_of_score[s]].cents) for s in index_set if s in perf_of_score and played[perf_of_score[s]].cents is not None]
        intonation = float(np.clip(100.0 * (1.0 - (np.mean(cents) - 5.0) / 45.0), 0.0, 100.0)) if cents else None
    restarts = sum(1 for e in events if e.type == "restart")
    if intonation is None:
        overall = 0.6 * pitch + 0.4 * rhythm
    else:
        overall = 0.5 * pitch + 0.3 * rhythm + 0.2 * intonation
    overall = max(0.0, overall - 2.0 * restarts)
    return pitch, rhythm, intonation, overall


def _measure_results(score, score_notes, events, outcome, per_note_rhythm, played, perf_of_score, groups, spq, is_audio):
    by_measure: dict[int, list[int]] = defaultdict(list)
    for s, note in enumerate(score_notes):
        by_measure[note.measure].append(s)
    events_by_measure: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        if e.measure is not None:
            events_by_measure[e.measure].append(e)
    results = []
    for measure in score.measures:
        indices = by_measure.get(measure.number, [])
        if not indices:
            continue
        here = events_by_measure.get(measure.number, [])
        pitch, rhythm, intonation, overall = _scores(indices, here, outcome, per_note_rhythm, played, perf_of_score, is_audio)
        tempos = [60.0 / spq[i] for i, g in enumerate(groups) if measure.start_ql - 1e-9 <= g.position_ql < measure.end_ql - 1e-9]
        results.append(MeasureResult(
            measure=measure.number, overall=overall, pitch=pitch, rhythm=rhythm, intonation=intonation,
            notes_total=len(indices), notes_correct=sum(1 for s in indices if outcome.get(s) == "correct"),
            errors=sum(1 for e in here if e.type != "correct"),
            bpm=float(np.median(tempos)) if tempos else None,
        ))
    return results


# ---------------------------------------------------------------------------------------------
# marks and annotated MusicXML
# ---------------------------------------------------------------------------------------------
def _wrong_text(e: Event) -> str:
    """A wrong note's mark: the pitch played, or 8va?/8vb? for the right note an octave away."""
    if e.played_pitch is not None and e.expected_pitch is not None and abs(e.played_pitch - e.expected_pitch) == 12:
        return "8va?" if e.played_pitch > e.expected_pitch else "8vb?"
    return f"{_played_name(e.played_pitch)}?"


_SHORT_TEXT = {
    "wrong_pitch": lambda e: _wrong_text(e), "missed": lambda e: "missed",
    "early": lambda e: f"early {abs(e.deviation_ms or 0):.0f}ms", "late": lambda e: "pause" if "hesitation" in e.message else f"late {abs(e.deviation_ms or 0):.0f}ms",
    "short": lambda e: "short", "long": lambda e: "long",
    "sharp": lambda e: f"+{abs(e.cents or 0):.0f}c", "flat": lambda e: f"-{abs(e.cents or 0):.0f}c",
}


def marks_for(events: list[Event] | tuple[Event, ...]) -> dict[str, dict[str, str]]:
    """note id -> {"color": "#RRGGBB", "text": short text} for the score view (errors only;
    correct notes get the colour of correct and no text). Extra notes and restarts, which have no
    score note of their own, are written on the score note that was due at that point."""
    by_note: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.note_id is not None:
            by_note[e.note_id].append(e)
    first_at: dict[float, str] = {}
    for e in events:
        if e.note_id is not None and e.score_position is not None:
            first_at.setdefault(round(e.score_position, 6), e.note_id)
    marks: dict[str, dict[str, str]] = {}
    for note_id, its in by_note.items():
        worst = min(its, key=lambda e: SEVERITY.index(e.type))
        text = ", ".join(dict.fromkeys(_SHORT_TEXT[e.type](e) + (f" ({pass_label(e.pass_number)})" if e.pass_number > 1 else "")
                                       for e in its if e.type in _SHORT_TEXT))
        marks[note_id] = {"color": COLORS[worst.type], "text": text}
    for e in events:
        if e.note_id is None and e.type in ("extra", "restart") and e.score_position is not None:
            target = first_at.get(round(e.score_position, 6))
            if target is None:
                continue
            mark = marks.setdefault(target, {"color": COLORS[e.type], "text": ""})
            extra_text = f"+{_played_name(e.played_pitch)}" if e.type == "extra" else "restart"
            mark["text"] = ", ".join(t for t in (mark["text"], extra_text) if t)
            if mark["color"] == COLORS["correct"]:
                mark["color"] = COLORS[e.type]
    return marks


def annotated_musicxml(score: Score, marks: Mapping[str, Mapping[str, str]]) -> bytes:
    """MusicXML of ``score`` with coloured noteheads and short text marks: ``marks`` are an
    ``Assessment``'s (note id -> ``{"color", "text"}``, as in its JSON)."""
    from tutor.score.io import musicxml_bytes

    colors = {k: v["color"] for k, v in marks.items()}
    texts = {k: v["text"] for k, v in marks.items() if v.get("text")}
    return musicxml_bytes(score, colors=colors, texts=texts)
