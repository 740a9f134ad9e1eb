"""The one database helper, in the manner of pg_activity: every statement vecscope runs
against a catalog lives in ``core/sql/<name>.sql``, is loaded by name here, has its
variable parts filled by ``psycopg.sql`` composition (never string replacement), and its
rows become records through :func:`psycopg.rows.class_row`. psycopg's errors become
core's error classes at this one boundary (:func:`mapped_errors`).

In a ``.sql`` file, ``%(name)s`` / ``%s`` are query parameters (values, sent separately)
and ``{name}`` marks a composed part (an identifier, an SQL fragment); a literal brace is
written twice. ``{vector_operators}`` is filled everywhere with :data:`VECTOR_OPERATORS`,
so the set of pgvector's distance operators is defined once.

Keeping the text in files lets a DBA read exactly what vecscope runs against their server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from vecscope.core.errors import ConnectError, QueryError, first_line

T = TypeVar("T")
Params = Mapping[str, Any] | Sequence[Any] | None

#: pgvector's distance operators, as a regular expression over query texts:
#: <-> L2, <=> cosine, <#> negative inner product, <+> L1, <~> Hamming, <%> Jaccard.
VECTOR_OPERATORS = r"(<->|<=>|<#>|<\+>|<~>|<%>)"

#: Parts every statement may use without being given them.
_DEFAULT_PARTS: dict[str, sql.Composable] = {
    "vector_operators": sql.Literal(VECTOR_OPERATORS),
}


@cache
def text(name: str) -> str:
    """The statement in ``core/sql/<name>.sql`` (braces and all), without the file's
    leading ``--`` header: that is for the reader of the file; the server, its logs,
    ``pg_stat_activity`` and ``pg_stat_statements`` see the statement alone."""
    lines = (
        resources.files("vecscope.core")
        .joinpath("sql", f"{name}.sql")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip() + "\n"


def statement(name: str, **parts: sql.Composable) -> sql.Composed:
    """``core/sql/<name>.sql`` with its ``{parts}`` composed in."""
    return sql.SQL(text(name)).format(**{**_DEFAULT_PARTS, **parts})


@contextmanager
def mapped_errors(what: str, conn: psycopg.Connection[Any] | None = None) -> Iterator[None]:
    """Turn a psycopg error into one of core's: :class:`ConnectError` when ``conn`` broke,
    :class:`QueryError` otherwise ("<what> failed: <first line>"; a cancelled statement
    says the server was slow or locked).

    Callers that treat a cancellation differently catch
    :class:`psycopg.errors.QueryCanceled` inside the block.
    """
    try:
        yield
    except psycopg.Error as e:
        first = first_line(e)
        if conn is not None and conn.broken:
            raise ConnectError(f"connection lost: {first}") from e
        if isinstance(e, psycopg.errors.QueryCanceled):
            raise QueryError(
                f"{what} cancelled ({first}): the server is slow or locked; try again"
            ) from e
        raise QueryError(f"{what} failed: {first}") from e


def records(
    conn: psycopg.Connection[Any],
    name: str,
    record: type[T],
    params: Params = None,
    **parts: sql.Composable,
) -> list[T]:
    """Every row of ``name`` as a ``record`` (a dataclass whose fields are the columns)."""
    with conn.cursor(row_factory=class_row(record)) as cur:
        return cur.execute(statement(name, **parts), params).fetchall()


def record(
    conn: psycopg.Connection[Any],
    name: str,
    record_type: type[T],
    params: Params = None,
    **parts: sql.Composable,
) -> T | None:
    """The first row of ``name`` as a ``record_type``, or None."""
    with conn.cursor(row_factory=class_row(record_type)) as cur:
        return cur.execute(statement(name, **parts), params).fetchone()


def rows(
    conn: psycopg.Connection[Any], name: str, params: Params = None, **parts: sql.Composable
) -> list[dict[str, Any]]:
    """Every row of ``name`` as a dict, for records built by a constructor of their own."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(statement(name, **parts), params).fetchall()


def row(
    conn: psycopg.Connection[Any], name: str, params: Params = None, **parts: sql.Composable
) -> dict[str, Any] | None:
    """The first row of ``name`` as a dict, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(statement(name, **parts), params).fetchone()


def execute(
    conn: psycopg.Connection[Any], name: str, params: Params = None, **parts: sql.Composable
) -> None:
    """Run ``name`` for its effect."""
    conn.execute(statement(name, **parts), params)
