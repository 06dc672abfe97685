"""``tutor critique FILE [--json] [-o ANNOTATED.musicxml]``: a composition teacher's feedback."""

from __future__ import annotations

from tutor.cli.commands._common import add_index_option, print_json


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "critique", help="critique a composition: key, form, theory rules, style and emotion")
    parser.add_argument("file", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-o", "--output", metavar="ANNOTATED.musicxml",
                        help="also write the score with the findings marked on the notes (.musicxml, .xml or .mxl)")
    from tutor.cli.remote import add_remote_option

    add_remote_option(parser)  # issue 10
    add_index_option(parser)
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.compose.critique import annotated_musicxml, critique
    from tutor.errors import UnsupportedFormatError
    from tutor.safety import atomic_write_bytes
    from tutor.score.io import load_score

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".musicxml", ".xml", ".mxl"):
        raise UnsupportedFormatError("the annotated score is MusicXML: use .musicxml, .xml or .mxl", path=output)
    from tutor.cli.remote import run_remote

    if (code := run_remote(args, "critique")) is not None:  # --remote / $TUTOR_REMOTE: the host's answer
        return code
    score = load_score(args.file, index=args.index)
    result = critique(score)
    if output is not None:
        from tutor.score.io import _zip_musicxml

        data = annotated_musicxml(score, result)
        if output.suffix.lower() == ".mxl":
            data = _zip_musicxml(data)
        atomic_write_bytes(output, data)
    if args.json:
        print_json(result.as_json())
        return 0
    _print_text(score, result, output)
    return 0


def _print_text(score, result, output) -> None:
    a = result.analysis
    print(f"{score.title}: {result.key}, {result.meter}, {a.texture} ({len(a.voices)} voices), rules for {result.writing_style}")
    if len(a.sections) > 1:
        print("Keys:      " + "; ".join(f"m. {s.first_measure}-{s.last_measure} {s.key.name}" for s in a.sections))
    if result.style:
        top = sorted(result.style.probabilities.items(), key=lambda kv: -kv[1])[:3]
        print(f"Style:     {result.style.name} (" + ", ".join(f"{k} {v:.0%}" for k, v in top) + ")")
    if result.emotion:
        e = result.emotion
        print(f"Emotion:   {e.quadrant} {e.label} (valence {e.valence:+.2f}, arousal {e.arousal:+.2f})")
    for r in a.ranges:
        print(f"Range:     {r.as_text(a.key)}")
    cadences = [f"m. {p.last_measure} {p.cadence.kind}" for p in a.phrases if p.cadence]
    if cadences:
        print("Cadences:  " + ", ".join(cadences))
    if a.chords:
        print("Harmony:   " + " ".join(c.roman or "?" for c in a.chords[:24]) + (" ..." if len(a.chords) > 24 else ""))
    counts = result.counts
    print(f"Findings:  {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes")
    for f in result.findings:
        print(f"  [{f.severity}] m. {f.measure} beat {f.beat:g} {f.part}: {f.rule}: {f.message}")
        print(f"      -> {f.suggestion}")
    if output is not None:
        print(f"wrote {output}")
