"""What every screen's header says of the connection: a hot standby first, so that even
an 80-column header, cut on the right, still shows it."""

from __future__ import annotations

from vecscope.core.models import ServerInfo

STANDBY = "HOT STANDBY"


def subtitle(label: str, server: ServerInfo) -> str:
    """``HOT STANDBY · user@host:port/db · PostgreSQL 18.6 · pgvector 0.8.6``."""
    parts = [label, f"PostgreSQL {server.version}", f"pgvector {server.pgvector}"]
    if server.in_recovery:
        parts.insert(0, STANDBY)
    return " · ".join(parts)
