"""Live marks for an acoustic piano (issue 20): the notes the score expects next, checked in the sound.

The review of a piano take uses the full transcriber (``tutor.listen.piano``); while the student plays,
this lighter path (what Skoove does) listens only for the pitches the score follower expects next.
``PianoOnsets`` keeps a 16 kHz spectrum every ``HOP`` samples (16 ms; window ``WINDOW`` = 128 ms) and,
for each pitch, the energy at its first ``HARMONICS`` partials. At a strike (the whole spectrum's flux rising), an
expected pitch whose partials rose ``GATE_DB`` over their recent minimum is a candidate, and one hop later a
learned model (``tutor.models.piano_strikes``: gradient-boosted trees on the rise and level of the pitch's four
partials summed and of the pitches around it, trained on real piano sound and renders) says whether that pitch
itself was struck, not a neighbour whose partials or hammer thump raised its band (``LEARNED``, ``STRIKE_P``).
A small network that hears the whole spectrum around the pitch and its partials (the spectrum on a quarter-semitone
grid, ``fine_bins``, both windows) judges instead with ``SPECTRUM`` on (off: it rang more wrong notes on held-out
recordings, with or without its rule that an expected pitch is not rung when a neighbour the score does not expect
was judged likelier, ``NEIGHBOUR_*``). Without the model's weights
(or with ``LEARNED`` off) hand-made tests decide: the energy jumps ``RISE_DB`` over its recent minimum, is within
``FLOOR_DB`` of the loudest expected pitch, peaks ``PEAK_DB`` over the pitches a semitone either side, and is
still up one hop later (``CONFIRM``). Metronome clicks are broadband and short: a strike heard where the app
played one is confirmed once the click has died away. Through one strike (``STRIKE_S``) the pitches listened for
stay those expected when it began, so the follower does not run ahead on a chord's own partials.
On the live benchmark (tests/bench/bench_live_marks.py: the detector driven by the follower) numbers and history
are in docs/benchmarks.md ("Live strikes learned", "Live strikes: where they are lost", "Live strikes heard from
the whole spectrum", "The written neighbour of a wrong note").
Listening only for what the follower expects traps a follower that has lost its place, so the other pitches of
the piece's range are listened for too (at ``FREE_STRIKE_P``; the rules: the stricter ``FREE_*`` tests), and what is
heard there goes to ``ScoreFollower.hear`` (never rung): evidence from which the follower finds where the student is (issue 20,
evening: dev 60 s segments, onsets R 0.30 -> 0.46, 51% more rings from a real strike).
``PianoLiveListener`` runs it on a thread of its own from a recorder's tap, as
``tutor.listen.live.LiveListener`` does for a single line. Nothing here imports Qt or torch.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

import numpy as np

SAMPLE_RATE = 16000
HOP = 256
WINDOW = 2048
HARMONICS = 4
RISE_DB = 8.0
RECENT_HOPS = 4
FLOOR_DB = 20.0
FLUX_MIN = 0.05  # the strike: the spectrum's positive log flux per bin, averaged
CONFIRM_DB = 5.0  # one hop later the pitch is still this far above its pre-strike minimum
REFRACTORY_S = 0.12
ONSET_LEAD_S = 0.03  # the strike is heard before the window's centre reaches it
LOWEST_MIDI = 33  # below, a 128 ms window cannot tell neighbouring semitones apart
# the app's own metronome and count-in clicks (tutor.audio.metronome: 30 ms sine bursts at 1760 and 1320 Hz,
# a sharp attack) must never be notes: the clicks' own frequencies (+-1.5 semitones) are in no pitch's band
# (dev live P / R unchanged, 0.735 / 0.768), and a strike heard where the app played a click (``click_times``) is
# confirmed in the window's newest SHORT samples once they begin CLICK_PAST_S after it: the click has died
# away there (its sharp attack raised every band at once), a piano note still sounds (confirmed so
# everywhere: dev P 0.735 -> 0.756 but R 0.768 -> 0.724, so only near the clicks)
CLICK_NOTCH_HZ = (1320.0, 1760.0)
NOTCH_SEMITONES = 1.5
SHORT = 512  # 32 ms
SHORT_RISE_DB = 6.0
CLICK_NEAR_S = (-0.05, 0.12)  # a strike this close to a click's scheduled time (output latency: after it)...
CLICK_PAST_S = 0.04  # ...is confirmed in short samples that begin this long after the strike
COUNT_IN_EARLY_S = 0.15  # the live marks listen from this long before the count-in's end
# a strike of the pitch itself, not any strike (issue 20: live marks that agree with the review): at the strike
# the pitch's partials must be PEAK_DB louder than those of the pitches NEIGHBOURS semitones away. A hammer's
# broadband thump raises every expected pitch's band (at the first strike after silence the detector fired
# at all of them), and a note a tone off leaks more into the semitone between; neither makes a peak at the
# pitch's own partials. Dev (bench live_marks, 6 x 30 s, the detector driven by the follower): onsets P
# 0.22 -> 0.58, R 0.21 -> 0.36; score notes changed by a tone ringed 114 -> 57 of 152; tried: the pitch's
# rise over its neighbours' rise (3 dB: 73 of 152, fewer right notes rung), 3 dB peaks (48, fewer still)
PEAK_DB = 1.5
NEIGHBOURS = (-1, 1)
# Finding the follower's place (issue 20, 2026-12-07 evening; docs/benchmarks.md, "Live marks: the follower finds
# its place"): listening only for what the follower expects traps it once it is behind the student (dev: 46% of
# the strikes missed were never listened for, most 10 chords or more ahead of the cursor). So the pitches of the
# piece's range not expected now are listened for too (FREE_LISTEN), with stricter tests: a rise of FREE_RISE_DB,
# a peak of FREE_PEAK_DB over the semitone neighbours, and the subharmonic check -- a pitch whose partials are
# those of a strike an octave, a twelfth or two octaves above (SUBHARMONIC_OF semitones) starts only if its own
# fundamental rose FREE_FUNDAMENTAL_RISE_DB over its recent minimum too, from FUNDAMENTAL_FROM_MIDI up. What is
# heard there is never rung: it goes to the follower as evidence of where the student is (``ScoreFollower.hear``),
# which moves there when it agrees. (Tried and removed: listening ahead by the student's tempo, which fed on the
# follower's own jumps; the subharmonic check on the expected pitches too, which cost right rings.)
FREE_LISTEN = True
FREE_RISE_DB = 10.0
FREE_PEAK_DB = 3.0
FREE_FUNDAMENTAL_RISE_DB = 6.0
SUBHARMONIC_OF = (12, 19, 24)
FUNDAMENTAL_FROM_MIDI = 40
# one strike, one expectation (issue 20, rings in place): the pitches listened for are those the follower expected
# when a strike began, for STRIKE_S after it. A loud chord's partials and thump raise pitches of the chords after
# it too; each one heard moved the follower on, so it listened further ahead within the same strike and ran several
# chords ahead of the student. Dev, 6 pieces x 2 x 60 s, rings heard within 0.3 s of when their note was played:
# 0.566 -> 0.608 of all rings (1693 -> 1770); 0.15 s: 0.598. First 60 s only: 0.505 -> 0.551; 0.05 s 0.465, 0.15 s
# 0.559, 0.25 s 0.496; listening one chord ahead instead of two (0.507, far fewer rings), or also as far as the
# tempo puts the student (0.489): worse. (0: a new expectation every hop, as before.)
STRIKE_S = 0.1
# learned strikes (issue 20, eighth session; docs/benchmarks.md, "Live strikes learned"): a pitch whose partials rose
# GATE_DB at a strike is a candidate, and one hop later ``tutor.models.piano_strikes`` says whether that pitch was
# struck; it rings at STRIKE_P when the score expects it, and is heard score-free at FREE_STRIKE_P. (False: the
# hand-made tests above, RISE_DB, PEAK_DB, FLOOR_DB and the FREE_* ones.) Without weights: the rules. A strike the
# model calls struck near one of the app's clicks is still confirmed as the rules confirm it (CONFIRM_DB and the
# short window, once the click has died away: tests/test_piano.py; the live bench plays no clicks).
# Chosen on dev (first 30 s, never trained on): 0.3/0.5 rings in place 0.908 of 1045 rings, 0.4/0.4 0.932 of 1009,
# 0.5/0.5 0.941 of 931 (fewer of the review's right notes ringed: 0.564 against 0.610); held-out, 17 x 60 s, read
# once: 0.561 -> 0.891.
LEARNED = True
# the learned strikes hear the whole spectrum (tenth session; docs/benchmarks.md, "Live strikes heard from the whole
# spectrum"): True: ``piano_strikes.spectrum_probability`` on the candidate's patch of the fine grid and its partials'
# own rises judges, where its weights are; False (as shipped): the 47-feature trees. Dev first 30 s at 0.4 / 0.4:
# detector R 0.566 -> 0.732 at P 0.905 -> 0.944, changed notes ringed 18 -> 16 of 152; held-out, read once: R 0.587 ->
# 0.696 (17 x 60 s) but changed notes ringed 75 -> 87 of 854 (first 30 s: 25 -> 28 of 166), so it stays off.
SPECTRUM = False
STRIKE_P = 0.4
FREE_STRIKE_P = 0.4
# a wrong note's written neighbour (issue 20, tenth session, the network's rule; docs/benchmarks.md, "The written
# neighbour of a wrong note"): with ``SPECTRUM`` on, an expected pitch is not rung when a pitch the score does not
# expect now, NEIGHBOUR_SEMITONES or fewer away, was judged likelier by more than NEIGHBOUR_MARGIN in the same hop or
# in the NEIGHBOUR_S before it: the student struck the neighbour, whose partials and hammer raised this band too.
# Chosen on dev (margins 0.0 / 0.2, looking back 0-3 hops studied): 60 s segments changed notes ringed 50 -> 45 of
# 490, first 30 s 16 -> 16 of 152, as played unchanged. Held-out, read once: 87 -> 85 of 854 and 28 -> 27 of 166,
# still above the trees' 75 and 25, so ``SPECTRUM`` stays off. Most changed notes the network rings are a real strike
# of the written pitch by another note that the follower gives to the changed one, which no test of the sound stops.
NEIGHBOUR_SEMITONES = 2
NEIGHBOUR_MARGIN = 0.0
NEIGHBOUR_S = 0.0


@functools.lru_cache(maxsize=16)
def pitch_bands(window: int, sample_rate: int, *, min_width_bins: float = 0.0, resolved_hz: float = 0.0,
                notch: bool = True, harmonics: int = HARMONICS) -> np.ndarray:
    """Weights (128 pitches x FFT bins of ``window`` samples) that sum each pitch's first ``harmonics`` partials
    at or above ``resolved_hz``, a quarter tone either side (at least ``min_width_bins`` bins), weighted 1, 1/2,
    1/3... so the lowest counts most; with ``notch`` the bins around the app's click frequencies
    (``CLICK_NOTCH_HZ``) left out. The live detector's and the second listen's (``piano_evidence``); made once
    for each set of arguments and read-only."""
    freqs = np.fft.rfftfreq(window, 1.0 / sample_rate)
    bands = np.zeros((128, len(freqs)), np.float32)
    for midi in range(LOWEST_MIDI, 109):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        used = 0
        for h in range(1, 4 * harmonics + 1):
            f = f0 * h
            if f > sample_rate / 2 - 200 or used == harmonics:
                break
            if f < resolved_hz:  # the window cannot tell this partial from a semitone's neighbour
                continue
            width = max(f * (2 ** (0.5 / 12) - 1), freqs[1] * min_width_bins)
            bands[midi, (freqs > f - width) & (freqs < f + width)] = 1.0 / (used + 1)
            used += 1
    if notch:
        for f in CLICK_NOTCH_HZ:
            bands[:, np.abs(np.log2(np.maximum(freqs, 1.0) / f)) * 12 < NOTCH_SEMITONES] = 0.0
    bands.flags.writeable = False  # one array for every detector made with these bands (cached)
    return bands


@functools.lru_cache(maxsize=4)
def fine_bins(window: int, sample_rate: int) -> np.ndarray:
    """Weights (``piano_strikes.FINE_BINS`` x FFT bins of ``window`` samples) that give the spectrum's power on a
    log-frequency grid (``FINE_PER_SEMITONE`` bins a semitone from ``FINE_LOW_MIDI``): each grid point the mean of
    the FFT bins within a grid step of it (a triangle; at least one FFT bin wide, so low points interpolate between
    the two nearest bins), the bins around the app's click frequencies left out (as ``pitch_bands``). Read-only."""
    from tutor.models.piano_strikes import FINE_BINS, FINE_LOW_MIDI, FINE_PER_SEMITONE

    freqs = np.fft.rfftfreq(window, 1.0 / sample_rate)
    centres = 440.0 * 2 ** ((FINE_LOW_MIDI + np.arange(FINE_BINS) / FINE_PER_SEMITONE - 69) / 12)
    width = np.maximum(centres * (2 ** (1 / 12 / FINE_PER_SEMITONE) - 1), freqs[1])
    weights = np.maximum(0.0, 1.0 - np.abs(freqs[None, :] - centres[:, None]) / width[:, None])
    weights /= weights.sum(axis=1, keepdims=True)
    for f in CLICK_NOTCH_HZ:
        weights[np.abs(np.log2(centres / f)) * 12 < NOTCH_SEMITONES] = 0.0
    weights = weights.astype(np.float32)
    weights.flags.writeable = False
    return weights


class PianoOnsets:
    """Onsets of expected pitches, block by block (no threads)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, *, click_times: tuple[float, ...] = ()) -> None:
        self.rate = sample_rate
        self.click_times = np.asarray(sorted(click_times), dtype=np.float64)  # the app's clicks, stream time
        self.window = np.hanning(WINDOW).astype(np.float32)
        self.buffer = np.zeros(0, np.float32)
        self.consumed = 0  # samples before buffer[0]
        self.strike_expected: list[int] = []  # what was expected when the strike being heard began...
        self.strike_until_s = -1.0  # ...listened for until then
        self.history: list[np.ndarray] = []  # log band energies of the last frames (all 128 pitches)
        self.previous_spectrum: np.ndarray | None = None
        self.last_onset: dict[int, float] = {}
        self.free_last: dict[int, float] = {}  # (the same, for the pitches listened to score-free)
        # pitch -> (onset_s, pre-strike minima dB (long, short window), confirmed once the short one starts here)
        self.pending: dict[int, tuple[float, float, float, float]] = {}
        self.free_pending: dict[int, tuple[float, float, float, float]] = {}
        self.free_found: list[tuple[float, int]] = []  # the score-free onsets the last ``push`` heard
        self.bands = pitch_bands(WINDOW, sample_rate)
        # the fundamentals' bands, for the subharmonic check (None while it is off, as shipped)
        self.fundamentals = pitch_bands(WINDOW, sample_rate, harmonics=1)
        self.fundamental_history: list[np.ndarray] = []
        # the same bands in the short window (bins 31 Hz apart: at least the nearest bin of each partial)
        self.short_window = np.hanning(SHORT).astype(np.float32)
        self.short_bands = pitch_bands(SHORT, sample_rate, min_width_bins=0.75)
        self.short_history: list[np.ndarray] = []
        # learned strikes: the last frame's candidates, judged one hop later (``_judge``)
        self.trees = _strike_trees() if LEARNED else None
        # the model that hears the whole spectrum (``SPECTRUM``; None without its weights: ``trees`` then)
        self.spectrum_model = _spectrum_model() if LEARNED and SPECTRUM else None
        self.candidates: dict | None = None
        self.unexpected_odds: dict[int, tuple[float, float]] = {}  # pitch -> (time_s, P) of the latest unexpected candidate
        self.collect: list | None = None  # training: (time_s, pitches, features) of every candidate, none judged
        # training: also each candidate frame's ``piano_strikes.spectrum_frame`` (time_s, pitches, features, frame)
        self.collect_spectrum = False
        self.fine_history: list[np.ndarray] = []  # the fine grid's levels (dB), long and short window
        self.short_fine_history: list[np.ndarray] = []

    def push(self, block: np.ndarray, expected: Callable[[], list[int]] | list[int],
             free: tuple[int, int] | None = None) -> list[tuple[float, int]]:
        """Mono float32 samples; returns (onset_s, midi) of the expected pitches that started. With ``free``
        (lowest, highest MIDI pitch) the other pitches in that range are listened for score-free, with the
        stricter FREE_* tests; those heard are left in ``free_found`` (this push's, in time order)."""
        self.buffer = np.concatenate([self.buffer, np.asarray(block, np.float32)])
        found: list[tuple[float, int]] = []
        self.free_found = []
        while len(self.buffer) >= WINDOW:
            frame = self.buffer[:WINDOW]
            centre_s = (self.consumed + WINDOW / 2) / self.rate
            found += self._frame(frame, centre_s, expected() if callable(expected) else expected, free)
            self.buffer = self.buffer[HOP:]
            self.consumed += HOP
        return found

    def _frame(self, frame: np.ndarray, time_s: float, expected: list[int],
               free: tuple[int, int] | None = None) -> list[tuple[float, int]]:
        spectrum = np.abs(np.fft.rfft(frame * self.window)).astype(np.float32) ** 2
        log_spectrum = np.log10(spectrum + 1e-10)
        flux = 0.0
        if self.previous_spectrum is not None:
            flux = float(np.mean(np.maximum(log_spectrum - self.previous_spectrum, 0.0)))
        self.previous_spectrum = log_spectrum
        bands = 10.0 * np.log10(self.bands @ spectrum + 1e-10)
        fundamentals = 10.0 * np.log10(self.fundamentals @ spectrum + 1e-10)
        short = np.abs(np.fft.rfft(frame[-SHORT:] * self.short_window)).astype(np.float32) ** 2
        short_bands = 10.0 * np.log10(self.short_bands @ short + 1e-10)
        self.history.append(bands)
        self.short_history.append(short_bands)
        self.fundamental_history.append(fundamentals)
        hearing_spectrum = self.spectrum_model is not None or self.collect_spectrum
        if hearing_spectrum:
            self.fine_history.append(10.0 * np.log10(fine_bins(WINDOW, self.rate) @ spectrum + 1e-10))
            self.short_fine_history.append(10.0 * np.log10(fine_bins(SHORT, self.rate) @ short + 1e-10))
        if len(self.history) > RECENT_HOPS + 2:
            del self.history[0]
            del self.fundamental_history[0]
            if hearing_spectrum:
                del self.fine_history[0]
        if len(self.short_history) > 2 * WINDOW // HOP:
            del self.short_history[0]
            if hearing_spectrum:
                del self.short_fine_history[0]
        found = []
        short_start_s = (self.consumed + WINDOW - SHORT) / self.rate
        for pending, last, out in ((self.pending, self.last_onset, found),
                                   (self.free_pending, self.free_last, self.free_found)):
            for pitch, (onset_s, floor, short_floor, confirm_s) in list(pending.items()):  # strikes heard before
                if short_start_s < confirm_s:
                    continue  # near a click: not yet past it
                del pending[pitch]
                if bands[pitch] - floor >= CONFIRM_DB and (not confirm_s or short_bands[pitch] - short_floor >= SHORT_RISE_DB):
                    out.append((onset_s, pitch))
                    last[pitch] = onset_s
        if self.candidates is not None:
            self._judge(self.candidates, bands, short_bands, flux, found,
                        (self.fine_history[-1], self.short_fine_history[-1]) if hearing_spectrum else None)
            self.candidates = None
        if len(self.history) <= RECENT_HOPS or flux < FLUX_MIN:
            return found
        if time_s > self.strike_until_s:  # a new strike: what the follower expects now is listened for through it
            self.strike_expected, self.strike_until_s = list(expected), time_s + STRIKE_S
        expected = self.strike_expected
        wanted = [p for p in set(expected) if LOWEST_MIDI <= p <= 108]
        others = ([p for p in range(max(free[0], LOWEST_MIDI), min(free[1], 108) + 1) if p not in wanted]
                  if free is not None else [])
        if not wanted and not others:
            return found
        recent = np.min(np.stack(self.history[-RECENT_HOPS - 1:-1]), axis=0)
        fundamental_recent = np.min(np.stack(self.fundamental_history[-RECENT_HOPS - 1:-1]), axis=0)
        # the short window's floor: before the strike entered the long window's newer half
        short_recent = np.min(np.stack(self.short_history[:max(1, len(self.short_history) - WINDOW // 2 // HOP)]), axis=0)
        if self.trees is not None or self.collect is not None:
            self._candidates(time_s, wanted, others, bands, recent, short_bands, short_recent,
                             fundamentals - fundamental_recent, flux)
            return found
        loudest_scored = max((bands[p] for p in wanted), default=0.0)
        loudest = max(bands[p] for p in wanted + others)
        for pitch in wanted + others:
            scored = pitch in wanted
            if not self._open(pitch, scored, time_s):
                continue
            rise_db, peak_db, fundamental_db = ((RISE_DB, PEAK_DB, None) if scored
                                                else (FREE_RISE_DB, FREE_PEAK_DB, FREE_FUNDAMENTAL_RISE_DB))
            around = [min(max(pitch + k, 0), 127) for k in NEIGHBOURS]
            if (bands[pitch] - recent[pitch] >= rise_db and bands[pitch] >= (loudest_scored if scored else loudest) - FLOOR_DB
                    and bands[pitch] - max(bands[around]) >= peak_db
                    and not _subharmonic(pitch, bands, recent, fundamentals, fundamental_recent, fundamental_db)):
                onset_s = time_s + ONSET_LEAD_S
                confirm_s = onset_s + CLICK_PAST_S if _near(self.click_times, onset_s) else 0.0
                (self.pending if scored else self.free_pending)[pitch] = (
                    onset_s, float(recent[pitch]), float(short_recent[pitch]), confirm_s)
        return found

    def _open(self, pitch: int, scored: bool, time_s: float) -> bool:
        """Whether ``pitch`` may start at ``time_s``: not waiting for its confirmation, not within REFRACTORY_S of its
        last onset, and, listened to score-free, the same for its score-free onsets."""
        if pitch in self.pending or time_s - self.last_onset.get(pitch, -1.0) < REFRACTORY_S:
            return False
        return scored or not (pitch in self.free_pending or time_s - self.free_last.get(pitch, -1.0) < REFRACTORY_S)

    def _candidates(self, time_s: float, wanted: list[int], others: list[int], bands, recent, short_bands,
                    short_recent, fundamental_rise, flux: float) -> None:
        """Keep this frame's candidates (a rise of GATE_DB, not just heard) for ``_judge`` at the next hop."""
        from tutor.models.piano_strikes import GATE_DB

        collecting = self.collect is not None
        pitches = [p for p in wanted if collecting or self._open(p, True, time_s)]
        scored = len(pitches)
        pitches += [p for p in others if collecting or self._open(p, False, time_s)]
        pitches_array = np.asarray(pitches, dtype=np.int64)
        rising = (bands[pitches_array] - recent[pitches_array] >= GATE_DB) if len(pitches) else np.zeros(0, bool)
        if not rising.any():
            return
        self.candidates = {"time_s": time_s, "pitches": pitches_array[rising],
                           "scored": (np.arange(len(pitches)) < scored)[rising], "bands": bands,
                           "bands_before": self.history[-2], "recent": recent, "short_recent": short_recent,
                           "short_rise": short_bands - short_recent, "fundamental_rise": fundamental_rise,
                           "flux": flux}
        if self.fine_history:  # the fine grid at this frame, for the model that hears the whole spectrum
            newer = max(1, len(self.short_fine_history) - WINDOW // 2 // HOP)
            self.candidates.update(
                fine=self.fine_history[-1], fine_2hops_before=self.fine_history[-3],
                fine_recent=np.min(np.stack(self.fine_history[-RECENT_HOPS - 1:-1]), axis=0),
                short_fine=self.short_fine_history[-1],
                short_fine_recent=np.min(np.stack(self.short_fine_history[:newer]), axis=0))

    def _judge(self, c: dict, bands_next, short_bands_next, flux_next: float, found: list,
               fine_next: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Ring (``found``) or hear score-free (``free_found``) the last frame's candidates the model calls struck;
        ``fine_next``: this hop's fine grid (long and short window), for the model that hears the whole spectrum."""
        from tutor.models.piano_strikes import features, spectrum_frame

        x = features(c["pitches"], bands=c["bands"], bands_next=bands_next, bands_before=c["bands_before"],
                     recent=c["recent"], short_rise=c["short_rise"], short_rise_next=short_bands_next - c["short_recent"],
                     fundamental_rise=c["fundamental_rise"], flux=c["flux"], flux_next=flux_next)
        frame = None
        if "fine" in c and fine_next is not None:
            frame = spectrum_frame(fine=c["fine"], fine_next=fine_next[0], fine_2hops_before=c["fine_2hops_before"],
                                   fine_recent=c["fine_recent"], short_fine=c["short_fine"],
                                   short_fine_next=fine_next[1], short_fine_recent=c["short_fine_recent"])
        if self.collect is not None:
            self.collect.append((c["time_s"], c["pitches"], x) + ((frame,) if self.collect_spectrum else ()))
            return
        odds = self._odds(c, x, frame)
        onset_s = c["time_s"] + ONSET_LEAD_S
        confirm_s = onset_s + CLICK_PAST_S if _near(self.click_times, onset_s) else 0.0
        neighbour_rule = self.spectrum_model is not None and frame is not None
        if neighbour_rule:
            for pitch, scored, p in zip(c["pitches"].tolist(), c["scored"].tolist(), odds.tolist(), strict=True):
                if not scored:
                    self.unexpected_odds[pitch] = (c["time_s"], p)
        for pitch, scored, p in zip(c["pitches"].tolist(), c["scored"].tolist(), odds.tolist(), strict=True):
            if p < (STRIKE_P if scored else FREE_STRIKE_P):
                continue
            if scored and neighbour_rule and self._neighbour_likelier(pitch, p, c["time_s"]):
                continue
            if confirm_s:  # near a click: confirmed once it has died away (the rules' short-window test)
                (self.pending if scored else self.free_pending)[pitch] = (
                    onset_s, float(c["recent"][pitch]), float(c["short_recent"][pitch]), confirm_s)
                continue
            (found if scored else self.free_found).append((onset_s, pitch))
            (self.last_onset if scored else self.free_last)[pitch] = onset_s


    def _neighbour_likelier(self, pitch: int, p: float, time_s: float) -> bool:
        """Whether a candidate the score does not expect, NEIGHBOUR_SEMITONES or fewer from ``pitch``, judged at
        ``time_s`` or NEIGHBOUR_S before it, has a P above ``p`` + NEIGHBOUR_MARGIN."""
        for step in range(1, NEIGHBOUR_SEMITONES + 1):
            for neighbour in (pitch - step, pitch + step):
                judged = self.unexpected_odds.get(neighbour)
                if judged is not None and time_s - judged[0] <= NEIGHBOUR_S + 1e-6 and judged[1] > p + NEIGHBOUR_MARGIN:
                    return True
        return False

    def _odds(self, c: dict, x: np.ndarray, frame: np.ndarray | None) -> np.ndarray:
        """P(struck) of the candidates ``c`` (their ``FEATURES`` rows ``x``, their frame's ``spectrum_frame``): the
        model that hears the whole spectrum where it is loaded, else the trees on ``x``."""
        from tutor.models.piano_strikes import spectrum_probability, strike_probability

        if self.spectrum_model is not None and frame is not None:
            return spectrum_probability(c["pitches"], x, frame, self.spectrum_model)
        return strike_probability(x, self.trees)


def strike_candidates(audio16: np.ndarray, *, first_hop: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame centres s, pitches, ``tutor.models.piano_strikes.FEATURES`` rows) of every strike candidate
    ``PianoOnsets`` keeps in ``audio16`` (16 kHz) with every pitch listened for, none judged: the strike model's
    training rows and the second listen's questions. ``first_hop``: the hop of a take that ``audio16`` begins at
    (the frames' times are then the take's)."""
    onsets = PianoOnsets(SAMPLE_RATE)
    onsets.collect = []
    onsets.consumed = first_hop * HOP
    onsets.push(audio16, [], (21, 108))
    found = onsets.collect
    if not found:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 0))
    return (np.concatenate([np.full(len(p), t) for t, p, _ in found]), np.concatenate([p for _, p, _ in found]),
            np.concatenate([x for _, _, x in found]))


def _spectrum_model():
    """The strike model that hears the whole spectrum (None without its weights)."""
    from tutor.models.piano_strikes import load_spectrum_model

    return load_spectrum_model()


def _strike_trees():
    """The learned strike model's trees (None without its weights: the rules then)."""
    from tutor.models.piano_strikes import load_trees

    return load_trees()


def _subharmonic(pitch: int, bands, recent, fundamentals, fundamental_recent, rise_db: float | None) -> bool:
    """Whether ``pitch``'s rise is a strike an octave, a twelfth or two octaves above it (whose partials are
    among its own) while its own fundamental did not rise ``rise_db`` (None: not checked)."""
    if rise_db is None or pitch < FUNDAMENTAL_FROM_MIDI:
        return False
    if not any(pitch + k <= 108 and bands[pitch + k] - recent[pitch + k] >= RISE_DB for k in SUBHARMONIC_OF):
        return False
    return fundamentals[pitch] - fundamental_recent[pitch] < rise_db


def _near(times: np.ndarray, time_s: float) -> bool:
    """Whether a click of ``times`` (sorted) was scheduled within CLICK_NEAR_S of ``time_s``."""
    if not len(times):
        return False
    i = int(np.searchsorted(times, time_s - CLICK_NEAR_S[1]))
    return i < len(times) and times[i] <= time_s - CLICK_NEAR_S[0]


def follower_expectation(follower, ahead: int = 2) -> list[int]:
    """The pitches of the follower's current chord and the ``ahead`` chords after it (a
    ``tutor.practice.follower.ScoreFollower``; another follower's ``expected_pitches()``)."""
    inner = getattr(follower, "current", None) or follower  # a LoopFollower's pass in progress
    try:
        chord, chords, notes = inner.chord, inner.chord_notes, inner.notes
        first = max(chord, 0)
        return sorted({notes[i].pitch for c in range(first, min(first + ahead + 1, len(chords))) for i in chords[c]})
    except (AttributeError, IndexError, TypeError):
        try:
            return list(follower.expected_pitches())
        except Exception:  # noqa: BLE001 - read from another thread while the follower moves: no marks this hop
            return []


def follower_range(follower) -> tuple[int, int] | None:
    """The lowest and highest pitch of the follower's score (a ``ScoreFollower`` or a ``LoopFollower``), the range
    listened to score-free (``PianoOnsets.push(free=...)``; None: not listened to, as for a follower with no ``hear``
    or while FREE_LISTEN is off)."""
    inner = getattr(follower, "current", None) or follower
    notes = getattr(inner, "notes", None)
    if not FREE_LISTEN or not notes or not callable(getattr(inner, "hear", None)):
        return None
    pitches = [n.pitch for n in notes]
    return min(pitches), max(pitches)


class PianoLiveListener:
    """``PianoOnsets`` on its own thread from a recorder's tap (``start``/``stop``); ``expected()``
    gives the pitches the follower expects next (called on this thread); ``on_onset(onset_s, midi)``
    for each one heard. ``analysed`` keeps (stream time of the newest sample, perf_counter) per push."""

    def __init__(self, recorder, expected: Callable[[], list[int]], *, on_onset: Callable | None = None,
                 on_time: Callable | None = None, on_ready: Callable | None = None,
                 on_failed: Callable | None = None, free: tuple[int, int] | None = None,
                 on_free: Callable | None = None) -> None:
        self.recorder, self.expected = recorder, expected
        self.on_onset, self.on_time, self.on_ready, self.on_failed = on_onset, on_time, on_ready, on_failed
        self.free, self.on_free = free, on_free  # the range listened to score-free, and where its onsets go
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-piano", daemon=True)
        self.onsets: list[tuple[float, int]] = []
        self.analysed: list[tuple[float, float]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    clicks: tuple[np.ndarray, float] = (np.zeros(0), 0.0)

    def set_clicks(self, times_s, count_in_s: float = 0.0) -> None:
        """The app's metronome/count-in clicks, in stream seconds (from any thread): a strike heard where
        one was played is confirmed once the click has died away, and nothing is heard before the count-in
        ends (less ``COUNT_IN_EARLY_S``)."""
        self.clicks = (np.asarray(sorted(times_s), dtype=np.float64), float(count_in_s))

    def _run(self) -> None:
        from tutor.audio.devices import StreamResampler, to_mono

        try:
            rate = self.recorder.source.sample_rate
            resampler = StreamResampler(orig_sr=rate, target_sr=SAMPLE_RATE, causal=True)
            onsets = PianoOnsets(SAMPLE_RATE)
        except Exception as error:  # noqa: BLE001 - a worker thread: reported, not raised
            if self.on_failed is not None:
                self.on_failed(str(error))
            return
        if self.on_ready is not None:
            self.on_ready()
        tap = self.recorder.tap

        while not self._stop.is_set():
            if not tap.wait(HOP, timeout_s=0.05):
                if self.recorder.finished:
                    break
                continue
            block = resampler.process(to_mono(tap.read()))
            if not len(block):
                continue
            onsets.click_times, count_in_s = self.clicks
            heard = onsets.push(block, self.expected, self.free)
            for onset_s, midi in onsets.free_found:
                if onset_s >= count_in_s - COUNT_IN_EARLY_S and self.on_free is not None:
                    self.on_free(onset_s, midi)
            for onset_s, midi in heard:
                if onset_s < count_in_s - COUNT_IN_EARLY_S:
                    continue  # the count-in: its clicks, not the piece
                self.onsets.append((onset_s, midi))
                if self.on_onset is not None:
                    self.on_onset(onset_s, midi)
            heard_s = (onsets.consumed + len(onsets.buffer)) / SAMPLE_RATE
            self.analysed.append((heard_s, time.perf_counter()))
            if self.on_time is not None:
                self.on_time(heard_s)
            if len(self.analysed) > 20000:
                del self.analysed[:10000]
