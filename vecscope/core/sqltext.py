"""Build the SQL text vecscope shows or runs, with every identifier quoted by psycopg."""

from __future__ import annotations

import re

from psycopg import sql


def ident(*parts: str) -> str:
    """``ident("search", "Product Embeddings")`` -> ``"search"."Product Embeddings"``."""
    return sql.Identifier(*parts).as_string(None)


_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")
#: Reserved words that must be quoted even when lower case (PostgreSQL's fully reserved list).
_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "system_user",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ]
)


def display_ident(*parts: str) -> str:
    """Like :func:`ident` but quotes only where PostgreSQL needs it, as psql shows names."""
    return ".".join(p if _PLAIN.match(p) and p not in _RESERVED else ident(p) for p in parts)


def literal(value: object) -> str:
    return sql.Literal(value).as_string(None)


def index_name_for(table: str, column: str, method: str) -> str:
    """A name in PostgreSQL's own style, cut to the 63-byte identifier limit."""
    base = f"{table}_{column}_{method}_idx"
    encoded = base.encode()
    if len(encoded) <= 63:
        return base
    suffix = f"_{method}_idx"
    keep = 63 - len(suffix.encode())
    return encoded[:keep].decode(errors="ignore") + suffix


def create_index_sql(
    schema: str,
    table: str,
    column: str,
    method: str,
    opclass: str,
    params: dict[str, int] | None = None,
    name: str | None = None,
) -> str:
    """A ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` statement with explicit opclass."""
    name = name or index_name_for(table, column, method)
    with_clause = ""
    if params:
        with_clause = " WITH (" + ", ".join(f"{k} = {int(v)}" for k, v in params.items()) + ")"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} ON {ident(schema, table)} "
        f"USING {method} ({ident(column)} {opclass}){with_clause};"
    )
