"""``tutor assess --score SCORE PERFORMANCE``: what went right and wrong in a take, note by note."""

from __future__ import annotations

from tutor.cli.commands._common import print_json


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "assess", help="compare a take (MIDI or audio) with its score: wrong, missed, extra notes, timing, intonation"
    )
    parser.add_argument("--score", required=True, help="score: .mid .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("performance", help="the take: a MIDI file or an audio recording (.wav .flac .ogg .mp3 ...)")
    parser.add_argument("--part", default=None, metavar="NAME", help="assess only this part (name or id such as P1)")
    parser.add_argument("--measures", default=None, metavar="M-N", help="assess only measures M to N (printed numbers)")
    parser.add_argument("--tempo", type=float, default=None, metavar="BPM", help="the tempo the student was asked to play")
    parser.add_argument("--level", choices=("beginner", "advanced"), default="advanced", help="tolerances (default: advanced)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-o", "--output", default=None, metavar="ANNOTATED.musicxml",
                        help="write the score with coloured noteheads and text marks (MusicXML)")
    from tutor.cli.remote import add_remote_option

    add_remote_option(parser)  # issue 10
    return parser


def parse_measures(text: str | None) -> tuple[int, int] | None:
    from tutor.errors import AnalysisError

    if text is None:
        return None
    parts = text.replace("..", "-").split("-")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise AnalysisError(f"--measures {text!r}: write a range such as 5-12") from None
    if last < first:
        raise AnalysisError(f"--measures {text!r}: the last measure comes before the first")
    return first, last


def assess_take(score, performance_path, *, part=None, measures=None, bpm=None, level="advanced"):
    """The Assessment of the take in ``performance_path`` against ``score`` (what ``run`` prints;
    ``tutor serve`` and ``tutor batch`` call it too)."""
    from tutor.practice.assessment import assess
    from tutor.errors import AnalysisError
    from tutor.score.io import load_performance

    if bpm is not None and not bpm > 0:
        raise AnalysisError(f"--tempo {bpm:g}: the tempo must be a positive number of beats per minute")
    performance = load_performance(performance_path)
    if not performance.notes:
        raise AnalysisError("no notes were played (or none could be heard) in this take", path=performance_path)
    return assess(score, performance, part=part, measures=measures, bpm=bpm, level=level)


def assess_json(score, performance_path, **options) -> dict:
    """The ``tutor assess --json`` document."""
    return assess_take(score, performance_path, **options).to_json()


def run(args) -> int:
    from pathlib import Path

    from tutor.practice.assessment import annotated_musicxml
    from tutor.errors import OutputFileError
    from tutor.safety import atomic_write_bytes
    from tutor.score.io import load_score

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".musicxml", ".xml"):
        raise OutputFileError("the annotated score is MusicXML: name it .musicxml or .xml", path=output)
    from tutor.cli.remote import run_remote

    if (code := run_remote(args, "assess")) is not None:  # --remote / $TUTOR_REMOTE: the host's answer
        return code
    measures = parse_measures(args.measures)
    score = load_score(args.score)
    result = assess_take(score, args.performance, part=args.part, measures=measures, bpm=args.tempo, level=args.level)
    if output is not None:
        from tutor.practice.assessment import select

        atomic_write_bytes(output, annotated_musicxml(select(score, part=args.part, measures=measures), result))
    if args.json:
        print_json(result.to_json())
        return 0
    _print_report(result)
    if output is not None:
        print(f"wrote {output}")
    return 0


def _print_report(result) -> None:
    intonation = "-" if result.intonation is None else f"{result.intonation:.0f}"
    print(f"Overall {result.overall:.0f}/100   pitch {result.pitch:.0f}   rhythm {result.rhythm:.0f}   intonation {intonation}")
    print(f"Notes right: {result.notes_correct} of {result.notes_total}")
    if result.played_bpm:
        asked = f" (asked {result.asked_bpm:g})" if result.asked_bpm else ""
        print(f"Tempo: about {result.played_bpm:.0f} bpm{asked}")
    if result.practice_measures:
        print("Practise measures: " + ", ".join(str(m) for m in result.practice_measures))
    errors = [e for e in result.events if e.type != "correct"]
    if errors:
        print()
    for e in errors:
        where = f"m. {e.measure} beat {e.beat:g}" if e.measure is not None and e.beat is not None else "-"
        at = f"{e.time:7.2f} s" if e.time is not None else "      - "
        print(f"{at}  {where:<18} {e.type:<12} {e.message}")
