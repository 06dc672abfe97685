"""Generate-from-a-brief benchmark: ``python -m tests.bench generate`` (``GENERATE_RUNS=100`` for the
issue's 100 generations per brief; the default 20 keeps it to a few minutes on the shared CPU).

For each brief, ``GENERATE_RUNS`` generations (seeds 0..N-1, each the best of 12 sampled candidates, up to
36 while none fits the brief):
the share whose style the style model classifies as the brief's style class, whose quadrant the emotion
model classifies as the brief's mood, both, and that pass the critique rules with no error (and with at
most 2 warnings). "Candidates" gives the same rates over every sampled candidate at its best tempo and
register (before the reranking picks one): the reranking's gain.
"""

from __future__ import annotations

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


def main() -> None:
    from tutor.generate import generate, parse_brief

    runs = int(os.environ.get("GENERATE_RUNS", "20"))
    results = {"runs_per_brief": runs, "candidates_per_generation": "12, up to 36 while none fits", "briefs": []}
    for spec in BRIEFS:
        picked, every, seconds = [], [], []
        for seed in range(runs):
            started = time.perf_counter()
            g = generate(parse_brief(**spec, seed=seed))
            seconds.append(time.perf_counter() - started)
            picked.append(g)
            every.extend((g,) + g.ranked)

        def rates(items):
            n = len(items)
            return {
                "style_agreement": sum(g.style_agrees for g in items) / n,
                "mood_agreement": sum(g.mood_agrees for g in items) / n,
                "both": sum(g.style_agrees and g.mood_agrees for g in items) / n,
                "no_rule_errors": sum(g.errors == 0 for g in items) / n,
                "no_errors_at_most_2_warnings": sum(g.errors == 0 and g.warnings <= 2 for g in items) / n,
                "n": n,
            }

        row = {"brief": spec, "chosen": rates(picked), "candidates": rates(every),
               "median_seconds_per_generation": statistics.median(seconds)}
        print(row, flush=True)
        results["briefs"].append(row)
    save("generate", results)


if __name__ == "__main__":
    main()
