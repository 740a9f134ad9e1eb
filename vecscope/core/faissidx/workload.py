"""Tuning one FAISS file: the one entry ``vecscope faiss tune`` and the FAISS mode call.

:func:`workload` chooses the queries and their exact answers once, for both front ends:
queries from a ``.npy`` or sampled from the original vectors; the original vectors from
``vectors`` (a ``.npy``, or a FAISS file that stores them exactly), the index itself where
it stores them exactly, or ``origin`` (the exact file a lossy one was converted from);
answers from a ground-truth ``.npy`` of neighbour ids or computed exactly.
:func:`tune_file` loads a file, builds its workload and sweeps its knobs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vecscope.core.errors import BadInputError
from vecscope.core.faissidx import files
from vecscope.core.faissidx.convert import corpus_of
from vecscope.core.faissidx.defaults import FAISS_SUFFIXES, SAMPLE_QUERIES, TARGET_RECALL, K
from vecscope.core.faissidx.deploy import deployment
from vecscope.core.faissidx.files import OriginalsNeeded
from vecscope.core.faissidx.progress import Progress, Reporter, no_progress
from vecscope.core.faissidx.search import F32, I64, Corpus, Truth, exact, sample_queries
from vecscope.core.faissidx.structure import IndexInfo, VectorStorage, factory_of
from vecscope.core.faissidx.tune import Tuning, candidates, truth_from_file, tune

__all__ = [
    "FAISS_SUFFIXES",
    "K",
    "SAMPLE_QUERIES",
    "TARGET_RECALL",
    "TunedFile",
    "Workload",
    "default_destination",
    "deployment_text",
    "originals",
    "presets",
    "slug",
    "tune_file",
    "workload",
]

#: Why a lossy index cannot be tuned on its own (each front end adds how to give them).
LOSSY_NEEDS_ORIGINALS = (
    "this index keeps lossy codes, not its vectors: tuning it needs the original vectors"
)
LOSSY_NEEDS_TRUTH = (
    "this index keeps lossy codes, not its vectors: the exact answers to the queries need "
    "the original vectors, or a ground truth"
)


@dataclass(frozen=True)
class Workload:
    """Queries and their exact answers for tuning one index."""

    queries: F32
    #: Ids of the rows sampled as queries (excluded from their own answers), or None.
    self_ids: I64 | None
    truth: Truth
    #: The original vectors, when known (recall by true distances); None: by ids.
    corpus: Corpus | None
    #: Where the queries and the answers came from, in words.
    described: str

    @property
    def recall_corpus(self) -> Corpus | None:
        """The vectors recall is measured with: None when it is by ids of the answers."""
        return self.corpus if self.truth.distances is not None else None


def _corpus_from_index_file(path: Path, info: IndexInfo) -> Corpus:
    """The exact vectors of another FAISS file (the source a lossy file was converted from)."""
    other = files.inspect(path)
    if (other.d, other.ntotal, other.metric) != (info.d, info.ntotal, info.metric):
        raise BadInputError(
            f"{path.name} holds {other.ntotal:,} vectors of {other.d} dims ({other.metric}); "
            f"the index {info.ntotal:,} of {info.d} ({info.metric})"
        )
    corpus, _ = corpus_of(files.load(path), other, None)
    return corpus


def originals(
    index: Any, info: IndexInfo, *, vectors: Path | None, origin: Path | None
) -> tuple[Corpus, str] | None:
    """The original vectors and where they came from, in words; None when unknown.

    ``vectors`` (a ``.npy`` or an exact FAISS file) first, then the index's own where
    exact, then ``origin``.
    """
    if vectors is not None:
        if vectors.suffix.lower() == ".npy":
            corpus = corpus_of(index, info, vectors)[0]
            if len(corpus.ids) != info.ntotal:
                raise BadInputError(
                    f"{vectors.name} holds {len(corpus.ids):,} vectors, the index {info.ntotal:,}"
                )
            return corpus, vectors.name
        return _corpus_from_index_file(vectors, info), vectors.name
    if info.vectors == VectorStorage.EXACT:
        return corpus_of(index, info, None)[0], "its own vectors"
    if origin is not None:
        return _corpus_from_index_file(origin, info), f"{origin.name}, its source"
    return None


def workload(
    index: Any,
    info: IndexInfo,
    *,
    k: int = K,
    queries: Path | None = None,
    ground_truth: Path | None = None,
    vectors: Path | None = None,
    origin: Path | None = None,
    sample: int = SAMPLE_QUERIES,
) -> Workload:
    """Queries from a ``.npy`` (or ``sample`` of the original vectors) and exact answers.

    The answers come from ``ground_truth`` (neighbour ids; with the vectors known, their
    true distances make recall tie-aware) or are computed exactly from the vectors.

    Raises:
        OriginalsNeeded: a lossy index with neither its originals nor a ground truth.
        BadInputError: shapes that do not match.
        FaissFileError: ``vectors`` or ``origin`` is not a usable FAISS file.
    """
    found = originals(index, info, vectors=vectors, origin=origin)
    corpus, vectors_from = found if found is not None else (None, "")
    self_ids = None
    if queries is not None:
        q = files.load_npy(queries, info.d)
        asked = f"{len(q):,} queries of {queries.name}"
    elif corpus is not None:
        q, self_ids = sample_queries(corpus, sample)
        asked = f"{len(q):,} sampled queries"
    else:
        raise OriginalsNeeded(LOSSY_NEEDS_ORIGINALS, ground_truth_would_do=True)
    if ground_truth is not None:
        truth = truth_from_file(np.load(ground_truth, allow_pickle=False), k)
        if len(truth.ids) != len(q):
            raise BadInputError("the ground truth has another number of rows than the queries")
        if corpus is not None:
            # Distances of the given neighbours make recall tie-aware, as in the lab.
            truth = Truth(truth.ids, np.sort(corpus.distances(q, truth.ids), axis=1))
        answers = f"answers of {ground_truth.name}"
    elif corpus is not None:
        truth = exact(corpus, q, k, self_ids)
        answers = f"exact answers from {vectors_from}"
    else:
        raise OriginalsNeeded(LOSSY_NEEDS_TRUTH, ground_truth_would_do=True)
    return Workload(q, self_ids, truth, corpus, f"{asked} · {answers}")


@dataclass(frozen=True)
class TunedFile:
    """A file's tuning and the workload it was measured on."""

    tuning: Tuning
    workload: Workload


def tune_file(
    path: Path,
    *,
    info: IndexInfo | None = None,
    k: int = K,
    queries: Path | None = None,
    ground_truth: Path | None = None,
    vectors: Path | None = None,
    origin: Path | None = None,
    sample: int = SAMPLE_QUERIES,
    target_recall: float = TARGET_RECALL,
    factory: str | None = None,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] = lambda: False,
) -> TunedFile:
    """Load ``path``, build its :func:`workload`, and sweep its knobs (see :func:`tune`).

    ``factory`` names the index in the deployment snippet (default: the file's own).
    """
    report = Reporter(progress)
    report.phase(f"reading {path.name}")
    info = info if info is not None else files.inspect(path)
    index = files.load(path)
    report.phase("choosing the queries and computing their exact answers")
    work = workload(
        index,
        info,
        k=k,
        queries=queries,
        ground_truth=ground_truth,
        vectors=vectors,
        origin=origin,
        sample=sample,
    )
    tuning = tune(
        index,
        work.queries,
        work.truth,
        k,
        corpus=work.recall_corpus,
        self_ids=work.self_ids,
        target_recall=target_recall,
        label=info.type,
        factory=factory or factory_of(info),
        memory_bytes=info.bytes,
        progress=progress,
        should_stop=should_stop,
    )
    return TunedFile(replace(tuning, path=str(path)), work)


def deployment_text(tuning: Tuning) -> str | None:
    """What to deploy: the recommended setting in the service's words, or ``None``."""
    if tuning.best is None:
        return None
    return deployment(
        tuning.factory or tuning.label,
        tuning.params,
        tuning.best.values,
        d=tuning.d,
        metric=tuning.metric,
        path=tuning.path,
    ).text()


# --- conversion targets --------------------------------------------------------------


def presets(info: IndexInfo) -> list[tuple[str, str]]:
    """(label, factory) conversion targets for this index's dimensions and size.

    The candidates ``vecscope faiss tune --memory-budget`` compares, HNSW32 first.
    """
    return [(f"{label}  {factory}", factory) for label, factory in candidates(info.d, info.ntotal)]


def slug(factory: str) -> str:
    """``OPQ16_64,HNSW32_PQ16`` -> ``opq16_64.hnsw32_pq16``, for a file name."""
    text = factory.strip().lower().replace(",", ".")
    return re.sub(r"[^a-z0-9_.]+", "-", text).strip("-.") or "converted"


def default_destination(src: Path, factory: str) -> Path:
    """``<stem>.<factory>.index`` beside ``src``; never a name that exists."""
    suffix = src.suffix if src.suffix.lower() in FAISS_SUFFIXES else ".index"
    base = f"{src.stem}.{slug(factory)}"
    dst = src.with_name(base + suffix)
    n = 2
    while dst.exists():
        dst = src.with_name(f"{base}-{n}{suffix}")
        n += 1
    return dst
