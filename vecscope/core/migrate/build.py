"""The build step: CREATE INDEX CONCURRENTLY (or REINDEX CONCURRENTLY) with live progress.

On a partitioned table (where PostgreSQL builds nothing concurrently) the partitioned
index is made ``ON ONLY`` the parent, empty and INVALID, then each partition's index is
built concurrently with its own progress and attached; the last attach makes the
partitioned index valid.

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
from dataclasses import dataclass, field, replace

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
    with_retries,
)
from vecscope.core.migrate.observe import look
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.preflight import Blocker
from vecscope.core.migrate.render import (
    attach_sql,
    build_statements,
    create_new_sql,
    create_partition_sql,
)
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
    #: On a partitioned table: the partition being built, its number, how many there are.
    #: ``percent`` is that partition's; ``eta_s`` the whole build's.
    partition: str | None = None
    partition_number: int = 0
    partitions: int = 0
    #: The ETA as :class:`EtaTracker` made it (``eta_s`` is its seconds).
    eta: Eta | None = None

    @property
    def eta_label(self) -> str:
        """What the front ends show of the ETA (see :attr:`Eta.label`)."""
        return (self.eta or Eta(self.eta_s)).label

    @property
    def where(self) -> str:
        """``"partition 2/4 events_2026_02"``, or nothing for a table's one build."""
        if self.partition is None:
            return ""
        return f"partition {self.partition_number}/{self.partitions} {self.partition}"


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


#: Below this share of its units done, a phase's progress says too little to extrapolate.
MIN_PROGRESS = 0.02
#: The progress-based estimate gets full weight once this share of the work is done.
FULL_TRUST = 0.5


def work_done(fraction: float, exponent: float) -> float:
    """Share of a phase's *work* done when ``fraction`` of its tuples are: the k-th HNSW
    insert costs ~k ** (exponent - 1), so the first half of the tuples is less than half
    the work (1.13: 46%)."""
    return float(max(0.0, min(1.0, fraction)) ** max(1.0, exponent))


@dataclass(frozen=True, slots=True)
class Eta:
    """What the build's time left looks like at one poll."""

    #: Seconds left; by progress alone when ``over`` (None: nothing to estimate by).
    seconds: float | None
    #: The build is past the predicted range (or the prediction, when no range is known).
    over: bool = False
    #: A range was known, so ``over`` means past its top, not past the point estimate.
    ranged: bool = False
    #: Past the point estimate but within the range, with no progress to go by.
    late: bool = False

    @property
    def label(self) -> str:
        """``"ETA 12 s"``, or after the prediction ``"over the predicted range; ~40 s more
        by progress"``; ``""`` when nothing can be said."""
        if self.over:
            said = "over the predicted range" if self.ranged else "past the prediction"
            if self.seconds is None:
                return said
            if self.seconds < 1.0:
                return f"{said}; finishing by progress"
            return f"{said}; ~{self.seconds:.0f} s more by progress"
        if self.late:
            return "past the estimate, within the predicted range"
        return "" if self.seconds is None else f"ETA {self.seconds:.0f} s"


class EtaTracker:
    """A build's ETA that never rises while the build makes progress in the same phase.

    Each poll blends two estimates of the time left: the prediction's (``predicted_s``
    less the time elapsed) and the progress's (the time spent in the phase, scaled by the
    work left: :func:`work_done` with the method's growth exponent, HNSW's inserts getting
    slower as the graph grows). The progress gets more weight as the work gets done, all
    of it from :data:`FULL_TRUST`. What is shown is the least estimate so far in the
    phase, so it falls or stands still, never jumps up. Once the build runs past the top of
    the predicted range (``high_s``; the prediction itself when no range is known) it says
    so, with the progress's own estimate (again never rising), rather than an ETA of zero
    or one that jumps. A new phase starts afresh. Pure: the caller passes the time.
    """

    def __init__(
        self, predicted_s: float | None, high_s: float | None = None, exponent: float = 1.0
    ) -> None:
        self.predicted_s = predicted_s or None
        self.high_s = high_s if high_s and self.predicted_s else None
        self.exponent = exponent
        self._phase: str | None = None
        self._phase_started = 0.0
        self._phase_fraction = 0.0
        self._shown: float | None = None
        self._over_shown: float | None = None

    def update(
        self, phase: str, fraction: float | None, elapsed: float, exponent: float | None = None
    ) -> Eta:
        """The ETA at ``elapsed`` seconds into the build, ``fraction`` (0..1) of the phase's
        units done (None: the phase counts nothing); ``exponent`` overrides the tracker's
        for this phase. By default only a phase that loads tuples (the graph's inserts)
        grows superlinearly; the validation scans and waits are linear."""
        if exponent is None:
            exponent = self.exponent if "loading" in phase else 1.0
        if phase != self._phase:
            self._phase = phase
            self._phase_started = elapsed
            self._phase_fraction = fraction or 0.0
            self._shown = self._over_shown = None
        by_progress = self._by_progress(fraction, elapsed, exponent)
        limit = self.high_s or self.predicted_s
        if limit is not None and elapsed > limit:
            if by_progress is not None:
                self._over_shown = _least(self._over_shown, by_progress)
            return Eta(self._over_shown, over=True, ranged=self.high_s is not None)
        by_prediction = (
            max(0.0, self.predicted_s - elapsed) if self.predicted_s is not None else None
        )
        late = self.predicted_s is not None and elapsed > self.predicted_s
        if by_progress is None and late and self._shown is None:
            return Eta(None, late=True)
        if by_progress is None:
            raw = by_prediction
        elif by_prediction is None:
            raw = by_progress
        else:
            done = work_done(fraction or 0.0, exponent)
            trust = min(1.0, done / FULL_TRUST)
            # Past the point estimate (but within the range) the prediction says nothing
            # more than "soon": the progress decides.
            if elapsed > (self.predicted_s or 0.0):
                trust = 1.0
            raw = trust * by_progress + (1.0 - trust) * by_prediction
        if raw is not None:
            self._shown = _least(self._shown, raw)
        return Eta(self._shown)

    def _by_progress(self, fraction: float | None, elapsed: float, exponent: float) -> float | None:
        """Seconds left by the phase's own pace, from where the phase was first seen."""
        if fraction is None or fraction <= self._phase_fraction:
            return None
        done = work_done(fraction, exponent)
        start = work_done(self._phase_fraction, exponent)
        if fraction < MIN_PROGRESS or done - start <= 0.0:
            return None
        spent = elapsed - self._phase_started
        if spent <= 0.0:
            return None
        return max(0.0, spent * (1.0 - done) / (done - start))


def _least(shown: float | None, new: float) -> float:
    return new if shown is None else min(shown, new)


def _fraction(row: _ProgressRow) -> float | None:
    pct = _percent(row)
    return None if pct is None else pct / 100.0


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
        eta: EtaTracker,
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
            return _progress(self.conn, pid, started, eta, notices, attempt)
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


@dataclass
class _Build:
    """What one build run shares across its statements (one, or one per partition)."""

    target: ConnectionTarget
    spec: MigrationSpec
    on_progress: Callable[[BuildProgress], None]
    should_cancel: Callable[[], bool]
    say: Say
    predicted_s: float | None
    poll_s: float
    monitor: _Monitor
    #: The top of the predicted range, when known.
    predicted_high_s: float | None = None
    started: float = field(default_factory=time.monotonic)
    notices: list[str] = field(default_factory=list)
    attempts: int = 1
    #: The ETA of the statement being polled, and of the whole (a partitioned table's).
    eta: EtaTracker = field(init=False)
    whole_eta: EtaTracker = field(init=False)

    def __post_init__(self) -> None:
        exponent = predict.growth_exponent(self.spec.method)
        self.eta = EtaTracker(self.predicted_s, self.predicted_high_s, exponent)
        self.whole_eta = EtaTracker(self.predicted_s, self.predicted_high_s, 1.0)

    def outcome(self, index_bytes: int, *, cancelled: bool = False) -> BuildOutcome:
        notices = tuple(self.notices)
        return BuildOutcome(
            time.monotonic() - self.started,
            self.attempts,
            notices,
            None if cancelled else predict.workers_used(self.notices),
            None if cancelled else predict.graph_fit_rows(self.notices),
            index_bytes,
            cancelled,
        )


def run(
    target: ConnectionTarget,
    spec: MigrationSpec,
    *,
    on_progress: Callable[[BuildProgress], None] = lambda _: None,
    should_cancel: Callable[[], bool] = lambda: False,
    say: Say = lambda _: None,
    predicted_s: float | None = None,
    poll_s: float = 0.5,
    predicted_range: tuple[float, float] | None = None,
) -> BuildOutcome:
    """Build the new index (or reindex), retrying on lock_timeout; see the module docstring.

    On a partitioned table: the partitioned index ``ON ONLY`` the parent, then each
    partition's index concurrently (with its own progress) and attached, skipping the
    partitions a previous run finished (see :func:`_run_partitioned`).

    ``predicted_s`` and ``predicted_range`` (low, high seconds) feed the ETA
    (:class:`EtaTracker`).

    Raises:
        MigrationError: every retry locked out, or the build failed.
    """
    build = _Build(
        target,
        spec,
        on_progress,
        should_cancel,
        say,
        predicted_s,
        poll_s,
        _Monitor(target, say),
        predicted_range[1] if predicted_range else None,
    )
    try:
        if spec.partitioned:
            return _run_partitioned(build)
        name = spec.old_name if spec.kind == Kind.REINDEX else spec.new_name
        assert name is not None
        if not _build_one(build, build_statements(spec)[-1].sql, name, lambda p: p):
            return build.outcome(0, cancelled=True)
        return build.outcome(build.monitor.index_bytes(spec, name))
    finally:
        build.monitor.close()


def _build_one(
    b: _Build, statement: str, name: str, shown: Callable[[BuildProgress], BuildProgress]
) -> bool:
    """Run one concurrent build with progress, retrying on lock_timeout; False: cancelled
    (the invalid index it left was dropped). ``shown`` adds what the caller knows to each
    progress report (the partition)."""
    spec, say, attempt = b.spec, b.say, 0
    while True:
        attempt += 1
        b.attempts = max(b.attempts, attempt)
        conn, _ = open_ddl_session(b.target, spec, build=True)
        db.execute(conn, "migrate_debug_notices")
        conn.add_notice_handler(
            lambda d: b.notices.append(d.message_primary) if d.message_primary else None
        )
        pid = conn.info.backend_pid
        runner = _Runner(conn, statement)
        runner.start()
        failpoints.point("build.started")
        cancelled = False
        while runner.is_alive():
            runner.join(b.poll_s)
            if not runner.is_alive():
                break
            if b.should_cancel() and not cancelled:
                cancelled = True
                say("cancelling the build")
                _cancel(conn)
            progress = b.monitor.progress(pid, b.started, b.eta, b.notices, attempt)
            if progress is not None:
                b.on_progress(shown(progress))
        conn.close()
        err = runner.error
        if err is None:
            return True
        _cleanup(b.target, spec, name, say)
        if cancelled or isinstance(err, psycopg.errors.QueryCanceled) and b.should_cancel():
            return False
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


def _run_partitioned(b: _Build) -> BuildOutcome:
    """The partitioned index ``ON ONLY`` the parent (catalog only), then per partition:
    its index built concurrently, then attached; the parent's index turns valid with the
    last attach. Decided from the catalog, so a resumed build skips the partitions done,
    attaches one built but not attached, and drops and rebuilds one left invalid."""
    spec, say = b.spec, b.say
    ddl, _ = open_ddl_session(b.target, spec, build=False)
    try:
        _check_partitions(ddl, spec)
        with_retries(ddl, create_new_sql(spec), spec, say=say)
        parts = look(ddl, spec).parts
        total_rows = sum(p.plan.rows for p in parts)
        done_rows = 0
        for number, seen in enumerate(parts, 1):
            part = seen.plan
            if seen.done(seen.new, spec.new_name):
                say(f"{part.table}: {part.new_name} already built and attached")
                done_rows += part.rows
                continue
            if seen.new is None or not seen.new.usable:
                drop_if_invalid(ddl, spec, part.new_name, say)
                shown = _partition_progress(
                    b, part.table, number, len(parts), done_rows, total_rows, part.rows
                )
                # Said at once: a small partition may be built between two polls.
                b.on_progress(shown(_milestone(b, "building partition", 0.0)))
                if not _build_one(b, create_partition_sql(spec, part), part.new_name, shown):
                    return b.outcome(0, cancelled=True)
            with_retries(ddl, attach_sql(spec, spec.new_name, part.new_name), spec, say=say)
            b.on_progress(
                _partition_progress(
                    b, part.table, number, len(parts), done_rows, total_rows, part.rows
                )(_milestone(b, "partition attached", 100.0))
            )
            failpoints.point("build.partition_done")
            done_rows += part.rows
        if index_state(ddl, spec.schema, spec.new_name) != (True, True):
            raise MigrationError(
                f"{spec.new_name} is not valid although every partition's index is attached"
            )
    finally:
        ddl.close()
    return b.outcome(b.monitor.index_bytes(spec, spec.new_name))


def _milestone(b: _Build, phase: str, percent: float) -> BuildProgress:
    """A progress report that no poll produced (a partition's start or end)."""
    return BuildProgress(
        phase, percent, time.monotonic() - b.started, None, notices=tuple(b.notices)
    )


def _check_partitions(conn: Conn, spec: MigrationSpec) -> None:
    """The partitions are still those of the plan (one attached or detached since would
    be built by PostgreSQL itself, without CONCURRENTLY, or missed)."""
    rows = db.rows(conn, "migrate_partitions", {"table": spec.qualified_table})
    now = sorted(str(r["name"]) for r in rows)
    planned = sorted(p.table for p in spec.partitions)
    if now != planned:
        raise MigrationError(
            f"the partitions of {spec.table} changed since the plan "
            f"({', '.join(planned) or 'none'} planned, {', '.join(now) or 'none'} now): "
            "roll back and plan again"
        )


def _partition_progress(
    b: _Build, table: str, number: int, count: int, done_rows: int, total_rows: int, rows: int
) -> Callable[[BuildProgress], BuildProgress]:
    """Progress of one partition's build, with the ETA of the whole (by rows, each
    partition's graph growing as :func:`work_done` says)."""
    exponent = predict.growth_exponent(b.spec.method)

    def shown(p: BuildProgress) -> BuildProgress:
        fraction = None
        if total_rows > 0 and p.percent is not None:
            fraction = (done_rows + rows * work_done(p.percent / 100.0, exponent)) / total_rows
        eta = b.whole_eta.update("partitions", fraction, p.elapsed_s)
        return replace(
            p,
            partition=table,
            partition_number=number,
            partitions=count,
            eta_s=eta.seconds,
            eta=eta,
        )

    return shown


def _progress(
    monitor: Conn,
    pid: int,
    started: float,
    tracker: EtaTracker,
    notices: list[str],
    attempt: int,
) -> BuildProgress:
    elapsed = time.monotonic() - started
    row = db.record(monitor, "migrate_build_progress", _ProgressRow, {"pid": pid})
    if row is None:
        eta = tracker.update("starting", None, elapsed)
        return BuildProgress(
            "starting", None, elapsed, eta.seconds, notices=tuple(notices), attempt=attempt, eta=eta
        )
    phase = str(row.phase)
    percent = _percent(row)
    waiting: tuple[Blocker, ...] = ()
    if phase.startswith("waiting"):
        locker = int(row.current_locker_pid or 0)
        rows = db.rows(monitor, "migrate_build_waiting", {"pid": pid, "locker": locker})
        waiting = tuple(Blocker.from_row(r) for r in rows if int(r["pid"]) != pid)
    eta = tracker.update(phase, _fraction(row), elapsed)
    return BuildProgress(
        phase,
        percent,
        elapsed,
        eta.seconds,
        waiting,
        tuple(notices),
        attempt,
        eta=eta,
    )


def _cleanup(target: ConnectionTarget, spec: MigrationSpec, name: str, say: Say) -> None:
    """Drop whatever invalid index the failed or cancelled build of ``name`` left."""
    conn, _ = open_ddl_session(target, spec, build=False)
    try:
        if spec.kind == Kind.REINDEX:
            for copy in invalid_copies(conn, spec, name):
                drop_if_invalid(conn, spec, copy, say)
        else:
            drop_if_invalid(conn, spec, name, say)
    finally:
        conn.close()


def new_index_ready(conn: Conn, spec: MigrationSpec) -> bool:
    name = spec.old_name if spec.kind == Kind.REINDEX else spec.new_name
    assert name is not None
    state = index_state(conn, spec.schema, name)
    return state == (True, True)
