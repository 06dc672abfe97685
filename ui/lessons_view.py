"""Lessons mode: the course tree, the exercise card, starting an exercise, results and progress.

Courses come from ``tutor.lessons.plans.load_catalog`` (bundled plans and the teacher's folder), the
student's attempts from ``tutor.lessons.progress.ProgressDB``. Starting a performance exercise opens it in
Practice mode with its part, measures and tempo; the take's result is recorded as an attempt. Once an
exercise has results, the card offers more pieces like its music (``tutor.compose.similar``).
"""

from __future__ import annotations

import html
import logging

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tutor.lessons.plans import exercise_score, load_catalog, unlocked_exercises
from tutor.lessons.progress import ProgressDB

log = logging.getLogger(__name__)


class LessonsPanel(QWidget):
    startExercise = Signal(object)  # tutor.lessons.plans.Exercise
    previewExercise = Signal(object)  # the exercise chosen in the tree: its music is shown

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.catalog = None
        self.exercise = None
        self._build()
        self.refresh()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Vertical)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Course / unit / exercise", "Best"])
        self.tree.setColumnWidth(0, 300)
        splitter.addWidget(self.tree)
        card = QWidget()
        cv = QVBoxLayout(card)
        self.card = QTextBrowser()
        self.card.setOpenLinks(False)
        cv.addWidget(self.card, 1)
        row = QHBoxLayout()
        self.start_button = QPushButton("Start exercise")
        self.start_button.setEnabled(False)
        row.addWidget(self.start_button)
        cv.addLayout(row)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        cv.addWidget(self.progress_label)
        self.chart = self._make_chart()
        cv.addWidget(self.chart, 1)
        from tutor.ui.compose import SimilarPiecesBox

        self.similar = SimilarPiecesBox(self.window, self._exercise_music, title="More pieces like this",
                                        open_mode="practice")
        self.similar.setVisible(False)
        cv.addWidget(self.similar, 1)
        splitter.addWidget(card)
        splitter.setSizes([300, 400])
        layout.addWidget(splitter)
        self.tree.currentItemChanged.connect(self._selected)
        self.tree.itemDoubleClicked.connect(lambda item, _: self.start())
        self.start_button.clicked.connect(self.start)

    def _make_chart(self):
        plot = pg.PlotWidget()
        plot.setMinimumHeight(120)
        plot.setLabel("left", "overall")
        plot.setLabel("bottom", "attempt")
        plot.setYRange(0, 100)
        plot.getAxis("bottom").setTickSpacing(1, 1)  # attempts are whole numbers (it counted 0.2, 0.4...)
        plot.setXRange(1, 5)
        plot.showGrid(x=False, y=True, alpha=0.2)
        self.curve = plot.plot([], [], pen=pg.mkPen("#1E88E5", width=2), symbol="o", symbolSize=6)
        self.pass_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#2E7D32", style=Qt.DashLine))
        plot.addItem(self.pass_line)
        return plot

    # --- data -------------------------------------------------------------------------------
    def _passed_and_states(self):
        try:
            with ProgressDB() as db:
                return db.passed_exercises(), db.states(), db.streak()
        except Exception as error:
            log.warning("progress unavailable: %s", error)
            return set(), {}, None

    def refresh(self) -> None:
        try:
            self.catalog = load_catalog()
        except Exception as error:
            self.tree.clear()
            self.card.setHtml(f"<p>Lessons are not available: {html.escape(str(error))}</p>")
            return
        passed, states, streak = self._passed_and_states()
        open_exercises = unlocked_exercises(self.catalog, passed)
        current = self.exercise.id if self.exercise is not None else None
        self.tree.clear()
        select = None
        for course in self.catalog.courses:
            top = QTreeWidgetItem([course.title, ""])
            top.setToolTip(0, course.description)
            self.tree.addTopLevelItem(top)
            for unit in course.units:
                done = sum(1 for e in unit.exercises if e.id in passed)
                unit_item = QTreeWidgetItem([f"{unit.title}  ({done}/{len(unit.exercises)})", ""])
                top.addChild(unit_item)
                for exercise in unit.exercises:
                    # (no emoji: without a colour emoji font the lock showed as an empty box; issue 24)
                    mark = "✓ " if exercise.id in passed else ("" if exercise.id in open_exercises else "(locked) ")
                    state = states.get(exercise.id)
                    best = "" if state is None or state.best_overall is None else f"{state.best_overall:.0f}"
                    item = QTreeWidgetItem([mark + exercise.title, best])
                    item.setData(0, Qt.UserRole, exercise.id)
                    if exercise.id not in open_exercises and exercise.id not in passed:
                        item.setForeground(0, self.palette().placeholderText())
                        item.setToolTip(0, "Locked: pass the exercises before it first (you can still try it)")
                    unit_item.addChild(item)
                    if exercise.id == current:
                        select = item
            top.setExpanded(True)
        if self.catalog.problems:
            problems = QTreeWidgetItem([f"{len(self.catalog.problems)} problem(s) in lesson plans", ""])
            for problem in self.catalog.problems:
                problems.addChild(QTreeWidgetItem([str(problem), ""]))
            self.tree.addTopLevelItem(problems)
        if streak is not None:
            self.progress_label.setText(f"Practice streak: {streak.current_days} day(s) (longest {streak.longest_days}).")
        if select is not None:
            self.tree.setCurrentItem(select)

    def _selected(self, item, _previous=None) -> None:
        exercise_id = item.data(0, Qt.UserRole) if item is not None else None
        if not exercise_id or self.catalog is None:
            self.exercise = None
            self.start_button.setEnabled(False)
            return
        self.show_exercise(self.catalog.exercise(exercise_id))

    def select_first(self) -> None:
        if self.catalog is None:
            return
        for index in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(index)
            if top.childCount() and top.child(0).childCount():
                self.tree.setCurrentItem(top.child(0).child(0))
                return

    def show_exercise(self, exercise) -> None:
        self.exercise = exercise
        self.start_button.setEnabled(True)
        rule = exercise.passing
        criteria = []
        if exercise.kind == "compose":
            criteria.append(f"at most {rule.max_errors} error(s) in the critique")
            if rule.measures:
                criteria.append(f"{rule.measures} measures")
            if rule.key:
                criteria.append(f"in {rule.key}")
        else:
            for name in ("overall", "pitch", "rhythm", "intonation"):
                value = getattr(rule, name)
                if value is not None:
                    criteria.append(f"{name} at least {value:g}")
            if rule.max_missed is not None:
                criteria.append(f"at most {rule.max_missed} missed note(s)")
            if rule.max_wrong is not None:
                criteria.append(f"at most {rule.max_wrong} wrong note(s)")
        tempo = (f"{exercise.tempo_start_bpm:g} bpm" if exercise.tempo_start_bpm == exercise.tempo_goal_bpm
                 else f"start at {exercise.tempo_start_bpm:g} bpm, goal {exercise.tempo_goal_bpm:g} bpm")
        where = f"measures {exercise.measures[0]}–{exercise.measures[1]}" if exercise.measures else "the whole piece"
        hints = "".join(f"<li>{html.escape(h)}</li>" for h in exercise.hints)
        self.card.setHtml(
            f"<h3>{html.escape(exercise.title)}</h3>"
            f"<p>{html.escape(exercise.description)}</p>"
            f"<p><b>Play:</b> {html.escape(where)}{', part ' + html.escape(exercise.part) if exercise.part else ''}"
            f" · <b>input:</b> {html.escape(exercise.input)} · <b>level:</b> {html.escape(exercise.level)}</p>"
            f"<p><b>Tempo:</b> {tempo}</p>"
            f"<p><b>To pass:</b> {html.escape('; '.join(criteria))}</p>"
            + (f"<p><b>Hints</b></p><ul>{hints}</ul>" if hints else "")
        )
        self.start_button.setText("Start composing" if exercise.kind == "compose" else "Start exercise")
        self._show_history(exercise)
        self.previewExercise.emit(exercise)

    def _show_history(self, exercise) -> None:
        try:
            with ProgressDB() as db:
                attempts = db.attempts(exercise.id)
        except Exception as error:
            self.progress_label.setText(f"No progress history: {error}")
            attempts = []
        if attempts:
            best = max((a.overall for a in attempts if a.overall is not None), default=None)
            passed = any(a.passed for a in attempts)
            text = f"{len(attempts)} attempt(s)"
            if best is not None:
                text += f", best {best:.0f}"
            text += " · passed ✓" if passed else " · not passed yet"
            self.progress_label.setText(text)
        else:
            self.progress_label.setText("No attempts yet.")
        if getattr(self, "_similar_for", None) is not exercise:
            self._similar_for = exercise
            self.similar.clear()
        self.similar.setTitle("You have tried this one: more pieces like it" if attempts else "More pieces like this")
        self.similar.setVisible(bool(attempts))
        values = [a.overall for a in attempts if a.overall is not None]
        self.curve.setData(list(range(1, len(values) + 1)), values)
        self.chart.setXRange(1, max(5, len(values)), padding=0.05)
        self.pass_line.setValue(exercise.passing.overall or 0)
        self.pass_line.setVisible(exercise.passing.overall is not None and exercise.kind != "compose")

    def _exercise_music(self):
        """What the similar-pieces search reads: the exercise's music, loaded in the worker."""
        exercise = self.exercise
        if exercise is None:
            return None

        def load():
            return exercise_score(exercise)

        return load

    def start(self) -> None:
        if self.exercise is not None:
            self.startExercise.emit(self.exercise)
