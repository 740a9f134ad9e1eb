"""The statements of every step, rendered from a :class:`MigrationSpec`: what the wizard
shows before it runs them, what it sends, and what the exports reuse.
"""

from __future__ import annotations

import re

from vecscope.core.migrate.plan import (
    MigrationSpec,
    PartitionPlan,
    Statement,
    StepPlan,
    describe,
)
from vecscope.core.migrate.states import Kind, Step
from vecscope.core.sqltext import display_ident, ident, literal


def _with_clause(params: dict[str, int]) -> str:
    if not params:
        return ""
    return " WITH (" + ", ".join(f"{k} = {int(v)}" for k, v in params.items()) + ")"


def _using(spec: MigrationSpec, tablespace: str | None) -> str:
    """``USING method (key opclass) WITH (...) [TABLESPACE t] [WHERE p]`` of the new index."""
    key = f"({spec.expression})" if spec.expression else ident(spec.column)
    sql = f"USING {spec.method} ({key} {spec.opclass}){_with_clause(spec.params)}"
    if tablespace:
        sql += f" TABLESPACE {ident(tablespace)}"
    if spec.predicate:
        sql += f" WHERE {spec.predicate}"
    return sql


def create_new_sql(spec: MigrationSpec) -> str:
    """The new index: concurrent, ``IF NOT EXISTS``, with an explicit operator class.

    On a partitioned table, the partitioned index ``ON ONLY`` the parent: PostgreSQL
    builds no partitioned index concurrently, and ``ON ONLY`` builds nothing at all (an
    empty, INVALID index that turns valid when every partition's index is attached).
    """
    if spec.partitioned:
        return (
            f"CREATE INDEX IF NOT EXISTS {ident(spec.new_name)} ON ONLY {spec.qualified_table} "
            f"{_using(spec, spec.old_tablespace)};"
        )
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(spec.new_name)} ON {spec.qualified_table} "
        f"{_using(spec, spec.old_tablespace)};"
    )


def create_partition_sql(spec: MigrationSpec, part: PartitionPlan) -> str:
    """One partition's new index, built concurrently like any table's."""
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(part.new_name)} "
        f"ON {qualified(spec, part.table)} {_using(spec, part.old_tablespace)};"
    )


def attach_sql(spec: MigrationSpec, parent: str, child: str) -> str:
    """Attach a partition's index to the partitioned index (again: a no-op)."""
    return f"ALTER INDEX {qualified(spec, parent)} ATTACH PARTITION {qualified(spec, child)};"


_CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX ", re.I)


def _recreate(
    definition: str, tablespace: str | None, predicate: str | None, *, concurrently: bool
) -> str:
    how = "CONCURRENTLY IF NOT EXISTS " if concurrently else "IF NOT EXISTS "
    sql = _CREATE_INDEX.sub(
        lambda m_: f"CREATE {m_.group(1) or ''}INDEX {how}", definition, count=1
    )
    if tablespace:
        # pg_get_indexdef leaves the tablespace out; it goes before the predicate, which
        # pg_get_indexdef prints last.
        tail = ""
        for form in (f" WHERE ({predicate})", f" WHERE {predicate}"):
            if predicate and sql.endswith(form):
                sql, tail = sql[: -len(form)], form
                break
        sql = f"{sql} TABLESPACE {ident(tablespace)}{tail}"
    return sql.rstrip(";") + ";"


def recreate_old_sql(spec: MigrationSpec) -> str | None:
    """The old index again, from its recorded definition, built concurrently (on a
    partitioned table: ``ON ONLY`` the parent, as ``pg_get_indexdef`` prints it)."""
    if not spec.old_definition:
        return None
    return _recreate(
        spec.old_definition,
        spec.old_tablespace,
        spec.predicate,
        concurrently=not spec.partitioned,
    )


def recreate_old_partition_sql(spec: MigrationSpec, part: PartitionPlan) -> str | None:
    """A partition's old index again, from its recorded definition, concurrently."""
    if not part.old_definition:
        return None
    return _recreate(part.old_definition, part.old_tablespace, spec.predicate, concurrently=True)


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


def drop_leftover_sql(spec: MigrationSpec, name: str, *, partitioned: bool = False) -> str:
    """The drop of an invalid leftover: concurrent, but a partitioned index refuses that."""
    return f"DROP INDEX IF EXISTS {qualified(spec, name)};" if partitioned else drop_sql(spec, name)


#: The shortest lock_timeout a partitioned index's drop waits for each of its locks.
MIN_PARTITION_LOCK_MS = 50


def partition_lock_timeout_ms(spec: MigrationSpec) -> int:
    """lock_timeout for dropping a partitioned index: ``DROP INDEX`` takes an ACCESS
    EXCLUSIVE lock on the parent, then on each partition in turn, holding the ones it has
    while it waits for the next; each wait at most this, the whole at most about the
    migration's lock_timeout."""
    return max(MIN_PARTITION_LOCK_MS, spec.lock_timeout_ms // (len(spec.partitions) + 1))


def drop_partitioned_statements(spec: MigrationSpec, name: str, note: str) -> list[Statement]:
    """A partitioned index's drop: ``CONCURRENTLY`` is refused there (PostgreSQL), and a
    partition's index cannot be dropped or detached alone, so the parent's goes, and the
    partitions' with it: catalog work only, a few milliseconds once the locks are held."""
    ms = partition_lock_timeout_ms(spec)
    return [
        Statement(
            f"SET lock_timeout = {literal(_duration(ms))};",
            f"the drop locks the parent and its {len(spec.partitions)} partition(s) in turn: "
            f"{ms} ms at most for each, so no query waits much longer than "
            f"{spec.lock_timeout_ms} ms in all",
        ),
        Statement(
            f"DROP INDEX IF EXISTS {qualified(spec, name)};",
            f"{note}; retried up to {spec.retries} times when lock_timeout strikes",
        ),
    ]


def partitioned_names(spec: MigrationSpec) -> frozenset[str]:
    """The migration's partitioned indexes (the linter accepts a plain drop of these)."""
    if not spec.partitioned:
        return frozenset()
    return frozenset(n for n in (spec.old_name, spec.new_name) if n)


def _partition_builds(spec: MigrationSpec) -> list[Statement]:
    out = [
        Statement(
            create_new_sql(spec),
            "catalog only: an empty, INVALID index on the parent alone "
            "(a SHARE lock on the parent for a moment)",
        )
    ]
    n = len(spec.partitions)
    for i, part in enumerate(spec.partitions, 1):
        out.append(
            Statement(
                create_partition_sql(spec, part),
                f"partition {i} of {n}, with its own progress; writes go on",
            )
        )
        out.append(
            Statement(
                attach_sql(spec, spec.new_name, part.new_name),
                "a moment's lock on the two indexes"
                + ("; the partitioned index is now valid" if i == n else ""),
            )
        )
    return out


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
    elif spec.partitioned:
        out += _partition_builds(spec)
    else:
        out.append(Statement(create_new_sql(spec), "autocommit; never inside a transaction"))
    return out


def build_statement(spec: MigrationSpec) -> str:
    """The statement that names the build in the journal (the index's creation)."""
    return next(
        st.sql for st in build_statements(spec) if st.sql.startswith(("CREATE INDEX", "REINDEX"))
    )


def cutover_statements(spec: MigrationSpec) -> list[Statement]:
    if spec.kind != Kind.REBUILD or not spec.old_name:
        return []
    out = session_settings(spec, build=False)
    if spec.partitioned:
        out += drop_partitioned_statements(
            spec, spec.old_name, "the old partitioned index, and each partition's with it"
        )
    else:
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


def _drop_new_partitioned(spec: MigrationSpec, *, unattached: bool) -> list[Statement]:
    out = drop_partitioned_statements(
        spec, spec.new_name, "the new partitioned index, and each partition's attached to it"
    )
    if unattached:
        out += [
            Statement(
                drop_sql(spec, part.new_name),
                "a partition's index an interrupted build left unattached",
            )
            for part in spec.partitions
        ]
    return out


def _recreate_old_partitioned(spec: MigrationSpec) -> list[Statement]:
    assert spec.old_name
    old = recreate_old_sql(spec)
    assert old is not None
    out = [Statement(old, "the old partitioned index ON ONLY the parent, from its definition")]
    for part in spec.partitions:
        again = recreate_old_partition_sql(spec, part)
        assert again is not None and part.old_name
        out.append(Statement(again, f"{part.table}'s old index, from its recorded definition"))
        out.append(Statement(attach_sql(spec, spec.old_name, part.old_name), "attached again"))
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
        if spec.partitioned:
            return out + _drop_new_partitioned(spec, unattached=True)
        out.append(
            Statement(drop_sql(spec, spec.new_name), "the new index goes; the old one is untouched")
        )
        return out
    assert spec.old_name
    if spec.rename:
        out.append(
            Statement(rename_sql(spec, spec.old_name, spec.new_name), "give the old name back")
        )
    if spec.partitioned:
        return out + _recreate_old_partitioned(spec) + _drop_new_partitioned(spec, unattached=False)
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
    backup_actions = (
        f"pg_dump --format=custom of {table} (or the database, or a confirmed backup)",
        "pg_restore --list proves the dump holds the table's data",
    )
    if spec.partitioned:
        n = len(spec.partitions)
        verify_actions[0] = f"check {spec.new_name} is valid: each of the {n} partitions attached"
        verify_actions[-2] = (
            "EXPLAIN a nearest-neighbour query: each partition's new index must serve it"
        )
        backup_actions = (
            f"pg_dump --format=custom of {table} and its {n} partition(s) "
            "(--table-and-children), or the database, or a confirmed backup",
            "pg_restore --list proves the dump holds every partition's data",
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
            actions=backup_actions,
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
