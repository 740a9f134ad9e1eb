"""What vecscope knows about pgvector and pgvectorscale themselves: defaults and limits.

The figures come from pgvector's README and source (``hnsw.h``, ``ivfflat.h``) and
pgvectorscale's README; they are used to fill in parameters a definition left out and
to say when a column cannot be indexed.
"""

from __future__ import annotations

#: Build parameters each access method uses when the definition gives none.
DEFAULT_PARAMS: dict[str, dict[str, int | float | str]] = {
    "hnsw": {"m": 16, "ef_construction": 64},
    "ivfflat": {"lists": 100},
    "diskann": {
        "storage_layout": "memory_optimized",
        "num_neighbors": 50,
        "search_list_size": 100,
        "max_alpha": 1.2,
    },
}

#: Most dimensions an hnsw or ivfflat index accepts, by column type.
MAX_INDEX_DIMS: dict[str, int] = {"vector": 2000, "halfvec": 4000, "bit": 64000}

#: The first pgvector release with each feature.
FEATURE_VERSIONS: dict[str, tuple[int, int, int]] = {
    "hnsw": (0, 5, 0),
    "parallel_hnsw_build": (0, 6, 0),
    "halfvec": (0, 7, 0),
    "sparsevec": (0, 7, 0),
    "iterative_scan": (0, 8, 0),
}

#: Query-time settings and their defaults.
QUERY_SETTINGS_DEFAULTS: dict[str, str] = {"hnsw.ef_search": "40", "ivfflat.probes": "1"}


#: Operator -> operator-class suffix (pgvector's README, "Querying").
OPCLASS_SUFFIX = {
    "<->": "l2_ops",
    "<=>": "cosine_ops",
    "<#>": "ip_ops",
    "<+>": "l1_ops",
    "<~>": "hamming_ops",
    "<%>": "jaccard_ops",
}
OPERATOR_NAME = {
    "<->": "L2 distance",
    "<=>": "cosine distance",
    "<#>": "negative inner product",
    "<+>": "L1 distance",
    "<~>": "Hamming distance",
    "<%>": "Jaccard distance",
}
#: The operator an index is first built for when nothing says otherwise, by column type.
DEFAULT_OPERATOR = {"vector": "<=>", "halfvec": "<=>", "sparsevec": "<=>", "bit": "<~>"}


def opclass_for(column_type: str, operator: str) -> str | None:
    """``("halfvec", "<=>")`` -> ``"halfvec_cosine_ops"``."""
    suffix = OPCLASS_SUFFIX.get(operator)
    return f"{column_type}_{suffix}" if suffix else None


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """``"0.8.2"`` -> ``(0, 8, 2)``; ``None`` for anything unparseable."""
    if not text:
        return None
    parts = text.split(".")
    try:
        nums = [int("".join(ch for ch in p if ch.isdigit()) or "0") for p in parts[:3]]
    except ValueError:
        return None
    while len(nums) < 3:
        nums.append(0)
    return nums[0], nums[1], nums[2]


def has_feature(pgvector_version: str | None, feature: str) -> bool:
    """True when the installed pgvector has ``feature`` (see :data:`FEATURE_VERSIONS`)."""
    version = parse_version(pgvector_version)
    return version is not None and version >= FEATURE_VERSIONS[feature]


def parse_reloptions(options: list[str] | None) -> dict[str, int | float | str]:
    """``["m=16", "ef_construction=64"]`` -> ``{"m": 16, "ef_construction": 64}``."""
    parsed: dict[str, int | float | str] = {}
    for item in options or []:
        key, _, raw = item.partition("=")
        value: int | float | str
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
        parsed[key] = value
    return parsed


def suggested_lists(rows: int) -> int:
    """pgvector's advice for IVFFlat ``lists``: rows/1000 up to 1M rows, sqrt(rows) above."""
    if rows <= 1_000_000:
        return max(1, rows // 1000)
    return max(1, int(rows**0.5))
