"""Composition critique: what a composition teacher would say about a score.

``critique(score)`` analyses the piece (``tutor.score.analysis``), asks the style and emotion models
(``tutor.models``, torch, loaded lazily) what it sounds like, runs the theory rules that fit its
style (``tutor.compose.rules``) and returns one frozen ``Critique``. ``annotated_musicxml(score, findings)``
writes the score back with the notes of each finding coloured by severity and labelled with the
rule id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tutor.compose.rules import RULES, Finding, check_rules, context, writing_style
from tutor.errors import AnalysisError
from tutor.score.analysis import Analysis, analyse
from tutor.score.music import Score

SEVERITY_COLORS = {"error": "#D32F2F", "warning": "#EF6C00", "info": "#1565C0"}
STYLE_CONFIDENCE = 0.5  # below this the rules follow the texture rather than the style model


@dataclass(frozen=True)
class StyleLabel:
    label: str
    name: str
    probabilities: dict[str, float]
    sure: bool = True  # False: far from every piece the style model knows ("not sure")
    names: dict[str, str] = field(default_factory=dict)  # class id -> its name for people ("folk_song": "Folk song")


@dataclass(frozen=True)
class EmotionLabel:
    quadrant: str
    label: str
    valence: float
    arousal: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Critique:
    key: str
    meter: str
    writing_style: str  # the rule set applied (tutor.compose.rules.STYLES)
    analysis: Analysis
    findings: tuple[Finding, ...]
    style: StyleLabel | None
    emotion: EmotionLabel | None
    title: str = ""  # the piece's title (or its file's name)

    @property
    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] += 1
        return out

    def as_json(self) -> dict:
        """The ``tutor critique --json`` document (exact field names: outside tests read them)."""
        a = self.analysis
        return {
            "title": self.title,
            "key": self.key,
            "meter": self.meter,
            "findings": [f.as_dict() for f in self.findings],
            "style": ({"label": self.style.label, "probabilities": {k: round(v, 4) for k, v in self.style.probabilities.items()},
                       "name": self.style.name, "sure": self.style.sure,
                       "names": {k: self.style.names.get(k, k) for k in self.style.probabilities}} if self.style else None),
            "emotion": ({"quadrant": self.emotion.quadrant, "label": self.emotion.label,
                         "valence": round(self.emotion.valence, 4), "arousal": round(self.emotion.arousal, 4),
                         "probabilities": {k: round(v, 4) for k, v in self.emotion.probabilities.items()}}
                        if self.emotion else None),
            "writing_style": self.writing_style,
            "sections": [{"first_measure": s.first_measure, "last_measure": s.last_measure, "key": s.key.name}
                         for s in a.sections],
            "texture": a.texture,
            "voices": [v.name for v in a.voices],
            "ranges": [{"part": r.name, "lowest": r.lowest, "highest": r.highest, "tessitura": [r.tessitura_low, r.tessitura_high],
                        "text": r.as_text(a.key)} for r in a.ranges],
            "phrases": [{"first_measure": p.first_measure, "last_measure": p.last_measure,
                         "cadence": p.cadence.kind if p.cadence else None} for p in a.phrases],
            "chords": [{"measure": c.measure, "beat": round(c.beat, 3), "roman": c.roman, "name": c.name} for c in a.chords],
            "counts": self.counts,
        }


def predict_models(score: Score) -> tuple[StyleLabel, EmotionLabel]:
    """Style and emotion from the trained models (imports torch)."""
    from tutor.models.emotion import predict_emotion
    from tutor.models.style import TAXONOMY_LABELS, predict_style

    s = predict_style(score)
    e = predict_emotion(score)
    return (StyleLabel(s.label, s.name, s.probabilities, s.sure, names=TAXONOMY_LABELS),
            EmotionLabel(e.quadrant, e.label, e.valence, e.arousal, e.probabilities))


def critique(score: Score, *, use_models: bool = True, with_chords: bool = True, style: str | None = None) -> Critique:
    """Analysis, model labels and rule findings for ``score``. ``style`` forces the rule set (a
    writing style or a style-model class); by default it follows the style model when it is
    confident, else the texture."""
    if not score.notes:
        raise AnalysisError("has no notes to critique", path=score.source_path or score.title)
    analysis = analyse(score, with_chords=with_chords)
    style_label = emotion_label = None
    if use_models:
        style_label, emotion_label = predict_models(score)
    rule_style = style
    if rule_style is None and style_label is not None and style_label.sure \
            and style_label.probabilities[style_label.label] >= STYLE_CONFIDENCE:
        rule_style = style_label.label
    ctx = context(score, style=rule_style)
    findings = tuple(check_rules(score, ctx=ctx))
    key = analysis.key.name
    return Critique(key=key, meter=analysis.meter, writing_style=ctx.style, analysis=analysis, findings=findings,
                    style=style_label, emotion=emotion_label, title=score.title)


def annotated_musicxml(score: Score, findings: Iterable[Mapping[str, Any]]) -> bytes:
    """MusicXML of ``score`` with the notes of each finding coloured (red error, orange warning,
    blue info) and the rule id written above the first note of each finding. ``findings`` are the
    critique JSON's (``Finding.as_dict()``), so that a host's answer is drawn like one made here."""
    from tutor.score.io import musicxml_bytes

    rank = {"error": 0, "warning": 1, "info": 2}
    colors: dict[str, str] = {}
    texts: dict[str, str] = {}
    for finding in sorted(findings, key=lambda f: -rank[f["severity"]]):  # errors painted last
        for note_id in finding["note_ids"]:
            colors[note_id] = SEVERITY_COLORS[finding["severity"]]
        if finding["note_ids"]:
            first, label = finding["note_ids"][0], finding["rule"].replace("_", " ")
            texts[first] = label if first not in texts or texts[first] == label else f"{texts[first]}; {label}"
    return musicxml_bytes(score, colors=colors, texts=texts)


__all__ = ["Critique", "critique", "annotated_musicxml", "RULES", "writing_style"]
