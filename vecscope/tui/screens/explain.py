"""The Explain mode: a SQL editor, the plan as a tree, the doctor's verdict and findings."""

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
    Footer,
    Header,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from vecscope.core.catalog.activity import LiveQueries, fetch_live_queries
from vecscope.core.doctor.diagnose import Diagnosis
from vecscope.core.doctor.doctor import PlanDoctor
from vecscope.core.doctor.history import load_history, remember
from vecscope.core.doctor.plan import plan_text, shorten_vectors
from vecscope.core.errors import ConnectError, ExtensionMissingError, VecscopeError
from vecscope.tui.context import session_of
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.widgets.findings_list import FindingsList
from vecscope.tui.widgets.live_queries import LiveQueriesPanel
from vecscope.tui.widgets.plan_tree import PlanTree, node_detail

PLACEHOLDER = (
    "-- A query to explain, e.g.\n"
    "-- SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10\n"
    "-- F5 explain · F6 explain analyze (reads only, rolled back)"
)


class ExplainScreen(VecscopeScreen):
    """Explain a query; the verdict says whether a vector index serves it and why not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "explain", "Explain", priority=True),
        Binding("f6", "explain_analyze", "Analyze", priority=True),
        Binding("f7", "try_fix", "Try the fix", priority=True),
        Binding("f8", "toggle_raw", "Text/JSON", priority=True),
        Binding("f9", "refresh_live", "Live queries", priority=True),
        Binding("f12", "cancel", "Cancel", priority=True),
        Binding("escape", "leave_editor", "Leave editor", show=False),
    ]

    class Explained(Message):
        def __init__(self, diagnosis: Diagnosis, tried: bool) -> None:
            super().__init__()
            self.diagnosis = diagnosis
            self.tried = tried

    class ExplainFailed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
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
                with Horizontal(id="explain-results"):
                    yield PlanTree(id="plan")
                    yield FindingsList(id="findings")
            with TabbedContent(id="explain-side"):
                with TabPane("Detail", id="tab-detail"), VerticalScroll():
                    yield Static("", id="node-detail")
                with TabPane("Raw plan", id="tab-raw"):
                    yield TextArea("", id="raw", read_only=True, soft_wrap=False)
                with TabPane("Live", id="tab-live"):
                    yield LiveQueriesPanel(id="live")
                with TabPane("History", id="tab-history"):
                    yield OptionList(id="history")
        yield Footer()

    def on_mount(self) -> None:
        self._show_history()
        self.query_one("#editor", TextArea).focus()
        self.action_refresh_live()

    # --- explaining ------------------------------------------------------------------

    def load_query(self, sql: str, *, run: bool = True) -> None:
        """Put ``sql`` in the editor (and explain it)."""
        editor = self.query_one("#editor", TextArea)
        editor.load_text(sql)
        if run:
            self.action_explain()

    def action_explain(self) -> None:
        self._start(analyze=False)

    def action_explain_analyze(self) -> None:
        self._start(analyze=True)

    def _start(self, *, analyze: bool) -> None:
        sql = self.query_one("#editor", TextArea).text
        if not sql.strip():
            self._verdict(Content.styled("Nothing to explain: type a query first.", "$warning"))
            return
        self._verdict(
            Content.styled(
                "Running EXPLAIN ANALYZE (read only, rolled back)…"
                if analyze
                else "Running EXPLAIN…",
                "$text-muted",
            )
        )
        self.run_explain(sql, analyze)

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
    def run_explain(self, sql: str, analyze: bool) -> None:
        try:
            diagnosis = self._doctor().examine(sql, analyze=analyze).diagnosis
        except (ConnectError, ExtensionMissingError):
            raise
        except VecscopeError as e:
            if not get_current_worker().is_cancelled:
                self.post_message(self.ExplainFailed(e.message))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Explained(diagnosis, tried=False))

    def action_try_fix(self) -> None:
        if self.diagnosis is None or not any(f.rewritten_sql for f in self.diagnosis.findings):
            self.notify("No finding offers a rewritten query to try", timeout=3)
            return
        self._verdict(Content.styled("Explaining the rewritten query…", "$text-muted"))
        self.run_try_fix(self.diagnosis)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="explain",
        description="Trying the fix",
    )
    def run_try_fix(self, diagnosis: Diagnosis) -> None:
        try:
            fixed = self._doctor().try_fix(diagnosis)
        except (ConnectError, ExtensionMissingError):
            raise
        except VecscopeError as e:
            self.post_message(self.ExplainFailed(e.message))
            return
        if fixed is not None and not get_current_worker().is_cancelled:
            self.post_message(self.Explained(fixed, tried=True))

    def action_cancel(self) -> None:
        if self._plan_doctor is not None:
            self._plan_doctor.cancel()
        self.workers.cancel_group(self, "explain")
        self._verdict(Content.styled("Cancelled.", "$warning"))

    @on(Explained)
    def explained(self, event: Explained) -> None:
        d = event.diagnosis
        self.diagnosis = d
        if event.tried:
            self.query_one("#editor", TextArea).load_text(d.result.original_sql)
            self.notify(
                "Now served by a vector index"
                if d.knn_served and d.sites
                else "The rewritten query is still not served",
                timeout=5,
                title="Tried the fix",
            )
        remember(d.result.original_sql)
        self._show_history()
        self._verdict(self._verdict_content(d))
        self.query_one(PlanTree).show(d)
        self.query_one(FindingsList).show(d)
        self._show_raw()
        first = d.findings[0].node_id if d.findings else (d.sites[0].node_id if d.sites else 0)
        self.query_one(PlanTree).select_plan_node(first)

    @on(ExplainFailed)
    def explain_failed(self, event: ExplainFailed) -> None:
        self._verdict(Content.assemble(("✗ ", "$error bold"), (event.message, "$error")))

    def _verdict_content(self, d: Diagnosis) -> Content:
        if d.has_error:
            mark, style = "✗ ", "$error bold"
        elif d.sites and d.knn_served:
            mark, style = "✓ ", "$success bold"
        else:
            mark, style = "• ", "$primary bold"
        notes = "".join(f"\n  note: {n}" for n in d.result.notes)
        return Content.assemble(
            (mark, style), (shorten_vectors(d.verdict), style), (notes, "$text-muted")
        )

    def _verdict(self, content: Content) -> None:
        self.query_one("#verdict", Static).update(content)

    # --- selection: findings <-> plan nodes -------------------------------------------

    @on(FindingsList.FindingHighlighted)
    def finding_highlighted(self, event: FindingsList.FindingHighlighted) -> None:
        self.query_one(PlanTree).select_plan_node(event.finding.node_id)

    @on(PlanTree.NodeSelected)
    def plan_node_selected(self, event: PlanTree.NodeSelected) -> None:
        if self.diagnosis is not None:
            node = self.diagnosis.result.plan.node(event.node_id)
            self.query_one("#node-detail", Static).update(node_detail(node, self.diagnosis))

    # --- raw plan --------------------------------------------------------------------

    def action_toggle_raw(self) -> None:
        self.raw_json = not self.raw_json
        self._show_raw()
        self.query_one(TabbedContent).active = "tab-raw"

    def _show_raw(self) -> None:
        raw = self.query_one("#raw", TextArea)
        if self.diagnosis is None:
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

    def action_refresh_live(self) -> None:
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

    def action_leave_editor(self) -> None:
        self.query_one(PlanTree).focus()
