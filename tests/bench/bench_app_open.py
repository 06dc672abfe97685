"""Open-to-score time in the running app (offscreen) for the longest nasap-dev piece (issue 24).

The piece is the nasap-dev score with the most notes (Schumann's Arabeske, 231 bars, 3,319 noteheads):
``window.open_file`` as File > Open does it (read in a worker, engraved in a worker), timed until the first
page is on screen. Peers in the same run: Verovio engraving the source file by itself (what no reading or
notation writing could go below) and reading the score alone (``load_score``). The critique's time on the
same piece is reported too (``tutor.api.analyses.critique``). Goal: open-to-score <= 5 s on this CPU.

Each timing is the median of ``RUNS`` fresh processes' worth of work: music21's parse cache is cleared
between runs so that every open reads the file as a first open does.
Run: ``python -m tests.bench app_open``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TUTOR_NO_DIALOGS", "1")

import statistics
import tempfile
import time
from pathlib import Path

from tests.bench._results import save
from tests.conftest import SHARED_DATA

RUNS = 3


def longest_piece() -> Path:
    """The nasap-dev score with the most notes (counted in its text)."""
    scores = sorted((SHARED_DATA / "nasap-dev").rglob("xml_score.musicxml"))
    return max(scores, key=lambda p: p.read_text(encoding="utf-8", errors="replace").count("<note"))


def _clear_caches() -> None:
    from tutor.score import io

    io._cached_music21.cache_clear()


def _open_in_app(window, app, path: Path) -> float:
    _clear_caches()
    window.undo_stack.setClean()
    window.score_view.show_message("")
    window.score = None
    started = time.perf_counter()
    window.open_file(str(path))
    while not window.score_view.pages:
        app.processEvents()
        time.sleep(0.005)
        if time.perf_counter() - started > 300:
            raise TimeoutError("the piece did not open in 5 minutes")
    return time.perf_counter() - started


def _verovio_alone(path: Path) -> float:
    from tutor.ui.engraving import Layout, _toolkit, verovio_options

    started = time.perf_counter()
    toolkit = _toolkit()
    toolkit.resetOptions()
    toolkit.setOptions(verovio_options(Layout()))
    toolkit.loadData(path.read_text(encoding="utf-8"))
    toolkit.renderToSVG(1)
    return time.perf_counter() - started


def main() -> None:
    from PySide6.QtCore import QSettings

    from tutor.api.analyses import critique
    from tutor.score.io import load_score
    from tutor.ui.app import MainWindow, make_app

    path = longest_piece()
    app = make_app()
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(settings=QSettings(str(Path(folder) / "s.ini"), QSettings.IniFormat),
                            autosave_folder=Path(folder))
        window.resize(1400, 880)
        window.show()
        opens = [_open_in_app(window, app, path) for _ in range(RUNS)]
        pages = len(window.score_view.pages)
        bars = len(window.score.measures)
        window.close()
    reads = []
    for _ in range(RUNS):
        _clear_caches()
        started = time.perf_counter()
        score = load_score(path)
        reads.append(time.perf_counter() - started)
    engraves = [_verovio_alone(path) for _ in range(RUNS)]
    started = time.perf_counter()
    report = critique(score)
    critique_s = time.perf_counter() - started
    results = {
        "piece": str(path.relative_to(SHARED_DATA)), "bars": bars, "notes": len(score.notes), "pages": pages,
        "open_to_score_s": statistics.median(opens), "open_runs_s": opens,
        "read_alone_s": statistics.median(reads), "verovio_alone_s": statistics.median(engraves),
        "open_over_verovio_alone": statistics.median(opens) / statistics.median(engraves),
        "critique_s": critique_s, "critique_findings": len(getattr(report, "findings", ()) or ()),
        "goal_open_s": 5.0, "load_average": os.getloadavg()[0],
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    save("app_open", results)


if __name__ == "__main__":
    main()
