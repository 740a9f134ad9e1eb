"""The demo application's own traffic, for the Live mode to watch.

A few client sessions run the searches a small RAG application would run on the demo
database, with think time between them: document search on ``doc_chunks`` (IVFFlat),
"similar messages" on ``messages`` (cosine distance against an l2 index: sequential
scans), a tenant-scoped message search (``WHERE tenant_id = $1 ORDER BY embedding <-> $2
LIMIT 10``, a tenant picked uniformly, so mostly small ones: the HNSW index serves it and
the filter is applied to its ``hnsw.ef_search`` candidates afterwards, so small tenants get
fewer than 10 rows, the filtered-search trap), product search on
``search."Product Embeddings"`` and a lookup on ``atoms``.

Halfway through, the application "deploys" a change, as happens on a real night: product
search switches from inner product to cosine distance, so its HNSW index (built for
``vector_ip_ops``) stops serving it and the table is scanned sequentially instead (the
Live mode flags the index), and the deploy sets ``ivfflat.probes = 10`` for the database
(the settings watch sees it). That setting is the workload's one write; it is announced
before it is made and reset when the workload ends.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import BadInputError, ConnectError, first_line

Progress = Callable[[str], None]

#: The application's searches: ``core/sql/<name>.sql``, each given ``%(vector)s``.
DOCS = "demo_app_docs"
MESSAGES = "demo_app_messages"
#: Also given ``%(tenant)s``.
TENANT_MESSAGES = "demo_app_messages_tenant"
ATOMS = "demo_app_atoms"
PRODUCTS_BEFORE = "demo_app_products_before"
PRODUCTS_AFTER = "demo_app_products_after"


def _shown(statement: sql.Composed) -> str:
    """A statement as the user reads it."""
    return statement.as_string(None).strip()


@dataclass
class WorkloadStats:
    queries: int = 0
    errors: int = 0
    deployed: bool = False


class DemoWorkload:
    """Runs the demo traffic on ``clients`` threads until :meth:`stop` or ``duration_s``.

    Args:
        conninfo: The demo database.
        clients: Sessions running queries (each waits ``think_s`` between queries).
        switch_after_s: When the "deploy" happens (``None``: never).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        clients: int = 3,
        switch_after_s: float | None = 60.0,
        think_s: float = 0.05,
        progress: Progress = print,
    ) -> None:
        self.conninfo = conninfo
        self.clients = clients
        self.switch_after_s = switch_after_s
        self.think_s = think_s
        self.progress = progress
        self.stats = WorkloadStats()
        self._stop = threading.Event()
        self._deployed = threading.Event()
        self._vectors: dict[str, list[str]] = {}
        self._tenants: list[str] = []
        self._database = ""

    def _load_vectors(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                self._database = str(conn.info.dbname)
                for name, table, column in (
                    ("docs", ("public", "doc_chunks"), "embedding"),
                    ("messages", ("public", "messages"), "embedding"),
                    ("atoms", ("public", "atoms"), "embedding"),
                    ("products", ("search", "Product Embeddings"), "Embedding"),
                ):
                    rows = db.rows(
                        conn,
                        "demo_app_sample",
                        column=sql.Identifier(column),
                        table=sql.Identifier(*table),
                    )
                    # The cast keeps the column's name.
                    self._vectors[name] = [r[column] for r in rows]
                self._load_tenants(conn)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as e:
            raise BadInputError(
                f"the demo workload cannot start: {first_line(e)}: it runs on the demo "
                "database (vecscope demo up seeds one and prints its DSN)"
            ) from e
        except psycopg.Error as e:
            raise ConnectError(f"the demo workload cannot start: {first_line(e)}") from e

    def _load_tenants(self, conn: psycopg.Connection[TupleRow]) -> None:
        try:
            self._tenants = [str(r["tenant_id"]) for r in db.rows(conn, "demo_app_tenants")]
        except psycopg.errors.UndefinedColumn:
            # A demo seeded by an older vecscope: its messages have no tenants.
            self.progress(
                "messages has no tenant_id (a demo seeded by an older vecscope): the "
                "tenant-scoped search is left out; vecscope demo up --reset adds it"
            )

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, application_name="demo-app")
        except psycopg.Error:
            self.stats.errors += 1
            return
        queries = {
            name: db.statement(name)
            for name in (DOCS, MESSAGES, TENANT_MESSAGES, ATOMS, PRODUCTS_BEFORE, PRODUCTS_AFTER)
        }
        with conn:
            while not self._stop.is_set():
                pick = rng.random()
                params: dict[str, str] = {}
                if pick < 0.45:
                    query, vectors = DOCS, self._vectors["docs"]
                elif pick < 0.6:
                    query, vectors = MESSAGES, self._vectors["messages"]
                elif pick < 0.7 and self._tenants:
                    # Fewer calls than the <=> search: that stays the operator the doctor
                    # reads as the application's on messages.embedding.
                    query, vectors = TENANT_MESSAGES, self._vectors["messages"]
                    params["tenant"] = rng.choice(self._tenants)
                elif pick < 0.75:
                    query, vectors = ATOMS, self._vectors["atoms"]
                else:
                    after = self._deployed.is_set()
                    query = PRODUCTS_AFTER if after else PRODUCTS_BEFORE
                    vectors = self._vectors["products"]
                params["vector"] = rng.choice(vectors)
                try:
                    conn.execute(queries[query], params).fetchall()
                    self.stats.queries += 1
                except psycopg.Error:
                    self.stats.errors += 1
                    if conn.broken:
                        return
                self._stop.wait(self.think_s * rng.uniform(0.5, 1.5))

    def _deploy(self) -> None:
        statement = db.statement("demo_deploy_probes", database=sql.Identifier(self._database))
        self.progress(
            "deploy: product search now orders by cosine distance (<=>), and "
            f"{_shown(statement)} (reset when the workload ends)"
        )
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute(statement)
        except psycopg.Error as e:
            self.progress(f"deploy: could not set ivfflat.probes ({first_line(e)}); going on")
        self._deployed.set()
        self.stats.deployed = True

    def _undeploy(self) -> None:
        if not self.stats.deployed:
            return
        statement = db.statement("demo_undeploy_probes", database=sql.Identifier(self._database))
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute(statement)
            self.progress(f"{_shown(statement)}: the deploy's setting is undone")
        except psycopg.Error as e:
            self.progress(f"could not undo the deploy's setting: {first_line(e)}")

    def run(self, duration_s: float | None = None) -> WorkloadStats:
        """Run until :meth:`stop` is called or ``duration_s`` passes."""
        self._load_vectors()
        threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True, name=f"demo-app-{i}")
            for i in range(self.clients)
        ]
        for t in threads:
            t.start()
        self.progress(f"demo workload: {self.clients} sessions (application_name demo-app)")
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                if duration_s is not None and elapsed >= duration_s:
                    break
                if (
                    self.switch_after_s is not None
                    and not self._deployed.is_set()
                    and elapsed >= self.switch_after_s
                ):
                    self._deploy()
                self._stop.wait(0.2)
        finally:
            self._stop.set()
            for t in threads:
                t.join(timeout=10)
            self._undeploy()
        return self.stats

    def stop(self) -> None:
        self._stop.set()
