"""Notes heard live (``tutor.listen.live``), without Qt: ``LiveNotes`` on made-up pitch frames, and
``LiveListener``'s thread (a recorder's tap, the pitch stream, ``LiveNotes``) with plain callbacks."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tests.fake_recorder import FakeRecorder
from tutor.listen.live import LiveListener, LiveNotes
from tutor.score.music import hz_to_midi

E4 = 329.63
SILENCE = [(0.0, False, -80.0)] * 10
# a struck E4: the level jumps, the tracker's voicing flickers for a while (PESTO on a piano)
STRIKE = [(E4, False, -75.0), (E4, False, -40.0)] + [(E4, k % 3 != 0, -40.0 - k * 0.1) for k in range(60)]


def _run(frames):
    notes = LiveNotes()
    return [found for k, (f0, voiced, level) in enumerate(frames)
            if (found := notes.push(k * 0.01, f0, voiced, level)) is not None]


def test_live_note_segmentation_rules():
    """Flickering voicing on a held note is one note, a re-strike of the same pitch is another (timed
    at its attack), a tremolo that swells is not."""
    found = _run(SILENCE + STRIKE + STRIKE)
    assert [(round(t, 2), pitch) for t, pitch, _ in found] == [(0.11, 64), (0.73, 64)]  # attack frames
    tremolo = [(E4, True, -30.0 - 9.0 * (1 + math.sin(k / 3.0)) / 2) for k in range(200)]  # 9 dB at 5 Hz
    assert len(_run(SILENCE + tremolo)) == 1


def test_live_notes_cents_and_a_new_pitch():
    """A note a little sharp reports its cents; a new pitch after it is a new note without an attack."""
    sharp_a4 = 440.0 * 2 ** (20 / 1200)  # +20 cents
    b4 = 493.88
    frames = SILENCE + [(sharp_a4, True, -30.0)] * 20 + [(b4, True, -31.0)] * 20
    found = _run(frames)
    assert [pitch for _, pitch, _ in found] == [69, 71]
    assert found[0][2] == pytest.approx(20.0, abs=0.01)
    assert found[1][0] == pytest.approx(0.30)  # the first frame of the settled run: no attack to snap to


def test_a_sung_note_starts_where_its_pitch_is_first_heard():
    """A sung note scoops up to its pitch (issue 22, fifth pass): the live mark is made when the pitch
    settles on the semitone, but its onset is the first pitched frame after the silence (before: where
    the pitch settled, 0.1 s later); a second note later in the same pitched run keeps its own start."""
    scoop = [(440.0 * 2 ** ((m - 69) / 12), True, -30.0) for m in np.linspace(66.6, 68.8, 12)]
    frames = SILENCE + scoop + [(440.0, True, -30.0)] * 30 + [(493.88, True, -30.0)] * 20
    voice = LiveNotes("voice")
    found = [f for k, (f0, v, level) in enumerate(frames) if (f := voice.push(k * 0.01, f0, v, level)) is not None]
    assert [(round(t, 2), pitch) for t, pitch, _ in found] == [(0.10, 69), (0.52, 71)]
    before = LiveNotes("voice")
    before.BACKDATE_FRAMES = 0  # the voice settings before the fifth pass
    found = [f for k, (f0, v, level) in enumerate(frames) if (f := before.push(k * 0.01, f0, v, level)) is not None]
    assert found[0][0] > 0.15 and found[0][1] == 69  # the first frame of the run settled on A4


def test_a_violin_note_after_a_gap_starts_where_its_pitch_is_first_heard():
    """Violin settings (issue 22, fifth pass): a note bowed in softly (no level attack) whose pitch slides
    onto A4 from below is timed at its first pitched frame, not where its pitch reached A4's semitone (as
    before, and as for other instruments)."""
    quiet = [(0.0, False, -60.0)] * 10  # a quiet room: no jump of level when the bow starts
    slide = [(440.0 * 2 ** ((m - 69) / 12), True, -58.0 + 1.5 * k) for k, m in enumerate((68.2, 68.3, 68.6, 68.7, 68.8, 68.9))]
    frames = quiet + slide + [(440.0, True, -49.0)] * 30
    found = {}
    for kind in ("violin", None):
        notes = LiveNotes(kind)
        found[kind] = [f for k, (f0, v, level) in enumerate(frames) if (f := notes.push(k * 0.01, f0, v, level)) is not None]
    assert [(round(t, 2), pitch) for t, pitch, _ in found["violin"]] == [(0.10, 69)]
    assert [(round(t, 2), pitch) for t, pitch, _ in found[None]] == [(0.12, 69)]  # where it reached A4


def test_hz_to_midi_is_the_one_conversion():
    assert hz_to_midi(440.0) == 69.0
    assert hz_to_midi(261.6255653005986) == pytest.approx(60.0)
    f0 = np.array([110.0, 220.0, E4])
    assert np.allclose(hz_to_midi(f0), [45.0, 57.0, 64.0], atol=0.01)
    assert hz_to_midi(np.float64(E4)) == 69 + 12 * np.log2(np.float64(E4) / 440.0)  # numpy's log2, as before


# --- the listener's thread ------------------------------------------------------------------------
class _FrameStream:
    """Gives the made-up frames back, one per push (10 ms apart), whatever the audio."""

    hop = 160

    def __init__(self, frames) -> None:
        self.frames = list(frames)
        self.k = 0

    def push(self, block):
        f0, voiced, level = self.frames[self.k]
        t = self.k * 0.01
        self.k += 1
        return SimpleNamespace(times_s=np.array([t]), f0_hz=np.array([f0]), voiced=np.array([voiced]),
                               level_db=np.array([level]))


def test_the_listener_reports_onsets_and_frames_through_plain_callbacks():
    frames = SILENCE + STRIKE + STRIKE
    recorder = FakeRecorder([np.zeros(160, np.float32)] * len(frames), 16000)
    onsets, batches, ready, failed = [], [], [], []
    listener = LiveListener(recorder, lambda sample_rate: _FrameStream(frames),
                            on_onset=lambda *found: onsets.append(found),
                            on_frames=lambda times, midis, cents: batches.append((list(times), list(midis), cents)),
                            on_ready=lambda: ready.append(True), on_failed=failed.append, kept=5)
    listener.EMIT_EVERY_S = -1.0  # every push's frames at once (the app batches them a tenth of a second)
    listener.start()
    listener._thread.join(timeout=60)
    assert not listener._thread.is_alive()
    assert not failed and ready == [True]
    assert onsets == _run(frames) == listener.onsets  # the same notes as LiveNotes on the frames
    assert [round(t, 2) for t, _, _ in onsets] == [0.11, 0.73]
    times = [t for batch in batches for t in batch[0]]
    assert times == pytest.approx([k * 0.01 for k in range(len(frames))])
    midis = [m for batch in batches for m in batch[1]]
    voiced = [v for _, v, _ in frames]
    assert all(math.isnan(m) for m, v in zip(midis, voiced, strict=True) if not v)
    assert all(m == pytest.approx(64.0, abs=0.01) for m, v in zip(midis, voiced, strict=True) if v)
    assert batches[-1][2] == pytest.approx((hz_to_midi(E4) - 64) * 100)  # the last voiced frame's cents
    assert len(listener.analysed) == 5  # the newest only
    assert listener.analysed[-1][0] == pytest.approx((len(frames) - 1) * 0.01 + 160 / 32000)


def test_the_listener_says_why_when_the_tracker_cannot_open():
    def broken(sample_rate):
        raise RuntimeError("no model here")

    failed, ready = [], []
    listener = LiveListener(FakeRecorder([], 16000), broken, on_failed=failed.append, on_ready=lambda: ready.append(1))
    listener.start()
    listener.stop()
    assert failed == ["no model here"] and not ready


def test_the_live_modules_import_no_qt():
    code = ("import sys, tutor.listen.live, tutor.practice.loop\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_live_cents_come_from_the_partials_not_from_pestos_third_of_a_semitone_steps():
    """A violin tuned to A = 444 Hz (+15.6 cents), a note 7 cents flat of E4 and D3 12 cents sharp, as the live chain hears them
    (PESTO's stream, ``ExactPitch``, ``LiveNotes``): PESTO's own frames read +33.3 and 0 cents (its 1/3-
    semitone steps); the frames measured from the partials read the pitch within a cent, and so do the
    notes' settled cents (``LiveNotes.settled``, past the attack)."""
    from tutor.listen.live import ExactPitch
    from tutor.listen.pitch import open_stream

    rate = 16000
    t = np.arange(rate) / rate
    for hz, cents, pesto_cents in ((444.0, 15.6, 33.3), (E4 * 2 ** (-7 / 1200), -7.0, 0.0),
                                   (146.83 * 2 ** (12 / 1200), 12.0, None)):  # D3, under 200 Hz: the long window
        tone = sum(0.3 / k * np.sin(2 * np.pi * hz * k * t) for k in range(1, 6))
        audio = np.concatenate([np.zeros(rate // 10), tone]).astype(np.float32)
        stream, exact, notes = open_stream(sample_rate=rate), ExactPitch(sample_rate=rate), LiveNotes()
        pesto, measured, found = [], [], []
        for at in range(0, len(audio), 93):  # the app's pushes: 256 samples at 44.1 kHz, resampled to 16 kHz
            block = audio[at:at + 93]
            frames = stream.push(block)
            exact.push(block)
            exact_hz = exact.measure(frames.times_s + 0.005, np.where(frames.voiced, frames.f0_hz, 0.0))
            for row in zip(frames.times_s, frames.f0_hz, frames.voiced, frames.level_db, exact_hz, strict=True):
                if (note := notes.push(float(row[0]), float(row[1]), bool(row[2]), float(row[3]), float(row[4]))):
                    found.append(note)
                if row[2] and row[0] > 0.3:
                    pesto.append(1200 * math.log2(row[1] / hz) + cents)
                    if row[4] > 0:
                        measured.append(1200 * math.log2(row[4] / hz) + cents)
        if pesto_cents is not None:
            assert np.median(pesto) == pytest.approx(pesto_cents, abs=1.0)
        assert len(measured) >= 60 and np.median(measured) == pytest.approx(cents, abs=1.0)
        assert len(found) == 1
        notes._settle()  # (the tone is still sounding: its settled cents are out already)
        assert [(t, midi) for t, midi, _ in notes.settled] == [found[0][:2]]
        assert notes.settled[0][2] == pytest.approx(cents, abs=1.0)


def test_a_notes_intonation_is_judged_by_its_settled_cents_when_they_come_before_its_verdict():
    """A violin note that starts 30 cents sharp (its attack) and settles 5 cents sharp is in tune live, as in
    the review; without the settled cents it is marked sharp at the advanced level (20 cents)."""
    from tests.test_singing import audio_take, sung_score
    from tutor.practice.follower import ScoreFollower
    from tutor.score.music import Part

    violin = sung_score().__class__(**{**sung_score().__dict__, "parts": (Part("P1", "Violin", program=40),)})
    take = audio_take(violin, cents=30.0)
    verdicts = {}
    for retuned in (False, True):
        follower = ScoreFollower(violin)
        events = []
        for note in take.notes:
            events += follower.feed_onset(onset_s=note.onset_s, pitch=note.pitch, cents=note.cents)
            if retuned:
                follower.retune(onset_s=note.onset_s, pitch=note.pitch, cents=5.0)
        events += follower.finish()
        verdicts[retuned] = {e.note_id: e.type for e in events if e.note_id is not None}
    assert set(verdicts[False].values()) == {"sharp"} and set(verdicts[True].values()) == {"correct"}
