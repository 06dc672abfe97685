"""Transcription on real recordings (issue 22): short excerpts of held-out SSVD singers and Bach violin.

Each excerpt is tracked once (PESTO, as ``tutor transcribe`` on a CPU) and segmented as a voice or violin
take is (the learned segmenter) and by the note HMM rules that other instruments keep; the learned one must reach the onset F1 in
``CASES`` and beat the rules there. tests/bench/bench_real_sound.py measures the whole held-out parts.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared
from tutor.listen.transcription import notes_and_f0, part_instrument, segmenter_for, track_file
from tutor.score.music import Part

INSTRUMENT = {"ssvd-dev": "voice", "bach-violin-dev": "violin"}

# (set, recording, excerpt seconds, learned onset F1 at 50 ms at least, gain over the rules at least)
CASES = [
    ("ssvd-dev", "1011", (0.0, 20.0), 0.66, 0.08),  # measured 0.696 (rules 0.581; third pass 0.676, first weights 0.704)
    ("ssvd-dev", "man2_schoolbell", (0.0, 20.0), 0.56, 0.3),  # measured 0.656 (rules 0.162; third pass 0.623, first 0.590)
    ("bach-violin-dev", "john-garner_bwv1002_mov8", (0.0, 20.0), 0.83, 0.06),  # measured 0.879 (rules 0.767; third pass 0.863, first 0.879)
]


def _excerpt(dataset: str, name: str, span: tuple[float, float], tmp_path):
    import soundfile

    root = shared("real-audio", dataset)
    if dataset == "ssvd-dev":
        audio_path = root / "audio" / f"{name}.ogg"
        ref = np.loadtxt(root / "notes" / f"{name}.txt", ndmin=2)
    else:
        audio_path = root / "audio" / f"{name}.mp3"
        ref = np.loadtxt(root / "notes_abs_time" / f"{name}.csv", delimiter=",", skiprows=1, ndmin=2)
    from tutor.listen.transcription import read_audio

    audio, rate = read_audio(audio_path)
    audio = audio[int(span[0] * rate):int(span[1] * rate)]
    path = tmp_path / f"{name}.wav"
    soundfile.write(str(path), audio, rate)
    ref = ref[(ref[:, 0] >= span[0]) & (ref[:, 1] <= span[1])]
    ref[:, :2] -= span[0]
    return path, ref


def _read16(path):
    """``read(lo, hi)`` of a file's samples at 16 kHz, as ``transcribe_file`` spills them (the onset
    model's harmonic features)."""
    import soxr

    from tutor.listen.transcription import array_reader, read_audio

    audio, rate = read_audio(path)
    return array_reader(soxr.resample(audio, rate, 16000) if rate != 16000 else audio)


def _onset_f1(ref: np.ndarray, notes, tolerance: float = 0.05) -> float:
    import mir_eval

    if not notes:
        return 0.0
    est_int = np.array([[n.onset_s, max(n.offset_s, n.onset_s + 1e-3)] for n in notes])
    est_hz = 440.0 * 2 ** ((np.array([n.pitch + n.cents / 100.0 for n in notes]) - 69) / 12)
    ref_hz = 440.0 * 2 ** ((ref[:, 2] - 69) / 12)
    # pitch relative to the recording's tuning (SSVD's labels sit 20-60 cents above the measured pitch)
    pairs = mir_eval.transcription.match_note_onsets(ref[:, :2], est_int, onset_tolerance=0.1)
    if pairs:
        offset = np.median([(12 * np.log2(est_hz[j] / ref_hz[i]) + 6) % 12 - 6 for i, j in pairs])
        ref_hz = ref_hz * 2 ** (offset / 12)
    return mir_eval.transcription.precision_recall_f1_overlap(ref[:, :2], ref_hz, est_int, est_hz,
                                                              onset_tolerance=tolerance, offset_ratio=None)[2]


@pytest.mark.parametrize(("dataset", "name", "span", "at_least", "gain"), CASES, ids=[c[1] for c in CASES])
def test_learned_segmenter_on_real_recordings(dataset, name, span, at_least, gain, tmp_path):
    path, ref = _excerpt(dataset, name, span, tmp_path)
    f0, flux = track_file(path, tracker="pesto", device="cpu")
    learned, _ = notes_and_f0(f0, onset_strength=flux, segmenter=segmenter_for(INSTRUMENT[dataset], f0.tracker),
                              instrument=INSTRUMENT[dataset], read=_read16(path))
    rules, _ = notes_and_f0(f0, onset_strength=flux, segmenter="rules")
    f1_learned, f1_rules = _onset_f1(ref, learned), _onset_f1(ref, rules)
    print(f"{name}: learned {f1_learned:.3f} rules {f1_rules:.3f}")
    assert f1_learned >= at_least
    assert f1_learned >= f1_rules + gain


def test_the_onset_model_is_told_what_the_take_is_played_on(tmp_path):
    """A bowed note starts at the change of bow or finger, a sung one where its pitch settles after the
    consonant (issue 22, third pass: the ``instrument`` feature): told that the first 20 s of the violin
    (BWV 1002/8) are a violin, the learned onsets match more labels at 50 ms than told they are a voice
    (measured 0.879 vs 0.586; third pass 0.863 vs 0.634), and a sung take (SSVD man2_schoolbell) told it is
    a voice more than told it is a violin (0.656 vs 0.516; third pass 0.623 vs 0.452). Before the feature the curve was the same whatever the instrument."""
    for dataset, name, right, wrong, gain in (("bach-violin-dev", "john-garner_bwv1002_mov8", "violin", "voice", 0.15),
                                              ("ssvd-dev", "man2_schoolbell", "voice", "violin", 0.1)):
        path, ref = _excerpt(dataset, name, (0.0, 20.0), tmp_path)
        f0, flux = track_file(path, tracker="pesto", device="cpu")
        read = _read16(path)
        f1 = {kind: _onset_f1(ref, notes_and_f0(f0, onset_strength=flux, segmenter="learned", instrument=kind,
                                                read=read)[0])
              for kind in (right, wrong)}
        print(f"{name}: told {right} {f1[right]:.3f}, told {wrong} {f1[wrong]:.3f}")
        assert f1[right] >= f1[wrong] + gain, (name, f1)


def test_exported_trees_predict_as_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from tutor.models.note_onsets import export, predict

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = ((np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) ** 2) > 0.4).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=7, random_state=0).fit(x, y)
    assert np.allclose(predict(export(model), x), model.predict_proba(x)[:, 1], atol=1e-9)


def test_shipped_onset_weights_load_and_give_a_curve():
    from tutor.models.note_onsets import FEATURES, features, load_trees, onset_probability

    trees = load_trees()
    assert trees is not None, "models/weights/note_onsets.npz is missing"
    n = 300
    midi = np.where(np.arange(n) % 100 < 80, 60.0 + (np.arange(n) // 100), np.nan)
    voiced = np.isfinite(midi)
    level = np.where(voiced, -20.0, -70.0)
    flux = np.zeros(n)
    flux[[0, 100, 200]] = 5.0
    assert features(midi, voiced, voiced * 0.9, level, flux).shape == (n, len(FEATURES))
    prob = onset_probability(midi, voiced, voiced * 0.9, level, flux)
    assert prob.shape == (n,) and np.all((prob >= 0) & (prob <= 1))
    assert prob[[99, 100, 101, 199, 200, 201]].max() > prob[140:180].max()


def test_harmonic_features_rise_where_the_new_pitch_starts():
    """The onset model's harmonic features (issue 22, fourth pass) are measured at the pitch heard after
    each frame: on a legato change from A3 to E4 (6 partials each, a little noise), the new note's
    fundamental rises by tens of dB across the change and not inside either note (measured 45 dB, under
    0.1 dB inside), so does the flux of its partials, the old note's harmonic sum falls (by 5 dB: its 3rd
    partial is the new note's 2nd), and the shipped model's curve, given the audio, peaks there (with the
    pitch track and the flux alone, whose small burst a legato change gives, it hardly moves)."""
    from tutor.listen.transcription import array_reader
    from tutor.models.note_onsets import HARMONIC_FEATURES, harmonic_features, onset_probability

    sr, n = 16000, 120
    t = np.arange(int(sr * n / 100)) / sr
    hz = np.where(t < 0.6, 220.0, 329.63)
    phase = 2 * np.pi * np.cumsum(hz) / sr
    rng = np.random.default_rng(2)
    audio = (0.2 * sum(0.7 ** h * np.sin((h + 1) * phase) for h in range(6)) + rng.normal(0, 0.002, len(t))).astype(np.float32)
    midi = np.where(np.arange(n) < 60, 57.0, 64.0)
    voiced = np.ones(n, bool)
    x = harmonic_features(array_reader(audio), midi, voiced)
    assert x.shape == (n, len(HARMONIC_FEATURES))
    col = {name: x[:, i] for i, name in enumerate(HARMONIC_FEATURES)}
    assert col["h1_rise"][57:63].max() > 20.0  # the new fundamental appears
    assert np.abs(col["h1_rise"][20:45]).max() < 1.0 and np.abs(col["h1_rise"][80:105]).max() < 1.0
    assert col["harmonic_flux"][57:63].max() > 50.0 and col["harmonic_flux"][80:105].max() < 5.0
    assert col["old_note_fall"][57:63].min() < -3.0  # ...and the old one goes
    flux = np.zeros(n)
    flux[59:62] = 1.0  # a legato change's small flux burst
    for kind in ("voice", "violin"):
        heard, blind = (onset_probability(midi, voiced, np.full(n, 0.9), np.full(n, -20.0), flux, instrument=kind,
                                          read=read) for read in (array_reader(audio), None))
        # measured: voice 0.43 at the change (0.004 without the audio), violin 0.64 (0.005); 0.001 inside
        assert heard[56:66].max() > 0.3 and heard[56:66].max() > 10 * heard[75:105].max(), kind
        assert heard[56:66].max() > blind[56:66].max() + 0.2, kind


def test_voice_and_violin_takes_get_the_learned_segmenter():
    assert segmenter_for("voice", "pesto") == "learned" and segmenter_for("violin", "pesto") == "learned"
    assert segmenter_for(None, "pesto") == "rules" and segmenter_for("flute", "pesto") == "rules"
    assert segmenter_for("voice", "crepe") == "rules"  # the onset model was trained on PESTO's frames
    assert part_instrument(Part("P1", "Soprano")) == "voice" and part_instrument(Part("P1", "x", program=53)) == "voice"
    assert part_instrument(Part("P1", "Violin I", program=40)) == "violin"
    assert part_instrument(Part("P1", "Piano")) is None


def test_note_pitch_is_measured_from_the_audio_to_a_cent():
    """The tracker's frames (PESTO: 1/3-semitone steps) place a note up to ~17 cents off; the harmonic
    peaks of the audio place it within a cent (a 9-partial tone, no vibrato, with noise)."""
    from tutor.listen.pitch import F0Track
    from tutor.listen.transcription import array_reader, refine_note_pitches
    from tutor.score.music import PlayedNote

    sr = 16000
    rng = np.random.default_rng(1)
    for true in (45.3, 52.17, 61.37, 66.85, 76.6):
        t = np.arange(sr) / sr
        hz = 440.0 * 2 ** ((true - 69) / 12)
        audio = sum(0.8 ** h * np.sin(2 * np.pi * h * hz * t) for h in range(1, 10)) * 0.2
        audio = (audio + rng.normal(0, 0.003, len(t))).astype(np.float32)
        frames = np.arange(100)
        quantised = np.round(true * 3) / 3  # what PESTO gives
        f0 = F0Track(times_s=frames * 0.01, f0_hz=np.full(100, 440.0 * 2 ** ((quantised - 69) / 12)),
                     confidence=np.full(100, 0.9), voiced=np.ones(100, bool), level_db=np.full(100, -20.0), tracker="pesto")
        pitch = int(round(quantised))
        note = PlayedNote(pitch=pitch, onset_s=0.0, offset_s=1.0, cents=round((quantised - pitch) * 100, 1), confidence=0.9)
        (fine,) = refine_note_pitches((note,), f0, array_reader(audio))
        assert abs(fine.pitch + fine.cents / 100 - true) * 100 < 1.0, (true, fine)


def test_violin_note_pitch_from_the_audio_holds_the_players_tuning(tmp_path):
    """A professional violinist plays in tune: measured from the audio, 0.88 of the notes of the first
    20 s of BWV 1002/8 lie within 15 cents of the recording's own tuning (the tracker's frames: 0.69)."""
    import mir_eval
    import soxr

    from tutor.listen.transcription import array_reader, read_audio, refine_note_pitches

    path, ref = _excerpt("bach-violin-dev", "john-garner_bwv1002_mov8", (0.0, 20.0), tmp_path)
    f0, flux = track_file(path, tracker="pesto", device="cpu")
    notes, _ = notes_and_f0(f0, onset_strength=flux, segmenter="learned", instrument="violin", read=_read16(path))
    audio, rate = read_audio(path)
    fine = refine_note_pitches(notes, f0, array_reader(soxr.resample(audio, rate, 16000)))

    def in_tune(ns) -> float:
        est = np.array([[n.onset_s, n.offset_s + 1e-3] for n in ns])
        played = np.array([n.pitch + n.cents / 100 for n in ns])
        pairs = mir_eval.transcription.match_note_onsets(ref[:, :2], est, onset_tolerance=0.05)
        cents = np.array([((played[j] - ref[i, 2]) + 6) % 12 - 6 for i, j in pairs]) * 100
        cents = cents[np.abs(cents) < 100]
        assert len(cents) >= 60
        return float(np.mean(np.abs(cents - np.median(cents)) < 15))

    rough, measured = in_tune(notes), in_tune(fine)
    print(f"within 15 cents: tracker frames {rough:.2f}, from the audio {measured:.2f}")
    assert measured >= 0.83
    assert measured >= rough + 0.1



def _live_notes(path, instrument):
    """The live chain on a file (causal resampler, PESTO streaming, ``LiveNotes``) as (onset, offset,
    midi with cents) notes, each lasting to the next onset."""
    from types import SimpleNamespace

    from tutor.audio.devices import StreamResampler
    from tutor.listen.live import LiveListener, LiveNotes
    from tutor.listen.pitch import open_stream
    from tutor.listen.transcription import read_audio

    audio, rate = read_audio(path)
    resampler = StreamResampler(orig_sr=rate, target_sr=LiveListener.SAMPLE_RATE, causal=True)
    stream = open_stream(sample_rate=LiveListener.SAMPLE_RATE)
    frames = []
    for at in range(0, len(audio), 4096):  # larger pieces than a device's: the same frames, sooner
        block = resampler.process(audio[at:at + 4096])
        if len(block):
            got = stream.push(block)
            frames.extend(zip(got.times_s, got.f0_hz, got.voiced, got.level_db, strict=True))
    out = {}
    for kind in instrument:
        notes = LiveNotes(kind)
        onsets = [found for t, f0, voiced, level in frames
                  if (found := notes.push(float(t), float(f0), bool(voiced), float(level))) is not None]
        ends = [o[0] for o in onsets[1:]] + [len(audio) / rate]
        out[kind] = [SimpleNamespace(onset_s=o[0], offset_s=max(end, o[0] + 0.05), pitch=o[1], cents=o[2])
                     for o, end in zip(onsets, ends, strict=True)]
    return out


def test_live_marks_of_a_sung_take_follow_its_notes(tmp_path):
    """The live path on a real singer (SSVD held-out take 1011, first 20 s): with the voice settings
    (``LiveNotes(instrument="voice")``) the live onsets are where the labels put them far more often
    than with the level attacks that split a sung note at every swell of the voice."""
    path, ref = _excerpt("ssvd-dev", "1011", (0.0, 20.0), tmp_path)
    live = _live_notes(path, ("voice", None))
    f1_voice, f1_plain = _onset_f1(ref, live["voice"], 0.1), _onset_f1(ref, live[None], 0.1)
    print(f"live onset F1 at 100 ms: voice {f1_voice:.3f} ({len(live['voice'])} notes), plain {f1_plain:.3f} "
          f"({len(live[None])}), labels {len(ref)}")
    assert f1_voice >= 0.55  # measured 0.605 (plain 0.368)
    assert f1_voice >= f1_plain + 0.1


def _listened(path, instrument: str, monkeypatch, windowed: bool, block_s: float = 0.0):
    """The app's live listener (``LiveListener``: causal resampler, PESTO streaming, then ``WindowedNotes`` or, with
    ``windowed`` off, ``LiveNotes``) on a file's samples in device-sized blocks: (onsets as (onset, offset, midi)
    rows each lasting to the next onset, settled cents reported)."""
    from tests.fake_recorder import FakeRecorder
    from tutor.listen import live
    from tutor.listen.pitch import open_stream
    from tutor.listen.transcription import read_audio

    monkeypatch.setattr(live, "WINDOWED", windowed)
    audio, rate = read_audio(path)
    settled = []
    size = round(block_s * rate) or 1024
    listener = live.LiveListener(FakeRecorder([audio[at:at + size] for at in range(0, len(audio), size)], rate),
                                 open_stream, instrument=instrument, on_settled=lambda *found: settled.append(found))
    assert (listener.windowed is not None) == windowed
    listener.start()
    listener._thread.join(timeout=300)
    assert not listener._thread.is_alive()
    onsets = listener.onsets
    ends = [o[0] for o in onsets[1:]] + [len(audio) / rate]
    return np.array([[o[0], max(end, o[0] + 0.05), o[1]] for o, end in zip(onsets, ends, strict=True)]), settled


def test_live_notes_of_a_sung_take_agree_with_its_review(tmp_path, monkeypatch):
    """A real singer (SSVD held-out take 1011, first 20 s) through the app's live listener: with the review's own
    segmentation on a sliding window (``WindowedNotes``) the live notes are the review's notes (same onset within
    100 ms, same semitone) far more often than with ``LiveNotes``'s frame rules, which judge a sung note's pitch in
    its first 60 ms; each note told gets its settled cents once."""
    import mir_eval

    from tutor.listen.transcription import transcribe_file

    path, ref = _excerpt("ssvd-dev", "1011", (0.0, 20.0), tmp_path)
    review = transcribe_file(path, tracker="pesto", device="cpu", instrument="voice").notes
    rows = np.array([[n.onset_s, n.offset_s, n.pitch] for n in review])
    hz = lambda midi: 440.0 * 2.0 ** ((np.asarray(midi, float) - 69.0) / 12.0)  # noqa: E731
    agreement = {}
    for windowed in (True, False):
        live, settled = _listened(path, "voice", monkeypatch, windowed)
        agreement[windowed] = mir_eval.transcription.precision_recall_f1_overlap(
            rows[:, :2], hz(rows[:, 2]), live[:, :2], hz(live[:, 2]), onset_tolerance=0.1, offset_ratio=None)[2]
        if windowed:
            told = {float(t) for t in live[:, 0]}
            assert len(settled) >= 0.8 * len(live) and {s[0] for s in settled} <= told
            assert len({s[0] for s in settled}) == len(settled)
    print(f"live notes agree with the review: windowed {agreement[True]:.3f}, frame rules {agreement[False]:.3f} "
          f"({len(rows)} review notes)")
    assert agreement[True] >= 0.8  # measured 0.857 (frame rules 0.667)
    assert agreement[True] >= agreement[False] + 0.15
    # a listener held up hands over 2.3 s at once: every step inside it is still segmented, no note lost
    stalled, _ = _listened(path, "voice", monkeypatch, True, block_s=2.3)
    steady, _ = _listened(path, "voice", monkeypatch, True)
    assert abs(len(stalled) - len(steady)) <= 1, (len(stalled), len(steady))


def _bowed_tone(midis, sr: int, seconds: float, start_s: float = 0.0, partials: int = 8) -> np.ndarray:
    """Harmonic tones (partials falling 0.7 x each) sounding together from ``start_s`` (a little noise)."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros(len(t))
    for midi in midis:
        hz = 440.0 * 2 ** ((midi - 69) / 12)
        out += sum(0.7 ** h * np.sin(2 * np.pi * (h + 1) * hz * t) for h in range(partials)) * (t >= start_s)
    return (0.1 * out + np.random.default_rng(3).normal(0, 0.002, len(t))).astype(np.float32)


def test_a_double_stop_gives_its_second_note():
    """A bowed take's chords (issue 22, fifth pass: ``add_double_stops``): a single line gives one note per
    chord; the second note of an A4 + D4 double stop struck together is found from the partials that are
    not A4's, while a lone A4, a voice take, and an A4 over a D4 still ringing from before (no rise) add none."""
    from tutor.listen.transcription import add_double_stops, array_reader
    from tutor.score.music import PlayedNote

    sr = 16000
    a4 = PlayedNote(pitch=69, onset_s=0.5, offset_s=1.2, cents=0.0, confidence=0.9)
    chord = array_reader(_bowed_tone((69, 62), sr, 1.5, start_s=0.5))
    notes = add_double_stops((a4,), chord, "violin")
    assert [(n.pitch, n.onset_s, n.offset_s) for n in notes] == [(69, 0.5, 1.2), (62, 0.5, 1.2)]
    assert notes[1].confidence < a4.confidence
    assert add_double_stops((a4,), chord, "voice") == (a4,)
    assert add_double_stops((a4,), array_reader(_bowed_tone((69,), sr, 1.5, start_s=0.5)), "violin") == (a4,)
    ringing = _bowed_tone((69,), sr, 1.5, start_s=0.5) + _bowed_tone((62,), sr, 1.5)
    assert add_double_stops((a4,), array_reader(ringing), "violin") == (a4,)


def test_double_stops_of_a_real_violin_take(tmp_path):
    """BWV 1002/7 (tuning split; its chords hold 327 of its 686 labelled notes): on its first 20 s the
    double stops found add labelled notes at 50 ms (measured onset F1 0.561 -> 0.613, 16 notes added), and
    on the first 20 s of movement 8 (held-out, a single line there) they cost at most one note's worth
    (measured 0.889 -> 0.880: 2 added, one of them not in the labels)."""
    from tutor.listen.transcription import add_double_stops, refine_note_pitches

    for name, gain in (("john-garner_bwv1002_mov7", 0.03), ("john-garner_bwv1002_mov8", -0.015)):
        path, ref = _excerpt("bach-violin-dev", name, (0.0, 20.0), tmp_path)
        f0, flux = track_file(path, tracker="pesto", device="cpu")
        read = _read16(path)
        single, _ = notes_and_f0(f0, onset_strength=flux, segmenter="learned", instrument="violin", read=read)
        single = refine_note_pitches(single, f0, read)
        both = add_double_stops(single, read, "violin")
        f1_single, f1_both = _onset_f1(ref, single), _onset_f1(ref, both)
        print(f"{name}: single line {f1_single:.3f}, with double stops {f1_both:.3f} ({len(both) - len(single)} added)")
        assert f1_both >= f1_single + gain, (name, f1_single, f1_both)
