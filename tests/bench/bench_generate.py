"""Generate-from-a-brief benchmark: ``python -m tests.bench generate`` (``GENERATE_RUNS=100`` for the
issue's 100 generations per brief; the default 20 keeps it to a few minutes on the shared CPU).

For each brief, ``GENERATE_RUNS`` generations (seeds 0..N-1, each the best of 12 sampled candidates, up to
36 while none fits the brief):
the share whose style the style model classifies as the brief's style class, whose quadrant the emotion
model classifies as the brief's mood, both, and that pass the critique rules with no error (and with at
most 2 warnings). "Candidates" gives the same rates over every sampled candidate at its best tempo and
register (before the reranking picks one): the reranking's gain.

Long runs on a busy machine: ``GENERATE_BRIEFS=5,4`` runs only those briefs (1-based, in that order) and
``GENERATE_LOG=FILE.jsonl`` appends one line per generation as it is made, so that a run cut short keeps
what it measured; ``GENERATE_SUMMARIZE=FILE.jsonl[,FILE2.jsonl]`` reads such logs back into the results
(each brief's first N generations, N = the smallest count over the briefs, reported as runs_per_brief).
"""

from __future__ import annotations

import json
import os
import statistics
import time

from tests.bench._results import save

BRIEFS = (
    dict(style="song", mood="Q4", key="D major", meter="6/8", bars=8),  # the example
    dict(style="fiddle", mood="Q1", key="G major", meter="6/8", bars=8),
    dict(style="song", mood="Q3", key="A minor", meter="3/4", bars=8),
    dict(style="dance", mood="Q2", key="E minor", meter="4/4", bars=8),
    dict(style="chorale", mood="Q4", key="F major", meter="4/4", bars=4),
)


def _facts(g) -> dict:
    return {"style": g.style_agrees, "mood": g.mood_agrees, "errors": g.errors, "warnings": g.warnings}


def rates(items: list[dict]) -> dict:
    n = len(items)
    return {
        "style_agreement": sum(g["style"] for g in items) / n,
        "mood_agreement": sum(g["mood"] for g in items) / n,
        "both": sum(g["style"] and g["mood"] for g in items) / n,
        "no_rule_errors": sum(g["errors"] == 0 for g in items) / n,
        "no_errors_at_most_2_warnings": sum(g["errors"] == 0 and g["warnings"] <= 2 for g in items) / n,
        "n": n,
    }


def row(spec: dict, generations: list[dict]) -> dict:
    """A brief's results from its generations (each: seconds, chosen facts, every candidate's facts)."""
    seconds = [g["seconds"] for g in generations]
    return {"brief": spec, "chosen": rates([g["chosen"] for g in generations]),
            "candidates": rates([c for g in generations for c in g["candidates"]]),
            "median_seconds_per_generation": statistics.median(seconds),
            "mean_seconds_per_generation": statistics.mean(seconds)}


def summarize(paths: list[str]) -> dict:
    by_brief: dict[int, dict[int, dict]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                g = json.loads(line)
                by_brief.setdefault(g["brief"], {})[g["seed"]] = g
    runs = min(len(gens) for gens in by_brief.values())
    results = {"runs_per_brief": runs, "candidates_per_generation": "12, up to 36 while none fits",
               "counts_logged": {str(b + 1): len(g) for b, g in sorted(by_brief.items())}, "briefs": []}
    for index, gens in sorted(by_brief.items()):
        chosen = [gens[seed] for seed in sorted(gens)[:runs]]
        results["briefs"].append(row(BRIEFS[index], chosen))
    return results


def main() -> None:
    if os.environ.get("GENERATE_SUMMARIZE"):
        results = summarize(os.environ["GENERATE_SUMMARIZE"].split(","))
        for r in results["briefs"]:
            print(r)
        save("generate", results)
        return
    from tutor.compose.generate import generate, parse_brief

    runs = int(os.environ.get("GENERATE_RUNS", "20"))
    order = [int(b) - 1 for b in os.environ.get("GENERATE_BRIEFS", "").split(",") if b.strip()] or range(len(BRIEFS))
    log = os.environ.get("GENERATE_LOG")
    results = {"runs_per_brief": runs, "candidates_per_generation": "12, up to 36 while none fits", "briefs": []}
    for index in order:
        spec = BRIEFS[index]
        generations = []
        for seed in range(runs):
            started = time.perf_counter()
            g = generate(parse_brief(**spec, seed=seed))
            record = {"brief": index, "seed": seed, "seconds": time.perf_counter() - started,
                      "load_average_1min": os.getloadavg()[0], "chosen": _facts(g),
                      "candidates": [_facts(c) for c in (g,) + g.ranked]}
            generations.append(record)
            if log:
                with open(log, "a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")
        result = row(spec, generations)
        result["load_average_1min"] = os.getloadavg()[0]
        print(result, flush=True)
        results["briefs"].append(result)
    save("generate", results)


if __name__ == "__main__":
    main()
