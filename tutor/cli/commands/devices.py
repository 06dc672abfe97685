"""``tutor devices [--json]``: audio inputs and outputs, MIDI ports."""

from __future__ import annotations

from tutor.cli.commands._common import print_json


def add_parser(subparsers):
    parser = subparsers.add_parser("devices", help="list audio inputs/outputs and MIDI ports")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def device_report() -> dict:
    from tutor.audio.devices import list_audio_devices
    from tutor.audio.midi_input import list_midi_inputs, list_midi_outputs, midi_system_problem
    from tutor.errors import DeviceError

    problems = []
    try:
        audio = list_audio_devices()
    except DeviceError as error:
        audio = []
        problems.append(str(error))

    def entry(device, channels: int, default: bool) -> dict:
        return {"index": device.index, "name": device.name, "hostapi": device.hostapi, "channels": channels,
                "default_samplerate": device.default_samplerate, "default": default}

    midi_problem = midi_system_problem()
    if midi_problem:
        problems.append(midi_problem)
    return {
        "audio_inputs": [entry(d, d.max_input_channels, d.is_default_input) for d in audio if d.max_input_channels > 0],
        "audio_outputs": [entry(d, d.max_output_channels, d.is_default_output)
                          for d in audio if d.max_output_channels > 0],
        "midi_inputs": [{"index": i, "name": name} for i, name in enumerate(list_midi_inputs())],
        "midi_outputs": [{"index": i, "name": name} for i, name in enumerate(list_midi_outputs())],
        "problems": problems,
    }


def run(args) -> int:
    report = device_report()
    if args.json:
        print_json(report)
        return 0
    sections = (("Audio inputs", "audio_inputs"), ("Audio outputs", "audio_outputs"),
                ("MIDI inputs", "midi_inputs"), ("MIDI outputs", "midi_outputs"))
    for title, key in sections:
        print(f"{title}:")
        if not report[key]:
            print("  none found")
        for item in report[key]:
            if key.startswith("audio"):
                mark = " (default)" if item["default"] else ""
                print(f"  {item['index']:>3}  {item['name']} [{item['hostapi']}, {item['channels']} ch, "
                      f"{item['default_samplerate']:g} Hz]{mark}")
            else:
                print(f"  {item['index']:>3}  {item['name']}")
    for problem in report["problems"]:
        print(f"Note: {problem}")
    return 0
