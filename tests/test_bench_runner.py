"""``python -m tests.bench``: which benchmarks run, with which of the command line's words."""

import pytest

from tests.bench.__main__ import requested


def test_the_words_after_a_name_go_to_that_benchmark():
    assert requested(["assessment", "--skip-audio", "--every", "3", "bench_style"]) == [
        ("assessment", ["--skip-audio", "--every", "3"]),
        ("bench_style", []),
    ]


def test_no_name_runs_every_benchmark_without_options():
    runs = requested([])
    assert ("bench_piano", []) in runs and ("bench_assessment", []) in runs


def test_an_unknown_name_is_refused_with_the_folder():
    with pytest.raises(SystemExit, match="'nosuch' is not a benchmark"):
        requested(["nosuch"])
