"""The statements of every step, rendered from a :class:`MigrationSpec`: what the wizard
shows before it runs them, what it sends, and what the exports reuse.
"""

from __future__ import annotations

import re

from vecscope.core.migrate.plan import MigrationSpec, Statement, StepPlan, describe
from vecscope.core.migrate.states import Kind, Step
from vecscope.core.sqltext import display_ident, ident, literal


def _with_clause(params: dict[str, int]) -> str:
    if not params:
        return ""
    return " WITH (" + ", ".join(f"{k} = {int(v)}" for k, v in params.items()) + ")"


def create_new_sql(spec: MigrationSpec) -> str:
    """The new index: concurrent, ``IF NOT EXISTS``, with an explicit operator class."""
    key = f"({spec.expression})" if spec.expression else ident(spec.column)
    sql = (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(spec.new_name)} ON {spec.qualified_table} "
        f"USING {spec.method} ({key} {spec.opclass}){_with_clause(spec.params)}"
    )
    if spec.old_tablespace:
        sql += f" TABLESPACE {ident(spec.old_tablespace)}"
    if spec.predicate:
        sql += f" WHERE {spec.predicate}"
    return sql + ";"


_CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX ", re.I)


def recreate_old_sql(spec: MigrationSpec) -> str | None:
    """The old index again, from its recorded definition, built concurrently."""
    if not spec.old_definition:
        return None
    sql = _CREATE_INDEX.sub(
        lambda m_: f"CREATE {m_.group(1) or ''}INDEX CONCURRENTLY IF NOT EXISTS ",
        spec.old_definition,
        count=1,
    )
    if spec.old_tablespace:
        # pg_get_indexdef leaves the tablespace out; it goes before the predicate, which
        # pg_get_indexdef prints last.
        tail = ""
        for form in (f" WHERE ({spec.predicate})", f" WHERE {spec.predicate}"):
            if spec.predicate and sql.endswith(form):
                sql, tail = sql[: -len(form)], form
                break
        sql = f"{sql} TABLESPACE {ident(spec.old_tablespace)}{tail}"
    return sql.rstrip(";") + ";"


def qualified(spec: MigrationSpec, name: str) -> str:
    return ident(spec.schema, name)


def _duration(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _memory(kb: int) -> str:
    return f"{kb // 1024}MB" if kb % 1024 == 0 else f"{kb}kB"


def session_settings(spec: MigrationSpec, *, build: bool) -> list[Statement]:
    out = [
        Statement(
            f"SET lock_timeout = {literal(_duration(spec.lock_timeout_ms))};",
            f"wait at most {spec.lock_timeout_ms} ms for a lock, then retry",
        )
    ]
    if build:
        out.append(Statement("SET statement_timeout = 0;", "the build may take long: no timeout"))
        if spec.maintenance_work_mem_kb:
            out.append(
                Statement(
                    f"SET maintenance_work_mem = {literal(_memory(spec.maintenance_work_mem_kb))};",
                    "room for the whole graph, this session only",
                )
            )
        if spec.parallel_workers is not None:
            out.append(
                Statement(
                    f"SET max_parallel_maintenance_workers = {int(spec.parallel_workers)};",
                    "parallel build workers, this session only",
                )
            )
    return out


def drop_sql(spec: MigrationSpec, name: str) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(spec, name)};"


def rename_sql(spec: MigrationSpec, old: str, new: str) -> str:
    return f"ALTER INDEX IF EXISTS {qualified(spec, old)} RENAME TO {ident(new)};"


def build_statements(spec: MigrationSpec) -> list[Statement]:
    out = session_settings(spec, build=True)
    if spec.kind == Kind.REINDEX:
        assert spec.old_name
        out.append(
            Statement(
                f"REINDEX INDEX CONCURRENTLY {qualified(spec, spec.old_name)};",
                "a fresh copy beside the old one, swapped in when valid",
            )
        )
    else:
        out.append(Statement(create_new_sql(spec), "autocommit; never inside a transaction"))
    return out


def cutover_statements(spec: MigrationSpec) -> list[Statement]:
    if spec.kind != Kind.REBUILD or not spec.old_name:
        return []
    out = session_settings(spec, build=False)
    out.append(
        Statement(
            drop_sql(spec, spec.old_name),
            f"retried up to {spec.retries} times when lock_timeout strikes",
        )
    )
    if spec.rename:
        out.append(
            Statement(
                rename_sql(spec, spec.new_name, spec.old_name), "the new index takes the old name"
            )
        )
    return out


def rollback_statements(spec: MigrationSpec, *, after_cutover: bool) -> list[Statement]:
    """What undoes the migration before, or after, the old index was dropped."""
    out = session_settings(spec, build=after_cutover)
    if spec.kind == Kind.REINDEX:
        name = spec.old_name or spec.new_name
        out.append(
            Statement(
                drop_sql(spec, name + "_ccnew"),
                "an interrupted REINDEX CONCURRENTLY leaves this invalid copy",
            )
        )
        return out
    if not after_cutover or spec.kind == Kind.CREATE:
        out.append(
            Statement(drop_sql(spec, spec.new_name), "the new index goes; the old one is untouched")
        )
        return out
    assert spec.old_name
    if spec.rename:
        out.append(
            Statement(rename_sql(spec, spec.old_name, spec.new_name), "give the old name back")
        )
    old = recreate_old_sql(spec)
    assert old is not None
    out.append(Statement(old, "the old index, from its recorded definition"))
    out.append(Statement(drop_sql(spec, spec.new_name), "once the old index is valid again"))
    return out


def steps(spec: MigrationSpec) -> tuple[StepPlan, ...]:
    """Every step of the wizard with the statements it will run."""
    table = display_ident(spec.schema, spec.table)
    analyze = Statement(f"ANALYZE {spec.qualified_table};", "fresh statistics for the planner")
    verify_actions = [
        f"check {spec.new_name} is valid and ready",
        "EXPLAIN a nearest-neighbour query: the new index must serve it",
        f"recall@{spec.k} and p50/p95 latency on {spec.queries} sampled queries, old and new",
    ]
    if spec.kind == Kind.REBUILD and spec.old_method == "ivfflat":
        verify_actions.insert(
            1, "make the old IVFFlat unattractive for the verifying session only (ivfflat.probes)"
        )
    out = [
        StepPlan(Step.PLAN, "Plan", actions=(f"{describe(spec)}",)),
        StepPlan(
            Step.PREFLIGHT,
            "Preflight",
            actions=(
                "pgvector version, dimensions, privileges, hot standby",
                "invalid leftovers of earlier attempts, long transactions",
                "index size against free space, graph memory and build time",
            ),
        ),
        StepPlan(
            Step.BACKUP,
            "Backup",
            actions=(
                f"pg_dump --format=custom of {table} (or the database, or a confirmed backup)",
                "pg_restore --list proves the dump holds the table's data",
            ),
        ),
        StepPlan(
            Step.BASELINE,
            "Baseline",
            actions=(
                f"recall@{spec.k} and latency of today's plan on {spec.queries} sampled queries",
            ),
        ),
        StepPlan(
            Step.BUILD,
            "Build",
            tuple(build_statements(spec)),
            ()
            if spec.maintenance_work_mem_kb
            else ("maintenance_work_mem and parallel workers: chosen by preflight",),
        ),
        StepPlan(Step.VERIFY, "Verify", (analyze,), tuple(verify_actions)),
    ]
    if spec.kind == Kind.REBUILD:
        out.append(
            StepPlan(
                Step.CUTOVER,
                "Cutover",
                tuple(cutover_statements(spec)),
                ("a final EXPLAIN shows the new index serving the query",),
            )
        )
    return tuple(out)


def script(spec: MigrationSpec) -> str:
    """Every statement of a successful run, in order, as a psql script (export)."""
    lines = [
        f"-- vecscope migration: {describe(spec)}",
        "-- Run with psql in autocommit (the default). Concurrent index builds cannot run",
        "-- inside a transaction block: do not wrap this file in BEGIN/COMMIT.",
        "",
    ]
    for step in steps(spec):
        if not step.statements:
            continue
        lines.append(f"-- {step.title}")
        for st in step.statements:
            lines.append(st.sql)
        lines.append("")
    lines.append("-- Rollback after cutover (recreates the old index):")
    for st in rollback_statements(spec, after_cutover=True):
        lines.append("-- " + st.sql)
    return "\n".join(lines) + "\n"
