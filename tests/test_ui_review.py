"""Defects from the review of the desktop app (issue #8), offscreen with pytest-qt: the suggestion
overlay across a layout change and back to the piece, a looped take's passes, the live pitch thread's
bounded benchmark record, and the live resampler (``tutor.audio.devices.StreamResampler``)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"

from dataclasses import replace

import pytest

from tests.conftest import REPO
from tests.fake_recorder import FakeRecorder

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


# --- 1. the suggestion overlay: a layout change keeps it; its end shows the piece's own pages ------
@pytest.fixture
def overlay_view(qtbot):
    """(view showing the demo piece, the piece, the overlay of a fix of bar 2 over it)."""
    from tutor.compose.suggest import Suggestion, apply_suggestion
    from tutor.score.io import load_score
    from tutor.ui.compose import overlay_view
    from tutor.ui.score_view import ScoreView

    piece = load_score(DEMO)
    bar2 = [n for n in piece.notes if n.measure == 2]
    fix = Suggestion("correction", 2, 2, tuple(replace(n, id=f"new{i}", pitch=n.pitch - 2) for i, n in enumerate(bar2)), -5.0)
    overlay = overlay_view(piece, apply_suggestion(piece, fix), fix)
    view = ScoreView()
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    with qtbot.waitSignal(view.engraved, timeout=60000):
        view.set_score(piece)
    view.set_marks({"P1-m1-n0": {"color": "#E53935", "text": "late"}})
    return view, piece, overlay


def _svg(view) -> str:
    return "".join(p.page.svg for p in view.pages)


def _show_overlay(qtbot, view, overlay):
    with qtbot.waitSignal(view.engraved, timeout=60000):
        view.show_overlay(overlay)
    assert view.score is overlay[0]


def test_a_layout_change_engraves_the_overlay_with_its_own_musicxml(qtbot, overlay_view):
    from tutor.ui.engraving import Layout

    view, piece, (shown, musicxml, colors) = overlay_view
    _show_overlay(qtbot, view, (shown, musicxml, colors))
    # the suggestion's extra voice is silent outside its bar: its whole-bar rests are hidden (mSpace)
    assert 'class="mRest"' not in _svg(view) and 'class="mSpace"' in _svg(view)
    with qtbot.waitSignal(view.engraved, timeout=60000):
        view.set_layout(Layout(continuous=True))
    assert view.score is shown and len(view.pages) == 1
    assert 'class="mRest"' not in _svg(view) and 'class="mSpace"' in _svg(view)  # still the overlay's MusicXML
    assert set(colors) <= set(view.boxes)
    assert {k: m["color"] for k, m in view.marks.items()} == colors  # and its colours


def test_the_end_of_the_overlay_shows_the_piece_pages_again_without_engraving(qtbot, overlay_view):
    view, piece, overlay = overlay_view
    before = [p.page for p in view.pages]
    _show_overlay(qtbot, view, overlay)
    view.show_overlay(None)
    # at once, from the pages kept: the same engraving, the piece's marks
    assert view.score is piece and view._job is None
    assert [id(p.page) for p in view.pages] == [id(page) for page in before]  # the very Page objects kept
    assert set(view.boxes) == {n.id for n in piece.notes}
    assert view.marks == {"P1-m1-n0": {"color": "#E53935", "text": "late"}}


def test_the_end_of_the_overlay_after_a_layout_change_engraves_the_piece_again(qtbot, overlay_view):
    from tutor.ui.engraving import Layout

    view, piece, overlay = overlay_view
    before = [p.page for p in view.pages]
    _show_overlay(qtbot, view, overlay)
    with qtbot.waitSignal(view.engraved, timeout=60000):
        view.set_layout(Layout(continuous=True))
    with qtbot.waitSignal(view.engraved, timeout=60000):
        view.show_overlay(None)
    assert view.score is piece and len(view.pages) == 1 and view.pages[0].page is not before[0]
    assert view.pages[0].page.width > before[0].width  # one long line
    assert set(view.boxes) == {n.id for n in piece.notes}
    assert view.marks == {"P1-m1-n0": {"color": "#E53935", "text": "late"}}


# --- 2. a looped take's pass start does no score work on the UI thread -----------------------------
from tests.test_app import _looped_take, _open  # noqa: E402


def test_a_looped_take_builds_the_pass_targets_once_at_its_start(qtbot, window, tmp_path):
    from tutor.practice.loop import PassStart

    score = _open(qtbot, window)
    panel = window.practice_panel
    assert panel.pitch_plot is not None  # pyqtgraph comes with the app extra
    take = tmp_path / "loop.mid"
    _looped_take(score, take, first=3, last=4, passes=3, wrong={}, skip={})
    panel.first_bar.setValue(3)
    panel.last_bar.setValue(4)
    panel.loop.setChecked(True)
    panel.demo_realtime = False
    built = []  # one entry per practice_score() call
    practice_score = panel.practice_score
    panel.practice_score = lambda **kw: (built.append(kw), practice_score(**kw))[1]
    at_pass = []  # (pass, practice scores built while its start was handled, target points then)
    on_events = panel._on_events

    def record(events, arrived):
        before = len(built)
        on_events(events, arrived)
        for event in events:
            if isinstance(event, PassStart):
                at_pass.append((event.index, len(built) - before, list(panel.target_curve.xData)))

    panel._on_events = record
    assert panel.start_take(source_path=take, input_kind="midi-file")
    at_start = len(built)
    assert at_start >= 1  # the take's score, and the targets, built as it starts
    qtbot.waitUntil(lambda: panel.assessment is not None, timeout=60000)
    assert [index for index, _, _ in at_pass] == [2, 3]
    assert [n for _, n, _ in at_pass] == [0, 0]  # nothing rebuilt at a pass start
    # the plot shows the range's 7 notes once more for each pass, one range length later each
    bar_s = 4 * 60 / panel.bpm
    for index, _, xs in at_pass:
        onsets = xs[0::3]
        assert len(onsets) == 7 * index
        assert onsets[7 * (index - 1)] == pytest.approx((index - 1) * 2 * bar_s)


# --- 3. the live pitch thread keeps a bounded record for the latency benchmark ---------------------
class _PitchStream:
    """One 10 ms frame (silence) per push, like the live tracker's stream once it has a hop."""

    hop = 160

    def __init__(self) -> None:
        self.time_s = 0.0

    def push(self, block):
        from types import SimpleNamespace

        import numpy as np

        self.time_s += 0.01
        return SimpleNamespace(times_s=np.array([self.time_s]), f0_hz=np.zeros(1), voiced=np.zeros(1, bool),
                               level_db=np.full(1, -90.0))


def test_the_live_pitch_thread_keeps_only_the_newest_analysis_times(monkeypatch):
    from types import SimpleNamespace

    import numpy as np

    from tutor.ui.practice import AudioLive

    monkeypatch.setattr(AudioLive, "ANALYSED_KEPT", 50, raising=False)
    pitch = SimpleNamespace(open_stream=lambda sample_rate: _PitchStream())
    live = AudioLive(FakeRecorder([np.zeros(160, np.float32)] * 300, 16000), None, pitch)
    failed = []
    live.failed.connect(failed.append)
    live.start()
    live._thread.join(timeout=30)
    assert not failed and not live._thread.is_alive()
    assert len(live.analysed) == 50  # of 300 pushes
    assert live.analysed[-1][0] == pytest.approx(3.0 + 160 / 32000)  # the newest are the ones kept


# --- 4. the live pitch thread resamples with the core StreamResampler, holding nothing back ---------
def test_the_causal_stream_resampler_holds_nothing_back_and_filters_what_would_alias():
    import numpy as np

    from tutor.audio.devices import StreamResampler

    sr = 44100
    t = np.arange(sr) / sr
    tone = np.where(t >= 0.5, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)  # starts at 0.5 s

    def stream(signal, **kw):  # device-sized blocks; how far the output is behind the input after each
        resampler = StreamResampler(orig_sr=sr, target_sr=16000, **kw)
        out, behind = [], []
        for i in range(0, len(signal), 256):
            out.append(resampler.process(signal[i:i + 256]))
            behind.append(min(i + 256, len(signal)) * 16000 / sr - sum(len(o) for o in out))
        return np.concatenate(out), max(behind)

    live, live_behind = stream(tone, causal=True)
    hq, hq_behind = stream(tone)
    assert live_behind < 2 < 100 < hq_behind  # samples at 16 kHz: HQ keeps back some 20 ms, the live one none
    assert np.argmax(np.abs(live) > 0.05) / 16000 == pytest.approx(0.5, abs=0.001)  # the onset where it was
    spectrum = np.abs(np.fft.rfft(live[8000:]))
    assert np.argmax(spectrum) * 16000 / len(live[8000:]) == pytest.approx(440, abs=3)  # the pitch kept
    whistle = (0.5 * np.sin(2 * np.pi * 12000 * t)).astype(np.float32)  # above the new Nyquist (8 kHz)
    aliased, _ = stream(whistle, causal=True)
    assert np.sqrt(np.mean(aliased[1000:] ** 2)) < 0.01 * np.sqrt(np.mean(whistle ** 2))  # filtered, not folded to 4 kHz
    stereo = StreamResampler(orig_sr=sr, target_sr=16000, channels=2, causal=True).process(np.stack([tone, tone], axis=1))
    assert stereo.shape[1] == 2 and np.allclose(stereo[:, 0], stereo[:, 1])
