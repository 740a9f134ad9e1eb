"""``vecscope demo up|down|status`` and the demo data itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.conftest import DEMO_TEST_ROWS, Database, _drop_database, _fresh_database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core import embedded
from vecscope.core.demo.embeddings import sample, topic_model
from vecscope.core.demo.seed import DemoSizes, seed


def test_demo_up_reuse_reset_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    try:
        first = vecscope("demo", "up", "--data-dir", str(data_dir), "--rows", "1000")
        assert first.code == 0, first.err
        dsn = first.out.strip().splitlines()[-1]
        assert dsn.startswith("postgresql://postgres@/vecscope_demo?host=")
        assert "doc_chunks" in first.err  # progress goes to stderr, the DSN alone to stdout
        with psycopg.connect(dsn) as conn:
            count = conn.execute("SELECT count(*) FROM public.doc_chunks").fetchone()
            if embedded.ships("pg_stat_statements"):
                # Preloaded by the demo's server and created in its database: the Live
                # mode and the doctor's top queries have something to read.
                conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
        assert count == (1000,)
        for table in ("doc_chunks", "messages", "articles", "atoms", "Product Embeddings"):
            assert table in first.err  # progress per table

        again = vecscope("demo", "up", "--data-dir", str(data_dir))
        assert again.code == 0, again.err
        assert "reusing" in again.err
        assert again.out.strip().splitlines()[-1] == dsn

        mismatch = vecscope("demo", "up", "--data-dir", str(data_dir), "--rows", "2000")
        assert_one_line_error(mismatch, "--reset")

        status = vecscope("demo", "status", "--data-dir", str(data_dir))
        assert status.code == 0 and status.out.strip() == dsn

        down = vecscope("demo", "down", "--data-dir", str(data_dir))
        assert down.code == 0, down.err
        assert embedded.running_pid(data_dir / "pgdata") is None
        status = vecscope("demo", "status", "--data-dir", str(data_dir))
        assert status.code == 1
    finally:
        embedded.stop(data_dir / "pgdata")


def test_demo_made_by_another_postgresql(tmp_path: Path) -> None:
    """A demo directory left by an older vecscope (PostgreSQL 16 from pgserver): refused
    with the way out, untouched; ``--reset`` makes the demo anew on this server."""
    data_dir = tmp_path / "demo"
    (data_dir / "pgdata").mkdir(parents=True)
    (data_dir / "pgdata" / "PG_VERSION").write_text("9\n")
    refused = vecscope("demo", "up", "--data-dir", str(data_dir), "--rows", "1000")
    assert_one_line_error(refused, "PostgreSQL 9")
    assert "--reset" in refused.err
    assert (data_dir / "pgdata" / "PG_VERSION").read_text() == "9\n"
    try:
        made = vecscope("demo", "up", "--data-dir", str(data_dir), "--rows", "1000", "--reset")
        assert made.code == 0, made.err
        assert embedded.data_major(data_dir / "pgdata") == embedded.server_major()
    finally:
        embedded.stop(data_dir / "pgdata")


def test_unknown_server_choice_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECSCOPE_SERVER", "nosuch")
    r = vecscope("demo", "up", "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(r, "VECSCOPE_SERVER")
    assert not (tmp_path / "d" / "pgdata").exists()


def test_demo_rejects_tiny_rows(tmp_path: Path) -> None:
    r = vecscope("demo", "up", "--data-dir", str(tmp_path / "d"), "--rows", "5")
    assert_one_line_error(r, "--rows")
    assert not (tmp_path / "d").exists()


def test_sizes_scale() -> None:
    sizes = DemoSizes.scaled(50_000)
    assert (sizes.doc_chunks, sizes.messages, sizes.articles, sizes.atoms) == (
        50_000,
        20_000,
        20_000,
        200,
    )
    with pytest.raises(ValueError):
        DemoSizes.scaled(10)


def test_demo_tables_hold_real_data(demo_db: Database) -> None:
    with demo_db.connect() as conn:
        norms = conn.execute(
            "SELECT min(vector_norm(embedding)), max(vector_norm(embedding)) FROM doc_chunks"
        ).fetchone()
        tenants = conn.execute("SELECT count(DISTINCT tenant_id) FROM doc_chunks").fetchone()
        products = conn.execute('SELECT count(*) FROM search."Product Embeddings"').fetchone()
    assert norms is not None and abs(norms[0] - 1) < 1e-5 and abs(norms[1] - 1) < 1e-5
    assert tenants is not None and tenants[0] > 10
    assert products == (2000,)


def test_seeding_is_deterministic(demo_db: Database, pg: embedded.EmbeddedServer) -> None:
    other = _fresh_database(pg, "t_demo_again", extension=False)
    try:
        seed(other.dsn, DEMO_TEST_ROWS, progress=lambda _: None)
        q = (
            "SELECT md5(string_agg(embedding::text || tenant_id || text, ',' ORDER BY id)) "
            "FROM doc_chunks"
        )
        with demo_db.connect() as a, other.connect() as b:
            assert a.execute(q).fetchone() == b.execute(q).fetchone()
    finally:
        _drop_database(pg, "t_demo_again")


def test_embeddings_are_clustered_not_uniform() -> None:
    model = topic_model(7)
    x, topics = sample(model, 20_000, 1)
    assert x.shape == (20_000, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    sims = x[:200] @ x.T
    np.fill_diagonal(sims[:, :200], -1.0)
    same = topics[:200, None] == topics[None, :]
    # Same-topic pairs are far closer than the rest, and every point has close neighbours:
    # with uniform noise in 384 dimensions every cosine is ~0 and the 10th neighbour ~0.15.
    assert sims[same & (sims > -1)].mean() > 2 * sims[~same].mean()
    noise = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    noise_sims = noise[:200] @ noise.T
    np.fill_diagonal(noise_sims[:, :200], -1.0)
    tenth = np.sort(sims, axis=1)[:, -10].mean()
    assert tenth > 2 * np.sort(noise_sims, axis=1)[:, -10].mean()
    again, _ = sample(model, 20_000, 1)
    assert np.array_equal(x, again)


def test_demo_workload_takes_the_connection_flags(demo_db: Database) -> None:
    """As every subcommand: --dsn names the database, and no demo server is started."""
    r = vecscope(
        "demo", "workload", "--dsn", demo_db.dsn, "--clients", "1", "--duration", "3s",
        "--deploy-after", "1s",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.out == ""  # no server started here, so no DSN of one printed
    assert "demo workload: 1 sessions" in r.err and "deploy:" in r.err
    assert ", 0 errors" in r.err


def test_demo_workload_refuses_a_database_without_the_demo(db: Database) -> None:
    r = vecscope("demo", "workload", "--dsn", db.dsn, "--duration", "1s")
    assert_one_line_error(r, "runs on the demo database")


def test_each_demo_action_has_its_own_help() -> None:
    for action, own in (
        ("up", "print its DSN"),
        ("down", "Stop the demo server"),
        ("status", "exit status 1"),
        ("workload", "--deploy-after"),
    ):
        r = vecscope("demo", action, "--help")
        assert r.code == 0, r.err
        assert r.out.startswith(f"usage: vecscope demo {action}"), r.out
        assert own in " ".join(r.out.split())  # argparse wraps the description
    workload = vecscope("demo", "workload", "--help").out
    assert "--dsn" in workload and "-h HOST" in workload
    assert "workload" not in vecscope("demo", "up", "--help").out
