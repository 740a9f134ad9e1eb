"""The backup step: real dumps of awkward names, verified, and every failure leaving nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from tests.conftest import PASSWORD, PASSWORD_ROLE, Database
from vecscope.core import embedded
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import BackupError, BadInputError, EmbeddedServerError
from vecscope.core.migrate import backup
from vecscope.core.migrate.backup import BackupRecord, confirmed, dump, find_pg_dump, verify_dump

SCHEMA = "search"
TABLE = "Product Embeddings"
#: A name that is a prefix of TABLE: a loose match would take one for the other.
NEAR_TABLE = "Product"
ROWS = 200
LABEL = "vecscope-20261121-071500-product_embeddings"


@pytest.fixture(scope="module")
def tables(db: Database) -> Database:
    with db.connect() as conn:
        conn.execute("CREATE SCHEMA search")
        conn.execute(
            'CREATE TABLE search."Product Embeddings" '
            "(id int PRIMARY KEY, title text, embedding vector(3))"
        )
        conn.execute(
            'INSERT INTO search."Product Embeddings" '
            "SELECT i, 'item ' || i, ARRAY[i, i * 2, i * 3]::real[]::vector "
            "FROM generate_series(1, %s) i",
            (ROWS,),
        )
        conn.execute(
            'CREATE INDEX "Product Embeddings_hnsw" ON search."Product Embeddings" '
            "USING hnsw (embedding vector_l2_ops)"
        )
        conn.execute('CREATE TABLE search."Product" (id int, embedding vector(3))')
        conn.execute("INSERT INTO search.\"Product\" VALUES (1, '[1,1,1]')")
        conn.execute("CREATE TABLE public.doc_chunks (id int, embedding vector(3))")
        conn.execute("INSERT INTO public.doc_chunks VALUES (1, '[0,0,1]')")
        for stmt in (
            "GRANT USAGE ON SCHEMA search TO {}",
            'GRANT SELECT ON search."Product Embeddings" TO {}',
        ):
            conn.execute(sql.SQL(stmt).format(sql.Identifier(PASSWORD_ROLE)))
    return db


@pytest.fixture(scope="module")
def server_version(tables: Database) -> int:
    with tables.connect() as conn:
        return conn.info.server_version


def _state(db: Database) -> tuple[int, list[str]]:
    """Row count and index definitions of the table: what a backup must never change."""
    with db.connect() as conn:
        count = conn.execute('SELECT count(*) FROM search."Product Embeddings"').fetchone()
        defs = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
            "ORDER BY indexname",
            (SCHEMA, TABLE),
        ).fetchall()
    assert count is not None
    return int(count[0]), [str(d[0]) for d in defs]


def _listing(pg_restore: Path, path: Path) -> list[str]:
    out = subprocess.run(
        [str(pg_restore), "--list", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line and not line.startswith(";")]


def _data_entries(lines: list[str]) -> list[str]:
    """``TABLE DATA search Product Embeddings postgres`` for each table whose data is there."""
    return [re.sub(r"^\d+; \d+ \d+ ", "", ln) for ln in lines if " TABLE DATA " in ln]


def _major(version: str) -> int:
    match = re.match(r"(\d+)", version)
    assert match is not None, version
    return int(match.group(1))


def _version_of(program: Path) -> str:
    out = subprocess.run(
        [str(program), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\(PostgreSQL\) (\S+)", out)
    assert match is not None, out
    return match.group(1)


# --- a successful dump --------------------------------------------------------------------


def test_table_dump_is_verified_and_hashed(
    tables: Database, server_version: int, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    before = _state(tables)
    record = dump(
        tables.dsn,
        None,
        kind="table",
        schema=SCHEMA,
        table=TABLE,
        backup_dir=backup_dir,
        server_version_num=server_version,
        label=LABEL,
    )
    final = backup_dir / f"{LABEL}.dump"
    assert record.kind == "table"
    assert record.path == str(final)
    # Only the final file: no temporary left beside it.
    assert sorted(p.name for p in backup_dir.iterdir()) == [final.name]
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    content = final.read_bytes()
    assert content.startswith(b"PGDMP")  # the custom format's magic
    assert record.bytes == len(content)
    assert record.sha256 == hashlib.sha256(content).hexdigest()
    assert record.tables == ('"search"."Product Embeddings"',)
    assert record.identifier is None
    assert record.pg_dump_version is not None
    assert _major(record.pg_dump_version) >= server_version // 10_000

    _, pg_restore = find_pg_dump(server_version)
    data = _data_entries(_listing(pg_restore, final))
    # pg_restore prints names unquoted, spaces and capitals as they are.
    assert data == ["TABLE DATA search Product Embeddings postgres"]
    assert _state(tables) == before


def test_table_dump_does_not_satisfy_a_prefix_name(
    tables: Database, server_version: int, tmp_path: Path
) -> None:
    """The listing line "search Product Embeddings postgres" must not pass for "Product"."""
    record = dump(
        tables.dsn,
        None,
        kind="table",
        schema=SCHEMA,
        table=TABLE,
        backup_dir=tmp_path,
        server_version_num=server_version,
        label=LABEL,
    )
    assert record.path is not None
    _, pg_restore = find_pg_dump(server_version)
    with pytest.raises(BackupError, match=r"holds no data for search\.\"Product\""):
        verify_dump(Path(record.path), SCHEMA, NEAR_TABLE, pg_restore=pg_restore)
    with pytest.raises(BackupError, match="holds no data"):
        verify_dump(Path(record.path), "public", "doc_chunks", pg_restore=pg_restore)
    verify_dump(Path(record.path), SCHEMA, TABLE, pg_restore=pg_restore)


def test_prefix_table_dump_holds_only_that_table(
    tables: Database, server_version: int, tmp_path: Path
) -> None:
    """The quoted --table pattern is exact: dumping "Product" leaves "Product Embeddings" out."""
    record = dump(
        tables.dsn,
        None,
        kind="table",
        schema=SCHEMA,
        table=NEAR_TABLE,
        backup_dir=tmp_path,
        server_version_num=server_version,
        label="near",
    )
    assert record.path is not None
    _, pg_restore = find_pg_dump(server_version)
    assert _data_entries(_listing(pg_restore, Path(record.path))) == [
        "TABLE DATA search Product postgres"
    ]


def test_table_dump_restores_the_rows(
    tables: Database, pg: EmbeddedServer, server_version: int, tmp_path: Path
) -> None:
    """A backup is only a backup if it restores: load it into an empty database."""
    record = dump(
        tables.dsn,
        None,
        kind="table",
        schema=SCHEMA,
        table=TABLE,
        backup_dir=tmp_path,
        server_version_num=server_version,
        label=LABEL,
    )
    assert record.path is not None
    _, pg_restore = find_pg_dump(server_version)
    target = tables.name + "_restore"
    with psycopg.connect(pg.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
    try:
        with psycopg.connect(pg.conninfo(target), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
            conn.execute("CREATE SCHEMA search")
        subprocess.run(
            [str(pg_restore), "--exit-on-error", f"--dbname={pg.conninfo(target)}", record.path],
            check=True,
            capture_output=True,
        )
        query = 'SELECT id, title, embedding::text FROM search."Product Embeddings" ORDER BY id'
        with tables.connect() as src, psycopg.connect(pg.conninfo(target)) as dst:
            original = src.execute(query).fetchall()
            restored = dst.execute(query).fetchall()
            index = dst.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'search' "
                "AND indexdef LIKE '%USING hnsw%'"
            ).fetchall()
        assert len(original) == ROWS
        assert restored == original
        assert index == [("Product Embeddings_hnsw",)]
    finally:
        with psycopg.connect(pg.conninfo(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target))
            )


def test_database_dump_holds_every_table(
    tables: Database, server_version: int, tmp_path: Path
) -> None:
    record = dump(
        tables.dsn,
        None,
        kind="database",
        schema=SCHEMA,
        table=TABLE,
        backup_dir=tmp_path / "nested" / "backups",
        server_version_num=server_version,
        label="whole-db",
    )
    assert record.kind == "database"
    assert record.path == str(tmp_path / "nested" / "backups" / "whole-db.dump")
    assert record.tables == ('"search"."Product Embeddings"',)
    _, pg_restore = find_pg_dump(server_version)
    data = _data_entries(_listing(pg_restore, Path(record.path)))
    assert sorted(data) == [
        "TABLE DATA public doc_chunks postgres",
        "TABLE DATA search Product Embeddings postgres",
        "TABLE DATA search Product postgres",
    ]
    content = Path(record.path).read_bytes()
    assert record.sha256 == hashlib.sha256(content).hexdigest()
    assert record.bytes == len(content)


def test_password_reaches_pg_dump_through_the_environment(
    tables: Database, server_version: int, tmp_path: Path
) -> None:
    """The scram-only role: the password in the DSN or given apart both work."""
    dsn = pg_conninfo.make_conninfo(tables.dsn, user=PASSWORD_ROLE)
    for conninfo, password in (
        (dsn, PASSWORD),
        (pg_conninfo.make_conninfo(dsn, password=PASSWORD), None),
    ):
        record = dump(
            conninfo,
            password,
            kind="table",
            schema=SCHEMA,
            table=TABLE,
            backup_dir=tmp_path,
            server_version_num=server_version,
            label=LABEL,
        )
        assert record.bytes is not None and record.bytes > 0


def test_wrong_password_fails_redacted_and_leaves_nothing(
    tables: Database, server_version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    wrong = "Wrong-" + PASSWORD
    dsn = pg_conninfo.make_conninfo(tables.dsn, user=PASSWORD_ROLE, password=wrong)
    backup_dir = tmp_path / "backups"
    with pytest.raises(BackupError) as err:
        dump(
            dsn,
            None,
            kind="table",
            schema=SCHEMA,
            table=TABLE,
            backup_dir=backup_dir,
            server_version_num=server_version,
            label=LABEL,
        )
    message = err.value.message
    assert "password authentication failed" in message
    assert wrong not in message and PASSWORD not in message
    assert "\n" not in str(err.value)
    assert list(backup_dir.iterdir()) == []


def test_missing_table_fails_and_leaves_nothing(
    tables: Database, server_version: int, tmp_path: Path
) -> None:
    before = _state(tables)
    with pytest.raises(BackupError, match="no matching tables"):
        dump(
            tables.dsn,
            None,
            kind="table",
            schema=SCHEMA,
            table="Product embeddings",  # the wrong case: a different table
            backup_dir=tmp_path,
            server_version_num=server_version,
            label=LABEL,
        )
    assert list(tmp_path.iterdir()) == []
    assert _state(tables) == before


# --- finding pg_dump ----------------------------------------------------------------------


def test_find_pg_dump_matches_the_server(server_version: int) -> None:
    pg_dump, pg_restore = find_pg_dump(server_version)
    assert pg_dump.name == "pg_dump"
    assert pg_restore == pg_dump.parent / "pg_restore"
    assert _major(_version_of(pg_dump)) >= server_version // 10_000
    assert _major(_version_of(pg_restore)) >= server_version // 10_000


def _fake_bin(directory: Path, version: str, body: str = "exit 0") -> Path:
    """A directory with a shell ``pg_dump`` that claims ``version`` and runs ``body``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("pg_dump", "pg_restore"):
        script = directory / name
        script.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = "--version" ]; then echo "{name} (PostgreSQL) {version}"; exit 0; fi\n'
            f"{body if name == 'pg_dump' else 'exit 1'}\n"
        )
        script.chmod(0o755)
    return directory


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Hide every real pg_dump: PATH is one empty directory, no embedded or Debian ones."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("PG_BIN", raising=False)

    def no_backend() -> Path:
        raise EmbeddedServerError("no embedded PostgreSQL")

    monkeypatch.setattr(embedded, "bin_dir", no_backend)
    monkeypatch.setattr(backup, "DEBIAN_BIN_GLOB", str(tmp_path / "no-debian" / "*" / "bin"))
    yield empty


def test_too_old_pg_dump_is_refused(
    only: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake_bin(tmp_path / "pg96", "9.6")
    monkeypatch.setenv("PG_BIN", str(fake))
    with pytest.raises(BackupError) as err:
        find_pg_dump(160002)
    message = str(err.value)
    assert err.value.title == "Backup failed"
    assert "\n" not in message
    assert f"9.6 in {fake}" in message
    assert "need pg_dump 16 or newer" in message
    assert "PG_BIN" in message


def test_nothing_found_says_so(only: Path) -> None:
    with pytest.raises(BackupError, match="found none on PG_BIN, PATH or the embedded server"):
        find_pg_dump(170000)


def test_pg_dump_without_pg_restore_is_refused(
    only: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake_bin(tmp_path / "lonely", "17.1")
    (fake / "pg_restore").unlink()
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(BackupError, match=f"17.1 in {re.escape(str(fake))} without pg_restore"):
        find_pg_dump(170000)


def test_old_versions_compare_by_two_part_major(
    only: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before 10 a major had two parts: 9.6 serves 9.5 and 9.6 servers, not 10; 9.5 not 9.6."""
    fake = _fake_bin(tmp_path / "pg96", "9.6.24")
    monkeypatch.setenv("PG_BIN", str(fake))
    assert find_pg_dump(90624) == (fake / "pg_dump", fake / "pg_restore")
    assert find_pg_dump(90510) == (fake / "pg_dump", fake / "pg_restore")
    with pytest.raises(BackupError, match="need pg_dump 10 or newer"):
        find_pg_dump(100023)
    monkeypatch.setenv("PG_BIN", str(_fake_bin(tmp_path / "pg95", "9.5.25")))
    with pytest.raises(BackupError, match=r"need pg_dump 9\.6 or newer .* found 9\.5\.25 in"):
        find_pg_dump(90624)


def test_closest_major_wins_over_search_order(
    only: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    newest = _fake_bin(tmp_path / "pg99", "99.0")
    closest = _fake_bin(tmp_path / "pg17", "17.4")
    too_old = _fake_bin(tmp_path / "pg15", "15.18 (Debian 15.18-0+deb12u1)")
    monkeypatch.setenv("PG_BIN", str(newest))
    monkeypatch.setenv("PATH", os.pathsep.join([str(too_old), str(closest)]))
    assert find_pg_dump(160002) == (closest / "pg_dump", closest / "pg_restore")
    # Same major in two places: the first searched (PG_BIN) wins.
    monkeypatch.setenv("PG_BIN", str(_fake_bin(tmp_path / "pg17b", "17.0")))
    assert find_pg_dump(160002)[0] == tmp_path / "pg17b" / "pg_dump"


def test_embedded_bin_dir_is_searched(only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = embedded.backend()  # the test run needs it anyway
    real_bin = Path(str(real.__file__)).parent / "pginstall" / "bin"
    monkeypatch.setattr(embedded, "bin_dir", lambda: real_bin)
    assert find_pg_dump(150000) == (real_bin / "pg_dump", real_bin / "pg_restore")


DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.skipif(not (DEBIAN_15 / "pg_dump").exists(), reason="no Debian PostgreSQL 15")
def test_debian_15_serves_15_but_not_newer(
    only: Path, monkeypatch: pytest.MonkeyPatch, server_version: int
) -> None:
    monkeypatch.setattr(backup, "DEBIAN_BIN_GLOB", "/usr/lib/postgresql/*/bin")
    assert find_pg_dump(150004) == (DEBIAN_15 / "pg_dump", DEBIAN_15 / "pg_restore")
    assert server_version >= 160000  # the embedded servers are 16 and 17
    with pytest.raises(BackupError) as err:
        find_pg_dump(server_version)
    assert re.search(rf"15\.\d+ in {DEBIAN_15}", str(err.value)), str(err.value)
    assert f"need pg_dump {server_version // 10_000} or newer" in str(err.value)


# --- failures leave nothing behind --------------------------------------------------------


def _failing_body(log_dir: Path) -> str:
    """A pg_dump that logs what it was given, writes a partial file and fails."""
    return f"""\
printf '%s\\n' "$@" > "{log_dir}/argv.log"
printf '%s' "$PGPASSWORD" > "{log_dir}/env.log"
for a in "$@"; do case "$a" in --file=*) echo partial-dump > "${{a#--file=}}";; esac; done
echo "pg_dump: warning: something harmless first" >&2
echo "pg_dump: error: connection failed: password=$PGPASSWORD rejected ($PGPASSWORD)" >&2
echo "second line of detail" >&2
exit 1"""


def test_failing_pg_dump_leaves_no_file_and_no_password(
    tables: Database,
    server_version: int,
    only: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake = _fake_bin(tmp_path / "fake", "99.1", _failing_body(tmp_path))
    monkeypatch.setenv("PATH", str(fake))
    before = _state(tables)
    backup_dir = tmp_path / "backups"
    conninfo = pg_conninfo.make_conninfo(tables.dsn, password=PASSWORD)
    with pytest.raises(BackupError) as err:
        dump(
            conninfo,
            None,
            kind="table",
            schema=SCHEMA,
            table=TABLE,
            backup_dir=backup_dir,
            server_version_num=server_version,
            label=LABEL,
        )
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith('pg_dump of table search."Product Embeddings" failed: connection')
    assert "warning" not in message and "second line" not in message
    assert PASSWORD not in message
    assert "***" in message
    # The partial file is gone, the directory stays (it may hold other backups).
    assert backup_dir.is_dir() and list(backup_dir.iterdir()) == []
    # The password went through the environment only, never the command line.
    argv = (tmp_path / "argv.log").read_text().splitlines()
    assert (tmp_path / "env.log").read_text() == PASSWORD
    assert not any(PASSWORD in a for a in argv)
    assert "--no-password" in argv and "--format=custom" in argv
    assert '--table="search"."Product Embeddings"' in argv
    assert any(a.startswith("--dbname=") for a in argv)
    assert _state(tables) == before


def _copying_pg_dump(directory: Path, source: Path, pg_restore: Path) -> Path:
    """A pg_dump that "succeeds" by copying ``source``, beside a real pg_restore."""
    cat = shutil.which("cat", path=os.defpath)  # PATH itself is hidden by the test
    assert cat is not None
    body = (
        'for a in "$@"; do case "$a" in --file=*) '
        f'{cat} "{source}" > "${{a#--file=}}";; esac; done\nexit 0'
    )
    _fake_bin(directory, "99.0", body)
    (directory / "pg_restore").unlink()
    (directory / "pg_restore").symlink_to(pg_restore)
    return directory


@pytest.mark.parametrize("wrong", ["garbage", "other-table", "empty"])
def test_dump_that_does_not_verify_is_deleted(
    wrong: str,
    tables: Database,
    server_version: int,
    only: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    real_dump, real_restore = _real_tools(server_version)
    source = tmp_path / "source.dump"
    if wrong == "garbage":
        source.write_bytes(b"not a dump at all\n")
    elif wrong == "empty":
        source.write_bytes(b"")
    else:
        # A genuine dump, of the wrong table: it reads fine and must still be refused.
        subprocess.run(
            [
                str(real_dump),
                "--format=custom",
                f"--file={source}",
                '--table=search."Product"',
                f"--dbname={tables.dsn}",
            ],
            check=True,
        )
    fake = _copying_pg_dump(tmp_path / "fake", source, real_restore)
    monkeypatch.setenv("PATH", str(fake))
    backup_dir = tmp_path / "backups"
    expected = {
        "garbage": "pg_restore cannot read",
        "other-table": r'holds no data for search\."Product Embeddings"',
        "empty": "wrote an empty file",
    }[wrong]
    with pytest.raises(BackupError, match=expected):
        dump(
            tables.dsn,
            None,
            kind="database",
            schema=SCHEMA,
            table=TABLE,
            backup_dir=backup_dir,
            server_version_num=server_version,
            label=LABEL,
        )
    assert list(backup_dir.iterdir()) == []


def _real_tools(server_version: int) -> tuple[Path, Path]:
    # Found before a test hides the real ones: the embedded server's own programs.
    real_bin = Path(str(embedded.backend().__file__)).parent / "pginstall" / "bin"
    assert _major(_version_of(real_bin / "pg_dump")) >= server_version // 10_000
    return real_bin / "pg_dump", real_bin / "pg_restore"


# --- inputs and records -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["confirmed", "schema", ""])
def test_dump_rejects_unknown_kinds(kind: str, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="unknown backup kind"):
        dump(
            "dbname=x",
            None,
            kind=kind,
            schema=SCHEMA,
            table=TABLE,
            backup_dir=tmp_path,
            server_version_num=170000,
            label=LABEL,
        )


@pytest.mark.parametrize("label", ["", "  ", "../escape", "a/b", ".hidden"])
def test_dump_rejects_labels_that_are_not_file_names(label: str, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot be a file name"):
        dump(
            "dbname=x",
            None,
            kind="table",
            schema=SCHEMA,
            table=TABLE,
            backup_dir=tmp_path,
            server_version_num=170000,
            label=label,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("identifier", ["", "   ", "\t\n"])
def test_confirmed_rejects_empty_identifiers(identifier: str) -> None:
    with pytest.raises(BadInputError, match="identifier of an existing backup"):
        confirmed(identifier)


def test_confirmed_records_the_identifier() -> None:
    record = confirmed("  rds:prod-db-2026-11-21-07-00 ")
    assert record.kind == "confirmed"
    assert record.identifier == "rds:prod-db-2026-11-21-07-00"
    assert record.path is None and record.sha256 is None and record.tables == ()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record.created)


def test_record_round_trips_through_json() -> None:
    record = BackupRecord(
        kind="table",
        path="/b/x.dump",
        bytes=123,
        sha256="ab" * 32,
        pg_dump_version="17.9",
        tables=('"search"."Product Embeddings"',),
        created="2026-11-21T07:15:00+00:00",
    )
    data = json.loads(json.dumps(record.to_json()))
    assert data["tables"] == ['"search"."Product Embeddings"']
    assert BackupRecord.from_json(data) == record
    assert BackupRecord.from_json({**data, "from_a_newer_version": 1}) == record
    assert BackupRecord.from_json(confirmed("snap-1").to_json()).identifier == "snap-1"
