"""``vecscope faiss``: inspect, convert, tune and export, without a screen.

Exit status: 0 done, 3 when tuning finds no setting meeting the target, 2 on bad input
(a missing, truncated, corrupt or non-FAISS file, a bad factory string, a folder that
does not exist...), never a traceback. A step that lasts shows its progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import shutil
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.errors import BadInputError
from vecscope.core.faissidx import files
from vecscope.core.faissidx.bridge import export_column
from vecscope.core.faissidx.convert import Converted, check_destination, convert
from vecscope.core.faissidx.files import OriginalsNeeded
from vecscope.core.faissidx.progress import Step, elapsed
from vecscope.core.faissidx.structure import IndexInfo, VectorStorage
from vecscope.core.faissidx.tune import Tuning, best_recall, compare, frontier, pick
from vecscope.core.faissidx.workload import deployment_text, tune_file
from vecscope.core.fmt import human_bytes, human_count, table


class StderrProgress:
    """A FAISS job's steps on stderr, once the job has run for :attr:`SHOW_AFTER_S`.

    On a terminal: one line redrawn a few times a second, a spinner and the phase's
    elapsed time moving even while FAISS trains without a word. Elsewhere (a log): a line
    at each new phase, and every :attr:`LOG_EVERY_S` while one lasts. Written through a
    copy of descriptor 2 taken first: core collects FAISS's training warnings by pointing
    descriptor 2 elsewhere meanwhile.
    """

    SHOW_AFTER_S = 2.0
    LOG_EVERY_S = 10.0
    TICK_S = 0.2
    SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._step: Step | None = None
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._stream: TextIO = sys.stderr
        self._owned = False
        self._tty = False
        self._drawn = False
        self._logged: tuple[str, float] = ("", 0.0)
        self._thread = threading.Thread(target=self._tick, name="faiss-progress", daemon=True)

    def __enter__(self) -> StderrProgress:
        with contextlib.suppress(AttributeError, ValueError, OSError, io.UnsupportedOperation):
            self._stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8")
            self._owned = True
        self._tty = self._stream.isatty()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if self._drawn and self._tty:
            self._write("\r\x1b[K")
        if self._owned:
            self._stream.close()

    def __call__(self, step: Step) -> None:
        with self._lock:
            self._step = step

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
            self._stream.flush()

    def _tick(self) -> None:
        frame = 0
        while not self._stop.wait(self.TICK_S):
            now = time.monotonic()
            with self._lock:
                step = self._step
            if step is None or now - self._started < self.SHOW_AFTER_S:
                continue
            line = f"{step.text()} · {elapsed(now - step.started)}"
            if self._tty:
                frame += 1
                width = shutil.get_terminal_size().columns - 3
                self._write(f"\r\x1b[K{self.SPINNER[frame % len(self.SPINNER)]} {line[:width]}")
                self._drawn = True
            elif step.phase != self._logged[0] or now - self._logged[1] >= self.LOG_EVERY_S:
                self._write(f"  {line}\n")
                self._logged = (step.phase, now)


def info_text(info: IndexInfo) -> str:
    lines = [
        f"{info.path}: {info.type}, {human_count(info.ntotal)} vectors of {info.d} dims, "
        f"{info.metric}, {human_bytes(info.bytes)} "
        f"({info.bytes_per_vector:,.0f} bytes a vector)" + (", memory-mapped" if info.mmap else ""),
        "chain:",
    ]
    for part in info.chain:
        params = " ".join(f"{k}={v}" for k, v in part.params.items())
        lines.append(f"  {part.role:<10} {part.kind:<24} {params}".rstrip())
    lines.append(
        {
            VectorStorage.EXACT: "vectors: stored exactly (convertible without the originals)",
            VectorStorage.LOSSY: (
                "vectors: lossy codes (converting needs the originals: --vectors X.npy)"
            ),
            VectorStorage.NONE: "vectors: none (empty index)",
        }[info.vectors]
    )
    if not info.is_trained:
        lines.append("not trained")
    return "\n".join(lines)


def tune_command(c: Converted) -> str:
    """The command that tunes the new file (runs as printed)."""
    argv = ["vecscope", "faiss", "tune", c.dst]
    if c.info.vectors == VectorStorage.LOSSY:
        # Its exact originals: the .npy it was built from, else the (exact) source file.
        argv += ["--vectors", c.vectors_from if c.vectors_from.endswith(".npy") else c.src]
    return shlex.join(argv)


def converted_text(c: Converted) -> str:
    v = c.verification
    out = [
        f"wrote {c.dst}: {c.info.type} ({c.factory}), {human_count(c.ntotal)} vectors from "
        f"{c.vectors_from}, {human_bytes(c.info.bytes)}",
        f"  trained in {c.train_seconds:.1f} s, added in {c.add_seconds:.1f} s on "
        f"{c.threads} threads",
        f"  recall@{v.k} on {v.queries} sampled queries: new {v.recall:.3f}"
        + (f", source {v.source_recall:.3f}" if v.source_recall is not None else "")
        + (f", agreement with the source {v.agreement:.3f}" if v.agreement is not None else ""),
        "  at its default search parameters; tune it with:",
        f"    {tune_command(c)}",
    ]
    out += [f"  note: {n}" for n in c.notes[:5]]
    return "\n".join(out)


def tuning_text(t: Tuning) -> str:
    rows = []
    for i, p in enumerate(t.points):
        mark = ("★" if i in t.pareto else "") + (" ← recommended" if i == t.recommendation else "")
        rows.append(
            [
                p.setting,
                f"{p.recall:.3f}",
                f"{p.p50_ms:.3f}",
                f"{p.p99_ms:.3f}",
                f"{p.qps:,.0f}",
                mark,
            ]
        )
    head = (
        f"{t.label or t.factory}: {human_bytes(t.memory_bytes)}, recall@{t.k} by "
        f"{t.recall_by}, {t.queries} queries, single-query latency on one thread"
    )
    body = table(["setting", f"recall@{t.k}", "p50 ms", "p99 ms", "qps", ""], rows)
    if t.best is None:
        tail = f"No setting reaches recall {t.target_recall}."
    else:
        b = t.best
        tail = f"Recommendation: {b.setting} (recall {b.recall:.3f}, p50 {b.p50_ms:.3f} ms)"
    return "\n".join([head, body, tail])


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    info = files.inspect(args.file)
    out.write(json.dumps(info.to_json(), indent=2) + "\n" if args.json else info_text(info) + "\n")
    return 0


def cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    with StderrProgress() as progress:
        result = convert(
            args.src,
            args.dst,
            args.to,
            vectors=args.vectors,
            k=args.k,
            queries=args.check_queries,
            progress=progress,
        )
    out.write(
        json.dumps(result.to_json(), indent=2) + "\n"
        if args.json
        else converted_text(result) + "\n"
    )
    return 0


def cmd_tune(args: argparse.Namespace, out: TextIO) -> int:
    with StderrProgress() as progress:
        tuned = tune_file(
            args.file,
            k=args.k,
            queries=args.queries,
            ground_truth=args.ground_truth,
            vectors=args.vectors,
            sample=args.sample,
            target_recall=args.target_recall,
            progress=progress,
        )
        result, work = tuned.tuning, tuned.workload
        others = None
        if args.memory_budget is not None:
            if work.corpus is None:
                raise OriginalsNeeded("comparing index types builds them from the original vectors")
            others = compare(
                work.corpus,
                work.queries,
                work.self_ids,
                work.truth,
                args.k,
                target_recall=args.target_recall,
                progress=progress,
            )
    doc: dict[str, Any] = {"tuning": result.to_json()}
    text = [tuning_text(result)]
    if others is not None:
        budget = args.memory_budget * 1024 * 1024
        chosen = pick(others, budget)
        front = frontier(others)
        doc["candidates"] = [t.to_json() for t in others]
        doc["frontier"] = front
        doc["chosen"] = chosen
        rows = [
            [
                t.label,
                t.factory,
                human_bytes(t.memory_bytes),
                "yes" if t.memory_bytes <= budget else "no",
                f"{best_recall(t):.3f}",
                t.best.setting if t.best else "-",
                f"{t.best.p50_ms:.3f}" if t.best else "-",
                ("★" if i in front else "") + (" ← chosen" if i == chosen else ""),
            ]
            for i, t in enumerate(others)
        ]
        text.append("")
        text.append(f"Index types within {human_bytes(budget)}:")
        text.append(
            table(
                ["type", "factory", "memory", "fits", "best recall", "setting", "p50 ms", ""], rows
            )
        )
        if chosen is not None:
            result = others[chosen]
    deploy = deployment_text(result)
    doc["deploy"] = deploy
    if deploy:
        text += ["", "Deploy it:", deploy]
    out.write(json.dumps(doc, indent=2) + "\n" if args.json else "\n".join(text) + "\n")
    return 0 if result.best is not None else 3


def cmd_export(args: argparse.Namespace, target: ConnectionTarget, out: TextIO) -> int:
    check_destination(args.out)  # before connecting: a bad path costs no read
    schema, _, name = args.table.rpartition(".")
    with connected(target, statement_timeout_ms=None) as conn:
        result = export_column(conn, schema or "public", name, args.column, args.out)
    if args.json:
        out.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        out.write(
            f"wrote {result.path}: {human_count(result.rows)} vectors of {result.d} dims from "
            f"{result.table}.{result.column} ({result.operator}: {result.metric}), "
            f"{human_bytes(result.bytes)}; ids are the table's primary keys\n"
        )
    return 0


def how_to_give_originals(e: OriginalsNeeded) -> BadInputError:
    """Core says what is missing; the command line says which flag gives it."""
    how = "give them with --vectors X.npy"
    if e.ground_truth_would_do:
        how += " (or --queries Q.npy with --ground-truth GT.npy)"
    return BadInputError(f"{e.message}: {how}", title=e.title)


def run(args: argparse.Namespace, target: ConnectionTarget, out: TextIO) -> int:
    action = args.faiss_command
    try:
        if action == "inspect":
            return cmd_inspect(args, out)
        if action == "convert":
            return cmd_convert(args, out)
        if action == "tune":
            return cmd_tune(args, out)
        return cmd_export(args, target, out)
    except OriginalsNeeded as e:
        raise how_to_give_originals(e) from e
