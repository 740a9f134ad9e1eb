"""``vecscope migrate``: the wizard without a screen, for scripts, CI and SSH sessions.

``plan`` changes nothing; ``run`` goes through every step and refuses to start without
``--yes`` when there is no terminal to confirm on; ``resume`` and ``rollback`` read the
journal. Exit status: 0 done, 3 stopped because verification did not pass (the old
index still serves), 2 bad input or a failed step (the journal says where), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any, TextIO

from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.errors import BadInputError
from vecscope.core.fmt import human_bytes
from vecscope.core.migrate import export, lint, predict
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.build import BuildProgress
from vecscope.core.migrate.ddl import direct_target
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.journals import summary_json
from vecscope.core.migrate.plan import MigrationSpec, choose, describe
from vecscope.core.migrate.preflight import FAIL, Preflight
from vecscope.core.migrate.records import BackupChoice, RunOptions
from vecscope.core.migrate.refusal import refusal
from vecscope.core.migrate.render import partitioned_names, rollback_statements, steps
from vecscope.core.migrate.states import BACKUP_KINDS, Kind, Step
from vecscope.core.migrate.verify import Verification
from vecscope.core.statusline import StatusLine

EXIT_UNVERIFIED = 3


def _spec(args: argparse.Namespace, target: ConnectionTarget) -> MigrationSpec:
    with connected(target) as conn:
        inventory = fetch_inventory(conn)
    return choose(
        inventory,
        index=args.index,
        column=args.column,
        to=args.to,
        m=args.m,
        ef_construction=args.ef_construction,
        lists=args.lists,
        opclass=args.opclass,
        name=args.name,
        rename=args.rename,
        reindex=args.reindex,
        lock_timeout_ms=args.lock_timeout,
        retries=args.retries,
        min_recall=args.min_recall,
        k=args.k,
        queries=args.queries,
        where=getattr(args, "where", None),
    )


def plan_json(spec: MigrationSpec) -> dict[str, Any]:
    return {
        "summary": describe(spec),
        "spec": spec.to_json(),
        "steps": [
            {
                "key": s.key,
                "title": s.title,
                "statements": [{"sql": st.sql, "note": st.note} for st in s.statements],
                "actions": list(s.actions),
            }
            for s in steps(spec)
        ],
        "lint": [
            {"rule": f.rule, "severity": str(f.severity), "message": f.message}
            for f in lint.lint(export.sql_script(spec), partitioned=partitioned_names(spec))
        ],
        "rollback_before_cutover": [
            st.sql for st in rollback_statements(spec, after_cutover=False)
        ],
        "rollback_after_cutover": [st.sql for st in rollback_statements(spec, after_cutover=True)],
    }


def plan_text(spec: MigrationSpec) -> str:
    lines = [describe(spec), ""]
    for n, s in enumerate(steps(spec), 1):
        lines.append(f"{n}. {s.title}")
        lines.extend(f"     {a}" for a in s.actions)
        for st in s.statements:
            lines.append(f"     {st.sql}" + (f"  -- {st.note}" if st.note else ""))
    lines.append("")
    lines.append("Rollback before cutover:")
    lines.extend("     " + st.sql for st in rollback_statements(spec, after_cutover=False))
    if spec.old_name and spec.kind == Kind.REBUILD:
        lines.append("Rollback after cutover:")
        lines.extend("     " + st.sql for st in rollback_statements(spec, after_cutover=True))
    findings = lint.lint(export.sql_script(spec), partitioned=partitioned_names(spec))
    lines.append("")
    lines.append(
        "Lint: clean (concurrent, IF [NOT] EXISTS, lock_timeout, no transaction block)"
        if not findings
        else "Lint: " + "; ".join(f"{f.rule}: {f.message}" for f in findings)
    )
    return "\n".join(lines)


def _confirm(args: argparse.Namespace, what: str, word: str, out: TextIO) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise BadInputError(f"{what} No terminal to confirm on: pass --yes (nothing was changed)")
    out.write(f"{what}\nType {word!r} to go on: ")
    out.flush()
    if sys.stdin.readline().strip() != word:
        raise BadInputError("not confirmed: nothing was changed")


class _Cancel:
    """Ctrl-C during a build cancels it cleanly (the invalid index is dropped)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def _printer(out: TextIO, quiet: bool) -> Any:
    last = [0.0]

    def show(p: BuildProgress) -> None:
        if quiet or time.monotonic() - last[0] < 2.0:
            return
        last[0] = time.monotonic()
        pct = f" {p.percent:5.1f}%" if p.percent is not None else ""
        eta = f", {p.eta_label}" if p.eta_label else ""
        wait = ""
        if p.waiting_for:
            wait = "; waiting for " + ", ".join(
                f"pid {b.pid} ({b.age_seconds:.0f} s)" for b in p.waiting_for
            )
        where = f" {p.where}:" if p.where else ""
        out.write(f"  build:{where} {p.phase}{pct}, {p.elapsed_s:.0f} s{eta}{wait}\n")
        out.flush()

    return show


def avoid_spill(mig: Migration, notices: Sequence[str]) -> str:
    """The setting that would have kept the graph in memory, for the spill NOTICE."""
    summary = mig.preflight_summary()
    graph = summary.predicted_graph_bytes if summary else None
    need_mb = predict.memory_to_fit_kb(mig.spec, notices, graph) // 1024
    if not need_mb:
        return "a larger maintenance_work_mem would avoid it (--maintenance-work-mem)"
    return (
        f"SET maintenance_work_mem = '{need_mb}MB' would avoid it "
        f"(--maintenance-work-mem {need_mb}, if the server has the RAM)"
    )


def _preflight_text(result: Preflight) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "    "}
    lines = []
    for c in result.checks:
        lines.append(f"  {marks.get(c.status, c.status)} {c.title}")
        if c.detail and c.status != "ok":
            lines.append(f"         {c.detail}")
        if c.fix:
            lines.append(f"         fix: {c.fix}")
    for b in result.blockers:
        lines.append(
            f"         pid {b.pid} {b.user} {b.application} {b.age_seconds:.0f} s: {b.query}"
        )
    for n in result.notes:
        lines.append(f"         {n}")
    return "\n".join(lines)


def _verify_text(v: Verification, k: int) -> str:
    lines = [f"  served by: {v.served_by or 'a Seq Scan'}", f"  {v.verdict}"]
    rows = [("before", v.old), ("after", v.new)]
    for label, f in rows:
        if f is None:
            continue
        returned = (
            f"  {f.rows_returned:.1f} rows, {f.short_share:.0%} short"
            if f.rows_returned is not None and f.short_share is not None
            else ""
        )
        lines.append(
            f"  {label:<6} {f.index or 'exact scan':<32} recall@{k} {f.recall:.3f}{returned}  "
            f"p50 {f.p50_ms:.2f} ms  p95 {f.p95_ms:.2f} ms"
        )
    if v.required_recall is not None:
        lines.append(f"  required recall: {v.required_recall:.3f}")
    lines.extend(f"  ! {r}" for r in v.reasons)
    lines.append("  PASSED" if v.passed else "  NOT PASSED: the old index stays")
    return "\n".join(lines)


def _drive(mig: Migration, args: argparse.Namespace, out: TextIO) -> int:
    """Run every remaining step in order; returns the exit status."""
    options = mig.options
    quiet = bool(getattr(args, "json", False))

    def say(text: str) -> None:
        if not quiet:
            out.write(f"  {text}\n")
            out.flush()

    cancel = _Cancel()
    previous = signal.signal(signal.SIGINT, cancel)
    try:
        while True:
            step = mig.next_step()
            if step is None:
                break
            if not quiet:
                out.write(f"[{step}]\n")
            if step == Step.PREFLIGHT:
                result = mig.preflight_as_planned()
                say(_preflight_text(result).strip())
                if result.leftovers and options.drop_leftovers:
                    mig.drop_leftovers(list(result.leftovers), say)
                    continue_checks = [c for c in result.checks if c.key != "leftover"]
                    if any(c.status == FAIL for c in continue_checks):
                        return 2
                elif result.leftovers:
                    say("invalid leftovers stay (pass --drop-leftovers to drop them first)")
                if not result.ok:
                    raise BadInputError(
                        "preflight failed: " + "; ".join(c.title for c in result.failed)
                    )
            elif step == Step.BACKUP:
                # The dump's progress on stderr (stdout may be a --json document).
                with StatusLine(sys.stderr) as status:
                    rec = mig.backup_as_planned(
                        on_progress=None if quiet else lambda p: status.update(f"  {p.text()}")
                    )
                say(
                    f"{rec.kind} backup {rec.path or rec.identifier} "
                    f"({human_bytes(rec.bytes) if rec.bytes else 'confirmed'}"
                    f"{', sha256 ' + rec.sha256[:16] if rec.sha256 else ''}) verified"
                )
            elif step == Step.BASELINE:
                fig = mig.baseline()
                if fig is None:
                    say(mig.baseline_note())
                else:
                    say(
                        f"today: {fig.index or 'exact scan'} recall@{mig.spec.k} "
                        f"{fig.recall:.3f}, p50 {fig.p50_ms:.2f} ms, p95 {fig.p95_ms:.2f} ms"
                    )
            elif step == Step.BUILD:
                outcome = mig.build(
                    on_progress=_printer(out, quiet),
                    should_cancel=lambda: cancel.requested,
                    say=say,
                )
                if outcome.cancelled:
                    say("build cancelled; the invalid index was dropped; the old index serves")
                    return 130
                summary = mig.preflight_summary()
                pred = summary.predicted_seconds if summary else None
                say(
                    f"built in {outcome.seconds:.1f} s"
                    + (f" (predicted {pred:.1f} s)" if pred else "")
                    + f", {human_bytes(outcome.index_bytes)}"
                    + (
                        f", {predict.workers_used_text(outcome.workers)}"
                        if outcome.workers is not None
                        else ""
                    )
                )
                for n in outcome.notices:
                    if "fits" in n:
                        say(f"NOTICE {n}")
                        say(avoid_spill(mig, outcome.notices))
            elif step == Step.VERIFY:
                v = mig.verify()
                if not quiet:
                    out.write(_verify_text(v, mig.spec.k) + "\n")
                if not v.passed:
                    if options.force_cutover or getattr(args, "force_cutover", False):
                        say("verification did not pass; cutting over anyway (--force-cutover)")
                        mig.cutover(force=True, say=say)
                        continue
                    return EXIT_UNVERIFIED
            elif step == Step.CUTOVER:
                # --no-cutover stops this run (run's or resume's flag): the journal keeps
                # it as a record, not as a rule, so a later resume cuts over.
                if getattr(args, "no_cutover", False):
                    say(
                        "stopping before cutover (--no-cutover); "
                        "`vecscope migrate resume` cuts over"
                    )
                    return 0
                res = mig.cutover(say=say)
                dropped = (
                    f"dropped {mig.spec.old_name} ({res.attempts} attempt(s))"
                    if res.attempts
                    else f"{mig.spec.old_name} was already dropped"
                )
                say(
                    dropped
                    + (
                        f", renamed {mig.spec.new_name} to {mig.spec.old_name}"
                        if res.renamed
                        else ""
                    )
                    + f"; final EXPLAIN: {res.served_by or 'a Seq Scan'}"
                )
            elif step == Step.ROLLBACK:
                for line in mig.rollback(say):
                    say(line)
        return 0
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace, target: ConnectionTarget, out: TextIO) -> int:
    action = args.migrate_command
    if action in ("run", "resume", "rollback") and getattr(args, "direct_dsn", None):
        target = direct_target(target, args.direct_dsn)
    if action in ("plan", "alembic", "sql"):
        spec = _spec(args, target)
        if action == "plan":
            out.write(
                json.dumps(plan_json(spec), indent=2) + "\n"
                if args.json
                else plan_text(spec) + "\n"
            )
        elif action == "sql":
            out.write(export.sql_script(spec))
        else:
            out.write(
                export.alembic_revision(
                    spec,
                    revision=args.revision or export.new_revision_id(),
                    down_revision=args.down_revision,
                    message=args.message,
                )
            )
        return 0
    if action == "run":
        for flag in ("max_memory", "maintenance_work_mem", "server_cores"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise BadInputError(f"--{flag.replace('_', '-')} must be at least 1")
        backup = BackupChoice.parse(args.backup)
        if backup.kind not in BACKUP_KINDS:
            raise BadInputError("--backup must be table, database or confirmed:ID")
        if args.backup.startswith("confirmed") and not args.backup.partition(":")[2].strip():
            raise BadInputError("--backup confirmed:ID needs the backup's identifier after ':'")
        spec = _spec(args, target)
        with connected(target) as conn:
            refused = refusal(conn, fetch_inventory(conn), target)
        if refused is not None:
            raise BadInputError(refused)  # before any journal, dump or question
        if not args.json:
            out.write(plan_text(spec) + "\n\n")
        _confirm(args, f"This migrates {spec.schema}.{spec.table}.", spec.table, out)
        options = RunOptions(
            backup=args.backup,
            backup_dir=str(args.backup_dir) if args.backup_dir else None,
            drop_leftovers=args.drop_leftovers,
            no_cutover=args.no_cutover,
            force_cutover=args.force_cutover,
            max_memory_mb=args.max_memory,
            maintenance_work_mem_mb=args.maintenance_work_mem,
            server_cores=args.server_cores,
        )
        mig = Migration.start(target, spec, journal_path=args.journal, options=options)
        if not args.json:
            out.write(f"journal: {mig.path}\n")
        code = _drive(mig, args, out)
        if args.json:
            out.write(json.dumps(summary_json(mig), indent=2, default=str) + "\n")
        return code
    path = args.journal or jn.latest()
    if path is None:
        raise BadInputError("no migration journal found: pass --journal FILE")
    mig = Migration.open(path, target)
    if action == "resume":
        if not args.json:
            out.write(f"journal: {mig.path}\n")
        remaining = mig.remaining() if mig.next_step() != Step.ROLLBACK else (Step.ROLLBACK,)
        if mig.finished and not remaining:
            if not args.json:
                out.write("nothing left to do\n")
            code = 0
        else:
            what = ", ".join(str(s) for s in remaining) or "reconcile with the database"
            _confirm(
                args,
                f"This resumes the migration of {mig.spec.schema}.{mig.spec.table} ({what}).",
                mig.spec.table,
                out,
            )
            for line in mig.reconcile():
                if not args.json:
                    out.write(f"  {line}\n")
            if mig.next_step() is None:
                if not args.json:
                    out.write("nothing left to do\n")
                code = 0
            else:
                code = _drive(mig, args, out)
    else:
        if mig.rolled_back:
            if not args.json:
                out.write(f"already rolled back ({mig.path.name}): nothing to do\n")
            code = 0
        else:
            stmts = mig.rollback_plan()
            if not args.json:
                out.write(
                    "Rollback will run:\n" + "\n".join("  " + s for s in stmts) + "\n"
                    if stmts
                    else "Rollback finds nothing to undo in the database.\n"
                )
            _confirm(args, "This rolls the migration back.", "rollback", out)
            mig.remove_temporary_files()
            for line in mig.rollback():
                if not args.json:
                    out.write(f"  {line}\n")
            code = 0
    if args.json:
        out.write(json.dumps(summary_json(mig), indent=2, default=str) + "\n")
    return code
