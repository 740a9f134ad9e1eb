"""Where a long FAISS job is: its phase, how far it got, and FAISS's own training steps.

A conversion or a tuning can run for minutes (an OPQ rotation trains for that long on a
large file). Each phase is a :class:`Step`: what runs, how far (vectors added, settings
measured, training iterations), and when the phase began, so a front end shows the time
since with a moving indicator of its own even while the step reports nothing new.

Training runs inside FAISS's C++ code and never calls back. FAISS says how far it got only
in its verbose output on descriptor 1 (k-means iterations, PQ slices, OPQ iterations), so
while an index trains that descriptor points at a pipe a reader thread parses
(:func:`training_output`); :class:`TrainingWatcher` turns the lines into counts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import faiss


@dataclass(frozen=True, slots=True)
class Step:
    """One phase of a job, and how far it got."""

    phase: str
    done: int | None = None
    total: int | None = None
    #: What ``done`` and ``total`` count ("vectors", "settings", "OPQ iterations").
    unit: str = ""
    #: More about the phase ("OPQ rotation: PQ slice 3 of 16").
    detail: str = ""
    #: ``time.monotonic()`` when the phase began: front ends show the time since.
    started: float = field(default_factory=time.monotonic)

    @property
    def fraction(self) -> float | None:
        """How far, 0..1, when the phase knows its total."""
        if self.done is None or not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    def text(self) -> str:
        """``phase: detail · done / total unit``, for a line on a screen or a terminal."""
        out = self.phase
        if self.detail:
            out += f": {self.detail}"
        if self.done is not None and self.total:
            out += f" · {self.done:,} / {self.total:,} {self.unit}".rstrip()
        return out


Progress = Callable[[Step], None]


def no_progress(_step: Step) -> None:
    """The default: nobody is watching."""


def elapsed(seconds: float) -> str:
    """``0:07``, ``2:03``, ``1:02:03``."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Reporter:
    """Sends a job's steps to ``progress``; :meth:`phase` starts one, :meth:`update` moves it.

    Thread-safe: FAISS's training output is parsed on a reader thread.
    """

    def __init__(self, progress: Progress, prefix: str = "") -> None:
        self._progress = progress
        self._prefix = prefix
        self._lock = threading.Lock()
        self.step = Step("starting")

    def phase(
        self, name: str, *, total: int | None = None, unit: str = "", detail: str = ""
    ) -> None:
        with self._lock:
            self.step = Step(
                self._prefix + name, 0 if total else None, total, unit, detail, time.monotonic()
            )
            step = self.step
        self._progress(step)

    def update(
        self,
        *,
        done: int | None = None,
        total: int | None = None,
        unit: str | None = None,
        detail: str | None = None,
    ) -> None:
        with self._lock:
            s = self.step
            self.step = replace(
                s,
                done=s.done if done is None else done,
                total=s.total if total is None else total,
                unit=s.unit if unit is None else unit,
                detail=s.detail if detail is None else detail,
            )
            step = self.step
        self._progress(step)

    def count(self, done: int | None, total: int | None, unit: str, detail: str) -> None:
        """Replace the phase's counts and detail (``None``: nothing counted now)."""
        with self._lock:
            self.step = replace(self.step, done=done, total=total, unit=unit, detail=detail)
            step = self.step
        self._progress(step)


# --- FAISS's training output ---------------------------------------------------------

_OPQ_START = re.compile(r"OPQMatrix::train: training an OPQ rotation")
_OPQ_ITER = re.compile(r"^\s*Iteration (\d+) \(\d+ PQ iterations\)")
_SLICE = re.compile(r"Training PQ slice (\d+)/(\d+)")
_CLUSTERING = re.compile(r"Clustering \d+ points in \d+D to (\d+) clusters.*?(\d+) iterations")
_KMEANS_ITER = re.compile(r"^\s*Iteration (\d+) \(")
_COARSE = re.compile(r"Training level-1 quantizer")
_RESIDUAL = re.compile(r"Training IVF residual|training .*product quantizer", re.IGNORECASE)
#: Stages FAISS announces and then runs without counting.
_UNCOUNTED = {
    "doing polysemous training": "polysemous training (orders the PQ codes)",
    "precomputing IVFPQ tables": "precomputing the IVF-PQ tables",
}


class TrainingWatcher:
    """Counts what FAISS's verbose training lines say: OPQ iterations, PQ slices, k-means.

    Args:
        report: Called with ``(done, total, unit, detail)`` whenever a count moves.
        opq_iterations: The OPQ rotation's iterations (FAISS prints only the current one).
    """

    def __init__(
        self, report: Callable[[int | None, int | None, str, str], None], opq_iterations: int = 0
    ) -> None:
        self._report = report
        self._opq_total = opq_iterations
        self._stage = ""
        self._opq: int | None = None
        self._slice: tuple[int, int] | None = None
        self._kmeans: tuple[int, int] | None = None
        self._clusters = 0

    def feed(self, line: str) -> None:
        """One line (or ``\\r``-separated piece) of FAISS's output."""
        if _OPQ_START.search(line):
            self._stage, self._opq = "OPQ rotation", 0
        elif m := _OPQ_ITER.match(line):
            self._opq = int(m.group(1)) + 1
            self._slice = self._kmeans = None
        elif _COARSE.search(line):
            self._stage, self._slice = "coarse quantizer", None
        elif _RESIDUAL.search(line) and self._stage != "OPQ rotation":
            self._stage, self._kmeans = "codebooks", None
        elif m := _SLICE.search(line):
            if self._stage != "OPQ rotation" or (self._opq or 0) >= self._opq_total > 0:
                # The rotation is done: these are the codebooks of the index under it.
                self._stage, self._opq = "PQ codebooks", None
            self._slice = (int(m.group(1)) + 1, int(m.group(2)))
            self._kmeans = None
        elif m := _CLUSTERING.search(line):
            self._clusters, self._kmeans = int(m.group(1)), (0, int(m.group(2)))
        elif (m := _KMEANS_ITER.match(line)) and self._kmeans is not None:
            self._kmeans = (int(m.group(1)) + 1, self._kmeans[1])
        elif stage := next((v for k, v in _UNCOUNTED.items() if k in line), None):
            self._stage, self._opq, self._slice, self._kmeans = stage, None, None, None
        else:
            return
        self._send()

    def _send(self) -> None:
        parts = []
        if self._slice is not None:
            parts.append(f"PQ slice {self._slice[0]} of {self._slice[1]}")
        if self._kmeans is not None:
            parts.append(
                f"k-means ({self._clusters:,} centroids) iteration "
                f"{self._kmeans[0]} of {self._kmeans[1]}"
            )
        detail = self._stage + (": " if self._stage and parts else "") + ", ".join(parts)
        if self._opq is not None and self._opq_total:
            self._report(self._opq, self._opq_total, "OPQ iterations", detail)
        elif self._kmeans is not None and self._slice is None:
            self._report(self._kmeans[0], self._kmeans[1], "k-means iterations", detail)
        elif self._slice is not None:
            self._report(self._slice[0], self._slice[1], "PQ slices", detail)
        else:
            self._report(None, None, "", detail)


def set_verbose(index: Any, on: bool) -> int:
    """Turn FAISS's verbose output on or off in every trainable part of ``index``.

    Returns the OPQ rotation's iterations, if ``index`` has one (0 otherwise).
    """
    opq = 0
    idx: Any = faiss.downcast_index(index)
    idx.verbose = on
    if isinstance(idx, faiss.IndexPreTransform):
        chain: Any = idx.chain
        for i in range(chain.size()):
            vt: Any = faiss.downcast_VectorTransform(chain.at(i))
            vt.verbose = on
            if isinstance(vt, faiss.OPQMatrix):
                opq = int(vt.niter)
        return max(opq, set_verbose(idx.index, on))
    if isinstance(idx, faiss.IndexIDMap | faiss.IndexIDMap2):
        return set_verbose(idx.index, on)
    if isinstance(idx, faiss.IndexRefine):
        return max(set_verbose(idx.base_index, on), set_verbose(idx.refine_index, on))
    if isinstance(idx, faiss.IndexIVF):
        idx.cp.verbose = on
        pq = getattr(idx, "pq", None)
        if pq is not None:
            pq.verbose = on
        return set_verbose(idx.quantizer, on)
    if isinstance(idx, faiss.IndexHNSW):
        return set_verbose(idx.storage, on)
    if isinstance(idx, faiss.IndexPQ):
        idx.pq.verbose = on
    return opq


def _flush_c_stdout() -> None:
    """Flush C's ``stdout`` buffer (FAISS prints with ``printf``)."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def training_output(on_line: Callable[[str], None]) -> Iterator[None]:
    """Feed what is written to descriptor 1 meanwhile to ``on_line``, a line at a time.

    FAISS's verbose training lines go to a pipe read by a thread instead of the terminal
    (where they would tear the TUI's screen). Nothing else should print meanwhile.
    """
    if sys.platform == "win32":  # no ``printf`` buffer to flush by name there
        yield
        return
    with contextlib.suppress(ValueError, OSError):
        sys.stdout.flush()
    _flush_c_stdout()
    read_fd, write_fd = os.pipe()
    saved = os.dup(1)
    os.dup2(write_fd, 1)
    os.close(write_fd)

    def reader() -> None:
        pending = b""
        while chunk := os.read(read_fd, 65536):
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            for line in lines:
                if line.strip():
                    with contextlib.suppress(Exception):  # a watcher must not kill the pipe
                        on_line(line.decode(errors="replace"))
        if pending.strip():
            with contextlib.suppress(Exception):
                on_line(pending.decode(errors="replace"))

    thread = threading.Thread(target=reader, name="faiss-training-output", daemon=True)
    thread.start()
    try:
        yield
    finally:
        _flush_c_stdout()
        os.dup2(saved, 1)  # the pipe's last write end closes: the reader sees its end
        os.close(saved)
        thread.join(timeout=5)
        os.close(read_fd)
