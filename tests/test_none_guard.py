"""PySide6 6.12 on Python 3.11 loses a reference to None with every Qt call that returns nothing; the app
(``tutor.ui``) guards None so a long session cannot abort with "Fatal Python error: none_dealloc" (issue 20's
live-latency benchmark did, after a few minutes of takes)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_a_long_session_of_qt_calls_cannot_use_up_none():
    import tutor.ui  # noqa: F401 - the guard runs on import
    from tutor.ui._none_guard import none_lost_per_call

    lost = none_lost_per_call()
    calls = 300_000  # more than a fresh interpreter's references to None: unguarded, this aborts the test run
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("x")
    assert sys.getrefcount(None) > 0
    assert lost == 0 or before > 10**9, (lost, before)
