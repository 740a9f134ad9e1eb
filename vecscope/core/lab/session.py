"""The lab, one entry for ``vecscope bench`` and the Latency mode.

:meth:`LabSession.prepare` resolves the column, samples (or reads) the query vectors and
computes their exact answers once; the measurements then run on what it prepared: a
sweep of the knob, one setting, an A/B of two settings or two indexes, or the Latency
mode's live windows (:meth:`LabSession.live`). Both front ends only render the results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget
from vecscope.core.lab.defaults import DEFAULT_K, LIVE_MAX_K, SAMPLE_QUERIES, TARGET_RECALL
from vecscope.core.lab.groundtruth import (
    DEFAULT_MEMORY_BUDGET,
    GroundTruth,
    TruthMethod,
    ground_truth,
)
from vecscope.core.lab.measure import (
    ABResult,
    Knob,
    Measurement,
    Sweep,
    default_values,
    knob_for,
    measure,
    steering_settings,
    sweep,
)
from vecscope.core.lab.runner import LiveLab
from vecscope.core.lab.sampling import QuerySet, load_queries, sample_queries
from vecscope.core.lab.target import Conn, LabTarget, resolve_target, serving_indexes
from vecscope.core.models import VectorIndex
from vecscope.core.pgvector import QUERY_SETTINGS_DEFAULTS

Settings = Mapping[str, str]


def _nothing(_: object) -> None:
    return None


def live_truth_k(target: LabTarget) -> int:
    """How deep the Latency mode's exact answers go: 10 to 50, less than the rows."""
    return max(DEFAULT_K, min(LIVE_MAX_K, target.rows - 1))


@dataclass(frozen=True)
class LabSession:
    """A column prepared for the lab: its target, query vectors and exact answers."""

    conn_target: ConnectionTarget
    target: LabTarget
    queries: QuerySet
    gt: GroundTruth
    #: pgvector's version on the server (what the knobs may offer).
    pgvector: str | None
    #: Every usable index serving the operator (two during a migration).
    indexes: tuple[VectorIndex, ...]

    @classmethod
    def prepare(
        cls,
        conn: Conn,
        conn_target: ConnectionTarget,
        schema: str,
        table: str,
        column: str,
        *,
        operator: str | None = None,
        queries: int | Path = SAMPLE_QUERIES,
        k: int | None = None,
        method: TruthMethod | str | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        check: Callable[[LabTarget], None] = _nothing,
        sampled: Callable[[QuerySet], None] = _nothing,
    ) -> LabSession:
        """Resolve the column, take the query vectors, compute the exact top-``k``.

        Args:
            conn: A catalog connection (the measurements open sessions of their own).
            conn_target: Where the measuring sessions connect.
            queries: How many rows to sample, or a ``.npy`` of query vectors.
            k: The depth of the exact answers; None: :func:`live_truth_k`.
            method: ``faiss``, ``postgres`` or None (faiss when the vectors fit).
            check: Called with the target before any query vector is read (a front
                end's own checks of its options).
            sampled: Called with the query vectors before the ground truth is computed.

        Raises:
            BadInputError: the column cannot be measured (see :func:`resolve_target`).
            QueryError, ConnectError: the server failed.
        """
        inventory = fetch_inventory(conn)
        target = resolve_target(conn, inventory, schema, table, column, operator)
        check(target)
        qs = (
            load_queries(queries, target)
            if isinstance(queries, Path)
            else sample_queries(conn, target, queries)
        )
        sampled(qs)
        depth = k if k is not None else live_truth_k(target)
        gt = ground_truth(conn, target, qs, depth, method=method, memory_budget=memory_budget)
        return cls(
            conn_target,
            target,
            qs,
            gt,
            inventory.server.pgvector,
            serving_indexes(inventory, target),
        )

    @property
    def knob(self) -> Knob:
        """The query-time knob of the serving index (``hnsw.ef_search``/``ivfflat.probes``)."""
        return knob_for(self.target)

    def default_values(self) -> list[int]:
        """The knob's values a sweep tries unless told otherwise."""
        return default_values(self.target)

    def grid(self, values: Sequence[int] | None = None) -> list[dict[str, str]]:
        """One setting of the knob per value (default: :meth:`default_values`)."""
        return [{str(self.knob): str(v)} for v in (values or self.default_values())]

    def measure(
        self,
        settings: Settings,
        *,
        k: int = DEFAULT_K,
        concurrency: int = 1,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Measurement:
        """Every query once under ``settings`` (see :func:`.measure.measure`)."""
        return measure(
            self.conn_target,
            self.target,
            self.queries,
            self.gt,
            k,
            settings,
            concurrency=concurrency,
            should_stop=should_stop,
        )

    def sweep(
        self,
        grid: Sequence[Settings],
        *,
        k: int = DEFAULT_K,
        concurrency: int = 1,
        target_recall: float = TARGET_RECALL,
        on_result: Callable[[Measurement], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Sweep:
        """Each setting of ``grid``, the Pareto front and the recommendation."""
        return sweep(
            self.conn_target,
            self.target,
            self.queries,
            self.gt,
            k,
            grid,
            concurrency=concurrency,
            target_recall=target_recall,
            on_result=on_result,
            should_stop=should_stop,
        )

    def index_ab(self, base: Settings) -> tuple[dict[str, str], dict[str, str]] | None:
        """With two serving indexes: ``base`` steered to the first, then to the second."""
        if len(self.indexes) < 2:
            return None
        first, second = self.indexes[0], self.indexes[1]
        return (
            {**base, **steering_settings(self.indexes, first)},
            {**base, **steering_settings(self.indexes, second)},
        )

    def ab(
        self,
        a: Settings,
        b: Settings,
        *,
        a_label: str = "A",
        b_label: str = "B",
        k: int = DEFAULT_K,
        concurrency: int = 1,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> ABResult:
        """The same queries under two settings, one after the other."""
        first = self.measure(a, k=k, concurrency=concurrency, should_stop=should_stop)
        second = self.measure(b, k=k, concurrency=concurrency, should_stop=should_stop)
        return ABResult(first, second, a_label, b_label)

    def live(self, *, k: int = DEFAULT_K, settings: Settings | None = None) -> LiveLab:
        """The Latency mode's window runner on these queries; the knob at its default."""
        knob = str(self.knob)
        start = dict(settings) if settings is not None else {knob: QUERY_SETTINGS_DEFAULTS[knob]}
        return LiveLab(self.conn_target, self.target, self.queries, self.gt, k=k, settings=start)
