"""Corpora for the generator: folk melodies first, then four-voice Bach chorales.

Sources (read, never copied into the repository):

* ``nottingham``: ../shared/data/nottingham/ABC_cleaned (1,034 tunes; chord symbols dropped)
* ``essen``:     music21 corpus ``essenFolksong`` (~8,500 German and other folk songs)
* ``oneills``:   music21 corpus ``oneills1850`` (O'Neill's Music of Ireland)
* ``ryans``:     music21 corpus ``ryansMammoth`` (Ryan's Mammoth Collection)
* ``chorale``:   music21 corpus ``bach`` (the four-part chorales: S, A, T, B parts)

Every piece is parsed with music21 and converted with ``tutor.score.io.score_from_music21`` and
``tune_from_score``, exactly as a user's score is at inference time.

Splits are piece-disjoint: a piece's split comes from a fingerprint of its melody (the first
intervals of its top voice, so transpositions and copies of one tune in two collections land in
the same split). Chorales take their split from the standard JSB train/valid/test split
(../shared/data/jsb-chorales, Boulanger-Lewandowski 2012) when their soprano matches one of
those pieces, so "JSB test" numbers are on chorales the model never saw.

The parsed pieces are cached as plain Python data under ``models/.cache/`` (ignored by git);
``python -m models.training.generator_data`` builds the cache and prints its statistics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import pickle
import re
import time
import warnings
from collections import Counter
from pathlib import Path

from ..generator import Tune, TuneNote, tune_from_score

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache"  # models/.cache
CACHE_VERSION = 1
MELODY_CORPORA = ("nottingham", "essen", "oneills", "ryans")
ALL_CORPORA = (*MELODY_CORPORA, "chorale")
FINGERPRINT_INTERVALS = 12


# ---------------------------------------------------------------------------------------------
# which files
# ---------------------------------------------------------------------------------------------
def _corpus_dir() -> Path:
    import music21

    return Path(music21.__file__).resolve().parent / "corpus"


def source_files(corpus: str) -> list[Path]:
    if corpus == "nottingham":
        return sorted((SHARED_DATA / "nottingham" / "ABC_cleaned").glob("*.abc"))
    folder = {"essen": "essenFolksong", "oneills": "oneills1850", "ryans": "ryansMammoth"}.get(corpus)
    if folder:
        return sorted((_corpus_dir() / folder).glob("*.abc"))
    if corpus == "chorale":
        root = _corpus_dir() / "bach"
        return sorted(p for p in root.iterdir() if p.suffix in (".mxl", ".xml", ".krn"))
    raise ValueError(f"unknown corpus {corpus!r}")


# ---------------------------------------------------------------------------------------------
# parsing (runs in worker processes)
# ---------------------------------------------------------------------------------------------
_CHORD_SYMBOL = re.compile(r'"[^"\n]*"')


# at most this many tunes per corpus (a deterministic even spread; parsing ABC with music21
# costs 50-250 ms a tune, and these caps keep the whole cache build to a few minutes on 2 cores)
CORPUS_CAPS = {"nottingham": None, "essen": 2500, "oneills": 1000, "ryans": None, "chorale": None}
TUNES_PER_TASK = 20


def _tasks(corpus: str) -> list[tuple[str, str, str | None, list[str]]]:
    """Work units: (corpus, file, ABC header or None, ABC tune texts or [] for a whole file)."""
    files = source_files(corpus)
    if corpus == "chorale":
        return [(corpus, str(p), None, []) for p in files]
    chunks: list[tuple[str, str, str]] = []
    for path in files:
        text = path.read_text(encoding="latin-1")
        if corpus == "nottingham":
            text = _CHORD_SYMBOL.sub("", text)
        pieces = re.split(r"(?m)^(?=X:)", text)
        header = pieces[0] if pieces and not pieces[0].startswith("X:") else ""
        chunks += [(str(path), header, piece) for piece in pieces if piece.startswith("X:")]
    cap = CORPUS_CAPS.get(corpus)
    if cap and len(chunks) > cap:
        step = len(chunks) / cap
        chunks = [chunks[int(i * step)] for i in range(cap)]
    tasks = []
    for start in range(0, len(chunks), TUNES_PER_TASK):
        group = chunks[start:start + TUNES_PER_TASK]
        by_file: dict[tuple[str, str], list[str]] = {}
        for path, header, piece in group:
            by_file.setdefault((path, header), []).append(piece)
        tasks += [(corpus, path, header, pieces) for (path, header), pieces in by_file.items()]
    return tasks


def _parse_task(task: tuple[str, str, str | None, list[str]]) -> list[dict]:
    corpus, path_text, header, pieces = task
    import music21

    path = Path(path_text)
    warnings.simplefilter("ignore")
    if corpus == "chorale":
        try:
            return _records(corpus, [music21.converter.parse(str(path))], path.name)
        except Exception:  # noqa: BLE001 - a corpus batch goes on after a file music21 cannot parse (any type)
            log.debug("skipping %s", path, exc_info=True)
            return []
    out = []
    for piece in pieces:
        try:
            parsed = music21.converter.parseData((header or "") + piece, format="abc")
        except Exception:  # noqa: BLE001 - a corpus batch goes on after a tune music21 cannot parse (any type)
            log.debug("skipping a tune of %s", path, exc_info=True)
            continue
        number = piece.split("\n", 1)[0][2:].strip()
        scores = list(parsed.scores) if isinstance(parsed, music21.stream.Opus) else [parsed]
        out += _records(corpus, scores[:1], f"{path.name}#X{number}")
    return out


def _records(corpus: str, scores: list, source: str) -> list[dict]:
    from tutor.score.io import score_from_music21

    out = []
    for m21 in scores:
        try:
            score = score_from_music21(m21)
            if corpus == "chorale":
                score = _satb(score)
                if score is None:
                    continue
            tune = tune_from_score(score, style=corpus, max_voices=4 if corpus == "chorale" else 1)
        except Exception:  # noqa: BLE001 - a corpus batch goes on after a piece that does not convert
            log.debug("skipping a piece of %s", source, exc_info=True)
            continue
        if tune is None or sum(len(b) for b in tune.bars) < 8:
            continue
        record = tune_to_record(tune)
        record["source"] = source
        out.append(record)
    return out


def _satb(score):
    """The chorale's four voices in S, A, T, B order, or None when it has no such four parts."""
    wanted = []
    for prefix in ("sopran", "alt", "tenor", "bass"):
        found = [p for p in score.parts if p.name.lower().startswith(prefix)]
        if not found:
            return None
        wanted.append(found[0].id)
    reduced = score.only_parts(wanted)
    order = {part_id: index for index, part_id in enumerate(wanted)}
    from dataclasses import replace

    return replace(reduced, parts=tuple(sorted(reduced.parts, key=lambda p: order[p.id])))


# ---------------------------------------------------------------------------------------------
# records (plain data for the cache) <-> Tune
# ---------------------------------------------------------------------------------------------
def tune_to_record(tune: Tune) -> dict:
    return {
        "style": tune.style, "fifths": tune.fifths, "mode": tune.mode, "meter": tune.meter,
        "bar_ticks": list(tune.bar_ticks), "title": tune.title, "multi_voice": tune.multi_voice,
        "bars": [[(n.onset_ticks, n.duration_ticks, n.pitch, n.voice) for n in bar] for bar in tune.bars],
    }


def record_to_tune(record: dict) -> Tune:
    return Tune(
        style=record["style"], fifths=record["fifths"], mode=record["mode"], meter=record["meter"],
        bar_ticks=list(record["bar_ticks"]), title=record["title"], multi_voice=record["multi_voice"],
        bars=[[TuneNote(*n) for n in bar] for bar in record["bars"]],
        extra={"source": record.get("source", ""), "split": record.get("split", "train")},
    )


def melody_fingerprint(pitches: list[int]) -> tuple[int, ...]:
    """The first intervals of a melody with repeated pitches merged (transposition-invariant)."""
    collapsed: list[int] = []
    for pitch in pitches:
        if pitch >= 0 and (not collapsed or collapsed[-1] != pitch):
            collapsed.append(pitch)
    return tuple(b - a for a, b in zip(collapsed, collapsed[1:], strict=False))[:FINGERPRINT_INTERVALS]


def _top_voice(record: dict) -> list[int]:
    pitches = []
    for bar in record["bars"]:
        onsets: dict[int, int] = {}
        for onset, _duration, pitch, voice in bar:
            if voice == 0:
                onsets[onset] = max(onsets.get(onset, -1), pitch)
        pitches += [onsets[k] for k in sorted(onsets)]
    return pitches


def _hash_split(fingerprint: tuple[int, ...]) -> str:
    value = int(hashlib.md5(repr(fingerprint).encode()).hexdigest()[:8], 16) % 100
    return "test" if value < 5 else "val" if value < 10 else "train"


def jsb_fingerprints() -> dict[tuple[int, ...], str]:
    """Soprano fingerprints of the standard JSB split -> 'train' | 'val' | 'test'."""
    path = SHARED_DATA / "jsb-chorales" / "Jsb16thSeparated.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    out: dict[tuple[int, ...], str] = {}
    for name, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        for piece in data[name]:
            out.setdefault(melody_fingerprint([int(step[0]) for step in piece]), split)
    return out


def assign_splits(records: list[dict], corpus: str) -> None:
    jsb = jsb_fingerprints() if corpus == "chorale" else {}
    for record in records:
        fingerprint = melody_fingerprint(_top_voice(record))
        record["fingerprint"] = fingerprint
        if corpus == "chorale":
            record["split"] = jsb.get(fingerprint, "train")
            record["jsb"] = fingerprint in jsb
        else:
            record["split"] = _hash_split(fingerprint)


# ---------------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------------
def _cache_path(corpus: str) -> Path:
    return CACHE_DIR / f"{corpus}-v{CACHE_VERSION}.pkl"


def build_corpora(corpora=ALL_CORPORA, *, workers: int = 2, verbose: bool = True) -> None:
    todo = [c for c in corpora if not _cache_path(c).exists()]
    if not todo:
        return
    CACHE_DIR.mkdir(exist_ok=True)
    tasks = [task for corpus in todo for task in _tasks(corpus)]
    started = time.perf_counter()
    results: dict[str, list[dict]] = {c: [] for c in todo}
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        for done, (task, records) in enumerate(zip(tasks, pool.imap(_parse_task, tasks, chunksize=1), strict=True)):
            results[task[0]] += records
            if verbose and done % 100 == 0:
                print(f"  parsed {done + 1}/{len(tasks)} files ({time.perf_counter() - started:.0f} s)", flush=True)
    for corpus, records in results.items():
        records.sort(key=lambda r: r["source"])
        assign_splits(records, corpus)
        if corpus != "chorale":
            records = _dedupe(records)
        with open(_cache_path(corpus), "wb") as handle:
            pickle.dump(records, handle)
        if verbose:
            splits = Counter(r["split"] for r in records)
            print(f"{corpus}: {len(records)} pieces {dict(splits)}", flush=True)


def _dedupe(records: list[dict]) -> list[dict]:
    seen = set()
    out = []
    for record in records:
        key = (record["fingerprint"], len(record["bars"]))
        if key in seen:
            continue
        seen.add(key)
        out.append(record)
    return out


def load_corpus(corpus: str, split: str | None = None) -> list[Tune]:
    """Pieces of one corpus (building the cache if needed), optionally only one split."""
    build_corpora([corpus])
    with open(_cache_path(corpus), "rb") as handle:
        records = pickle.load(handle)
    return [record_to_tune(r) for r in records if split is None or r["split"] == split]


def jsb_test_count() -> tuple[int, int]:
    """(chorales matched to the JSB test split, size of that split)."""
    with open(_cache_path("chorale"), "rb") as handle:
        records = pickle.load(handle)
    matched = {r["fingerprint"] for r in records if r.get("jsb") and r["split"] == "test"}
    total = sum(1 for s in jsb_fingerprints().values() if s == "test")
    return len(matched), total


def main() -> None:
    parser = argparse.ArgumentParser(description="build the generator's corpus cache")
    parser.add_argument("--corpora", nargs="*", default=list(ALL_CORPORA))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    build_corpora(args.corpora, workers=args.workers)
    for corpus in args.corpora:
        tunes = load_corpus(corpus)
        bars = sum(len(t.bars) for t in tunes)
        notes = sum(len(b) for t in tunes for b in t.bars)
        print(f"{corpus}: {len(tunes)} pieces, {bars} bars, {notes} notes")
    if "chorale" in args.corpora:
        matched, total = jsb_test_count()
        print(f"JSB test chorales matched: {matched} of {total}")


if __name__ == "__main__":
    main()


def score_from_tune(tune: Tune):
    """A ``tutor.score.music.Score`` holding a cached tune (for benchmarks and tests on held-out pieces)."""
    from tutor.score.music import (
        KeySignature,
        Measure,
        Note,
        Part,
        Score,
        TimeSignature,
        sort_notes,
        time_notes,
    )

    from ..generator import TICKS_PER_QL

    voices = sorted({n.voice for bar in tune.bars for n in bar}) or [0]
    names = ("Soprano", "Alto", "Tenor", "Bass") if tune.multi_voice else ("Melody",)
    parts = tuple(Part(f"P{v + 1}", names[v] if v < len(names) else f"Voice {v + 1}") for v in range(max(voices) + 1))
    full = max(tune.bar_ticks, key=tune.bar_ticks.count)
    first_number = 0 if tune.bar_ticks[0] < full else 1
    measures, notes = [], []
    start = 0.0
    for index, (ticks, bar) in enumerate(zip(tune.bar_ticks, tune.bars, strict=True)):
        number = first_number + index
        measures.append(Measure(number, round(start, 6), ticks / TICKS_PER_QL, tune.meter))
        counters: dict[str, int] = {}
        for n in sorted(bar, key=lambda n: (n.voice, n.onset_ticks, n.pitch)):
            part = f"P{n.voice + 1}"
            k = counters.get(part, 0)
            counters[part] = k + 1
            notes.append(Note(f"{part}-m{number}-n{k}", n.pitch, round(start + n.onset_ticks / TICKS_PER_QL, 6),
                              n.duration_ticks / TICKS_PER_QL, 0.0, 0.0, part, number, 1.0 + n.onset_ticks / TICKS_PER_QL))
        start += ticks / TICKS_PER_QL
    numerator, denominator = (int(x) for x in tune.meter.split("/")) if "/" in tune.meter else (4, 4)
    score = Score(
        title=tune.title, parts=parts, notes=(), measures=tuple(measures),
        time_signatures=(TimeSignature(first_number, 0.0, numerator, denominator),),
        key_signatures=(KeySignature(first_number, 0.0, tune.fifths, tune.mode),),
    )
    from dataclasses import replace

    return replace(score, notes=time_notes(sort_notes(notes), score.tempo_map))
