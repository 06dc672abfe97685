"""The analyses of ``tutor serve`` in worker processes that a timed-out request can stop.

A thread cannot be killed, so an analysis that ran past ``timeout_s`` used to go on in the background,
holding its queue slot and the CPU, and the next requests timed out behind it. Here each analysis runs
in a worker process (``multiprocessing``, *spawn*: safe with CUDA and with the server's threads); when one
runs too long, its process is killed at once and a fresh one is started in its place, with the models
loaded again (``preload``) before it takes work.

* ``AnalysisPool(settings, processes=N, threads=T)``: N processes that run T analyses each at once.
  ``tutor serve`` uses N = ``workers``, T = 1 (one analysis per process: a timeout kills only its own);
  with micro-batching on, N = 1, T = ``workers``: the style and emotion nets of concurrent analyses can
  only share forward passes inside one process, so a timeout there kills the other analyses of that
  process too; they are run once more on the fresh process (their own time limit starts again).
  ``spares=1`` keeps one more process started and loaded that takes a killed one's place at once (the
  next request does not wait for a fresh process to load its models), at the cost of its memory.
* ``await pool.run(job, paths, kwargs, timeout_s=...)`` waits for a free place (FIFO), runs
  ``job(paths, **kwargs)`` in a worker and gives ``(status, payload, seconds)``: ``("ok", json, s)``,
  ``("tutor_error", (is_input_error, message, path), s)`` or ``("bug", exception type name, s)``;
  ``TimeoutError`` after ``timeout_s`` of running (waiting for a place does not count), ``WorkerLost``
  when the process died under it (a crash, or killed for another request's timeout twice).
* The jobs (``transcribe_job``...) are module functions (sent by reference) that return the JSON of the
  matching ``tutor COMMAND --json``; parsed scores are kept per process by content hash (16).

A worker exits when the server's end of its pipe closes, so a killed server leaves no workers behind.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# the jobs (run in a worker process)
# ---------------------------------------------------------------------------------------------
def preload_models(device: str) -> None:
    """Load every model once so that the first request does not pay for it."""
    from tutor.compose.suggest import _model
    from tutor.listen.pitch import default_tracker, get_tracker

    get_tracker(default_tracker(device), device=device)
    _model()
    from tutor.models import emotion, style

    style._load()
    style._load_taxonomy()  # the critique's style (issue 26)
    emotion._load()


_scores: collections.OrderedDict[tuple, object] = collections.OrderedDict()  # (sha256, index, title) -> Score
_scores_lock = threading.Lock()


def client_name(name: str | None) -> str:
    """The client's file name, for messages only: its last component, printable, short."""
    name = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())[:120]
    return name or "upload"


def check_archive(path: Path) -> None:
    """Refuse a .mxl whose zip members are damaged, encrypted or oddly compressed as a bad file (400):
    ``tutor.score.io`` catches a damaged zip directory (``BadZipFile``), not a damaged member."""
    from tutor.score.io import _mxl_musicxml

    _mxl_musicxml(path.read_bytes(), path=path)  # within a byte budget; a damaged member is an InputFileError


def cached_score(path: Path, index: int | None = None, *, name: str | None = None):
    """The parsed score, shared between the requests of this process that upload the same file (a
    class's 30 takes of one piece parse it once). A piece with no title of its own is named after the
    client's file, as it would be on the client."""
    from dataclasses import replace

    from tutor.score.io import load_score

    title = Path(client_name(name)).stem if name else None
    key = (hashlib.sha256(path.read_bytes()).hexdigest(), index, title)
    with _scores_lock:
        if key in _scores:
            _scores.move_to_end(key)
            return _scores[key]
    if path.suffix.lower() == ".mxl":
        check_archive(path)
    score = load_score(path, index=index)
    if title and score.title == path.stem:
        score = replace(score, title=title)
    with _scores_lock:
        _scores[key] = score
        while len(_scores) > 16:
            _scores.popitem(last=False)
    return score


def transcribe_job(paths: dict[str, Path], *, tracker: str | None, device: str, instrument: str | None = None,
                   onset_odds: bool = False) -> dict:
    from tutor.api.analyses import transcribe, transcription_json
    from tutor.api.requests import TranscribeRequest

    return transcription_json(transcribe(TranscribeRequest(paths["file"], tracker=tracker, device=device,
                                                           instrument=instrument)), onset_odds=onset_odds)


def assess_job(paths: dict[str, Path], *, part: str | None, measures: str | None, tempo: float | None,
               level: str, instrument: str | None = None, repeats: bool = True) -> dict:
    from tutor.api.analyses import assess
    from tutor.api.requests import AssessRequest, parse_measures

    wanted = AssessRequest(paths["file"], part=part, measures=parse_measures(measures), tempo_bpm=tempo, level=level,
                           instrument=instrument, repeats=repeats)
    return assess(cached_score(paths["score"]), wanted).to_json()


def critique_job(paths: dict[str, Path], *, index: int | None, name: str | None) -> dict:
    from tutor.api.analyses import critique

    return critique(cached_score(paths["file"], index, name=name)).as_json()


def suggest_job(paths: dict[str, Path], *, wanted, index: int | None) -> dict:
    from tutor.api.analyses import suggest

    return suggest(cached_score(paths["file"], index), wanted).to_json()


# ---------------------------------------------------------------------------------------------
# the worker process
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerSettings:
    device: str = "cpu"
    preload: bool = False
    batching: bool = False
    batch_wait_ms: float = 4.0
    threads: int = 1


def worker_main(conn, settings: WorkerSettings) -> None:
    """A worker process: load the models, say ready, then run the jobs the server sends until its pipe
    closes (the server stopped or was killed) or it is sent ``None``."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from tutor.errors import InputFileError, TutorError

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group: the server stops us
    stand_ins: dict = {}
    batchers: list = []
    try:
        if settings.preload:
            preload_models(settings.device)
        if settings.batching:  # the style and emotion nets behind micro-batchers (tutor/service/microbatch.py)
            from tutor.service.microbatch import model_batchers

            stand_ins, _close, batchers = model_batchers(settings.device, max_wait_s=settings.batch_wait_ms / 1000)
    except Exception as problem:  # noqa: BLE001 - told to the server, which refuses to start with the reason
        conn.send(("failed", f"{type(problem).__name__}: {problem}"))
        return
    send_lock = threading.Lock()
    conn.send(("ready", os.getpid()))

    def stats() -> dict | None:
        if not batchers:
            return None
        from tutor.service.microbatch import merged_stats

        return merged_stats(batchers)

    def run(job_id: int, job, paths: dict, kwargs: dict) -> None:
        started = time.perf_counter()
        try:
            if stand_ins:
                from tutor.models.encoder import using_stand_ins

                with using_stand_ins(stand_ins):  # this request's nets go through the batchers
                    reply = ("ok", job(paths, **kwargs))
            else:
                reply = ("ok", job(paths, **kwargs))
        except TutorError as problem:
            reply = ("tutor_error", (isinstance(problem, InputFileError), problem.message,
                                     None if problem.path is None else str(problem.path)))
        except Exception as problem:  # noqa: BLE001 - a bad request answers 500 and the worker goes on
            log.exception("analysis failed")
            reply = ("bug", type(problem).__name__)
        message = ("done", job_id, *reply, time.perf_counter() - started, stats())
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):  # the server is gone
                os._exit(0)

    pool = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="tutor-analysis")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        pool.submit(run, *message)
    os._exit(0)  # without waiting for analyses nobody will read


# ---------------------------------------------------------------------------------------------
# the pool (in the server)
# ---------------------------------------------------------------------------------------------
class WorkerLost(Exception):
    """The process running an analysis died (a crash) or was killed for another request's timeout."""


class WorkersFailed(Exception):
    """A worker process could not start (e.g. a model could not be loaded)."""


class _Worker:
    def __init__(self, pool: AnalysisPool, index: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.pool = pool
        self.index = index
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, pool.settings), daemon=True,
                                       name=f"tutor-analysis-{index}")
        self.process.start()
        child.close()
        self.started = time.perf_counter()
        self.ready = False
        self.dead = False
        self.free = pool.settings.threads
        self.jobs: dict[int, asyncio.Future] = {}
        self.stats: dict | None = None
        threading.Thread(target=self._read, name=f"tutor-analysis-{index}-pipe", daemon=True).start()

    def _read(self) -> None:
        """Hand the worker's messages to the event loop until its pipe closes."""
        loop = self.pool.loop
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            try:
                loop.call_soon_threadsafe(self.pool._on_message, self, message)
            except RuntimeError:  # the loop is closed: the server has stopped
                break
        self.process.join(5)  # reaped: no zombie
        self.conn.close()
        try:
            loop.call_soon_threadsafe(self.pool._on_exit, self)
        except RuntimeError:
            pass

    def kill(self) -> None:
        self.dead = True
        if self.process.is_alive():
            self.process.kill()


class AnalysisPool:
    """``processes`` worker processes running up to ``threads`` analyses each; see the module docstring."""

    def __init__(self, settings: WorkerSettings, *, processes: int, spares: int = 0) -> None:
        self.settings = settings
        self.processes = processes
        self.spares = spares
        self.loop: asyncio.AbstractEventLoop | None = None
        self.workers: list[_Worker] = []
        self.spare_workers: list[_Worker] = []  # started and loaded, waiting to replace a killed worker
        self.restarts = 0  # processes killed after a timeout, or replaced after a crash
        self.closing = False
        self.failed: str | None = None
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._ready_waiters: list[asyncio.Future] = []
        self._ids = itertools.count(1)
        self._retired_stats: list[dict] = []

    # -- life ------------------------------------------------------------------------------------
    async def start(self, *, wait: bool = False) -> None:
        """Start the processes (once); with ``wait``, return when all have loaded their models."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.workers = [_Worker(self, i) for i in range(self.processes)]
            self.spare_workers = [_Worker(self, self.processes + i) for i in range(self.spares)]
        if wait:
            while not self.failed and not all(w.ready for w in self.workers):
                done = self.loop.create_future()
                self._ready_waiters.append(done)
                await done
            if self.failed:
                raise WorkersFailed(self.failed)

    async def close(self) -> None:
        """Ask the workers to stop, kill those that have not after 2 s."""
        self.closing = True
        for worker in self.workers + self.spare_workers:
            worker.dead = True
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
            for future in worker.jobs.values():
                if not future.done():
                    future.set_exception(WorkerLost("the server is stopping"))
        for future in self._waiters:
            if not future.done():
                future.set_exception(WorkerLost("the server is stopping"))

        def join() -> None:
            deadline = time.monotonic() + 2
            for worker in self.workers + self.spare_workers:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join(2)

        if self.workers or self.spare_workers:
            await asyncio.to_thread(join)

    # -- running a job ---------------------------------------------------------------------------
    async def run(self, job, paths: dict, kwargs: dict, *, timeout_s: float) -> tuple[str, object, float]:
        await self.start()
        for attempt in range(2):
            worker = await self._take()
            job_id = next(self._ids)
            future = self.loop.create_future()
            worker.jobs[job_id] = future
            try:
                try:
                    worker.conn.send((job_id, job, paths, kwargs))
                except (OSError, ValueError):  # it just died; _on_exit replaces it
                    raise WorkerLost("the analysis process stopped") from None
                return await asyncio.wait_for(future, timeout=timeout_s)
            except TimeoutError:
                self._replace(worker, f"an analysis ran longer than {timeout_s:g} s")
                raise
            except asyncio.CancelledError:  # nobody wants the answer any more: stop the work too
                self._replace(worker, "its request was cancelled")
                raise
            except WorkerLost:
                if attempt or self.closing:
                    raise
                log.warning("analysis process %d lost; running the request once more", worker.index)
            finally:
                worker.jobs.pop(job_id, None)
                if not worker.dead:
                    worker.free += 1
                    self._dispatch()
        raise AssertionError("unreachable")

    async def _take(self) -> _Worker:
        """A live, ready worker with a free place, reserved; first come, first served."""
        if self.failed:
            raise WorkersFailed(self.failed)
        if not self._waiters:
            worker = self._free_worker()
            if worker is not None:
                worker.free -= 1
                return worker
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                worker = waiter.result()  # handed a place just as we were cancelled: give it back
                if not worker.dead:
                    worker.free += 1
                    self._dispatch()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _free_worker(self) -> _Worker | None:
        candidates = [w for w in self.workers if w.ready and not w.dead and w.free > 0]
        return max(candidates, key=lambda w: w.free) if candidates else None

    def _dispatch(self) -> None:
        while self._waiters:
            worker = self._free_worker()
            if worker is None:
                return
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            worker.free -= 1
            waiter.set_result(worker)

    # -- the workers' news -----------------------------------------------------------------------
    def _on_message(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            log.info("analysis process %d (pid %d) ready in %.1f s", worker.index, message[1],
                     time.perf_counter() - worker.started)
            self._wake_ready()
            if not worker.dead:
                self._dispatch()
        elif kind == "failed":
            self.failed = f"an analysis process could not start: {message[1]}"
            log.error("%s", self.failed)
            self._fail_waiters(WorkersFailed(self.failed))
            self._wake_ready()
        elif kind == "done":
            _, job_id, status, payload, seconds, stats = message
            if stats is not None:
                worker.stats = stats
            future = worker.jobs.get(job_id)
            if future is not None and not future.done():
                future.set_result((status, payload, seconds))

    def _on_exit(self, worker: _Worker) -> None:
        """A worker's pipe closed: killed by us (already replaced), stopped by close(), or it crashed."""
        if worker.dead or self.closing:
            return
        code = worker.process.exitcode
        if worker in self.spare_workers:  # a spare that died: start another, unless it never got ready
            worker.dead = True
            self.spare_workers.remove(worker)
            if worker.ready:
                self.spare_workers.append(_Worker(self, worker.index))
            return
        if not worker.ready:  # died while starting: replacing it would only die again
            self.failed = self.failed or f"an analysis process stopped while starting (exit code {code})"
            self._fail_waiters(WorkersFailed(self.failed))
            self._wake_ready()
            worker.dead = True
            return
        self._replace(worker, f"it stopped (exit code {code})")

    def _replace(self, worker: _Worker, why: str) -> None:
        """Kill ``worker`` now, fail its other analyses with ``WorkerLost`` and start a fresh process."""
        if worker.dead and worker not in self.workers:
            return
        log.warning("analysis process %d: %s; restarting it", worker.index, why)
        worker.kill()
        if worker.stats:
            self._retired_stats.append(worker.stats)
        for future in worker.jobs.values():
            if not future.done():
                future.set_exception(WorkerLost(f"the analysis process was restarted ({why})"))
        if worker in self.workers and not self.closing:
            self.restarts += 1
            spare = next((w for w in self.spare_workers if w.ready and not w.dead), None)
            if spare is not None:  # the loaded spare takes its place now; a new spare loads meanwhile
                self.spare_workers.remove(spare)
                self.spare_workers.append(_Worker(self, spare.index))
                self.workers[self.workers.index(worker)] = spare
                self._dispatch()
            else:
                self.workers[self.workers.index(worker)] = _Worker(self, worker.index)
        elif worker in self.workers:
            self.workers.remove(worker)

    def _fail_waiters(self, problem: Exception) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(problem)

    def _wake_ready(self) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- reporting -------------------------------------------------------------------------------
    def batch_stats(self) -> dict:
        """The micro-batchers' counts summed over the processes, those replaced included."""
        from tutor.service.microbatch import BatchStats

        total = BatchStats()
        for stats in self._retired_stats + [w.stats for w in self.workers if w.stats]:
            total.passes += stats["passes"]
            total.calls += stats["calls"]
            total.rows += stats["rows"]
            total.largest_calls = max(total.largest_calls, stats["largest_calls"])
        return total.as_dict()
