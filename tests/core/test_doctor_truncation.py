"""Issue #16: a LIMIT an approximate index scan cannot return, in the doctor and in Live.

An HNSW scan returns about ``hnsw.ef_search`` rows and stops; an IVFFlat scan reads
``ivfflat.probes`` lists of about ``rows / lists`` rows. Above that, the result is cut
short with no error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import TupleRow

from tests.conftest import Database
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import connected
from vecscope.core.doctor.diagnose import Diagnosis, diagnose, try_fix
from vecscope.core.doctor.explain import explain
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.live.model import IndexCounters, Setting, Snapshot, StatementCounters
from vecscope.core.live.rates import LiveTracker
from vecscope.core.live.session import point_to_json
from vecscope.core.live.truncation import truncation_flag
from vecscope.core.models import Severity
from vecscope.core.pgvector import has_feature

HNSW = "SELECT id FROM h ORDER BY v <-> (SELECT v FROM h WHERE id = 1) LIMIT 100"
IVF = "SELECT id FROM iv ORDER BY v <-> (SELECT v FROM iv WHERE id = 1) LIMIT 500"
VECTOR = (
    "ARRAY[sin(i), cos(i), sin(3 * i), cos(3 * i), sin(5 * i), cos(5 * i), sin(7 * i), "
    "cos(7 * i)]::real[]::vector"
)


@pytest.fixture(scope="module")
def tables(db: Database) -> Database:
    """h: 20,000 rows under HNSW; iv: 20,000 rows under IVFFlat, lists = 100 (~200 a list)."""
    with db.connect() as c:
        for name, using in (
            ("h", "hnsw (v vector_l2_ops)"),
            ("iv", "ivfflat (v vector_l2_ops) WITH (lists = 100)"),
        ):
            c.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v vector(8))")
            c.execute(f"INSERT INTO {name} SELECT i, {VECTOR} FROM generate_series(1, 20000) i")
            c.execute(f"CREATE INDEX {name}_idx ON {name} USING {using}")
        c.execute("ANALYZE")
    return db


@pytest.fixture(scope="module")
def conn(tables: Database) -> Iterator[psycopg.Connection[TupleRow]]:
    with connected(tables.target) as c:
        yield c


def run(conn: psycopg.Connection[TupleRow], sql: str, *, analyze: bool = False) -> Diagnosis:
    inventory = fetch_inventory(conn)
    d = diagnose(explain(conn, sql, inventory, analyze=analyze), inventory)
    if not d.knn_served:
        pytest.skip("this planner sorts the table for this LIMIT: no index scan to truncate")
    return d


def test_limit_above_ef_search(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, HNSW)
    f = next(f for f in d.findings if f.rule == "ef-search-below-limit")
    assert f.severity == Severity.WARNING
    assert f.message.startswith("LIMIT 100 is above hnsw.ef_search = 40: an HNSW scan returns")
    assert "run with ANALYZE to see how many came back" in f.message
    assert f.settings == (("hnsw.ef_search", "100"),)
    assert "SET hnsw.ef_search = 100;" in (f.fix or "")
    if has_feature(fetch_inventory(conn).server.pgvector, "iterative_scan"):
        assert "SET hnsw.iterative_scan = strict_order;" in (f.fix or "")
    else:
        assert "upgrade pgvector to 0.8+" in (f.fix or "")


def test_analysed_the_short_result_is_the_evidence(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, HNSW, analyze=True)
    got = d.result.plan.root.actual_rows
    assert got is not None and got < 100
    f = next(f for f in d.findings if f.rule == "ef-search-below-limit")
    assert f.severity == Severity.ERROR and d.exit_code == 3
    assert f"it returned {got:.0f} of LIMIT 100 rows" in f.message
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.tried == f and fixed.fix_worked
    assert fixed.result.plan.root.actual_rows == 100


def test_iterative_scan_is_no_truncation(conn: psycopg.Connection[TupleRow]) -> None:
    if not has_feature(fetch_inventory(conn).server.pgvector, "iterative_scan"):
        pytest.skip("pgvector before 0.8 has no hnsw.iterative_scan")
    conn.execute("SET hnsw.iterative_scan = strict_order")
    try:
        d = run(conn, HNSW)
    finally:
        conn.execute("RESET hnsw.iterative_scan")
    assert "ef-search-below-limit" not in {f.rule for f in d.findings}


def test_a_limit_within_ef_search_is_fine(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, HNSW.replace("LIMIT 100", "LIMIT 40"))
    assert "ef-search-below-limit" not in {f.rule for f in d.findings}


def test_ivfflat_probes_too_few_for_the_limit(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, IVF, analyze=True)
    f = next(f for f in d.findings if f.rule == "probes-below-limit")
    got = d.result.plan.root.actual_rows
    assert got is not None and got < 500
    assert f.severity == Severity.ERROR
    assert f.message.startswith(
        "ivfflat.probes = 1 of lists = 100 reads ~200 rows (1 x ~20,000 rows / 100 lists), "
        "fewer than LIMIT 500"
    )
    assert f"it returned {got:.0f} of LIMIT 500 rows" in f.message
    assert f.settings == (("ivfflat.probes", "3"),)
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.tried == f
    assert "probes-below-limit" not in {x.rule for x in fixed.findings}


# --- Live ------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHAPE = "SELECT id FROM h ORDER BY v <-> $1 LIMIT $2"


def snapshot(
    seq: int, calls: int, rows: int, *, query: str = SHAPE, ef: str = "40", iterative: str = "off"
) -> Snapshot:
    return Snapshot(
        seq=seq,
        at=T0 + timedelta(seconds=2 * seq),
        server_started=T0,
        statements_reset=None,
        statements=(StatementCounters(1, calls, calls * 1.5, rows, query, None),),
        statements_missing=None,
        sees_all=True,
        running=(),
        indexes=(IndexCounters(10, "public", "h", "h_idx", "hnsw", True, 0, 0, 0, 0, 20_000),),
        settings=(
            Setting("server", "hnsw.ef_search", ef),
            Setting("server", "hnsw.iterative_scan", iterative),
        ),
        poll_ms=1.0,
    )


def test_live_flags_a_shape_returning_more_rows_than_ef_search() -> None:
    """LIMIT is $2 in pg_stat_statements: 51 rows a call is the proof it is above 40."""
    tracker = LiveTracker()
    first = tracker.feed(snapshot(1, 10, 510))
    assert first.shapes[0].flag is not None  # from the totals, before any rate
    point = tracker.feed(snapshot(2, 20, 1020))
    flag = point.shapes[0].flag
    assert flag is not None and flag.startswith("LIMIT > hnsw.ef_search = 40: 51.0 rows per call")
    assert point_to_json(point)["shapes"][0]["flag"] == flag
    # 40 rows a call: the LIMIT may be 40, nothing proves a cut.
    assert LiveTracker().feed(snapshot(1, 10, 400)).shapes[0].flag is None
    # Iterative scans go on past ef_search; a raised ef_search covers the rows.
    assert (
        LiveTracker().feed(snapshot(1, 10, 510, iterative="relaxed_order")).shapes[0].flag is None
    )
    assert LiveTracker().feed(snapshot(1, 10, 510, ef="100")).shapes[0].flag is None


def test_live_flag_rules() -> None:
    tables = {"h"}
    literal = truncation_flag(
        "SELECT id FROM h ORDER BY v <-> $1 LIMIT 500", 40.0, 40, False, tables
    )
    assert literal is not None and literal.startswith("LIMIT 500 > hnsw.ef_search = 40")
    # No HNSW index on the table it reads, no ordering by a distance: no flag.
    assert truncation_flag(SHAPE.replace(" h ", " other "), 51.0, 40, False, tables) is None
    assert truncation_flag("SELECT id FROM h LIMIT $1", 51.0, 40, False, tables) is None
    assert truncation_flag(None, 51.0, 40, False, tables) is None


def test_live_flag_from_a_real_poll(pgss_server: EmbeddedServer, tables: Database) -> None:
    """A real pg_stat_statements entry: duplicate vectors let an HNSW scan return more
    than ef_search rows, and LIMIT 100 is above it."""
    from vecscope.core.live.poll import Poller

    with tables.connect() as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        c.execute("CREATE TABLE dup (id int PRIMARY KEY, v vector(8))")
        c.execute(
            "INSERT INTO dup SELECT i, "
            + VECTOR.replace("i)", "(i / 3))").replace("* i", "* (i / 3)")
            + " FROM generate_series(1, 6000) i"
        )
        c.execute("CREATE INDEX dup_idx ON dup USING hnsw (v vector_l2_ops)")
        c.execute("ANALYZE dup")
        query = "SELECT id FROM dup ORDER BY v <-> (SELECT v FROM dup WHERE id = 1) LIMIT 100"
        for _ in range(3):
            rows = c.execute(query).fetchall()
    if len(rows) <= 40:
        pytest.skip("this planner or pgvector returned at most ef_search rows here")
    with connected(tables.target) as c:
        point = LiveTracker().feed(Poller(c).poll())
    shape = next(s for s in point.shapes if s.query and "FROM dup" in s.query)
    assert "LIMIT $" in (shape.query or "")  # normalised: the LIMIT is not in the text
    assert shape.flag is not None and shape.flag.startswith("LIMIT > hnsw.ef_search = 40")
