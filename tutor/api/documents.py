"""Analysis documents (the JSON of ``tutor COMMAND --json``) read back into music objects, for an
answer that came from a ``tutor serve`` host: the notes of a transcription, suggestions against the
piece they were made for, and the annotated MusicXML of an assessment or a critique."""

from __future__ import annotations

from tutor.score.music import Note, PlayedNote, sort_notes, time_notes


def played_notes(doc: dict) -> tuple[PlayedNote, ...]:
    """The transcribed notes of a ``tutor transcribe --json`` document (velocity 80, as the single-line
    transcriber's, unless the document gives it; cents None for a piano's)."""
    return tuple(PlayedNote(pitch=int(n["pitch"]), onset_s=float(n["onset"]), offset_s=float(n["offset"]),
                            velocity=int(n.get("velocity") or 80),
                            cents=float(n["cents"]) if n.get("cents") is not None else None,
                            confidence=float(n["confidence"])) for n in doc["notes"])


def suggestion_from_json(score, doc: dict):
    """A ``tutor.compose.suggest.Suggestion`` rebuilt from its JSON against the piece it was made for
    (note ids and beats are made the way the generator makes them)."""
    from tutor.compose.suggest import Suggestion, _bar_ql, _beat

    if doc["kind"] == "restyle":  # a whole new piece (its own metre and tempo)
        from tutor.compose.restyle import restyled_from_json

        return restyled_from_json(score, doc)
    first, last = doc["measures"]
    measures = list(score.measures)

    def bar_of(onset_ql: float) -> tuple[int, float, str]:
        for m in reversed(measures):
            if m.start_ql <= onset_ql + 1e-6:
                if onset_ql < m.end_ql - 1e-6:
                    return m.number, m.start_ql, m.time_signature
                break
        end = measures[-1]  # a continuation after the last bar: bars as long as its time signature
        length = _bar_ql(end.time_signature)
        k = int((onset_ql - end.end_ql + 1e-6) // length)
        return end.number + 1 + k, end.end_ql + k * length, end.time_signature

    notes, counters = [], {}
    for n in doc["notes"]:
        onset = float(n["position"])
        number, start, signature = bar_of(onset)
        count = counters.get((n["part"], number), 0)
        counters[(n["part"], number)] = count + 1
        notes.append(Note(id=f"{n['part']}-m{number}-n{count}", pitch=int(n["pitch"]), onset_ql=onset,
                          duration_ql=float(n["duration"]), onset_s=0.0, duration_s=0.0, part=n["part"],
                          measure=number, beat=round(_beat(signature, onset - start), 4), voice=1))
    return Suggestion(kind=doc["kind"], first_measure=int(first), last_measure=int(last),
                      notes=time_notes(sort_notes(notes), score.tempo_map), log_likelihood=float(doc["log_likelihood"]),
                      keeps_rhythm=bool(doc.get("keeps_rhythm", False)))


def suggest_result_from_json(score, request, doc: dict):
    """The ``SuggestResult`` of a ``tutor suggest --json`` document."""
    from tutor.api.analyses import SuggestResult

    return SuggestResult(request, tuple(suggestion_from_json(score, s) for s in doc["suggestions"]))


def annotated_musicxml(score, kind: str, doc: dict) -> bytes:
    """The score with the marks of an ``assess`` or ``critique`` document (coloured noteheads and texts),
    the same file ``tutor assess/critique -o`` writes."""
    if kind == "assess":
        from tutor.practice.assessment import annotated_musicxml as with_marks

        return with_marks(score, doc.get("marks", {}))
    from tutor.compose.critique import annotated_musicxml as with_findings

    return with_findings(score, doc.get("findings", []))
