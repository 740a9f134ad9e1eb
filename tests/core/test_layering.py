"""The layers: ``core`` imports neither front end (the TUI, the CLI) nor any UI library,
checked in a fresh interpreter as harlequin does; import-linter checks the same statically,
and that the TUI never imports the CLI."""

from __future__ import annotations

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
