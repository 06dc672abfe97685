"""Loading and saving scores and performances.

Readers by extension: ``.mid/.midi`` (a score quantised by music21, or a performance in raw
seconds), ``.musicxml/.xml/.mxl``, ``.abc`` (multi-tune files: pick a tune by ``index``),
``.krn`` (Humdrum), and ``corpus:<path>`` for a piece of music21's bundled corpus.
Writers: MIDI (exact positions and tempo changes, written with mido) and MusicXML (music21),
always through an atomic write.

Every failure is an ``InputFileError``/``OutputFileError`` naming the file and the problem.
"""

from __future__ import annotations

import bisect
import functools
import io
import logging
import lzma
import re
import struct
import warnings
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tutor.errors import InputFileError, OutputFileError, TutorError, UnsupportedFormatError
from tutor.safety import (
    MAX_MIDI_BYTES,
    MAX_SCORE_BYTES,
    atomic_write_bytes,
    check_readable,
    check_xml_text,
    decode_xml,
    display_name,
)
from tutor.score import cache as score_cache
from tutor.score.form import apply_form, form_from_music21, unfold, with_abc_parts
from tutor.score.midi import (
    IRREGULAR_MARKER,
    MEASURE_MARKER,
    RESTORE_MARKER,
    check_midi,
    pretty_midi_module,
    score_from_midi,
    smpte_as_metrical,
)
from tutor.score.music import (
    KeySignature,
    Measure,
    Note,
    Part,
    PedalEvent,
    Performance,
    PlayedNote,
    Score,
    TempoChange,
    TempoMap,
    TimeSignature,
    sort_notes,
    sort_played,
    time_notes,
)

log = logging.getLogger(__name__)

MIDI_EXTENSIONS = (".mid", ".midi")
MUSICXML_EXTENSIONS = (".musicxml", ".xml", ".mxl")
SCORE_EXTENSIONS = MIDI_EXTENSIONS + MUSICXML_EXTENSIONS + (".abc", ".krn")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a", ".opus")
WRITABLE_SCORE_EXTENSIONS = MIDI_EXTENSIONS + MUSICXML_EXTENSIONS  # what save_score writes
TAKE_EXTENSIONS = MIDI_EXTENSIONS + AUDIO_EXTENSIONS  # a take: played MIDI or a recording
CORPUS_PREFIX = "corpus:"


# ---------------------------------------------------------------------------------------------
# music21 parsing (cached: the same file is parsed once per process)
# ---------------------------------------------------------------------------------------------
def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _check_score_file(path: Path) -> Any:
    """Refuse a file no parser should see. For a MIDI file, return its parse (``mido.MidiFile``) so that it is
    not parsed a second time; for MusicXML (.musicxml, .xml, .mxl), the text that was checked, which is what
    music21 parses (decoded, its declaration saying UTF-8)."""
    ext = _suffix(path)
    if ext not in SCORE_EXTENSIONS:
        raise UnsupportedFormatError(
            f"unknown score format {ext or '(no extension)'}; use one of {', '.join(SCORE_EXTENSIONS)}", path=path
        )
    check_readable(path, max_bytes=MAX_MIDI_BYTES if ext in MIDI_EXTENSIONS else MAX_SCORE_BYTES)
    data = path.read_bytes()
    if ext in MIDI_EXTENSIONS:
        if not data.startswith(b"MThd"):
            raise InputFileError("is not a MIDI file (no 'MThd' header)", path=path)
        return _parse_midi(data, path=path)
    if ext in (".musicxml", ".xml"):
        text = decode_xml(data)
        check_xml_text(text, path=path)
        return _declared_utf8(text)
    elif ext == ".mxl":
        return _mxl_musicxml(data, path=path)
    else:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                data.decode("latin-1")
            except UnicodeDecodeError:
                raise InputFileError("is not a text file", path=path) from None
        if b"\x00" in data:
            raise InputFileError("is not a text file (it contains NUL bytes)", path=path)
    return None


def _parse_midi(data: bytes, *, path: Path) -> Any:
    """A ``mido.MidiFile``, after ``check_midi`` counted the file within the limits; SMPTE time is read as
    metrical time in which a quarter note lasts a second."""
    import mido

    summary = check_midi(data, path=path)
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as error:  # noqa: BLE001 - mido raises many types (EOFError, KeyError, ValueError...) for corrupt data
        raise InputFileError(f"is a corrupt or truncated MIDI file ({_short(error)})", path=path) from None
    if summary is not None and summary.smpte is not None:
        smpte_as_metrical(midi, summary.smpte)
    return midi


# ---------------------------------------------------------------------------------------------
# compressed MusicXML (.mxl): a zip archive, read within a budget whatever its headers say
# ---------------------------------------------------------------------------------------------
MAX_MXL_MEMBERS = 200  # a score, its container, a few images: real archives hold a handful
MAX_MXL_CONTAINER_BYTES = 1024 * 1024
MXL_CONTAINER = "META-INF/container.xml"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, zlib.error,
               lzma.LZMAError, EOFError, OSError, ValueError, struct.error)


def _mxl_musicxml(data: bytes, *, path: Path) -> str:
    """The MusicXML text of a compressed MusicXML (.mxl) file: the score its ``META-INF/container.xml`` names
    (without one, its first .musicxml/.xml member), checked like any MusicXML file.

    Members are unpacked a piece at a time within a byte budget (their declared sizes are not trusted), the
    archive may hold at most ``MAX_MXL_MEMBERS`` members, and a score that is itself an archive is refused:
    so is a damaged, encrypted or unusually compressed member, in one ``InputFileError``."""
    # a first look at the count before zipfile builds an object per member: central-directory entries
    if data.count(b"PK\x01\x02") > MAX_MXL_MEMBERS:
        raise InputFileError(f"holds more than {MAX_MXL_MEMBERS} members; a MusicXML archive holds a few", path=path)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise InputFileError("is not a compressed MusicXML (.mxl) file: the zip archive is damaged", path=path) from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MXL_MEMBERS:
            raise InputFileError(f"holds more than {MAX_MXL_MEMBERS} members; a MusicXML archive holds a few", path=path)
        if sum(info.file_size for info in members) > MAX_SCORE_BYTES:  # what the headers say: an early no
            raise InputFileError("unpacks to more than a MusicXML score can reasonably be", path=path)
        name = _mxl_score_member(archive, path=path)
        if name.lower().endswith((".mxl", ".zip")):
            raise InputFileError(f"names another archive ({_member_label(name)}) as its score; archives inside "
                                 "archives are not read", path=path)
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise InputFileError(f"names {_member_label(name)} as its score, which the archive does not hold",
                                 path=path) from None
        xml = _read_member(archive, info, budget=MAX_SCORE_BYTES, path=path)
    if xml.startswith(_ZIP_MAGIC):
        raise InputFileError(f"holds another archive as its score ({_member_label(name)}); archives inside archives "
                             "are not read", path=path)
    text = decode_xml(xml)
    check_xml_text(text, path=path)
    return _declared_utf8(text)


def _declared_utf8(text: str) -> str:
    """Decoded XML (``tutor.safety.decode_xml``) with its declaration's encoding set to UTF-8: music21 parses
    text as UTF-8, and any other declared encoding would decode it a second time."""
    return re.sub(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""", r"\g<1>\g<2>UTF-8\g<2>", text, count=1)


def _mxl_score_member(archive: zipfile.ZipFile, *, path: Path) -> str:
    """The name of the score in an .mxl archive: the first rootfile of its container, else (as music21 does)
    its first .musicxml/.xml/.mxl member outside META-INF."""
    import xml.etree.ElementTree as ET

    names = archive.namelist()
    if MXL_CONTAINER in names:
        container = _read_member(archive, archive.getinfo(MXL_CONTAINER), budget=MAX_MXL_CONTAINER_BYTES, path=path)
        check_xml_text(container, path=path)
        try:
            root = ET.fromstring(container)
        except ET.ParseError as error:
            raise InputFileError(f"has a damaged {MXL_CONTAINER} ({_short(error)})", path=path) from None
        for element in root.iter():
            full_path = element.get("full-path")
            if isinstance(element.tag, str) and element.tag.rsplit("}", 1)[-1] == "rootfile" and full_path:
                return full_path if full_path in names else full_path.lstrip("/")
    for name in names:
        if not name.startswith("META-INF") and name.lower().endswith((".musicxml", ".xml", ".mxl")):
            return name
    raise InputFileError("holds no MusicXML score (no .musicxml or .xml member)", path=path)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, budget: int, path: Path) -> bytes:
    """A member's bytes, unpacked a megabyte at a time and refused past ``budget`` bytes. Only stored and
    deflated members are read (what MusicXML archives use): zipfile unpacks bzip2 and LZMA data without a
    bound on each read."""
    label = _member_label(info.filename)
    if info.flag_bits & 0x1:
        raise InputFileError(f"is a compressed MusicXML (.mxl) file whose {label} is encrypted; save the score "
                             "again without a password", path=path)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        method = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}.get(info.compress_type, f"method {info.compress_type}")
        raise InputFileError(f"is a compressed MusicXML (.mxl) file whose {label} is compressed with {method}; "
                             "MusicXML archives use deflate, save the score again", path=path)
    pieces, total = [], 0
    try:
        with archive.open(info) as member:
            while piece := member.read(1 << 20):
                total += len(piece)
                if total > budget:
                    raise InputFileError(f"unpacks to more than {budget / 1e6:.0f} MB ({label}), more than a "
                                         "MusicXML score can reasonably be", path=path)
                pieces.append(piece)
    except _ZIP_ERRORS as error:
        raise InputFileError(f"is a damaged compressed MusicXML (.mxl) file ({label}: {_short(error)})",
                             path=path) from None
    return b"".join(pieces)


def _member_label(name: str) -> str:
    """A zip member's name fit for a one-line message."""
    return "".join(c if c.isprintable() else "?" for c in name)[:80] or "(no name)"


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


def _parse_music21(source: str, index: int | None) -> Any:
    """A music21 Score for a file path or ``corpus:`` reference (errors become InputFileError)."""
    import music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source.startswith(CORPUS_PREFIX):
            reference = source[len(CORPUS_PREFIX):]
            try:
                number = _corpus_tune_number(reference, index, source=source)
                parsed = music21.corpus.parse(reference, number=number)
            except (music21.exceptions21.Music21Exception, OSError) as error:  # CorpusException: not in the corpus
                raise InputFileError(f"no such piece in music21's corpus ({_short(error)})", path=source) from None
            if number is not None:
                index = None  # ``parsed`` is that one tune
        else:
            path = Path(source)
            checked = _check_score_file(path)
            try:
                if _suffix(path) in MIDI_EXTENSIONS:
                    # our own reader (see tutor.score.midi), rebuilt as notation with our note ids
                    return music21_from_notes(_midi_score(path, checked))
                if _suffix(path) == ".abc":
                    tune, index = _abc_tune(path, index), None  # parse only the chosen tune: fast
                    parsed = music21.converter.parseData(tune, format="abc")
                elif _suffix(path) in MUSICXML_EXTENSIONS:  # the very text that was checked (of an .mxl: unpacked)
                    parsed = music21.converter.parseData(checked, format="musicxml")
                    if parsed.metadata is not None and parsed.metadata.movementName is None:
                        parsed.metadata.movementName = path.name  # as music21 names a file without a title
                else:
                    parsed = music21.converter.parse(str(path), forceSource=True)
                metadata = getattr(parsed, "metadata", None)
                if metadata is not None and isinstance(metadata.movementName, str):
                    metadata.movementName = display_name(metadata.movementName)  # a file name may not be UTF-8
            except InputFileError:
                raise
            except Exception as error:  # noqa: BLE001 - music21's parsers raise any type on a malformed file
                raise InputFileError(f"cannot be read as a score ({_short(error)})", path=path) from None
    return _pick_score(parsed, index=index, source=source)


def _abc_tune(path: Path, index: int | None) -> str:
    """The text of tune ``index`` (0-based) of an ABC file, after the file's own header lines."""
    import re

    text = path.read_text(encoding="utf-8", errors="replace")
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
    if not starts:
        if index not in (None, 0):
            raise InputFileError(f"holds a single tune; tune index {index} does not exist", path=path)
        return text
    chosen = index or 0
    if not 0 <= chosen < len(starts):
        raise InputFileError(f"has {len(starts)} tunes; tune index {chosen} does not exist (0-based)", path=path)
    end = starts[chosen + 1] if chosen + 1 < len(starts) else len(text)
    return text[: starts[0]] + text[starts[chosen]:end]


def _corpus_tune_number(reference: str, index: int | None, *, source: str) -> int | None:
    """The X: number of tune ``index`` (0-based) of a corpus ABC collection: music21's ``number=`` is
    that X: number, not a position (O'Neill's 0051-0100 starts at X:51). None: parse it whole."""
    if index is None:
        return None
    import re

    import music21

    path = Path(str(music21.corpus.getWork(reference)))
    if path.suffix.lower() != ".abc":
        return None
    numbers = re.findall(r"^X:\s*(\d+)", path.read_text(encoding="utf-8", errors="replace"), flags=re.MULTILINE)
    if not 0 <= index < len(numbers):
        raise InputFileError(f"has {len(numbers)} tunes; tune index {index} does not exist (0-based)", path=source)
    return int(numbers[index])


def _pick_score(parsed: Any, *, index: int | None, source: str) -> Any:
    import music21

    if isinstance(parsed, music21.stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise InputFileError("contains no tunes", path=source)
        chosen = index or 0
        if not 0 <= chosen < len(scores):
            raise InputFileError(f"has {len(scores)} tunes; tune index {chosen} does not exist (0-based)", path=source)
        return scores[chosen]
    if index not in (None, 0):
        raise InputFileError(f"holds a single piece; tune index {index} does not exist", path=source)
    if not isinstance(parsed, music21.stream.Score):
        score = music21.stream.Score()
        score.insert(0, parsed)
        return score
    return parsed


@functools.lru_cache(maxsize=16)
def _cached_music21(source: str, index: int | None, mtime_ns: int) -> Any:
    return _parse_music21(source, index)


def music21_score(source: str | Path, *, index: int | None = None) -> Any:
    """A deep copy of the (cached) music21 parse of ``source``: callers may modify it."""
    import copy

    key = str(source)
    mtime = 0 if key.startswith(CORPUS_PREFIX) else _mtime_ns(Path(key))
    return copy.deepcopy(_cached_music21(key, index, mtime))


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------------
# music21 -> Score
# ---------------------------------------------------------------------------------------------
@dataclass
class _Head:
    """One notated notehead, before ties are merged."""

    m21: Any  # the music21 Note (inside a Chord for chord members)
    id: str
    pitch: int
    onset_ql: float
    duration_ql: float
    part: str
    measure: int
    beat: float
    voice: int
    velocity: int
    tie: str | None  # "start" | "continue" | "stop" | None


def _parts_of(m21score: Any) -> list[Any]:
    parts = list(m21score.parts)
    if parts:
        return parts
    return [m21score]


def _measures_of(part: Any) -> list[Any]:
    import music21

    measures = list(part.getElementsByClass(music21.stream.Measure))
    if not measures:
        part.makeMeasures(inPlace=True)
        measures = list(part.getElementsByClass(music21.stream.Measure))
    return measures


def _raw_noteheads(m21score: Any) -> Iterator[_Head]:
    """Every sounding notehead of a music21 score (ids not yet assigned)."""
    import music21

    for part_index, part in enumerate(_parts_of(m21score)):
        part_id = f"P{part_index + 1}"
        meter = None  # the time signature in force, for the beats (music21's element.beat searches the
        # context anew for every note: 45 of the 48 s that reading a 231-bar piece took; issue 24)
        for measure in _measures_of(part):
            number = int(measure.number or 0)
            meter = measure.timeSignature or meter
            bar_start = float(measure.getOffsetInHierarchy(part)) if measure.activeSite is not None else float(measure.offset)
            for element in measure.recurse().notes:
                if element.duration.isGrace or isinstance(element, music21.note.Unpitched):
                    continue
                if isinstance(element, music21.harmony.Harmony):  # chord symbols are not played notes
                    continue
                if isinstance(element, music21.percussion.PercussionChord):
                    continue
                site = element.activeSite
                offset = _offset_in(element, site, measure)
                voice = 1
                if isinstance(site, music21.stream.Voice):
                    try:
                        voice = int(site.id)
                    except (TypeError, ValueError):
                        voice = list(measure.voices).index(site) + 1 if site in measure.voices else 1
                members = element.notes if isinstance(element, music21.chord.Chord) else (element,)
                # (music21 counts a pickup's padding for a note directly in its bar, not for one in a voice)
                padding = float(measure.paddingLeft or 0.0) if site is measure else 0.0
                beat = _beat(element, meter, offset + padding)
                velocity = element.volume.velocity if element.volume.velocity is not None else 80
                for member in members:
                    if not hasattr(member, "pitch"):
                        continue
                    tie = member.tie if member.tie is not None else element.tie
                    yield _Head(
                        m21=member,
                        id="",
                        pitch=int(member.pitch.midi),
                        onset_ql=round(bar_start + offset, 6),
                        duration_ql=round(float(element.duration.quarterLength), 6),
                        part=part_id,
                        measure=number,
                        beat=round(beat, 4),
                        voice=voice,
                        velocity=int(velocity),
                        tie=tie.type if tie is not None else None,
                    )


def _offset_in(element: Any, site: Any, measure: Any) -> float:
    """``element.getOffsetInHierarchy(measure)`` for a note directly in its bar or in one of the bar's
    voices, from the streams' own offsets (music21's search through the contexts took a third of
    ``score_from_music21`` on a 231-bar piece; issue 24)."""
    try:
        if site is measure:
            return float(measure.elementOffset(element))
        if site is not None and site.activeSite is measure:
            return float(measure.elementOffset(site)) + float(site.elementOffset(element))
    except Exception:  # noqa: BLE001 - music21's SitesException and the like: ask it the long way
        pass
    return float(element.getOffsetInHierarchy(measure))


def _beat(element: Any, meter: Any, position_ql: float) -> float:
    """``element.beat`` from the time signature in force and the element's place in its bar (a pickup's
    padding counted), as music21 finds it (``getBeatProportion`` of the offset, modulo a bar)."""
    import music21

    try:
        if meter is None:
            return float(element.beat)
        bar_ql = float(meter.barDuration.quarterLength)
        if bar_ql > 0 and position_ql >= bar_ql:
            position_ql %= bar_ql
        return float(meter.getBeatProportion(position_ql))
    except (music21.exceptions21.Music21Exception, ZeroDivisionError):  # an offset outside its time signature's bar
        return 1.0 + position_ql


def identified_noteheads(m21score: Any) -> list[list[_Head]]:
    """Sounding notes of a music21 score as groups of tied noteheads, with ids assigned.

    A sounding note's id is ``{part}-m{measure}-n{k}``: k counts the notes that *start* in that
    part and measure, sorted by (onset, pitch, longest first, voice); its tied continuation noteheads are
    ``{id}-t1``, ``{id}-t2``... Counting starts rather than noteheads keeps ids the same whether a
    long note is written tied or not (MusicXML versus MIDI). Shared by the loader and the MusicXML
    exporter so that both agree on which notehead is which.
    """
    return name_noteheads(_raw_noteheads(m21score))


def name_noteheads(heads: list) -> list[list]:
    """Noteheads (objects with ``part``, ``measure``, ``onset_ql``, ``duration_ql``, ``pitch``, ``voice``,
    ``tie`` and a writable ``id``) grouped into tied sounding notes, each given its id as
    ``identified_noteheads`` says; also used on a MusicXML file's own noteheads (``tutor.score.viewxml``)."""
    groups: list[list] = []
    open_ties: dict[tuple[str, int], int] = {}
    for head in sorted(heads, key=lambda h: (h.part, h.onset_ql, h.pitch, h.voice)):
        key = (head.part, head.pitch)
        if head.tie in ("continue", "stop") and key in open_ties:
            group = groups[open_ties[key]]
            last = group[-1]
            if abs(head.onset_ql - (last.onset_ql + last.duration_ql)) < 1e-3:
                group.append(head)
                if head.tie == "stop":
                    del open_ties[key]
                continue
            del open_ties[key]
        groups.append([head])
        if head.tie == "start":
            open_ties[key] = len(groups) - 1
    counters: dict[tuple[str, int], int] = defaultdict(int)
    # the longer of two notes on the same pitch and onset comes first: MIDI files have no voices
    groups.sort(key=lambda g: (g[0].part, g[0].onset_ql, g[0].pitch, -sum(h.duration_ql for h in g), g[0].voice))
    for group in groups:
        first = group[0]
        k = counters[(first.part, first.measure)]
        counters[(first.part, first.measure)] += 1
        first.id = f"{first.part}-m{first.measure}-n{k}"
        for j, head in enumerate(group[1:], start=1):
            head.id = f"{first.id}-t{j}"
    return groups


def _notes_from_groups(groups: list[list[_Head]]) -> list[Note]:
    notes = []
    for group in groups:
        first = group[0]
        notes.append(
            Note(
                id=first.id, pitch=first.pitch, onset_ql=first.onset_ql,
                duration_ql=round(sum(h.duration_ql for h in group), 6), onset_s=0.0, duration_s=0.0,
                part=first.part, measure=first.measure, beat=first.beat, voice=first.voice,
                velocity=first.velocity, tied_ids=tuple(h.id for h in group[1:]),
            )
        )
    return notes


def _tempo_map(m21score: Any) -> TempoMap:
    import music21

    changes = []
    try:
        boundaries = m21score.metronomeMarkBoundaries()
    except music21.exceptions21.Music21Exception:  # a tempo text or modulation without a sounding tempo
        boundaries = []
    for start, _end, mark in boundaries:
        try:
            bpm = float(mark.getQuarterBPM())
        except (TypeError, ValueError, ZeroDivisionError, music21.exceptions21.Music21Exception):
            continue  # a mark without a number (None) or with a referent that does not convert
        if bpm and bpm > 0:
            changes.append(TempoChange(round(float(start), 6), bpm))
    # drop repeats of the same tempo
    cleaned: list[TempoChange] = []
    for change in sorted(changes, key=lambda c: c.position_ql):
        if cleaned and abs(cleaned[-1].bpm - change.bpm) < 1e-6:
            continue
        if cleaned and abs(cleaned[-1].position_ql - change.position_ql) < 1e-9:
            cleaned[-1] = change
            continue
        cleaned.append(change)
    return TempoMap(tuple(cleaned))


def _signatures(first_part: Any) -> tuple[tuple[TimeSignature, ...], tuple[KeySignature, ...], tuple[Measure, ...]]:
    import music21

    time_signatures: list[TimeSignature] = []
    key_signatures: list[KeySignature] = []
    measures: list[Measure] = []
    current_ts = "4/4"
    for measure in _measures_of(first_part):
        number = int(measure.number or 0)
        start = float(measure.getOffsetInHierarchy(first_part))
        for ts in measure.getElementsByClass(music21.meter.TimeSignature):
            time_signatures.append(TimeSignature(number, round(start + float(ts.offset), 6), ts.numerator, ts.denominator))
            current_ts = f"{ts.numerator}/{ts.denominator}"
        for ks in measure.recurse().getElementsByClass(music21.key.KeySignature):
            mode = ks.mode if isinstance(ks, music21.key.Key) else None
            key_signatures.append(KeySignature(number, round(start + float(ks.getOffsetInHierarchy(measure)), 6), int(ks.sharps), mode))
        duration = float(measure.duration.quarterLength)
        if duration <= 0:
            duration = float(measure.barDuration.quarterLength)
        measures.append(Measure(number, round(start, 6), round(duration, 6), current_ts))
    # a measure lasts until the next one starts, even when its written content is shorter
    for index in range(len(measures) - 1):
        span = round(measures[index + 1].start_ql - measures[index].start_ql, 6)
        if span > 0 and abs(span - measures[index].duration_ql) > 1e-6:
            measures[index] = replace(measures[index], duration_ql=span)
    return tuple(time_signatures), _dedupe_keys(key_signatures), tuple(measures)


def _dedupe_keys(keys: list[KeySignature]) -> tuple[KeySignature, ...]:
    out: list[KeySignature] = []
    for key in keys:
        if out and out[-1].fifths == key.fifths and (key.mode is None or out[-1].mode == key.mode):
            continue
        out.append(key)
    return tuple(out)


def _part_info(part: Any, index: int) -> Part:
    import music21

    name = (part.partName or "").strip()
    program = 0
    instrument = part.getInstrument(returnDefault=False) if hasattr(part, "getInstrument") else None
    if instrument is None:
        found = part.recurse().getElementsByClass(music21.instrument.Instrument)
        instrument = found.first() if found else None
    if instrument is not None:
        name = name or (instrument.partName or instrument.instrumentName or "").strip()
        if instrument.midiProgram is not None:
            program = int(instrument.midiProgram)
    return Part(id=f"P{index + 1}", name=name or f"Part {index + 1}", program=program)


def score_from_music21(m21score: Any, *, source_path: Path | None = None, title: str | None = None) -> Score:
    """Our ``Score`` for a parsed music21 score."""
    parts = _parts_of(m21score)
    notes = _notes_from_groups(identified_noteheads(m21score))
    tempo = _tempo_map(m21score)
    time_signatures, key_signatures, measures = _signatures(parts[0])
    form = form_from_music21(m21score, measures)  # repeats, endings, jumps (issue 21)
    metadata = m21score.metadata
    found_title = ""
    composer = ""
    if metadata is not None:
        found_title = (metadata.title or metadata.movementName or "").strip()
        composer = (metadata.composer or "").strip()
    if found_title.lower().endswith((".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid")):
        found_title = found_title.rsplit(".", 1)[0]
    if title is None:
        title = found_title or (display_name(Path(str(source_path)).stem) if source_path else "Untitled")
    if not key_signatures:
        key_signatures = _guess_key(m21score)
    return Score(
        title=title,
        parts=tuple(_part_info(p, i) for i, p in enumerate(parts)),
        notes=sort_notes(time_notes(notes, tempo)),
        measures=measures,
        time_signatures=time_signatures,
        key_signatures=key_signatures,
        tempo_map=tempo,
        source_path=source_path,
        composer=composer,
        form=form,
    )


def _guess_key(m21score: Any) -> tuple[KeySignature, ...]:
    """Files without a key signature (most MIDI files): the Krumhansl-Schmuckler estimate."""
    import music21

    try:
        estimate = m21score.analyze("key")
    except music21.exceptions21.Music21Exception:  # DiscreteAnalysisException: no pitches to weigh
        return ()
    return (KeySignature(0, 0.0, int(estimate.sharps), estimate.mode),)


# ---------------------------------------------------------------------------------------------
# public loaders
# ---------------------------------------------------------------------------------------------
def load_score(source: str | Path, *, index: int | None = None) -> Score:
    """Load a score from a file (by extension) or a ``corpus:`` reference.

    ``index`` picks a tune (0-based) in a multi-tune ABC file or corpus collection.
    """
    key = str(source)
    if not key.startswith(CORPUS_PREFIX):
        path = Path(key)
        midi = _check_score_file(path)  # fail fast with a clear message before any parse
        if _suffix(path) in MIDI_EXTENSIONS:
            if index not in (None, 0):
                raise InputFileError(f"holds a single piece; tune index {index} does not exist", path=path)
            return _midi_score(path, midi)
        cache_key = score_cache.key_for(path, index)  # a piece read before: no music21 parse (issue 24)
        cached = score_cache.get(cache_key)
        if cached is not None:
            return cached
        score = _load_parsed(key, index)
        score_cache.put(cache_key, score)
        return score
    return _load_parsed(key, index)


def _load_parsed(key: str, index: int | None) -> Score:
    m21 = _cached_music21(key, index, 0 if key.startswith(CORPUS_PREFIX) else _mtime_ns(Path(key)))
    source_path = None if key.startswith(CORPUS_PREFIX) else Path(key)
    try:
        score = score_from_music21(m21, source_path=source_path)
    except Exception as error:  # noqa: BLE001 - a parsed file's odd content can fail anywhere in music21's object model
        raise InputFileError(f"cannot be read as a score ({_short(error)})", path=key) from None
    if source_path is None:
        score = _with_reference(score, key)
    elif _suffix(source_path) == ".abc":  # the tune's part order (P:/Y: header) over its P: parts (issue 21)
        score = replace(score, form=with_abc_parts(score.form, _abc_tune(source_path, index), score.measures))
    return score


def _midi_score(path: Path, midi: Any) -> Score:
    try:
        score = score_from_midi(path, midi)
    except InputFileError:  # a limit (measures) reached while the score was built
        raise
    except Exception as error:  # noqa: BLE001 - corrupt event data can fail anywhere in mido's messages
        raise InputFileError(f"is a corrupt MIDI file ({_short(error)})", path=path) from None
    if not score.notes:
        raise InputFileError("contains no notes", path=path)
    return score


def _with_reference(score: Score, reference: str) -> Score:
    return replace(score, source_path=Path(reference), title=score.title or reference)


def read_pretty_midi(path: Path) -> Any:
    """``pretty_midi.PrettyMIDI`` of a MIDI file, or an ``InputFileError`` that names the file."""
    check_readable(path, max_bytes=MAX_MIDI_BYTES)
    data = path.read_bytes()
    if not data.startswith(b"MThd"):
        raise InputFileError("is not a MIDI file (no 'MThd' header)", path=path)
    pretty_midi = pretty_midi_module()
    midi = _parse_midi(data, path=path)  # counted within the limits first; SMPTE time as seconds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pretty_midi.PrettyMIDI(mido_object=midi)
        except Exception as error:  # noqa: BLE001 - pretty_midi (through mido) raises many types for corrupt data
            raise InputFileError(f"is a corrupt or truncated MIDI file ({_short(error)})", path=path) from None


def load_midi_performance(path: str | Path) -> Performance:
    """A performance from a MIDI file (raw seconds, sustain pedal kept as events). A recording is read by
    ``tutor.listen.takes.load_performance``, which transcribes it."""
    path = Path(path)
    ext = _suffix(path)
    if ext not in MIDI_EXTENSIONS:
        raise UnsupportedFormatError(
            f"unknown performance format {ext or '(no extension)'}; use a MIDI file or audio "
            f"({', '.join(AUDIO_EXTENSIONS)})",
            path=path,
        )
    midi = read_pretty_midi(path)
    notes: list[PlayedNote] = []
    pedal: list[PedalEvent] = []
    for channel, instrument in enumerate(midi.instruments):
        if instrument.is_drum:
            continue
        for n in instrument.notes:
            if n.end > n.start:
                notes.append(PlayedNote(int(n.pitch), float(n.start), float(n.end), int(n.velocity), channel=channel))
        for cc in instrument.control_changes:
            if cc.number == 64:
                down = cc.value >= 64
                if not pedal or pedal[-1].down != down:
                    pedal.append(PedalEvent(float(cc.time), down))
    return Performance(notes=sort_played(notes), source_path=path, pedal=tuple(pedal))


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------
def save_score(score: Score, path: str | Path) -> Path:
    """Write ``score`` as MIDI or MusicXML (chosen by extension), atomically."""
    path = Path(path)
    ext = _suffix(path)
    if ext in MIDI_EXTENSIONS:
        data = midi_bytes(unfold(score).score)  # MIDI plays the repeats out (issue 21)
    elif ext in (".musicxml", ".xml"):
        data = musicxml_bytes(score)
    elif ext == ".mxl":
        data = _zip_musicxml(musicxml_bytes(score))
    else:
        raise UnsupportedFormatError(
            f"cannot write {ext or '(no extension)'}; write .mid, .midi, .musicxml, .xml or .mxl", path=path
        )
    atomic_write_bytes(path, data)
    return path


def midi_bytes(score: Score, *, ticks_per_quarter: int = 480) -> bytes:
    """A type-1 MIDI file: a conductor track (tempo, meter, key) and one track per part."""
    import mido

    def tick(position_ql: float) -> int:
        return int(round(position_ql * ticks_per_quarter))

    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_quarter)
    conductor: list[tuple[int, int, mido.MetaMessage]] = []
    conductor.append((0, 0, mido.MetaMessage("track_name", name=_latin1(score.title[:120]))))
    for change in score.tempo_map.changes:
        conductor.append((tick(change.position_ql), 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(change.bpm))))
    conductor.extend(_meter_events(score, tick))
    for ks in score.key_signatures:
        name = _midi_key_name(ks)
        if name:
            conductor.append((tick(ks.position_ql), 3, mido.MetaMessage("key_signature", key=name)))
    midi.tracks.append(_track(conductor))
    for channel_index, part in enumerate(score.parts):
        channel = channel_index % 16
        if channel == 9:
            channel = 10
        events: list[tuple[int, int, Any]] = [
            (0, 0, mido.MetaMessage("track_name", name=_latin1(part.name[:120]))),
            (0, 1, mido.Message("program_change", program=max(0, min(127, part.program)), channel=channel)),
        ]
        for note in score.notes_of(part.id):
            start, end = tick(note.onset_ql), tick(note.offset_ql)
            if end <= start:
                continue
            velocity = max(1, min(127, note.velocity))
            events.append((start, 3, mido.Message("note_on", note=note.pitch, velocity=velocity, channel=channel)))
            events.append((end, 2, mido.Message("note_off", note=note.pitch, velocity=0, channel=channel)))
        midi.tracks.append(_track(events))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _meter_events(score: Score, tick: Any) -> list[tuple[int, int, Any]]:
    """Time signatures, plus helper meters and markers that keep irregular bars and measure numbers."""
    import mido

    def meter(numerator: int, denominator: int) -> Any:
        return mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)

    def marker(text: str) -> Any:
        return mido.MetaMessage("marker", text=text)

    real = {tick(ts.position_ql): ts for ts in score.time_signatures if ts.denominator in (1, 2, 4, 8, 16, 32, 64)}
    current = score.time_signatures[0] if score.time_signatures else TimeSignature(0, 0.0, 4, 4)
    events: list[tuple[int, int, Any]] = []
    previous_number: int | None = None
    previous_irregular = False
    for measure in score.measures:
        at = tick(measure.start_ql)
        if at in real:
            current = real[at]
        helper = None
        if abs(measure.duration_ql - current.bar_ql) > 1e-6:
            helper = _meter_for_length(measure.duration_ql)
        if helper is not None:
            events += [(at, 2, meter(*helper)), (at, 0, marker(IRREGULAR_MARKER))]
        elif previous_irregular:
            events += [(at, 2, meter(current.numerator, current.denominator)), (at, 0, marker(RESTORE_MARKER))]
        elif at in real:
            events.append((at, 2, meter(current.numerator, current.denominator)))
        expected = previous_number + 1 if previous_number is not None else 1
        if measure.number != expected:
            events.append((at, 0, marker(f"{MEASURE_MARKER}{measure.number}")))
        previous_number = measure.number
        previous_irregular = helper is not None
    if not score.measures:
        events += [(at, 2, meter(ts.numerator, ts.denominator)) for at, ts in real.items()]
    return events


def _meter_for_length(duration_ql: float) -> tuple[int, int] | None:
    """A time signature exactly ``duration_ql`` long (3/8 for 1.5), or None if there is none."""
    if duration_ql <= 0:
        return None
    for denominator in (4, 8, 16, 32):
        numerator = duration_ql * denominator / 4.0
        if abs(numerator - round(numerator)) < 1e-6 and round(numerator) <= 255:
            return int(round(numerator)), denominator
    return None


def _latin1(text: str) -> str:
    """MIDI text events are Latin-1: spell sharps and flats out and drop what cannot be written."""
    text = text.replace("\u266f", "#").replace("\u266d", "b").replace("\u266e", "")
    return text.encode("latin-1", "replace").decode("latin-1")


def _track(events: list[tuple[int, int, Any]]) -> Any:
    import mido

    track = mido.MidiTrack()
    now = 0
    for at, _order, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=at - now))
        now = at
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


_MIDI_MAJOR = {-7: "Cb", -6: "Gb", -5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#", 7: "C#"}
_MIDI_MINOR = {-7: "Abm", -6: "Ebm", -5: "Bbm", -4: "Fm", -3: "Cm", -2: "Gm", -1: "Dm", 0: "Am", 1: "Em", 2: "Bm", 3: "F#m", 4: "C#m", 5: "G#m", 6: "D#m", 7: "A#m"}


def _midi_key_name(ks: KeySignature) -> str | None:
    table = _MIDI_MINOR if ks.mode == "minor" else _MIDI_MAJOR
    return table.get(ks.fifths)


def _zip_musicxml(xml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.recordare.musicxml")
        archive.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
            '<rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
            "</rootfiles></container>\n",
        )
        archive.writestr("score.musicxml", xml)
    return buffer.getvalue()


def musicxml_bytes(score: Score, *, colors: dict[str, str] | None = None, texts: dict[str, str] | None = None) -> bytes:
    """MusicXML for ``score`` with every note carrying its id (``<note id=...>``).

    When ``score`` is unchanged from its source file, the source's own notation (clefs, beams,
    slurs, lyrics, dynamics) is kept; otherwise the notation is built from the notes.
    ``colors`` maps note ids to '#RRGGBB' notehead colours; ``texts`` maps note ids to short
    text marks written above those notes (annotated output for assessment and critique).
    """
    return _musicxml_with_fallback(score, colors or {}, texts or {})


def _musicxml_with_fallback(score: Score, colors: dict[str, str], texts: dict[str, str]) -> bytes:
    """The source's notation when music21 can write it back; else notation built from the notes
    (music21 cannot write some real scores: nested tuplets, 'inexpressible durations')."""
    m21 = _source_music21_if_unchanged(score)
    if m21 is not None:
        _rests_seen(m21)
        _apply_marks(m21, colors, texts)
        try:
            try:  # the source's own notation is well formed: written as it is (makeNotation copies the whole
                # score and fills every bar again: 10 of the 17 s a 231-bar piece took; issue 24)
                return _write_musicxml(m21, make_notation=False)
            except OutputFileError:
                return _write_musicxml(m21)
        except OutputFileError as error:
            log.info("writing %s from its own notation failed (%s); rebuilding it from the notes", score.source_path, error)
    if not _off_the_written_grid(score):
        m21 = music21_from_notes(score)
        _apply_marks(m21, colors, texts)
        try:
            return _write_musicxml(m21)
        except OutputFileError as error:
            log.info("%s: notation from the notes failed (%s); drawn with its times on a grid of %s beats",
                     score.source_path, error, DRAWN_GRID_QL)
    drawn = on_drawn_grid(score)
    m21 = music21_from_notes(drawn)
    _name_as_notes(m21, drawn)
    _apply_marks(m21, colors, texts)
    return _write_musicxml(m21)


def _off_the_written_grid(score: Score) -> bool:
    """Whether a note starts or ends where MIDI import's 1/48-beat grid put it but no sixteenth or triplet does (25/48
    of a beat: an unquantised performance opened as a score, which music21 cannot write): worth drawing on a grid at
    once, not after a failed attempt that costs seconds on a long piece. (Quintuplets and the like are off that grid
    altogether and are written as they are.)"""
    def odd(value: float) -> bool:
        steps = value * 48
        return abs(steps - round(steps)) < 1e-3 and round(steps) % 3 != 0 and round(steps) % 4 != 0

    return any(odd(n.onset_ql) or odd(n.onset_ql + n.duration_ql) for n in score.notes)


def _name_as_notes(m21: Any, score: Score) -> None:
    """Each sounding note of ``m21`` (built from ``score``'s notes) takes the id of the note of ``score`` at its part,
    pitch and onset, its tied continuations ``{id}-t1``...: a score drawn on a grid keeps its notes' own ids, where
    the positions the ids are otherwise derived from (``identified_noteheads``) moved. A notehead that matches no
    note gets an id no note has (``{part}-drawn-{k}``)."""
    by_place = {(n.part, n.pitch, round(n.onset_ql, 4)): n.id for n in score.notes}
    for k, group in enumerate(identified_noteheads(m21)):
        first = group[0]
        original = by_place.pop((first.part, first.pitch, round(first.onset_ql, 4)), None) or f"{first.part}-drawn-{k}"
        first.m21.id = original
        for j, head in enumerate(group[1:], start=1):
            head.m21.id = f"{original}-t{j}"


DRAWN_GRID_QL = 0.25  # a sixteenth: every multiple of it can be written (with ties across beats and bars)


def on_drawn_grid(score: Score, grid_ql: float = DRAWN_GRID_QL) -> Score:
    """``score`` with each note's onset and end rounded to ``grid_ql`` (at least one step long), for a score music21
    cannot write as it is: an unquantised MIDI performance opened as a piece has lengths no notation expresses. A
    pitch struck twice within a step (a re-strike, a grace note) keeps two heads, the earlier a step before (after,
    at the piece's start), and a note ends where its pitch is struck again. Notes keep their ids (the marks still
    land on them) and go to the bar their drawn onset falls in (``beat``: quarters from its start); only what is
    drawn moves, never the notes assessed."""
    def snap(value: float) -> float:
        return round(value / grid_ql) * grid_ql

    notes = [replace(n, onset_ql=snap(n.onset_ql), duration_ql=max(grid_ql, snap(n.onset_ql + n.duration_ql)
                                                                    - snap(n.onset_ql))) for n in score.notes]
    taken: set[tuple] = set()  # (part, pitch, drawn onset)
    for k in sorted(range(len(notes)), key=lambda k: -score.notes[k].onset_ql):
        n = notes[k]
        step = -grid_ql
        while (n.part, n.pitch, n.onset_ql) in taken:
            if n.onset_ql + step < 0:
                step = grid_ql
            n = replace(n, onset_ql=n.onset_ql + step, duration_ql=grid_ql)
        taken.add((n.part, n.pitch, n.onset_ql))
        notes[k] = n
    next_strike: dict[tuple, list[float]] = defaultdict(list)
    for n in notes:
        next_strike[(n.part, n.pitch)].append(n.onset_ql)
    for onsets in next_strike.values():
        onsets.sort()
    def placed(n):
        onsets = next_strike[(n.part, n.pitch)]
        later = onsets[bisect.bisect_right(onsets, n.onset_ql + 1e-9):]
        if later and n.onset_ql + n.duration_ql > later[0]:
            n = replace(n, duration_ql=later[0] - n.onset_ql)
        bar = score.measure_at(n.onset_ql) or (score.measures[0] if score.measures else None)
        return n if bar is None else replace(n, measure=bar.number, beat=round(1.0 + n.onset_ql - bar.start_ql, 4))

    return replace(score, notes=tuple(placed(n) for n in notes))


def _rests_seen(m21: Any) -> None:
    """Issue 24: a bar written from the source adds up with rests that are seen. A short bar that is
    not a pickup (a last bar completing it) keeps its length (music21 would pad it with a hidden rest),
    and the first voice's rests are shown (music21 reads a ``<forward>`` gap as a hidden one)."""
    import music21

    for part in _parts_of(m21):
        for measure in _measures_of(part):
            bar_ql = measure.barDuration.quarterLength
            if measure.highestTime < bar_ql - 1e-6 and not measure.paddingLeft and not measure.paddingRight:
                measure.paddingRight = bar_ql - measure.highestTime
            voices = list(measure.voices)
            for stream in [measure] + voices[:1]:
                for rest in stream.getElementsByClass(music21.note.Rest):
                    rest.style.hideObjectOnPrint = False


def _source_music21_if_unchanged(score: Score) -> Any | None:
    if score.source_path is None:
        return None
    source = str(score.source_path)
    if not source.startswith(CORPUS_PREFIX) and not Path(source).exists():
        return None
    if _source_format(source) not in MUSICXML_EXTENSIONS:
        # music21 writes ABC/Humdrum parses back with short bars padded (positions shift)
        return None
    import music21

    try:
        m21 = music21_score(source)
    except (TutorError, OSError):  # the source changed or went away since it was read: build the notation anew
        return None
    groups = identified_noteheads(m21)
    original = _notes_from_groups(groups)
    numbers = {m.number for m in score.measures}
    all_numbers = {int(m.number or 0) for m in _measures_of(_parts_of(m21)[0])}
    part_ids = {p.id for p in score.parts}
    kept = [n for n in original if n.measure in numbers and n.part in part_ids]
    wanted = {(n.id, n.pitch, round(n.onset_ql, 4), round(n.duration_ql, 4)) for n in score.notes}
    have = {(n.id, n.pitch, round(n.onset_ql, 4), round(n.duration_ql, 4)) for n in kept}
    if wanted != have:
        return None
    for group in groups:
        for head in group:
            head.m21.id = head.id
    if numbers != all_numbers:
        first, last = min(numbers), max(numbers)
        try:
            m21 = m21.measures(first, last)
        except music21.exceptions21.Music21Exception:
            return None
    if len(part_ids) != len(_parts_of(m21)):
        for index, part in reversed(list(enumerate(_parts_of(m21)))):
            if f"P{index + 1}" not in part_ids:
                m21.remove(part)
    return m21


def _source_format(source: str) -> str:
    if source.startswith(CORPUS_PREFIX):
        import music21

        try:
            return Path(str(music21.corpus.getWork(source[len(CORPUS_PREFIX):]))).suffix.lower()
        except music21.exceptions21.Music21Exception:  # CorpusException: not in the corpus
            return ""
    return _suffix(Path(source))


def music21_from_notes(score: Score) -> Any:
    """Build notation from our notes: measures, signatures, tempo; notes split at barlines."""
    import music21

    m21 = music21.stream.Score()
    m21.metadata = music21.metadata.Metadata(title=score.title, composer=score.composer or None)
    measures = score.measures or _default_measures(score)
    for part in score.parts:
        m21_part = music21.stream.Part(id=part.id)
        m21_part.partName = part.name
        instrument = music21.instrument.instrumentFromMidiProgram(part.program) if part.program else music21.instrument.Piano()
        instrument.partName = part.name
        # the short name on later systems follows the part's name, not the instrument's ("Mel.", not "Fl"; issue 24)
        instrument.partAbbreviation = m21_part.partAbbreviation = _abbreviation(part.name)
        m21_part.insert(0, instrument)
        part_notes = score.notes_of(part.id)
        part_voices = sorted({n.voice for n in part_notes})
        notes_by_measure = _notes_by_measure(part_notes, measures, score=score)
        restore_meter: str | None = None
        in_key = None
        for index, measure in enumerate(measures):
            m = music21.stream.Measure(number=measure.number)
            for ts in score.time_signatures:
                if abs(ts.position_ql - measure.start_ql) < 1e-6 or (index == 0 and ts.position_ql <= measure.start_ql):
                    m.timeSignature = music21.meter.TimeSignature(ts.text)
            if index == 0 and not m.timeSignature:
                m.timeSignature = music21.meter.TimeSignature(measure.time_signature)
            if index == 0:  # without a clef, engravers (Verovio) draw none
                m.clef = _clef_for(part_notes, name=part.name)
            written = _meter_for_length(measure.duration_ql)
            numerator, denominator = (int(x) for x in measure.time_signature.split("/"))
            if written and abs(measure.duration_ql - numerator * 4.0 / denominator) > 1e-6:
                if index == 0:  # a pickup bar: short, under the real meter
                    m.paddingLeft = numerator * 4.0 / denominator - measure.duration_ql
                    m.showNumber = music21.stream.enums.ShowNumber.NEVER  # written implicit="yes" (issue 24)
                else:  # a bar cut short by a meter change: written as a meter of its own length
                    m.timeSignature = music21.meter.TimeSignature(f"{written[0]}/{written[1]}")
                    restore_meter = measure.time_signature
            elif index > 0 and restore_meter and not m.timeSignature:
                m.timeSignature = music21.meter.TimeSignature(restore_meter)
                restore_meter = None
            for ks in score.key_signatures:
                if abs(ks.position_ql - measure.start_ql) < 1e-6 or (index == 0 and ks.position_ql <= measure.start_ql):
                    m.keySignature = music21.key.KeySignature(ks.fifths)
                    in_key = ks
            for change in score.tempo_map.changes:
                if measure.start_ql - 1e-6 <= change.position_ql < measure.end_ql - 1e-6:
                    if part is score.parts[0]:
                        m.insert(change.position_ql - measure.start_ql, music21.tempo.MetronomeMark(number=round(change.bpm, 2)))
            _fill_measure(m, measure, notes_by_measure[index], part_voices=part_voices)
            if in_key is not None:
                _spell_in_key(m, in_key.fifths, in_key.mode)
            m21_part.append(m)
        m21.insert(0, m21_part)
    apply_form(m21, score)  # repeat signs, endings, jumps (issue 21)
    try:
        m21.makeNotation(inPlace=True)
        # a note of a length no one notehead writes (2.5 quarters: a half tied to an eighth) is split here, not by
        # the exporter, so that each notehead of it gets an id of its own below (the exporter's split copied the
        # id to both, and engravers drop a tie whose two ends have one id)
        m21.splitAtDurations(recurse=True)
    except Exception as error:  # noqa: BLE001 - best effort (music21 raises any type): the notes are already right
        log.debug("makeNotation failed: %s", error)
    for rest in m21.recurse().getElementsByClass(music21.note.Rest):  # issue 24: a rest is seen
        rest.style.hideObjectOnPrint = False
    # ids follow the same derivation as the loader, so that reading the file back gives them
    for group in identified_noteheads(m21):
        for head in group:
            head.m21.id = head.id
    return m21


MAX_NOTATION_PIECES = 1_000_000  # notes cut at barlines: a real score has about one per note, 30,000 or so


def _notes_by_measure(notes: tuple[Note, ...], measures: tuple[Measure, ...], *, score: Score) -> list[tuple[Note, ...]]:
    """For each measure, the notes that may sound in it (in their order; ``_fill_measure`` picks those that do),
    found by bisection rather than by passing every note to every measure."""
    starts = [m.start_ql for m in measures]
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)):  # measures out of order: every note everywhere
        return [notes] * len(measures)
    spans = []
    for note in notes:
        first = max(0, bisect.bisect_right(starts, note.onset_ql) - 2)
        last = min(len(measures), bisect.bisect_right(starts, note.offset_ql) + 1)
        spans.append((first, last))
    if sum(last - first for first, last in spans) > MAX_NOTATION_PIECES:
        raise OutputFileError(f"holds notes that last across too many barlines to be written as notation (more than "
                              f"{MAX_NOTATION_PIECES:,} pieces of notes)", path=score.source_path)
    buckets: list[list[Note]] = [[] for _ in measures]
    for note, (first, last) in zip(notes, spans, strict=True):
        for index in range(first, last):
            buckets[index].append(note)
    return [tuple(bucket) for bucket in buckets]


def _abbreviation(name: str | None) -> str | None:
    """A part's short name: its first three letters and a full stop ("Melody" -> "Mel."), a short name as it is."""
    if not name:
        return None
    name = name.strip()
    return name if len(name) <= 4 else name[:3].rstrip() + "."


_STAFF_STEPS = {"treble": (30, 38), "bass": (18, 26)}  # (bottom line, top line) in diatonic steps from C0: E4-F5, G2-A3
_STEP_OF_PC = (0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5, 6)  # a pitch class's letter (C=0 ... B=6; sharps on the letter below)


def _ledger_lines(pitch: int, clef: str) -> int:
    """How many ledger lines a note of MIDI ``pitch`` needs on a ``clef`` ("treble" or "bass") staff."""
    step = (pitch // 12 - 1) * 7 + _STEP_OF_PC[pitch % 12]
    bottom, top = _STAFF_STEPS[clef]
    return max(0, (step - top) // 2, (bottom - step) // 2)


_VOICE_CLEFS = {"soprano": "TrebleClef", "alto": "TrebleClef", "tenor": "Treble8vbClef", "bass": "BassClef"}


def _clef_for(notes: tuple[Note, ...], *, name: str | None = None) -> Any:
    """A part's clef: a choir's voice (a part named Soprano, Alto, Tenor or Bass) in its own clef, as a chorale is
    printed (the tenor in the treble clef an octave down); any other part in the clef that writes its notes with the
    fewest ledger lines (the treble clef on a tie, and for a part with no notes)."""
    import music21

    voice = _VOICE_CLEFS.get((name or "").strip().lower())
    if voice:
        return getattr(music21.clef, voice)()
    treble = sum(_ledger_lines(n.pitch, "treble") for n in notes)
    bass = sum(_ledger_lines(n.pitch, "bass") for n in notes)
    return music21.clef.BassClef() if bass < treble else music21.clef.TrebleClef()


def _default_measures(score: Score) -> tuple[Measure, ...]:
    bar = 4.0
    count = max(1, int(-(-score.duration_ql // bar)))
    return tuple(Measure(i + 1, i * bar, bar, "4/4") for i in range(count))


def _fill_measure(m: Any, measure: Measure, part_notes: tuple[Note, ...], *, part_voices: list[int]) -> None:
    """Insert the notes sounding in ``measure`` as voices, splitting notes at the barlines.

    Every measure of a part with several voices gets all of them (a rest where a voice is silent):
    music21 ties notes across barlines voice by voice and fails when the next bar lacks one."""
    import music21

    start, end = measure.start_ql, measure.end_ql
    by_voice: dict[int, list[tuple[float, float, Note, str | None]]] = defaultdict(list)
    for note in part_notes:
        if note.offset_ql <= start + 1e-6 or note.onset_ql >= end - 1e-6:
            continue
        seg_start = max(note.onset_ql, start)
        seg_end = min(note.offset_ql, end)
        if note.onset_ql >= start - 1e-6:
            tie = "start" if note.offset_ql > end + 1e-6 else None
            note_id = note.id
        else:
            tie = "continue" if note.offset_ql > end + 1e-6 else "stop"
            note_id = f"{note.id}-t{round(seg_start, 3)}"  # renamed by the exporter's id pass
        by_voice[note.voice].append((seg_start - start, seg_end - seg_start, note, tie, note_id))
    voices = part_voices if len(part_voices) > 1 else (sorted(by_voice) or part_voices[:1] or [1])
    # issue 24: every voice of every bar adds up. Notes of one voice that overlap (a generated chorale's
    # half note under the next beat, a MIDI file's notes of one onset and two lengths) go to a voice of
    # their own in that bar, instead of being written one after the other (5 quarters in a 4/4 bar);
    # gaps are visible rests, not the hidden ones music21 pads a bar with.
    lanes: list[tuple[str, list[tuple[float, float, list]]]] = []
    spare_voice = max(voices) + 1
    for voice_number in voices:
        groups: dict[tuple[float, float], list] = defaultdict(list)
        for offset, length, note, tie, note_id in by_voice[voice_number]:
            groups[(round(offset, 6), round(length, 6))].append((note, tie, note_id))
        layers: list[list[tuple[float, float, list]]] = [[]]
        ends = [0.0]
        for (offset, length), members in sorted(groups.items()):
            layer = next((k for k, layer_end in enumerate(ends) if offset >= layer_end - 1e-6), len(ends))
            if layer == len(ends):
                layers.append([])
                ends.append(0.0)
            layers[layer].append((offset, length, members))
            ends[layer] = offset + length
        lanes.append((str(voice_number), layers[0]))
        for extra in layers[1:]:
            lanes.append((str(spare_voice), extra))
            spare_voice += 1
    for voice_id, layer_elements in lanes:
        target: Any = m
        if len(lanes) > 1:
            target = music21.stream.Voice(id=voice_id)
            m.insert(0, target)
        cursor = 0.0
        for offset, length, members in layer_elements:
            if offset > cursor + 1e-6:
                target.insert(cursor, music21.note.Rest(quarterLength=offset - cursor))
            target.insert(offset, _m21_element(members, length))
            cursor = offset + length
        if cursor < measure.duration_ql - 1e-6:
            target.insert(cursor, music21.note.Rest(quarterLength=measure.duration_ql - cursor))


_LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}  # a letter's place on the line of fifths


def _spell_in_key(measure: Any, fifths: int, mode: str | None) -> None:
    """Each black-key note of ``measure`` spelt as the key has it: the spelling nearer the key on the line of fifths
    (in a key of ``fifths`` sharps, or flats when negative; a minor key leans to its leading tone's sharp side), so
    that E minor's leading tone is D#, not Eb. In C major this is music21's own spelling (C#, Eb, F#, G#, Bb)."""
    centre = fifths + (3.5 if mode == "minor" else 2.5)
    for element in measure.recurse().notes:
        for pitch in element.pitches:
            if pitch.accidental is None or pitch.accidental.alter == 0:
                continue
            other = pitch.getEnharmonic()
            if other.accidental is None or abs(other.accidental.alter) != 1:
                continue

            def distance(p: Any) -> float:
                return abs(_LETTER_FIFTHS[p.step] + 7 * p.accidental.alter - centre)

            if distance(other) < distance(pitch):
                pitch.step, pitch.accidental = other.step, other.accidental


def _m21_element(members: list, length: float) -> Any:
    """One music21 Note, or a Chord of them, for ``(note, tie, note_id)`` members sounding together."""
    import music21

    if len(members) == 1:
        return _m21_note(*members[0], length=length)
    chord_notes = [_m21_note(*member, length=length) for member in sorted(members, key=lambda m: m[0].pitch)]
    return music21.chord.Chord(chord_notes, quarterLength=length)


def _m21_note(note: Any, tie: str | None, note_id: str, *, length: float) -> Any:
    import music21

    element = music21.note.Note(note.pitch, quarterLength=length)
    _no_forced_natural(element)
    element.id = note_id
    element.volume.velocity = note.velocity
    if tie:
        element.tie = music21.tie.Tie(tie)
    return element


def _no_forced_natural(element: Any) -> None:
    """``music21.note.Note(60)`` spells C4 with an explicit natural sign; makeNotation adds the
    naturals that are needed, so drop it (else every white note of an edited score shows one)."""
    accidental = element.pitch.accidental
    if accidental is not None and accidental.name == "natural":
        element.pitch.accidental = None


def _apply_marks(m21: Any, colors: dict[str, str], texts: dict[str, str]) -> None:
    import music21

    if not colors and not texts:
        return
    for element in m21.recurse().notes:
        members = element.notes if isinstance(element, music21.chord.Chord) else (element,)
        for member in members:
            note_id = str(member.id)
            if note_id in colors:
                member.style.color = colors[note_id]
                if isinstance(element, music21.chord.Chord):
                    member.notehead = "normal"
                    member.noteheadFill = None
            if note_id in texts:
                measure = element.getContextByClass(music21.stream.Measure)
                if measure is not None:
                    expression = music21.expressions.TextExpression(texts[note_id])
                    expression.style.fontSize = 8
                    if note_id in colors:
                        expression.style.color = colors[note_id]
                    expression.placement = "above"
                    measure.insert(element.getOffsetInHierarchy(measure), expression)


def _write_musicxml(m21: Any, *, make_notation: bool = True) -> bytes:
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exporter = GeneralObjectExporter(m21)
            exporter.makeNotation = make_notation
            return exporter.parse()
        except Exception as error:  # noqa: BLE001 - music21's exporter raises any type on notation it cannot write
            raise OutputFileError(f"cannot be written as MusicXML ({_short(error)})") from None
