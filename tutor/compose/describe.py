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
