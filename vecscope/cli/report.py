"""The plan doctor's diagnosis as text (the CLI) and as JSON (scripts and CI)."""

from __future__ import annotations

from typing import Any

from vecscope.core.doctor.diagnose import Diagnosis
from vecscope.core.doctor.plan import plan_text, shorten_vectors


def diagnosis_json(d: Diagnosis) -> dict[str, Any]:
    r = d.result
    return {
        "sql": r.original_sql,
        "explained_sql": r.sql,
        "analyzed": r.analyzed,
        "generic_plan": r.generic,
        "notes": list(r.notes),
        "uses_vector_index": d.uses_vector_index,
        "knn_served": d.knn_served,
        "verdict": d.verdict,
        "findings": [
            {
                "rule": f.rule,
                "severity": str(f.severity),
                "message": f.message,
                "fix": f.fix,
                "node": f.node_id,
                "rewritten_sql": f.rewritten_sql,
                "index_sql": f.index_sql,
                "settings": dict(f.settings),
            }
            for f in d.findings
        ],
        "tried": (
            {
                "rule": d.tried.rule,
                "settings": dict(r.tried_settings),
                "rewritten": d.tried.rewritten_sql is not None,
                "resolved": d.fix_worked,
            }
            if d.tried is not None
            else None
        ),
        "orderings": [
            {
                "node": s.node_id,
                "served": s.served,
                "schema": s.schema,
                "table": s.relation,
                "column": s.column,
                "operator": s.operator,
                "descending": s.descending,
                "index": s.index.name if s.index else None,
                "limited": s.limited,
            }
            for s in d.sites
        ],
        "settings": r.settings,
        "plan": r.plan.raw,
    }


def diagnosis_text(d: Diagnosis) -> str:
    r = d.result
    lines = [shorten_vectors(d.verdict)]
    if d.tried is not None:
        lines.append(
            f"tried the fix of {d.tried.rule}: {'gone' if d.fix_worked else 'still there'}"
        )
    lines.append("")
    for note in r.notes:
        lines.append(f"note: {note}")
    if r.notes:
        lines.append("")
    for f in d.findings:
        where = f" [node {f.node_id}]" if f.node_id is not None else ""
        lines.append(f"{f.severity.upper():7} {f.rule}{where}: {shorten_vectors(f.message)}")
        if f.fix:
            lines.append(f"        fix: {shorten_vectors(f.fix)}")
        if f.rewritten_sql:
            lines.append("        rewritten: " + shorten_vectors(" ".join(f.rewritten_sql.split())))
    if d.findings:
        lines.append("")
    lines.append(plan_text(r.plan))
    return "\n".join(lines)
