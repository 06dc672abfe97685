"""The analyses, called the same way by the CLI, ``tutor serve``, batch marking, the remote client and
the app: a typed request in, a result with its JSON document out. Heavy modules (torch, music21's
corpus, the models) are imported when an analysis runs, never at import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.api.requests import (
    AssessRequest,
    GenerateRequest,
    LessonAttemptRequest,
    SuggestRequest,
    TranscribeRequest,
)
from tutor.errors import AnalysisError


def transcribe(request: TranscribeRequest, *, progress=None):
    """The notes of a monophonic recording (``tutor.listen.transcription.Transcription``), or of a piano
    take with ``instrument="piano"`` (``tutor.listen.piano.PianoTranscription``);
    ``progress(fraction, text)`` hears each block (it may raise to cancel)."""
    if request.piano:
        from tutor.listen.piano import transcribe_piano_file

        return transcribe_piano_file(request.audio, device=request.device, progress=progress)
    from tutor.listen.transcription import transcribe_file

    return transcribe_file(request.audio, tracker=request.tracker, device=request.device, progress=progress,
                           instrument=request.instrument)


def transcription_json(result, *, onset_odds: bool = False) -> dict:
    """The ``tutor transcribe --json`` document (``onset_odds``: a piano transcription's onset odds too,
    for the app's review of a take transcribed on a host, issue 20)."""
    from tutor.listen.piano import PianoTranscription, piano_transcription_json

    if isinstance(result, PianoTranscription):
        return piano_transcription_json(result, onset_odds=onset_odds)
    from tutor.listen.transcription import transcription_json as as_json

    return as_json(result)


def assess(score, request: AssessRequest):
    """The ``Assessment`` of the take in ``request`` against ``score`` (a take with no notes is an error)."""
    from tutor.listen.piano_evidence import evidence_for_take
    from tutor.listen.takes import load_performance, take_instrument
    from tutor.practice.assessment import assess as judge
    from tutor.practice.assessment import select

    instrument = take_instrument(select(score, part=request.part, measures=request.measures), request.instrument)
    performance = load_performance(request.take, instrument=instrument)
    if not performance.notes:
        raise AnalysisError("no notes were played (or none could be heard) in this take", path=request.take)
    # a second listen at the pitches the alignment finds missed (issue 20: merged repeats and trills)
    evidence = evidence_for_take(request.take, instrument)
    return judge(score, performance, part=request.part, measures=request.measures, bpm=request.tempo_bpm,
                 level=request.level, repeats=request.repeats, evidence=evidence)


def assessed_score(score, request: AssessRequest):
    """The part and measures of ``score`` that ``request`` assesses (what an annotated score shows)."""
    from tutor.practice.assessment import select

    return select(score, part=request.part, measures=request.measures)


def critique(score):
    """The ``Critique`` of a composition (rules, key, style and emotion)."""
    from tutor.compose.critique import critique as run

    return run(score)


@dataclass(frozen=True)
class SuggestResult:
    """The suggestions for one request, best first."""

    request: SuggestRequest
    suggestions: tuple

    def to_json(self) -> dict:
        """The ``tutor suggest --json`` document."""
        return {"suggestions": [s.to_json() for s in self.suggestions]}


def suggest(score, request: SuggestRequest, *, progress=None) -> SuggestResult:
    """Continuations, corrections or harmonisations of ``score``; ``progress(fraction, text)`` hears a
    harmonisation's progress (it may raise to cancel)."""
    from tutor.compose.suggest import continue_piece, correct_measures, flagged_ranges

    if request.kind == "restyle":
        from tutor.compose.restyle import restyle

        return SuggestResult(request, tuple(restyle(score, style=request.style, k=request.k, seed=request.seed,
                                                    progress=progress)))
    if request.kind == "harmonize" and request.style in ("pop", "jazz"):
        from tutor.compose.restyle import harmonize_in_style

        return SuggestResult(request, tuple(harmonize_in_style(score, style=request.style, k=request.k, seed=request.seed)))
    if request.kind == "harmonize":
        from tutor.compose.harmonize import harmonize

        found = harmonize(score, style=request.style or "chorale", k=request.k, seed=request.seed, top_p=request.top_p,
                          progress=progress, **({} if request.temperature is None else {"temperature": request.temperature}))
        return SuggestResult(request, tuple(found))
    temperature = 1.0 if request.temperature is None else request.temperature
    options = dict(k=request.k, seed=request.seed, temperature=temperature, top_p=request.top_p, style=request.style)
    if request.kind == "continue":
        found = continue_piece(score, bars=request.bars, after_measure=request.after, **options)
    elif request.kind == "fix_flagged":
        found = []
        for first, last in flagged_ranges(score):
            found += correct_measures(score, first=first, last=last, keep_rhythm=not request.free_rhythm, **options)
    else:
        first, last = request.fix
        found = correct_measures(score, first=first, last=last, keep_rhythm=not request.free_rhythm, **options)
    return SuggestResult(request, tuple(found))


def with_suggestions(score, result: SuggestResult):
    """``score`` with the best suggestion of each place applied (the harmonised piece for a harmonisation)."""
    from tutor.compose.suggest import apply_suggestion

    if not result.suggestions:
        raise AnalysisError("no suggestion to apply: none passed the rules; ask for more (-k) or another --seed")
    if result.request.kind == "restyle":  # the whole piece, rewritten
        return result.suggestions[0].score
    if result.request.kind == "harmonize":
        from tutor.compose.harmonize import harmonized_score

        return harmonized_score(score, result.suggestions[0])
    applied, done = score, set()
    for suggestion in result.suggestions:  # the best of each place (one place unless fix_flagged)
        if (suggestion.first_measure, suggestion.last_measure) not in done:
            applied = apply_suggestion(applied, suggestion)
            done.add((suggestion.first_measure, suggestion.last_measure))
    return applied


def places_applied(result: SuggestResult) -> int:
    return len({(s.first_measure, s.last_measure) for s in result.suggestions})


def generate(request: GenerateRequest):
    """A new piece from a brief (``tutor.compose.generate.Generated``)."""
    from tutor.compose.generate import generate as make
    from tutor.compose.generate import parse_brief

    brief = parse_brief(style=request.style, mood=request.mood, key=request.key, meter=request.meter,
                        bars=request.bars, seed=request.seed, pitch_range=request.pitch_range)
    return brief, make(brief)


def similar(score, *, n: int = 10) -> list:
    """The ``n`` pieces nearest to ``score`` (``tutor.compose.similar.SimilarPiece``)."""
    from tutor.compose.similar import find_similar

    if n < 1:
        raise AnalysisError("-n must be at least 1")
    return find_similar(score, n=n)


def lesson_attempt(request: LessonAttemptRequest, *, catalog=None) -> dict:
    """Judge a take (or a composition) for an exercise, record the attempt, and say what it unlocked:
    the ``tutor lessons start --json`` document."""
    from tutor.lessons.plans import load_catalog, take_exercise

    catalog = catalog or load_catalog()
    exercise = catalog.exercise(request.exercise)
    return record_lesson_attempt(catalog, exercise,
                                 lambda: take_exercise(exercise, request.performance, tempo_bpm=request.tempo_bpm))


def record_lesson_attempt(catalog, exercise, judge, *, db_path: Path | None = None) -> dict:
    """Record the ``TakeResult`` that ``judge()`` makes for ``exercise`` (the database is opened first,
    so a damaged one stops before any work) and describe the attempt as ``tutor lessons start --json``."""
    from tutor.lessons.plans import completed_units, unlocked_exercises, unlocked_units
    from tutor.lessons.progress import ProgressDB

    with ProgressDB(db_path) as db:
        passed_before = db.passed_exercises()
        was_open = exercise.id in unlocked_exercises(catalog, passed_before)
        result = judge()
        attempt = db.record_attempt(
            exercise_id=exercise.id, passed=result.passed, summary=result.summary, events=result.event_counts,
            duration_s=result.duration_s, recording_path=result.recording_path, tempo_bpm=result.tempo_bpm,
            level=exercise.level,
        )
        passed_after = db.passed_exercises()
        state = db.states().get(exercise.id)
    new_units = sorted(unlocked_units(catalog, passed_after) - unlocked_units(catalog, passed_before))
    new_exercises = sorted(unlocked_exercises(catalog, passed_after) - unlocked_exercises(catalog, passed_before))
    finished_units = sorted(completed_units(catalog, passed_after) - completed_units(catalog, passed_before))
    goal_reached = result.passed and result.tempo_bpm is not None and result.tempo_bpm >= exercise.tempo_goal_bpm
    return {
        "exercise": exercise.id, "kind": exercise.kind, "passed": result.passed, "reasons": list(result.reasons),
        "summary": result.summary, "events": result.event_counts, "tempo": result.tempo_bpm,
        "tempo_goal": exercise.tempo_goal_bpm, "tempo_goal_reached": goal_reached,
        "best_overall": state.best_overall if state else None,
        "completed_units": finished_units, "unlocked": {"units": new_units, "exercises": new_exercises},
        "was_unlocked": was_open, "attempt": attempt.uid, "details": result.details,
    }


def load(source: str | Path, *, index: int | None = None) -> Any:
    """The ``Score`` in a file or a ``corpus:`` reference."""
    from tutor.score.io import load_score

    return load_score(source, index=index)
