"""The requests of the analyses, typed once: the CLI parses its flags into them, ``tutor serve`` its form
fields, the remote client sends them as form fields, and the app builds them from its controls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tutor.errors import AnalysisError

TRACKER_CHOICES = ("crepe", "crepe-tiny", "pesto", "pyin")
# what an audio take was played on: piano (and other keyboards) -> the polyphonic piano transcriber
# (tutor.listen.piano), anything else -> the single-line transcriber (tutor.listen.transcription)
INSTRUMENT_CHOICES = ("piano", "voice", "violin", "viola", "cello", "flute", "clarinet", "oboe", "saxophone",
                      "trumpet", "single-line")
POLYPHONIC_INSTRUMENTS = ("piano",)


def check_instrument(instrument: str | None) -> None:
    if instrument is not None and instrument not in INSTRUMENT_CHOICES:
        raise AnalysisError(f"instrument {instrument!r}: use one of {', '.join(INSTRUMENT_CHOICES)}")


GENERATOR_STYLES = ("nottingham", "essen", "oneills", "ryans", "chorale")  # = tutor.models.generator.STYLES
HARMONY_ONLY_STYLES = ("piano", "pop", "jazz")  # only to harmonise (pop and jazz: tutor.compose.restyle)
SUGGEST_STYLES = GENERATOR_STYLES + HARMONY_ONLY_STYLES
LEVELS = ("beginner", "advanced")
SUGGEST_KINDS = ("continue", "fix", "fix_flagged", "harmonize", "restyle")
# = tutor.compose.restyle.RESTYLE_STYLES (a test checks it); aliases such as jazz or ballad are accepted too
RESTYLE_CHOICES = ("pop", "waltz", "march", "ragtime", "swing", "tango", "chorale")


def parse_measures(text: str | None) -> tuple[int, int] | None:
    """``"5-12"`` (or ``"5"``, ``"5..12"``) as (first, last) printed measure numbers; None for None."""
    if text is None:
        return None
    parts = text.replace("..", "-").split("-")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise AnalysisError(f"--measures {text!r}: write a range such as 5-12") from None
    if last < first:
        raise AnalysisError(f"--measures {text!r}: the last measure comes before the first")
    return first, last


def parse_fix_range(text: str) -> tuple[int, int]:
    """``--fix``'s measure range: ``"5-6"`` or ``"5"``."""
    match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*", text or "")
    if not match:
        raise AnalysisError(f"--fix wants a measure range like 5-6 or 5, not {text!r}")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise AnalysisError(f"--fix {text}: the first measure comes after the last")
    return first, last


def _range_text(measures: tuple[int, int] | None) -> str | None:
    return None if measures is None else f"{measures[0]}-{measures[1]}"


@dataclass(frozen=True)
class TranscribeRequest:
    """The notes of a recording: a single line (with intonation), or every note of a piano take."""

    audio: Path
    tracker: str | None = None  # None: the default for the device
    device: str = "auto"
    instrument: str | None = None  # None: a single line; "piano": the polyphonic piano transcriber

    def __post_init__(self) -> None:
        if self.tracker is not None and self.tracker not in TRACKER_CHOICES:
            raise AnalysisError(f"tracker {self.tracker!r}: use one of {', '.join(TRACKER_CHOICES)}")
        check_instrument(self.instrument)
        if self.tracker is not None and self.piano:
            raise AnalysisError("--tracker chooses a single-line pitch tracker; leave it out with --instrument piano")

    @property
    def piano(self) -> bool:
        return self.instrument in POLYPHONIC_INSTRUMENTS

    def fields(self) -> dict:
        return {"tracker": self.tracker, "instrument": self.instrument}


@dataclass(frozen=True)
class AssessRequest:
    """A take (MIDI or audio) judged against its score."""

    take: Path
    part: str | None = None
    measures: tuple[int, int] | None = None  # printed measure numbers
    tempo_bpm: float | None = None  # the tempo the student was asked to play
    level: str = "advanced"
    repeats: bool = True  # the student was asked to play the repeats (False: each passage once)
    instrument: str | None = None  # an audio take's instrument; None: piano for a keyboard part, else single-line

    def __post_init__(self) -> None:
        check_instrument(self.instrument)
        if self.level not in LEVELS:
            raise AnalysisError(f"level {self.level!r}: use beginner or advanced")
        if self.tempo_bpm is not None and not (self.tempo_bpm > 0 and self.tempo_bpm != float("inf")):
            raise AnalysisError(f"--tempo {self.tempo_bpm:g}: the tempo must be a positive number of beats per minute")

    def fields(self) -> dict:
        return {"part": self.part, "measures": _range_text(self.measures), "tempo": self.tempo_bpm, "level": self.level,
                "instrument": self.instrument, "repeats": self.repeats}


@dataclass(frozen=True)
class SuggestRequest:
    """Continuations, corrections or a harmonisation of a piece, from the generator, or the piece restyled."""

    kind: str  # one of SUGGEST_KINDS
    bars: int | None = None  # continue: how many bars
    after: int | None = None  # continue: after this measure (None: the last)
    fix: tuple[int, int] | None = None  # fix: the measures to rewrite
    k: int = 4
    seed: int = 0
    temperature: float | None = None  # None: 1.0, or 0.5 to harmonise
    top_p: float = 0.95
    style: str | None = None
    free_rhythm: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SUGGEST_KINDS:
            raise AnalysisError("give exactly one of continue, fix, fix_flagged, harmonize or restyle")
        if self.after is not None and self.kind != "continue":
            raise AnalysisError("--after goes with --continue")
        if self.kind == "restyle":  # style is the style asked for
            from tutor.compose.restyle import style_name

            if self.style is None:
                raise AnalysisError(f"--restyle needs a style: one of {', '.join(RESTYLE_CHOICES)}")
            object.__setattr__(self, "style", style_name(self.style))
        elif self.style is not None and self.style not in SUGGEST_STYLES:
            raise AnalysisError(f"style {self.style!r}: use one of {', '.join(SUGGEST_STYLES)}")
        if self.style in HARMONY_ONLY_STYLES and self.kind not in ("harmonize", "restyle"):  # --restyle pop is its own
            raise AnalysisError(f"--style {self.style} goes with --harmonize")
        if self.kind == "continue" and self.bars is None:
            raise AnalysisError("--continue needs the number of bars")
        if self.kind == "fix" and self.fix is None:
            raise AnalysisError("--fix needs a measure range such as 5-6")

    @classmethod
    def from_options(cls, *, continue_bars: int | None = None, fix: str | None = None, fix_flagged: bool = False,
                     harmonize: bool = False, restyle: str | None = None, **options) -> SuggestRequest:
        """The request from ``tutor suggest``'s flags or the service's form fields (exactly one of
        ``continue_bars``, ``fix``, ``fix_flagged``, ``harmonize`` and ``restyle``)."""
        if sum((continue_bars is not None, fix is not None, bool(fix_flagged), bool(harmonize), bool(restyle))) != 1:
            raise AnalysisError("give exactly one of continue, fix, fix_flagged, harmonize or restyle")
        if restyle:
            if options.get("style") not in (None, restyle):
                raise AnalysisError("--restyle names the style; leave out --style")
            options["style"] = restyle
        kind = "continue" if continue_bars is not None else "fix" if fix is not None else (
            "fix_flagged" if fix_flagged else "harmonize" if harmonize else "restyle")
        return cls(kind=kind, bars=continue_bars, fix=parse_fix_range(fix) if fix is not None else None, **options)

    def fields(self) -> dict:
        """The service's form fields for this request."""
        return {"continue": self.bars if self.kind == "continue" else None,
                "fix": _range_text(self.fix) if self.kind == "fix" else None,
                "fix_flagged": True if self.kind == "fix_flagged" else None,
                "harmonize": True if self.kind == "harmonize" else None,
                "restyle": self.style if self.kind == "restyle" else None,
                "k": self.k, "seed": self.seed, "temperature": self.temperature, "top_p": self.top_p,
                "after": self.after, "style": None if self.kind == "restyle" else self.style,
                "free_rhythm": self.free_rhythm or None}


@dataclass(frozen=True)
class GenerateRequest:
    """A new piece from a brief (the words of ``tutor generate``'s flags)."""

    style: str
    mood: str
    key: str
    meter: str
    bars: int
    seed: int = 0
    pitch_range: str | None = None  # "C4-D5"


@dataclass(frozen=True)
class LessonAttemptRequest:
    """A take (or a composition) handed in for an exercise, to be judged and recorded."""

    exercise: str  # exercise id such as in-tune/scale-c
    performance: Path
    tempo_bpm: float | None = None
