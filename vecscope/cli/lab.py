"""``vecscope bench``: a latency/recall sweep of one vector column, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.errors import BadInputError
from vecscope.core.fmt import table
from vecscope.core.lab.filtered import EXACT, settings_label
from vecscope.core.lab.measure import Knob, Measurement, default_values, knob_for
from vecscope.core.lab.sampling import QuerySet
from vecscope.core.lab.session import (
    MAX_K,
    LabSession,
    capped_concurrency,
    connection_room,
    unmet_text,
)
from vecscope.core.lab.target import LabTarget
from vecscope.core.names import parse_name


def parse_table(text: str) -> tuple[str, str]:
    """``search."Product Embeddings"`` -> ``("search", "Product Embeddings")``."""
    schema, table = parse_name(text, 2, "--table", "SCHEMA.TABLE")
    assert table is not None
    return schema or "public", table


def _values(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise BadInputError(f"{name} takes whole numbers separated by commas") from e
    if not values or any(v < 1 for v in values):
        raise BadInputError(f"{name} takes positive whole numbers")
    return values


def _row(m: Measurement) -> dict[str, Any]:
    return {
        "settings": m.settings,
        "p50_ms": round(m.p50_ms, 3),
        "p95_ms": round(m.p95_ms, 3),
        "p99_ms": round(m.p99_ms, 3),
        "qps": round(m.qps, 1),
        "recall": round(m.recall, 4),
        "recall_ci95": [round(m.recall_low, 4), round(m.recall_high, 4)],
        "rows_returned_mean": round(m.returned_mean, 2),
        "short_share": round(m.short_share, 4),
        "short_share_ci95": [round(m.short_low, 4), round(m.short_high, 4)],
        "plan": m.plan,
        "index": m.index,
        "queries": m.queries,
        "k": m.k,
        "concurrency": m.concurrency,
    }


def _weighted(text: str) -> list[tuple[str, float]]:
    """``tenant-01:5,tenant-30`` -> ``[("tenant-01", 5.0), ("tenant-30", 1.0)]``."""
    found: list[tuple[str, float]] = []
    for item in text.split(","):
        value, sep, weight = item.strip().rpartition(":") if ":" in item else (item, "", "")
        value = value.strip()
        if not value:
            raise BadInputError(
                "--where-values takes VALUE[:WEIGHT],... e.g. tenant-01:5,tenant-30"
            )
        try:
            w = float(weight) if sep else 1.0
        except ValueError as e:
            raise BadInputError(f"--where-values: the weight of {value!r} is not a number") from e
        if not w > 0:
            raise BadInputError(f"--where-values: the weight of {value!r} must be positive")
        found.append((value, w))
    return found


def _apply(settings: dict[str, str]) -> str:
    """The SQL that applies ``settings``; the exact plan is for the query alone."""
    if settings == EXACT:
        return (
            "the exact plan: SET LOCAL enable_indexscan = off in the query's transaction "
            "(a B-tree on the filter keeps it fast)."
        )
    return " ".join(f"SET {k} = {v};" for k, v in settings.items())


def _settings_of(measurements: tuple[Measurement, ...], i: int | None) -> dict[str, str] | None:
    return dict(measurements[i].settings) if i is not None else None


def run_bench(args: argparse.Namespace, conn_target: ConnectionTarget, out: TextIO) -> int:
    """Exit 0 when a setting meets the targets (recall, and p50 latency if given), 3 when
    none does, 2 on bad input."""
    schema, tbl = parse_table(args.table)
    if not 0 < args.target_recall <= 1:
        raise BadInputError("--target-recall must be in (0, 1]")
    latency = args.target_latency_ms
    if latency is not None and not 0 < latency < float("inf"):
        raise BadInputError("--target-latency-ms must be a positive number of milliseconds")
    if not 1 <= args.k <= MAX_K:
        raise BadInputError(f"--k must be between 1 and {MAX_K:,}")
    if args.concurrency < 1:
        raise BadInputError("--concurrency must be at least 1")
    values: list[int] = []

    def check(target: LabTarget) -> None:
        # The options are checked against the column before any query vector is read.
        knob = knob_for(target)
        if args.ef_search and knob != Knob.EF_SEARCH:
            raise BadInputError(
                f"{target.index.name if target.index else 'the index'} is ivfflat: use --probes"
            )
        if args.probes and knob != Knob.PROBES:
            raise BadInputError(
                f"{target.index.name if target.index else 'the index'} is hnsw: use --ef-search"
            )
        chosen = args.ef_search or args.probes
        values.extend(
            _values(chosen, "--ef-search" if args.ef_search else "--probes")
            if chosen
            else default_values(target)
        )

    def sampled(queries: QuerySet) -> None:
        print(f"ground truth for {len(queries)} queries…", file=sys.stderr, flush=True)

    with connected(conn_target) as conn:
        # Capped before anything is measured: more sessions than the server has room for
        # would end in "too many clients" half-way, and starve the application meanwhile.
        concurrency, capped = capped_concurrency(connection_room(conn), args.concurrency)
        if capped:
            print(capped, file=sys.stderr, flush=True)
        lab = LabSession.prepare(
            conn,
            conn_target,
            schema,
            tbl,
            args.column,
            operator=args.operator,
            queries=args.queries_file if args.queries_file else args.queries,
            k=args.k,
            method=None if args.ground_truth == "auto" else args.ground_truth,
            memory_budget=args.memory_budget * 1024 * 1024,
            check=check,
            sampled=sampled,
            where=args.where,
            where_values=_weighted(args.where_values) if args.where_values else None,
        )
        fixes = lab.fixes(conn) if args.where else []
        share = lab.selectivity(conn) if args.where else None
    target, queries, gt, knob = lab.target, lab.queries, lab.gt, lab.knob
    filtered = queries.filter is not None
    # The knob alone names a plain sweep's settings; a filtered one's need every setting.

    def label(settings: dict[str, str]) -> str:
        return settings_label(settings) if filtered else f"{knob}={settings[knob]}"

    result = lab.sweep(
        lab.grid(values),
        k=args.k,
        concurrency=concurrency,
        target_recall=args.target_recall,
        target_latency_ms=latency,
        on_result=lambda m: print(
            f"  {label(m.settings)}: recall {m.recall:.3f}, p50 {m.p50_ms:.2f} ms"
            + (f", {m.returned_mean:.1f} rows" if filtered else ""),
            file=sys.stderr,
            flush=True,
        ),
    )
    rec, verdict = result.recommendation, result.verdict
    unmet = unmet_text(result, str(knob))
    doc = {
        "table": f"{target.schema}.{target.table}",
        "column": target.column,
        "operator": target.operator,
        "k": args.k,
        "queries": len(queries),
        "query_source": queries.source,
        "concurrency": concurrency,
        "concurrency_capped": capped,
        "ground_truth": {"method": gt.method, "seconds": round(gt.seconds, 3)},
        "target_recall": args.target_recall,
        "target_latency_ms": latency,
        "results": [_row(m) for m in result.measurements],
        "pareto": [_row(result.measurements[i])["settings"] for i in result.pareto],
        "recommendation": _row(result.measurements[rec]) if rec is not None else None,
        "unmet": verdict.unmet,
        "nearest": _settings_of(result.measurements, verdict.nearest),
        "best_within_latency": _settings_of(result.measurements, verdict.within_latency),
        "verdict": unmet,
        "where": queries.filter.text if queries.filter else None,
        "filter_selectivity": round(share, 5) if share is not None else None,
        "structural_fixes": [{"why": f.why, "sql": f.sql} for f in fixes],
    }
    if args.json:
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(
            f"{target.label}  k={args.k}  {queries.source}  concurrency="
            f"{concurrency}\nground truth: {gt.method} ({gt.seconds:.2f} s)\n"
        )
        if share is not None:
            out.write(f"the hottest filter matches {share:.2%} of the rows\n")
        out.write("\n")
        rows = []
        for i, m in enumerate(result.measurements):
            mark = ("★" if i in result.pareto else "") + (" ← recommended" if i == rec else "")
            if latency is not None and m.p50_ms > latency:
                mark += f" p50 over {latency:g} ms"
            cells = [
                label(m.settings),
                m.index or "Seq Scan",
                f"{m.p50_ms:.2f}",
                f"{m.p95_ms:.2f}",
                f"{m.p99_ms:.2f}",
                f"{m.qps:,.0f}",
                f"{m.recall:.3f} ({m.recall_low:.2f}-{m.recall_high:.2f})",
            ]
            if filtered:
                cells[1] = m.plan
                short = f"{m.short_share:.0%}"
                if m.short_high > 0:
                    short += f" ({m.short_low:.0%}-{m.short_high:.0%})"
                cells += [f"{m.returned_mean:.1f}", short]
            rows.append([*cells, mark])
        head = ["setting", "plan" if filtered else "index", "p50 ms", "p95 ms", "p99 ms", "qps"]
        head.append(f"recall@{args.k} (95% CI)")
        if filtered:
            head += ["rows", "short"]
        out.write(table([*head, ""], rows) + "\n\n")
        if rec is None:
            out.write(f"{unmet}\n")
        else:
            m = result.measurements[rec]
            within = f" <= {latency:g} ms" if latency is not None else ""
            out.write(
                f"Recommendation: {_apply(m.settings)}  (recall {m.recall:.3f}, 95% CI "
                f"{m.recall_low:.3f}-{m.recall_high:.3f} >= {args.target_recall}"
                + (f", {m.returned_mean:.1f} rows of {args.k}" if filtered else "")
                + f", p50 {m.p50_ms:.2f} ms{within})\n"
            )
        if fixes:
            out.write("\nStructural fixes (measure before building them in production):\n")
            for f in fixes:
                out.write(f"  {f.why}:\n    {f.sql}\n")
        out.write("★ Pareto front: no other setting is both faster and more accurate.\n")
        if filtered:
            out.write(
                "rows: rows returned per query on average; short: queries that returned "
                "fewer rows than exist for them (k, or fewer under the filter).\n"
            )

    return 0 if rec is not None else 3
