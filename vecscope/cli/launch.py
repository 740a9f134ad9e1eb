"""The ``vecscope`` entry point.

Headless commands go to :mod:`vecscope.cli.main` without importing Textual (so ``vecscope
indexes --json`` starts fast); only commands with a screen import the app, and hand it
typed values (:mod:`vecscope.tui.run`), never the parsed command line.
"""

from __future__ import annotations

import argparse
import sys

from vecscope.cli import main as cli
from vecscope.core.errors import VecscopeError


def _open_tui(args: argparse.Namespace) -> int:
    from vecscope.tui import run

    faiss_dir = getattr(args, "faiss_dir", None)
    if args.command == "demo":
        return run.open_demo(args.data_dir, rows=args.rows, reset=args.reset, faiss_dir=faiss_dir)
    if args.command == "replay":
        return run.open_replay(args.file)
    live = None
    if args.command == "live":
        live = run.live_options(
            args.interval,
            args.record,
            duration_s=args.duration,
            query_text=not args.no_query_text,
        )
    return run.open_app(cli.target_from(args), faiss_dir=faiss_dir, live=live)


def main(argv: list[str] | None = None) -> int:
    # Every line printed from here is scrubbed of anything in the command line that may be
    # a password, even before (or without) parsing it.
    secrets = cli.argv_secrets(sys.argv[1:] if argv is None else argv)
    try:
        args = cli.parse(argv)
        if not cli.wants_tui(args):
            return cli.run(args)
        return _open_tui(args)
    except VecscopeError as e:
        return cli.fail(e.message, secrets)
    except KeyboardInterrupt:
        return cli.fail("interrupted")
    except Exception as e:  # noqa: BLE001 - the one place a bug becomes a line, not a traceback
        return cli.unexpected(e, secrets)


if __name__ == "__main__":
    sys.exit(main())
