"""``tutor transcribe AUDIO [--tracker crepe|crepe-tiny|pesto|pyin] [--device auto|cpu|cuda] [--json]
[-o OUT.mid] [--f0 OUT.csv]``: the notes (with intonation) of a monophonic recording."""

from __future__ import annotations

TRACKER_CHOICES = ("crepe", "crepe-tiny", "pesto", "pyin")


def add_parser(subparsers):
    parser = subparsers.add_parser("transcribe", help="turn a monophonic recording into notes with intonation")
    parser.add_argument("audio", metavar="AUDIO", help="audio file (.wav .flac .ogg .mp3 ...; stereo is mixed to mono)")
    parser.add_argument("--tracker", choices=TRACKER_CHOICES, default=None,
                        help="pitch tracker (default: crepe on a GPU, pesto on a CPU, chosen by the benchmark)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where models run")
    parser.add_argument("--json", action="store_true", help="print the notes as JSON")
    parser.add_argument("-o", "--out", metavar="OUT.mid", default=None, help="write the notes as a MIDI file")
    parser.add_argument("--f0", metavar="OUT.csv", default=None, help="write the frame-wise pitch track as CSV")
    from tutor.cli.remote import add_remote_option

    add_remote_option(parser)  # issue 10
    return parser


def run(args) -> int:
    from pathlib import Path

    from tutor.cli.commands._common import print_json
    from tutor.errors import UnsupportedFormatError
    from tutor.safety import atomic_write_bytes, atomic_write_text
    from tutor.listen.transcription import f0_csv_text, performance_midi_bytes, transcribe_file, transcription_json

    if args.out and Path(args.out).suffix.lower() not in (".mid", ".midi"):
        raise UnsupportedFormatError("-o writes MIDI; give it a .mid file name", path=args.out)
    if args.f0 and Path(args.f0).suffix.lower() != ".csv":
        raise UnsupportedFormatError("--f0 writes CSV; give it a .csv file name", path=args.f0)
    from tutor.cli.remote import run_remote

    if (code := run_remote(args, "transcribe")) is not None:  # --remote / $TUTOR_REMOTE: the host's answer
        return code
    result = transcribe_file(args.audio, tracker=args.tracker, device=args.device)
    if args.out:
        atomic_write_bytes(args.out, performance_midi_bytes(result.notes))
    if args.f0:
        atomic_write_text(args.f0, f0_csv_text(result.f0))
    if args.json:
        print_json(transcription_json(result))
        return 0
    print(f"{Path(args.audio).name}: {len(result.notes)} notes ({result.tracker}, {result.sample_rate} Hz)")
    for note in result.notes:
        print(f"  {note.onset_s:8.3f}-{note.offset_s:8.3f} s  {_name(note.pitch):4s} ({note.pitch:3d}) "
              f"{note.cents:+5.1f} cents  confidence {note.confidence:.2f}")
    if args.out:
        print(f"wrote {args.out}")
    if args.f0:
        print(f"wrote {args.f0}")
    return 0


def _name(pitch: int) -> str:
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    return f"{names[pitch % 12]}{pitch // 12 - 1}"
