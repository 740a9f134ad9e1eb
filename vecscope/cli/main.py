"""The headless CLI: argument parsing and the commands that need no terminal UI.

``tui.launch`` is the entry point; it hands every command that has no screen to
:func:`run`, which calls the same ``core`` functions the screens call. Errors end as one
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TextIO

from vecscope.cli.faiss_args import add_parser as add_faiss_parser
from vecscope.cli.live_args import add_parsers as add_live_parsers
from vecscope.cli.migrate_args import add_parser as add_migrate_parser
from vecscope.core.catalog.inventory import HEADLINE_SETTINGS, fetch_inventory, inventory_to_json
from vecscope.core.connection import ConnectionTarget, Pooling, connected, redact
from vecscope.core.demo import server as demo_server
from vecscope.core.errors import BadInputError, VecscopeError
from vecscope.core.fmt import human_bytes, human_count, params_text, table
from vecscope.core.lab import defaults as lab_defaults
from vecscope.core.models import Inventory
from vecscope.core.redaction import dsn_secrets
from vecscope.core.statusline import StatusLine

#: Commands that open the TUI; everything else runs headless.
TUI_COMMANDS = frozenset({"tui", "demo", "live", "replay"})


def wants_tui(args: argparse.Namespace) -> bool:
    """Whether this command opens the TUI (``live --json``, ``demo up`` do not)."""
    if args.command not in TUI_COMMANDS:
        return False
    if args.command == "demo":
        return bool(args.action == "open")
    return not getattr(args, "json", False)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other vecscope error (and is
    redacted like them: argparse quotes arguments, and one may be a DSN)."""

    def error(self, message: str) -> NoReturn:
        raise BadInputError(f"{message} (see {self.prog} --help)")


def _connection_flags() -> _Parser:
    # psql's flags, so -h is the host: help is --help only, as in psql.
    p = _Parser(add_help=False)
    g = p.add_argument_group(
        "connection (as psql; unset values come from PG* variables, service files and .pgpass)"
    )
    g.add_argument("--dsn", default="", help="libpq connection string or URI")
    g.add_argument("-h", "--host", help="server host or socket directory")
    g.add_argument("-p", "--port", help="server port")
    g.add_argument("-U", "--username", help="user name")
    g.add_argument("-d", "--dbname", help="database name")
    g.add_argument(
        "--pooler",
        choices=[p.value for p in Pooling],
        default=Pooling.AUTO.value,
        help="what is between vecscope and the server: auto (default: found out with two "
        "connections), none, session or transaction (PgBouncer's pool_mode); also "
        "VECSCOPE_POOLER",
    )
    g.add_argument("--help", action="help", help="show this help and exit")
    return p


def _demo_flags(*, seed: bool, nested: bool) -> _Parser:
    """``--data-dir`` (and ``--reset``, ``--rows`` where the demo is seeded), taken before
    the action (``demo --reset``) and after it (``demo up --reset``). After it, their
    defaults are suppressed: a nested parser's defaults would overwrite what came before."""
    p = _Parser(add_help=False)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS if nested else None,
        help=f"where the demo server lives (default {demo_server.default_data_dir()})",
    )
    if seed:
        p.add_argument(
            "--reset",
            action="store_true",
            default=argparse.SUPPRESS if nested else False,
            help="drop the demo data and seed it again",
        )
        p.add_argument(
            "--rows",
            type=int,
            default=argparse.SUPPRESS if nested else None,
            help=f"doc_chunks rows; other tables scale (default {demo_server.DEFAULT_ROWS:,})",
        )
    return p


def _add_demo_parser(sub: Any, conn: _Parser) -> None:
    d = sub.add_parser(
        "demo",
        parents=[_demo_flags(seed=True, nested=False)],
        help="the embedded PostgreSQL with pgvector and demo data",
        description="The embedded PostgreSQL with pgvector and the demo data. Without an "
        "action: start it, seed it if needed and open the TUI; quitting stops it.",
    )
    actions = d.add_subparsers(dest="action", metavar="ACTION")
    seeded = _demo_flags(seed=True, nested=True)
    where = _demo_flags(seed=False, nested=True)
    actions.add_parser(
        "open",
        parents=[seeded],
        help="start, seed and open the TUI, stop on quit (the default)",
        description="Start the demo server, seed it if needed and open the TUI on it; "
        "quitting stops the server.",
    )
    actions.add_parser(
        "up",
        parents=[seeded],
        help="start and seed, print the DSN, leave it running",
        description="Start the demo server and seed it if needed; leave it running and "
        "print its DSN as the last line on stdout (progress goes to stderr).",
    )
    actions.add_parser("down", parents=[where], help="stop it", description="Stop the demo server.")
    actions.add_parser(
        "status",
        parents=[where],
        help="print the DSN if it runs (exit 1 if not)",
        description="Print the demo server's DSN if it runs; exit status 1 if it does not.",
    )
    w = actions.add_parser(
        "workload",
        parents=[conn, where],
        add_help=False,
        help="run the demo application's searches (for the Live mode)",
        description="Run the searches a small RAG application would run on the demo "
        "database, from a few sessions (application_name demo-app). Without connection "
        "flags it starts the embedded demo server (and seeds it if needed); with them it "
        "runs on that database, which must hold the demo tables.",
    )
    w.add_argument("--duration", help="stop after this long, e.g. 5m (default: until ^C)")
    w.add_argument("--clients", type=int, default=3, help="sessions (default 3)")
    w.add_argument(
        "--deploy-after",
        default="60s",
        help="when the application's deploy changes product search (default 60s)",
    )


def build_parser() -> argparse.ArgumentParser:
    conn = _connection_flags()
    parser = _Parser(
        prog="vecscope",
        parents=[conn],
        add_help=False,
        description="A terminal cockpit for vector indexes in PostgreSQL (pgvector).",
    )
    parser.add_argument("--version", action="version", version="vecscope 0.1.0")
    parser.add_argument(
        "--faiss-dir",
        type=Path,
        default=None,
        help="where the FAISS mode's file browser starts (default: the working directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "indexes", parents=[conn], add_help=False, help="vector columns, indexes and problems"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")

    e = sub.add_parser(
        "explain",
        parents=[conn],
        add_help=False,
        help="explain a query: is a vector index used, and if not, why and how to fix it",
    )
    e.add_argument("sql", nargs="?", help="the query; - reads it from standard input")
    e.add_argument("-f", "--file", type=Path, help="read the query from a file")
    e.add_argument(
        "--analyze",
        action="store_true",
        help=(
            "run it (read-only transaction, rolled back; refused for volatile functions, "
            "row locks and writes)"
        ),
    )
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument(
        "--timeout-ms", type=int, default=30_000, help="statement_timeout (default 30000)"
    )
    e.add_argument(
        "--try-fix",
        action="store_true",
        help="also try the first fix a finding offers: its rewritten query, or its setting",
    )

    b = sub.add_parser(
        "bench",
        parents=[conn],
        add_help=False,
        help="measure latency and recall of a vector column's nearest-neighbour queries",
    )
    b.add_argument("--table", required=True, help="SCHEMA.TABLE (quote names as in SQL)")
    b.add_argument("--column", required=True, help="the vector column")
    b.add_argument(
        "--k", type=int, default=lab_defaults.DEFAULT_K,
        help=f"neighbours per query (default {lab_defaults.DEFAULT_K})",
    )  # fmt: skip
    b.add_argument(
        "--queries", type=int, default=lab_defaults.SAMPLE_QUERIES,
        help=f"sampled query vectors ({lab_defaults.SAMPLE_QUERIES})",
    )  # fmt: skip
    b.add_argument("--queries-file", type=Path, help="query vectors from a .npy (n, dims)")
    grid = b.add_mutually_exclusive_group()
    grid.add_argument("--ef-search", help="hnsw.ef_search values, e.g. 20,40,80,160")
    grid.add_argument("--probes", help="ivfflat.probes values, e.g. 1,5,10,20")
    b.add_argument("--concurrency", type=int, default=1, help="sessions (default 1)")
    b.add_argument(
        "--target-recall", type=float, default=lab_defaults.TARGET_RECALL,
        help=f"default {lab_defaults.TARGET_RECALL}",
    )  # fmt: skip
    b.add_argument(
        "--target-latency-ms", type=float, default=None, metavar="MS",
        help="p50 latency a recommended setting must stay within (default: none)",
    )  # fmt: skip
    b.add_argument("--operator", help="distance operator (default: the index's)")
    b.add_argument(
        "--where", metavar="CONDITION",
        help="the application's filter, e.g. 'tenant_id = {tenant_id}' ({col}: each query "
        "row's own value) or 'tenant_id = 7'; recall, rows returned and plans are measured "
        "under it, with iterative scans and an exact plan in the sweep",
    )  # fmt: skip
    b.add_argument(
        "--where-values", metavar="V[:W],...",
        help="values for --where's one {placeholder}, with weights (the application's mix), "
        "e.g. 'tenant-01:5,tenant-30:1': each value gets its share of the queries",
    )  # fmt: skip
    b.add_argument(
        "--ground-truth",
        choices=["auto", "faiss", "postgres"],
        default="auto",
        help="exact search method (auto: faiss, streamed through --memory-budget)",
    )
    b.add_argument("--memory-budget", type=int, default=2048, help="MiB for the faiss path (2048)")
    b.add_argument("--json", action="store_true", help="print JSON")

    add_migrate_parser(sub, conn, _Parser)
    add_faiss_parser(sub, conn, _Parser)
    add_live_parsers(sub, conn)

    _add_demo_parser(sub, conn)
    return parser


def target_from(args: argparse.Namespace) -> ConnectionTarget:
    return ConnectionTarget(
        dsn=args.dsn or "",
        host=args.host,
        port=args.port,
        user=args.username,
        dbname=args.dbname,
        pooling=Pooling(getattr(args, "pooler", None) or Pooling.AUTO),
    )


def _inventory_tables(inv: Inventory) -> str:
    s = inv.server
    out = [
        f"PostgreSQL {s.version}  pgvector {s.pgvector or 'not installed'}"
        + (f" (available {s.pgvector_available})" if s.pgvector_available != s.pgvector else "")
        + (f"  pgvectorscale {s.pgvectorscale}" if s.pgvectorscale else "")
        + (f"  Citus {s.citus}" if s.citus else "")
        + ("  HOT STANDBY" if s.in_recovery else "")
    ]
    out.append(
        "  "
        + "  ".join(
            f"{name}={s.setting(name)}" for name in HEADLINE_SETTINGS if s.setting(name) is not None
        )
    )
    out.append("")
    out.append(
        table(
            ["schema", "table", "column", "type", "dims", "rows", "size", "indexes", "access"],
            [
                [
                    c.schema,
                    c.table,
                    c.column,
                    c.type,
                    str(c.dims) if c.dims else "untyped",
                    human_count(c.rows),
                    human_bytes(c.table_bytes),
                    str(len(inv.indexes_on(c))),
                    ("owner" if c.can_create_index else "read") if c.can_select else "NO SELECT",
                ]
                for c in inv.columns
            ],
        )
    )
    out.append("")
    out.append(
        table(
            [
                "schema",
                "table",
                "column",
                "index",
                "method",
                "opclass",
                "op",
                "params",
                "size",
                "state",
                "scans",
            ],
            [
                [
                    ix.schema,
                    ix.table,
                    ix.column or "?",
                    ix.name,
                    ix.method,
                    ix.opclass,
                    ix.operator or "?",
                    params_text(ix.params, ix.params_explicit),
                    human_bytes(ix.size_bytes),
                    "valid" if ix.usable else ("INVALID" if ix.ready else "NOT READY"),
                    human_count(ix.scans),
                ]
                for ix in inv.indexes
            ],
        )
    )
    if inv.problems:
        out.append("")
        for p in inv.problems:
            where = ".".join(x for x in (p.schema, p.table, p.index or p.column) if x)
            out.append(f"{p.severity.upper():7} {where}: {p.message}")
            if p.fix:
                out.append(f"        fix: {p.fix}")
    out.append("")
    out.append("* pgvector default (not given in the index definition)")
    return "\n".join(out)


def cmd_indexes(args: argparse.Namespace, out: TextIO) -> int:
    with connected(target_from(args)) as conn:
        inv = fetch_inventory(conn)
    if args.json:
        # One write of a C-encoded document: 1,000 indexes in well under a second.
        out.write(json.dumps(inventory_to_json(inv), indent=2) + "\n")
    else:
        out.write(_inventory_tables(inv) + "\n")
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    data_dir = args.data_dir or demo_server.default_data_dir()
    if args.action == "workload":
        _workload_options(args)  # bad input is refused before anything starts
    if args.action == "down":
        stopped = demo_server.down(data_dir)
        print("stopped" if stopped else f"no demo server running in {data_dir}", file=sys.stderr)
        return 0
    if args.action == "status":
        dsn = demo_server.status(data_dir)
        if dsn is None:
            print(f"no demo server running in {data_dir}", file=sys.stderr)
            return 1
        out.write(dsn + "\n")
        return 0
    if args.action == "workload" and _connection_given(args):
        # A database named with the connection flags: the demo tables are there already.
        return _demo_workload(args, target_from(args).conninfo())
    # Each step a line on stderr; between them, how far the seeding is (rows, builds).
    with StatusLine(sys.stderr, show_after_s=0) as status:
        server = demo_server.up(
            data_dir,
            rows=args.rows,
            reset=args.reset,
            progress=status.line,
            on_progress=lambda p: status.update(p.text()),
        )
    out.write(server.uri(demo_server.DEMO_DB) + "\n")
    if args.action == "workload":
        return _demo_workload(args, server.conninfo(demo_server.DEMO_DB))
    return 0


def _connection_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) for name in ("dsn", "host", "port", "username", "dbname"))


def _workload_options(args: argparse.Namespace) -> tuple[float | None, float]:
    from vecscope.cli.live_args import parse_duration

    if not 1 <= args.clients <= 32:
        raise BadInputError("--clients must be between 1 and 32")
    duration = parse_duration(args.duration) if args.duration else None
    return duration, parse_duration(args.deploy_after)


def _demo_workload(args: argparse.Namespace, conninfo: str) -> int:
    from vecscope.core.demo.workload import DemoWorkload

    duration, deploy_after = _workload_options(args)
    workload = DemoWorkload(
        conninfo,
        clients=args.clients,
        switch_after_s=deploy_after,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    try:
        stats = workload.run(duration)
    except KeyboardInterrupt:
        workload.stop()
        stats = workload.stats
    print(f"{stats.queries:,} queries, {stats.errors:,} errors", file=sys.stderr)
    return 0


def _read_query(args: argparse.Namespace) -> str:
    if args.file is not None and args.sql:
        raise BadInputError("give the query as an argument or with -f, not both")
    if args.file is not None:
        try:
            text: str = Path(args.file).read_text(encoding="utf-8")
        except OSError as e:
            raise BadInputError(f"cannot read {args.file}: {e.strerror or e}") from e
        except ValueError as e:  # UnicodeDecodeError: a binary file
            raise BadInputError(f"cannot read {args.file}: not UTF-8 text") from e
    elif args.sql == "-":
        text = _read_stdin()
    elif args.sql is not None:
        text = str(args.sql)
    else:
        # No argument: a pipe may still bring the query.
        text = "" if sys.stdin is None or sys.stdin.isatty() else _read_stdin()
        if not text.strip():
            raise BadInputError("no query: give it as an argument, with -f FILE, or on stdin (-)")
    if not text.strip():
        raise BadInputError("empty query")
    try:
        # Arguments, and stdin in UTF-8 mode, carry undecodable bytes as surrogates.
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadInputError("the query is not UTF-8 text") from e
    return text


def _read_stdin() -> str:
    try:
        return sys.stdin.read()
    except ValueError as e:  # UnicodeDecodeError: binary input
        raise BadInputError("cannot read the query from standard input: not UTF-8 text") from e


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    from vecscope.cli.report import diagnosis_json, diagnosis_text
    from vecscope.core.doctor.doctor import PlanDoctor

    query = _read_query(args)
    with PlanDoctor(target_from(args)) as doctor:
        exam = doctor.examine(
            query, analyze=args.analyze, timeout_ms=args.timeout_ms, try_the_fix=args.try_fix
        )
    diagnosis, tried = exam.diagnosis, exam.fixed
    if args.json:
        doc = diagnosis_json(diagnosis)
        if exam.fix_tried:
            doc["try_fix"] = diagnosis_json(tried) if tried is not None else None
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(diagnosis_text(diagnosis) + "\n")
        if exam.fix_tried:
            if tried is None:
                out.write("\nNo finding offers a fix to try (a rewritten query or a setting).\n")
            else:
                out.write("\n--- trying the fix ---\n" + diagnosis_text(tried) + "\n")
    return exam.exit_code


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    from vecscope.cli.lab import run_bench

    return run_bench(args, target_from(args), out)


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    from vecscope.cli.migrate import run as run_migrate

    return run_migrate(args, target_from(args), out)


def cmd_faiss(args: argparse.Namespace, out: TextIO) -> int:
    from vecscope.cli.faiss import run as run_faiss

    return run_faiss(args, target_from(args), out)


def cmd_live(args: argparse.Namespace, out: TextIO) -> int:
    from vecscope.cli.live import run_live

    return run_live(args, target_from(args), out)


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from vecscope.cli.live import run_replay

    return run_replay(args, out)


HEADLESS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "live": cmd_live,
    "replay": cmd_replay,
    "faiss": cmd_faiss,
    "migrate": cmd_migrate,
    "bench": cmd_bench,
    "indexes": cmd_indexes,
    "explain": cmd_explain,
    "demo": cmd_demo,
}


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run one headless command; errors become one line on stderr and exit status 2."""
    try:
        return HEADLESS[args.command](args, out)
    except VecscopeError as e:
        fail(e.message, target_from(args).secrets())
        return e.exit_code
    except KeyboardInterrupt:
        print("vecscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `vecscope live --json | head`: the reader left; that is no error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def argv_secrets(argv: Iterable[str]) -> tuple[str, ...]:
    """Whatever in the command line may be a password (a ``--dsn`` value, a DSN given
    where another argument belongs), so that no message repeats it."""
    found: set[str] = set()
    for arg in argv:
        found.update(dsn_secrets(arg.removeprefix("--dsn=")))
    return tuple(found)


def fail(message: str, secrets: Iterable[str] = ()) -> int:
    """Print one error line on stderr, never with a password in it; exit status 2."""
    print(f"vecscope: {redact(message, secrets=secrets)}", file=sys.stderr)
    return 2


def debugging() -> bool:
    """``VECSCOPE_DEBUG`` set to anything but empty, 0, false, no or off."""
    value = os.environ.get("VECSCOPE_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def unexpected(e: BaseException, secrets: Iterable[str] = ()) -> int:
    """Last resort: one line, with a way to get the traceback for a bug report."""
    if debugging():
        raise e
    return fail(
        f"internal error: {type(e).__name__}: {e} (set VECSCOPE_DEBUG=1 for details)", secrets
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "tui"
    if args.command == "demo" and args.action is None:
        args.action = "open"
    if args.command == "demo" and args.rows is not None and args.rows < 1000:
        raise BadInputError("--rows must be at least 1000")
    return args
