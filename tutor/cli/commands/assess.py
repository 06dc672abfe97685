"""``tutor assess --score SCORE PERFORMANCE``: what went right and wrong in a take, note by note."""

from __future__ import annotations

from tutor.api.requests import INSTRUMENT_CHOICES
from tutor.cli.commands._common import add_remote_option, host_answer, print_json, print_lines


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
    parser.add_argument("--no-repeats", action="store_true",
                        help="the student was asked to play each passage once (no repeats, D.C. or D.S.)")
    parser.add_argument("--instrument", choices=INSTRUMENT_CHOICES, default=None,
                        help="what an audio take was played on (default: piano when the assessed part is a "
                             "keyboard part, else a single line)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-o", "--output", default=None, metavar="ANNOTATED.musicxml",
                        help="write the score with coloured noteheads and text marks (MusicXML)")
    add_remote_option(parser)
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.api import analyses
    from tutor.api.documents import annotated_musicxml
    from tutor.api.reports import assessment_lines
    from tutor.api.requests import AssessRequest, parse_measures
    from tutor.errors import OutputFileError
    from tutor.remote.routing import upload_path
    from tutor.safety import atomic_write_bytes, check_not_an_input

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".musicxml", ".xml"):
        raise OutputFileError("the annotated score is MusicXML: name it .musicxml or .xml", path=output)
    if output is not None:
        check_not_an_input(output, args.score, args.performance)
    request = AssessRequest(Path(args.performance), part=args.part, measures=parse_measures(args.measures),
                            tempo_bpm=args.tempo, level=args.level, repeats=not args.no_repeats,
                            instrument=args.instrument)
    # --no-repeats goes to the host as its form's repeats=false
    doc = host_answer(args, "assess", {"file": args.performance, "score": upload_path(args.score)}, request.fields())
    score = analyses.load(args.score) if doc is None or output is not None else None
    if doc is None:
        doc = analyses.assess(score, request).to_json()
    if output is not None:
        atomic_write_bytes(output, annotated_musicxml(analyses.assessed_score(score, request), "assess", doc))
    if args.json:
        print_json(doc)
        return 0
    print_lines(assessment_lines(doc))
    if output is not None:
        print(f"wrote {output}")
    return 0
