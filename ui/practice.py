"""Practice mode: play a piece (MIDI keyboard, microphone, or a file standing in for the student),
see marks appear on the score as you play, then the review of the take.

Live path (MIDI): the input thread (rtmidi's, or the file-player thread of a demo take) calls
``LiveSession.feed`` with the note-on; a consumer thread feeds ``tutor.practice.follower.ScoreFollower``
and emits the events through a queued signal; the UI thread draws a ring on the note
(``ScoreView.add_live_mark``). At the end the whole take is assessed in a worker
(``tutor.practice.assessment.assess``) and the review shows scores, a heat map per measure and the events.
When a lesson exercise is being practised, the same worker judges that assessment against the exercise
and records the attempt (``tutor.lessons.plans.judge_assessment``): a take is assessed once, never on
the UI thread.

Live path (audio): ``AudioLive`` is the Qt side of ``tutor.listen.live.LiveListener`` (the recorder's
tap, the live pitch tracker and ``LiveNotes`` on a thread of their own): the onsets go to the score
follower, the pitch frames to the tuner and the pitch plot through a queued signal. A single-line part's
follower is a ``tutor.practice.live_key.KeyedFollower``: a singer in another key, or a violin tuned off
A = 440, is followed in that key or tuning once it is found, and from where it moved to another key
mid-take; in a looped take the notes are moved into that key before the ``LoopFollower`` sees them.

A looped take (*Loop the range*, ``tutor.practice.loop``): ``LoopFollower`` gives each pass of the range
a fresh follower and puts a ``PassStart`` in the events where a pass begins; the clicks are the
count-in once, then the range's clicks again and again (``looped_clicks``); the review cuts the take
at the pass starts and assesses each pass on the range alone (``assess_passes``).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QToolTip,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tutor.audio import midi_input
from tutor.audio.devices import DeviceSource, FileSource
from tutor.audio.metronome import click_schedule
from tutor.audio.playback import PlaybackPlan, Player
from tutor.audio.recording import Recorder
from tutor.lessons.plans import judge_assessment, take_exercise_instrument
from tutor.lessons.progress import ProgressDB, default_data_dir
from tutor.listen import pitch as live_pitch
from tutor.listen.live import LiveListener
from tutor.listen.piano_evidence import evidence_for_take
from tutor.listen.takes import take_instrument
from tutor.practice.assessment import COLORS, assess
from tutor.practice.coach import CoachPlan, next_step, plan_for
from tutor.practice.follower import ScoreFollower
from tutor.practice.live_key import KeyChanged, KeyedFollower, KeyFound
from tutor.practice.loop import LoopFollower, LoopReview, PassStart, assess_passes, looped_clicks
from tutor.practice.stopped import Stop, assess_until_stopped
from tutor.score.form import unfold
from tutor.score.io import AUDIO_EXTENSIONS, MIDI_EXTENSIONS
from tutor.score.music import Performance, Score
from tutor.ui.workers import Cancelled, run_job

log = logging.getLogger(__name__)

INPUTS = (
    ("midi", "MIDI keyboard"),
    ("mic", "Microphone"),
    ("mic-piano", "Microphone (piano)"),  # every note of an acoustic piano (tutor.listen.piano), marked in the review
    ("midi-file", "MIDI file as the player (demo)"),
    ("audio-file", "Audio file as the player (demo)"),
)
EVENT_LABELS = {
    "correct": "correct", "wrong_pitch": "wrong note", "missed": "missed", "extra": "extra note",
    "early": "early", "late": "late", "short": "too short", "long": "too long", "sharp": "sharp",
    "flat": "flat", "restart": "restart",
}


def file_filter(label: str, extensions: tuple[str, ...]) -> str:
    """A file dialog's filter: ``file_filter("MIDI files", MIDI_EXTENSIONS)`` is 'MIDI files (*.mid *.midi)'."""
    return f"{label} ({' '.join('*' + ext for ext in extensions)})"


def takes_dir() -> Path:
    folder = default_data_dir() / "takes"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class LiveSession(QObject):
    """Feeds played notes to the score follower on its own thread; events come back queued."""

    events = Signal(object, float)  # list of tutor.practice.assessment.Event, perf_counter when the note arrived

    def __init__(self, follower) -> None:
        super().__init__()
        self.follower = follower
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="live-follower", daemon=True)
        self._stopped = False
        self.started_at = time.perf_counter()
        self._thread.start()

    def feed(self, pitch: int, time_s: float, cents: float | None = None) -> None:
        """Called from the input thread: only queues."""
        self._queue.put(("on", int(pitch), float(time_s), cents, time.perf_counter()))

    def release(self, pitch: int, time_s: float) -> None:
        """A key let go (MIDI): only queues."""
        self._queue.put(("off", int(pitch), float(time_s), None, time.perf_counter()))

    def pedal(self, down: bool, time_s: float) -> None:
        self._queue.put(("pedal", bool(down), float(time_s), None, time.perf_counter()))

    def retune(self, pitch: int, onset_s: float, cents: float) -> None:
        """A note fed before has settled at ``cents`` (a microphone's; ``ScoreFollower.retune``). Only queues."""
        self._queue.put(("retune", int(pitch), float(onset_s), float(cents), time.perf_counter()))

    def hear(self, pitch: int, time_s: float) -> None:
        """A note heard score-free (a piano take's live listener, issue 20): only where the student is, for the
        follower (``ScoreFollower.hear``). Only queues."""
        self._queue.put(("hear", int(pitch), float(time_s), None, time.perf_counter()))

    def poll(self, time_s: float) -> None:
        """Called by the UI's timer with the take's clock: the follower judges the notes it holds
        back once the player has stopped (``ScoreFollower.poll``). Only queues."""
        self._queue.put(("poll", 0, float(time_s), None, time.perf_counter()))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, value, time_s, cents, arrived = item
            f = self.follower
            try:
                if kind == "on":  # the note's ring goes out first, before the verdicts its feed works out
                    found = f.feed_onset(onset_s=time_s, pitch=value, cents=cents,
                                         ring=lambda early, arrived=arrived: self.events.emit(early, arrived))
                elif kind == "off":
                    found = f.note_off(pitch=value, time_s=time_s)
                elif kind == "pedal":
                    f.pedal(down=value, time_s=time_s)
                    found = []
                elif kind == "hear":
                    found = f.hear(onset_s=time_s, pitch=value)
                elif kind == "retune":
                    f.retune(onset_s=time_s, pitch=value, cents=cents)
                    found = []
                else:
                    found = f.poll(time_s=time_s)
            except Exception:
                log.exception("score follower failed")
                continue
            if found:
                self.events.emit(found, arrived)

    def finish(self) -> list:
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)
            self._thread.join(timeout=2.0)
        try:
            return self.follower.finish()
        except Exception:
            log.exception("score follower failed at the end")
            return []

    def position_at(self, time_s: float) -> float:
        return self.follower.position_at(time_s)


@dataclass(frozen=True)
class PassTargets:
    """The notes of one pass on the pitch plot: line segments (seconds from the first note, MIDI
    pitch; a nan between notes breaks the line), built once for a take; a looped take's passes
    only repeat them, one ``length_s`` later each."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    length_s: float  # one pass of the range (0 for a score without measures)

    @classmethod
    def of(cls, score: Score) -> PassTargets:
        origin = score.notes[0].onset_s if score.notes else 0.0
        measures = score.measures
        length_s = score.seconds_at(measures[-1].end_ql) - score.seconds_at(measures[0].start_ql) if measures else 0.0
        xs, ys = [], []
        for note in score.notes:
            xs += [note.onset_s - origin, note.offset_s - origin, float("nan")]
            ys += [note.pitch, note.pitch, float("nan")]
        return cls(tuple(xs), tuple(ys), length_s)

    def repeated(self, passes: int) -> tuple[list[float], list[float]]:
        """(xs, ys) of ``passes`` passes one after the other."""
        n = passes if self.length_s > 0 else 1
        return [x + k * self.length_s for k in range(n) for x in self.xs], list(self.ys) * n


class _ListenerFront:
    """What ``AudioLive`` and ``PianoLive`` share: starting and stopping their ``listener`` (a thread of its
    own), and what it found (the onsets, and the newest frame when analysed) for the tests and benchmarks."""

    listener: object

    @property
    def onsets(self) -> list:
        return self.listener.onsets

    @property
    def analysed(self):
        return self.listener.analysed

    @property
    def _thread(self) -> threading.Thread:
        return self.listener._thread

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()


class AudioLive(_ListenerFront, QObject):
    """The Qt side of ``tutor.listen.live.LiveListener`` (live pitch and note onsets from the
    recorder's tap, on the listener's own thread): the onsets go to the score follower
    (``LiveSession.feed``), which judges the notes it holds back at each batch of frames
    (``LiveSession.poll``); the frames come to the UI thread as ``pitch``, a few times a second.
    """

    pitch = Signal(object, object, object)  # times_s, midi values (nan when unvoiced), cents of the last voiced frame
    ready = Signal()
    failed = Signal(str)
    ANALYSED_KEPT = LiveListener.ANALYSED_KEPT

    def __init__(self, recorder, session: LiveSession | None, pitch_module=live_pitch, instrument: str | None = None) -> None:
        super().__init__()
        self.recorder, self.session = recorder, session
        self.listener = LiveListener(recorder, pitch_module.open_stream, on_onset=self._onset, on_frames=self._frames,
                                     on_ready=self.ready.emit, on_failed=self.failed.emit, kept=self.ANALYSED_KEPT,
                                     instrument=instrument, on_settled=self._settled)

    @property
    def notes(self):  # the listener's note finder
        return self.listener.notes

    def _onset(self, onset_s: float, midi: int, cents: float) -> None:  # the listener's thread
        if self.session is not None:
            self.session.feed(midi, onset_s, cents)

    def _settled(self, onset_s: float, midi: int, cents: float) -> None:  # the listener's thread
        if self.session is not None:
            self.session.retune(midi, onset_s, cents)

    def _frames(self, times: list[float], midis: list[float], cents: float | None) -> None:  # the listener's thread
        if self.session is not None:  # the notes held back for their verdict, once the player stops
            self.session.poll(times[-1])
        self.pitch.emit(times, midis, cents)


class PianoLive(_ListenerFront, QObject):
    """The Qt side of ``tutor.listen.piano_live.PianoLiveListener`` (issue 20): the pitches the score
    follower expects next, listened for in a piano take; each one heard goes to the follower as a
    played note (``LiveSession.feed``), and the take's clock to its ``poll``. The review after the take
    uses the full piano transcriber."""

    ready = Signal()
    failed = Signal(str)
    POLL_EVERY_S = 0.05

    def __init__(self, recorder, session: LiveSession | None) -> None:
        super().__init__()
        from tutor.listen.piano_live import PianoLiveListener, follower_expectation, follower_range

        self.session = session
        follower = session.follower if session is not None else None
        self._polled = 0.0
        self.listener = PianoLiveListener(
            recorder, lambda: follower_expectation(follower) if follower is not None else [],
            on_onset=self._onset, on_time=self._time, on_ready=self.ready.emit, on_failed=self.failed.emit,
            free=follower_range(follower) if follower is not None else None, on_free=self._free)

    def _onset(self, onset_s: float, midi: int) -> None:  # the listener's thread
        if self.session is not None:
            self.session.feed(midi, onset_s)

    def _free(self, onset_s: float, midi: int) -> None:  # the listener's thread: heard score-free
        if self.session is not None:
            self.session.hear(midi, onset_s)

    def _time(self, time_s: float) -> None:  # the listener's thread
        if self.session is not None and time_s - self._polled >= self.POLL_EVERY_S:
            self._polled = time_s
            self.session.poll(time_s)


class HeatMap(QWidget):
    """One cell per measure, coloured by its overall score; click a cell to show that measure."""

    measureClicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.cells: list[tuple[int, float]] = []
        self.setMinimumHeight(34)
        self.setMouseTracking(True)

    def set_measures(self, cells: list[tuple[int, float]]) -> None:
        self.cells = cells
        self.update()

    @staticmethod
    def color_for(value: float) -> QColor:
        value = max(0.0, min(100.0, value))
        if value >= 90:
            return QColor("#2E7D32")
        if value >= 75:
            return QColor("#9CCC65")
        if value >= 55:
            return QColor("#FBC02D")
        return QColor("#D32F2F")

    def _cell_rect(self, index: int) -> QRectF:
        width = max(1.0, self.width() / max(1, len(self.cells)))
        return QRectF(index * width + 1, 1, width - 2, self.height() - 2)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        if not self.cells:
            painter.drawText(self.rect(), Qt.AlignCenter, "per-measure scores appear after a take")
            return
        font = QFont(self.font())
        font.setPointSize(7)
        painter.setFont(font)
        for index, (number, value) in enumerate(self.cells):
            rect = self._cell_rect(index)
            painter.fillRect(rect, self.color_for(value))
            painter.setPen(QPen(QColor("white")))
            painter.drawText(rect, Qt.AlignCenter, str(number))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        for index, (number, _) in enumerate(self.cells):
            if self._cell_rect(index).contains(event.position()):
                self.measureClicked.emit(number)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        for index, (number, value) in enumerate(self.cells):
            if self._cell_rect(index).contains(event.position()):
                QToolTip.showText(event.globalPosition().toPoint(), f"measure {number}: {value:.0f}/100", self)


class Tuner(QWidget):
    """A needle from -50 to +50 cents."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.cents: float | None = None
        self.setMinimumSize(160, 40)

    def set_cents(self, cents: float | None) -> None:
        self.cents = cents
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        w, h = self.width(), self.height()
        # the in-tune band is green only while a note sounds (issue 24: it was green in silence)
        painter.fillRect(QRectF(w * 0.4, h * 0.55, w * 0.2, 6), QColor("#2E7D32" if self.cents is not None else "#BDBDBD"))
        painter.setPen(QPen(self.palette().text().color(), 1))
        for cents in (-50, -25, 0, 25, 50):
            x = w / 2 + cents / 50 * (w / 2 - 10)
            painter.drawLine(int(x), int(h * 0.5), int(x), int(h * 0.75))
        if self.cents is None:
            painter.drawText(QRectF(0, 0, w, h * 0.5), Qt.AlignCenter, "tuner: play a note")
            return
        cents = max(-50.0, min(50.0, self.cents))
        x = w / 2 + cents / 50 * (w / 2 - 10)
        color = QColor("#2E7D32") if abs(cents) <= 10 else QColor("#FB8C00") if abs(cents) <= 25 else QColor("#D32F2F")
        painter.setPen(QPen(color, 3))
        painter.drawLine(int(w / 2), int(h - 2), int(x), int(h * 0.35))
        painter.drawText(QRectF(0, 0, w, h * 0.4), Qt.AlignCenter, f"{self.cents:+.0f} cents")


class PracticePanel(QWidget):
    """The controls, live feedback and review of Practice mode (the score is the window's)."""

    reviewed = Signal(object)  # the assessment of the last take
    status = Signal(str)
    takeFinished = Signal(object)  # Performance

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.view = window.score_view
        self.score: Score | None = None
        self.session: LiveSession | None = None
        self.source = None
        self.recorder = None
        self.player = None
        self.take_path: Path | None = None
        self.assessment = None
        self.performance: Performance | None = None
        self.exercise = None
        self._take_started = 0.0
        self._played_file_thread: threading.Thread | None = None
        self.latencies_ms: list[float] = []
        self.live_events: list = []  # the follower's events during the take
        self.demo_realtime = True  # a demo take plays at its own pace (tests may feed it at once)
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(33)
        self.timer.timeout.connect(self._tick)

    # --- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        setup = QGroupBox("What to practise")
        form = QFormLayout(setup)
        self.part_box = QComboBox()
        form.addRow("Part", self.part_box)
        bars = QHBoxLayout()
        self.first_bar = QSpinBox()
        self.last_bar = QSpinBox()
        bars.addWidget(self.first_bar)
        bars.addWidget(QLabel("to"))
        bars.addWidget(self.last_bar)
        form.addRow("Measures", bars)
        self.tempo = QSpinBox()
        self.tempo.setRange(25, 150)
        self.tempo.setSingleStep(5)
        self.tempo.setValue(100)
        self.tempo.setSuffix(" %")
        self.tempo.setToolTip("Practise slower (or faster) than the written tempo")
        form.addRow("Tempo", self.tempo)
        self.count_in = QSpinBox()
        self.count_in.setRange(0, 4)
        self.count_in.setValue(1)
        self.count_in.setSuffix(" bar(s)")
        form.addRow("Count-in", self.count_in)
        self.metronome = QCheckBox("Metronome clicks while I play")
        self.loop = QCheckBox("Loop the range")
        self.loop.setToolTip("One take, the measures again and again: count-in once, then play the range "
                             "over and over; each pass is marked and scored on its own")
        self.repeats = QCheckBox("Repeats")  # issue 21: repeats, endings, D.C./D.S. as written, or each passage once
        self.repeats.setChecked(True)
        self.repeats.setToolTip("Play the repeats as written (first and second endings, D.C., D.S.); "
                                "unticked: each passage once")
        form.addRow(self.metronome)
        form.addRow(self.loop)
        form.addRow(self.repeats)
        self.repeats.toggled.connect(lambda _checked: self._draw_targets())  # the pitch plot's notes as played
        self.mode_box = QComboBox()
        self.mode_box.addItem("Play along (the score follows me)", "play-along")
        self.mode_box.addItem("Wait for me (moves on at the right notes)", "wait")
        form.addRow("Follower", self.mode_box)
        self.input_box = QComboBox()
        for key, label in INPUTS:
            self.input_box.addItem(label, key)
        form.addRow("Input", self.input_box)
        layout.addWidget(setup)

        buttons = QHBoxLayout()
        self.listen_button = QPushButton("▶ Listen")
        self.listen_button.setToolTip("Hear the chosen measures at the chosen tempo (Space)")
        self.start_button = QPushButton("● Start take")
        self.start_button.setToolTip("Start playing: marks appear on the score as you play (R)")
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setEnabled(False)
        buttons.addWidget(self.listen_button)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self.open_take_button = QPushButton("Review a recorded take…")
        layout.addWidget(self.open_take_button)

        live = QGroupBox("Live")
        grid = QGridLayout(live)
        self.level = QProgressBar()
        self.level.setRange(-60, 0)
        self.level.setValue(-60)
        self.level.setFormat("level %v dBFS")
        grid.addWidget(self.level, 0, 0, 1, 2)
        self.tuner = Tuner()
        grid.addWidget(self.tuner, 1, 0, 1, 2)
        self.pitch_plot = self._make_pitch_plot()
        grid.addWidget(self.pitch_plot, 2, 0, 1, 2)
        self.live_label = QLabel("")
        self.live_label.setWordWrap(True)
        grid.addWidget(self.live_label, 3, 0, 1, 2)
        # issue 24: Live and the review share the space under the buttons as two tabs (the review was
        # below the fold of a 1024x700 window); a take shows Live, its review shows itself
        self.take_tabs = QTabWidget()
        self.take_tabs.setDocumentMode(True)
        live.setTitle("")
        self.take_tabs.addTab(live, "Live")

        review = QGroupBox("")
        rv = QVBoxLayout(review)
        self.score_label = QLabel("Play a take to see how it went.")
        self.score_label.setWordWrap(True)
        font = self.score_label.font()
        font.setPointSize(font.pointSize() + 1)
        self.score_label.setFont(font)
        rv.addWidget(self.score_label)
        # issue 24: one click loops the bars the review names, slower, with the count-in; the tempo rises as
        # they come right (tutor.practice.coach)
        self.coach: CoachPlan | None = None
        self.coach_button = QPushButton("▶ Practise these bars")
        self.coach_button.setToolTip("Loop the bars to practise at a slower tempo, with the count-in; "
                                     "the tempo goes up as they come right")
        self.coach_button.setVisible(False)
        rv.addWidget(self.coach_button)
        self.pass_box = QComboBox()
        self.pass_box.setToolTip("A looped take: the review of each pass")
        self.pass_box.setVisible(False)
        rv.addWidget(self.pass_box)
        self.heat = HeatMap()
        rv.addWidget(self.heat)
        self.events_tree = QTreeWidget()
        self.events_tree.setMinimumHeight(90)
        self.events_tree.setHeaderLabels(["Bar", "Beat", "What", "Detail"])
        self.events_tree.setRootIsDecorated(False)
        self.events_tree.setColumnWidth(0, 40)
        self.events_tree.setColumnWidth(1, 40)
        self.events_tree.setColumnWidth(2, 80)
        rv.addWidget(self.events_tree, 1)
        self.replay_button = QPushButton("▶ Replay my take")
        self.replay_button.setEnabled(False)
        rv.addWidget(self.replay_button)
        self.take_tabs.addTab(review, "Review of the take")
        layout.addWidget(self.take_tabs, 1)

        self.listen_button.clicked.connect(self.listen)
        self.start_button.clicked.connect(self.start_take)
        self.stop_button.clicked.connect(self.stop_take)
        self.open_take_button.clicked.connect(self.open_take)
        self.replay_button.clicked.connect(self.replay_take)
        self.coach_button.clicked.connect(lambda: self.practise_weak_bars())
        self.events_tree.itemClicked.connect(self._event_clicked)
        self.pass_box.currentIndexChanged.connect(self._pass_chosen)
        self.heat.measureClicked.connect(self.view.show_measure)
        self.input_box.currentIndexChanged.connect(self._warm_pitch_tracker)
        self.first_bar.valueChanged.connect(self._range_changed)
        self.last_bar.valueChanged.connect(self._range_changed)
        self.view.rangeSelected.connect(self._range_from_view)

    pitch_warm_job = None

    def _warm_pitch_tracker(self) -> None:
        """Load the live pitch model (torch, PESTO) in the background as soon as an audio input is
        chosen, so that the first notes of a take are not spent waiting for it."""
        if self.input_box.currentData() == "mic-piano" and self.pitch_warm_job is None:
            from tutor.listen.piano import load_model
            from tutor.listen.pitch import resolve_device

            self.pitch_warm_job = run_job(lambda task: load_model(resolve_device("auto")), name="piano-warm-up")
            return
        if self.input_box.currentData() not in ("mic", "audio-file") or self.pitch_warm_job is not None:
            return
        self.live_label.setText("Loading the pitch tracker…")
        self.pitch_warm_job = run_job(lambda task: live_pitch.open_stream(sample_rate=LiveListener.SAMPLE_RATE),
                                      on_result=lambda _: self.live_label.setText("Pitch tracker ready."),
                                      on_error=lambda e: self.live_label.setText(f"No live pitch: {e}"),
                                      name="pitch-warm-up")

    def _make_pitch_plot(self):
        plot = pg.PlotWidget()
        plot.setMinimumHeight(110)
        plot.setMaximumHeight(150)  # the review below it must stay in view
        plot.setLabel("left", "pitch (MIDI)")
        plot.setLabel("bottom", "time (s)")
        plot.showGrid(x=True, y=True, alpha=0.2)
        self.target_curve = plot.plot([], [], pen=pg.mkPen("#9E9E9E", width=6), connect="finite")
        self.played_curve = plot.plot([], [], pen=None, symbol="o", symbolSize=7, symbolBrush="#1E88E5")
        self.pitch_curve = plot.plot([], [], pen=pg.mkPen("#1E88E5", width=2))
        self._played_points: tuple[list[float], list[float]] = ([], [])
        self._pitch_points: tuple[list[float], list[float]] = ([], [])
        return plot

    # --- score and selection ---------------------------------------------------------------
    def set_score(self, score: Score) -> None:
        self.score = score
        self.part_box.clear()
        self.part_box.addItem("All parts", None)
        for part in score.parts:
            self.part_box.addItem(part_labels(score.parts)[part.id], part.id)
        numbers = [m.number for m in score.measures] or [1]
        for box in (self.first_bar, self.last_bar):
            box.blockSignals(True)
            box.setRange(min(numbers), max(numbers))
            box.blockSignals(False)
        self.first_bar.setValue(min(numbers))
        self.last_bar.setValue(max(numbers))
        self.clear_review()

    def apply_exercise(self, exercise, score: Score) -> None:
        """Settings from a lesson exercise: its part, measures and start tempo."""
        self.exercise = exercise
        self.set_score(score)
        if exercise.part is not None:
            index = self.part_box.findData(score.part(exercise.part).id)
            if index >= 0:
                self.part_box.setCurrentIndex(index)
        input_key = {"midi": "midi", "voice": "mic", "instrument": "mic", "piano": "mic-piano"}.get(exercise.input, "midi")
        if exercise.input == "instrument" and self._piano_part():
            input_key = "mic-piano"  # an instrument exercise on a keyboard part: the piano is heard
        self.input_box.setCurrentIndex(max(0, self.input_box.findData(input_key)))
        self.repeats.setChecked(getattr(exercise, "repeats", True))  # the lesson's repeats field (issue 21)

    def _range_changed(self) -> None:
        if self.last_bar.value() < self.first_bar.value():
            self.last_bar.setValue(self.first_bar.value())
        if self.score is not None and self.view.pages:
            full = (min(m.number for m in self.score.measures), max(m.number for m in self.score.measures))
            chosen = (self.first_bar.value(), self.last_bar.value())
            self.view.select_range(*chosen) if chosen != full else self.view.select_range(None)

    def _range_from_view(self, first: int, last: int) -> None:
        if self.window.mode == "practice":
            self.first_bar.setValue(first)
            self.last_bar.setValue(last)

    def practice_score(self, *, whole: bool = False) -> Score:
        """The chosen part and measures (``whole``: every measure) at the chosen tempo (ids unchanged)."""
        score = self.score
        part = self.part_box.currentData()
        if part:
            score = score.only_parts([part])
        numbers = [m.number for m in score.measures]
        if not whole and numbers and self.chosen_measures() != (min(numbers), max(numbers)):
            score = score.slice_measures(*self.chosen_measures())
        return score.at_tempo(bpm=self.bpm)

    def chosen_measures(self) -> tuple[int, int]:
        return self.first_bar.value(), self.last_bar.value()

    def _count_in_s(self, score: Score) -> float:
        """Where a take's first pass starts: after the count-in (none for a file standing in for the player)."""
        if self._source_kind_at_start in ("midi-file", "audio-file") or not self.count_in.value():
            return 0.0
        return click_schedule(score, count_in_bars=self.count_in.value(), piece=False).count_in_s

    @property
    def bpm(self) -> float:
        return self.score.tempo_map.initial_bpm * self.tempo.value() / 100.0

    # --- listening -----------------------------------------------------------------------------
    def _player(self):
        if self.player is None:
            settings = self.window.settings
            self.player = Player(device=settings.value("audio/output") or None,
                                 soundfont=settings.value("audio/soundfont") or None)
        return self.player

    def listen(self) -> None:
        if self.score is None:
            return
        try:
            player = self._player()
            score = self.practice_score()
            repeats = self.repeats.isChecked()
            player.play(score, count_in_bars=0, repeats=repeats)
        except Exception as error:
            self.window.show_error("Cannot play the piece", error)
            return
        self._playing_score = score
        self._playing_unfolding = unfold(score, repeats=repeats)  # the cursor jumps back at a repeat
        self._listen_started = time.perf_counter()
        self.timer.start()
        self.status.emit("Playing… (Esc stops)")

    def stop_sound(self) -> None:
        if self.player is not None:
            self.player.stop()

    # --- a take -----------------------------------------------------------------------------
    def start_take(self, *, source_path: str | Path | None = None, input_kind: str | None = None) -> bool:
        if self.score is None:
            self.window.show_message("Open a piece first (File > Open).")
            return False
        kind = input_kind or self.input_box.currentData()
        if kind in ("midi-file", "audio-file") and source_path is None:
            pattern = file_filter("MIDI files", MIDI_EXTENSIONS) if kind == "midi-file" else file_filter("Audio", AUDIO_EXTENSIONS)
            source_path, _ = QFileDialog.getOpenFileName(self, "The take to play as the student", "", pattern)
            if not source_path:
                return False
        self.stop_sound()
        self.clear_review()
        self.take_tabs.setCurrentIndex(0)  # Live
        self.view.clear_marks()
        score = self.practice_score()
        self._take_score = score
        self.session = None
        self.looping = self.loop.isChecked()
        self.loop_follower = None
        self.passes = ()
        try:
            mode, level, bpm = self.mode_box.currentData(), self.window.level, self.bpm
            # a loop's pass is the range as written, the repeats in it played (issue 21): its follower follows
            # the range unfolded, so going back at a repeat is not the next pass
            repeats = self.repeats.isChecked()

            def make_follower():
                return ScoreFollower(score, mode=mode, level=level, bpm=bpm, repeats=repeats)

            instrument = self._part_instrument()
            follower = LoopFollower(make_follower) if self.looping else make_follower()
            if kind in ("mic", "audio-file") and instrument != "piano":
                # a singer in another key, a violin tuned to A = 444: followed in it (issue 22); a looped take's
                # notes are moved into it before the loop follower finds each pass's start by its written pitches
                follow_written = (lambda: LoopFollower(make_follower)) if self.looping else make_follower
                follower = KeyedFollower(follow_written, sung=instrument == "voice")
            if self.looping:
                self.loop_follower = follower
            self.session = LiveSession(follower)
            self.session.events.connect(self._on_events)
        except Exception as error:  # this piece cannot be followed (the take is still recorded and reviewed)
            log.exception("cannot start the score follower")
            self.live_label.setText(f"Live marks unavailable: {error}")
        try:
            if kind in ("midi", "midi-file"):
                self._start_midi(kind, source_path)
            else:
                self._start_audio(kind, source_path)
        except Exception as error:
            self.session = None
            self.window.show_error("Cannot start the take", error)
            return False
        self._source_kind_at_start = kind
        self._start_clicks(score)
        self._take_started = time.perf_counter()
        self.latencies_ms = []
        self.live_events = []
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.timer.start()
        self.status.emit("Recording… play now. Stop with Esc or ■.")
        return True

    def _start_clicks(self, score: Score) -> None:
        count_in = self.count_in.value()
        if not (count_in or self.metronome.isChecked()) or self._source_kind_at_start in ("midi-file", "audio-file"):
            return
        try:
            # the clicks follow the piece (a loop: the range) as played, with its repeats (issue 21)
            played = unfold(score, repeats=self.repeats.isChecked()).score
            schedule = click_schedule(played, count_in_bars=count_in, piece=self.metronome.isChecked())
            if self.looping:
                schedule = looped_clicks(schedule)
            if isinstance(self.audio_live, PianoLive):  # issue 20: the clicks are never heard as notes
                self.audio_live.listener.set_clicks(schedule.times_s, schedule.count_in_s)
            self._player().play(PlaybackPlan((), clicks=schedule, offset_s=schedule.count_in_s))
        except Exception as error:  # the sound output (sounddevice, FluidSynth: device libraries) failed: the take goes on
            self.live_label.setText(f"No metronome: {error}")

    def _start_midi(self, kind: str, source_path) -> None:
        session = self.session

        def on_note_on(pitch, velocity, time_s):
            if session is not None:
                session.feed(pitch, time_s)
            self._played_points[0].append(time_s)
            self._played_points[1].append(pitch)

        def on_note(note):  # a key let go: its held length, and whether the hands are off the keys
            if session is not None:
                session.release(note.pitch, note.offset_s)

        def on_pedal(event):
            if session is not None:
                session.pedal(event.down, event.time_s)

        callbacks = {"on_note_on": on_note_on, "on_note": on_note, "on_pedal": on_pedal}
        if kind == "midi":
            port = self.window.settings.value("midi/input") or None
            self.source = midi_input.PortMidiSource(port, **callbacks)
            self.source.start()
            self.take_path = takes_dir() / f"take-{_stamp()}.mid"
        else:
            self.source = midi_input.VirtualMidiSource("demo take", **callbacks)
            self.take_path = Path(source_path)
            path = Path(source_path)

            def play():
                try:
                    self.source.play_file(path, realtime=self.demo_realtime)
                except Exception:
                    log.exception("demo take failed")

            self._played_file_thread = threading.Thread(target=play, name="demo-take", daemon=True)
            self._played_file_thread.start()
        self._source_kind = "midi"

    def _start_audio(self, kind: str, source_path) -> None:
        if kind in ("mic", "mic-piano"):
            self.source = DeviceSource(device=self.window.settings.value("audio/input") or None)
        else:
            self.source = FileSource(source_path, realtime=True, block_frames=256)  # a device's block size
        self.take_path = takes_dir() / f"take-{_stamp()}.wav"
        piece = str(self.score.source_path) if self.score.source_path else None
        self.recorder = Recorder(self.source, self.take_path, piece=piece, tempo_bpm=self.bpm)
        self._audio_origin_before = time.perf_counter()  # the source's clock starts in between (benchmark)
        self.recorder.start()
        self._source_kind = "audio"
        self._audio_origin = time.perf_counter()
        self._start_piano_take(kind)
        if kind == "mic-piano":  # the notes the score expects next, listened for; the review hears every note
            self.audio_live = PianoLive(self.recorder, self.session)
            self.audio_live.ready.connect(lambda: self.live_label.setText(
                "Listening to the piano: play now. Notes not heard live are checked in the review."))
            self.audio_live.failed.connect(lambda text: self.live_label.setText(f"No live marks: {text}"))
            self.audio_live.start()
            return
        if kind == "mic" and self._piano_part():
            self.window.show_message("This is a piano part, and the Input is the single-line Microphone: choose "
                                     "'Microphone (piano)' to have every note of a chord heard.")
        self.live_label.setText("Loading the pitch tracker… (the take is already recording)")
        self.audio_live = AudioLive(self.recorder, self.session, instrument=self._take_instrument(self.take_path, kind=kind))
        self.audio_live.pitch.connect(self._on_pitch)
        self.audio_live.ready.connect(lambda: self.live_label.setText("Listening: play now."))
        self.audio_live.failed.connect(lambda text: self.live_label.setText(f"No live marks: {text}"))
        self.audio_live.start()

    audio_live = None
    piano_take = None  # tutor.listen.piano.TakeFileTranscriber of the take being recorded
    transcribe_during_take = True  # False: a piano take is transcribed after Stop (the benchmark's peer)

    def _start_piano_take(self, kind: str) -> None:
        """A piano audio take is transcribed while it is recorded (issue 20: the review then waits only
        for its last segment), from the file the recorder writes; analysed here only (a remote host
        transcribes the finished file)."""
        from tutor.listen.piano import TakeFileTranscriber
        from tutor.ui.settings import analysis_place

        self._cancel_piano_take()
        if not self.transcribe_during_take or not (kind == "mic-piano" or (kind == "audio-file" and self._piano_part())):
            return
        place = analysis_place()
        if place.client is not None:
            return
        self.piano_take = TakeFileTranscriber(self.take_path, device=place.device).start()

    def _cancel_piano_take(self) -> None:
        if self.piano_take is not None:
            self.piano_take.cancel()
            self.piano_take = None

    def _piano_part(self) -> bool:
        """Whether the part(s) practised are keyboard parts (an audio take of them is a piano take)."""
        return self.score is not None and take_instrument(self.practice_score()) == "piano"

    def _part_instrument(self) -> str | None:
        """The instrument of the part(s) practised ("piano", "voice", "violin" or None): a lesson exercise
        for the voice is sung whatever its part is called (as `tutor lessons take` hears it)."""
        if self.exercise is not None and take_exercise_instrument(self.exercise) == "voice":
            return "voice"
        return take_instrument(self.practice_score()) if self.score is not None else None

    def _take_instrument(self, path: Path | None, *, kind: str | None = None) -> str | None:
        """How an audio take is transcribed: a take made with "Microphone (piano)" as a piano's, one made
        with "Microphone" as a single line (as chosen), a file by the part it plays."""
        if kind is None:  # (the take being started names its input: the last take's is still set)
            kind = getattr(self, "_source_kind_at_start", None) if path == self.take_path else None
        if kind == "mic-piano":
            return "piano"
        part = self._part_instrument()
        if kind == "mic":  # a single line; a voice or violin part's take gets their own segmentation (issue 22)
            return part if part in ("voice", "violin") else "single-line"
        return part  # a file: piano, voice or violin by the part (as `tutor assess` hears it), else a single line

    def _on_pitch(self, times, midis, cents) -> None:
        if cents is not None:
            self.tuner.set_cents(cents)
        if len(times):
            self._pitch_points[0].extend(times)
            self._pitch_points[1].extend(midis)
            self.pitch_curve.setData(self._pitch_points[0][-3000:], self._pitch_points[1][-3000:], connect="finite")

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.source is not None:
            elapsed = now - self._take_started
            if self.session is not None:
                self.view.set_cursor(self.session.position_at(elapsed))
                if self._source_kind == "midi" and hasattr(self.source, "elapsed_s"):
                    self.session.poll(self.source.elapsed_s)  # on the clock the notes' times are on
            # a keyboard take (not a MIDI file played as one, whatever the input box says now)
            if self._source_kind_at_start == "midi" and now - self._last_midi_save > 2.0:
                self._last_midi_save = now  # a crash loses at most the last two seconds of a keyboard take
                try:
                    self.source.save(self.take_path)
                except Exception as error:
                    log.warning("cannot save the take so far: %s", error)
            if self._source_kind == "audio" and self.recorder is not None:
                level = self.recorder.level()
                self.level.setValue(int(max(-60, min(0, level.rms_dbfs))))
                if self.recorder.finished:
                    self.stop_take()
                    return
            elif self._played_file_thread is not None and not self._played_file_thread.is_alive():
                self.stop_take()
                return
            if self._played_points[0]:
                self.played_curve.setData(*self._played_points)
            return
        if self.player is not None and self.player.playing and getattr(self, "_playing_score", None) is not None:
            unfolding = getattr(self, "_playing_unfolding", None) or unfold(self._playing_score)
            played = unfolding.score
            first = played.measures[0].start_ql if played.measures else 0.0
            position = played.position_at(played.seconds_at(first) + self.player.position_s)
            self.view.set_cursor(unfolding.written_position(position)[0])
            return
        if self._replaying is not None:
            return
        self.timer.stop()
        self.view.set_cursor(None)

    _replaying = None
    _source_kind = ""
    _source_kind_at_start = ""
    looping = False
    loop_follower = None
    passes: tuple = ()
    _last_midi_save = 0.0

    def _on_events(self, events, arrived: float) -> None:
        for event in events:
            if isinstance(event, KeyFound):  # a singer in another key: the notes so far are heard again in it
                self.view.clear_live_marks()
                self.live_label.setText(event.message)
                self.status.emit(event.message)  # (stays in the status bar: later marks' messages take the line)
                continue
            if isinstance(event, KeyChanged):  # the singer slid into another key: the rings from there are redrawn
                self.live_label.setText(event.message)
                self.status.emit(event.message)
                continue
            if isinstance(event, PassStart):  # a looped take: the last pass's rings fade, the new one's replace them
                self.view.fade_live_marks()
                self._draw_pass_targets(event.index)
                if self._misses_told_live():
                    done = f"{event.previous_right} of {event.previous_total} notes right"
                else:  # the microphone hears about 6 piano strikes in 10 live: the review counts every note
                    done = f"{event.previous_right} of {event.previous_total} notes heard right; the review hears them all"
                self.live_label.setText(f"Pass {event.index}: go! (pass {event.index - 1}: {done})")
                continue
            self.live_events.append(event)
            if event.note_id is None or event.type == "missed" and not self._misses_told_live():
                continue
            text = "" if event.type == "correct" else EVENT_LABELS.get(event.type, event.type)
            if self.view.add_live_mark(event.note_id, COLORS.get(event.type, "#1E88E5"), text):
                self._mark_arrivals = getattr(self, "_mark_arrivals", {})
                self._mark_arrivals.setdefault(event.note_id, arrived)  # the first ring's (the benchmarks)
                self._mark_slots = getattr(self, "_mark_slots", {})  # ...and when the UI thread took it
                self._mark_slots.setdefault(event.note_id, time.perf_counter())
            if event.type != "correct":
                self.live_label.setText(event.message)

    def _misses_told_live(self) -> bool:
        """Whether a note the live path did not hear is marked missed as the take goes (a MIDI keyboard, a single
        line). With 'Microphone (piano)' the live path hears about 6 strikes in 10 (soft inner voices, notes under a
        loud chord: docs/benchmarks.md, "Live strikes learned"), so on real recordings 95% of its live "missed"
        marks were on notes played; a note it did not hear is left to the review, which hears every note."""
        return self._source_kind_at_start != "mic-piano"

    def stop_take(self) -> None:
        if self.source is None:
            return
        self.timer.stop()
        self.view.set_cursor(None)
        source, self.source = self.source, None
        performance = None
        try:
            if self._source_kind == "midi":
                performance = source.stop()
                if self._source_kind_at_start == "midi" or not str(self.take_path).lower().endswith(MIDI_EXTENSIONS):
                    source.save(self.take_path)
            else:
                self.recorder.stop()
                self.recorder = None
                if self.piano_take is not None:
                    self.piano_take.close()  # the file is whole: the review transcribes the tail
                if self.audio_live is not None:
                    self.audio_live.stop()
                    self.audio_live = None
        except Exception as error:
            self.window.show_error("The take did not end cleanly (what was recorded is on disk)", error)
        if self.player is not None:
            self.player.stop()
        if self.session is not None:
            for event in self.session.finish():
                if event.note_id is not None and event.type == "missed" and self._misses_told_live():
                    self.view.add_live_mark(event.note_id, "#9E9E9E", "missed")
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.emit(f"Take saved: {self.take_path}")
        piano_take, self.piano_take = self.piano_take, None
        self.review(performance=performance, path=self.take_path, looped=self.looping, piano_take=piano_take)

    def open_take(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Review a take", str(takes_dir()),
                                              file_filter("Takes", MIDI_EXTENSIONS + AUDIO_EXTENSIONS))
        if path:
            self.review(path=Path(path))

    # --- review -----------------------------------------------------------------------------
    def review(self, *, performance: Performance | None = None, path: Path | None = None, looped: bool = False,
               piano_take=None) -> None:
        """Assess the take in a worker; the review and the final marks appear when it is done (and, in a
        lesson, the attempt is judged and recorded there too). ``piano_take``: the take's
        ``TakeFileTranscriber``, which heard all but its tail while it was recorded."""
        if self.score is None:
            return
        score = self.practice_score()
        loop = None
        if looped:
            follower = self.loop_follower
            starts = list(follower.starts_s) if follower is not None else None
            pitches = list(getattr(follower, "start_pitches", [])) if follower is not None else None
            loop = LoopReview(score=self.practice_score(whole=True), measures=self.chosen_measures(),
                              starts_s=starts, count_in_s=self._count_in_s(score), repeats=self.repeats.isChecked(),
                              start_pitches=pitches)
        self.score_label.setText("Assessing the take…")
        self.take_tabs.setCurrentIndex(1)  # the review, in view
        instrument = self._take_instrument(path) if performance is None else None
        self._review_job = run_job(_assess_job, score, performance, path, self.bpm, self.window.level, loop,
                                   self.exercise, self.repeats.isChecked(), instrument, piano_take,
                                   on_result=self.show_review,
                                   on_error=lambda e: self.window.show_error("Cannot assess the take", e),
                                   on_progress=lambda f, t: self.status.emit(t), name="assess")
        self.window.track_job(self._review_job, "Assessing the take")  # progress and Cancel (issue 24)

    def show_review(self, review: TakeReview) -> None:
        assessment, performance, passes = review.assessment, review.performance, review.passes
        self.passes = passes
        self.performance = performance
        self.pass_box.blockSignals(True)
        self.pass_box.clear()
        for number, (pass_assessment, _) in enumerate(passes, start=1):
            self.pass_box.addItem(f"Pass {number} of {len(passes)}: {pass_assessment.overall:.0f}/100")
        self.pass_box.setCurrentIndex(len(passes) - 1)
        self.pass_box.blockSignals(False)
        self.pass_box.setVisible(bool(passes))
        self._show_assessment(assessment, performance)
        if review.stop is not None:
            self.score_label.setText(self.score_label.text() + f"<br>{review.stop.said()}")
        where = f" (saved as {self.take_path})" if self.take_path else ""
        self.status.emit(f"Review of the take ready: {len(passes)} passes{where}" if passes else f"Review of the take ready{where}")
        self._show_lesson_attempt(review)
        self._coach_after(review)

    # --- coaching the bars to practise (issue 24) ----------------------------------------------
    def practise_weak_bars(self, *, source_path: str | Path | None = None) -> bool:
        """Loop the bars the review names (or the coach's next step) slower, with a count-in."""
        if self.score is None:
            return False
        if self.coach is None or self.coach.done:
            wanted = self.assessment.practice_measures if self.assessment is not None else ()
            self.coach = plan_for(wanted, [m.number for m in self.score.measures], tempo_percent=self.tempo.value())
            if self.coach is None:
                return False
        self.first_bar.setValue(self.coach.first)
        self.last_bar.setValue(self.coach.last)
        self.tempo.setValue(self.coach.tempo_percent)
        self.loop.setChecked(True)
        if self.count_in.value() < 1:
            self.count_in.setValue(1)
        self.status.emit(f"Practising {self.coach.bars} at {self.coach.tempo_percent} % (looped, count-in first)")
        return self.start_take(source_path=source_path)

    def _coach_after(self, review: TakeReview) -> None:
        """After a take: the coach's next step (a coached loop), or the offer to practise the named bars."""
        if self.coach is not None and review.passes and (self.first_bar.value(), self.last_bar.value()) == (
                self.coach.first, self.coach.last):
            last = review.passes[-1][0]
            self.coach = next_step(self.coach, last.notes_correct, last.notes_total)
            self.score_label.setText(self.score_label.text() + f"<br><b>Coach:</b> {self.coach.said}")
            if self.coach.done:
                self.coach_button.setText(f"✓ {self.coach.bars} right at full tempo")
                self.coach_button.setEnabled(False)
            else:
                self.tempo.setValue(self.coach.tempo_percent)
                self.coach_button.setText(f"▶ {self.coach.bars.capitalize()} again at {self.coach.tempo_percent} %")
                self.coach_button.setEnabled(True)
            self.coach_button.setVisible(True)
            return
        self.coach = None
        wanted = review.assessment.practice_measures
        self.coach_button.setText("▶ Practise these bars (looped, slower)")
        self.coach_button.setEnabled(True)
        self.coach_button.setVisible(bool(wanted))

    def _pass_chosen(self, index: int) -> None:
        if 0 <= index < len(self.passes):
            self._show_assessment(self.passes[index][0], self.performance)

    def _show_assessment(self, assessment, performance) -> None:
        self.assessment = assessment
        self.view.set_marks(assessment.marks)
        intonation = "" if assessment.intonation is None else f" · intonation {assessment.intonation:.0f}"
        text = (f"<b>Overall {assessment.overall:.0f}/100</b> · pitch {assessment.pitch:.0f} · "
                f"rhythm {assessment.rhythm:.0f}{intonation}<br>{assessment.notes_correct} of "
                f"{assessment.notes_total} notes right")
        if assessment.played_bpm:
            text += f" · you played at {assessment.played_bpm:.0f} bpm"
        for sentence in assessment.said_once():  # the key or tuning held, its changes, drifts: told once, not note by note
            text += "<br>" + html.escape(sentence)
        if assessment.practice_measures:
            text += "<br>Practise measures " + ", ".join(str(m) for m in assessment.practice_measures)
        if self.passes:
            chosen = next((i for i, (a, _) in enumerate(self.passes) if a is assessment), len(self.passes) - 1)
            text = (f"Pass {chosen + 1} of {len(self.passes)} · passes: "
                    + " · ".join(f"{a.overall:.0f}" for a, _ in self.passes) + "<br>" + text)
        self.score_label.setText(text)
        self.heat.set_measures([(m.measure, m.overall) for m in assessment.measures])
        self.events_tree.clear()
        for event in assessment.events:
            if event.type == "correct":
                continue
            beat = "" if event.beat is None else f"{event.beat:g}"
            item = QTreeWidgetItem([str(event.measure or ""), beat, EVENT_LABELS.get(event.type, event.type),
                                    event.message])
            color = QColor(COLORS.get(event.type, "#333333"))
            item.setForeground(2, color)
            item.setData(0, Qt.UserRole, event.note_id)
            item.setData(1, Qt.UserRole, event.measure)
            self.events_tree.addTopLevelItem(item)
        self.replay_button.setEnabled(performance is not None and bool(performance.notes))
        self.reviewed.emit(assessment)

    def _show_lesson_attempt(self, review: TakeReview) -> None:
        """The verdict on a lesson exercise's take, judged and recorded in the assessing worker."""
        if review.attempt_error is not None:
            self.status.emit(f"The attempt was not recorded: {review.attempt_error}")
            return
        result = review.attempt
        if result is None:
            return
        verdict = "Passed!" if result.passed else "Not passed yet: " + "; ".join(result.reasons)
        self.score_label.setText(self.score_label.text() + f"<br><b>{verdict}</b>")
        self.window.lessons_panel.refresh()

    def clear_review(self) -> None:
        self.assessment = None
        self.passes = ()
        self.pass_box.clear()
        self.pass_box.setVisible(False)
        self.events_tree.clear()
        self.heat.set_measures([])
        self.score_label.setText("Play a take to see how it went.")
        self.replay_button.setEnabled(False)
        self.view.clear_live_marks()
        self._played_points = ([], [])
        self._pitch_points = ([], [])
        self.played_curve.setData([], [])
        self.pitch_curve.setData([], [])
        self._draw_targets()

    def _draw_targets(self) -> None:
        """The notes to play on the pitch plot, built here once (before a take, and as one starts): the piece
        (or a looped range) as played, its repeats taken when Repeats is on."""
        if self.score is None:
            return
        self._targets = PassTargets.of(unfold(self.practice_score(), repeats=self.repeats.isChecked()).score)
        self.target_curve.setData(*self._targets.repeated(1), connect="finite")

    def _draw_pass_targets(self, passes: int) -> None:
        """A looped take's new pass: the range's notes again, from the targets built at the start."""
        if self._targets is not None:
            self.target_curve.setData(*self._targets.repeated(passes), connect="finite")

    _targets = None

    def _event_clicked(self, item: QTreeWidgetItem) -> None:
        note_id = item.data(0, Qt.UserRole)
        if note_id:
            self.view.show_note(note_id)
        elif item.data(1, Qt.UserRole) is not None:
            self.view.show_measure(int(item.data(1, Qt.UserRole)))

    def replay_take(self) -> None:
        if self.performance is None:
            return
        try:
            self._player().play(self.performance)
        except Exception as error:
            self.window.show_error("Cannot play the take", error)
            return
        self._replaying = time.perf_counter()
        curve = [(p.time, p.score_position) for p in (self.assessment.tempo_curve if self.assessment else ())]
        self._replay_curve = curve
        self.replay_timer = QTimer(self)
        self.replay_timer.setInterval(33)
        self.replay_timer.timeout.connect(self._replay_tick)
        self.replay_timer.start()

    def _replay_tick(self) -> None:
        if self.player is None or not self.player.playing:
            self.replay_timer.stop()
            self._replaying = None
            self.view.set_cursor(None)
            return
        t = self.player.position_s
        curve = self._replay_curve
        if not curve:
            return
        before = [c for c in curve if c[0] <= t]
        after = [c for c in curve if c[0] > t]
        if before and after:
            (t0, p0), (t1, p1) = before[-1], after[0]
            # back at a repeat (or a restart): the cursor jumps there, it does not sweep back (issue 21)
            self.view.set_cursor(p0 + (p1 - p0) * (t - t0) / max(1e-6, t1 - t0) if p1 >= p0 else p0)
        elif before:
            self.view.set_cursor(before[-1][1])

    def shutdown(self) -> None:
        if self.source is not None:
            self.stop_take()
        self._cancel_piano_take()
        if self.player is not None:
            self.player.stop()


@dataclass(frozen=True)
class TakeReview:
    """What the assessing worker hands the review (``PracticePanel.show_review``)."""

    assessment: object  # tutor.practice.assessment.Assessment shown (a looped take's: its last pass's)
    performance: Performance  # the take
    passes: tuple = ()  # ((assessment, performance) of each pass of a looped take)
    attempt: object | None = None  # tutor.lessons.plans.TakeResult, recorded, when an exercise was practised
    attempt_error: str | None = None  # why the attempt could not be judged or recorded
    stop: Stop | None = None  # where a take stopped before the end of the piece (reviewed up to there)


def _assess_job(task, score: Score, performance: Performance | None, path: Path | None, bpm: float, level: str,
                loop: LoopReview | None = None, exercise=None, repeats: bool = True,
                instrument: str | None = None, piano_take=None) -> TakeReview:
    """The take assessed once, here in the worker; a lesson exercise's attempt judged from that
    assessment and recorded (``_record_attempt``)."""
    if performance is None and piano_take is not None and instrument == "piano":
        task.progress(0.1, "Listening to the take's last seconds…")
        try:  # issue 20: transcribed while it was recorded; only the tail is left
            performance = replace(piano_take.result(check=task.check).performance, source_path=path)
        except Cancelled:
            piano_take.cancel()
            raise
        except Exception:  # the take's file is whole: it is transcribed again from the start
            log.exception("the piano take's transcription during the recording failed")
    elif piano_take is not None:
        piano_take.cancel()
    if performance is None:
        task.progress(0.1, "Reading the take…")
        from tutor.ui.settings import analysis_place

        # issue 10: recordings transcribed on the host / device set; issue 20: a piano take by the piano transcriber
        performance = analysis_place().read_take(path, instrument=instrument)
    task.check()
    task.progress(0.5, "Comparing the take with the score…")
    # issue 20: a note the piano transcriber merged (a repeat, a trill) or heard faintly is listened for again
    evidence = evidence_for_take(path, instrument)
    passes: tuple = ()
    if loop is not None:
        per_pass = len(unfold(score, repeats=loop.repeats).score.notes)  # the range as played (issue 21)
        passes = assess_passes(loop, performance, notes_per_pass=per_pass, bpm=bpm, level=level, evidence=evidence,
                               progress=lambda f, text: task.check_and_progress(0.5 + 0.5 * f, text))
    assessment = passes[-1][0] if passes else assess(score, performance, bpm=bpm, level=level, repeats=repeats,
                                                     evidence=evidence)
    if exercise is None and not passes:  # a take stopped before the end: the review is of the bars played
        task.check()
        assessment, stop = assess_until_stopped(score, performance, assessment, bpm=bpm, level=level,
                                                repeats=repeats, evidence=evidence)
        return TakeReview(assessment, performance, passes, stop=stop)
    review = TakeReview(assessment, performance, passes)
    if exercise is None:
        return review
    task.check()
    try:
        attempt = _record_attempt(exercise, assessment, passes[-1][1] if passes else performance, bpm, path)
    except Exception as error:  # the review is still shown; the status bar says the attempt is not recorded
        log.exception("cannot record the lesson attempt")
        return replace(review, attempt_error=str(error))
    return replace(review, attempt=attempt)


def _record_attempt(exercise, assessment, performance: Performance, bpm: float, path: Path | None):
    """Judge the take's assessment against the exercise and record it as an attempt (in the worker)."""
    result = judge_assessment(exercise, assessment, performance, tempo_bpm=bpm, recording_path=path)
    with ProgressDB() as db:
        db.record_attempt(exercise_id=exercise.id, passed=result.passed, summary=result.summary,
                          events=result.event_counts, duration_s=result.duration_s,
                          recording_path=result.recording_path, tempo_bpm=result.tempo_bpm, level=exercise.level)
    return result


def part_labels(parts) -> dict[str, str]:
    """What the Part list calls each part: a piano's two staves (two parts of one name) are its right
    and left hand (issue 24: the list read "Piano", "Piano"); more parts of one name are numbered."""
    names = [part.name if part.name and not re.fullmatch(r"(?i)(midi|track)[ _-]?\d*", part.name.strip())
             else f"Part {index + 1}" for index, part in enumerate(parts)]  # not a file's "Midi_1" (issue 24)
    labels = {}
    for part, name in zip(parts, names, strict=True):
        same = [p for p, n in zip(parts, names, strict=True) if n == name]
        if len(same) == 2:
            labels[part.id] = f"{name}: {'right hand' if part is same[0] else 'left hand'}"
        elif len(same) > 2:
            labels[part.id] = f"{name} {same.index(part) + 1}"
        else:
            labels[part.id] = name
    return labels


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")
