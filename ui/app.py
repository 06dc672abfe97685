"""The tutor desktop app: one score view, three modes (Practice, Compose, Lessons).

``main(argv)`` starts it; ``MainWindow`` is the window. The UI thread never waits on a model, a
file or a device: loading, engraving, assessing, critiquing and suggesting run in workers
(``ui.workers``) and report back through queued signals; long jobs show progress in the status
bar and can be cancelled.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette, QUndoStack
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QToolButton,
)

from tutor.score.io import AUDIO_EXTENSIONS, MIDI_EXTENSIONS, SCORE_EXTENSIONS, save_score
from tutor.score.music import Score, pitch_name
from tutor.ui.compose import ComposePanel, ScoreEdit, transposed, without_note
from tutor.ui.engraving import Layout
from tutor.ui.lessons_view import LessonsPanel
from tutor.ui.practice import PracticePanel, file_filter
from tutor.ui.score_view import ScoreView
from tutor.ui.settings import SettingsDialog
from tutor.ui.workers import run_job

log = logging.getLogger(__name__)
MODES = ("practice", "compose", "lessons")
OPEN_FILTER = file_filter("Scores", SCORE_EXTENSIONS) + ";;All files (*)"
MAX_RECENT = 10


def settings_store() -> QSettings:
    return QSettings("tutor", "tutor")


class MainWindow(QMainWindow):
    def __init__(self, *, settings: QSettings | None = None, autosave_folder: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or settings_store()
        self.setWindowTitle("tutor")
        self.setAcceptDrops(True)
        self.score: Score | None = None
        self.score_path: Path | None = None
        self.mode = "practice"
        self.jobs = []
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._edited)
        self.selected_note: str | None = None
        from tutor.ui.autosave import Autosaver

        self.autosaver = Autosaver(self, folder=autosave_folder)
        self.autosave_folder = autosave_folder

        self.score_view = ScoreView()
        self.practice_panel = PracticePanel(self)
        self.compose_panel = ComposePanel(self)
        self.lessons_panel = LessonsPanel(self)
        self.panels = QStackedWidget()
        for panel in (self.practice_panel, self.compose_panel, self.lessons_panel):
            scroller = QScrollArea()  # a small screen scrolls the panel rather than growing the window
            scroller.setWidgetResizable(True)
            scroller.setFrameShape(QScrollArea.NoFrame)
            scroller.setWidget(panel)
            self.panels.addWidget(scroller)
            _fit_and_guard(panel, scroller)
        self.panels.setMinimumWidth(380)
        splitter = QSplitter()
        splitter.addWidget(self.score_view)
        splitter.addWidget(self.panels)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self._build_mode_bar()
        self._build_menus()
        self._build_status()
        from tutor.ui.settings import install_indicator

        install_indicator(self)  # "Analysis: local CPU / remote HOST / remote unreachable — local"

        self.score_view.noteClicked.connect(self._note_clicked)
        self.score_view.measureClicked.connect(lambda n: self.status(f"Measure {n} selected"))
        self.score_view.rangeSelected.connect(lambda a, b: self.status(f"Measures {a}–{b} selected"))
        self.score_view.engraveFailed.connect(lambda e: self.show_error("Cannot engrave the score", e))
        self.score_view.engraving.connect(lambda job: self.track_job(job, "Engraving"))
        self.score_view.engraved.connect(self._first_engraving)
        for panel in (self.practice_panel, self.compose_panel):
            panel.status.connect(self.status)
        self.lessons_panel.startExercise.connect(self.start_exercise)
        self.lessons_panel.previewExercise.connect(self.preview_exercise)
        self.preview_wait = False  # the screenshot command previews in its own thread
        self.restore_state()

    # --- building ---------------------------------------------------------------------------
    def _build_mode_bar(self) -> None:
        bar = self.addToolBar("Mode")
        bar.setObjectName("modebar")
        bar.setMovable(False)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons = {}
        for index, (mode, label) in enumerate((("practice", "Practice"), ("compose", "Compose"), ("lessons", "Lessons"))):
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.setToolTip(f"{label} mode (Ctrl+{index + 1})")
            button.setMinimumWidth(90)
            self.mode_group.addButton(button, index)
            bar.addWidget(button)
            self.mode_buttons[mode] = button
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
        bar.addSeparator()
        zoom_out = QToolButton()
        zoom_out.setText("−")
        zoom_out.setToolTip("Zoom out (Ctrl+-)")
        zoom_out.clicked.connect(self.score_view.zoom_out)
        zoom_in = QToolButton()
        zoom_in.setText("+")
        zoom_in.setToolTip("Zoom in (Ctrl++)")
        zoom_in.clicked.connect(self.score_view.zoom_in)
        bar.addWidget(zoom_out)
        bar.addWidget(zoom_in)
        self.layout_box = QComboBox()
        self.layout_box.addItem("Pages", False)
        self.layout_box.addItem("One long line", True)
        self.layout_box.setToolTip("Show the score as pages or as one continuous line")
        self.layout_box.currentIndexChanged.connect(self._layout_changed)
        bar.addWidget(self.layout_box)
        self.mode_buttons["practice"].setChecked(True)

    def _in_compose(self, slot):
        """A menu slot that first shows Compose mode, where its results appear."""
        def run(*_args) -> None:
            self.set_mode("compose")
            slot()

        return run

    def _action(self, menu, text, slot, shortcut=None, *, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = file.addMenu("Open &recent")
        self._action(file, "Open the &demo piece", lambda: self.open_file(demo_piece()))
        file.addSeparator()
        self._action(file, "&Save as…", self.save_as, QKeySequence.SaveAs)
        export = file.addMenu("&Export")
        self._action(export, "MIDI…", lambda: self.export("mid"))
        self._action(export, "MusicXML with marks…", lambda: self.export("musicxml"))
        self._action(export, "Audio (WAV)…", lambda: self.export("wav"))
        file.addSeparator()
        self._action(file, "Settings…", self.open_settings, "Ctrl+,")  # QKeySequence.Preferences is none on Linux
        self._action(file, "&Quit", self.close, QKeySequence.Quit)
        edit = bar.addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.Redo)
        edit.addAction(undo)
        edit.addAction(redo)
        edit.addSeparator()
        self._action(edit, "Selected note up", lambda: self.transpose_selected(1), "Alt+Up")
        self._action(edit, "Selected note down", lambda: self.transpose_selected(-1), "Alt+Down")
        self._action(edit, "Delete selected note", self.delete_selected, QKeySequence.Delete)
        view = bar.addMenu("&View")
        self._action(view, "Zoom in", self.score_view.zoom_in, QKeySequence.ZoomIn)
        self._action(view, "Zoom out", self.score_view.zoom_out, QKeySequence.ZoomOut)
        self._action(view, "Fit width", self.score_view.zoom_to_width, "Ctrl+0")
        self.dark_action = self._action(view, "Dark theme", self._toggle_dark, "Ctrl+Shift+D")
        self.dark_action.setCheckable(True)
        mode = bar.addMenu("&Mode")
        for index, name in enumerate(MODES):
            self._action(mode, name.capitalize(), lambda _=False, m=name: self.set_mode(m), f"Ctrl+{index + 1}")
        practice = bar.addMenu("&Practice")
        self._action(practice, "Listen", self.practice_panel.listen, "Space")
        self._action(practice, "Start take", self.practice_panel.start_take, "R")
        self._action(practice, "Stop", self.stop_everything, "Esc")
        compose = bar.addMenu("&Compose")
        self._action(compose, "Critique", self.compose_panel.run_critique, "Ctrl+K")
        self._action(compose, "Suggest a fix", self.compose_panel.suggest_fix, "Ctrl+F")
        self._action(compose, "Continue the piece", self.compose_panel.suggest_continuation, "Ctrl+J")
        self._action(compose, "Harmonise the melody", self._in_compose(self.compose_panel.suggest_harmonization), "Ctrl+H")
        self._action(compose, "Similar pieces", self._in_compose(self.compose_panel.find_similar), "Ctrl+L")
        self._action(compose, "Generate a new piece…", self._in_compose(self.compose_panel.open_generate_dialog), "Ctrl+G")
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents)
        self._action(help_menu, "About tutor", self.show_about)
        self._fill_recent()

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.job_label = QLabel("")
        bar.addPermanentWidget(self.job_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    # --- state ------------------------------------------------------------------------------
    def restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 880)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.dark_action.setChecked(self.settings.value("view/dark", False) in (True, "true"))
        self.apply_theme()
        saved_zoom = self.settings.value("view/zoom")
        self.score_view.set_zoom(float(saved_zoom or 1.0))
        self._fit_width_once = saved_zoom is None  # first run: the page fits the view (it was cut on the right)
        if self.settings.value("view/continuous", False) in (True, "true"):
            self.layout_box.setCurrentIndex(1)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("view/dark", self.dark_action.isChecked())
        self.settings.setValue("view/zoom", self.score_view.zoom)
        self.settings.setValue("view/continuous", self.layout_box.currentData())
        self.settings.setValue("window/mode", self.mode)

    @property
    def level(self) -> str:
        if self.practice_panel.exercise is not None:
            return self.practice_panel.exercise.level
        return self.settings.value("practice/level", "beginner") or "beginner"

    # --- modes ------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        if self.mode == "practice" and mode != "practice":
            self.practice_panel.shutdown()
        self.mode = mode
        self.panels.setCurrentIndex(MODES.index(mode))
        self.mode_buttons[mode].setChecked(True)
        if mode == "practice" and self.practice_panel.assessment is not None:
            self.score_view.set_marks(self.practice_panel.assessment.marks)
        elif mode == "compose" and self.compose_panel.report is not None:
            self.compose_panel.show_report(self.compose_panel.report)
        elif mode != "lessons":
            self.score_view.clear_marks()
        self._update_title()

    # --- files ------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        folder = self.settings.value("files/last_folder", "") or ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a piece", folder, OPEN_FILTER)
        if path:
            self.open_file(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in (self.settings.value("files/recent", []) or []) if p]
        if isinstance(recent, str):
            recent = [recent]
        for path in recent[:MAX_RECENT]:
            self._action(self.recent_menu, path, lambda _=False, p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(recent))

    def _remember(self, path: str) -> None:
        recent = self.settings.value("files/recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        recent = [path] + [p for p in recent if p != path]
        self.settings.setValue("files/recent", recent[:MAX_RECENT])
        self.settings.setValue("files/last_folder", str(Path(path).parent))
        self._fill_recent()

    def confirm_discard(self) -> bool:
        if self.undo_stack.isClean():
            return True
        if os.environ.get("TUTOR_NO_DIALOGS"):  # automation: nobody to ask; the autosave keeps the edits
            return True
        answer = QMessageBox.question(self, "Unsaved changes", "The piece has unsaved changes. Save them first?",
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
        if answer == QMessageBox.Save:
            return self.save_as()
        return answer == QMessageBox.Discard

    def open_file(self, path, *, wait: bool = False) -> None:
        """Load a score in a worker (``wait=True``: in this thread, for the screenshot command)."""
        path = str(path)
        if not self.confirm_discard():
            return
        self.status(f"Opening {path}…")
        if not self.score_view.pages:  # not "Open a piece…" while it reads (issue 24)
            self.score_view.show_message(f"Reading {Path(path).name}… (Cancel: in the status bar below)")
        if wait:
            from tutor.score.io import load_score

            self._loaded((path, load_score(path)), wait=True)
            return

        def read() -> None:
            self.track_job(run_job(_load_job, path, on_result=self._loaded,
                                   on_error=self._open_failed, name="open"), "Opening")

        # the file's engraving first, on screen while the piece is read (issue 24)
        self.track_job(self.score_view.show_preview(path, then=read), "Opening")

    def _open_failed(self, error) -> None:
        if self.score_view.cancel_preview() and self.score is not None:  # the preview of the file that failed
            self.score_view.set_score(self.score)
        self.show_error("Cannot open the file", error)

    def _loaded(self, result, *, wait: bool = False) -> None:
        path, score = result
        self._remember(path)
        self.open_piece(score, path=Path(path) if not str(path).startswith("corpus:") else None, wait=wait)
        self.status(f"Opened {path}")

    def open_piece(self, score: Score, *, path: Path | None = None, wait: bool = False) -> None:
        """``score`` as the open piece, saved at ``path`` (None: nowhere yet): a fresh undo history and
        autosave, no exercise."""
        self.undo_stack.clear()
        self.undo_stack.setClean()  # clear() keeps a reset clean state: a generated piece's marker stayed (issue 24)
        self.autosaver.clear()
        self.practice_panel.exercise = None
        self.score_path = path
        self.set_score(score, wait=wait)

    def set_score(self, score: Score, *, wait: bool = False) -> None:
        self.score = score
        self.selected_note = None
        if wait:
            self.score_view.engrave_now(score)
        else:
            self.score_view.set_score(score)
        self.practice_panel.set_score(score)
        self.compose_panel.set_score(score)
        self._update_title()

    def _update_title(self, *_) -> None:
        name = self.score.title if self.score is not None and self.score.title else "tutor"
        dirty = "" if self.undo_stack.isClean() else " •"
        self.setWindowTitle(f"{name}{dirty} — {self.mode.capitalize()} — tutor")

    def save_as(self) -> bool:
        if self.score is None:
            return False
        start = str(self.score_path.with_name(self.score_path.stem + "-edited.musicxml")) if self.score_path else ""
        path, _ = QFileDialog.getSaveFileName(self, "Save the piece", start, "MusicXML (*.musicxml);;MIDI (*.mid)")
        if not path:
            return False
        try:
            save_score(self.score, path)
        except Exception as error:
            self.show_error("Cannot save", error)
            return False
        self.undo_stack.setClean()
        self.autosaver.clear()
        self.status(f"Saved {path}")
        return True

    def export(self, kind: str, path: str | None = None) -> None:
        if self.score is None:
            return
        filters = {"mid": "MIDI (*.mid)", "musicxml": "MusicXML (*.musicxml)", "wav": "WAV audio (*.wav)"}
        if path is None:
            stem = self.score_path.stem if self.score_path else "piece"
            path, _ = QFileDialog.getSaveFileName(self, "Export", f"{stem}.{kind}", filters[kind])
            if not path:
                return
        marks = dict(self.score_view.marks)
        self.track_job(run_job(_export_job, kind, self.score, marks, path,
                               on_result=lambda p: self.status(f"Exported {p}"),
                               on_error=lambda e: self.show_error("Export failed", e), name="export"), "Exporting")

    # --- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).suffix.lower() in SCORE_EXTENSIONS + AUDIO_EXTENSIONS:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if not urls:
            return
        self.open_dropped(urls[0].toLocalFile())

    def open_dropped(self, path: str) -> None:
        suffix = Path(path).suffix.lower()
        if suffix in AUDIO_EXTENSIONS or (suffix in MIDI_EXTENSIONS and self.mode == "practice" and self.score):
            if self.score is None:
                self.show_message("Open the piece first, then drop a recording of it to review it.")
                return
            self.set_mode("practice")
            self.practice_panel.review(path=Path(path))
            self.status(f"Reviewing {path} as a take of this piece (drop it in Compose mode to open it as a score)")
        else:
            self.open_file(path)

    # --- editing --------------------------------------------------------------------------------
    def edit_score(self, new: Score, text: str) -> None:
        """Push an edit on the undo stack; ids are renumbered as the exported file will have them."""
        old = self.score
        self.track_job(run_job(_normalize_job, new, on_result=lambda s: self.undo_stack.push(ScoreEdit(self, old, s, text)),
                               on_error=lambda e: self.show_error("Cannot apply the edit", e), name="edit"), "Editing")

    def show_edited_score(self, score: Score) -> None:
        self.score = score
        self.score_view.set_score(score)
        self.practice_panel.set_score(score)
        self.compose_panel.report = None
        self._update_title()

    def _edited(self, _index: int) -> None:
        if self.score is not None and not self.undo_stack.isClean():
            self.autosaver.edited(self.score, original=str(self.score_path) if self.score_path else None,
                                  edits=self.undo_stack.index())
        elif self.undo_stack.isClean():
            self.autosaver.clear()

    def _note_clicked(self, note_id: str) -> None:
        self.selected_note = note_id
        note = None
        try:
            note = self.score.note_by_id(note_id) if self.score else None
        except KeyError:
            pass
        text = note_id
        if note is not None:
            text = f"{pitch_name(note.pitch)} in measure {note.measure}, beat {note.beat:g} ({note_id})"
        mark = self.score_view.marks.get(note_id)
        if mark and mark.get("text"):
            text += f": {mark['text']}"
        self.status(text)
        self.score_view.show_note(note_id)

    def transpose_selected(self, semitones: int) -> None:
        if self.score is None or self.selected_note is None:
            self.status("Click a note first.")
            return
        self.edit_score(transposed(self.score, self.selected_note, semitones),
                        f"Move note {'up' if semitones > 0 else 'down'}")

    def delete_selected(self) -> None:
        if self.score is None or self.selected_note is None:
            self.status("Click a note first.")
            return
        self.edit_score(without_note(self.score, self.selected_note), "Delete note")
        self.selected_note = None

    # --- lessons ---------------------------------------------------------------------------------
    def start_exercise(self, exercise) -> None:
        from tutor.lessons.plans import exercise_score

        if not self.confirm_discard():  # the edited piece would be dropped with its undo history (issue 24)
            self.status("Exercise not started: the piece has unsaved changes.")
            return
        self.status(f"Opening {exercise.title}…")
        self.track_job(run_job(lambda task: exercise_score(exercise), on_result=lambda s: self._exercise_ready(exercise, s),
                               on_error=lambda e: self.show_error("Cannot open the exercise", e), name="exercise"),
                       "Opening")

    def preview_exercise(self, exercise) -> None:
        """Lessons mode shows the chosen exercise's music (the part and measures it asks for)."""
        if self.mode != "lessons" or not self.undo_stack.isClean():
            return
        from tutor.lessons.plans import exercise_score

        def show(score: Score) -> None:
            if self.mode == "lessons" and self.lessons_panel.exercise is exercise:
                self.score_path = None
                self.set_score(score, wait=self.preview_wait)

        if self.preview_wait:
            show(exercise_score(exercise))
            return
        run_job(lambda task: exercise_score(exercise), on_result=show,
                on_error=lambda e: self.status(f"Cannot show the exercise: {e}"), name="preview")

    def _exercise_ready(self, exercise, score: Score) -> None:
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.score_path = None
        self.set_score(score)
        if exercise.kind == "compose":
            self.set_mode("compose")
            self.status(f"{exercise.title}: write your piece, then run the critique")
        else:
            self.practice_panel.apply_exercise(exercise, score)
            self.set_mode("practice")
            self.status(f"{exercise.title}: press ● Start take (R) and play")

    # --- sound ----------------------------------------------------------------------------------
    def play_score(self, score: Score) -> None:
        try:
            self.practice_panel._player().play(score)
        except Exception as error:
            self.show_error("Cannot play", error)

    def stop_everything(self) -> None:
        self.practice_panel.stop_take()
        self.practice_panel.stop_sound()

    # --- jobs, messages ---------------------------------------------------------------------------
    def track_job(self, job, label: str):
        self.jobs.append(job)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.job_label.setText(label + "…")
        job.progressed.connect(lambda f, t: self._job_progress(f, t or label))
        job.done.connect(self._job_done)
        return job

    def _first_engraving(self) -> None:
        if getattr(self, "_fit_width_once", False):
            self._fit_width_once = False
            self.score_view.zoom_to_width()

    def _job_progress(self, fraction: float, text: str) -> None:
        self.job_label.setText(text)
        self.progress.setRange(0, 100)  # a fraction now, not the busy bar
        self.progress.setValue(int(round(100 * fraction)))

    def _job_done(self) -> None:
        self.jobs = [j for j in self.jobs if not j.finished]
        if not self.jobs:
            self.progress.setVisible(False)
            self.progress.setRange(0, 0)
            self.cancel_button.setVisible(False)
            self.job_label.setText("")

    def cancel_jobs(self) -> None:
        for job in self.jobs:
            job.cancel()
        self.jobs = []
        self._job_done()
        self.status("Cancelled")
        previous = self.score_view.score  # None while the preview of a piece not read yet is on screen
        if self.score_view.cancel_preview() and previous is None and self.score is not None:
            self.score_view.set_score(self.score)  # the piece open before, not the cancelled one's preview
        elif not self.score_view.pages:
            self.score_view.show_message("Cancelled. Open a piece (File > Open, or drop a file here) to see its score.")

    def status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_message(self, text: str) -> None:
        QMessageBox.information(self, "tutor", text)

    def show_error(self, what: str, error) -> None:
        log.error("%s: %s", what, error)
        self.status(f"{what}: {error}")
        if os.environ.get("TUTOR_NO_DIALOGS"):
            return
        box = QMessageBox(QMessageBox.Warning, "tutor", f"{what}.", QMessageBox.Ok, self)
        box.setInformativeText(str(error))
        box.open()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == QDialog.Accepted:
            dialog.save()
            self.practice_panel.player = None  # new devices or soundfont on next use
            os.environ["TUTOR_DEVICE"] = self.settings.value("analysis/device", "auto") or "auto"

    def show_shortcuts(self) -> None:
        rows = [("Ctrl+O", "open a piece"), ("Ctrl+1 / 2 / 3", "Practice / Compose / Lessons"),
                ("Space", "listen to the piece"), ("R", "start a take"), ("Esc", "stop"),
                ("Ctrl+K", "critique"), ("Ctrl+F", "suggest a fix for the selected bars"),
                ("Ctrl+J", "continue the piece"), ("Ctrl+H", "harmonise the melody"),
                ("Ctrl+L", "similar pieces"), ("Ctrl+G", "generate a new piece"),
                ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
                ("Alt+Up / Alt+Down / Del", "move or delete the selected note"),
                ("Ctrl + wheel, Ctrl+= / Ctrl+-", "zoom"), ("Ctrl+Shift+D", "dark theme")]
        table = "".join(f"<tr><td style='padding-right:18px'><b>{keys}</b></td><td>{what}</td></tr>" for keys, what in rows)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{table}</table>")  # columns line up (issue 24)

    def show_about(self) -> None:
        from tutor._version import __version__

        QMessageBox.about(self, "About tutor", f"tutor {__version__}\nPractise with feedback, get your compositions "
                                               "critiqued, follow lesson plans.\nScores engraved by Verovio.")

    def _layout_changed(self) -> None:
        self.score_view.set_layout(Layout(continuous=bool(self.layout_box.currentData())))

    def _toggle_dark(self) -> None:
        self.apply_theme()

    def apply_theme(self) -> None:
        app = QApplication.instance()
        if app is None:
            return
        if self.dark_action.isChecked():
            palette = QPalette()
            for role, color in ((QPalette.Window, "#2b2d31"), (QPalette.WindowText, "#e6e6e6"),
                                (QPalette.Base, "#1f2023"), (QPalette.AlternateBase, "#2b2d31"),
                                (QPalette.Text, "#e6e6e6"), (QPalette.Button, "#34363b"),
                                (QPalette.ButtonText, "#e6e6e6"), (QPalette.Highlight, "#1E88E5"),
                                (QPalette.HighlightedText, "#ffffff"), (QPalette.ToolTipBase, "#34363b"),
                                (QPalette.ToolTipText, "#e6e6e6"), (QPalette.PlaceholderText, "#8a8f98")):
                palette.setColor(role, QColor(color))
            app.setPalette(palette)
            self.score_view.setBackgroundBrush(QColor("#3a3d42"))
        else:
            app.setPalette(app.style().standardPalette())
            self.score_view.setBackgroundBrush(QColor("#8a8f98"))

    # --- recovery and closing ------------------------------------------------------------------------
    def offer_recovery(self) -> None:
        from tutor.ui.autosave import discard, recoverable

        for item in recoverable(self.autosave_folder):
            answer = QMessageBox.question(
                self, "Recover unsaved edits?",
                f"tutor closed with unsaved edits of {item.original or 'a piece'} ({item.edits} edit(s), "
                f"autosaved {item.saved_at}). Open them now?", QMessageBox.Open | QMessageBox.Discard)
            if answer == QMessageBox.Open:
                self.open_recovered(item)
                return
            discard(item)

    def open_recovered(self, item) -> None:
        def loaded(result):
            path, score = result
            self.undo_stack.clear()
            self.score_path = Path(item.original) if item.original else None
            self.set_score(replace(score, source_path=None))
            self.autosaver.path = item.path
            self.undo_stack.resetClean()
            self.set_mode("compose")
            self.status("Recovered the unsaved edits: save them with File > Save as")

        self.track_job(run_job(_load_job, str(item.path), on_result=loaded,
                               on_error=lambda e: self.show_error("Cannot recover", e), name="recover"), "Recovering")

    def closeEvent(self, event) -> None:  # noqa: N802
        if not self.confirm_discard():
            event.ignore()
            return
        self.practice_panel.shutdown()
        self.cancel_jobs()
        if self.undo_stack.isClean():
            self.autosaver.clear()
        self.save_state()
        event.accept()


class _WheelToScroll(QObject):
    """The wheel over a spin box or list that has no focus, or over the pitch plot, scrolls the panel
    (issue 24: it changed the tempo and the part under the pointer, and zoomed the plot to -500..1000 s)."""

    def __init__(self, scroller: QScrollArea) -> None:
        super().__init__(scroller)
        self.scroller = scroller

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() != QEvent.Wheel:
            return False
        if isinstance(watched, (QAbstractSpinBox, QComboBox)) and watched.hasFocus():
            return False  # the one the student clicked into: the wheel changes it
        QApplication.sendEvent(self.scroller.verticalScrollBar(), event)
        return True


def _fit_and_guard(panel, scroller: QScrollArea) -> None:
    """The side panel fits its column (lists shrink to their column instead of clipping the panel on
    the right), and the wheel scrolls it instead of changing a setting under the pointer."""
    scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    guard = _WheelToScroll(scroller)
    for combo in panel.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        combo.setMinimumWidth(110)  # Qt keeps the minimum size hint it computed before the policy changed
    for widget in panel.findChildren(QAbstractSpinBox) + panel.findChildren(QComboBox):
        widget.setFocusPolicy(Qt.StrongFocus)
        widget.installEventFilter(guard)
    plot = getattr(panel, "pitch_plot", None)
    if plot is not None:
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.viewport().installEventFilter(guard)


def _load_job(task, path: str):
    from tutor.score.io import load_score

    task.progress(0.2, "Reading the score…")
    return path, load_score(path)


def _normalize_job(task, score: Score) -> Score:
    """The edited score as its exported MusicXML reads back: ids match what the engraving shows."""
    from tutor.score.io import load_score, musicxml_bytes

    data = musicxml_bytes(replace(score, source_path=None))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edited.musicxml"
        path.write_bytes(data)
        reloaded = load_score(path)
    return replace(reloaded, source_path=None, title=score.title, composer=score.composer)


def _export_job(task, kind: str, score: Score, marks: dict, path: str) -> str:
    from tutor.safety import atomic_write_bytes

    if kind == "mid":
        from tutor.score.io import midi_bytes

        atomic_write_bytes(path, midi_bytes(score))
    elif kind == "musicxml":
        from tutor.score.io import musicxml_bytes

        colors = {k: v["color"] for k, v in marks.items() if v.get("color")}
        texts = {k: v["text"] for k, v in marks.items() if v.get("text")}
        atomic_write_bytes(path, musicxml_bytes(score, colors=colors, texts=texts))
    else:
        from tutor.audio.playback import render_score_to_wav

        task.progress(0.3, "Rendering audio…")
        render_score_to_wav(score, path)
    return path


def demo_piece() -> Path:
    from tutor.resources import demo_piece as bundled_demo_piece

    return bundled_demo_piece()


def demo_take_for(score_path: Path | None) -> Path | None:
    """A recorded take that goes with a piece: ``<stem>_take.mid`` beside it."""
    if score_path is None:
        return None
    take = Path(score_path).with_name(Path(score_path).stem + "_take.mid")
    return take if take.exists() else None


def make_app(argv=None) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("tutor")
    app.setOrganizationName("tutor")
    return app


def main(file: str | None = None, *, mode: str = "practice") -> int:
    logging.basicConfig(level=logging.INFO)
    app = make_app()
    window = MainWindow()
    window.show()
    window.set_mode(mode)
    if file:
        QTimer.singleShot(0, lambda: window.open_file(file))
    QTimer.singleShot(200, window.offer_recovery)
    return app.exec()
