"""What vecscope does where it finds Citus. No Citus server can be installed here (not in
Debian's archive, no other registry reachable), so the catalog query that lists
distributed tables is untested; what vecscope concludes from it is tested here on the
inventory a real server gives, with the Citus facts that query would add."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import Database
from vecscope.core.catalog.inventory import fetch_inventory, inventory_to_json
from vecscope.core.catalog.problems import find_problems
from vecscope.core.connection import connect
from vecscope.core.migrate.checks import FAIL, OK, citus_check
from vecscope.core.migrate.plan import choose
from vecscope.core.models import DistributedTable, Inventory, ProblemKind


def _as_citus(inv: Inventory, *tables: DistributedTable) -> Inventory:
    server = replace(inv.server, citus="12.1-1")
    citus = replace(inv, server=server, distributed=tables)
    return replace(citus, problems=find_problems(citus))


def test_no_citus_no_check(demo_db: Database) -> None:
    with connect(demo_db.target) as conn:
        inv = fetch_inventory(conn)
    spec = choose(inv, index="public.idx_doc_chunks_embedding", to="hnsw")
    # The real server has no citus extension: nothing Citus is said anywhere.
    assert inv.server.citus is None and inv.distributed == ()
    assert citus_check(inv, spec) is None
    assert not [p for p in inv.problems if p.kind == ProblemKind.CITUS_DISTRIBUTED]
    doc = inventory_to_json(inv)
    assert doc["server"]["citus"] is None
    assert all(c["citus"] is None for c in doc["columns"])


def test_a_distributed_table_is_flagged_and_refused(demo_db: Database) -> None:
    with connect(demo_db.target) as conn:
        inv = fetch_inventory(conn)
    spec = choose(inv, index="public.idx_doc_chunks_embedding", to="hnsw")
    citus = _as_citus(inv, DistributedTable("public", "doc_chunks", "hash", 32))
    flagged = [p for p in citus.problems if p.kind == ProblemKind.CITUS_DISTRIBUTED]
    assert [(p.table, p.column) for p in flagged] == [("doc_chunks", "embedding")]
    assert "32 shards" in flagged[0].message and "maintenance_work_mem" in flagged[0].message
    check = citus_check(citus, spec)
    assert check is not None and check.status == FAIL
    assert "IF NOT EXISTS" in check.detail and "docs/citus.md" in check.detail
    doc = inventory_to_json(citus)
    col = next(c for c in doc["columns"] if c["table"] == "doc_chunks")
    assert col["citus"] == {"method": "hash", "shards": 32}
    # A local table on a Citus node migrates as anywhere else.
    other = _as_citus(inv, DistributedTable("public", "messages", "reference", 1))
    local = citus_check(other, spec)
    assert local is not None and local.status == OK
    ref = [p for p in other.problems if p.kind == ProblemKind.CITUS_DISTRIBUTED]
    assert "reference table" in ref[0].message
