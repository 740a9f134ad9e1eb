"""The build step: CREATE INDEX CONCURRENTLY (or REINDEX CONCURRENTLY) with live progress.

The statement runs on its own session in a thread; this thread polls
``pg_stat_progress_create_index`` on another session and reports phase, percentage,
elapsed time, an ETA and the sessions the build waits for. Server notices (pgvector's
"graph no longer fits", PostgreSQL's parallel worker count) are collected. A cancel
stops the build on the server and drops the invalid index it leaves behind; so does a
``lock_timeout``, before the bounded retry.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import TupleRow

from vecscope.core import db, failpoints
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.errors import MigrationError, VecscopeError, first_line
from vecscope.core.migrate import predict
from vecscope.core.migrate.ddl import (
    Say,
    drop_if_invalid,
    index_state,
    invalid_copies,
    open_ddl_session,
)
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.preflight import Blocker
from vecscope.core.migrate.render import build_statements
from vecscope.core.migrate.states import Kind

Conn = psycopg.Connection[TupleRow]


@dataclass(frozen=True, slots=True)
class _ProgressRow:
    """A row of ``core/sql/migrate_build_progress.sql``."""

    phase: str
    tuples_done: int | None
    tuples_total: int | None
    blocks_done: int | None
    blocks_total: int | None
    lockers_total: int | None
    lockers_done: int | None
    current_locker_pid: int | None


@dataclass(frozen=True, slots=True)
class BuildProgress:
    phase: str
    #: 0..100 of the phase that reports units; ``None`` while nothing is countable.
    percent: float | None
    elapsed_s: float
    eta_s: float | None
    waiting_for: tuple[Blocker, ...] = field(default=())
    notices: tuple[str, ...] = field(default=())
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    seconds: float
    attempts: int
    notices: tuple[str, ...]
    #: Parallel workers PostgreSQL reported launching, when it said.
    workers: int | None
    #: Tuples after which the graph stopped fitting in maintenance_work_mem.
    spilled_after: int | None
    index_bytes: int
    cancelled: bool = False


class _Runner(threading.Thread):
    def __init__(self, conn: Conn, statement: str) -> None:
        super().__init__(daemon=True, name="vecscope-build")
        self.conn = conn
        self.statement = statement
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.conn.execute(self.statement.rstrip(";"))
        except BaseException as e:  # noqa: BLE001 - handed to the polling thread
            self.error = e


def _percent(row: _ProgressRow) -> float | None:
    tuples_done, tuples_total, blocks_done, blocks_total = (
        int(v or 0) for v in (row.tuples_done, row.tuples_total, row.blocks_done, row.blocks_total)
    )
    if tuples_total > 0:
        return float(min(100.0, 100.0 * tuples_done / tuples_total))
    if blocks_total > 0:
        return float(min(100.0, 100.0 * blocks_done / blocks_total))
    return None


def _eta(
    phase: str, percent: float | None, elapsed: float, predicted: float | None
) -> float | None:
    if percent is not None and "building" in phase and 5.0 < percent < 100.0:
        return elapsed * (100.0 - percent) / percent
    if predicted:
        return max(0.0, predicted - elapsed)
    return None


class _Monitor:
    """The progress monitor's own session, which may be lost without costing the build.

    Everything the build needs goes over the build's session (its cancel is a protocol
    cancel request on that session); the monitor only reads progress. When its session
    dies (terminated, a pooler's restart, a network blip) the build goes on: the monitor
    says so once, tries a new session every few seconds, and reports nothing meanwhile.
    """

    RETRY_S = 3.0

    def __init__(self, target: ConnectionTarget, say: Say) -> None:
        self.target = target
        self.say = say
        self.conn: Conn | None = None
        self.lost_at: float | None = None
        self._open()

    def _open(self) -> None:
        try:
            self.conn = connect(self.target)
            if self.lost_at is not None:
                self.say("progress monitor reconnected")
            self.lost_at = None
        except VecscopeError:
            self.conn = None
            self.lost_at = time.monotonic()

    def _lost(self, err: BaseException) -> None:
        if self.lost_at is None:
            self.say(
                f"lost the progress monitor's session ({first_line(err)}); "
                "the build goes on, progress resumes when a new session opens"
            )
        self.close()
        self.lost_at = time.monotonic()

    def progress(
        self,
        pid: int,
        started: float,
        predicted: float | None,
        notices: list[str],
        attempt: int,
    ) -> BuildProgress | None:
        if self.conn is None:
            if self.lost_at is not None and time.monotonic() - self.lost_at < self.RETRY_S:
                return None
            self._open()
            if self.conn is None:
                return None
        try:
            return _progress(self.conn, pid, started, predicted, notices, attempt)
        except (psycopg.Error, VecscopeError) as e:
            self._lost(e)
            return None

    def index_bytes(self, spec: MigrationSpec, name: str) -> int:
        """The new index's size; 0 when no session can tell (the build is done anyway)."""
        for _ in range(2):
            if self.conn is None:
                self._open()
            if self.conn is None:
                continue
            try:
                size = db.row(
                    self.conn, "migrate_index_size", {"schema": spec.schema, "name": name}
                )
                return int(size["bytes"]) if size else 0
            except (psycopg.Error, VecscopeError) as e:
                self._lost(e)
        return 0

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
        self.conn = None


def _cancel(conn: Conn) -> None:
    """Ask the server to cancel the build's statement (a new socket, not the monitor)."""
    with contextlib.suppress(psycopg.Error):
        conn.cancel_safe(timeout=10.0)


def run(
    target: ConnectionTarget,
    spec: MigrationSpec,
    *,
    on_progress: Callable[[BuildProgress], None] = lambda _: None,
    should_cancel: Callable[[], bool] = lambda: False,
    say: Say = lambda _: None,
    predicted_s: float | None = None,
    poll_s: float = 0.5,
) -> BuildOutcome:
    """Build the new index (or reindex), retrying on lock_timeout; see the module docstring.

    Raises:
        MigrationError: every retry locked out, or the build failed.
    """
    statement = build_statements(spec)[-1].sql
    monitor = _Monitor(target, say)
    started = time.monotonic()
    notices: list[str] = []
    attempt = 0
    try:
        while True:
            attempt += 1
            conn, _ = open_ddl_session(target, spec, build=True)
            db.execute(conn, "migrate_debug_notices")
            conn.add_notice_handler(
                lambda d: notices.append(d.message_primary) if d.message_primary else None
            )
            pid = conn.info.backend_pid
            runner = _Runner(conn, statement)
            runner.start()
            failpoints.point("build.started")
            cancelled = False
            while runner.is_alive():
                runner.join(poll_s)
                if not runner.is_alive():
                    break
                if should_cancel() and not cancelled:
                    cancelled = True
                    say("cancelling the build")
                    _cancel(conn)
                shown = monitor.progress(pid, started, predicted_s, notices, attempt)
                if shown is not None:
                    on_progress(shown)
            conn.close()
            err = runner.error
            if err is None:
                break
            _cleanup(target, spec, say)
            if cancelled or isinstance(err, psycopg.errors.QueryCanceled) and should_cancel():
                return BuildOutcome(
                    time.monotonic() - started, attempt, tuple(notices), None, None, 0, True
                )
            if isinstance(err, psycopg.errors.LockNotAvailable) and attempt <= spec.retries:
                pause = min(30.0, 0.5 * 2 ** (attempt - 1))
                say(
                    f"lock_timeout ({spec.lock_timeout_ms} ms) while the build waited for "
                    f"another session; invalid index dropped, retry {attempt} of "
                    f"{spec.retries} in {pause:.1f} s"
                )
                time.sleep(pause)
                continue
            if isinstance(err, psycopg.errors.LockNotAvailable):
                raise MigrationError(
                    f"the build was locked out {attempt} times (lock_timeout "
                    f"{spec.lock_timeout_ms} ms): end the long transactions preflight "
                    "lists, or raise --lock-timeout"
                ) from err
            if isinstance(err, psycopg.OperationalError):
                raise MigrationError(
                    f"connection lost during the build: {first_line(err)} "
                    "(vecscope migrate resume cleans up and retries)"
                ) from err
            raise MigrationError(f"the build failed: {first_line(err)}") from err
        name = spec.old_name if spec.kind == Kind.REINDEX else spec.new_name
        assert name is not None
        return BuildOutcome(
            time.monotonic() - started,
            attempt,
            tuple(notices),
            predict.workers_used(notices),
            predict.graph_fit_rows(notices),
            monitor.index_bytes(spec, name),
        )
    finally:
        monitor.close()


def _progress(
    monitor: Conn,
    pid: int,
    started: float,
    predicted: float | None,
    notices: list[str],
    attempt: int,
) -> BuildProgress:
    elapsed = time.monotonic() - started
    row = db.record(monitor, "migrate_build_progress", _ProgressRow, {"pid": pid})
    if row is None:
        return BuildProgress(
            "starting",
            None,
            elapsed,
            _eta("", None, elapsed, predicted),
            notices=tuple(notices),
            attempt=attempt,
        )
    phase = str(row.phase)
    percent = _percent(row)
    waiting: tuple[Blocker, ...] = ()
    if phase.startswith("waiting"):
        locker = int(row.current_locker_pid or 0)
        rows = db.rows(monitor, "migrate_build_waiting", {"pid": pid, "locker": locker})
        waiting = tuple(Blocker.from_row(r) for r in rows if int(r["pid"]) != pid)
    return BuildProgress(
        phase,
        percent,
        elapsed,
        _eta(phase, percent, elapsed, predicted),
        waiting,
        tuple(notices),
        attempt,
    )


def _cleanup(target: ConnectionTarget, spec: MigrationSpec, say: Say) -> None:
    """Drop whatever invalid index the failed or cancelled build left."""
    conn, _ = open_ddl_session(target, spec, build=False)
    try:
        if spec.kind == Kind.REINDEX:
            assert spec.old_name
            for name in invalid_copies(conn, spec, spec.old_name):
                drop_if_invalid(conn, spec, name, say)
        else:
            drop_if_invalid(conn, spec, spec.new_name, say)
    finally:
        conn.close()


def new_index_ready(conn: Conn, spec: MigrationSpec) -> bool:
    name = spec.old_name if spec.kind == Kind.REINDEX else spec.new_name
    assert name is not None
    state = index_state(conn, spec.schema, name)
    return state == (True, True)
