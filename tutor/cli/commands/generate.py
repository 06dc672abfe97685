"""``tutor generate --style S --mood Q --key K --meter M --bars N [--seed S] [-o OUT] [--json]``: a new
piece from a brief, written by the phrase generator, ranked by the critique rules and by how the style
and emotion models hear it."""

from __future__ import annotations

from tutor.cli.commands._common import print_json


def add_parser(subparsers):
    parser = subparsers.add_parser("generate", help="write a new piece from a brief (style, mood, key, metre, bars)")
    parser.add_argument("--style", required=True,
                        help="song (folk song), fiddle (dance tune), dance (Nottingham tune), chorale (four parts), "
                             "or a melody arranged as pop (ballad piano), waltz, march, ragtime, swing or tango")
    parser.add_argument("--mood", required=True, help="Q1 happy, Q2 tense, Q3 sad or Q4 calm (the words work too)")
    parser.add_argument("--key", required=True, help="key, e.g. 'D major', 'F# minor', 'Bb'")
    parser.add_argument("--meter", required=True, help="time signature, e.g. 4/4, 3/4, 6/8")
    parser.add_argument("--bars", type=int, required=True, metavar="N", help="length in bars (melodies up to 16, chorales up to 8)")
    parser.add_argument("--range", dest="pitch_range", default=None, metavar="LOW-HIGH",
                        help="keep a melody within this range, e.g. C4-D5 for a beginner singer")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same piece)")
    parser.add_argument("--json", action="store_true", help="print JSON (brief, tempo, model labels, rule findings)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write the piece (.mid, .midi, .musicxml, .xml or .mxl)")
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.api import analyses
    from tutor.api.requests import GenerateRequest
    from tutor.errors import UnsupportedFormatError
    from tutor.score.io import WRITABLE_SCORE_EXTENSIONS

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in WRITABLE_SCORE_EXTENSIONS:
        raise UnsupportedFormatError("write .mid, .midi, .musicxml, .xml or .mxl", path=output)
    brief, result = analyses.generate(GenerateRequest(style=args.style, mood=args.mood, key=args.key, meter=args.meter,
                                                      bars=args.bars, seed=args.seed, pitch_range=args.pitch_range))
    if output is not None:
        from tutor.score.io import save_score

        save_score(result.score, output)
    if args.json:
        data = result.as_json()
        data["output"] = str(output) if output is not None else None
        print_json(data)
        return 0
    print(f"{result.score.title}: {brief.bars} bars at {result.tempo_bpm:g} bpm "
          f"(best of {result.candidates} candidates)")
    print(f"Style model: {result.style} ({'as asked' if result.style_agrees else 'not as asked'}); "
          f"emotion model: {result.mood} ({'as asked' if result.mood_agrees else 'not as asked'})")
    if brief.low is not None:
        print(f"Range: {result.outside_range} notes outside the range asked for")
    print(f"Rules: {result.errors} errors, {result.warnings} warnings")
    for f in result.findings:
        print(f"  [{f.severity}] m. {f.measure}: {f.rule}: {f.message}")
    if output is not None:
        print(f"wrote {output}")
    return 0
