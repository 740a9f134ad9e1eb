"""Exact answers and honest recall for FAISS indexes (shared by convert and tune).

Recall uses :func:`core.stats.recall_at_k` (the lab's, ties counted as hits) on the *true*
distances of the ids an index returned, recomputed from the original vectors: a PQ index's
own distances are approximations and would flatter it. Without the vectors (a lossy index
and only a ground-truth file), recall falls back to id overlap with the ground truth.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from vecscope.core.lab.stats import recall_at_k

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Corpus:
    """The original vectors with their ids, and how to find a row from an id."""

    ids: I64
    vectors: F32
    metric: int

    def rows(self, ids: I64) -> I64:
        """Rows of ``ids`` (-1 for an id that is not in the corpus)."""
        if len(self.ids) and self.ids[0] == 0 and self.ids[-1] == len(self.ids) - 1:
            out = ids.astype(np.int64, copy=True)
            out[(out < 0) | (out >= len(self.ids))] = -1
            return out
        order = np.argsort(self.ids)
        sorted_ids = self.ids[order]
        pos = np.searchsorted(sorted_ids, ids)
        pos = np.clip(pos, 0, max(0, len(sorted_ids) - 1))
        found = sorted_ids[pos] == ids
        return np.where(found, order[pos], -1).astype(np.int64)

    def distances(self, queries: F32, ids: I64) -> npt.NDArray[np.float64]:
        """True distances (smaller is nearer; -inner product for IP) of ``ids`` per query."""
        rows = self.rows(ids.reshape(-1)).reshape(ids.shape)
        out = np.full(ids.shape, np.inf, dtype=np.float64)
        for qi in range(len(queries)):
            ok = rows[qi] >= 0
            vecs = self.vectors[rows[qi][ok]]
            if self.metric == faiss.METRIC_INNER_PRODUCT:
                d = -(vecs @ queries[qi])
            else:
                diff = vecs - queries[qi]
                d = np.einsum("ij,ij->i", diff, diff)
            out[qi, ok] = d
        return out


@dataclass(frozen=True)
class Truth:
    """Exact neighbours of each query (query's own row excluded when it is one)."""

    ids: I64
    distances: npt.NDArray[np.float64] | None


def exact(corpus: Corpus, queries: F32, k: int, self_ids: I64 | None) -> Truth:
    """Exact top-k by brute force (faiss.knn), all cores."""
    extra = 1 if self_ids is not None else 0
    if corpus.metric == faiss.METRIC_INNER_PRODUCT:
        sims, rows = faiss.knn(
            queries, corpus.vectors, k + extra, metric=faiss.METRIC_INNER_PRODUCT
        )
        dists = -sims.astype(np.float64)
    else:
        d2, rows = faiss.knn(queries, corpus.vectors, k + extra)
        dists = d2.astype(np.float64)
    ids = np.where(rows >= 0, corpus.ids[np.clip(rows, 0, None)], -1)
    ids, dists = drop_self(ids, dists, self_ids, k)
    return Truth(ids, dists)


def drop_self(
    ids: I64, dists: npt.NDArray[np.float64], self_ids: I64 | None, k: int
) -> tuple[I64, npt.NDArray[np.float64]]:
    """Remove each query's own id from its answer, keeping ``k`` columns."""
    if self_ids is None:
        return ids[:, :k], dists[:, :k]
    out_i = np.full((len(ids), k), -1, dtype=np.int64)
    out_d = np.full((len(ids), k), np.inf)
    for qi in range(len(ids)):
        keep = ids[qi] != self_ids[qi]
        n = min(k, int(keep.sum()))
        out_i[qi, :n] = ids[qi][keep][:n]
        out_d[qi, :n] = dists[qi][keep][:n]
    return out_i, out_d


def recall(returned: I64, truth: Truth, k: int, corpus: Corpus | None, queries: F32) -> float:
    """recall@k of ``returned`` ids: true-distance based when the corpus is known."""
    if corpus is not None and truth.distances is not None:
        got = corpus.distances(queries, returned)
        return recall_at_k([sorted(row) for row in got], truth.distances, k)
    hits = [
        len(set(r[:k].tolist()) & set(t[:k].tolist())) / k
        for r, t in zip(returned, truth.ids, strict=True)
    ]
    return float(np.mean(hits)) if hits else float("nan")


def sample_queries(corpus: Corpus, n: int, seed: int = 7) -> tuple[F32, I64]:
    """``n`` vectors of the corpus as queries, with their ids (to exclude from answers)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(corpus.ids), size=min(n, len(corpus.ids)), replace=False)
    rows.sort()
    return np.ascontiguousarray(corpus.vectors[rows]), corpus.ids[rows]


def search(index: Any, queries: F32, k: int, self_ids: I64 | None) -> I64:
    """The ids ``index`` returns (its own row dropped for sampled queries)."""
    extra = 1 if self_ids is not None else 0
    dists, ids = index.search(queries, k + extra)
    out, _ = drop_self(ids.astype(np.int64), dists.astype(np.float64), self_ids, k)
    return out


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Collect what FAISS's C++ code writes to file descriptor 2 (training warnings).

    Written straight to the terminal it would tear the TUI's screen; collected, it is
    shown as notes.
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            seen: set[str] = set()
            for line in text.splitlines():
                if line.strip() and line not in seen:
                    seen.add(line)
                    lines.append(line.strip())
