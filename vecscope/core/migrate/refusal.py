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
from vecscope.core.models import Inventory

STANDBY = "this server is a hot standby (read only): connect to the primary to migrate"
READ_ONLY = (
    "this session is read only (default_transaction_read_only is on for the role, the "
    "database or the connection): connect as a role, or with options, that may write"
)


def refusal(conn: psycopg.Connection[Any], inventory: Inventory) -> str | None:
    """The one line saying why no migration can run here, or ``None`` when one may.

    Args:
        conn: A connection as the migration would make it (the same role and options).
        inventory: That connection's inventory (its server facts).

    Raises:
        QueryError, ConnectError: The session's settings could not be read.
    """
    if inventory.server.in_recovery:
        return STANDBY
    with db.mapped_errors("reading whether this session may write", conn):
        # The query preflight's own "writable" check runs: one rule, one statement.
        writable = db.row(conn, "migrate_session_writable")
    if writable and (writable["default_read_only"] or writable["read_only"]):
        return READ_ONLY
    return None
