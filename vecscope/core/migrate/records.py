"""The typed records a migration writes to its journal and reads back.

The journal is JSON lines; nothing outside core sees its dicts. Each step's outcome is
written from, and read back into, one of these dataclasses (or a step's own result type:
:class:`~core.migrate.backup.BackupRecord`, :class:`~core.migrate.verify.Figures`,
:class:`~core.migrate.verify.Verification`), so a resumed migration shows what the
original run showed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vecscope.core.migrate.backup import BackupRecord
from vecscope.core.migrate.build import BuildOutcome
from vecscope.core.migrate.journal import JournalState
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.states import DEFAULT_BACKUP, DEFAULT_MAX_MEMORY_MB, Step
from vecscope.core.migrate.verify import Figures, Verification


@dataclass(frozen=True, slots=True)
class BackupChoice:
    """How the backup step keeps a copy: ``table``, ``database`` or ``confirmed``."""

    kind: str
    #: The existing backup's identifier (``confirmed`` only).
    identifier: str | None = None

    @classmethod
    def parse(cls, text: str) -> BackupChoice:
        """``table``, ``database`` or ``confirmed:ID`` (the CLI's ``--backup``)."""
        kind, _, ident = text.partition(":")
        return cls(kind, ident or None)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run goes, chosen when it is planned; the journal keeps them for a resume."""

    #: ``table``, ``database`` or ``confirmed:ID``.
    backup: str = DEFAULT_BACKUP
    backup_dir: str | None = None
    drop_leftovers: bool = False
    no_cutover: bool = False
    force_cutover: bool = False
    #: Cap for the build's maintenance_work_mem (``None``: :data:`DEFAULT_MAX_MEMORY_MB`).
    max_memory_mb: int | None = None
    #: The build's maintenance_work_mem itself (``None``: preflight chooses).
    maintenance_work_mem_mb: int | None = None
    server_cores: int | None = None

    @property
    def memory_cap_kb(self) -> int:
        return int(self.max_memory_mb or DEFAULT_MAX_MEMORY_MB) * 1024

    @property
    def maintenance_work_mem_kb(self) -> int | None:
        return int(self.maintenance_work_mem_mb or 0) * 1024 or None

    @property
    def backup_choice(self) -> BackupChoice:
        return BackupChoice.parse(self.backup)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RunOptions:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in (data or {}).items() if k in known and v is not None}
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PreflightSummary:
    """What the journal keeps of a preflight (not every check)."""

    failed: tuple[str, ...] = ()
    leftovers: tuple[str, ...] = ()
    predicted_seconds: float | None = None
    predicted_graph_bytes: int | None = None
    predicted_index_bytes: int | None = None
    maintenance_work_mem_kb: int | None = None
    workers: int | None = None

    @classmethod
    def of(cls, result: Preflight) -> PreflightSummary:
        pred = result.prediction
        return cls(
            failed=tuple(c.title for c in result.failed),
            leftovers=tuple(result.leftovers),
            predicted_seconds=pred.seconds if pred else None,
            predicted_graph_bytes=pred.graph_bytes if pred else None,
            predicted_index_bytes=pred.index_bytes if pred else None,
            maintenance_work_mem_kb=result.spec.maintenance_work_mem_kb,
            workers=result.spec.parallel_workers,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"], data["leftovers"] = list(self.failed), list(self.leftovers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreflightSummary:
        graph = data.get("predicted_graph_bytes")
        seconds = data.get("predicted_seconds")
        return cls(
            failed=tuple(data.get("failed") or ()),
            leftovers=tuple(data.get("leftovers") or ()),
            predicted_seconds=float(seconds) if isinstance(seconds, int | float) else None,
            predicted_graph_bytes=graph if isinstance(graph, int) else None,
            predicted_index_bytes=data.get("predicted_index_bytes"),
            maintenance_work_mem_kb=data.get("maintenance_work_mem_kb"),
            workers=data.get("workers"),
        )


def build_json(outcome: BuildOutcome) -> dict[str, Any]:
    """What the journal keeps of a finished build."""
    return {
        "seconds": round(outcome.seconds, 2),
        "attempts": outcome.attempts,
        "workers": outcome.workers,
        "spilled_after": outcome.spilled_after,
        "index_bytes": outcome.index_bytes,
        "notices": [n for n in outcome.notices if "parallel" not in n][:20],
    }


def build_from_json(data: dict[str, Any]) -> BuildOutcome | None:
    """A journaled build read back (``None``: it recorded no figures, e.g. recovered)."""
    if "seconds" not in data:
        return None
    return BuildOutcome(
        seconds=float(data["seconds"]),
        attempts=int(data.get("attempts") or 1),
        notices=tuple(data.get("notices") or ()),
        workers=data.get("workers"),
        spilled_after=data.get("spilled_after"),
        index_bytes=int(data.get("index_bytes") or 0),
    )


@dataclass(frozen=True, slots=True)
class CutoverResult:
    attempts: int
    renamed: bool
    served_by: str | None
    verdict: str

    def to_json(self) -> dict[str, Any]:
        """What the journal keeps (the verdict is shown, not kept)."""
        return {"attempts": self.attempts, "renamed": self.renamed, "served_by": self.served_by}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CutoverResult:
        return cls(
            int(data.get("attempts") or 1), bool(data.get("renamed")), data.get("served_by"), ""
        )


#: What a step returns (and what the journal gives back of it).
StepResult = Preflight | BackupRecord | Figures | BuildOutcome | Verification | CutoverResult


def journaled_results(state: JournalState) -> dict[Step, StepResult | None]:
    """What a journal knows of each finished step, read back into the steps' own types."""
    out: dict[Step, StepResult | None] = {}
    record = state.data(Step.BACKUP).get("record")
    if state.done(Step.BACKUP) and record:
        out[Step.BACKUP] = BackupRecord.from_json(record)
    if state.done(Step.BASELINE):
        out[Step.BASELINE] = Figures.from_json(state.data(Step.BASELINE).get("figures"))
    build = build_from_json(state.data(Step.BUILD))
    if state.done(Step.BUILD) and build is not None:
        out[Step.BUILD] = build
    verification = Verification.from_json(state.data(Step.VERIFY).get("result"))
    if verification is not None:
        out[Step.VERIFY] = verification
    if state.done(Step.CUTOVER):
        out[Step.CUTOVER] = CutoverResult.from_json(state.data(Step.CUTOVER))
    return out
