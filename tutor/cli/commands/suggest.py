"""``tutor suggest FILE (--continue N | --fix M-N) [-k K] [--seed S] [--json] [-o OUT.musicxml]``:
continuations of a piece and corrections of flagged measures, from the phrase generator.

Also ``--fix-flagged`` (correct the places ``tutor critique``'s rules flag), ``--after M``,
``--temperature``, ``--top-p``, ``--style`` and ``--free-rhythm``. Issue 11 adds ``--harmonize`` to
the same mutually exclusive group."""

from __future__ import annotations

import re

from tutor.cli.commands._common import add_index_option, print_json

STYLE_CHOICES = ("nottingham", "essen", "oneills", "ryans", "chorale")  # = tutor.models.generator.STYLES


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "suggest", help="propose continuations of a piece or corrections of some measures (generator model)"
    )
    parser.add_argument("file", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    what = parser.add_mutually_exclusive_group(required=True)  # issue 11 adds --harmonize here
    what.add_argument("--continue", dest="continue_bars", type=int, metavar="N",
                      help="propose N bars that continue the piece (after the last measure, or --after M)")
    what.add_argument("--fix", metavar="M-N", help="propose rewrites of measures M to N (e.g. 5-6, or 5)")
    what.add_argument("--fix-flagged", action="store_true",
                      help="propose rewrites of the measures the critique rules flag (errors first, up to 4 places)")
    what.add_argument("--harmonize", action="store_true",
                      help="propose lower voices for the melody (first part): alto, tenor, bass (--style chorale, "
                           "the default) or a piano part of chords and bass (--style piano)")
    parser.add_argument("-k", type=int, default=4, metavar="K", help="how many suggestions (default 4)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same suggestions)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default 1.0; 0.5 with --harmonize)")
    parser.add_argument("--top-p", type=float, default=0.95, dest="top_p", help="nucleus sampling mass (default 0.95)")
    parser.add_argument("--after", type=int, default=None, metavar="M",
                        help="with --continue: continue after measure M instead of the last one")
    parser.add_argument("--style", choices=STYLE_CHOICES + ("piano",), default=None,
                        help="style to write in (default: chorale for several parts, nottingham folk for a melody; "
                             "piano only with --harmonize)")
    parser.add_argument("--free-rhythm", action="store_true",
                        help="with --fix: do not prefer rewrites that keep the measures' rhythm")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-o", "--output", metavar="OUT", help="write the piece with the best suggestion applied")
    from tutor.cli.remote import add_remote_option

    add_remote_option(parser)  # issue 10
    add_index_option(parser)
    return parser


def parse_range(text: str) -> tuple[int, int]:
    from tutor.errors import AnalysisError

    match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*", text or "")
    if not match:
        raise AnalysisError(f"--fix wants a measure range like 5-6 or 5, not {text!r}")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise AnalysisError(f"--fix {text}: the first measure comes after the last")
    return first, last


def make_suggestions(score, args) -> list:
    """The suggestions ``args`` (this command's options, or any object with the same attributes) ask for
    (``tutor serve`` calls it too)."""
    from tutor.compose.suggest import continue_piece, correct_measures, flagged_ranges

    if getattr(args, "harmonize", False):
        from tutor.compose.harmonize import harmonize

        return harmonize(score, style=args.style or "chorale", k=args.k, seed=args.seed, top_p=args.top_p,
                         **({} if args.temperature is None else {"temperature": args.temperature}))
    if args.style == "piano":
        from tutor.errors import AnalysisError

        raise AnalysisError("--style piano goes with --harmonize")
    temperature = 1.0 if args.temperature is None else args.temperature
    options = dict(k=args.k, seed=args.seed, temperature=temperature, top_p=args.top_p, style=args.style)
    if args.continue_bars is not None:
        return continue_piece(score, bars=args.continue_bars, after_measure=args.after, **options)
    if args.fix_flagged:
        suggestions = []
        for first, last in flagged_ranges(score):
            suggestions += correct_measures(score, first=first, last=last, keep_rhythm=not args.free_rhythm, **options)
        return suggestions
    first, last = parse_range(args.fix)
    return correct_measures(score, first=first, last=last, keep_rhythm=not args.free_rhythm, **options)


def suggest_json(suggestions) -> dict:
    """The ``tutor suggest --json`` document."""
    return {"suggestions": [s.to_json() for s in suggestions]}


def run(args) -> int:
    from pathlib import Path

    from tutor.errors import AnalysisError, UnsupportedFormatError
    from tutor.score.io import load_score, save_score
    from tutor.compose.suggest import apply_suggestion

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".mid", ".midi", ".musicxml", ".xml", ".mxl"):
        raise UnsupportedFormatError("cannot write this format; write .musicxml, .xml, .mxl, .mid or .midi", path=output)
    from tutor.cli.remote import run_remote

    if (code := run_remote(args, "suggest")) is not None:  # --remote / $TUTOR_REMOTE: the host's answer
        return code
    if args.after is not None and args.continue_bars is None:
        raise AnalysisError("--after goes with --continue")
    score = load_score(args.file, index=args.index)
    suggestions = make_suggestions(score, args)
    if args.json:
        print_json(suggest_json(suggestions))
    else:
        _print_text(suggestions)
    if output is not None:
        if not suggestions:
            raise AnalysisError("no suggestion to apply: none passed the rules; ask for more (-k) or another --seed")
        if getattr(args, "harmonize", False):
            from tutor.compose.harmonize import harmonized_score

            save_score(harmonized_score(score, suggestions[0]), output)
            if not args.json:
                print(f"wrote {output} with the best harmonisation")
            return 0
        applied, done = score, set()
        for suggestion in suggestions:  # the best suggestion of each place (one place unless --fix-flagged)
            if (suggestion.first_measure, suggestion.last_measure) not in done:
                applied = apply_suggestion(applied, suggestion)
                done.add((suggestion.first_measure, suggestion.last_measure))
        save_score(applied, output)
        if not args.json:
            print(f"wrote {output} with the best suggestion applied" + (f" in {len(done)} places" if len(done) > 1 else ""))
    return 0


_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _print_text(suggestions) -> None:
    if not suggestions:
        print("no suggestion passed the critique rules; try a larger -k, another --seed, or a wider range"
              " (a problem that starts before the passage can only be fixed together with it)")
        return
    for number, s in enumerate(suggestions, start=1):
        span = f"m{s.first_measure}" if s.first_measure == s.last_measure else f"m{s.first_measure}-{s.last_measure}"
        rhythm = ", same rhythm" if s.keeps_rhythm else ""
        print(f"{number}. {s.kind} {span} (log-likelihood {s.log_likelihood:.1f}{rhythm})")
        by_part: dict[str, list[str]] = {}
        for note in s.notes:
            by_part.setdefault(note.part, []).append(f"{_NAMES[note.pitch % 12]}{note.pitch // 12 - 1}/{note.duration_ql:g}")
        for part, names in sorted(by_part.items(), key=lambda item: (len(item[0]), item[0])):
            print(f"   {part}: " + " ".join(names))
