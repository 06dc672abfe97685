"""Hostile and damaged files (issue 25): each ends in a result or in one clear line (exit 2) within a
time limit, and where memory was the problem, under an address-space limit. Every file is built here,
in tmp_path; the real command line runs on it."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"
GB = 1024**3


def run(*args, timeout: float = 60, address_space_gb: float | None = 1.5, env: dict | None = None, cwd=None):
    """``python -m tutor ARGS`` (bytes or str arguments), with its output decoded without failing, killed
    after ``timeout`` seconds; ``address_space_gb`` caps its memory (the commands that load torch need
    more address space than they use and run without a cap)."""

    def limit() -> None:
        if address_space_gb is not None:
            size = int(address_space_gb * GB)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    argv = [os.fsencode(sys.executable), b"-m", b"tutor", *(a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args)]
    try:
        result = subprocess.run(argv, capture_output=True, timeout=timeout, preexec_fn=limit, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tutor {' '.join(map(str, args))} still ran after {timeout} s")
    result.stdout = result.stdout.decode("utf-8", "backslashreplace")
    result.stderr = result.stderr.decode("utf-8", "backslashreplace")
    return result


def assert_one_line(result, name: str, *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[0].startswith("tutor: error: ") and name in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def assert_result_or_one_line(result, name: str) -> None:
    """Success, or one clear line naming the file: either is fine, as long as it came in time."""
    if result.returncode != 0:
        line = assert_one_line(result, name)
        assert "MemoryError" not in line, line  # a refusal, not memory running out under the cap


# ---------------------------------------------------------------------------------------------
# MIDI built byte by byte (mido refuses to write most of these)
# ---------------------------------------------------------------------------------------------
def vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def track(events: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(vlq(delta) + event for delta, event in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def midi(tracks: list[bytes], *, division: int = 480, kind: int = 0) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, kind, len(tracks), division & 0xFFFF) + b"".join(tracks)


def on(delta: int, pitch: int = 60) -> tuple[int, bytes]:
    return delta, bytes([0x90, pitch, 80])


def off(delta: int, pitch: int = 60) -> tuple[int, bytes]:
    return delta, bytes([0x80, pitch, 0])


def meter(numerator: int, denominator_power: int) -> bytes:
    return bytes([0xFF, 0x58, 4, numerator, denominator_power, 24, 8])


def test_fifty_notes_with_huge_delta_times_are_refused_quickly(tmp_path):
    # issue: 633 bytes made critique take 62 s and 2.7 GB
    path = tmp_path / "far_apart.mid"
    events = []
    for _ in range(50):
        events += [on(0x0FFFFFFF), off(0x0FFFFFFF)]
    path.write_bytes(midi([track(events)]))
    assert_one_line(run("info", path, timeout=30), path.name, "quarter notes")
    assert_one_line(run("critique", path, timeout=60, address_space_gb=None), path.name)


TINY_MIDI = {
    # a time signature of 0/4 or 4/2^255: bars of no length, an endless loop building measures
    "meter_zero.mid": ([track([(0, meter(0, 2)), on(0), off(480)])], 480),
    "meter_tiny.mid": ([track([(0, meter(4, 255)), on(0), off(480)])], 480),
    # one tick per quarter note and a note-off (or meter, or end of track) far in the future
    "far_note_off.mid": ([track([on(0), off(0x0FFFFFFF)])], 1),
    "far_meter.mid": ([track([on(0), off(1), (0x0FFFFFFF, meter(4, 2))])], 1),
    "unreleased.mid": ([track([on(0), (0x0FFFFFFF, b"\xff\x01\x00")])], 1),
    # the slowest tempo there is, over a long note
    "slow_tempo.mid": ([track([(0, b"\xff\x51\x03\xff\xff\xff"), on(0), off(0x0FFFFFFF)])], 1),
    "many_tracks.mid": ([track([on(0, 60 + i % 12), off(1, 60 + i % 12)]) for i in range(300)], 480),
    # 120 notes held through 9,000 bars: written as notation, a million tied pieces
    "held.mid": ([track([on(0, 4 + i) for i in range(120)] + [off(36_000 if i == 0 else 0, 4 + i) for i in range(120)])], 1),
}


@pytest.mark.parametrize("name", sorted(TINY_MIDI))
def test_tiny_midi_files_end_quickly(tmp_path, name):
    # issue: a 54-byte file kept convert busy past 180 s
    tracks, division = TINY_MIDI[name]
    path = tmp_path / name
    path.write_bytes(midi(tracks, division=division, kind=1 if len(tracks) > 1 else 0))
    assert len(path.read_bytes()) < 100 or name in ("many_tracks.mid", "held.mid")
    out = tmp_path / "out.mid"
    result = run("convert", path, out, timeout=30)
    assert_result_or_one_line(result, path.name)
    if result.returncode == 0:
        assert out.stat().st_size < 100_000
    assert_result_or_one_line(run("convert", path, tmp_path / "out.musicxml", timeout=30), path.name)


def many_notes(count: int) -> bytes:
    events = []
    for i in range(count):
        pitch = 48 + (i * 7) % 24
        events += [on(0 if i % 4 else 120, pitch), off(120, pitch)]
    return midi([track(events)])


@pytest.mark.parametrize("command", [("critique",), ("suggest", "--continue", "2")])
def test_two_hundred_thousand_notes_are_refused_in_one_line(tmp_path, command):
    # issue: 200,000 notes (1.6 MB) ran convert, critique and suggest past 180 s
    path = tmp_path / "many.mid"
    path.write_bytes(many_notes(200_000))
    assert_one_line(run(*command, path, timeout=60, address_space_gb=None), path.name, "notes")


def test_many_notes_refused_before_parsing_in_little_memory(tmp_path):
    path = tmp_path / "many.mid"
    path.write_bytes(many_notes(200_000))
    result = run("convert", path, tmp_path / "out.mid", timeout=20, address_space_gb=1.0)
    assert_one_line(result, path.name, "notes")


def test_smpte_division_is_read_in_seconds(tmp_path):
    # 25 frames per second, 40 ticks per frame: 1000 ticks a second. C4 0-0.5 s, E4 0.5-1 s, G4 1-2 s
    path = tmp_path / "smpte.mid"
    events = [on(0, 60), off(500, 60), on(0, 64), off(500, 64), on(0, 67), off(1000, 67)]
    path.write_bytes(midi([track(events)], division=((-25) & 0xFF) << 8 | 40))
    out = tmp_path / "out.mid"
    result = run("convert", path, out, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(run("info", "--json", out, timeout=30).stdout)["notes"] == 3
    # the notes at their times, as a score (mido) and as a take (pretty_midi)
    from tutor.score.io import load_midi_performance, load_score

    expected = [60, 0.0, 0.5, 64, 0.5, 1.0, 67, 1.0, 2.0]
    for source in (path, out):
        notes = sorted((n.pitch, n.onset_s, n.onset_s + n.duration_s) for n in load_score(source).notes)
        assert [x for note in notes for x in note] == pytest.approx(expected), source.name
    played = sorted((n.pitch, n.onset_s, n.offset_s) for n in load_midi_performance(path).notes)
    assert [x for note in played for x in note] == pytest.approx(expected)
    result = run("assess", "--score", out, path, timeout=60, address_space_gb=None)
    assert result.returncode == 0, result.stderr


def test_bad_smpte_division_is_one_line(tmp_path):
    path = tmp_path / "smpte_bad.mid"
    path.write_bytes(midi([track([on(0), off(40)])], division=((-17) & 0xFF) << 8 | 40))
    assert_one_line(run("convert", path, tmp_path / "out.mid", timeout=30), path.name, "SMPTE")


# ---------------------------------------------------------------------------------------------
# compressed MusicXML (.mxl)
# ---------------------------------------------------------------------------------------------
CONTAINER = (b'<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
             b'<rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
             b"</rootfiles></container>\n")


def raw_zip(entries: list[tuple[str, bytes, int, int, int, int, int]]) -> bytes:
    """A zip archive written field by field: (name, stored bytes, method, crc, compressed size, size, flags)."""
    out, central = io.BytesIO(), []
    for name, data, method, crc, packed, size, flags in entries:
        offset, encoded = out.tell(), name.encode()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, method, 0, 0, crc, packed, size, len(encoded), 0)
                  + encoded + data)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, flags, method, 0, 0, crc, packed, size,
                                   len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    directory = b"".join(central)
    start = out.tell()
    out.write(directory)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), start, 0))
    return out.getvalue()


def stored(name: str, data: bytes):
    return (name, data, 0, zlib.crc32(data), len(data), len(data), 0)


HEAD = [stored("mimetype", b"application/vnd.recordare.musicxml"), stored("META-INF/container.xml", CONTAINER)]


def mxl(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def deflate_bomb(size: int) -> bytes:
    """Raw deflate data that inflates to ``size`` spaces, built from one fully flushed block repeated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(b" " * (1 << 24)) + packer.flush(zlib.Z_FULL_FLUSH)
    return packer.compress(b"<?xml version='1.0'?>") + block * (size >> 24) + packer.flush()


def test_mxl_whose_zip_header_lies_about_sizes_stays_small(tmp_path):
    # issue: a member that says 1000 bytes and inflates to gigabytes drove memory to 2 GB
    path = tmp_path / "bomb.mxl"
    payload = deflate_bomb(3 * GB)
    path.write_bytes(raw_zip([*HEAD, ("score.musicxml", payload, 8, 0, len(payload), 1000, 0)]))
    assert path.stat().st_size < 10_000_000
    assert_one_line(run("info", path, timeout=30, address_space_gb=1.0), path.name)


def test_mxl_member_that_really_is_huge_is_refused(tmp_path):
    path = tmp_path / "big.mxl"
    payload = deflate_bomb(1 * GB)
    path.write_bytes(raw_zip([*HEAD, ("score.musicxml", payload, 8, 0, len(payload), 20_000_000, 0)]))
    assert_one_line(run("info", path, timeout=30, address_space_gb=1.0), path.name)


def test_mxl_with_too_many_members_is_refused(tmp_path):
    path = tmp_path / "crowded.mxl"
    path.write_bytes(raw_zip([*HEAD, stored("score.musicxml", DEMO.read_bytes())]
                             + [stored(f"junk/{i}.txt", b"") for i in range(5000)]))
    assert_one_line(run("info", path, timeout=30), path.name, "members")


def _damaged_members() -> dict[str, bytes]:
    xml = DEMO.read_bytes()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(xml) + packer.flush()
    corrupt = packed[:40] + bytes(b ^ 0xFF for b in packed[40:120]) + packed[120:]
    return {
        "encrypted.mxl": raw_zip([*HEAD, ("score.musicxml", xml, 0, zlib.crc32(xml), len(xml), len(xml), 1)]),
        "method99.mxl": raw_zip([*HEAD, ("score.musicxml", xml, 99, zlib.crc32(xml), len(xml), len(xml), 0)]),
        "corrupt_deflate.mxl": raw_zip([*HEAD, ("score.musicxml", corrupt, 8, zlib.crc32(xml), len(corrupt), len(xml), 0)]),
        "corrupt_bzip2.mxl": raw_zip([*HEAD, ("score.musicxml", b"BZh9" + packed, 12, zlib.crc32(xml), len(packed) + 4, len(xml), 0)]),
        "bad_crc.mxl": raw_zip([*HEAD, ("score.musicxml", xml, 0, 12345, len(xml), len(xml), 0)]),
        "truncated_member.mxl": raw_zip([*HEAD, ("score.musicxml", packed[: len(packed) // 2], 8, zlib.crc32(xml),
                                                  len(packed) // 2, len(xml), 0)]),
    }


@pytest.mark.parametrize("name", sorted(_damaged_members()))
def test_damaged_mxl_members_are_one_line(tmp_path, name):
    # issue: RuntimeError, NotImplementedError and zlib.error ended in exit 1
    path = tmp_path / name
    path.write_bytes(_damaged_members()[name])
    assert_one_line(run("info", path, timeout=30), name)
    assert_one_line(run("convert", path, tmp_path / "out.mid", timeout=30), name)
    assert not (tmp_path / "out.mid").exists()


def test_nested_mxl_is_refused(tmp_path):
    inner = mxl([("META-INF/container.xml", CONTAINER), ("score.musicxml", DEMO.read_bytes())])
    outer = tmp_path / "nested.mxl"
    outer.write_bytes(mxl([("META-INF/container.xml", CONTAINER.replace(b"score.musicxml", b"inner.mxl")), ("inner.mxl", inner)]))
    assert_one_line(run("info", outer, timeout=30), outer.name, "archive")
    disguised = tmp_path / "disguised.mxl"  # the rootfile is named .musicxml but is a zip
    disguised.write_bytes(mxl([("META-INF/container.xml", CONTAINER), ("score.musicxml", inner)]))
    assert_one_line(run("info", disguised, timeout=30), disguised.name, "archive")


def test_good_mxl_still_reads(tmp_path):
    path = tmp_path / "good.mxl"
    path.write_bytes(mxl([("mimetype", b"application/vnd.recordare.musicxml"), ("META-INF/container.xml", CONTAINER),
                          ("score.musicxml", DEMO.read_bytes())]))
    result = run("info", "--json", path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["notes"] == 42


# ---------------------------------------------------------------------------------------------
# the XML entity guard
# ---------------------------------------------------------------------------------------------
def laughs(padding: str = "", declaration: str = '<?xml version="1.0"?>') -> str:
    values = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9))
    return (f'{declaration}{padding}<!DOCTYPE score-partwise [<!ENTITY l0 "lollollollollollollollollollol">{values}]>'
            '<score-partwise version="3.1"><work><work-title>&l8;</work-title></work><part-list>'
            '<score-part id="P1"><part-name>x</part-name></score-part></part-list><part id="P1"><measure number="1">'
            "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note></measure></part>"
            "</score-partwise>")


UTF16 = '<?xml version="1.0" encoding="UTF-16"?>'
HOSTILE_XML = {
    "comment_padding.musicxml": laughs("<!--" + " " * 200_000 + "-->").encode(),
    "newline_padding.musicxml": laughs("\n" * 200_001).encode(),
    "pi_padding.musicxml": laughs("<?pad " + "x" * 300_000 + "?>").encode(),
    "utf16le_no_bom.musicxml": laughs(declaration=UTF16).encode("utf-16-le"),
    "utf16be_no_bom.musicxml": laughs(declaration=UTF16).encode("utf-16-be"),
    "utf32le_no_bom.musicxml": laughs(declaration='<?xml version="1.0" encoding="UTF-32"?>').encode("utf-32-le"),
    "padded_inside.mxl": mxl([("META-INF/container.xml", CONTAINER), ("score.musicxml", laughs("<!--" + " " * 200_000 + "-->"))]),
    "utf16_inside.mxl": mxl([("META-INF/container.xml", CONTAINER), ("score.musicxml", laughs(declaration=UTF16).encode("utf-16-le"))]),
    "nested_laughs.mxl": mxl([("META-INF/container.xml", CONTAINER.replace(b"score.musicxml", b"inner.mxl")),
                              ("inner.mxl", mxl([("META-INF/container.xml", CONTAINER), ("score.musicxml", laughs())]))]),
    "container_laughs.mxl": mxl([("META-INF/container.xml", laughs().encode()), ("score.musicxml", DEMO.read_bytes())]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_XML))
def test_entity_guard_holds_whatever_the_padding_encoding_or_container(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(HOSTILE_XML[name])
    line = assert_one_line(run("info", path, timeout=30), name)
    assert "declares XML entities" in line or (name.startswith("nested") and "archive" in line), line


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_musicxml_in_utf16_without_bom_still_reads(tmp_path, encoding):
    text = DEMO.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    path = tmp_path / f"demo-{encoding}.musicxml"
    path.write_bytes(text.encode(encoding))
    result = run("info", "--json", path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["notes"] == 42


# ---------------------------------------------------------------------------------------------
# WAV header
# ---------------------------------------------------------------------------------------------
def test_wav_whose_header_claims_4_gb_reads_what_is_there(tmp_path):
    samples = struct.pack("<16000h", *(int(8000 * ((i // 18) % 2 * 2 - 1)) for i in range(16000)))
    header = (b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
              + b"data" + struct.pack("<I", 0xFFFFFFF0))
    path = tmp_path / "claims_4gb.wav"
    path.write_bytes(header + samples)
    out = tmp_path / "take.wav"
    result = run("record", "--from-file", path, "--out", out, timeout=30)
    assert_result_or_one_line(result, path.name)
    if result.returncode == 0:
        assert 16_000 <= out.stat().st_size < 100_000


@pytest.mark.parametrize("rate, channels, words", [(1, 1, "sample rate is 1 Hz"), (16000, 1024, "1024 channels")])
def test_wav_headers_no_recording_has_are_one_line(tmp_path, rate, channels, words):
    """A 1 Hz sample rate (resampling would need gigabytes) or 1024 channels: one line, not a crash."""
    frames = 64
    data = bytes(2 * frames * channels)
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
              + b"data" + struct.pack("<I", len(data)))
    path = tmp_path / "odd.wav"
    path.write_bytes(header + data)
    assert_one_line(run("transcribe", path, timeout=60, address_space_gb=None), path.name, words)


def test_a_newline_in_a_file_name_stays_one_line(tmp_path):
    path = tmp_path / "bad\nname.mid"
    path.write_bytes(b"not midi")
    line = assert_one_line(run("info", path, timeout=30), "bad\\nname.mid")
    assert "\n" not in line


# ---------------------------------------------------------------------------------------------
# file names that are not UTF-8
# ---------------------------------------------------------------------------------------------
def strict_utf8_env() -> dict:
    """Output encoded strictly as UTF-8, as on a terminal with a UTF-8 locale (here the C locale would let
    Python write the raw bytes back)."""
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(REPO)}  # run from tmp_path: this checkout's tutor


def test_file_names_that_are_not_utf8(tmp_path):
    folder = os.fsencode(tmp_path) + b"/"
    name = b"caf\xe9"  # Latin-1 bytes: Python sees 'caf\udce9'
    Path(os.fsdecode(folder + name + b".musicxml")).write_bytes(DEMO.read_bytes())
    Path(os.fsdecode(folder + name + b".mid")).write_bytes(midi([track([on(0), off(480), on(0, 64), off(480, 64)])]))
    for args in ([b"info", name + b".mid"], [b"convert", name + b".mid", b"out.musicxml"],
                 [b"convert", name + b".musicxml", name + b"-2.mid"], [b"convert", name + b".mid", name + b"-3.mxl"],
                 [b"info", name + b"-3.mxl"], [b"info", name + b".musicxml"]):
        result = run(*args, timeout=30, env=strict_utf8_env(), cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
    info = run(b"info", b"--json", name + b".mid", timeout=30, env=strict_utf8_env(), cwd=tmp_path)
    assert json.loads(info.stdout)["title"] == "caf\u00e9"  # the title a file name gives, shown as Latin-1
    Path(os.fsdecode(folder + name + b" broken.mid")).write_bytes(b"MThd garbage")
    for args in ([b"info", name + b" broken.mid"], [b"convert", name + b" broken.mid", b"x.mid"], [b"info", name + b" missing.mid"]):
        assert_one_line(run(*args, timeout=30, env=strict_utf8_env(), cwd=tmp_path), "caf")
