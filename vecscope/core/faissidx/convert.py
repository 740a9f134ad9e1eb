"""Convert a FAISS index to another type (IVF to HNSW, to OPQ+HNSW, any factory string).

The vectors come from the source where it stores them exactly, ids kept, or from a
``.npy`` of the originals where it does not (PQ codes: the result would inherit their
error). The new index is built on every core, written beside the source under its new
name through a temporary file and a rename (the source is never touched), then verified:
recall@k against exact search, and the source's own recall on the same queries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vecscope.core.errors import BadInputError
from vecscope.core.faissidx import files
from vecscope.core.faissidx.search import (
    Corpus,
    captured_stderr,
    exact,
    recall,
    sample_queries,
    search,
)
from vecscope.core.faissidx.structure import IndexInfo, VectorStorage

Progress = Callable[[str, float], None]
#: Most vectors used to train (k-means, PQ, OPQ); more adds time, not quality.
MAX_TRAIN = 200_000
ADD_BATCH = 20_000


class Stopped(Exception):
    """The user stopped a conversion (nothing was written)."""


@dataclass(frozen=True, slots=True)
class Verification:
    k: int
    queries: int
    #: recall@k of the new index against exact search, at its default search parameters.
    recall: float
    #: The source index's recall@k on the same queries (None when it cannot search them).
    source_recall: float | None
    #: Share of the new index's answers the source also returned.
    agreement: float | None


@dataclass(frozen=True, slots=True)
class Converted:
    src: str
    dst: str
    factory: str
    vectors_from: str
    ntotal: int
    threads: int
    train_seconds: float
    add_seconds: float
    info: IndexInfo
    verification: Verification
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["info"] = self.info.to_json()
        return out


def _check_paths(src: Path, dst: Path) -> None:
    if dst.resolve() == src.resolve():
        raise BadInputError("the destination is the source: vecscope never overwrites it")
    if dst.exists():
        raise BadInputError(f"{dst} exists: choose a new name (the source stays as it is)")
    if not dst.parent.is_dir():
        raise BadInputError(f"{dst.parent} is not a directory")


def corpus_of(index: Any, info: IndexInfo, vectors: Path | None) -> tuple[Corpus, str]:
    """The original vectors: from the index where exact, else from ``vectors``."""
    if vectors is not None:
        arr = files.load_npy(vectors, info.d)
        return Corpus(np.arange(len(arr), dtype=np.int64), arr, int(index.metric_type)), str(
            vectors
        )
    got = files.vectors_of(index)
    if isinstance(got, str):
        raise BadInputError(got)
    ids, vecs = got
    return Corpus(ids, vecs, int(index.metric_type)), "the source index (exact)"


def build(
    factory: str,
    corpus: Corpus,
    *,
    progress: Progress = lambda _s, _f: None,
    should_stop: Callable[[], bool] = lambda: False,
    notes: list[str] | None = None,
) -> tuple[Any, float, float]:
    """Train and fill a new index from the corpus; returns (index, train s, add s)."""
    d = corpus.vectors.shape[1]
    try:
        new = faiss.index_factory(d, factory, corpus.metric)
    except RuntimeError as e:
        raise BadInputError(
            f"FAISS cannot build {factory!r}: {str(e).strip().splitlines()[-1]}"
        ) from e
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    n = len(corpus.ids)
    t0 = time.perf_counter()
    if not new.is_trained:
        progress("training", 0.0)
        rng = np.random.default_rng(3)
        rows = np.sort(rng.choice(n, size=min(n, MAX_TRAIN), replace=False))
        with captured_stderr() as said:
            new.train(np.ascontiguousarray(corpus.vectors[rows]))
        if notes is not None:
            notes.extend(said)
    train_s = time.perf_counter() - t0
    sequential = n == 0 or (corpus.ids[0] == 0 and corpus.ids[-1] == n - 1)
    target = new
    if not sequential:
        try:
            new.add_with_ids(corpus.vectors[:0], corpus.ids[:0])
        except RuntimeError:
            # HNSW and others keep no ids of their own: an ID map keeps the source's.
            target = faiss.IndexIDMap2(new)
    t1 = time.perf_counter()
    for start in range(0, n, ADD_BATCH):
        if should_stop():
            raise Stopped
        end = min(n, start + ADD_BATCH)
        batch = np.ascontiguousarray(corpus.vectors[start:end])
        if sequential:
            target.add(batch)
        else:
            target.add_with_ids(batch, corpus.ids[start:end])
        progress("adding vectors", end / n)
    return target, train_s, time.perf_counter() - t1


def write_atomically(index: Any, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        faiss.write_index(index, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def verify(
    new: Any, source: Any | None, corpus: Corpus, *, k: int = 10, queries: int = 1000
) -> Verification:
    """recall@k of the new index (and of the source) against exact search."""
    q, self_ids = sample_queries(corpus, queries)
    k = min(k, max(1, len(corpus.ids) - 1))
    truth = exact(corpus, q, k, self_ids)
    got = search(new, q, k, self_ids)
    new_recall = recall(got, truth, k, corpus, q)
    src_recall = agreement = None
    if source is not None and source.ntotal == len(corpus.ids):
        theirs = search(source, q, k, self_ids)
        src_recall = recall(theirs, truth, k, corpus, q)
        agreement = float(
            np.mean(
                [
                    len(set(a.tolist()) & set(b.tolist())) / k
                    for a, b in zip(got, theirs, strict=True)
                ]
            )
        )
    return Verification(
        k,
        len(q),
        round(new_recall, 4),
        None if src_recall is None else round(src_recall, 4),
        None if agreement is None else round(agreement, 4),
    )


def convert(
    src: Path,
    dst: Path,
    factory: str,
    *,
    vectors: Path | None = None,
    k: int = 10,
    queries: int = 1000,
    progress: Progress = lambda _s, _f: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Converted:
    """See the module docstring.

    Raises:
        FaissFileError: the source is not a usable FAISS file.
        BadInputError: a bad factory string, an existing destination, lossy source
            without ``vectors``, a ``.npy`` of the wrong shape.
    """
    _check_paths(src, dst)
    if not factory.strip():
        raise BadInputError("--to needs a FAISS factory string, e.g. HNSW32 or OPQ64,HNSW32")
    progress("reading the source", 0.0)
    info = files.inspect(src)
    source = files.load(src)
    corpus, origin = corpus_of(source, info, vectors)
    if vectors is not None and len(corpus.ids) != info.ntotal:
        raise BadInputError(f"{vectors} holds {len(corpus.ids)} vectors, the index {info.ntotal}")
    notes: list[str] = []
    if info.vectors == VectorStorage.LOSSY and vectors is None:
        raise BadInputError("the source's vectors are lossy: give the originals with --vectors")
    new, train_s, add_s = build(
        factory, corpus, progress=progress, should_stop=should_stop, notes=notes
    )
    progress("verifying", 1.0)
    check = verify(new, source, corpus, k=k, queries=queries)
    if should_stop():
        raise Stopped
    progress("writing", 1.0)
    write_atomically(new, dst)
    return Converted(
        str(src),
        str(dst),
        factory,
        origin,
        len(corpus.ids),
        faiss.omp_get_max_threads(),
        round(train_s, 3),
        round(add_s, 3),
        files.inspect(dst),
        check,
        tuple(notes),
    )
