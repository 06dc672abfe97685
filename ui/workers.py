"""Background work for the app: the UI thread never waits on a model, a file or a device.

``run_job(fn, ...)`` runs ``fn(task, *args)`` on Qt's thread pool. ``task`` lets the function
report progress (``task.progress(0.4, "rendering")``) and see whether the user cancelled
(``task.cancelled`` / ``task.check()``). Results, errors and progress come back to the UI thread
through queued signals of a ``Job`` object that lives in the UI thread::

    job = run_job(load_score, path, on_result=self.show_score, on_error=self.show_error)
    job.cancel()
"""

from __future__ import annotations

import logging
import threading
import traceback

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised by ``Task.check()`` when the user cancelled the job."""


class Task:
    """What a job's function gets: progress reporting and cancellation."""

    def __init__(self, job: Job) -> None:
        self._job = job
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def progress(self, fraction: float, text: str = "") -> None:
        self._job.progressed.emit(float(fraction), str(text))

    def check_and_progress(self, fraction: float, text: str = "") -> None:
        """A ``progress(fraction, text)`` callback for long core work: it also ends the work there
        (``Cancelled``) when the user has cancelled, between the work's steps."""
        self.check()
        self.progress(fraction, text)


class Job(QObject):
    """Signals of one background job (emitted from the pool thread, delivered queued)."""

    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    progressed = Signal(float, str)
    done = Signal()

    _alive: set[Job] = set()

    def __init__(self, fn, args, kwargs, name: str) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs, self.name = fn, args, kwargs, name
        self.task = Task(self)
        self.finished = False
        Job._alive.add(self)
        self.done.connect(self._forget)

    def cancel(self) -> None:
        self.task._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self.task.cancelled

    def _forget(self) -> None:
        self.finished = True
        self._runnable = None
        Job._alive.discard(self)

    def _run(self) -> None:
        try:
            self._run_and_report()
        except RuntimeError as error:  # the app shut down (its QObjects are gone) while this job ran
            log.debug("%s ended after the app closed: %s", self.name, error)

    def _run_and_report(self) -> None:
        try:
            result = self.fn(self.task, *self.args, **self.kwargs)
        except Cancelled:
            log.info("%s cancelled", self.name)
        except Exception as error:  # reported to the UI, which shows it and logs it
            log.debug("%s failed:\n%s", self.name, traceback.format_exc())
            if not self.task.cancelled:
                self.failed.emit(error)
        else:
            if not self.task.cancelled:
                self.succeeded.emit(result)
        finally:
            self.done.emit()


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        # Python owns the runnable (the job holds it until its done signal, in the UI thread): a
        # pool-owned runnable whose wrapper the garbage collector meets mid-run can deadlock
        self.setAutoDelete(False)

    def run(self) -> None:
        self.job._run()


def run_job(fn, *args, on_result=None, on_error=None, on_progress=None, on_done=None, name: str = "",
            **kwargs) -> Job:
    """Run ``fn(task, *args, **kwargs)`` in the thread pool; callbacks run in the UI thread."""
    job = Job(fn, args, kwargs, name or getattr(fn, "__name__", "job"))
    for signal, callback in ((job.succeeded, on_result), (job.failed, on_error), (job.progressed, on_progress),
                             (job.done, on_done)):
        if callback is not None:
            signal.connect(_guarded(callback))
    job._runnable = _Runnable(job)
    QThreadPool.globalInstance().start(job._runnable)
    return job


def _guarded(callback):
    """A job may end after the widget that asked for it was closed: then its answer is dropped."""

    def call(*args):
        try:
            callback(*args)
        except RuntimeError as error:
            if "already deleted" not in str(error):
                raise
            log.debug("a job finished after its receiver was deleted: %s", error)

    return call


def running_jobs() -> list[Job]:
    return [job for job in Job._alive if not job.finished]
