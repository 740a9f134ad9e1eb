"""The live lab: run a nearest-neighbour workload in windows and report each one.

The TUI calls :meth:`LiveLab.run_window` in a loop on a worker thread: each call runs the
queries for about ``window_s`` seconds on ``concurrency`` sessions and returns one
:class:`LatencySample` (percentiles over that window's samples, QPS, recall). Knobs set
from the UI thread take effect at the next window, so windows never overlap and a change
is always measured whole.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import psycopg

from vecscope.core.connection import ConnectionTarget
from vecscope.core.errors import ConnectError, QueryError, first_line
from vecscope.core.lab.measure import (
    Conn,
    DumpCache,
    GroundTruth,
    LabTarget,
    QuerySet,
    RawRows,
    TimedQueries,
    apply_settings,
    judge,
    knn_sql,
    open_session,
    run_parallel,
    serving_index,
)
from vecscope.core.lab.stats import percentiles

T = TypeVar("T")


class RingBuffer(Generic[T]):
    """The newest ``capacity`` items; the plot widgets only read it."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[T] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def append(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class LatencySample:
    t: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    qps: float
    recall: float
    queries: int
    k: int
    concurrency: int
    settings: tuple[tuple[str, str], ...]
    index: str | None


@contextmanager
def window_errors() -> Iterator[None]:
    """psycopg's errors as core's: a lost connection is a :class:`ConnectError`, anything
    else (a cancelled or failed statement) a :class:`QueryError` in the server's words."""
    try:
        yield
    except psycopg.errors.QueryCanceled as e:
        raise QueryError(first_line(e)) from e
    except psycopg.OperationalError as e:
        raise ConnectError(f"connection lost during the lab: {e}") from e
    except psycopg.Error as e:
        raise QueryError(first_line(e)) from e


class LiveLab:
    """Knobs plus a window runner; thread-safe between one runner and the UI."""

    def __init__(
        self,
        conn_target: ConnectionTarget,
        target: LabTarget,
        queries: QuerySet,
        gt: GroundTruth,
        *,
        k: int = 10,
        concurrency: int = 1,
        settings: dict[str, str] | None = None,
        window_s: float = 1.0,
    ) -> None:
        self.conn_target = conn_target
        self.target = target
        self.queries = queries
        self.gt = gt
        self.window_s = window_s
        self._lock = threading.Lock()
        self._k = min(k, self.max_k)
        self._concurrency = concurrency
        self._settings: dict[str, str] = dict(settings or {})
        self._sessions: list[Conn] = []
        self._applied: tuple[tuple[str, str], ...] = ()
        self._cursor = 0
        #: Each query's parameters, dumped once for the whole run (the queries never change).
        self._dumps: DumpCache = {}
        self._started = time.monotonic()
        self.samples: RingBuffer[LatencySample] = RingBuffer(600)

    @property
    def max_k(self) -> int:
        """The largest k the ground truth can judge."""
        return int(self.gt.distances.shape[1])

    def set_setting(self, name: str, value: str) -> None:
        with self._lock:
            self._settings[name] = value

    def set_concurrency(self, n: int) -> None:
        with self._lock:
            self._concurrency = max(1, min(n, 64))

    def set_k(self, k: int) -> None:
        with self._lock:
            self._k = max(1, min(k, self.max_k))

    def snapshot(self) -> tuple[int, int, dict[str, str]]:
        with self._lock:
            return self._k, self._concurrency, dict(self._settings)

    def _sync_sessions(self, concurrency: int, settings: dict[str, str]) -> None:
        wanted = tuple(sorted(settings.items()))
        while len(self._sessions) > concurrency:
            self._sessions.pop().close()
        if wanted != self._applied:
            for s in self._sessions:
                apply_settings(s, settings)
            self._applied = wanted
        while len(self._sessions) < concurrency:
            self._sessions.append(open_session(self.conn_target, settings))

    def run_window(self) -> LatencySample:
        """Run queries for one window and measure it (blocking; call from a worker).

        Raises:
            ConnectError: a session lost its connection.
            QueryError: a query failed or was cancelled.
            BadInputError: a setting the server refuses.
        """
        k, concurrency, settings = self.snapshot()
        with window_errors():
            self._sync_sessions(concurrency, settings)
            extra = 1 if self.queries.self_ids is not None else 0
            flt = self.queries.filter
            stmt = knn_sql(self.target, k, extra, flt).as_bytes(self._sessions[0])
            # Asked every window, not cached: an index built or dropped mid-run (a
            # migration) changes the plan without any knob moving. One EXPLAIN costs
            # about a millisecond.
            index = serving_index(
                self._sessions[0],
                self.target,
                self.queries.vectors[0],
                k + extra,
                flt,
                self.queries.filter_params(0),
            )
            # Prepared (once per session and statement) and dumped (once per run) here,
            # outside the window's clock.
            timed = [TimedQueries(s, stmt, self.queries, self._dumps) for s in self._sessions]
        n = len(self.queries)
        deadline = time.perf_counter() + self.window_s
        lat: list[list[float]] = [[] for _ in range(concurrency)]
        res: list[list[tuple[int, RawRows]]] = [[] for _ in range(concurrency)]
        start_at = self._cursor

        def worker(w: int) -> None:
            run = timed[w].run_raw
            lat_w, res_w = lat[w], res[w]
            clock = time.perf_counter
            i = start_at + w
            while clock() < deadline:
                qi = i % n
                ms, raw = run(qi)
                lat_w.append(ms)
                res_w.append((qi, raw))
                i += concurrency

        try:
            with window_errors():
                wall = run_parallel(worker, concurrency)
        except BaseException:
            self.close()
            raise
        done = [item for per in res for item in per]
        self._cursor = (start_at + len(done)) % n
        order = [qi for qi, _ in done]
        # Decoded after the window's clock: the loop kept libpq's results as they came.
        rows = [TimedQueries.rows(raw) for _, raw in done]
        recall = judge(rows, self.queries, self.gt, k, order)
        pct = percentiles(np.array([x for per in lat for x in per]))
        sample = LatencySample(
            t=time.monotonic() - self._started,
            p50_ms=pct.p50_ms,
            p95_ms=pct.p95_ms,
            p99_ms=pct.p99_ms,
            qps=len(done) / wall if wall else 0.0,
            recall=recall,
            queries=len(done),
            k=k,
            concurrency=concurrency,
            settings=tuple(sorted(settings.items())),
            index=index,
        )
        self.samples.append(sample)
        return sample

    def close(self) -> None:
        for s in self._sessions:
            s.close()
        self._sessions = []
        self._applied = ()
