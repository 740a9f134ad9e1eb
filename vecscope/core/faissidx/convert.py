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
from vecscope.core.faissidx.defaults import CHECK_QUERIES, K
from vecscope.core.faissidx.progress import (
    Progress,
    Reporter,
    TrainingWatcher,
    no_progress,
    set_verbose,
    training_output,
)
from vecscope.core.faissidx.search import (
    F32,
    Corpus,
    captured_stderr,
    exact,
    recall,
    sample_queries,
    search,
)
from vecscope.core.faissidx.structure import IndexInfo

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


def check_destination(dst: Path) -> None:
    """A new file can be written at ``dst``: nothing there yet, in a folder that exists.

    Raises:
        BadInputError: ``dst`` exists, or its folder does not.
    """
    if dst.exists():
        raise BadInputError(f"{dst} exists: choose a new name (nothing was written)")
    if not dst.parent.is_dir():
        raise BadInputError(f"{dst.parent} is not a directory: nothing was written")


def _check_paths(src: Path, dst: Path) -> None:
    if dst.resolve() == src.resolve():
        raise BadInputError("the destination is the source: vecscope never overwrites it")
    check_destination(dst)


def corpus_of(index: Any, info: IndexInfo, vectors: Path | None) -> tuple[Corpus, str]:
    """The original vectors: from the index where exact, else from ``vectors``."""
    if vectors is not None:
        arr = files.load_npy(vectors, info.d)
        return Corpus(np.arange(len(arr), dtype=np.int64), arr, int(index.metric_type)), str(
            vectors
        )
    got = files.vectors_of(index)
    if isinstance(got, str):
        raise files.OriginalsNeeded(f"{got}: converting it needs the original vectors")
    ids, vecs = got
    return Corpus(ids, vecs, int(index.metric_type)), "the source index (exact)"


def build(
    factory: str,
    corpus: Corpus,
    *,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] = lambda: False,
    notes: list[str] | None = None,
    prefix: str = "",
) -> tuple[Any, float, float]:
    """Train and fill a new index from the corpus; returns (index, train s, add s).

    ``progress`` hears of the training (FAISS's iterations, where it prints them) and of
    the vectors added; ``prefix`` goes before each phase's name.
    """
    d = corpus.vectors.shape[1]
    try:
        new = faiss.index_factory(d, factory, corpus.metric)
    except RuntimeError as e:
        raise BadInputError(
            f"FAISS cannot build {factory!r}: {str(e).strip().splitlines()[-1]}"
        ) from e
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    n = len(corpus.ids)
    report = Reporter(progress, prefix)
    t0 = time.perf_counter()
    if not new.is_trained:
        rng = np.random.default_rng(3)
        rows = np.sort(rng.choice(n, size=min(n, MAX_TRAIN), replace=False))
        report.phase("training", detail=f"on {len(rows):,} vectors")
        _train(new, np.ascontiguousarray(corpus.vectors[rows]), report, notes)
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
    report.phase("adding vectors", total=n, unit="vectors")
    for start in range(0, n, ADD_BATCH):
        if should_stop():
            raise Stopped
        end = min(n, start + ADD_BATCH)
        batch = np.ascontiguousarray(corpus.vectors[start:end])
        if sequential:
            target.add(batch)
        else:
            target.add_with_ids(batch, corpus.ids[start:end])
        report.update(done=end)
    return target, train_s, time.perf_counter() - t1


def _train(index: Any, vectors: F32, report: Reporter, notes: list[str] | None) -> None:
    """Train ``index``, reporting FAISS's own iterations as it prints them."""
    opq_iterations = set_verbose(index, True)
    watcher = TrainingWatcher(report.count, opq_iterations)
    try:
        with captured_stderr() as said, training_output(watcher.feed):
            index.train(vectors)
    finally:
        # Verbose adding and searching would print to the terminal, under the TUI.
        set_verbose(index, False)
    if notes is not None:
        notes.extend(said)


def write_atomically(index: Any, dst: Path) -> None:
    """Write ``index`` to ``dst`` through a temporary file and a rename: all or nothing.

    Raises:
        BadInputError: the folder is missing or not writable, the disk is full (one line).
    """
    if not dst.parent.is_dir():
        raise BadInputError(f"{dst.parent} is not a directory: nothing was written")
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        faiss.write_index(index, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dst)
    except (RuntimeError, OSError) as e:
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        # FAISS says "Error in ... at file.cpp:123: could not open ... for writing: <why>".
        reason = reason.rsplit(": ", 1)[-1]
        raise BadInputError(f"cannot write {dst}: {reason} (nothing was written)") from e
    finally:
        tmp.unlink(missing_ok=True)


def verify(
    new: Any, source: Any | None, corpus: Corpus, *, k: int = K, queries: int = CHECK_QUERIES
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
    k: int = K,
    queries: int = CHECK_QUERIES,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] = lambda: False,
) -> Converted:
    """See the module docstring.

    Raises:
        FaissFileError: the source is not a usable FAISS file.
        OriginalsNeeded: a lossy source without ``vectors``.
        BadInputError: a bad factory string, an existing destination, a ``.npy`` of the
            wrong shape, a destination that cannot be written.
    """
    _check_paths(src, dst)
    if not factory.strip():
        raise BadInputError("no target: give a FAISS factory string, e.g. HNSW32 or OPQ64,HNSW32")
    report = Reporter(progress)
    report.phase("reading the source")
    info = files.inspect(src)
    source = files.load(src)
    report.phase("reading the source's vectors")
    corpus, origin = corpus_of(source, info, vectors)
    if vectors is not None and len(corpus.ids) != info.ntotal:
        raise BadInputError(f"{vectors} holds {len(corpus.ids)} vectors, the index {info.ntotal}")
    notes: list[str] = []
    new, train_s, add_s = build(
        factory, corpus, progress=progress, should_stop=should_stop, notes=notes
    )
    report.phase("verifying", detail=f"recall@{k} on {min(queries, len(corpus.ids)):,} queries")
    check = verify(new, source, corpus, k=k, queries=queries)
    if should_stop():
        raise Stopped
    report.phase("writing", detail=dst.name)
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
