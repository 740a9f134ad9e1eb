"""Named points where the fault-injection tests stop vecscope dead.

``VECSCOPE_FAILPOINTS=cutover.after_rename`` (a comma-separated list) makes the process
kill itself with SIGKILL the first time it passes that point, exactly as an OOM killer,
a closed SSH session or a ``kill -9`` would, between two statements the tests could not
otherwise reach reliably by timing. ``name:stop`` stops it with SIGSTOP instead, so a
test can change the world (fill the disk) at that exact point and then SIGCONT it.
Unset (always, outside the tests), a point costs one environment lookup. The points
are listed where they are passed; ``bench/fault_soak.py``
and ``tests/core/test_migrate_faults.py`` use them.
"""

from __future__ import annotations

import os
import signal

ENV = "VECSCOPE_FAILPOINTS"


def point(name: str) -> None:
    """Die here, now, if the environment names this point."""
    chosen = os.environ.get(ENV)
    if not chosen:
        return
    for entry in chosen.split(","):
        point_name, _, action = entry.strip().partition(":")
        if point_name == name:
            os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
