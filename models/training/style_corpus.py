"""The corpus of the style taxonomy (issue 26): which real pieces stand for each class, read and cached.

``python -m models.training.style_corpus`` extracts ``models.style.style_features`` for 8-bar windows of every
piece and caches them per piece under ``$TUTOR_STYLE_CACHE`` (default ``/tmp/tutor-style26``): training and the
benchmark then read features only. Each piece carries a *collection group* (an artist, a MIDI sequencer, a jazz
performer, a composer, a source collection) so that evaluation holds out whole collections, never single pieces.

Every piece with more than one line is featurised twice: as written (a piano or band texture) and as its melody
alone (the melody track, or the top line), so that a student's single melody and a lead sheet are judged in the
same style as a full arrangement.

| class | sources (``../shared/data``) |
|---|---|
| pop | POP909 (piano arrangements, melody track), OpenEWLD lead sheets tagged Pop / Rock / Funk-Soul |
| jazz | Weimar Jazz Database solos over the recording's transcribed bass line (and the solo alone), OpenEWLD lead sheets tagged Jazz |
| blues | ragtime-era blues and boogie MIDI (``ragtime_collection``) |
| ragtime | rags, cakewalks, two-steps, drags, stomps (``ragtime_collection``) |
| waltz | ragtime-era and piano-roll waltzes, Nottingham waltzes |
| march | ragtime-era and piano-roll marches, piano-roll pasodobles (Spanish marches) |
| tango | ragtime-era and piano-roll tangos (the rolls also as written: ``roll_grid``) |
| game | YM2413-MDB 1980s FM game music |
| folk_fiddle | Nottingham jigs, reels, hornpipes, slip jigs, Morris tunes; Ryan's Mammoth, O'Neill's 1850 (music21) |
| folk_song | Essen folk songs (music21) |
| renaissance | Palestrina, Josquin (music21) |
| baroque | Bach chorales, Corelli (music21), Bach keyboard works (nASAP scores) |
| classical | Haydn, Mozart, Beethoven quartets and sonatas (music21) |
| romantic_piano | nASAP Chopin, Schumann, Liszt, Brahms, Rachmaninoff, Scriabin scores; Chopin mazurkas (music21) |
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..features import NoteTable, table_from_midi, table_from_score, windows
from ..style import WINDOW_BARS, melody_table, style_features

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TUTOR_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
STYLE = SHARED / "style"
CACHE = Path(os.environ.get("TUTOR_STYLE_CACHE", "/tmp/tutor-style26"))
MAX_WINDOWS = 6


@dataclass(frozen=True)
class Ref:
    style: str
    source: str  # collection name: pop909, openewld, wjazzd, ragtime, pianolatron, ym2413, nottingham, ...
    group: str  # the collection group held out together
    key: str  # unique id of the piece
    load: Callable[[], NoteTable | list[NoteTable]]  # the piece (a list: full texture, melody)


@dataclass(frozen=True)
class PieceFeatures:
    key: str
    style: str
    source: str
    group: str
    view: str  # "full" | "melody"
    x: np.ndarray  # (windows, features)


def _midi_table(path: Path, *, melody_track: str | None = None, beats: tuple[int, float] | None = None,
                written: bool = True) -> list[NoteTable]:
    """``beats``: (the file's beats in a bar, quarter notes in a file beat: 1.0, or 1.5 in compound time)."""
    import pretty_midi

    pretty_midi.pretty_midi.MAX_TICK = 1e16
    midi = pretty_midi.PrettyMIDI(str(path))  # read once: the table, the beat's phase and the melody track
    table = table_from_midi(midi)
    if beats is not None:  # POP909's files claim 1/4 or 4/4: the index and the chord changes know the metre
        bar_beats, beat_ql = beats
        table = _pop909_on_the_beat(table, path, bar_beats, midi)
        if beat_ql != 1.0:  # compound time: a file beat holds three quavers, a dotted quarter
            grid = 1 / 12
            onset = np.round(table.onset_ql * beat_ql / grid) * grid
            ends = np.round((table.onset_ql + table.duration_ql) * beat_ql / grid) * grid
            table = dataclasses.replace(table, onset_ql=onset, duration_ql=np.maximum(ends - onset, grid))
        if written:  # (False: the lengths as performed, for the check of this reading)
            table = _pop909_written(table)
        table = dataclasses.replace(table, bar_ql=bar_beats * beat_ql, beat_ql=beat_ql,
                                    meter=f"{bar_beats * 3}/8" if beat_ql == 1.5 else f"{bar_beats}/4")
    out = [table]
    if melody_track is not None:
        names = [i.name.strip().upper() for i in midi.instruments if not i.is_drum]
        if melody_track in names:
            mel = table.select(table.part == names.index(melody_track))
            out.append(dataclasses.replace(mel, part=np.zeros(len(mel), dtype=np.int64), n_parts=1))
            return out
    if table.n_parts > 1 or len(np.unique(np.round(table.onset_ql, 3))) < len(table) * 0.9:
        out.append(melody_table(table))
    return out


def _pop909_on_the_beat(table: NoteTable, path: Path, bar_ql: float, midi) -> NoteTable:
    # bar_ql: the bar in the file's beats (quarter notes in the MIDI file)
    """A POP909 performance with its beats where the MIDI's quarter notes are: the files' notes sit a constant
    fraction of a beat off the MIDI's beat grid (often a sixteenth) and the bar's first beat anywhere, so a bass on
    the beat read as off it. The beat's phase is the offset that puts most onsets within a 24th of a beat; the bar's
    is the beat where most of the song's chord changes (``chord_midi.txt``) fall. Onsets and lengths are then put on
    the 1/12-beat grid (``models.style.notated``). ``midi``: the file as read (``pretty_midi.PrettyMIDI``)."""
    if len(table) == 0:
        return table
    offsets = np.arange(48) / 48
    frac = np.mod(table.onset_ql[None, :] - offsets[:, None], 1.0)
    near = np.minimum(frac, 1 - frac) < 1 / 24
    phase = float(offsets[int(np.argmax(near.sum(1)))])
    beats = max(1, int(round(bar_ql)))
    shift = phase
    chords = path.parent / "chord_midi.txt"
    if beats > 1 and chords.exists():
        starts = [float(line.split()[0]) for line in chords.read_text().splitlines()
                  if len(line.split()) >= 3 and line.split()[2] != "N"]
        at = np.array([midi.time_to_tick(t) / midi.resolution for t in starts]) - phase
        if at.size:
            shift += int(np.argmax(np.bincount(np.mod(np.round(at).astype(int), beats), minlength=beats)))
    onset = table.onset_ql - shift + np.ceil(shift / bar_ql) * bar_ql  # whole bars added: nothing before zero
    grid = 1 / 12
    snapped = np.round(onset / grid) * grid
    ends = np.round((onset + table.duration_ql) / grid) * grid
    return dataclasses.replace(table, onset_ql=snapped, duration_ql=np.maximum(ends - snapped, grid))


# POP909's lengths are read as written (``_pop909_written``; docs/benchmarks.md, issue 26, "POP909's written
# lengths"): students write notation, and the performed lengths taught the pop class a release no score writes
WRITTEN_REST_QL = 0.5  # the shortest rest a lead sheet writes after a note (OpenEWLD's pop: all of them >= an eighth)
LEGATO_OVERLAP_QL = 1 / 8  # a release this far past the next onset is legato overlap, written as ending there


def _pop909_written(table: NoteTable) -> NoteTable:
    """POP909's lengths as a score writes them. The files are performed: eighths and quarters are released early
    (the melody's commonest lengths 0.25, 0.33, 0.5, 0.17, 0.42 quarters over inter-onset times of 0.5 and 0.25),
    while a lead sheet's note lasts to the next onset (OpenEWLD's pop: 95 % of notes, every rest an eighth or more).
    So a note ends at the next onset in its part when it is released less than an eighth before it (or overlaps it
    by under ``LEGATO_OVERLAP_QL``); otherwise, a rest follows and the note's end is rounded up to the eighth
    grid (quarter lengths on the bar's grid, so also 12/8's quavers). Notes held over later onsets of their part
    (a chord under an arpeggio) end at the first onset at or after their release on the same rule. Onsets are
    kept; ``duration_s`` is scaled with the length. Measured in docs/benchmarks.md (issue 26, "written lengths")."""
    if len(table) == 0:
        return table
    ends = table.onset_ql + table.duration_ql
    written = ends.copy()
    for p in np.unique(table.part):
        idx = np.flatnonzero(table.part == p)
        onsets = np.unique(np.round(table.onset_ql[idx], 6))
        # the first onset of the part after the note's own onset and not before its release (less the overlap)
        after = np.maximum(np.searchsorted(onsets, np.round(table.onset_ql[idx], 6), side="right"),
                           np.searchsorted(onsets, ends[idx] - LEGATO_OVERLAP_QL, side="left"))
        has = after < len(onsets)
        nxt = np.where(has, onsets[np.minimum(after, len(onsets) - 1)], np.inf)
        legato = has & (nxt - ends[idx] < WRITTEN_REST_QL - 1e-6)
        up = np.ceil(ends[idx] / WRITTEN_REST_QL - 1e-6) * WRITTEN_REST_QL
        written[idx] = np.where(legato, nxt, np.minimum(up, nxt))
    length = np.maximum(written - table.onset_ql, 1 / 12)
    scale = length / np.maximum(table.duration_ql, 1e-9)
    return dataclasses.replace(table, duration_ql=length, duration_s=table.duration_s * scale)


def _score_tables(path: str, index: int | None = None) -> list[NoteTable]:
    from tutor.score.io import load_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = table_from_score(load_score(path, index=index))
    out = [table]
    if table.n_parts > 1 or len(np.unique(np.round(table.onset_ql, 3))) < len(table) * 0.9:
        out.append(melody_table(table))
    return out


def _wjazzd_bass(member: str, num: int, first_bar: int, last_bar: int) -> list[tuple[float, int, float]]:
    """(quarter note from the solo's first bar, pitch, length in beats) of the recording's bass line under the solo:
    the Weimar Jazz Database's beat table transcribes the bass note of every beat (``bass_pitch``)."""
    name = "csv_beats/" + member.split("/", 1)[1]
    with zipfile.ZipFile(STYLE / "wjazzd_solos" / "csv_beats.zip") as z:
        if name not in z.namelist():
            return []
        rows = list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8"))))
    out = []
    for r in rows:
        try:
            bar, beat, pitch = int(r["bar"]), int(r["beat"]), int(float(r["bass_pitch"]))
        except (TypeError, ValueError):
            continue
        if first_bar <= bar <= last_bar and 20 <= pitch <= 72:
            out.append(((bar - first_bar) * num + beat - 1.0, pitch, 1.0))
    return out


def _wjazzd_table(member: str, *, with_bass: bool = False) -> list[NoteTable]:
    """A WJazzD solo as a melody; ``with_bass``: [the solo over the recording's bass line, the solo alone] (the bass
    line only where the beat table has one for at least half the solo's beats)."""
    with zipfile.ZipFile(STYLE / "wjazzd_solos" / "csv_melody.zip") as z:
        rows = list(csv.DictReader(io.StringIO(z.read(member).decode("utf-8"))))
    rows = [r for r in rows if r["pitch"]]
    onset_s = np.array([float(r["onset"]) for r in rows])
    dur_s = np.array([float(r["duration"]) for r in rows])
    beatdur = np.array([float(r["beatdur"]) for r in rows])
    num = int(rows[0]["num"] or 4) if rows else 4
    # quarter notes from bar/beat position: the onset's beat plus the fraction of it already gone
    beat_index = np.array([(int(r["bar"]) - 1) * num + int(r["beat"]) - 1 for r in rows], dtype=np.float64)
    frac = np.zeros(len(rows))
    for i, r in enumerate(rows):
        division, tatum = max(1, int(r["division"])), max(1, int(r["tatum"]))
        frac[i] = (tatum - 1) / division
    onset_ql = beat_index + frac
    shift = np.floor(onset_ql.min() / num) * num if len(rows) else 0
    onset_ql -= shift
    solo = NoteTable(np.array([int(float(r["pitch"])) for r in rows], dtype=np.int64), onset_ql,
                     np.maximum(dur_s / np.maximum(beatdur, 1e-3), 0.05), onset_s - onset_s.min(), dur_s,
                     np.full(len(rows), 80.0), np.zeros(len(rows), dtype=np.int64),
                     bar_ql=float(num), beat_ql=1.0, meter=f"{num}/4", n_parts=1)
    if not with_bass or not rows:
        return [solo]
    first_bar = int(shift // num) + 1
    last_bar = int(onset_ql.max() // num) + first_bar
    bass = _wjazzd_bass(member, num, first_bar, last_bar)
    if len(bass) < 0.5 * (last_bar - first_bar + 1) * num:
        return [solo]
    beat_s = float(np.median(beatdur))
    b_on = np.array([b[0] for b in bass])
    both = NoteTable(np.concatenate([solo.pitch, [b[1] for b in bass]]).astype(np.int64),
                     np.concatenate([onset_ql, b_on]), np.concatenate([solo.duration_ql, [0.95] * len(bass)]),
                     np.concatenate([solo.onset_s, b_on * beat_s]), np.concatenate([dur_s, [0.95 * beat_s] * len(bass)]),
                     np.full(len(rows) + len(bass), 80.0),
                     np.concatenate([np.zeros(len(rows)), np.ones(len(bass))]).astype(np.int64),
                     bar_ql=float(num), beat_ql=1.0, meter=f"{num}/4", n_parts=2)
    order = np.lexsort((both.pitch, both.onset_ql))
    return [both.select(order), solo]


# the dances whose rolls are also learnt as a score writes them (``roll_grid.written_roll``, in 2/4): a student's
# tango is notated, and the class's rolls are performances (docs/benchmarks.md, issue 26, "the rolls as written"); with
# the range of the roll's sixteenth in the file's quarter notes (about a second): a tango's quarter at 42-83 a minute.
# Measured and not shipped: the march and pasodoble rolls as well, a sixteenth of 0.09-0.2 (a quarter at 75-167; 6 of
# 13 rolls fit): tuning marches heard as marches 11 -> 16 of 16 but tangos 12 -> 6, held-out macro F1 0.815 -> 0.802
WRITTEN_ROLL_STEPS_QL = {"tango": (0.18, 0.36)}


def _written_roll_tables(path: Path, *, step_ql: tuple[float, float]) -> list[NoteTable]:
    """A piano roll on its own sixteenth grid in 2/4 and its top line; [] when it keeps to no steady grid."""
    from .roll_grid import written_roll

    written = written_roll(_midi_table(path)[0], beats_in_bar=2, step_ql=step_ql)
    if written is None:
        return []
    return [written, melody_table(written)]


def _key(*parts: str) -> str:
    return "/".join(parts)


def refs() -> list[Ref]:
    out: list[Ref] = []
    # POP909: every third song (909 is more than the other classes together)
    rows = list(csv.DictReader(open(STYLE / "pop909" / "index.csv", encoding="utf-8")))
    for row in rows[::3]:
        sid = row["song_id"]
        beats = int(row["num_beats_per_measure"] or 4)
        quavers = int(row["num_quavers_per_beat"] or 2)
        # the index's "2 beats a measure" is half a bar: the chord changes fall twice as often on every fourth
        # beat as on the beat two after it and no more often on every eighth (4-beat bars); "3 quavers a beat"
        # is a beat split in three (12/8); "3 beats" is a bar of three (models/training/pop909_metre.py)
        meter = (4 if beats == 2 else beats, 1.5 if quavers == 3 else 1.0)
        path = STYLE / "pop909" / "POP909" / sid / f"{sid}.mid"
        key = f"pop909-written/{sid}"  # on the beat, bars of 4, lengths as written
        out.append(Ref("pop", "pop909", f"pop909/{row['artist']}", key,
                       lambda p=path, m=meter, written=True: _midi_table(p, melody_track="MELODY", beats=m,
                                                                         written=written)))
    # OpenEWLD lead sheets
    genre_class = {"Pop": "pop", "Rock": "pop", "Funk / Soul": "pop", "Jazz": "jazz", "Blues": "blues"}
    for row in csv.DictReader(open(STYLE / "openewld" / "labels.csv", encoding="utf-8")):
        style = genre_class.get(row["discogs_genre"])
        if style is None:
            continue
        path = STYLE / "openewld" / row["file"]
        out.append(Ref(style, "openewld", f"openewld/{row['authors']}", f"openewld/{row['file']}",
                       lambda p=path: _score_tables(str(p))))
    # Weimar Jazz Database solos (every second one)
    solos = list(csv.DictReader(open(STYLE / "wjazzd_solos" / "df_solos_wjazzd2.csv", encoding="utf-8")))
    with zipfile.ZipFile(STYLE / "wjazzd_solos" / "csv_melody.zip") as z:
        members = set(z.namelist())
    for row in solos[::2]:
        member = f"csv_melody/{row['filename_solo_solo'] or row['base_name']}"
        if not member.endswith(".csv"):
            member = f"csv_melody/{row['base_name']}.csv"
        if member not in members:
            continue
        # the solo over the recording's bass line, and the solo alone (key "wjazzd-bass/": its own cache entry)
        out.append(Ref("jazz", "wjazzd", f"wjazzd/{row['performer']}", f"wjazzd-bass/{member}",
                       lambda m=member: _wjazzd_table(m, with_bass=True)))
    # ragtime-era MIDI
    rag_class = {"rag": "ragtime", "cakewalk": "ragtime", "two-step": "ragtime", "drag": "ragtime", "stomp": "ragtime",
                 "one-step": "ragtime", "blues": "blues", "boogie": "blues", "march": "march", "waltz": "waltz",
                 "tango": "tango"}
    for row in csv.DictReader(open(STYLE / "ragtime_collection" / "labels.csv", encoding="utf-8")):
        style = rag_class.get(row["label_from_title"])
        if style is None:
            continue
        path = STYLE / "ragtime_collection" / row["file"]
        seq = re.sub(r"\s+ex\s+.*", "", row["sequencer"]).strip() or "unknown"
        out.append(Ref(style, "ragtime", f"ragtime/{seq}", f"ragtime/{row['file']}", lambda p=path: _midi_table(p)))
    # piano rolls
    # the pasodoble is a Spanish march (2/4, oom-pah bass, a band's march played for dancing), not a tango
    roll_class = {"waltz": "waltz", "march": "march", "tango": "tango", "pasodoble": "march"}
    for row in csv.DictReader(open(STYLE / "pianolatron_dances" / "labels.csv", encoding="utf-8")):
        style = roll_class.get(row["dance_label_from_title"])
        if style is None:
            continue
        path = STYLE / "pianolatron_dances" / row["file"]
        out.append(Ref(style, "pianolatron", f"pianolatron/{row['composer_arranger']}", f"pianolatron/{row['file']}",
                       lambda p=path: _midi_table(p)))
        if style in WRITTEN_ROLL_STEPS_QL:  # the same roll as a score writes it (same group: held out together)
            out.append(Ref(style, "pianolatron-written", f"pianolatron/{row['composer_arranger']}",
                           f"pianolatron-written/{row['file']}",
                           lambda p=path, s=WRITTEN_ROLL_STEPS_QL[style]: _written_roll_tables(p, step_ql=s)))
    # YM2413 game music (every second track); the files name no game, so a track is its own group
    ym = sorted((STYLE / "ym2413_mdb" / "midi" / "adjust_tempo_remove_delayed_inst").glob("*.mid"))
    for path in ym[::2]:
        name = re.sub(r"^\d+\s*[-_ ]?\s*", "", path.stem)
        out.append(Ref("game", "ym2413", f"ym2413/{name}", f"ym2413/{path.name}", lambda p=path: _midi_table(p)))
    # Nottingham folk tunes (MIDI: melody and chords)
    nott = sorted((SHARED / "nottingham" / "MIDI").glob("*.mid"))
    for path in nott:
        book = re.sub(r"\d+$", "", path.stem)
        if book == "waltzes":
            style = "waltz"
        elif book in ("jigs", "reels", "hpps", "slip", "morris"):
            style = "folk_fiddle"
        else:
            continue
        if style == "folk_fiddle" and int(re.sub(r"\D", "", path.stem) or 0) % 3:
            continue  # a third of the dance tunes
        part = int(re.sub(r"\D", "", path.stem) or 0) // 10  # ten tunes of a book make a group
        out.append(Ref(style, "nottingham", f"nottingham/{book}{part}", f"nottingham/{path.name}",
                       lambda p=path: _midi_table(p)))
    out.extend(_music21_refs())
    return out


def _m21_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def _music21_refs() -> list[Ref]:
    import music21

    root = Path(music21.__file__).parent / "corpus"
    out: list[Ref] = []
    nasap = SHARED / "nasap-dev"
    if (nasap / "metadata.csv").exists():
        rows = {row["xml_score"]: row for row in csv.DictReader(open(nasap / "metadata.csv", encoding="utf-8"))}
        for xml, row in sorted(rows.items()):
            if row["composer"] in ("Debussy", "Ravel"):
                continue
            style = "baroque" if row["composer"] == "Bach" else "romantic_piano"
            out.append(Ref(style, "nasap", f"nasap/{row['composer']}", f"nasap/{xml}",
                           lambda p=nasap / xml: _score_tables(str(p))))
    for path in sorted((root / "chopin").glob("*.krn")):
        out.append(Ref("romantic_piano", "music21-chopin", "m21/chopin", f"m21/{path.relative_to(root)}", lambda p=path: _score_tables(str(p))))
    for path in sorted((root / "schumann_clara").glob("*.mxl")):
        out.append(Ref("romantic_piano", "music21-clara", "m21/clara", f"m21/{path.relative_to(root)}", lambda p=path: _score_tables(str(p))))
    for composer in ("haydn", "mozart", "beethoven"):
        files = sorted(list((root / composer).rglob("*.mxl")) + list((root / composer).rglob("*.krn")))
        for path in files[:: max(1, len(files) // 25)]:
            out.append(Ref("classical", f"music21-{composer}", f"m21/{composer}/{path.parent.name}", f"m21/{path.relative_to(root)}",
                           lambda p=path: _score_tables(str(p))))
    # Bach chorales as scores (MusicXML, as a student's file is read; the JSB pitch lists lose repeated notes and
    # metre), ten to a group
    chorales = sorted(p for p in (root / "bach").glob("bwv*.mxl"))
    for i, path in enumerate(chorales[::3]):
        out.append(Ref("baroque", "music21-bach", f"m21/bach/{i // 10}", f"m21/{path.relative_to(root)}",
                       lambda p=path: _score_tables(str(p))))
    for path in sorted((root / "corelli").rglob("*.mxl"))[::2]:
        out.append(Ref("baroque", "music21-corelli", f"m21/corelli/{path.parent.name}", f"m21/{path.relative_to(root)}",
                       lambda p=path: _score_tables(str(p))))
    pal = sorted((root / "palestrina").glob("*.krn"))
    for path in pal[:: max(1, len(pal) // 60)]:
        mass = re.sub(r"_\d+$", "", path.stem)
        out.append(Ref("renaissance", "music21-palestrina", f"m21/pal/{mass}", f"m21/{path.relative_to(root)}", lambda p=path: _score_tables(str(p))))
    for path in sorted((root / "josquin").glob("*.abc")):
        out.append(Ref("renaissance", "music21-josquin", f"m21/josquin/{path.stem[:6]}", f"m21/{path.relative_to(root)}",
                       lambda p=path: _score_tables(str(p))))
    # fiddle tunes as notated (2/4 reels in sixteenths, jigs, hornpipes, strathspeys): Ryan's Mammoth Collection
    # (one tune a file; ten consecutive files a group; BlackberryBlossomReel is kept out for the tests) and
    # O'Neill's 1850 (five tunes from each of ten files)
    ryans = [p for p in sorted((root / "ryansMammoth").glob("*.abc")) if p.stem != "BlackberryBlossomReel"]
    for i, path in enumerate(ryans[::5]):
        out.append(Ref("folk_fiddle", "music21-ryans", f"m21/ryans/{i // 10}", f"m21/{path.relative_to(root)}",
                       lambda p=path: _score_tables(str(p))))
    for path in sorted((root / "oneills1850").glob("*.abc"))[::4]:
        for index in (1, 11, 21, 31, 41):
            out.append(Ref("folk_fiddle", "music21-oneills", f"m21/oneills/{path.stem}", f"m21/{path.name}#{index}",
                           lambda p=path, i=index: _score_tables(str(p), index=i)))
    essen = [p for p in sorted((root / "essenFolksong").glob("*.abc")) if not p.stem.startswith("test")]
    for path in essen[::max(1, len(essen) // 30)][:30]:
        for index in (1, 5, 9, 13, 17, 21, 25, 29, 33, 37):
            out.append(Ref("folk_song", "music21-essen", f"essen/{path.stem}/{index // 10}", f"essen/{path.name}#{index}",
                           lambda p=path, i=index: _score_tables(str(p), index=i)))
    return out


def _cache_path(ref: Ref) -> Path:
    return CACHE / ref.style / (hashlib.sha1(ref.key.encode()).hexdigest()[:16] + ".npz")


def featurize(ref: Ref) -> list[PieceFeatures]:
    path = _cache_path(ref)
    if path.exists():
        data = np.load(path, allow_pickle=False)
        return [PieceFeatures(ref.key, ref.style, ref.source, ref.group, str(v), data[f"x{i}"])
                for i, v in enumerate(data["views"].tolist())]
    out: list[PieceFeatures] = []
    try:
        tables = ref.load()
        for view, table in zip(("full", "melody"), tables if isinstance(tables, list) else [tables], strict=False):
            parts = windows(table, bars=WINDOW_BARS, max_windows=MAX_WINDOWS)
            if parts:
                out.append(PieceFeatures(ref.key, ref.style, ref.source, ref.group, view,
                                         np.stack([style_features(w) for w in parts])))
    except Exception as error:  # noqa: BLE001 - an unreadable corpus file is skipped, not fatal
        log.warning("skipping %s: %s", ref.key, error)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"views": np.array([p.view for p in out] or [""])[: len(out)]}
    for i, p in enumerate(out):
        arrays[f"x{i}"] = p.x
    np.savez(path, **arrays)
    return out


def build(*, verbose: bool = True, sources: set[str] | None = None) -> list[PieceFeatures]:
    all_refs = refs()
    if sources:
        all_refs = [r for r in all_refs if r.source in sources or r.source.split("-")[0] in sources]
    out: list[PieceFeatures] = []
    for i, ref in enumerate(all_refs):
        out.extend(featurize(ref))
        if verbose and (i % 100 == 0 or i == len(all_refs) - 1):
            print(f"  {i + 1}/{len(all_refs)} pieces ({ref.source})", flush=True)
    return out


def collection_split(group: str, *, test: float = 0.3) -> str:
    """'train' | 'test' from a stable hash of the collection group: whole collections are held out."""
    value = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if value < test else "train"


def iter_refs_by_cost() -> Iterator[Ref]:
    """Fast (MIDI, CSV) sources first, music21 parsing last."""
    slow = ("openewld", "nasap", "music21", "essen")
    rs = refs()
    yield from (r for r in rs if not r.source.startswith(slow))
    def size(ref: Ref) -> int:  # small files first: a long quartet takes music21 half a minute
        path = ref.key.split("#")[0].split("/", 1)[-1]
        for root in (STYLE / "openewld", SHARED / "nasap-dev", _m21_root()):
            if (root / path).exists():
                return (root / path).stat().st_size
        return 0

    yield from sorted((r for r in rs if r.source.startswith(slow)), key=size)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    done = 0
    for ref in iter_refs_by_cost():
        featurize(ref)
        done += 1
        if done % 100 == 0:
            print(f"{done} pieces ({ref.source})", flush=True)
    print("done", done, file=sys.stderr)
