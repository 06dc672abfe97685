"""`tutor info` and `tutor convert` over every nASAP score and every Nottingham MIDI file.

For each file: load (info), convert to MusicXML and MIDI, reload both and compare pitches, onsets,
durations, measures and ids. Reports failures, round-trip mismatches and time per file.
Run: ``python -m tests.bench io`` (TUTOR_BENCH_LIMIT=N: the first N files of each set;
TUTOR_BENCH_SETS=nasap or nottingham: one set only).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench._results import save
from tests.conftest import SHARED_DATA
from tutor.cli.commands.info import score_info
from tutor.errors import TutorError
from tutor.score.io import load_score, save_score


def _signature(score):
    return sorted((n.id, n.pitch, round(n.onset_ql, 3), round(n.duration_ql, 3), n.measure) for n in score.notes)


def run_set(name: str, files: list[Path], out_dir: Path) -> dict:
    load_s, convert_s, failures, mismatches = [], [], [], {".musicxml": [], ".mid": []}
    for path in files:
        try:
            started = time.perf_counter()
            score = load_score(path)
            score_info(score)
            load_s.append(time.perf_counter() - started)
            for ext in (".musicxml", ".mid"):
                started = time.perf_counter()
                out = out_dir / f"out{ext}"
                save_score(score, out)
                convert_s.append(time.perf_counter() - started)
                if _signature(load_score(out)) != _signature(score):
                    mismatches[ext].append(str(path))
        except TutorError as error:
            failures.append(f"{path}: {error}")
        except Exception as error:  # a bug: report it, keep going
            failures.append(f"{path}: BUG {type(error).__name__}: {error}")
    result = {
        "files": len(files),
        "failures": failures,
        "round_trip_mismatch_musicxml": mismatches[".musicxml"],
        "round_trip_mismatch_midi": mismatches[".mid"],
        "load_s_median": statistics.median(load_s) if load_s else None,
        "load_s_max": max(load_s) if load_s else None,
        "convert_s_median": statistics.median(convert_s) if convert_s else None,
        "total_s": sum(load_s) + sum(convert_s),
    }
    print(
        f"{name:12s} files={len(files):5d} failures={len(failures)} "
        f"xml-mismatch={len(mismatches['.musicxml'])} midi-mismatch={len(mismatches['.mid'])} "
        f"load median={result['load_s_median']:.3f}s max={result['load_s_max']:.2f}s "
        f"convert median={result['convert_s_median']:.3f}s"
    )
    for line in failures[:10]:
        print("  FAIL", line)
    return result


def main() -> None:
    limit = int(os.environ.get("TUTOR_BENCH_LIMIT", "0")) or None
    sets = {
        "nasap": sorted((SHARED_DATA / "nasap-dev").glob("**/xml_score.musicxml"))[:limit],
        "nottingham": sorted((SHARED_DATA / "nottingham" / "MIDI").glob("*.mid"))[:limit],
    }
    chosen = os.environ.get("TUTOR_BENCH_SETS", "nasap,nottingham").split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, files in sets.items():
            if name not in chosen:
                continue
            results[name] = run_set(name, files, Path(tmp))
    save("io", results)


if __name__ == "__main__":
    main()
