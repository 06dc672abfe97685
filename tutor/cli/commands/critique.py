"""``tutor critique FILE [--json] [-o ANNOTATED.musicxml]``: a composition teacher's feedback."""

from __future__ import annotations

from tutor.cli.commands._common import (
    add_index_option,
    add_remote_option,
    host_answer,
    print_json,
    print_lines,
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "critique", help="critique a composition: key, form, theory rules, style and emotion")
    parser.add_argument("file", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-o", "--output", metavar="ANNOTATED.musicxml",
                        help="also write the score with the findings marked on the notes (.musicxml, .xml or .mxl)")
    add_remote_option(parser)
    add_index_option(parser)
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.api import analyses
    from tutor.api.documents import annotated_musicxml
    from tutor.api.reports import critique_lines
    from tutor.errors import UnsupportedFormatError
    from tutor.remote.routing import upload_path
    from tutor.safety import atomic_write_bytes, check_not_an_input
    from tutor.score.io import MUSICXML_EXTENSIONS

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in MUSICXML_EXTENSIONS:
        raise UnsupportedFormatError("the annotated score is MusicXML: use .musicxml, .xml or .mxl", path=output)
    if output is not None:
        check_not_an_input(output, args.file)
    doc = host_answer(args, "critique", {"file": upload_path(args.file, index=args.index)}, {"index": args.index})
    score = analyses.load(args.file, index=args.index) if doc is None or output is not None else None
    if doc is None:
        doc = analyses.critique(score).as_json()
    if output is not None:
        from tutor.score.io import _zip_musicxml

        data = annotated_musicxml(score, "critique", doc)
        atomic_write_bytes(output, _zip_musicxml(data) if output.suffix.lower() == ".mxl" else data)
    if args.json:
        print_json(doc)
        return 0
    print_lines(critique_lines(doc))
    if output is not None:
        print(f"wrote {output}")
    return 0
