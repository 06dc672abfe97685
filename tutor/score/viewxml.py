"""The MusicXML an unchanged piece is engraved from: its own file, with our note ids written in.

Writing a long piece's notation again with music21 (``musicxml_bytes``) took 7-10 of the 16 s that
opening a 231-bar piece took in the app (issue 24). When the score is exactly what its MusicXML file
reads as, the file's own text serves: each ``<note>`` gets the id the loader gave it, found the way
``tutor.score.io.identified_noteheads`` finds it (part, bar, onset, pitch, voice; tied noteheads
grouped; ``{part}-m{bar}-n{k}`` and ``-t{j}``). The result is checked against the score's notes (every
id, pitch, onset and length); anything that does not agree gives None and the caller writes the
notation from music21 as before.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tutor.score.barcheck import child_named, local_name
from tutor.score.music import Score

_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass
class _XmlHead:
    element: ET.Element
    part: str
    measure: int
    onset_ql: float
    duration_ql: float
    pitch: int
    voice: int
    tie: str | None
    id: str = ""


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _source_text(score: Score) -> str | None:
    path = score.source_path
    if path is None or str(path).startswith("corpus:"):
        return None
    return file_musicxml(path)


def file_musicxml(path: str | Path) -> str | None:
    """The MusicXML text of a ``.musicxml``/``.xml``/``.mxl`` file as it is (None: another format or
    unreadable): what the app engraves while the piece is still being read (issue 24)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".musicxml", ".xml"):
            return path.read_text(encoding="utf-8")
        if suffix == ".mxl":
            from tutor.score.io import _mxl_musicxml

            return _mxl_musicxml(path.read_bytes(), path=path)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - TutorError and the like: the caller writes the notation anew
        return None
    return None


def _heads(root: ET.Element, score: Score) -> list[_XmlHead] | None:
    starts: dict[int, list[float]] = defaultdict(list)
    for measure in score.measures:
        starts[measure.number].append(measure.start_ql)
    heads: list[_XmlHead] = []
    parts = [e for e in root if local_name(e.tag) == "part"]
    if not parts:
        return None
    base = 0  # a part of several staves is a part per staff (music21's PartStaffs), numbered on
    for part in parts:
        staves_of = [_text(child_named(a, "staves")) for m in part if local_name(m.tag) == "measure"
                     for a in m if local_name(a.tag) == "attributes" and child_named(a, "staves") is not None]
        staves = int(staves_of[0]) if staves_of and staves_of[0].isdigit() else 1
        divisions = Fraction(1)
        seen: dict[int, int] = defaultdict(int)
        for measure in (e for e in part if local_name(e.tag) == "measure"):
            try:
                number = int(measure.get("number", "0"))
            except ValueError:
                return None
            occurrence = seen[number]
            seen[number] += 1
            if occurrence >= len(starts.get(number, ())):
                return None
            bar_start = starts[number][occurrence]
            voices: dict[str, set[str]] = defaultdict(set)  # staff: its voices in this bar
            for n in measure:
                if local_name(n.tag) == "note":
                    voices[_text(child_named(n, "staff")) or "1"].add(_text(child_named(n, "voice")) or "1")
            position = Fraction(0)
            last_onset = Fraction(0)
            last_duration = Fraction(0)
            for element in measure:
                name = local_name(element.tag)
                if name == "attributes":
                    found = child_named(element, "divisions")
                    if found is not None and _text(found):
                        divisions = Fraction(_text(found))
                elif name in ("backup", "forward"):
                    amount = Fraction(_text(child_named(element, "duration")) or "0") / divisions
                    position += -amount if name == "backup" else amount
                elif name == "note":
                    if child_named(element, "grace") is not None:
                        continue
                    duration = Fraction(_text(child_named(element, "duration")) or "0") / divisions
                    if child_named(element, "chord") is not None:
                        onset, duration = last_onset, last_duration
                    else:
                        onset = position
                        position += duration
                        last_onset, last_duration = onset, duration
                    pitch = child_named(element, "pitch")
                    if pitch is None or child_named(element, "rest") is not None or child_named(element, "cue") is not None:
                        continue
                    step = _text(child_named(pitch, "step"))
                    if step not in _STEPS:
                        return None
                    alter = float(_text(child_named(pitch, "alter")) or 0)
                    midi = (int(_text(child_named(pitch, "octave")) or 4) + 1) * 12 + _STEPS[step] + round(alter)
                    ties = {t.get("type") for t in element if local_name(t.tag) == "tie"}
                    tie = "continue" if ties >= {"start", "stop"} else next(iter(ties), None)
                    voice_text = _text(child_named(element, "voice")) or "1"
                    staff = _text(child_named(element, "staff")) or "1"
                    if not staff.isdigit() or not 1 <= int(staff) <= staves:
                        return None
                    try:
                        voice = int(voice_text) if len(voices[staff]) > 1 else 1
                    except ValueError:
                        return None
                    part_id = f"P{base + int(staff)}"
                    heads.append(_XmlHead(element, part_id, number, round(bar_start + float(onset), 6),
                                          round(float(duration), 6), midi, voice, tie))
        base += staves
    return heads


def _named_heads(score: Score, text: str | None) -> tuple[ET.Element, list[_XmlHead]] | None:
    """The tree of ``text`` (the score's source file, ``_source_text``) and its noteheads with our ids, when
    they agree with the score's notes."""
    from tutor.score.io import name_noteheads  # ids as io's identified_noteheads gives them (the same naming)

    if text is None:
        return None
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError:
        return None
    if local_name(root.tag) != "score-partwise":
        return None
    heads = _heads(root, score)
    if not heads:
        return None
    groups = name_noteheads(heads)
    found = {(g[0].id, g[0].pitch, round(g[0].onset_ql, 4), round(sum(h.duration_ql for h in g), 4)) for g in groups}
    wanted = {(n.id, n.pitch, round(n.onset_ql, 4), round(n.duration_ql, 4)) for n in score.notes}
    if found != wanted:
        return None
    return root, heads


def source_musicxml_with_ids(score: Score) -> str | None:
    """The score's own MusicXML file with our note ids on its notes, or None (edited, not MusicXML,
    or anything that does not agree with the score's notes)."""
    named = _named_heads(score, _source_text(score))
    if named is None:
        return None
    root, heads = named
    for head in heads:
        head.element.set("id", head.id)
    return ET.tostring(root, encoding="unicode")


# --- the preview: the file engraved before it is read (issue 24) ---------------------------------
PREVIEW_PREFIX = "tutorpv"


def _note_elements(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if local_name(e.tag) == "note"]


_NOTE_TAG = re.compile(r"<note(?=[\s>])([^>]*)>")
_ID_ATTRIBUTE = re.compile(r"""\s(?:xml:)?id\s*=\s*("[^"]*"|'[^']*')""")


def with_preview_ids(text: str) -> str:
    """A MusicXML text with the k-th ``<note>`` (document order) given the id ``tutorpv{k}``: an engraving
    of it can take our note ids once the piece is read (``preview_id_map``), without engraving it again.
    Done on the text (a parse and rewrite of a 1.3 MB file took as long as half its engraving)."""
    counter = iter(range(1 << 62))

    def tag(match: re.Match) -> str:
        return f'<note id="{PREVIEW_PREFIX}{next(counter)}"{_ID_ATTRIBUTE.sub("", match.group(1))}>'

    return _NOTE_TAG.sub(tag, text)


def preview_id_map(score: Score) -> dict[str, str] | None:
    """``tutorpv{k}`` -> our note id for the notes of the score's source file (None: it does not agree with
    the score: the preview cannot stand for it)."""
    text = _source_text(score)  # read once: the tree and the preview's note count are of the same text
    named = _named_heads(score, text)
    if named is None:
        return None
    root, heads = named
    elements = _note_elements(root)
    if text is None or len(_NOTE_TAG.findall(text)) != len(elements):  # the text's notes are not the tree's
        return None
    index = {id(element): k for k, element in enumerate(elements)}
    return {f"{PREVIEW_PREFIX}{index[id(head.element)]}": head.id for head in heads}
