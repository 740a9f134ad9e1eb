"""The ``vecscope live`` and ``vecscope replay`` command lines."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from vecscope.core.errors import BadInputError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h30m`` -> seconds."""
    parts = re.fullmatch(r"\s*((?:\d+(?:\.\d+)?[smh]?\s*)+)", text)
    if not parts:
        raise BadInputError(f"--duration {text!r}: use seconds or units, e.g. 90s, 10m, 1h30m")
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)([smh]?)", text):
        total += float(number) * _UNITS[unit or "s"]
    if total <= 0:
        raise BadInputError("--duration must be more than zero")
    return total


def add_parsers(sub: Any, conn: argparse.ArgumentParser) -> None:
    live = sub.add_parser(
        "live",
        parents=[conn],
        add_help=False,
        help="the application's own vector queries, live, without adding load",
    )
    live.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls (default 2)"
    )
    live.add_argument("--record", type=Path, metavar="FILE", help="record every poll (SQLite)")
    live.add_argument("--duration", help="stop after this long, e.g. 90s, 10m, 1h (default: ^C)")
    live.add_argument(
        "--no-query-text",
        action="store_true",
        help="leave query texts out of the recording and the JSON (for sharing)",
    )
    live.add_argument("--json", action="store_true", help="no TUI: one JSON line per poll")
    replay = sub.add_parser("replay", help="open a recording of the live view (no database)")
    replay.add_argument("file", type=Path)
    replay.add_argument("--json", action="store_true", help="no TUI: one JSON line per poll")
    replay.add_argument(
        "--no-query-text", action="store_true", help="leave query texts out of the JSON"
    )
