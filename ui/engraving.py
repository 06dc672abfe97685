"""Engraving a ``Score`` with Verovio, as SVG that Qt's renderer draws completely, plus geometry.

This module imports no Qt: it runs in a worker thread. ``engrave(score)`` returns one ``Page``
per Verovio page, each with

* ``svg`` — the page's SVG, fixed for ``QSvgRenderer`` (SVG Tiny): Verovio's nested
  ``<svg class="definition-scale">`` becomes a plain ``<g>`` (Qt skips nested ``<svg>``), and the
  stylesheet's ``stroke: currentColor`` (which Qt ignores, so stems, beams and staff lines vanish)
  becomes an explicit ``stroke`` on every shape, taken from the nearest ``color`` above it.
* ``notes`` — note id -> ``NoteBox`` (notehead centre and size, in page pixels), read from the SVG:
  our MusicXML writes ``<note id=...>`` = ``tutor.score.music.Note.id`` and Verovio keeps it as the
  ``<g class="note" id=...>`` of the SVG.
* ``measures`` — ``MeasureBox``es (printed number, x range, the system's y range).

``recolor(page, colors)`` gives the page's SVG with some noteheads (and their stems) in colour,
without engraving again.

Units: Verovio draws in its own units (10 per pixel at scale 100); ``Page`` geometry is in pixels
of the page at the chosen ``scale`` (what Qt draws at zoom 1).
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

from tutor.score.music import Score

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

_SHAPES = {"path", "ellipse", "polygon", "polyline", "rect", "circle", "line"}
# a tied note's later noteheads are ``{id}-t{j}`` (``tutor.score.io``): they take the note's colour
_TIED_HEAD = re.compile(r"-t[0-9.]+$")
_TRANSLATE = re.compile(r"translate\(\s*([-\d.]+)[\s,]+([-\d.]+)\s*\)")
_SCALE = re.compile(r"scale\(\s*([-\d.]+)(?:[\s,]+([-\d.]+))?\s*\)")
_PATH_POINTS = re.compile(r"[ML]\s*([-\d.]+)[\s,]+([-\d.]+)")

# SMuFL notehead widths in staff spaces (Bravura/Leipzig metrics; unknown glyphs: a black notehead)
_HEAD_WIDTH_SP = {"E0A0": 2.5, "E0A2": 1.69, "E0A3": 1.18, "E0A4": 1.18}
DEFAULT_HEAD_SP = 1.18


@dataclass(frozen=True)
class NoteBox:
    note_id: str
    x: float  # notehead centre, page pixels
    y: float
    width: float
    height: float
    system: int  # index of the system on its page


@dataclass(frozen=True)
class MeasureBox:
    number: int
    x0: float
    x1: float
    y0: float  # top staff line of the system
    y1: float  # bottom staff line of the system
    system: int


@dataclass
class Page:
    number: int  # 1-based
    svg: str
    width: float  # pixels
    height: float
    notes: dict[str, NoteBox] = field(default_factory=dict)
    measures: list[MeasureBox] = field(default_factory=list)
    staff_space: float = 10.0  # pixels
    # each staff of each measure: (x0, x1, top line y, bottom line y) in page pixels, so that a mark
    # sits over its own staff, not over the system's top one (issue 24)
    staves: list[tuple[float, float, float, float]] = field(default_factory=list)

    def recolor(self, colors: dict[str, str]) -> str:
        return recolor_svg(self.svg, colors)


@dataclass(frozen=True)
class Layout:
    continuous: bool = False  # one long line instead of pages
    page_width_px: int = 1000
    scale: int = 40  # Verovio's scale in percent


def verovio_options(layout: Layout) -> dict:
    options = {
        "scale": layout.scale,
        "adjustPageHeight": True,
        "footer": "none",
        "header": "auto",
        "svgViewBox": False,
        "svgRemoveXlink": False,
        "pageMarginLeft": 50,
        "pageMarginRight": 50,
        "pageMarginTop": 50,
        "pageMarginBottom": 50,
        # issue 24: Verovio's stems (0.2 units) and staff lines are under a pixel wide at the zoom that fits a
        # page in a small window, and drew so faint that half notes looked like whole notes
        "stemWidth": 0.4,
        "staffLineWidth": 0.2,
    }
    # Verovio sizes pages in its units (tenths of a pixel at scale 100)
    units_per_px = 100.0 / layout.scale
    if layout.continuous:
        options.update({"breaks": "none", "pageWidth": 100000})
    else:
        # pages of A4 proportions (issue 24: a long piece was one 6,441-px page)
        options.update({"breaks": "auto", "pageWidth": int(layout.page_width_px * units_per_px),
                        "pageHeight": int(layout.page_width_px * 1.414 * units_per_px)})
    return options


def musicxml_for_view(score: Score) -> str:
    from tutor.score.io import musicxml_bytes
    from tutor.score.viewxml import source_musicxml_with_ids

    own = source_musicxml_with_ids(score)  # an unchanged MusicXML piece: its own file (issue 24: 7-10 s saved)
    return own if own is not None else musicxml_bytes(score).decode("utf-8")


_LOCK = threading.Lock()
_TOOLKIT = None


def _toolkit():
    """One Verovio toolkit for the process: Verovio loads its fonts into global state, and building
    toolkits in several threads at once fails ("font resources are not available")."""
    global _TOOLKIT
    if _TOOLKIT is None:
        import os

        import verovio

        toolkit = verovio.toolkit()
        # Verovio's resource path is per thread: in a thread other than the one that first imported
        # verovio it is a build-time path and no font loads. Point it at the wheel's data every time.
        toolkit.setResourcePath(os.path.join(os.path.dirname(verovio.__file__), "data"))
        _TOOLKIT = toolkit
    return _TOOLKIT


def engrave(score: Score, *, layout: Layout = Layout(), musicxml: str | None = None, progress=None) -> list[Page]:
    """Pages of ``score`` engraved by Verovio, with note and measure geometry (thread-safe).
    ``progress(fraction, text)`` is called between the steps and pages (it may raise to stop)."""
    progress = progress or (lambda fraction, text: None)
    progress(0.05, "Writing the notation")
    xml = musicxml if musicxml is not None else musicxml_for_view(score)
    with _LOCK:
        return _engrave_locked(score, layout, xml, progress)


def engrave_musicxml(xml: str, *, layout: Layout = Layout(), progress=None) -> list[Page]:
    """Pages of a MusicXML text as it is, before it is read as a ``Score`` (issue 24: a long piece's
    engraving is on screen while music21 still reads it). Note ids are Verovio's own."""
    progress = progress or (lambda fraction, text: None)
    with _LOCK:
        return _engrave_locked(None, layout, xml, progress)


def with_note_ids(pages: list[Page], mapping: dict[str, str]) -> list[Page]:
    """A preview's pages (the file engraved with ``tutor.score.viewxml.with_preview_ids``) with our note ids (``tutor.score.viewxml.preview_id_map``):
    the piece's engraving without engraving it a second time."""
    from tutor.score.viewxml import PREVIEW_PREFIX

    pattern = re.compile(re.escape(PREVIEW_PREFIX) + r"\d+(?!\d)")

    def rename(match: re.Match) -> str:
        return mapping.get(match.group(0), match.group(0))

    renamed = []
    for page in pages:
        notes = {}
        for note_id, box in page.notes.items():
            new_id = mapping.get(note_id, note_id)
            notes[new_id] = replace(box, note_id=new_id)
        renamed.append(replace(page, svg=pattern.sub(rename, page.svg), notes=notes,
                               measures=list(page.measures), staves=list(page.staves)))
    return renamed


def _engrave_locked(score: Score | None, layout: Layout, xml: str, progress=lambda fraction, text: None) -> list[Page]:
    toolkit = _toolkit()
    toolkit.resetOptions()
    toolkit.setOptions(verovio_options(layout))
    progress(0.3, "Laying out the pages")
    if not toolkit.loadData(xml):
        from tutor.errors import InputFileError

        raise InputFileError("Verovio could not engrave this score", path=score.source_path if score else None)
    measure_numbers: dict[str, int] = {}
    pages = []
    count = toolkit.getPageCount()
    for number in range(1, count + 1):
        progress(0.5 + 0.5 * (number - 1) / count, f"Drawing page {number} of {count}")
        raw = toolkit.renderToSVG(number)
        page = fix_svg(raw, page_number=number)
        for measure_id in page.pop_unnumbered():
            attrs = toolkit.getElementAttr(measure_id)
            measure_numbers[measure_id] = _int(attrs.get("n"))
        page.number_measures(measure_numbers)
        pages.append(page.finish())
    return pages


def _int(text, default: int = 0) -> int:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return default


class _PageBuilder:
    """Parses one Verovio SVG page: fixes it for Qt and collects geometry."""

    def __init__(self, root: ET.Element, page_number: int) -> None:
        self.root = root
        self.page_number = page_number
        self.notes: dict[str, NoteBox] = {}
        self.measures: list[tuple[str, float, float, float, float, int]] = []
        self.numbers: dict[str, int] = {}
        self.width = self.height = 0.0
        self.px_per_unit = 1.0
        self.staff_space_units = 180.0
        self.systems = 0  # systems met so far on the page
        self.staves: list[tuple[float, float, float, float]] = []

    def pop_unnumbered(self) -> list[str]:
        return [m[0] for m in self.measures]

    def number_measures(self, numbers: dict[str, int]) -> None:
        self.numbers = numbers

    def finish(self) -> Page:
        k = self.px_per_unit
        boxes = [MeasureBox(self.numbers.get(mid, 0), x0 * k, x1 * k, y0 * k, y1 * k, system)
                 for mid, x0, x1, y0, y1, system in self.measures]
        svg = ET.tostring(self.root, encoding="unicode")
        staves = [(x0 * k, x1 * k, y0 * k, y1 * k) for x0, x1, y0, y1 in self.staves]
        return Page(self.page_number, svg, self.width, self.height, self.notes, boxes, self.staff_space_units * k, staves)


def fix_svg(svg: str, *, page_number: int = 1) -> _PageBuilder:
    root = ET.fromstring(svg)
    builder = _PageBuilder(root, page_number)
    width = float(root.get("width", "0").replace("px", "") or 0)
    height = float(root.get("height", "0").replace("px", "") or 0)
    inner = root.find(f"{{{SVG_NS}}}svg")
    if inner is not None:
        view_box = inner.get("viewBox", f"0 0 {width} {height}")
        _, _, vb_w, vb_h = (float(v) for v in view_box.split())
        root.set("viewBox", view_box)
        inner.tag = f"{{{SVG_NS}}}g"
        for attr in ("viewBox", "class"):
            inner.attrib.pop(attr, None)
        builder.px_per_unit = width / vb_w if vb_w else 1.0
        if not height and vb_h:
            height = vb_h * builder.px_per_unit
    builder.width, builder.height = width, height
    for style in root.findall(f"{{{SVG_NS}}}style"):
        root.remove(style)
    _remove_hidden(root)
    _flatten_texts(root)
    _explicit_strokes(root, "black")
    _collect(builder, root, 0.0, 0.0, -1, None)
    return builder


def _remove_hidden(element: ET.Element) -> None:
    for child in list(element):
        classes = (child.get("class") or "").split()
        if "placeholder" in classes:
            element.remove(child)
        else:
            _remove_hidden(child)


# SMuFL code points Verovio writes in text (tempo marks): Qt has no SMuFL text font
_SMUFL_TEXT = {"\ue1d2": "\U0001d15d", "\ue1d3": "\U0001d15e", "\ue1d5": "\u2669", "\ue1d7": "\u266a",
               "\ue1e7": ".", "\ueca5": "\u2669", "\ueca7": "\u266a", "\ueca3": "\U0001d15e",
               "\ueca2": "\U0001d15d", "\uecb7": "."}


def _flatten_texts(element: ET.Element) -> None:
    """Qt's renderer refuses nested ``<tspan>``s (and Verovio's ``font-size="0px"`` on ``<text>``):
    each ``<text>`` becomes one run with the first real font size, weight and style inside it."""
    for text in element.iter(f"{{{SVG_NS}}}text"):
        for title in [t for t in text.iter() if t.tag.endswith("}title")]:
            for parent in text.iter():
                if title in list(parent):
                    parent.remove(title)
        content = "".join(_SMUFL_TEXT.get(ch, "" if "\ue000" <= ch <= "\uf8ff" else ch) for ch in "".join(text.itertext()))
        for attr in ("x", "y", "text-anchor", "font-size", "font-style", "font-weight"):
            if text.get(attr) not in (None, "0px"):
                continue
            for inner in text.iter():
                value = inner.get(attr)
                if value and value != "0px" and inner.get("font-family") != "Leipzig":
                    text.set(attr, value)
                    break
        if text.get("font-size") in (None, "0px", "0"):
            text.set("font-size", "405px")
        for child in list(text):
            text.remove(child)
        text.text = " ".join(content.split())


def _explicit_strokes(element: ET.Element, color: str) -> None:
    color = element.get("color", color)
    tag = element.tag.rsplit("}", 1)[-1]
    if tag in _SHAPES and element.get("stroke") in (None, "currentColor"):
        element.set("stroke", color)
    if element.get("fill") == "currentColor":
        element.set("fill", color)
    for child in element:
        _explicit_strokes(child, color)


def _translate(element: ET.Element) -> tuple[float, float]:
    match = _TRANSLATE.search(element.get("transform") or "")
    return (float(match.group(1)), float(match.group(2))) if match else (0.0, 0.0)


def _collect(builder: _PageBuilder, element: ET.Element, dx: float, dy: float, system: int,
             measure: list | None) -> None:
    tx, ty = _translate(element) if element.tag.endswith("}g") else (0.0, 0.0)
    dx, dy = dx + tx, dy + ty
    classes = (element.get("class") or "").split()
    if "system" in classes:  # counted on the page: siblings, not only nested systems (issue 24)
        builder.systems += 1
        system = builder.systems - 1
    if "measure" in classes:
        measure = [element.get("id", ""), float("inf"), float("-inf"), float("inf"), float("-inf"), system]
        for child in element:
            _collect(builder, child, dx, dy, system, measure)
        if measure[1] < measure[2]:
            builder.measures.append(tuple(measure))
        return
    if "staff" in classes and measure is not None:
        ys, xs = [], []
        for child in element:
            if child.tag.endswith("}path"):
                points = _PATH_POINTS.findall(child.get("d") or "")
                if len(points) == 2 and points[0][1] == points[1][1]:  # a staff line
                    x0, x1 = float(points[0][0]) + dx, float(points[1][0]) + dx
                    y = float(points[0][1]) + dy
                    ys.append(y)
                    xs += [x0, x1]
                    measure[1], measure[2] = min(measure[1], x0, x1), max(measure[2], x0, x1)
                    measure[3], measure[4] = min(measure[3], y), max(measure[4], y)
        if len(ys) >= 2:
            builder.staff_space_units = (max(ys) - min(ys)) / max(1, len(ys) - 1)
            builder.staves.append((min(xs), max(xs), min(ys), max(ys)))
    if "note" in classes and element.get("id"):
        head = _notehead(element)
        if head is not None:
            glyph, hx, hy, scale = head
            k = builder.px_per_unit
            space = builder.staff_space_units
            width_units = _HEAD_WIDTH_SP.get(glyph, DEFAULT_HEAD_SP) * space * (scale / 0.72 if scale else 1.0)
            builder.notes[element.get("id")] = NoteBox(
                element.get("id"), (hx + dx + width_units / 2) * k, (hy + dy) * k,
                width_units * k, space * k, system,
            )
    for child in element:
        _collect(builder, child, dx, dy, system, measure)


def _notehead(note: ET.Element) -> tuple[str, float, float, float] | None:
    for group in note.iter(f"{{{SVG_NS}}}g"):
        if "notehead" in (group.get("class") or "").split():
            for use in group.iter(f"{{{SVG_NS}}}use"):
                href = use.get(f"{{{XLINK_NS}}}href") or use.get("href") or ""
                glyph = href.lstrip("#").split("-", 1)[0]
                transform = use.get("transform") or ""
                match = _TRANSLATE.search(transform)
                if match:
                    x, y = float(match.group(1)), float(match.group(2))
                else:
                    x, y = float(use.get("x", 0)), float(use.get("y", 0))
                scale_match = _SCALE.search(transform)
                scale = float(scale_match.group(1)) if scale_match else 0.72
                return glyph, x, y, scale
    return None


def recolor_svg(svg: str, colors: dict[str, str]) -> str:
    """``svg`` with the notes whose ids are in ``colors`` drawn in that colour (head and stem); a tied note's
    later noteheads (``{id}-t{j}``) with it."""
    if not colors:
        return svg
    root = ET.fromstring(svg)
    for element in root.iter(f"{{{SVG_NS}}}g"):
        note_id = element.get("id") or ""
        color = colors.get(note_id) or colors.get(_TIED_HEAD.sub("", note_id))
        if color and "note" in (element.get("class") or "").split():
            for part in element.iter():
                tag = part.tag.rsplit("}", 1)[-1]
                if tag == "g" or tag == "use":
                    part.set("fill", color)
                    part.set("color", color)
                elif tag in _SHAPES:
                    part.set("stroke", color)
                    part.set("fill", color)
    return ET.tostring(root, encoding="unicode")
