"""``vecscope live --json`` and ``vecscope replay --json``: one JSON line per poll.

For scripts and alerting. A poll that fails after the first one is reported as a line
with an ``error`` key and the run goes on (the connection is opened again if it broke);
the first poll failing is a one-line error and exit status 2, like any bad input.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from vecscope.cli.live_args import parse_duration
from vecscope.core.connection import ConnectionTarget
from vecscope.core.errors import VecscopeError
from vecscope.core.live.rates import LiveTracker
from vecscope.core.live.recording import Recording, check_new_recording
from vecscope.core.live.session import LiveSession, check_interval, point_to_json


def _line(data: dict[str, object], out: TextIO) -> None:
    out.write(json.dumps(data, separators=(",", ":")) + "\n")
    out.flush()


def run_live(args: argparse.Namespace, target: ConnectionTarget, out: TextIO) -> int:
    interval = check_interval(args.interval)
    duration = parse_duration(args.duration) if args.duration else None
    record: Path | None = args.record
    if record is not None:
        check_new_recording(record)  # refused before connecting
    session = LiveSession(target, interval)
    keep_text = not args.no_query_text
    stop = False

    def terminate(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        if record is not None:
            # Connects first: a server that cannot be reached leaves no file behind.
            session.start_recording(record, query_text=keep_text)
        try:
            first = session.step()  # trouble with the server ends here, as one line
        except VecscopeError:
            if record is not None:
                session.stop_recording()
                record.unlink(missing_ok=True)
            raise
        _line(point_to_json(first, query_text=keep_text), out)
        if record is not None:
            print(f"vecscope: recording to {record}", file=sys.stderr)
        started = time.monotonic()
        next_at = started + interval
        while not stop:
            if duration is not None and time.monotonic() - started >= duration:
                break
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + interval, time.monotonic())
            try:
                point = session.step()
            except VecscopeError as e:
                _line({"at": datetime.now(UTC).isoformat(), "error": e.message}, out)
                continue
            _line(point_to_json(point, query_text=keep_text), out)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        recorder = session.recorder
        session.close()
        if recorder is not None:
            print(f"vecscope: {recorder.polls} polls recorded in {recorder.path}", file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    recording = Recording(args.file)
    tracker = LiveTracker(capacity=1)
    keep_text = not args.no_query_text
    try:
        for snap in recording.snapshots():
            _line(point_to_json(tracker.feed(snap), query_text=keep_text), out)
    finally:
        recording.close()
    return 0
