"""The child process that reads an untrusted FAISS file and describes it as JSON.

``python -m core.faissidx.probe FILE`` prints one JSON object: the description, or
``{"error": "..."}``. If FAISS's reader crashes on a corrupt file, only this process dies;
:func:`core.faissidx.files.inspect` turns that into a one-line error.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import faiss

from vecscope.core.faissidx.structure import (
    IndexInfo,
    flatten,
    metric_name,
    reverse_factory,
    stores_vectors,
    walk,
)


def read(path: str) -> tuple[Any, bool]:
    """Read ``path``, memory-mapped where FAISS allows it; returns (index, mapped)."""
    try:
        return faiss.read_index(path, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY), True
    except RuntimeError:
        return faiss.read_index(path), False


def describe(path: str) -> dict[str, Any]:
    index, mapped = read(path)
    chain = walk(index)
    size = os.path.getsize(path)
    ntotal = int(index.ntotal)
    info = IndexInfo(
        path=path,
        type=type(faiss.downcast_index(index)).__name__,
        chain=tuple(chain),
        d=int(index.d),
        ntotal=ntotal,
        metric=metric_name(int(index.metric_type)),
        params=flatten(chain),
        bytes=size,
        memory_bytes=size,
        bytes_per_vector=round(size / ntotal, 1) if ntotal else 0.0,
        is_trained=bool(index.is_trained),
        vectors=stores_vectors(index),
        mmap=mapped,
        factory=reverse_factory(index),
    )
    return info.to_json()


def main() -> int:
    path = sys.argv[1]
    try:
        out = describe(path)
    except (RuntimeError, MemoryError, ValueError, OSError) as e:
        text = str(e).strip().splitlines()
        # FAISS's messages start with "Error in ... at file.cpp:123: "; keep the reason.
        reason = next((ln for ln in text if ln.strip()), type(e).__name__)
        if ": " in reason and "Error in" in reason:
            reason = reason.rsplit(": ", 1)[-1]
        if " != " in reason:
            reason = "the file is truncated or corrupt (a read came up short)"
        out = {"error": reason}
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
