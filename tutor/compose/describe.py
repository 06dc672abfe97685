"""A suggestion said in musical words (issue 24): what it changes and why that is better.

"Fix 1: bars 3, 4 notes (model log-likelihood -9.4)" told a student nothing. ``describe_suggestion``
compares the suggestion's notes with the bars they replace, note by note where the rhythm is kept:
"bar 3 beat 2: F#4 -> F4 (in C major); keeps the rhythm". A continuation says its range and where it
ends. No Qt.
"""

from __future__ import annotations

import re

from tutor.score.analysis import estimate_key
from tutor.score.analysis import pitch_name as spelled
from tutor.score.music import Score


def _place(note) -> str:
    return f"bar {note.measure} beat {note.beat:g}"


def describe_suggestion(score: Score, suggestion, *, limit: int = 3) -> str:
    """What ``suggestion`` (``tutor.compose.suggest.Suggestion``) changes in ``score``, in words."""
    new = sorted(suggestion.notes, key=lambda n: (n.onset_ql, n.part, n.pitch))
    if not new:
        return "removes the notes of these bars"
    low, high = min(n.pitch for n in new), max(n.pitch for n in new)
    try:
        key = estimate_key(score)
    except Exception:  # noqa: BLE001 - a key is a nicety here
        key = None

    def pitch_name(pitch: int) -> str:
        return spelled(pitch, key)

    if suggestion.kind == "continuation":
        return (f"{len(new)} new notes from {pitch_name(new[0].pitch)}, between {pitch_name(low)} and "
                f"{pitch_name(high)}, ending on {pitch_name(new[-1].pitch)}")
    parts = {n.part for n in new}
    old = sorted((n for n in score.notes if suggestion.first_measure <= n.measure <= suggestion.last_measure
                  and n.part in parts), key=lambda n: (n.onset_ql, n.part, n.pitch))
    scale = key.scale if key is not None else frozenset()
    old_at = {(n.part, round(n.onset_ql, 4), round(n.duration_ql, 4)): n for n in old}
    rhythm_kept = len(old) == len(new) and all((n.part, round(n.onset_ql, 4), round(n.duration_ql, 4)) in old_at
                                               for n in new)
    changes = []
    if rhythm_kept:
        for n in new:
            before = old_at[(n.part, round(n.onset_ql, 4), round(n.duration_ql, 4))]
            if before.pitch != n.pitch:
                why = ""
                if scale and before.pitch % 12 not in scale and n.pitch % 12 in scale:
                    why = f" (in {key.name})"
                elif abs(n.pitch - before.pitch) <= 2:
                    why = " (a step smoother)" if abs(n.pitch - before.pitch) else ""
                changes.append(f"{_place(n)}: {pitch_name(before.pitch)} → {pitch_name(n.pitch)}{why}")
        if not changes:
            return "the same notes"
        more = f", and {len(changes) - limit} more" if len(changes) > limit else ""
        return "; ".join(changes[:limit]) + more + "; keeps the rhythm"
    kept = {(n.part, round(n.onset_ql, 4), n.pitch) for n in old} & {(n.part, round(n.onset_ql, 4), n.pitch) for n in new}
    return (f"rewrites the passage: {len(new)} notes instead of {len(old)}, {len(kept)} kept, "
            f"between {pitch_name(low)} and {pitch_name(high)}")


_NOTE_NAME = re.compile(r"\b([A-G])([#b]?)(-?\d)\b")
_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _midi(name: tuple[str, str, str]) -> int:
    step, accidental, octave = name
    return (int(octave) + 1) * 12 + _STEP[step] + {"#": 1, "b": -1, "": 0}[accidental]


def advice_suggestions(score: Score, findings: list[dict], first: int, last: int) -> list:
    """The critique's own advice as corrections to choose among the model's (issue 24: "use F4" was in the
    critique, and none of the proposals was it): each finding in bars ``first``-``last`` on one note whose
    suggestion names notes ("use F4 or G4 ...") gives one correction per named note, the rest of the bars
    as they are."""
    from dataclasses import replace

    from tutor.compose.suggest import Suggestion, _model_parts

    by_id = {n.id: n for n in score.notes}
    made, seen = [], set()
    for finding in findings:
        ids = finding.get("note_ids") or []
        measure = finding.get("measure")
        if len(ids) != 1 or ids[0] not in by_id or measure is None or not first <= int(measure) <= last:
            continue
        note = by_id[ids[0]]
        parts = {note.part} | set(_model_parts(score))
        bar_notes = [n for n in score.notes if n.part in parts and note.measure <= n.measure <= note.measure]
        for name in _NOTE_NAME.findall(finding.get("suggestion", "")):
            pitch = _midi(name)
            if pitch == note.pitch or abs(pitch - note.pitch) > 12 or (note.id, pitch) in seen:
                continue
            seen.add((note.id, pitch))
            notes = tuple(replace(n, pitch=pitch) if n.id == note.id else n for n in bar_notes)
            made.append(Suggestion("correction", note.measure, note.measure, notes, 0.0, keeps_rhythm=True,
                                   kept_notes=len(notes) - 1))
    return made


_RULE_WORDS = {
    "parallel_fifths": "parallel fifths", "parallel_octaves": "parallel octaves",
    "hidden_fifths_octaves": "hidden fifths or octaves", "voice_crossing": "crossed voices",
    "voice_overlap": "overlapping voices", "spacing": "wide spacing", "out_of_range": "a note out of range",
    "out_of_key": "an out-of-key note", "unresolved_leading_tone": "an unresolved leading tone",
    "unresolved_seventh": "an unresolved seventh", "augmented_interval": "an augmented interval",
    "large_leap": "a large leap", "unprepared_dissonance": "an unprepared dissonance",
    "incomplete_measure": "an incomplete bar", "no_final_cadence": "no final cadence",
    "weak_cadence": "a weak cadence", "monotonous_rhythm": "a monotonous rhythm",
    "repetitive_melody": "a repetitive melody",
}
_WEIGHT = {"error": 100, "warning": 10, "info": 1}


def rule_words(rule: str) -> str:
    """A critique rule in musical words ("out_of_key" -> "an out-of-key note"), as ``rank_by_fixes`` says it."""
    return _RULE_WORDS.get(rule, rule.replace("_", " "))


def _said(counter) -> str:
    items = []
    for (rule, measure), count in sorted(counter.items(), key=lambda item: (item[0][1], item[0][0])):
        words = rule_words(rule)
        items.append(f"{words} in bar {measure}" + (f" (×{count})" if count > 1 else ""))
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def rank_by_fixes(score: Score, suggestions: list, *, style: str | None = None) -> list[tuple[object, str]]:
    """The model's corrections ordered by what they fix (issue 24: they came in the model's likelihood
    order, and none said why it was better): the critique's rules are checked on the bars each one
    rewrites, before and after; a fixed error counts more than a fixed warning, a new one counts against
    it, and the model's likelihood breaks ties. Each comes with what it fixes (and breaks) in words:
    "fixes an out-of-key note in bar 3". Other kinds (continuations, harmonisations) keep their order."""
    from collections import Counter

    from tutor.compose.rules import check_rules
    from tutor.compose.suggest import apply_suggestion

    corrections = [s for s in suggestions if s.kind == "correction"]
    if not corrections:
        return [(s, "") for s in suggestions]
    try:
        before = check_rules(score, style=style)
    except Exception:  # noqa: BLE001 - the ranking is a help: without it, the model's order
        return [(s, "") for s in suggestions]
    ranked = []
    for position, s in enumerate(suggestions):
        if s.kind != "correction":
            ranked.append(((1, 0, position), s, ""))
            continue
        bars = range(s.first_measure, s.last_measure + 1)
        try:
            after = check_rules(apply_suggestion(score, s), style=style)
        except Exception:  # noqa: BLE001
            ranked.append(((0, 0, position), s, ""))
            continue
        old = Counter((f.rule, f.measure) for f in before if f.measure in bars and f.severity != "info")
        new = Counter((f.rule, f.measure) for f in after if f.measure in bars and f.severity != "info")
        severity = {(f.rule, f.measure): f.severity for f in (*before, *after)}
        fixed, broken = old - new, new - old
        gain = (sum(_WEIGHT[severity[k]] * c for k, c in fixed.items())
                - sum(_WEIGHT[severity[k]] * c for k, c in broken.items()))
        words = []
        if fixed:
            words.append("fixes " + _said(fixed))
        if broken:
            words.append("but brings " + _said(broken))
        ranked.append(((0, -gain, -s.log_likelihood), s, "; ".join(words) or "fixes no rule (the model's taste)"))
    ranked.sort(key=lambda item: item[0])
    return [(s, why) for _, s, why in ranked]
