"""The layers: ``core`` imports neither front end (the TUI, the CLI) nor any UI library,
checked in a fresh interpreter as harlequin does; import-linter checks the same statically,
and that the TUI never imports the CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = """
import importlib, pkgutil, sys
import vecscope.core
names = [m.name for m in pkgutil.walk_packages(vecscope.core.__path__, "vecscope.core.")]
for name in names:
    importlib.import_module(name)
ui = {"textual", "rich", "plotext", "textual_plotext"}
bad = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ui or m.startswith(("vecscope.tui", "vecscope.cli"))
)
print(len(names), ",".join(bad))
"""


def test_core_imports_no_ui() -> None:
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    count, bad = (
        proc.stdout.strip().split(" ", 1)
        if " " in proc.stdout.strip()
        else (proc.stdout.strip(), "")
    )
    assert int(count) >= 10, "the check must actually import core's modules"
    assert bad == "", f"core pulled in UI modules: {bad}"


def test_headless_cli_does_not_import_textual() -> None:
    code = "import sys; from vecscope.cli import launch, main; print('textual' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_core_does_not_parse_command_lines() -> None:
    """argparse belongs to the CLI: core takes typed options."""
    import ast

    import vecscope.core

    root = Path(vecscope.core.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "argparse" for n in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


@pytest.mark.parametrize("name", ["core", "tui"])
def test_no_top_level_core_or_tui(name: str, tmp_path: Path) -> None:
    """Installed, vecscope is one import package: another distribution's ``core`` or
    ``tui`` is never shadowed (run outside the repository, whose folders are not these)."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode != 0 and "No module named" in proc.stderr
    ok = subprocess.run(
        [sys.executable, "-c", f"import vecscope.{name}"], capture_output=True, cwd=tmp_path
    )
    assert ok.returncode == 0


#: Modules that run SQL on something other than PostgreSQL: a Live recording is a SQLite
#: file of vecscope's own, whose schema lives with the code that reads it.
NOT_POSTGRES = ("live/recording.py",)
#: The calls that run SQL text on a psycopg connection or cursor.
RUNS_SQL = {"execute", "executemany", "copy"}


def _is_sql_literal(node: ast.expr) -> bool:
    """A string or bytes literal, an f-string, ``sql.SQL(<literal>)``, or one of these
    formatted (``"...".format(...)``, ``sql.SQL("...").format(...)``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):  # "SELECT " + "..." or "..." % (...)
        return _is_sql_literal(node.left) or _is_sql_literal(node.right)
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr == "SQL":
        return bool(node.args) and _is_sql_literal(node.args[0])
    return node.func.attr == "format" and _is_sql_literal(node.func.value)


def _literal_sql_calls(source: str) -> list[int]:
    """Lines where ``.execute(`` (or executemany, copy) gets SQL text written in Python."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in RUNS_SQL
        and node.args
        and _is_sql_literal(node.args[0])
    ]


def test_literal_sql_check_finds_literals() -> None:
    """The check below would see the forms of literal SQL it forbids."""
    source = """
conn.execute("SELECT 1")
conn.execute(f"SET statement_timeout = {ms}")
cur.execute(b"VACUUM")
conn.execute(sql.SQL("DROP DATABASE {}").format(name))
conn.execute("SELECT " + "1")
cur.copy(sql.SQL("COPY {} FROM STDIN").format(table))
db.execute(conn, "demo_vacuum_analyze")
conn.execute(db.statement("demo_vacuum_analyze"))
conn.execute(statement, (1,))
"""
    assert _literal_sql_calls(source) == [2, 3, 4, 5, 6, 7]


def test_statements_come_from_sql_files() -> None:
    """No module of core runs SQL written in Python: every statement sent to PostgreSQL
    is a ``core/sql/*.sql`` file run through ``core/db.py`` (DDL composed there and shown
    to the user is passed around as a composed object, never written at the call)."""
    import vecscope.core

    root = Path(vecscope.core.__file__).parent
    paths = sorted(p for p in root.rglob("*.py") if str(p.relative_to(root)) not in NOT_POSTGRES)
    assert len(paths) >= 50, "the check must actually read the modules"
    offenders = [
        f"{path.relative_to(root)}:{line}"
        for path in paths
        for line in _literal_sql_calls(path.read_text())
    ]
    assert offenders == [], f"SQL written in Python instead of core/sql: {offenders}"
