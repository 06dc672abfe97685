"""Proposals for a composition: continuations of a phrase and corrections of flagged bars.

``continue_piece(score, bars=N)`` asks the generator (``tutor.models.generator``) for k continuations of N
bars; ``correct_measures(score, first=M, last=N)`` for rewrites of measures M..N between the music around
them (fill in the middle), rhythm-keeping candidates first. Each candidate is re-checked with the critique
rules and dropped if, inside the passage, it breaks an error rule, still breaks a rule flagged there, or
has more warnings than the passage had; survivors are ranked by log-likelihood. Deterministic for a given
seed; torch is imported only inside functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tutor.errors import AnalysisError
from tutor.score.music import Measure, Note, Score, sort_notes, time_notes

RuleCheck = Callable[[Score], Sequence[Any]]
OVERSAMPLE = 3  # candidates drawn per suggestion asked for (duplicates and rule failures are dropped)
SEARCH_WIDTH = 16  # beams in the search for rhythm-keeping corrections
CLOSENESS_NATS = 2.0  # corrections: rank bonus per note of the passage kept (a prior against needless rewrites)


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "continuation" | "correction"
    first_measure: int
    last_measure: int
    notes: tuple[Note, ...]  # the new notes of measures first..last
    log_likelihood: float  # log p(these bars | the rest), natural log, under the generator
    keeps_rhythm: bool = False
    kept_notes: int = 0  # corrections: notes of the passage (part, onset, pitch) this one keeps

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "measures": [self.first_measure, self.last_measure],
            "notes": [
                {"pitch": n.pitch, "position": round(n.onset_ql, 4), "duration": round(n.duration_ql, 4), "part": n.part}
                for n in self.notes
            ],
            "log_likelihood": round(self.log_likelihood, 4),
            "keeps_rhythm": self.keeps_rhythm,
        }


# ---------------------------------------------------------------------------------------------
# the model and the rules, loaded once
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _model(path: str | None = None):
    from tutor.models.generator import load_generator

    return load_generator(path)


def one_thread(function):
    """Run ``function`` with torch on one thread (restored after): the generator's steps are tiny and
    batched, and one thread beats two on a shared CPU."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        from tutor.models.encoder import single_thread

        with single_thread():
            return function(*args, **kwargs)

    return run


def default_rule_check() -> RuleCheck:
    """``tutor.compose.rules.check_rules``: the rules a suggestion must pass."""
    from tutor.compose.rules import check_rules

    return check_rules


def finding_measures(finding: Any) -> set[int]:
    """Measure numbers a critique finding points at (whatever shape the finding has)."""
    out: set[int] = set()
    for name in ("measure", "first_measure", "last_measure", "measure_number"):
        value = getattr(finding, name, None)
        if isinstance(value, int):
            out.add(value)
    first, last = getattr(finding, "first_measure", None), getattr(finding, "last_measure", None)
    if isinstance(first, int) and isinstance(last, int):
        out.update(range(first, last + 1))
    for name in ("measures",):
        value = getattr(finding, name, None)
        if isinstance(value, (list, tuple, set, range)):
            out.update(int(v) for v in value if isinstance(v, int))
    for name in ("note_ids", "notes", "ids"):
        value = getattr(finding, name, None)
        if isinstance(value, (list, tuple, set)):
            for item in value:
                text = item if isinstance(item, str) else getattr(item, "id", "")
                out |= _measure_of_id(text)
    if isinstance(getattr(finding, "note_id", None), str):
        out |= _measure_of_id(finding.note_id)
    return out


def _measure_of_id(note_id: str) -> set[int]:
    for piece in str(note_id).split("-"):
        if piece.startswith("m") and piece[1:].lstrip("-").isdigit():
            return {int(piece[1:])}
    return set()


BLOCKING_SEVERITIES = ("error", "warning")  # "info" findings are matters of taste and do not block


def violations(score: Score, first: int, last: int, rule_check: RuleCheck | None, *, style: str | None = None) -> list:
    """Error and warning findings of ``rule_check`` on the whole score that touch measures
    first..last (a finding touches them by its measure or by any of its notes, so voice leading
    into and out of the passage counts)."""
    if rule_check is None:
        return []
    try:
        findings = rule_check(score, style=style)
    except TypeError:
        findings = rule_check(score)
    wanted = set(range(first, last + 1))
    return [
        f for f in findings
        if getattr(f, "severity", "error") in BLOCKING_SEVERITIES and finding_measures(f) & wanted
    ]


def remaining_problems(candidate: list, original: list) -> list:
    """The findings that make a candidate unacceptable, given the passage's own findings
    (both from ``violations``): any error, any rule that was flagged in the passage and still
    fires, or more warnings than the passage had (a correction must not make things worse)."""
    flagged = {getattr(f, "rule", None) for f in original}
    blocking = [f for f in candidate if getattr(f, "severity", "error") == "error" or getattr(f, "rule", None) in flagged]
    if not blocking and len(candidate) > len(original):
        return list(candidate)
    return blocking


def rules_style(style: str | None, tune_style: str) -> str | None:
    """The critique's writing style for a generator style (None: let the rules read the texture)."""
    if style is None:
        return "chorale" if tune_style == "chorale" else None
    return {"chorale": "chorale", "ryans": "dance_tune", "oneills": "dance_tune"}.get(style, "song")


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
@one_thread
def continue_piece(
    score: Score,
    *,
    bars: int,
    after_measure: int | None = None,
    k: int = 4,
    seed: int = 0,
    temperature: float = 1.0,
    top_p: float = 0.95,
    style: str | None = None,
    rule_check: RuleCheck | None | str = "default",
    model_path: str | None = None,
) -> list[Suggestion]:
    """k continuations of ``bars`` bars after ``after_measure`` (default: the last measure)."""
    from tutor.models.generator import BAR, BOS, EOS, TICKS_PER_QL

    _check_counts(bars=bars, k=k, temperature=temperature, top_p=top_p)
    tune, index = _tune_and_index(score, after_measure if after_measure is not None else score.measures[-1].number, style)
    last = score.measures[index]
    bar_ql = _bar_ql(last.time_signature)
    new_measures = [
        Measure(last.number + 1 + i, round(last.end_ql + i * bar_ql, 6), bar_ql, last.time_signature) for i in range(bars)
    ]
    bar_ticks = [round(bar_ql * TICKS_PER_QL)] * bars
    generate = _estimate_tokens(tune, bar_ticks)
    model = _model(model_path)
    prompt = tune.cond_tokens() + [BOS]
    generate = min(generate, model.config.context - len(prompt) - 8)
    context = _bars_before(tune, index + 1, model.config.context - len(prompt) - generate)
    samples = _draw(model, prompt + context, k=k + max(1, k // 2), bar_ticks=bar_ticks, multi=tune.multi_voice, end=(BAR, EOS),
                    seed=seed, temperature=temperature, top_p=top_p, max_tokens=generate,
                    previous=_previous_pitches(tune, index + 1))
    check = default_rule_check() if rule_check == "default" else rule_check
    out = []
    for tokens, log_likelihood, finished in samples:
        if not finished:
            continue
        notes = _notes_from_tokens(score, tokens, new_measures, tune.multi_voice)
        out.append(Suggestion("continuation", new_measures[0].number, new_measures[-1].number, notes, log_likelihood))
    out.sort(key=lambda s: -s.log_likelihood)
    if check is None:
        return out[:k]
    # rule-clean continuations first, each group by likelihood; checked best first until k are clean
    rstyle = rules_style(style, tune.style)
    clean, flagged = [], []
    for s in out:
        if len(clean) >= k:
            break
        problems = violations(apply_suggestion(score, s), s.first_measure, s.last_measure, check, style=rstyle)
        (flagged if problems else clean).append(s)
    return (clean + flagged)[:k]


@one_thread
def correct_measures(
    score: Score,
    *,
    first: int,
    last: int,
    k: int = 4,
    seed: int = 0,
    temperature: float = 1.0,
    top_p: float = 0.95,
    style: str | None = None,
    rule_check: RuleCheck | None | str = "default",
    keep_rhythm: bool = True,
    closeness: float | None = None,
    model_path: str | None = None,
) -> list[Suggestion]:
    """k rewrites of measures first..last that fit between the music around them, best first.

    With ``keep_rhythm`` the rhythm-preserving candidates (same onsets and durations, new
    pitches) come first: the best ones by beam search (``tutor.models.generator.search``) and
    sampled ones; free rewrites are drawn only when too few of those pass the rules. Candidates
    are ranked by ``log_likelihood + closeness * kept_notes`` (``closeness``, default
    ``CLOSENESS_NATS``, is a prior for keeping the passage's own notes, so that a correction
    changes the wrong notes rather than rewriting the passage; 0 ranks by likelihood alone) and
    re-checked with the critique rules in that order until k pass. Candidates identical to the
    current passage, and candidates with ``remaining_problems``, are dropped.
    """
    from tutor.models.generator import EOM, is_pitch, search

    _check_counts(bars=last - first + 1, k=k, temperature=temperature, top_p=top_p)
    if first > last:
        raise AnalysisError(f"measure range {first}-{last} is empty (first must not exceed last)")
    closeness = CLOSENESS_NATS if closeness is None else float(closeness)
    tune, start = _tune_and_index(score, first, style)
    _, end = _tune_and_index(score, last, style)
    measures = list(score.measures[start:end + 1])
    bar_ticks = tune.bar_ticks[start:end + 1]
    original = [t for i in range(start, end + 1) for t in tune.bar_tokens(i)]
    check = default_rule_check() if rule_check == "default" else rule_check
    model = _model(model_path)
    generate = max(len(original) + 1, _estimate_tokens(tune, bar_ticks))
    prompt = fim_prompt(tune, start, end, room=model.config.context - generate)
    if len(prompt) < 5:
        raise AnalysisError(f"measures {first}-{last} are too long to rewrite at once; choose fewer measures")
    rstyle = rules_style(style, tune.style)
    flagged = violations(score, first, last, check, style=rstyle) if check is not None else []
    current = _note_keys(_passage_notes(score, measures[0].start_ql, measures[-1].end_ql))
    previous = _previous_pitches(tune, start)
    seen = {tuple(original)}
    pending: list[tuple[float, Suggestion]] = []  # (rank score, candidate) not yet checked

    def add(tokens, log_likelihood: float, rhythm: bool) -> None:
        if tokens in seen:
            return
        seen.add(tokens)
        notes = _notes_from_tokens(score, tokens, measures, tune.multi_voice)
        kept_notes = len(current & _note_keys(notes))
        pending.append((log_likelihood + closeness * kept_notes,
                        Suggestion("correction", first, last, notes, log_likelihood, keeps_rhythm=rhythm,
                                   kept_notes=kept_notes)))

    accepted: list[tuple[float, Suggestion]] = []

    def check_pending() -> None:  # best first, until k pass
        pending.sort(key=lambda c: -c[0])
        while pending and len(accepted) < k:
            rank, suggestion = pending.pop(0)
            if check is None or not remaining_problems(
                violations(apply_suggestion(score, suggestion), first, last, check, style=rstyle), flagged
            ):
                accepted.append((rank, suggestion))

    slots = [i for i, t in enumerate(original) if is_pitch(t)]
    if keep_rhythm and slots:
        template = [None if is_pitch(t) else t for t in original] + [EOM]
        bonus = {i: (original[i], closeness) for i in slots} if closeness else None
        for found, _ in search(model, prompt, template=template, bar_ticks=bar_ticks, multi_voice=tune.multi_voice,
                               end_tokens=(EOM,), width=SEARCH_WIDTH, bonus=bonus, previous_pitches=previous):
            add(found.tokens, found.log_likelihood, True)
        targets = _flagged_slots(score, tune, start, original, flagged)
        templates = [[None if i in free else t for i, t in enumerate(original)] + [EOM]
                     for free in _pitch_choices(slots, targets, OVERSAMPLE * k, seed)]
        for tokens, log_likelihood, finished in _draw(
            model, prompt, k=len(templates), bar_ticks=bar_ticks, multi=tune.multi_voice, end=(EOM,), seed=seed,
            temperature=temperature, top_p=top_p, templates=templates, max_tokens=generate, previous=previous,
        ):
            if finished:
                add(tokens, log_likelihood, True)
        check_pending()
    if len(accepted) < k:  # free rewrites: new rhythm too (check_pending left nothing pending)
        for tokens, log_likelihood, finished in _draw(
            model, prompt, k=OVERSAMPLE * k, bar_ticks=bar_ticks, multi=tune.multi_voice, end=(EOM,),
            seed=seed + 7919, temperature=temperature, top_p=top_p, max_tokens=generate, previous=previous,
        ):
            if finished:
                add(tokens, log_likelihood, False)
        check_pending()
    accepted.sort(key=lambda c: -c[0])
    return [suggestion for _, suggestion in accepted[:k]]


def fim_prompt(tune, start: int, end: int, *, room: int) -> list[int]:
    """The fill-in-the-middle prompt for rewriting bars start..end (indices) of ``tune``: the
    conditioning tokens, as many bars before (60 % of ``room`` tokens) and after as fit, MID."""
    from tutor.models.generator import MID, PRE, SUF

    room -= 5
    if room < 0:
        return []
    prefix = _bars_before(tune, start, int(room * 0.6))
    suffix = _bars_after(tune, end + 1, room - len(prefix))
    return tune.cond_tokens() + [PRE] + prefix + [SUF] + suffix + [MID]


def _passage_notes(score: Score, start_ql: float, end_ql: float) -> list[Note]:
    parts = _model_parts(score)
    return [n for n in score.notes if n.part in parts and n.duration_ql > 0 and start_ql - 1e-6 <= n.onset_ql < end_ql - 1e-6]


def _note_keys(notes) -> set[tuple[str, float, int]]:
    return {(n.part, round(n.onset_ql, 3), n.pitch) for n in notes}


def _pitch_choices(slots: list[int], targets: set[int], count: int, seed: int) -> list[set[int]]:
    """Which pitch slots each rhythm-keeping candidate may change: a third change only the notes
    the rules flagged (and a few neighbours), a third a random half of the notes, a third all of
    them; so that small repairs that keep the good notes compete with full rewrites."""
    import random

    rng = random.Random(seed)
    out = []
    for index in range(count):
        kind = index % 3
        if kind == 0 and targets:
            free = set(targets) if index == 0 else targets | {s for s in slots if rng.random() < 0.25}
        elif kind in (0, 1):
            free = {s for s in slots if rng.random() < 0.5} or {rng.choice(slots)}
        else:
            free = set(slots)
        out.append(free)
    return out


def _flagged_slots(score: Score, tune, start: int, original: list[int], findings: list) -> set[int]:
    """Indices in ``original`` (the passage's tokens) of the pitches of notes the findings name."""
    from tutor.models.generator import TICKS_PER_QL, decode_bars, is_pitch

    voice_of = {p.id: i for i, p in enumerate(score.parts)} if tune.multi_voice else None
    wanted = set()
    for finding in findings:
        for note_id in getattr(finding, "note_ids", ()) or ():
            try:
                note = score.note_by_id(note_id)
            except KeyError:
                continue
            measure = score.measure_at(note.onset_ql)
            if measure is None:
                continue
            bar = [m.number for m in score.measures].index(measure.number) - start
            ticks = round((note.onset_ql - measure.start_ql) * TICKS_PER_QL)
            voice = voice_of.get(note.part, 0) if voice_of is not None else 0
            wanted.add((bar, ticks, voice, note.pitch))
    slots = [i for i, t in enumerate(original) if is_pitch(t)]
    notes = [(b, n.onset_ticks, n.voice, n.pitch) for b, bar in enumerate(decode_bars(original)) for n in bar]
    return {slot for slot, key in zip(slots, notes, strict=False) if key in wanted}


def flagged_ranges(score: Score, *, style: str | None = None, rule_check: RuleCheck | None | str = "default",
                   max_ranges: int = 4, max_bars: int = 2) -> list[tuple[int, int]]:
    """Measure ranges (at most ``max_bars`` long) holding the critique's error and warning
    findings, errors first, then in score order; what ``--fix-flagged`` corrects."""
    check = default_rule_check() if rule_check == "default" else rule_check
    if check is None:
        raise AnalysisError("the critique rules (tutor.compose.rules) are not available to find flagged measures")
    try:
        findings = check(score, style=style)
    except TypeError:
        findings = check(score)
    numbers = {m.number for m in score.measures}
    worst: dict[int, int] = {}
    for finding in findings:
        severity = getattr(finding, "severity", "error")
        if severity not in BLOCKING_SEVERITIES:
            continue
        rank = BLOCKING_SEVERITIES.index(severity)
        for number in {getattr(finding, "measure", None)} & numbers:
            worst[number] = min(worst.get(number, rank), rank)
    ranges: list[list[int]] = []
    for number in sorted(worst):
        if ranges and number == ranges[-1][1] + 1 and number - ranges[-1][0] < max_bars:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    ranges.sort(key=lambda r: (min(worst[n] for n in range(r[0], r[1] + 1) if n in worst), r[0]))
    return [(first, last) for first, last in ranges[:max_ranges]]


def apply_suggestion(score: Score, suggestion: Suggestion) -> Score:
    """The score with the suggestion's measures replaced (or appended, for a continuation).

    Notes of the rewritten parts that start inside the range are removed; notes that start
    before it and sound into it are cut at its start. Parts the model did not write are kept.
    """
    parts = {n.part for n in suggestion.notes} | _model_parts(score)
    measures = list(score.measures)
    last_existing = measures[-1].number if measures else 0
    if suggestion.last_measure > last_existing:
        bar = measures[-1]
        bar_ql = _bar_ql(bar.time_signature)
        for number in range(max(last_existing + 1, suggestion.first_measure), suggestion.last_measure + 1):
            start = measures[-1].end_ql
            measures.append(Measure(number, round(start, 6), bar_ql, bar.time_signature))
    span = [m for m in measures if suggestion.first_measure <= m.number <= suggestion.last_measure]
    start_ql, end_ql = span[0].start_ql, span[-1].end_ql
    kept = []
    for note in score.notes:
        if note.part in parts and start_ql - 1e-6 <= note.onset_ql < end_ql - 1e-6:
            continue
        if note.part in parts and note.onset_ql < start_ql - 1e-6 and note.offset_ql > start_ql + 1e-6:
            note = replace(note, duration_ql=round(start_ql - note.onset_ql, 6), tied_ids=())
        kept.append(note)
    notes = time_notes(sort_notes([*kept, *suggestion.notes]), score.tempo_map)
    return replace(score, notes=notes, measures=tuple(measures))


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _check_counts(*, bars: int, k: int, temperature: float, top_p: float) -> None:
    if not 1 <= bars <= 16:
        raise AnalysisError(f"can suggest 1 to 16 bars at a time, not {bars}")
    if not 1 <= k <= 16:
        raise AnalysisError(f"can make 1 to 16 suggestions at a time, not {k}")
    if not temperature > 0:
        raise AnalysisError(f"temperature must be positive, not {temperature}")
    if not 0 < top_p <= 1:
        raise AnalysisError(f"top-p must be in (0, 1], not {top_p}")


def _model_parts(score: Score) -> set[str]:
    from tutor.models.generator import MAX_VOICES

    return {p.id for p in score.parts[:MAX_VOICES]}


def _tune_and_index(score: Score, measure_number: int, style: str | None):
    from tutor.models.generator import tune_from_score

    if not score.notes:
        raise AnalysisError("the score has no notes to continue or correct")
    numbers = [m.number for m in score.measures]
    if measure_number not in numbers:
        raise AnalysisError(f"no measure {measure_number}; the piece has measures {min(numbers)}-{max(numbers)}")
    tune = tune_from_score(score, style=style)
    if tune is None:
        raise AnalysisError("the score has bars longer than 8 quarter notes, which the generator cannot write")
    index = numbers.index(measure_number)
    position = score.measures[index].start_ql
    keys = [ks for ks in score.key_signatures if ks.position_ql <= position + 1e-6]
    if keys:  # the key in force at the passage
        tune.fifths, tune.mode = keys[-1].fifths, keys[-1].mode
    return tune, index


def _bar_ql(time_signature: str) -> float:
    try:
        numerator, denominator = (int(x) for x in time_signature.split("/"))
        return numerator * 4.0 / denominator
    except (ValueError, ZeroDivisionError):
        return 4.0


def _estimate_tokens(tune, bar_ticks: list[int]) -> int:
    """Room to leave for generated bars: twice the piece's densest bar per quarter note."""
    from tutor.models.generator import TICKS_PER_QL

    density = max((len(tune.bar_tokens(i)) / max(t / TICKS_PER_QL, 0.5) for i, t in enumerate(tune.bar_ticks)), default=4)
    return int(sum(t / TICKS_PER_QL for t in bar_ticks) * max(density, 4) * 1.6) + 8


def _bars_before(tune, index: int, budget: int) -> list[int]:
    out: list[int] = []
    for i in range(index - 1, -1, -1):
        tokens = tune.bar_tokens(i)
        if len(out) + len(tokens) > budget:
            break
        out = tokens + out
    return out


def _bars_after(tune, index: int, budget: int) -> list[int]:
    out: list[int] = []
    for i in range(index, len(tune.bars)):
        tokens = tune.bar_tokens(i)
        if len(out) + len(tokens) > budget:
            break
        out += tokens
    return out


def _previous_pitches(tune, index: int) -> dict[int, tuple[int, ...]]:
    """Each voice's last two pitches (in order) in the bars before bar ``index``."""
    out: dict[int, list[int]] = {}
    for i in range(index - 1, -1, -1):
        for note in sorted(tune.bars[i], key=lambda n: n.onset_ticks, reverse=True):
            if len(out.setdefault(note.voice, [])) < 2:
                out[note.voice].insert(0, note.pitch)
        if len(out) >= 4 and all(len(p) == 2 for p in out.values()):
            break
    return {voice: tuple(pitches) for voice, pitches in out.items()}


def _draw(model, prompt, *, k, bar_ticks, multi, end, seed, temperature, top_p, templates=None, max_tokens=None,
          previous=None):
    from tutor.models.generator import sample

    if max_tokens is not None:
        max_tokens = min(max_tokens, model.config.context - len(prompt))
    samples = sample(model, prompt, count=k, bar_ticks=bar_ticks, multi_voice=multi, end_tokens=end, seed=seed,
                     temperature=temperature, top_p=top_p, templates=templates, max_tokens=max_tokens,
                     previous_pitches=previous)
    return [(s.tokens, s.log_likelihood, s.finished) for s in samples]


def _notes_from_tokens(score: Score, tokens, measures: list[Measure], multi: bool) -> tuple[Note, ...]:
    from tutor.models.generator import TICKS_PER_QL, decode_bars

    part_ids = [p.id for p in score.parts] or ["P1"]
    notes = []
    for bar_notes, measure in zip(decode_bars(list(tokens)), measures, strict=False):
        counters: dict[str, int] = {}
        for tn in sorted(bar_notes, key=lambda n: (n.voice, n.onset_ticks, n.pitch)):
            part = part_ids[min(tn.voice, len(part_ids) - 1)] if multi else part_ids[0]
            offset_ql = tn.onset_ticks / TICKS_PER_QL
            duration_ql = min(tn.duration_ticks / TICKS_PER_QL, measure.duration_ql - offset_ql)
            number = counters.get(part, 0)
            counters[part] = number + 1
            notes.append(Note(
                id=f"{part}-m{measure.number}-n{number}", pitch=tn.pitch,
                onset_ql=round(measure.start_ql + offset_ql, 6), duration_ql=round(duration_ql, 6),
                onset_s=0.0, duration_s=0.0, part=part, measure=measure.number,
                beat=round(_beat(measure.time_signature, offset_ql), 4), voice=1,
            ))
    return time_notes(sort_notes(notes), score.tempo_map)


def _beat(time_signature: str, offset_ql: float) -> float:
    try:
        numerator, denominator = (int(x) for x in time_signature.split("/"))
    except ValueError:
        return 1.0 + offset_ql
    beat_ql = 1.5 if denominator == 8 and numerator % 3 == 0 and numerator > 3 else 4.0 / denominator
    return 1.0 + offset_ql / beat_ql
