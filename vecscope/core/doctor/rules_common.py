"""What the doctor's rules share: their names, and the query's orderings as scanned."""

from __future__ import annotations

from vecscope.core import sqlscan
from vecscope.core.models import Rule

__all__ = ["Rule", "int_or_none", "orderings"]


def orderings(sql: str) -> list[sqlscan.KnnOrdering]:
    try:
        return sqlscan.knn_orderings(sql)
    except Exception:  # noqa: BLE001 - a rewrite is a bonus; the plan verdict stands alone
        return []


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
