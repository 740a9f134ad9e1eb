"""The Indexes screen driven with Pilot on the real demo database."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import psycopg
import pytest
from textual.widgets import DataTable, Input, Static

from tests.conftest import Database
from tests.tui.helpers import screen_text, wait_loaded, wait_until
from vecscope.core.connection import ConnectionTarget
from vecscope.core.demo.seed import EVENT_MONTHS
from vecscope.core.embedded import EmbeddedServer
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.connection_error import ConnectionErrorScreen
from vecscope.tui.screens.help import HelpScreen
from vecscope.tui.screens.indexes import IndexesScreen
from vecscope.tui.widgets.inventory_table import InventoryTable

SIZE = (170, 42)


def _rows(app: VecscopeApp) -> dict[str, dict[str, str]]:
    """Each shown row's cells by column key, those the width hides included."""
    table = app.screen.query_one(InventoryTable)
    return {str(row_key.value): table.cells(str(row_key.value)) for row_key in table.rows}


def _detail(app: VecscopeApp) -> str:
    return str(app.screen.query_one("#detail-body", Static).render())


async def test_inventory_rows_and_marks(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        rows = _rows(app)
        assert set(k for k in rows if k.startswith("col:")) == {
            "col:public.articles.embedding",
            "col:public.atoms.embedding",
            "col:public.doc_chunks.embedding",
            "col:public.events.embedding",
            *(f"col:public.events_{month}.embedding" for month in EVENT_MONTHS),
            "col:public.messages.embedding",
            "col:search.Product Embeddings.Embedding",
        }
        assert rows["col:public.articles.embedding"]["mark"] == "▲"
        assert rows["col:public.articles.embedding"]["state"] == "no index"
        invalid = rows["ix:search.Product Embeddings_cosine_idx"]
        assert invalid["mark"] == "✗" and invalid["state"] == "INVALID"
        ivf = rows["ix:public.idx_doc_chunks_embedding"]
        assert ivf["state"] == "valid"
        assert (ivf["type"], ivf["opclass"], ivf["op"]) == ("ivfflat", "vector_cosine_ops", "<=>")
        assert "lists=100" in ivf["params"]
        # Header: the connection, never a password, and the versions.
        assert "postgres@local socket:5432/" in app.sub_title
        assert "pgvector" in app.sub_title
        bar = str(app.screen.query_one("#server-bar", Static).render())
        assert "hnsw.ef_search 40" in bar and "maintenance_work_mem" in bar


async def test_selecting_a_row_shows_details(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        table = app.screen.query_one(InventoryTable)
        table.focus()
        target = table.get_row_index("ix:search.Product Embeddings_cosine_idx")
        for _ in range(target):
            await pilot.press("down")
        await pilot.pause()
        text = _detail(app)
        assert "INVALID" in text
        assert 'DROP INDEX CONCURRENTLY IF EXISTS "search"."Product Embeddings_cosine_idx"' in text
        assert "CREATE INDEX" in text  # the definition
        await pilot.press("up")
        await pilot.pause()
        assert "Product Embeddings" in _detail(app) and "usable" in _detail(app)


async def test_filter_and_problems_only(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"atoms")
        await pilot.pause()
        assert set(_rows(app)) == {
            "col:public.atoms.embedding",
            "ix:public.idx_atoms_embedding_hnsw",
        }
        await pilot.press("escape")
        await pilot.pause()
        assert len(_rows(app)) > 5
        await pilot.press("f")
        await pilot.pause()
        cols = {k for k in _rows(app) if k.startswith("col:")}
        assert cols == {"col:public.articles.embedding", "col:search.Product Embeddings.Embedding"}
        await pilot.press("f")
        await pilot.pause()
        # Every column again: the five tables, the partitioned one and its four partitions.
        assert len([k for k in _rows(app) if k.startswith("col:")]) == 10


async def test_refresh_sees_new_index(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        with demo_db.connect() as conn:
            conn.execute(
                "CREATE INDEX articles_tmp_idx ON public.articles "
                "USING hnsw (embedding vector_cosine_ops)"
            )
        try:
            await pilot.press("r")
            await wait_until(pilot, lambda: "ix:public.articles_tmp_idx" in _rows(app))
            assert _rows(app)["col:public.articles.embedding"]["state"] == "1/1 usable"
        finally:
            with demo_db.connect() as conn:
                conn.execute("DROP INDEX public.articles_tmp_idx")


async def test_help_lists_the_keys(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        actions = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"Refresh", "Filter", "Problems only", "Copy SQL", "Help", "Quit"} <= actions
        assert {"Explain a KNN query", "Latency lab"} <= actions
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, IndexesScreen)
        screen = app.screen
        titles = [c.title for c in app.get_system_commands(screen)]
        assert {"Reconnect", "Refresh inventory", "Problems only"} <= set(titles)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_server_then_reconnect(demo_db: Database) -> None:
    secret = "Pa55-never-shown"
    bad = ConnectionTarget(dsn=f"postgresql://bob:{secret}@127.0.0.1:{_closed_port()}/x")
    app = VecscopeApp(bad)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionErrorScreen))
        await pilot.pause()
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "Connection refused" in message
        assert secret not in screen_text(app)
        # Retry the same target: still failing, still on this screen (r is the retry key,
        # not typed into the DSN box).
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ConnectionErrorScreen)
        assert app.screen.query_one("#error-dsn", Input).value == ""
        # Give a working DSN: the Indexes screen comes back with data.
        await pilot.press("e")
        box = app.screen.query_one("#error-dsn", Input)
        assert app.focused is box
        box.value = demo_db.dsn
        await pilot.press("enter")
        await wait_loaded(pilot)
        assert "col:public.doc_chunks.embedding" in _rows(app)
        assert secret not in screen_text(app)


async def test_database_without_pgvector(pg: EmbeddedServer) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS t_tui_no_vector")
        admin.execute("CREATE DATABASE t_tui_no_vector")
    app = VecscopeApp(ConnectionTarget(dsn=pg.conninfo("t_tui_no_vector")))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionErrorScreen))
        await pilot.pause()
        assert str(app.screen.query_one("#error-title", Static).render()) == (
            "pgvector is not installed"
        )
        assert "CREATE EXTENSION vector" in str(
            app.screen.query_one("#error-message", Static).render()
        )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield int(srv.getsockname()[1])
    srv.close()


async def test_ui_stays_responsive_while_server_hangs(silent_port: int) -> None:
    target = ConnectionTarget(
        dsn=f"host=127.0.0.1 port={silent_port} user=x dbname=y connect_timeout=3"
    )
    app = VecscopeApp(target)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        # The connection attempt is stuck on a thread; keys still work at once.
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionErrorScreen), 15)
        await pilot.pause()  # let the error screen finish mounting before the test ends
        assert "timeout" in str(app.screen.query_one("#error-message", Static).render())


async def test_limited_role_is_marked_not_hidden(demo_db: Database) -> None:
    from psycopg import sql

    from tests.conftest import LIMITED_ROLE

    with demo_db.connect() as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(demo_db.name), sql.Identifier(LIMITED_ROLE)
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON public.atoms TO {}").format(sql.Identifier(LIMITED_ROLE))
        )
    target = ConnectionTarget(dsn=demo_db.dsn, user=LIMITED_ROLE)
    app = VecscopeApp(target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        rows = _rows(app)
        assert rows["col:public.messages.embedding"]["state"] == "no SELECT"
        assert rows["col:public.atoms.embedding"]["state"] == "1/1 usable"
        assert f"{LIMITED_ROLE}@local socket" in app.sub_title


async def test_navigation_and_palette_commands_are_the_screens_own(demo_db: Database) -> None:
    """`e` on a row opens the doctor on it (a message the app handles); the palette lists
    the current screen's own commands, not another screen's."""
    from vecscope.tui.screens.explain import ExplainScreen
    from vecscope.tui.screens.live import LiveScreen

    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Refresh inventory", "Problems only"} <= titles
        assert not any(t.startswith("Live:") for t in titles)
        # One list of keys: vecscope's Help, not also Textual's "Keys" panel.
        assert "Help: keys" in titles and "Keys" not in titles
        table = app.screen.query_one(InventoryTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("ix:public.idx_messages_embedding_hnsw"))
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen))
        editor = app.screen.query_one("#editor")
        await wait_until(pilot, lambda: "messages" in str(getattr(editor, "text", "")))
        await app.switch_mode("live")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen))
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Live: record or stop recording" in titles and "Refresh inventory" not in titles
