"""From audio to notes: a pitch track (``tutor.listen.pitch``) segmented into notes with intonation.

``transcribe_file(path)`` and ``transcribe(audio, sample_rate)`` give a frozen ``Transcription`` whose
``performance`` is a ``tutor.score.music.Performance``: notes with onset and offset in seconds, MIDI pitch,
``cents`` off that pitch and a confidence, plus the 10 ms pitch track. ``read_audio`` reads any file
soundfile or librosa reads, as mono float32. How the pitch track becomes notes (a note HMM, then
note-level repairs) is described at ``notes_and_f0``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tutor.errors import InputFileError, TutorError
from tutor.listen.pitch import (
    HOP_S,
    MODEL_SAMPLE_RATE,
    VOICING_THRESHOLD,
    F0Track,
    get_tracker,
)
from tutor.score.music import Performance, PlayedNote, hz_to_midi, midi_to_hz

log = logging.getLogger(__name__)

LOW_MIDI = 24  # C1
HIGH_MIDI = 108  # C8
MIN_NOTE_S = 0.05  # shorter segments are glides or blips (notes of 60 ms survive frame rounding)
SETTLE_S = 0.04
SIGMA_CENTS = 45.0  # width of a note's emission
CAP_CENTS = 250.0  # beyond this, a frame is "elsewhere" however far it is
OCTAVE_SLIP_COST = 1.5  # extra cost per frame of hearing the note's octave instead of the note
UNVOICED_ON_NOTE_COST = 1.2  # per unvoiced frame held inside a note (short dropouts, consonants)
VOICED_IN_SILENCE_COST = 4.0  # per voiced frame left out of every note
CHANGE_COST = 5.0  # note -> another note
ONSET_COST = 3.0  # silence -> note, note -> silence
REARTICULATION_DB = 2.5  # a dip this deep (fall and recovery) inside a held pitch starts a repeated note
VIBRATO_PERIOD_S = (0.13, 0.23)  # dips recurring this often are a vibrato's level modulation...
VIBRATO_DIP_FACTOR = 2.2  # ...and only a dip off their beat or this much deeper is a re-articulation
SWELL_PERIOD_S = (0.13, 0.4)  # dips recurring this often through a note, with no confidence gap...
SWELL_DIP_DB = 8.0  # ...and shallower than this, are a swell (a sampled wind's loop, a slow vibrato)
ATTACK_WINDOW_S = 0.05
CUT_ATTACK = 0.3  # a dip splits a held pitch only with an attack this strong at or after it
CUT_ATTACK_BEFORE = 2  # frames
CONF_DIP_RATIO = 0.5  # ...or with the tracker's confidence this far under its local median (a gap)
CONF_DIP_REACH = 3  # frames
CONF_CONTEXT_S = 0.2
GAP_REARTICULATION_DB = 2.0  # the dip needed when both an attack and a confidence gap come with it
CUT_BACK_FRAMES = 4  # a cut moves back to a spectral-flux burst this close before the dip's bottom...
CUT_FLUX = 1.2  # ...of this strength (x the clip's 95th percentile): the new note's bow or tongue stroke
LEVEL_LEAD_FRAMES = 0
ATTACK_SNAP_S = 0.08  # a note start moves to an attack this close; splits need attacks further in
MIN_CONFIDENCE = 0.25
SCOOP_MAX_S = 0.2  # a gliding segment this short next to a note is its scoop or fall
REPEAT_MIN_S = 0.1  # ...but one of the same pitch (a cut made it) only when shorter than this
GLIDE_SEMITONES = 0.4
SETTLED_CENTS = 20.0  # a short neighbour note between two of the same pitch is a note when its pitch stays this
SETTLED_FRAMES = 5  # ...close for this many frames (a vibrato's crest passes through in two or three)
TAIL_DB = 15.0  # frames this far below the loudest frame around them are a release/reverb tail
TAIL_BACK_S = 1.0
TAIL_AHEAD_S = 0.3  # notes whose mean confidence is lower are dropped
ONSET_FLUX = 0.5  # a flux burst this strong (x the clip's 95th percentile) marks a note's attack...
ONSET_BACK_S = 0.05  # ...up to this long before the start the pitch path gave (never later)
FLUX_LAG_FRAMES = 1  # librosa's flux at frame i compares frames i-2 and i: the change sits one frame earlier
WINDOW_LAG_S = 0.06  # a tracker's centred window hears the previous note this far into an attacked one
ON_PITCH_REACH_S = 0.1  # after a rest, a note starts where its pitch is heard, looked for this far in...
ON_PITCH_LEAD_FRAMES = 1  # ...less this many frames (the tracker's window reaches ahead of its centre)
DECAY_DB_PER_S = 8.0  # a note whose level falls this fast is dying away (struck or plucked)...
DECAY_SPAN_S = 0.3  # ...measured over this long before a new stroke (a vibrato's swells average out),
DECAY_SETTLE_S = 0.1  # from this long (at most half the span) after the loudest frame in it
STROKE_RISE_DB = 3.0  # a level rise this large within ATTACK_WINDOW_S (or a flux burst) is a new stroke
RING_FALL_DB_PER_S = 30.0  # past its pitched part a note still sounds while its level falls no faster
RING_MARGIN_DB = 4.0  # ...than this (a held piano key: 10-25 dB/s; a damper or a stopped breath: 150+)
RING_FLOOR_DB = 6.0  # ...and stays this far above the clip's noise floor (its 5th-percentile level)
# the learned segmenter (issue 22: tutor.models.note_onsets; "rules": the note HMM and its repairs)
SEGMENTER = "rules"  # the default; segmenter_for picks "learned" for LEARNED_INSTRUMENTS
LEARNED_INSTRUMENTS = ("voice", "violin")  # where the learned onsets beat the rules on real recordings
LEARNED_TRACKERS = ("pesto",)  # the tracker whose frames the onset model was trained on
ONSET_THRESHOLD = 0.3  # a peak of P(onset) this high starts a note...
ONSET_MIN_GAP_S = 0.1  # ...at least this long after the one before...
ONSET_PROMINENCE = 0.3  # ...and standing this far above the curve between them (both chosen on the tuning
# split of tests/bench/bench_real_sound.py: 0.06 / 0.2 gave SSVD 0.700, violin 0.734 at 50 ms; 0.1 / 0.3 0.713, 0.742)
GAP_END_S = 0.08  # a note ends where the voice stops for this long (a breath, a rest)...
END_AFTER_VOICED_S = 0.0  # ...or this long after its last voiced frame before the next note


@dataclass(frozen=True)
class Transcription:
    performance: Performance
    tracker: str
    sample_rate: int  # of the input audio
    f0: F0Track

    @property
    def notes(self) -> tuple[PlayedNote, ...]:
        return self.performance.notes


# ---------------------------------------------------------------------------------------------
# reading audio
# ---------------------------------------------------------------------------------------------
def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) of any file soundfile or librosa reads."""
    from tutor.safety import MAX_AUDIO_BYTES, check_readable

    path = check_readable(path, max_bytes=MAX_AUDIO_BYTES)
    import soundfile

    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
    except (soundfile.SoundFileError, OSError) as first_error:  # not a libsndfile format: try librosa (ffmpeg)
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                audio, rate = librosa.load(str(path), sr=None, mono=True)
        except Exception:  # noqa: BLE001 - librosa's backends (audioread, ffmpeg) raise any type on an unreadable file
            raise InputFileError(f"cannot be read as audio ({_short(first_error)})", path=path) from None
    if not np.all(np.isfinite(audio)):
        raise InputFileError("contains invalid samples (NaN or infinity)", path=path)
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------
TRACKING_SHARE = 0.95  # of the progress reported: the pitch tracking, block by block (the notes come after)


def transcribe_file(path: str | Path, *, tracker: str | None = None, device: str = "auto",
                    progress=None, instrument: str | None = None) -> Transcription:
    """The notes of an audio file, read and analysed in blocks of about 5 s (``tutor.listen.blocks``):
    memory stays bounded whatever the length (an hour of practice included), and the notes and pitch
    track are those of analysing the whole clip at once. ``progress(fraction, text)``, if given, is called
    after each block and before the notes are found (``fraction`` 0..1, None when the file does not say
    its length); it may raise to cancel the transcription. ``instrument`` ("voice", "violin", ...) picks
    the segmentation (``segmenter_for``)."""
    from tutor.listen.blocks import read_pieces

    audio = read_pieces(path)
    return _transcribe_pieces(audio.pieces, audio.sample_rate, audio.length, tracker=tracker, device=device,
                              progress=progress, source_path=Path(path), instrument=instrument)


def transcribe(audio: np.ndarray, sample_rate: int, *, tracker: str | None = None, device: str = "auto",
               progress=None, instrument: str | None = None) -> Transcription:
    """Notes of a mono (or (frames, channels)) numpy clip at any sample rate (live/worker use), analysed
    block by block as ``transcribe_file`` does."""
    from tutor.listen.blocks import array_pieces

    audio = np.asarray(audio)
    return _transcribe_pieces(array_pieces(audio), sample_rate, len(audio), tracker=tracker, device=device,
                              progress=progress, instrument=instrument)


def _transcribe_pieces(pieces, sample_rate: int, length: int | None, *, tracker: str | None, device: str,
                       progress=None, source_path: Path | None = None, instrument: str | None = None) -> Transcription:
    """Mono float32 pieces at ``sample_rate`` -> resampled to 16 kHz -> blocks of frames -> the tracker's
    frames, their levels and the spectral flux (compact per-frame arrays) -> notes."""
    with AudioSpill() as spill:
        # the samples are kept for the note pitches and the learned onsets' harmonic features
        keep = REFINE_PITCH or instrument in LEARNED_INSTRUMENTS
        chosen, f0, flux = _track_pieces(pieces, sample_rate, length, tracker=tracker, device=device,
                                         progress=progress, spill=spill if keep else None)
        if progress is not None:
            progress(TRACKING_SHARE, "notes")
        tracked = f0
        notes, f0 = notes_and_f0(f0, onset_strength=flux, segmenter=segmenter_for(instrument, chosen.name),
                                 instrument=instrument, read=spill.read if keep else None)
        if REFINE_PITCH:
            notes = refine_note_pitches(notes, tracked, spill.read)
        if keep:
            notes = add_double_stops(notes, spill.read, instrument)
    performance = Performance(notes=notes, pitch_track=f0.to_pitch_track(), source_path=source_path)
    if progress is not None:
        progress(1.0, "done")
    return Transcription(performance=performance, tracker=chosen.name, sample_rate=int(sample_rate), f0=f0)


def track_file(path: str | Path, *, tracker: str | None = None, device: str = "auto"):
    """(the tracker's ``F0Track``, the spectral flux or None) of an audio file: what ``transcribe_file``
    segments into notes (``notes_and_f0(f0, onset_strength=flux)``), for benchmarks that try the
    segmentation many times on one analysis."""
    from tutor.listen.blocks import read_pieces

    audio = read_pieces(path)
    _, f0, flux = _track_pieces(audio.pieces, audio.sample_rate, audio.length, tracker=tracker, device=device)
    return f0, flux


def _track_pieces(pieces, sample_rate: int, length: int | None, *, tracker: str | None, device: str,
                  progress=None, spill: AudioSpill | None = None):
    """(tracker, F0Track, spectral flux or None) of mono float32 pieces, block by block (the 16 kHz
    samples also go to ``spill`` when given, for ``refine_note_pitches``)."""
    from tutor.listen.blocks import OnsetFlux, iter_blocks, release_freed_memory, resample_pieces

    if sample_rate <= 0:
        raise TutorError(f"sample rate must be positive, not {sample_rate}")
    chosen = get_tracker(tracker, device=device)
    hop = round(HOP_S * MODEL_SAMPLE_RATE)
    context = -(-max(chosen.context_samples, OnsetFlux.N_FFT // 2) // hop) * hop  # whole hops
    expected = length * MODEL_SAMPLE_RATE / sample_rate if length else None
    track = chosen.open_blocks()
    done = 0
    with OnsetFlux(MODEL_SAMPLE_RATE, hop) as onsets:
        resampled = resample_pieces(pieces, sample_rate, MODEL_SAMPLE_RATE)
        for block in iter_blocks(spill.tee(resampled) if spill is not None else resampled,
                                 block_frames=chosen.block_frames, context=context, hop=hop):
            track.push(block)
            onsets.push(block)
            release_freed_memory()
            done = block.end if block.last else block.stop * hop
            if progress is not None:
                fraction = TRACKING_SHARE * min(1.0, done / expected) if expected else None
                progress(fraction, f"pitch {_clock(done / MODEL_SAMPLE_RATE)}"
                         + (f" of {_clock(expected / MODEL_SAMPLE_RATE)}" if expected else ""))
        f0 = track.finish()
        flux = onsets.flux() if done > 2048 else None  # as _attack_strength computes it from the clip
    return chosen, f0, flux


def segmenter_for(instrument: str | None, tracker: str) -> str:
    """"learned" for an instrument in LEARNED_INSTRUMENTS heard through a tracker the onset model was
    trained on (tests/bench/bench_real_sound.py: real singers and violin), else SEGMENTER (the note HMM
    rules, which stay ahead on rendered melodies of other instruments and on struck strings)."""
    return "learned" if instrument in LEARNED_INSTRUMENTS and tracker in LEARNED_TRACKERS else SEGMENTER


VOICE_PROGRAMS = range(52, 55)  # General MIDI choir aahs, voice oohs, synth voice
VIOLIN_PROGRAMS = (40,)
VOICE_WORDS = ("voice", "vocal", "voix", "stimme", "soprano", "alto", "tenor", "baritone", "singer", "choir")


def part_instrument(part) -> str | None:
    """"voice" or "violin" for a score part written for it (General MIDI program or part name), else None."""
    name = (getattr(part, "name", "") or "").lower()
    program = getattr(part, "program", None)
    if program in VOICE_PROGRAMS or any(word in name for word in VOICE_WORDS):
        return "voice"
    if program in VIOLIN_PROGRAMS or "violin" in name:
        return "violin"
    return None


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}:{rest:02d}"


# ---------------------------------------------------------------------------------------------
# segmentation
# ---------------------------------------------------------------------------------------------
def notes_from_track(f0: F0Track, audio16: np.ndarray | None = None) -> tuple[PlayedNote, ...]:
    """Segment a pitch track into notes (``audio16``: the same clip at 16 kHz, for attacks)."""
    return _notes_and_flux(f0, audio16)[0]


def notes_and_f0(f0: F0Track, audio16: np.ndarray | None = None, *, onset_strength: np.ndarray | None = None,
                 segmenter: str | None = None, instrument: str | None = None,
                 read=None, flux_p95: float | None = None,
                 level_max_db: float | None = None) -> tuple[tuple[PlayedNote, ...], F0Track]:
    """The notes of a pitch track, and the track with each attacked note's first frames on its pitch.

    ``segmenter`` "learned" (``segmenter_for``: voice and violin takes; issue 22): notes start at the peaks of a learned
    onset curve (``tutor.models.note_onsets``: gradient-boosted trees on the flux, level, confidence and
    pitch movement around each frame and the kind of ``instrument``, trained on real singers, violin and
    renders, and on the energy of the pitch's harmonics measured from the audio: ``read(lo, hi)`` its 16 kHz
    samples, else ``audio16``) and end at the next onset or where the voice stops (``_learned_notes``); it replaced the rules below where they lost on
    real recordings (tests/bench/bench_real_sound.py, numbers in docs/benchmarks.md). "rules" (the
    default, ``SEGMENTER``), or when the weights are missing:

    Segmentation is a Viterbi pass over a small note HMM (one state per semitone plus silence) on the
    10 ms pitch track, then a few note-level repairs:

    * each frame's emission is a capped Gaussian of its distance in cents to the state's semitone, so the
      path changes note only when the pitch *stays* elsewhere for a while: a vibrato of +-80 cents or a
      scoop stays one note, and a real note of 60 ms is long enough to win over the change penalty;
    * a frame an octave off the current note costs little on that note (trackers' octave slips);
    * unvoiced frames (tracker confidence, silence gate) favour silence: breaths and noise make no notes;
      so do frames 15 dB under the loudest frame of the last second, or since the latest strong attack
      (release and reverb tails);
    * change penalties drop where the level and the spectral flux show an attack, and a note is split
      where the pitch stays (repeated notes of the same pitch) at a dip in the level that comes with an
      attack (level rise or flux) or with a dip in the tracker's confidence (the gap between the notes):
      a dip alone is a vibrato's or a bow's swell, so a note whose vibrato sets in stays one note; the
      cut goes to the flux burst of the new stroke when a fading release puts the level's low point later;
    * a held pitch is also split where it is struck again while it still sounds (a piano's legato repeated
      note: a flux burst with a level rise or a confidence gap; the decay hides the dip), and a same-pitch
      note after a held one that starts with no attack of its own is that note's decay heard again past
      the tail gate: joined to it (``_split_struck_repeats``, ``_join_decay_fragments``);
    * a note start moves back to the spectral-flux burst of its attack when the pitch showed late (the
      tracker's analysis window still heard the previous note), and the pitch track's first frames of such
      an attacked note, up to ``WINDOW_LAG_S``, take the note's pitch where the tracker still gave the
      previous note's (``f0_from_attacks``): singing's glides, which have no such attack or settle later,
      keep their f0;
    * a note after a rest starts where its pitch is first heard (a sung consonant or breath before it is
      not the note);
    * a struck or plucked note (its level dying away) lasts while it rings at its pitch, up to the next
      note, not only while the tracker is confident of it (``_ring_on``): a held piano key is not a short
      note;
    * glide segments shorter than ``MIN_NOTE_S`` are merged into the note they lead to, isolated ones are
      dropped; short gliding segments joined to a note without an attack (scoops, falls) join that note;
      the pitch of a note is the trimmed mean over its stable part (frames within a semitone of the note,
      after the first ``SETTLE_S`` when a scoop would pull it), ``cents`` the deviation from it.

    ``flux_p95`` and ``level_max_db``: when ``f0`` is a part of a take (the live path's window,
    ``tutor.listen.windowed_notes``), the take's flux percentile and loudest level so far, by which the flux and the
    levels are scaled instead of those of the frames given (None: theirs, as for a whole take).
    """
    if read is None and audio16 is not None:
        read = array_reader(audio16)
    notes, flux = _notes_and_flux(f0, audio16, onset_strength, segmenter, instrument, read, flux_p95=flux_p95,
                                  level_max_db=level_max_db)
    # (with the learned notes, keeping the tracker's own frames instead gives held-out MIR-1K RPA 0.980
    # instead of 0.975 but the voice and violin renders 0.968 instead of 0.970 (issue 22): kept as it was)
    return notes, f0_from_attacks(f0, notes, flux)


def _notes_and_flux(f0: F0Track, audio16: np.ndarray | None, onset_strength: np.ndarray | None = None,
                    segmenter: str | None = None, instrument: str | None = None,
                    read=None, *, flux_p95: float | None = None,
                    level_max_db: float | None = None) -> tuple[tuple[PlayedNote, ...], np.ndarray]:
    n = len(f0)
    if n == 0 or not f0.voiced.any():
        return (), np.zeros(n)
    voiced = f0.voiced & (f0.f0_hz > 0)
    midi = np.where(voiced, _semitones(f0.f0_hz), np.nan)
    voiced &= (midi >= LOW_MIDI - 0.5) & (midi <= HIGH_MIDI + 0.5)
    attack, rearticulation, flux = _attack_strength(f0.level_db, audio16, n, onset_strength, flux_p95=flux_p95)
    if (segmenter or SEGMENTER) == "learned":
        learned = _learned_notes(f0, midi, voiced, flux, instrument, read, level_max_db=level_max_db,
                                 flux_scaled=flux_p95 is not None)
        if learned is not None:
            return learned, flux
    voiced &= ~_tail(f0.level_db, attack)
    path = _viterbi(midi, voiced, f0.confidence, attack)
    segments = _segments(path)
    dips = _confidence_dips(f0.confidence)
    segments = _split_struck_repeats(segments, f0.level_db, dips, flux, midi)
    segments = _split_at_attacks(segments, attack, rearticulation, f0.level_db, dips, flux)
    segments = _absorb_glides(segments, midi, attack, f0.level_db)
    segments = _starts_at_flux(segments, flux)
    segments = _starts_on_pitch(segments, f0.f0_hz)
    notes = []
    hop = f0.hop_s
    threshold = VOICING_THRESHOLD.get(f0.tracker, 0.5)
    for state, start, end in segments:
        note = _make_note(state, start, end, midi, voiced, f0.confidence, hop, threshold)
        if note is not None:
            notes.append(note)
    notes = _join_decay_fragments(tuple(notes), f0.level_db, flux, hop)
    return _ring_on(notes, f0.level_db, f0.f0_hz, hop), flux


def _learned_notes(f0: F0Track, midi: np.ndarray, voiced: np.ndarray, flux: np.ndarray,
                   instrument: str | None = None, read=None, *, level_max_db: float | None = None,
                   flux_scaled: bool = False) -> tuple[PlayedNote, ...] | None:
    """Notes between the peaks of the learned onset curve (``tutor.models.note_onsets``; None without its
    weights). A note starts at a peak of P(onset) of at least ONSET_THRESHOLD (peaks ONSET_MIN_GAP_S
    apart, standing ONSET_PROMINENCE above the curve between them), or where a voiced run with no peak in
    it starts, and ends at the next onset or where the voice stops for GAP_END_S; its pitch is
    ``_make_note``'s (the trimmed mean of its settled frames), and a note too unsure of its pitch is
    dropped as the rules' notes are. A struck note still rings on (``_ring_on``)."""
    from scipy.signal import find_peaks

    from tutor.models.note_onsets import onset_probability

    prob = onset_probability(midi, voiced, f0.confidence, f0.level_db, flux, instrument=instrument, read=read,
                             flux_p95=1.0 if flux_scaled else None, level_max_db=level_max_db)
    if prob is None:
        return None
    n = len(f0)
    hop = f0.hop_s
    peaks, _ = find_peaks(np.concatenate([[0.0], prob, [0.0]]), height=ONSET_THRESHOLD,
                          distance=max(1, round(ONSET_MIN_GAP_S / hop)), prominence=ONSET_PROMINENCE)
    peaks = peaks - 1
    onsets = set(int(p) for p in peaks)
    # voiced runs (dropouts of up to 2 frames bridged) that no peak falls in start a note of their own
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]])))
    starts, stops = edges[::2], edges[1::2]
    keep = np.concatenate([[True], starts[1:] - stops[:-1] > 2]) if len(starts) else np.zeros(0, bool)
    run_starts = starts[keep]
    run_stops = np.concatenate([stops[np.flatnonzero(keep)[1:] - 1], stops[-1:]]) if len(starts) else stops
    minimum = round(MIN_NOTE_S / hop)
    for start, stop in zip(run_starts, run_stops, strict=True):
        if stop - start >= minimum and not np.any((peaks >= start - 5) & (peaks < stop)):
            onsets.add(int(start))
    ordered = sorted(onsets)
    gap = max(1, round(GAP_END_S / hop))
    threshold = VOICING_THRESHOLD.get(f0.tracker, 0.5)
    notes = []
    for i, onset in enumerate(ordered):
        stop = ordered[i + 1] if i + 1 < len(ordered) else n
        span = voiced[onset:stop]
        if not span.any():
            continue
        first = onset + int(np.argmax(span))
        end = stop
        silent = np.flatnonzero(np.convolve(~voiced[first:stop], np.ones(gap, int), mode="valid") == gap)
        if len(silent):
            end = first + int(silent[0])
        last_voiced = first + int(np.flatnonzero(voiced[first:end])[-1]) + 1
        end = max(min(end, last_voiced + round(END_AFTER_VOICED_S / hop)), onset + 1)
        values = midi[onset:end][voiced[onset:end]]
        if len(values) < 3:
            continue
        settled = values[len(values) // 4:] if len(values) >= 8 else values
        pitch = int(round(float(np.median(settled))))
        if not LOW_MIDI <= pitch <= HIGH_MIDI:
            continue
        note = _make_note(pitch - LOW_MIDI + 1, onset, end, midi, voiced, f0.confidence, hop, threshold)
        if note is not None:
            notes.append(note)
    return _ring_on(tuple(notes), f0.level_db, f0.f0_hz, hop)


def _split_struck_repeats(segments, level_db, confidence_dip, flux, midi):
    """Split a held pitch where the string is struck again while it still sounds (piano, guitar, harp:
    a repeated note played legato): a spectral-flux burst of CUT_FLUX with a level rise of
    STROKE_RISE_DB or a gap in the tracker's confidence. The old note's decay hides the level dip
    that ``_split_at_attacks`` needs (its depth is measured over 100 ms, where a decay already falls
    as far), so these strokes were merged into one long note. The cut goes to the level's low point
    just before the rise (the hammer's noise comes first in the flux)."""
    if not flux.any():
        return segments
    window = max(1, round(ATTACK_WINDOW_S / HOP_S))
    near = round(ATTACK_SNAP_S / HOP_S)
    minimum = round(MIN_NOTE_S / HOP_S)
    level = np.maximum(level_db, -80.0)
    out = []
    for state, start, end in segments:
        previous = start
        t = start + near
        while t < end - minimum:
            if flux[t] >= CUT_FLUX:
                lo = max(previous, t - window - FLUX_LAG_FRAMES)
                low = lo + int(np.argmin(level[lo:t + 1]))
                rise = float(level[t:t + window + 1].max() - level[low])
                gap = confidence_dip[max(t - CONF_DIP_REACH, 0):t + CONF_DIP_REACH + 1].min(initial=1.0) <= CONF_DIP_RATIO
                # the same pitch on after the stroke: at a change the pitch path is late (its flux burst
                # is not a repeat) - a change of the note belongs to the Viterbi pass and _starts_at_flux
                after = midi[t + 1:t + window + 1]
                after = after[~np.isnan(after)]
                same = len(after) > 0 and abs(float(np.median(after)) - (LOW_MIDI + state - 1)) < 0.5
                if ((rise >= STROKE_RISE_DB or gap) and same and low - previous > near and _decaying(level, previous, low)
                        and not _fell_as_low_before(level, previous, low) and not _swelled(level, previous, low)):
                    out.append([state, previous, low])
                    previous = low
                    t = low + near
                    continue
            t += 1
        out.append([state, previous, end])
    return out


def _fell_as_low_before(level: np.ndarray, start: int, low: int) -> bool:
    """The level already fell as low as at ``low`` earlier in the note, past its first SWELL_PERIOD_S[0]
    and a swell's length before ``low``: a held note swelling and fading again and again (a sampled
    wind's loop), not a struck note dying away, whose level only ever falls until it is struck again."""
    first, last = start + round(SWELL_PERIOD_S[0] / HOP_S), low - round(SWELL_PERIOD_S[0] / HOP_S)
    return last > first and float(level[first:last].min()) <= float(level[low]) + 1.0


def _swelled(level: np.ndarray, start: int, low: int) -> bool:
    """The level fell and rose again by STROKE_RISE_DB or more (each side of a valley, the rise within
    SWELL_PERIOD_S[0]) between the note's first SWELL_PERIOD_S[0] and ``low``: a held note swelling and
    fading (a sampled wind's loop, whose troughs can deepen from one swell to the next), not a struck
    note, whose level only falls until it is struck again. A blown note's slow attack or crescendo
    rises with no fall before it."""
    reach = round(SWELL_PERIOD_S[0] / HOP_S)
    first = start + reach
    if low - first <= 2 * reach:
        return False
    span = level[first:low + 1]
    fell = np.maximum.accumulate(span)[:-reach] - span[:-reach]
    rose = np.lib.stride_tricks.sliding_window_view(span[1:], reach).max(axis=1) - span[:-reach]
    return bool(np.minimum(fell, rose).max() >= STROKE_RISE_DB)


def _decaying(level: np.ndarray, start: int, stop: int) -> bool:
    """The level falls towards ``stop`` at DECAY_DB_PER_S or faster (a least-squares slope from
    DECAY_SETTLE_S after the loudest frame of the DECAY_SPAN_S before ``stop``, not before ``start``): a
    struck or plucked string dying away, not a held (bowed, blown, sung) note, whose vibrato and swells
    bring flux bursts and level rises of their own."""
    first = max(start, stop - round(DECAY_SPAN_S / HOP_S))
    first += int(np.argmax(level[first:stop])) if stop > first else 0  # the loudest frame (the attack)...
    first += min(round(DECAY_SETTLE_S / HOP_S), (stop - first) // 2)  # ...past a blown attack's overshoot
    if stop - first < 5:
        return False
    slope = np.polyfit(np.arange(stop - first) * HOP_S, level[first:stop], 1)[0]
    return bool(slope <= -DECAY_DB_PER_S)


def _rise_at(level: np.ndarray, frame: int, window: int) -> float:
    """How far the level rises at ``frame``: the loudest of the ``window`` frames from it less the
    quietest of the ``window`` frames up to it (a new stroke rises STROKE_RISE_DB or more)."""
    return float(level[frame:frame + window + 1].max(initial=-np.inf) - level[max(0, frame - window):frame + 1].min(initial=np.inf))


def _join_decay_fragments(notes, level_db, flux, hop):
    """A note of the same pitch as the note before, within TAIL_BACK_S of its end, that starts with no
    attack of its own (no flux burst of ONSET_FLUX, no rise of STROKE_RISE_DB) is the decay of that
    note heard again once the tail gate's reference (the loudest frame of the last TAIL_BACK_S) has
    moved past its attack: a held piano note came out as the note and a fragment (an extra note)
    0.1-0.7 s later. The fragment is joined to the note (its offset), not kept as a note."""
    window = max(1, round(ATTACK_WINDOW_S / hop))
    level = np.maximum(level_db, -80.0)
    out: list[PlayedNote] = []
    for note in notes:
        before = out[-1] if out else None
        if before is not None and note.pitch == before.pitch and 0 < note.onset_s - before.offset_s <= TAIL_BACK_S:
            start = round(note.onset_s / hop)
            burst = float(flux[max(0, start - 2):start + 3].max(initial=0.0))
            rise = _rise_at(level, start, window)
            if burst < ONSET_FLUX and rise < STROKE_RISE_DB:
                out[-1] = replace(before, offset_s=note.offset_s)
                continue
        out.append(note)
    return tuple(out)


def _ring_on(notes, level_db: np.ndarray, f0_hz: np.ndarray, hop: float) -> tuple[PlayedNote, ...]:
    """A struck or plucked note's offset is where its sound stops, not where its pitch fades under the
    tail gate: a held piano key's note dies away slowly and the tracker loses it 15 dB down, 0.3-1 s in,
    however long the key is held, so a half note would read as "short". From the pitched part's end the
    note rings on while the level stays above a line falling at RING_FALL_DB_PER_S (less RING_MARGIN_DB),
    above the clip's noise floor, and the tracker (voiced or not) still hears the note's pitch class in
    most frames, up to the next note. A released key (dampers) falls faster than that and ends the note
    where it is; a held (bowed, blown, sung) note, which does not die away, ends where its pitch does. A
    note of the same pitch that the ringing reaches, and that starts with no level rise of a new stroke,
    is the same note's decay beating back over the tail gate: it is joined to the note."""
    if not notes:
        return notes
    level = np.maximum(np.asarray(level_db, dtype=float), -100.0)
    floor = float(np.percentile(level, 5)) + RING_FLOOR_DB
    semitones = _semitones(np.asarray(f0_hz, dtype=float))
    window = max(1, round(ATTACK_WINDOW_S / hop))

    def rung(note: PlayedNote, stop: int) -> PlayedNote:
        end = min(round(note.offset_s / hop), len(level) - 1)
        if stop <= end or not _decaying(level, round(note.onset_s / hop), end):
            return note
        start_db = float(level[max(0, end - 1)])
        allowed = start_db - RING_MARGIN_DB - RING_FALL_DB_PER_S * hop * np.arange(stop - end)
        off = np.abs((semitones[end:stop] - note.pitch + 6.0) % 12.0 - 6.0)  # octave slips allowed
        heard = np.convolve(np.pad((off < 1.0).astype(float), 2, mode="edge"), np.ones(5) / 5, mode="valid") >= 0.5
        ok = (level[end:stop] >= allowed) & (level[end:stop] > floor) & heard
        rings = int(np.argmin(ok)) if not ok.all() else len(ok)
        return replace(note, offset_s=round((end + rings) * hop, 4)) if rings > 0 else note

    out: list[PlayedNote] = []
    rang_to_next = False  # the last note rang on across a gap up to this note's start
    for i, note in enumerate(notes):
        start = round(note.onset_s / hop)
        if rang_to_next and out[-1].pitch == note.pitch:
            rise = _rise_at(level, start, window)
            if rise < STROKE_RISE_DB:
                note = replace(out.pop(), offset_s=note.offset_s)
        stop = round(notes[i + 1].onset_s / hop) if i + 1 < len(notes) else len(level)
        out.append(rung(note, stop))
        rang_to_next = out[-1].offset_s > note.offset_s and round(out[-1].offset_s / hop) >= stop
    return tuple(out)


def _starts_at_flux(segments, flux):
    """Move the start of a note that follows another of a different pitch back to the flux burst of its
    attack (up to ONSET_BACK_S earlier): the new attack is quieter than the old note's sound for a few
    tens of ms, so the pitch path changes late while the spectrum already changes at the attack."""
    if not flux.any():
        return segments
    back = round(ONSET_BACK_S / HOP_S)
    minimum = round(MIN_NOTE_S / HOP_S)
    for i, segment in enumerate(segments):
        start = segment[1]
        if i == 0 or segments[i - 1][2] < start - 3 or segments[i - 1][0] == segment[0]:
            continue  # after a rest, or a repeated pitch (already cut at its stroke): no lagging pitch
        lo = max(0, start - back, segments[i - 1][1] + minimum)
        window = flux[lo:start + 3]  # the burst, at most two frames after the start
        if window.size == 0 or window.max() < ONSET_FLUX:
            continue
        begin = lo + int(np.argmax(window)) - FLUX_LAG_FRAMES
        if lo <= begin < start:
            segments[i - 1][2] = min(segments[i - 1][2], begin)
            segment[1] = begin
    return segments


def _starts_on_pitch(segments, f0_hz: np.ndarray):
    """A note after a rest starts where the tracker first hears its pitch (voiced or not), at most
    ON_PITCH_LEAD_FRAMES before: the attack snap moved it to where the level rises, which for a singer
    is the consonant or breath before the vowel (vocadito: 40-90 ms before the annotated onset); an
    instrument's pitch is there from its attack, so its start stays."""
    raw = _semitones(f0_hz)
    reach = round(ON_PITCH_REACH_S / HOP_S)
    minimum = round(MIN_NOTE_S / HOP_S)
    for i, segment in enumerate(segments):
        state, start, end = segment
        if i and segments[i - 1][2] >= start - 1:
            continue  # follows another note: its start is the change
        pitch = LOW_MIDI + state - 1
        heard = np.flatnonzero(np.abs(raw[start:min(end, start + reach)] - pitch) < 1.0)
        begin = start + int(heard[0]) - ON_PITCH_LEAD_FRAMES if len(heard) else start
        if start < begin <= end - minimum:
            segment[1] = begin
    return segments


def f0_from_attacks(f0: F0Track, notes, flux: np.ndarray) -> F0Track:
    """The pitch track with the first frames of each attacked note that follows another note on the
    note's pitch where the tracker still reports the previous note (or a pitch between the two) and
    settles on the new one within WINDOW_LAG_S: a centred analysis window lags a quiet attack by up to
    half its length. A note without a flux burst at its start (a sung legato change) or whose pitch
    arrives later (a glide) keeps the tracker's f0, which is then what sounds."""
    if not len(notes) or not flux.any():
        return f0
    hz = f0.f0_hz.copy()
    midi = _semitones(hz)
    reach = round(WINDOW_LAG_S / HOP_S)
    for before, note in zip(notes, notes[1:], strict=False):
        if note.onset_s - before.offset_s > 3 * HOP_S + 1e-9 or note.pitch == before.pitch:
            continue
        start = round(note.onset_s / HOP_S)
        if flux[max(0, start - 1):start + 3].max(initial=0.0) < ONSET_FLUX:
            continue
        target, previous = note.pitch + note.cents / 100.0, before.pitch + before.cents / 100.0
        window = midi[start:min(start + reach, round(note.offset_s / HOP_S), len(midi))]
        settled = np.flatnonzero(np.abs(window - target) < 0.5)
        if not len(settled):
            continue  # a glide, or the tracker hears something else: leave it
        lagging = window[:settled[0]]
        stuck = (np.abs(lagging - previous) < 0.5) | ((lagging > min(previous, target)) & (lagging < max(previous, target)))
        hz[start:start + settled[0]][stuck] = midi_to_hz(target)
    return replace(f0, f0_hz=hz)


def _semitones(f0_hz: np.ndarray) -> np.ndarray:
    """MIDI pitch (fractional) of every frame's f0, voiced or not (0 Hz gives a very low pitch)."""
    return hz_to_midi(np.maximum(f0_hz, 1e-6))


def _tail(level_db: np.ndarray, attack: np.ndarray | None = None) -> np.ndarray:
    """Frames far below the loudest frame of the last second (or the next 0.3 s): release and reverb
    tails and the noise floor between notes, not notes. The last second reaches back no further than
    the latest full-strength attack (``attack`` 1.0): a soft note struck after a loud one is a note, not
    the loud one's tail."""
    from scipy.ndimage import maximum_filter1d

    back, ahead = round(TAIL_BACK_S / HOP_S), round(TAIL_AHEAD_S / HOP_S)
    windowed = maximum_filter1d(level_db, size=back + 1, mode="nearest", origin=back // 2)  # [t - back, t]
    if attack is not None:
        # the running maximum restarted at each attack: each stretch between attacks is lifted above all
        # before it (by more than the level's whole range), so the maximum never carries across one
        stretch = np.cumsum(attack >= 1.0)
        lift = stretch * (float(np.ptp(level_db)) + 1.0)
        windowed = np.minimum(windowed, np.maximum.accumulate(level_db + lift) - lift)
    coming = maximum_filter1d(level_db, size=ahead + 1, mode="nearest", origin=-(ahead // 2))  # [t, t + ahead]
    return level_db < np.maximum(windowed, coming) - TAIL_DB


def spectral_flux(audio16: np.ndarray) -> np.ndarray:
    """The spectral flux of 16 kHz samples, one value per HOP_S frame: SuperFlux-style (lag 2, a max filter over 3
    bins), so a vibrato moves it little. What ``_attack_strength`` reads from a clip, and the live window's
    (``tutor.listen.windowed_notes``)."""
    import librosa

    return librosa.onset.onset_strength(y=audio16, sr=MODEL_SAMPLE_RATE, n_fft=1024, lag=2, max_size=3,
                                        hop_length=round(HOP_S * MODEL_SAMPLE_RATE), center=True)


def _attack_strength(level_db: np.ndarray, audio16: np.ndarray | None, n: int,
                     onset_strength: np.ndarray | None = None, *,
                     flux_p95: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At peaks (0 elsewhere): ``attack`` 0..1 from a level rise or spectral flux (it lowers the cost of
    a note change and times note starts) and ``rearticulation``, the depth in dB of a dip in the level (a
    fall and a recovery) (it splits a held pitch into repeated notes; flux alone would split at the loop
    points of sampled instruments, a rise alone at the swell of a held note). ``onset_strength``: the
    clip's spectral flux computed block by block (``blocks.OnsetFlux``), instead of from ``audio16``. The flux
    is scaled by its 95th percentile over the frames given, or by ``flux_p95`` (a live window's: the take's so
    far); the flux returned is the scaled one."""
    window = max(1, round(ATTACK_WINDOW_S / HOP_S))
    level = np.maximum(level_db, -80.0)
    before = np.array([level[max(0, i - window):i + 1].min() for i in range(n)])
    after = np.array([level[i:i + window + 1].max() for i in range(n)])
    earlier = np.array([level[max(0, i - window):i].max() if i else level[0] for i in range(n)])
    gate = (level > -55) & (after >= earlier - 3.0)  # a note-off's click is no attack
    rise = (after - before) / 6.0 * gate  # a 6 dB rise scores 1
    score = rise
    flux = np.zeros(n)
    if onset_strength is None and audio16 is not None and len(audio16) > 2048:
        onset_strength = spectral_flux(audio16)
    if onset_strength is not None:
        flux = np.pad(onset_strength, (0, max(0, n - len(onset_strength))))[:n]
        flux = flux / ((np.percentile(flux, 95) if flux_p95 is None else flux_p95) + 1e-9)
        score = np.maximum(rise * (flux > 0.3), (flux - 0.3) * gate)
    # a re-articulation is a valley: the level falls and comes back (within 100 ms each side)
    reach = 2 * window
    fell = np.array([level[max(0, i - reach):i + 1].max() for i in range(n)]) - level
    recovered = np.array([level[i:i + reach + 1].max() for i in range(n)]) - level
    valley_db = np.minimum(fell, recovered) * (level > -60)
    return _peaks(score, reach), _peaks(valley_db, reach, cap=None, floor=1.0), flux


def _peaks(score: np.ndarray, reach: int, *, cap: float | None = 1.0, floor: float = 0.25) -> np.ndarray:
    """The first frame reaching the maximum of its +-reach neighbourhood keeps its score (capped)."""
    n = len(score)
    peaks = np.zeros(n)
    for i in np.flatnonzero(score > floor):
        lo, hi = max(0, i - reach), min(n, i + reach + 1)
        if score[i] >= score[lo:hi].max() and not np.any(score[lo:i] >= score[i]):
            peaks[i] = score[i] if cap is None else min(cap, score[i])
    return peaks


VITERBI_CHUNK = 4096  # frames whose emission costs are computed at once (an hour's would take 1 GB)


def _viterbi(midi: np.ndarray, voiced: np.ndarray, confidence: np.ndarray, attack: np.ndarray) -> np.ndarray:
    """State per frame: 0 = silence, k >= 1 = MIDI pitch LOW_MIDI + k - 1."""
    n = len(midi)
    k = HIGH_MIDI - LOW_MIDI + 1
    change = CHANGE_COST * (1.0 - 0.6 * attack)
    onset = ONSET_COST * (1.0 - 0.5 * attack)
    back = np.zeros((n, k + 1), dtype=np.uint8)  # states 0..85
    cost = _emission_costs(midi[:VITERBI_CHUNK], voiced[:VITERBI_CHUNK], confidence[:VITERBI_CHUNK])
    total = cost[0].copy()
    states = np.arange(k + 1)
    for t in range(1, n):
        if t % VITERBI_CHUNK == 0:
            chunk = slice(t, t + VITERBI_CHUNK)
            cost = _emission_costs(midi[chunk], voiced[chunk], confidence[chunk])
        best_note = int(np.argmax(-total[1:])) + 1
        best_note_cost = total[best_note]
        candidates_change = best_note_cost + change[t]
        # from silence to a note / from a note to silence
        from_silence = total[0] + onset[t]
        prev = states.copy()
        new = total.copy()
        # notes: stay, change from best other note, or start from silence
        note_new = total[1:].copy()
        note_prev = states[1:].copy()
        better = candidates_change < note_new
        note_new = np.where(better, candidates_change, note_new)
        note_prev = np.where(better, best_note, note_prev)
        better = from_silence < note_new
        note_new = np.where(better, from_silence, note_new)
        note_prev = np.where(better, 0, note_prev)
        new[1:] = note_new
        prev[1:] = note_prev
        # silence: stay or end the best note
        end_cost = best_note_cost + ONSET_COST
        if end_cost < total[0]:
            new[0], prev[0] = end_cost, best_note
        total = new + cost[t % VITERBI_CHUNK]
        back[t] = prev
    path = np.zeros(n, dtype=np.int32)
    path[-1] = int(np.argmin(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _emission_costs(midi: np.ndarray, voiced: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The note HMM's cost of each state (silence, then LOW_MIDI..HIGH_MIDI) at each of these frames."""
    n = len(midi)
    pitches = np.arange(LOW_MIDI, HIGH_MIDI + 1, dtype=np.float64)
    k = len(pitches)
    cost = np.zeros((n, k + 1))
    m = np.where(voiced, midi, 0.0)[:, None]
    dist = np.minimum(np.abs(m - pitches[None, :]) * 100.0, CAP_CENTS)
    octave = np.minimum(np.minimum(np.abs(m - 12 - pitches[None, :]), np.abs(m + 12 - pitches[None, :])) * 100.0, CAP_CENTS)
    emit_dist = np.minimum(0.5 * (dist / SIGMA_CENTS) ** 2, 0.5 * (octave / SIGMA_CENTS) ** 2 + OCTAVE_SLIP_COST)
    weight = np.clip(confidence, 0.3, 1.0)[:, None]
    cost[:, 1:] = np.where(voiced[:, None], emit_dist * weight, UNVOICED_ON_NOTE_COST)
    cost[:, 0] = np.where(voiced, VOICED_IN_SILENCE_COST * weight[:, 0], 0.0)
    return cost


def _segments(path: np.ndarray) -> list[list[int]]:
    """[state, start_frame, end_frame_exclusive] for each run of a note state."""
    segments = []
    start = 0
    for t in range(1, len(path) + 1):
        if t == len(path) or path[t] != path[start]:
            if path[start] != 0:
                segments.append([int(path[start]), start, t])
            start = t
    return segments


def _split_at_attacks(segments, attack, rearticulation, level_db, confidence_dip, flux):
    """Split a note at an attack well inside it (a repeated note of the same pitch); move each note's
    start to the attack near it (a slow attack shows the new pitch late; the note starts at the attack)."""
    minimum = round(MIN_NOTE_S / HOP_S)
    near = round(ATTACK_SNAP_S / HOP_S)
    out = []
    for state, start, end in segments:
        # a dip in the level, then an attack (level rise or flux) within ATTACK_SNAP_S: the swell and
        # fade of a vibrato or a bow moving on a held note has the dip but not the attack
        vibrato_db = _periodic_dip_db(rearticulation[start:end])
        swell_db = _periodic_dip_db(rearticulation[start:end], SWELL_PERIOD_S)
        dips = np.flatnonzero(rearticulation[start:end] > 0) + start
        cuts = []
        for t in range(start + near, end - minimum):
            if rearticulation[t] <= 0:
                continue
            attacked = attack[max(t - CUT_ATTACK_BEFORE, 0):t + near + 1].max(initial=0.0) >= CUT_ATTACK
            gap = confidence_dip[max(t - CONF_DIP_REACH, 0):t + CONF_DIP_REACH + 1].min(initial=1.0) <= CONF_DIP_RATIO
            if rearticulation[t] < (GAP_REARTICULATION_DB if attacked and gap else REARTICULATION_DB):
                continue
            if not (attacked or gap):
                continue  # a dip with no attack after it and no gap: a swell or a vibrato, not a new note
            earlier = dips[dips < t]
            on_beat = len(earlier) and VIBRATO_PERIOD_S[0] <= (t - earlier[-1]) * HOP_S <= VIBRATO_PERIOD_S[1]
            if vibrato_db and on_beat and rearticulation[t] < VIBRATO_DIP_FACTOR * vibrato_db:
                continue  # in step with the vibrato and no deeper than its dips: the vibrato itself
            if not gap and rearticulation[t] < SWELL_DIP_DB and swell_db:
                continue  # a slow, shallow swell recurring through the note (a sample's loop, a slow vibrato)
            # a release still fading hides the new note's start: its flux burst comes before the level's low point
            lo = max(t - CUT_BACK_FRAMES, start + near)
            burst = np.flatnonzero(flux[lo:t] >= CUT_FLUX)
            cuts.append(lo + int(burst[0]) if len(burst) else t)
        previous = start
        for cut in cuts:
            if cut - previous > near:
                out.append([state, previous, cut])
                previous = cut
        out.append([state, previous, end])
    for i, segment in enumerate(out):
        start = segment[1]
        earliest = start - near
        if i > 0 and out[i - 1][2] >= start - 1:
            earliest = max(earliest, out[i - 1][1] + minimum)
        peaks = [t for t in range(max(earliest, 0), min(start + near + 1, segment[2] - minimum)) if attack[t] >= 0.3]
        if not peaks:
            continue
        # the attack begins where the level starts to rise (backtracked from the peak of the rise)
        peak = peaks[0]
        lo = max(earliest, peak - round(ATTACK_WINDOW_S / HOP_S), 0)
        if peak >= lo:  # the last frame still at the level's low point (within 1 dB) before the rise
            span = level_db[lo:peak + 1]
            begin = lo + int(np.flatnonzero(span <= span.min() + 1.0)[-1])
            # a 64 ms level frame starts rising when its leading edge (32 ms ahead) meets the attack
            begin = min(peak, begin + LEVEL_LEAD_FRAMES)
        else:
            begin = peak
        if begin < start:  # only ever earlier: the pitch of a slow attack shows late, the note starts sooner
            if i > 0 and out[i - 1][2] > begin:
                out[i - 1][2] = begin
            segment[1] = begin
    return [s for s in out if s[2] > s[1]]


def _confidence_dips(confidence: np.ndarray) -> np.ndarray:
    """Each frame's tracker confidence over the median confidence of the CONF_CONTEXT_S around it: a
    repeated note's gap shows as a dip in confidence even where a release tail fills the level."""
    from scipy.ndimage import median_filter

    context = median_filter(confidence, size=2 * round(CONF_CONTEXT_S / HOP_S) + 1, mode="nearest")
    return confidence / np.maximum(context, 1e-3)


def _periodic_dip_db(dips_db: np.ndarray, period_s: tuple[float, float] = VIBRATO_PERIOD_S) -> float:
    """The typical depth of level dips that recur every ``period_s`` inside a note (by default a vibrato's
    rate, 4.5-7.5 Hz), 0 when they do not: a violin's or a singer's vibrato swells and fades the level
    with the pitch."""
    at = np.flatnonzero(dips_db > 0)
    if len(at) < 3:
        return 0.0
    intervals = np.diff(at) * HOP_S
    if np.mean((intervals >= period_s[0]) & (intervals <= period_s[1])) < 0.6:
        return 0.0
    return float(np.median(dips_db[at]))


def _absorb_glides(segments, midi, attack, level_db):
    """Merge segments shorter than MIN_NOTE_S into a touching neighbour within 2 semitones (the one
    they lead into first); drop those with no such neighbour; merge vibrato flips (A B A, B short)."""
    minimum = round(MIN_NOTE_S / HOP_S)
    level = np.maximum(level_db, -80.0)
    changed = True
    while changed:
        changed = False
        for i, (state, start, end) in enumerate(segments):
            if end - start >= minimum:
                continue
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            prv = segments[i - 1] if i > 0 else None
            if nxt is not None and nxt[1] == end and abs(nxt[0] - state) <= 2 and attack[end] < 0.5:
                nxt[1] = start
            elif prv is not None and prv[2] == start and abs(prv[0] - state) <= 2:
                prv[2] = end
            elif nxt is not None and nxt[1] == end and abs(nxt[0] - state) <= 2:
                nxt[1] = start
            del segments[i]
            changed = True
            break
    # scoops into a note and falls off its end: a short gliding segment joined to a longer note without
    # an attack between them belongs to that note (whose pitch is where the voice settles)
    changed = True
    while changed:
        changed = False
        for i, (state, start, end) in enumerate(segments):
            if end - start > round(SCOOP_MAX_S / HOP_S):
                continue
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            prv = segments[i - 1] if i > 0 else None
            # after a rest, a rising level at the boundary is still the one onset swelling (a sung scoop),
            # unless the level fell by a stroke's rise before it (a short struck note, then the next one)
            from_rest = (prv is None or prv[2] < start) and level[end - 1] >= level[start:end].max() - STROKE_RISE_DB
            # (a segment of the same pitch, which only a cut makes, is a repeated note unless it is
            # as short as an attack's transient)
            if (nxt is not None and nxt[1] == end and nxt[2] - nxt[1] > end - start and abs(nxt[0] - state) <= 3
                    and (nxt[0] != state or end - start < round(REPEAT_MIN_S / HOP_S))
                    and (not _attacked(attack, end) or from_rest) and _glides_towards(midi[start:end], LOW_MIDI + nxt[0] - 1)):
                nxt[1] = start
            elif (prv is not None and prv[2] == start and prv[2] - prv[1] > end - start and abs(prv[0] - state) <= 3
                    and not _attacked(attack, start) and _glides_towards(midi[start:end][::-1], LOW_MIDI + prv[0] - 1)):
                prv[2] = end
            else:
                continue
            del segments[i]
            changed = True
            break
    # vibrato flips: A B A with B a semitone away, short, no attack at its edges, and its pitch only
    # passing through (a vibrato's crest); a neighbour note slurred (a mordent, a turn) settles on its pitch
    changed = True
    while changed:
        changed = False
        for i in range(1, len(segments) - 1):
            a, b, c = segments[i - 1], segments[i], segments[i + 1]
            if (a[0] == c[0] and abs(b[0] - a[0]) == 1 and a[2] == b[1] and b[2] == c[1]
                    and b[2] - b[1] <= round(0.15 / HOP_S) and attack[b[1]] < 0.5 and attack[c[1]] < 0.5
                    and not _settled(midi[b[1]:b[2]], LOW_MIDI + b[0] - 1)):
                segments[i - 1:i + 2] = [[a[0], a[1], c[2]]]
                changed = True
                break
    return segments


def _settled(values: np.ndarray, pitch: int) -> bool:
    """At least SETTLED_FRAMES frames within SETTLED_CENTS of ``pitch``: a note held on its pitch, not
    a vibrato swinging through it."""
    return int(np.sum(np.abs(values - pitch) <= SETTLED_CENTS / 100.0)) >= SETTLED_FRAMES


def _attacked(attack: np.ndarray, frame: int) -> bool:
    """An attack at a segment boundary: from two frames before it to ATTACK_WINDOW_S after it (a cut
    moved back to the flux burst of a stroke sits that far before the attack's peak)."""
    return bool(attack[max(0, frame - 2):frame + round(ATTACK_WINDOW_S / HOP_S) + 1].max(initial=0.0) >= 0.5)


def _glides_towards(values: np.ndarray, target: float) -> bool:
    """True when the pitch moves by at least GLIDE_SEMITONES over the segment, towards ``target``."""
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return True  # too short to hold a pitch of its own
    third = max(1, len(values) // 3)
    first, last = float(np.median(values[:third])), float(np.median(values[-third:]))
    return abs(last - first) >= GLIDE_SEMITONES and abs(target - last) < abs(target - first)


def _make_note(state, start, end, midi, voiced, confidence, hop, threshold) -> PlayedNote | None:
    if (end - start) * hop < MIN_NOTE_S - 1e-9:
        return None
    pitch_state = LOW_MIDI + state - 1
    frames = np.arange(start, end)
    values = midi[frames]
    ok = voiced[frames]
    folded = values.copy()  # octave slips folded back onto the note
    folded[ok] = values[ok] - 12.0 * np.round((values[ok] - pitch_state) / 12.0)
    near = ok & (np.abs(folded - pitch_state) < 1.0)
    if near.sum() < max(2, 0.3 * len(frames)):
        return None
    settle = round(SETTLE_S / hop)
    stable = near.copy()
    if stable[settle:].sum() >= 3:
        stable[:settle] = False  # the attack/scoop is not the note's pitch
    # a trimmed mean (middle half) of the stable frames: robust like a median, but it averages a
    # symmetric vibrato and a tracker's quantised output (PESTO: 1/3-semitone steps) to the centre
    kept = np.sort(folded[stable])
    quarter = len(kept) // 4
    centre = float(np.mean(kept[quarter:len(kept) - quarter])) if len(kept) >= 4 else float(np.median(kept))
    pitch = int(round(centre))
    cents = float(np.clip((centre - pitch) * 100.0, -50.0, 50.0))
    # the tracker's confidence scaled by its voicing threshold (PESTO's are low, CREPE's high), times
    # the share of the note's frames that are voiced near its pitch
    scaled = np.clip(confidence[frames] / (2.0 * threshold), 0.0, 1.0)
    conf = float(np.mean(scaled) * (near.sum() / len(frames)))
    if conf < MIN_CONFIDENCE:
        return None
    return PlayedNote(pitch=pitch, onset_s=round(start * hop, 4), offset_s=round(end * hop, 4), velocity=80,
                      cents=round(cents, 1), confidence=round(conf, 3))


# ---------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------
def transcription_json(result: Transcription) -> dict:
    return {
        "tracker": result.tracker,
        "sample_rate": int(result.sample_rate),
        "notes": [
            {"onset": float(n.onset_s), "offset": float(n.offset_s), "pitch": int(n.pitch),
             "cents": float(n.cents if n.cents is not None else 0.0),
             "confidence": float(n.confidence if n.confidence is not None else 0.0)}
            for n in result.notes
        ],
    }


def performance_midi_bytes(notes, *, ticks_per_second: int = 960) -> bytes:
    """A one-track MIDI file (120 bpm, so 1 quarter = 0.5 s) with the notes at their times in seconds."""
    import io

    import mido

    ticks_per_beat = ticks_per_second // 2
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    events = []
    for note in notes:
        events.append((round(note.onset_s * ticks_per_second), 1, note.pitch, note.velocity))
        events.append((round(note.offset_s * ticks_per_second), 0, note.pitch, 0))
    now = 0
    for tick, kind, pitch, velocity in sorted(events):
        message = "note_on" if kind else "note_off"
        track.append(mido.Message(message, note=int(pitch), velocity=int(velocity), time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def f0_csv_text(f0: F0Track) -> str:
    lines = ["time_s,f0_hz,confidence,voiced"]
    for t, hz, conf, voiced in zip(f0.times_s, f0.f0_hz, f0.confidence, f0.voiced, strict=True):
        lines.append(f"{t:.3f},{hz if voiced else 0.0:.3f},{conf:.4f},{int(bool(voiced))}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# note pitch from the audio (issue 22)
# ---------------------------------------------------------------------------------------------
REFINE_PITCH = True  # each note's pitch measured again from the audio (``refine_note_pitches``)
REFINE_HARMONICS = 8  # partials summed (those under 0.9 x Nyquist)
REFINE_REACH_CENTS = 40.0  # a partial's peak is looked for this far either side of h x the tracked pitch (PESTO's steps are 33 cents)
REFINE_STRIDE = 2  # frames of the note measured (every 20 ms)...
REFINE_MAX_FRAMES = 100  # ...at most this many of them (2 s of a long note)
REFINE_WINDOW = 1024  # samples at 16 kHz (64 ms); 2048 for a pitch under REFINE_LONG_BELOW_HZ
REFINE_LONG_BELOW_HZ = 200.0
REFINE_PAD = 4  # the window zero-padded to this many times its length (the magnitude read between bins)


class AudioSpill:
    """The 16 kHz samples that pass through ``tee`` kept in a temporary file (4 bytes a sample, an hour
    230 MB on disk, none in memory), read back by ``read(lo, hi)`` (zeros outside the clip). Use as a
    context manager (the file is removed on close)."""

    def __init__(self) -> None:
        import tempfile

        self._file = tempfile.TemporaryFile(prefix="tutor-16k-")
        self.length = 0

    def __enter__(self) -> AudioSpill:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def tee(self, pieces):
        for piece in pieces:
            piece = np.ascontiguousarray(piece, dtype=np.float32)
            self._file.write(piece.tobytes())
            self.length += len(piece)
            yield piece

    def read(self, lo: int, hi: int) -> np.ndarray:
        return _padded(lo, hi, self.length, self._fetch)

    def _fetch(self, a: int, b: int) -> np.ndarray:
        self._file.seek(a * 4)
        return np.frombuffer(self._file.read((b - a) * 4), dtype=np.float32)


def _padded(lo: int, hi: int, length: int, fetch) -> np.ndarray:
    """Samples ``lo:hi`` of a clip of ``length`` samples, zeros outside it; ``fetch(a, b)`` gives those inside."""
    out = np.zeros(max(0, hi - lo), np.float32)
    a, b = max(lo, 0), min(hi, length)
    if b > a:
        out[a - lo:b - lo] = fetch(a, b)
    return out


def array_reader(audio16: np.ndarray):
    """``read(lo, hi)`` of a clip at 16 kHz in memory (zeros outside it), as ``AudioSpill.read``."""
    audio16 = np.asarray(audio16, dtype=np.float32)

    def read(lo: int, hi: int) -> np.ndarray:
        return _padded(lo, hi, len(audio16), lambda a, b: audio16[a:b])

    return read


def refine_note_pitches(notes, f0: F0Track, read) -> tuple[PlayedNote, ...]:
    """Each note's pitch and cents measured from the audio instead of from the tracker's frames (PESTO's
    are 1/3-semitone steps, so a note's trimmed mean of them is off by up to ~15 cents): on every
    REFINE_STRIDE-th frame of its settled part (``_make_note``'s frames: past SETTLE_S, voiced within a
    semitone of the note, octave slips folded), the harmonic sum of REFINE_HARMONICS partials (the DFT
    of each partial's peak within REFINE_REACH_CENTS of h x the tracker's pitch, 64 ms Hann window at 16 kHz)
    gives the frame's pitch; the note's centre is the trimmed mean
    (middle half) of those, as ``_make_note`` takes it. ``read(lo, hi)``: the clip's 16 kHz samples."""
    out = []
    hop = round(f0.hop_s * MODEL_SAMPLE_RATE)
    voiced = f0.voiced & (f0.f0_hz > 0)
    midi = np.where(voiced, _semitones(f0.f0_hz), np.nan)
    for note in notes:
        centre = _refined_centre(note, midi, voiced, f0.hop_s, hop, read)
        if centre is None:
            out.append(note)
            continue
        pitch = int(round(centre))
        cents = float(np.clip((centre - pitch) * 100.0, -50.0, 50.0))
        out.append(replace(note, pitch=pitch, cents=round(cents, 1)))
    return tuple(out)


def _refined_centre(note: PlayedNote, midi: np.ndarray, voiced: np.ndarray, hop_s: float, hop: int, read) -> float | None:
    start, end = round(note.onset_s / hop_s), min(round(note.offset_s / hop_s), len(midi))
    if end - start < 3:
        return None
    target = note.pitch + (note.cents or 0.0) / 100.0
    frames = np.arange(start, end)
    values = midi[frames]
    ok = voiced[frames] & np.isfinite(values)
    folded = np.where(ok, values - 12.0 * np.round((np.nan_to_num(values) - target) / 12.0), np.nan)
    near = ok & (np.abs(folded - target) < 1.0)
    settle = round(SETTLE_S / hop_s)
    if near[settle:].sum() >= 3:
        near[:settle] = False
    chosen = frames[near][::REFINE_STRIDE][:REFINE_MAX_FRAMES]
    guesses = folded[near][::REFINE_STRIDE][:REFINE_MAX_FRAMES]
    if len(chosen) < 2:
        return None
    size = 2 * REFINE_WINDOW if midi_to_hz(target) < REFINE_LONG_BELOW_HZ else REFINE_WINDOW
    lo = int(chosen[0]) * hop - size // 2
    audio = read(lo, int(chosen[-1]) * hop + size // 2 + 1)
    at = (chosen * hop - size // 2 - lo).astype(int)
    segments = np.lib.stride_tricks.sliding_window_view(audio, size)[at]
    if not np.any(segments):
        return None
    refined = partials_f0(segments, midi_to_hz(guesses))
    refined = np.where(refined > 0, _semitones(np.maximum(refined, 1e-6)), np.nan)
    kept = np.sort(refined[np.isfinite(refined)])
    if len(kept) < 2:
        return None
    quarter = len(kept) // 4
    return float(np.mean(kept[quarter:len(kept) - quarter])) if len(kept) >= 4 else float(np.median(kept))


def partials_f0(segments: np.ndarray, guess_hz: np.ndarray) -> np.ndarray:
    """f0 (Hz) of each row of ``segments`` (16 kHz samples, one window a row) from its partials near the
    row's ``guess_hz`` (Hann window, zero-padded REFINE_PAD times, ``harmonic_peaks_f0``); 0 where none is
    found within REFINE_REACH_CENTS of the guess."""
    size = segments.shape[1]
    pad = REFINE_PAD * size
    spectra = np.log(np.abs(np.fft.rfft(segments * np.hanning(size)[None, :], pad, axis=1)) + 1e-9)  # log magnitude
    found = harmonic_peaks_f0(spectra, guess_hz, pad)
    cents = 1200.0 * np.log2(np.maximum(found, 1e-6) / np.maximum(guess_hz, 1e-6))
    return np.where((found > 0) & (np.abs(cents) <= REFINE_REACH_CENTS), found, 0.0)


def harmonic_peaks_f0(log_spectra: np.ndarray, guess_hz: np.ndarray, pad: int) -> np.ndarray:
    """f0 (Hz; 0 where none) of each frame from its partials: partial h's peak is the loudest bin within
    REFINE_REACH_CENTS of h x the frame's guess, placed between bins by a parabola through the log
    magnitudes (exact for a Gaussian peak, within a fraction of a cent for a zero-padded Hann window);
    f0 is the mean of peak_h / h weighted by h x the partial's magnitude (a higher partial places f0 h
    times finer), over the partials that are true peaks within 30 dB of the loudest."""
    frames, bins = log_spectra.shape
    harmonics = np.arange(1, REFINE_HARMONICS + 1)
    centre = guess_hz[:, None] * harmonics[None, :] * pad / MODEL_SAMPLE_RATE  # (frames, harmonics) in bins
    reach = np.ceil(centre * (2.0 ** (REFINE_REACH_CENTS / 1200.0) - 1.0)).astype(int) + 1
    width = int(reach.max(initial=1))
    offsets = np.arange(-width, width + 1)
    index = np.round(centre).astype(int)[:, :, None] + offsets[None, None, :]
    allowed = (np.abs(offsets)[None, None, :] <= reach[:, :, None]) & (index >= 1) & (index < bins - 1)
    index = np.clip(index, 1, bins - 2)
    rows = np.arange(frames)[:, None, None]
    values = np.where(allowed, log_spectra[rows, index], -np.inf)
    best = np.argmax(values, axis=2)
    k = np.take_along_axis(index, best[:, :, None], axis=2)[:, :, 0]
    r = np.arange(frames)[:, None]
    a, b, c = log_spectra[r, k - 1], log_spectra[r, k], log_spectra[r, k + 1]
    denom = a - 2 * b + c
    peak = (b >= a) & (b >= c) & (denom < 0) & (centre < 0.9 * bins)
    delta = np.where(peak, 0.5 * (a - c) / np.where(peak, denom, -1.0), 0.0)
    height = b - 0.25 * (a - c) * delta
    peak &= height >= height.max(axis=1, keepdims=True) - np.log(10.0 ** (30 / 20))
    hz = (k + delta) * MODEL_SAMPLE_RATE / pad / harmonics[None, :]
    weight = np.where(peak, np.exp(height) * harmonics[None, :], 0.0)
    total = weight.sum(axis=1)
    return np.where(total > 0, (weight * hz).sum(axis=1) / np.maximum(total, 1e-30), 0.0)


# ---------------------------------------------------------------------------------------------
# double stops of a bowed take (issue 22, fifth pass)
# ---------------------------------------------------------------------------------------------
DOUBLE_STOP_INSTRUMENTS = {"violin": 55}  # the instrument -> its lowest note (G3): a second note is looked for there
DOUBLE_STOP_MIN_DB = -12.0  # a second pitch's 3 loudest partials (those not shared with the note's) this close to the note's loudest...
DOUBLE_STOP_RISE_DB = 6.0  # ...that rose this much since just before the note (not the last note ringing on)
DOUBLE_STOP_MIN_S = 0.08  # notes shorter than this are not looked at
DOUBLE_STOP_WINDOW = 2048  # 128 ms Hann at 16 kHz, zero-padded 4x
DOUBLE_STOP_AT_S = (0.03, -0.09)  # the window's start after the onset (the chord sounding); its centre before it
DOUBLE_STOP_CONFIDENCE = 0.8  # the added note's confidence: this times its partner's


def add_double_stops(notes, read, instrument: str | None) -> tuple[PlayedNote, ...]:
    """A bowed take's notes with the second note of each double stop or chord added (a single-line
    segmentation gives one note per chord: on violin movement 7 of the tuning split, 327 of 686 labelled
    notes are in chords). For each note of at least DOUBLE_STOP_MIN_S, a 128 ms spectrum from 30 ms after
    its onset and one centred 90 ms before it; every semitone from the instrument's lowest note to an
    octave above the note (in the note's tuning) whose fundamental is not one of the note's harmonics is
    scored by its 3 loudest partials (of 8, under 7 kHz) that are not the note's harmonics, against the
    note's loudest partial; the best one is added (same onset, offset and velocity) when it is within
    DOUBLE_STOP_MIN_DB and rose DOUBLE_STOP_RISE_DB since before the onset. ``read(lo, hi)``: the take's
    16 kHz samples. Other instruments: the notes unchanged."""
    lowest = DOUBLE_STOP_INSTRUMENTS.get((instrument or "").lower())
    if lowest is None or read is None or not notes:
        return tuple(notes)
    size, pad = DOUBLE_STOP_WINDOW, 4 * DOUBLE_STOP_WINDOW
    window = np.hanning(size)
    bin_hz = MODEL_SAMPLE_RATE / pad

    def spectrum_db(centre: int) -> np.ndarray:
        return 20.0 * np.log10(np.abs(np.fft.rfft(read(centre - size // 2, centre + size // 2) * window, pad)) + 1e-9)

    def peaks_db(spectrum: np.ndarray, freqs: np.ndarray) -> np.ndarray:  # the loudest bin within 40 cents
        lo = (freqs * 2.0 ** (-40 / 1200) / bin_hz).astype(int)
        hi = np.ceil(freqs * 2.0 ** (40 / 1200) / bin_hz).astype(int) + 1
        width = int((hi - lo).max(initial=1))
        index = lo[..., None] + np.arange(width)
        values = np.where(index < hi[..., None], spectrum[np.clip(index, 0, len(spectrum) - 1)], -np.inf)
        return values.max(axis=-1)

    added = []
    for note in notes:
        if note.offset_s - note.onset_s < DOUBLE_STOP_MIN_S:
            continue
        m = note.pitch + (note.cents or 0.0) / 100.0
        now = spectrum_db(int((note.onset_s + DOUBLE_STOP_AT_S[0]) * MODEL_SAMPLE_RATE) + size // 4)
        before = spectrum_db(int((note.onset_s + DOUBLE_STOP_AT_S[1]) * MODEL_SAMPLE_RATE))
        f = midi_to_hz(m)
        top = float(peaks_db(now, f * np.arange(1, 7)).max())
        harmonics = f * np.arange(1, 40)
        centre = int(round(m))
        semitones = np.array(list(range(lowest, centre)) + list(range(centre + 1, centre + 13)))
        fc = midi_to_hz(semitones + (m - centre))
        shared_f0 = np.min(np.abs(1200 * np.log2(harmonics[None, :] / fc[:, None])), axis=1) < 50
        partials = fc[:, None] * np.arange(1, 9)[None, :]  # (candidates, 8)
        shared = np.min(np.abs(1200 * np.log2(harmonics[None, None, :] / partials[..., None])), axis=2) < 50
        usable = ~shared & (partials <= 7000)
        usable &= np.cumsum(partials > 7000, axis=1) == 0  # partials up to the first over 7 kHz
        heard = peaks_db(now, np.minimum(partials, 7000))
        vals = np.where(usable, heard - top, -np.inf)
        rises = np.where(usable, heard - peaks_db(before, np.minimum(partials, 7000)), 0.0)
        eligible = np.flatnonzero(~shared_f0 & (usable.sum(axis=1) >= 2))
        if not len(eligible):
            continue
        order = np.argsort(-vals[eligible], axis=1, kind="stable")[:, :3]  # each one's 3 loudest usable partials
        counted = np.arange(3)[None, :] < np.minimum(3, usable[eligible].sum(axis=1))[:, None]
        score = np.where(counted, np.take_along_axis(vals[eligible], order, 1), 0.0).sum(1) / counted.sum(1)
        rise = np.where(counted, np.take_along_axis(rises[eligible], order, 1), 0.0).sum(1) / counted.sum(1)
        best = np.lexsort((semitones[eligible], rise, score))[-1]  # the highest score (then rise, then pitch)
        if score[best] >= DOUBLE_STOP_MIN_DB and rise[best] >= DOUBLE_STOP_RISE_DB:
            conf = None if note.confidence is None else round(note.confidence * DOUBLE_STOP_CONFIDENCE, 3)
            added.append(replace(note, pitch=int(semitones[eligible][best]), confidence=conf))
    if not added:
        return tuple(notes)
    return tuple(sorted((*notes, *added), key=lambda n: n.onset_s))
