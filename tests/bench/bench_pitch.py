"""Pitch tracking and note transcription: accuracy and speed of every tracker, pYIN as the peer.

Data
* Synthetic (exact ground truth): 60 melodies (30 Nottingham MIDI from ../shared/data/nottingham, 20 Essen
  and 10 O'Neill tunes from music21's corpus), each cut to at most ``CLIP_S`` seconds, moved into the range
  of one of 8 monophonic GM instruments (voice oohs, violin, flute, trumpet, clarinet, cello, oboe, alto sax)
  and rendered with the FluidSynth CLI and FluidR3_GM at 16 kHz (``tutor.audio.playback.render_midi_to_wav`` drops
  pitch bends, which the vibrato needs). Every other melody has vibrato as MIDI pitch bend (5-6 Hz, 25-60
  cents, starting 150 ms into each note), so the reference f0 is exact. Legato notes cut the previous note's
  release tail (MIDI all-sound-off at the new note), as a monophonic instrument or voice does; a repeated
  note of the same pitch is re-articulated (the first one ends 40 ms early). Each clip also comes with 20 dB SNR
  pink noise and with room reverb (a synthetic exponentially decaying RIR, RT60 0.4 s, direct-to-reverberant
  ratio 0 dB). Notes: the MIDI notes.
  Cached in ``bench-results/pitch-data/`` (git-ignored); delete it to rebuild.
* Real: ../shared/data/f0-audio: vocadito 1 (33 s singing, f0 + notes A1), MDB-stem-synth (3 s, exact f0).
  TONAS is left out: the copy there is mirdata's test excerpt, whose f0 truth covers 35 ms of the 1 s clip
  and whose notes run past its end.

Metrics (mir_eval): raw pitch accuracy and raw chroma accuracy (50 cents, over reference-voiced frames,
the pitch guess counts on every frame, MIREX style: unvoiced frames pass it as a negative frequency),
"steady RPA" (the same without the frames within 50 ms of a reference note boundary, where any 64 ms
analysis window still hears the previous note), voicing recall / false alarm, note onset F1 (50 ms, 50 cents,
offsets ignored) and note F1 with offsets (mir_eval's default: 20 % of the note or 50 ms), from
``tutor.listen.transcription.notes_and_f0``, and the intonation error: median |cents| between each
onset-matched note's pitch + cents and the true pitch. The synthetic reference f0 is computed on the
trackers' own frame grid (frame i centred on i * 10 ms) after moving the notes by FluidSynth's ~5 ms latency,
so mir_eval compares frame with frame (no interpolation across a note change). Speed: real-time factor =
processing seconds / audio seconds, both as CPU time of this process (torch on one thread; fair on a machine
shared with other jobs) and as wall-clock time. Tracking and segmentation are timed together (the offline
pipeline). Streaming (PESTO): the first 5 clean clips pushed in 16 ms pieces as the practice app does, with
the network run on every push or on 40 / 80 ms blocks, against pesto-pitch's own modules as the peer; RPA of
the stream's frames, and the latency from an event in the input to its report (``measure_stream_latency``).

Subsets (2 shared CPU cores): ``crepe`` (full) costs ~6 CPU-s per audio second on this machine, so it runs on
``FULL_CREPE_CLIPS`` clean clips and the short real clip only; the noise and reverb conditions use the
first ``CONDITION_CLIPS`` melodies. ``python -m tests.bench pitch`` runs everything in one process (well over
an hour of wall time on the shared machine). The recorded run (all 60 melodies, clean + noise + reverb, for
PESTO, CREPE tiny and pYIN; CREPE full on one clean clip and MDB) split the work over processes, then merged:

    export PITCH_BENCH_CLEAN_CLIPS=60 PITCH_BENCH_CONDITION_CLIPS=60 PITCH_BENCH_STREAM=0
    run() { PITCH_BENCH_TRACKERS=$1 PITCH_BENCH_CONDITIONS=$2 PITCH_BENCH_NAME=$3 nice -n 5 python -m tests.bench pitch; }
    run pesto clean,noise,reverb,real pitch-pesto &
    run crepe-tiny clean,real pitch-crepe-tiny & run crepe-tiny noise pitch-crepe-tiny-noise &
    run crepe-tiny reverb pitch-crepe-tiny-reverb &
    run pyin clean pitch-pyin & run pyin noise pitch-pyin-noise & run pyin reverb pitch-pyin-reverb &
    run pyin real pitch-pyin-real & PITCH_BENCH_FULL_CREPE_CLIPS=1 run crepe clean,real pitch-crepe &
    PITCH_BENCH_STREAM=1 run "" "" pitch-stream &
    wait
    python -c "from tests.bench.bench_pitch import merge; merge(['pitch-pesto', 'pitch-crepe-tiny', \
        'pitch-crepe-tiny-noise', 'pitch-crepe-tiny-reverb', 'pitch-pyin', 'pitch-pyin-noise', 'pitch-pyin-reverb', \
        'pitch-pyin-real', 'pitch-crepe', 'pitch-stream'])"

Results in ``bench-results/pitch.json`` (or ``pitch-NAME.json``) and the table printed at the end. RTF wall is
meaningless when several runs share the 2 cores; compare RTF cpu, measured in the same run.

Last run (2026-11-24, all 60 melodies; "RPA" is the transcription's f0, which `tutor transcribe --f0` writes,
"tracker" the tracker's own f0; PESTO at cd7fc9e, load 0-1, pYIN at e3aee45, load 2-4, CREPE tiny at eb888df;
vocadito is the one vocadito clip in the shared data):

    tracker     data      RPA (tracker)  steady  onset F1  note F1  cents  RTF cpu
    PESTO       clean     0.974 (0.960)  0.997   0.951     0.871    2.0    0.150
    PESTO       noise     0.969 (0.961)  0.998   0.943     0.874    1.8    0.148
    PESTO       reverb    0.934 (0.897)  0.972   0.791     0.634    1.8    0.150
    PESTO       vocadito  0.991          -       0.592     0.480    7.7    0.142
    CREPE tiny  clean     0.977 (0.957)  0.998   0.959     0.877    3.9    0.295
    pYIN        clean     0.967 (0.940)  0.999   0.897     0.827    4.8    0.422
    pYIN        vocadito  0.982          -       0.411     0.304    2.8    0.462
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.bench._results import RESULTS, save

DATA = RESULTS / "pitch-data"
SHARED = Path(os.environ.get("TUTOR_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RATE = 16000
HOP_S = 0.01
CLIP_S = 12.0
N_NOTTINGHAM, N_ESSEN, N_ONEILL = 30, 20, 10
CLEAN_CLIPS = int(os.environ.get("PITCH_BENCH_CLEAN_CLIPS", "60"))
CONDITION_CLIPS = int(os.environ.get("PITCH_BENCH_CONDITION_CLIPS", "12"))
FULL_CREPE_CLIPS = int(os.environ.get("PITCH_BENCH_FULL_CREPE_CLIPS", "2"))
TRACKERS = [t for t in os.environ.get("PITCH_BENCH_TRACKERS", "pesto,crepe-tiny,pyin,crepe").split(",") if t]
RESULT_NAME = os.environ.get("PITCH_BENCH_NAME", "pitch")  # pitch-NAME files are merged by merge()
RUN_STREAM = os.environ.get("PITCH_BENCH_STREAM", "1") == "1"
CONDITIONS = os.environ.get("PITCH_BENCH_CONDITIONS", "clean,noise,reverb,real").split(",")

# (GM program, name, median MIDI pitch to move the melody to)
INSTRUMENTS = [
    (53, "voice", 64),
    (40, "violin", 74),
    (73, "flute", 79),
    (56, "trumpet", 70),
    (71, "clarinet", 67),
    (42, "cello", 52),
    (68, "oboe", 74),
    (65, "alto sax", 63),
]


@dataclass
class Clip:
    name: str
    condition: str  # clean | noise | reverb | real
    wav: Path
    ref_times: np.ndarray
    ref_f0: np.ndarray  # 0 = unvoiced
    ref_notes: np.ndarray | None  # (n, 3): onset_s, offset_s, midi
    vibrato: tuple[float, float] | None = None  # (rate Hz, depth cents) of a synthetic clip's pitch bend


def away_from_boundaries(times_s: np.ndarray, notes: np.ndarray) -> np.ndarray:
    """Frames more than 50 ms from every note start and end (``notes``: rows of onset_s, offset_s, ...):
    where "steady RPA" is measured, out of reach of any analysis window that still hears the last note."""
    return np.min(np.abs(times_s[:, None] - notes[:, :2].reshape(-1)[None, :]), axis=1) > 0.05


# ---------------------------------------------------------------------------------------------
# melodies
# ---------------------------------------------------------------------------------------------
def _monophonic(notes: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    notes = sorted(notes, key=lambda n: (n[1], -n[0]))
    out: list[tuple[int, float, float]] = []
    for pitch, onset, offset in notes:
        if out and onset < out[-1][1] + 1e-6:
            continue  # a chord: keep the top note
        if out and out[-1][2] > onset:
            out[-1] = (out[-1][0], out[-1][1], onset)
        out.append((pitch, onset, offset))
    return [n for n in out if n[2] - n[1] >= 0.05]


def _cut(notes, *, lead_s=0.3):
    start = notes[0][1]
    cut = [(p, a - start + lead_s, b - start + lead_s) for p, a, b in notes if b - start <= CLIP_S - 0.5]
    return cut


def nottingham_melodies(count: int) -> list[tuple[str, list]]:
    import pretty_midi

    files = sorted(glob.glob(str(SHARED / "nottingham" / "MIDI" / "*.mid")))
    chosen = files[:: max(1, len(files) // (count * 2))][: count * 2]
    out = []
    for path in chosen:
        try:
            midi = pretty_midi.PrettyMIDI(path)
        except Exception:
            continue
        melody = midi.instruments[0]
        notes = _monophonic([(n.pitch, n.start, n.end) for n in melody.notes])
        if len(notes) >= 12:
            out.append((f"nottingham/{Path(path).stem}", _cut(notes)))
        if len(out) == count:
            break
    return out


def corpus_melodies(composer: str, count: int, *, rng: np.random.Generator) -> list[tuple[str, list]]:
    import warnings

    from music21 import corpus

    out = []
    files = corpus.getComposer(composer)
    for path in files:
        first = Path(path).stem.split("-")[0]
        base = int(first) if first.isdigit() else 1  # O'Neill files number their tunes from the file's range
        for number in (base, base + 2, base + 4, base + 7):
            if len(out) == count:
                return out
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    score = corpus.parse(path, number=number)
            except Exception:
                continue
            bpm = float(rng.uniform(90, 140))
            notes = []
            for n in score.flatten().notes:
                if n.isChord:
                    n = n.notes[-1]
                onset = float(n.getOffsetInHierarchy(score)) * 60.0 / bpm
                notes.append((int(n.pitch.midi), onset, onset + float(n.quarterLength) * 60.0 / bpm))
            notes = _monophonic(notes)
            if len(notes) >= 12:
                out.append((f"{composer}/{Path(path).stem}-{number}", _cut(notes)))
    return out


# ---------------------------------------------------------------------------------------------
# rendering with exact ground truth
# ---------------------------------------------------------------------------------------------
def rearticulate(notes, *, gap_s: float = 0.04):
    """End a note ``gap_s`` early when the next one has the same pitch: players re-articulate a
    repeated note (a new bow, breath or tongue stroke); tied-sounding repeats are one note to the ear."""
    out = []
    for index, (pitch, onset, offset) in enumerate(notes):
        following = notes[index + 1] if index + 1 < len(notes) else None
        if following and following[0] == pitch and following[1] - offset < gap_s and offset - onset > 2.5 * gap_s:
            offset = following[1] - gap_s
        out.append((pitch, onset, offset))
    return out


def vibrato_cents(t_in_note: np.ndarray, *, rate_hz: float, depth_cents: float, delay_s: float = 0.15) -> np.ndarray:
    ramp = np.clip((t_in_note - delay_s) / 0.1, 0.0, 1.0)
    return depth_cents * ramp * np.sin(2 * np.pi * rate_hz * np.maximum(t_in_note - delay_s, 0.0))


def write_melody_midi(path: Path, notes, *, program: int, vibrato: tuple[float, float] | None) -> None:
    """A MIDI file of ``notes`` [(pitch, onset_s, offset_s)] at 120 bpm with pitch-bend vibrato."""
    import mido

    tpb = 480
    per_s = tpb * 2  # 120 bpm
    events = [(0, 0, mido.Message("program_change", program=program, channel=0))]
    previous_offset = -1.0
    for pitch, onset, offset in notes:
        if onset - previous_offset < 0.005:  # legato: a monophonic instrument stops the old note (no release tail)
            events.append((round(onset * per_s), 0, mido.Message("control_change", control=120, value=0, channel=0)))
        previous_offset = offset
        events.append((round(onset * per_s), 1, mido.Message("pitchwheel", pitch=0, channel=0)))
        events.append((round(onset * per_s), 2, mido.Message("note_on", note=pitch, velocity=90, channel=0)))
        events.append((round(offset * per_s), 0, mido.Message("note_off", note=pitch, velocity=0, channel=0)))
        if vibrato:
            rate_hz, depth = vibrato
            for t in np.arange(onset + 0.01, offset, 0.01):
                cents = float(vibrato_cents(np.array([t - onset]), rate_hz=rate_hz, depth_cents=depth)[0])
                events.append((round(t * per_s), 1, mido.Message("pitchwheel", pitch=int(round(cents / 200 * 8191)), channel=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    midi = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    now = 0
    for tick, _order, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    midi.save(str(path))


def render_midi(midi_path: Path, wav_path: Path) -> np.ndarray:
    import soundfile

    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.7", "-F", str(wav_path), "-r", str(RATE), SOUNDFONT, str(midi_path)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    audio, rate = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
    assert rate == RATE
    mono = audio.mean(axis=1)
    soundfile.write(str(wav_path), mono, RATE)
    return mono


def reference_f0(notes, duration_s: float, vibrato: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(int(duration_s / HOP_S) + 1) * HOP_S
    f0 = np.zeros_like(times)
    for pitch, onset, offset in notes:
        inside = (times >= onset) & (times < offset)
        cents = np.zeros(inside.sum())
        if vibrato:
            # the synth applies the bend values of the 10 ms grid: use the value in force at each frame
            held = np.floor((times[inside] - onset) / 0.01) * 0.01
            cents = np.where(held >= 0.01, vibrato_cents(held, rate_hz=vibrato[0], depth_cents=vibrato[1]), 0.0)
            cents = np.round(cents / 200 * 8191) / 8191 * 200
        f0[inside] = 440.0 * 2 ** ((pitch + cents / 100 - 69) / 12)
    return times, f0


def reference_for_render(notes, clean: np.ndarray, vibrato: tuple[float, float] | None):
    """(times, f0, notes as (onset_s, offset_s, midi) rows) of a FluidSynth render of ``notes``
    [(pitch, onset_s, offset_s)]: the notes moved by the synth's latency (measured on the first note:
    its first sample over -80 dBFS), the f0 on the trackers' frame grid (frame i centred on i * HOP_S)."""
    sounding = np.flatnonzero(np.abs(clean) > 1e-4)
    latency = float(np.clip(sounding[0] / RATE - notes[0][1], 0.0, 0.02)) if len(sounding) else 0.0
    moved = [(p, a + latency, b + latency) for p, a, b in notes]
    times, f0 = reference_f0(moved, len(clean) / RATE, vibrato)
    return times, f0, np.array([(a, b, p) for p, a, b in moved], float)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.std(noise) + 1e-12)


def room_impulse(rng: np.random.Generator, *, rt60_s: float = 0.4, drr_db: float = 0.0) -> np.ndarray:
    """A synthetic room: the direct sound, then exponentially decaying noise from 5 ms on (RT60
    ``rt60_s``), scaled so that direct-to-reverberant energy is ``drr_db`` (0 dB: a phone or laptop
    about a metre away in a small room, where a student records)."""
    n = int(rt60_s * 1.2 * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    tail[: int(0.005 * RATE)] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[0] = 1.0
    return tail


def build_synthetic() -> list[Clip]:
    import soundfile

    DATA.mkdir(parents=True, exist_ok=True)
    manifest = DATA / "manifest.json"
    if manifest.exists():
        return _load_manifest(manifest)
    rng = np.random.default_rng(4)
    melodies = (nottingham_melodies(N_NOTTINGHAM) + corpus_melodies("essenFolksong", N_ESSEN, rng=rng)
                + corpus_melodies("oneills1850", N_ONEILL, rng=rng))
    entries = []
    for index, (name, notes) in enumerate(melodies):
        program, instrument, centre = INSTRUMENTS[index % len(INSTRUMENTS)]
        shift = int(round((centre - np.median([p for p, _, _ in notes])) / 12.0)) * 12
        notes = [(p + shift, a, b) for p, a, b in notes]
        notes = rearticulate(notes)
        vibrato = (float(rng.uniform(5.0, 6.5)), float(rng.uniform(25, 60))) if index % 2 == 0 else None
        stem = f"{index:02d}"
        write_melody_midi(DATA / f"{stem}.mid", notes, program=program, vibrato=vibrato)
        clean = render_midi(DATA / f"{stem}.mid", DATA / f"{stem}-clean.wav")
        duration = len(clean) / RATE
        times, f0 = reference_f0(notes, duration, vibrato)
        signal_rms = np.sqrt(np.mean(clean[clean != 0] ** 2)) if np.any(clean) else 1e-3
        noisy = clean + pink_noise(len(clean), rng) * signal_rms / 10 ** (20 / 20)
        soundfile.write(str(DATA / f"{stem}-noise.wav"), noisy.astype(np.float32), RATE)
        wet = np.convolve(clean, room_impulse(rng))[: len(clean)]
        wet *= np.max(np.abs(clean)) / (np.max(np.abs(wet)) + 1e-12)
        soundfile.write(str(DATA / f"{stem}-reverb.wav"), wet.astype(np.float32), RATE)
        np.savez(DATA / f"{stem}-ref.npz", times=times, f0=f0, notes=np.array([(a, b, p) for p, a, b in notes], float))
        entries.append({"stem": stem, "melody": name, "instrument": instrument, "vibrato": vibrato})
    manifest.write_text(json.dumps(entries, indent=1))
    return _load_manifest(manifest)


def _load_manifest(manifest: Path) -> list[Clip]:
    clips = []
    import soundfile

    for entry in json.loads(manifest.read_text()):
        ref = np.load(DATA / f"{entry['stem']}-ref.npz")
        # FluidSynth starts sounding a few ms after the MIDI time (its 64-sample blocks, ~5 ms): measured on
        # the first note of the clean render; the notes are moved by it and the reference f0 is computed on
        # the trackers' own frame grid (frame i centred on i * HOP_S). Shifting the reference *times* instead
        # put every reference frame half-way between two tracker frames, and mir_eval then interpolates the
        # estimate linearly in cents: at every note change one frame got the mean of the two pitches (a miss).
        clean, _rate = soundfile.read(str(DATA / f"{entry['stem']}-clean.wav"), dtype="float32")
        vibrato = tuple(entry["vibrato"]) if entry["vibrato"] else None
        times, f0, notes = reference_for_render([(int(p), a, b) for a, b, p in ref["notes"]], clean, vibrato)
        for condition in ("clean", "noise", "reverb"):
            name = f"{entry['stem']} {entry['melody']} {entry['instrument']}{' vib' if entry['vibrato'] else ''}"
            clips.append(Clip(name, condition, DATA / f"{entry['stem']}-{condition}.wav", times, f0, notes, vibrato))
    return clips


def real_clips() -> list[Clip]:
    base = SHARED / "f0-audio"
    clips = []
    if (base / "vocadito").exists():
        f0 = np.loadtxt(base / "vocadito/Annotations/F0/vocadito_1_f0.csv", delimiter=",")
        notes = np.loadtxt(base / "vocadito/Annotations/Notes/vocadito_1_notesA1.csv", delimiter=",")
        ref_notes = np.column_stack([notes[:, 0], notes[:, 0] + notes[:, 2], 69 + 12 * np.log2(notes[:, 1] / 440)])
        clips.append(Clip("vocadito_1", "real", base / "vocadito/Audio/vocadito_1.wav", f0[:, 0], f0[:, 1], ref_notes))
    stem = base / "mdb_stem_synth"
    if stem.exists():
        f0 = np.loadtxt(stem / "annotation_stems/AClassicEducation_NightOwl_STEM_08.RESYN.csv", delimiter=",")
        clips.append(Clip("mdb_stem_synth NightOwl", "real", stem / "audio_stems/AClassicEducation_NightOwl_STEM_08.RESYN.wav",
                          f0[:, 0], f0[:, 1], None))
    return clips


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(tracker_name: str, clip: Clip) -> dict:
    import mir_eval
    import soundfile

    from tutor.listen.pitch import get_tracker, to_model_rate
    from tutor.listen.transcription import notes_and_f0

    tracker = get_tracker(tracker_name, device="cpu")
    audio, rate = soundfile.read(str(clip.wav), dtype="float32", always_2d=True)
    duration = len(audio) / rate
    cpu0, wall0 = time.process_time(), time.perf_counter()
    audio16 = to_model_rate(audio, rate)
    raw = tracker.track(audio16, RATE)
    notes, track = notes_and_f0(raw, audio16)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    def cent_voicing(f0_hz: np.ndarray, ref_times=clip.ref_times, ref_f0=clip.ref_f0):
        est_f0 = np.where(track.voiced, f0_hz, -f0_hz)  # MIREX convention: a pitch guess on unvoiced frames
        return mir_eval.melody.to_cent_voicing(ref_times, ref_f0, track.times_s, est_f0)

    ref_v, ref_c, est_v, est_c = cent_voicing(track.f0_hz)
    # raw pitch/chroma accuracy: the pitch on every reference-voiced frame, whatever the voicing decision;
    # "rpa" of the pipeline's f0 (what `tutor transcribe --f0` writes), "rpa_tracker" of the tracker's own
    result = {
        "rpa": mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c),
        "rpa_tracker": mir_eval.melody.raw_pitch_accuracy(*cent_voicing(raw.f0_hz)),
        "rca": mir_eval.melody.raw_chroma_accuracy(ref_v, ref_c, est_v, est_c),
        "vr": mir_eval.melody.voicing_recall(ref_v, est_v),
        "vfa": mir_eval.melody.voicing_false_alarm(ref_v, est_v),
        "duration_s": duration, "cpu_s": cpu, "wall_s": wall,
    }
    if clip.ref_notes is not None and len(clip.ref_notes) and clip.condition != "real":
        steady = away_from_boundaries(clip.ref_times, clip.ref_notes)
        result["rpa_steady"] = mir_eval.melody.raw_pitch_accuracy(
            *cent_voicing(track.f0_hz, clip.ref_times[steady], clip.ref_f0[steady]))
    if clip.ref_notes is not None and len(clip.ref_notes):
        ref_int = clip.ref_notes[:, :2]
        ref_hz = 440.0 * 2 ** ((clip.ref_notes[:, 2] - 69) / 12)
        if notes:
            est_int = np.array([[n.onset_s, n.offset_s] for n in notes])
            est_hz = np.array([440.0 * 2 ** ((n.pitch + n.cents / 100 - 69) / 12) for n in notes])
            _p, _r, onset_f1, _o = mir_eval.transcription.precision_recall_f1_overlap(
                ref_int, ref_hz, est_int, est_hz, onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None)
            _p, _r, note_f1, _o = mir_eval.transcription.precision_recall_f1_overlap(
                ref_int, ref_hz, est_int, est_hz, onset_tolerance=0.05, pitch_tolerance=50.0)
            pairs = mir_eval.transcription.match_notes(ref_int, ref_hz, est_int, est_hz, onset_tolerance=0.05,
                                                       pitch_tolerance=50.0, offset_ratio=None)
            if pairs:
                result["cents_err"] = float(np.median([abs(1200 * np.log2(est_hz[j] / ref_hz[i])) for i, j in pairs]))
        else:
            onset_f1 = note_f1 = 0.0
        result["onset_f1"] = onset_f1
        result["note_f1"] = note_f1
    return result


def _mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if key in r and r[key] == r[key]]
    return float(np.mean(values)) if values else float("nan")


def summarize(rows: list[dict]) -> dict:
    audio = sum(r["duration_s"] for r in rows)
    return {
        "clips": len(rows), "audio_s": audio,
        **{key: _mean(rows, key) for key in ("rpa", "rpa_tracker", "rpa_steady", "rca", "vr", "vfa", "onset_f1", "note_f1", "cents_err")},
        "rtf_cpu": sum(r["cpu_s"] for r in rows) / audio, "rtf_wall": sum(r["wall_s"] for r in rows) / audio,
    }


STREAM_PUSH = 256  # samples (16 ms at 16 kHz): what the practice app's worker reads from the ring buffer per turn
STREAM_BLOCKS_S = (0.0, 0.04, 0.08)


def stream_benchmark(clips: list[Clip], *, block_s: float, hop_s: float = HOP_S, shipped: bool = False) -> dict:
    """PESTO streaming on ``clips`` pushed in 16 ms pieces: CPU and wall RTF, raw pitch accuracy of the
    stream's frames (reference f0 at their centres, ``k * hop + hop / 2``) and the report latency.
    ``shipped``: the pesto-pitch modules as they come (the peer for the small-batch matmul modules)."""
    import copy

    import mir_eval
    import soundfile

    from tutor.listen.pitch import PestoStream, _pesto_checkpoint_model, measure_stream_latency

    cpu = wall = audio_s = 0.0
    rpa, rpa_steady = [], []
    for clip in clips:
        audio, rate = soundfile.read(str(clip.wav), dtype="float32")
        stream = PestoStream(sample_rate=rate, hop_s=hop_s, block_s=block_s)
        if shipped:
            stream.model = copy.deepcopy(_pesto_checkpoint_model(rate, True, 1.0, hop_s))
        start, start_wall = time.process_time(), time.perf_counter()
        parts = [stream.push(audio[i:i + STREAM_PUSH]) for i in range(0, len(audio), STREAM_PUSH)] + [stream.flush()]
        cpu += time.process_time() - start
        wall += time.perf_counter() - start_wall
        audio_s += len(audio) / rate
        times = np.concatenate([p.times_s for p in parts])
        f0 = np.concatenate([np.where(p.voiced, p.f0_hz, -p.f0_hz) for p in parts])
        half = stream.hop / 2 / rate  # the reference on the stream's frame centres
        notes = [(int(p), a - half, b - half) for a, b, p in clip.ref_notes]
        ref_times, ref_f0 = reference_f0(notes, len(audio) / rate, clip.vibrato)
        ref_times = ref_times + half
        rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(ref_times, ref_f0, times, f0)
        rpa.append(mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec))
        steady = away_from_boundaries(ref_times, clip.ref_notes)
        rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(ref_times[steady], ref_f0[steady], times, f0)
        rpa_steady.append(mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec))
    latency = measure_stream_latency(sample_rate=RATE, hop_s=hop_s, block_s=block_s, push_s=STREAM_PUSH / RATE)
    return {"hop_s": hop_s, "block_s": block_s, "shipped_modules": shipped, "rtf_cpu": cpu / audio_s, "rtf_wall": wall / audio_s,
            "audio_s": audio_s, "rpa": float(np.mean(rpa)), "rpa_steady": float(np.mean(rpa_steady)), **latency}


def main() -> None:
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    synthetic = build_synthetic()
    print(f"synthetic set: {len(synthetic)} clips in {DATA} ({time.perf_counter() - started:.0f} s)", flush=True)
    real = real_clips()
    by_condition = {c: [clip for clip in synthetic if clip.condition == c] for c in ("clean", "noise", "reverb")}
    plan = {"clean": by_condition["clean"][:CLEAN_CLIPS], "noise": by_condition["noise"][:CONDITION_CLIPS],
            "reverb": by_condition["reverb"][:CONDITION_CLIPS]}
    results: dict = {"trackers": {}, "per_clip": {}, "stream": []}
    settings = {"clean_clips": CLEAN_CLIPS, "condition_clips": CONDITION_CLIPS, "full_crepe_clips": FULL_CREPE_CLIPS,
                "conditions": CONDITIONS}
    if RUN_STREAM:
        stream_clips = by_condition["clean"][:5]
        for block_s, shipped in [(0.0, True)] + [(block_s, False) for block_s in STREAM_BLOCKS_S]:
            results["stream"].append(stream_benchmark(stream_clips, block_s=block_s, shipped=shipped))
            print("pesto stream", json.dumps({k: round(float(v), 4) for k, v in results["stream"][-1].items()}), flush=True)
    for name in TRACKERS:
        from tutor.listen.pitch import get_tracker

        get_tracker(name, device="cpu").track(np.zeros(RATE, np.float32) + 0.01 * np.sin(np.arange(RATE) * 0.2), RATE)  # warm-up
        results["trackers"][name] = {}
        for condition, clips in list(plan.items()) + [("real", real)]:
            if condition not in CONDITIONS:
                continue
            if name == "crepe" and condition in ("noise", "reverb"):
                continue
            if name == "crepe" and condition == "clean":
                clips = clips[:FULL_CREPE_CLIPS]
            if name == "crepe" and condition == "real":
                clips = [clip for clip in clips if "vocadito" not in clip.name]  # 33 s: ~4 CPU-minutes
            if not clips:
                continue
            rows = []
            for index, clip in enumerate(clips):
                row = evaluate(name, clip)
                row["clip"] = clip.name
                rows.append(row)
                if index % 10 == 9 and index + 1 < len(clips):
                    print(f"  {name} {condition}: {index + 1}/{len(clips)} clips", flush=True)
                    if condition != "real":  # the first clips' scores survive an interrupted run
                        partial = {**results["trackers"][name], condition: summarize(rows)}
                        save(RESULT_NAME, {**results, "trackers": {**results["trackers"], name: partial},
                                           "per_clip": {**results["per_clip"], f"{name}/{condition}": rows},
                                           "settings": settings, "partial": True})
            if condition == "real":
                for row in rows:
                    results["trackers"][name][f"real:{row['clip']}"] = summarize([row])
            else:
                results["trackers"][name][condition] = summarize(rows)
            results["per_clip"][f"{name}/{condition}"] = rows
            print(f"{name:10s} {condition:7s} {json.dumps({k: round(v, 3) for k, v in summarize(rows).items()})}", flush=True)
            save(RESULT_NAME, {**results, "settings": settings, "partial": True})  # what is done survives an interrupted run
    results["table"] = table(results)
    results["seconds"] = time.perf_counter() - started
    results["settings"] = settings
    save(RESULT_NAME, results)
    print(results["table"])


def merge(names: list[str]) -> None:
    """Merge runs made one tracker per process (``PITCH_BENCH_NAME=pitch-X``) into pitch.json."""
    merged: dict = {"trackers": {}, "per_clip": {}, "stream": [], "runs": names, "settings": {}}
    for name in names:
        part = json.loads((RESULTS / f"{name}.json").read_text())
        for tracker, sets in part["trackers"].items():
            merged["trackers"].setdefault(tracker, {}).update(sets)
        merged["per_clip"].update(part["per_clip"])
        merged["stream"] = part.get("stream") or merged["stream"]  # the last run with a stream part
        merged["settings"][name] = {**(part.get("settings") or {}), "partial": bool(part.get("partial"))}
    merged["table"] = table(merged)
    save("pitch", merged)
    print(merged["table"])


def table(results: dict) -> str:
    def cell(value: float, digits: int = 3) -> str:
        return "-" if value != value else f"{value:.{digits}f}"

    lines = ["| tracker | data | clips | RPA | tracker's RPA | steady RPA | RCA | VR | VFA | onset F1 | note F1 | cents err | RTF cpu | RTF wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, sets in results["trackers"].items():
        for data, s in sets.items():
            scores = " | ".join(cell(s.get(key, float("nan"))) for key in ("rpa", "rpa_tracker", "rpa_steady", "rca", "vr", "vfa",
                                                                          "onset_f1", "note_f1"))
            lines.append(f"| {name} | {data} | {s['clips']} | {scores} | {cell(s['cents_err'], 1)} | "
                         f"{s['rtf_cpu']:.3f} | {s['rtf_wall']:.3f} |")
    if results.get("stream"):
        lines += ["", "PESTO streaming, 10 ms frames, input pushed in 16 ms pieces (latency: input time from the event to the report, "
                  "processing not included):", "",
                  "| modules | block | audio s | RPA | steady RPA | RTF cpu | RTF wall | pitch-change latency ms | onset latency ms |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for stream in results.get("stream", []):
        modules = "pesto-pitch as shipped" if stream.get("shipped_modules") else "small-batch matmul"
        block = f"{stream.get('block_s', 0.0) * 1000:.0f} ms" if stream.get("block_s") else "each push"
        lines.append(f"| {modules} | {block} | {stream['audio_s']:.0f} | {cell(stream.get('rpa', float('nan')))} | "
                     f"{cell(stream.get('rpa_steady', float('nan')))} | {stream['rtf_cpu']:.3f} | {stream['rtf_wall']:.3f} | "
                     f"{stream['pitch_change_latency_s'] * 1000:.1f} | {stream['onset_latency_s'] * 1000:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
