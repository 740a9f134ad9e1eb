"""Recall, percentiles and the Pareto front: one implementation for pgvector and FAISS.

Recall@k follows the ANN benchmarks: a returned item counts when its true distance is
within the k-th true neighbour's distance (plus a small tolerance), so ties at the k-th
distance are never counted as misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

#: Relative tolerance on the k-th distance (ann-benchmarks uses 1e-3).
TIE_EPSILON = 1e-3


def recall_each(
    returned_distances: Sequence[Sequence[float]],
    true_distances: npt.NDArray[np.float64],
    k: int,
) -> npt.NDArray[np.float64]:
    """Recall@k of each query.

    A query whose exact answer has fewer than ``k`` rows (a filter matching few rows:
    its truth row ends in +inf) is judged on the rows that exist: finding all 3 of a
    tenant's 3 documents is recall 1.0; a query with none to find has recall 1.0.

    Args:
        returned_distances: For each query, the true distances of the items the system
            returned (in any order; only the first ``k`` are judged).
        true_distances: ``(queries, >= k)`` exact nearest distances, ascending.
        k: Neighbours asked for.
    """
    out = np.ones(len(returned_distances), dtype=np.float64)
    for i, (got, truth) in enumerate(zip(returned_distances, true_distances, strict=True)):
        expected = expected_rows(truth, k)
        if expected == 0:
            continue
        kth = float(truth[expected - 1])
        limit = kth + TIE_EPSILON * max(abs(kth), 1e-6)
        out[i] = min(1.0, sum(1 for d in list(got)[:k] if d <= limit) / expected)
    return out


def expected_rows(truth: npt.NDArray[np.float64], k: int) -> int:
    """How many rows a query can return at most: ``k``, or fewer where fewer exist."""
    return int(np.isfinite(truth[:k]).sum())


def recall_at_k(
    returned_distances: Sequence[Sequence[float]],
    true_distances: npt.NDArray[np.float64],
    k: int,
) -> float:
    """Mean recall@k over queries (see :func:`recall_each`)."""
    if len(returned_distances) == 0:
        return float("nan")
    return float(recall_each(returned_distances, true_distances, k).mean())


#: Bootstrap resamples behind a confidence interval.
BOOTSTRAP_RESAMPLES = 2000


def bootstrap_ci(
    values: npt.NDArray[np.float64], level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """A ``level`` confidence interval of the mean of ``values`` (per-query recalls, say):
    the percentile bootstrap over queries, seeded so that the same figures give the same
    interval. With 100 queries a recall of 0.90 is often 0.87 to 0.93: a setting whose
    interval reaches below a target does not meet it."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    if arr.size == 1 or np.all(arr == arr[0]):
        return (float(arr[0]), float(arr[0]))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(BOOTSTRAP_RESAMPLES, arr.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    count: int


def percentiles(latencies_ms: Sequence[float] | npt.NDArray[np.float64]) -> Percentiles:
    """p50/p95/p99 over every sample (never an average of averages)."""
    arr = np.asarray(latencies_ms, dtype=np.float64)
    if arr.size == 0:
        nan = float("nan")
        return Percentiles(nan, nan, nan, nan, 0)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return Percentiles(float(p50), float(p95), float(p99), float(arr.mean()), int(arr.size))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indexes of the points no other point beats: lower cost and higher recall.

    Args:
        points: ``(cost, recall)`` pairs, e.g. (p50 latency, recall@k).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -1.0
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front)


def cheapest_meeting(points: Sequence[tuple[float, float]], target: float) -> int | None:
    """The index of the lowest-cost point whose recall meets ``target``, if any."""
    ok = [i for i, (_, r) in enumerate(points) if r >= target]
    return min(ok, key=lambda i: points[i][0]) if ok else None


#: The target no measured point meets: the recall, the latency, or both.
Unmet = Literal["recall", "latency", "both"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The cheapest point meeting every target, or which target no point meets."""

    #: The recommended point: the lowest cost among those meeting both targets.
    index: int | None
    target_recall: float
    #: None: no latency target (any cost will do).
    target_latency_ms: float | None
    #: None when a point is recommended.
    unmet: Unmet | None = None
    #: Latency unmet: the cheapest point reaching the recall (how far over the latency it
    #: is). Recall unmet: the most accurate point (how far short it falls).
    nearest: int | None = None
    #: Latency unmet: the most accurate point within the latency target, if any.
    within_latency: int | None = None


def recommend(
    points: Sequence[tuple[float, float]],
    target_recall: float,
    target_latency_ms: float | None = None,
) -> Recommendation:
    """The cheapest ``(cost, recall)`` point meeting both targets, or what cannot be met.

    Args:
        points: ``(cost, recall)`` pairs, e.g. (p50 latency, recall@k).
        target_recall: The recall a recommended point must reach.
        target_latency_ms: The cost it must stay within (None: no limit).
    """
    fast = [
        i for i, (c, _) in enumerate(points) if target_latency_ms is None or c <= target_latency_ms
    ]
    accurate = [i for i, (_, r) in enumerate(points) if r >= target_recall]
    both = [i for i in accurate if i in fast]

    def cheapest(found: list[int]) -> int | None:
        return min(found, key=lambda i: (points[i][0], -points[i][1])) if found else None

    def most_accurate(found: list[int]) -> int | None:
        return max(found, key=lambda i: (points[i][1], -points[i][0])) if found else None

    if both:
        return Recommendation(cheapest(both), target_recall, target_latency_ms)
    if accurate:
        return Recommendation(
            None,
            target_recall,
            target_latency_ms,
            "latency",
            nearest=cheapest(accurate),
            within_latency=most_accurate(fast),
        )
    return Recommendation(
        None,
        target_recall,
        target_latency_ms,
        "recall" if fast or not points else "both",
        nearest=most_accurate(list(range(len(points)))),
    )
