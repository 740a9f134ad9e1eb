"""The configuration to deploy a tuned index, in the keys the seed guide's services read.

The FAISS migration guide in ``shared/seeds`` configures its service with environment
variables (``FAISS_INDEX_TYPE``, ``FAISS_CONFIG_M``...), a YAML file and Helm values;
this writes the chosen index and setting in those words, plus Python that loads the tuned
file (or builds the same type from one's own vectors) at the chosen setting, and, for an
HNSW index, the pgvector statements with the same graph parameters.

The Python and the SQL run as printed (tests execute them): real factory strings, real
file paths, and for pgvector a table and column that are placeholders only by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss

from vecscope.core.faissidx.structure import Params

#: The names the pgvector statements use for the user's table and column.
PG_TABLE = "items"
PG_COLUMN = "embedding"
#: pgvector's operator class for each FAISS metric.
PG_OPCLASS = {"L2": "vector_l2_ops", "IP": "vector_ip_ops"}
_METRIC_CONSTANT = {"L2": "faiss.METRIC_L2", "IP": "faiss.METRIC_INNER_PRODUCT"}


@dataclass(frozen=True, slots=True)
class Deployment:
    index_type: str
    env: str
    yaml: str
    helm: str
    python: str
    pgvector: str | None

    def text(self) -> str:
        parts = [
            "# environment",
            self.env,
            "",
            "# config/ml/faiss.yaml",
            self.yaml,
            "",
            "# Helm values.yaml",
            self.helm,
            "",
            "# Python",
            self.python,
        ]
        if self.pgvector:
            parts += ["", "-- the same graph in pgvector", self.pgvector]
        return "\n".join(parts)


def _int(params: Params, key: str, default: int) -> int:
    value = params.get(key, default)
    return int(value) if isinstance(value, int | float) else default


def _parses(factory: str, d: int) -> bool:
    if d <= 0 or not factory:
        return False
    try:
        built: Any = faiss.index_factory(d, factory)
    except RuntimeError:
        return False
    return built is not None


def python_snippet(factory: str, setting: dict[str, int], *, d: int, metric: str, path: str) -> str:
    """Python that loads ``path`` (when known) at ``setting``, and builds the same type.

    ``build(xb)`` (``build(xb, ids)`` for an ID map) trains and fills a new index of the
    type from one's own float32 vectors; it exists only when ``factory`` parses.
    """
    setting_text = ",".join(f"{k}={v}" for k, v in setting.items())
    tune = (
        f"faiss.ParameterSpace().set_index_parameters(index, {setting_text!r})"
        if setting_text
        else ""
    )
    lines = ["import faiss", ""]
    if path:
        lines += [
            "# the tuned file, searched at the recommended setting",
            f"index = faiss.read_index({path!r})",
            *([tune] if tune else []),
            "",
        ]
    if _parses(factory, d):
        ids = factory.startswith("IDMap")
        metric_arg = f", {_METRIC_CONSTANT[metric]}" if metric in _METRIC_CONSTANT else ""
        lines += [
            "",
            f"# the same type, built from your own vectors xb (float32, n x {d})"
            + (" and their int64 ids" if ids else ""),
            f"def build(xb{', ids' if ids else ''}):",
            f"    index = faiss.index_factory({d}, {factory!r}{metric_arg})",
            "    index.train(xb)",
            "    index.add_with_ids(xb, ids)" if ids else "    index.add(xb)",
            *([f"    {tune}"] if tune else []),
            "    return index",
        ]
    elif not path:
        lines.append(f"# FAISS has no factory string for {factory}: load the file you tuned")
    return "\n".join(lines).rstrip()


def deployment(
    factory: str,
    params: Params,
    setting: dict[str, int],
    *,
    d: int = 0,
    metric: str = "L2",
    path: str = "",
) -> Deployment:
    """Deployment snippets for an index built with ``factory`` searched at ``setting``.

    ``d`` and ``metric`` make the Python build the same type; ``path`` (the tuned file)
    makes it load that file.
    """
    is_ivf = "IVF" in factory  # an IVF with an HNSW coarse quantizer is an IVF
    is_hnsw = "HNSW" in factory and not is_ivf
    is_opq = factory.startswith("OPQ")
    python = python_snippet(factory, setting, d=d, metric=metric, path=path)
    if is_ivf:
        nlist = _int(params, "nlist", 100)
        nprobe = setting.get("nprobe", _int(params, "nprobe", 1))
        env = f"FAISS_INDEX_TYPE=IVF\nFAISS_NLIST={nlist}\nFAISS_NPROBE={nprobe}"
        yaml = f"faiss:\n  index_type: IVF\n  nlist: {nlist}\n  nprobe: {nprobe}\n  device: cpu"
        helm = f"ml:\n  faiss:\n    indexType: IVF\n    nlist: {nlist}\n    nprobe: {nprobe}"
        return Deployment("IVF", env, yaml, helm, python, None)
    m = _int(params, "M", 32)
    ef_c = _int(params, "efConstruction", 40)
    ef_s = setting.get("efSearch", _int(params, "efSearch", 16))
    if is_opq and is_hnsw:
        subq = _int(params, "pq_M", _int(params, "M_opq", 8))
        nbits = _int(params, "pq_nbits", 8)
        env = (
            "FAISS_INDEX_TYPE=OPQ+HNSW\n"
            f"FAISS_CONFIG_M={m}\nFAISS_CONFIG_EF_CONSTRUCTION={ef_c}\nFAISS_CONFIG_EF_SEARCH={ef_s}"
        )
        yaml = (
            "faiss:\n  index_type: OPQ+HNSW\n  device: cpu\n  config:\n"
            f"    m_pq: {nbits}            # bits per PQ code\n"
            f"    n_subquantizers: {subq}   # PQ sub-vectors (OPQ rotation to match)\n"
            f"    m_hnsw: {m}\n    ef_construction: {ef_c}\n    ef_search: {ef_s}"
        )
        helm = (
            "ml:\n  faiss:\n    indexType: OPQ+HNSW\n    config:\n"
            f"      mPq: {nbits}\n      nSubquantizers: {subq}\n      mHnsw: {m}\n"
            f"      efConstruction: {ef_c}\n      efSearch: {ef_s}"
        )
        return Deployment("OPQ+HNSW", env, yaml, helm, python, None)
    env = (
        "FAISS_INDEX_TYPE=HNSW\n"
        f"FAISS_CONFIG_M={m}\nFAISS_CONFIG_EF_CONSTRUCTION={ef_c}\nFAISS_CONFIG_EF_SEARCH={ef_s}"
    )
    yaml = (
        "faiss:\n  index_type: HNSW\n  device: cpu\n  config:\n"
        f"    m: {m}\n    ef_construction: {ef_c}\n    ef_search: {ef_s}"
    )
    helm = (
        "ml:\n  faiss:\n    indexType: HNSW\n    config:\n"
        f"      m: {m}\n      efConstruction: {ef_c}\n      efSearch: {ef_s}"
    )
    pgvector = pgvector_hnsw(m, ef_c, ef_s, PG_OPCLASS.get(metric, "vector_l2_ops"))
    return Deployment("HNSW", env, yaml, helm, python, pgvector)


def pgvector_hnsw(
    m: int, ef_construction: int, ef_search: int, opclass: str = "vector_l2_ops"
) -> str:
    """pgvector statements for the same graph, on a table ``items`` and column ``embedding``.

    pgvector's ``m`` is FAISS's ``M`` (both keep 2m neighbours at layer 0).
    """
    pg_m = max(2, min(100, m))
    pg_efc = max(2 * pg_m, min(1000, ef_construction))
    pg_efs = max(1, min(1000, ef_search))
    notes = []
    if pg_m != m or pg_efc != ef_construction or pg_efs != ef_search:
        notes.append(
            "-- clamped to pgvector's limits (m 2..100, ef_construction >= 2m, ef_search <= 1000)"
        )
    return "\n".join(
        [f"-- your table and vector column for {PG_TABLE} and {PG_COLUMN}", *notes]
        + [
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {PG_TABLE}_{PG_COLUMN}_hnsw_idx "
            f"ON {PG_TABLE} USING hnsw ({PG_COLUMN} {opclass}) "
            f"WITH (m = {pg_m}, ef_construction = {pg_efc});",
            f"SET hnsw.ef_search = {pg_efs};",
        ]
    )
