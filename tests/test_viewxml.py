"""An unchanged MusicXML piece is engraved from its own file with our note ids (issue 24: writing a
231-bar piece's notation again took 7-10 s of the 16 s it took to open)."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import REPO, shared
from tutor.score.io import load_score
from tutor.score.viewxml import source_musicxml_with_ids
from tutor.ui.engraving import engrave


def test_the_source_file_is_engraved_with_every_note_where_the_score_has_it():
    score = load_score(shared("nasap-dev", "Schumann", "Arabeske", "xml_score.musicxml"))  # two staves, voices, ties
    text = source_musicxml_with_ids(score)
    assert text is not None
    pages = engrave(score, musicxml=text)
    boxes = {note_id: box for page in pages for note_id, box in page.notes.items()}
    assert {n.id for n in score.notes} <= set(boxes)
    for a, b in zip(score.notes, score.notes[1:], strict=False):  # in one staff and bar, later notes lie further right
        if a.part == b.part and a.measure == b.measure and b.onset_ql > a.onset_ql and a.id in boxes and b.id in boxes:
            if boxes[a.id].system == boxes[b.id].system:
                assert boxes[b.id].x >= boxes[a.id].x - 1, (a.id, b.id)
    assert len(pages) >= 4  # pages, not one long strip


def test_an_edited_or_sliced_score_is_not_taken_from_its_file():
    score = load_score(REPO / "assets" / "demo" / "twinkle.musicxml")
    assert source_musicxml_with_ids(score) is not None
    moved = replace(score, notes=tuple(replace(n, pitch=n.pitch + 1) if n.id == "P1-m1-n2" else n for n in score.notes))
    assert source_musicxml_with_ids(moved) is None
    assert source_musicxml_with_ids(replace(score, notes=score.notes[:10])) is None
    assert source_musicxml_with_ids(replace(score, source_path=None)) is None
