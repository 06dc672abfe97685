"""A guard against a reference-count bug of PySide6 6.12 on Python 3.11 (found with issue 20's live-latency
benchmark, which aborted with "Fatal Python error: none_dealloc: deallocating None").

With PySide6/shiboken 6.12.0 every call of a Qt method that returns nothing (``setValue``, ``update``,
``setLine``...) hands back ``None`` without a reference of its own, so ``None`` loses one each time. Before
Python 3.12 ``None`` is reference counted like any object (3.12 made it immortal), so after roughly a hundred
thousand such calls (a few minutes of a take: the 30 Hz timer moves the cursor and the level meter, each
ring repaints) the interpreter aborts. ``guard()`` measures the loss with 100 calls and, when it is there,
gives ``None`` a reference count no session can use up (what 3.12 does). Nothing happens on 3.12+ or with
a PySide6 without the bug.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)
CALLS = 100
SPARE = 1 << 40  # references given to None: ~10^12 Qt calls


def none_lost_per_call() -> float:
    """How many references ``None`` loses per call of a Qt method that returns nothing (0: no bug)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / CALLS


def guard() -> bool:
    """Make ``None`` safe from the bug when this PySide6 has it (CPython < 3.12); True when it did."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if none_lost_per_call() < 0.5:
        return False
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += SPARE  # ob_refcnt, the object's first field
    log.info("PySide6 drops a reference to None with each call: None given %d spare references", SPARE)
    return True
