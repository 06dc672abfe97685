"""The desktop app (PySide6): windows, widgets, and adapters that run the library's work in worker
threads and show it. No analysis lives here: it is called through ``tutor.api``, ``tutor.remote`` and the
core packages.

May import: everything in ``tutor`` except the CLI and the service; nothing in ``tutor`` imports it
(``tutor app`` starts it from ``tutor.cli.commands.app``).
"""
