"""What the doctor's rules share: their names, the query's orderings as scanned, and the
columns a plan node filters on (with any index that already serves them)."""

from __future__ import annotations

from vecscope.core import sqlscan
from vecscope.core.doctor.explain import ExplainResult, TableIndex
from vecscope.core.doctor.plan import PlanNode
from vecscope.core.models import Rule

__all__ = ["Rule", "existing_index", "filtered_columns", "int_or_none", "orderings"]

#: Access methods of vector indexes: an index of another method on a filtered column is
#: what lets the planner filter first.
VECTOR_METHODS = ("hnsw", "ivfflat", "diskann")


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


def filtered_columns(node: PlanNode) -> list[str]:
    """The columns of ``node``'s relation its Filter reads, in order of appearance.

    EXPLAIN VERBOSE qualifies every column with the scan's alias (``d.tenant_id``), so
    a name after ``alias.`` is one of this relation's columns.
    """
    if not node.filter:
        return []
    qualifiers = {q for q in (node.alias, node.relation) if q}
    toks = [t for t in sqlscan.tokenize(node.filter) if t.kind not in ("space", "comment")]
    found: list[str] = []
    for a, dot, b in zip(toks, toks[1:], toks[2:], strict=False):
        if dot.text != "." or a.kind not in ("word", "ident") or b.kind not in ("word", "ident"):
            continue
        if _name(a) in qualifiers and _name(b) not in found:
            found.append(_name(b))
    return found


def _name(t: sqlscan.Token) -> str:
    return t.text[1:-1].replace('""', '"') if t.kind == "ident" else t.text.lower()


def existing_index(result: ExplainResult, node: PlanNode, columns: list[str]) -> TableIndex | None:
    """A usable index (not a vector one) on ``node``'s table led by one of ``columns``."""
    for ix in result.indexes_on(node.schema, node.relation):
        lead = ix.columns[0] if ix.columns else None
        if ix.usable and ix.method not in VECTOR_METHODS and lead in columns:
            return ix
    return None
