"""The score view: Verovio's engraving, marks on notes, a cursor, selection of notes, bars and ranges.

* ``set_score(score)`` engraves in a worker (``ui.engraving``) and shows the pages; ``engraved``
  is emitted when they are on screen.
* Marks are keyed by note id (``tutor.score.music.Note.id``), the ids that Verovio keeps in its SVG:
  ``set_marks({id: {"color": "#RRGGBB", "text": "late 80ms"}})`` recolours noteheads (and stems) in
  the engraving and writes the text above the note; ``add_live_mark`` puts a coloured ring on the
  notehead at once (no re-rendering: what the practice mode uses while the student plays).
* ``set_cursor(position_ql)`` moves the play/record cursor (and scrolls to it when following).
* A click on a note emits ``noteClicked(id)``, on a bar ``measureClicked(number)``; dragging
  across bars selects a range and emits ``rangeSelected(first, last)``.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, replace

from PySide6.QtCore import QByteArray, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QPixmapCache
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtSvgWidgets import QGraphicsSvgItem
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from tutor.score.music import Score
from tutor.ui.engraving import Layout, MeasureBox, NoteBox, Page, engrave, recolor_svg
from tutor.ui.workers import run_job

PAGE_GAP = 24.0
PAGE_CACHE_MAX_PX = 4096  # a page larger than this on screen (a zoom of ~3x and more) is drawn from its SVG
SELECTION_COLOR = QColor(30, 136, 229, 50)
CURSOR_COLOR = QColor(30, 136, 229, 200)


@dataclass
class _PageItems:
    page: Page
    offset_y: float
    renderer: QSvgRenderer
    svg_item: QGraphicsSvgItem


@dataclass(frozen=True)
class _Overlay:
    """A suggestion drawn over the piece (``ScoreView.show_overlay``) and the piece as it was under it."""

    score: Score  # what the view shows: the piece with the suggestion
    musicxml: str  # what is engraved for it (hidden rests, extra voices)
    piece: Score | None  # the piece under it (None: the view showed nothing)
    marks: dict[str, dict[str, str]]  # the piece's marks
    pages: list[Page] | None  # the piece's engraving as it was on screen (None: engrave it again at the end)
    layout: Layout  # the layout of those pages


@dataclass(frozen=True)
class _Stop:
    """One onset of the score on screen, for the cursor."""

    position_ql: float
    x: float
    y0: float
    y1: float
    line: int  # index over every system of every page


class ScoreView(QGraphicsView):
    noteClicked = Signal(str)
    measureClicked = Signal(int)
    rangeSelected = Signal(int, int)
    engraved = Signal()
    markPainted = Signal(str, float)  # note id, perf_counter time when the mark was on screen
    engraveFailed = Signal(object)
    engraving = Signal(object)  # the engraving job, when one starts (the window shows its progress and Cancel)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.Antialiasing | QPainter.SmoothPixmapTransform | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.NoDrag)
        self.setViewportUpdateMode(QGraphicsView.MinimalViewportUpdate)
        self.setBackgroundBrush(QColor("#8a8f98"))
        QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), 128 * 1024))  # the pages' pixmaps (KB)
        self.setAlignment(Qt.AlignHCenter | Qt.AlignTop)
        self.score: Score | None = None
        self.layout_options = Layout()
        self.pages: list[_PageItems] = []
        self.boxes: dict[str, tuple[NoteBox, float]] = {}  # note id -> box, page offset
        self.measure_boxes: list[tuple[MeasureBox, float]] = []
        self.marks: dict[str, dict[str, str]] = {}
        self._mark_items: list = []
        self._live_items: dict[str, list] = {}
        self._stops: list[_Stop] = []
        self._stop_positions: list[float] = []
        self._cursor = QGraphicsLineItem()
        self._cursor.setPen(QPen(CURSOR_COLOR, 3))
        self._cursor.setZValue(20)
        self._selection_items: list[QGraphicsRectItem] = []
        self._drag_from: int | None = None
        self._zoom = 1.0
        self.follow_cursor = True
        self.selected_range: tuple[int, int] | None = None
        self._job = None
        self._engraved: tuple[Score, list[Page], Layout] | None = None  # what the pages on screen show
        self._overlay: _Overlay | None = None
        self._pending_paint: list[tuple[str, float]] = []
        self._message = None
        self.show_message("Open a piece (File > Open, or drop a file here) to see its score.")

    # --- loading ---------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        scene = self.scene()
        scene.clear()
        self._flash = None  # its item went with the scene's (issue 24: a RuntimeError on the next click)
        self.pages, self._engraved = [], None
        self._preview_shown = None
        self._cursor = self._new_cursor()
        item = scene.addSimpleText(text, QFont("Sans", 13))
        item.setBrush(QColor("white"))
        self._message = item
        scene.setSceneRect(item.boundingRect().adjusted(-40, -40, 40, 40))

    def _new_cursor(self) -> QGraphicsLineItem:
        cursor = QGraphicsLineItem()
        cursor.setPen(QPen(CURSOR_COLOR, 3))
        cursor.setZValue(20)
        cursor.setVisible(False)
        return cursor

    def show_preview(self, path: str, then=None):
        """Engrave the MusicXML file ``path`` as it is, then call ``then()`` (in the UI thread; not when
        cancelled), which reads the piece (issue 24: a 231-bar piece's engraving waited ~5 s for music21's
        parse; the two in parallel share one interpreter lock, so the engraving goes first). The pages
        show no piece (no marks, no cursor) until ``set_score`` brings the piece read from the file; its
        note ids are then put on these pages without engraving again. A file already in the score cache
        (read fast) or a short one gets no preview. Returns the job."""
        token = object()
        self._preview_token, self._preview_path = token, str(path)

        def finished() -> None:
            if then is not None and not job.cancelled:
                then()

        job = run_job(_preview_job, path, self.layout_options, on_result=lambda r: self._show_preview(token, r),
                      on_error=lambda e: None, on_done=finished, name="engrave preview")
        return job

    def cancel_preview(self) -> bool:
        """Stop a preview (the open was cancelled); True when one was on screen (the view is then empty)."""
        self._preview_token = None
        if self.score_shows_nothing():
            self.show_message("Cancelled. Open a piece (File > Open, or drop a file here) to see its score.")
            return True
        return False

    @property
    def engraved_score(self) -> Score | None:
        """The piece the pages on screen are the engraving of (None: none, or a preview)."""
        return self._engraved[0] if self._engraved is not None else None

    def _show_preview(self, token, result) -> None:
        if result is None or token is not getattr(self, "_preview_token", None):
            return
        pages, layout = result
        if layout != self.layout_options:
            return
        self.score, self.marks = None, {}  # the shown pages are not the previous piece's
        self._show_pages((None, pages, layout))
        self._engraved = None
        self._preview_shown = (self._preview_path, pages, layout)

    def set_score(self, score: Score, *, layout: Layout | None = None, keep_marks: bool = False) -> None:
        """Engrave ``score`` in the background; the view updates when it is ready."""
        self._preview_token = None  # a preview still engraving is too late
        preview, self._preview_shown = getattr(self, "_preview_shown", None), None
        self.score = score
        if layout is not None:
            self.layout_options = layout
        if not keep_marks:
            self.marks = {}
        if not self.pages:
            self.show_message("Engraving the score…")
        if (preview is not None and self.score_shows_nothing() and score.source_path is not None
                and str(score.source_path) == preview[0] and preview[2] == self.layout_options):
            self._adopt_preview(score, preview[1])  # the file's engraving on screen takes the piece's note ids
        else:
            self._engrave(score)

    def score_shows_nothing(self) -> bool:
        """The pages on screen are a preview (no piece yet)."""
        return self._engraved is None and bool(self.pages)

    def _adopt_preview(self, score: Score, pages: list[Page]) -> None:
        if self._job is not None:
            self._job.cancel()
        layout = self.layout_options
        job = run_job(_adopt_preview_job, score, pages, layout,
                      on_result=lambda result: None if job.cancelled else self._adopted(result),
                      on_error=lambda e: self._engrave(score), name="engrave")  # cancelled: no answer at all
        self._job = job
        self.engraving.emit(job)

    def _adopted(self, result) -> None:
        score, pages, layout = result
        if pages is None:  # the file does not agree with the piece read from it: engrave the piece
            if score is self.score:
                self._engrave(score)
            return
        self._show_pages(result)

    def _engrave(self, score: Score, musicxml: str | None = None, *, name: str = "engrave") -> None:
        """Engrave ``score`` in a worker (``musicxml``: what to engrave for it, when not the score's own);
        the view shows it when it is ready, unless another score was set in the meantime."""
        if self._job is not None:
            self._job.cancel()
        self._job = run_job(_engrave_job, score, self.layout_options, musicxml, on_result=self._show_pages,
                            on_error=self.engraveFailed.emit, name=name)
        self.engraving.emit(self._job)

    def engrave_now(self, score: Score) -> None:
        """Engrave in this thread (for the screenshot command and tests that need no event loop)."""
        self.score = score
        self._show_pages((score, engrave(score, layout=self.layout_options), self.layout_options))

    def set_layout(self, layout: Layout) -> None:
        """Engrave again with ``layout`` (pages or one long line): the piece, or the suggestion overlay
        with its own MusicXML and colours while one is shown."""
        self.layout_options = layout
        overlay = self._overlay_shown()
        if overlay is not None:
            self._engrave(overlay.score, overlay.musicxml, name="engrave overlay")
        elif self.score is not None:
            self.set_score(self.score, keep_marks=True)

    def _show_pages(self, result) -> None:
        score, pages, layout = result
        if score is not self.score or layout != self.layout_options:
            return  # an older engraving
        self._engraved = (score, pages, layout)
        scene = self.scene()
        scene.clear()
        self._flash = None  # its item went with the scene's (issue 24: a RuntimeError on the next click)
        self._mark_items, self._live_items, self._selection_items = [], {}, []
        self._message = None
        self.pages, self.boxes, self.measure_boxes = [], {}, []
        self.staff_rects: list[QRectF] = []  # every staff of every measure, scene coordinates
        offset = 0.0
        width = max((p.width for p in pages), default=0)
        for page in pages:
            # a plain offset shadow: a blurred one (QGraphicsDropShadowEffect) is drawn again with every paint
            # that touches the page, ~30 ms a live mark on the 2-core CPU (issue 20)
            scene.addRect(QRectF(1.5, offset + 2.5, page.width, page.height), QPen(Qt.NoPen), QBrush(QColor(0, 0, 0, 70)))
            scene.addRect(QRectF(0, offset, page.width, page.height), QPen(Qt.NoPen), QBrush(QColor("white")))
            renderer = QSvgRenderer(QByteArray(recolor_svg(page.svg, self._colors()).encode("utf-8")))
            item = QGraphicsSvgItem()
            item.setSharedRenderer(renderer)
            item.setPos(0, offset)
            # the engraving is drawn once into a pixmap at the screen's resolution (again when the zoom changes):
            # a live mark's repaint copies pixels instead of drawing the SVG again (~30 ms a paint, issue 20)
            item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            # ...but QGraphicsSvgItem caches nothing larger than 1024 x 768 device pixels by default: a page at
            # the fit-width zoom (~960 x 1330) was drawn from the SVG at every paint, 30-50 ms each, and the
            # cursor's 30 Hz repaints kept the UI thread ~90% busy during a take (issue 20). The cached pixmap
            # is the part of the page on screen (whole pages only for the paint after a zoom change).
            item.setMaximumCacheSize(QSize(PAGE_CACHE_MAX_PX, PAGE_CACHE_MAX_PX))
            scene.addItem(item)
            self.pages.append(_PageItems(page, offset, renderer, item))
            for note_id, box in page.notes.items():
                self.boxes[note_id] = (box, offset)
            for measure in page.measures:
                self.measure_boxes.append((measure, offset))
            for x0, x1, y0, y1 in page.staves:
                self.staff_rects.append(QRectF(x0, offset + y0, x1 - x0, y1 - y0))
            offset += page.height + PAGE_GAP
        scene.setSceneRect(QRectF(-PAGE_GAP, -PAGE_GAP, width + 2 * PAGE_GAP, offset + PAGE_GAP))
        self._cursor = self._new_cursor()
        scene.addItem(self._cursor)
        self._build_stops()
        self._draw_mark_texts()
        self._draw_selection()
        self.engraved.emit()

    # --- geometry --------------------------------------------------------------------------
    def note_rect(self, note_id: str) -> QRectF | None:
        """The notehead's rectangle in scene coordinates (tied continuations map to their note)."""
        found = self.boxes.get(note_id)
        if found is None and self.score is not None:
            try:
                found = self.boxes.get(self.score.note_by_id(note_id).id)
            except KeyError:
                found = None
        if found is None:
            return None
        box, offset = found
        return QRectF(box.x - box.width / 2, offset + box.y - box.height / 2, box.width, box.height)

    def _text_bottom(self, rect: QRectF) -> float:
        """Where a mark's text ends above a notehead: over the staff (never across its lines) or
        over a note above it, whichever is higher."""
        x, y = rect.center().x(), rect.center().y()
        staves = [r for r in getattr(self, "staff_rects", []) if r.left() - 2 <= x <= r.right() + 2]
        if staves:  # the note's own staff (issue 24: a bass note's label sat over the soprano's staff)
            staff = min(staves, key=lambda r: max(r.top() - y, 0.0, y - r.bottom()))
            if max(staff.top() - y, 0.0, y - staff.bottom()) < 6 * staff.height() / 4:
                return min(rect.top() - 16, staff.top() - 6)
        for m, offset in self.measure_boxes:
            if m.x0 - 2 <= x <= m.x1 + 2 and offset + m.y0 - 60 <= y <= offset + m.y1 + 60:
                return min(rect.top() - 16, offset + m.y0 - 6)
        return rect.top() - 18

    def measure_rects(self, number: int) -> list[QRectF]:
        return [QRectF(m.x0, off + m.y0 - 8, m.x1 - m.x0, m.y1 - m.y0 + 16)
                for m, off in self.measure_boxes if m.number == number]

    def _build_stops(self) -> None:
        """Where each onset of the score sits on screen, system by system, for the cursor."""
        self._stops, self._stop_positions, self._line_ends = [], [], {}
        if self.score is None:
            return
        systems: dict[tuple[int, int], list[float]] = {}  # (page, system) -> [y0, y1, x_end]
        for index, page in enumerate(self.pages):
            for m in page.page.measures:
                y0, y1, x_end = systems.get((index, m.system), [m.y0, m.y1, m.x1])
                systems[(index, m.system)] = [min(y0, m.y0), max(y1, m.y1), max(x_end, m.x1)]
        lines = {key: number for number, key in enumerate(sorted(systems))}
        page_of_offset = {page.offset_y: index for index, page in enumerate(self.pages)}
        stops: dict[tuple[int, float], _Stop] = {}
        for note in self.score.notes:
            found = self.boxes.get(note.id)
            if found is None:
                continue
            box, offset = found
            key = (page_of_offset.get(offset, 0), box.system)
            y0, y1, _ = systems.get(key, [box.y - 20, box.y + 20, box.x])
            line = lines.get(key, 0)
            x = box.x - box.width / 2 - 3
            old = stops.get((line, round(note.onset_ql, 6)))
            if old is None or x < old.x:
                stops[(line, round(note.onset_ql, 6))] = _Stop(note.onset_ql, x, offset + y0 - 12, offset + y1 + 12, line)
        self._stops = sorted(stops.values(), key=lambda s: (s.position_ql, s.line))
        self._stop_positions = [s.position_ql for s in self._stops]
        self._line_ends = {lines[key]: values[2] for key, values in systems.items()}

    # --- cursor ----------------------------------------------------------------------------
    def set_cursor(self, position_ql: float | None) -> None:
        if position_ql is None or not self._stops:
            self._cursor.setVisible(False)
            return
        index = bisect.bisect_right(self._stop_positions, position_ql + 1e-9) - 1
        if index < 0:
            stop = self._stops[0]
            x = stop.x
        else:
            stop = self._stops[index]
            x = stop.x
            following = self._stops[index + 1] if index + 1 < len(self._stops) else None
            if following is not None and following.line == stop.line and following.position_ql > stop.position_ql:
                fraction = (position_ql - stop.position_ql) / (following.position_ql - stop.position_ql)
                x = stop.x + max(0.0, min(1.0, fraction)) * (following.x - stop.x)
            elif self.score is not None:
                end_ql = self.score.duration_ql
                measure = self.score.measure_at(stop.position_ql)
                if measure is not None:
                    end_ql = measure.end_ql
                if end_ql > stop.position_ql:
                    fraction = (position_ql - stop.position_ql) / (end_ql - stop.position_ql)
                    x_end = self._line_ends.get(stop.line, stop.x)
                    x = stop.x + max(0.0, min(1.0, fraction)) * (x_end - stop.x)
        self._cursor.setLine(x, stop.y0, x, stop.y1)
        self._cursor.setVisible(True)
        if self.follow_cursor:
            self._follow(QRectF(x - 40, stop.y0, 80, stop.y1 - stop.y0))

    def _follow(self, system: QRectF) -> None:
        """Keep the played system in sight with the music after it (issue 24): when it leaves the view or
        reaches its lower half, the view scrolls so that it sits a fifth of the way down."""
        seen = self.mapToScene(self.viewport().rect()).boundingRect()
        if system.top() < seen.top() or system.bottom() > seen.top() + 0.55 * seen.height():
            bar = self.verticalScrollBar()
            wanted_top = system.top() - 0.2 * seen.height()
            bar.setValue(bar.value() + int((wanted_top - seen.top()) * self.transform().m22()))
        self.ensureVisible(system, 60, 20)  # and sideways (one long line)

    @property
    def cursor_visible(self) -> bool:
        return self._cursor.isVisible()

    # --- marks -----------------------------------------------------------------------------
    def _colors(self) -> dict[str, str]:
        colors = {}
        for note_id, mark in self.marks.items():
            if mark.get("color"):
                colors[note_id] = mark["color"]
        if self.score is not None:  # a tied note's continuation heads take its colour too
            for note in self.score.notes:
                if note.tied_ids and note.id in colors:
                    for tied in note.tied_ids:
                        colors[tied] = colors[note.id]
        return colors

    def set_marks(self, marks: dict[str, dict[str, str]]) -> None:
        """Colour noteheads and write short texts: ``{note_id: {"color": ..., "text": ...}}``."""
        self.marks = {k: dict(v) for k, v in (marks or {}).items()}
        self.clear_live_marks()
        colors = self._colors()
        for page in self.pages:
            page.renderer.load(QByteArray(recolor_svg(page.page.svg, colors).encode("utf-8")))
            page.svg_item.update()
        self._draw_mark_texts()

    def clear_marks(self) -> None:
        self.set_marks({})

    def _draw_mark_texts(self) -> None:
        scene = self.scene()
        for item in self._mark_items:
            scene.removeItem(item)
        self._mark_items = []
        font = QFont("Sans", 7)
        placed: list[QRectF] = []
        for note_id, mark in self.marks.items():
            text = mark.get("text")
            rect = self.note_rect(note_id)
            if not text or rect is None:
                continue
            item = QGraphicsSimpleTextItem(text)
            item.setFont(font)
            item.setBrush(QColor(mark.get("color") or "#333333"))
            bounds = item.boundingRect()
            x = rect.center().x() - bounds.width() / 2
            y = self._text_bottom(rect) - bounds.height()
            candidate = _free_place(QRectF(x, y, bounds.width(), bounds.height()), placed)
            if candidate is None:  # no room near the note: a short mark, the whole text in its tooltip
                item.setText("•")
                bounds = item.boundingRect()
                candidate = QRectF(rect.center().x() - bounds.width() / 2, y, bounds.width(), bounds.height())
            placed.append(candidate)
            item.setPos(candidate.topLeft())
            item.setZValue(15)
            item.setToolTip(text)
            scene.addItem(item)
            self._mark_items.append(item)

    def add_live_mark(self, note_id: str, color: str, text: str = "") -> bool:
        """A coloured ring on the notehead at once (and a short text above it)."""
        rect = self.note_rect(note_id)
        if rect is None:
            return False
        for item in self._live_items.pop(note_id, []):
            self.scene().removeItem(item)
        pad = rect.height() * 0.35
        ring = QGraphicsEllipseItem(rect.adjusted(-pad, -pad, pad, pad))
        colour = QColor(color)
        ring.setPen(QPen(colour, 2.2))
        fill = QColor(colour)
        fill.setAlpha(70)
        ring.setBrush(QBrush(fill))
        ring.setZValue(12)
        self.scene().addItem(ring)
        items = [ring]
        if text:
            label = QGraphicsSimpleTextItem(text)
            label.setFont(QFont("Sans", 7))
            label.setBrush(colour)
            bounds = label.boundingRect()
            label.setPos(rect.center().x() - bounds.width() / 2, self._text_bottom(rect) - bounds.height())
            label.setZValue(15)
            self.scene().addItem(label)
            items.append(label)
        self._live_items[note_id] = items
        self._pending_paint.append((note_id, time.perf_counter()))
        area = QRectF()
        for item in items:  # only where the ring and its text are (a whole-view repaint costs ~20 ms more)
            area = area.united(item.sceneBoundingRect())
        self.viewport().update(self.mapFromScene(area).boundingRect().adjusted(-3, -3, 3, 3))
        return True

    def fade_live_marks(self, opacity: float = 0.3) -> None:
        """Dim the rings drawn so far (a looped take's previous pass; the new pass's rings replace them)."""
        for items in self._live_items.values():
            for item in items:
                item.setOpacity(opacity)
        self.viewport().update()

    def clear_live_marks(self) -> None:
        for items in self._live_items.values():
            for item in items:
                self.scene().removeItem(item)
        self._live_items = {}

    @property
    def live_marks(self) -> list[str]:
        return list(self._live_items)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        if self._pending_paint:
            now = time.perf_counter()
            pending, self._pending_paint = self._pending_paint, []
            for note_id, _ in pending:
                self.markPainted.emit(note_id, now)

    # --- selection -------------------------------------------------------------------------
    def measure_at(self, point: QPointF) -> int | None:
        for m, offset in self.measure_boxes:
            if m.x0 <= point.x() <= m.x1 and offset + m.y0 - 40 <= point.y() <= offset + m.y1 + 40:
                return m.number
        return None

    def note_at(self, point: QPointF) -> str | None:
        best, best_distance = None, 12.0
        for note_id, (box, offset) in self.boxes.items():
            distance = ((box.x - point.x()) ** 2 + (offset + box.y - point.y()) ** 2) ** 0.5
            if distance < best_distance:
                best, best_distance = note_id, distance
        if best is not None and self.score is not None:
            try:
                return self.score.note_by_id(best).id
            except KeyError:
                return best
        return best

    def select_range(self, first: int | None, last: int | None = None) -> None:
        if first is None:
            self.selected_range = None
        else:
            last = first if last is None else last
            self.selected_range = (min(first, last), max(first, last))
        self._draw_selection()

    def _draw_selection(self) -> None:
        scene = self.scene()
        for item in self._selection_items:
            scene.removeItem(item)
        self._selection_items = []
        if self.selected_range is None:
            return
        first, last = self.selected_range
        for m, offset in self.measure_boxes:
            if first <= m.number <= last:
                item = scene.addRect(QRectF(m.x0, offset + m.y0 - 10, m.x1 - m.x0, m.y1 - m.y0 + 20),
                                     QPen(Qt.NoPen), QBrush(SELECTION_COLOR))
                item.setZValue(5)
                self._selection_items.append(item)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self.pages:
            point = self.mapToScene(event.position().toPoint())
            self._drag_from = self.measure_at(point)
            self._press_point = point
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag_from is not None and event.buttons() & Qt.LeftButton:
            here = self.measure_at(self.mapToScene(event.position().toPoint()))
            if here is not None and here != self._drag_from:
                self.select_range(self._drag_from, here)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self._drag_from is not None:
            point = self.mapToScene(event.position().toPoint())
            here = self.measure_at(point)
            start = self._drag_from
            self._drag_from = None
            if here is not None and here != start:
                self.select_range(start, here)
                self.rangeSelected.emit(*self.selected_range)
            else:
                note_id = self.note_at(point)
                if note_id is not None:
                    self.noteClicked.emit(note_id)
                elif here is not None:
                    self.select_range(here)
                    self.measureClicked.emit(here)
                else:
                    self.select_range(None)
        super().mouseReleaseEvent(event)

    # --- zoom and scrolling ------------------------------------------------------------------
    def set_zoom(self, factor: float) -> None:
        factor = max(0.3, min(4.0, factor))
        self.resetTransform()
        self.scale(factor, factor)
        self._zoom = factor

    @property
    def zoom(self) -> float:
        return self._zoom

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * 1.2)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / 1.2)

    def zoom_to_width(self) -> None:
        if self.pages:
            width = max(p.page.width for p in self.pages) + 2 * PAGE_GAP
            self.set_zoom((self.viewport().width() - 4) / width)

    def wheelEvent(self, event) -> None:  # noqa: N802
        if event.modifiers() & Qt.ControlModifier:
            if event.angleDelta().y() > 0:
                self.zoom_in()
            else:
                self.zoom_out()
            event.accept()
            return
        super().wheelEvent(event)

    def show_note(self, note_id: str) -> None:
        """Scroll to a note and flash a ring on it."""
        rect = self.note_rect(note_id)
        if rect is None:
            return
        self.centerOn(rect.center())
        flash = QGraphicsEllipseItem(rect.adjusted(-8, -8, 8, 8))
        flash.setPen(QPen(QColor("#1E88E5"), 2, Qt.DashLine))
        flash.setZValue(25)
        self.scene().addItem(flash)
        old = getattr(self, "_flash", None)
        if old is not None and old.scene() is not None:
            self.scene().removeItem(old)
        self._flash = flash

    def show_measure(self, number: int) -> None:
        rects = self.measure_rects(number)
        if rects:
            self.centerOn(rects[0].center())
            self.select_range(number)

    # --- suggestion overlay (Compose mode; ui/compose.py builds what it draws) ------------------
    def show_overlay(self, overlay: tuple | None) -> None:
        """Draw a suggestion over the piece, or (``None``) go back to the piece as it was, marks included.

        ``overlay`` is ``(score, musicxml, colors)`` from ``tutor.ui.compose.overlay_view``: the piece
        with the suggestion's notes as an extra voice or new parts, that MusicXML engraved (in a worker)
        and the notes in ``colors`` ({note id: "#RRGGBB"}) drawn in colour. The piece's pages are kept
        and shown again at the end, unless the layout changed in between (then it is engraved again).
        Setting another score (``set_score``) also ends the overlay."""
        shown = self._overlay_shown()
        if overlay is None:
            self._overlay = None
            if shown is not None and shown.piece is not None:
                self._show_piece(shown)
            return
        score, musicxml, colors = overlay
        if shown is None:
            engraved = self._engraved if self._engraved is not None and self._engraved[0] is self.score else None
            shown = _Overlay(score, musicxml, self.score, dict(self.marks),
                             engraved[1] if engraved else None, engraved[2] if engraved else self.layout_options)
        self._overlay = replace(shown, score=score, musicxml=musicxml)
        self.score = score
        self.marks = {note_id: {"color": color, "text": ""} for note_id, color in colors.items()}
        self._engrave(score, musicxml, name="engrave overlay")

    def _overlay_shown(self) -> _Overlay | None:
        """The overlay on the view, unless the view was given another score since."""
        overlay = self._overlay
        return overlay if overlay is not None and self.score is overlay.score else None

    def _show_piece(self, overlay: _Overlay) -> None:
        """The piece under ``overlay`` again: its pages as they were, or engraved again for a new layout."""
        self.marks = overlay.marks
        if overlay.pages is None or overlay.layout != self.layout_options:
            self.set_score(overlay.piece, keep_marks=True)
            return
        if self._job is not None:
            self._job.cancel()  # the overlay's engraving, if it is still running
            self._job = None
        self.score = overlay.piece
        self._show_pages((overlay.piece, overlay.pages, overlay.layout))


def _free_place(wanted: QRectF, placed: list[QRectF]) -> QRectF | None:
    """Where a mark's text goes near ``wanted`` without covering another: at most two rows higher (it
    climbed into the staff above, issue 24), else beside it; None when there is no room."""
    width, height = wanted.width(), wanted.height()
    for dx, rows in ((0.0, 0), (0.0, 1), (0.0, 2), (0.55, 0), (-0.55, 0), (0.55, 1), (-0.55, 1),
                     (1.1, 0), (-1.1, 0), (1.1, 1), (-1.1, 1)):
        candidate = wanted.translated(dx * width, -rows * height)
        if not any(candidate.intersects(other) for other in placed):
            return candidate
    return None


def _adopt_preview_job(task, score: Score, pages: list[Page], layout: Layout):
    """The preview's pages with the piece's note ids (pages None: they cannot be matched)."""
    from tutor.score.viewxml import preview_id_map
    from tutor.ui.engraving import with_note_ids

    task.progress(0.5, "Engraving: the notes of the preview")
    mapping = preview_id_map(score)
    task.check()
    return score, (with_note_ids(pages, mapping) if mapping else None), layout


def _preview_job(task, path: str, layout: Layout):
    """Pages of the file as it is (None: no preview is worth it: another format, a short file, or a
    piece the score cache holds: read in milliseconds, it is engraved with its ids at once, which took
    3.0 s to the page on the Arabeske against 4.8 s through a preview)."""
    from tutor.score import cache
    from tutor.score.viewxml import file_musicxml, with_preview_ids
    from tutor.ui.engraving import engrave_musicxml

    # a full read, not an existence check: a corrupt entry is read again by music21 and wants the preview;
    # an absent entry costs a failed open (~0.03 ms), a held one an unpickle (55 ms, the Arabeske's 288 kB)
    if cache.get(cache.key_for(path, None)) is not None:
        return None
    xml = file_musicxml(path)
    if xml is None or len(xml) < PREVIEW_MIN_CHARS:
        return None
    task.check()
    pages = engrave_musicxml(with_preview_ids(xml), layout=layout, progress=task.check_and_progress)
    task.check()
    return pages, layout


# a file this long takes music21 about a second to read: below it the piece arrives before a preview would
PREVIEW_MIN_CHARS = 150_000


def _engrave_job(task, score: Score, layout: Layout, musicxml: str | None = None):
    task.progress(0.05, "Engraving")
    pages = engrave(score, layout=layout, musicxml=musicxml, progress=task.check_and_progress)
    task.check()
    return score, pages, layout
