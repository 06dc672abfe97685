"""``--remote URL`` on ``tutor transcribe``, ``assess``, ``critique`` and ``suggest``: the analysis runs on a
``tutor serve`` host and the command prints the host's JSON (the same document as a local ``--json``),
a text report built from it, and writes ``-o`` from it.

The host is ``--remote URL``, else ``$TUTOR_REMOTE``; ``--remote local`` (or an empty value) analyses here
whatever the variable says. The token is ``tutor.remote.client.remote_token()`` (``$TUTOR_REMOTE_TOKEN``...).
When the host cannot give an answer (refused, dropped mid-request, timed out, busy after the retries,
wrong token), one line on stderr says so and the command runs locally exactly as without ``--remote``:
the input files are only ever read, so nothing is lost. A 400/422 from the host means the file itself is
bad; that is the command's error (exit 2), as it would be here.

Each command calls ``run_remote(args, NAME)`` at the start of its ``run``: it returns the exit code when
the host answered, or None when the command should analyse locally.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tutor.errors import TutorError

ENV_VAR = "TUTOR_REMOTE"


def add_remote_option(parser) -> None:
    parser.add_argument("--remote", default=None, metavar="URL",
                        help=f"analyse on a `tutor serve` host (default ${ENV_VAR}; 'local' analyses here); "
                             "token from $TUTOR_REMOTE_TOKEN; falls back to this machine when the host is down")


def remote_url(value: str | None) -> str | None:
    """The host's URL from ``--remote`` (or ``$TUTOR_REMOTE`` when it is not given); None: analyse here."""
    url = (value if value is not None else os.environ.get(ENV_VAR, "")).strip()
    if not url or url.lower() in ("local", "none"):
        return None
    if not url.startswith(("http://", "https://")):
        raise TutorError(f"--remote {url!r}: give the host as a URL such as http://gpu-host:8765 (or 'local')")
    return url.rstrip("/")


def run_remote(args, command: str) -> int | None:
    """Run ``command`` on the host named by ``args.remote`` / ``$TUTOR_REMOTE`` and print its output; None
    when there is no host or it could not answer (a one-line notice on stderr): then run locally."""
    from tutor.remote.client import RemoteClient, RemoteUnavailable

    url = remote_url(getattr(args, "remote", None))
    if url is None:
        return None
    handler = {"transcribe": _transcribe, "assess": _assess, "critique": _critique, "suggest": _suggest}[command]
    try:
        return handler(args, RemoteClient(url))
    except RemoteUnavailable as error:
        print(f"tutor: {error.message}; analysing on this machine", file=sys.stderr, flush=True)
        return None


def _here(why: str) -> None:
    """Say in one line on stderr why this analysis runs here; None tells the command to run it."""
    print(f"tutor: {why}; analysing on this machine", file=sys.stderr, flush=True)


def upload_path(name: str, *, index: int | None = None) -> Path | None:
    """The file to send for a score argument: the file itself, or for a ``corpus:`` reference the corpus
    file (music21's), which the host parses exactly as this machine would; None when that cannot be
    done (a tune picked out of a corpus collection): then the command runs here."""
    if not name.startswith("corpus:"):
        return Path(name)  # a missing file: the client's read says which and why
    import music21

    try:
        path = Path(str(music21.corpus.getWork(name.removeprefix("corpus:"))))
    except Exception:  # noqa: BLE001 - not in the corpus: the local run says so clearly
        return None
    return path if index is None and path.is_file() else None


# ---------------------------------------------------------------------------------------------
# the commands
# ---------------------------------------------------------------------------------------------
def _transcribe(args, client) -> int | None:
    from tutor.cli.commands._common import print_json
    from tutor.cli.commands.transcribe import _name

    if args.f0:
        return _here("--f0 needs the pitch track, which a host does not send")
    doc = client.post("transcribe", {"file": args.audio}, {"tracker": args.tracker})
    notes = played_notes(doc)
    if args.out:
        from tutor.safety import atomic_write_bytes
        from tutor.listen.transcription import performance_midi_bytes

        atomic_write_bytes(args.out, performance_midi_bytes(notes))
    if args.json:
        print_json(doc)
        return 0
    print(f"{Path(args.audio).name}: {len(notes)} notes ({doc['tracker']}, {doc['sample_rate']} Hz) on {client.url}")
    for note in notes:
        print(f"  {note.onset_s:8.3f}-{note.offset_s:8.3f} s  {_name(note.pitch):4s} ({note.pitch:3d}) "
              f"{note.cents:+5.1f} cents  confidence {note.confidence:.2f}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def played_notes(doc: dict) -> tuple:
    """The transcribed notes of a ``tutor transcribe --json`` document (velocity 80, as the transcriber's)."""
    from tutor.score.music import PlayedNote

    return tuple(PlayedNote(pitch=int(n["pitch"]), onset_s=float(n["onset"]), offset_s=float(n["offset"]), velocity=80,
                            cents=float(n["cents"]), confidence=float(n["confidence"])) for n in doc["notes"])


def _assess(args, client) -> int | None:
    from tutor.cli.commands._common import print_json
    from tutor.cli.commands.assess import parse_measures

    measures = parse_measures(args.measures)  # a bad range is the user's error before any upload
    fields = {"part": args.part, "measures": args.measures, "tempo": args.tempo, "level": args.level}
    score_file = upload_path(args.score)
    if score_file is None:
        return _here("the host takes uploaded files, not this corpus reference")
    doc = client.post("assess", {"file": args.performance, "score": score_file}, fields)
    if args.output:
        from tutor.practice.assessment import select
        from tutor.batch import annotated_from_json
        from tutor.safety import atomic_write_bytes
        from tutor.score.io import load_score

        score = select(load_score(args.score), part=args.part, measures=measures)
        atomic_write_bytes(args.output, annotated_from_json(score, "assess", doc))
    if args.json:
        print_json(doc)
        return 0
    print_assessment(doc)
    if args.output:
        print(f"wrote {args.output}")
    return 0


def print_assessment(doc: dict) -> None:
    """``tutor assess``'s text report from its JSON."""
    s = doc["summary"]
    intonation = "-" if s["intonation"] is None else f"{s['intonation']:.0f}"
    print(f"Overall {s['overall']:.0f}/100   pitch {s['pitch']:.0f}   rhythm {s['rhythm']:.0f}   intonation {intonation}")
    print(f"Notes right: {s['notes_correct']} of {s['notes_total']}")
    if s.get("played_bpm"):
        asked = f" (asked {s['asked_bpm']:g})" if s.get("asked_bpm") else ""
        print(f"Tempo: about {s['played_bpm']:.0f} bpm{asked}")
    if doc.get("practice_measures"):
        print("Practise measures: " + ", ".join(str(m) for m in doc["practice_measures"]))
    errors = [e for e in doc.get("events", []) if e["type"] != "correct"]
    if errors:
        print()
    for e in errors:
        where = f"m. {e['measure']} beat {e['beat']:g}" if e.get("measure") is not None and e.get("beat") is not None else "-"
        at = f"{e['time']:7.2f} s" if e.get("time") is not None else "      - "
        print(f"{at}  {where:<18} {e['type']:<12} {e['message']}")


def _critique(args, client) -> int | None:
    from tutor.cli.commands._common import print_json

    score_file = upload_path(args.file, index=args.index)
    if score_file is None:
        return _here("the host takes uploaded files, not this corpus reference")
    doc = client.post("critique", {"file": score_file}, {"index": args.index})
    output = Path(args.output) if args.output else None
    if output is not None:
        from tutor.batch import annotated_from_json
        from tutor.safety import atomic_write_bytes
        from tutor.score.io import _zip_musicxml, load_score

        data = annotated_from_json(load_score(args.file, index=args.index), "critique", doc)
        atomic_write_bytes(output, _zip_musicxml(data) if output.suffix.lower() == ".mxl" else data)
    if args.json:
        print_json(doc)
        return 0
    print_critique(Path(args.file).name, doc)
    if output is not None:
        print(f"wrote {output}")
    return 0


def print_critique(title: str, doc: dict) -> None:
    """``tutor critique``'s text report from its JSON."""
    print(f"{title}: {doc['key']}, {doc['meter']}, {doc['texture']} ({len(doc['voices'])} voices), "
          f"rules for {doc['writing_style']}")
    if len(doc["sections"]) > 1:
        print("Keys:      " + "; ".join(f"m. {s['first_measure']}-{s['last_measure']} {s['key']}" for s in doc["sections"]))
    if doc.get("style"):
        top = sorted(doc["style"]["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        print(f"Style:     {doc['style']['name']} (" + ", ".join(f"{k} {v:.0%}" for k, v in top) + ")")
    if doc.get("emotion"):
        e = doc["emotion"]
        print(f"Emotion:   {e['quadrant']} {e['label']} (valence {e['valence']:+.2f}, arousal {e['arousal']:+.2f})")
    from tutor.cli.commands.transcribe import _name

    for r in doc["ranges"]:
        low, high = (round(p) for p in r["tessitura"])
        print(f"Range:     {r['part']}: {_name(r['lowest'])}-{_name(r['highest'])}, tessitura {_name(low)}-{_name(high)}")
    cadences = [f"m. {p['last_measure']} {p['cadence']}" for p in doc["phrases"] if p.get("cadence")]
    if cadences:
        print("Cadences:  " + ", ".join(cadences))
    if doc["chords"]:
        print("Harmony:   " + " ".join(c["roman"] or "?" for c in doc["chords"][:24]) + (" ..." if len(doc["chords"]) > 24 else ""))
    counts = doc["counts"]
    print(f"Findings:  {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes")
    for f in doc["findings"]:
        print(f"  [{f['severity']}] m. {f['measure']} beat {f['beat']:g} {f['part']}: {f['rule']}: {f['message']}")
        print(f"      -> {f['suggestion']}")


def _suggest(args, client) -> int | None:
    from tutor.cli.commands._common import print_json
    from tutor.errors import AnalysisError

    if args.after is not None and args.continue_bars is None:
        raise AnalysisError("--after goes with --continue")
    fields = {"continue": args.continue_bars, "fix": args.fix, "fix_flagged": args.fix_flagged or None,
              "harmonize": getattr(args, "harmonize", False) or None, "k": args.k, "seed": args.seed,
              "temperature": args.temperature, "top_p": args.top_p, "after": args.after, "style": args.style,
              "free_rhythm": args.free_rhythm or None}
    score_file = upload_path(args.file, index=args.index)
    if score_file is None:
        return _here("the host takes uploaded files, not this corpus reference")
    doc = client.post("suggest", {"file": score_file}, {**fields, "index": args.index})
    if args.json:
        print_json(doc)
    else:
        print_suggestions(doc)
    if args.output:
        _write_suggested(args, doc)
    return 0


def print_suggestions(doc: dict) -> None:
    from tutor.cli.commands.suggest import _NAMES

    if not doc["suggestions"]:
        print("no suggestion passed the critique rules; try a larger -k, another --seed, or a wider range")
        return
    for number, s in enumerate(doc["suggestions"], start=1):
        first, last = s["measures"]
        span = f"m{first}" if first == last else f"m{first}-{last}"
        print(f"{number}. {s['kind']} {span} (log-likelihood {s['log_likelihood']:.1f})")
        by_part: dict[str, list[str]] = {}
        for n in s["notes"]:
            by_part.setdefault(n["part"], []).append(f"{_NAMES[n['pitch'] % 12]}{n['pitch'] // 12 - 1}/{n['duration']:g}")
        for part, names in sorted(by_part.items(), key=lambda item: (len(item[0]), item[0])):
            print(f"   {part}: " + " ".join(names))


def suggestion_from_json(score, doc: dict):
    """A ``tutor.compose.suggest.Suggestion`` rebuilt from its JSON against the piece it was made for (note ids
    and beats are made the way the generator makes them)."""
    from tutor.score.music import Note, sort_notes, time_notes
    from tutor.compose.suggest import Suggestion, _bar_ql, _beat

    first, last = doc["measures"]
    measures = list(score.measures)

    def bar_of(onset_ql: float) -> tuple[int, float, str]:
        for m in reversed(measures):
            if m.start_ql <= onset_ql + 1e-6:
                if onset_ql < m.end_ql - 1e-6:
                    return m.number, m.start_ql, m.time_signature
                break
        end = measures[-1]  # a continuation after the last bar: bars as long as its time signature
        length = _bar_ql(end.time_signature)
        k = int((onset_ql - end.end_ql + 1e-6) // length)
        return end.number + 1 + k, end.end_ql + k * length, end.time_signature

    notes, counters = [], {}
    for n in doc["notes"]:
        onset = float(n["position"])
        number, start, signature = bar_of(onset)
        count = counters.get((n["part"], number), 0)
        counters[(n["part"], number)] = count + 1
        notes.append(Note(id=f"{n['part']}-m{number}-n{count}", pitch=int(n["pitch"]), onset_ql=onset,
                          duration_ql=float(n["duration"]), onset_s=0.0, duration_s=0.0, part=n["part"],
                          measure=number, beat=round(_beat(signature, onset - start), 4), voice=1))
    return Suggestion(kind=doc["kind"], first_measure=int(first), last_measure=int(last),
                      notes=time_notes(sort_notes(notes), score.tempo_map), log_likelihood=float(doc["log_likelihood"]))


def _write_suggested(args, doc: dict) -> None:
    from tutor.errors import AnalysisError
    from tutor.score.io import load_score, save_score
    from tutor.compose.suggest import apply_suggestion

    if not doc["suggestions"]:
        raise AnalysisError("no suggestion to apply: none passed the rules; ask for more (-k) or another --seed")
    score = load_score(args.file, index=args.index)
    suggestions = [suggestion_from_json(score, s) for s in doc["suggestions"]]
    if getattr(args, "harmonize", False):
        from tutor.compose.harmonize import harmonized_score

        save_score(harmonized_score(score, suggestions[0]), args.output)
        if not args.json:
            print(f"wrote {args.output} with the best harmonisation")
        return
    applied, done = score, set()
    for suggestion in suggestions:
        if (suggestion.first_measure, suggestion.last_measure) not in done:
            applied = apply_suggestion(applied, suggestion)
            done.add((suggestion.first_measure, suggestion.last_measure))
    save_score(applied, args.output)
    if not args.json:
        print(f"wrote {args.output} with the best suggestion applied" + (f" in {len(done)} places" if len(done) > 1 else ""))
