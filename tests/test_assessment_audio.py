"""The audio path of assessment on real material: pianists' melodies (Vienna 4x22: Schubert D783
no. 15 bars 23-31, legato repeated notes; Chopin op. 38 bars 40-47, long held notes) rendered with
FluidSynth, transcribed and assessed."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared
from tutor.practice.assessment import assess
from tutor.score.music import Performance

pytestmark = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists(),
    reason="fluidsynth and FluidR3_GM.sf2 are needed to render the melody")

EXCERPTS = {"schubert": ("Schubert_D783_no15_p01.match", (23, 31), 6), "chopin": ("Chopin_op38_p01.match", (40, 47), 0)}


@pytest.fixture(scope="module", params=sorted(EXCERPTS))
def melody_excerpt(request, tmp_path_factory):
    """(score of the melody in the bars, the pianist's notes of it as played, the transcription of
    its render, how many legato repeated notes it has at least)."""
    from tests.bench.bench_assessment import clean_take, load, melody, render, tutor_score
    from tutor.listen.takes import load_performance

    name, bars, repeats = EXCERPTS[request.param]
    pt_score, sna, pna, gt = load(shared("vienna4x22", "match", name))
    tune, tune_gt = melody(tutor_score(pt_score, sna), sna, gt)
    tune = tune.slice_measures(*bars)
    take = clean_take(tune, pna, tune_gt)
    start = take.notes[0].onset_s - 0.3
    take = Performance(notes=tuple(replace(n, onset_s=n.onset_s - start, offset_s=n.offset_s - start) for n in take.notes))
    wav = render(take, tmp_path_factory.mktemp("melody") / f"{request.param}.wav")
    return tune, take, load_performance(wav), repeats


def test_legato_repeated_notes_are_heard_as_notes_and_held_notes_leave_no_fragment(melody_excerpt):
    """Repeated notes played legato (each struck again as the one before stops, as the render
    plays a melody) are separate notes, and a held note's decay gives no fragment: every note
    heard is one played, every played note is heard (onsets within 50 ms, same pitch)."""
    _tune, take, heard, repeats = melody_excerpt
    rendered = sorted(take.notes, key=lambda n: n.onset_s)
    repeated = [b for a, b in zip(rendered, rendered[1:], strict=False) if a.pitch == b.pitch and b.onset_s - a.offset_s < 0.05]
    assert len(repeated) >= repeats
    played = np.array([(n.onset_s, n.pitch) for n in rendered])
    found = np.array([(n.onset_s, n.pitch) for n in heard.notes])

    def hit(onset_s: float, pitch: int, among: np.ndarray) -> bool:
        return bool(np.any((np.abs(among[:, 0] - onset_s) <= 0.05) & (among[:, 1] == pitch)))

    assert all(hit(n.onset_s, n.pitch, found) for n in repeated)
    assert sum(hit(n.onset_s, n.pitch, found) for n in rendered) >= len(rendered) - 1
    assert all(hit(n.onset_s, n.pitch, played) for n in heard.notes)


def test_rendered_melody_assessed_without_false_errors(melody_excerpt):
    tune, _take, heard, _repeats = melody_excerpt
    result = assess(tune, heard)
    errors = [e for e in result.events if e.type in ("wrong_pitch", "missed", "extra")]
    assert len(errors) <= 1, [(e.type, e.measure, e.beat) for e in errors]
    assert result.pitch > 95


def test_a_double_stop_the_transcriber_was_unsure_of_is_not_told_where_one_note_is_written():
    """A bowed take's transcriber adds a double stop's second note (same onset and end, lower confidence,
    ``add_double_stops``): where the score has one note and the transcriber was unsure, it is no "extra"; a
    second note it was sure of is still told, and a written double stop takes it as played."""
    from tests.assessment_cases import make_score, play

    single = make_score([(float(i), [67 + (i % 3)], 1.0) for i in range(8)])
    notes = [replace(n, cents=0.0, confidence=0.9) for n in play(single)]
    added = replace(notes[4], pitch=notes[4].pitch - 5, confidence=0.4)
    unsure = assess(single, Performance(notes=tuple(sorted([*notes, added], key=lambda n: (n.onset_s, n.pitch)))))
    assert not unsure.events_of("extra") and unsure.notes_correct == 8
    sure = assess(single, Performance(notes=tuple(sorted([*notes, replace(added, confidence=0.9)],
                                                          key=lambda n: (n.onset_s, n.pitch)))))
    assert [e.played_pitch for e in sure.events_of("extra")] == [added.pitch]
    chord = make_score([(float(i), [67 + (i % 3)] + ([added.pitch] if i == 4 else []), 1.0) for i in range(8)])
    written = assess(chord, Performance(notes=tuple(sorted([*notes, added], key=lambda n: (n.onset_s, n.pitch)))))
    assert not written.events_of("extra") and written.notes_correct == 9
