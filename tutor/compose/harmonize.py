"""Harmonise a melody: alto, tenor and bass under a soprano (``chorale``), or the same harmony laid out
as a piano accompaniment of chords and bass (``piano``).

The generator (``models/generator.py``) samples only the lower voices' pitches with the soprano's tokens
forced, note against note, under the sampler's part-writing constraints; a long melody goes a few bars at
a time in ``k`` independent chains (a chunk's samples ranked by rule errors, then likelihood less a cost for
warnings and for a tenor or bass striking its note again). Candidates are ranked by critique-rule errors
(``tutor.compose.rules.check_rules``, chorale rules), then warnings, then the model's likelihood.
This module imports torch only inside functions.
"""

from __future__ import annotations

from dataclasses import replace

from tutor.compose.suggest import Suggestion, one_thread
from tutor.errors import AnalysisError
from tutor.score.music import Note, Part, Score, sort_notes, time_notes

LOWER = (("HA", "Alto", 1), ("HT", "Tenor", 2), ("HB", "Bass", 3))  # part id, name, generator voice
PIANO_PART = ("HP", "Piano", 0)  # right hand: the alto and tenor as chords
PIANO_BASS = ("HPL", "Piano left hand", 0)  # the bass, on its own (bass-clef) staff
NEW_PARTS = LOWER + (PIANO_PART, PIANO_BASS)
CHUNK_TOKENS = 230  # tokens of forced soprano + sampled voices per chunk
SAMPLES_PER_CHUNK = 3
# sampling temperature, on the 77 JSB test chorales (k=1, python -m tests.bench harmonize): 0.5 / 0.25 / 0.15 give
# 6.1 / 3.8 / 3.5 rule warnings per chorale (Bach 7.6), note agreement with Bach 0.206 / 0.218 / 0.227, chord
# agreement 0.085 / 0.113 / 0.128; two of k=4 candidates differ in 60% / 33% / 19% of their lower notes (8
# chorales): 0.25 keeps the alternatives distinct enough to be worth listing
TEMPERATURE = 0.25
# a chunk's samples are ranked by rule errors, the opening and close, then log-likelihood less these costs (nats)
# for each tenor or bass note that repeats the one before and each rule warning: the generator's tenor and bass
# repeated 71 % and 49 % of their notes in the tuning melodies' chorales (Bach's about 15 %); chosen on them: 1.5 and
# 3 (0.75 / 1.5 / 3 for the repeats alone left the tenor at 0.54 / 0.51 / 0.53 with 1.3 more warnings a chorale)
REPEAT_NATS = 1.5
WARN_NATS = 3.0


def melody_of(score: Score) -> tuple[str, tuple[Note, ...]]:
    """(part id, notes) of the melody to harmonise: the first part (the soprano of a chorale), chords
    reduced to their top note."""
    if not score.notes or not score.parts:
        raise AnalysisError("has no melody to harmonise", path=score.source_path or score.title)
    part = score.parts[0].id
    top: dict[float, Note] = {}
    for note in score.notes_of(part):
        if note.duration_ql <= 0:
            continue
        key = round(note.onset_ql, 6)
        if key not in top or note.pitch > top[key].pitch:
            top[key] = note
    if not top:
        raise AnalysisError(f"part {part} has no notes to harmonise", path=score.source_path or score.title)
    return part, tuple(sorted(top.values(), key=lambda n: n.onset_ql))


def _melody_score(score: Score, part: str, melody: tuple[Note, ...]) -> Score:
    return replace(score, parts=tuple(p for p in score.parts if p.id == part), notes=melody)


def _bar_templates(tune) -> list[list[int | None]]:
    """Per bar: the soprano's tokens forced, a None (sampled pitch) for alto, tenor and bass at each onset."""
    from tutor.models.generator import BAR, DUR0, PITCH0, PITCH_LOW, POS0, VOICE0, duration_index

    bars = []
    for notes, ticks in zip(tune.bars, tune.bar_ticks, strict=True):
        tokens: list[int | None] = [BAR]
        for note in sorted(notes, key=lambda n: n.onset_ticks):
            room = max(1, ticks - note.onset_ticks)
            duration = DUR0 + duration_index(min(note.duration_ticks, room))
            tokens += [POS0 + note.onset_ticks, VOICE0, PITCH0 + note.pitch - PITCH_LOW, duration]
            for voice in (1, 2, 3):
                tokens += [VOICE0 + voice, None, duration]
        bars.append(tokens)
    return bars


def _chunks(templates: list[list]) -> list[tuple[int, int]]:
    out, start, size = [], 0, 0
    for i, bar in enumerate(templates):
        if size and size + len(bar) > CHUNK_TOKENS:
            out.append((start, i))
            start, size = i, 0
        size += len(bar)
    out.append((start, len(templates)))
    return out


def _last_pitches(tokens: list[int]) -> dict[int, tuple[int, ...]]:
    from tutor.models.generator import decode_bars

    out: dict[int, list[int]] = {}
    for bar in decode_bars(tokens):
        for note in sorted(bar, key=lambda n: n.onset_ticks):
            out.setdefault(note.voice, []).append(note.pitch)
    return {v: tuple(p[-2:]) for v, p in out.items()}


def _lower_notes(score: Score, tokens: list[int], measures, style: str, shift: int = 0) -> list[Note]:
    """Alto/tenor/bass notes (or the piano part's chords) decoded from generated tokens."""
    from tutor.compose.suggest import _beat
    from tutor.models.generator import TICKS_PER_QL, decode_bars

    notes = []
    for bar, measure in zip(decode_bars(tokens), measures, strict=False):
        counters: dict[str, int] = {}
        for tn in sorted(bar, key=lambda n: (n.voice, n.onset_ticks)):
            if tn.voice == 0:
                continue
            if style == "piano":
                part = PIANO_BASS[0] if tn.voice == 3 else PIANO_PART[0]
            else:
                part = LOWER[tn.voice - 1][0]
            offset_ql = tn.onset_ticks / TICKS_PER_QL
            duration_ql = min(tn.duration_ticks / TICKS_PER_QL, measure.duration_ql - offset_ql)
            number = counters.get(part, 0)
            counters[part] = number + 1
            notes.append(Note(
                id=f"{part}-m{measure.number}-n{number}", pitch=tn.pitch - shift,
                onset_ql=round(measure.start_ql + offset_ql, 6), duration_ql=round(duration_ql, 6),
                onset_s=0.0, duration_s=0.0, part=part, measure=measure.number,
                beat=round(_beat(measure.time_signature, offset_ql), 4),
                voice=1,
            ))
    return notes


def _as_piano(notes: tuple[Note, ...]) -> tuple[Note, ...]:
    """Alto and tenor as the piano's right-hand chords, the bass as its left hand (``_lower_notes``' piano layout:
    the same ids, numbered per bar, the alto's before the tenor's)."""
    voices = {p: i for i, (p, _, _) in enumerate(LOWER)}
    lower = sorted((n for n in notes if n.part in voices), key=lambda n: (n.measure, voices[n.part], n.onset_ql))
    out, counters = [n for n in notes if n.part not in voices], {}
    for n in lower:
        part = PIANO_BASS[0] if n.part == LOWER[2][0] else PIANO_PART[0]
        number = counters.get((part, n.measure), 0)
        counters[(part, n.measure)] = number + 1
        out.append(replace(n, id=f"{part}-m{n.measure}-n{number}", part=part))
    return tuple(sort_notes(out))


def harmonized_score(score: Score, suggestion: Suggestion) -> Score:
    """The melody with the suggestion's lower voices (or piano part) as new parts."""
    melody_part = next(n.part for n in suggestion.notes if n.part not in {p for p, _, _ in NEW_PARTS})
    new_ids = [p for p, _, _ in NEW_PARTS if any(n.part == p for n in suggestion.notes)]
    names = {p: name for p, name, _ in NEW_PARTS}
    melody = next(p for p in score.parts if p.id == melody_part)
    parts = (melody,) + tuple(Part(p, names[p], 0 if p in (PIANO_PART[0], PIANO_BASS[0]) else 52) for p in new_ids)
    return replace(score, parts=parts, notes=time_notes(sort_notes(suggestion.notes), score.tempo_map))


@one_thread
def harmonize(score: Score, *, style: str = "chorale", k: int = 4, seed: int = 0, temperature: float = TEMPERATURE,
              top_p: float = 0.95, progress=None) -> list[Suggestion]:
    """k harmonisations of ``score``'s melody, best first (``kind`` = ``"harmonization"``).

    At every soprano onset the alto, tenor and bass sound a note of the same length (the texture of a hymn
    harmonisation; Bach's passing notes are not attempted), and the sampler's part-writing constraints (no
    crossing or overlap, no parallel fifths/octaves against a moving upper voice, leaps recovered) apply to
    every sampled note. The model reads 512 tokens, so a long melody is harmonised a few bars at a time:
    ``k`` independent chains, each choosing at every chunk the best of a few samples by critique-rule
    errors, the opening and close on the tonic, then likelihood less a cost for each rule warning and each
    note the tenor or bass strikes again (``REPEAT_NATS``, ``WARN_NATS``); a tenor still striking its note
    again then moves between the chord's tones where the rules allow (``inner_motion``).

    ``progress(fraction, text)``, when given, is called before each chunk of each candidate (an exception
    it raises, such as the app's "cancelled", ends the work)."""
    from tutor.compose.rules import check_rules
    from tutor.compose.suggest import _model
    from tutor.models.generator import (
        BAR,
        BOS,
        EOS,
        key_token,
        meter_token,
        sample,
        style_token,
        tune_from_score,
    )

    if style not in ("chorale", "piano"):
        raise AnalysisError(f"--harmonize writes chorale or piano style, not {style!r}")
    if not temperature > 0 or not 0 < top_p <= 1:
        raise AnalysisError(f"temperature must be positive and top-p in (0, 1], not {temperature} and {top_p}")
    if not 1 <= k <= 16:
        raise AnalysisError(f"can make 1 to 16 harmonisations at a time, not {k}")
    part, melody = melody_of(score)
    # the model learnt soprano lines (about C4-G5): a melody written lower (many folk-song files) is
    # harmonised an octave up and the lower voices brought back down
    shift = 12 if sum(n.pitch for n in melody) / len(melody) < 64 else 0
    base = _melody_score(score, part, tuple(replace(n, pitch=n.pitch + shift) for n in melody))
    tune = tune_from_score(base, style="chorale")
    if tune is None:
        raise AnalysisError("has bars longer than 8 quarter notes, which the generator cannot write")
    ks = score.key_signatures[0] if score.key_signatures else None
    if ks is None or ks.mode is None:  # the file does not say: read the key (or mode) from the melody
        from tutor.score.analysis import estimate_key

        key = estimate_key(base)
        tune.mode = key.mode
        if ks is None:
            fifths = ((key.tonic + (3 if key.mode == "minor" else 0)) * 7) % 12
            tune.fifths = fifths - 12 if fifths > 6 else fifths
    cond = [style_token("chorale"), key_token(tune.fifths, tune.mode), meter_token(tune.meter), BOS]
    tonic = _tonic_of(tune.fifths, tune.mode)
    templates = _tonic_bass(_bar_templates(tune), tonic, tune.mode)
    chunks = _chunks(templates)
    model = _model(None)
    measures = list(score.measures)
    rules_style = "chorale" if style == "chorale" else "keyboard"
    chains = []
    for chain in range(k):
        tokens: list[int] = []
        log_likelihood = 0.0
        for number, (a, b) in enumerate(chunks):
            if progress is not None:
                progress((chain + number / len(chunks)) / k, f"Harmonising: candidate {chain + 1} of {k}")
            body = [t for bar in templates[a:b] for t in bar]
            budget = model.config.context - len(cond) - len(body) - 8
            context = _context_bars(tokens, budget)
            ends = (number == 0, number == len(chunks) - 1)  # the chunk holds the opening or the close
            count = SAMPLES_PER_CHUNK * (2 if any(ends) else 1)
            samples = sample(model, cond + context, count=count, bar_ticks=tune.bar_ticks[a:b],
                             multi_voice=True, end_tokens=(BAR, EOS),
                             seed=seed * 1000 + chain * 37 + number, temperature=temperature, top_p=top_p,
                             templates=[body + [BAR]] * count, max_tokens=len(body) + 2,
                             previous_pitches=_last_pitches(tokens) if tokens else None)
            best = None
            for s in samples:
                if not s.finished:
                    continue
                trial = tokens + list(s.tokens)
                lower = _lower_notes(score, trial, measures, "chorale", shift)
                partial = replace(score, parts=base.parts + tuple(Part(p, n, 52) for p, n, _ in LOWER),
                                  notes=time_notes(sort_notes(list(melody) + lower), score.tempo_map))
                last = measures[b - 1].number
                found = [f for f in check_rules(partial, style="chorale") if f.measure <= last]
                errors = sum(f.severity == "error" for f in found)
                warned = sum(f.severity == "warning" and f.measure >= measures[a].number for f in found)
                # then a chorale's opening and close on the tonic chord in root position, then likelihood less the
                # cost of a tenor or bass striking its note again
                repeats = _repeated(lower, after=measures[a].start_ql - 1e-6)
                rank = (errors, _off_tonic(melody, lower, tonic, tune.mode, ends),
                        -s.log_likelihood + REPEAT_NATS * repeats + WARN_NATS * warned)
                if best is None or rank < best[0]:
                    best = (rank, list(s.tokens), s.log_likelihood)
            if best is None:
                break
            tokens += best[1]
            log_likelihood += best[2]
        else:
            chains.append((tokens, log_likelihood))
    candidates = []
    seen = set()
    for tokens, log_likelihood in chains:
        if tuple(tokens) in seen:
            continue
        seen.add(tuple(tokens))
        notes = list(melody) + _lower_notes(score, tokens, measures, "chorale", shift)
        suggestion = Suggestion("harmonization", measures[0].number, measures[-1].number,
                                time_notes(sort_notes(notes), score.tempo_map), log_likelihood)
        # the opening and the close on the tonic chord, where the rules allow (then laid out for the piano)
        suggestion = replace(suggestion, notes=tonic_ends(harmonized_score(score, suggestion)).notes)
        suggestion = replace(suggestion, notes=inner_motion(harmonized_score(score, suggestion)).notes)
        if style == "piano":
            suggestion = replace(suggestion, notes=_as_piano(suggestion.notes))
        findings = check_rules(harmonized_score(score, suggestion), style=rules_style)
        errors = sum(f.severity == "error" for f in findings)
        warnings = sum(f.severity == "warning" for f in findings)
        candidates.append(((errors, warnings, -log_likelihood), suggestion))
    if not candidates:
        raise AnalysisError("the generator could not harmonise this melody; try another --seed")
    candidates.sort(key=lambda c: c[0])
    return [s for _, s in candidates]


def _repeated(lower: list[Note], *, after: float, parts: tuple[str, ...] = ("HT", "HB")) -> int:
    """How many of the tenor's and bass's notes starting after ``after`` (quarter notes) repeat the pitch of the
    note before them in their part (Bach's tenor and bass repeat about 15 % of their notes)."""
    count = 0
    for part in parts:
        line = sorted((n for n in lower if n.part == part), key=lambda n: n.onset_ql)
        count += sum(b.pitch == a.pitch and b.onset_ql > after for a, b in zip(line, line[1:], strict=False))
    return count


TONIC_BASS = (41, 52)  # the bass's tonic at the opening and the close: F2 to E3 (the model's pitches)


def _tonic_bass(templates: list[list[int | None]], tonic: int, mode: str) -> list[list[int | None]]:
    """The bar templates with the bass's pitch given under the melody's first and last note: the tonic (F2-E3),
    where the chord there should be the tonic (``_tonic_end``); a chorale opens and closes on the tonic chord in root position
    (the alto and tenor are still sampled; ``_off_tonic`` then ranks the samples)."""
    from tutor.models.generator import PITCH0, PITCH_LOW, VOICE0

    triad = _tonic_triad(tonic, mode)
    bass = next(p for p in range(TONIC_BASS[0], TONIC_BASS[1] + 1) if p % 12 == tonic)
    bars = [list(bar) for bar in templates]
    with_notes = [i for i, bar in enumerate(bars) if len(bar) > 1]
    if not with_notes:
        return bars
    # a note's tokens: POS, VOICE0, soprano PITCH, DUR, then (VOICE, pitch, DUR) for alto, tenor and bass
    for bar, at in ((bars[with_notes[0]], 1), (bars[with_notes[-1]], len(bars[with_notes[-1]]) - 13)):
        soprano = bar[at + 2]
        if bar[at + 1] == VOICE0 and bar[at + 10] == VOICE0 + 3 and bar[at + 11] is None \
                and _tonic_end((soprano - PITCH0 + PITCH_LOW) % 12, tonic, triad, first=at == 1):
            bar[at + 11] = PITCH0 + bass - PITCH_LOW
    return bars


def _tonic_of(fifths: int, mode: str | None) -> int:
    """The tonic pitch class of a key signature of ``fifths`` sharps (flats negative) in ``mode``."""
    return (fifths * 7 + (9 if mode == "minor" else 0)) % 12


def _tonic_triad(tonic: int, mode: str | None) -> set[int]:
    """The pitch classes of the tonic chord (minor in a minor key)."""
    return {tonic, (tonic + (3 if mode == "minor" else 4)) % 12, (tonic + 7) % 12}


def _tonic_end(pc: int, tonic: int, triad: set[int], *, first: bool) -> bool:
    """Whether the chord under a melody's first note (``first``) or last note of pitch class ``pc`` should be the
    tonic chord: the first where the note belongs to it (a pickup on the fifth too), the last where the tune ends on
    the tonic (a tune ending on another note may have closed in another key, whatever its key signature says)."""
    return pc in triad if first else pc == tonic


def key_of(score: Score, melody: tuple[Note, ...]) -> tuple[int, str]:
    """(tonic pitch class, mode) the harmoniser writes in: the key signature's, its mode read from the melody where
    the file does not say it (as ``harmonize`` tells the generator)."""
    from tutor.score.analysis import estimate_key

    ks = score.key_signatures[0] if score.key_signatures else None
    if ks is not None and ks.mode is not None:
        mode = ks.mode
    else:
        key = estimate_key(score, list(melody))
        if ks is None:
            return key.tonic, key.mode
        mode = key.mode
    return _tonic_of(ks.fifths, mode), mode


def tonic_ends(score: Score, *, parts: tuple[str, str, str] = ("HA", "HT", "HB")) -> Score:
    """The chords under a harmonised melody's first and last note made the tonic chord in root position where they
    should be (``_tonic_end``) and are not: the bass takes the tonic, the alto and tenor the nearest notes of the
    tonic chord (its third among them; a close already on the major tonic of a minor key, the Picardy third, is
    kept), each voice within its singer's range and below the one above it. Kept only where the chorale
    rules then find no more errors and at most one more warning (a tonic close outweighs a leap into it)."""
    from itertools import product

    from tutor.compose.rules import VOICE_RANGES, check_rules

    melody_part, melody = melody_of(score)
    tonic, mode = key_of(score, melody)

    def counts(s: Score) -> tuple[int, int]:
        found = check_rules(s, style="chorale")
        return sum(f.severity == "error" for f in found), sum(f.severity == "warning" for f in found)

    base = counts(score)
    ranges = {parts[0]: VOICE_RANGES["alto"], parts[1]: VOICE_RANGES["tenor"], parts[2]: VOICE_RANGES["bass"]}
    for first, top in ((True, melody[0]), (False, melody[-1])):
        third = (tonic + (3 if mode == "minor" else 4)) % 12
        triad = _tonic_triad(tonic, mode)
        if not _tonic_end(top.pitch % 12, tonic, triad, first=first):
            continue
        under = {n.part: n for n in score.notes if n.part in parts and abs(n.onset_ql - top.onset_ql) < 1e-6}
        if len(under) != 3:
            continue
        alto, tenor, bass = (under[p] for p in parts)
        sounding = {alto.pitch % 12, tenor.pitch % 12, top.pitch % 12}
        picardy = (tonic + 4) % 12 if mode == "minor" and not first else third  # a minor piece may close major
        if bass.pitch % 12 == tonic and any(sounding <= (triad - {third}) | {t} and t in sounding
                                            for t in {third, picardy}):
            continue  # already the tonic chord in root position

        def near(n: Note, pcs: set[int]) -> list[int]:
            low, high = ranges[n.part]
            return [p for p in range(n.pitch - 7, n.pitch + 8) if p % 12 in pcs and low <= p <= high]

        best = None
        for b, t, a in product(near(bass, {tonic}), near(tenor, triad), near(alto, triad)):
            if not b < t < a <= top.pitch or third not in {a % 12, t % 12, top.pitch % 12}:
                continue
            cost = abs(a - alto.pitch) + abs(t - tenor.pitch) + abs(b - bass.pitch)
            if best is None or cost < best[0]:
                best = (cost, (a, t, b))
        if best is None:
            continue
        pitches = dict(zip(parts, best[1], strict=True))
        trial = [replace(n, pitch=pitches[n.part]) if n.part in pitches and abs(n.onset_ql - top.onset_ql) < 1e-6
                 else n for n in score.notes]
        candidate = replace(score, notes=time_notes(sort_notes(trial), score.tempo_map))
        found = counts(candidate)
        if found[0] <= base[0] and found[1] <= base[1] + 1:
            score, base = candidate, found
    return score


def inner_motion(score: Score, *, parts: tuple[str, str, str] = ("HA", "HT", "HB")) -> Score:
    """A tenor that strikes its note again moves to another note of the same chord (a tone the other voices
    double), as Bach's tenors move between chord tones: the chord keeps every pitch class it had, the tenor stays in
    its singer's range between the bass and the alto, and a move is kept only where the chorale rules then find no
    more errors and no more warnings. The first and the last chord are left as they are."""
    from tutor.compose.rules import VOICE_RANGES, check_rules

    alto, tenor, bass = parts
    low, high = VOICE_RANGES["tenor"]

    def counts(s: Score) -> tuple[int, int]:
        found = check_rules(s, style="chorale")
        return sum(f.severity == "error" for f in found), sum(f.severity == "warning" for f in found)

    base = counts(score)
    line = sorted((n for n in score.notes if n.part == tenor), key=lambda n: n.onset_ql)
    for i in range(1, len(line) - 1):
        previous, note = line[i - 1], line[i]
        if note.pitch != previous.pitch:
            continue
        sounding = [n for n in score.notes if n.part != tenor and n.onset_ql <= note.onset_ql + 1e-6
                    < n.onset_ql + n.duration_ql]
        below = [n.pitch for n in sounding if n.part == bass]
        above = [n.pitch for n in sounding if n.part == alto]
        others = {n.pitch % 12 for n in sounding}
        if not below or not above or note.pitch % 12 not in others:  # (the tenor's tone is doubled: none is lost)
            continue
        options = sorted((p for p in range(max(low, below[0] + 1), min(high, above[0] - 1) + 1)
                          if p % 12 in others and p != note.pitch), key=lambda p: abs(p - note.pitch))
        for pitch in options[:2]:
            trial = [replace(n, pitch=pitch) if n.id == note.id else n for n in score.notes]
            candidate = replace(score, notes=time_notes(sort_notes(trial), score.tempo_map))
            found = counts(candidate)
            if found[0] <= base[0] and found[1] <= base[1]:
                score, base = candidate, found
                line[i] = next(n for n in score.notes if n.id == note.id)
                break
    return score


def _off_tonic(melody: tuple[Note, ...], lower: list[Note], tonic: int, mode: str, ends: tuple[bool, bool]) -> int:
    """How far the chord under the melody's first note (``ends[0]``) and last note (``ends[1]``) is from the tonic
    chord in root position, the way a chorale opens and closes: 0 (it is, or it need not be: ``_tonic_end``),
    1 (the tonic chord inverted), 2 (another chord) for each end. The close may take the major third (a Picardy
    third in a minor key)."""
    out = 0
    for index, wanted in ((0, ends[0]), (-1, ends[1])):
        note = melody[index]
        triad = _tonic_triad(tonic, mode)
        if not wanted or not _tonic_end(note.pitch % 12, tonic, triad, first=index == 0):
            continue
        if index == -1 and mode == "minor":
            triad.add((tonic + 4) % 12)
        under = [n for n in lower if abs(n.onset_ql - note.onset_ql) < 1e-6]
        if not under:
            continue
        if not {n.pitch % 12 for n in under} <= triad:
            out += 2
        elif min(under, key=lambda n: n.pitch).pitch % 12 != tonic:
            out += 1
    return out


def _context_bars(tokens: list[int], budget: int) -> list[int]:
    """The last whole bars of ``tokens`` that fit ``budget``."""
    from tutor.models.generator import BAR

    starts = [i for i, t in enumerate(tokens) if t == BAR]
    for start in starts:
        if len(tokens) - start <= budget:
            return tokens[start:]
    return []
