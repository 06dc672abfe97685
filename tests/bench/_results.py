"""Writing benchmark results to bench-results/NAME.json."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


def save(name: str, results: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"results written to {path}")
    return path
