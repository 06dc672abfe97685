"""``python -m tests.bench [NAME ...]``: run all benchmarks (or the named ones)."""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in HERE.glob("bench_*.py"))
    failed = []
    for name in names:
        module_name = name if name.startswith("bench_") else f"bench_{name}"
        print(f"\n=== {module_name} ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"tests.bench.{module_name}")
            module.main()
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
