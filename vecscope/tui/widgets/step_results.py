"""What each migration step shows: its SQL, and its result once it ran, as lines of Content.

Pure functions of the engine's records, so the step panel only stacks them and the tests
can read them without a screen. Colours come from theme variables only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.content import Content
from textual.highlight import highlight

from vecscope.core.fmt import human_bytes
from vecscope.core.migrate import predict
from vecscope.core.migrate.backup import KIND_CONFIRMED, BackupRecord
from vecscope.core.migrate.build import BuildOutcome, BuildProgress
from vecscope.core.migrate.plan import MigrationSpec, Statement
from vecscope.core.migrate.preflight import Blocker, Preflight
from vecscope.core.migrate.records import CutoverResult, PreflightSummary, StepResult
from vecscope.core.migrate.states import Step
from vecscope.core.migrate.verify import Figures, Verification

CHECK_MARK = {
    "ok": ("ok  ", "$success"),
    "warn": ("WARN", "$warning bold"),
    "fail": ("FAIL", "$error bold"),
    "info": ("info", "$text-muted"),
}
#: No ceiling when saying how much memory would have kept the graph in memory.
_INDENT = "      "


def kv(label: str, value: Content | str) -> Content:
    return Content.assemble((f"{label:<16}", "$text-muted"), value)


def ok(text: str) -> Content:
    return Content.assemble(("✓ ", "$success bold"), (text, "$success"))


def bad(text: str) -> Content:
    return Content.assemble(("✗ ", "$error bold"), (text, "$error"))


def warn(text: str) -> Content:
    return Content.assemble(("▲ ", "$warning bold"), text)


def muted(text: str) -> Content:
    return Content.styled(text, "$text-muted")


def statement_lines(statements: Iterable[Statement]) -> list[Content]:
    """Each statement highlighted as SQL, its note beneath it."""
    lines: list[Content] = []
    for st in statements:
        lines.append(highlight(st.sql, language="sql"))
        if st.note:
            lines.append(muted(f"  -- {st.note}"))
    return lines


def blocker_line(b: Blocker) -> Content:
    who = ", ".join(x for x in (b.user, b.application, b.state) if x)
    return Content.assemble(
        (f"pid {b.pid}", "bold"), f" ({who}) open {b.age_seconds:.0f} s: ", muted(b.query)
    )


# --- preflight ---------------------------------------------------------------------------


def preflight_lines(p: Preflight) -> list[Content]:
    """Every check with its mark, detail and fix; the long transactions; the prediction."""
    lines: list[Content] = []
    for c in p.checks:
        mark, style = CHECK_MARK.get(c.status, (c.status, ""))
        lines.append(Content.assemble((mark, style), " ", c.title))
        if c.detail and c.status != "ok":
            lines.append(muted(_INDENT + c.detail))
        if c.fix:
            lines.append(
                Content.assemble(
                    (_INDENT + "fix: ", "$text-muted"), highlight(c.fix, language="sql")
                )
            )
    if p.blockers:
        lines += [Content(""), Content.styled("Long transactions a build would wait for", "bold")]
        lines += [Content.assemble("  ", blocker_line(b)) for b in p.blockers]
    lines += [muted(n) for n in p.notes]
    lines.append(Content(""))
    if p.ok:
        lines.append(ok("preflight passed"))
    else:
        lines.append(bad("preflight failed: fix what it lists and run it again"))
    if p.leftovers:
        lines.append(
            muted("d drops the invalid leftovers (only invalid indexes), then run it again")
        )
    return lines


def preflight_journal_lines(summary: PreflightSummary) -> list[Content]:
    """A resumed journal's preflight: what it recorded, not every check."""
    lines = [muted("(from the journal)")]
    if summary.predicted_seconds:
        lines.append(kv("predicted build", f"~{summary.predicted_seconds:.0f} s"))
    if summary.maintenance_work_mem_kb:
        mwm = human_bytes(int(summary.maintenance_work_mem_kb) * 1024)
        lines.append(kv("memory", f"maintenance_work_mem = {mwm}"))
    if summary.workers is not None:
        lines.append(kv("workers", predict.workers_text(summary.workers)))
    for name in summary.leftovers:
        lines.append(warn(f"invalid leftover {name}"))
    failed = summary.failed
    lines.append(bad("failed: " + "; ".join(failed)) if failed else ok("preflight passed"))
    return lines


# --- backup ------------------------------------------------------------------------------


def backup_lines(rec: BackupRecord) -> list[Content]:
    if rec.kind == KIND_CONFIRMED:
        return [
            kv("backup", "confirmed by you (vecscope took no dump)"),
            kv("identifier", Content.styled(rec.identifier or "", "bold")),
            kv("recorded", rec.created),
        ]
    return [
        kv("backup", f"pg_dump of the {rec.kind} (custom format)"),
        kv("file", Content.styled(rec.path or "", "bold")),
        kv("size", human_bytes(rec.bytes)),
        kv("sha256", rec.sha256 or "-"),
        kv("pg_dump", rec.pg_dump_version or "?"),
        kv("holds", ", ".join(rec.tables)),
        kv("taken", rec.created),
        ok("verified: pg_restore --list reads the table's data back"),
    ]


# --- baseline and verify -----------------------------------------------------------------

_FIGURE_ROWS: tuple[tuple[str, str], ...] = (
    ("p50", "p50_ms"),
    ("p95", "p95_ms"),
    ("p99", "p99_ms"),
)


def figures_lines(before: Figures | None, after: Figures | None, k: int) -> list[Content]:
    """Baseline and new index side by side: serving index, recall@k, latency."""
    cols = [f for f in (before, after) if f is not None]
    if not cols:
        return [muted("not measured")]
    width = 34

    def row(label: str, cells: Sequence[Content | str]) -> Content:
        parts: list[Content | str | tuple[str, str]] = [(f"{label:<16}", "$text-muted")]
        for cell in cells:
            text = cell if isinstance(cell, Content) else Content(cell)
            parts.append(text.pad_right(max(0, width - text.cell_length)))
        return Content.assemble(*parts)

    heads = ["before (baseline)" if f is before else "after (new index)" for f in cols]
    lines = [row("", [Content.styled(h, "bold") for h in heads])]
    lines.append(
        row(
            "index",
            [
                Content(f.index) if f.index else Content.styled("Seq Scan (exact)", "$warning")
                for f in cols
            ],
        )
    )
    lines.append(row(f"recall@{k}", [f"{f.recall:.3f}" for f in cols]))
    if any(f.rows_returned is not None for f in cols):
        # Under the application's filter: how many rows came back, how often short.
        lines.append(row("rows returned", [f"{f.rows_returned or 0:.1f}" for f in cols]))
        lines.append(row("short of rows", [f"{f.short_share or 0:.0%}" for f in cols]))
    for label, attr in _FIGURE_ROWS:
        lines.append(row(label, [f"{getattr(f, attr):,.2f} ms" for f in cols]))
    lines.append(row("QPS", [f"{f.qps:,.0f}" for f in cols]))
    lines.append(row("queries", [str(f.queries) for f in cols]))
    return lines


def verify_lines(v: Verification, k: int) -> list[Content]:
    lines = [kv("served by", v.served_by or Content.styled("a Seq Scan", "$error"))]
    if v.verdict:
        lines.append(muted(v.verdict))
    if v.steering:
        steering = ", ".join(f"{name}={value}" for name, value in v.steering.items())
        lines.append(kv("steering", f"{steering} (the verifying sessions only)"))
    lines += [Content(""), *figures_lines(v.old, v.new, k)]
    if v.required_recall is not None:
        lines.append(kv("required recall", f"{v.required_recall:.3f}"))
    lines += [warn(r) for r in v.reasons]
    lines.append(Content(""))
    lines.append(
        ok("PASSED: the new index is valid, serves the query and is as accurate")
        if v.passed
        else bad("NOT PASSED: the old index stays")
    )
    return lines


# --- build -------------------------------------------------------------------------------


def notice_lines(
    notices: Sequence[str], spec: MigrationSpec, graph_bytes: int | None
) -> list[Content]:
    """The server's notices; a graph that spilled says which setting would have avoided it."""
    lines: list[Content] = []
    for text in notices:
        if predict.is_workers_notice(text):
            continue  # said as the workers that took part (build_outcome_lines)
        if "no longer fits" in text:
            lines.append(warn(text))
            need = predict.memory_to_fit_kb(spec, notices, graph_bytes)
            if need:
                lines.append(
                    Content.assemble(
                        _INDENT,
                        highlight(
                            f"SET maintenance_work_mem = '{need // 1024}MB';", language="sql"
                        ),
                        muted(
                            " would avoid it (work mem MB in the plan, if the server has the RAM)"
                        ),
                    )
                )
        else:
            lines.append(muted(text))
    return lines[:8]


def build_progress_lines(
    p: BuildProgress, spec: MigrationSpec, predicted_s: float | None, graph_bytes: int | None
) -> list[Content]:
    """The live phase, elapsed time and ETA, the sessions waited for, the notices."""
    phase = p.phase + (f" (attempt {p.attempt})" if p.attempt > 1 else "")
    lines = [kv("phase", Content.styled(phase, "bold"))]
    if p.partition is not None:
        lines.insert(0, kv("partition", f"{p.partition_number} of {p.partitions}: {p.partition}"))
    timing = f"{p.elapsed_s:.0f} s elapsed"
    if p.eta_label:
        timing += f" · {p.eta_label}"
    if predicted_s:
        timing += f" · predicted {predicted_s:.0f} s"
    lines.append(kv("time", timing))
    if p.waiting_for:
        lines.append(kv("waiting for", f"{len(p.waiting_for)} session(s) to finish"))
        lines += [Content.assemble(" " * 16, blocker_line(b)) for b in p.waiting_for]
    lines += notice_lines(p.notices, spec, graph_bytes)
    return lines


def build_outcome_lines(
    o: BuildOutcome, spec: MigrationSpec, predicted_s: float | None, graph_bytes: int | None
) -> list[Content]:
    if o.cancelled:
        return [
            bad(f"cancelled after {o.seconds:.1f} s"),
            muted("the invalid index was dropped; the old index still serves every query"),
        ]
    took = f"built in {o.seconds:.1f} s"
    if predicted_s:
        took += f" (predicted {predicted_s:.1f} s)"
    lines = [ok(took), kv("index size", human_bytes(o.index_bytes))]
    if o.workers is not None:
        lines.append(kv("workers", predict.workers_used_text(o.workers)))
    if o.attempts > 1:
        lines.append(kv("attempts", f"{o.attempts} (lock_timeout struck before)"))
    return lines + notice_lines(o.notices, spec, graph_bytes)


# --- cutover and rollback ----------------------------------------------------------------


def cutover_lines(r: CutoverResult, spec: MigrationSpec) -> list[Content]:
    lines = [ok(f"dropped {spec.old_name} ({r.attempts} attempt(s))")]
    if r.renamed:
        lines.append(ok(f"{spec.new_name} renamed to {spec.old_name}"))
    served = r.served_by == spec.final_name
    lines.append(
        kv(
            "final EXPLAIN",
            Content.styled(r.served_by or "a Seq Scan", "$success" if served else "$error bold"),
        )
    )
    if r.verdict:
        lines.append(muted(r.verdict))
    return lines


def result_lines(
    key: Step,
    result: StepResult | list[str] | None,
    spec: MigrationSpec,
    preflight: PreflightSummary | None,
) -> list[Content]:
    """The result of step ``key``, whatever record it is."""
    predicted = preflight.predicted_seconds if preflight else None
    graph = preflight.predicted_graph_bytes if preflight else None
    if isinstance(result, Preflight):
        return preflight_lines(result)
    if isinstance(result, BackupRecord):
        return backup_lines(result)
    if isinstance(result, Figures):
        return figures_lines(result, None, spec.k)
    if isinstance(result, BuildOutcome):
        return build_outcome_lines(result, spec, predicted, graph)
    if isinstance(result, Verification):
        return verify_lines(result, spec.k)
    if isinstance(result, CutoverResult):
        return cutover_lines(result, spec)
    if isinstance(result, list):
        return [ok(line) for line in result] or [muted("nothing to do")]
    if key == Step.PREFLIGHT and preflight is not None:
        return preflight_journal_lines(preflight)
    return []
