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
