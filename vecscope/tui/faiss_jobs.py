"""What the FAISS mode hands to core: conversion targets, file names, and tuning inputs.

Plain functions of paths and core records (no Textual), so the screen's workers stay one
core call each and tests read these without a screen. Choosing the queries and the exact
answers to tune against follows ``vecscope faiss tune``; one addition: a lossy file
(PQ codes) converted in this session is tuned against the exact vectors of its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecscope.core.errors import BadInputError
from vecscope.core.faissidx import files
from vecscope.core.faissidx.convert import corpus_of
from vecscope.core.faissidx.deploy import deployment
from vecscope.core.faissidx.search import F32, I64, Corpus, Truth, exact, sample_queries
from vecscope.core.faissidx.structure import IndexInfo
from vecscope.core.faissidx.structure import factory_of as guessed_factory
from vecscope.core.faissidx.tune import Point, Tuning, candidates

#: What the browser shows unless asked for every file.
FAISS_SUFFIXES = frozenset({".index", ".faiss", ".bin", ".ivf"})
#: The Select's value for a factory typed by hand.
CUSTOM = "custom"
#: recall@k, as the CLI's default.
K = 10
#: Queries sampled from an index's own vectors when no .npy is given.
TUNE_QUERIES = 500


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


def path_of(text: str, base: Path) -> Path | None:
    """A path typed in a form: ``None`` when empty, relative to ``base`` (the file's folder)."""
    text = text.strip()
    if not text:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def home_relative(path: Path) -> str:
    """``/home/me/data`` -> ``~/data``: shorter, and the same on every machine of a user."""
    try:
        rest = path.resolve().relative_to(Path.home().resolve())
    except ValueError:
        return str(path)
    return "~" if not rest.parts else f"~/{rest}"


def factory_of(info: IndexInfo, converted_with: str | None = None) -> str:
    """The factory string for the deployment snippet: the one used here, else a guess."""
    return converted_with or guessed_factory(info)


def deployment_text(tuning: Tuning) -> str | None:
    """What to deploy: the recommended setting in the service's words, or ``None``."""
    if tuning.best is None:
        return None
    return deployment(tuning.factory or tuning.label, tuning.params, tuning.best.values).text()


def point_label(point: Point) -> str:
    """A point's label on the plot: its knob values (``16``, or ``16/64`` for two knobs)."""
    return "/".join(str(v) for v in point.values.values()) or "-"


@dataclass(frozen=True, slots=True)
class TuneRequest:
    """What the tuning worker needs: the file, what it is, and the form's choices."""

    path: Path
    info: IndexInfo
    queries: Path | None
    vectors: Path | None
    target: float
    #: The file this one was converted from here (its exact vectors), if any.
    origin: Path | None
    factory: str


@dataclass(frozen=True)
class TuneInputs:
    """Queries, their exact answers, and the vectors recall is measured with."""

    queries: F32
    #: Ids of sampled queries (their own row is not an answer); ``None`` for a .npy.
    self_ids: I64 | None
    truth: Truth
    corpus: Corpus
    #: Where the queries and the vectors came from, in words.
    described: str


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


def corpus_for(
    index: Any, info: IndexInfo, *, vectors: Path | None, origin: Path | None
) -> tuple[Corpus, str]:
    """The original vectors: ``vectors`` (a .npy or an exact FAISS file), the index's own
    where exact, else the exact source this file was converted from."""
    if vectors is not None:
        if vectors.suffix.lower() == ".npy":
            corpus = corpus_of(index, info, vectors)[0]
            if len(corpus.ids) != info.ntotal:
                raise BadInputError(
                    f"{vectors.name} holds {len(corpus.ids):,} vectors, the index {info.ntotal:,}"
                )
            return corpus, vectors.name
        return _corpus_from_index_file(vectors, info), vectors.name
    if info.vectors == "exact":
        return corpus_of(index, info, None)[0], "its own vectors"
    if origin is not None:
        return _corpus_from_index_file(origin, info), f"{origin.name}, its source"
    raise BadInputError(
        "this index keeps lossy codes: give the original vectors in 'vectors' "
        "(a .npy, or a FAISS file that stores them exactly)"
    )


def tuning_inputs(
    index: Any,
    info: IndexInfo,
    *,
    queries: Path | None,
    vectors: Path | None,
    origin: Path | None,
    k: int = K,
    sample: int = TUNE_QUERIES,
) -> TuneInputs:
    """Queries from ``queries`` or sampled from the vectors, and their exact top-``k``.

    Raises:
        BadInputError: lossy vectors and no originals, a .npy of another shape.
        FaissFileError: ``vectors`` or ``origin`` is not a usable FAISS file.
    """
    corpus, vectors_from = corpus_for(index, info, vectors=vectors, origin=origin)
    if queries is None:
        q, self_ids = sample_queries(corpus, sample)
        asked = f"{len(q):,} sampled queries"
    else:
        q, self_ids = files.load_npy(queries, info.d), None
        asked = f"{len(q):,} queries of {queries.name}"
    truth = exact(corpus, q, k, self_ids)
    return TuneInputs(q, self_ids, truth, corpus, f"{asked} · exact answers from {vectors_from}")
