"""Reads that a hot standby's replay cancels, told apart from real failures and retried.

On a standby, replaying the primary's VACUUM or an ACCESS EXCLUSIVE lock cancels the
queries that stand in its way once ``max_standby_streaming_delay`` runs out: "canceling
statement due to conflict with recovery" (SQLSTATE 40001). Nothing is wrong with the
query; run again a moment later it usually passes. A session idle inside a transaction
is terminated instead, so long reads on a standby run in short transactions (the
connection survives, only the statement is cancelled) and retry with this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")

#: Tries of one read (the first and the retries) before the conflict is the answer.
ATTEMPTS = 4
#: Pause before the first retry; it doubles each time (replay moves on meanwhile).
PAUSE_S = 0.25

_SERIALIZATION_FAILURE = "40001"
_QUERY_CANCELED = "57014"


def is_recovery_conflict(error: BaseException) -> bool:
    """True for a statement a standby cancelled to let replay go on.

    A read-only statement on a standby fails with 40001 only for that reason (serializable
    transactions are refused there); 57014 counts when the message says so.
    """
    if not isinstance(error, psycopg.Error):
        return False
    if error.sqlstate == _SERIALIZATION_FAILURE:
        return True
    return error.sqlstate == _QUERY_CANCELED and "conflict with recovery" in str(error)


def retry_recovery_conflicts(
    conn: psycopg.Connection[Any],
    read: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    pause_s: float = PAUSE_S,
    retried: Callable[[psycopg.Error], None] | None = None,
) -> T:
    """``read()``, run again after a short pause when a recovery conflict cancelled it.

    Args:
        conn: The connection ``read`` uses: once it broke, nothing is retried.
        read: The read; it must be safe to run again (its own transaction, if any).
        attempts: Tries in all, at least 1.
        pause_s: The first pause; each further one is twice as long.
        retried: Told of each conflict that is retried (a count, a log line).

    Raises:
        psycopg.Error: Any other failure at once; a conflict after ``attempts`` tries.
    """
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return read()
        except psycopg.Error as e:
            if attempt >= attempts or conn.broken or not is_recovery_conflict(e):
                raise
            if retried is not None:
                retried(e)
        time.sleep(pause_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")
