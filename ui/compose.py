"""Compose mode: the critique of a piece (grouped by measure), style and emotion, suggestions to fix a
passage, continue the piece or harmonise its melody, auditioned (drawn in colour over the piece, or on
their own staff) and accepted with undo; a new piece from a brief ("Generate…"); similar pieces.

Everything heavy runs in workers: ``tutor.compose.critique.critique``, ``tutor.compose.suggest``, ``tutor.compose.harmonize``,
``tutor.compose.generate`` and ``tutor.compose.similar``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QUndoCommand
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
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

from tutor.api.requests import SuggestRequest
from tutor.compose import generate as generator
from tutor.compose.critique import critique
from tutor.compose.describe import advice_suggestions, describe_suggestion, rank_by_fixes
from tutor.compose.harmonize import harmonized_score
from tutor.compose.similar import find_similar, resolve_source
from tutor.compose.suggest import apply_suggestion
from tutor.score.music import Score, sort_notes, time_notes
from tutor.ui.score_view import ScoreView
from tutor.ui.workers import run_job

log = logging.getLogger(__name__)
SEVERITY_COLORS = {"error": "#D32F2F", "warning": "#FB8C00", "info": "#1E88E5"}
SUGGESTION_COLOR = "#1E88E5"  # a suggestion's notes drawn over the piece
REPLACED_COLOR = "#B0B0B0"  # the notes a correction would replace
HARMONY_STYLES = (("Chorale (alto, tenor, bass)", "chorale"), ("Piano (chords and bass)", "piano"),
                  ("Pop piano (pop chords, broken chords)", "pop"), ("Jazz (seventh chords, walking bass)", "jazz"))
RESTYLE_STYLES = (("Pop ballad piano", "pop"), ("Waltz", "waltz"), ("March", "march"), ("Ragtime", "ragtime"),
                  ("Swing", "swing"), ("Tango", "tango"), ("Chorale", "chorale"))
WHOLE_PIECE = ("harmonization", "restyle")  # suggestions that rewrite the whole piece around its melody


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
        self.harmonize_candidates = 4  # harmonisations offered at a time
        self.report: dict | None = None
        self.suggestions: list = []
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.critique_button = QPushButton("Critique this piece")
        self.critique_button.setToolTip("Key, form, theory rules, style and emotion (Ctrl+K)")
        top.addWidget(self.critique_button)
        self.generate_button = QPushButton("Generate…")
        self.generate_button.setToolTip("A new piece from a brief: style, mood, key, metre, length")
        top.addWidget(self.generate_button)
        self.similar_button = QPushButton("Similar pieces")
        self.similar_button.setToolTip("Pieces like this one, with why (the list is at the bottom of this panel)")
        top.addWidget(self.similar_button)
        layout.addLayout(top)
        row = QHBoxLayout()
        self.generate_progress = QProgressBar()
        self.generate_progress.setRange(0, 100)
        self.generate_progress.setVisible(False)
        row.addWidget(self.generate_progress, 1)
        self.cancel_generate_button = QPushButton("Cancel")
        self.cancel_generate_button.setToolTip("Stop generating")
        self.cancel_generate_button.setVisible(False)
        row.addWidget(self.cancel_generate_button)
        layout.addLayout(row)
        self.generate_status = QLabel("")
        self.generate_status.setWordWrap(True)
        self.generate_status.setVisible(False)  # shown with something to say
        layout.addWidget(self.generate_status)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

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
        row = QHBoxLayout()
        self.harmonize_button = QPushButton("Harmonise")
        self.harmonize_button.setToolTip("Write the other voices under the melody (the first part)")
        row.addWidget(self.harmonize_button)
        self.harmony_style = QComboBox()
        for label, value in HARMONY_STYLES:
            self.harmony_style.addItem(label, value)
        row.addWidget(self.harmony_style, 1)
        sv.addLayout(row)
        row = QHBoxLayout()  # a row of its own: the panel fits a 1024-px window's column (issue 24)
        self.restyle_button = QPushButton("Restyle")
        self.restyle_button.setToolTip("Keep every note of the melody; rewrite harmony, accompaniment and rhythm "
                                       "in another style")
        row.addWidget(self.restyle_button)
        self.restyle_style = QComboBox()
        for label, value in RESTYLE_STYLES:
            self.restyle_style.addItem(label, value)
        row.addWidget(self.restyle_style, 1)
        sv.addLayout(row)
        self.overlay_box = QCheckBox("Show the alternative over the piece")
        self.overlay_box.setToolTip("Draw its notes in colour on the score (the notes it replaces in grey); "
                                    "unticked, it appears on its own staff below")
        self.overlay_box.setChecked(True)
        sv.addWidget(self.overlay_box)
        self.alternatives = QListWidget()
        sv.addWidget(self.alternatives, 1)
        self.alternative_view = ScoreView()
        self.alternative_view.setMinimumHeight(140)
        self.alternative_view.follow_cursor = False
        sv.addWidget(self.alternative_view, 1)
        self.alternative_view.setVisible(False)
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
        self.audition_button.setEnabled(False)
        self.accept_button.setEnabled(False)

        self.similar = SimilarPiecesBox(self.window, lambda: self.window.score)
        self.similar.find_button.setVisible(False)  # the "Similar pieces" button at the top fills it
        layout.addWidget(self.similar, 2)
        self.generate_job = None

        edit = QGroupBox("Edit the selected note")
        ev = QHBoxLayout(edit)
        self.up_button = QPushButton("♯ Up")
        self.up_button.setToolTip("Up a semitone")
        self.down_button = QPushButton("♭ Down")
        self.down_button.setToolTip("Down a semitone")
        self.delete_button = QPushButton("Delete")
        for button in (self.up_button, self.down_button, self.delete_button):
            ev.addWidget(button)
        layout.addWidget(edit)

        self.critique_button.clicked.connect(self.run_critique)
        self.findings.itemClicked.connect(self._finding_clicked)
        self.fix_button.clicked.connect(self.suggest_fix)
        self.continue_button.clicked.connect(self.suggest_continuation)
        self.harmonize_button.clicked.connect(self.suggest_harmonization)
        self.restyle_button.clicked.connect(self.suggest_restyle)
        self.overlay_box.toggled.connect(lambda _: self._alternative_chosen(self.alternatives.currentRow()))
        self.generate_button.clicked.connect(self.open_generate_dialog)
        self.similar_button.clicked.connect(self.find_similar)
        self.cancel_generate_button.clicked.connect(self.cancel_generation)
        self.alternatives.currentRowChanged.connect(self._alternative_chosen)
        self.audition_button.clicked.connect(self.audition)
        self.accept_button.clicked.connect(self.accept)
        self.up_button.clicked.connect(lambda: self.window.transpose_selected(1))
        self.down_button.clicked.connect(lambda: self.window.transpose_selected(-1))
        self.delete_button.clicked.connect(self.window.delete_selected)

    # --- the overlay lives only while Compose mode shows ---------------------------------------
    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.view.show_overlay(None)  # another mode shows the piece itself
        super().hideEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.suggestions and self.overlay_box.isChecked():
            self._alternative_chosen(self.alternatives.currentRow())

    # --- critique ---------------------------------------------------------------------------
    def set_score(self, score: Score) -> None:
        self.report = None
        self.findings.clear()
        self.suggestions = []
        self.alternatives.clear()
        self.alternative_view.show_message("Alternatives appear here.")
        self.similar.clear()
        self._show_characters({})  # not the previous piece's style and emotion (issue 24)
        self.summary.setText("Press “Critique this piece” for a teacher's comments on it.")

    def run_critique(self) -> None:
        if self.window.score is None:
            return
        self.summary.setText("Listening to the piece…")
        self.window.track_job(run_job(_critique_job, self.window.score,
                                      on_result=self.show_report,
                                      on_error=lambda e: self._failed("The critique failed", e),
                                      name="critique"), "Critique")

    def critique_now(self) -> None:
        """The critique in this thread (for the screenshot command)."""
        if self.window.score is not None:
            self.show_report(_critique_job(None, self.window.score))

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
            if title == "Style":  # issue 26: the class's name, or "not sure" far from everything the model knows
                name = block.get("name", label)
                label = name if block.get("sure", True) else f"not sure (nearest: {name})"
            self.character_grid.addWidget(QLabel(f"<b>{title}: {label}</b>"), row, 0, 1, 2)
            row += 1
            names = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm"}
            said = block.get("names", {})  # a style class's name for people (a host without it: the id)
            for name, p in sorted(block.get("probabilities", {}).items(), key=lambda kv: -kv[1])[:6]:
                bar = QProgressBar()
                bar.setRange(0, 100)
                bar.setValue(int(round(100 * float(p))))
                bar.setFormat("%p%")
                shown = f"{name} ({names[name]})" if name in names else said.get(name, name)
                self.character_grid.addWidget(QLabel(shown), row, 0)
                self.character_grid.addWidget(bar, row, 1)
                row += 1
            if title == "Emotion" and self.window.score is not None and _single_line(self.window.score):
                caveat = QLabel("<small>The emotion model learned from piano pieces: for a single melody line "
                                "it leans on mode, tempo and register, and is a rough guess.</small>")
                caveat.setWordWrap(True)
                caveat.setObjectName("emotion_caveat")
                self.character_grid.addWidget(caveat, row, 0, 1, 2)
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
        self._ask(SuggestRequest(kind="fix", fix=(first, last), k=4), f"Rewriting measures {first}–{last}…")

    def suggest_continuation(self) -> None:
        self._ask(SuggestRequest(kind="continue", bars=self.continue_bars.value(), k=4),
                  f"Writing {self.continue_bars.value()} more bars…")

    def suggest_harmonization(self) -> None:
        style = self.harmony_style.currentData()
        score = self.window.score
        text = "Harmonising the melody (a few seconds per 8 bars)…"
        if score is not None and len(score.parts) > 1:
            text = (f"Harmonising the melody of {score.parts[0].name or score.parts[0].id} (the first part); "
                    "accepting replaces the other parts…")
        self._ask(SuggestRequest(kind="harmonize", style=style, k=self.harmonize_candidates), text)

    def suggest_restyle(self) -> None:
        self._ask(SuggestRequest(kind="restyle", style=self.restyle_style.currentData(), k=3),
                  f"Restyling the melody as {self.restyle_style.currentText().lower()}…")

    def _ask(self, request, text: str) -> None:
        """Run the ``SuggestRequest`` in a worker, on the remote analysis host when one is set (falling back
        to this computer)."""
        if self.window.score is None:
            return
        self._advice_range = request.fix if request.kind == "fix" else None  # the critique's advice joins a fix
        self.suggest_status.setText(text)
        self._clear_alternatives()
        score = self.window.score
        self.window.track_job(run_job(_suggest_job, score, request, rank=request.kind == "fix",
                                      on_result=self.show_suggestions,
                                      on_error=lambda e: self._suggest_failed(e), name="suggest"), "Suggestions")

    def _suggest_failed(self, error) -> None:
        self.suggest_status.setText(f"No suggestions: {error}")

    def _clear_alternatives(self) -> None:
        self.suggestions = []
        self.alternatives.clear()
        self.view.show_overlay(None)

    def show_suggestions(self, suggestions: list) -> None:
        """``suggestions``: Suggestions, or (suggestion, what it fixes in words) pairs in their ranked order."""
        self._clear_alternatives()
        pairs = [item if isinstance(item, tuple) else (item, "") for item in suggestions]
        fixes = {id(s): why for s, why in pairs}
        advice = []
        chosen = getattr(self, "_advice_range", None)
        if chosen and self.report and self.window.score is not None:  # "use F4": the critique's own advice first
            advice = advice_suggestions(self.window.score, self.report.get("findings", []), *chosen)
        said = {(a.first_measure, a.last_measure, a.notes) for a in advice}  # the advice once, first
        self.suggestions = advice + [s for s, _ in pairs if (s.first_measure, s.last_measure, s.notes) not in said]
        for index, s in enumerate(self.suggestions):
            span = f"{s.first_measure}" if s.first_measure == s.last_measure else f"{s.first_measure}–{s.last_measure}"
            kind = {"continuation": "Continuation", "harmonization": "Harmonisation", "restyle": "Restyled"}.get(s.kind, "Fix")
            if s in advice:
                kind = "Fix (the critique's advice)"
            where = "" if s.kind in WHOLE_PIECE else f"bar{'s' if s.first_measure != s.last_measure else ''} {span}, "
            if s.kind == "restyle":
                item = QListWidgetItem(f"{kind} {index + 1}: {s.style}, {s.score.time_signatures[0].numerator}/"
                                       f"{s.score.time_signatures[0].denominator}, {s.melody_notes_kept} of "
                                       f"{s.melody_notes} melody notes kept (style model {100 * s.style_probability:.0f} %)")
            elif s.kind in ("continuation", "correction") and self.window.score is not None:
                # what it changes, in musical words (issue 24: it said "4 notes (model log-likelihood -9.4)")
                why = fixes.get(id(s), "") or (self._advice_reason(s) if s in advice else "")
                text = describe_suggestion(self.window.score, s)
                item = QListWidgetItem(f"{kind} {index + 1}: {'' if text.startswith('bar ') else where}{text}"
                                       + (f" — {why}" if why else ""))
            else:
                item = QListWidgetItem(f"{kind} {index + 1}: {where}{len(s.notes)} notes")
            item.setToolTip(("Ranked by the critique rules (errors, then warnings), then the model's likelihood"
                             if s.kind == "harmonization" or id(s) in fixes and fixes[id(s)]
                             else "The critique's own advice" if s in advice else "Ranked by the model's likelihood")
                            + f" (log-likelihood {s.log_likelihood:.1f})")
            self.alternatives.addItem(item)
        text = "Choose an alternative to see it, listen to it, and accept it."
        score = self.window.score
        if any(s.kind == "harmonization" for s in self.suggestions) and score is not None and len(score.parts) > 1:
            text += " Accepting a harmonisation keeps the first part and replaces the others."
        self.suggest_status.setText(text if self.suggestions else "The model found nothing better here.")
        if self.suggestions:
            self.alternatives.setCurrentRow(0)

    def _advice_reason(self, suggestion) -> str:
        """What the critique's advice fixes: its finding, in the words of ``rank_by_fixes``."""
        from tutor.compose.describe import rule_words

        score = self.window.score
        offered = set(suggestion.notes)  # a hashed lookup: the notes are frozen (a tuple scan was |score| x |bar|)
        changed = {n.id for n in suggestion.notes} - {n.id for n in score.notes if n in offered}
        for finding in (self.report or {}).get("findings", []):
            if set(finding.get("note_ids") or []) & changed:
                words = rule_words(finding["rule"])
                return f"fixes {words} in bar {finding['measure']}"
        return ""

    def applied(self, index: int) -> Score | None:
        if not 0 <= index < len(self.suggestions) or self.window.score is None:
            return None
        s = self.suggestions[index]
        if s.kind == "harmonization":
            return harmonized_score(self.window.score, s)
        if s.kind == "restyle":
            return s.score
        return apply_suggestion(self.window.score, s)

    def _alternative_chosen(self, row: int) -> None:
        new = self.applied(row)
        self.audition_button.setEnabled(new is not None)
        self.accept_button.setEnabled(new is not None)
        overlay = self.overlay_box.isChecked()
        self.alternative_view.setVisible(new is not None and not overlay)
        if new is None:
            self.view.show_overlay(None)
            return
        s = self.suggestions[row]
        if overlay:
            original = self.window.score
            run_job(_overlay_job, original, new, s, name="overlay",
                    on_result=lambda result: self._show_overlay(result, original, s),
                    on_error=lambda e: self.suggest_status.setText(f"Cannot draw the alternative over the piece: {e}"))
            return
        self.view.show_overlay(None)
        numbers = [m.number for m in new.measures]
        first = max(min(numbers), s.first_measure - 1)
        last = min(max(numbers), s.last_measure + 1)
        if s.kind in WHOLE_PIECE:
            last = min(last, first + 3)  # the side staff shows the first bars of a whole-piece harmonisation
        excerpt = replace(new.slice_measures(first, last), source_path=None, title="")
        self.alternative_view.set_score(excerpt)
        if s.kind in WHOLE_PIECE:  # the new parts in colour, the melody as written
            new_notes = [n for n in excerpt.notes if n.part != new.parts[0].id]
        else:
            new_notes = [n for n in excerpt.notes if s.first_measure <= n.measure <= s.last_measure]
        self.alternative_view.set_marks({n.id: {"color": SUGGESTION_COLOR, "text": ""} for n in new_notes})
        self.alternative_view.engraved.connect(self._mark_alternative, Qt.UniqueConnection)

    def _mark_alternative(self) -> None:
        self.alternative_view.zoom_to_width()

    def _show_overlay(self, result, original: Score, suggestion) -> None:
        """The overlay is drawn only while the piece and the chosen alternative are still the ones it shows."""
        row = self.alternatives.currentRow()
        if (self.window.score is original and self.overlay_box.isChecked() and 0 <= row < len(self.suggestions)
                and self.suggestions[row] is suggestion):
            self.view.show_overlay(result)

    def audition(self) -> None:
        row = self.alternatives.currentRow()
        new = self.applied(row)
        if new is None:
            return
        s = self.suggestions[row]
        if s.kind in WHOLE_PIECE:
            self.window.play_score(new)
            return
        first = max(min(m.number for m in new.measures), s.first_measure - 1)
        self.window.play_score(new.slice_measures(first, s.last_measure))

    def accept(self) -> None:
        row = self.alternatives.currentRow()
        new = self.applied(row)
        if new is None:
            return
        s = self.suggestions[row]
        what = ("harmonisation" if s.kind == "harmonization" else f"restyling as {s.style}" if s.kind == "restyle"
                else f"suggestion for bars {s.first_measure}–{s.last_measure}")
        self.window.edit_score(new, f"Accept {what}")
        self._clear_alternatives()
        self.alternative_view.show_message("Accepted. Undo with Ctrl+Z.")
        self.suggest_status.setText("Accepted into the piece. Edit > Undo takes it back.")


    # --- similar pieces --------------------------------------------------------------------------
    def find_similar(self) -> None:
        """Fill the similar-pieces list (at the bottom of the panel) and scroll to it."""
        self.similar.find()
        self._scroll_to(self.similar)

    def _scroll_to(self, widget) -> None:
        """Scroll the panel (in the window's scroll area, when it is in one) so that ``widget`` shows."""
        scroller = self.parentWidget().parentWidget() if self.parentWidget() is not None else None
        if hasattr(scroller, "ensureWidgetVisible"):
            scroller.ensureWidgetVisible(widget)

    # --- a new piece from a brief --------------------------------------------------------------
    def open_generate_dialog(self) -> GenerateDialog | None:
        """The brief dialog (not modal to the event loop: the generation starts when it is accepted)."""
        dialog = GenerateDialog(self)
        dialog.accepted.connect(lambda: self.start_generation(dialog.brief))
        dialog.open()
        self.generate_dialog = dialog
        return dialog

    def start_generation(self, brief) -> None:
        if brief is None:
            return
        if self.generate_job is not None and not self.generate_job.finished:
            self.generate_job.cancel()
        self._say_generated(f"Writing {brief.bars} bars, {brief.style}, {brief.key_name}, {brief.meter}, "
                                     f"{brief.mood}…")
        self.generate_progress.setValue(0)
        self.generate_progress.setVisible(True)
        self._scroll_to(self.generate_button)
        self.cancel_generate_button.setVisible(True)
        self.generate_button.setEnabled(False)
        self.generate_job = run_job(_generate_job, brief, name="generate",
                                    on_result=self.show_generated,
                                    on_error=lambda e: self._say_generated(f"Nothing generated: {e}"),
                                    on_progress=self._generate_progress, on_done=self._generate_done)

    def _say_generated(self, text: str) -> None:
        self.generate_status.setText(text)
        self.generate_status.setVisible(bool(text))

    def _generate_progress(self, fraction: float, text: str) -> None:
        self.generate_progress.setValue(int(round(100 * fraction)))
        if text:
            self.generate_progress.setFormat(f"{text} %p%")

    def _generate_done(self) -> None:
        self.generate_progress.setVisible(False)
        self.cancel_generate_button.setVisible(False)
        self.generate_button.setEnabled(True)

    def cancel_generation(self) -> None:
        if self.generate_job is not None:
            self.generate_job.cancel()
            self._say_generated("Generation cancelled.")
            self._generate_done()

    def show_generated(self, generated) -> None:
        """The generated piece opens as a new, unsaved piece (closing asks to save it)."""
        window = self.window
        if not window.confirm_discard():
            self._say_generated("Generated, but kept out: the open piece has unsaved changes.")
            return
        window.open_piece(generated.score)
        window.undo_stack.resetClean()  # not saved anywhere yet: closing asks to save it
        window._update_title()
        self._say_generated(describe_generated(generated))
        window.status(f"Generated “{generated.score.title}”: save it with File > Save as")


def describe_generated(g) -> str:
    """One line on how a generated piece fits its brief."""
    style = "as asked" if g.style_agrees else f"hears {g.style}"
    mood = "as asked" if g.mood_agrees else f"hears {g.mood}"
    rules = f"{g.errors} error(s), {g.warnings} warning(s)"
    return (f"New piece at {g.tempo_bpm:g} bpm, best of {g.candidates} candidates. Style model: {style} "
            f"({g.style_probability:.0%}); emotion model: {mood} ({g.mood_probability:.0%}); rules: {rules}.")


class GenerateDialog(QDialog):
    """The brief: style, mood, key, metre, bars (and a melody's range, a seed)."""

    STYLES = (("Folk song (melody)", "song"), ("Fiddle tune (melody)", "fiddle"), ("Dance tune (melody)", "dance"),
              ("Chorale (four parts)", "chorale"), ("Pop ballad (melody and piano)", "pop"),
              ("Waltz (melody and piano)", "waltz"), ("March (melody and piano)", "march"),
              ("Ragtime (melody and piano)", "ragtime"), ("Swing (melody, bass, piano)", "swing"),
              ("Tango (melody and piano)", "tango"))
    MOODS = (("Q1 happy", "Q1"), ("Q2 tense", "Q2"), ("Q3 sad", "Q3"), ("Q4 calm", "Q4"))
    KEYS = ("C major", "G major", "D major", "A major", "F major", "Bb major", "Eb major", "A minor", "E minor",
            "D minor", "G minor", "B minor", "C minor")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.brief = None
        self.setWindowTitle("Generate a piece")
        form = QFormLayout(self)
        self.style = QComboBox()
        for label, value in self.STYLES:
            self.style.addItem(label, value)
        self.mood = QComboBox()
        for label, value in self.MOODS:
            self.mood.addItem(label, value)
        self.key = QComboBox()
        self.key.setEditable(True)
        self.key.addItems(self.KEYS)
        self.meter = QComboBox()
        self.meter.addItems(generator.METER_CHOICES)
        self.bars = QSpinBox()
        self.bars.setValue(8)
        self.pitch_range = QLineEdit()
        self.pitch_range.setPlaceholderText("any (e.g. C4-D5 for a beginner singer)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setToolTip("Another seed, another piece for the same brief")
        form.addRow("Style", self.style)
        form.addRow("Mood", self.mood)
        form.addRow("Key", self.key)
        form.addRow("Metre", self.meter)
        form.addRow("Bars", self.bars)
        form.addRow("Range", self.pitch_range)
        form.addRow("Seed", self.seed)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {SEVERITY_COLORS['error']}")
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Generate")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.style.currentIndexChanged.connect(self._style_changed)
        self._style_changed()

    def _style_changed(self) -> None:
        voices = generator.STYLES[self.style.currentData()][3]
        self.bars.setRange(1, generator.MAX_BARS[voices])
        self.pitch_range.setEnabled(voices == 1)

    def set_brief(self, *, style: str, mood: str, key: str, meter: str, bars: int, seed: int = 0) -> None:
        self.style.setCurrentIndex(self.style.findData(style))
        self.mood.setCurrentIndex(self.mood.findData(mood))
        self.key.setCurrentText(key)
        self.meter.setCurrentText(meter)
        self.bars.setValue(bars)
        self.seed.setValue(seed)

    def accept(self) -> None:
        """Checks the brief first: a brief the generator cannot write says why and stays open."""
        try:
            self.brief = generator.parse_brief(
                style=self.style.currentData(), mood=self.mood.currentData(), key=self.key.currentText(),
                meter=self.meter.currentText(), bars=self.bars.value(), seed=self.seed.value(),
                pitch_range=self.pitch_range.text().strip() or None)
        except Exception as error:
            self.problem.setText(str(error))
            return
        super().accept()


class SimilarPiecesBox(QGroupBox):
    """"More pieces like this": the nearest pieces (``tutor.compose.similar``) with why; a double-click opens one."""

    def __init__(self, window, score_of, *, title: str = "Similar pieces", open_mode: str | None = None) -> None:
        super().__init__(title)
        self.window, self.score_of, self.open_mode = window, score_of, open_mode
        self.results: list = []
        self.job = None
        layout = QVBoxLayout(self)
        self.find_button = QPushButton("Find similar pieces")
        self.find_button.setToolTip("Pieces of the music21 corpus, the lessons and the shared corpora that the style "
                                    "model hears alike; double-click one to open it")
        layout.addWidget(self.find_button)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.setMinimumHeight(90)
        layout.addWidget(self.list, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.find_button.clicked.connect(self.find)
        self.list.itemDoubleClicked.connect(lambda item: self.open_result(self.list.row(item)))

    def clear(self) -> None:
        self.results = []
        self.list.clear()
        self.status.setText("")

    def find(self) -> None:
        score = self.score_of()
        if score is None:
            return
        self.clear()
        self.status.setText("Listening for pieces like this one…")
        self.job = run_job(_similar_job, score, name="similar", on_result=self.show_results,
                           on_error=lambda e: self.status.setText(f"No similar pieces: {e}"))
        self.window.track_job(self.job, "Similar pieces")

    def show_results(self, results: list) -> None:
        self.results = list(results)
        self.list.clear()
        for r in self.results:
            item = QListWidgetItem(f"{r.title}  ·  {r.similarity:.2f}\n{r.why}")
            item.setToolTip(r.source)
            self.list.addItem(item)
        self.status.setText("Double-click a piece to open it." if self.results else "Nothing similar in the index.")

    def open_result(self, row: int) -> None:
        if not 0 <= row < len(self.results) or not self.window.confirm_discard():
            return
        source = self.results[row].source
        self.status.setText(f"Opening {self.results[row].title}…")

        def opened(result) -> None:
            self.window._loaded(result)
            if self.open_mode:
                self.window.set_mode(self.open_mode)

        self.window.track_job(run_job(_open_similar_job, source, name="open similar",
                                      on_result=opened,
                                      on_error=lambda e: self.window.show_error("Cannot open the piece", e)),
                              "Opening")


def _generate_job(task, brief):
    return generator.generate(brief, progress=task.check_and_progress)  # Cancel ends it between steps


def _similar_job(task, score) -> list:
    task.progress(0.2, "Finding similar pieces…")
    if callable(score):  # a loader (the lessons' exercise music): read here, not in the UI thread
        score = score()
    return find_similar(score, n=10)


def _open_similar_job(task, source: str):
    from tutor.score.io import load_score

    path, index = resolve_source(source)
    task.progress(0.3, "Reading the score…")
    return path, load_score(path, index=index)


def _overlay_job(task, original: Score, new: Score, suggestion) -> tuple:
    return overlay_view(original, new, suggestion)


def overlay_view(original: Score, new: Score, suggestion) -> tuple[Score, str, dict[str, str]]:
    """(score, its MusicXML, colours by note id) that draw ``suggestion`` over ``original``.

    A correction's notes become an extra voice of their part, over the bars they rewrite: they are drawn
    in colour and the notes they replace in grey (the extra voice's rests elsewhere are not printed). A
    continuation is the piece with its new bars in colour; a harmonisation the melody with its new parts
    in colour. Ids are read from the MusicXML (the exporter names notes by part, bar and order)."""
    import xml.etree.ElementTree as ET

    from tutor.score.io import musicxml_bytes

    first, last = suggestion.first_measure, suggestion.last_measure
    if suggestion.kind == "correction":
        voices = {}
        for part in {n.part for n in suggestion.notes}:
            voices[part] = max((n.voice for n in original.notes_of(part)), default=0) + 1
        extra = [replace(n, id=f"{n.id}-suggested", voice=voices[n.part], tied_ids=()) for n in suggestion.notes]
        shown = replace(original, notes=time_notes(sort_notes([*original.notes, *extra]), original.tempo_map),
                        source_path=None)
    else:
        voices = {}
        shown = replace(new, source_path=None)
    root = ET.fromstring(musicxml_bytes(shown))
    colors: dict[str, str] = {}
    part_ids = [p.id for p in shown.parts]
    for index, part in enumerate(root.findall("part")):
        part_id = part_ids[index] if index < len(part_ids) else None
        for measure in part.findall("measure"):
            try:
                number = int(measure.get("number", "0"))
            except ValueError:
                number = 0
            for note in measure.findall("note"):
                voice = int(note.findtext("voice") or 1)
                rest = note.find("rest") is not None
                note_id = note.get("id")
                if suggestion.kind == "correction":
                    if part_id not in voices:
                        continue
                    if voice == voices[part_id]:
                        if rest:
                            note.set("print-object", "no")
                        elif note_id:
                            colors[note_id] = SUGGESTION_COLOR
                    elif first <= number <= last and not rest and note_id:
                        colors[note_id] = REPLACED_COLOR
                elif not rest and note_id and (
                        (suggestion.kind in WHOLE_PIECE and index > 0)
                        or (suggestion.kind not in WHOLE_PIECE and first <= number <= last)):
                    colors[note_id] = SUGGESTION_COLOR
        if suggestion.kind == "correction":
            _drop_stray_naturals(part)
    return shown, ET.tostring(root, encoding="unicode"), colors


_SHARP_ORDER = "FCGDAEB"


def _drop_stray_naturals(part) -> None:  # noqa: C901 - one pass over a bar's heads
    """Natural signs no reader needs (issue 24: the suggestion's unchanged F4 on beat 1 got a natural
    because the original voice's F#4 on beat 2 comes first in the file): a natural stays only where the
    key signature alters the step, or a note of the same step and octave with another alteration sounds
    at or before it in the bar (any voice); one is added where such a note has none."""
    import xml.etree.ElementTree as ET

    fifths = 0
    for measure in part.findall("measure"):
        found = measure.find("attributes/key/fifths")
        if found is not None and (found.text or "").strip().lstrip("-").isdigit():
            fifths = int(found.text)
        altered = set(_SHARP_ORDER[:fifths]) if fifths > 0 else set(_SHARP_ORDER[::-1][:-fifths])
        position, last_onset = Fraction(0), Fraction(0)
        heads = []  # (onset, step, octave, alter, note element)
        for element in measure:
            if element.tag in ("backup", "forward"):
                amount = Fraction(element.findtext("duration") or "0")
                position += -amount if element.tag == "backup" else amount
            elif element.tag == "note":
                duration = Fraction(element.findtext("duration") or "0")
                if element.find("chord") is not None:
                    onset = last_onset
                else:
                    onset, last_onset = position, position
                    if element.find("grace") is None:
                        position += duration
                pitch = element.find("pitch")
                if pitch is not None:
                    heads.append((onset, pitch.findtext("step"), pitch.findtext("octave"),
                                  float(pitch.findtext("alter") or 0), element))
        shown: list = []  # heads whose natural is kept or added, in time order
        for onset, step, octave, alter, element in sorted(heads, key=lambda h: h[0]):
            if alter != 0 or step in altered:
                continue
            accidental = element.find("accidental")
            natural = accidental is not None and (accidental.text or "").strip() == "natural"
            if accidental is not None and not natural:
                continue
            clash = [o for o, st, oc, a, _ in heads if o <= onset and st == step and oc == octave and a != 0]
            voice = element.findtext("voice")
            if not clash:
                if natural:
                    element.remove(accidental)
                continue
            said = any(o >= max(clash) and st == step and oc == octave and e.findtext("voice") == voice
                       for o, st, oc, e in shown)
            if not natural and not said:  # an F4 beside the original's F#4: its natural is needed
                sign = ET.Element("accidental")
                sign.text = "natural"
                _insert_accidental(element, sign)
            shown.append((onset, step, octave, element))


_AFTER_ACCIDENTAL = ("time-modification", "stem", "notehead", "notehead-text", "staff", "beam", "notations",
                     "lyric", "play", "listen")


def _insert_accidental(note, sign) -> None:
    """``sign`` in its place among the note's children (MusicXML's order: after type and dots)."""
    for index, child in enumerate(list(note)):
        if child.tag in _AFTER_ACCIDENTAL:
            note.insert(index, sign)
            return
    note.append(sign)


def _single_line(score: Score) -> bool:
    """Whether no two notes of ``score`` sound at once (a melody, not piano music)."""
    end_ql = float("-inf")
    for note in sorted(score.notes, key=lambda n: n.onset_ql):
        if note.onset_ql < end_ql - 1e-6:
            return False
        end_ql = max(end_ql, note.onset_ql + note.duration_ql)
    return True


def _critique_job(task, score: Score) -> dict:
    if task is None:  # in the UI thread (the screenshot command): never the network
        return critique(score).as_json()
    task.progress(0.2, "Critiquing…")
    from tutor.ui.settings import analysis_place  # issue 10: on the remote host when one is set

    return analysis_place().critique_json(score)


def _suggest_job(task, score: Score, request, rank: bool = False) -> list:
    """The suggestions; ``rank``: as (suggestion, what it fixes in words), ordered by what they fix."""
    task.progress(0.1, "Asking the model…")
    from tutor.ui.settings import analysis_place  # on the remote host when one is set

    found = list(analysis_place().suggest(score, request, progress=task.check_and_progress).suggestions)
    if not rank:
        return found
    task.progress(0.9, "Checking what each proposal fixes…")
    return rank_by_fixes(score, found)


def transposed(score: Score, note_id: str, semitones: int) -> Score:
    notes = tuple(replace(n, pitch=max(0, min(127, n.pitch + semitones))) if n.id == note_id else n for n in score.notes)
    return replace(score, notes=notes)


def without_note(score: Score, note_id: str) -> Score:
    notes = sort_notes(n for n in score.notes if n.id != note_id)
    return replace(score, notes=time_notes(notes, score.tempo_map))
