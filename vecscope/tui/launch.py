"""The ``vecscope`` entry point.

Headless commands go to :mod:`core.cli` without importing Textual (so ``vecscope indexes
--json`` starts fast); only commands with a screen import the app.
"""

from __future__ import annotations

import sys

from vecscope.core import cli
from vecscope.core.errors import VecscopeError


def main(argv: list[str] | None = None) -> int:
    try:
        args = cli.parse(argv)
        if not cli.wants_tui(args):
            return cli.run(args)
        from vecscope.tui.run import run_tui

        return run_tui(args)
    except VecscopeError as e:
        return cli.fail(e.message)
    except KeyboardInterrupt:
        return cli.fail("interrupted")
    except Exception as e:  # noqa: BLE001 - the one place a bug becomes a line, not a traceback
        return cli.unexpected(e)


if __name__ == "__main__":
    sys.exit(main())
