"""Preflight's verdicts: one :class:`Check` per thing that can make a migration fail or
hurt, with its status and, where vecscope knows it, the SQL that fixes it."""

from __future__ import annotations

from dataclasses import dataclass

OK = "ok"
WARN = "warn"
FAIL = "fail"
INFO = "info"


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    status: str
    title: str
    detail: str = ""
    #: SQL that fixes it (shown; run only on request).
    fix: str | None = None
