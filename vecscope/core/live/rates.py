"""From cumulative counters to rates: the one place that knows about resets.

``pg_stat_statements`` and the statistics views count from the last reset. Two snapshots
give a rate over the interval between them, unless a counter went back: a server restart
after a crash (``pg_postmaster_start_time`` moved; a clean shutdown saves the counters,
which then go on), a full ``pg_stat_statements_reset()`` (its
``stats_reset`` moved), one entry evicted and re-added or reset on its own (its ``calls``
went down, or its ``stats_since`` moved), or ``pg_stat_reset()`` for the index counters.
After a reset the counter's value is what happened since the reset, over the time since
the reset where the server says when that was. Shapes that leave the view are reported,
never turned into negative rates. Percentiles are not in the counters, so there are none.

:class:`LiveTracker` is fed snapshots in order, by the live view, the JSON lines and the
replay alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from vecscope.core.lab.runner import RingBuffer
from vecscope.core.live.model import (
    Activity,
    IndexCounters,
    IndexRate,
    LivePoint,
    SettingChange,
    ShapeRate,
    Snapshot,
    StatementCounters,
)
from vecscope.core.live.truncation import ef_search_of, hnsw_tables, truncation_flag

#: An index with no scans for this long while its table is sequentially scanned, after
#: it was used earlier in the run, is flagged: the planner stopped using it.
STALL_SECONDS = 10.0
#: An index never used at all (no scan since the statistics began) is flagged as well
#: once its table has been sequentially scanned at least this often per second over
#: :data:`STALL_SECONDS` or more: the application searches the table, not through it.
UNUSED_SEQ_PER_S = 1.0
#: ... on a table of at least this many rows: a small table is rightly scanned whole
#: (the demo's ``atoms``).
UNUSED_MIN_ROWS = 1_000
#: Text pg_stat_activity shows for sessions of other roles without pg_read_all_stats.
HIDDEN = "<insufficient privilege>"
NAN = float("nan")


def _per_s(count: float, seconds: float | None) -> float:
    return count / seconds if seconds and seconds > 0 else NAN


def _after(moment: datetime | None, floor: datetime) -> datetime | None:
    return moment if moment is not None and moment > floor else None


class LiveTracker:
    """Turns snapshots into :class:`LivePoint`\\ s, keeping what rates need between polls.

    Args:
        capacity: Points kept for the plots (the recording keeps every poll).
        stall_seconds: See :data:`STALL_SECONDS`.
    """

    def __init__(self, capacity: int = 1800, stall_seconds: float = STALL_SECONDS) -> None:
        self.history: RingBuffer[LivePoint] = RingBuffer(capacity)
        #: Every settings change seen in this run, oldest first.
        self.changes: list[SettingChange] = []
        self.stall_seconds = stall_seconds
        self._prev: Snapshot | None = None
        self._t0: datetime | None = None
        # Per index: when it last served a scan in this run, and sequential scans of its
        # table since then.
        self._last_used: dict[int, datetime] = {}
        self._seq_since_used: dict[int, int] = {}
        # When each index was first seen: one used before the run (idx_scan > 0) but
        # idle since counts as idle from then (the on-call opens the view mid-incident).
        self._first_seen: dict[int, datetime] = {}

    def feed(self, snap: Snapshot) -> LivePoint:
        """The point for ``snap`` (rates against the previously fed snapshot)."""
        prev = self._prev
        if self._t0 is None:
            self._t0 = snap.at
        interval = (snap.at - prev.at).total_seconds() if prev is not None else None
        resets: list[str] = []
        restart = prev is not None and snap.server_started != prev.server_started
        if restart:
            resets.append(
                f"the server restarted at {snap.server_started:%H:%M:%S}: counters a clean "
                "shutdown saved go on, the others start again from zero"
            )
        shapes, gone = self._shapes(prev, snap, interval, restart, resets)
        shapes = _flag_truncation(shapes, snap)
        indexes = self._indexes(prev, snap, interval, restart, resets)
        changes = self._settings(prev, snap)
        self.changes.extend(changes)
        point = LivePoint(
            seq=snap.seq,
            at=snap.at,
            t=(snap.at - self._t0).total_seconds(),
            interval_s=interval,
            shapes=shapes,
            indexes=indexes,
            activity=summarize_activity(snap),
            changes=changes,
            resets=tuple(resets),
            gone=gone,
            statements_missing=snap.statements_missing,
            sees_all=snap.sees_all,
            poll_ms=snap.poll_ms,
        )
        self.history.append(point)
        self._prev = snap
        return point

    def _shapes(
        self,
        prev: Snapshot | None,
        snap: Snapshot,
        interval: float | None,
        restart: bool,
        resets: list[str],
    ) -> tuple[tuple[ShapeRate, ...], tuple[int, ...]]:
        if snap.statements is None:
            return (), ()
        if prev is None or prev.statements is None:
            # The first read: totals are known, rates are not.
            shapes = [_unknown_rate(s) for s in snap.statements]
            return tuple(sorted(shapes, key=lambda r: -r.total_calls)), ()
        old = {s.queryid: s for s in prev.statements}
        # Since when the whole view counts, if it restarted within the interval. A server
        # restart alone is no reset: a clean shutdown saves pg_stat_statements (and
        # stats_reset with it); after a crash its stats_reset moves, or entries go back.
        view_since: datetime | None = None
        restarted_at = _after(snap.server_started, prev.at) if restart else None
        if snap.statements_reset is not None and snap.statements_reset != prev.statements_reset:
            view_since = _after(snap.statements_reset, prev.at) or prev.at
            resets.append(
                f"pg_stat_statements was reset at {snap.statements_reset:%H:%M:%S}: "
                "its counters start again from zero"
            )
        restarted_entries = 0
        rates: list[ShapeRate] = []
        for s in snap.statements:
            p = None if view_since is not None else old.get(s.queryid)
            since = view_since
            entry_restarted = False
            moved = s.since is not None and p is not None and p.since not in (None, s.since)
            if p is not None and (s.calls < p.calls or moved):
                entry_restarted, p = True, None
                since = _after(s.since, prev.at) or restarted_at
                restarted_entries += 1
            elif p is None and view_since is None:
                since = _after(s.since, prev.at)  # a new shape: it counts from its start
            seconds = (snap.at - since).total_seconds() if since is not None else interval
            calls = s.calls - (p.calls if p else 0)
            total = s.total_ms - (p.total_ms if p else 0.0)
            rows = s.rows - (p.rows if p else 0)
            rates.append(
                ShapeRate(
                    queryid=s.queryid,
                    query=s.query,
                    calls=calls,
                    calls_per_s=_per_s(calls, seconds),
                    mean_ms=total / calls if calls > 0 else NAN,
                    rows_per_call=rows / calls if calls > 0 else NAN,
                    total_calls=s.calls,
                    restarted=entry_restarted or view_since is not None,
                )
            )
        if restarted_entries and not restart:
            resets.append(
                f"{restarted_entries} query shape(s) counted again from zero "
                "(pg_stat_statements_reset for them, or evicted and added back)"
            )
        gone = tuple(sorted(set(old) - {s.queryid for s in snap.statements}))
        rates.sort(key=lambda r: (-(r.calls * r.mean_ms if r.calls else 0.0), -r.total_calls))
        return tuple(rates), gone

    def _indexes(
        self,
        prev: Snapshot | None,
        snap: Snapshot,
        interval: float | None,
        restart: bool,
        resets: list[str],
    ) -> tuple[IndexRate, ...]:
        old = {} if prev is None else {ix.indexrelid: ix for ix in prev.indexes}
        counters_reset = False
        out: list[IndexRate] = []
        for ix in snap.indexes:
            p = old.get(ix.indexrelid)
            if prev is None:
                self._first_seen.setdefault(ix.indexrelid, snap.at)
                invalid = None if ix.valid else self._flag(ix, 0, 0, snap.at)
                out.append(_index_rate(ix, 0, 0, NAN, NAN, invalid))
                continue
            went_back = p is not None and (ix.idx_scan < p.idx_scan or ix.seq_scan < p.seq_scan)
            counters_reset = counters_reset or (went_back and not restart)
            # A clean shutdown saves these counters too: only those that went back reset.
            scans = _delta(ix.idx_scan, None if p is None else p.idx_scan)
            seq = _delta(ix.seq_scan, None if p is None else p.seq_scan)
            flag = self._flag(ix, scans, seq, snap.at)
            out.append(
                _index_rate(ix, scans, seq, _per_s(scans, interval), _per_s(seq, interval), flag)
            )
        if counters_reset:
            resets.append("index statistics were reset (pg_stat_reset): counted again from zero")
        gone = set(self._first_seen) - {ix.indexrelid for ix in snap.indexes}
        for oid in gone:
            self._last_used.pop(oid, None)
            self._first_seen.pop(oid, None)
            self._seq_since_used.pop(oid, None)
        return tuple(sorted(out, key=lambda r: (r.flag is None, r.key)))

    def _flag(self, ix: IndexCounters, scans: int, seq: int, at: datetime) -> str | None:
        oid = ix.indexrelid
        first = self._first_seen.setdefault(oid, at)
        if not ix.valid:
            return "INVALID: no query can use it; every write still maintains it"
        if scans > 0:
            self._last_used[oid] = at
            self._seq_since_used[oid] = 0
            return None
        last = self._last_used.get(oid)
        if last is None and ix.idx_scan > scans:
            last = first  # used before the run, not since it started
        seq_since = self._seq_since_used.get(oid, 0) + seq
        self._seq_since_used[oid] = seq_since
        if last is None:
            return self._never_used(ix, seq_since, (at - first).total_seconds())
        idle = (at - last).total_seconds()
        if idle >= self.stall_seconds and seq_since > 0:
            since = "" if oid in self._last_used else " watched"
            return (
                f"stopped: no index scans in the{since} last {idle:.0f} s, while "
                f"{ix.table_name} had {seq_since:,} sequential scans: the planner no longer "
                "uses it"
            )
        return None

    def _never_used(self, ix: IndexCounters, seq: int, watched: float) -> str | None:
        """An index with no scan ever, while its (not small) table is scanned under load."""
        if watched < self.stall_seconds or ix.live_rows < UNUSED_MIN_ROWS:
            return None
        if seq / watched < UNUSED_SEQ_PER_S:
            return None
        return (
            f"never used: no index scan at all, while {ix.table_name} had {seq:,} sequential "
            f"scans in the watched last {watched:.0f} s ({seq / watched:,.1f}/s): the planner "
            "does not use it for these queries (an operator its opclass does not serve?)"
        )

    @staticmethod
    def _settings(prev: Snapshot | None, snap: Snapshot) -> tuple[SettingChange, ...]:
        if prev is None:
            return ()
        old = {(s.scope, s.name): s.value for s in prev.settings}
        new = {(s.scope, s.name): s.value for s in snap.settings}
        changes = [
            SettingChange(snap.at, scope, name, old.get((scope, name)), new.get((scope, name)))
            for scope, name in sorted(set(old) | set(new))
            if old.get((scope, name)) != new.get((scope, name))
        ]
        return tuple(changes)


def _flag_truncation(shapes: tuple[ShapeRate, ...], snap: Snapshot) -> tuple[ShapeRate, ...]:
    """Flag the shapes whose LIMIT is above hnsw.ef_search (see :mod:`.truncation`)."""
    tables = hnsw_tables(snap.indexes)
    if not shapes or not tables:
        return shapes
    ef, iterative = ef_search_of(snap.settings)
    totals = {s.queryid: s for s in snap.statements or ()}
    out: list[ShapeRate] = []
    for shape in shapes:
        per_call = shape.rows_per_call
        total = totals.get(shape.queryid)
        if math.isnan(per_call) and total is not None and total.calls:
            per_call = total.rows / total.calls  # the first poll: since the counters began
        flag = truncation_flag(shape.query, per_call, ef, iterative, tables)
        out.append(dataclasses.replace(shape, flag=flag) if flag else shape)
    return tuple(out)


def _delta(now: int, before: int | None) -> int:
    """Growth of a counter; its value when it is new or went back (a reset)."""
    return now if before is None or now < before else now - before


def _unknown_rate(s: StatementCounters) -> ShapeRate:
    return ShapeRate(s.queryid, s.query, 0, NAN, NAN, NAN, s.calls, False)


def _index_rate(
    ix: IndexCounters, scans: int, seq: int, scans_ps: float, seq_ps: float, flag: str | None
) -> IndexRate:
    return IndexRate(
        key=ix.key,
        table=f"{ix.schema}.{ix.table_name}",
        method=ix.method,
        valid=ix.valid,
        scans=scans,
        scans_per_s=scans_ps,
        seq_scans=seq,
        seq_scans_per_s=seq_ps,
        total_scans=ix.idx_scan,
        flag=flag,
    )


def summarize_activity(snap: Snapshot) -> Activity:
    """Running vector queries, the longest one, and what they wait on."""
    visible = [r for r in snap.running if r.query != HIDDEN]
    hidden = len(snap.running) - len(visible)
    longest = max(visible, key=lambda r: r.duration_s or 0.0, default=None)
    waits = Counter(
        f"{r.wait_event_type}:{r.wait_event}" if r.wait_event_type else "CPU" for r in visible
    )
    return Activity(
        running=len(visible),
        hidden=hidden,
        longest_s=longest.duration_s if longest else None,
        longest_pid=longest.pid if longest else None,
        longest_query=longest.query if longest else None,
        waits=tuple(waits.most_common()),
    )


def top_shapes(points: Sequence[LivePoint], n: int = 5) -> list[int]:
    """The ``n`` query shapes that took most execution time over ``points``."""
    spent: Counter[int] = Counter()
    for point in points:
        for s in point.shapes:
            if s.calls and not math.isnan(s.mean_ms):
                spent[s.queryid] += int(s.calls * s.mean_ms * 1000)
            else:
                spent[s.queryid] += 0
    return [q for q, _ in spent.most_common(n)]
