"""Opening FAISS files safely, and reading their vectors back where they are exact.

:func:`inspect` reads a file in a child process first; only a file that survived that is
loaded in vecscope's own process (:func:`load`). :func:`vectors_of` returns the original
vectors and ids of an index that stores them exactly (Flat, IVFFlat, HNSW over Flat, an
ID map or refinement around those); for PQ, SQ or a pre-transform it says why not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from faiss.contrib import inspect_tools

from vecscope.core.errors import BadInputError, FaissFileError
from vecscope.core.faissidx.structure import IndexInfo

__all__ = ["FaissFileError", "OriginalsNeeded", "inspect", "load", "load_npy", "vectors_of"]


class OriginalsNeeded(BadInputError):
    """The index keeps lossy codes: the job needs the original vectors.

    The message says why, in core's words; each front end adds how to give them (a flag
    on the command line, a field on the screen).
    """

    title = "Original vectors needed"

    def __init__(self, message: str, *, ground_truth_would_do: bool = False) -> None:
        super().__init__(message)
        #: Queries with their ground truth would do instead (tuning, not converting).
        self.ground_truth_would_do = ground_truth_would_do


#: faiss's contrib helper is untyped.
_get_invlist: Any = inspect_tools.get_invlist
#: Seconds the child may take to read a file (a large file over a slow disk).
PROBE_TIMEOUT_S = 600


def _check_path(path: Path) -> None:
    if not path.exists():
        raise FaissFileError(f"{path}: no such file")
    if path.is_dir():
        raise FaissFileError(f"{path} is a directory, not a FAISS index file")
    if path.stat().st_size == 0:
        raise FaissFileError(f"{path} is empty")


def inspect(path: Path) -> IndexInfo:
    """Describe a FAISS file, reading it in a child process.

    Raises:
        FaissFileError: missing, empty, not FAISS, truncated or corrupt (one line).
    """
    _check_path(path)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vecscope.core.faissidx.probe", str(path)],
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise FaissFileError(f"{path}: reading took longer than {PROBE_TIMEOUT_S} s") from e
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"status {done.returncode}"
        raise FaissFileError(
            f"{path} is corrupt or not a FAISS index: the FAISS reader crashed ({how})"
        )
    try:
        data = json.loads(done.stdout)
    except ValueError as e:
        raise FaissFileError(f"{path}: the FAISS reader said nothing usable") from e
    if "error" in data:
        raise FaissFileError(f"{path} is not a readable FAISS index: {data['error']}")
    return IndexInfo.from_json(data)


def load(path: Path, *, mmap: bool = False) -> Any:
    """Load a file :func:`inspect` accepted, in this process."""
    try:
        if mmap:
            try:
                return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            except RuntimeError:
                pass
        return faiss.read_index(str(path))
    except RuntimeError as e:
        raise FaissFileError(f"{path}: {str(e).strip().splitlines()[-1]}") from e


Vectors = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]


def vectors_of(index: Any) -> Vectors | str:
    """``(ids, vectors)`` read back exactly, or the reason they cannot be."""
    idx: Any = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexIDMap | faiss.IndexIDMap2):
        inner = vectors_of(idx.index)
        if isinstance(inner, str):
            return inner
        ids = faiss.vector_to_array(idx.id_map).astype(np.int64)
        return ids, inner[1]
    if isinstance(idx, faiss.IndexPreTransform):
        chain: Any = idx.chain
        if chain.size():
            return "a pre-transform (OPQ, PCA...) changed the vectors before they were stored"
        return vectors_of(idx.index)
    if isinstance(idx, faiss.IndexRefine):
        return vectors_of(idx.refine_index)
    if isinstance(idx, faiss.IndexHNSW):
        return vectors_of(idx.storage)
    if isinstance(idx, faiss.IndexFlat):
        n = int(idx.ntotal)
        vecs = faiss.rev_swig_ptr(idx.get_xb(), n * idx.d).reshape(n, idx.d).copy()
        return np.arange(n, dtype=np.int64), vecs.astype(np.float32, copy=False)
    if isinstance(idx, faiss.IndexIVFFlat):
        ids_parts: list[npt.NDArray[np.int64]] = []
        vec_parts: list[npt.NDArray[np.float32]] = []
        lists: Any = idx.invlists
        for lst in range(idx.nlist):
            if lists.list_size(lst) == 0:
                continue
            ids, codes = _get_invlist(lists, lst)
            ids_parts.append(np.asarray(ids, dtype=np.int64))
            vec_parts.append(np.asarray(codes).view(np.float32).reshape(-1, idx.d))
        if not ids_parts:
            return np.zeros(0, np.int64), np.zeros((0, idx.d), np.float32)
        ids_all = np.concatenate(ids_parts)
        order = np.argsort(ids_all, kind="stable")
        return ids_all[order], np.concatenate(vec_parts)[order]
    kind = type(idx).__name__
    if "PQ" in kind:
        return f"{kind} keeps lossy PQ codes, not the vectors"
    if "ScalarQuantizer" in kind or "SQ" in kind:
        return f"{kind} keeps lossy quantized codes, not the vectors"
    return f"{kind} does not keep its vectors"


def load_npy(path: Path, d: int | None = None) -> npt.NDArray[np.float32]:
    """A ``(n, d)`` float array from a ``.npy``.

    Raises:
        BadInputError: unreadable, not 2-D, or of another dimension than ``d``.
    """
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInputError(f"cannot read {path} as a .npy array: {e}") from e
    if arr.ndim != 2:
        raise BadInputError(f"{path} holds a {arr.ndim}-D array; vectors need (n, d)")
    if d is not None and arr.shape[1] != d:
        raise BadInputError(f"{path} has {arr.shape[1]} dimensions, the index {d}")
    return np.ascontiguousarray(arr, dtype=np.float32)
