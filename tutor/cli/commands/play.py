"""``tutor play FILE [--count-in BARS] [--tempo BPM] [--instrument N] [--metronome] [--device N]``."""

from __future__ import annotations

from tutor.cli.commands._common import add_index_option


def add_parser(subparsers):
    parser = subparsers.add_parser("play", help="play a score (or an audio file) on the speakers")
    parser.add_argument("file", help="score (.mid .musicxml .mxl .abc .krn, corpus:<path>) or audio (.wav .flac)")
    parser.add_argument("--count-in", type=int, default=0, metavar="BARS", help="bars of metronome count-in")
    parser.add_argument("--tempo", type=float, default=None, metavar="BPM", help="opening tempo (quarter notes/min)")
    parser.add_argument("--instrument", type=int, default=None, metavar="N", help="General MIDI program 0-127")
    parser.add_argument("--metronome", action="store_true", help="click every beat")
    parser.add_argument("--no-repeats", action="store_true",
                        help="play each passage once: no repeats, D.C. or D.S. (the last ending is taken)")
    parser.add_argument("--as-played", action="store_true",
                        help="MIDI files: keep the file's own timing, programs and drums (no quantising)")
    parser.add_argument("--device", default=None, metavar="N", help="audio output number or name (see tutor devices)")
    parser.add_argument("--soundfont", default=None, metavar="SF2", help="a .sf2 soundfont (default: the system's)")
    add_index_option(parser)
    return parser


def run(args) -> int:
    import sys
    from pathlib import Path

    from tutor.audio.playback import Player, plan_midi_file, play_audio_file
    from tutor.cli.commands.render import check_options
    from tutor.errors import TutorError
    from tutor.score.io import AUDIO_EXTENSIONS, MIDI_EXTENSIONS, load_score

    check_options(args)
    if Path(args.file).suffix.lower() in AUDIO_EXTENSIONS:
        play_audio_file(args.file, device=args.device)
        return 0
    if args.as_played:
        if Path(args.file).suffix.lower() not in MIDI_EXTENSIONS:
            raise TutorError("--as-played is for MIDI files (it keeps their own timing)")
        if args.tempo is not None or args.count_in or args.metronome:
            raise TutorError("--as-played keeps the file's timing: it cannot be used with --tempo, --count-in "
                             "or --metronome")
        what, title = plan_midi_file(args.file, program=args.instrument), args.file
    else:
        what = load_score(args.file, index=args.index)
        title = what.title or args.file
    player = Player(device=args.device, soundfont=args.soundfont)
    plan = player.play(what, count_in_bars=args.count_in, bpm=args.tempo, metronome=args.metronome,
                       program=args.instrument, repeats=not args.no_repeats)
    print(f"playing {title} ({plan.duration_s:.1f} s, {player.engine.name}); Ctrl-C stops", file=sys.stderr)
    try:
        while not player.wait(0.2):
            pass
    finally:
        player.stop()
    return 0
