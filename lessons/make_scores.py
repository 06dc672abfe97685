"""Writes the MusicXML scores of the bundled curriculum into lessons/scores/.

Run from the repository root:  .venv/bin/python lessons/make_scores.py

Exercises are written out with music21 (titles, composer/source credit, clefs, key and time
signatures, a metronome mark, a final barline; piano pieces on a braced grand staff). Folk tunes
come from music21's corpus (Essen Folksong Collection, O'Neill's Music of Ireland 1850) and Bach
chorales from its Bach collection; they are written out (rather than referenced) so that each
carries a title and tempo mark and a tune inside a multi-tune collection is a file of its own.
"""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import music21
from music21 import bar, clef, instrument, key, layout, metadata, meter, stream, tempo

OUT = Path(__file__).resolve().parent / "scores"
EXERCISES = "tutor exercise"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def tiny_part(notes: str, *, time_signature: str, key_name: str, the_clef=None, name: str = "Melody",
              the_instrument=None, part_class=stream.Part):
    """A part from tinyNotation ("c4 d e f g1"; c = middle C, C = an octave lower, c' higher)."""
    parsed = music21.converter.parse(f"tinyNotation: {time_signature} {notes}")
    part = part_class()
    for element in parsed.getElementsByClass(stream.Measure):
        part.append(element)
    first = part.getElementsByClass(stream.Measure).first()
    if the_clef is not None:
        for old in list(first.getElementsByClass(clef.Clef)):
            first.remove(old)
        first.insert(0, the_clef)
    first.insert(0, key.Key(*_tonic_mode(key_name)))
    part.insert(0, the_instrument or instrument.Vocalist())
    part.partName = name
    if first.timeSignature is None:
        first.timeSignature = meter.TimeSignature(time_signature)
    _check_full_measures(part, notes, time_signature)
    return part


def _tonic_mode(key_name: str) -> tuple[str, str]:
    """("F", "major") for "F major", ("d", "minor") for "d minor" (music21 spells flats with '-')."""
    tonic, mode = key_name.split()
    return tonic[0] + tonic[1:].replace("b", "-"), mode


def _check_full_measures(part, notes: str, time_signature: str) -> None:
    bar_ql = meter.TimeSignature(time_signature).barDuration.quarterLength
    for number, measure in enumerate(part.getElementsByClass(stream.Measure), start=1):
        if abs(measure.duration.quarterLength - bar_ql) > 1e-6:
            raise SystemExit(f"measure {number} is {measure.duration.quarterLength} ql, not {time_signature}: {notes}")


def finish(score, *, title: str, composer: str, bpm: float, path: str, subtitle: str = "") -> Path:
    """Title, credit, tempo mark and final barline; written to lessons/scores/<path>."""
    score.metadata = metadata.Metadata()
    score.metadata.title = title
    score.metadata.movementName = title
    score.metadata.composer = composer
    if subtitle:
        score.metadata.movementName = title
        score.metadata.alternativeTitle = subtitle
    parts = list(score.parts)
    first_measure = parts[0].getElementsByClass(stream.Measure).first()
    for old in list(first_measure.recurse().getElementsByClass(tempo.MetronomeMark)):
        old.activeSite.remove(old)
    ts = first_measure.getContextByClass(meter.TimeSignature)
    if ts is not None and ts.numerator in (6, 9, 12) and ts.denominator == 8:
        mark = tempo.MetronomeMark(number=round(bpm / 1.5), referent=music21.duration.Duration(1.5))
    else:
        mark = tempo.MetronomeMark(number=round(bpm), referent=music21.duration.Duration(1.0))
    first_measure.insert(0, mark)
    for part in parts:
        last = part.getElementsByClass(stream.Measure).last()
        last.rightBarline = bar.Barline("final")
    target = OUT / path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score.write("musicxml", fp=str(target))
    return target


def melody(path: str, *, title: str, notes: str, time_signature: str, key_name: str, bpm: float,
           composer: str = EXERCISES, the_clef=None, name: str = "Melody", the_instrument=None) -> Path:
    score = stream.Score()
    score.insert(0, tiny_part(notes, time_signature=time_signature, key_name=key_name, the_clef=the_clef,
                              name=name, the_instrument=the_instrument))
    return finish(score, title=title, composer=composer, bpm=bpm, path=path)


def piano(path: str, *, title: str, time_signature: str, key_name: str, bpm: float, right: str | None = None,
          left: str | None = None, composer: str = EXERCISES) -> Path:
    """A braced grand staff (right hand treble, left hand bass), or one staff for a one-hand piece."""
    if right is None or left is None:
        return melody(path, title=title, notes=right or left, time_signature=time_signature, key_name=key_name,
                      bpm=bpm, composer=composer, the_clef=clef.TrebleClef() if left is None else clef.BassClef(),
                      name="Right hand" if left is None else "Left hand", the_instrument=instrument.Piano())
    score = stream.Score()
    rh = tiny_part(right, time_signature=time_signature, key_name=key_name, the_clef=clef.TrebleClef(),
                   name="Right hand", the_instrument=instrument.Piano(), part_class=stream.PartStaff)
    lh = tiny_part(left, time_signature=time_signature, key_name=key_name, the_clef=clef.BassClef(),
                   name="Left hand", the_instrument=instrument.Piano(), part_class=stream.PartStaff)
    rh.partName = lh.partName = "Piano"  # one instrument on two staves (P1 right hand, P2 left hand)
    if len(rh.getElementsByClass(stream.Measure)) != len(lh.getElementsByClass(stream.Measure)):
        raise SystemExit(f"{path}: the hands have different numbers of measures")
    score.insert(0, rh)
    score.insert(0, lh)
    score.insert(0, layout.StaffGroup([rh, lh], name="Piano", abbreviation="Pno.", symbol="brace", barTogether=True))
    return finish(score, title=title, composer=composer, bpm=bpm, path=path)


def corpus_tune(path: str, *, collection: str, number: int, title: str, source: str, bpm: float) -> Path:
    """Tune ``number`` (its X: number) of a multi-tune ABC collection in music21's corpus."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tune = music21.corpus.parse(collection, number=number)
    tune = copy.deepcopy(tune)
    for part in tune.parts:
        part.partName = "Melody"
        _ties_between_pitches_to_slurs(part)
    return finish(tune, title=title, composer=f"Traditional ({source})", bpm=bpm, path=path)


def _ties_between_pitches_to_slurs(part) -> None:
    """Some ABC transcriptions write a slur as '-' (a tie) between different pitches: make it a slur."""
    notes = list(part.recurse().notes)
    for first, second in zip(notes, notes[1:], strict=False):
        if first.tie is None or first.tie.type not in ("start", "continue") or not hasattr(first, "pitch"):
            continue
        if hasattr(second, "pitch") and second.pitch.midi == first.pitch.midi:
            continue
        first.tie = None
        if second.tie is not None and second.tie.type == "stop":
            second.tie = None
        part.insert(0, music21.spanner.Slur([first, second]))


def chorale(path: str, *, bwv: str, title: str, voices: tuple[str, ...], bpm: float, last_measure: int | None = None,
            grand_staff: bool = False) -> Path:
    """Some voices of a Bach chorale (optionally only up to ``last_measure``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = music21.corpus.parse(f"bach/{bwv}")
    score = stream.Score()
    chosen = []
    for part in source.parts:
        if part.partName not in voices:
            continue
        part = copy.deepcopy(part)
        measures = list(part.getElementsByClass(stream.Measure))
        for ts in list(part.recurse().getElementsByClass(meter.TimeSignature)):  # some are hidden in the corpus
            ts.activeSite.remove(ts)
        measures[0].insert(0, meter.TimeSignature(f"{int(round(measures[1].duration.quarterLength))}/4"))
        if last_measure is not None:
            for measure in list(part.getElementsByClass(stream.Measure)):
                if measure.number > last_measure:
                    part.remove(measure)
        if grand_staff:
            staff = stream.PartStaff()
            for measure in part.getElementsByClass(stream.Measure):
                staff.append(measure)
            staff.partName = "Piano"
            staff.insert(0, instrument.Piano())
            part = staff
        chosen.append(part)
        score.insert(0, part)
    if grand_staff:
        score.insert(0, layout.StaffGroup(chosen, name="Piano", symbol="brace", barTogether=True))
    return finish(score, title=title, composer="J. S. Bach", bpm=bpm, path=path)


# ---------------------------------------------------------------------------------------------
# the curriculum's scores
# ---------------------------------------------------------------------------------------------
def in_tune() -> None:
    melody("long_tones_c.musicxml", title="Long tones from C to G", key_name="C major", time_signature="4/4",
           bpm=60, notes="c1 d1 e1 f1 g1 f1 e1 d1 c1")
    melody("long_tones_a_minor.musicxml", title="Long tones in A minor (lower voices)", key_name="a minor",
           time_signature="4/4", bpm=60, notes="A1 B1 c1 d1 e1 d1 c1 B1 A1")
    melody("long_tones_f.musicxml", title="Half notes in F major", key_name="F major", time_signature="4/4",
           bpm=66, notes="f2 g2 a2 b-2 c'1 b-2 a2 g2 f2 a2 g2 f1")
    melody("scale_c_major.musicxml", title="C major scale", key_name="C major", time_signature="4/4",
           bpm=72, notes="c4 d e f g a b c' c' b a g f e d c c1")
    melody("scale_g_major.musicxml", title="G major scale", key_name="G major", time_signature="4/4",
           bpm=72, notes="G4 A B c d e f# g g f# e d c B A G G1")
    melody("scale_d_major.musicxml", title="D major scale", key_name="D major", time_signature="4/4",
           bpm=72, notes="d4 e f# g a b c#' d' d' c#' b a g f# e d d1")
    melody("scale_a_harmonic_minor.musicxml", title="A harmonic minor scale", key_name="a minor",
           time_signature="4/4", bpm=66, notes="A4 B c d e f g# a a g# f e d c B A A1")
    melody("thirds_c.musicxml", title="Thirds in C major", key_name="C major", time_signature="4/4", bpm=69,
           notes="c4 e d f e g f a g f e d c2 e2 c1")
    melody("fifths_c.musicxml", title="Fifths and fourths", key_name="C major", time_signature="4/4", bpm=60,
           notes="c2 g2 d2 a2 e2 b2 c'1 c'2 f2 b2 e2 a2 d2 c1")
    melody("arpeggios_c.musicxml", title="Triads in C major", key_name="C major", time_signature="4/4", bpm=69,
           notes="c4 e g c' c' g e c f a c' a g b d' b c' g e c c1")
    corpus_tune("folk_nun_schlaf.musicxml", collection="essenFolksong/kinder0", number=35,
                title="Nun schlaf, mein liebes Kindelein", source="Essen Folksong Collection", bpm=72)


def rhythm() -> None:
    melody("rhythm_quarters_halves.musicxml", title="Quarters and halves", key_name="C major",
           time_signature="4/4", bpm=80, name="Instrument", the_instrument=instrument.Instrument(),
           notes="c4 c c c d2 d2 e4 e f f g1 g4 f e d c2 e2 d4 d e d c1")
    melody("rhythm_eighths.musicxml", title="Eighth notes in 2/4", key_name="C major", time_signature="2/4",
           bpm=72, name="Instrument", the_instrument=instrument.Instrument(),
           notes="c8 c d d e4 e f8 f g4 g4 a8 g f8 e d4 d8 e f e d8 d c4 c2")
    melody("rhythm_dotted.musicxml", title="Dotted quarters in 3/4", key_name="F major", time_signature="3/4",
           bpm=84, name="Instrument", the_instrument=instrument.Instrument(),
           notes="f4. g8 a4 b-2 a4 g4. a8 b-4 c'2. d'4. c'8 b-4 a2 g4 a4. g8 g4 f2.")
    melody("rhythm_six_eight.musicxml", title="Lilting in 6/8", key_name="G major", time_signature="6/8",
           bpm=90, name="Instrument", the_instrument=instrument.Instrument(),
           notes="G4 A8 B4 c8 d4. d4. e4 d8 c4 B8 A4. A4. B4 c8 d4 B8 A4 B8 c4 A8 G4 B8 A4 F#8 G2.")
    essen = "Essen Folksong Collection"
    corpus_tune("essen_sandmann.musicxml", collection="essenFolksong/kinder0", number=172,
                title="Der Sandmann kommt", source=essen, bpm=80)
    corpus_tune("essen_hier_ist_gras.musicxml", collection="essenFolksong/kinder0", number=131,
                title="Hier ist Gras, dort ist Gras", source=essen, bpm=84)
    corpus_tune("essen_schwaben.musicxml", collection="essenFolksong/kinder0", number=124,
                title="Wir gingen einmal nach Schwaben", source=essen, bpm=88)
    corpus_tune("essen_rosa.musicxml", collection="essenFolksong/kinder0", number=125,
                title="Geh in den Kreis, meine Rosa", source=essen, bpm=96)
    corpus_tune("essen_sipp_sapp.musicxml", collection="essenFolksong/kinder0", number=62,
                title="Sipp sapp Sunne", source=essen, bpm=72)
    corpus_tune("essen_drei_schelmen.musicxml", collection="essenFolksong/erk5", number=6,
                title="Es waren drei Schelmen", source=essen, bpm=80)
    oneill = "O'Neill's Music of Ireland, 1850"
    corpus_tune("oneill_lucky_lover.musicxml", collection="oneills1850/0001-0050", number=34,
                title="The Lucky Lover", source=oneill, bpm=80)
    corpus_tune("oneill_fair_mary.musicxml", collection="oneills1850/0001-0050", number=29,
                title="Fair Mary Mulholland", source=oneill, bpm=96)
    corpus_tune("oneill_red_haired_girl.musicxml", collection="oneills1850/0001-0050", number=12,
                title="The Red Haired Girl", source=oneill, bpm=80)
    corpus_tune("oneill_woods_of_kilmurry.musicxml", collection="oneills1850/0001-0050", number=22,
                title="The Woods of Kilmurry", source=oneill, bpm=96)


def keyboard() -> None:
    piano("piano_five_finger_c.musicxml", title="Five-finger piece in C (right hand)", key_name="C major",
          time_signature="4/4", bpm=80,
          right="c4 d e f g2 g2 f4 e d c d1 e4 f g e d2 d2 e4 d c d c1")
    piano("piano_five_finger_g_left.musicxml", title="Five-finger piece in G (left hand)", key_name="G major",
          time_signature="4/4", bpm=76,
          left="GG4 AA BB C D2 D2 C4 BB AA GG AA1 BB4 C D BB AA2 AA2 BB4 AA GG AA GG1")
    piano("piano_hands_together_c.musicxml", title="Hands together in C", key_name="C major",
          time_signature="4/4", bpm=72,
          right="e4 d c d e e e2 d4 d d2 e4 g g2 e4 d c d e e e e d d e d c1",
          left="C1 C1 GG1 C1 C1 C1 GG1 C1")
    piano("piano_scale_c.musicxml", title="C major scale, right hand", key_name="C major", time_signature="4/4",
          bpm=84, right="c4 d e f g a b c' c' b a g f e d c c1")
    piano("piano_scale_g_hands.musicxml", title="G major scale, hands together", key_name="G major",
          time_signature="4/4", bpm=72,
          right="g4 a b c' d' e' f#' g' g' f#' e' d' c' b a g g1",
          left="G4 A B c d e f# g g f# e d c B A G G1")
    piano("piano_contrary_c.musicxml", title="Contrary motion from middle C", key_name="C major",
          time_signature="4/4", bpm=72,
          right="c4 d e f g a b c' c' b a g f e d c c1",
          left="c4 B A G F E D C C D E F G A B c c1")
    chorale("chorale_bwv269_melody_bass.musicxml", bwv="bwv269", title="Aus meines Herzens Grunde (melody and bass)",
            voices=("Soprano", "Bass"), bpm=72, grand_staff=True)
    chorale("chorale_bwv32_6_melody_bass.musicxml", bwv="bwv32.6", title="Chorale from BWV 32 (melody and bass)",
            voices=("Soprano", "Bass"), bpm=66, grand_staff=True)


def composition() -> None:
    melody("model_melody_c.musicxml", title="Model: an 8-bar melody in C major", key_name="C major",
           time_signature="4/4", bpm=88,
           notes="c4 d e c f2 e2 d4 e f d g2 g2 a4 g f e f4 e d c d4 e d B c1")
    melody("model_melody_g.musicxml", title="Model: an 8-bar melody in G major", key_name="G major",
           time_signature="3/4", bpm=96,
           notes="G4 B d c2 B4 A4 B c B2. d4 c B c2 e4 d4 c A G2.")
    melody("model_melody_d_minor.musicxml", title="Model: an 8-bar melody in D minor", key_name="d minor",
           time_signature="4/4", bpm=80,
           notes="d4 e f d a2 f2 g4 f e d e1 f4 g a f b-2 a2 g4 f e c# d1")
    melody("model_cadences_f.musicxml", title="Model: half cadence, then perfect cadence (F major)",
           key_name="F major", time_signature="4/4", bpm=84,
           notes="f4 g a f c'2 a2 b-4 a g f g1 a4 b- c' a d'2 c'2 b-4 a g e f1")
    chorale("chorale_bwv269_soprano_phrase.musicxml", bwv="bwv269", title="Aus meines Herzens Grunde: first phrase "
            "(melody to harmonise)", voices=("Soprano",), bpm=72, last_measure=4)
    chorale("chorale_bwv269_phrase_satb.musicxml", bwv="bwv269", title="Aus meines Herzens Grunde: first phrase "
            "(Bach's harmonisation)", voices=("Soprano", "Alto", "Tenor", "Bass"), bpm=72, last_measure=4)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    in_tune()
    rhythm()
    keyboard()
    composition()
    for path in sorted(OUT.glob("*.musicxml")):
        print(path.relative_to(OUT.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
