"""The style taxonomy (issue 26): a student's pop song, jazz tune or waltz is called what it is (pieces of
collections held out of training), probabilities are calibrated, "not sure" far from all music; and mood that
holds beyond pop piano (a major-key nursery tune is not sad)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared
from tutor.models.features import NoteTable, table_from_midi
from tutor.models.style import TAXONOMY, TAXONOMY_WEIGHTS, predict_style, predict_taxonomy
from tutor.models.training.style_corpus import Ref, refs
from tutor.models.training.train_style_taxonomy import split_groups
from tutor.score.io import load_score

REPO = Path(__file__).resolve().parents[1]
TWINKLE = REPO / "assets" / "demo" / "twinkle.musicxml"


@pytest.fixture(scope="module")
def held_out() -> dict[str, list[Ref]]:
    """The corpus pieces whose whole collection group the shipped model's evaluation held out, by class."""
    all_refs = refs()
    split = split_groups([{"style": r.style, "group": r.group} for r in all_refs])
    out: dict[str, list[Ref]] = {}
    for r in all_refs:
        if split[r.group] == "test":
            out.setdefault(r.style, []).append(r)
    return out


def test_the_taxonomy_covers_what_students_write():
    assert TAXONOMY_WEIGHTS.exists()
    for style in ("pop", "jazz", "blues", "ragtime", "waltz", "march", "tango", "game", "folk_song", "baroque",
                  "classical", "romantic_piano"):
        assert style in TAXONOMY


def _readable(refs_: list[Ref], n: int) -> list[list[NoteTable]]:
    """The tables of ``n`` pieces spread over ``refs_`` (a few OpenEWLD files have a damaged container: skipped)."""
    from tutor.errors import TutorError

    out = []
    for ref in refs_[:: max(1, len(refs_) // (2 * n))]:
        try:
            tables = ref.load()
        except TutorError:
            continue
        out.append(tables if isinstance(tables, list) else [tables])
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("style", ["pop", "jazz", "waltz", "ragtime", "game"])
def test_held_out_pieces_are_called_what_they_are(held_out, style):
    labels = [predict_taxonomy(tables[0]).label for tables in _readable(held_out[style], 6)]
    assert len(labels) == 6
    assert sum(label == style for label in labels) >= 4, labels


def test_a_pop_melody_alone_is_still_pop(held_out):
    melodies = [tables[-1] for tables in _readable(held_out["pop"], 6)]  # POP909's melody track, a lead sheet
    assert all(m.n_parts == 1 for m in melodies)
    assert sum(predict_taxonomy(m).label == "pop" for m in melodies) >= 4


def test_probabilities_are_a_distribution_and_random_notes_are_not_sure():
    rng = np.random.default_rng(3)
    n = 64
    onset = np.cumsum(rng.choice([0.13, 0.37, 0.71, 1.9], n))
    noise = NoteTable(rng.integers(21, 108, n), onset, rng.uniform(0.05, 3.0, n), onset * 0.5, rng.uniform(0.05, 1, n),
                      np.full(n, 80.0), rng.integers(0, 3, n), n_parts=3)
    result = predict_taxonomy(noise)
    assert abs(sum(result.probabilities.values()) - 1) < 1e-6
    assert not result.sure and result.distance > 1.0
    twinkle = predict_style(load_score(TWINKLE))
    assert twinkle.sure


def test_critique_says_not_sure_and_keeps_the_texture_rules(capsys):
    from tutor.cli import main

    assert main(["critique", str(TWINKLE), "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["style"]["label"] in TAXONOMY and doc["style"]["sure"] is True
    assert doc["writing_style"] == "song"


def test_a_major_key_nursery_tune_is_not_sad():
    from tutor.models.emotion import predict_emotion

    result = predict_emotion(load_score(TWINKLE))
    assert result.quadrant in ("Q1", "Q4") and result.valence > 0
    assert result.probabilities["Q3"] < 0.3


def test_the_musician_reading_leaves_pop_piano_performances_alone():
    from tutor.models.emotion_prior import applies

    emopia = shared("emopia")
    import io
    import zipfile

    with zipfile.ZipFile(emopia / "midis.zip") as archive:
        members = [m for m in archive.namelist() if m.endswith(".mid")][:5]
        tables = [table_from_midi(io.BytesIO(archive.read(m))) for m in members]
    assert not any(applies(t) for t in tables)  # EMOPIA's clips: one piano, played with dynamics
    assert applies(_score_table(TWINKLE))


def _score_table(path):
    from tutor.models.features import table_from_score

    return table_from_score(load_score(path))



def test_a_performance_is_read_as_its_notation():
    """A played-in file (onsets a little off the grid) gives the features of its score."""
    import dataclasses

    from tutor.models.features import table_from_score
    from tutor.models.style import style_features

    table = table_from_score(load_score(TWINKLE))
    rng = np.random.default_rng(0)
    played = dataclasses.replace(table, onset_ql=table.onset_ql + rng.uniform(-0.015, 0.015, len(table)),
                                 duration_ql=table.duration_ql + rng.uniform(-0.015, 0.015, len(table)))
    assert np.allclose(style_features(played), style_features(table), atol=1e-5)


def test_pop909_is_read_on_the_beat_and_jazz_solos_over_their_bass():
    """The corpus's readings behind the pop and jazz classes: POP909's notes (a constant fraction of a beat off the
    files' grid) on the beat, and a Weimar Jazz Database solo over the recording's walking bass."""
    shared("style", "pop909")
    all_refs = refs()
    for ref in [r for r in all_refs if r.source == "pop909"][:3]:
        table = ref.load()[0]
        assert np.mean(np.abs(np.mod(table.onset_ql + 1e-6, 0.5)) < 1e-3) >= 0.75, ref.key  # on the eighths
        assert np.mean(np.abs(np.mod(table.onset_ql + 1e-6, 1.0)) < 1e-3) >= 0.4, ref.key  # half on the beat
    solo = next(r for r in all_refs if r.source == "wjazzd")
    full, alone = solo.load()
    assert (full.n_parts, alone.n_parts) == (2, 1)
    bass = full.select(full.part == 1)
    assert len(bass) > 100 and np.all(np.abs(bass.onset_ql - np.round(bass.onset_ql)) < 1e-9)  # a note a beat
    assert np.median(bass.pitch) < np.median(alone.pitch) - 12


def test_pop909_is_read_in_the_bars_its_chords_change_in():
    """POP909's index says "2 beats a measure" for most songs, but its chord changes say 4/4: twice as many on the
    first of four beats as on the third, and as many on the first of eight as on the fifth; songs whose beat holds
    three quavers are 12/8, songs in three 3/4 (models/training/pop909_metre.py)."""
    from tutor.models.training.pop909_metre import song
    from tutor.models.training.style_corpus import STYLE

    shared("style", "pop909")
    songs = [song(STYLE / "pop909" / "POP909" / f"{i:03d}" / f"{i:03d}.mid") for i in range(4, 40)]
    c4 = np.mean([s["chords_mod4"] for s in songs if s is not None], 0)
    c8 = np.mean([s["chords_mod8"] for s in songs if s is not None], 0)
    assert c4[0] > 1.5 * c4[2] and 0.8 < c8[0] / c8[4] < 1.25, (c4, c8)
    by_id = {r.key.rsplit("/", 1)[-1]: r for r in refs() if r.source == "pop909"}
    for sid, meter, bar_ql in (("001", "4/4", 4.0), ("379", "12/8", 6.0), ("034", "3/4", 3.0)):
        table = by_id[sid].load()[0]
        assert (table.meter, table.bar_ql) == (meter, bar_ql), sid
    compound = by_id["379"].load()[0]
    assert np.mean(np.abs(np.mod(compound.onset_ql + 1e-6, 0.5)) < 1e-3) >= 0.6  # on the 12/8 quavers


def test_pop909_lengths_can_be_read_as_written():
    """POP909's performed lengths (eighths and quarters released early) read as a lead sheet writes them: a note
    lasts to the next onset of its part unless an eighth's rest or more follows, and those ends are on the eighths
    (``_pop909_written``; see docs/benchmarks.md issue 26)."""
    from tutor.models.training.style_corpus import _pop909_written

    shared("style", "pop909")
    performed, legatos = [], []
    for ref in [r for r in refs() if r.source == "pop909"][:6]:
        melody = ref.load(written=False)[1]  # as performed
        written = _pop909_written(melody)
        assert np.array_equal(ref.load()[1].duration_ql, written.duration_ql)  # the corpus reads them as written
        nxt = np.append(melody.onset_ql[1:], np.inf)  # the melody track: one note at a time
        performed_legato = np.mean(np.abs(melody.onset_ql + melody.duration_ql - nxt) < 1e-6)
        legato = np.mean(np.abs(written.onset_ql + written.duration_ql - nxt) < 1e-6)
        assert legato >= max(0.8, performed_legato), (ref.key, performed_legato, legato)
        performed.append(performed_legato)
        legatos.append(legato)
        ends = written.onset_ql + written.duration_ql
        assert np.mean(np.abs(np.mod(ends + 1e-6, 0.25)) < 1e-3) >= 0.9, ref.key  # written values
        assert np.array_equal(written.onset_ql, melody.onset_ql) and np.all(written.duration_ql > 0)
        assert np.allclose(written.duration_s / melody.duration_s, written.duration_ql / melody.duration_ql)
    assert np.mean(performed) < np.mean(legatos) - 0.2, (performed, legatos)  # most songs release notes early


def test_a_performance_off_the_written_grid_can_be_read_from_its_notes():
    """A scanned piano roll has no written grid (no time signature, a roll's tempo map, played or punched with
    jitter): its onsets fall about evenly over the beat, a score's on written positions. ``timing_blind`` (the
    measured, unshipped reading of such pieces, ``train_style_taxonomy --rolls-timing-blind / --off-grid``) makes
    only the timing features unknown; what the notes are (pitches, harmony, texture) stays."""
    from tutor.models.features import HAND_FEATURE_NAMES, table_from_score, windows
    from tutor.models.style import (
        WINDOW_BARS,
        performed,
        style_features,
        taxonomy_windows,
        timing_blind,
        timing_features,
    )

    roll = next(r for r in refs() if r.source == "pianolatron" and r.style == "tango")
    x = np.stack([style_features(w) for w in windows(roll.load()[0], bars=WINDOW_BARS, max_windows=3)])
    mask = timing_features()
    names = list(HAND_FEATURE_NAMES)
    assert mask.size == x.shape[1] == len(names) + 21
    assert all(mask[names.index(n)] for n in ("on_sixteenth", "triplet", "dur_hist0", "meter0", "log_dur_s0"))
    assert not any(mask[names.index(n)] for n in ("pc_rel0", "chromatic", "interval_hist0", "harmony0", "parts0"))
    assert performed(x, 0.35)  # a third or more of the roll's onsets off every written position in the beat
    assert not performed(taxonomy_windows(table_from_score(load_score(TWINKLE))), 0.1)
    blind = timing_blind(x)
    assert np.isnan(blind[:, mask]).all() and np.array_equal(blind[:, ~mask], x[:, ~mask])
    assert predict_taxonomy(table_from_score(load_score(TWINKLE))).sure  # scores are read as before


def test_a_metronomic_roll_is_written_on_its_sixteenth_grid_and_a_played_roll_is_left_alone():
    """``roll_grid.written_roll``: an 88-note tango roll (punched on a steady grid that drifts against the file's
    tempo map) is written in 2/4 with every onset on a sixteenth, each note kept with its pitch, and the bar's first
    beat where the bass falls most; a played Welte roll keeps to no steady grid and is not written."""
    from tutor.models.style import OFF_GRID_FEATURE, style_features
    from tutor.models.training.roll_grid import written_roll

    rolls = {r.key: r for r in refs() if r.source == "pianolatron" and r.style == "tango"}
    punched = rolls["pianolatron/midi/tango/sb388kg1678_exp.mid"].load()[0]  # Hoyos, El Carrerito (88-note)
    played = rolls["pianolatron/midi/tango/md908xy8241_exp.mid"].load()[0]  # Malderen, Tango du rêve (Welte)
    written = written_roll(punched)
    assert written is not None and written.meter == "2/4" and written.bar_ql == 2.0
    assert np.array_equal(np.sort(written.pitch), np.sort(punched.pitch))
    assert np.allclose(written.onset_ql * 4, np.round(written.onset_ql * 4)) and np.all(written.duration_ql >= 0.25)
    assert style_features(punched)[-21 + OFF_GRID_FEATURE] > 0.4  # as performed: onsets all over the beat
    assert style_features(written)[-21 + OFF_GRID_FEATURE] < 0.05
    low = written.pitch < 55
    in_bar = np.mod(written.onset_ql[low], 2.0)
    assert np.mean(in_bar < 1e-6) > np.mean(np.abs(in_bar - 0.5) < 1e-6)  # the bass on one more than on its "and"
    assert written_roll(played) is None
