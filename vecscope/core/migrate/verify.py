"""Proof that the new index is valid, used by the planner and at least as accurate.

The *baseline* measures today's plan (the old index, or an exact scan when no index
serves the operator) on queries sampled from the table, before anything is built; the
sample is saved beside the journal so *verify* measures the new index on the very same
queries. While the old index still exists, the verifying sessions make an old IVFFlat
unattractive with ``ivfflat.probes`` (pgvector's maintainers' advice); EXPLAIN, through
the plan doctor, then shows which index served, and the lab measures recall@k and
latency (:mod:`core.lab`, not written twice).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import TupleRow

from vecscope.core import failpoints
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.doctor.diagnose import diagnose, knn_query_for
from vecscope.core.doctor.explain import explain
from vecscope.core.errors import BadInputError, MigrationError, VecscopeError
from vecscope.core.lab import measure as lab
from vecscope.core.lab.filters import RowFilter
from vecscope.core.lab.session import check_filter
from vecscope.core.migrate.ddl import analyze, index_state, open_ddl_session
from vecscope.core.migrate.plan import DEFAULT_MIN_RECALL, MigrationSpec
from vecscope.core.migrate.states import Kind
from vecscope.core.models import Inventory, VectorIndex

Conn = psycopg.Connection[TupleRow]


@dataclass(frozen=True, slots=True)
class Figures:
    """What one side of the comparison measured (plain data: the journal keeps it)."""

    label: str
    #: The index EXPLAIN showed serving the measured query; ``None``: an exact scan.
    index: str | None
    recall: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    qps: float
    queries: int
    settings: dict[str, str] = field(default_factory=dict)
    #: Under the application's filter (``--where``): rows returned per query and the share
    #: of queries that came back short of rows (``None``: no filter).
    rows_returned: float | None = None
    short_share: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Figures | None:
        return cls(**data) if data else None


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    #: The index the plan doctor saw serving the nearest-neighbour query.
    served_by: str | None
    verdict: str
    steering: dict[str, str]
    new: Figures | None
    old: Figures | None
    required_recall: float | None
    passed: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["new"] = self.new.to_json() if self.new else None
        out["old"] = self.old.to_json() if self.old else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Verification | None:
        """A journaled verification read back (what :meth:`to_json` wrote)."""
        if not data:
            return None
        return cls(
            valid=bool(data.get("valid")),
            served_by=data.get("served_by"),
            verdict=str(data.get("verdict") or ""),
            steering=dict(data.get("steering") or {}),
            new=Figures.from_json(data.get("new")),
            old=Figures.from_json(data.get("old")),
            required_recall=data.get("required_recall"),
            passed=bool(data.get("passed")),
            reasons=tuple(data.get("reasons") or ()),
        )


def _figures(m: lab.Measurement, label: str, filtered: bool = False) -> Figures:
    return Figures(
        label,
        m.index,
        round(m.recall, 4),
        round(m.p50_ms, 3),
        round(m.p95_ms, 3),
        round(m.p99_ms, 3),
        round(m.qps, 1),
        m.queries,
        dict(m.settings),
        round(m.returned_mean, 2) if filtered else None,
        round(m.short_share, 4) if filtered else None,
    )


def _index(inventory: Inventory, spec: MigrationSpec, name: str | None) -> VectorIndex | None:
    if name is None:
        return None
    return next(
        (ix for ix in inventory.indexes if ix.schema == spec.schema and ix.name == name), None
    )


def _target(conn: Conn, spec: MigrationSpec, index: VectorIndex | None) -> lab.LabTarget:
    if spec.dims is None:
        raise BadInputError("the column has no declared dimensions")
    return lab.make_target(
        conn,
        spec.schema,
        spec.table,
        spec.column,
        spec.column_type,
        spec.dims,
        spec.operator,
        index,
    )


def save_queries(path: Path, queries: lab.QuerySet) -> None:
    """Write the sampled queries whole (fsynced, then renamed) or not at all.

    Raises:
        MigrationError: The file could not be written (a full disk): no temporary is left.
    """
    failpoints.point("baseline.before_save")
    tmp = path.with_suffix(".tmp.npz")
    ids = queries.self_ids if queries.self_ids is not None else np.zeros(0, dtype=np.int64)
    # The filter and each query's values for it, so that verify asks the same questions.
    flt = queries.filter
    where = json.dumps(
        None
        if flt is None
        else {
            "text": flt.text,
            "columns": list(flt.columns),
            "values": [list(v) for v in queries.filter_values or ()],
        },
        default=str,
    )
    try:
        # The sampled queries are rows of the table: as private as the journal (0600).
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            np.savez(f, vectors=queries.vectors, self_ids=ids, where=np.array(where))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise MigrationError(
            f"cannot write the baseline's queries {path}: {e.strerror or e}"
        ) from e


def load_queries(path: Path) -> lab.QuerySet:
    try:
        with np.load(path) as data:
            vectors = np.asarray(data["vectors"], dtype=np.float32)
            ids = np.asarray(data["self_ids"], dtype=np.int64)
            where = json.loads(str(data["where"])) if "where" in data.files else None
    except (OSError, KeyError, ValueError) as e:
        raise BadInputError(f"cannot read the baseline's queries {path}: {e}") from e
    queries = lab.QuerySet(vectors, ids if len(ids) else None, f"{len(vectors)} baseline queries")
    if where is None:
        return queries
    return replace(
        queries,
        filter=RowFilter(where["text"], tuple(where["columns"])),
        filter_values=tuple(tuple(v) for v in where["values"]),
    )


def _sample(conn: Conn, spec: MigrationSpec, target: lab.LabTarget, n: int) -> lab.QuerySet:
    """The migration's query sample, under its filter when it has one."""
    flt = check_filter(conn, target, spec.where) if spec.where else None
    return lab.sample_queries(conn, target, n, row_filter=flt)


def baseline(conn_target: ConnectionTarget, spec: MigrationSpec, queries_path: Path) -> Figures:
    """Measure today's plan for the target operator; save the sampled queries.

    Raises:
        BadInputError: the table cannot be measured (no integer primary key, no rows).
    """
    with connect(conn_target) as conn:
        inventory = fetch_inventory(conn)
        old = _index(inventory, spec, spec.old_name)
        serves = old is not None and old.usable and spec.operator in (old.operator or "").split()
        target = _target(conn, spec, old if serves else None)
        queries = _sample(conn, spec, target, min(spec.queries, max(1, target.rows - 1)))
        save_queries(queries_path, queries)
        gt = lab.ground_truth(conn, target, queries, min(spec.k, target.rows - 1))
    m = lab.measure(conn_target, target, queries, gt, min(spec.k, target.rows - 1), {})
    return replace(_figures(m, "before", spec.where is not None), index=_as_parent(spec, m.index))


def served_by(
    conn: Conn, spec: MigrationSpec, inventory: Inventory, parent: str | None = None
) -> tuple[str | None, str]:
    """The index the plan doctor sees serving a nearest-neighbour query, and its verdict.

    On a partitioned table each partition's scan is a site of its own: ``parent`` (the
    new partitioned index's name now) is answered when every site is served by the new
    index of its partition, else the first index (or ``None``, a Seq Scan) that is not.
    """
    query = knn_query_for(spec.schema, spec.table, spec.column, spec.operator)
    diagnosis = diagnose(explain(conn, query, inventory), inventory)
    served = [s.index.name if s.served and s.index else None for s in diagnosis.sites]
    if spec.partitioned and parent is not None:
        ours = {p.new_name for p in spec.partitions}
        if served and all(name in ours for name in served):
            return parent, diagnosis.verdict
        return next((n for n in served if n not in ours), None), diagnosis.verdict
    return next((n for n in served if n is not None), None), diagnosis.verdict


def _as_parent(spec: MigrationSpec, name: str | None, parent: str | None = None) -> str | None:
    """A partition's index stands for the partitioned index it belongs to (the new one
    under ``parent``, its name at the time)."""
    for part in spec.partitions:
        if name == part.new_name:
            return parent or spec.new_name
        if name is not None and name == part.old_name:
            return spec.old_name
    return name


def verify(
    conn_target: ConnectionTarget,
    spec: MigrationSpec,
    before: Figures | None,
    queries_path: Path | None,
) -> Verification:
    """Check the new index and compare it with the baseline (see the module docstring)."""
    name = spec.old_name if spec.kind == Kind.REINDEX else spec.new_name
    assert name is not None
    reasons: list[str] = []
    ddl, _ = open_ddl_session(conn_target, spec, build=False)
    try:
        state = index_state(ddl, spec.schema, name)
        valid = state == (True, True)
        if not valid:
            return Verification(
                False,
                None,
                "",
                {},
                None,
                before,
                None,
                False,
                (f"{name} is {'missing' if state is None else 'not valid'}",),
            )
        analyze(ddl, spec)
    finally:
        ddl.close()
    with connect(conn_target) as conn:
        inventory = fetch_inventory(conn)
        new = _index(inventory, spec, name)
        assert new is not None
        siblings = [
            ix
            for ix in inventory.indexes
            if (ix.schema, ix.table, ix.column) == (spec.schema, spec.table, spec.column)
            and ix.usable
        ]
        steering = lab.steering_settings(siblings, new)
        lab.apply_settings(conn, steering)
        serving, verdict = served_by(conn, spec, inventory, name)
        if serving != name:
            reasons.append(
                f"the planner chose {serving or 'a Seq Scan'} over {name}"
                + (
                    " even with " + ", ".join(f"{k}={v}" for k, v in steering.items())
                    if steering
                    else ""
                )
            )
        figures: Figures | None = None
        try:
            target = _target(conn, spec, new)
            queries = (
                load_queries(queries_path)
                if queries_path is not None and queries_path.exists()
                else _sample(conn, spec, target, spec.queries)
            )
            k = min(spec.k, target.rows - 1)
            gt = lab.ground_truth(conn, target, queries, k)
        except VecscopeError as e:
            reasons.append(f"recall not measured: {e.message}")
            target = None
    if target is not None:
        m = lab.measure(conn_target, target, queries, gt, k, steering)
        figures = replace(
            _figures(m, "after", spec.where is not None), index=_as_parent(spec, m.index, name)
        )
        # Under a filter the planner may rightly read a selective filter's rows through a
        # B-tree and sort them: the filtered queries are judged on their answers.
        if figures.index != name and spec.where is None:
            reasons.append(f"the measured queries were served by {m.index or 'a Seq Scan'}")
        if figures.short_share is not None:
            was = (before.short_share or 0.0) if before is not None else 0.0
            if figures.short_share > max(lab.SHORT_TOLERANCE, was) + 1e-9:
                reasons.append(
                    f"{figures.short_share:.0%} of the filtered queries returned fewer rows "
                    f"than exist for them (before: {was:.0%})"
                )
    required: float | None
    if spec.min_recall is not None:
        required = spec.min_recall
    elif before is not None and before.index is not None:
        required = before.recall
    else:
        required = DEFAULT_MIN_RECALL
    if figures is not None and figures.recall + 1e-9 < required:
        reasons.append(f"recall@{spec.k} {figures.recall:.3f} is below the required {required:.3f}")
    passed = valid and not reasons
    return Verification(
        valid, serving, verdict, steering, figures, before, required, passed, tuple(reasons)
    )


def final_check(conn_target: ConnectionTarget, spec: MigrationSpec) -> tuple[str | None, str]:
    """After cutover: EXPLAIN with no steering at all must show the new index."""
    with connect(conn_target) as conn:
        inventory = fetch_inventory(conn)
        return served_by(conn, spec, inventory, spec.final_name)
