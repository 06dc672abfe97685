"""A second listen to a piano take at one pitch (issue 20): was a key struck near a given time?

The transcriber (``tutor.listen.piano``) merges fast repeated notes and trills into one long note, so a
review would call the repeats "missed" though the student played them. Before a score note is called
missed, the assessment asks ``PartialEvidence.rise_db(pitch, start_s, stop_s)``: the largest jump of the
energy at the pitch's first ``HARMONICS`` partials (as ``tutor.listen.piano_live`` hears a strike) within
the window, in dB over its minimum in the ``RECENT_S`` before, where the whole spectrum rises too (a
strike, not a partial of a held note swelling). A re-attack inside a merged note rises like a new note.
The spectrogram (16 kHz, 128 ms window, 16 ms hop) is computed once per take; nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
HOP = 256
WINDOW = 2048
HARMONICS = 4
RECENT_S = 0.064  # the rise is measured over the minimum of this stretch before each frame
LOWEST_MIDI = 33
RESOLVED_HZ = 250.0  # partials below: a semitone is under 2 bins of the 128 ms window apart, left out
FLUX_MIN = 0.02  # the whole spectrum's positive log flux per bin at a strike (a held note: ~0)


BLOCK_FRAMES = 4096  # frames per block of the spectrum (about 65 s of audio)


def _partial_bands() -> np.ndarray:
    """(128, bins): each pitch's first ``HARMONICS`` resolved partials, a quarter tone either side, weighted
    1, 1/2, 1/3... so the fundamental counts most."""
    freqs = np.fft.rfftfreq(WINDOW, 1.0 / SAMPLE_RATE)
    bands = np.zeros((128, len(freqs)), np.float32)
    for midi in range(LOWEST_MIDI, 109):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        used = 0
        for h in range(1, 4 * HARMONICS + 1):
            f = f0 * h
            if f > SAMPLE_RATE / 2 - 200 or used == HARMONICS:
                break
            if f < RESOLVED_HZ:  # the window cannot tell this partial from a semitone's neighbour
                continue
            width = f * (2 ** (0.5 / 12) - 1)  # a quarter tone either side
            bands[midi, (freqs > f - width) & (freqs < f + width)] = 1.0 / (used + 1)
            used += 1
    return bands


class PartialEvidence:
    """Energy at each pitch's partials over a take; ``rise_db`` asks for a strike."""

    def __init__(self, audio: np.ndarray, sample_rate: int) -> None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if sample_rate != SAMPLE_RATE and len(audio):
            import soxr

            audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
        audio = np.concatenate([np.zeros(WINDOW // 2, np.float32), audio, np.zeros(WINDOW, np.float32)])
        frames = np.lib.stride_tricks.sliding_window_view(audio, WINDOW)[::HOP]
        bands = _partial_bands()
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
        # the take's loud level: a pitch's level is measured against it (a recording's gain is arbitrary)
        self.reference_db = float(np.percentile(self.energy_db.max(axis=1), 95)) if len(self.energy_db) else 0.0

    def p_struck(self, pitch: int, due_s: float, played) -> float | None:
        """P(a key of ``pitch`` was struck within ``LISTEN_S`` of ``due_s``) from the learned verdicts
        (``tutor.models.piano_verdicts``), ``played`` the take's transcribed notes; None without weights."""
        from tutor.models.piano_verdicts import probability

        p = probability("struck", struck_features(self, pitch, due_s, self._arrays(played)))
        return None if p is None else float(p[0])

    def p_real(self, note, played) -> float | None:
        """P(the transcribed ``note``, one of ``played``, was played); None without weights."""
        from tutor.models.piano_verdicts import probability

        arrays = self._arrays(played)
        index = next(i for i, n in enumerate(arrays.notes) if n is note)
        p = probability("real", note_features(self, index, arrays))
        return None if p is None else float(p[0])

    def _arrays(self, played) -> _Played:
        cached = getattr(self, "_played", None)
        if cached is None or cached[0] is not played:
            self._played = cached = (played, _played(played))
        return cached[1]

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


def evidence_for_take(path, instrument: str | None) -> PartialEvidence | None:
    """The second listen for a take at ``path`` heard as ``instrument``: a ``PartialEvidence`` of its sound
    for a piano audio take, else None (a MIDI take needs none; a single-line take has its own rules)."""
    from pathlib import Path

    from tutor.score.io import AUDIO_EXTENSIONS

    if instrument != "piano" or path is None or Path(path).suffix.lower() not in AUDIO_EXTENSIONS:
        return None
    from tutor.listen.transcription import read_audio

    return PartialEvidence(*read_audio(path))


# ---------------------------------------------------------------------------------------------
# learned verdicts (issue 20): was an expected note struck? is a transcribed note real?
# ---------------------------------------------------------------------------------------------
LISTEN_S = 0.2  # an expected note is listened for this far either side of when it was due
NOTE_WINDOW_S = (0.06, 0.1)  # a transcribed note's strike is looked for this long before / after its onset
GHOST_STEPS = (12, 19, 24, 28)  # partials of a lower note: an octave, a twelfth, two octaves, two octaves and a third
NEIGHBOUR_STEPS = (-2, -1, 1, 2)
CHORD_S = 0.06  # onsets this close are struck together
STRUCK_FEATURES = ("rise_struck_db", "rise_any_db", "offset_s", "rise_octave_below_db", "rise_octave_above_db",
                   "rise_neighbour_db", "peak_db", "gain_db", "flux", "level_db", "sounding", "same_pitch_onset_s",
                   "ghost_source_velocity", "neighbour_velocity", "pitch", "onsets")
NOTE_FEATURES = STRUCK_FEATURES[:10] + ("velocity", "log_duration", "velocity_ratio", "ghost_source_velocity",
                                        "ghost_velocity_ratio", "neighbour_velocity", "together", "gap_s", "pitch")


class _Played:
    """The transcribed notes as arrays, for the features below."""

    def __init__(self, played) -> None:
        self.notes = tuple(played)
        self.pitch = np.array([n.pitch for n in self.notes], dtype=np.int64)
        self.onset = np.array([n.onset_s for n in self.notes], dtype=np.float64)
        self.offset = np.array([n.offset_s for n in self.notes], dtype=np.float64)
        self.velocity = np.array([n.velocity for n in self.notes], dtype=np.float64)


def _played(played) -> _Played:
    return played if isinstance(played, _Played) else _Played(played)


def _spectral(evidence: PartialEvidence, pitch: int, start_s: float, stop_s: float, due_s: float) -> list[float]:
    """The first ten features of both kinds: how ``pitch``'s partials rise between ``start_s`` and
    ``stop_s`` (at a strike of the whole spectrum, and anywhere), when (from ``due_s``), and what the
    octave below/above and the semitone/tone neighbours do at that moment; the pitch's lead over its
    neighbours after it, its level gain over the moment before, the flux, and its level against the take's."""
    n = len(evidence.rise)
    if not LOWEST_MIDI <= pitch <= 108 or n == 0:
        return [0.0, 0.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0.0, np.nan]
    a, b = max(0, evidence.frame(start_s)), min(n, evidence.frame(stop_s) + 1)
    if b <= a:
        return [0.0, 0.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0.0, np.nan]
    rise = evidence.rise[a:b, pitch]
    struck = evidence.flux[a:b] >= FLUX_MIN
    rise_struck = float(rise[struck].max()) if struck.any() else 0.0
    k = a + int(np.argmax(np.where(struck, rise, -np.inf))) if struck.any() else a + int(np.argmax(rise))

    def at(frame: int, p: int, table: np.ndarray) -> float:
        return float(table[min(max(frame, 0), n - 1), p]) if LOWEST_MIDI <= p <= 108 else np.nan

    after = min(k + 2, n - 1)
    neighbours = [p for p in (pitch + s for s in NEIGHBOUR_STEPS) if LOWEST_MIDI <= p <= 108]
    lead = (float(evidence.energy_db[after, pitch] - evidence.energy_db[after, neighbours].max())
            if neighbours else np.nan)
    later = evidence.energy_db[k:min(n, k + 6), pitch].mean()
    before = evidence.energy_db[max(0, k - 10):max(1, k - 2), pitch].mean()
    return [rise_struck, float(rise.max()), (k - evidence.frame(due_s)) * HOP / SAMPLE_RATE,
            at(k, pitch - 12, evidence.rise), at(k, pitch + 12, evidence.rise),
            max((at(k, p, evidence.rise) for p in neighbours), default=np.nan), lead, float(later - before),
            float(evidence.flux[k]), float(evidence.energy_db[after, pitch] - evidence.reference_db)]


def struck_features(evidence: PartialEvidence, pitch: int, due_s: float, played) -> np.ndarray:
    """``STRUCK_FEATURES`` of an expected note of ``pitch`` due at ``due_s`` (listened for ``LISTEN_S``
    either side) in a take whose transcribed notes are ``played``."""
    played = _played(played)
    start_s, stop_s = due_s - LISTEN_S, due_s + LISTEN_S
    same = played.pitch == pitch
    sounding = bool(np.any(same & (played.onset <= stop_s + LISTEN_S) & (played.offset >= start_s)))
    nearest = float(np.abs(played.onset[same] - due_s).min()) if same.any() else 2.0
    inside = (played.onset >= start_s) & (played.onset <= stop_s)
    ghost = inside & np.isin(pitch - played.pitch, GHOST_STEPS)
    neighbour = inside & np.isin(played.pitch - pitch, NEIGHBOUR_STEPS)
    return np.array(_spectral(evidence, pitch, start_s, stop_s, due_s) + [
        float(sounding), min(nearest, 2.0), float(played.velocity[ghost].max()) if ghost.any() else 0.0,
        float(played.velocity[neighbour].max()) if neighbour.any() else 0.0, float(pitch), float(inside.sum())])


def note_features(evidence: PartialEvidence, index: int, played) -> np.ndarray:
    """``NOTE_FEATURES`` of the transcribed note ``played[index]``: its strike in the sound, its velocity
    against the notes struck with it, whether a note an octave/twelfth/... below was struck with it (whose
    partials it may be), its length and the gap since the last note of its pitch."""
    played = _played(played)
    note = played.notes[index]
    t = note.onset_s
    spectral = _spectral(evidence, note.pitch, t - NOTE_WINDOW_S[0], t + NOTE_WINDOW_S[1], t)
    together = np.abs(played.onset - t) <= CHORD_S
    together[index] = False
    loudest = float(played.velocity[together].max()) if together.any() else 0.0
    ghost = together & np.isin(note.pitch - played.pitch, GHOST_STEPS)
    source = float(played.velocity[ghost].max()) if ghost.any() else 0.0
    neighbour = together & np.isin(played.pitch - note.pitch, NEIGHBOUR_STEPS)
    earlier = (played.pitch == note.pitch) & (played.onset < t - 1e-6)
    gap = float(t - played.offset[earlier].max()) if earlier.any() else 2.0
    velocity = float(note.velocity)
    return np.array(spectral + [
        velocity, float(np.log(max(note.offset_s - t, 0.01))), velocity / loudest if loudest else 2.0, source,
        velocity / source if source else 2.0, float(played.velocity[neighbour].max()) if neighbour.any() else 0.0,
        float(together.sum()), min(max(gap, -2.0), 2.0), float(note.pitch)])
