"""The Explain mode: a SQL editor, the plan as a tree, the doctor's verdict and findings.

Laid out for 80x24 first: the editor, the verdict, then the plan over the findings; the
side panel (Detail, Raw plan, Live, History) replaces them on demand and ``esc`` brings
them back. From 100 columns the side panel stands beside them, and from 34 rows the
editor grows. Every run is numbered: starting one clears what the last one showed, and
a late answer of an older run is dropped, so nothing on screen belongs to another query.
"""

from __future__ import annotations

import json
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
    Tree,
)
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from vecscope.core.catalog.activity import LiveQueries, fetch_live_queries
from vecscope.core.doctor.diagnose import Diagnosis, fix_to_try
from vecscope.core.doctor.doctor import PlanDoctor
from vecscope.core.doctor.history import load_history, remember
from vecscope.core.doctor.plan import plan_text, shorten_vectors
from vecscope.core.errors import ConnectError, ExtensionMissingError, VecscopeError
from vecscope.core.sqltext import display_ident
from vecscope.tui.context import session_of
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.widgets.findings_list import FindingsList
from vecscope.tui.widgets.live_queries import LiveQueriesPanel
from vecscope.tui.widgets.plan_tree import PlanTree, node_detail

PLACEHOLDER = (
    "-- A query to explain, e.g.\n"
    "-- SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10\n"
    "-- F5 explain · F6 explain analyze (reads only, rolled back) · ? all keys"
)
DETAIL_HINT = "Highlight a plan node or a finding to see its figures here."


class ExplainScreen(VecscopeScreen):
    """Explain a query; the verdict says whether a vector index serves it and why not."""

    CSS_PATH = "../styles/explain.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    # The footer shows F5-F9 and Help (80 columns hold no more); Help lists them all.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "explain", "Explain", priority=True),
        Binding("f6", "explain_analyze", "Analyze", priority=True),
        Binding("f7", "try_fix", "Try the fix", priority=True),
        Binding("f8", "raw_plan", "Raw", priority=True),
        Binding("f9", "live_queries", "Live", priority=True),
        Binding("ctrl+r", "history", "History of queries", priority=True, show=False),
        Binding("f12", "cancel", "Cancel the EXPLAIN", priority=True, show=False),
        Binding("escape", "back", "Leave the editor / back to the plan", show=False),
    ]

    class QueryWritten(Message):
        """A query was written for a column (the operator and why, in ``reason``)."""

        def __init__(self, run: int, sql: str, reason: str) -> None:
            super().__init__()
            self.run = run
            self.sql = sql
            self.reason = reason

    class Explained(Message):
        def __init__(self, run: int, diagnosis: Diagnosis, tried: bool) -> None:
            super().__init__()
            self.run = run
            self.diagnosis = diagnosis
            self.tried = tried

    class ExplainFailed(Message):
        def __init__(self, run: int, message: str) -> None:
            super().__init__()
            self.run = run
            self.message = message

    class LiveLoaded(Message):
        def __init__(self, live: LiveQueries) -> None:
            super().__init__()
            self.live = live

    def __init__(self) -> None:
        super().__init__()
        self.diagnosis: Diagnosis | None = None
        self.raw_json = False
        self._plan_doctor: PlanDoctor | None = None
        #: The number of the latest run; answers of older runs are dropped.
        self._run = 0
        #: A note on the query for the verdict (e.g. where a written query's operator is from).
        self._query_note: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="explain-main"):
            with Vertical(id="explain-left"):
                yield TextArea.code_editor(
                    "",
                    language="sql",
                    id="editor",
                    soft_wrap=True,
                    theme="css",
                    placeholder=PLACEHOLDER,
                    show_line_numbers=False,
                )
                yield Static("Type or paste a query and press F5.", id="verdict")
                with Vertical(id="explain-results"):
                    yield PlanTree(id="plan")
                    yield FindingsList(id="findings")
            with TabbedContent(id="explain-side"):
                with TabPane("Detail", id="tab-detail"), VerticalScroll(id="detail-scroll"):
                    yield Static(DETAIL_HINT, id="node-detail")
                with TabPane("Raw plan", id="tab-raw"):
                    yield TextArea("", id="raw", read_only=True, soft_wrap=False)
                with TabPane("Live", id="tab-live"):
                    yield LiveQueriesPanel(id="live")
                with TabPane("History", id="tab-history"):
                    yield OptionList(id="history")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(PlanTree).border_title = "Plan"
        self.query_one(FindingsList).border_title = "Findings"
        self.query_one("#explain-side").border_subtitle = "esc: back"
        self._show_history()
        self.query_one("#editor", TextArea).focus()
        self.load_live()

    # --- explaining ------------------------------------------------------------------

    def load_query(self, sql: str, *, run: bool = True) -> None:
        """Put ``sql`` in the editor (and explain it)."""
        self.query_one("#editor", TextArea).load_text(sql)
        if run:
            self.action_explain()

    def explain_column(self, schema: str, table: str, column: str) -> None:
        """Write a nearest-neighbour query for a column, with the operator the
        application uses on it, and explain it."""
        self.query_one("#editor", TextArea).load_text("")
        where = display_ident(schema, table, column)
        run = self._begin(f"Writing a nearest-neighbour query for {where}…")
        self.run_column(run, schema, table, column)

    def action_explain(self) -> None:
        self._start(analyze=False)

    def action_explain_analyze(self) -> None:
        self._start(analyze=True)

    def _start(self, *, analyze: bool) -> None:
        sql = self.query_one("#editor", TextArea).text
        if not sql.strip():
            self._verdict(Content.styled("Nothing to explain: type a query first.", "$warning"))
            return
        run = self._begin(
            "Running EXPLAIN ANALYZE (read only, rolled back)…" if analyze else "Running EXPLAIN…"
        )
        self.run_explain(run, sql, analyze)

    def _begin(self, doing: str) -> int:
        """Number a new run and clear everything the last one showed."""
        self._run += 1
        self._query_note = None
        self.diagnosis = None
        self.query_one(PlanTree).clear_plan()
        self.query_one(FindingsList).clear_findings()
        self.query_one("#node-detail", Static).update(DETAIL_HINT)
        self.query_one("#raw", TextArea).load_text("")
        self._verdict(Content.styled(doing, "$text-muted"))
        self._side(False)
        return self._run

    def _doctor(self) -> PlanDoctor:
        target = session_of(self.app).target
        if self._plan_doctor is None:
            self._plan_doctor = PlanDoctor(target)
        else:
            self._plan_doctor.retarget(target)
        return self._plan_doctor

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="explain",
        description="Explaining the query",
    )
    def run_explain(self, run: int, sql: str, analyze: bool) -> None:
        try:
            diagnosis = self._doctor().examine(sql, analyze=analyze).diagnosis
        except (ConnectError, ExtensionMissingError):
            raise
        except VecscopeError as e:
            if not get_current_worker().is_cancelled:
                self.post_message(self.ExplainFailed(run, e.message))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Explained(run, diagnosis, tried=False))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="explain",
        description="Writing and explaining a query for a column",
    )
    def run_column(self, run: int, schema: str, table: str, column: str) -> None:
        doctor = self._doctor()
        try:
            written = doctor.column_query(schema, table, column)
            if get_current_worker().is_cancelled:
                return
            self.post_message(self.QueryWritten(run, written.sql, written.reason))
            diagnosis = doctor.examine(written.sql).diagnosis
        except (ConnectError, ExtensionMissingError):
            raise
        except VecscopeError as e:
            if not get_current_worker().is_cancelled:
                self.post_message(self.ExplainFailed(run, e.message))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Explained(run, diagnosis, tried=False))

    def action_try_fix(self) -> None:
        before = self.diagnosis
        if before is None or fix_to_try(before) is None:
            self.notify(
                "No finding offers a fix to try (a rewritten query or a setting)", timeout=3
            )
            return
        run = self._begin("Trying the fix…")
        self.run_try_fix(run, before)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="explain",
        description="Trying the fix",
    )
    def run_try_fix(self, run: int, diagnosis: Diagnosis) -> None:
        try:
            fixed = self._doctor().try_fix(diagnosis)
        except (ConnectError, ExtensionMissingError):
            raise
        except VecscopeError as e:
            if not get_current_worker().is_cancelled:
                self.post_message(self.ExplainFailed(run, e.message))
            return
        if fixed is not None and not get_current_worker().is_cancelled:
            self.post_message(self.Explained(run, fixed, tried=True))

    def action_cancel(self) -> None:
        if self._plan_doctor is not None:
            self._plan_doctor.cancel()
        self.workers.cancel_group(self, "explain")
        self._run += 1  # whatever the cancelled run still sends is dropped
        self._verdict(Content.styled("Cancelled.", "$warning"))

    @on(QueryWritten)
    def query_written(self, event: QueryWritten) -> None:
        if event.run == self._run:
            self._query_note = event.reason
            self.query_one("#editor", TextArea).load_text(event.sql)

    @on(Explained)
    def explained(self, event: Explained) -> None:
        if event.run != self._run:
            return
        d = event.diagnosis
        self.diagnosis = d
        if event.tried and d.tried is not None:
            if d.tried.rewritten_sql:
                self.query_one("#editor", TextArea).load_text(d.result.original_sql)
            how = ", ".join(f"{k} = {v}" for k, v in d.result.tried_settings)
            self.notify(
                (f"{d.tried.rule} resolved" if d.fix_worked else f"still {d.tried.rule}")
                + (
                    " · served by a vector index"
                    if d.knn_served and d.sites
                    else " · not served by a vector index"
                ),
                timeout=6,
                title=f"Tried the fix (with {how}, this run only)" if how else "Tried the fix",
            )
        remember(d.result.original_sql)
        self._show_history()
        self._verdict(self._verdict_content(d))
        tree = self.query_one(PlanTree)
        tree.show(d)
        self.query_one(FindingsList).show(d)
        self._show_raw()
        first = d.findings[0].node_id if d.findings else (d.sites[0].node_id if d.sites else 0)
        tree.select_plan_node(first)
        # The cursor may not move (the same line as before): the detail is set here.
        self._show_detail(first)

    @on(ExplainFailed)
    def explain_failed(self, event: ExplainFailed) -> None:
        if event.run != self._run:
            return
        self._verdict(Content.assemble(("✗ ", "$error bold"), (event.message, "$error")))

    def _verdict_content(self, d: Diagnosis) -> Content:
        if d.has_error:
            mark, style = "✗ ", "$error bold"
        elif d.sites and d.knn_served:
            mark, style = "✓ ", "$success bold"
        else:
            mark, style = "• ", "$primary bold"
        notes = (self._query_note, *d.result.notes)
        return Content.assemble(
            (mark, style),
            (shorten_vectors(d.verdict), style),
            ("".join(f"\nnote: {n}" for n in notes if n), "$text-muted"),
        )

    def _verdict(self, content: Content) -> None:
        self.query_one("#verdict", Static).update(content)

    # --- selection: findings <-> plan nodes -> detail ---------------------------------

    @on(FindingsList.FindingHighlighted)
    def finding_highlighted(self, event: FindingsList.FindingHighlighted) -> None:
        self.query_one(PlanTree).select_plan_node(event.finding.node_id)
        self._show_detail(event.finding.node_id)

    @on(PlanTree.PlanNodeHighlighted)
    def plan_node_highlighted(self, event: PlanTree.PlanNodeHighlighted) -> None:
        # Only the node under the cursor now: a highlight of a cleared plan is stale.
        if event.node_id == self.query_one(PlanTree).plan_node_id:
            self._show_detail(event.node_id)

    @on(Tree.NodeSelected, "#plan")
    def plan_node_chosen(self) -> None:
        self._open_side("tab-detail")

    @on(OptionList.OptionSelected, "#findings")
    def finding_chosen(self) -> None:
        self._open_side("tab-detail")

    def _show_detail(self, node_id: int | None) -> None:
        d = self.diagnosis
        detail = self.query_one("#node-detail", Static)
        if d is None or node_id is None or not 0 <= node_id < len(d.result.plan.nodes()):
            detail.update(DETAIL_HINT)
            return
        detail.update(node_detail(d.result.plan.node(node_id), d))

    # --- the side panel: Detail, Raw plan, Live, History ------------------------------

    def _side(self, shown: bool) -> None:
        """Under 100 columns the side panel takes the results' place while ``shown``."""
        self.set_class(shown, "-side")

    def _open_side(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._side(True)

    def action_back(self) -> None:
        self._side(False)
        self.query_one(PlanTree).focus()

    def action_raw_plan(self) -> None:
        """Show the raw plan; pressed again on it, switch between text and JSON."""
        side = self.query_one(TabbedContent)
        if side.active == "tab-raw" and (self.has_class("-side") or self.has_class("-wide")):
            self.raw_json = not self.raw_json
            self._show_raw()
        self._open_side("tab-raw")
        self.query_one("#raw", TextArea).focus()

    def _show_raw(self) -> None:
        raw = self.query_one("#raw", TextArea)
        if self.diagnosis is None:
            raw.load_text("")
            return
        plan = self.diagnosis.result.plan
        # Plain text either way: tree-sitter-json crashes the interpreter when a TextArea
        # switches language at run time (seen with tree-sitter 0.26), and the plan reads
        # well without colours.
        if self.raw_json:
            raw.load_text(shorten_vectors(json.dumps(plan.raw, indent=2)))
        else:
            raw.load_text(plan_text(plan))

    # --- live queries and history ----------------------------------------------------

    def action_live_queries(self) -> None:
        """Show the Live tab and read the live queries again."""
        self._open_side("tab-live")
        self.query_one("#live-running", DataTable).focus()
        self.load_live()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="live",
        description="Reading live vector queries",
    )
    def load_live(self) -> None:
        live = session_of(self.app).run(fetch_live_queries)
        if not get_current_worker().is_cancelled:
            self.post_message(self.LiveLoaded(live))

    @on(LiveLoaded)
    def live_loaded(self, event: LiveLoaded) -> None:
        self.query_one(LiveQueriesPanel).show(event.live)

    @on(LiveQueriesPanel.QueryPicked)
    def live_query_picked(self, event: LiveQueriesPanel.QueryPicked) -> None:
        self.load_query(event.sql)

    def action_history(self) -> None:
        self._open_side("tab-history")
        self.query_one("#history", OptionList).focus()

    def _show_history(self) -> None:
        history = self.query_one("#history", OptionList)
        history.clear_options()
        for n, sql in enumerate(load_history()):
            history.add_option(Option(" ".join(shorten_vectors(sql).split())[:200], id=str(n)))

    @on(OptionList.OptionSelected, "#history")
    def history_picked(self, event: OptionList.OptionSelected) -> None:
        entries = load_history()
        if event.option_id is not None and int(event.option_id) < len(entries):
            self.load_query(entries[int(event.option_id)])
