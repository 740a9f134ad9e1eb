"""Tune a FAISS index's query-time parameters against a recall target, as the lab does.

Every setting of the knobs FAISS's ``ParameterSpace`` exposes for the index (``nprobe``,
``efSearch``, ``quantizer_efSearch``, ``k_factor_rf``...) is measured on the same queries:
recall@k against exact answers, and single-query latency on one thread (what one request
costs). The Pareto front and the cheapest setting meeting the target come from
:mod:`core.stats`, the code the pgvector lab uses. With a memory budget, other index
types are built from the same vectors and tuned too, so the choice is between types.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import faiss
import numpy as np

from vecscope.core.errors import BadInputError
from vecscope.core.faissidx.progress import Progress, Reporter, no_progress
from vecscope.core.faissidx.search import (
    F32,
    I64,
    Corpus,
    Truth,
    recall,
    search,
)
from vecscope.core.faissidx.structure import flatten, metric_name, serialized_bytes, walk
from vecscope.core.lab.stats import cheapest_meeting, pareto_front, percentiles

#: Values tried per knob (a knob's values beyond the index's range are dropped).
GRID: dict[str, tuple[int, ...]] = {
    "nprobe": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    "efSearch": (16, 32, 48, 64, 96, 128, 192, 256, 384, 512),
    "quantizer_efSearch": (32, 64, 128),
    "k_factor_rf": (1, 2, 4, 8, 16),
    "k_factor": (1, 2, 4, 8, 16),
}
MAX_POINTS = 60


@dataclass(frozen=True, slots=True)
class Point:
    """One measured setting."""

    setting: str
    values: dict[str, int]
    recall: float
    p50_ms: float
    p99_ms: float
    qps: float


@dataclass(frozen=True, slots=True)
class Tuning:
    label: str
    factory: str
    k: int
    queries: int
    target_recall: float
    memory_bytes: int
    points: tuple[Point, ...]
    pareto: tuple[int, ...]
    recommendation: int | None
    recall_by: str
    params: dict[str, int | float | str] = field(default_factory=dict)
    #: Dimensions and metric of the index (the deployment builds the same type).
    d: int = 0
    metric: str = "L2"
    #: The tuned file, when it is one (the deployment loads it).
    path: str = ""

    @property
    def best(self) -> Point | None:
        return self.points[self.recommendation] if self.recommendation is not None else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["recommended"] = asdict(self.best) if self.best else None
        return out


def knobs(index: Any) -> list[str]:
    """The query-time parameters FAISS's ParameterSpace knows for this index."""
    ps: Any = faiss.ParameterSpace()
    ps.initialize(index)
    names = []
    for i in range(ps.parameter_ranges.size()):
        name = str(ps.parameter_ranges.at(i).name)
        if name in GRID:
            names.append(name)
    return names


def _values(index: Any, name: str, k: int) -> list[int]:
    params = flatten(walk(index))
    values = list(GRID[name])
    if name == "nprobe":
        nlist = int(params.get("nlist", 1))
        values = [v for v in values if v < nlist] + [nlist]
    if name == "efSearch":
        values = [v for v in values if v >= k] or [k]
    return values


def grid(index: Any, k: int) -> list[dict[str, int]]:
    """Every combination of the knobs' values, thinned to at most MAX_POINTS."""
    names = knobs(index)
    if not names:
        return [{}]
    axes = [_values(index, n, k) for n in names]
    combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*axes)]
    if len(combos) > MAX_POINTS:
        step = len(combos) / MAX_POINTS
        combos = [combos[int(i * step)] for i in range(MAX_POINTS)]
    return combos


def setting_text(values: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items()) or "(no knobs)"


def measure(
    index: Any,
    values: dict[str, int],
    queries: F32,
    self_ids: I64 | None,
    truth: Truth,
    k: int,
    corpus: Corpus | None,
) -> Point:
    ps: Any = faiss.ParameterSpace()
    if values:
        ps.set_index_parameters(index, setting_text(values))
    got = search(index, queries, k, self_ids)  # all threads: warms the caches too
    extra = 1 if self_ids is not None else 0
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        lat = np.empty(len(queries))
        for i in range(len(queries)):
            q = queries[i : i + 1]
            t0 = time.perf_counter_ns()
            index.search(q, k + extra)
            lat[i] = (time.perf_counter_ns() - t0) / 1e6
    finally:
        faiss.omp_set_num_threads(threads)
    pct = percentiles(lat)
    return Point(
        setting_text(values),
        dict(values),
        round(recall(got, truth, k, corpus, queries), 4),
        round(pct.p50_ms, 4),
        round(pct.p99_ms, 4),
        round(1000.0 / pct.mean_ms, 1) if pct.mean_ms else 0.0,
    )


def tune(
    index: Any,
    queries: F32,
    truth: Truth,
    k: int,
    *,
    corpus: Corpus | None,
    self_ids: I64 | None = None,
    target_recall: float = 0.95,
    label: str = "",
    factory: str = "",
    memory_bytes: int | None = None,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] = lambda: False,
    prefix: str = "",
) -> Tuning:
    """Sweep the index's knobs; recommend the cheapest p50 meeting ``target_recall``.

    ``progress`` hears of each setting measured; ``prefix`` goes before the phase's name.
    """
    if not 0.0 < target_recall <= 1.0:
        raise BadInputError("--target-recall must be in (0, 1]")
    if queries.shape[1] != index.d:
        raise BadInputError(f"queries have {queries.shape[1]} dimensions, the index {index.d}")
    points: list[Point] = []
    combos = grid(index, k)
    report = Reporter(progress, prefix)
    report.phase(
        f"measuring on {len(queries):,} queries", total=len(combos), unit="settings measured"
    )
    for n, values in enumerate(combos):
        if should_stop():
            break
        report.update(done=n, detail=setting_text(values) or "its only setting")
        points.append(measure(index, values, queries, self_ids, truth, k, corpus))
        report.update(done=n + 1)
    cost_recall = [(p.p50_ms, p.recall) for p in points]
    return Tuning(
        label=label,
        factory=factory,
        k=k,
        queries=len(queries),
        target_recall=target_recall,
        memory_bytes=memory_bytes if memory_bytes is not None else serialized_bytes(index),
        points=tuple(points),
        pareto=tuple(pareto_front(cost_recall)),
        recommendation=cheapest_meeting(cost_recall, target_recall),
        recall_by="true distances" if corpus is not None else "ids of the ground truth",
        params=flatten(walk(index)),
        d=int(index.d),
        metric=metric_name(int(index.metric_type)),
    )


def truth_from_file(gt: np.ndarray, k: int) -> Truth:
    """A ground-truth ``.npy`` of neighbour ids ``(queries, >= k)``."""
    if gt.ndim != 2 or gt.shape[1] < k:
        raise BadInputError(f"the ground truth must be (queries, >= {k}) neighbour ids")
    return Truth(np.asarray(gt[:, :k], dtype=np.int64), None)


def candidates(d: int, n: int) -> list[tuple[str, str]]:
    """Index types worth comparing within a memory budget: (label, factory)."""
    m_pq = next((m for m in (64, 48, 32, 24, 16, 8) if d % m == 0 and m <= d // 4), 8)
    nlist = max(16, min(65536, int(4 * np.sqrt(max(n, 1)))))
    return [
        ("HNSW-Flat", "HNSW32"),
        ("HNSW-SQ8", "HNSW32_SQ8"),
        ("HNSW-SQfp16", "HNSW32_SQfp16"),
        # bench/faiss_bench.py found these at 24-26% of HNSW-Flat's memory with recall@10
        # above 0.92 on 384-d embeddings, where PQ codes lose far more.
        ("HNSW-SQ4", "HNSW32_SQ4"),
        ("HNSW16-SQ6", "HNSW16_SQ6"),
        ("OPQ+HNSW (PQ codes)", f"OPQ{m_pq}_{d},HNSW32_PQ{m_pq}"),
        ("HNSW-PQ + SQ8 re-rank", f"HNSW32_PQ{m_pq},Refine(SQ8)"),
        ("IVF-Flat", f"IVF{nlist},Flat"),
        ("IVF-PQ + SQ8 re-rank", f"IVF{nlist},PQ{m_pq},Refine(SQ8)"),
    ]


def best_recall(t: Tuning) -> float:
    return max((p.recall for p in t.points), default=0.0)


def frontier(results: Sequence[Tuning]) -> list[int]:
    """Candidates no other beats on memory and best recall together."""
    return pareto_front([(float(t.memory_bytes), best_recall(t)) for t in results])


def compare(
    corpus: Corpus,
    queries: F32,
    self_ids: I64 | None,
    truth: Truth,
    k: int,
    *,
    target_recall: float,
    memory_budget: int | None = None,
    choices: Sequence[tuple[str, str]] | None = None,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Tuning]:
    """Build each candidate type from the corpus and tune it; keep those within budget.

    A candidate whose memory is over the budget is still reported (the frontier shows
    what the budget costs) but never recommended by :func:`pick`.
    """
    from vecscope.core.faissidx.convert import build  # the conversion's builder, not a second one

    n, d = corpus.vectors.shape
    out: list[Tuning] = []
    todo = list(choices or candidates(d, n))
    for i, (label, factory) in enumerate(todo):
        if should_stop():
            break
        prefix = f"{label} ({i + 1} of {len(todo)}): "
        index, _, _ = build(
            factory, corpus, progress=progress, should_stop=should_stop, prefix=prefix
        )
        memory = serialized_bytes(index)
        out.append(
            tune(
                index,
                queries,
                truth,
                k,
                corpus=corpus,
                self_ids=self_ids,
                target_recall=target_recall,
                label=label,
                factory=factory,
                memory_bytes=memory,
                progress=progress,
                should_stop=should_stop,
                prefix=prefix,
            )
        )
        del index
    return out


def pick(results: Sequence[Tuning], memory_budget: int | None) -> int | None:
    """The candidate within budget whose recommended setting has the lowest p50."""
    ok = [
        i
        for i, t in enumerate(results)
        if t.best is not None and (memory_budget is None or t.memory_bytes <= memory_budget)
    ]
    return min(ok, key=lambda i: results[i].best.p50_ms) if ok else None  # type: ignore[union-attr]
