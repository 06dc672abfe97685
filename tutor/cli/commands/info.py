"""``tutor info FILE [--json]``: what a score contains."""

from __future__ import annotations

from tutor.cli.commands._common import add_index_option, print_json


def add_parser(subparsers):
    parser = subparsers.add_parser("info", help="show title, parts, measures, key, meter, tempo and length of a score")
    parser.add_argument("file", help="score: .mid .midi .musicxml .xml .mxl .abc .krn, or corpus:<path>")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_index_option(parser)
    return parser


def score_info(score) -> dict:
    from tutor.score.form import unfold

    played = unfold(score)  # issue 21: the piece as played (repeats, endings, D.C./D.S.)
    return {
        "title": score.title,
        "composer": score.composer,
        "parts": [
            {"id": p.id, "name": p.name, "program": p.program, "notes": len(score.notes_of(p.id))} for p in score.parts
        ],
        "measures": len(score.measures),
        "first_measure": score.measures[0].number if score.measures else None,
        "last_measure": score.measures[-1].number if score.measures else None,
        "key": score.key,  # the key signature's major key, as written
        "key_heard": _key_heard(score),  # issue 24: the key the notes are in ("d minor" under one flat)
        "time_signature": score.time_signature,
        "tempo_bpm": round(score.tempo_map.initial_bpm, 3),
        "tempo_changes": len(score.tempo_map.changes) - 1,
        "notes": len(score.notes),
        "duration_ql": round(score.duration_ql, 4),
        "duration_s": round(score.duration_s, 3),
        "played_measures": len(played.visits),
        "passes": played.passes,
        "played_duration_ql": round(played.score.duration_ql, 4),
        "played_duration_s": round(played.score.duration_s, 3),
    }


def _key_heard(score) -> str | None:
    from tutor.score.analysis import estimate_key

    return estimate_key(score).name if score.notes else None


def run(args) -> int:
    from tutor.score.io import load_score

    score = load_score(args.file, index=args.index)
    info = score_info(score)
    if args.json:
        print_json(info)
        return 0
    print(f"Title:     {info['title']}" + (f" ({info['composer']})" if info["composer"] else ""))
    print("Parts:     " + ", ".join(f"{p['name']} [{p['id']}, {p['notes']} notes]" for p in info["parts"]))
    print(f"Measures:  {info['measures']} ({info['first_measure']}-{info['last_measure']})")
    key = info["key_heard"] or info["key"] or "unknown"
    if info["key"] and info["key_heard"] and info["key"].lower() != info["key_heard"].lower():
        key += f" (key signature of {info['key']})"  # a D-minor fugue is not "F major" (issue 24)
    print(f"Key:       {key}")
    print(f"Meter:     {info['time_signature']}")
    tempo = f"{info['tempo_bpm']:g} bpm (quarter notes)"
    if info["tempo_changes"]:
        tempo += f", {info['tempo_changes']} tempo changes"
    print(f"Tempo:     {tempo}")
    print(f"Notes:     {info['notes']}")
    minutes, seconds = divmod(info["duration_s"], 60)
    print(f"Duration:  {int(minutes)}:{seconds:04.1f} ({info['duration_ql']:g} quarter notes)")
    if info["played_measures"] != info["measures"] or info["passes"] > 1:
        minutes, seconds = divmod(info["played_duration_s"], 60)
        print(f"Repeats:   {int(minutes)}:{seconds:04.1f} as played ({info['played_measures']} measures, "
              f"up to {info['passes']} times through a measure)")
    return 0
