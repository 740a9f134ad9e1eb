"""The ``vecscope migrate`` command line, kept apart so ``vecscope --help`` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vecscope.core.migrate.plan import DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_RETRIES
from vecscope.core.migrate.states import DEFAULT_BACKUP

_DIRECT_HELP = (
    "a direct connection to the server (not through a transaction pooler such as "
    "PgBouncer in transaction mode): the migration's DDL runs there"
)


def add_parser(sub: Any, conn: argparse.ArgumentParser, parser_class: type) -> None:
    m = sub.add_parser(
        "migrate",
        help="rebuild a vector index safely: plan, backup, build, verify, cutover",
        add_help=False,
        parents=[conn],
    )
    msub = m.add_subparsers(dest="migrate_command", metavar="ACTION", required=True)
    choice = parser_class(add_help=False)
    g = choice.add_argument_group("what to migrate")
    g.add_argument("--index", help="SCHEMA.NAME of the index to replace")
    g.add_argument("--column", help="SCHEMA.TABLE.COLUMN: a first index on a column with none")
    g.add_argument("--to", choices=("hnsw", "ivfflat"), help="target method (default hnsw)")
    g.add_argument("--m", type=int, help="hnsw m")
    g.add_argument("--ef-construction", type=int, help="hnsw ef_construction")
    g.add_argument("--lists", type=int, help="ivfflat lists (default: from the row count)")
    g.add_argument("--opclass", help="operator class (default: the source index's)")
    g.add_argument("--name", help="name of the new index")
    g.add_argument("--rename", action="store_true", help="give the new index the old name")
    g.add_argument("--reindex", action="store_true", help="REINDEX CONCURRENTLY the index")
    g.add_argument("--lock-timeout", type=int, default=DEFAULT_LOCK_TIMEOUT_MS, metavar="MS")
    g.add_argument("--retries", type=int, default=DEFAULT_RETRIES)
    g.add_argument("--min-recall", type=float, help="recall the new index must reach")
    g.add_argument("-k", "--k", dest="k", type=int, default=10, help="recall@k (default 10)")
    g.add_argument("--queries", type=int, default=100, help="sampled queries (default 100)")
    g.add_argument(
        "--where",
        metavar="CONDITION",
        help="the application's filter, as bench --where ('tenant_id = {tenant_id}'): "
        "baseline and verify measure recall and rows returned under it",
    )
    g.add_argument("--json", action="store_true", help="print JSON")

    msub.add_parser(
        "plan", parents=[conn, choice], add_help=False, help="show every statement (no change)"
    )
    r = msub.add_parser("run", parents=[conn, choice], add_help=False, help="run the wizard")
    r.add_argument(
        "--backup",
        default=DEFAULT_BACKUP,
        help="table (default): pg_dump of the table | database | confirmed:ID of a backup "
        "you already have (a managed server's snapshot)",
    )
    r.add_argument(
        "--backup-dir",
        type=Path,
        help="where the dump goes (default: backups/ beside the journal, in "
        "~/.local/state/vecscope/migrations/ unless VECSCOPE_STATE_DIR says otherwise)",
    )
    r.add_argument("--journal", type=Path, help="where to write the journal")
    r.add_argument("--direct-dsn", metavar="DSN", help=_DIRECT_HELP)
    r.add_argument("--yes", action="store_true", help="no questions (needed without a terminal)")
    r.add_argument("--drop-leftovers", action="store_true", help="drop invalid leftovers")
    r.add_argument("--no-cutover", action="store_true", help="stop after verify")
    r.add_argument("--force-cutover", action="store_true", help="cut over though verify failed")
    r.add_argument("--max-memory", type=int, metavar="MB", help="cap for maintenance_work_mem")
    r.add_argument(
        "--maintenance-work-mem",
        type=int,
        metavar="MB",
        help="the build's maintenance_work_mem (default: chosen from the predicted graph)",
    )
    r.add_argument("--server-cores", type=int, help="the server's CPU cores (remote servers)")
    for name, helptext in (("resume", "continue after an interruption"), ("rollback", "undo")):
        p = msub.add_parser(name, parents=[conn], add_help=False, help=helptext)
        p.add_argument("--journal", type=Path, help="the journal (default: the newest)")
        p.add_argument("--direct-dsn", metavar="DSN", help=_DIRECT_HELP)
        p.add_argument("--yes", action="store_true")
        p.add_argument("--json", action="store_true")
        if name == "resume":
            p.add_argument("--force-cutover", action="store_true")
            p.add_argument(
                "--no-cutover", action="store_true", help="stop again before the cutover"
            )
    a = msub.add_parser(
        "alembic", parents=[conn, choice], add_help=False, help="write an Alembic revision"
    )
    a.add_argument("--revision", help="revision id (default: random)")
    a.add_argument("--down-revision", help="the revision this one follows")
    a.add_argument("--message", help="revision message")
    msub.add_parser("sql", parents=[conn, choice], add_help=False, help="write a psql script")
