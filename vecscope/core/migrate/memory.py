"""The memory a build may have: the caps a server puts on ``maintenance_work_mem``, and the
shared memory a parallel HNSW build needs.

Managed servers lower ``maintenance_work_mem``'s ``pg_settings.max_val`` (Azure: 2 GB) or
refuse a larger ``SET`` in a hook of their own; either way the build's ``SET`` would fail
after the backup, so preflight chooses within what this session may really set.

A parallel HNSW build puts the whole graph area, ``maintenance_work_mem`` of it, in one
dynamic shared memory segment. With ``dynamic_shared_memory_type = posix`` that segment
lives in ``/dev/shm``, 64 MB in a default Docker container: the build then fails with
"could not resize shared memory segment ... No space left on device" (pgvector #453).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import first_line
from vecscope.core.fmt import human_bytes
from vecscope.core.migrate import predict
from vecscope.core.migrate.checks import FAIL, INFO, OK, WARN, Check
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.sqltext import display_ident

Conn = psycopg.Connection[TupleRow]

#: Where PostgreSQL's posix shared memory segments live (on Linux).
SHM_DIR = "/dev/shm"
#: Probes, at most, of the largest settable value when a hook refuses the one chosen.
_SEARCH_STEPS = 16


@dataclass(frozen=True, slots=True)
class MemoryCap:
    """The most the build's ``maintenance_work_mem`` may be, and what sets that limit."""

    kb: int
    #: ``--max-memory`` (vecscope's own cap), ``--maintenance-work-mem`` (the user's
    #: value), ``max_val`` (the server's limit), or ``set`` (the most this role may SET,
    #: when a provider's hook refuses more).
    by: str

    @property
    def server(self) -> bool:
        """True when the server, not one of vecscope's options, sets the limit."""
        return self.by in ("max_val", "set")

    def describe(self) -> str:
        return {
            "max_val": "the server's limit (pg_settings.max_val)",
            "set": "the most this role may SET here",
        }.get(self.by, self.by)


def server_max_kb(conn: Conn) -> int | None:
    """``maintenance_work_mem``'s ``pg_settings.max_val`` in kB (None: unknown)."""
    row = db.row(conn, "migrate_setting_max_kb", {"name": "maintenance_work_mem"})
    return int(row["kb"]) if row and row["kb"] else None


def memory_cap(conn: Conn, option_kb: int) -> MemoryCap:
    """The lower of vecscope's cap (``--max-memory``) and the server's ``max_val``."""
    server = server_max_kb(conn)
    if server is not None and server < option_kb:
        return MemoryCap(server, "max_val")
    return MemoryCap(option_kb, "--max-memory")


def refused(conn: Conn, kb: int) -> str | None:
    """Why this session may not ``SET maintenance_work_mem`` to ``kb`` (None: it may).

    Tried in a transaction that is rolled back: nothing stays set.
    """
    try:
        with conn.transaction(force_rollback=True):
            db.execute(conn, "migrate_try_memory", {"value": f"{kb}kB"})
    except psycopg.Error as e:
        if conn.broken:
            raise
        return first_line(e)
    return None


def largest_settable_kb(conn: Conn, high_kb: int, low_kb: int) -> int | None:
    """The largest value in ``[low_kb, high_kb]`` this session may set, within 1% or
    1 MB (a few probes); None when not even ``low_kb`` is allowed."""
    if refused(conn, low_kb) is not None:
        return None
    good, bad = low_kb, high_kb
    for _ in range(_SEARCH_STEPS):
        if bad - good <= max(1024, good // 100):
            break
        middle = (good + bad) // 2 // 1024 * 1024 or good
        if refused(conn, middle) is None:
            good = middle
        else:
            bad = middle
    return good


@dataclass(frozen=True, slots=True)
class SharedMemory:
    """Where a parallel build's shared memory would go, and the room there."""

    #: ``dynamic_shared_memory_type``: posix, sysv, mmap (or none before PostgreSQL 12).
    kind: str
    #: Free bytes in ``/dev/shm`` for posix on a local server, else None (not known).
    free_bytes: int | None


def shared_memory(conn: Conn, local: bool) -> SharedMemory:
    """The server's kind of dynamic shared memory and, when it is on this machine and
    uses posix segments, the room in ``/dev/shm``."""
    row = db.row(conn, "migrate_setting_text", {"name": "dynamic_shared_memory_type"})
    kind = str(row["setting"]) if row else "unknown"
    free: int | None = None
    if kind == "posix" and local:
        try:
            free = shutil.disk_usage(SHM_DIR).free
        except OSError:
            free = None
    return SharedMemory(kind, free)


def hnsw_parallel_bytes(maintenance_work_mem_kb: int) -> int:
    """The segment a parallel HNSW build asks for: its graph area is the session's
    whole maintenance_work_mem (pgvector's hnswbuild.c, less 3 MB for the rest)."""
    return maintenance_work_mem_kb * 1024


def workers_setting(conn: Conn) -> tuple[int, str] | None:
    """``max_parallel_maintenance_workers`` and its source, when someone set it (a role,
    a database, the configuration); None when it is PostgreSQL's default."""
    row = db.row(conn, "migrate_setting_text", {"name": "max_parallel_maintenance_workers"})
    if row is None or row["source"] in ("default", "override"):
        return None
    return int(row["setting"]), str(row["source"])


def choose(
    conn: Conn,
    spec: MigrationSpec,
    need_bytes: int | None,
    current_kb: int,
    option_cap_kb: int,
    forced_kb: int | None,
) -> tuple[int, list[Check]]:
    """The build's maintenance_work_mem, within what this session may really SET (a
    provider's max_val, a hook's refusal), and what preflight says of it."""
    what = "graph" if spec.method == "hnsw" else "k-means"
    if forced_kb:
        why = refused(conn, forced_kb)
        if why is not None:
            top = server_max_kb(conn)
            return forced_kb, [
                Check(
                    "memory",
                    FAIL,
                    f"maintenance_work_mem = {human_bytes(forced_kb * 1024)} cannot be set "
                    f"in this session: {why}",
                    "choose a smaller --maintenance-work-mem"
                    + (f" (the server's limit is {human_bytes(top * 1024)})" if top else ""),
                )
            ]
        cap = MemoryCap(forced_kb, "--maintenance-work-mem")
        mwm = forced_kb
    else:
        cap = memory_cap(conn, option_cap_kb)
        mwm = predict.choose_memory_kb(need_bytes, current_kb, cap.kb)
        if refused(conn, mwm) is not None:
            allowed = largest_settable_kb(conn, mwm, min(current_kb, mwm))
            if allowed is None:
                return mwm, [
                    Check(
                        "memory",
                        FAIL,
                        "this session may not SET maintenance_work_mem: the build sets it",
                        "ask the provider, or the DBA, why SET maintenance_work_mem is refused",
                    )
                ]
            cap, mwm = MemoryCap(allowed, "set"), allowed
    if need_bytes is None or need_bytes <= mwm * 1024:
        limit = f"; {cap.describe()} is {human_bytes(cap.kb * 1024)}" if cap.server else ""
        return mwm, [
            Check(
                "memory",
                OK,
                f"needs ~{human_bytes(need_bytes) if need_bytes else '?'}; this session will use "
                f"maintenance_work_mem = {human_bytes(mwm * 1024)} "
                f"(server: {human_bytes(current_kb * 1024)}{limit})",
            )
        ]
    spill = "the build will spill to disk and take much longer; "
    if forced_kb:
        fix = spill + "a larger --maintenance-work-mem avoids it, if the server has the RAM"
    elif cap.server:
        fix = spill + "this server allows no more: a smaller m, or a build when it is quiet"
    else:
        fix = spill + "raise --max-memory if the server has the RAM"
    return mwm, [
        Check(
            "memory",
            WARN,
            f"{what} needs ~{human_bytes(need_bytes)}, maintenance_work_mem will be "
            f"{human_bytes(mwm * 1024)}"
            + (f" ({cap.describe()})" if cap.server and mwm >= cap.kb else ""),
            fix,
        )
    ]


def shared_memory_checks(
    spec: MigrationSpec, shm: SharedMemory, workers: int, role: str
) -> list[Check]:
    """Whether a parallel HNSW build's shared memory segment can be made (pgvector #453)."""
    if shm.kind == "none":
        return [
            Check(
                "shared_memory",
                WARN,
                "dynamic_shared_memory_type is none: no parallel worker can start, the build "
                "runs in one process",
                "parallel builds need dynamic shared memory (posix, sysv or mmap)",
            )
        ]
    if workers <= 0 or spec.method != "hnsw" or not spec.maintenance_work_mem_kb:
        return []
    need = hnsw_parallel_bytes(spec.maintenance_work_mem_kb)
    if shm.free_bytes is not None and need > shm.free_bytes:
        return [
            Check(
                "shared_memory",
                WARN,
                f"the parallel build puts its graph area, maintenance_work_mem = "
                f"{human_bytes(need)}, in {SHM_DIR}, which has "
                f'{human_bytes(shm.free_bytes)} free: it may fail with "could not resize '
                'shared memory segment" (pgvector #453)',
                "build serially (max_parallel_maintenance_workers = 0 for your role, which "
                "vecscope respects) or with a smaller --maintenance-work-mem",
                f"ALTER ROLE {display_ident(role)} SET max_parallel_maintenance_workers = 0;",
            )
        ]
    if shm.free_bytes is None and shm.kind == "posix" and need > 64 * 1024**2:
        return [
            Check(
                "shared_memory",
                INFO,
                f"the parallel build needs {human_bytes(need)} of shared memory on the server: "
                "in a container, its /dev/shm must hold that (Docker's default is 64 MB, "
                "pgvector #453)",
            )
        ]
    return []
