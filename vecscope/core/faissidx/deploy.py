"""The configuration to deploy a tuned index, in the keys the seed guide's services read.

The FAISS migration guide in ``shared/seeds`` configures its service with environment
variables (``FAISS_INDEX_TYPE``, ``FAISS_CONFIG_M``...), a YAML file and Helm values;
this writes the chosen index and setting in those words, plus the factory string and the
``ParameterSpace`` call for code that builds indexes itself, and, for an HNSW index, the
pgvector statements with the same graph parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from vecscope.core.faissidx.structure import Params


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


def deployment(factory: str, params: Params, setting: dict[str, int]) -> Deployment:
    """Deployment snippets for an index built with ``factory`` searched at ``setting``."""
    is_hnsw = "HNSW" in factory and "IVF" not in factory.split(",")[0]
    is_opq = factory.startswith("OPQ")
    is_ivf = "IVF" in factory
    setting_text = ",".join(f"{k}={v}" for k, v in setting.items())
    python = f'index = faiss.index_factory(d, "{factory}")'
    if setting_text:
        python += f'\nfaiss.ParameterSpace().set_index_parameters(index, "{setting_text}")'
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
    return Deployment("HNSW", env, yaml, helm, python, pgvector_hnsw(m, ef_c, ef_s))


def pgvector_hnsw(
    m: int, ef_construction: int, ef_search: int, opclass: str = "vector_l2_ops"
) -> str:
    """pgvector statements for the same graph.

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
        notes
        + [
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ... USING hnsw (embedding {opclass}) "
            f"WITH (m = {pg_m}, ef_construction = {pg_efc});",
            f"SET hnsw.ef_search = {pg_efs};",
        ]
    )
