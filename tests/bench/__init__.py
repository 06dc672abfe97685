"""Benchmarks: ``make bench`` runs every ``tests/bench/bench_*.py`` module's ``main()``.

Run one with ``python -m tests.bench.bench_NAME``. Each prints a table and writes its results as JSON
to ``bench-results/NAME.json`` (ignored by git). Timing goals are ratios against a peer measured in
the same run, never absolute numbers in unit tests.
"""
