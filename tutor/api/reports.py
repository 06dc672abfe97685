"""The text reports of the analyses, each written from the analysis's JSON document, so that an answer
from a ``tutor serve`` host reads exactly like one made here. Each returns the report's lines."""

from __future__ import annotations

from tutor.practice.assessment import said_once
from tutor.score.analysis import pitch_name
from tutor.score.form import ordinal


def transcription_lines(doc: dict, *, name: str) -> list[str]:
    """``tutor transcribe``'s report of the recording called ``name``."""
    lines = [f"{name}: {len(doc['notes'])} notes ({doc['tracker']}, {doc['sample_rate']} Hz)"]
    for n in doc["notes"]:
        tuning = f"{n['cents']:+5.1f} cents" if n.get("cents") is not None else f"velocity {n.get('velocity', 80):3d}"
        lines.append(f"  {n['onset']:8.3f}-{n['offset']:8.3f} s  {pitch_name(n['pitch']):4s} ({n['pitch']:3d}) "
                     f"{tuning}  confidence {n['confidence']:.2f}")
    return lines


def assessment_lines(doc: dict) -> list[str]:
    """``tutor assess``'s report."""
    s = doc["summary"]
    intonation = "-" if s["intonation"] is None else f"{s['intonation']:.0f}"
    lines = [f"Overall {s['overall']:.0f}/100   pitch {s['pitch']:.0f}   rhythm {s['rhythm']:.0f}   intonation {intonation}",
             f"Notes right: {s['notes_correct']} of {s['notes_total']}"]
    if s.get("played_bpm"):
        asked = f" (asked {s['asked_bpm']:g})" if s.get("asked_bpm") else ""
        lines.append(f"Tempo: about {s['played_bpm']:.0f} bpm{asked}")
    lines += said_once(doc)
    if doc.get("practice_measures"):
        lines.append("Practise measures: " + ", ".join(str(m) for m in doc["practice_measures"]))
    errors = [e for e in doc.get("events", []) if e["type"] != "correct"]
    if errors:
        lines.append("")
    for e in errors:
        where = f"m. {e['measure']} beat {e['beat']:g}" if e.get("measure") is not None and e.get("beat") is not None else "-"
        if e.get("pass", 1) > 1 and where != "-":  # repeats: which time through (issue 21)
            where += f", {ordinal(e['pass'])} time"
        at = f"{e['time']:7.2f} s" if e.get("time") is not None else "      - "
        lines.append(f"{at}  {where:<18} {e['type']:<12} {e['message']}")
    return lines


def critique_lines(doc: dict) -> list[str]:
    """``tutor critique``'s report."""
    lines = [f"{doc['title']}: {doc['key']}, {doc['meter']}, {doc['texture']} ({len(doc['voices'])} voices), "
             f"rules for {doc['writing_style']}"]
    if len(doc["sections"]) > 1:
        lines.append("Keys:      " + "; ".join(f"m. {s['first_measure']}-{s['last_measure']} {s['key']}"
                                              for s in doc["sections"]))
    if doc.get("style"):
        top = sorted(doc["style"]["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        name = doc["style"]["name"] if doc["style"].get("sure", True) else f"not sure (nearest: {doc['style']['name']})"
        lines.append(f"Style:     {name} (" + ", ".join(f"{k} {v:.0%}" for k, v in top) + ")")
    if doc.get("emotion"):
        e = doc["emotion"]
        lines.append(f"Emotion:   {e['quadrant']} {e['label']} (valence {e['valence']:+.2f}, arousal {e['arousal']:+.2f})")
    for r in doc["ranges"]:
        lines.append(f"Range:     {r['text']}")
    cadences = [f"m. {p['last_measure']} {p['cadence']}" for p in doc["phrases"] if p.get("cadence")]
    if cadences:
        lines.append("Cadences:  " + ", ".join(cadences))
    if doc["chords"]:
        lines.append("Harmony:   " + " ".join(c["roman"] or "?" for c in doc["chords"][:24])
                     + (" ..." if len(doc["chords"]) > 24 else ""))
    counts = doc["counts"]
    lines.append(f"Findings:  {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes")
    for f in doc["findings"]:
        lines.append(f"  [{f['severity']}] m. {f['measure']} beat {f['beat']:g} {f['part']}: {f['rule']}: {f['message']}")
        lines.append(f"      -> {f['suggestion']}")
    return lines


def suggestion_lines(doc: dict) -> list[str]:
    """``tutor suggest``'s report."""
    if not doc["suggestions"]:
        return ["no suggestion passed the critique rules; try a larger -k, another --seed, or a wider range"
                " (a problem that starts before the passage can only be fixed together with it)"]
    lines = []
    for number, s in enumerate(doc["suggestions"], start=1):
        first, last = s["measures"]
        span = f"m{first}" if first == last else f"m{first}-{last}"
        rhythm = ", same rhythm" if s.get("keeps_rhythm") else ""
        if s["kind"] == "restyle":
            lines.append(f"{number}. restyle {span} as {s['style']} ({s['meter']}, {s['tempo_bpm']:g} bpm): "
                         f"{s['melody_notes_kept']} of {s['melody_notes']} melody notes kept, {s['errors']} rule errors, "
                         f"{s['warnings']} warnings, style model {100 * s['style_probability']:.0f} %")
            lines.append("   chords: " + " ".join(c["name"] for c in s["chords"]))
        else:
            lines.append(f"{number}. {s['kind']} {span} (log-likelihood {s['log_likelihood']:.1f}{rhythm})")
        by_part: dict[str, list[str]] = {}
        for n in s["notes"]:
            by_part.setdefault(n["part"], []).append(f"{pitch_name(n['pitch'])}/{n['duration']:g}")
        for part, names in sorted(by_part.items(), key=lambda item: (len(item[0]), item[0])):
            lines.append(f"   {part}: " + " ".join(names))
    return lines
