"""Vector queries running now and the costliest ones (pg_stat_statements); enter picks one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from vecscope.core.catalog.activity import LiveQueries
from vecscope.core.doctor.plan import shorten_vectors


def _one_line(sql: str, width: int = 90) -> str:
    text = " ".join(shorten_vectors(sql).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class LiveQueriesPanel(Vertical):
    """Two tables: running now (pg_stat_activity) and top by total time."""

    class QueryPicked(Message):
        def __init__(self, sql: str) -> None:
            super().__init__()
            self.sql = sql

    def compose(self) -> ComposeResult:
        yield Static("Running now (pg_stat_activity)", classes="panel-title")
        yield DataTable(id="live-running", cursor_type="row", zebra_stripes=True)
        yield Static("Top vector queries (pg_stat_statements)", classes="panel-title")
        yield Static("", id="live-statements-status")
        yield DataTable(id="live-top", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        running = self.query_one("#live-running", DataTable)
        running.add_columns("pid", "seconds", "state", "waits on", "query")
        top = self.query_one("#live-top", DataTable)
        top.add_columns("calls", "total ms", "mean ms", "rows", "query")
        self._texts: dict[str, str] = {}

    def show(self, live: LiveQueries) -> None:
        running = self.query_one("#live-running", DataTable)
        running.clear()
        self._texts = {}
        for q in live.running:
            key = f"run:{q.pid}"
            self._texts[key] = q.query
            wait = f"{q.wait_event_type}:{q.wait_event}" if q.wait_event else ""
            running.add_row(
                Text(str(q.pid)),
                Text(f"{q.duration_s:,.1f}" if q.duration_s is not None else "", justify="right"),
                Text(q.state or ""),
                Text(wait),
                Text(_one_line(q.query)),
                key=key,
            )
        if not live.running:
            hidden = "" if live.sees_all else " (other roles' queries are hidden: grant "
            hidden += "" if live.sees_all else "pg_read_all_stats to see them)"
            running.add_row(
                Text(""),
                Text(""),
                Text(""),
                Text(""),
                Text(f"no vector query running now{hidden}"),
                key="run:none",
            )
        status = self.query_one("#live-statements-status", Static)
        status.update(live.statements_missing or "")
        status.display = live.statements_missing is not None
        top = self.query_one("#live-top", DataTable)
        top.clear()
        top.display = live.statements_missing is None
        for n, s in enumerate(live.top):
            key = f"top:{n}"
            self._texts[key] = s.query
            top.add_row(
                Text(f"{s.calls:,}", justify="right"),
                Text(f"{s.total_ms:,.1f}", justify="right"),
                Text(f"{s.mean_ms:,.2f}", justify="right"),
                Text(f"{s.rows:,}", justify="right"),
                Text(_one_line(s.query)),
                key=key,
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        sql = self._texts.get(str(event.row_key.value))
        if sql:
            self.post_message(self.QueryPicked(sql))
