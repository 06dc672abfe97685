"""``python -m tests.bench [NAME [--option ...] ...]``: run all benchmarks (or the named ones).

The words after a name, up to the next benchmark's name, go to that benchmark's ``main(argv)``, e.g.
``python -m tests.bench assessment --skip-audio --every 3``; a benchmark given none is run as ``main()``.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def requested(argv: list[str]) -> list[tuple[str, list[str]]]:
    """The named benchmarks, each with the words written after it (all of them, without options, if none is named)."""
    runs: list[tuple[str, list[str]]] = []
    for word in argv:
        if (HERE / f"bench_{word.removeprefix('bench_')}.py").exists():
            runs.append((word, []))
        elif runs:
            runs[-1][1].append(word)
        else:
            raise SystemExit(f"{word!r} is not a benchmark in {HERE} (python -m tests.bench NAME [OPTIONS] ...)")
    return runs or [(p.stem, []) for p in sorted(HERE.glob("bench_*.py"))]


def main(argv: list[str]) -> int:
    failed = []
    for name, options in requested(argv):
        module_name = name if name.startswith("bench_") else f"bench_{name}"
        print(f"\n=== {module_name} {' '.join(options)}".rstrip() + " ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"tests.bench.{module_name}")
            module.main(options) if options else module.main()
        except Exception:
            traceback.print_exc()
            failed.append(module_name)
        print(f"--- {module_name}: {time.perf_counter() - started:.1f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
