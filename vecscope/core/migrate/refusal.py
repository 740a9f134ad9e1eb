"""Why no migration can run on this connection at all, known before anything is planned.

Preflight checks the same things among its many checks, after the plan; a front end asks
:func:`refusal` first, so that ``vecscope migrate run`` stops before it writes a journal
and the Migrate mode says so before anyone fills in its form. The reasons are tried in
order and the first one found is the answer: one line, the same in the CLI and the TUI.
"""

from __future__ import annotations

from typing import Any

import psycopg

from vecscope.core import db
from vecscope.core.connection import ConnectionTarget, pooling_of
from vecscope.core.models import Inventory

STANDBY = "this server is a hot standby (read only): connect to the primary to migrate"
READ_ONLY = (
    "this session is read only (default_transaction_read_only is on for the role, the "
    "database or the connection): connect as a role, or with options, that may write"
)


def pooled(target: ConnectionTarget) -> str | None:
    """Why ``target`` cannot carry a migration's sessions (a transaction pooler), or None."""
    probe = pooling_of(target)
    if not probe.transaction_pooled:
        return None
    return (
        f"this connection goes through a transaction pooler ({probe.evidence}): the "
        "migration needs server sessions of its own; connect to the server directly, or "
        "run `vecscope migrate run --direct-dsn DSN` (nothing was changed)"
    )


def refusal(
    conn: psycopg.Connection[Any], inventory: Inventory, target: ConnectionTarget | None = None
) -> str | None:
    """The one line saying why no migration can run here, or ``None`` when one may.

    Args:
        conn: A connection as the migration would make it (the same role and options).
        inventory: That connection's inventory (its server facts).
        target: Where ``conn`` came from, to find a transaction pooler in the way (the
            pooler probe is cached per target, so this costs two connections once).

    Raises:
        QueryError, ConnectError: The session's settings could not be read.
    """
    if inventory.server.in_recovery:
        return STANDBY
    if target is not None and (reason := pooled(target)) is not None:
        return reason
    with db.mapped_errors("reading whether this session may write", conn):
        # The query preflight's own "writable" check runs: one rule, one statement.
        writable = db.row(conn, "migrate_session_writable")
    if writable and (writable["default_read_only"] or writable["read_only"]):
        return READ_ONLY
    return None
