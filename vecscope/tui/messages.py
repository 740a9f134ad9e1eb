"""Typed navigation: what a screen asks of the app, as messages the app handles.

A screen posts one of these; it bubbles to :class:`vecscope.tui.app.VecscopeApp`, which
switches mode and hands the request to the target screen. A screen never calls a method
of the app by name (a missing one would silently do nothing).
"""

from __future__ import annotations

from typing import Literal

from textual.message import Message


class ExplainQuery(Message):
    """Open the plan doctor (Explain mode) on ``sql`` and explain it."""

    def __init__(self, sql: str) -> None:
        super().__init__()
        self.sql = sql


class ExplainColumn(Message):
    """Open the plan doctor on a nearest-neighbour query written for a vector column
    (with the operator the application uses on it) and explain it."""

    def __init__(self, schema: str, table: str, column: str) -> None:
        super().__init__()
        self.schema = schema
        self.table = table
        self.column = column


class OpenLab(Message):
    """Open the latency and recall lab on a vector column."""

    def __init__(self, schema: str, table: str, column: str) -> None:
        super().__init__()
        self.schema = schema
        self.table = table
        self.column = column


class OpenMigration(Message):
    """Open the Migrate mode on an index (``kind="index"``, ``name`` the index) or on a
    column without one (``kind="column"``, ``name`` the table, ``column`` set)."""

    def __init__(
        self,
        kind: Literal["index", "column"],
        schema: str,
        name: str,
        column: str | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.schema = schema
        self.name = name
        self.column = column

    @property
    def source(self) -> str:
        """The Migrate screen's source key: ``index:s.name`` or ``column:s.t.c``."""
        if self.kind == "index":
            return f"index:{self.schema}.{self.name}"
        return f"column:{self.schema}.{self.name}.{self.column}"
