"""The records of the live view: what one poll read, and what two polls mean.

A :class:`Snapshot` holds cumulative counters exactly as the server reported them; a
recording stores snapshots, so a replay derives its rates with the same code as the live
view. A :class:`LivePoint` is what the screens, the JSON lines and the plots show: rates
over the interval between two snapshots, and what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StatementCounters:
    """One vector query shape in ``pg_stat_statements`` (summed over roles)."""

    queryid: int
    calls: int
    total_ms: float
    rows: int
    #: The normalised text; None when left out of a recording (``--no-query-text``).
    query: str | None
    #: When the entry started counting (pg_stat_statements 1.11+), else None.
    since: datetime | None


@dataclass(frozen=True, slots=True)
class IndexCounters:
    """A pgvector index's scan counter, and its table's sequential scans."""

    indexrelid: int
    schema: str
    table_name: str
    name: str
    method: str
    valid: bool
    idx_scan: int
    idx_tup_read: int
    seq_scan: int
    seq_tup_read: int
    live_rows: int

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, slots=True)
class Running:
    """A vector query running now (``pg_stat_activity``)."""

    pid: int
    duration_s: float | None
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    usename: str | None
    application_name: str | None
    #: The text as the session sent it; None when left out of a recording, and
    #: ``<insufficient privilege>`` for another role's session without pg_read_all_stats.
    query: str | None


@dataclass(frozen=True, slots=True)
class Setting:
    #: ``server``, ``database db``, ``role app``, ``role app in database db`` (names
    #: quoted only where PostgreSQL needs it).
    scope: str
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one poll read, with the server's clock."""

    seq: int
    at: datetime
    server_started: datetime
    #: pg_stat_statements' last full reset (pg_stat_statements_info, 1.9+), else None.
    statements_reset: datetime | None
    #: None when pg_stat_statements cannot be read (then ``statements_missing`` says why).
    statements: tuple[StatementCounters, ...] | None
    statements_missing: str | None
    #: False when this role cannot see other roles' query texts.
    sees_all: bool
    running: tuple[Running, ...]
    indexes: tuple[IndexCounters, ...]
    settings: tuple[Setting, ...]
    #: How long the poll took, as seen by vecscope (round trips included).
    poll_ms: float


@dataclass(frozen=True, slots=True)
class ShapeRate:
    """A query shape over one interval. Percentiles are not known, so not shown."""

    queryid: int
    query: str | None
    calls: int
    calls_per_s: float
    #: Mean execution time per call over the interval (NaN without calls).
    mean_ms: float
    rows_per_call: float
    total_calls: int
    #: The entry's counters restarted within the interval (reset, eviction, restart).
    restarted: bool
    #: Why the shape is flagged (its LIMIT is above hnsw.ef_search: results cut short).
    flag: str | None = None


@dataclass(frozen=True, slots=True)
class IndexRate:
    key: str
    table: str
    method: str
    valid: bool
    scans: int
    scans_per_s: float
    seq_scans: int
    seq_scans_per_s: float
    total_scans: int
    #: Why the index is flagged (the planner stopped using it), else None.
    flag: str | None


@dataclass(frozen=True, slots=True)
class Activity:
    running: int
    #: Other roles' sessions whose text this role may not read (maybe vector queries).
    hidden: int
    longest_s: float | None
    longest_pid: int | None
    longest_query: str | None
    #: ``(wait, sessions)``, most common first; ``CPU`` for sessions not waiting.
    waits: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class SettingChange:
    at: datetime
    scope: str
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class LivePoint:
    """One poll as the screens show it: rates since the previous poll."""

    seq: int
    at: datetime
    #: Seconds since the first poll of the run or recording.
    t: float
    #: Seconds since the previous poll; None for the first (no rates yet).
    interval_s: float | None
    shapes: tuple[ShapeRate, ...]
    indexes: tuple[IndexRate, ...]
    activity: Activity
    changes: tuple[SettingChange, ...]
    #: Counter resets noticed at this poll, in words.
    resets: tuple[str, ...]
    #: Query shapes that left pg_stat_statements since the previous poll.
    gone: tuple[int, ...]
    statements_missing: str | None
    sees_all: bool
    poll_ms: float
