"""Refuse EXPLAIN ANALYZE of a statement that may have side effects.

EXPLAIN ANALYZE executes the statement. ``BEGIN READ ONLY`` stops it writing to tables,
not a volatile function's other effects, which no rollback undoes:
``pg_terminate_backend()`` ends another session, ``pg_stat_reset()`` clears statistics,
``nextval()`` advances a sequence, ``pg_advisory_lock()`` keeps a lock. So before ANALYZE,
every function and operator the statement may call is looked up, and one that is
VOLATILE, bar a few harmless ones, refuses the ANALYZE. They are read from three places,
since none shows them all: the statement itself; its plain plan (``EXPLAIN VERBOSE``
executes nothing, and shows what views, row-level security policies and inlined SQL
functions call); and the definitions of the views it reads, recursively (a plan does not
show a VALUES list's or a LIMIT's expressions). Functions are trusted to be as volatile as
they are declared: a STABLE function that calls a volatile one is not looked into.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db, sqlscan
from vecscope.core.errors import BadInputError

#: Volatile functions of pg_catalog that change nothing outside the statement, so
#: ANALYZE may run them: random numbers and shuffles (``setseed`` seeds only this
#: session's generator), the clock, random UUIDs, and sleeping (bounded by the
#: ``statement_timeout`` every EXPLAIN runs under).
HARMLESS_VOLATILE: frozenset[str] = frozenset(
    {
        "random",
        "random_normal",
        "setseed",
        "array_shuffle",
        "array_sample",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "uuidv4",
        "uuidv7",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
    }
)
#: Plan nodes that change something when executed: a write, or row locks.
_CHANGING_NODES = {
    "ModifyTable": "writes rows",
    "LockRows": "locks rows (FOR UPDATE / FOR SHARE)",
}
#: Plan keys whose values are names, not expressions (and may not even lex as SQL).
_NAME_KEYS = frozenset(
    {
        "Node Type",
        "Parent Relationship",
        "Subplan Name",
        "Custom Plan Provider",
        "Strategy",
        "Partial Mode",
        "Operation",
        "Relation Name",
        "Schema",
        "Alias",
        "Index Name",
        "Scan Direction",
        "Function Name",
        "Table Function Name",
        "CTE Name",
        "Tuplestore Name",
        "Join Type",
        "Command",
        "Sampling Method",
        "Conflict Resolution",
        "Conflict Arbiter Indexes",
    }
)
_REFUSED = "EXPLAIN ANALYZE refused: {}; run it without --analyze to see the plan"

Name = tuple[str | None, str]


@dataclass(slots=True)
class _Calls:
    """What some SQL text may call, and the relations (perhaps views) it names."""

    functions: set[Name] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)
    relations: set[Name] = field(default_factory=set)

    def scan(self, text: str) -> None:
        """Add the calls and names of ``text`` (a statement, a view, a plan expression)."""
        toks = [t for t in sqlscan.tokenize(text) if t.kind not in ("space", "comment")]
        k = 0
        while k < len(toks):
            t = toks[k]
            if t.kind == "op" and t.text != "::":
                self.operators.add(t.text)
            if t.kind not in ("word", "ident"):
                k += 1
                continue
            path = [_fold(t.text, t.kind)]
            start = k
            while (
                k + 2 < len(toks)
                and toks[k + 1].text == "."
                and toks[k + 2].kind in ("word", "ident")
            ):
                k += 2
                path.append(_fold(toks[k].text, toks[k].kind))
            name: Name = (path[-2] if len(path) > 1 else None, path[-1])
            after_tablesample = start > 0 and toks[start - 1].text.upper() == "TABLESAMPLE"
            if k + 1 < len(toks) and toks[k + 1].text == "(" and not after_tablesample:
                self.functions.add(name)
            self.relations.add(name)
            k += 1


def _fold(text: str, kind: str) -> str:
    """A name as the catalogs spell it: bare words fold to lower case, quoted ones do not."""
    if kind == "ident" and text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower() if kind == "word" else text


def _plan_texts(node: Any) -> Iterator[tuple[str, str]]:
    """Every ``(key, string)`` of a JSON plan, in lists and nested plans too."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                yield key, value
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, str):
                        yield key, item
                    else:
                        yield from _plan_texts(item)
            else:
                yield from _plan_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _plan_texts(item)


def _unzip(names: set[Name]) -> dict[str, list[str | None]]:
    """Names as the two parallel arrays (schemas, names) the catalog queries unnest."""
    ordered = sorted(names, key=lambda n: (n[0] or "", n[1]))
    return {"schemas": [s for s, _ in ordered], "names": [n for _, n in ordered]}


def _bare(function: str) -> str:
    """``"My S".side`` -> ``side``: the name of a function as ``regproc`` prints it."""
    toks = [t for t in sqlscan.tokenize(function) if t.kind in ("word", "ident")]
    return _fold(toks[-1].text, toks[-1].kind) if toks else function


def _read_calls(
    conn: psycopg.Connection[TupleRow], statement: str
) -> tuple[_Calls, dict[str, _Calls]]:
    """What ``statement``, its plan and the views it reads call (the views' calls also
    apart, by view), or a refusal when the plan writes or locks rows."""
    row = conn.execute(
        db.statement(
            "doctor_explain",
            options=sql.SQL("FORMAT JSON, VERBOSE"),
            query=sql.SQL(statement),  # the user's statement, as written: never formatted
        ),
        prepare=False,  # the user's statement: never prepared (see explain.explain)
    ).fetchone()
    texts = list(_plan_texts(row[0] if row is not None else []))
    for key, text in texts:
        if key == "Node Type" and text in _CHANGING_NODES:
            raise BadInputError(_REFUSED.format(f"the statement {_CHANGING_NODES[text]}"))
    calls = _Calls()
    by_view: dict[str, _Calls] = {}
    try:
        calls.scan(statement)
        for key, text in texts:
            if key not in _NAME_KEYS:
                calls.scan(text)
        with db.mapped_errors("reading the views the statement reads", conn):
            views = db.rows(conn, "doctor_views_read", _unzip(calls.relations))
        for view in views:
            by_view[view["view"]] = own = _Calls()
            own.scan(view["definition"])
            calls.functions |= own.functions
            calls.operators |= own.operators
    except BadInputError as e:
        raise BadInputError(_REFUSED.format(f"cannot tell what it calls ({e.message})")) from e
    return calls, by_view


def refuse_side_effects(
    conn: psycopg.Connection[TupleRow], statement: str, refused: str = _REFUSED
) -> None:
    """Raise unless executing ``statement`` can change nothing outside its transaction.

    Runs the plain EXPLAIN of ``statement`` (which executes nothing) and catalog lookups:
    call it inside the read-only transaction the EXPLAIN ANALYZE will run in.

    Args:
        conn: A connection inside the EXPLAIN's transaction.
        statement: One read-only statement, parameters already filled in.
        refused: The message, with ``{}`` for what was found (the default speaks of
            EXPLAIN ANALYZE).

    Raises:
        BadInputError: the statement calls a volatile function (but those of
            :data:`HARMLESS_VOLATILE`) directly or through an operator, an aggregate or a
            view, or its plan writes or locks rows; the one-line message names what.
        QueryError: a catalog lookup failed.
        psycopg.Error: the plain EXPLAIN failed (the caller maps it, as for the ANALYZE).
    """
    calls, by_view = _read_calls(conn, statement)
    params = {
        **_unzip(calls.functions),
        "operators": sorted(calls.operators),
        "allowed": sorted(HARMLESS_VOLATILE),
    }
    with db.mapped_errors("looking up the functions the statement calls", conn):
        volatile = [r["function"] for r in db.rows(conn, "doctor_volatile_calls", params)]
    if not volatile:
        return
    names = ", ".join(f"{f}()" for f in volatile[:3]) + (", ..." if len(volatile) > 3 else "")
    first = _bare(volatile[0])
    views = [v for v, own in by_view.items() if any(n == first for _, n in own.functions)]
    where = f" (called by view {views[0]})" if views else ""
    verb = "is" if len(volatile) == 1 else "are"
    raise BadInputError(refused.format(f"{names}{where} {verb} volatile and may have side effects"))
