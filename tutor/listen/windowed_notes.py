"""Notes of a sung line heard live as the review hears them (issue 22).

The review segments a voice take with a learned onset model (``tutor.listen.transcription.notes_and_f0``,
``segmenter="learned"``: gradient-boosted trees on the flux, level, confidence, pitch movement and the pitch's
harmonics around each frame, reading about 130 ms past it). ``WindowedNotes`` runs that same segmentation live:
every ``STEP_S`` of the stream it segments the last ``WINDOW_S`` of pitch frames and audio (the flux and the
levels scaled by the take's so far, as the review scales them by the whole take's), and tells a note once its
onset is ``LAG_S`` old (notes within ``EDGE_S`` of the window's start belong to the runs before); a legato change
held ``HELD_CHANGE_S`` that the onset curve missed is told too. A note's cents at its onset are the median of its
frames' pitch from the partials (``tutor.listen.live.ExactPitch``) heard so far past its scoop, and its settled
cents (``settled``) those of ``LiveNotes.SETTLED_S``, as ``LiveNotes`` gives them. Chosen on the tuning split of
tests/bench/bench_real_sound.py (numbers in docs/benchmarks.md, "Live sung notes as the review hears them"): the
live notes and verdicts agree with the review's far more often than with ``LiveNotes``'s frame rules, which
judge a sung note's pitch in its first 60 ms, for a quarter of a second more before a note is marked. No threads,
no Qt; torch is not used here (the frames come from the caller's pitch stream).
"""

from __future__ import annotations

import numpy as np

from tutor.score.music import hz_to_midi

Onset = tuple[float, int, float]  # (onset_s, MIDI pitch, cents)
# a voice only: on the violin's tuning movements (6, 7) the live verdicts agreed with the review's less (0.865 ->
# 0.832; the review's right notes rung live 0.910 -> 0.835: fast bowed notes merged) though the notes agreed more
# (0.727 -> 0.867), so a violin keeps ``LiveNotes``'s frame rules (its VIOLIN settings)
INSTRUMENTS = ("voice",)


class WindowedNotes:
    """``push`` each block of 16 kHz audio with the pitch stream's frames it completed (``StreamFrames``) and their
    pitch from the partials (``ExactPitch.measure``; 0 where none); returns the notes told at that push. ``finish``
    tells the rest once the stream ends. ``settled`` collects (onset_s, midi, settled cents) of notes told
    before, for the caller to take, as ``LiveNotes.settled``."""

    WINDOW_S = 2.0  # frames and audio segmented at each run (tuning split: 4 s agreed as well, at 1.6x the CPU)
    STEP_S = 0.1  # a run every this much of the stream
    LAG_S = 0.25  # a note is told once its onset is this old (a first trial on the review's own flux, notes agreeing
    # with the review's: 0.15 s 0.82, 0.25 s 0.88, 0.4 s 0.91)
    EDGE_S = 0.3  # a note this near the start of a window is left to the runs before (its onset was cut)
    SETTLED_S = (0.05, 0.3)  # as LiveNotes.SETTLED_S: the frames a note's cents are measured over
    SETTLED_MIN_FRAMES = 3
    # the review scales a take's flux by its 95th percentile and its levels by its loudest frame; a window of 2 s
    # holds a note or two, so its own percentile moved from run to run and notes came and went: the take's so far
    # are used once it has FLUX_FROM_S of flux (frames FLUX_EDGE from the window's ends: their flux is whole)
    # a legato change the onset curve missed (a peak of P(onset) just under ONSET_PROMINENCE on live frames, where the
    # review's frames reach it): after the last note told, the frames held HELD_CHANGE_S on a pitch
    # HELD_CHANGE_SEMITONES or more away. Tuning split, 10 SSVD takes, live verdicts agreeing with the review's 0.810 ->
    # 0.816, the review's right notes rung live 0.852 -> 0.877 (0.1 s: the same marks, a false key change; 0.2 s: 0.817
    # / 0.873); notes agreeing with the review's 0.829 -> 0.822
    HELD_CHANGE_S = 0.15
    HELD_CHANGE_SEMITONES = 0.8
    FLUX_FROM_S = 3.0
    FLUX_EDGE = 10
    FLUX_KEPT_S = 300.0

    def __init__(self, instrument: str, *, sample_rate: int = 16000, hop_s: float = 0.01) -> None:
        self.instrument = instrument
        self.sample_rate, self.hop_s = sample_rate, hop_s
        self.hop = round(hop_s * sample_rate)
        self.window = round(self.WINDOW_S / hop_s)
        self.step = max(1, round(self.STEP_S / hop_s))
        self.columns = np.zeros((5, 0))  # f0 Hz, confidence, voiced, level dB, exact Hz of the kept frames...
        self.first = 0  # ...the first of which is the stream's frame ``first``
        self.audio = np.zeros(0, np.float32)  # the kept audio...
        self.audio_first = 0  # ...from this sample of the stream
        self.last_run = 0  # frames seen at the last run
        self.last_onset_s = -1.0
        self.last_value: float | None = None  # the last note told: its pitch with its cents
        self.pending: list[tuple[float, int]] = []  # notes told whose settled cents are still to come
        self.flux_heard = np.zeros(0)  # the take's flux so far (its newest FLUX_KEPT_S)...
        self.flux_upto = 0  # ...up to this frame of the stream
        self.level_max_db = -80.0
        self.settled: list[Onset] = []

    @staticmethod
    def available(instrument: str | None) -> bool:
        """Whether ``instrument`` is heard this way (INSTRUMENTS, the onset model's weights shipped)."""
        from tutor.models.note_onsets import WEIGHTS

        return instrument in INSTRUMENTS and WEIGHTS.exists()

    @staticmethod
    def warm() -> None:
        """Import what a run needs and read the onset model's trees (about 1.7 s the first time), before the take."""
        import librosa.onset  # noqa: F401

        from tutor.listen import transcription  # noqa: F401
        from tutor.models.note_onsets import shipped_trees

        shipped_trees()

    @property
    def frames_seen(self) -> int:
        return self.first + self.columns.shape[1]

    def push(self, audio16: np.ndarray, frames, exact_hz: np.ndarray) -> list[Onset]:
        self.audio = np.concatenate([self.audio, np.asarray(audio16, np.float32)])
        if len(frames.times_s):
            self.columns = np.concatenate([self.columns, np.stack([
                np.asarray(frames.f0_hz, float), np.asarray(frames.confidence, float),
                np.asarray(frames.voiced, float), np.asarray(frames.level_db, float), np.asarray(exact_hz, float)])], axis=1)
        self._settle(final=False)  # (notes told at earlier pushes: their settled cents come before newer notes)
        told: list[Onset] = []
        if self.frames_seen - self.last_run >= self.step:
            while self.frames_seen - self.last_run >= self.step:  # a run at every step the push spans (a long one
                end = self.last_run + self.step  # comes after the listener was held up)
                end = self.frames_seen if self.frames_seen - end < self.step else end
                told += self._run(self.LAG_S, end=end)
                self.last_run = end
            self._forget()
        return told

    def finish(self) -> list[Onset]:
        """The notes not told yet once the stream has ended, and every settled cents still due."""
        self._settle(final=False)
        told = self._run(0.0, end=self.frames_seen) if self.columns.shape[1] else []
        self._settle(final=True)  # (those of the notes told here too: report them after the notes)
        return told

    def _run(self, lag_s: float, *, end: int) -> list[Onset]:
        """Segment the WINDOW_S of frames before the stream's frame ``end`` and tell the notes ``lag_s`` old by then."""
        from tutor.listen.pitch import F0Track
        from tutor.listen.transcription import ONSET_MIN_GAP_S, notes_and_f0

        stop = end - self.first
        lo = max(0, stop - self.window)
        count = stop - lo
        if count < 2 * self.step:
            return []
        first = self.first + lo  # the stream's frame the window starts at
        f0_hz, confidence, voiced, level_db, _exact = self.columns[:, lo:stop]
        track = F0Track(times_s=(first + np.arange(count)) * self.hop_s + self.hop_s / 2, f0_hz=f0_hz,
                        confidence=confidence, voiced=voiced > 0.5, level_db=level_db, tracker="pesto", hop_s=self.hop_s)
        read = self._reader(first * self.hop - self.audio_first)  # the window's first sample in ``audio``
        flux = self._flux(read(0, count * self.hop), count)
        self._hear_flux(flux, first)
        self.level_max_db = max(self.level_max_db, float(np.max(level_db)))
        flux_p95 = float(np.percentile(self.flux_heard, 95)) if len(self.flux_heard) >= self.FLUX_FROM_S / self.hop_s else 0.0
        notes, _ = notes_and_f0(track, onset_strength=flux, segmenter="learned", instrument=self.instrument, read=read,
                                flux_p95=flux_p95 if flux_p95 > 0 else None,  # (None: the window's; 0 after silence)
                                level_max_db=self.level_max_db)
        now_s = end * self.hop_s
        told = []
        for note in notes:
            onset_s = round(note.onset_s + first * self.hop_s, 4)
            if onset_s > now_s - lag_s or (first and note.onset_s < self.EDGE_S):
                continue
            if onset_s < self.last_onset_s + ONSET_MIN_GAP_S - 1e-6:
                continue  # told already (a later run may place it a frame or two apart)
            cents = self._cents(onset_s, note.pitch, onset_s + self.SETTLED_S[1])
            cents = (note.cents or 0.0) if cents is None else cents
            told.append((onset_s, note.pitch, cents))
            self.last_onset_s, self.last_value = onset_s, note.pitch + cents / 100.0
            self.pending.append((onset_s, note.pitch))
        if self.HELD_CHANGE_S:
            told += self._held_change(first, f0_hz, voiced > 0.5, [round(n.onset_s + first * self.hop_s, 4) for n in notes],
                                      now_s - lag_s)
        return told

    def _held_change(self, first: int, f0_hz: np.ndarray, voiced: np.ndarray, onsets_s: list[float],
                     until_s: float) -> list[Onset]:
        """A note the onset curve missed: after the last note told, its frames held HELD_CHANGE_S on a pitch
        HELD_CHANGE_SEMITONES or more from it (a run's median against the note's pitch with its cents as told;
        dropouts of up to 3 frames), starting by ``until_s`` and with no onset of the window's notes within
        ONSET_MIN_GAP_S of its start: told from the run's start."""
        from tutor.listen.transcription import ONSET_MIN_GAP_S

        if self.last_value is None:
            return []
        start = max(round((self.last_onset_s + ONSET_MIN_GAP_S) / self.hop_s) - first, 0)
        midi = np.where(voiced, hz_to_midi(np.maximum(f0_hz, 1.0)), np.nan)
        runs: list[list] = []
        for k in np.flatnonzero(voiced[start:]) + start:
            semitone = round(float(midi[k]))
            if runs and runs[-1][0] == semitone and k - runs[-1][2] <= 3:
                runs[-1][2] = int(k)
            else:
                runs.append([semitone, int(k), int(k)])
        told = []
        held = round(self.HELD_CHANGE_S / self.hop_s)
        for _semitone, a, b in runs:
            onset_s = round((first + a) * self.hop_s, 4)
            if onset_s > until_s:
                break
            value = float(np.nanmedian(midi[a:b + 1]))
            if (b - a + 1 < held or abs(value - self.last_value) < self.HELD_CHANGE_SEMITONES
                    or any(abs(t - onset_s) < ONSET_MIN_GAP_S for t in onsets_s)):
                continue
            pitch = round(value)
            cents = self._cents(onset_s, pitch, onset_s + self.SETTLED_S[1])
            cents = round((value - pitch) * 100, 1) if cents is None else cents
            told.append((onset_s, pitch, cents))
            self.last_onset_s, self.last_value = onset_s, pitch + cents / 100.0
            self.pending.append((onset_s, pitch))
        return told

    def _reader(self, start: int):
        """``read(lo, hi)`` of the window's samples, ``start`` being its first in ``audio`` (zeros outside it)."""
        from tutor.listen.transcription import array_reader

        kept = array_reader(self.audio)
        return lambda lo, hi: kept(lo + start, hi + start)

    def _flux(self, audio: np.ndarray, count: int) -> np.ndarray:
        """The window's spectral flux, as the review computes it for a whole take, ``count`` frames."""
        from tutor.listen.transcription import spectral_flux

        flux = spectral_flux(audio)
        return np.pad(flux, (0, max(0, count - len(flux))))[:count]

    def _hear_flux(self, flux: np.ndarray, first: int) -> None:
        """Keep the window's flux of the frames not kept before, FLUX_EDGE from its ends."""
        lo = max(self.flux_upto, first + (self.FLUX_EDGE if first else 0))
        hi = first + len(flux) - self.FLUX_EDGE
        if hi > lo:
            kept = round(self.FLUX_KEPT_S / self.hop_s)
            self.flux_heard = np.concatenate([self.flux_heard, flux[lo - first:hi - first]])[-kept:]
            self.flux_upto = hi

    def _cents(self, onset_s: float, midi: int, until_s: float) -> float | None:
        """The median cents of the note's frames from the partials, SETTLED_S[0] past its onset up to ``until_s``
        (those heard so far); None with fewer than SETTLED_MIN_FRAMES."""
        lo = max(round((onset_s + self.SETTLED_S[0]) / self.hop_s) - self.first, 0)
        hi = min(round(until_s / self.hop_s) - self.first, self.columns.shape[1])
        exact = self.columns[4, lo:hi] if hi > lo else np.zeros(0)
        exact = exact[exact > 0]
        if not len(exact):
            return None
        cents = (hz_to_midi(exact) - midi) * 100.0
        cents = cents[np.abs(cents) < 50.0]
        return float(np.median(cents)) if len(cents) >= self.SETTLED_MIN_FRAMES else None

    def _settle(self, *, final: bool) -> None:
        """Each told note whose SETTLED_S has passed (all of them when ``final``) gets its settled cents."""
        now_s = self.frames_seen * self.hop_s
        for onset_s, midi in list(self.pending):
            if final or now_s >= onset_s + self.SETTLED_S[1]:
                self.pending.remove((onset_s, midi))
                cents = self._cents(onset_s, midi, onset_s + self.SETTLED_S[1])
                if cents is not None:
                    self.settled.append((onset_s, midi, cents))

    def _forget(self) -> None:
        """Keep the frames and audio of the last WINDOW_S (and of the notes still to settle)."""
        keep_from = self.frames_seen - self.window
        if self.pending:
            keep_from = min(keep_from, round(self.pending[0][0] / self.hop_s))
        drop = max(0, keep_from - self.first)
        if drop:
            self.columns = self.columns[:, drop:]
            self.first += drop
        first_sample = self.first * self.hop - 2048  # the harmonic and flux windows reach before the first frame
        cut = first_sample - self.audio_first
        if cut > 0:
            self.audio = self.audio[cut:]
            self.audio_first += cut
