"""A second listen to a piano take at one pitch (issue 20): was a key struck near a given time?

The transcriber (``tutor.listen.piano``) merges fast repeated notes and trills into one long note, so a
review would call the repeats "missed" though the student played them. Before a score note is called
missed, the assessment asks ``PartialEvidence.rise_db(pitch, start_s, stop_s)``: the largest jump of the
energy at the pitch's first ``HARMONICS`` partials (as ``tutor.listen.piano_live`` hears a strike) within
the window, in dB over its minimum in the ``RECENT_S`` before, where the whole spectrum rises too (a
strike, not a partial of a held note swelling). A re-attack inside a merged note rises like a new note.
The spectrogram (16 kHz, 128 ms window, 16 ms hop) is computed once per take; nothing here imports torch.

``PartialEvidence.strike_p(pitch, start_s, stop_s)`` asks the learned strike model of the live marks
(``tutor.models.piano_strikes``) instead: the live detector (``tutor.listen.piano_live.PianoOnsets``, every pitch
listened for) is run over the question's window (a few tenths of a second), which gives the candidates there (a
pitch whose partials rose ``GATE_DB`` at a strike) with their features, and the model judges the pitch's own. It
tells a strike of the pitch itself from the partials of other notes (an octave or a twelfth below, a wide chord's
thump), which the rise alone cannot.
"""

from __future__ import annotations

import numpy as np

from tutor.listen.piano_live import pitch_bands

SAMPLE_RATE = 16000
HOP = 256
WINDOW = 2048
HARMONICS = 4
RECENT_S = 0.064  # the rise is measured over the minimum of this stretch before each frame
LOWEST_MIDI = 33
RESOLVED_HZ = 250.0  # partials below: a semitone is under 2 bins of the 128 ms window apart, left out
FLUX_MIN = 0.02  # the whole spectrum's positive log flux per bin at a strike (a held note: ~0)


BLOCK_FRAMES = 4096  # frames per block of the spectrum (about 65 s of audio)
STRIKE_PREROLL_S = 0.5  # the live detector listens from this long before a question's window (it needs 0.27 s)
STRIKE_MEMO = 8


class PartialEvidence:
    """Energy at each pitch's partials over a take; ``rise_db`` asks for a strike."""

    def __init__(self, audio: np.ndarray, sample_rate: int) -> None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if sample_rate != SAMPLE_RATE and len(audio):
            import soxr

            audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
        self.audio16 = audio  # (mono, SAMPLE_RATE) the live detector listens to it again where asked (``strike_p``)
        self._strike_memo: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        audio = np.concatenate([np.zeros(WINDOW // 2, np.float32), audio, np.zeros(WINDOW, np.float32)])
        frames = np.lib.stride_tricks.sliding_window_view(audio, WINDOW)[::HOP]
        bands = pitch_bands(WINDOW, SAMPLE_RATE, resolved_hz=RESOLVED_HZ, notch=False)
        window = np.hanning(WINDOW).astype(np.float32)
        energy, flux, previous = [], [], None
        for first in range(0, len(frames), BLOCK_FRAMES):  # in blocks: an hour's spectrum would take gigabytes
            spectrum = np.abs(np.fft.rfft(frames[first:first + BLOCK_FRAMES] * window, axis=1)).astype(np.float32) ** 2
            energy.append(10.0 * np.log10(spectrum @ bands.T + 1e-10))
            log_spectrum = np.log10(spectrum + 1e-10)
            steps = np.diff(log_spectrum if previous is None else np.vstack([previous, log_spectrum]), axis=0)
            flux.append(np.maximum(steps, 0.0).mean(axis=1))
            previous = log_spectrum[-1:]
        self.energy_db = np.concatenate(energy) if energy else np.zeros((0, 128), np.float32)  # (frames, 128)
        self.flux = np.concatenate([[0.0], *flux]) if flux else np.zeros(0)
        recent = max(1, round(RECENT_S * SAMPLE_RATE / HOP))
        padded = np.vstack([np.repeat(self.energy_db[:1], recent, axis=0), self.energy_db])
        windows = np.lib.stride_tricks.sliding_window_view(padded[:-1], recent, axis=0)  # the frames before each
        self.rise = self.energy_db - windows.min(axis=-1)  # (frames, 128)

    def frame(self, time_s: float) -> int:
        return int(round(time_s * SAMPLE_RATE / HOP))

    def rise_db(self, pitch: int, start_s: float, stop_s: float) -> float:
        """The largest rise (dB) of ``pitch``'s partials at a strike between ``start_s`` and ``stop_s``
        (0.0 where none, or the pitch is outside the piano's range heard here)."""
        if not LOWEST_MIDI <= pitch <= 108:
            return 0.0
        a, b = max(0, self.frame(start_s)), min(len(self.rise), self.frame(stop_s) + 1)
        if b <= a:
            return 0.0
        rise = self.rise[a:b, pitch]
        struck = self.flux[a:b] >= FLUX_MIN
        return float(rise[struck].max()) if struck.any() else 0.0

    def strike_p(self, pitch: int, start_s: float, stop_s: float) -> float:
        """The strike model's highest P(``pitch`` itself was struck) at a candidate whose strike (the frame's
        centre plus the live detector's ``ONSET_LEAD_S``) lies between ``start_s`` and ``stop_s``; 0.0 where
        none (no rise of its partials at a strike then), the pitch is outside the range the live detector
        hears, or the model's weights are missing."""
        from tutor.listen.piano_live import LOWEST_MIDI as LIVE_LOWEST_MIDI
        from tutor.listen.piano_live import ONSET_LEAD_S
        from tutor.models.piano_strikes import strike_probability

        if not LIVE_LOWEST_MIDI <= pitch <= 108 or stop_s < start_s:
            return 0.0
        times_s, pitches, x = self.strike_candidates(start_s - ONSET_LEAD_S, stop_s - ONSET_LEAD_S)
        asked = (pitches == pitch) & (times_s >= start_s - ONSET_LEAD_S) & (times_s <= stop_s - ONSET_LEAD_S)
        odds = strike_probability(x[asked]) if asked.any() else None
        return float(odds.max()) if odds is not None and len(odds) else 0.0

    def strike_candidates(self, start_s: float, stop_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frame centres s, pitches, ``piano_strikes.FEATURES`` rows) of the live detector's strike candidates
        (every pitch listened for) at frames centred from about ``start_s`` to ``stop_s``: the detector is run
        on that stretch from STRIKE_PREROLL_S before it, on the take's own hop grid, so each candidate is the
        one the detector finds in the whole take (the features look at most 16 hops back). The last
        STRIKE_MEMO stretches are kept (a chord's notes are asked about at one time)."""
        from tutor.listen.piano_live import HOP as LIVE_HOP
        from tutor.listen.piano_live import WINDOW as LIVE_WINDOW
        from tutor.listen.piano_live import strike_candidates

        centre = LIVE_WINDOW // 2
        first = max(0, int(np.floor(((start_s - STRIKE_PREROLL_S) * SAMPLE_RATE - centre) / LIVE_HOP)))
        last = max(first, int(np.ceil((stop_s * SAMPLE_RATE - centre) / LIVE_HOP)) + 2)  # (judged a hop later)
        key = (first, last)
        if key not in self._strike_memo:
            self._strike_memo[key] = strike_candidates(self.audio16[first * LIVE_HOP:last * LIVE_HOP + LIVE_WINDOW],
                                                       first_hop=first)
            while len(self._strike_memo) > STRIKE_MEMO:
                del self._strike_memo[next(iter(self._strike_memo))]
        return self._strike_memo[key]


def evidence_for_take(path, instrument: str | None) -> PartialEvidence | None:
    """The second listen for a take at ``path`` heard as ``instrument``: a ``PartialEvidence`` of its sound
    for a piano audio take, else None (a MIDI take needs none; a single-line take has its own rules)."""
    from pathlib import Path

    from tutor.score.io import AUDIO_EXTENSIONS

    if instrument != "piano" or path is None or Path(path).suffix.lower() not in AUDIO_EXTENSIONS:
        return None
    from tutor.listen.transcription import read_audio

    return PartialEvidence(*read_audio(path))

