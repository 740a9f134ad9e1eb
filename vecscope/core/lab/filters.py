"""The application's own WHERE on a nearest-neighbour query, as the lab measures it.

``--where "tenant_id = {tenant_id}"``: a ``{column}`` placeholder takes, for each sampled
query vector, the value of that column in the query's own row (a tenant's user searches
that tenant's documents); a filter without placeholders is the same for every query, and
the query vectors are then sampled from the rows it matches. The filter is SQL as the
application writes it; the placeholders become bind parameters, never text.

Filtered search goes wrong in two ways the lab measures: an index scan hands back
``hnsw.ef_search`` candidates (or ``ivfflat.probes`` lists) and the filter runs after, so
a selective filter leaves fewer than k rows (the *shortfall*) or the wrong ones (recall);
and the planner may choose an exact plan instead, right but slow as the table grows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from vecscope.core.errors import BadInputError

#: ``{column}``: a placeholder for the query's own row's value of ``column``.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class RowFilter:
    """A WHERE clause with placeholders for the query row's own values."""

    #: As the user wrote it.
    text: str
    #: The columns the placeholders name, in order of first use.
    columns: tuple[str, ...]

    @property
    def per_query(self) -> bool:
        """Whether each query has its own values (placeholders), or all share one filter."""
        return bool(self.columns)

    def composed(self) -> sql.Composed:
        """The clause with each placeholder as a bind parameter ``%(f<n>)s``."""
        parts: list[sql.Composable] = []
        pos = 0
        for m in PLACEHOLDER.finditer(self.text):
            # The user's own % (LIKE 'a%') must reach the server as it is.
            parts.append(sql.SQL(self.text[pos : m.start()].replace("%", "%%")))
            parts.append(sql.Placeholder(f"f{self.columns.index(m.group(1))}"))
            pos = m.end()
        parts.append(sql.SQL(self.text[pos:].replace("%", "%%")))
        return sql.Composed(parts)

    def params(self, values: Sequence[Any]) -> dict[str, Any]:
        """The bind parameters for one query's values (in :attr:`columns` order)."""
        return {f"f{i}": v for i, v in enumerate(values)}

    def literal(self, conn: psycopg.Connection[Any], values: Sequence[Any]) -> str:
        """The clause with ``values`` written in as SQL literals (for DDL and display)."""
        by_name = dict(zip(self.columns, values, strict=True))
        return PLACEHOLDER.sub(
            lambda m: sql.Literal(by_name[m.group(1)]).as_string(conn), self.text
        )


def parse_filter(text: str, table_columns: Sequence[str], table: str) -> RowFilter:
    """Check a ``--where`` against the table's columns.

    Raises:
        BadInputError: an empty filter, more than one statement, or a placeholder that
            names no column of the table.
    """
    text = text.strip()
    if not text:
        raise BadInputError("--where is empty: give a condition, e.g. tenant_id = {tenant_id}")
    if ";" in text:
        raise BadInputError("--where takes one condition, without ';'")
    names: list[str] = []
    for m in PLACEHOLDER.finditer(text):
        name = m.group(1)
        if name not in table_columns:
            raise BadInputError(
                f"--where: {{{name}}} names no column of {table} "
                f"(placeholders take the query row's own value of a column)"
            )
        if name not in names:
            names.append(name)
    return RowFilter(text, tuple(names))


def group_queries(values: Sequence[Sequence[Any]]) -> Mapping[tuple[Any, ...], list[int]]:
    """Query positions by their filter values: one exact search per distinct filter."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(tuple(v), []).append(i)
    return groups
