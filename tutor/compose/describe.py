"""A suggestion said in musical words (issue 24): what it changes and why that is better.

"Fix 1: bars 3, 4 notes (model log-likelihood -9.4)" told a student nothing. ``describe_suggestion``
compares the suggestion's notes with the bars they replace, note by note where the rhythm is kept:
"bar 3 beat 2: F#4 -> F4 (in C major); keeps the rhythm". A continuation says its range and where it
ends. No Qt.
"""

from __future__ import annotations

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
