"""EXPLAIN ANALYZE refuses what may have side effects, and changes nothing (issue #13.8).

``BEGIN READ ONLY`` stops writes to tables, not a volatile function's other effects: each
test proves on the real server that the effect did not happen, not only that the call
failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import connected
from vecscope.core.doctor.explain import ExplainResult, explain
from vecscope.core.doctor.side_effects import _Calls
from vecscope.core.errors import BadInputError

VICTIM = "vecscope_test_victim"
KILL = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{VICTIM}'"

#: A function that writes and keeps a session lock (which no rollback releases), a view
#: calling it, a view hiding nextval() where a plan does not show it (a VALUES list) under
#: another view, a view that locks rows, an operator and an aggregate running volatile
#: functions.
SETUP = """
CREATE TABLE side_log (n bigint);
CREATE SEQUENCE side_seq;
CREATE FUNCTION side_write(n bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_lock(4242);
    INSERT INTO side_log VALUES (n);
    RETURN n;
END $$;
CREATE VIEW side_view AS SELECT id, side_write(id) AS w FROM articles;
CREATE VIEW side_values AS SELECT * FROM (VALUES (nextval('side_seq'))) AS v (n);
CREATE VIEW side_outer AS SELECT n FROM side_values;
CREATE VIEW side_locks AS SELECT id FROM articles FOR UPDATE;
CREATE FUNCTION side_eq(a bigint, b bigint) RETURNS bool LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_lock(4242);
    RETURN a = b;
END $$;
CREATE OPERATOR === (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = side_eq);
CREATE FUNCTION side_acc(s bigint, n bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_lock(4242);
    RETURN coalesce(s, 0) + n;
END $$;
CREATE AGGREGATE side_sum(bigint) (SFUNC = side_acc, STYPE = bigint);
CREATE SCHEMA "Side Schema";
CREATE FUNCTION "Side Schema"."Write"() RETURNS SETOF int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_lock(4242);
    RETURN NEXT 1;
END $$;
"""


@pytest.fixture(scope="module")
def objects(demo_db: Database) -> Database:
    with demo_db.connect() as c:
        c.execute(SETUP)
    return demo_db


@pytest.fixture
def conn(objects: Database) -> Iterator[psycopg.Connection[TupleRow]]:
    with connected(objects.target) as c:
        yield c


def analyze(conn: psycopg.Connection[TupleRow], query: str) -> ExplainResult:
    return explain(conn, query, fetch_inventory(conn), analyze=True)


def refused(conn: psycopg.Connection[TupleRow], query: str) -> str:
    with pytest.raises(BadInputError) as e:
        analyze(conn, query)
    message = e.value.message
    assert message.startswith("EXPLAIN ANALYZE refused: "), message
    assert "\n" not in message
    return message


def state(db: Database) -> tuple[object, ...]:
    """What the refused statements would change: rows, sequence, advisory locks."""
    with db.connect() as c:
        row = c.execute(
            "SELECT (SELECT count(*) FROM side_log), (SELECT last_value FROM side_seq),"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')"
        ).fetchone()
    assert row is not None
    return tuple(row)


def alive(victim: psycopg.Connection[TupleRow]) -> bool:
    try:
        return victim.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_terminate_backend_refused_and_the_session_survives(
    objects: Database, conn: psycopg.Connection[TupleRow]
) -> None:
    with psycopg.connect(objects.dsn, autocommit=True, application_name=VICTIM) as victim:
        message = refused(conn, KILL)
        assert "pg_terminate_backend() is volatile and may have side effects" in message
        assert "run it without --analyze" in message
        assert alive(victim)
        # Without ANALYZE, the plan is shown and nothing is executed.
        assert not explain(conn, KILL, fetch_inventory(conn)).analyzed
        assert alive(victim)


def test_stat_reset_refused_and_the_statistics_kept(
    objects: Database, conn: psycopg.Connection[TupleRow]
) -> None:
    def stats() -> tuple[object, ...]:
        with objects.connect() as c:
            row = c.execute(
                "SELECT stats_reset, xact_commit > 0 FROM pg_stat_database"
                " WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        return tuple(row)

    before = stats()
    assert before[1] is True
    assert "pg_stat_reset() is volatile" in refused(conn, "SELECT pg_stat_reset()")
    assert stats()[0] == before[0]


def test_view_over_a_function_that_writes(
    objects: Database, conn: psycopg.Connection[TupleRow]
) -> None:
    before = state(objects)
    assert before[0] == 0
    message = refused(conn, "SELECT id, w FROM side_view WHERE id < 5")
    assert "side_write() (called by view side_view) is volatile" in message
    assert state(objects) == before


def test_nextval_refused_and_the_sequence_unchanged(
    objects: Database, conn: psycopg.Connection[TupleRow]
) -> None:
    before = state(objects)
    assert "nextval() is volatile" in refused(conn, "SELECT nextval('side_seq')")
    assert "nextval() is volatile" in refused(conn, "VALUES (nextval('side_seq'))")
    # Where a plan does not show it: a VALUES list in a view, read through another view.
    message = refused(conn, "SELECT n FROM side_outer")
    assert "nextval() (called by view side_values) is volatile" in message
    assert state(objects) == before


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("SELECT id FROM articles WHERE id === 3", "side_eq() is volatile"),
        ("SELECT side_sum(id) FROM articles", "side_sum() is volatile"),
        ('SELECT * FROM "Side Schema"."Write"()', '"Side Schema"."Write"() is volatile'),
        ("SELECT pg_advisory_lock(4242)", "pg_advisory_lock() is volatile"),
        ("EXPLAIN ANALYZE SELECT setval('side_seq', 99)", "setval() is volatile"),
        ("SELECT id FROM side_locks", "the statement locks rows"),
    ],
)
def test_operators_aggregates_schemas_and_locks(
    objects: Database, conn: psycopg.Connection[TupleRow], query: str, fragment: str
) -> None:
    before = state(objects)
    assert fragment in refused(conn, query)
    assert state(objects) == before


def test_harmless_reads_still_analyze(
    objects: Database, conn: psycopg.Connection[TupleRow]
) -> None:
    with objects.connect() as c:
        row = c.execute("SELECT embedding::text FROM doc_chunks WHERE id = 7").fetchone()
    assert row is not None
    knn = f"SELECT id FROM doc_chunks ORDER BY embedding <=> '{row[0]}' LIMIT 10"
    for query in (
        knn,
        "SELECT id FROM messages ORDER BY embedding <=> $1 LIMIT 10",
        "SELECT id, random(), clock_timestamp(), gen_random_uuid() FROM articles LIMIT 10",
        "SELECT count(*) FROM articles TABLESAMPLE system (50)",
        "SELECT count(*), max(pid) FROM pg_stat_activity",
        "SELECT 'pg_terminate_backend(1)' AS not_a_call, now()",
    ):
        result = analyze(conn, query)
        assert result.analyzed, query
    assert result.plan.root.actual_rows is not None


def test_calls_are_read_by_postgres_lexical_rules() -> None:
    calls = _Calls()
    calls.scan(
        'SELECT a.f(1), "Odd"."G" (2), \'nextval(1)\', H((x)) -- random()\n'
        "FROM s.t TABLESAMPLE system (1) WHERE x <=> y"
    )
    assert calls.functions == {("a", "f"), ("Odd", "G"), (None, "h")}
    assert {"<=>"} <= calls.operators
    assert ("s", "t") in calls.relations


def test_cli_exit_2_one_line_and_the_session_survives(objects: Database) -> None:
    with psycopg.connect(objects.dsn, autocommit=True, application_name=VICTIM) as victim:
        r = vecscope("explain", "--dsn", objects.dsn, "--analyze", KILL)
        assert_one_line_error(r, "pg_terminate_backend() is volatile and may have side effects")
        assert r.out == ""
        assert alive(victim)
    before = state(objects)
    r = vecscope("explain", "--dsn", objects.dsn, "--analyze", "SELECT * FROM side_view")
    assert_one_line_error(r, "side_write() (called by view side_view) is volatile")
    assert state(objects) == before
    r = vecscope("explain", "--dsn", objects.dsn, "--analyze", "--json", "SELECT random()")
    assert r.code == 0, r.err
    assert json.loads(r.out)["analyzed"] is True
