"""The FAISS workbench with real faiss: files made by FAISS itself, corrupted ones, and
a pgvector column exported for real."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from pgvector.psycopg import register_vector

from tests.conftest import Database
from vecscope.cli import main as cli
from vecscope.core.errors import BadInputError
from vecscope.core.faissidx import files
from vecscope.core.faissidx.convert import convert
from vecscope.core.faissidx.deploy import PG_COLUMN, PG_TABLE, deployment
from vecscope.core.faissidx.progress import Step
from vecscope.core.faissidx.search import Corpus, exact, sample_queries
from vecscope.core.faissidx.tune import candidates, compare, frontier, pick, tune

ROOT = Path(__file__).resolve().parents[2]
D = 32
N = 4000


def clustered(n: int = N, d: int = D, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, d))
    x = centers[rng.integers(0, 40, n)] + 1.0 * rng.normal(size=(n, d))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Index files made by FAISS itself, the vectors, and queries."""
    root = tmp_path_factory.mktemp("faiss")
    x = clustered()
    out: dict[str, Path] = {}
    ivf: Any = faiss.index_factory(D, "IVF32,Flat")
    ivf.train(x)
    ivf.add_with_ids(x, np.arange(N, dtype=np.int64) * 7 + 3)  # ids that are not positions
    ivf.nprobe = 1
    out["ivf"] = root / "ivf.index"
    faiss.write_index(ivf, str(out["ivf"]))
    hnsw = faiss.index_factory(D, "HNSW16")
    hnsw.add(x)
    out["hnsw"] = root / "hnsw.index"
    faiss.write_index(hnsw, str(out["hnsw"]))
    pq = faiss.index_factory(D, "PCAR32,IVF32,PQ8")
    pq.train(x)
    pq.add(x)
    out["ivfpq"] = root / "ivfpq.index"
    faiss.write_index(pq, str(out["ivfpq"]))
    out["vectors"] = root / "vectors.npy"
    np.save(out["vectors"], x)
    rng = np.random.default_rng(9)
    q = x[rng.choice(N, 100, replace=False)] + 0.05 * rng.normal(size=(100, D))
    out["queries"] = root / "queries.npy"
    np.save(out["queries"], q.astype(np.float32))
    truth = exact(Corpus(np.arange(N), x, faiss.METRIC_L2), q.astype(np.float32), 10, None)
    out["gt"] = root / "gt.npy"
    np.save(out["gt"], truth.ids)
    return out


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.run(cli.parse(argv), out)
    return code, out.getvalue()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- inspect -------------------------------------------------------------------------------


def test_inspect_ivf_json_has_what_the_issue_asks(data: dict[str, Path]) -> None:
    code, out = run_cli(["faiss", "inspect", str(data["ivf"]), "--json"])
    assert code == 0
    doc = json.loads(out)
    for key in ("type", "chain", "d", "ntotal", "metric", "params", "bytes"):
        assert key in doc
    assert doc["type"] == "IndexIVFFlat" and doc["d"] == D and doc["ntotal"] == N
    assert doc["metric"] == "L2" and doc["params"]["nlist"] == 32 and doc["params"]["nprobe"] == 1
    assert [p["role"] for p in doc["chain"]] == ["index", "quantizer"]
    assert doc["bytes"] == data["ivf"].stat().st_size and doc["vectors"] == "exact"


def test_inspect_hnsw_and_opq_chains(data: dict[str, Path]) -> None:
    h = files.inspect(data["hnsw"])
    assert h.params["M"] == 16 and h.params["efSearch"] == 16 and h.params["efConstruction"] == 40
    assert str(h.params["levels"]).startswith("0:")
    assert [p.role for p in h.chain] == ["index", "storage"]
    o = files.inspect(data["ivfpq"])
    assert [p.role for p in o.chain] == ["transform", "index", "quantizer"]
    assert o.params["pq_M"] == 8 and o.params["pq_nbits"] == 8 and o.vectors == "lossy"
    assert o.bytes_per_vector < h.bytes_per_vector


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "text", "truncated"])
def test_bad_files_are_one_line_and_exit_2(
    data: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.index"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("these are not the vectors you are looking for\n" * 20)
    elif kind == "truncated":
        raw = data["hnsw"].read_bytes()
        path.write_bytes(raw[: len(raw) // 3])
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope.cli.launch", "faiss", "inspect", str(path)],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.startswith("vecscope: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_corrupted_bytes_never_crash_vecscope(data: dict[str, Path], tmp_path: Path) -> None:
    """Flip bytes all over a real file: each is either read or refused, in one line."""
    raw = bytearray(data["ivf"].read_bytes())
    rng = np.random.default_rng(4)
    refused = 0
    for n in range(8):
        mutated = bytearray(raw)
        for pos in rng.integers(0, len(raw), 8):
            mutated[int(pos)] ^= 0xFF
        if n % 3 == 0:  # the header and sizes, where readers trust what they read
            for pos in range(0, 64, 7):
                mutated[pos] ^= 0x5A
        path = tmp_path / f"m{n}.index"
        path.write_bytes(bytes(mutated))
        try:
            files.inspect(path)
        except files.FaissFileError as e:
            refused += 1
            assert "\n" not in e.message
    assert refused >= 3


# --- convert -------------------------------------------------------------------------------


def test_ivf_to_hnsw_keeps_ids_verifies_and_never_touches_the_source(
    data: dict[str, Path], tmp_path: Path
) -> None:
    before = sha(data["ivf"])
    dst = tmp_path / "ivf.hnsw.index"
    result = convert(data["ivf"], dst, "HNSW32", queries=300)
    assert sha(data["ivf"]) == before
    assert result.vectors_from == "the source index (exact)"
    assert result.info.ntotal == N and "HNSW" in " ".join(p.kind for p in result.info.chain)
    assert result.verification.recall >= 0.9
    assert result.verification.source_recall is not None
    assert result.verification.source_recall < result.verification.recall
    new = files.load(dst)
    x = clustered()
    _, ids = new.search(x[:5], 1)
    assert ids[:, 0].tolist() == [i * 7 + 3 for i in range(5)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_ivf_to_opq_hnsw_reports_what_the_codes_cost(tmp_path: Path) -> None:
    x = clustered(1500)  # OPQ trains for long: a small file keeps the test quick
    ivf = faiss.index_factory(D, "IVF16,Flat")
    ivf.train(x)
    ivf.add(x)
    src = tmp_path / "small_ivf.index"
    faiss.write_index(ivf, str(src))
    result = convert(src, tmp_path / "opq.index", "OPQ8_32,HNSW16_PQ8", queries=200)
    roles = [p.role for p in result.info.chain]
    kinds = [p.kind for p in result.info.chain]
    assert roles[0] == "transform" and any("HNSW" in k for k in kinds)
    assert result.info.params["pq_M"] == 8  # 8 bytes of codes a vector instead of 128
    assert 0.2 < result.verification.recall < result.verification.source_recall + 0.5  # type: ignore[operator]


def test_lossy_source_needs_the_original_vectors(data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(files.OriginalsNeeded, match="original vectors"):
        convert(data["ivfpq"], tmp_path / "x.index", "HNSW16")
    result = convert(data["ivfpq"], tmp_path / "x.index", "HNSW16", vectors=data["vectors"])
    assert result.vectors_from == str(data["vectors"]) and result.verification.recall > 0.9
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, D + 1), dtype=np.float32))
    with pytest.raises(BadInputError, match="dimensions"):
        convert(data["ivfpq"], tmp_path / "y.index", "HNSW16", vectors=wrong)


def test_convert_refuses_overwrites_and_bad_factories(
    data: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(BadInputError, match="never overwrites"):
        convert(data["ivf"], data["ivf"], "HNSW32")
    taken = tmp_path / "taken.index"
    taken.write_bytes(b"x")
    with pytest.raises(BadInputError, match="exists"):
        convert(data["ivf"], taken, "HNSW32")
    code, _ = run_cli(
        ["faiss", "convert", str(data["ivf"]), str(tmp_path / "n.index"), "--to", "HNSWxx"]
    )
    assert code == 2
    assert not (tmp_path / "n.index").exists()


# --- tune ----------------------------------------------------------------------------------


def test_tune_ivf_sweeps_nprobe_and_recommends(data: dict[str, Path]) -> None:
    code, out = run_cli(
        [
            "faiss",
            "tune",
            str(data["ivf"]),
            "--queries",
            str(data["queries"]),
            "--target-recall",
            "0.9",
            "--json",
        ]  # fmt: skip
    )
    assert code == 0
    doc = json.loads(out)
    points = doc["tuning"]["points"]
    assert [p["values"]["nprobe"] for p in points] == [1, 2, 4, 8, 16, 32]
    recalls = [p["recall"] for p in points]
    assert recalls[-1] == 1.0 and recalls[0] < recalls[-1]
    rec = doc["tuning"]["recommended"]
    assert rec["recall"] >= 0.9
    assert all(p["recall"] < 0.9 for p in points if p["p50_ms"] < rec["p50_ms"])
    assert f"FAISS_NPROBE={rec['values']['nprobe']}" in doc["deploy"]


def test_tune_hnsw_gives_the_seed_guides_keys_and_pgvector(data: dict[str, Path]) -> None:
    code, out = run_cli(
        [
            "faiss",
            "tune",
            str(data["hnsw"]),
            "--queries",
            str(data["queries"]),
            "--target-recall",
            "0.95",
        ]  # fmt: skip
    )
    assert code == 0
    assert "FAISS_INDEX_TYPE=HNSW" in out and "FAISS_CONFIG_EF_SEARCH=" in out
    assert "index_type: HNSW" in out and "SET hnsw.ef_search" in out
    assert "WITH (m = 16, ef_construction = 40)" in out


def test_tune_lossy_index_with_a_ground_truth_file_and_an_unreachable_target(
    data: dict[str, Path],
) -> None:
    code, out = run_cli(
        [
            "faiss",
            "tune",
            str(data["ivfpq"]),
            "--queries",
            str(data["queries"]),
            "--ground-truth",
            str(data["gt"]),
            "--target-recall",
            "1.0",
            "--json",
        ]  # fmt: skip
    )
    assert code == 3
    doc = json.loads(out)
    assert doc["tuning"]["recall_by"] == "ids of the ground truth"
    assert doc["tuning"]["recommended"] is None and doc["deploy"] is None
    code, _ = run_cli(["faiss", "tune", str(data["ivfpq"]), "--queries", str(data["queries"])])
    assert code == 2  # lossy and no ground truth: said in one line


def test_memory_budget_compares_types(data: dict[str, Path]) -> None:
    x = clustered()
    corpus = Corpus(np.arange(N, dtype=np.int64), x, faiss.METRIC_L2)
    q, self_ids = sample_queries(corpus, 100)
    truth = exact(corpus, q, 10, self_ids)
    results = compare(
        corpus, q, self_ids, truth, 10, target_recall=0.9,
        choices=[("HNSW-Flat", "HNSW16"), ("HNSW-SQ8", "HNSW16_SQ8"), ("IVF-PQ", "IVF32,PQ8")],
    )  # fmt: skip
    memory = {t.label: t.memory_bytes for t in results}
    assert memory["HNSW-SQ8"] < memory["HNSW-Flat"]
    assert frontier(results)
    chosen = pick(results, memory["HNSW-SQ8"])
    assert chosen is not None and results[chosen].memory_bytes <= memory["HNSW-SQ8"]


def test_deployment_for_opq_hnsw_uses_the_seed_guides_words() -> None:
    d = deployment(
        "OPQ16_64,HNSW32_PQ16",
        {"M": 32, "efConstruction": 40, "pq_M": 16},
        {"efSearch": 64},
        d=64,
    )
    assert "FAISS_INDEX_TYPE=OPQ+HNSW" in d.env and "n_subquantizers: 16" in d.yaml
    assert "m_hnsw: 32" in d.yaml and "efSearch: 64" in d.helm
    assert "set_index_parameters(index, 'efSearch=64')" in d.python
    assert "faiss.index_factory(64, 'OPQ16_64,HNSW32_PQ16', faiss.METRIC_L2)" in d.python


def test_tune_a_direct_call_stops_when_asked(data: dict[str, Path]) -> None:
    index = files.load(data["ivf"])
    info = files.inspect(data["ivf"])
    got = files.vectors_of(index)
    assert not isinstance(got, str)
    corpus = Corpus(got[0], got[1], faiss.METRIC_L2)
    q = files.load_npy(data["queries"], info.d)
    calls: list[Step] = []
    result = tune(
        index, q, exact(corpus, q, 10, None), 10, corpus=corpus,
        progress=calls.append, should_stop=lambda: (calls[-1].done or 0) >= 2,
    )  # fmt: skip
    assert len(result.points) == 2
    assert calls[-1].text().endswith("2 / 6 settings measured")


# --- pgvector bridge -----------------------------------------------------------------------


def test_export_a_pgvector_column(db: Database, tmp_path: Path) -> None:
    x = clustered(500, 16)
    with db.connect() as conn:
        register_vector(conn)
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(16))")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO items VALUES (%s, %s)", [(1000 + i, v) for i, v in enumerate(x)]
            )
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)")
    out = tmp_path / "items.index"
    code, text = run_cli(
        [
            "faiss",
            "export",
            "--dsn",
            db.dsn,
            "--table",
            "public.items",
            "--column",
            "embedding",
            str(out),
        ]  # fmt: skip
    )
    assert code == 0, text
    info = files.inspect(out)
    assert info.ntotal == 500 and info.d == 16 and info.metric == "IP"
    index = files.load(out)
    normed = x / np.linalg.norm(x, axis=1, keepdims=True)
    _, ids = index.search(normed[:3].astype(np.float32), 1)
    assert ids[:, 0].tolist() == [1000, 1001, 1002]
    code, _ = run_cli(
        [
            "faiss",
            "export",
            "--dsn",
            db.dsn,
            "--table",
            "public.items",
            "--column",
            "embedding",
            str(out),
        ]  # fmt: skip
    )
    assert code == 2  # never overwrites


def test_one_workload_for_both_front_ends(data: dict[str, Path]) -> None:
    """The queries and exact answers vecscope faiss tune and the FAISS mode tune against."""
    from vecscope.core.faissidx.workload import LOSSY_NEEDS_ORIGINALS, workload

    lossy, info = files.load(data["ivfpq"]), files.inspect(data["ivfpq"])
    with pytest.raises(BadInputError, match="lossy codes"):
        workload(lossy, info)
    assert "lossy codes" in LOSSY_NEEDS_ORIGINALS
    sampled = workload(lossy, info, vectors=data["vectors"], sample=50)
    assert sampled.self_ids is not None and len(sampled.queries) == 50
    assert sampled.described == "50 sampled queries · exact answers from vectors.npy"
    # A lossy file converted from an exact one: the source's vectors are the originals.
    source = workload(lossy, info, origin=data["hnsw"], sample=50)
    assert source.described == "50 sampled queries · exact answers from hnsw.index, its source"
    assert np.array_equal(source.truth.ids, sampled.truth.ids)
    by_ids = workload(lossy, info, queries=data["queries"], ground_truth=data["gt"])
    assert by_ids.recall_corpus is None and by_ids.described.endswith("answers of gt.npy")
    own = workload(files.load(data["ivf"]), files.inspect(data["ivf"]), queries=data["queries"])
    assert own.described == "100 queries of queries.npy · exact answers from its own vectors"
    assert own.recall_corpus is not None and own.self_ids is None


# --- every snippet vecscope prints runs ----------------------------------------------------


def printed_snippets(text: str) -> tuple[str, str]:
    """The Python and the SQL of a printed deployment, as a user would copy them."""
    python = text.split("# Python\n", 1)[1]
    python, _, sql = python.partition("\n\n-- the same graph in pgvector\n")
    return python, sql


def knob(index: Any, name: str) -> int:
    """The value of a query-time knob of ``index`` (nprobe, efSearch)."""
    if name == "nprobe":
        return int(faiss.extract_index_ivf(index).nprobe)
    hnsw: Any = faiss.downcast_index(index)
    return int(hnsw.hnsw.efSearch)


def inner(index: Any) -> Any:
    """The index under an ID map or a pre-transform (which keeps no metric of its own)."""
    idx = faiss.downcast_index(index)
    while isinstance(idx, faiss.IndexPreTransform | faiss.IndexIDMap | faiss.IndexIDMap2):
        idx = faiss.downcast_index(idx.index)
    return idx


def run_python(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "<printed snippet>", "exec"), namespace)  # run as printed
    return namespace


@pytest.mark.parametrize("name", ["ivf", "hnsw"])
def test_printed_deployment_runs_against_the_tuned_file(
    db: Database, data: dict[str, Path], name: str
) -> None:
    """Issue #15 (5): the IVF snippet said ``index_factory(d, "IVF")``, which FAISS cannot
    parse. The Python loads the tuned file at the recommended setting and builds the same
    type; the pgvector statements run on a table of that name."""
    code, out = run_cli(["faiss", "tune", str(data[name]), "--target-recall", "0.9", "--json"])
    assert code == 0
    doc = json.loads(out)
    rec = doc["tuning"]["recommended"]
    python, sql = printed_snippets(doc["deploy"])
    namespace = run_python(python)
    index = namespace["index"]
    assert index.ntotal == N
    name_of_knob, value = next(iter(rec["values"].items()))
    assert knob(index, name_of_knob) == value  # the setting is applied
    x = clustered()
    built = namespace["build"](x)
    assert built.ntotal == N and type(faiss.downcast_index(built)) is type(
        faiss.downcast_index(files.load(data[name]))
    )
    assert knob(built, name_of_knob) == value
    _, ids = built.search(x[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]
    # The CLI's text prints the same snippet. Its tuning is a second measurement: on a
    # busy machine it may recommend a neighbouring setting, so the values are left out.
    code, text = run_cli(["faiss", "tune", str(data[name]), "--target-recall", "0.9"])

    def shape(snippet: str) -> str:
        return re.sub(r"\b(efSearch|nprobe|ef_search|probes)( ?= ?)\d+", r"\1\2N", snippet)

    assert shape(python) in shape(text)
    if name == "ivf":
        assert not sql
        return
    with db.connect() as conn:
        # A schema of its own: the module's database has an "items" table already.
        conn.execute("CREATE SCHEMA snippet")
        conn.execute(
            f"CREATE TABLE snippet.{PG_TABLE} (id bigserial PRIMARY KEY, {PG_COLUMN} vector({D}))"
        )
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO snippet.{PG_TABLE} ({PG_COLUMN}) VALUES (%s)",
                [(str(v.tolist()),) for v in x[:200]],
            )
    try:
        with db.connect() as conn:
            conn.autocommit = True  # CREATE INDEX CONCURRENTLY, as printed
            conn.execute("SET search_path = snippet, public")
            for statement in sql.split(";"):
                body = "\n".join(
                    ln for ln in statement.splitlines() if not ln.strip().startswith("--")
                ).strip()
                if body:
                    conn.execute(body)
            ef = conn.execute("SHOW hnsw.ef_search").fetchone()
            assert ef is not None and int(ef[0]) == rec["values"]["efSearch"]
            row = conn.execute(
                "SELECT reloptions FROM pg_class WHERE relname = %s",
                (f"{PG_TABLE}_{PG_COLUMN}_hnsw_idx",),
            ).fetchone()
        assert row is not None and "m=16" in row[0]
    finally:
        with db.connect() as conn:
            conn.execute("DROP SCHEMA snippet CASCADE")


def test_every_target_type_has_a_python_snippet_that_builds_it(tmp_path: Path) -> None:
    """The deployment of each type vecscope offers (and of IP, ID-mapped indexes) runs."""
    x = clustered(300)  # enough to train 256 PQ centroids, and quick
    ids = np.arange(len(x), dtype=np.int64) * 3
    factories = [f for _, f in candidates(D, len(x))] + ["IDMap2,HNSW16", "Flat"]
    for i, factory in enumerate(factories):
        metric = ("L2", "IP")[i % 2]
        d = deployment(factory, {}, {}, d=D, metric=metric)
        built = run_python(d.python)["build"]
        args = (x, ids) if factory.startswith("IDMap") else (x,)
        index = built(*args)
        assert index.ntotal == len(x), factory
        # The metric FAISS gives the type (its factory builds HNSW-PQ as L2 whatever it is
        # asked: the snippet passes the metric, FAISS decides).
        asked = faiss.METRIC_L2 if metric == "L2" else faiss.METRIC_INNER_PRODUCT
        same = faiss.index_factory(D, factory, asked)
        assert inner(index).metric_type == inner(same).metric_type, factory


def test_the_printed_command_to_tune_a_conversion_runs(
    data: dict[str, Path], tmp_path: Path
) -> None:
    from vecscope.cli.faiss import converted_text

    for factory, vectors in (("HNSW16", None), ("HNSW16_SQ8", None), ("HNSW16", "vectors")):
        src = data["ivfpq"] if vectors else data["ivf"]
        dst = tmp_path / f"{factory}-{vectors}.index"
        result = convert(src, dst, factory, queries=100, vectors=data[vectors] if vectors else None)
        command = converted_text(result).splitlines()[-1].strip()
        argv = shlex.split(command)
        assert argv[:3] == ["vecscope", "faiss", "tune"]
        code, _ = run_cli([*argv[1:], "--json", "--target-recall", "0.5"])
        assert code == 0, command


# --- progress -------------------------------------------------------------------------------


def test_progress_counts_training_iterations_and_vectors(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """Issue #15 (10): training said "0%" for minutes. Now each phase says what it does and
    how far: FAISS's k-means iterations while an IVF trains, then vectors added."""
    steps: list[Step] = []
    convert(data["ivf"], tmp_path / "ivf64.index", "IVF64,Flat", queries=100, progress=steps.append)
    phases = [s.phase for s in steps]
    assert phases[0] == "reading the source"
    training = [s for s in steps if s.phase == "training"]
    kmeans = [s for s in training if s.unit == "k-means iterations"]
    assert kmeans and kmeans[-1].total == 10 and kmeans[-1].done == 10
    assert [s.done for s in kmeans] == sorted(s.done or 0 for s in kmeans)
    assert "coarse quantizer" in kmeans[-1].detail and "64 centroids" in kmeans[-1].detail
    added = [s for s in steps if s.phase == "adding vectors"]
    assert added[-1].text() == f"adding vectors · {N:,} / {N:,} vectors"
    assert phases[-2:] == ["verifying", "writing"]
    assert all(b.started >= a.started for a, b in zip(steps, steps[1:], strict=False))


def test_cli_shows_opq_training_iterations_on_stderr(
    data: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The OPQ rotation (the step that ran for minutes at "0%"): its iterations, the PQ
    slices and the phase's elapsed time, on stderr; never among the training notes."""
    from vecscope.cli.faiss import StderrProgress

    monkeypatch.setattr(StderrProgress, "SHOW_AFTER_S", 0.0)
    monkeypatch.setattr(StderrProgress, "LOG_EVERY_S", 0.0)
    x = clustered(1000)
    flat = faiss.IndexFlatL2(D)
    flat.add(x)
    src = tmp_path / "flat.index"
    faiss.write_index(flat, str(src))
    dst = tmp_path / "opq.index"
    code, out = run_cli(
        ["faiss", "convert", str(src), str(dst), "--to", "OPQ4_32,HNSW16_PQ4x4", "--json"]
    )
    assert code == 0
    err = capfd.readouterr().err
    training = [ln for ln in err.splitlines() if "training: OPQ rotation" in ln]
    assert training, err
    assert any(re.search(r"\d+ / 50 OPQ iterations · \d+:\d\d$", ln) for ln in training), err
    assert any("PQ slice" in ln for ln in training)
    assert not any("Iteration" in n for n in json.loads(out)["notes"])


# --- the command line's defaults and errors ------------------------------------------------


def test_cli_tune_samples_queries_as_the_screen_does(data: dict[str, Path]) -> None:
    """Issue #15 (15): ``faiss tune`` required --queries; now it samples the index's own
    vectors, as many as the FAISS mode does (one constant in core)."""
    from vecscope.core.faissidx.defaults import SAMPLE_QUERIES

    code, out = run_cli(["faiss", "tune", str(data["ivf"]), "--target-recall", "0.9", "--json"])
    assert code == 0
    assert json.loads(out)["tuning"]["queries"] == SAMPLE_QUERIES == 500


def test_lossy_errors_name_the_flag_on_the_command_line_only(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Core says what is missing; only the command line speaks of --vectors."""
    with pytest.raises(files.OriginalsNeeded) as caught:
        convert(data["ivfpq"], tmp_path / "x.index", "HNSW16")
    assert "--" not in caught.value.message and "original vectors" in caught.value.message
    code, _ = run_cli(["faiss", "tune", str(data["ivfpq"])])
    assert code == 2
    err = capsys.readouterr().err
    assert "--vectors X.npy" in err and "--ground-truth" in err and len(err.splitlines()) == 1


def test_write_failures_are_one_line_and_leave_nothing(tmp_path: Path) -> None:
    from vecscope.core.faissidx.convert import write_atomically

    index = faiss.IndexFlatL2(4)
    with pytest.raises(BadInputError, match="is not a directory: nothing was written"):
        write_atomically(index, tmp_path / "missing" / "x.index")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadInputError, match="nothing was written"):
        write_atomically(index, blocker / "x.index")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_export_to_a_missing_folder_is_one_line_exit_2(db: Database, tmp_path: Path) -> None:
    """Issue #15 (15): it ended in "internal error: RuntimeError ... FileIOWriter"."""
    with db.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lines (id bigint PRIMARY KEY, v vector(4))")
        conn.execute("INSERT INTO lines VALUES (1, '[1,2,3,4]') ON CONFLICT DO NOTHING")
    out = tmp_path / "nonexistent_dir" / "x.index"
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope.cli.launch", "faiss", "export", "--dsn", db.dsn,
         "--table", "public.lines", "--column", "v", str(out)],
        cwd=ROOT, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err
    assert "is not a directory: nothing was written" in err
    assert not out.parent.exists()
