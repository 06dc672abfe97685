"""Compose mode: the critique of a piece (grouped by measure), style and emotion, suggestions to fix a
passage or continue the piece, auditioned on their own staff and accepted with undo.

Everything heavy runs in workers: ``tutor.critique.critique`` and ``tutor.suggest``. Where one of
them is not installed, the panel says so instead of showing anything made up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QUndoCommand
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tutor.music import Score, sort_notes, time_notes
from tutor.ui.practice import optional
from tutor.ui.score_view import ScoreView
from tutor.ui.workers import run_job

log = logging.getLogger(__name__)
SEVERITY_COLORS = {"error": "#D32F2F", "warning": "#FB8C00", "info": "#1E88E5"}


class ScoreEdit(QUndoCommand):
    """One edit of the piece: redo shows ``new``, undo shows ``old``."""

    def __init__(self, window, old: Score, new: Score, text: str) -> None:
        super().__init__(text)
        self.window, self.old, self.new = window, old, new

    def redo(self) -> None:
        self.window.show_edited_score(self.new)

    def undo(self) -> None:
        self.window.show_edited_score(self.old)


def note_ids_of(finding: dict, score: Score) -> list[str]:
    """The notes a finding is about: its own ids when it lists them, else the notes sounding at its
    part, measure and beat."""
    for key in ("note_ids", "notes", "ids"):
        ids = finding.get(key)
        if isinstance(ids, list | tuple) and ids and all(isinstance(i, str) for i in ids):
            return list(ids)
    measure, beat, part = finding.get("measure"), finding.get("beat"), finding.get("part")
    if measure is None:
        return []
    candidates = [n for n in score.notes if n.measure == measure and (not part or n.part == part)]
    if beat is not None:
        at = [n for n in candidates if abs(n.beat - float(beat)) < 1e-3]
        if at:
            return [n.id for n in at]
        before = [n for n in candidates if n.beat <= float(beat)]
        if before:
            last = max(n.beat for n in before)
            return [n.id for n in before if n.beat == last]
    return [n.id for n in candidates[:1]]


class ComposePanel(QWidget):
    status = Signal(str)
    critiqued = Signal(object)

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.view = window.score_view
        self.critique_mod = optional("critique")
        self.suggest_mod = optional("suggest")
        self.report: dict | None = None
        self.suggestions: list = []
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.critique_button = QPushButton("Critique this piece")
        self.critique_button.setToolTip("Key, form, theory rules, style and emotion (Ctrl+K)")
        top.addWidget(self.critique_button)
        layout.addLayout(top)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        if self.critique_mod is None:
            self.summary.setText("Critique is not available in this installation (tutor.critique is missing).")
            self.critique_button.setEnabled(False)

        self.findings = QTreeWidget()
        self.findings.setHeaderLabels(["Finding", "Suggestion"])
        self.findings.setColumnWidth(0, 230)
        layout.addWidget(self.findings, 2)

        characters = QGroupBox("Style and emotion")
        self.character_grid = QGridLayout(characters)
        layout.addWidget(characters)

        suggest = QGroupBox("Suggestions")
        sv = QVBoxLayout(suggest)
        row = QHBoxLayout()
        self.fix_button = QPushButton("Suggest a fix")
        self.fix_button.setToolTip("Rewrite the selected finding's bar, or the bars selected on the score (drag across bars)")
        row.addWidget(self.fix_button)
        self.continue_button = QPushButton("Continue the piece")
        row.addWidget(self.continue_button)
        self.continue_bars = QSpinBox()
        self.continue_bars.setRange(1, 8)
        self.continue_bars.setValue(4)
        self.continue_bars.setSuffix(" bars")
        row.addWidget(self.continue_bars)
        sv.addLayout(row)
        self.alternatives = QListWidget()
        sv.addWidget(self.alternatives, 1)
        self.alternative_view = ScoreView()
        self.alternative_view.setMinimumHeight(140)
        self.alternative_view.follow_cursor = False
        sv.addWidget(self.alternative_view, 1)
        row2 = QHBoxLayout()
        self.audition_button = QPushButton("▶ Listen")
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Put this alternative into the piece (Ctrl+Z undoes it)")
        row2.addWidget(self.audition_button)
        row2.addWidget(self.accept_button)
        sv.addLayout(row2)
        self.suggest_status = QLabel("")
        self.suggest_status.setWordWrap(True)
        sv.addWidget(self.suggest_status)
        layout.addWidget(suggest, 3)
        if self.suggest_mod is None:
            self.suggest_status.setText("Suggestions are not available in this installation (tutor.suggest is missing).")
            for button in (self.fix_button, self.continue_button):
                button.setEnabled(False)
        self.audition_button.setEnabled(False)
        self.accept_button.setEnabled(False)

        edit = QGroupBox("Edit the selected note")
        ev = QHBoxLayout(edit)
        self.up_button = QPushButton("Up a semitone")
        self.down_button = QPushButton("Down a semitone")
        self.delete_button = QPushButton("Delete")
        for button in (self.up_button, self.down_button, self.delete_button):
            ev.addWidget(button)
        layout.addWidget(edit)

        self.critique_button.clicked.connect(self.run_critique)
        self.findings.itemClicked.connect(self._finding_clicked)
        self.fix_button.clicked.connect(self.suggest_fix)
        self.continue_button.clicked.connect(self.suggest_continuation)
        self.alternatives.currentRowChanged.connect(self._alternative_chosen)
        self.audition_button.clicked.connect(self.audition)
        self.accept_button.clicked.connect(self.accept)
        self.up_button.clicked.connect(lambda: self.window.transpose_selected(1))
        self.down_button.clicked.connect(lambda: self.window.transpose_selected(-1))
        self.delete_button.clicked.connect(self.window.delete_selected)

    # --- critique ---------------------------------------------------------------------------
    def set_score(self, score: Score) -> None:
        self.report = None
        self.findings.clear()
        self.suggestions = []
        self.alternatives.clear()
        self.alternative_view.show_message("Alternatives appear here.")
        if self.critique_mod is not None:
            self.summary.setText("Press “Critique this piece” for a teacher's comments on it.")

    def run_critique(self) -> None:
        if self.critique_mod is None or self.window.score is None:
            return
        self.summary.setText("Listening to the piece…")
        self.window.track_job(run_job(_critique_job, self.critique_mod, self.window.score,
                                      on_result=self.show_report,
                                      on_error=lambda e: self._failed("The critique failed", e),
                                      name="critique"), "Critique")

    def critique_now(self) -> None:
        """The critique in this thread (for the screenshot command)."""
        if self.critique_mod is not None and self.window.score is not None:
            self.show_report(_critique_job(None, self.critique_mod, self.window.score))

    def _failed(self, what: str, error) -> None:
        self.summary.setText(f"{what}: {error}")
        self.window.show_error(what, error)

    def show_report(self, report: dict) -> None:
        self.report = report
        score = self.window.score
        findings = report.get("findings", [])
        counts = defaultdict(int)
        for f in findings:
            counts[f.get("severity", "info")] += 1
        parts = [f"Key: <b>{report.get('key') or '?'}</b>", f"meter {report.get('meter') or score.time_signature}"]
        tally = ", ".join(f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in ("error", "warning", "info") if counts[s])
        self.summary.setText(" · ".join(parts) + f"<br>{tally or 'No findings: nothing to correct.'}")
        self.findings.clear()
        by_measure: dict[int, list[dict]] = defaultdict(list)
        for f in findings:
            by_measure[int(f.get("measure") or 0)].append(f)
        marks: dict[str, dict[str, str]] = {}
        order = {"error": 0, "warning": 1, "info": 2}
        for measure in sorted(by_measure):
            top = QTreeWidgetItem([f"Measure {measure}", ""])
            top.setData(0, Qt.UserRole, ("measure", measure))
            self.findings.addTopLevelItem(top)
            for f in sorted(by_measure[measure], key=lambda f: order.get(f.get("severity"), 3)):
                severity = f.get("severity", "info")
                rule = str(f.get("rule", "")).replace("_", " ")
                child = QTreeWidgetItem([f"{rule}: {f.get('message', '')}", f.get("suggestion", "")])
                child.setForeground(0, QColor(SEVERITY_COLORS.get(severity, "#333333")))
                child.setToolTip(0, f.get("message", ""))
                child.setToolTip(1, f.get("suggestion", ""))
                ids = note_ids_of(f, score)
                child.setData(0, Qt.UserRole, ("finding", f, ids))
                top.addChild(child)
                for note_id in ids:
                    old = marks.get(note_id)
                    if old is None or order.get(severity, 3) < order.get(old["severity"], 3):
                        marks[note_id] = {"color": SEVERITY_COLORS.get(severity, "#1E88E5"), "text": rule,
                                          "severity": severity}
                    elif rule not in old["text"]:
                        old["text"] += f", {rule}"
            top.setExpanded(True)
        self.view.set_marks({k: {"color": v["color"], "text": v["text"]} for k, v in marks.items()})
        self._show_characters(report)
        self.critiqued.emit(report)

    def _show_characters(self, report: dict) -> None:
        while self.character_grid.count():
            item = self.character_grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        row = 0
        for title, block in (("Style", report.get("style")), ("Emotion", report.get("emotion"))):
            if not block:
                continue
            label = block.get("label", "")
            self.character_grid.addWidget(QLabel(f"<b>{title}: {label}</b>"), row, 0, 1, 2)
            row += 1
            names = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm"}
            for name, p in sorted(block.get("probabilities", {}).items(), key=lambda kv: -kv[1])[:6]:
                bar = QProgressBar()
                bar.setRange(0, 100)
                bar.setValue(int(round(100 * float(p))))
                bar.setFormat("%p%")
                shown = f"{name} ({names[name]})" if name in names else name
                self.character_grid.addWidget(QLabel(shown), row, 0)
                self.character_grid.addWidget(bar, row, 1)
                row += 1

    def _finding_clicked(self, item: QTreeWidgetItem) -> None:
        data = item.data(0, Qt.UserRole)
        if not data:
            return
        if data[0] == "measure":
            self.view.show_measure(data[1])
        else:
            _, finding, ids = data
            if ids:
                self.view.show_note(ids[0])
            elif finding.get("measure") is not None:
                self.view.show_measure(int(finding["measure"]))
            if finding.get("measure") is not None:
                self.view.select_range(int(finding["measure"]))

    # --- suggestions ----------------------------------------------------------------------------
    def _fix_range(self) -> tuple[int, int] | None:
        item = self.findings.currentItem()
        if item is not None and item.data(0, Qt.UserRole):
            data = item.data(0, Qt.UserRole)
            measure = data[1] if data[0] == "measure" else data[1].get("measure")
            if measure is not None:
                return int(measure), int(measure)
        return self.view.selected_range

    def suggest_fix(self) -> None:
        chosen = self._fix_range()
        if chosen is None:
            self.suggest_status.setText("Choose a finding, or drag across bars on the score, then ask for a fix.")
            return
        first, last = chosen
        self._ask(self.suggest_mod.correct_measures, dict(first=first, last=last, k=4),
                  f"Rewriting measures {first}–{last}…")

    def suggest_continuation(self) -> None:
        self._ask(self.suggest_mod.continue_piece, dict(bars=self.continue_bars.value(), k=4),
                  f"Writing {self.continue_bars.value()} more bars…")

    def _ask(self, function, kwargs: dict, text: str) -> None:
        if self.window.score is None:
            return
        self.suggest_status.setText(text)
        self.alternatives.clear()
        score = self.window.score
        self.window.track_job(run_job(_suggest_job, function, score, kwargs, on_result=self.show_suggestions,
                                      on_error=lambda e: self._suggest_failed(e), name="suggest"), "Suggestions")

    def _suggest_failed(self, error) -> None:
        self.suggest_status.setText(f"No suggestions: {error}")

    def show_suggestions(self, suggestions: list) -> None:
        self.suggestions = list(suggestions)
        self.alternatives.clear()
        for index, s in enumerate(self.suggestions):
            span = f"{s.first_measure}" if s.first_measure == s.last_measure else f"{s.first_measure}–{s.last_measure}"
            kind = "Continuation" if s.kind == "continuation" else "Fix"
            item = QListWidgetItem(f"{kind} {index + 1}: bars {span}, {len(s.notes)} notes "
                                   f"(model log-likelihood {s.log_likelihood:.1f})")
            self.alternatives.addItem(item)
        self.suggest_status.setText("Choose an alternative to see it, listen to it, and accept it."
                                    if self.suggestions else "The model found nothing better here.")
        if self.suggestions:
            self.alternatives.setCurrentRow(0)

    def applied(self, index: int) -> Score | None:
        if not 0 <= index < len(self.suggestions) or self.window.score is None:
            return None
        return self.suggest_mod.apply_suggestion(self.window.score, self.suggestions[index])

    def _alternative_chosen(self, row: int) -> None:
        new = self.applied(row)
        self.audition_button.setEnabled(new is not None)
        self.accept_button.setEnabled(new is not None)
        if new is None:
            return
        s = self.suggestions[row]
        numbers = [m.number for m in new.measures]
        first = max(min(numbers), s.first_measure - 1)
        last = min(max(numbers), s.last_measure + 1)
        excerpt = replace(new.slice_measures(first, last), source_path=None, title="")
        self.alternative_view.set_score(excerpt)
        self.alternative_view.set_marks({n.id: {"color": "#1E88E5", "text": ""} for n in excerpt.notes
                                         if s.first_measure <= n.measure <= s.last_measure})
        self.alternative_view.engraved.connect(self._mark_alternative, Qt.UniqueConnection)

    def _mark_alternative(self) -> None:
        self.alternative_view.zoom_to_width()

    def audition(self) -> None:
        row = self.alternatives.currentRow()
        new = self.applied(row)
        if new is None:
            return
        s = self.suggestions[row]
        first = max(min(m.number for m in new.measures), s.first_measure - 1)
        self.window.play_score(new.slice_measures(first, s.last_measure))

    def accept(self) -> None:
        row = self.alternatives.currentRow()
        new = self.applied(row)
        if new is None:
            return
        s = self.suggestions[row]
        self.window.edit_score(new, f"Accept suggestion for bars {s.first_measure}–{s.last_measure}")
        self.suggestions = []
        self.alternatives.clear()
        self.alternative_view.show_message("Accepted. Undo with Ctrl+Z.")
        self.suggest_status.setText("Accepted into the piece. Edit > Undo takes it back.")


def _critique_job(task, critique_mod, score: Score) -> dict:
    if task is not None:
        task.progress(0.2, "Critiquing…")
    report = critique_mod.critique(score)
    return report.as_json()


def _suggest_job(task, function, score: Score, kwargs: dict) -> list:
    task.progress(0.1, "Asking the model…")
    return function(score, **kwargs)


def transposed(score: Score, note_id: str, semitones: int) -> Score:
    notes = tuple(replace(n, pitch=max(0, min(127, n.pitch + semitones))) if n.id == note_id else n for n in score.notes)
    return replace(score, notes=notes)


def without_note(score: Score, note_id: str) -> Score:
    notes = sort_notes(n for n in score.notes if n.id != note_id)
    return replace(score, notes=time_notes(notes, score.tempo_map))
