"""The disk cache of read scores (tutor/score/cache.py, issue 24): a piece opened again is not parsed again."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import shared
from tutor.score import cache, io


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TUTOR_SCORE_CACHE", raising=False)
    return tmp_path / "cache" / "scores"


def test_a_piece_read_again_comes_from_the_cache_and_an_edited_file_is_read_anew(tmp_path, cache_folder, monkeypatch):
    source = shared("nasap-dev", "Bach", "Fugue", "bwv_846", "xml_score.musicxml")
    path = tmp_path / "fugue.musicxml"
    shutil.copy(source, path)
    first = io.load_score(path)
    entries = list(cache_folder.glob("*.score.pickle"))
    assert len(entries) == 1 and not list(cache_folder.glob(".tmp-*"))  # written, whole

    def no_parse(*args, **kwargs):
        raise AssertionError("music21 parsed a cached piece")

    io._cached_music21.cache_clear()
    monkeypatch.setattr(io, "_parse_music21", no_parse)
    again = io.load_score(path)
    assert again == first and len(again.notes) == len(first.notes) > 500

    # the same name, other content: read anew (here: one pitch raised a semitone)
    text = path.read_text(encoding="utf-8")
    step = text.index("<step>C</step>")
    path.write_text(text[:step] + "<step>D</step>" + text[step + len("<step>C</step>"):], encoding="utf-8")
    with pytest.raises(AssertionError, match="music21 parsed"):
        io.load_score(path)
    monkeypatch.undo()
    monkeypatch.setenv("TUTOR_CACHE_DIR", str(tmp_path / "cache"))
    edited = io.load_score(path)
    assert edited != first
    assert sorted(n.pitch for n in edited.notes) != sorted(n.pitch for n in first.notes)


def test_a_broken_entry_is_read_anew_and_the_cache_can_be_turned_off(tmp_path, cache_folder, monkeypatch):
    path = tmp_path / "melody.musicxml"
    shutil.copy(shared("nasap-dev", "Bach", "Fugue", "bwv_846", "xml_score.musicxml"), path)
    first = io.load_score(path)
    (entry,) = cache_folder.glob("*.score.pickle")
    entry.write_bytes(b"not a pickle")
    io._cached_music21.cache_clear()
    assert io.load_score(path) == first  # read again and written again
    assert cache.get(cache.key_for(path, None)) == first
    monkeypatch.setenv("TUTOR_SCORE_CACHE", "0")
    assert cache.get(cache.key_for(path, None)) is None
