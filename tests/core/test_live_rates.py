"""The live view's arithmetic on hand-built snapshots: rates, resets, gone shapes, flags."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from vecscope.core.live.model import (
    IndexCounters,
    IndexRate,
    LivePoint,
    Running,
    Setting,
    ShapeRate,
    Snapshot,
    StatementCounters,
)
from vecscope.core.live.rates import (
    HIDDEN,
    UNUSED_MIN_ROWS,
    UNUSED_SEQ_PER_S,
    LiveTracker,
    summarize_activity,
    top_shapes,
)
from vecscope.core.live.session import point_to_json

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
STARTED = T0 - timedelta(days=2)
RESET = T0 - timedelta(hours=1)
_seq = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stmt(
    queryid: int,
    calls: int,
    total_ms: float = 0.0,
    rows: int = 0,
    since: datetime | None = None,
) -> StatementCounters:
    return StatementCounters(queryid, calls, total_ms, rows, f"SELECT {queryid} <-> $1", since)


def index(
    idx_scan: int = 0, seq_scan: int = 0, *, valid: bool = True, oid: int = 1, rows: int = 1000
) -> IndexCounters:
    return IndexCounters(
        indexrelid=oid,
        schema="public",
        table_name="items",
        name=f"items_idx_{oid}",
        method="hnsw",
        valid=valid,
        idx_scan=idx_scan,
        idx_tup_read=idx_scan * 10,
        seq_scan=seq_scan,
        seq_tup_read=seq_scan * rows,
        live_rows=rows,
    )


def snap(
    t: float,
    statements: Sequence[StatementCounters] | None = (),
    indexes: Sequence[IndexCounters] = (),
    *,
    settings: Sequence[Setting] = (),
    running: Sequence[Running] = (),
    started: datetime = STARTED,
    reset: datetime | None = RESET,
    missing: str | None = None,
) -> Snapshot:
    return Snapshot(
        seq=next(_seq),
        at=at(t),
        server_started=started,
        statements_reset=reset,
        statements=None if statements is None else tuple(statements),
        statements_missing=missing,
        sees_all=True,
        running=tuple(running),
        indexes=tuple(indexes),
        settings=tuple(settings),
        poll_ms=3.5,
    )


def shape(point: LivePoint, queryid: int) -> ShapeRate:
    return next(s for s in point.shapes if s.queryid == queryid)


def ix(point: LivePoint, oid: int = 1) -> IndexRate:
    return next(i for i in point.indexes if i.key == f"public.items_idx_{oid}")


def no_negative_rates(point: LivePoint) -> None:
    for s in point.shapes:
        assert s.calls >= 0 and not s.calls_per_s < 0, s
    for i in point.indexes:
        assert i.scans >= 0 and i.seq_scans >= 0 and not i.scans_per_s < 0, i


def test_first_poll_has_totals_but_no_rates() -> None:
    point = LiveTracker().feed(snap(0, [stmt(1, 100, 50.0, 1000)], [index(7, 3)]))
    assert point.interval_s is None and point.t == 0.0
    s = shape(point, 1)
    assert (s.calls, s.total_calls, s.restarted) == (0, 100, False)
    assert math.isnan(s.calls_per_s) and math.isnan(s.mean_ms) and math.isnan(s.rows_per_call)
    i = ix(point)
    assert (i.scans, i.total_scans, i.flag) == (0, 7, None)
    assert math.isnan(i.scans_per_s) and math.isnan(i.seq_scans_per_s)
    assert point.resets == () and point.gone == () and point.changes == ()
    doc = point_to_json(point)
    assert doc["interval_s"] is None
    assert doc["shapes"][0]["calls_per_s"] is None and doc["shapes"][0]["mean_ms"] is None
    assert doc["indexes"][0]["scans_per_s"] is None


def test_rates_from_deltas_over_the_server_clock() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, 50.0, 1000)], [index(7, 3)]))
    point = tracker.feed(snap(2, [stmt(1, 120, 90.0, 1200)], [index(27, 5)]))
    assert point.interval_s == 2.0 and point.t == 2.0
    s = shape(point, 1)
    assert (s.calls, s.calls_per_s, s.mean_ms, s.rows_per_call) == (20, 10.0, 2.0, 10.0)
    assert s.total_calls == 120 and not s.restarted
    i = ix(point)
    assert (i.scans, i.scans_per_s, i.seq_scans, i.seq_scans_per_s) == (20, 10.0, 2, 1.0)
    assert point.resets == ()
    assert len(tracker.history) == 2


def test_an_interval_without_calls_has_no_mean() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, 50.0, 1000)]))
    s = shape(tracker.feed(snap(2, [stmt(1, 100, 50.0, 1000)])), 1)
    assert (s.calls, s.calls_per_s) == (0, 0.0)
    assert math.isnan(s.mean_ms) and math.isnan(s.rows_per_call)


def test_full_statements_reset_counts_since_the_reset() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, 50.0), stmt(2, 40, 40.0)]))
    # Reset one second before the poll; shape 2 ran more since than it had before.
    point = tracker.feed(snap(4, [stmt(1, 5, 10.0), stmt(2, 60, 30.0)], reset=at(3)))
    one, two = shape(point, 1), shape(point, 2)
    assert (one.calls, one.calls_per_s, one.mean_ms, one.restarted) == (5, 5.0, 2.0, True)
    assert (two.calls, two.calls_per_s, two.restarted) == (60, 60.0, True)
    assert point.resets == (
        "pg_stat_statements was reset at 12:00:03: its counters start again from zero",
    )
    no_negative_rates(point)


def test_restart_after_a_crash_counts_from_zero() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, 50.0)], [index(50, 10)]))
    # A crash: everything back to zero; pg_stat_statements' stats_reset is the start.
    point = tracker.feed(snap(4, [stmt(1, 6, 3.0)], [index(3, 1)], started=at(3), reset=at(3)))
    s = shape(point, 1)
    assert (s.calls, s.calls_per_s, s.mean_ms, s.restarted) == (6, 6.0, 0.5, True)
    i = ix(point)
    assert (i.scans, i.seq_scans, i.total_scans) == (3, 1, 3)
    assert point.resets[0].startswith("the server restarted at 12:00:03")
    assert not any("index statistics" in r for r in point.resets)
    no_negative_rates(point)


def test_restart_without_pg_stat_statements_info_uses_the_start_time() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100)], reset=None))
    point = tracker.feed(snap(4, [stmt(1, 4)], started=at(2), reset=None))
    s = shape(point, 1)
    assert (s.calls, s.calls_per_s, s.restarted) == (4, 2.0, True)
    assert len(point.resets) == 1 and "the server restarted" in point.resets[0]


def test_clean_restart_keeps_counting() -> None:
    """A clean shutdown saves pg_stat_statements and the statistics: no phantom spike."""
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, 50.0)], [index(50, 10)]))
    point = tracker.feed(snap(4, [stmt(1, 110, 70.0)], [index(55, 10)], started=at(3)))
    s = shape(point, 1)
    assert (s.calls, s.calls_per_s, s.mean_ms, s.restarted) == (10, 2.5, 2.0, False)
    assert (ix(point).scans, ix(point).seq_scans) == (5, 0)
    assert len(point.resets) == 1 and "the server restarted at 12:00:03" in point.resets[0]


def test_one_entry_going_back_is_counted_again() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, 50.0), stmt(2, 50, 50.0)]))
    point = tracker.feed(snap(2, [stmt(1, 3, 6.0), stmt(2, 60, 60.0)]))
    one, two = shape(point, 1), shape(point, 2)
    assert (one.calls, one.calls_per_s, one.mean_ms, one.restarted) == (3, 1.5, 2.0, True)
    assert (two.calls, two.calls_per_s, two.restarted) == (10, 5.0, False)
    assert point.resets == (
        "1 query shape(s) counted again from zero "
        "(pg_stat_statements_reset for them, or evicted and added back)",
    )
    no_negative_rates(point)


def test_entry_start_moving_is_a_reset_even_with_more_calls() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, since=at(-60)), stmt(2, 10, since=at(-60))]))
    point = tracker.feed(snap(4, [stmt(1, 120, 60.0, since=at(3)), stmt(2, 30, since=at(-60))]))
    one, two = shape(point, 1), shape(point, 2)
    assert (one.calls, one.calls_per_s, one.mean_ms, one.restarted) == (120, 120.0, 0.5, True)
    assert (two.calls, two.calls_per_s, two.restarted) == (20, 5.0, False)
    assert len(point.resets) == 1 and point.resets[0].startswith("1 query shape(s)")


def test_shape_that_leaves_the_view_is_gone_and_may_come_back() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100), stmt(2, 50)]))
    point = tracker.feed(snap(2, [stmt(2, 60)]))
    assert point.gone == (1,)
    assert [s.queryid for s in point.shapes] == [2]
    no_negative_rates(point)
    back = tracker.feed(snap(4, [stmt(1, 2, 1.0), stmt(2, 70)]))
    assert back.gone == ()
    one = shape(back, 1)
    assert (one.calls, one.calls_per_s, one.restarted) == (2, 1.0, False)
    assert back.resets == ()


def test_new_shape_mid_run_counts_from_its_start() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100, since=at(-60))]))
    point = tracker.feed(snap(2, [stmt(1, 100, since=at(-60)), stmt(3, 6, 3.0, since=at(1.5))]))
    new = shape(point, 3)
    assert (new.calls, new.calls_per_s, new.mean_ms, new.restarted) == (6, 12.0, 0.5, False)
    # Without stats_since (pg_stat_statements before 1.11): over the interval.
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 100)]))
    assert shape(tracker.feed(snap(2, [stmt(1, 100), stmt(3, 6)])), 3).calls_per_s == 3.0


def test_index_counters_reset_by_pg_stat_reset() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, indexes=[index(50, 10)]))
    point = tracker.feed(snap(2, indexes=[index(2, 1)]))
    i = ix(point)
    assert (i.scans, i.scans_per_s, i.seq_scans, i.total_scans) == (2, 1.0, 1, 2)
    assert point.resets == ("index statistics were reset (pg_stat_reset): counted again from zero",)


def test_flag_after_the_stall_not_before() -> None:
    tracker = LiveTracker()  # the default: 10 seconds
    tracker.feed(snap(0, indexes=[index(0, 0)]))
    assert ix(tracker.feed(snap(1, indexes=[index(5, 0)]))).flag is None  # used
    assert ix(tracker.feed(snap(2, indexes=[index(5, 3)]))).flag is None
    assert ix(tracker.feed(snap(10.5, indexes=[index(5, 3)]))).flag is None  # 9.5 s idle
    point = tracker.feed(snap(11, indexes=[index(5, 8)]))
    assert ix(point).flag == (
        "stopped: no index scans in the last 10 s, while items had 8 sequential scans: "
        "the planner no longer uses it"
    )
    # Flagged indexes come first.
    other = tracker.feed(snap(12, indexes=[index(0, 0, oid=0), index(5, 9)]))
    assert other.indexes[0].flag is not None and other.indexes[0].key == "public.items_idx_1"


def test_used_again_clears_the_flag() -> None:
    tracker = LiveTracker(stall_seconds=0.5)
    tracker.feed(snap(0, indexes=[index(0, 0)]))
    tracker.feed(snap(1, indexes=[index(5, 0)]))
    assert ix(tracker.feed(snap(2, indexes=[index(5, 4)]))).flag is not None
    assert ix(tracker.feed(snap(3, indexes=[index(6, 9)]))).flag is None
    assert ix(tracker.feed(snap(3.4, indexes=[index(6, 10)]))).flag is None  # a new stall
    assert "had 1 sequential scans" in str(ix(tracker.feed(snap(3.6, indexes=[index(6, 10)]))).flag)


def test_never_used_is_flagged_under_load_only() -> None:
    """No scan ever while the table is scanned sequentially: flagged once the table was
    watched for the stall time at UNUSED_SEQ_PER_S or more, and is not a small one."""
    tracker = LiveTracker(stall_seconds=4)
    flags = [
        ix(tracker.feed(snap(t, indexes=[index(0, seq)]))).flag
        for t, seq in enumerate((0, 10, 20, 30, 40))
    ]
    assert flags[:4] == [None] * 4  # watched for less than 4 s
    assert flags[4] == (
        "never used: no index scan at all, while items had 40 sequential scans in the "
        "watched last 4 s (10.0/s): the planner does not use it for these queries (an "
        "operator its opclass does not serve?)"
    )
    # A scan clears it: the index serves some queries.
    assert ix(tracker.feed(snap(5, indexes=[index(1, 50)]))).flag is None
    # Under the threshold, or on a small table (rightly scanned whole): no flag.
    light, small = LiveTracker(stall_seconds=4), LiveTracker(stall_seconds=4)
    for t in range(9):
        assert ix(light.feed(snap(t, indexes=[index(0, t // 2)]))).flag is None
        assert ix(small.feed(snap(t, indexes=[index(0, 10 * t, rows=999)]))).flag is None
    assert UNUSED_SEQ_PER_S == 1.0 and UNUSED_MIN_ROWS == 1000


def test_used_before_the_run_is_idle_since_first_seen() -> None:
    """Opened mid-incident: scans before the first poll, none since."""
    tracker = LiveTracker(stall_seconds=5)
    tracker.feed(snap(0, indexes=[index(100, 0)]))
    assert ix(tracker.feed(snap(4, indexes=[index(100, 10)]))).flag is None
    assert ix(tracker.feed(snap(6, indexes=[index(100, 12)]))).flag == (
        "stopped: no index scans in the watched last 6 s, while items had 12 sequential "
        "scans: the planner no longer uses it"
    )


def test_no_sequential_scans_is_not_flagged() -> None:
    tracker = LiveTracker(stall_seconds=0.5)
    tracker.feed(snap(0, indexes=[index(0, 7)]))
    tracker.feed(snap(1, indexes=[index(5, 7)]))
    for t in range(2, 30, 3):
        assert ix(tracker.feed(snap(t, indexes=[index(5, 7)]))).flag is None


def test_invalid_index_is_flagged_from_the_first_poll() -> None:
    tracker = LiveTracker()
    for t in (0, 1):
        flag = ix(tracker.feed(snap(t, indexes=[index(0, 0, valid=False)]))).flag
        assert flag == "INVALID: no query can use it; every write still maintains it"


def test_settings_changed_added_and_removed() -> None:
    before = [
        Setting("server", "work_mem", "4MB"),
        Setting("database app", "ivfflat.probes", "1"),
        Setting("role app", "hnsw.ef_search", "40"),
    ]
    after = [
        Setting("server", "work_mem", "64MB"),
        Setting("role app", "hnsw.ef_search", "40"),
        Setting("server", "jit", "off"),
    ]
    tracker = LiveTracker()
    assert tracker.feed(snap(0, settings=before)).changes == ()
    point = tracker.feed(snap(2, settings=after))
    assert [(c.at, c.scope, c.name, c.old, c.new) for c in point.changes] == [
        (at(2), "database app", "ivfflat.probes", "1", None),
        (at(2), "server", "jit", None, "off"),
        (at(2), "server", "work_mem", "4MB", "64MB"),
    ]
    assert tracker.feed(snap(4, settings=after)).changes == ()
    assert len(tracker.changes) == 3
    doc = point_to_json(point)["settings_changed"]
    assert doc[0] == {"scope": "database app", "name": "ivfflat.probes", "old": "1", "new": None}


def test_statements_unavailable() -> None:
    why = "pg_stat_statements is not loaded: add it to shared_preload_libraries"
    tracker = LiveTracker()
    tracker.feed(snap(0, None, [index(1, 1)], missing=why))
    point = tracker.feed(snap(2, None, [index(5, 1)], missing=why))
    assert point.shapes == () and point.gone == () and point.statements_missing == why
    assert ix(point).scans == 4
    assert point_to_json(point)["statements_missing"] == why
    # Readable again later: its first read has totals only, no spike from zero.
    back = tracker.feed(snap(4, [stmt(1, 500)], [index(5, 1)]))
    assert shape(back, 1).calls == 0 and math.isnan(shape(back, 1).calls_per_s)


def running(pid: int, duration: float | None, wait: str | None, query: str) -> Running:
    kind, event = wait.split(":") if wait else (None, None)
    return Running(pid, duration, "active", kind, event, "app", "web", query)


def test_summarize_activity() -> None:
    sessions = [
        running(11, 5.0, None, "SELECT 1 <-> $1"),
        running(12, 12.0, "IO:DataFileRead", "SELECT 2 <=> $1"),
        running(13, None, "IO:DataFileRead", "SELECT 3 <#> $1"),
        Running(14, None, None, None, None, None, None, HIDDEN),
        Running(15, None, None, None, None, "other", None, HIDDEN),
    ]
    a = summarize_activity(snap(0, running=sessions))
    assert (a.running, a.hidden) == (3, 2)
    assert (a.longest_s, a.longest_pid, a.longest_query) == (12.0, 12, "SELECT 2 <=> $1")
    assert a.waits == (("IO:DataFileRead", 2), ("CPU", 1))
    only_hidden = summarize_activity(snap(0, running=sessions[3:]))
    assert (only_hidden.running, only_hidden.hidden, only_hidden.longest_pid) == (0, 2, None)
    assert only_hidden.waits == ()


def test_top_shapes_by_time_spent() -> None:
    tracker = LiveTracker()
    tracker.feed(snap(0, [stmt(1, 0), stmt(2, 0), stmt(3, 0)]))
    # 1: 10 calls x 1 ms; 2: 2 calls x 20 ms; 3: no calls (NaN mean).
    tracker.feed(snap(1, [stmt(1, 10, 10.0), stmt(2, 2, 40.0), stmt(3, 0)]))
    tracker.feed(snap(2, [stmt(1, 20, 20.0), stmt(2, 2, 40.0), stmt(3, 0)]))
    points = list(tracker.history)
    assert top_shapes(points, 2) == [2, 1]
    assert top_shapes(points)[:2] == [2, 1] and 3 in top_shapes(points)


def test_point_to_json_round_trips_with_nan_as_null() -> None:
    tracker = LiveTracker()
    sessions = [running(11, 2.0, None, "SELECT 1 <-> $1")]
    tracker.feed(snap(0, [stmt(1, 1), stmt(2, 1)], [index(1, 1)], running=sessions))
    point = tracker.feed(snap(2, [stmt(1, 3, 3.0, 3), stmt(2, 1)], [index(1, 1)], running=sessions))
    line = json.dumps(point_to_json(point), allow_nan=False)  # no NaN may leak through
    doc = json.loads(line)
    assert doc["seq"] == point.seq and doc["at"] == at(2).isoformat() and doc["interval_s"] == 2.0
    by_id = {s["queryid"]: s for s in doc["shapes"]}
    assert by_id[1]["calls_per_s"] == 1.0 and by_id[1]["query"] == "SELECT 1 <-> $1"
    assert by_id[2]["mean_ms"] is None and by_id[2]["rows_per_call"] is None
    assert doc["activity"] == {
        "running": 1,
        "hidden": 0,
        "longest_s": 2.0,
        "longest_pid": 11,
        "longest_query": "SELECT 1 <-> $1",
        "waits": {"CPU": 1},
    }
    assert doc["indexes"][0]["scans_per_s"] == 0.0 and doc["indexes"][0]["flag"] is None
    assert doc["resets"] == [] and doc["gone"] == [] and doc["sees_all_sessions"] is True
    bare = json.loads(json.dumps(point_to_json(point, query_text=False), allow_nan=False))
    assert all(s["query"] is None for s in bare["shapes"])
    assert bare["activity"]["longest_query"] is None
