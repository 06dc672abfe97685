"""Notes heard live: note onsets from a microphone (or a recording standing in for one) while it plays.

``LiveNotes`` turns the live pitch tracker's 10 ms frames into note onsets, one frame at a time.
``LiveListener`` runs the whole chain on a thread of its own: a recorder's tap (``Recorder.tap``), mono,
``tutor.audio.devices.StreamResampler`` (``causal``: no look-ahead) to 16 kHz, the pitch stream
(``tutor.listen.pitch.open_stream``: PESTO, 10 ms frames), each voiced frame's pitch measured again from
its partials (``ExactPitch``: the cents), then ``LiveNotes``, or for a voice
``tutor.listen.windowed_notes.WindowedNotes`` (the review's own segmentation on a sliding window, a
quarter of a second behind: its notes are the review's far more often; ``WINDOWED``). It reports through plain
callbacks, called on its thread: each onset as it is found, the frames (time, MIDI pitch, the cents
of the last voiced frame) a few times a second. The desktop app's practice panel wraps it in a thin Qt
adapter (``AudioLive``) that turns them into queued signals; nothing here imports Qt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from tutor.listen.windowed_notes import WindowedNotes
from tutor.score.music import hz_to_midi

log = logging.getLogger(__name__)

Onset = tuple[float, int, float]  # (onset_s, MIDI pitch, cents)
# a voice is heard live by the review's learned segmentation on a sliding window (``WindowedNotes``; issue 22), not
# by ``LiveNotes``'s frame rules, which stay for every other instrument (False: the rules for all)
WINDOWED = True


class ExactPitch:
    """The pitch of live frames measured from the audio's partials: PESTO's frames are 1/3-semitone steps
    (a steady A = 444 Hz reads +33 cents, 440 Hz 0), too coarse for a tuner or for "sharp"/"flat". As the
    review's ``refine_note_pitches``: the partials' peaks within REFINE_REACH_CENTS of h x the frame's
    pitch, in a Hann window (64 ms; 128 ms under 200 Hz) that ends with the frame's last sample (no
    look-ahead). ``push`` the 16 kHz samples as they come, then ``measure`` the frames they completed."""

    def __init__(self, *, sample_rate: int = 16000) -> None:
        from tutor.listen.transcription import REFINE_WINDOW

        self.sample_rate = sample_rate
        self.kept = 4 * REFINE_WINDOW  # the long window and the frames of a push before the newest
        self._audio = np.zeros(self.kept, np.float32)  # the newest samples...
        self._end = 0  # ...up to this sample of the stream

    def push(self, samples: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, np.asarray(samples, np.float32)])[-self.kept:]
        self._end += len(samples)

    def measure(self, end_s: np.ndarray, guess_hz: np.ndarray) -> np.ndarray:
        """Hz of each frame ending at ``end_s`` (stream time) near ``guess_hz``; 0 where no partial is
        found, the guess is 0, or the frame's window is no longer kept."""
        from tutor.listen.transcription import REFINE_LONG_BELOW_HZ, REFINE_WINDOW, partials_f0

        guess_hz = np.asarray(guess_hz, dtype=float)
        out = np.zeros(len(guess_hz))
        ends = np.round(np.asarray(end_s, dtype=float) * self.sample_rate).astype(int) - (self._end - self.kept)
        for size in (REFINE_WINDOW, 2 * REFINE_WINDOW):
            chosen = np.flatnonzero((guess_hz > 0) & ((guess_hz < REFINE_LONG_BELOW_HZ) == (size > REFINE_WINDOW))
                                    & (ends >= size) & (ends <= self.kept))
            if len(chosen):
                out[chosen] = partials_f0(np.stack([self._audio[e - size:e] for e in ends[chosen]]), guess_hz[chosen])
        return out


class LiveNotes:
    """Note onsets from the live pitch frames (10 ms), one frame at a time: no threads.

    A note starts where the pitch settles on a semitone for ``SETTLE_FRAMES`` frames that is not the
    note already sounding. The note sounding ends at a new attack (a re-struck or re-bowed note of
    the same pitch): the level rising ``ATTACK_DB`` over the last ``ATTACK_WINDOW`` frames, or
    ``REATTACK_DB`` out of a dip ``DIP_DB`` under the note's loudest frame (a bow change, a legato
    re-articulation); an attack in the first ``SWELL_FRAMES`` of a note is that note swelling. It
    also ends after ``RELEASE_FRAMES`` frames without a pitch once the level fell ``RELEASE_DB``
    under its loudest frame (a gap between notes), or after five times as many. Right after an attack the tracker's pitch counts even
    where its voicing confidence is still low (PESTO's confidence rises some 50 ms after a piano
    attack while its pitch is already right), and ``ATTACK_SETTLE_FRAMES`` frames are enough: that
    is what makes the marks early. The onset is the attack (when the pitch settled within
    ``ATTACK_SNAP_FRAMES`` of it), else the first frame of the settled run; its cents are the mean
    deviation of that run. Its settled cents (``SETTLED_S``, from ``push``'s ``exact_hz``) go to
    ``settled`` once it has sounded that long or ends.
    """

    SETTLE_FRAMES = 3
    ATTACK_SETTLE_FRAMES = 2
    ATTACK_DB = 8.0
    ATTACK_WINDOW = 8  # frames (80 ms)
    ATTACK_FRAMES = 3  # a strike rises fast; a bowed tremolo swells over several frames
    REATTACK_DB = 4.0
    DIP_DB = 10.0
    SWELL_FRAMES = 10
    ATTACK_SNAP_FRAMES = 6
    RELEASE_FRAMES = 6  # unvoiced frames that end a note, once it faded RELEASE_DB (voicing flickers
    RELEASE_DB = 12.0  # at the tracker's threshold on a held note); or five times as many frames
    ARMED_FRAMES = 15  # after an attack, low-confidence pitch counts for this long...
    ARMED_MIN_DB = -55.0  # ...on frames at least this loud
    HOLD_SEMITONES = 0.25  # a pitch within half a semitone and this of the sounding note is that note
    # a sung line (``instrument="voice"``; issue 22): a singer's level swells and dips with the vowel and
    # the consonants inside a note, so the level attacks split held notes (on SSVD's tuning takes twice as
    # many live notes as the review's); a sung note is found where its pitch settles for 60 ms, and a
    # repeated one after the consonant's 30 ms without a pitch. Tuning split, 10 takes: onset F1 at 50 ms
    # 0.39 -> 0.57, agreement with the review 0.42 -> 0.58 (tests/bench/bench_real_sound.py, live)
    BACKDATE_FRAMES = 0  # the first note of a pitched run starts where the run did, if that is at most this earlier
    # a sung note's pitch is heard first in a scoop or a consonant's voicing, 60 ms or more before it settles on a
    # semitone (issue 22, fifth pass): its onset is the start of that pitched run (the mark is still made when the
    # pitch settles; only its time is earlier). Tuning split, 10 SSVD takes: onset F1 at 50 ms 0.567 -> 0.639,
    # live onsets' median lateness against the labels 25 -> 5 ms; a later note in the same run keeps its own start
    VOICE = {"SETTLE_FRAMES": 6, "ATTACK_DB": float("inf"), "REATTACK_DB": float("inf"), "RELEASE_FRAMES": 3,
             "BACKDATE_FRAMES": 30}
    # a violin (issue 22, fifth pass; chosen on the tuning movements 6 and 7): no hold at a semitone's edge (a
    # violinist's finger moves a whole semitone; the hold made a legato change late) and a note after a gap in the
    # pitch starts where its pitch is first heard, up to 100 ms before it settled: onset F1 at 50 ms 0.593 -> 0.614
    # (movement 6) and 0.329 -> 0.342 (movement 7), at 100 ms 0.820 -> 0.821 and 0.525 -> 0.531
    VIOLIN = {"HOLD_SEMITONES": 0.0, "BACKDATE_FRAMES": 10}
    # a note's settled cents: the median of its frames' pitch from the partials (``ExactPitch``) from 50 ms to
    # 300 ms after its onset (at least 3 frames), past a sung note's scoop and a bowed note's attack. Tuning
    # split (10 SSVD takes, violin movements 6-7), median |cents - the review's|: at the onset (PESTO's steps)
    # 17.5 / 9.7, settled 6.5 / 1.1; same "in tune / sharp / flat" verdict at 20 cents 0.54 / 0.71 -> 0.76 / 0.89
    SETTLED_S = (0.05, 0.3)
    SETTLED_MIN_FRAMES = 3

    def __init__(self, instrument: str | None = None) -> None:
        for name, value in {"voice": self.VOICE, "violin": self.VIOLIN}.get(instrument or "", {}).items():
            setattr(self, name, value)
        self.levels: list[float] = []
        self.frame = -1
        self.last_attack = -1000
        self.current: int | None = None  # the semitone sounding (already reported)
        self.unvoiced_run = 0
        self.run_midi: int | None = None
        self.run_start_s = 0.0
        self.run_cents: list[float] = []
        self.attack_s: float | None = None
        self.note_frame = -1000  # where the note sounding was reported
        self.note_peak_db = -120.0
        self.pitched_start_s: float | None = None  # the first frame of the pitched run going on...
        self.run_noted = False  # ...and whether a note was reported in it
        self._settling: tuple[float, int, list[float]] | None = None  # the note sounding: onset, midi, cents heard
        self.settled: list[Onset] = []  # (onset_s, midi, settled cents) of notes, oldest first: the caller takes them

    def push(self, time_s: float, f0_hz: float, voiced: bool, level_db: float,
             exact_hz: float = 0.0) -> tuple[float, int, float] | None:
        """One frame; returns ``(onset_s, midi, cents)`` when a note starts at it. ``exact_hz``: the frame's
        pitch measured from its partials (``ExactPitch``; 0: none), for the notes' settled cents."""
        self.frame += 1
        self.levels.append(level_db)
        if len(self.levels) > 4 * self.ATTACK_WINDOW:
            del self.levels[: -2 * self.ATTACK_WINDOW]
        recent = self.levels[-self.ATTACK_WINDOW - 1:-1]
        if recent and self.frame - self.last_attack > self.ATTACK_WINDOW:
            rise = level_db - min(recent)
            fast_rise = level_db - min(recent[-self.ATTACK_FRAMES:])
            dipped = self.current is not None and min(recent) < self.note_peak_db - self.DIP_DB
            swelling = self.current is not None and self.frame - self.note_frame < self.SWELL_FRAMES
            if (fast_rise > self.ATTACK_DB or (dipped and rise > self.REATTACK_DB)) and not swelling:
                self.last_attack = self.frame
                self.attack_s = time_s
                if self.current is not None:  # the note sounding ends: the same pitch may start again
                    self._settle()
                    self.current, self.run_midi, self.run_cents = None, None, []
        if self.current is not None:
            self.note_peak_db = max(self.note_peak_db, level_db)
        armed = self.frame - self.last_attack <= self.ARMED_FRAMES and level_db > self.ARMED_MIN_DB
        pitched = (voiced or armed) and 20.0 < f0_hz < 5000.0
        if not pitched:
            self.pitched_start_s = None
            self.unvoiced_run += 1
            self.run_midi, self.run_cents = None, []
            faded = level_db < self.note_peak_db - self.RELEASE_DB
            if (self.unvoiced_run >= self.RELEASE_FRAMES and faded) or self.unvoiced_run >= 5 * self.RELEASE_FRAMES:
                self._settle()
                self.current = None
            return None
        self.unvoiced_run = 0
        if self.pitched_start_s is None:
            self.pitched_start_s, self.run_noted = time_s, False
        midi = hz_to_midi(f0_hz)
        nearest = int(round(midi))
        if self.current is not None and abs(midi - self.current) < 0.5 + self.HOLD_SEMITONES:
            nearest = self.current  # a voice wandering round the note's edge is still the note (issue 22)
        cents = (midi - nearest) * 100
        self._hear_settling(time_s, nearest, exact_hz)
        if nearest != self.run_midi:
            self.run_midi, self.run_start_s, self.run_cents = nearest, time_s, [cents]
        else:
            self.run_cents.append(cents)
        settle = self.ATTACK_SETTLE_FRAMES if armed else self.SETTLE_FRAMES
        if len(self.run_cents) >= settle and nearest != self.current:
            self._settle()
            self.current = nearest
            self.note_frame, self.note_peak_db = self.frame, level_db
            onset = self.run_start_s
            if self.attack_s is not None and 0 <= self.run_start_s - self.attack_s <= self.ATTACK_SNAP_FRAMES * 0.01 + 1e-6:
                onset = self.attack_s
            self.attack_s = None
            if (not self.run_noted and onset == self.run_start_s
                    and self.run_start_s - self.pitched_start_s <= self.BACKDATE_FRAMES * 0.01 + 1e-6):
                onset = self.pitched_start_s
            self.run_noted = True
            self._settling = (onset, nearest, [])
            return onset, nearest, sum(self.run_cents) / len(self.run_cents)
        return None

    def _hear_settling(self, time_s: float, nearest: int, exact_hz: float) -> None:
        """A frame of the note sounding, for its settled cents (``SETTLED_S``)."""
        if self._settling is None or nearest != self._settling[1]:
            return
        onset_s, midi, values = self._settling
        if time_s > onset_s + self.SETTLED_S[1]:
            self._settle()
        elif time_s >= onset_s + self.SETTLED_S[0] and exact_hz > 0 and abs(hz_to_midi(exact_hz) - midi) < 0.5:
            values.append((hz_to_midi(exact_hz) - midi) * 100.0)

    def _settle(self) -> None:
        """The note sounding is past SETTLED_S or ended: its settled cents go to ``settled``."""
        if self._settling is not None and len(self._settling[2]) >= self.SETTLED_MIN_FRAMES:
            onset_s, midi, values = self._settling
            self.settled.append((onset_s, midi, float(np.median(values))))
        self._settling = None


class LiveListener:
    """Live pitch and note onsets from a recorder's tap, on its own thread (``start``/``stop``).

    ``open_stream(sample_rate=16000)`` opens the pitch stream (``tutor.listen.pitch.open_stream``); it
    is called on the listener's thread, which runs torch on one intra-op thread (OpenMP's setting is
    per thread): with two, on a busy two-core machine, each small push waited hundreds of
    milliseconds for the pool. Callbacks, all on the listener's thread:

    * ``on_ready()`` once the stream is open; ``on_failed(text)`` if it cannot be (the thread ends);
    * ``on_onset(onset_s, midi, cents)`` for each note found (also kept in ``onsets``);
    * ``on_settled(onset_s, midi, cents)`` for a note found before, with its settled cents (``LiveNotes.settled``);
    * ``on_frames(times_s, midis, cents)`` at most every ``EMIT_EVERY_S``: the frames since the last
      call (``midis``: nan where unvoiced) and the cents of the last voiced frame among them (or None).

    ``analysed`` keeps, for the latency benchmark, (stream time of the newest frame, perf_counter once
    it was analysed) for the newest ``kept`` pushes that gave frames (an hour's take would keep
    hundreds of thousands).
    """

    ANALYSED_KEPT = 12_000  # pushes that gave frames: two minutes or more of 10 ms frames (the benchmark's take: 30 s)
    EMIT_EVERY_S = 0.1
    SAMPLE_RATE = 16000

    def __init__(self, recorder, open_stream: Callable, *, on_onset: Callable | None = None,
                 on_frames: Callable | None = None, on_ready: Callable | None = None,
                 on_failed: Callable | None = None, kept: int | None = None, instrument: str | None = None,
                 on_settled: Callable | None = None) -> None:
        self.recorder, self.open_stream = recorder, open_stream
        self.on_onset, self.on_frames, self.on_ready, self.on_failed = on_onset, on_frames, on_ready, on_failed
        self.on_settled = on_settled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-pitch", daemon=True)
        self.onsets: list[Onset] = []
        self.notes = LiveNotes(instrument)  # "voice": a sung line's settings (LiveNotes.VOICE)
        # a voice: the review's own segmentation on a sliding window (issue 22), where its weights exist
        self.windowed = WindowedNotes(instrument) if WINDOWED and WindowedNotes.available(instrument) else None
        self.analysed: deque[tuple[float, float]] = deque(maxlen=self.ANALYSED_KEPT if kept is None else kept)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        from tutor.audio.devices import StreamResampler, to_mono

        try:
            import torch

            torch.set_num_threads(1)  # this thread only (OpenMP)
            rate = self.recorder.source.sample_rate
            stream = self.open_stream(sample_rate=self.SAMPLE_RATE)
            resampler = StreamResampler(orig_sr=rate, target_sr=self.SAMPLE_RATE, causal=True)
            if self.windowed is not None:
                WindowedNotes.warm()
        except Exception as error:  # noqa: BLE001 - a worker thread: a tracker that cannot start is reported, not raised
            if self.on_failed is not None:
                self.on_failed(str(error))
            return
        if self.on_ready is not None:
            self.on_ready()
        tap = self.recorder.tap
        min_frames = 256  # a device block; the tracker runs only once a whole frame is in (a push of less is free)
        last_emit = 0.0
        buffered: tuple[list, list] = ([], [])
        notes = self.notes
        exact = ExactPitch(sample_rate=self.SAMPLE_RATE)
        while not self._stop.is_set():
            if not tap.wait(min_frames, timeout_s=0.05):
                if self.recorder.finished:
                    break
                continue
            block = resampler.process(to_mono(tap.read()))
            if not len(block):
                continue
            frames = stream.push(block)
            exact.push(block)
            if len(frames.times_s):
                self.analysed.append((float(frames.times_s[-1]) + stream.hop / (2 * self.SAMPLE_RATE), time.perf_counter()))
            exact_hz = exact.measure(frames.times_s + stream.hop / (2 * self.SAMPLE_RATE),
                                     np.where(frames.voiced, frames.f0_hz, 0.0))
            last_cents = None
            if self.windowed is not None:
                try:
                    self._tell(self.windowed.push(block, frames, exact_hz), self.windowed)
                except Exception:  # noqa: BLE001 - the take goes on, heard by the frame rules from here
                    log.exception("the live note finder failed; the frame rules hear the rest of the take")
                    self.windowed = None
            for t, f0, voiced, level, hz in zip(frames.times_s, frames.f0_hz, frames.voiced, frames.level_db, exact_hz,
                                                strict=True):
                if self.windowed is None:
                    found = notes.push(float(t), float(f0), bool(voiced), float(level), float(hz))
                    self._tell([] if found is None else [found], notes)
                buffered[0].append(float(t))
                if voiced:
                    midi = hz_to_midi(hz if hz > 0 else f0)
                    last_cents = float((midi - round(midi)) * 100)
                    buffered[1].append(float(midi))
                else:
                    buffered[1].append(float("nan"))
            now = time.perf_counter()
            if now - last_emit > self.EMIT_EVERY_S and buffered[0]:
                if self.on_frames is not None:
                    self.on_frames(buffered[0], buffered[1], last_cents)
                buffered = ([], [])
                last_emit = now
        if self.windowed is not None:  # the notes of the last LAG_S, once the take has ended
            try:
                self._tell(self.windowed.finish(), self.windowed)
            except Exception:  # noqa: BLE001 - a worker thread: logged, not raised
                log.exception("the live note finder failed at the end of the take")

    def _tell(self, found: list[Onset], source) -> None:
        """Report ``source``'s settled cents of the notes told before, then the notes ``found``, then the settled
        cents of those (``WindowedNotes.finish`` gives both at once)."""
        now = {onset[0] for onset in found}
        settled = source.settled[:]
        source.settled.clear()
        for cents in [s for s in settled if s[0] not in now]:
            if self.on_settled is not None:
                self.on_settled(*cents)
        for onset in found:
            self.onsets.append(onset)
            if self.on_onset is not None:
                self.on_onset(*onset)
        for cents in [s for s in settled if s[0] in now]:
            if self.on_settled is not None:
                self.on_settled(*cents)
