"""The lab, one entry for ``vecscope bench`` and the Latency mode.

:meth:`LabSession.prepare` resolves the column, samples (or reads) the query vectors and
computes their exact answers once; the measurements then run on what it prepared: a
sweep of the knob, one setting, an A/B of two settings or two indexes, or the Latency
mode's live windows (:meth:`LabSession.live`). Both front ends only render the results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql

from vecscope.core import db
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget
from vecscope.core.doctor.side_effects import refuse_side_effects
from vecscope.core.errors import BadInputError, first_line
from vecscope.core.lab.defaults import DEFAULT_K, LIVE_MAX_K, SAMPLE_QUERIES, TARGET_RECALL
from vecscope.core.lab.filtered import (
    Fix,
    filtered_grid,
    selectivity,
    settings_label,
    structural_fixes,
)
from vecscope.core.lab.filters import RowFilter, parse_filter
from vecscope.core.lab.groundtruth import (
    DEFAULT_MEMORY_BUDGET,
    GroundTruth,
    TruthMethod,
    ground_truth,
)
from vecscope.core.lab.measure import (
    SHORT_TOLERANCE,
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
from vecscope.core.lab.stats import recommend
from vecscope.core.lab.target import Conn, LabTarget, resolve_target, serving_indexes
from vecscope.core.models import Inventory, VectorIndex
from vecscope.core.pgvector import QUERY_SETTINGS_DEFAULTS

Settings = Mapping[str, str]
#: The deepest k the lab measures: a nearest-neighbour query asks for a page of results,
#: and pgvector's own knobs stop at 1,000 (``hnsw.ef_search``).
MAX_K = 1000


def _nothing(_: object) -> None:
    return None


def live_truth_k(target: LabTarget) -> int:
    """How deep the Latency mode's exact answers go: 10 to 50, less than the rows."""
    return max(DEFAULT_K, min(LIVE_MAX_K, target.rows - 1))


@dataclass(frozen=True, slots=True)
class _TableColumns:
    found: bool
    columns: list[str]


def check_table(conn: Conn, inventory: Inventory, schema: str, table: str, column: str) -> None:
    """Say what is wrong with a misnamed table or column before anything else is read.

    Raises:
        BadInputError: no such table, or no such column in it (a column that exists but
            is not a vector is left to :func:`resolve_target`, which says so).
    """
    if any((c.schema, c.table, c.column) == (schema, table, column) for c in inventory.columns):
        return
    with db.mapped_errors(f"looking up {schema}.{table}", conn):
        found = db.record(
            conn, "lab_table_columns", _TableColumns, {"schema": schema, "table": table}
        )
    if found is None:
        raise BadInputError(
            f"no such table: {schema}.{table} (names are case-sensitive when quoted; "
            "vecscope indexes lists the vector columns)"
        )
    if column not in found.columns:
        vectors = [c.column for c in inventory.columns if (c.schema, c.table) == (schema, table)]
        known = (
            f"its vector columns: {', '.join(vectors)}" if vectors else "it has no vector column"
        )
        raise BadInputError(f"{schema}.{table} has no column {column!r} ({known})")


def check_filter(conn: Conn, target: LabTarget, where: str) -> RowFilter:
    """Parse ``--where`` against the table and make sure running it changes nothing.

    Raises:
        BadInputError: a placeholder naming no column, SQL the server rejects, or a
            filter calling a volatile function (the lab runs it thousands of times).
    """
    name = f"{target.schema}.{target.table}"
    with db.mapped_errors(f"looking up {name}", conn):
        found = db.record(
            conn,
            "lab_table_columns",
            _TableColumns,
            {"schema": target.schema, "table": target.table},
        )
    flt = parse_filter(where, found.columns if found else [], name)
    probe = (
        f"SELECT 1 FROM {sql.Identifier(target.schema, target.table).as_string(conn)} "
        f"WHERE {flt.literal(conn, [None] * len(flt.columns))}"
    )
    try:
        with conn.transaction(force_rollback=True):
            refuse_side_effects(conn, probe, "--where refused: {}")
    except psycopg.Error as e:
        raise BadInputError(f"--where: {first_line(e)}") from e
    return flt


def check_k(target: LabTarget, k: int, *, sampled: bool) -> None:
    """Refuse a k the lab cannot judge, before any query vector is read.

    Args:
        sampled: The queries are rows of the table (their own row is not an answer).

    Raises:
        BadInputError: k below 1, above :data:`MAX_K`, or more rows than the table has.
    """
    if not 1 <= k <= MAX_K:
        raise BadInputError(f"k must be between 1 and {MAX_K:,} (k = {k:,})")
    room = target.rows - (1 if sampled else 0)
    if k > room:
        raise BadInputError(
            f"k = {k:,} is larger than the {room:,} rows each query can find in "
            f"{target.schema}.{target.table}"
        )


@dataclass(frozen=True, slots=True)
class ConnectionRoom:
    """How many more sessions the server takes (see ``lab_connection_room.sql``)."""

    max_connections: int
    reserved: int
    in_use: int

    @property
    def free(self) -> int:
        return max(0, self.max_connections - self.reserved - self.in_use)


def connection_room(conn: Conn) -> ConnectionRoom:
    """max_connections, the reserved slots and the client sessions open now."""
    with db.mapped_errors("reading max_connections", conn):
        room = db.record(conn, "lab_connection_room", ConnectionRoom)
    assert room is not None
    return room


def capped_concurrency(room: ConnectionRoom, wanted: int) -> tuple[int, str | None]:
    """``wanted`` sessions, or as many as the server has room for, and a line saying so.

    The catalog connection that read ``room`` is counted in use, and is closed before
    the measuring sessions open: one slot stays free for someone else.

    Raises:
        BadInputError: the server has no free slot at all.
    """
    if wanted <= room.free:
        return wanted, None
    detail = (
        f"max_connections {room.max_connections}, {room.reserved} reserved, {room.in_use} in use"
    )
    if room.free < 1:
        raise BadInputError(f"the server has no free connection for the lab ({detail})")
    return room.free, (
        f"concurrency {wanted:,} is more than the server has room for ({detail}): "
        f"measuring with {room.free}"
    )


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
        where: str | None = None,
        where_values: Sequence[tuple[str, float]] | None = None,
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
            where: The application's filter (``tenant_id = {tenant_id}``: see
                :mod:`.filters`); its exact answers are the filtered ones.
            where_values: Values for its one placeholder, with weights (the
                application's mix): each gets its share of the queries.

        Raises:
            BadInputError: no such table or column, a column that cannot be measured
                (see :func:`resolve_target`), or a k it cannot judge (:func:`check_k`).
            QueryError, ConnectError: the server failed.
        """
        inventory = fetch_inventory(conn)
        check_table(conn, inventory, schema, table, column)
        target = resolve_target(conn, inventory, schema, table, column, operator)
        if k is not None:
            check_k(target, k, sampled=not isinstance(queries, Path))
        flt = check_filter(conn, target, where) if where is not None else None
        check(target)
        if isinstance(queries, Path):
            qs = load_queries(queries, target)
            if flt is not None:
                if flt.per_query:
                    raise BadInputError(
                        "--where with {column} placeholders takes its values from sampled "
                        "rows: use --queries, not --queries-file"
                    )
                qs = replace(qs, filter=flt, filter_values=((),) * len(qs))
        else:
            if where_values and (flt is None or not flt.per_query):
                raise BadInputError("--where-values needs a --where with a {column} placeholder")
            qs = sample_queries(conn, target, queries, row_filter=flt, weighted=where_values)
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
        """One setting of the knob per value (default: :meth:`default_values`); for a
        filtered workload, with iterative scans and the exact plan too (see
        :func:`.filtered.filtered_grid`)."""
        if self.queries.filter is not None:
            return filtered_grid(self.target, self.pgvector, values)
        return [{str(self.knob): str(v)} for v in (values or self.default_values())]

    def fixes(self, conn: Conn) -> list[Fix]:
        """Structural fixes for a filtered workload (none without a filter)."""
        return structural_fixes(conn, self.target, self.queries)

    def selectivity(self, conn: Conn) -> float | None:
        """The share of rows the hottest filter value matches (None: no filter)."""
        return selectivity(conn, self.target, self.queries)

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
        target_latency_ms: float | None = None,
        on_result: Callable[[Measurement], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Sweep:
        """Each setting of ``grid``, the Pareto front and the recommendation: the
        cheapest setting meeting the recall and the p50 latency targets (or the verdict
        saying which of them no setting meets, see :func:`unmet_text`)."""
        return sweep(
            self.conn_target,
            self.target,
            self.queries,
            self.gt,
            k,
            grid,
            concurrency=concurrency,
            target_recall=target_recall,
            target_latency_ms=target_latency_ms,
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


def rejudged(result: Sweep, target_latency_ms: float | None) -> Sweep:
    """The same measurements judged against another latency target (the Latency mode's
    ``t`` after a sweep): no setting is measured again."""
    points = [(m.p50_ms, m.judged_recall) for m in result.measurements]
    return replace(result, verdict=recommend(points, result.target_recall, target_latency_ms))


def unmet_text(result: Sweep, knob: str) -> str | None:
    """The sentence saying which target no setting of a sweep meets (None: one does).

    Both front ends show it as it is: the CLI under its table, the Latency mode in its
    status line.
    """
    v, ms = result.verdict, result.measurements
    if v.unmet is None:
        return None
    if v.nearest is None:
        return "Nothing was measured."

    def name(i: int) -> str:
        settings = ms[i].settings
        if set(settings) == {knob}:
            return f"{knob} = {settings[knob]}"
        return settings_label(settings)

    k = ms[0].k
    near = ms[v.nearest]
    if v.unmet == "latency":
        assert v.target_latency_ms is not None
        line = (
            f"The latency target cannot be met: the cheapest setting reaching recall@{k} "
            f"≥ {v.target_recall:g}, {name(v.nearest)}, takes p50 {near.p50_ms:,.2f} ms, over "
            f"{v.target_latency_ms:g} ms"
        )
        if v.within_latency is not None:
            best = ms[v.within_latency]
            line += (
                f"; within {v.target_latency_ms:g} ms the best is {name(v.within_latency)} "
                f"(recall {best.recall:.3f})"
            )
        return line + "."
    line = (
        f"The recall target cannot be met: no setting reached recall@{k} ≥ "
        f"{v.target_recall:g} (best {near.recall:.3f} at {name(v.nearest)}"
        + (
            f", {near.short_share:.0%} of queries short of rows"
            if near.short_share > SHORT_TOLERANCE
            else ""
        )
        + ")"
    )
    if v.unmet == "both":
        line += f", and none ran within {v.target_latency_ms:g} ms either"
    return line + ": try larger values, or a better index."
