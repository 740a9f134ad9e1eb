"""What a FAISS index is made of: its chain of parts and the parameters of each.

FAISS composes indexes: a pre-transform (OPQ, PCA) in front, an ID map around, an IVF
with its coarse quantizer, an HNSW graph over a storage index, a refinement stage. This
module walks that chain on a loaded index (always holding the parent while a part is
looked at: FAISS frees sub-objects with their owner) and describes each part.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import faiss
import numpy as np
from faiss.contrib import factory_tools

#: faiss's contrib helper is untyped.
_reverse_index_factory: Any = factory_tools.reverse_index_factory

Params = dict[str, int | float | str]

#: Roles a part plays in the chain.
TRANSFORM = "transform"
IDMAP = "idmap"
INDEX = "index"
QUANTIZER = "quantizer"
STORAGE = "storage"
REFINE = "refine"


class VectorStorage(StrEnum):
    """How an index stores its vectors."""

    #: Reconstructible: converting and tuning need nothing else.
    EXACT = "exact"
    #: Codes (PQ, SQ, a pre-transform): the original vectors are needed.
    LOSSY = "lossy"
    #: An empty index.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Part:
    role: str
    kind: str
    params: Params = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """Everything ``vecscope faiss inspect`` shows (the JSON has these keys)."""

    path: str
    type: str
    chain: tuple[Part, ...]
    d: int
    ntotal: int
    metric: str
    #: Every part's parameters, flattened (``nlist``, ``nprobe``, ``M``, ``efSearch``...).
    params: Params
    #: Size of the file on disk.
    bytes: int
    #: Bytes the index takes in memory once loaded (its serialized size).
    memory_bytes: int
    bytes_per_vector: float
    is_trained: bool
    #: How the vectors are stored: ``exact`` (reconstructible), ``lossy`` or ``none``.
    vectors: VectorStorage
    #: Whether the file could be memory-mapped instead of read into memory.
    mmap: bool
    #: The ``index_factory`` string that builds this type again ("" when FAISS has none).
    factory: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["chain"] = [asdict(p) for p in self.chain]
        out["vectors"] = str(self.vectors)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexInfo:
        chain = tuple(Part(p["role"], p["kind"], dict(p["params"])) for p in data["chain"])
        return cls(**{**data, "chain": chain, "vectors": VectorStorage(data["vectors"])})


def metric_name(metric_type: int) -> str:
    return {faiss.METRIC_L2: "L2", faiss.METRIC_INNER_PRODUCT: "IP"}.get(
        metric_type, f"metric {metric_type}"
    )


def _transform(vt: Any) -> Part:
    vt = faiss.downcast_VectorTransform(vt)
    params: Params = {"d_in": int(vt.d_in), "d_out": int(vt.d_out)}
    if isinstance(vt, faiss.OPQMatrix):
        params["M"] = int(vt.M)
    if isinstance(vt, faiss.PCAMatrix):
        params["eigen_power"] = float(vt.eigen_power)
        params["random_rotation"] = int(bool(vt.random_rotation))
    return Part(TRANSFORM, type(vt).__name__, params)


def _pq(pq: Any, prefix: str = "pq_") -> Params:
    return {f"{prefix}M": int(pq.M), f"{prefix}nbits": int(pq.nbits)}


_SQ_NAMES = {
    getattr(faiss.ScalarQuantizer, name): name.removeprefix("QT_")
    for name in dir(faiss.ScalarQuantizer)
    if name.startswith("QT_")
}


def walk(index: Any, role: str = INDEX) -> list[Part]:
    """The chain of ``index``, outermost first."""
    idx: Any = faiss.downcast_index(index)
    kind = type(idx).__name__
    if isinstance(idx, faiss.IndexPreTransform):
        chain: Any = idx.chain
        parts = [_transform(chain.at(i)) for i in range(chain.size())]
        return parts + walk(idx.index, role)
    if isinstance(idx, faiss.IndexIDMap | faiss.IndexIDMap2):
        return [Part(IDMAP, kind)] + walk(idx.index, role)
    if isinstance(idx, faiss.IndexRefine):
        k_factor = float(idx.k_factor)
        return (
            walk(idx.base_index, role)
            + [Part(REFINE, kind, {"k_factor": k_factor})]
            + walk(idx.refine_index, STORAGE)
        )
    if isinstance(idx, faiss.IndexIVF):
        lists: Any = idx.invlists
        sizes = np.array([lists.list_size(i) for i in range(idx.nlist)], dtype=np.int64)
        params: Params = {
            "nlist": int(idx.nlist),
            "nprobe": int(idx.nprobe),
            "code_size": int(idx.code_size),
            "list_size_max": int(np.max(sizes)) if sizes.size else 0,
            "list_size_mean": round(float(sizes.mean()), 1) if sizes.size else 0.0,
            "empty_lists": int((sizes == 0).sum()),
        }
        pq = getattr(idx, "pq", None)
        if pq is not None:
            params.update(_pq(pq))
        sq = getattr(idx, "sq", None)
        if sq is not None:
            params["sq_type"] = _SQ_NAMES.get(sq.qtype, str(sq.qtype))
        return [Part(role, kind, params)] + walk(idx.quantizer, QUANTIZER)
    if isinstance(idx, faiss.IndexHNSW):
        hnsw: Any = idx.hnsw
        levels = faiss.vector_to_array(hnsw.levels)
        counts = Counter(int(x) - 1 for x in levels)
        params = {
            "M": int(hnsw.nb_neighbors(1)),
            "efConstruction": int(hnsw.efConstruction),
            "efSearch": int(hnsw.efSearch),
            "max_level": int(hnsw.max_level),
            "levels": " ".join(f"{lvl}:{counts[lvl]}" for lvl in sorted(counts)),
        }
        return [Part(role, kind, params)] + walk(idx.storage, STORAGE)
    params = {}
    if isinstance(idx, faiss.IndexPQ):
        params.update(_pq(idx.pq))
    if isinstance(idx, faiss.IndexScalarQuantizer):
        params["sq_type"] = _SQ_NAMES.get(idx.sq.qtype, str(idx.sq.qtype))
    return [Part(role, kind, params)]


def flatten(chain: list[Part] | tuple[Part, ...]) -> Params:
    """One dict of every part's parameters; a quantizer's are prefixed ``quantizer_``."""
    out: Params = {}
    for part in chain:
        prefix = "quantizer_" if part.role == QUANTIZER else ""
        for key, value in part.params.items():
            out.setdefault(prefix + key, value)
    return out


def stores_vectors(index: Any) -> VectorStorage:
    """``exact`` when the original vectors can be read back, ``lossy``, or ``none``."""
    idx: Any = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexPreTransform):
        chain: Any = idx.chain
        return VectorStorage.LOSSY if chain.size() else stores_vectors(idx.index)
    if isinstance(idx, faiss.IndexIDMap | faiss.IndexIDMap2):
        return stores_vectors(idx.index)
    if isinstance(idx, faiss.IndexRefine):
        return stores_vectors(idx.refine_index)
    if isinstance(idx, faiss.IndexHNSW):
        return stores_vectors(idx.storage)
    if isinstance(idx, faiss.IndexIVFFlat | faiss.IndexFlat):
        return VectorStorage.EXACT
    if idx.ntotal == 0:
        return VectorStorage.NONE
    return VectorStorage.LOSSY


def serialized_bytes(index: Any) -> int:
    """What the index takes in memory once loaded: its serialized size."""
    return int(faiss.serialize_index(index).nbytes)


def reverse_factory(index: Any) -> str:
    """The ``index_factory`` string that builds ``index``'s type again, or "".

    FAISS's own reverse (``faiss.contrib.factory_tools``), kept only when it parses back
    into the same type with the same parameters: a snippet vecscope prints must run.
    """
    try:
        text = str(_reverse_index_factory(index))
        again: Any = faiss.index_factory(int(index.d), text, int(index.metric_type))
    except (RuntimeError, NotImplementedError, KeyError, AssertionError, AttributeError):
        return ""
    same = _reverse_index_factory(again) == text and type(faiss.downcast_index(again)) is type(
        faiss.downcast_index(index)
    )
    return text if same else ""


def factory_of(info: IndexInfo) -> str:
    """The factory string for the deploy snippet: the file's own where FAISS can say it,
    else a name of its kind (HNSW, OPQ,HNSW, IVF) that the snippet only names.

    (A trained OPQ rotation is read back from a file as a plain linear transform.)
    """
    if info.factory:
        return info.factory
    kinds = " ".join(p.kind for p in info.chain)
    if "IVF" in kinds:
        return "IVF"
    if "HNSW" in kinds:
        return ("OPQ," if any(p.role == TRANSFORM for p in info.chain) else "") + "HNSW"
    return info.type
