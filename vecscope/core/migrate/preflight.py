"""Preflight: everything that can make a migration fail or hurt, checked before it starts.

Each check is a :class:`Check` with a status and, where vecscope can fix it, the SQL that
would (an invalid leftover of an earlier attempt is dropped only when the user says so).
The build settings (``maintenance_work_mem``, parallel workers) are chosen here from a
calibration build (:mod:`core.migrate.predict`), and shown with the prediction.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import first_line
from vecscope.core.fmt import human_bytes
from vecscope.core.migrate import memory, predict
from vecscope.core.migrate.checks import FAIL as FAIL
from vecscope.core.migrate.checks import INFO as INFO
from vecscope.core.migrate.checks import OK as OK
from vecscope.core.migrate.checks import WARN as WARN
from vecscope.core.migrate.checks import Check as Check
from vecscope.core.migrate.checks import citus_check
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.render import drop_leftover_sql
from vecscope.core.migrate.states import DEFAULT_MAX_MEMORY_MB, Kind
from vecscope.core.models import Inventory
from vecscope.core.pgvector import MAX_INDEX_DIMS, has_feature
from vecscope.core.sqltext import display_ident

Conn = psycopg.Connection[TupleRow]

#: The most vecscope sets maintenance_work_mem to without being told (--max-memory).
DEFAULT_MEMORY_CAP_KB = DEFAULT_MAX_MEMORY_MB * 1024


@dataclass(frozen=True, slots=True)
class Blocker:
    """A session a concurrent build would wait for."""

    pid: int
    user: str
    application: str
    state: str
    age_seconds: float
    query: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Blocker:
        """From a row of ``migrate_blockers.sql`` or ``migrate_build_waiting.sql``."""
        return cls(
            int(r["pid"]),
            r["user"],
            r["application"],
            r["state"],
            float(r["age_seconds"] or 0),
            r["query"],
        )


@dataclass(frozen=True, slots=True)
class Preflight:
    checks: tuple[Check, ...]
    blockers: tuple[Blocker, ...]
    leftovers: tuple[str, ...]
    prediction: predict.Prediction | None
    current_mwm_kb: int
    cores: int | None
    free_bytes: int | None
    spec: MigrationSpec
    notes: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def ok(self) -> bool:
        return not self.failed


def _busy(
    conn: Conn, cores: int | None, cal: predict.Calibration | None
) -> tuple[float | None, float]:
    """How busy the server's cores are with other work, when it runs on this machine (the
    load average less what the calibration builds added; None: unknown), and how much
    that slowed the calibration (1.0: not, or unknown)."""
    if not is_local(conn) or cal is None:
        return None, 1.0
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None, 1.0
    own = min(1.0, sum(cal.times or (cal.seconds,)) / 60.0)
    return predict.busy_share(load, cores, own), predict.calibration_slowdown(load, cores, own)


def _setting_kb(conn: Conn, name: str) -> int:
    row = db.row(conn, "migrate_setting_kb", {"name": name})
    return int(row["kb"]) if row else 0


def _setting_int(conn: Conn, name: str) -> int:
    row = db.row(conn, "migrate_setting_int", {"name": name})
    return int(row["value"]) if row else 0


def is_local(conn: Conn) -> bool:
    """True when the server runs on this machine (Unix socket or loopback)."""
    host = conn.info.host or ""
    return host.startswith("/") or host in ("localhost", "127.0.0.1", "::1", "")


def server_cores(conn: Conn, given: int | None) -> int | None:
    if given:
        return given
    return os.cpu_count() if is_local(conn) else None


def leftovers(conn: Conn, spec: MigrationSpec) -> list[str]:
    """Invalid indexes on the table that an earlier attempt left (ours or anyone's)."""
    rows = db.rows(conn, "migrate_leftovers", {"table": spec.qualified_table})
    return [str(r["name"]) for r in rows]


def partitioned_leftovers(conn: Conn, spec: MigrationSpec) -> set[str]:
    """Those of :func:`leftovers` that are partitioned indexes (no concurrent drop)."""
    rows = db.rows(conn, "migrate_leftovers", {"table": spec.qualified_table})
    return {str(r["name"]) for r in rows if r["partitioned"]}


def blockers(conn: Conn, older_than_s: float = 0.0) -> list[Blocker]:
    """Transactions that hold a snapshot: a concurrent build waits for each to finish."""
    rows = db.rows(conn, "migrate_blockers", {"older_than_s": older_than_s})
    return [Blocker.from_row(r) for r in rows]


def _free_space(conn: Conn) -> tuple[int | None, str]:
    """Free bytes where the index will live, when the server is on this machine; else
    None and why not."""
    if not is_local(conn):
        return None, "remote server"
    try:
        row = db.row(conn, "migrate_data_directory")
    except psycopg.errors.InsufficientPrivilege:
        # data_directory is for superusers and pg_read_all_settings only.
        return None, "this role may not read data_directory"
    except psycopg.Error as e:
        return None, first_line(e)
    if not row:
        return None, "data_directory unknown"
    try:
        return shutil.disk_usage(Path(row["path"])).free, ""
    except OSError as e:
        return None, f"{row['path']}: {e.strerror}"


def _dump_space(conn: Conn, spec: MigrationSpec, kind: str, directory: Path) -> Check:
    """Room for the dump in the backup folder (on this machine: pg_dump writes here)."""
    row = db.row(conn, "migrate_dump_size", {"table": spec.qualified_table})
    need = int(row["table_bytes" if kind == "table" else "database_bytes"] or 0) if row else 0
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return Check(
            "backup_space", INFO, f"dump ~{human_bytes(need)}; free space in {directory} unknown"
        )
    what = f"dump of the {kind} ~{human_bytes(need)} (vectors barely compress)"
    if free < need:
        return Check(
            "backup_space",
            FAIL,
            f"{what}, only {human_bytes(free)} free in {directory}",
            "free space there or choose another folder (--backup-dir)",
        )
    if free < need * 1.2:
        return Check(
            "backup_space",
            WARN,
            f"{what}, {human_bytes(free)} free in {directory}: little room to spare",
        )
    return Check("backup_space", OK, f"{what}, {human_bytes(free)} free in {directory}")


def _schema_create(conn: Conn, spec: MigrationSpec) -> list[Check]:
    """CREATE INDEX needs CREATE on the table's schema, even for the table's owner: on
    PostgreSQL 15+ nobody but its owner has it on ``public`` unless granted."""
    row = db.row(conn, "migrate_schema_create", {"schema": spec.schema})
    if row is None or row["may_create"]:
        return []
    return [
        Check(
            "schema",
            FAIL,
            f"{row['role']} may not create in schema {spec.schema}: CREATE INDEX needs "
            "CREATE on the table's schema, even for the table's owner",
            "ask the schema's owner for the grant",
            f"GRANT CREATE ON SCHEMA {display_ident(spec.schema)} TO {display_ident(row['role'])};",
        )
    ]


def run(
    conn: Conn,
    spec: MigrationSpec,
    inventory: Inventory,
    *,
    cores: int | None = None,
    memory_cap_kb: int = DEFAULT_MEMORY_CAP_KB,
    calibrate: bool = True,
    maintenance_work_mem_kb: int | None = None,
    workers: int | None = None,
    backup_kind: str | None = None,
    backup_dir: Path | None = None,
) -> Preflight:
    """Run every check; returns the spec with the build settings chosen.

    ``backup_kind`` and ``backup_dir`` (the run's ``--backup`` and ``--backup-dir``) let
    preflight check that the dump will fit before it starts.
    """
    checks: list[Check] = []
    server = inventory.server
    col = next(
        (
            c
            for c in inventory.columns
            if (c.schema, c.table, c.column) == (spec.schema, spec.table, spec.column)
        ),
        None,
    )
    # pgvector
    need = "hnsw" if spec.method == "hnsw" else None
    if need and not has_feature(server.pgvector, need):
        checks.append(
            Check(
                "pgvector",
                FAIL,
                f"pgvector {server.pgvector} has no HNSW",
                "HNSW needs pgvector 0.5.0 or later: ALTER EXTENSION vector UPDATE",
            )
        )
    else:
        checks.append(Check("pgvector", OK, f"pgvector {server.pgvector}"))
    opc = db.row(conn, "migrate_opclass_exists", {"opclass": spec.opclass, "method": spec.method})
    if opc is None:
        checks.append(
            Check(
                "opclass",
                FAIL,
                f"{spec.method} has no operator class {spec.opclass}",
                "pick an operator class this method and pgvector version offer",
            )
        )
    # dimensions
    limit = MAX_INDEX_DIMS.get(spec.column_type)
    if spec.dims is None:
        checks.append(
            Check(
                "dims",
                FAIL,
                "the column has no declared dimensions",
                "ALTER the column to vector(n) first: untyped vectors cannot be indexed",
            )
        )
    elif limit is not None and spec.dims > limit:
        checks.append(
            Check(
                "dims",
                FAIL,
                f"{spec.dims} dimensions: {spec.method} indexes {spec.column_type} up to {limit}",
                "index a halfvec expression or reduce dimensions",
            )
        )
    else:
        checks.append(Check("dims", OK, f"{spec.dims} dimensions (limit {limit})"))
    # privileges and standby
    if col is not None and not col.can_create_index:
        checks.append(
            Check(
                "privilege",
                FAIL,
                f"{server.current_user} may not create indexes on {spec.schema}.{spec.table}",
                "run as the table's owner",
            )
        )
    else:
        checks.append(Check("privilege", OK, f"{server.current_user} owns the table"))
        if spec.kind != Kind.REINDEX:
            checks.extend(_schema_create(conn, spec))
    if server.in_recovery:
        checks.append(
            Check(
                "standby",
                FAIL,
                "this server is a hot standby (read only)",
                "connect to the primary",
            )
        )
    else:
        checks.append(Check("standby", OK, "primary (not in recovery)"))
    if (citus := citus_check(inventory, spec)) is not None:
        checks.append(citus)
    writable = db.row(conn, "migrate_session_writable")
    if writable and (writable["default_read_only"] or writable["read_only"]):
        checks.append(
            Check(
                "writable",
                FAIL,
                "this session is read only (default_transaction_read_only is on for the "
                "role, the database or the connection)",
                "connect as a role, or with options, that may write: the build would fail",
            )
        )
    if backup_kind in ("table", "database") and backup_dir is not None:
        checks.append(_dump_space(conn, spec, backup_kind, backup_dir))
    # names and leftovers
    left = leftovers(conn, spec)
    partitioned_left = partitioned_leftovers(conn, spec) if spec.partitioned else set()
    for name in left:
        checks.append(
            Check(
                "leftover",
                WARN,
                f"invalid index {name} on the table",
                "the leftover of an interrupted concurrent build: every write "
                "still maintains it; drop it before building",
                drop_leftover_sql(spec, name, partitioned=name in partitioned_left),
            )
        )
    if spec.kind != Kind.REINDEX:
        taken = db.row(conn, "migrate_index_state", {"schema": spec.schema, "name": spec.new_name})
        if taken is not None and taken["valid"]:
            checks.append(
                Check(
                    "name",
                    WARN,
                    f"{spec.new_name} already exists and is valid",
                    "CREATE INDEX ... IF NOT EXISTS will keep it: an earlier run built it",
                )
            )
        for part in spec.partitions:
            built = db.row(
                conn, "migrate_index_state", {"schema": spec.schema, "name": part.new_name}
            )
            if built is not None and built["valid"]:
                checks.append(
                    Check(
                        "name",
                        WARN,
                        f"{part.new_name} already exists on {part.table} and is valid",
                        "the build keeps it and attaches it: an earlier run built it",
                    )
                )
    if spec.old_name:
        old = next(
            (
                ix
                for ix in inventory.indexes
                if ix.schema == spec.schema and ix.name == spec.old_name
            ),
            None,
        )
        if old is not None and not old.usable:
            checks.append(
                Check("old", WARN, f"{spec.old_name} is not valid: queries cannot use it")
            )
    # long transactions
    waits = blockers(conn, spec.lock_timeout_ms / 1000)
    if waits:
        oldest = waits[0]
        checks.append(
            Check(
                "transactions",
                WARN,
                f"{len(waits)} transaction(s) open longer than lock_timeout; oldest "
                f"{oldest.age_seconds:.0f} s (pid {oldest.pid}, "
                f"{oldest.application or oldest.user})",
                "a concurrent build waits for every transaction older than it to end; past "
                "lock_timeout it gives up and retries",
                f"SELECT pg_cancel_backend({oldest.pid});",
            )
        )
    else:
        checks.append(Check("transactions", OK, "no transaction older than lock_timeout"))
    # memory, time and space
    current_kb = _setting_kb(conn, "maintenance_work_mem")
    ncores = server_cores(conn, cores)
    max_workers = min(
        _setting_int(conn, "max_parallel_workers"), _setting_int(conn, "max_worker_processes")
    )
    # A DBA's own max_parallel_maintenance_workers (role, database, configuration) bounds
    # ours: 0 is how to keep a parallel build out of a small /dev/shm.
    bound = memory.workers_setting(conn)
    shm = memory.shared_memory(conn, is_local(conn))
    if workers is None:
        workers = max(0, min((ncores or 3) - 1, max_workers, *([bound[0]] if bound else [])))
        if spec.method == "hnsw" and not has_feature(server.pgvector, "parallel_hnsw_build"):
            workers = 0
        if shm.kind == "none":
            workers = 0  # no parallel worker can start without dynamic shared memory
    cal = None
    notes: list[str] = []
    if calibrate and not any(c.status == FAIL for c in checks):
        try:
            cal = predict.calibrate(conn, spec)
        except psycopg.Error as e:
            notes.append(f"calibration build failed: {first_line(e)}")
        except Exception as e:  # noqa: BLE001 - a prediction must never block a migration
            notes.append(f"calibration build failed: {first_line(e)}")
    rough = predict.predict(spec, cal, workers=workers, maintenance_work_mem_kb=current_kb)
    need_bytes = rough.graph_bytes if spec.method == "hnsw" else predict.ivfflat_memory_bytes(spec)
    mwm, memory_checks = memory.choose(
        conn, spec, need_bytes, current_kb, memory_cap_kb, maintenance_work_mem_kb
    )
    checks += memory_checks
    busy, slowed = _busy(conn, ncores, cal)
    pred = predict.predict(
        spec, cal, workers=workers, maintenance_work_mem_kb=mwm, busy=busy, slowed=slowed
    )
    spec = spec.__class__(
        **{**spec.to_json(), "maintenance_work_mem_kb": mwm, "parallel_workers": workers}
    )
    checks.append(
        Check(
            "workers",
            INFO,
            predict.workers_text(workers)
            + (f" ({ncores} cores)" if ncores else " (server cores unknown: --server-cores)")
            + (f"; max_parallel_maintenance_workers = {bound[0]} ({bound[1]})" if bound else ""),
        )
    )
    checks += memory.shared_memory_checks(spec, shm, workers, server.current_user)
    if cal is not None:
        checks.append(
            Check(
                "time",
                INFO,
                f"predicted build {pred.range_text}",
                f"from {len(cal.times) or 1} builds of a {cal.sample_rows}-row sample "
                f"({', '.join(f'{t:.2f}' for t in cal.times or (cal.seconds,))} s); the range "
                "allows for a busy server and for workers that find no free core; graph memory "
                f"{'measured' if cal.memory_measured else 'estimated'} at "
                f"{cal.graph_bytes_per_row or 0:.0f} bytes a row",
            )
        )
    free, unknown = _free_space(conn)
    if pred.index_bytes:
        if free is None:
            checks.append(
                Check(
                    "space",
                    INFO,
                    f"index ~{human_bytes(pred.index_bytes)}; free space unknown ({unknown})",
                )
            )
        elif free < pred.index_bytes * 1.5:
            checks.append(
                Check(
                    "space",
                    FAIL,
                    f"index ~{human_bytes(pred.index_bytes)}, only {human_bytes(free)} free",
                    "free disk space first",
                )
            )
        else:
            checks.append(
                Check(
                    "space", OK, f"index ~{human_bytes(pred.index_bytes)}, {human_bytes(free)} free"
                )
            )
    return Preflight(
        tuple(checks), tuple(waits), tuple(left), pred, current_kb, ncores, free, spec, tuple(notes)
    )
