"""The desktop app (PySide6): windows, widgets, and adapters that run the library's work in worker
threads and show it. No analysis lives here: it is called through ``tutor.api``, ``tutor.remote`` and the
core packages.

May import: everything in ``tutor`` except the CLI and the service; nothing in ``tutor`` imports it
(``tutor app`` starts it from ``tutor.cli.commands.app``).
"""

from tutor.ui._none_guard import guard as _guard_none

_guard_none()  # PySide6 6.12 on Python 3.11 loses a reference to None with every Qt call (ui/_none_guard.py)
