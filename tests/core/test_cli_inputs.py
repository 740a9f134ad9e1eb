"""Unreadable input files end in one clear line, and VECSCOPE_DEBUG means what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.core.cli_helpers import Result, assert_one_line_error, vecscope
from vecscope.cli import main as cli

#: Not UTF-8: an ELF-like header and bytes no decoder accepts.
BINARY = b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)) * 4


@pytest.fixture
def binary_file(tmp_path: Path) -> Path:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(BINARY)
    return path


@pytest.mark.parametrize("action", ["rollback", "resume"])
def test_unreadable_journals(action: str, db: Database, binary_file: Path, tmp_path: Path) -> None:
    for journal, fragment in (
        (binary_file, "not a vecscope migration journal"),
        (Path("/proc/nope/j.jsonl"), "cannot read journal"),
        (tmp_path, "cannot read journal"),  # a directory
    ):
        r = vecscope("migrate", action, "--journal", str(journal), "--yes", "--dsn", db.dsn)
        assert_one_line_error(r, fragment)
        assert "internal error" not in r.err


def test_unreadable_query_files(db: Database, binary_file: Path, tmp_path: Path) -> None:
    r = vecscope("explain", "-f", str(binary_file), "--dsn", db.dsn)
    assert_one_line_error(r, "not UTF-8 text")
    r = vecscope("explain", "-f", "/proc/nope/q.sql", "--dsn", db.dsn)
    assert_one_line_error(r, "cannot read /proc/nope/q.sql")
    r = vecscope("explain", "-f", str(tmp_path), "--dsn", db.dsn)
    assert_one_line_error(r, "cannot read")


def _explain_stdin(data: bytes, dsn: str, *args: str) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope.cli.launch", "explain", *args, "--dsn", dsn],
        input=data,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.mark.parametrize("args", [("-",), ()])
def test_binary_query_on_stdin(args: tuple[str, ...], db: Database) -> None:
    r = _explain_stdin(b"SELECT " + BINARY, db.dsn, *args)
    assert_one_line_error(r, "not UTF-8 text")


@pytest.mark.parametrize("value", ["", "0", "false", "FALSE", "no", "Off", " off "])
def test_debug_off(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VECSCOPE_DEBUG", value)
    assert not cli.debugging()
    assert cli.unexpected(RuntimeError("boom")) == 2
    err = capsys.readouterr().err
    assert err.startswith("vecscope: internal error: RuntimeError: boom")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["1", "yes", "true", "on", "TRUE"])
def test_debug_on(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECSCOPE_DEBUG", value)
    assert cli.debugging()
    with pytest.raises(RuntimeError, match="boom"):
        cli.unexpected(RuntimeError("boom"))


def test_debug_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VECSCOPE_DEBUG", raising=False)
    assert not cli.debugging()
