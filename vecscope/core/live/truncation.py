"""Live's truncation flag: a query shape whose LIMIT is above the server's hnsw.ef_search.

An HNSW scan returns about ``hnsw.ef_search`` rows and stops, so ``LIMIT 500`` at the
default 40 comes back with some 40 to 50 rows and no error. pg_stat_statements
normalises ``LIMIT 500`` to ``LIMIT $2``, so the LIMIT is seldom in the text: a shape is
flagged when its text has a literal LIMIT above ``ef_search``, or when it returned more
rows per call than ``ef_search`` (its LIMIT is above it then, whatever it is) while an
HNSW index is on a table it reads and iterative scans are off.
"""

from __future__ import annotations

import math
from functools import lru_cache

from vecscope.core import sqlscan
from vecscope.core.live.model import IndexCounters, Setting

EF_SEARCH_DEFAULT = 40


def ef_search_of(settings: tuple[Setting, ...]) -> tuple[int, bool]:
    """``hnsw.ef_search`` for this database's new sessions, and whether iterative scans
    are on: an ``ALTER DATABASE ... SET`` wins over the server's value."""

    def value(name: str) -> str | None:
        found = {s.scope: s.value for s in settings if s.name == name}
        database = next((v for scope, v in found.items() if scope.startswith("database ")), None)
        return database if database is not None else found.get("server")

    raw = value("hnsw.ef_search")
    try:
        ef = int(raw) if raw else EF_SEARCH_DEFAULT
    except ValueError:
        ef = EF_SEARCH_DEFAULT
    iterative = (value("hnsw.iterative_scan") or "off") != "off"
    return ef, iterative


def hnsw_tables(indexes: tuple[IndexCounters, ...]) -> set[str]:
    """Names of the tables with a valid HNSW index (as a query may name them)."""
    return {ix.table_name for ix in indexes if ix.method == "hnsw" and ix.valid}


def truncation_flag(
    query: str | None,
    rows_per_call: float,
    ef_search: int,
    iterative: bool,
    tables: set[str],
) -> str | None:
    """The flag of one shape, or None.

    Args:
        query: The shape's normalised text (None when a recording left it out).
        rows_per_call: Mean rows a call returned (NaN when not known).
        ef_search: The ``hnsw.ef_search`` the application's sessions start with.
        iterative: ``hnsw.iterative_scan`` is on (the scan then goes on past ef_search).
        tables: Tables with an HNSW index (see :func:`hnsw_tables`).
    """
    if query is None or iterative or not tables:
        return None
    knn, literal, names = _scan(query)
    if not knn or not names & tables:
        return None
    if literal is not None and literal > ef_search:
        return (
            f"LIMIT {literal} > hnsw.ef_search = {ef_search}: an HNSW scan returns about "
            f"{ef_search} rows, the result is cut short (SET hnsw.ef_search = {literal}, or "
            "hnsw.iterative_scan on pgvector 0.8+)"
        )
    if literal is None and not math.isnan(rows_per_call) and rows_per_call > ef_search:
        return (
            f"LIMIT > hnsw.ef_search = {ef_search}: {rows_per_call:,.1f} rows per call, so its "
            f"LIMIT is above ef_search; where an HNSW scan serves it, it returns about "
            f"{ef_search} rows (raise hnsw.ef_search to the LIMIT, or hnsw.iterative_scan on "
            "pgvector 0.8+)"
        )
    return None


@lru_cache(maxsize=1024)
def _scan(query: str) -> tuple[bool, int | None, frozenset[str]]:
    """Whether ``query`` orders by a bare ascending distance, its literal LIMIT there (None
    for ``$n`` or none), and the names it holds; cached: a shape is seen at every poll."""
    try:
        orderings = [o for o in sqlscan.knn_orderings(query) if o.bare and not o.descending]
        names = frozenset(
            t.text[1:-1] if t.kind == "ident" else t.text.lower()
            for t in sqlscan.tokenize(query)
            if t.kind in ("word", "ident")
        )
    except Exception:  # noqa: BLE001 - a text that does not scan is no vector shape
        return False, None, frozenset()
    literal = next(
        (o.limit for o in orderings if o.limit is not None and not o.limit_is_param), None
    )
    return bool(orderings), literal, names
