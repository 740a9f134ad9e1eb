"""The plan doctor's verdict: find each nearest-neighbour ordering in a plan and judge it.

A nearest-neighbour ordering shows in a plan either as an index scan whose ``Order By``
is a distance (served by a vector index) or as a Sort whose key is one (not served).
For each unserved one the doctor names the cause the pgvector README's troubleshooting
section and issue tracker list (descending or expression ordering, an operator no index
serves, an expression index the query does not repeat, no index, an invalid index, a
small table, planner settings) and offers a fix: a rewritten query that can be tried at
once, and/or the exact ``CREATE INDEX CONCURRENTLY`` statement. Served orderings are
checked for post-filter recall loss and query-time settings; every plan gets the general
warnings a plan reader expects. The rules are in :mod:`.rules_unserved` and
:mod:`.rules_served`; :mod:`.doctor` is the entry both front ends call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import psycopg
from psycopg.rows import TupleRow

from vecscope.core.doctor.explain import ExplainResult, explain
from vecscope.core.doctor.knn_sites import KnnSite, find_sites, parse_distance
from vecscope.core.doctor.plan_warnings import general_warnings
from vecscope.core.doctor.rules_served import no_ordering, served
from vecscope.core.doctor.rules_unserved import PLANNER_SMALL_ROWS, unserved
from vecscope.core.models import Finding, Inventory, Severity
from vecscope.core.sqltext import ident

__all__ = [
    "Diagnosis",
    "PLANNER_SMALL_ROWS",
    "Finding",
    "KnnSite",
    "diagnose",
    "fix_to_try",
    "knn_query_for",
    "parse_distance",
    "try_fix",
]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    result: ExplainResult
    sites: tuple[KnnSite, ...]
    findings: tuple[Finding, ...]
    verdict: str
    #: The finding whose fix this diagnosis tries (None: the query as asked).
    tried: Finding | None = None

    @property
    def fix_worked(self) -> bool:
        """The tried finding's rule no longer fires, or only as information (False when
        nothing was tried)."""
        tried = self.tried
        return tried is not None and all(
            f.rule != tried.rule or f.severity == Severity.INFO for f in self.findings
        )

    @property
    def knn_served(self) -> bool:
        """Every nearest-neighbour ordering is served by a vector index (or there is none)."""
        return all(s.served for s in self.sites)

    @property
    def uses_vector_index(self) -> bool:
        return any(s.served for s in self.sites)

    @property
    def has_error(self) -> bool:
        return any(f.severity == Severity.ERROR for f in self.findings)

    @property
    def exit_code(self) -> int:
        """3 when a finding of severity error was made, else 0.

        Every ordering not served by an index on a table that is not small carries an
        error finding, so 0 means: served (or no ordering, or a small table).
        """
        return 3 if self.has_error else 0


def diagnose(result: ExplainResult, inventory: Inventory) -> Diagnosis:
    """Judge a plan: every nearest-neighbour ordering, then the general warnings."""
    sites = find_sites(result, inventory)
    findings: list[Finding] = []
    for site in sites:
        findings.extend(
            served(result, inventory, site) if site.served else unserved(result, inventory, site)
        )
    if not sites:
        findings.extend(no_ordering(result))
    already = {(f.rule, f.node_id) for f in findings} | {(f.rule, None) for f in findings}
    findings.extend(general_warnings(result, already))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    findings.sort(key=lambda f: order[f.severity])
    return Diagnosis(result, sites, tuple(findings), _verdict(result, sites, findings))


def _verdict(result: ExplainResult, sites: tuple[KnnSite, ...], findings: list[Finding]) -> str:
    if not sites:
        first = findings[0].message if findings else ""
        return "No nearest-neighbour ordering (ORDER BY a distance) in this query." + (
            f" {first}" if first else ""
        )
    parts: list[str] = []
    for site in sites:
        if site.served:
            ix = site.index
            how = f"{ix.method}, {ix.opclass}" if ix else "vector index"
            parts.append(f"{site.table}: served by {ix.name if ix else '?'} ({how}).")
        else:
            scan = result.plan.node(site.scan_node_id) if site.scan_node_id is not None else None
            errors = [
                f
                for f in findings
                if f.severity != Severity.INFO and f.node_id in (site.node_id, site.scan_node_id)
            ]
            cause = (
                errors[0].message
                if errors
                else next(
                    (f.message for f in findings if f.node_id in (site.node_id, site.scan_node_id)),
                    "the planner sorted the rows itself",
                )
            )
            parts.append(
                f"{scan.node_type if scan else 'Sort'} on {site.table} instead of a "
                f"vector index scan: {cause}."
            )
    worst = next((f for f in findings if f.severity == Severity.ERROR), None)
    if worst is not None and worst.fix and all(s.served for s in sites):
        parts.append(f"But: {worst.message}.")
    return " ".join(parts)


def knn_query_for(schema: str, table: str, column: str, operator: str = "<=>") -> str:
    """A ready-made nearest-neighbour query on a column, its query vector taken from a row.

    The query vector is a scalar subquery (an InitPlan), the form pgvector's README uses
    for "nearest neighbours of a row": the planner can serve it from an index.
    """
    tbl = ident(schema, table)
    col = ident(column)
    sample = f"(SELECT {col} FROM {tbl} WHERE {col} IS NOT NULL LIMIT 1)"
    return (
        f"SELECT ctid, {col} {operator} {sample} AS distance\nFROM {tbl}\n"
        f"ORDER BY {col} {operator} {sample}\nLIMIT 10"
    )


def fix_to_try(diagnosis: Diagnosis) -> Finding | None:
    """The first (most severe) finding whose fix can be tried: a rewrite or a setting."""
    return next((f for f in diagnosis.findings if f.rewritten_sql or f.settings), None)


def try_fix(
    conn: psycopg.Connection[TupleRow], diagnosis: Diagnosis, inventory: Inventory
) -> Diagnosis | None:
    """Try the first fix a finding offers; None when none offers one.

    A rewritten query is explained as it is; a finding's settings (``ivfflat.probes``,
    say) are applied with ``SET LOCAL`` to the query for that one run, so the session
    keeps its own. Settings a diagnosis was itself tried with are kept, so fixes tried one
    after another add up. The run is analysed when the diagnosis was.
    """
    finding = fix_to_try(diagnosis)
    if finding is None:
        return None
    result = explain(
        conn,
        finding.rewritten_sql or diagnosis.result.original_sql,
        inventory,
        analyze=diagnosis.result.analyzed,
        settings={**dict(diagnosis.result.tried_settings), **dict(finding.settings)},
    )
    fixed = diagnose(result, inventory)
    return replace(fixed, tried=finding)
