"""Connecting the way psql does, and every bad connection input as one clear line."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, PASSWORD_ROLE, Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core.connection import ConnectionTarget, redact
from vecscope.core.embedded import EmbeddedServer


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSFILE"] = str(tmp_path / "no-pgpass")
    env["PGSERVICEFILE"] = str(tmp_path / "no-service-file")
    env.update(extra)
    return env


def test_psql_flags(demo_db: Database, pg: EmbeddedServer, tmp_path: Path) -> None:
    r = vecscope(
        "indexes",
        "--json",
        "-h",
        pg.socket_dir,
        "-p",
        "5432",
        "-U",
        "postgres",
        "-d",
        demo_db.name,
        env=_clean_env(tmp_path),
    )
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["indexes"]) >= 5


def test_libpq_environment(demo_db: Database, pg: EmbeddedServer, tmp_path: Path) -> None:
    env = _clean_env(tmp_path, PGHOST=pg.socket_dir, PGUSER="postgres", PGDATABASE=demo_db.name)
    r = vecscope("indexes", "--json", env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out)["columns"]


def test_service_file(demo_db: Database, pg: EmbeddedServer, tmp_path: Path) -> None:
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[vsdemo]\nhost={pg.socket_dir}\nuser=postgres\ndbname={demo_db.name}\n")
    env = _clean_env(tmp_path, PGSERVICEFILE=str(services))
    r = vecscope("indexes", "--json", "--dsn", "service=vsdemo", env=env)
    assert r.code == 0, r.err
    r = vecscope("indexes", "--json", env={**env, "PGSERVICE": "vsdemo"})
    assert r.code == 0, r.err


def test_pgpass_supplies_the_password(pg: EmbeddedServer, tmp_path: Path) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:{PASSWORD_ROLE}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    env = _clean_env(tmp_path, PGPASSFILE=str(pgpass))
    # This role needs a password (scram-sha-256); only .pgpass gives it. No pgvector in
    # "postgres", so success here is the extension message, not a password failure.
    r = vecscope("indexes", "-h", pg.socket_dir, "-U", PASSWORD_ROLE, "-d", "postgres", env=env)
    assert_one_line_error(r, "CREATE EXTENSION vector")
    assert PASSWORD not in r.out + r.err


def test_wrong_password(pg: EmbeddedServer, tmp_path: Path) -> None:
    wrong = "Wr0ng-pa55word"
    dsn = f"postgresql://{PASSWORD_ROLE}:{wrong}@/postgres?host={pg.socket_dir}"
    r = vecscope("indexes", "--dsn", dsn, env=_clean_env(tmp_path))
    assert_one_line_error(r, "password authentication failed", "~/.pgpass")
    assert wrong not in r.out + r.err
    r = vecscope(
        "indexes",
        "--json",
        "-h",
        pg.socket_dir,
        "-U",
        PASSWORD_ROLE,
        env=_clean_env(tmp_path, PGPASSWORD=wrong),
    )
    assert_one_line_error(r, "password authentication failed")
    assert wrong not in r.out + r.err


def test_missing_database(pg: EmbeddedServer, tmp_path: Path) -> None:
    r = vecscope(
        "indexes",
        "-h",
        pg.socket_dir,
        "-U",
        "postgres",
        "-d",
        "no_such_db",
        env=_clean_env(tmp_path),
    )
    assert_one_line_error(r, 'database "no_such_db" does not exist')


def test_unreachable_host(tmp_path: Path) -> None:
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = vecscope(
        "indexes",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        "x",
        "-d",
        "y",
        env=_clean_env(tmp_path),
    )
    assert_one_line_error(r, "cannot connect to x@127.0.0.1", "Connection refused")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung server."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in accepted:
        c.close()
    srv.close()


def test_hung_server_times_out(silent_server: int, tmp_path: Path) -> None:
    dsn = f"host=127.0.0.1 port={silent_server} user=x dbname=y connect_timeout=2"
    r = vecscope("indexes", "--dsn", dsn, env=_clean_env(tmp_path), timeout=30)
    assert_one_line_error(r, "timeout")


def test_database_without_pgvector(pg: EmbeddedServer, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(pg.conninfo(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS t_no_vector")
        admin.execute("CREATE DATABASE t_no_vector")
    r = vecscope(
        "indexes",
        "-h",
        pg.socket_dir,
        "-U",
        "postgres",
        "-d",
        "t_no_vector",
        env=_clean_env(tmp_path),
    )
    assert_one_line_error(r, "not installed", "CREATE EXTENSION vector")
    with psycopg.connect(pg.conninfo("t_no_vector")) as conn:
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert installed is None, "vecscope must never install the extension itself"


def test_invalid_dsn(tmp_path: Path) -> None:
    r = vecscope("indexes", "--dsn", "host=x nonsense_option=1", env=_clean_env(tmp_path))
    assert_one_line_error(r, "invalid DSN")
    r = vecscope(
        "indexes", "--dsn", "password=S3cret-xyz nonsense_option=1", env=_clean_env(tmp_path)
    )
    assert_one_line_error(r)
    assert "S3cret-xyz" not in r.err


def test_describe_never_shows_password() -> None:
    t = ConnectionTarget(dsn="postgresql://alice:pw-123@db.example:6432/app")
    assert t.describe() == "alice@db.example:6432/app"
    assert "pw-123" in t.conninfo()  # libpq needs it; nothing we show has it
    assert t.password() == "pw-123"


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://alice:pw-123@host/db",
        "host=h password=pw-123 user=alice",
        "host=h password = 'pw-123' user=alice",
        "failed for pw-123",
    ],
)
def test_redact(text: str) -> None:
    assert "pw-123" not in redact(text, "pw-123")


def test_usage_errors_are_one_line() -> None:
    assert_one_line_error(vecscope("indexes", "--bogus"), "unrecognized arguments: --bogus")
    assert_one_line_error(vecscope("demo", "sideways"), "invalid choice")


def test_no_connection_given_names_the_socket_tried_and_what_to_pass(tmp_path: Path) -> None:
    """Issue #15, point 16: not '?@local socket:5432/?' and nothing else."""
    import getpass

    r = vecscope("indexes", env=_clean_env(tmp_path))
    assert_one_line_error(r, "no server listens on the socket", "no connection was given")
    assert "--dsn" in r.err and "?@" not in r.err
    assert f"{getpass.getuser()}@local socket" in r.err
