"""``tutor suggest FILE (--continue N | --fix M-N) [-k K] [--seed S] [--json] [-o OUT.musicxml]``:
continuations of a piece and corrections of flagged measures, from the phrase generator.

Also ``--fix-flagged`` (correct the places ``tutor critique``'s rules flag), ``--harmonize`` (lower voices
for the melody), ``--restyle STYLE`` (the melody kept, the rest rewritten in another style), ``--after M``, ``--temperature``, ``--top-p``, ``--style`` and ``--free-rhythm``."""

from __future__ import annotations

from tutor.api.requests import GENERATOR_STYLES as STYLE_CHOICES
from tutor.api.requests import HARMONY_ONLY_STYLES, RESTYLE_CHOICES
from tutor.cli.commands._common import (
    add_index_option,
    add_remote_option,
    host_answer,
    print_json,
    print_lines,
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "suggest", help="propose continuations of a piece or corrections of some measures (generator model)"
    )
    parser.add_argument("file", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--continue", dest="continue_bars", type=int, metavar="N",
                      help="propose N bars that continue the piece (after the last measure, or --after M)")
    what.add_argument("--fix", metavar="M-N", help="propose rewrites of measures M to N (e.g. 5-6, or 5)")
    what.add_argument("--fix-flagged", action="store_true",
                      help="propose rewrites of the measures the critique rules flag (errors first, up to 4 places)")
    what.add_argument("--harmonize", action="store_true",
                      help="propose lower voices for the melody (first part): alto, tenor, bass (--style chorale, "
                           "the default) or a piano part of chords and bass (--style piano; --style pop for pop "
                           "chords and broken-chord piano, --style jazz for seventh chords and a walking bass)")
    what.add_argument("--restyle", metavar="STYLE",
                      help="keep every melody note and rewrite harmony, accompaniment and rhythm in STYLE: "
                           + ", ".join(RESTYLE_CHOICES) + " (also ballad, jazz, rag, hymn)")
    parser.add_argument("-k", type=int, default=4, metavar="K", help="how many suggestions (default 4)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same suggestions)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default 1.0; 0.5 with --harmonize)")
    parser.add_argument("--top-p", type=float, default=0.95, dest="top_p", help="nucleus sampling mass (default 0.95)")
    parser.add_argument("--after", type=int, default=None, metavar="M",
                        help="with --continue: continue after measure M instead of the last one")
    parser.add_argument("--style", choices=STYLE_CHOICES + HARMONY_ONLY_STYLES, default=None,
                        help="style to write in (default: chorale for several parts, nottingham folk for a melody; "
                             "piano only with --harmonize)")
    parser.add_argument("--free-rhythm", action="store_true",
                        help="with --fix: do not prefer rewrites that keep the measures' rhythm")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-o", "--output", metavar="OUT", help="write the piece with the best suggestion applied")
    add_remote_option(parser)
    add_index_option(parser)
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.api import analyses
    from tutor.api.documents import suggest_result_from_json
    from tutor.api.reports import suggestion_lines
    from tutor.api.requests import SuggestRequest
    from tutor.errors import UnsupportedFormatError
    from tutor.remote.routing import upload_path
    from tutor.safety import check_not_an_input
    from tutor.score.io import WRITABLE_SCORE_EXTENSIONS, save_score

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in WRITABLE_SCORE_EXTENSIONS:
        raise UnsupportedFormatError("cannot write this format; write .musicxml, .xml, .mxl, .mid or .midi", path=output)
    if output is not None:
        check_not_an_input(output, args.file)
    request = SuggestRequest.from_options(
        continue_bars=args.continue_bars, fix=args.fix, fix_flagged=args.fix_flagged, harmonize=args.harmonize,
        restyle=args.restyle, k=args.k, seed=args.seed, temperature=args.temperature, top_p=args.top_p, after=args.after, style=args.style,
        free_rhythm=args.free_rhythm)
    doc = host_answer(args, "suggest", {"file": upload_path(args.file, index=args.index)},
                      {**request.fields(), "index": args.index})
    score = analyses.load(args.file, index=args.index) if doc is None or output is not None else None
    result = analyses.suggest(score, request) if doc is None else None
    if doc is None:
        doc = result.to_json()
    if args.json:
        print_json(doc)
    else:
        print_lines(suggestion_lines(doc))
    if output is not None:
        result = result or suggest_result_from_json(score, request, doc)
        save_score(analyses.with_suggestions(score, result), output)
        if not args.json:
            places = analyses.places_applied(result)
            print(f"wrote {output} with the best harmonisation" if request.kind == "harmonize" else
                  f"wrote {output}, restyled as {request.style}" if request.kind == "restyle" else
                  f"wrote {output} with the best suggestion applied" + (f" in {places} places" if places > 1 else ""))
    return 0
