"""A new piece from a brief: style, mood, key, metre and length.

``generate(brief)`` samples candidates from the phrase generator (``models/generator.py``) in the brief's
style, key and metre, writes each into a ``Score`` at a tempo and register that suit the mood (fast for Q1/Q2,
slow for Q3/Q4; higher for Q1/Q4, lower for Q2/Q3), and ranks them: fewest critique-rule errors and
warnings, then how strongly the style and emotion models hear the brief's style and mood, then the
generator's likelihood. Key and metre are exact, the mood is reached by reranking. Deterministic for a
given seed; torch is imported only inside functions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from tutor.compose.suggest import one_thread
from tutor.errors import AnalysisError
from tutor.score.music import KeySignature, Measure, Part, Score, TempoChange, TempoMap, TimeSignature

# brief style -> (generator style, the style model's class for it, the critique's writing style, voices)
STYLES = {
    "song": ("essen", "folk_song", "song", 1),
    "fiddle": ("oneills", "folk_fiddle", "dance_tune", 1),
    "dance": ("nottingham", "folk_fiddle", "dance_tune", 1),
    "chorale": ("chorale", "baroque", "chorale", 4),
    # issue 26: a melody from the generator, arranged in the style (tutor.compose.restyle): pop ballad piano,
    # waltz, march, ragtime, swing, tango; the style model's class ranks the melodies
    "pop": ("essen", "pop", "song", 1),
    "waltz": ("nottingham", "waltz", "dance_tune", 1),
    "march": ("nottingham", "march", "dance_tune", 1),
    "ragtime": ("nottingham", "ragtime", "dance_tune", 1),
    "swing": ("essen", "jazz", "song", 1),
    "tango": ("essen", "tango", "song", 1),
}
ARRANGED = ("pop", "waltz", "march", "ragtime", "swing", "tango")  # styles whose melody is then arranged
STYLE_ALIASES = {"folk_song": "song", "essen": "song", "folk_fiddle": "fiddle", "oneills": "fiddle", "ryans": "fiddle",
                 "nottingham": "dance", "baroque": "chorale"}
MOODS = ("Q1", "Q2", "Q3", "Q4")
MOOD_ALIASES = {"happy": "Q1", "excited": "Q1", "tense": "Q2", "angry": "Q2", "sad": "Q3", "calm": "Q4",
                "relaxed": "Q4"}
# tempo choices per mood (quarter notes per minute): the emotion model hears arousal mostly in the pace
MOOD_TEMPI_BPM = {"Q1": (112.0, 132.0, 152.0), "Q2": (112.0, 132.0, 152.0), "Q3": (54.0, 66.0, 80.0),
                  "Q4": (60.0, 72.0, 88.0)}
MOOD_SHIFTS = {"Q1": (0, 12), "Q2": (0, -12), "Q3": (0, -12), "Q4": (0, 12)}  # octave shifts of a melody (register)
MOOD_VELOCITY = {"Q1": 92, "Q2": 100, "Q3": 56, "Q4": 60}
MAX_BARS = {1: 16, 4: 8}  # what fits the generator's 512-token context in one pass
CANDIDATES = 12
ROUNDS = 3  # batches of CANDIDATES drawn at most, while none fits the brief (rule-clean, style and mood as asked)
MAJOR_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F#": 6, "C#": 7, "F": -1, "Bb": -2, "Eb": -3,
                "Ab": -4, "Db": -5, "Gb": -6, "Cb": -7}
MINOR_FIFTHS = {"A": 0, "E": 1, "B": 2, "F#": 3, "C#": 4, "G#": 5, "D#": 6, "A#": 7, "D": -1, "G": -2, "C": -3,
                "F": -4, "Bb": -5, "Eb": -6, "Ab": -7}
PART_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
# the metres a brief may ask for, commonest first (the generator's own list, models.generator.METERS, checks them)
METER_CHOICES = ("4/4", "3/4", "2/4", "6/8", "2/2", "3/8", "9/8", "12/8", "6/4", "3/2", "5/4", "4/2")


@dataclass(frozen=True)
class Brief:
    style: str  # a key of STYLES
    mood: str  # Q1..Q4
    fifths: int
    mode: str  # "major" | "minor"
    meter: str  # "6/8"
    bars: int
    seed: int = 0
    low: int | None = None  # the range asked for (MIDI numbers), e.g. a beginner singer's C4-D5
    high: int | None = None

    @property
    def key_name(self) -> str:
        table = MAJOR_FIFTHS if self.mode == "major" else MINOR_FIFTHS
        tonic = next(name for name, f in table.items() if f == self.fifths)
        return f"{tonic} {self.mode}"


@dataclass(frozen=True)
class Generated:
    score: Score
    brief: Brief
    style: str  # the style model's label for the result
    mood: str  # the emotion model's quadrant for the result
    style_probability: float  # P(brief's style class)
    mood_probability: float  # P(brief's quadrant)
    errors: int
    warnings: int
    findings: tuple = ()
    outside_range: int = 0  # notes outside the brief's range
    log_likelihood: float = 0.0
    candidates: int = 0
    tempo_bpm: float = 120.0
    ranked: tuple = field(default=(), repr=False)  # the other candidates, best first (same fields)

    @property
    def style_agrees(self) -> bool:
        return self.style == STYLES[self.brief.style][1]

    @property
    def mood_agrees(self) -> bool:
        return self.mood == self.brief.mood

    def as_json(self) -> dict:
        return {
            "brief": {"style": self.brief.style, "mood": self.brief.mood, "key": self.brief.key_name,
                      "meter": self.brief.meter, "bars": self.brief.bars, "seed": self.brief.seed},
            "tempo_bpm": self.tempo_bpm,
            "style": {"label": self.style, "agrees": self.style_agrees, "probability": round(self.style_probability, 4)},
            "mood": {"quadrant": self.mood, "agrees": self.mood_agrees, "probability": round(self.mood_probability, 4)},
            "range": {"asked": None if self.brief.low is None else [self.brief.low, self.brief.high],
                      "notes_outside": self.outside_range},
            "rules": {"errors": self.errors, "warnings": self.warnings,
                      "findings": [{"rule": f.rule, "severity": f.severity, "measure": f.measure, "message": f.message}
                                   for f in self.findings]},
            "candidates": self.candidates,
            "log_likelihood": round(self.log_likelihood, 4),
        }


# ---------------------------------------------------------------------------------------------
# reading a brief
# ---------------------------------------------------------------------------------------------
def parse_brief(*, style: str, mood: str, key: str, meter: str, bars: int, seed: int = 0,
                pitch_range: str | None = None) -> Brief:
    """A ``Brief`` from the command line's words; a clear ``AnalysisError`` for anything it cannot write."""
    from tutor.models.generator import METERS

    s = STYLE_ALIASES.get(style.strip().lower(), style.strip().lower())
    if s not in STYLES:
        raise AnalysisError(f"--style {style!r}: the generator writes {', '.join(STYLES)} "
                            f"(or {', '.join(STYLE_ALIASES)})")
    m = MOOD_ALIASES.get(mood.strip().lower(), mood.strip().upper())
    if m not in MOODS:
        raise AnalysisError(f"--mood {mood!r}: use Q1 (happy), Q2 (tense), Q3 (sad) or Q4 (calm)")
    fifths, mode = parse_key(key)
    if meter not in METERS or meter == "other":
        raise AnalysisError(f"--meter {meter!r}: use one of {', '.join(x for x in METERS if x != 'other')}")
    voices = STYLES[s][3]
    if not 1 <= bars <= MAX_BARS[voices]:
        raise AnalysisError(f"--bars {bars}: {s} pieces of 1 to {MAX_BARS[voices]} bars")
    low = high = None
    if pitch_range:
        low, high = parse_range(pitch_range)
        if voices > 1:
            raise AnalysisError("--range is for a melody; a chorale keeps each voice in its own range")
    return Brief(s, m, fifths, mode, meter, int(bars), int(seed), low, high)


def parse_range(text: str) -> tuple[int, int]:
    """MIDI numbers of a range like "C4-D5" (at least a sixth wide)."""
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    match = re.fullmatch(r"\s*([A-Ga-g])([#b]?)(-?\d)\s*-\s*([A-Ga-g])([#b]?)(-?\d)\s*", text or "")
    if not match:
        raise AnalysisError(f"--range {text!r}: write the lowest and highest note, like C4-D5")
    values = []
    for letter, accidental, octave in (match.groups()[:3], match.groups()[3:]):
        values.append(12 * (int(octave) + 1) + names[letter.upper()] + {"#": 1, "b": -1}.get(accidental, 0))
    low, high = values
    if high - low < 9:
        raise AnalysisError(f"--range {text!r}: give at least a sixth (9 semitones) between the lowest and highest note")
    return low, high


def parse_key(text: str) -> tuple[int, str]:
    """(fifths, mode) of "D major", "D", "F# minor", "f#m", "Bb"."""
    match = re.fullmatch(r"\s*([A-Ga-g])\s*([#b♯♭]?)\s*(major|minor|maj|min|m|)\s*", text or "")
    if not match:
        raise AnalysisError(f"--key {text!r}: write a key like 'D major', 'F# minor' or 'Bb'")
    tonic = match.group(1).upper() + match.group(2).replace("♯", "#").replace("♭", "b")
    minor = match.group(3) in ("minor", "min", "m") or (match.group(3) == "" and match.group(1).islower())
    table = MINOR_FIFTHS if minor else MAJOR_FIFTHS
    if tonic not in table:
        raise AnalysisError(f"--key {text!r}: no such key signature; try its enharmonic spelling")
    return table[tonic], "minor" if minor else "major"


# ---------------------------------------------------------------------------------------------
# generating
# ---------------------------------------------------------------------------------------------
def empty_score(brief: Brief) -> Score:
    numerator, denominator = (int(x) for x in brief.meter.split("/"))
    bar_ql = numerator * 4.0 / denominator
    voices = STYLES[brief.style][3]
    parts = tuple(Part(f"P{i + 1}", PART_NAMES[i] if voices > 1 else "Melody", 52 if voices > 1 else 0)
                  for i in range(voices))
    measures = tuple(Measure(i + 1, i * bar_ql, bar_ql, brief.meter) for i in range(brief.bars))
    title = f"{brief.style.title()} in {brief.key_name}, {brief.meter}, {brief.mood}"
    return Score(title=title, parts=parts, notes=(), measures=measures,
                 time_signatures=(TimeSignature(1, 0.0, numerator, denominator),),
                 key_signatures=(KeySignature(1, 0.0, brief.fifths, brief.mode),),
                 tempo_map=TempoMap((TempoChange(0.0, MOOD_TEMPI_BPM[brief.mood][1]),)))


def _candidate_score(skeleton: Score, brief: Brief, tokens) -> Score:
    from dataclasses import replace

    from tutor.compose.suggest import _notes_from_tokens
    from tutor.score.music import sort_notes, time_notes

    multi = len(skeleton.parts) > 1
    notes = _notes_from_tokens(skeleton, tokens, list(skeleton.measures), multi)
    velocity = MOOD_VELOCITY[brief.mood]
    notes = [replace(n, velocity=velocity) for n in notes]
    return replace(skeleton, notes=time_notes(sort_notes(notes), skeleton.tempo_map))


def _variants(score: Score, brief: Brief) -> list[tuple[Score, float]]:
    """The candidate at each of the mood's tempi and (a melody) registers: (score, bpm)."""
    from dataclasses import replace

    from tutor.score.music import time_notes

    low, high = min(n.pitch for n in score.notes), max(n.pitch for n in score.notes)
    shifts = [0] if len(score.parts) > 1 else [
        s for s in MOOD_SHIFTS[brief.mood] if 55 <= low + s and high + s <= 88] or [0]
    if brief.low is not None and len(score.parts) == 1:  # the register that fits the asked range best
        shifts = sorted({*shifts, -12, 12, 0}, key=lambda s: (_outside(score.notes, brief, s), s not in shifts))[:1]
    out = []
    for shift in shifts:
        notes = [replace(n, pitch=n.pitch + shift) for n in score.notes] if shift else list(score.notes)
        for bpm in MOOD_TEMPI_BPM[brief.mood]:
            tempo = TempoMap((TempoChange(0.0, bpm),))
            out.append((replace(score, notes=time_notes(notes, tempo), tempo_map=tempo), bpm))
    return out


def _outside(notes, brief: Brief, shift: int = 0) -> int:
    if brief.low is None or brief.high is None:
        return 0
    return sum(not brief.low <= n.pitch + shift <= brief.high for n in notes)


@one_thread
def generate(brief: Brief, *, candidates: int = CANDIDATES, temperature: float = 1.0, top_p: float = 0.95,
             use_models: bool = True, progress=None) -> Generated:
    """The best of ``candidates`` pieces sampled for ``brief`` (up to ``ROUNDS`` batches while none fits the
    brief; see the module docstring). ``progress(fraction, text)``, when given, is called between steps
    (an exception it raises, such as the app's "cancelled", ends the generation)."""
    from tutor.compose.suggest import _model
    from tutor.models.generator import BOS, EOS, TICKS_PER_QL, key_token, meter_token, sample, style_token

    gen_style, _, _, voices = STYLES[brief.style]
    skeleton = empty_score(brief)
    model = _model(None)
    prompt = [style_token(gen_style), key_token(brief.fifths, brief.mode), meter_token(brief.meter), BOS]
    bar_ticks = [round(m.duration_ql * TICKS_PER_QL) for m in skeleton.measures]
    ranked: list[Generated] = []
    for batch in range(ROUNDS if use_models else 1):
        if batch and any(g.errors == 0 and g.outside_range == 0 and g.warnings <= 2 and g.style_agrees
                         and g.mood_agrees for g in ranked):
            break  # rejection: draw another batch only while no candidate fits the brief
        # most briefs are met by the first batch: it takes most of the progress bar
        done, share = (0.0, 0.9) if batch == 0 else (0.9 + 0.1 * (batch - 1) / ROUNDS, 0.1 / ROUNDS)
        if progress is not None:
            progress(done, f"Writing {candidates} candidates" + (f" (round {batch + 1})" if batch else ""))
        samples = sample(model, prompt, count=candidates, bar_ticks=bar_ticks, multi_voice=voices > 1,
                         end_tokens=(EOS,), seed=brief.seed + 104729 * batch, temperature=temperature, top_p=top_p,
                         max_tokens=model.config.context - len(prompt))
        ranked += _judge(samples, skeleton, brief, use_models=use_models, progress=progress, done=done, share=share)
    if not ranked:
        raise AnalysisError(f"the generator wrote no complete {brief.bars}-bar piece for this brief; try another --seed")

    def rank(g: Generated):
        model_fit = math.log(max(g.style_probability, 1e-6)) + math.log(max(g.mood_probability, 1e-6))
        return (g.errors, g.outside_range, g.warnings > 2, -model_fit, g.warnings, -g.log_likelihood)

    ranked.sort(key=rank)
    from dataclasses import replace

    best = replace(ranked[0], candidates=len(ranked), ranked=tuple(ranked[1:]))
    if brief.style in ARRANGED:
        best = _arranged(best, use_models=use_models)
    return best


def _arranged(melody: Generated, *, use_models: bool) -> Generated:
    """The chosen melody arranged in its brief's style (metre, harmony, accompaniment, tempo), judged again."""
    from dataclasses import replace

    from tutor.compose.restyle import restyle

    brief = melody.brief
    done = restyle(melody.score, style=brief.style, k=1, seed=brief.seed, use_models=use_models)[0]
    style_label, p_style, mood_label, p_mood = melody.style, melody.style_probability, melody.mood, melody.mood_probability
    if use_models:
        from tutor.models.emotion import predict_emotion
        from tutor.models.style import predict_style

        st, em = predict_style(done.score), predict_emotion(done.score)
        style_label, p_style = st.label, st.probabilities.get(STYLES[brief.style][1], 0.0)
        mood_label, p_mood = em.quadrant, em.probabilities.get(brief.mood, 0.0)
    from tutor.compose.rules import check_rules

    findings = tuple(check_rules(done.score, style="keyboard"))
    return replace(melody, score=done.score, style=style_label, style_probability=p_style, mood=mood_label,
                   mood_probability=p_mood, errors=sum(f.severity == "error" for f in findings),
                   warnings=sum(f.severity == "warning" for f in findings), findings=findings,
                   tempo_bpm=done.score.tempo_map.initial_bpm)


def _judge(samples, skeleton: Score, brief: Brief, *, use_models: bool, progress=None, done: float = 0.0,
           share: float = 1.0) -> list[Generated]:
    """Each finished sample as a ``Generated``: rule findings, and the style and emotion models' view
    at the mood's best tempo and register."""
    from tutor.compose.rules import check_rules

    _, style_class, writing, voices = STYLES[brief.style]
    ranked = []
    for number, s in enumerate(samples):
        if progress is not None:
            progress(done + share * (0.3 + 0.7 * number / max(1, len(samples))),
                     f"Listening to candidate {number + 1} of {len(samples)}")
        if not s.finished:
            continue
        score = _candidate_score(skeleton, brief, s.tokens)
        if len({n.part for n in score.notes}) < voices or not score.notes:
            continue
        findings = tuple(check_rules(score, style=writing))
        errors = sum(f.severity == "error" for f in findings)
        warnings = sum(f.severity == "warning" for f in findings)
        style_label, mood_label, p_style, p_mood = "", "", 1.0, 1.0
        bpm = MOOD_TEMPI_BPM[brief.mood][1]
        if use_models:
            from tutor.models.emotion import predict_emotion
            from tutor.models.style import predict_style

            st = predict_style(score)  # tempo and octave do not change the style model's view
            style_label, p_style = st.label, st.probabilities.get(style_class, 0.0)
            best = None
            for variant, variant_bpm in _variants(score, brief):
                em = predict_emotion(variant)
                p = em.probabilities.get(brief.mood, 0.0)
                if best is None or p > best[0]:
                    best = (p, em.quadrant, variant, variant_bpm)
            p_mood, mood_label, score, bpm = best
        ranked.append(Generated(score, brief, style_label, mood_label, p_style, p_mood, errors, warnings, findings,
                                _outside(score.notes, brief), s.log_likelihood, 0, bpm))
    return ranked
