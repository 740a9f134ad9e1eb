"""The demo scenario: a semantic-search database with the problems the seed documents hit.

Built deterministically (fixed seeds) so every figure on it can be compared run to run:

* ``public.doc_chunks`` with an IVFFlat index (lists = 100, cosine): the classic
  candidate for the IVFFlat to HNSW migration;
* ``public.messages`` with an HNSW index on ``vector_l2_ops`` while the application
  queries with ``<=>`` (an operator-class mismatch); its messages belong to the same 40
  tenants of very different sizes as doc_chunks', with no B-tree on ``tenant_id``, so the
  application's tenant-scoped search (``WHERE tenant_id = $1 ORDER BY embedding <-> $2
  LIMIT 10``) is an HNSW scan whose ``hnsw.ef_search`` candidates are filtered afterwards:
  a small tenant gets fewer than 10 rows (the filtered-search trap);
* ``public.articles`` whose vector column has no index at all;
* ``public.events``, partitioned by month (four partitions), with an IVFFlat index on
  the parent: the wizard's migration of a partitioned index;
* ``public.atoms``, small enough that a Seq Scan is right;
* ``search."Product Embeddings"``, whose names need quoting everywhere, with the INVALID
  leftover of a real ``CREATE INDEX CONCURRENTLY`` cancelled while it waited.

Besides its one line per step, the seed reports how far it is (the rows of the table
loading, the index builds running) as :class:`~core.demo.progress.SeedProgress` records.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.demo import progress as sp
from vecscope.core.demo.embeddings import Matrix, sample, topic_model
from vecscope.core.demo.server import DEFAULT_ROWS, Progress
from vecscope.core.errors import EmbeddedServerError
from vecscope.core.pgvector import has_feature

SEED = 20251027
PRODUCTS = 'search."Product Embeddings"'
#: Extensions created in the demo database where available.
CONTRIB = ("pg_stat_statements", "pg_buffercache")

_WORDS = [
    "index",
    "query",
    "vector",
    "latency",
    "recall",
    "tenant",
    "invoice",
    "refund",
    "shipping",
    "billing",
    "contract",
    "policy",
    "incident",
    "deploy",
    "cluster",
    "replica",
    "backup",
    "restore",
    "schema",
    "migration",
    "embedding",
    "search",
    "ranking",
    "customer",
    "order",
    "product",
    "catalog",
    "review",
    "support",
    "ticket",
    "account",
    "login",
    "password",
    "reset",
    "outage",
    "timeout",
    "throughput",
    "memory",
    "storage",
    "network",
    "region",
    "pricing",
    "discount",
    "warranty",
    "return",
    "delivery",
    "courier",
    "payment",
    "card",
    "subscription",
    "plan",
    "upgrade",
]
_FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "for",
    "with",
    "on",
    "in",
    "how",
    "why",
    "when",
    "what",
    "is",
    "are",
    "can",
    "does",
    "about",
]


@dataclass(frozen=True, slots=True)
class DemoSizes:
    doc_chunks: int
    messages: int
    articles: int
    atoms: int
    products: int
    events: int = 2_400

    @classmethod
    def scaled(cls, rows: int) -> DemoSizes:
        """Every table sized from ``--rows`` (the number of doc_chunks)."""
        if rows < 1_000:
            raise ValueError("--rows must be at least 1000")
        return cls(
            doc_chunks=rows,
            messages=max(1_000, rows * 2 // 5),
            articles=max(1_000, rows * 2 // 5),
            atoms=200,
            products=max(2_000, rows // 10),
            events=max(2_400, rows // 4),
        )


def _texts(topics: np.ndarray, rng: np.random.Generator) -> list[str]:
    # Each topic has its own few words, so text and embedding agree the way real data does.
    n = len(topics)
    words = np.array(_WORDS, dtype=object)
    filler = np.array(_FILLER, dtype=object)
    # Topic t's four words are _WORDS[(7t + 13k) % len]; each text picks six of them
    # (three before the filler, three after) and four filler words, drawn all at once.
    topic_words = words[(topics[:, None] * 7 + np.arange(4)[None, :] * 13) % len(_WORDS)]
    picks = rng.integers(0, 4, size=(n, 6))
    fill = filler[rng.integers(0, len(_FILLER), size=(n, 4))]
    chosen = np.take_along_axis(topic_words, picks, axis=1)
    parts = np.concatenate([chosen[:, :3], fill, chosen[:, 3:]], axis=1)
    return [" ".join(row).capitalize() + "." for row in parts.tolist()]


#: Rows sent between two looks at the clock while a table loads.
_ROWS_PER_LOOK = 500


def _copy(
    conn: psycopg.Connection[TupleRow],
    table: sql.Composable,
    columns: list[str],
    types: list[str],
    rows: list[tuple[object, ...]],
    tracker: sp.Tracker,
    name: str,
) -> None:
    stmt = db.statement(
        "demo_copy", table=table, columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    tracker.table(name, sp.LOADING, len(rows))
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.set_types(types)
        for i, row in enumerate(rows, 1):
            copy.write_row(row)
            if i % _ROWS_PER_LOOK == 0 and tracker.active:
                tracker.rows(i)
    tracker.rows(len(rows), force=True)
    tracker.table(name, sp.PACKING, len(rows))
    # PostgreSQL 16+ extends a table being loaded by several pages at a time, so the
    # empty pages left at its end vary from run to run (a snapshot test saw `messages`
    # at 500 pages once, 512 otherwise). A rewrite packs the rows: the same size and
    # plan costs at every seed. Cheap here: the table has only its primary key so far.
    db.execute(conn, "demo_vacuum_full", table=table)


def _vectors(n: int, stream: int) -> tuple[Matrix, np.ndarray]:
    return sample(topic_model(SEED), n, SEED + stream)


def _rng(stream: int) -> np.random.Generator:
    """The seed's own generator for one table: tables do not depend on each other's draws."""
    return np.random.default_rng([SEED, stream])


def _tenants(n: int, rng: np.random.Generator) -> list[str]:
    # 40 tenants, Zipf-like: a few big customers and a long tail of small ones (the
    # biggest holds ~27% of the rows, the smallest ~0.4%), so that "WHERE tenant_id = $1
    # ... LIMIT 10" loses rows and recall after an index scan (a real trap).
    weights = 1.0 / np.arange(1, 41) ** 1.1
    ids = rng.choice(40, size=n, p=weights / weights.sum())
    return [f"tenant-{i + 1:02d}" for i in ids.tolist()]


def _fail_concurrent_build(dsn: str, progress: Progress) -> None:
    """Leave a real INVALID index: a CREATE INDEX CONCURRENTLY cancelled while it waits.

    A long report holds a snapshot open in another session (as in production). The
    concurrent build commits its catalog entry, builds, validates, then waits for every
    older snapshot to end; we cancel it there, as an impatient DBA would. PostgreSQL
    leaves the index ready (maintained on every write) but INVALID (never used).
    """
    with psycopg.connect(dsn) as report, psycopg.connect(dsn, autocommit=True) as watcher:
        report.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        db.execute(report, "demo_products_report")  # the long report's snapshot
        with psycopg.connect(dsn, autocommit=True) as builder:
            pid = builder.info.backend_pid
            failure: list[BaseException] = []

            def build() -> None:
                try:
                    db.execute(builder, "demo_products_concurrent_index")
                except BaseException as e:  # noqa: BLE001 - handed to the main thread
                    failure.append(e)

            thread = threading.Thread(target=build, name="demo-failed-build")
            thread.start()
            deadline = time.monotonic() + 300
            while thread.is_alive():
                row = db.row(watcher, "demo_build_phase", {"pid": pid})
                if row is not None and row["phase"] == "waiting for old snapshots":
                    db.execute(watcher, "demo_cancel_backend", {"pid": pid})
                    break
                if time.monotonic() > deadline:
                    db.execute(watcher, "demo_cancel_backend", {"pid": pid})
                    break
                time.sleep(0.02)
            thread.join()
        report.rollback()
    if not failure or not isinstance(failure[0], psycopg.errors.QueryCanceled):
        raise EmbeddedServerError(
            "the demo's cancelled concurrent build did not fail as expected: "
            f"{failure[0] if failure else 'it succeeded'}"
        )
    progress(
        '  CREATE INDEX CONCURRENTLY "Product Embeddings_cosine_idx" cancelled while '
        "waiting for an old snapshot: left INVALID, as in production"
    )


class _Builds:
    """Index builds on a connection and thread of their own, one after another, so the
    server builds while this process generates and loads the next table (the seed's two
    halves, numpy and the server, then run side by side instead of in turn)."""

    def __init__(self, dsn: str, step: Progress, tracker: sp.Tracker) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._tracker = tracker
        # This session only: build indexes the way a careful DBA would, without parallel
        # workers (two build sessions and the seed's own process keep the cores busy).
        db.execute(self._conn, "demo_build_memory")
        db.execute(self._conn, "demo_build_workers")
        self._step = step
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-index-builds", daemon=True)
        self._thread.start()

    def add(self, label: str, statement: str) -> None:
        """Queue the build ``core/sql/<statement>.sql``, announced as ``label`` once built."""
        self._tracker.queued(1)
        self._queue.put((label, statement))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failure is not None:
                continue  # drain: the first failure is the one reported
            label, statement = item
            started = time.monotonic()
            pid = self._conn.info.backend_pid
            self._tracker.build_started(pid, label)
            try:
                db.execute(self._conn, statement)
            except BaseException as e:  # noqa: BLE001 - handed to the seeding thread
                self._failure = e
                continue
            finally:
                self._tracker.build_done(pid)
            self._step(f"{label} built in {time.monotonic() - started:.1f}s")

    def wait(self) -> None:
        """Wait for every queued build; re-raise the first failure."""
        self._queue.put(None)
        self._thread.join()
        self._conn.close()
        if self._failure is not None:
            raise self._failure

    def abandon(self) -> None:
        """On a failure elsewhere: cancel the running build and stop."""
        with contextlib.suppress(psycopg.Error):
            self._conn.cancel_safe()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._conn.close()


def seed(
    dsn: str,
    rows: int = DEFAULT_ROWS,
    progress: Progress = print,
    *,
    on_progress: sp.OnProgress | None = None,
    report_s: float = sp.REPORT_S,
) -> None:
    """Create and fill the demo tables in the (empty) database at ``dsn``.

    Args:
        dsn: Connection string of a fresh database (a superuser, as on the embedded server).
        rows: doc_chunks rows; the other tables scale from it.
        progress: Called with one line per step.
        on_progress: Called (from this thread and the build sessions' threads, one call at
            a time) with a :class:`~core.demo.progress.SeedProgress` at each change of
            phase and, in between, at most every ``report_s`` seconds.
        report_s: See ``on_progress`` (0: every 500 rows and every look at the builds).
    """
    sizes = DemoSizes.scaled(rows)
    started = time.monotonic()
    tracker = sp.Tracker(on_progress, report_s, started)

    def step(msg: str) -> None:
        progress(f"[{time.monotonic() - started:5.1f}s] {msg}")

    watcher = sp.BuildWatcher(dsn, tracker)
    if tracker.active:
        watcher.start()
    try:
        _seed(dsn, sizes, step, tracker)
    finally:
        if watcher.is_alive():
            watcher.stop()
    tracker.phase(sp.DONE)
    step("demo database ready")


def _seed(dsn: str, sizes: DemoSizes, step: Progress, tracker: sp.Tracker) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        db.execute(conn, "demo_vector_extension")
        # Two build sessions: messages' HNSW graph (the longest build) on one, the others
        # on the second, so neither waits for the other.
        builds = (_Builds(dsn, step, tracker), _Builds(dsn, step, tracker))
        try:
            _load(conn, dsn, sizes, builds, step, tracker)
            tracker.phase(sp.WAITING)
            for b in builds:
                b.wait()
        except BaseException:
            for b in builds:
                b.abandon()
            raise
        # VACUUM as well: it writes each table's free-space and visibility maps now, so
        # sizes do not change later when autovacuum gets to the freshly loaded tables.
        step("VACUUM (ANALYZE)")
        tracker.phase(sp.VACUUM)
        db.execute(conn, "demo_vacuum_analyze")


def _load(
    conn: psycopg.Connection[TupleRow],
    dsn: str,
    sizes: DemoSizes,
    sessions: tuple[_Builds, _Builds],
    step: Progress,
    tracker: sp.Tracker,
) -> None:
    """Create and fill the tables; their vector indexes are built by ``sessions``."""
    long_builds, builds = sessions
    # The contrib modules the Live mode and the plan doctor read, where the server
    # ships them; pg_stat_statements only where it is preloaded (the embedded server
    # does), since its view fails everywhere else.
    for available in db.rows(conn, "demo_contrib_available", {"names": list(CONTRIB)}):
        db.execute(conn, "demo_create_extension", extension=sql.Identifier(available["name"]))
    installed = db.row(conn, "demo_vector_version")
    version = str(installed["extversion"]) if installed else ""
    register_vector(conn)

    # messages first: its HNSW build is the longest, and starts as soon as it is loaded.
    step(f"messages: {sizes.messages:,} rows, 40 tenants, HNSW on vector_l2_ops (app queries <=>)")
    tracker.table("messages", sp.GENERATING, sizes.messages)
    db.execute(conn, "demo_messages_table")
    vecs, topics = _vectors(sizes.messages, 2)
    rng = _rng(2)
    texts = _texts(topics, rng)
    conv = rng.integers(1, max(2, sizes.messages // 12), size=sizes.messages)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    offsets = np.sort(rng.integers(0, 300 * 86400, size=sizes.messages))
    # Drawn last, so the other columns are those of earlier demos. No B-tree on it: the
    # tenant-scoped search is served by the HNSW index and filtered afterwards.
    tenants = _tenants(sizes.messages, rng)
    _copy(
        conn,
        sql.Identifier("public", "messages"),
        ["id", "conversation_id", "tenant_id", "role", "body", "created_at", "embedding"],
        ["int8", "int8", "text", "text", "text", "timestamptz", "vector"],
        [
            (
                i + 1,
                int(conv[i]),
                tenants[i],
                "user" if i % 2 == 0 else "assistant",
                texts[i],
                base + timedelta(seconds=int(offsets[i])),
                vecs[i],
            )
            for i in range(sizes.messages)
        ],
        tracker,
        "messages",
    )
    long_builds.add("messages: HNSW index (vector_l2_ops)", "demo_messages_index")

    step(f"doc_chunks: {sizes.doc_chunks:,} clustered 384-d embeddings")
    tracker.table("doc_chunks", sp.GENERATING, sizes.doc_chunks)
    db.execute(conn, "demo_doc_chunks_table")
    vecs, topics = _vectors(sizes.doc_chunks, 1)
    rng = _rng(1)
    tenants = _tenants(sizes.doc_chunks, rng)
    texts = _texts(topics, rng)
    _copy(
        conn,
        sql.Identifier("public", "doc_chunks"),
        ["id", "tenant_id", "text", "embedding"],
        ["int8", "text", "text", "vector"],
        [(i + 1, tenants[i], texts[i], vecs[i]) for i in range(sizes.doc_chunks)],
        tracker,
        "doc_chunks",
    )
    db.execute(conn, "demo_doc_chunks_tenant_index")
    builds.add(
        "doc_chunks: IVFFlat index (lists = 100, vector_cosine_ops)", "demo_doc_chunks_index"
    )

    step(f"articles: {sizes.articles:,} rows, no vector index")
    tracker.table("articles", sp.GENERATING, sizes.articles)
    db.execute(conn, "demo_articles_table")
    vecs, topics = _vectors(sizes.articles, 3)
    texts = _texts(topics, _rng(3))
    _copy(
        conn,
        sql.Identifier("public", "articles"),
        ["id", "uri", "title", "embedding"],
        ["int8", "text", "text", "vector"],
        [
            (i + 1, f"https://news.example/a/{i + 1}", texts[i], vecs[i])
            for i in range(sizes.articles)
        ],
        tracker,
        "articles",
    )

    _load_events(conn, sizes.events, builds, step, tracker)

    step(f"atoms: {sizes.atoms} rows with an HNSW index (a Seq Scan is right here)")
    tracker.table("atoms", sp.GENERATING, sizes.atoms)
    db.execute(conn, "demo_atoms_table")
    vecs, topics = _vectors(sizes.atoms, 4)
    texts = _texts(topics, _rng(4))
    _copy(
        conn,
        sql.Identifier("public", "atoms"),
        ["id", "title", "embedding"],
        ["int8", "text", "vector"],
        [(i + 1, texts[i], vecs[i]) for i in range(sizes.atoms)],
        tracker,
        "atoms",
    )
    builds.add("atoms: HNSW index (vector_cosine_ops)", "demo_atoms_index")

    step(f'search."Product Embeddings": {sizes.products:,} rows, names that need quoting')
    tracker.table(PRODUCTS, sp.GENERATING, sizes.products)
    db.execute(conn, "demo_search_schema")
    db.execute(conn, "demo_products_table")
    vecs, _ = _vectors(sizes.products, 5)
    _copy(
        conn,
        sql.Identifier("search", "Product Embeddings"),
        ["Product ID", "SKU", "Embedding"],
        ["int8", "text", "vector"],
        [(i + 1, f"SKU-{i + 1:06d}", vecs[i]) for i in range(sizes.products)],
        tracker,
        PRODUCTS,
    )
    # Now, while the background builds work on other tables (they would hold it up).
    step('search."Product Embeddings": a concurrent build that fails for real')
    tracker.table(PRODUCTS, "a concurrent build that fails for real", sizes.products)
    _fail_concurrent_build(dsn, step)
    builds.add('search."Product Embeddings": HNSW index (vector_ip_ops)', "demo_products_index")
    if has_feature(version, "halfvec"):
        # pgvector 0.7+: half-precision indexing of a full-precision column, an
        # expression index that queries must repeat exactly to use.
        builds.add(
            'search."Product Embeddings": halfvec expression index', "demo_products_half_index"
        )


#: The demo's event partitions: one a month.
EVENT_MONTHS = ("2026_01", "2026_02", "2026_03", "2026_04")
_KINDS = ("search", "view", "click", "purchase", "support")


def _load_events(
    conn: psycopg.Connection[TupleRow], n: int, builds: _Builds, step: Progress, tracker: sp.Tracker
) -> None:
    """``public.events``: ``n`` rows over four monthly partitions (ids 1..n in time
    order), with an IVFFlat index on the partitioned table."""
    step(f"events: {n:,} rows in {len(EVENT_MONTHS)} monthly partitions, IVFFlat on the parent")
    tracker.table("events", sp.GENERATING, n)
    db.execute(conn, "demo_events_table")
    per = -(-n // len(EVENT_MONTHS))
    for m, month in enumerate(EVENT_MONTHS):
        last = m == len(EVENT_MONTHS) - 1
        db.execute(
            conn,
            "demo_events_partition",
            partition=sql.Identifier("public", f"events_{month}"),
            lo=sql.Literal(1 + m * per),
            hi=sql.SQL("MAXVALUE") if last else sql.Literal(1 + (m + 1) * per),
        )
    vecs, topics = _vectors(n, 6)
    rng = _rng(6)
    tenants = _tenants(n, rng)
    texts = _texts(topics, rng)
    kinds = rng.integers(0, len(_KINDS), size=n)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    # About 30 days a partition, in id order.
    seconds = np.sort(rng.integers(0, 120 * 86400, size=n))
    _copy(
        conn,
        sql.Identifier("public", "events"),
        ["id", "tenant_id", "kind", "created_at", "body", "embedding"],
        ["int8", "text", "text", "timestamptz", "text", "vector"],
        [
            (
                i + 1,
                tenants[i],
                _KINDS[int(kinds[i])],
                base + timedelta(seconds=int(seconds[i])),
                texts[i],
                vecs[i],
            )
            for i in range(n)
        ],
        tracker,
        "events",
    )
    builds.add("events: IVFFlat index on the partitioned table (lists = 20)", "demo_events_index")
