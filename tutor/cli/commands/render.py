"""``tutor render SCORE --out FILE.wav [--instrument N] [--tempo BPM] [--count-in BARS]``."""

from __future__ import annotations

from tutor.cli.commands._common import add_index_option


def add_parser(subparsers):
    parser = subparsers.add_parser("render", help="render a score to audio (.wav/.flac) with a GM soundfont")
    parser.add_argument("score", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("--out", required=True, metavar="FILE", help="output .wav or .flac")
    parser.add_argument("--instrument", type=int, default=None, metavar="N",
                        help="General MIDI program 0-127 for every part (default: each part's own; 0 = piano)")
    parser.add_argument("--tempo", type=float, default=None, metavar="BPM",
                        help="opening tempo in quarter notes per minute (later changes keep their ratio)")
    parser.add_argument("--count-in", type=int, default=0, metavar="BARS", help="bars of metronome count-in")
    parser.add_argument("--metronome", action="store_true", help="click every beat of the piece too")
    parser.add_argument("--no-repeats", action="store_true",
                        help="play each passage once: no repeats, D.C. or D.S. (the last ending is taken)")
    parser.add_argument("--as-played", action="store_true",
                        help="MIDI input only: keep the file's own timing, programs and drums (no quantising)")
    parser.add_argument("--soundfont", default=None, metavar="SF2", help="a .sf2 soundfont (default: the system's GM one)")
    parser.add_argument("--synth", choices=("auto", "fluidsynth", "additive"), default="auto",
                        help="sound engine (auto: FluidSynth when a soundfont is found)")
    parser.add_argument("--sample-rate", type=int, default=44100, metavar="HZ")
    add_index_option(parser)
    return parser


def check_options(args) -> None:
    from tutor.errors import TutorError

    if args.instrument is not None and not 0 <= args.instrument <= 127:
        raise TutorError(f"--instrument must be a General MIDI program 0-127, not {args.instrument}")
    if getattr(args, "tempo", None) is not None and not 1 <= args.tempo <= 1000:
        raise TutorError(f"--tempo must be between 1 and 1000 bpm, not {args.tempo:g}")
    if getattr(args, "count_in", 0) < 0 or getattr(args, "count_in", 0) > 16:
        raise TutorError(f"--count-in must be 0-16 bars, not {args.count_in}")


def run(args) -> int:
    from pathlib import Path

    from tutor.audio.playback import RENDER_EXTENSIONS, render_midi_to_wav, render_score_to_wav
    from tutor.errors import TutorError, UnsupportedFormatError
    from tutor.safety import check_not_an_input
    from tutor.score.io import MIDI_EXTENSIONS, load_score

    check_options(args)
    if not 8000 <= args.sample_rate <= 192000:
        raise TutorError(f"--sample-rate must be 8000-192000 Hz, not {args.sample_rate}")
    out = Path(args.out)
    if out.suffix.lower() not in RENDER_EXTENSIONS:
        raise UnsupportedFormatError("cannot render to this format; use .wav or .flac", path=out)
    check_not_an_input(out, args.score)
    if args.as_played:
        if Path(args.score).suffix.lower() not in MIDI_EXTENSIONS:
            raise TutorError("--as-played is for MIDI files (it keeps their own timing)")
        if args.tempo is not None or args.count_in or args.metronome:
            raise TutorError("--as-played keeps the file's timing: it cannot be used with --tempo, --count-in "
                             "or --metronome")
        result = render_midi_to_wav(args.score, out, program=args.instrument, soundfont=args.soundfont,
                                    sample_rate=args.sample_rate, engine=args.synth)
    else:
        score = load_score(args.score, index=args.index)
        result = render_score_to_wav(score, out, program=args.instrument, bpm=args.tempo, soundfont=args.soundfont,
                                     sample_rate=args.sample_rate, count_in_bars=args.count_in,
                                     repeats=not args.no_repeats,
                                     metronome=args.metronome, engine=args.synth)
    starts = f"; the music starts at {result.offset_s:.2f} s" if result.offset_s else ""
    print(f"wrote {result.path} ({result.duration_s:.1f} s, {result.sample_rate} Hz, {result.notes} notes, "
          f"{result.engine}{starts})")
    return 0
