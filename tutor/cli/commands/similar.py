"""``tutor similar FILE [-n 10] [--json]``: the nearest pieces of the music21 corpus, the lesson library
and the shared corpora, with why (style, mode and metre, pace, difficulty)."""

from __future__ import annotations

from tutor.cli.commands._common import add_index_option, print_json


def add_parser(subparsers):
    parser = subparsers.add_parser("similar", help="find pieces like this one (corpus, lessons, shared corpora)")
    parser.add_argument("file", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("-n", type=int, default=10, metavar="N", help="how many pieces (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_index_option(parser)
    return parser


def run(args) -> int:
    from tutor.api import analyses
    from tutor.errors import InputFileError

    if args.n < 1:
        raise InputFileError("-n must be at least 1")
    score = analyses.load(args.file, index=args.index)
    results = analyses.similar(score, n=args.n)
    if args.json:
        print_json({"results": [r.as_json() for r in results]})
        return 0
    print(f"Pieces like {score.title}:")
    for i, r in enumerate(results, 1):
        print(f"{i:3d}. {r.similarity:.3f}  {r.title}  [{r.source}]")
        print(f"       {r.why}")
    return 0
