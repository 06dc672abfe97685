"""``tutor record --out FILE [--seconds S] [--device N | --from-file WAV]`` and
``tutor record --midi PORT --out take.mid``.

Audio takes are written while they are recorded (crash-safe, see ``tutor.audio.recording``); before it
starts, the command repairs any take in the output folder that a crash left behind.
Ctrl-C (or SIGTERM) ends the take cleanly.
"""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser("record", help="record a take from a microphone, a file or a MIDI keyboard")
    parser.add_argument("--out", required=True, metavar="FILE", help="audio: .wav or .flac; MIDI: .mid")
    parser.add_argument("--seconds", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C, or the end of --from-file)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--device", default=None, metavar="N", help="audio input number or name (see tutor devices)")
    source.add_argument("--from-file", default=None, metavar="WAV",
                        help="record an audio file played at real-time pace instead of a microphone")
    source.add_argument("--midi", default=None, metavar="PORT", help="record a MIDI keyboard (port number or name)")
    parser.add_argument("--piece", default=None, help="what is being played (stored in the sidecar)")
    parser.add_argument("--tempo", type=float, default=None, metavar="BPM", help="tempo (stored in the sidecar)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return parser


def _stop_on_sigterm() -> None:
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args) -> int:
    from tutor.errors import TutorError

    if args.seconds is not None and not args.seconds > 0:
        raise TutorError(f"--seconds must be positive, not {args.seconds:g}")
    _stop_on_sigterm()
    if args.midi is not None:
        return _record_midi(args)
    return _record_audio(args)


def _record_audio(args) -> int:
    import sys
    import time
    from pathlib import Path

    from tutor.audio.devices import open_source
    from tutor.audio.recording import RECORDING_EXTENSIONS, Recorder, repair_recordings, sidecar_path
    from tutor.errors import OutputFileError
    from tutor.safety import check_not_an_input

    out = Path(args.out)
    if out.suffix.lower() not in RECORDING_EXTENSIONS:
        raise OutputFileError("records to .wav or .flac (or .mid with --midi)", path=out)
    check_not_an_input(out, args.from_file)
    check_not_an_input(sidecar_path(out), args.from_file)
    folder = out.parent if str(out.parent) else Path(".")
    if folder.is_dir():
        for repaired in repair_recordings(folder):
            if repaired.repaired:
                print(f"repaired {repaired.path} after a crash: {repaired.message}", file=sys.stderr)
    source = open_source(device=args.device, from_file=args.from_file)
    recorder = Recorder(source, out, piece=args.piece, tempo_bpm=args.tempo, max_seconds=args.seconds,
                        overwrite=args.force)
    recorder.start()
    print(f"recording {source.describe()} to {out}; Ctrl-C stops", file=sys.stderr, flush=True)
    meter = sys.stderr.isatty()
    interrupted = False
    try:
        while not recorder.wait(0.1):
            if meter:
                level = recorder.level()
                bar = "#" * max(0, int((level.peak_dbfs + 60) / 2))
                print(f"\r{recorder.duration_s:6.1f} s  {level.rms_dbfs:6.1f} dBFS  {bar:<30}", end="",
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
    result = recorder.stop()
    if meter:
        print(file=sys.stderr)
    time.sleep(0)
    print(f"recorded {result.duration_s:.2f} s to {result.path} ({result.sample_rate} Hz, {result.channels} ch, "
          f"{result.overflows} overflows{', stopped early' if interrupted else ''}); sidecar {sidecar_path(out)}")
    if recorder.error is not None:
        raise recorder.error
    return 0


def _record_midi(args) -> int:
    import sys
    import time
    from pathlib import Path

    from tutor.audio.midi_input import PortMidiSource
    from tutor.errors import OutputFileError
    from tutor.score.io import MIDI_EXTENSIONS

    out = Path(args.out)
    if out.suffix.lower() not in MIDI_EXTENSIONS:
        raise OutputFileError("a MIDI take is written as .mid", path=out)
    if out.exists() and not args.force:
        raise OutputFileError("already exists; choose another name (or --force)", path=out)
    source = PortMidiSource(args.midi)
    source.start()
    print(f"recording MIDI from {source.name} to {out}; Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        while args.seconds is None or source.elapsed_s < args.seconds:
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    take = source.stop()
    source.save(out)
    print(f"recorded {len(take.notes)} notes ({source.elapsed_s:.1f} s) to {out}")
    return 0
