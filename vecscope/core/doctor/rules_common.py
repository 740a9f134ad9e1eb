"""What the doctor's rules share: their names, and the query's orderings as scanned."""

from __future__ import annotations

from enum import StrEnum

from vecscope.core import sqlscan


class Rule(StrEnum):
    """The doctor's rules: a finding's ``rule`` (as the CLI's JSON and the TUI show it)."""

    NO_LIMIT = "no-limit"
    DESC_ORDER = "desc-order"
    EXPRESSION_ORDER = "expression-order"
    INVALID_INDEX = "invalid-index"
    SMALL_TABLE = "small-table"
    NO_INDEX = "no-index"
    EXPRESSION_INDEX_MISMATCH = "expression-index-mismatch"
    OPERATOR_MISMATCH = "operator-mismatch"
    QUERY_VECTOR_FROM_JOIN = "query-vector-from-join"
    SEQ_SCAN_CHOSEN = "seq-scan-chosen"
    PLANNER_SETTING = "planner-setting"
    PROBES_ALL_LISTS = "probes-all-lists"
    EF_SEARCH_BELOW_LIMIT = "ef-search-below-limit"
    PROBES_LOW = "probes-low"
    POST_FILTER = "post-filter"
    NO_ORDER_BY = "no-order-by"
    DISABLED_NODE = "disabled-node"
    SORT_SPILL = "sort-spill"
    ROWS_REMOVED = "rows-removed"
    ROW_MISESTIMATE = "row-misestimate"
    SLOWEST_NODE = "slowest-node"


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
