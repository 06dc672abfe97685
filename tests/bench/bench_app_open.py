"""Open-to-score time in the running app (offscreen) for the longest nasap-dev piece (issue 24).

The piece is the nasap-dev score with the most notes (Schumann's Arabeske, 231 bars, 3,319 noteheads):
``window.open_file`` as File > Open does it (read in a worker, engraved in a worker), timed until the first
page is on screen (``open_to_score_s``: a first open, the file's own engraving shown while it is read) and
until the piece is read and engraved with its note ids (``*_ready_s``); a re-open reads the score cache
(``tutor/score/cache.py``). Peers in the same run: Verovio engraving the source file by itself (what no reading or
notation writing could go below) and reading the score alone (``load_score``). The critique's time on the
same piece is reported too (``tutor.api.analyses.critique``). Goal: open-to-score <= 5 s on this CPU.

Each timing is the median of ``RUNS`` opens: music21's parse cache (and for a first open the score cache) is cleared
between runs so that every open reads the file as a first open does.
Run: ``python -m tests.bench app_open``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TUTOR_NO_DIALOGS", "1")

import shutil
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


def _clear_caches(*, disk: bool = True) -> None:
    """music21's in-process parse cache, and (``disk``) the score cache folder: a first open."""
    from tutor.score import cache, io

    io._cached_music21.cache_clear()
    if disk:
        shutil.rmtree(cache.cache_dir(), ignore_errors=True)


def _open_in_app(window, app, path: Path, *, first: bool) -> tuple[float, float]:
    """(seconds to the first page on screen, seconds until the piece is read and engraved with its note
    ids: practice and marks work)."""
    _clear_caches(disk=first)
    window.undo_stack.setClean()
    window.score_view.show_message("")
    window.score = None
    started = time.perf_counter()
    window.open_file(str(path))
    shown = None
    while True:
        app.processEvents()
        view = window.score_view
        if shown is None and view.pages:
            shown = time.perf_counter() - started
        if window.score is not None and view._engraved is not None and view._engraved[0] is window.score:
            return shown, time.perf_counter() - started
        time.sleep(0.005)
        if time.perf_counter() - started > 300:
            raise TimeoutError("the piece did not open in 5 minutes")


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
    cache_folder = tempfile.mkdtemp(prefix="tutor-bench-cache-")
    os.environ["TUTOR_CACHE_DIR"] = cache_folder  # never the user's own cache
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(settings=QSettings(str(Path(folder) / "s.ini"), QSettings.IniFormat),
                            autosave_folder=Path(folder))
        window.resize(1400, 880)
        window.show()
        firsts = [_open_in_app(window, app, path, first=True) for _ in range(RUNS)]
        agains = [_open_in_app(window, app, path, first=False) for _ in range(RUNS)]
        pages = len(window.score_view.pages)
        bars = len(window.score.measures)
        window.close()
    reads, cached_reads = [], []
    for _ in range(RUNS):
        _clear_caches()
        started = time.perf_counter()
        score = load_score(path)
        reads.append(time.perf_counter() - started)
        _clear_caches(disk=False)
        started = time.perf_counter()
        load_score(path)
        cached_reads.append(time.perf_counter() - started)
    shutil.rmtree(cache_folder, ignore_errors=True)
    opens = [shown for shown, _ in firsts]
    engraves = [_verovio_alone(path) for _ in range(RUNS)]
    started = time.perf_counter()
    report = critique(score)
    critique_s = time.perf_counter() - started
    results = {
        "piece": str(path.relative_to(SHARED_DATA)), "bars": bars, "notes": len(score.notes), "pages": pages,
        "open_to_score_s": statistics.median(opens), "open_runs_s": opens,
        "first_open_ready_s": statistics.median(r for _, r in firsts),
        "reopen_to_score_s": statistics.median(s for s, _ in agains),
        "reopen_ready_s": statistics.median(r for _, r in agains),
        "first_open_runs_s": firsts, "reopen_runs_s": agains,
        "read_alone_s": statistics.median(reads), "read_cached_s": statistics.median(cached_reads),
        "verovio_alone_s": statistics.median(engraves),
        "open_over_verovio_alone": statistics.median(opens) / statistics.median(engraves),
        "critique_s": critique_s, "critique_findings": len(getattr(report, "findings", ()) or ()),
        "goal_open_s": 5.0, "load_average": os.getloadavg()[0],
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    save("app_open", results)


if __name__ == "__main__":
    main()
