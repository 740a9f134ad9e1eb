"""``vecscope demo``: the embedded server plus the seeded demo database, reused across runs.

A small state file next to the data directory records that seeding finished (and with
which ``--rows``), so a second run reuses the data and an interrupted seeding is redone.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
import psycopg
from psycopg import sql

from vecscope.core import db, embedded
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import BadInputError, EmbeddedServerError

if TYPE_CHECKING:
    from vecscope.core.demo.progress import OnProgress

__all__ = ["DEFAULT_ROWS", "DEMO_DB", "MISMATCH_QUERY", "default_data_dir", "down", "status", "up"]

STATE_FILE = "demo.json"
DEMO_DB = "vecscope_demo"
DEFAULT_ROWS = 50_000

Progress = Callable[[str], None]

#: The demo application's query on messages: cosine distance against an l2 index, the
#: operator-class mismatch the plan doctor explains (screenshots and snapshots show it).
MISMATCH_QUERY = (
    "SELECT id, body FROM messages\n"
    "ORDER BY embedding <=> (SELECT embedding FROM messages WHERE id = 42)\n"
    "LIMIT 10"
)


def default_data_dir() -> Path:
    return platformdirs.user_data_path("vecscope") / "demo"


def _state(data_dir: Path) -> dict[str, object]:
    try:
        loaded = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def up(
    data_dir: Path,
    *,
    rows: int | None = None,
    reset: bool = False,
    progress: Progress = print,
    on_progress: OnProgress | None = None,
) -> EmbeddedServer:
    """Start the embedded server and make sure the demo database is seeded.

    Args:
        data_dir: Holds ``pgdata/`` and the state file.
        rows: doc_chunks rows (``None``: the recorded value, or the default).
        reset: Drop and re-seed even when seeded data exists.
        progress: Receives one line per step.
        on_progress: Receives how far the seeding is, about once a second (see
            :func:`core.demo.seed.seed`).
    """
    data_dir = data_dir.expanduser().resolve()
    seeded_rows = _state(data_dir).get("rows")
    if rows is not None and seeded_rows is not None and rows != seeded_rows and not reset:
        # Refuse before starting anything: bad input changes nothing.
        raise BadInputError(
            f"the demo was seeded with --rows {seeded_rows}; add --reset to re-seed "
            f"with --rows {rows}"
        )
    embedded.backend()  # the server this run uses is installed, before anything is said
    pgdata = data_dir / "pgdata"
    made_by = embedded.data_major(pgdata)
    if made_by is not None and made_by != (major := embedded.server_major()):
        if not reset:
            raise EmbeddedServerError(
                f"the demo in {data_dir} was made by PostgreSQL {made_by} and the embedded "
                f"server is PostgreSQL {major}: add --reset to make the demo anew"
            )
        # Only the demo's own data lives here: it is made again from the seed.
        progress(f"removing the demo's PostgreSQL {made_by} data directory {pgdata}")
        embedded.stop(pgdata)
        shutil.rmtree(pgdata)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
    progress(f"embedded PostgreSQL in {pgdata}")
    server = embedded.start(pgdata)
    try:
        _ensure_seeded(server, data_dir, rows, reset, progress, on_progress)
    except BaseException:
        server.stop()
        raise
    return server


def _ensure_seeded(
    server: EmbeddedServer,
    data_dir: Path,
    rows: int | None,
    reset: bool,
    progress: Progress,
    on_progress: OnProgress | None = None,
) -> None:
    state = _state(data_dir)
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as admin:
        exists = db.row(admin, "demo_database_exists", {"name": DEMO_DB}) is not None
        seeded_rows = state.get("rows") if state.get("seeded") and exists else None
        if seeded_rows is not None and not reset:
            if rows is not None and rows != seeded_rows:
                raise BadInputError(
                    f"the demo was seeded with --rows {seeded_rows}; add --reset to re-seed "
                    f"with --rows {rows}"
                )
            progress(
                f"reusing the demo database seeded with --rows {seeded_rows} (--reset re-seeds)"
            )
            return
        rows = rows or DEFAULT_ROWS
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        if exists:
            progress(f"dropping database {DEMO_DB}")
            db.execute(admin, "demo_drop_database", database=sql.Identifier(DEMO_DB))
        db.execute(admin, "demo_create_database", database=sql.Identifier(DEMO_DB))
    # Imported here: numpy and the generator are only needed when seeding, and the
    # headless CLI (which imports this module) should start fast.
    from vecscope.core.demo.seed import seed

    started = time.monotonic()
    try:
        seed(server.conninfo(DEMO_DB), rows, progress, on_progress=on_progress)
    except psycopg.Error as e:
        raise EmbeddedServerError(f"seeding the demo failed: {e}") from e
    (data_dir / STATE_FILE).write_text(
        json.dumps(
            {
                "seeded": True,
                "rows": rows,
                "seconds": round(time.monotonic() - started, 1),
                "flavor": server.flavor,
            }
        )
    )


def down(data_dir: Path) -> bool:
    """Stop the demo server; False when none was running."""
    return embedded.stop(data_dir.expanduser().resolve() / "pgdata")


def status(data_dir: Path) -> str | None:
    """The demo database's URI when its server runs, else ``None``."""
    pgdata = data_dir.expanduser().resolve() / "pgdata"
    if embedded.running_pid(pgdata) is None:
        return None
    server = embedded.start(pgdata)
    return server.uri(DEMO_DB)
