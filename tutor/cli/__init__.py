"""The ``tutor`` command line.

Each sub-command lives in ``tutor/cli/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; this module only wires them up, so that ``tutor --help`` stays fast (the
command modules import nothing heavy at import time).

Errors a user can cause are ``TutorError``s: one line on stderr, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tutor._version import __version__
from tutor.errors import TutorError

# sub-command modules, in the order ``tutor --help`` lists them
COMMAND_MODULES = (
    "info",
    "convert",
    "devices",
    "record",
    "render",
    "play",
    "assess",
    "critique",
    "suggest",
    "lessons",
    "progress",
    "app",
    "transcribe",
    "serve",
    "batch",
    "similar",
    "generate",
)

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tutor",
        description="Music tutor: practise with feedback, critique compositions, follow lesson plans.",
    )
    parser.add_argument("--version", action="version", version=f"tutor {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tutor.cli.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 prints escaped, never crashes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except TutorError as error:
        if args.debug:
            raise
        print(f"tutor: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("tutor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # noqa: BLE001 - top level: a bug is one line (traceback with --debug), not a crash
        if args.debug:
            raise
        print(f"tutor: internal error: {type(error).__name__}: {error} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
