"""The Textual app: modes, app-wide keys, and the one route for worker errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from vecscope.core.catalog.inventory import fetch_server
from vecscope.core.connection import ConnectionTarget, redact
from vecscope.core.errors import ConnectError, ExtensionMissingError, VecscopeError
from vecscope.core.models import ServerInfo
from vecscope.core.session import CatalogSession
from vecscope.tui.context import LiveOptions
from vecscope.tui.header import subtitle
from vecscope.tui.messages import ExplainColumn, ExplainQuery, OpenLab, OpenMigration
from vecscope.tui.screens.base import VecscopeScreen, WorkerFailed
from vecscope.tui.screens.confirm import ConfirmScreen
from vecscope.tui.screens.connection_error import ConnectionErrorScreen
from vecscope.tui.screens.explain import ExplainScreen
from vecscope.tui.screens.faiss import FaissScreen
from vecscope.tui.screens.help import HelpScreen
from vecscope.tui.screens.indexes import IndexesScreen
from vecscope.tui.screens.latency import LatencyScreen
from vecscope.tui.screens.live import LiveScreen
from vecscope.tui.screens.migrate import MigrateScreen
from vecscope.tui.terminal import driver_class


class VecscopeApp(App[int]):
    """vecscope's cockpit. Each top-level area is a mode; Indexes is the first."""

    TITLE = "vecscope"
    CSS_PATH = "styles/app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "indexes": IndexesScreen,
        "explain": ExplainScreen,
        "latency": LatencyScreen,
        "migrate": MigrateScreen,
        "faiss": FaissScreen,
        "live": LiveScreen,
    }
    DEFAULT_MODE = "indexes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("f2", "switch_mode('indexes')", "Indexes"),
        Binding("f3", "switch_mode('explain')", "Explain"),
        Binding("f4", "switch_mode('latency')", "Latency"),
        Binding("f5", "switch_mode('migrate')", "Migrate"),
        Binding("f6", "switch_mode('faiss')", "FAISS"),
        Binding("f7", "switch_mode('live')", "Live"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        target: ConnectionTarget,
        *,
        faiss_dir: Path | None = None,
        live_options: LiveOptions | None = None,
        start_mode: str = "indexes",
    ) -> None:
        # FAISS trains with descriptor 2 redirected: the screen is drawn through a copy.
        super().__init__(driver_class=driver_class())
        self.session = CatalogSession(target)
        self.sub_title = target.describe()
        #: Where the FAISS mode's browser starts (``None``: the working directory).
        self.faiss_dir = faiss_dir
        #: How the Live mode polls and records (``vecscope live`` sets them).
        self.live_options = live_options or LiveOptions()
        self.start_mode = start_mode

    class ServerRead(Message):
        """The server's facts for the header (a hot standby says so on every screen)."""

        def __init__(self, label: str, server: ServerInfo) -> None:
            super().__init__()
            self.label = label
            self.server = server

    def on_mount(self) -> None:
        if self.start_mode != self.DEFAULT_MODE:
            # The Indexes screen reads the server at once and sets the header; another
            # first mode (Live polls on connections of its own) may not touch the catalog.
            self.read_server()
            self.switch_mode(self.start_mode)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="server",
        description="Reading the server's facts for the header",
    )
    def read_server(self) -> None:
        # The header must say "hot standby" on whatever screen is open. A failure here is
        # left to the screens' own workers, which meet it too and take it to the one route.
        server = self.session.run(fetch_server)
        info = self.session.info
        if info is not None and not get_current_worker().is_cancelled:
            self.post_message(self.ServerRead(info.label, server))

    @on(ServerRead)
    def server_read(self, event: ServerRead) -> None:
        self.sub_title = subtitle(event.label, event.server)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's own "Keys" panel would sit beside vecscope's Help: one list of keys.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        yield SystemCommand("Help: keys", "List every key of this screen", self.action_help)
        yield SystemCommand(
            "Mode: Indexes", "Vector columns and indexes", lambda: self.switch_mode("indexes")
        )
        yield SystemCommand("Mode: Explain", "The plan doctor", lambda: self.switch_mode("explain"))
        yield SystemCommand(
            "Mode: Latency", "The latency and recall lab", lambda: self.switch_mode("latency")
        )
        yield SystemCommand(
            "Mode: Migrate",
            "Rebuild an index safely: plan, backup, build, verify, cutover",
            lambda: self.switch_mode("migrate"),
        )
        yield SystemCommand(
            "Mode: FAISS",
            "FAISS index files: inspect, convert with verified recall, tune, deploy",
            lambda: self.switch_mode("faiss"),
        )
        yield SystemCommand(
            "Mode: Live",
            "The application's own vector queries, live, without adding load; record",
            lambda: self.switch_mode("live"),
        )
        if isinstance(screen, VecscopeScreen):
            yield from screen.palette_commands()
        yield SystemCommand(
            "Reconnect", "Close the connection and open it again", self.action_reconnect
        )

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_reconnect(self) -> None:
        self.session.close()
        if isinstance(self.screen, IndexesScreen):
            self.screen.action_refresh()

    @on(ExplainQuery)
    async def explain_query(self, event: ExplainQuery) -> None:
        """Open the Explain mode on a query and explain it."""
        await self.switch_mode("explain")
        screen = self.screen
        if isinstance(screen, ExplainScreen):
            screen.load_query(event.sql)

    @on(ExplainColumn)
    async def explain_column(self, event: ExplainColumn) -> None:
        """Open the Explain mode on a query written for a column, and explain it."""
        await self.switch_mode("explain")
        if isinstance(self.screen, ExplainScreen):
            self.screen.explain_column(event.schema, event.table, event.column)

    @on(OpenLab)
    async def lab_column(self, event: OpenLab) -> None:
        """Open the Latency mode on a vector column."""
        await self.switch_mode("latency")
        screen = self.screen
        if isinstance(screen, LatencyScreen):
            screen.open_target(event.schema, event.table, event.column)

    @on(OpenMigration)
    async def migrate(self, event: OpenMigration) -> None:
        """Open the Migrate mode on an index (planned at once) or a column without one."""
        await self.switch_mode("migrate")
        screen = self.screen
        if isinstance(screen, MigrateScreen):
            screen.open_source(event.source)

    def _migration_running(self) -> MigrateScreen | None:
        try:
            stack = self.get_screen_stack("migrate")
        except KeyError:
            return None
        screen = stack[0] if stack else None
        if isinstance(screen, MigrateScreen) and screen.running is not None:
            return screen
        return None

    async def action_quit(self) -> None:
        """Quit; during a migration step, ask first (a build is cancelled cleanly)."""
        screen = self._migration_running()
        if screen is None:
            self.exit()
            return
        body = Content(
            f"A migration step is running ({screen.running}). Quitting cancels a build "
            "(the server stops it and its invalid index is dropped; the old index keeps "
            "serving) or waits for any other step to end. The journal lets you resume."
        )

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                screen.stop_and_quit()

        self.push_screen(
            ConfirmScreen("Quit during a migration?", body, action="Stop it and quit"), answered
        )

    @on(ConnectionErrorScreen.Recovered)
    def connection_recovered(self, event: ConnectionErrorScreen.Recovered) -> None:
        info = self.session.info
        if info is not None:
            self.sub_title = subtitle(info.label, event.inventory.server)
        screen = self.screen
        if isinstance(screen, IndexesScreen):
            screen.show_inventory(event.inventory)

    @on(WorkerFailed)
    def route_worker_error(self, event: WorkerFailed) -> None:
        """The one route for worker failures: a screen for connection trouble, else a toast."""
        error = event.error
        # Core's messages are redacted already; this is for any that slipped through.
        secrets = self.session.target.secrets()
        if isinstance(error, ConnectError | ExtensionMissingError):
            if not isinstance(self.screen, ConnectionErrorScreen):
                self.push_screen(ConnectionErrorScreen(error, self.session.target))
        elif isinstance(error, VecscopeError):
            message = redact(error.message, secrets=secrets)
            self.notify(message, title=error.title, severity="error", timeout=10)
        else:
            self.notify(
                redact(f"{type(error).__name__}: {error}", secrets=secrets),
                title="Unexpected error",
                severity="error",
                timeout=10,
            )
