"""Helpers shared by the sub-commands."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def add_index_option(parser) -> None:
    parser.add_argument("--index", type=int, default=None, metavar="N",
                        help="tune number (0-based) in a multi-tune ABC file or corpus collection")


def add_remote_option(parser) -> None:
    parser.add_argument("--remote", default=None, metavar="URL",
                        help="analyse on a `tutor serve` host (default $TUTOR_REMOTE; 'local' analyses here); "
                             "token from $TUTOR_REMOTE_TOKEN; falls back to this machine when the host is down")


def host_answer(args, endpoint: str, files: dict, fields: dict | None) -> dict | None:
    """The analysis JSON from the host named by ``--remote`` / ``$TUTOR_REMOTE``, or None: analyse here
    (one line on stderr says why when a host was named)."""
    from tutor.remote.routing import host_answer as ask
    from tutor.remote.routing import remote_url

    url = remote_url(getattr(args, "remote", None))
    return ask(url, endpoint, files, fields,
               notice=lambda why: print(f"tutor: {why}; analysing on this machine", file=sys.stderr, flush=True))


def print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)
