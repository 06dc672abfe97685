"""``tutor convert IN OUT``: between MIDI, MusicXML, ABC and Humdrum (written: MIDI, MusicXML)."""

from __future__ import annotations

from tutor.cli.commands._common import add_index_option


def add_parser(subparsers):
    parser = subparsers.add_parser("convert", help="convert a score between formats (writes .mid, .musicxml, .mxl)")
    parser.add_argument("input", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("output", help="output file: .mid .midi .musicxml .xml .mxl")
    add_index_option(parser)
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.errors import UnsupportedFormatError
    from tutor.safety import check_not_an_input, display_name
    from tutor.score.io import WRITABLE_SCORE_EXTENSIONS, load_score, save_score

    output = Path(args.output)
    if output.suffix.lower() not in WRITABLE_SCORE_EXTENSIONS:
        raise UnsupportedFormatError("cannot write this format; write .mid, .midi, .musicxml, .xml or .mxl", path=output)
    check_not_an_input(output, args.input)
    score = load_score(args.input, index=args.index)
    save_score(score, output)
    print(f"wrote {display_name(output)} ({len(score.notes)} notes, {len(score.measures)} measures)")
    return 0
