"""Sound output: play or render a ``Score``, a ``Performance`` or a MIDI file, with count-in and metronome.

Engines: ``FluidSynthEngine`` with a General MIDI soundfont (the one given, ``$TUTOR_SOUNDFONT`` or the
system's: ``find_soundfont``), else ``AdditiveEngine``, a plain additive synth; results say which one
sounded (``RenderResult.engine``). ``render_score_to_wav`` / ``render_midi_to_wav`` render offline: every note of
the score sounds at ``result.offset_s + note.onset_s`` (``offset_s`` is the count-in; a sliced score starts
at its first measure). ``Player`` plays live: a render thread fills a ring buffer ahead and the output
callback only copies from it; ``Player(output="null")`` paces the same callback without a device.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.audio.metronome import ClickSchedule, click_schedule, click_track
from tutor.audio.ringbuffer import RingBuffer
from tutor.errors import DeviceError, InputFileError, OutputFileError
from tutor.score.form import unfold
from tutor.score.music import Performance, Score, midi_to_hz

log = logging.getLogger(__name__)

SOUNDFONT_PATHS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/local/share/soundfonts/default.sf2"),
    Path("/opt/homebrew/share/soundfonts/default.sf2"),
)
DRUM_CHANNEL = 9
TAIL_S = 1.0  # rendered after the last note ends, for the release
PEAK_LIMIT = 10 ** (-1.0 / 20)  # offline renders are scaled down to peak at -1 dBFS if louder
RENDER_EXTENSIONS = (".wav", ".flac")


# ---------------------------------------------------------------------------------------------
# what to play
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoteEvent:
    onset_s: float
    offset_s: float
    pitch: int
    velocity: int = 80
    channel: int = 0
    program: int = 0  # General MIDI program on this channel


@dataclass(frozen=True)
class PlaybackPlan:
    """Timed notes (seconds from the start of the audio), pedal, and an optional click track."""

    notes: tuple[NoteEvent, ...]
    pedal: tuple[tuple[float, int, bool], ...] = ()  # (time_s, channel, down)
    clicks: ClickSchedule | None = None
    offset_s: float = 0.0  # where the music starts (after the count-in)
    tail_s: float = TAIL_S

    @property
    def music_end_s(self) -> float:
        ends = [n.offset_s for n in self.notes] + [self.clicks.duration_s if self.clicks else 0.0]
        return max(ends, default=0.0)

    @property
    def duration_s(self) -> float:
        return self.music_end_s + self.tail_s

    @property
    def programs(self) -> dict[int, int]:
        return {n.channel: n.program for n in self.notes}


def _channel_for(index: int) -> int:
    channel = index % 15
    return channel + 1 if channel >= DRUM_CHANNEL else channel


def plan_score(score: Score, *, program: int | None = None, bpm: float | None = None, count_in_bars: int = 0,
               metronome: bool = False, repeats: bool = True) -> PlaybackPlan:
    """A plan for ``score``: one MIDI channel per part (its GM program, or ``program`` for all),
    at ``bpm`` if given, after ``count_in_bars`` of count-in, with clicks throughout if ``metronome``.
    The piece is played as its form says (``tutor.score.form.unfold``: repeats, endings, D.C./D.S.), or
    each passage once with ``repeats=False``; the clicks follow it."""
    score = unfold(score, repeats=repeats).score
    timed = score.at_tempo(bpm=bpm) if bpm is not None else score
    start_ql = score.measures[0].start_ql if score.measures else min((n.onset_ql for n in score.notes), default=0.0)
    origin_s = timed.seconds_at(start_ql)
    clicks = None
    offset_s = 0.0
    if count_in_bars > 0 or metronome:
        clicks = click_schedule(timed, count_in_bars=count_in_bars, piece=metronome)
        offset_s = clicks.count_in_s
    channels = {part.id: (_channel_for(i), part.program if program is None else program)
                for i, part in enumerate(score.parts)}
    notes = []
    for note in timed.notes:
        channel, prog = channels.get(note.part, (0, program or 0))
        onset = offset_s + note.onset_s - origin_s
        notes.append(NoteEvent(onset, onset + max(note.duration_s, 0.01), note.pitch,
                               max(1, min(127, note.velocity)), channel, prog))
    return PlaybackPlan(tuple(sorted(notes, key=lambda n: (n.onset_s, n.pitch))), clicks=clicks, offset_s=offset_s)


def plan_performance(performance: Performance, *, program: int | None = None,
                     count_in: ClickSchedule | None = None) -> PlaybackPlan:
    """A plan for a played take: its notes as they were played, its sustain pedal."""
    offset_s = count_in.count_in_s if count_in is not None else 0.0
    notes = tuple(NoteEvent(offset_s + n.onset_s, offset_s + max(n.offset_s, n.onset_s + 0.01), n.pitch,
                            max(1, min(127, n.velocity)), _channel_for(n.channel), program or 0)
                  for n in performance.notes)
    pedal = tuple((offset_s + e.time_s, channel, e.down) for e in performance.pedal
                  for channel in sorted({n.channel for n in notes}))
    return PlaybackPlan(notes, pedal=pedal, clicks=count_in, offset_s=offset_s)


def plan_midi_file(path: str | Path, *, program: int | None = None) -> PlaybackPlan:
    """A plan for a MIDI file as it is (its own timing, programs and drums)."""
    from tutor.score.io import read_pretty_midi

    midi = read_pretty_midi(Path(path))
    notes, pedal = [], []
    melodic = 0
    for instrument in midi.instruments:
        if instrument.is_drum:
            channel, prog = DRUM_CHANNEL, instrument.program
        else:
            channel, prog = _channel_for(melodic), instrument.program if program is None else program
            melodic += 1
        for n in instrument.notes:
            notes.append(NoteEvent(float(n.start), float(max(n.end, n.start + 0.01)), int(n.pitch),
                                   max(1, min(127, int(n.velocity))), channel, prog))
        for cc in instrument.control_changes:
            if cc.number == 64:
                pedal.append((float(cc.time), channel, cc.value >= 64))
    return PlaybackPlan(tuple(sorted(notes, key=lambda n: (n.onset_s, n.pitch))), pedal=tuple(sorted(pedal)))


# ---------------------------------------------------------------------------------------------
# engines
# ---------------------------------------------------------------------------------------------
def find_soundfont(soundfont: str | Path | None = None) -> Path | None:
    """The soundfont to use: ``soundfont`` (must exist), ``$TUTOR_SOUNDFONT``, or a system GM one."""
    if soundfont is not None:
        path = Path(soundfont)
        if not path.is_file():
            raise InputFileError("no such soundfont (.sf2) file", path=path)
        return path
    configured = os.environ.get("TUTOR_SOUNDFONT")
    if configured:
        path = Path(configured)
        if path.is_file():
            return path
        log.warning("TUTOR_SOUNDFONT=%s does not exist; looking for a system soundfont", configured)
    for path in SOUNDFONT_PATHS:
        if path.is_file():
            return path
    return None


def _event_list(plan: PlaybackPlan, sample_rate: int) -> list[tuple[int, int, tuple]]:
    """(sample, order, action) sorted; at equal samples pedal-up/note-off come before note-on."""
    events = []
    for n in plan.notes:
        events.append((int(round(n.onset_s * sample_rate)), 2, ("on", n.channel, n.pitch, n.velocity)))
        events.append((int(round(n.offset_s * sample_rate)), 0, ("off", n.channel, n.pitch)))
    for time_s, channel, down in plan.pedal:
        events.append((int(round(time_s * sample_rate)), 1 if not down else 3, ("pedal", channel, down)))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


_WRITE_FLOAT: list = []


def _fluid_write_float(fluidsynth_module):
    """libfluidsynth's ``fluid_synth_write_float`` through pyfluidsynth's ctypes binding (None if absent)."""
    if not _WRITE_FLOAT:
        try:
            from ctypes import c_int, c_void_p

            _WRITE_FLOAT.append(fluidsynth_module.cfunc(
                "fluid_synth_write_float", c_int, ("synth", c_void_p, 1), ("len", c_int, 1),
                ("lout", c_void_p, 1), ("loff", c_int, 1), ("lincr", c_int, 1),
                ("rout", c_void_p, 1), ("roff", c_int, 1), ("rincr", c_int, 1)))
        except (AttributeError, TypeError):  # a pyfluidsynth without ``cfunc`` or another prototype API
            _WRITE_FLOAT.append(None)
    return _WRITE_FLOAT[0]


class FluidSynthEngine:
    """FluidSynth with a soundfont; ``stream(plan)`` yields stereo float32 blocks."""

    name = "fluidsynth"

    def __init__(self, soundfont: str | Path, *, sample_rate: int = 44100, gain: float = 0.6) -> None:
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pyfluidsynth prints where it found the library when $CI is set: dropped
                import fluidsynth
        except (ImportError, OSError) as error:
            raise DeviceError(f"FluidSynth is not available ({error})") from None
        self.soundfont = Path(soundfont)
        self.sample_rate = int(sample_rate)
        self._fluidsynth = fluidsynth
        self.gain = gain
        self._idle: list[tuple[object, int]] = []  # loaded synths (loading a GM soundfont takes ~0.3-1 s)
        self._lock = threading.Lock()

    def prepare(self) -> FluidSynthEngine:
        """Load the soundfont now (so that the first ``stream`` starts at once)."""
        with self._lock:
            if not self._idle:
                self._idle.append(self._load())
        return self

    def _load(self) -> tuple[object, int]:
        synth = self._fluidsynth.Synth(gain=self.gain, samplerate=float(self.sample_rate))
        sfid = synth.sfload(str(self.soundfont))
        if sfid < 0:
            synth.delete()
            raise InputFileError("cannot be loaded as a soundfont", path=self.soundfont)
        return synth, sfid

    def _take_synth(self, plan: PlaybackPlan, *, fresh: bool):
        synth = None
        if fresh:  # a reused synth carries chorus/reverb state over: renders would differ run to run
            self.prepare()  # keeps one synth alive, so that FluidSynth's sample cache makes loading quick
            synth, sfid = self._load()
        else:
            with self._lock:
                synth, sfid = self._idle.pop() if self._idle else (None, -1)
        if synth is None:
            synth, sfid = self._load()
        for channel in range(16):
            synth.cc(channel, 64, 0)
            if channel == DRUM_CHANNEL:
                synth.program_select(channel, sfid, 128, 0)
            else:
                synth.program_select(channel, sfid, 0, 0)
        for channel, program in plan.programs.items():
            if channel != DRUM_CHANNEL:
                synth.program_select(channel, sfid, 0, int(program) % 128)
        return synth, sfid

    def _samples(self, synth, frames: int) -> np.ndarray:
        """``frames`` stereo float32 frames (FluidSynth's float output: no 16-bit clipping)."""
        write_float = _fluid_write_float(self._fluidsynth)
        if write_float is None:
            return synth.get_samples(frames).reshape(-1, 2).astype(np.float32) / 32768.0
        out = np.zeros((frames, 2), dtype=np.float32)
        pointer = out.ctypes.data
        write_float(synth.synth, frames, pointer, 0, 2, pointer, 1, 2)
        return out

    def _give_back(self, synth, sfid: int) -> None:
        """Silence the synth (reverb tail included) and keep it for the next stream."""
        for channel in range(16):
            synth.all_sounds_off(channel)
        synth.get_samples(int(self.sample_rate * 2))
        with self._lock:
            self._idle.append((synth, sfid))

    def stream(self, plan: PlaybackPlan, *, block_frames: int = 1024, fresh: bool = False) -> Iterator[np.ndarray]:
        """Stereo float32 blocks; ``fresh=True`` uses a newly loaded synth, so that the same plan always
        gives the same samples (offline renders); otherwise a ready one starts at once (live playback)."""
        synth, sfid = self._take_synth(plan, fresh=fresh)
        try:
            events = _event_list(plan, self.sample_rate)
            total = int(round(plan.duration_s * self.sample_rate))
            position = 0
            index = 0
            while position < total:
                while index < len(events) and events[index][0] <= position:
                    action = events[index][2]
                    if action[0] == "on":
                        synth.noteon(action[1], action[2], action[3])
                    elif action[0] == "off":
                        synth.noteoff(action[1], action[2])
                    else:
                        synth.cc(action[1], 64, 127 if action[2] else 0)
                    index += 1
                until = events[index][0] if index < len(events) else total
                frames = max(1, min(block_frames, until - position, total - position))
                yield self._samples(synth, frames)
                position += frames
        finally:
            if fresh:
                synth.delete()
            else:
                self._give_back(synth, sfid)


class AdditiveEngine:
    """A simple synth for when no soundfont/FluidSynth is found: harmonics with a decaying envelope."""

    name = "additive"
    HARMONICS = (1.0, 0.5, 0.3, 0.15)

    def __init__(self, *, sample_rate: int = 44100) -> None:
        self.sample_rate = int(sample_rate)

    def render(self, plan: PlaybackPlan) -> np.ndarray:
        sr = self.sample_rate
        out = np.zeros(int(round(plan.duration_s * sr)) + 1, dtype=np.float32)
        release_s = 0.08
        for note in plan.notes:
            if note.channel == DRUM_CHANNEL:
                continue
            start = int(round(note.onset_s * sr))
            length = int(round((note.offset_s - note.onset_s + release_s) * sr))
            length = min(length, len(out) - start)
            if length <= 0:
                continue
            t = np.arange(length) / sr
            hz = midi_to_hz(note.pitch)
            wave = np.zeros(length)
            for k, amp in enumerate(self.HARMONICS, 1):
                if hz * k < sr / 2:
                    wave += amp * np.sin(2 * np.pi * hz * k * t)
            held_s = note.offset_s - note.onset_s
            envelope = np.minimum(1.0, t / 0.005) * np.exp(-t / 1.5)
            envelope *= np.where(t > held_s, np.exp(-(t - held_s) / (release_s / 4)), 1.0)
            out[start:start + length] += (0.15 * note.velocity / 127 * envelope * wave).astype(np.float32)
        return np.repeat(out[:, None], 2, axis=1)

    def stream(self, plan: PlaybackPlan, *, block_frames: int = 1024, fresh: bool = False) -> Iterator[np.ndarray]:
        audio = self.render(plan)
        for start in range(0, len(audio), block_frames):
            yield audio[start:start + block_frames]


_ENGINES: dict[tuple[str, int], FluidSynthEngine] = {}  # one per soundfont and rate: loaded synths are reused


def open_engine(*, soundfont: str | Path | None = None, sample_rate: int = 44100, engine: str = "auto"):
    """``"fluidsynth"``, ``"additive"``, or ``"auto"``: FluidSynth when it and a soundfont are there."""
    if engine == "additive":
        return AdditiveEngine(sample_rate=sample_rate)
    path = find_soundfont(soundfont)
    if path is None:
        if engine == "fluidsynth":
            raise DeviceError("no General MIDI soundfont found; install fluid-soundfont-gm or pass a .sf2")
        log.warning("no soundfont found (install fluid-soundfont-gm or set TUTOR_SOUNDFONT); "
                    "using the simple built-in synth")
        return AdditiveEngine(sample_rate=sample_rate)
    try:
        key = (str(path), int(sample_rate))
        if key not in _ENGINES:
            _ENGINES[key] = FluidSynthEngine(path, sample_rate=sample_rate)
        return _ENGINES[key]
    except DeviceError as error:
        if engine == "fluidsynth":
            raise
        log.warning("%s; using the simple built-in synth", error)
        return AdditiveEngine(sample_rate=sample_rate)


def stream_plan(plan: PlaybackPlan, engine, *, block_frames: int = 1024, fresh: bool = False) -> Iterator[np.ndarray]:
    """Stereo float32 blocks of the plan, clicks mixed in."""
    clicks = click_track(plan.clicks, sample_rate=engine.sample_rate, duration_s=plan.duration_s) \
        if plan.clicks is not None else None
    position = 0
    for block in engine.stream(plan, block_frames=block_frames, fresh=fresh):
        if clicks is not None:
            n = block.shape[0]
            segment = clicks[position:position + n]
            block = block.copy()
            block[: len(segment)] += segment[:, None]
        position += block.shape[0]
        yield block


def render_plan(plan: PlaybackPlan, *, soundfont: str | Path | None = None, sample_rate: int = 44100,
                engine: str = "auto", normalize: bool = True) -> tuple[np.ndarray, str]:
    """The whole plan as stereo float32 audio, and the engine's name."""
    synth = open_engine(soundfont=soundfont, sample_rate=sample_rate, engine=engine)
    blocks = list(stream_plan(plan, synth, block_frames=4096, fresh=True))
    audio = np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if normalize and peak > PEAK_LIMIT:
        audio *= PEAK_LIMIT / peak
    return audio, synth.name


# ---------------------------------------------------------------------------------------------
# offline render to a file
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderResult:
    path: Path
    duration_s: float
    sample_rate: int
    engine: str  # "fluidsynth" or "additive"
    offset_s: float  # the music starts here (count-in length); score note onsets are shifted by it
    notes: int


def write_audio(path: str | Path, audio: np.ndarray, *, sample_rate: int) -> Path:
    """Write audio to .wav/.flac (16-bit) atomically."""
    import soundfile

    from tutor.safety import atomic_write

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in RENDER_EXTENSIONS:
        raise OutputFileError(f"renders to .wav or .flac, not {ext or '(no extension)'}", path=path)
    with atomic_write(path) as handle:
        soundfile.write(handle, audio, sample_rate, format="WAV" if ext == ".wav" else "FLAC", subtype="PCM_16")
    return path


def render_plan_to_file(plan: PlaybackPlan, out_path: str | Path, *, soundfont=None, sample_rate: int = 44100,
                        engine: str = "auto") -> RenderResult:
    audio, name = render_plan(plan, soundfont=soundfont, sample_rate=sample_rate, engine=engine)
    path = write_audio(out_path, audio, sample_rate=sample_rate)
    return RenderResult(path, len(audio) / sample_rate, sample_rate, name, plan.offset_s, len(plan.notes))


def render_score_to_wav(score: Score, out_path: str | Path, *, program: int | None = None, bpm: float | None = None,
                        soundfont: str | Path | None = None, sample_rate: int = 44100, count_in_bars: int = 0,
                        metronome: bool = False, engine: str = "auto", repeats: bool = True) -> RenderResult:
    """Render ``score`` to ``out_path`` (.wav or .flac): every note sounds at
    ``result.offset_s + note.onset_s`` (seconds of the score at ``bpm``, minus its first measure's time), the
    score as played (``tutor.score.form.unfold``; each passage once with ``repeats=False``)."""
    plan = plan_score(score, program=program, bpm=bpm, count_in_bars=count_in_bars, metronome=metronome,
                      repeats=repeats)
    return render_plan_to_file(plan, out_path, soundfont=soundfont, sample_rate=sample_rate, engine=engine)


def render_midi_to_wav(midi_path: str | Path, out_path: str | Path, *, program: int | None = None,
                       soundfont: str | Path | None = None, sample_rate: int = 44100,
                       engine: str = "auto") -> RenderResult:
    """Render a MIDI file as it is (its timing, programs and drums; ``program`` replaces the melodic ones)."""
    plan = plan_midi_file(midi_path, program=program)
    return render_plan_to_file(plan, out_path, soundfont=soundfont, sample_rate=sample_rate, engine=engine)


def render_performance_to_wav(performance: Performance, out_path: str | Path, *, program: int | None = None,
                              soundfont: str | Path | None = None, sample_rate: int = 44100,
                              engine: str = "auto") -> RenderResult:
    plan = plan_performance(performance, program=program)
    return render_plan_to_file(plan, out_path, soundfont=soundfont, sample_rate=sample_rate, engine=engine)


# ---------------------------------------------------------------------------------------------
# live playback
# ---------------------------------------------------------------------------------------------
class Player:
    """Plays a plan (score, performance) on an output device, or on ``output="null"`` (no device).

    ``play(...)`` returns at once; ``wait()`` blocks until the end; ``stop()`` stops early.
    ``position_s`` is the time played so far (from the output callback), ``underruns`` counts blocks
    the render thread did not deliver in time, ``start_latency_s`` is the time from ``play()`` to
    the first audio handed to the output, and ``on_finished()`` is called when playback ends.
    """

    def __init__(self, *, device: int | str | None = None, output: str = "device",
                 soundfont: str | Path | None = None, sample_rate: int | None = None, block_frames: int = 512,
                 ahead_s: float = 0.3, engine: str = "auto", on_finished=None) -> None:
        self.output = output
        self.block_frames = block_frames
        self.on_finished = on_finished
        if output == "device":
            from tutor.audio.devices import find_device

            self.device = find_device(device, kind="output")
            rate = sample_rate or int(self.device.default_samplerate)
        elif output == "null":
            self.device = None
            rate = sample_rate or 44100
        else:
            raise ValueError(f"output is 'device' or 'null', not {output!r}")
        self.sample_rate = int(rate)
        self.engine = open_engine(soundfont=soundfont, sample_rate=self.sample_rate, engine=engine)
        if isinstance(self.engine, FluidSynthEngine):
            self.engine.prepare()  # load the soundfont now, not when play() is pressed
        self.ring = RingBuffer(max(int(ahead_s * self.sample_rate), 4 * block_frames), 2)
        self.frames_played = 0
        self.underruns = 0
        self.start_latency_s: float | None = None
        self._play_called_s = 0.0
        self._rendered_all = False
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._render_thread: threading.Thread | None = None
        self._output_thread: threading.Thread | None = None
        self._stream = None

    # --- API -------------------------------------------------------------------------------------------
    def play(self, what: Score | Performance | PlaybackPlan, *, count_in_bars: int = 0, bpm: float | None = None,
             metronome: bool = False, program: int | None = None, repeats: bool = True) -> PlaybackPlan:
        self.stop()
        if isinstance(what, Score):
            plan = plan_score(what, program=program, bpm=bpm, count_in_bars=count_in_bars, metronome=metronome,
                              repeats=repeats)
        elif isinstance(what, Performance):
            plan = plan_performance(what, program=program)
        else:
            plan = what
        self.plan = plan
        self.ring = RingBuffer(self.ring.capacity_frames, 2)
        self.frames_played = 0
        self.underruns = 0
        self.start_latency_s = None
        self._rendered_all = False
        self._stop.clear()
        self._done.clear()
        self._play_called_s = time.perf_counter()
        self._render_thread = threading.Thread(target=self._render, args=(plan,), name="player-render", daemon=True)
        self._render_thread.start()
        try:
            self._open_output()
        except BaseException:
            self.stop()
            raise
        return plan

    def stop(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            from tutor.audio.devices import _sounddevice

            try:
                stream.stop()
                stream.close()
            except _sounddevice().PortAudioError:  # the device went away first: nothing left to stop
                log.debug("closing the output stream failed", exc_info=True)
        for thread in (self._render_thread, self._output_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2.0)
        self._render_thread = self._output_thread = None
        self._finish()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)

    @property
    def playing(self) -> bool:
        return not self._done.is_set()

    @property
    def position_s(self) -> float:
        return self.frames_played / self.sample_rate

    # --- threads ---------------------------------------------------------------------------------------
    def _render(self, plan: PlaybackPlan) -> None:
        try:
            for block in stream_plan(plan, self.engine, block_frames=self.block_frames):
                np.clip(block, -1.0, 1.0, out=block)
                while self.ring.capacity_frames - self.ring.available < block.shape[0]:
                    if self._stop.wait(0.002):
                        return
                if self._stop.is_set():
                    return
                self.ring.write(block)
        finally:
            self._rendered_all = True

    def _callback(self, outdata, frames, time_info=None, status=None) -> None:  # output thread: copy only
        got = self.ring.read_into(outdata)
        if got < frames:
            outdata[got:] = 0.0
            if not self._rendered_all:
                self.underruns += 1
        if got and self.start_latency_s is None:
            self.start_latency_s = time.perf_counter() - self._play_called_s
        self.frames_played += got

    def _open_output(self) -> None:
        if self.output == "null":
            self._output_thread = threading.Thread(target=self._null_output, name="player-null-output", daemon=True)
            self._output_thread.start()
            return
        from tutor.audio.devices import _quiet_stderr, _sounddevice

        sd = _sounddevice()

        def callback(outdata, frames, time_info, status):
            self._callback(outdata, frames)
            if self._rendered_all and self.ring.available == 0:
                raise sd.CallbackStop

        try:
            with _quiet_stderr():
                self._stream = sd.OutputStream(device=self.device.index, samplerate=self.sample_rate, channels=2,
                                               dtype="float32", blocksize=self.block_frames, callback=callback,
                                               finished_callback=self._finish)
                self._stream.start()
        except (sd.PortAudioError, ValueError) as error:  # busy or vanished device, a rate it does not take
            self._stream = None
            raise DeviceError(f"cannot open audio output {self.device.index} ({self.device.name}): {error}") from None

    def _null_output(self) -> None:
        """Stands in for a device: pulls one block per block period, like a sound card would."""
        out = np.zeros((self.block_frames, 2), dtype=np.float32)
        period = self.block_frames / self.sample_rate
        next_s = time.perf_counter()
        while not self._stop.is_set():
            self._callback(out, self.block_frames)
            if self._rendered_all and self.ring.available == 0:
                break
            next_s += period
            delay = next_s - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
        self._finish()

    def _finish(self) -> None:
        if not self._done.is_set():
            self._done.set()
            if self.on_finished is not None:
                self.on_finished()


def play_audio_file(path: str | Path, *, device: int | str | None = None) -> None:
    """Play an audio file on an output device (blocking)."""
    import soundfile

    from tutor.audio.devices import _sounddevice, find_device

    info = find_device(device, kind="output")
    try:
        audio, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, OSError) as error:
        raise InputFileError(f"cannot be read as audio ({error})", path=path) from None
    sd = _sounddevice()
    try:
        sd.play(audio, sample_rate, device=info.index)
        sd.wait()
    except (sd.PortAudioError, ValueError) as error:
        raise DeviceError(f"cannot play on audio output {info.index} ({info.name}): {error}") from None

