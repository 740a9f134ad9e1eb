"""The vector inventory: server facts, every vector column, every vector index.

Five statements (server, loading pgvector's settings, settings, columns, indexes),
whatever the number of tables: ``bench/inventory.py`` holds this to under a second on 1,000 indexes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.catalog.problems import find_problems
from vecscope.core.errors import ExtensionMissingError
from vecscope.core.models import (
    DistributedTable,
    Inventory,
    ServerInfo,
    Setting,
    VectorColumn,
    VectorIndex,
)
from vecscope.core.pgvector import DEFAULT_PARAMS, parse_reloptions

#: The settings a DBA looks at first (CLI header, the TUI's server strip), in this order.
HEADLINE_SETTINGS: tuple[str, ...] = (
    "maintenance_work_mem",
    "max_parallel_maintenance_workers",
    "hnsw.ef_search",
    "ivfflat.probes",
    "shared_buffers",
    "work_mem",
)

#: Every setting the inventory reads, in this order.
WATCHED_SETTINGS: tuple[str, ...] = (
    "maintenance_work_mem",
    "max_parallel_maintenance_workers",
    "max_parallel_workers",
    "hnsw.ef_search",
    "hnsw.iterative_scan",
    "ivfflat.probes",
    "ivfflat.iterative_scan",
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "enable_seqscan",
    "enable_indexscan",
    "random_page_cost",
    "statement_timeout",
    "lock_timeout",
)


def _rows(
    conn: psycopg.Connection[TupleRow],
    name: str,
    params: dict[str, Any] | None = None,
    **parts: sql.Composable,
) -> list[dict[str, Any]]:
    with db.mapped_errors("catalog query", conn):
        return db.rows(conn, name, params, **parts)


def fetch_server(conn: psycopg.Connection[TupleRow]) -> ServerInfo:
    """Server version, pgvector versions, recovery state and the settings that matter."""
    (row,) = _rows(conn, "server")
    if row["pgvector"] is not None and row["pgvector_schema"]:
        # pgvector defines hnsw.* and ivfflat.* when its library loads in this backend;
        # parsing one vector literal loads it, so current_setting() can see them.
        _rows(conn, "load_pgvector", schema=sql.Identifier(row["pgvector_schema"]))
    settings = _rows(conn, "settings", {"names": list(WATCHED_SETTINGS)})
    return ServerInfo(
        version=row["version"],
        version_num=row["version_num"],
        pgvector=row["pgvector"],
        pgvector_available=row["pgvector_available"],
        pgvectorscale=row["pgvectorscale"],
        citus=row["citus"],
        in_recovery=row["in_recovery"],
        settings=tuple(Setting(s["name"], s["value"], s["source"]) for s in settings),
        stats_reset=row["stats_reset"],
        current_user=row["current_user"],
        is_superuser=row["is_superuser"],
    )


def require_pgvector(server: ServerInfo, dbname: str) -> None:
    """Raise a one-line, actionable error when the database has no pgvector.

    vecscope never installs the extension itself: that is the DBA's decision.
    """
    if server.pgvector is not None:
        return
    if server.pgvector_available:
        raise ExtensionMissingError(
            f"pgvector {server.pgvector_available} is available on this server but not installed "
            f'in database "{dbname}": a role with CREATE on the database can run '
            "CREATE EXTENSION vector;"
        )
    major = server.version_num // 10000
    raise ExtensionMissingError(
        f"pgvector is not available on this server (PostgreSQL {server.version}): install it "
        f"(Debian/Ubuntu: apt install postgresql-{major}-pgvector; see "
        "github.com/pgvector/pgvector#installation), then CREATE EXTENSION vector;"
    )


def fetch_columns(conn: psycopg.Connection[TupleRow]) -> tuple[VectorColumn, ...]:
    return tuple(VectorColumn(**r) for r in _rows(conn, "columns"))


def fetch_indexes(
    conn: psycopg.Connection[TupleRow], server_version_num: int
) -> tuple[VectorIndex, ...]:
    result = []
    # pg_stat_user_indexes.last_idx_scan is PostgreSQL 16+.
    last_scan = "s.last_idx_scan::text" if server_version_num >= 160000 else "NULL::text"
    for r in _rows(conn, "indexes", last_scan=sql.SQL(last_scan)):
        explicit = parse_reloptions(r.pop("reloptions"))
        params = {**DEFAULT_PARAMS.get(r["method"], {}), **explicit}
        result.append(VectorIndex(params=params, params_explicit=tuple(explicit), **r))
    return tuple(result)


def fetch_inventory(conn: psycopg.Connection[TupleRow]) -> Inventory:
    """Everything the Indexes screen and ``vecscope indexes`` show.

    Raises:
        ExtensionMissingError: The database has no pgvector (with how to install it).
        QueryError: A catalog query failed (e.g. the statement timeout fired).
    """
    server = fetch_server(conn)
    require_pgvector(server, conn.info.dbname)
    columns = fetch_columns(conn)
    indexes = fetch_indexes(conn, server.version_num)
    distributed: tuple[DistributedTable, ...] = ()
    if server.citus is not None:
        distributed = tuple(DistributedTable(**r) for r in _rows(conn, "citus_tables"))
    inventory = Inventory(server=server, columns=columns, indexes=indexes, distributed=distributed)
    return replace(inventory, problems=find_problems(inventory))


def _citus_json(inv: Inventory, col: VectorColumn) -> dict[str, Any] | None:
    found = inv.distribution_of(col.schema, col.table)
    return None if found is None else {"method": found.method, "shards": found.shards}


def inventory_to_json(inv: Inventory) -> dict[str, Any]:
    """The ``vecscope indexes --json`` document. Other issues and scripts rely on its keys."""
    return {
        "server": {
            "version": inv.server.version,
            "version_num": inv.server.version_num,
            "pgvector": inv.server.pgvector,
            "pgvector_available": inv.server.pgvector_available,
            "pgvectorscale": inv.server.pgvectorscale,
            "citus": inv.server.citus,
            "in_recovery": inv.server.in_recovery,
            "current_user": inv.server.current_user,
            "stats_reset": inv.server.stats_reset,
            "settings": {s.name: s.value for s in inv.server.settings},
        },
        "columns": [
            {
                "schema": c.schema,
                "table": c.table,
                "column": c.column,
                "type": c.type,
                "dims": c.dims,
                "rows": c.rows,
                "table_bytes": c.table_bytes,
                "can_create_index": c.can_create_index,
                "can_select": c.can_select,
                "relkind": c.relkind,
                "partition_of": (f"{c.parent_schema}.{c.parent_table}" if c.parent_table else None),
                "citus": _citus_json(inv, c),
                "indexes": [ix.name for ix in inv.indexes_on(c)],
            }
            for c in inv.columns
        ],
        "indexes": [
            {
                "schema": ix.schema,
                "table": ix.table,
                "column": ix.column,
                "name": ix.name,
                "method": ix.method,
                "opclass": ix.opclass,
                "operator": ix.operator,
                "params": ix.params,
                "params_explicit": list(ix.params_explicit),
                "size_bytes": ix.size_bytes,
                "valid": ix.valid,
                "ready": ix.ready,
                "partial": ix.predicate is not None,
                "predicate": ix.predicate,
                "expression": ix.expression,
                "definition": ix.definition,
                "scans": ix.scans,
                "tuples_read": ix.tuples_read,
                "last_scan": ix.last_scan,
                "parent_index": ix.parent_index,
            }
            for ix in inv.indexes
        ],
        "problems": [
            {
                "severity": str(p.severity),
                "kind": p.kind,
                "schema": p.schema,
                "table": p.table,
                "column": p.column,
                "index": p.index,
                "message": p.message,
                "fix": p.fix,
            }
            for p in inv.problems
        ],
    }
