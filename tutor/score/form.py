"""Musical form: the written measures and the order they are played in.

A ``Form`` holds what the notation says about the order of the measures: repeat barlines (with how many times
through), first/second (nth) endings, segno and coda signs, "To Coda", Fine, D.C./D.S. (al Fine, al Coda),
and, for ABC tunes, the part order of the tune's header (``P:ABBA``, or ``Y:`` in the cleaned Nottingham
files) over its labelled parts. The marks are keyed by the measure's written start (``start_ql``), so a
``Score`` sliced to a range of measures (``Score.slice_measures``) keeps the marks of the measures it holds.

``play_order(score)`` unfolds the form once into ``Visit``s: each written measure as it is played, with its
pass (1 the first time through). ``unfold(score)`` builds the score as played from it (``Unfolding``): notes
and measures laid end to end in play order, printed measure numbers and beats kept, a note's id suffixed
``@2``, ``@3`` from its second time through (``written_id`` splits it back). Playback, render, MIDI export,
count-in and metronome, assessment and alignment work on the unfolded score; the marks and reports name the
written measure and the pass ("measure 5, 2nd time").

The unfolding is our own (a few rules over the marks, below) rather than ``music21.repeat.Expander``:
Expander works on a music21 Part and returns measures without saying which pass each one is, refuses
(``ExpanderException``) repeats whose start is implicit in some files or whose endings are not closed, does
not know ABC part orders, and cannot unfold a range of measures taken out of a piece; the tests compare our
unfolding with Expander's on the corpus pieces where it works.

Rules (as a player reads them):
- a repeat end (``:|``, ``times`` N, 2 by default) goes back to the last repeat start before it, or to the
  start of the piece / the end of the previous repeat when there is none, until it has been played N times;
- a measure under an ending bracket numbered (1, 2...) is played only on those times through its repeat;
- D.C. goes back to the start, D.S. to the segno, once; after the jump repeats are not taken again (the
  usual convention), "al Fine" stops at the measure marked Fine, "al Coda" leaves at the "To Coda" measure
  for the measure marked Coda;
- with ``repeats=False`` every repeat is played once (last ending taken: the way through without a repeat)
  and D.C./D.S. are not taken.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tutor.score.music import (
    Form,
    Measure,
    MeasureMarks,
    Score,
    TempoChange,
    TempoMap,
    sort_notes,
    time_notes,
)

__all__ = ["Form", "MeasureMarks", "Visit", "Unfolding", "play_order", "unfold", "written_id", "pass_label", "ordinal",
           "form_from_music21", "with_abc_parts", "apply_form", "expand_part_order", "abc_parts"]

PASS_MARK = "@"  # a note id's pass suffix: "P1-m3-n2@2" is note P1-m3-n2 the second time through
MAX_VISITS = 20_000  # a form that unfolds to more measures than this is cut off (a loop in a damaged file)


@dataclass(frozen=True)
class Visit:
    """A written measure as played: its index in ``score.measures``, printed number and pass (1 the first
    time through), where it starts as written and in the piece as played (quarter notes)."""

    index: int
    number: int
    pass_number: int
    written_start_ql: float
    played_start_ql: float
    duration_ql: float

    @property
    def played_end_ql(self) -> float:
        return self.played_start_ql + self.duration_ql


def _form_of(score: Score) -> Form | None:
    return getattr(score, "form", None)


def play_order(score: Score, *, repeats: bool = True) -> tuple[Visit, ...]:
    """The written measures of ``score`` in the order they are played (every measure once, in order,
    when the score has no form or ``repeats`` is False and it has no endings)."""
    measures = score.measures
    form = _form_of(score)
    if form is None or not form.has_repeats:
        indices = list(range(len(measures)))
    else:
        marks = [form.at(m.start_ql) for m in measures]
        ranges = _part_ranges(score, form) if repeats else None
        if ranges:
            indices = []
            for first, last in ranges:
                indices += _unfold_marks(marks[first:last + 1], repeats=True, offset=first)
        else:
            whole = bool(measures) and abs(measures[0].start_ql - form.start_ql) < 1e-6
            indices = _unfold_marks(marks, repeats=repeats, offset=0, from_start=whole)
    visits: list[Visit] = []
    seen: dict[int, int] = {}
    position = measures[0].start_ql if measures else 0.0
    for index in indices[:MAX_VISITS]:
        measure = measures[index]
        seen[index] = seen.get(index, 0) + 1
        visits.append(Visit(index, measure.number, seen[index], measure.start_ql, round(position, 6), measure.duration_ql))
        position += measure.duration_ql
    return tuple(visits)


def _part_ranges(score: Score, form: Form) -> list[tuple[int, int]] | None:
    """Measure index ranges of an ABC tune's parts in their play order, or None when the tune has no part
    order or the score does not hold all of its parts (a range of measures taken out of it)."""
    if not form.part_order or not form.parts:
        return None
    starts = [m.start_ql for m in score.measures]
    by_label: dict[str, tuple[int, int]] = {}
    for label, first_ql, last_ql in form.parts:
        first = bisect.bisect_left(starts, first_ql - 1e-6)
        last = bisect.bisect_left(starts, last_ql - 1e-6)
        if first >= len(starts) or last >= len(starts) or abs(starts[first] - first_ql) > 1e-6 or abs(starts[last] - last_ql) > 1e-6:
            return None
        by_label[label] = (first, last)
    if any(label not in by_label for label in form.part_order):
        return None
    return [by_label[label] for label in form.part_order]


def _unfold_marks(marks: Sequence[MeasureMarks], *, repeats: bool, offset: int, from_start: bool = True) -> list[int]:
    """Indices (plus ``offset``) of the measures in play order, following the rules of the module doc.
    ``from_start`` False (a range of measures taken out of a piece): a repeat end whose start is not in the
    range is not taken (the repeat starts before the range)."""
    n = len(marks)
    order: list[int] = []
    if n == 0:
        return order
    if not repeats:
        # straight through, each passage once: an ending is played when it is the last one of its group
        last_endings = _last_endings(marks)
        return [i + offset for i in range(n) if not marks[i].endings or i in last_endings]
    section_start = 0  # where a repeat end goes back to
    known_start = from_start  # whether the passage a repeat end closes starts in these measures
    time = 1  # the time through the current repeated passage
    done: dict[int, int] = {}  # repeat end -> times it has sent the player back
    jumped = False
    i = 0
    while i < n and len(order) < MAX_VISITS:
        m = marks[i]
        if m.repeat_start and not m.endings:
            if section_start != i:
                time = 1
            section_start = i
            known_start = True
        if m.endings and not (_is_last_ending(marks, i) if jumped else time in m.endings):
            i += 1
            continue
        order.append(i + offset)
        if jumped and m.fine:
            break
        if jumped and m.to_coda:
            coda = next((k for k in range(i + 1, n) if marks[k].coda), None)
            if coda is None:
                break
            i = coda
            continue
        if m.repeat_end and not jumped and not known_start:  # its start is before these measures
            known_start = True
            section_start = i + 1
        elif m.repeat_end and not jumped:
            times = max(2, m.repeat_end)
            if done.get(i, 0) < times - 1:
                done[i] = done.get(i, 0) + 1
                time += 1
                i = section_start
                continue
            done[i] = 0
            time = 1
            section_start = i + 1
        elif m.endings and not m.repeat_end and _is_last_ending(marks, i):
            # the last ending (no repeat sign): the repeated passage is over after it
            if i + 1 < n and not marks[i + 1].endings:
                time = 1
                section_start = i + 1
        if m.jump and not jumped:
            jumped = True
            if m.jump == "dc":
                i = 0
            else:
                segno = next((k for k in range(n) if marks[k].segno), 0)
                i = segno
            time = 1
            continue
        i += 1
    return order


def _last_endings(marks: Sequence[MeasureMarks]) -> set[int]:
    return {i for i in range(len(marks)) if marks[i].endings and _is_last_ending(marks, i)}


def _is_last_ending(marks: Sequence[MeasureMarks], i: int) -> bool:
    """Whether measure ``i`` is under the last ending bracket of its group (the highest number, with no
    other bracket right after it)."""
    top = max(marks[i].endings)
    k = i + 1
    while k < len(marks) and marks[k].endings:
        if max(marks[k].endings) > top:
            return False
        k += 1
    k = i - 1
    while k >= 0 and marks[k].endings:
        if max(marks[k].endings) > top:
            return False
        k -= 1
    return True


# ---------------------------------------------------------------------------------------------
# the score as played
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unfolding:
    """A score as played (``score``: notes, measures and tempo in play order) and the ``visits`` it was
    made of, to name a played position by its written measure and pass."""

    score: Score
    visits: tuple[Visit, ...]
    written: Score

    @property
    def repeats(self) -> bool:
        """Whether any measure is played more than once (or out of the written order)."""
        return any(v.pass_number > 1 for v in self.visits) or any(
            v.index != k for k, v in enumerate(self.visits)) or len(self.visits) != len(self.written.measures)

    @property
    def passes(self) -> int:
        """The most times any measure is played."""
        return max((v.pass_number for v in self.visits), default=1)

    def visit_at(self, played_ql: float) -> Visit | None:
        starts = [v.played_start_ql for v in self.visits]
        k = bisect.bisect_right(starts, played_ql + 1e-9) - 1
        if k < 0:
            return self.visits[0] if self.visits else None
        return self.visits[k]

    def written_position(self, played_ql: float) -> tuple[float, int]:
        """(written position in quarter notes, pass) of a position in the piece as played."""
        visit = self.visit_at(played_ql)
        if visit is None:
            return played_ql, 1
        return round(visit.written_start_ql + (played_ql - visit.played_start_ql), 6), visit.pass_number


def written_id(note_id: str) -> tuple[str, int]:
    """(the written note's id, pass) of a note id of an unfolded score."""
    head, mark, tail = note_id.rpartition(PASS_MARK)
    if mark and tail.isdigit():
        return head, int(tail)
    return note_id, 1


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def pass_label(pass_number: int) -> str:
    """'' the first time through, '2nd time' after."""
    return "" if pass_number <= 1 else f"{ordinal(pass_number)} time"


def unfold(score: Score, *, repeats: bool = True) -> Unfolding:
    """The score as played: measures in play order (``play_order``), each note placed in every visit of
    its measure (ids suffixed ``@pass`` from the second time through), the tempo map followed visit by
    visit. A score without repeats comes back as it is."""

    visits = play_order(score, repeats=repeats)
    if all(v.index == k for k, v in enumerate(visits)) and len(visits) == len(score.measures):
        return Unfolding(score, visits, score)
    starts = [m.start_ql for m in score.measures]
    by_measure: dict[int, list] = {}
    for note in score.notes:
        k = bisect.bisect_right(starts, note.onset_ql + 1e-9) - 1
        by_measure.setdefault(max(k, 0), []).append(note)
    notes = []
    measures = []
    changes: list[TempoChange] = []
    tempo = score.tempo_map
    for visit in visits:
        measure = score.measures[visit.index]
        shift = visit.played_start_ql - visit.written_start_ql
        measures.append(Measure(measure.number, visit.played_start_ql, measure.duration_ql, measure.time_signature))
        changes.append(TempoChange(visit.played_start_ql, tempo.bpm_at(measure.start_ql)))
        for change in tempo.changes:
            if measure.start_ql + 1e-9 < change.position_ql < measure.end_ql - 1e-9:
                changes.append(TempoChange(round(change.position_ql + shift, 6), change.bpm))
        for note in by_measure.get(visit.index, ()):
            suffix = "" if visit.pass_number == 1 else f"{PASS_MARK}{visit.pass_number}"
            notes.append(replace(
                note, id=note.id + suffix, onset_ql=round(note.onset_ql + shift, 6),
                tied_ids=tuple(t + suffix for t in note.tied_ids)))
    cleaned: list[TempoChange] = []
    for change in sorted(changes, key=lambda c: c.position_ql):
        if cleaned and abs(cleaned[-1].bpm - change.bpm) < 1e-9:
            continue
        cleaned.append(change)
    tempo_map = TempoMap(tuple(cleaned))
    signatures = _signatures_as_played(score, visits)
    played = replace(score, notes=sort_notes(time_notes(notes, tempo_map)), measures=tuple(measures), tempo_map=tempo_map,
                     time_signatures=signatures[0], key_signatures=signatures[1], form=None)
    return Unfolding(played, visits, score)


def _signatures_as_played(score: Score, visits: Sequence[Visit]):
    """Time and key signatures at each visit whose written measure carries (or changes) one."""
    times, keys = [], []
    last_time = last_key = None
    for visit in visits:
        measure = score.measures[visit.index]
        ts = _last_before(score.time_signatures, measure.start_ql)
        ks = _last_before(score.key_signatures, measure.start_ql)
        if ts is not None and (ts.numerator, ts.denominator) != last_time:
            times.append(replace(ts, position_ql=visit.played_start_ql, measure=measure.number))
            last_time = (ts.numerator, ts.denominator)
        if ks is not None and (ks.fifths, ks.mode) != last_key:
            keys.append(replace(ks, position_ql=visit.played_start_ql, measure=measure.number))
            last_key = (ks.fifths, ks.mode)
    return tuple(times), tuple(keys)


def _last_before(signatures, position_ql: float):
    found = None
    for signature in signatures:
        if signature.position_ql <= position_ql + 1e-6:
            found = signature
    return found


# ---------------------------------------------------------------------------------------------
# reading the form from a music21 score and from an ABC tune's text
# ---------------------------------------------------------------------------------------------
_JUMP_WORDS = (  # (pattern, jump, until), most specific first
    (r"^(d\.?\s*c\.?|da\s+capo)\s+al\s+fine", "dc", "fine"),
    (r"^(d\.?\s*c\.?|da\s+capo)\s+al\s+coda", "dc", "coda"),
    (r"^(d\.?\s*s\.?|dal\s+segno)\s+al\s+fine", "ds", "fine"),
    (r"^(d\.?\s*s\.?|dal\s+segno)\s+al\s+coda", "ds", "coda"),
    (r"^(d\.?\s*c\.?|da\s+capo)$", "dc", ""),
    (r"^(d\.?\s*s\.?|dal\s+segno)$", "ds", ""),
)
ORDER_TEXT = "Play parts "  # the words direction that carries an ABC part order into MusicXML


_SIGNS = (  # (music21.repeat class name, what it marks); the first match counts. "coda" is placed later:
    # a coda sign before the jump al Coda means "To Coda"
    ("Segno", {"segno": True}),
    ("Coda", {"coda": True}),
    ("Fine", {"fine": True}),
    ("DaCapoAlFine", {"jump": "dc", "jump_until": "fine"}),
    ("DaCapoAlCoda", {"jump": "dc", "jump_until": "coda"}),
    ("DalSegnoAlFine", {"jump": "ds", "jump_until": "fine"}),
    ("DalSegnoAlCoda", {"jump": "ds", "jump_until": "coda"}),
    ("DaCapo", {"jump": "dc", "jump_until": ""}),
    ("DalSegno", {"jump": "ds", "jump_until": ""}),
)
_WORDS = {"fine": {"fine": True}, "to coda": {"to_coda": True}, "al coda": {"to_coda": True},
          "coda": {"coda": True}, "segno": {"segno": True}}


def _sign_marks(element) -> dict | None:
    """What a music21 repeat sign marks on its measure (``MeasureMarks`` fields, plus ``coda``); None when
    ``element`` is none of ``_SIGNS`` (its words are read instead)."""
    import music21

    for name, marks in _SIGNS:
        if isinstance(element, getattr(music21.repeat, name)):
            return dict(marks)
    return None


def _word_marks(lowered_text: str) -> dict:
    """What a words direction (lower case, spaces collapsed) marks on its measure: Fine, To Coda, Coda, Segno or
    a D.C./D.S. instruction; {} for other words."""
    import re

    if lowered_text in _WORDS:
        return dict(_WORDS[lowered_text])
    for pattern, jump, until in _JUMP_WORDS:
        if re.match(pattern, lowered_text):
            return {"jump": jump, "jump_until": until}
    return {}


def form_from_music21(m21score, measures) -> Form | None:
    """The form marks of a parsed music21 score (its first part), keyed by the written starts of
    ``measures`` (the ``Measure``s read from the same part, in the same order). None when it has none, or
    when the marks cannot be read (the piece is then played as written)."""
    try:
        return _form_from_music21(m21score, measures)
    except Exception as error:  # noqa: BLE001 - odd notation can fail anywhere in music21's object model
        import logging

        logging.getLogger(__name__).info("repeat marks not read (%s): played as written", error)
        return None


def _form_from_music21(m21score, measures) -> Form | None:
    import re

    import music21

    parts = list(m21score.parts) or [m21score]
    m21_measures = list(parts[0].getElementsByClass(music21.stream.Measure))
    if len(m21_measures) != len(measures):
        return None
    found: list[tuple[float, MeasureMarks]] = []
    codas: list[int] = []
    section_labels: list[tuple[str, int]] = []
    order = ""
    for k, m in enumerate(m21_measures):
        fields: dict = {}
        left, right = m.leftBarline, m.rightBarline
        if isinstance(left, music21.bar.Repeat) and left.direction == "start":
            fields["repeat_start"] = True
        if isinstance(right, music21.bar.Repeat) and right.direction == "end":
            fields["repeat_end"] = max(2, int(right.times or 2))
        numbers: list[int] = []
        for bracket in m.getSpannerSites([music21.spanner.RepeatBracket]):
            try:
                numbers += [int(x) for x in bracket.numberRange]
            except (TypeError, ValueError):
                continue
        if numbers:
            fields["endings"] = tuple(sorted(set(numbers)))
        for element in m.recurse().getElementsByClass((music21.repeat.RepeatExpression, music21.expressions.TextExpression,
                                                        music21.expressions.RehearsalMark)):
            if isinstance(element, music21.expressions.RehearsalMark):
                label = str(element.content or "").strip()
                if re.fullmatch(r"[A-Za-z]", label):
                    section_labels.append((label, k))
                continue
            marked = _sign_marks(element)
            if marked is None:
                text = " ".join(str(element.content or "").split())
                if text.startswith(ORDER_TEXT):
                    order = text[len(ORDER_TEXT):].strip()
                    continue
                marked = _word_marks(text.lower())
            if marked.pop("coda", False):
                codas.append(k)
            fields.update(marked)
        if fields:
            found.append((k, fields))
    marks = {k: dict(fields) for k, fields in found}
    # a coda sign before the jump al Coda is "To Coda"; the one after it is where the coda starts
    jump_at = next((k for k in sorted(marks) if marks[k].get("jump")), None)
    for k in codas:
        key = "to_coda" if jump_at is not None and k <= jump_at and any(c > jump_at for c in codas) else "coda"
        marks.setdefault(k, {})[key] = True
    form_marks = tuple((measures[k].start_ql, MeasureMarks(**fields)) for k, fields in sorted(marks.items()))
    parts_found: tuple[tuple[str, float, float], ...] = ()
    if order and section_labels:
        parts_found = _parts_from_starts(section_labels, measures)
    form = Form(marks=form_marks, parts=parts_found, part_order=order if parts_found else "",
                start_ql=measures[0].start_ql if measures else 0.0)
    return form if form.has_repeats else None


def _parts_from_starts(labels: list[tuple[str, int]], measures) -> tuple[tuple[str, float, float], ...]:
    out = []
    for j, (label, first) in enumerate(labels):
        last = (labels[j + 1][1] - 1) if j + 1 < len(labels) else len(measures) - 1
        if last >= first:
            out.append((label, measures[first].start_ql, measures[last].start_ql))
    return tuple(out)


def expand_part_order(text: str) -> str:
    """An ABC part order as the letters played: 'A2B' -> 'AAB', '(AB)2C' -> 'ABABC'; dots and spaces
    (which only group) are dropped."""
    import re

    text = re.sub(r"[\s.]", "", text)
    while "(" in text:
        new = re.sub(r"\(([A-Za-z]*)\)(\d*)", lambda m: m.group(1) * int(m.group(2) or 1), text)
        if new == text:
            break
        text = new
    return re.sub(r"([A-Za-z])(\d+)", lambda m: m.group(1) * int(m.group(2)), text).replace("(", "").replace(")", "")


def abc_parts(tune: str) -> tuple[str, list[tuple[str, int]]] | None:
    """An ABC tune's part order and its labelled parts, as (order, [(label, number of measures before the
    part starts)]): the order from a ``P:`` line in the header (standard ABC) or ``Y:`` (the cleaned
    Nottingham files), the parts from the ``P:`` lines of the body. None when the tune has no part order.
    The measures before each part are counted by music21 on the tune cut there, so that they are the
    measures of the whole tune's parse."""
    import re
    import warnings

    import music21

    lines = tune.splitlines(keepends=True)
    key_line = next((i for i, line in enumerate(lines) if re.match(r"^K:", line)), None)
    if key_line is None:
        return None
    order = ""
    for line in lines[:key_line]:
        found = re.match(r"^[PY]:\s*(.+?)\s*$", line)
        if found:
            order = expand_part_order(found.group(1))
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if i > key_line
              for m in [re.match(r"^P:\s*([A-Za-z])\s*$", line)] if m]
    if not order or not starts or not re.fullmatch(r"[A-Za-z]+", order):
        return None
    out: list[tuple[str, int]] = []
    for line_index, label in starts:
        prefix = "".join(lines[:line_index])
        if not re.search(r"[A-Ga-gz]", "".join(lines[key_line + 1:line_index])):
            out.append((label, 0))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = music21.converter.parseData(prefix, format="abc")
            except Exception:  # noqa: BLE001 - music21's ABC parser raises any type on a cut tune
                return None
        parts = list(parsed.parts) if hasattr(parsed, "parts") and list(parsed.parts) else [parsed]
        count = len(list(parts[0].getElementsByClass(music21.stream.Measure)))
        if count == 0 and parts[0].recurse().notes:  # a pickup alone, with no barline: one measure
            count = 1
        out.append((label, count))
    return order, out


def with_abc_parts(form: Form | None, tune: str, measures) -> Form | None:
    """``form`` with the part order and parts of ABC ``tune`` (``abc_parts``) over ``measures``."""
    found = abc_parts(tune)
    if found is None:
        return form
    order, starts = found
    if any(count >= len(measures) for _label, count in starts):
        return form
    parts = _parts_from_starts(starts, measures)
    if not parts or any(label not in {p[0] for p in parts} for label in order):
        return form
    base = form or Form()
    return replace(base, parts=parts, part_order=order)


def apply_form(m21score, score: Score) -> None:
    """Write ``score.form`` into notation built from ``score`` (``tutor.score.io.music21_from_notes``: one
    music21 Measure per ``score.measures``, in each part): repeat barlines, ending brackets, segno, coda,
    Fine, To Coda and D.C./D.S. marks, and an ABC part order as rehearsal marks with a words direction
    (``ORDER_TEXT``) that ``form_from_music21`` reads back."""
    import music21

    form = _form_of(score)
    if form is None or not form.has_repeats:
        return
    starts = [m.start_ql for m in score.measures]
    for part_number, part in enumerate(list(m21score.parts) or [m21score]):
        m21_measures = list(part.getElementsByClass(music21.stream.Measure))
        if len(m21_measures) != len(starts):
            return
        marks = [form.at(start) for start in starts]
        for k, (m, mark) in enumerate(zip(m21_measures, marks, strict=True)):
            if mark.repeat_start:
                m.leftBarline = music21.bar.Repeat(direction="start")
            if mark.repeat_end:
                m.rightBarline = music21.bar.Repeat(direction="end", times=mark.repeat_end if mark.repeat_end > 2 else None)
            if mark.endings and (k == 0 or marks[k - 1].endings != mark.endings):
                run = [m]
                j = k + 1
                while j < len(marks) and marks[j].endings == mark.endings and not marks[j - 1].repeat_end:
                    run.append(m21_measures[j])
                    j += 1
                bracket = music21.spanner.RepeatBracket(run, number=",".join(str(x) for x in mark.endings))
                part.insert(0, bracket)
            if part_number:
                continue
            if mark.segno:
                m.insert(0, music21.repeat.Segno())
            if mark.coda:
                m.insert(0, music21.repeat.Coda())
            if mark.to_coda:
                m.insert(0, music21.expressions.TextExpression("To Coda"))
            if mark.fine:
                m.insert(0, music21.repeat.Fine())
            if mark.jump:
                cls = {("dc", ""): music21.repeat.DaCapo, ("dc", "fine"): music21.repeat.DaCapoAlFine,
                       ("dc", "coda"): music21.repeat.DaCapoAlCoda, ("ds", ""): music21.repeat.DalSegno,
                       ("ds", "fine"): music21.repeat.DalSegnoAlFine, ("ds", "coda"): music21.repeat.DalSegnoAlCoda}
                m.insert(0, cls[(mark.jump, mark.jump_until)]())
        if part_number == 0 and form.part_order and form.parts:
            for label, first_ql, _last in form.parts:
                k = next((i for i, s in enumerate(starts) if abs(s - first_ql) < 1e-6), None)
                if k is not None:
                    m21_measures[k].insert(0, music21.expressions.RehearsalMark(label))
            m21_measures[0].insert(0, music21.expressions.TextExpression(ORDER_TEXT + form.part_order))
