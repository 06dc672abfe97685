"""Does every bar of a MusicXML file add up? (issue 24: rests vanished from the files the app wrote).

``bar_problems(xml)`` reads the written file itself, not music21's idea of it, and lists each bar
where a voice's notes and rests do not fill the bar (too many or too few beats) and each rest that
is hidden (``print-object="no"``): a reader such as MuseScore shows such a bar as incomplete.

A bar marked ``implicit="yes"`` (a pickup) and a part's last bar (which may complete the pickup) are
held to their longest voice instead of the time signature. A hidden rest counts in the first voice of
each staff only: a second voice that enters in the middle of a bar is written with one by engravers.
Notes of a chord (``<chord/>``) and grace notes take no time.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class BarProblem:
    part: str  # the part's id
    measure: str  # the measure's number as written
    text: str

    def __str__(self) -> str:
        return f"part {self.part} m. {self.measure}: {self.text}"


def local_name(tag: str) -> str:
    """An XML tag without its namespace (``{ns}note`` -> ``note``)."""
    return tag.rsplit("}", 1)[-1]


def child_named(element: ET.Element, name: str) -> ET.Element | None:
    """The first child of ``element`` with that local name (None when there is none)."""
    for child in element:
        if local_name(child.tag) == name:
            return child
    return None


def _quarters(length: Fraction) -> str:
    return f"{float(length):g} quarters"


def bar_problems(xml: bytes | str) -> list[BarProblem]:
    """Every bar of a partwise MusicXML document whose voices do not add up, and every hidden rest."""
    root = ET.fromstring(xml)
    problems: list[BarProblem] = []
    for part in (e for e in root if local_name(e.tag) == "part"):
        part_id = part.get("id", "?")
        divisions = 1
        bar_ql: Fraction | None = None
        measures = [e for e in part if local_name(e.tag) == "measure"]
        for index, measure in enumerate(measures):
            number = measure.get("number", "?")
            by_voice: dict[str, Fraction] = defaultdict(Fraction)
            hidden: dict[str, set[str]] = defaultdict(set)  # staff: voices with a hidden rest
            first_voice: dict[str, str] = {}  # staff: its first voice
            for element in measure:
                name = local_name(element.tag)
                if name == "attributes":
                    found = child_named(element, "divisions")
                    if found is not None and found.text:
                        divisions = int(float(found.text))
                    time = child_named(element, "time")
                    if time is not None:
                        beats, beat_type = child_named(time, "beats"), child_named(time, "beat-type")
                        if beats is not None and beat_type is not None and beats.text and beat_type.text:
                            total = sum(Fraction(b) for b in beats.text.split("+"))
                            bar_ql = total * 4 / Fraction(beat_type.text)
                        else:  # senza misura: no bar length to hold the bar to
                            bar_ql = None
                elif name == "note":
                    if child_named(element, "grace") is not None or child_named(element, "chord") is not None:
                        continue
                    duration = child_named(element, "duration")
                    if duration is None or not duration.text:
                        continue
                    voice = child_named(element, "voice")
                    voice_name = voice.text.strip() if voice is not None and voice.text else "1"
                    by_voice[voice_name] += Fraction(int(float(duration.text)), divisions)
                    staff = child_named(element, "staff")
                    staff_name = staff.text.strip() if staff is not None and staff.text else "1"
                    first_voice.setdefault(staff_name, voice_name)
                    if child_named(element, "rest") is not None and element.get("print-object") == "no":
                        hidden[staff_name].add(voice_name)
            for staff_name, voices in sorted(hidden.items()):
                if first_voice[staff_name] in voices:
                    problems.append(BarProblem(part_id, number, f"a hidden rest in voice {first_voice[staff_name]}"))
            if not by_voice:
                continue
            short_allowed = measure.get("implicit") == "yes" or index == len(measures) - 1 or bar_ql is None
            expected = max(by_voice.values()) if short_allowed else bar_ql
            for voice_name, length in sorted(by_voice.items()):
                if length != expected:
                    problems.append(BarProblem(part_id, number, f"voice {voice_name} holds {_quarters(length)}, "
                                                                f"the bar {_quarters(expected)}"))
    return problems
