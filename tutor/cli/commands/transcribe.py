"""``tutor transcribe AUDIO [--instrument piano|voice|...] [--tracker crepe|crepe-tiny|pesto|pyin]
[--device auto|cpu|cuda] [--json] [-o OUT.mid] [--f0 OUT.csv]``: the notes (with intonation) of a
monophonic recording, or every note (with velocity and the sustain pedal) of a piano take."""

from __future__ import annotations

from tutor.api.requests import INSTRUMENT_CHOICES, TRACKER_CHOICES
from tutor.cli.commands._common import add_remote_option, host_answer, print_json, print_lines


def add_parser(subparsers):
    parser = subparsers.add_parser("transcribe", help="turn a recording into notes: one line with intonation, or a piano take (--instrument piano)")
    parser.add_argument("audio", metavar="AUDIO", help="audio file (.wav .flac .ogg .mp3 ...; stereo is mixed to mono)")
    parser.add_argument("--instrument", choices=INSTRUMENT_CHOICES, default=None,
                        help="what the recording was played on: piano hears every note of a polyphonic take "
                             "(Transkun); anything else (the default) one line with intonation")
    parser.add_argument("--tracker", choices=TRACKER_CHOICES, default=None,
                        help="pitch tracker (default: crepe on a GPU, pesto on a CPU, chosen by the benchmark)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where models run")
    parser.add_argument("--json", action="store_true", help="print the notes as JSON")
    parser.add_argument("-o", "--out", metavar="OUT.mid", default=None, help="write the notes as a MIDI file")
    parser.add_argument("--f0", metavar="OUT.csv", default=None, help="write the frame-wise pitch track as CSV")
    add_remote_option(parser)
    return parser


def run(args) -> int:
    import sys
    from pathlib import Path

    from tutor.api import analyses
    from tutor.api.documents import played_notes
    from tutor.api.reports import transcription_lines
    from tutor.api.requests import TranscribeRequest
    from tutor.errors import UnsupportedFormatError
    from tutor.listen.transcription import f0_csv_text, performance_midi_bytes
    from tutor.remote.routing import remote_url
    from tutor.safety import atomic_write_bytes, atomic_write_text, check_not_an_input
    from tutor.score.io import MIDI_EXTENSIONS

    if args.out and Path(args.out).suffix.lower() not in MIDI_EXTENSIONS:
        raise UnsupportedFormatError("-o writes MIDI; give it a .mid file name", path=args.out)
    if args.f0 and Path(args.f0).suffix.lower() != ".csv":
        raise UnsupportedFormatError("--f0 writes CSV; give it a .csv file name", path=args.f0)
    for output in (args.out, args.f0):
        if output:
            check_not_an_input(output, args.audio)
    request = TranscribeRequest(Path(args.audio), tracker=args.tracker, device=args.device,
                                instrument=args.instrument)
    if args.f0 and request.piano:
        raise UnsupportedFormatError("--f0 writes a single line's pitch track; a piano take has none", path=args.f0)
    doc = None
    if args.f0 and remote_url(args.remote) is not None:
        print("tutor: --f0 needs the pitch track, which a host does not send; analysing on this machine",
              file=sys.stderr, flush=True)
    else:
        doc = host_answer(args, "transcribe", {"file": args.audio}, request.fields())
    result = None
    if doc is None:
        progress = _progress_display(args.audio)
        try:
            result = analyses.transcribe(request, progress=progress)
        finally:
            if progress is not None:
                progress.close()
        doc = analyses.transcription_json(result)
    if args.out and request.piano:
        from tutor.listen.piano import piano_midi_bytes, piano_performance

        atomic_write_bytes(args.out, piano_midi_bytes(result.performance if result else piano_performance(doc)))
    elif args.out:
        atomic_write_bytes(args.out, performance_midi_bytes(result.notes if result else played_notes(doc)))
    if args.f0:
        atomic_write_text(args.f0, f0_csv_text(result.f0))
    if args.json:
        print_json(doc)
        return 0
    print_lines(transcription_lines(doc, name=Path(args.audio).name))
    if args.out:
        print(f"wrote {args.out}")
    if args.f0:
        print(f"wrote {args.f0}")
    return 0


PROGRESS_MIN_S = 30.0  # shorter recordings transcribe in a few seconds: no progress display


class _Progress:
    """``transcribe_file``'s progress as one line on stderr, rewritten in place and cleared at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.width = 0

    def __call__(self, fraction: float | None, text: str) -> None:
        import sys

        percent = f"{100 * fraction:3.0f}% " if fraction is not None else ""
        line = f"transcribing {self.name}: {percent}({text})"
        print("\r" + line.ljust(self.width), end="", file=sys.stderr, flush=True)
        self.width = max(self.width, len(line))

    def close(self) -> None:
        import sys

        if self.width:
            print("\r" + " " * self.width + "\r", end="", file=sys.stderr, flush=True)


def _progress_display(audio) -> _Progress | None:
    """A progress display when stderr is a terminal and the recording is longer than PROGRESS_MIN_S."""
    import sys
    from pathlib import Path

    if not sys.stderr.isatty():
        return None
    try:
        import soundfile

        duration = soundfile.info(str(audio)).duration
    except Exception:  # noqa: BLE001 - not a libsndfile file (or unreadable): transcribe_file reports it, without progress
        return None
    return _Progress(Path(audio).name) if duration > PROGRESS_MIN_S else None
