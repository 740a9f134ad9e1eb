"""The build prediction's range, the live ETA and the workers a build really used.

Pure functions first (no server, no clock: the ETA tracker is handed its times), then two
tests against the real embedded server: a calibration's range holds its point estimate,
and the workers a real parallel build used are read from its real notices.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from psycopg import sql

from tests import faults
from tests.conftest import Database
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.migrate import build, plan, predict
from vecscope.core.migrate.build import Eta, EtaTracker, work_done
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.states import Kind

HNSW = predict.growth_exponent("hnsw")


def _spec(rows: int = 1_000_000, **changes: object) -> MigrationSpec:
    base = MigrationSpec(
        kind=Kind.REBUILD,
        schema="public",
        table="items",
        column="embedding",
        column_type="vector",
        dims=384,
        rows=rows,
        method="hnsw",
        opclass="vector_cosine_ops",
        params={"m": 16, "ef_construction": 64},
        new_name="items_embedding_hnsw_idx",
        old_name="items_embedding_ivfflat",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _cal(*times: float, rows: int = 4_000) -> predict.Calibration:
    return predict.Calibration(rows, min(times), 1_000.0, 1_600.0, True, tuple(times))


# --- the prediction's range ----------------------------------------------------------------


def test_the_range_allows_for_noise_exponent_and_idle_workers() -> None:
    cal = _cal(1.2, 1.0, 1.5)
    pred = predict.predict(_spec(), cal, workers=1, maintenance_work_mem_kb=2**21)
    scale = 1_000_000 / 4_000
    spread = predict.GROWTH_UNCERTAINTY["hnsw"]
    full = predict.parallel_speedup(1)
    assert pred.serial_seconds == pytest.approx(1.0 * scale**HNSW)
    # No load known: the point counts on the whole speed-up.
    assert pred.seconds == pytest.approx(pred.serial_seconds / full)
    # Low: the fastest sample, the exponent lower, the full speed-up.
    assert pred.low_seconds == pytest.approx(1.0 * scale ** (HNSW - spread) / full)
    # High: the slowest sample, the exponent higher, no speed-up at all (a busy server).
    assert pred.high_seconds == pytest.approx(1.5 * scale ** (HNSW + spread))
    assert pred.low_seconds < pred.seconds < pred.high_seconds


def test_a_busy_server_counts_on_less_speed_up() -> None:
    cal = _cal(1.0, 1.0, 1.0)
    spec = _spec()
    idle = predict.predict(spec, cal, workers=1, maintenance_work_mem_kb=2**21, busy=0.0)
    half = predict.predict(spec, cal, workers=1, maintenance_work_mem_kb=2**21, busy=0.5)
    busy = predict.predict(spec, cal, workers=1, maintenance_work_mem_kb=2**21, busy=1.0)
    # Busy at preflight is no promise of busy during the build: half the speed-up.
    discount = predict.BUSY_DISCOUNT
    assert busy.speedup == pytest.approx(1 + predict.PARALLEL_EFFICIENCY * (1 - discount))
    assert idle.speedup == pytest.approx(predict.parallel_speedup(1))
    assert idle.seconds < half.seconds < busy.seconds < busy.serial_seconds
    assert half.speedup == pytest.approx(1 + predict.PARALLEL_EFFICIENCY * (1 - discount / 2))
    # The range does not depend on the load: it holds both cases.
    assert (idle.low_seconds, idle.high_seconds) == (busy.low_seconds, busy.high_seconds)
    assert busy.low_seconds <= idle.seconds and busy.seconds <= busy.high_seconds


def test_no_workers_no_parallel_part_in_the_range() -> None:
    pred = predict.predict(_spec(), _cal(1.0), workers=0, maintenance_work_mem_kb=2**21)
    assert pred.speedup == 1.0 and pred.seconds == pred.serial_seconds
    assert pred.high_seconds / pred.seconds == pytest.approx(
        250 ** predict.GROWTH_UNCERTAINTY["hnsw"]
    )


def test_the_growth_exponent_falls_as_the_table_outgrows_the_sample() -> None:
    """Fitted from a 4,000-row sample: steeper to 100,000 rows than to 1,000,000."""
    at_1m = predict.growth_exponent("hnsw", 250.0)
    assert at_1m == predict.GROWTH_EXPONENT["hnsw"] == predict.growth_exponent("hnsw")
    assert predict.growth_exponent("hnsw", 25.0) == pytest.approx(at_1m + 0.03 * 2.302585)
    assert predict.growth_exponent("hnsw", 5.0) > predict.growth_exponent("hnsw", 25.0)
    assert 1.0 <= predict.growth_exponent("hnsw", 10**6) < at_1m
    assert predict.growth_exponent("ivfflat", 25.0) == 1.0


def test_a_calibration_on_a_busy_server_lowers_the_range_not_the_point() -> None:
    """Sampled while others ran: a build after they stop may be that much faster."""
    cal = _cal(3.0, 3.1, 3.2)
    spec = _spec()
    calm = predict.predict(spec, cal, workers=1, maintenance_work_mem_kb=2**21)
    loaded = predict.predict(spec, cal, workers=1, maintenance_work_mem_kb=2**21, slowed=3.0)
    assert loaded.seconds == calm.seconds and loaded.high_seconds == calm.high_seconds
    assert loaded.low_seconds == pytest.approx(calm.low_seconds / 3.0)
    assert predict.calibration_slowdown(5.5, 2, own=0.5) == pytest.approx(3.0)
    assert predict.calibration_slowdown(0.5, 2) == 1.0
    assert predict.calibration_slowdown(9.0, None) == 1.0


def test_busy_share_from_the_load_average() -> None:
    assert predict.busy_share(1.0, 2) == 0.5
    assert predict.busy_share(1.3, 2, own=0.3) == 0.5
    assert predict.busy_share(5.0, 2) == 1.0 and predict.busy_share(0.1, 2, own=1.0) == 0.0
    assert predict.busy_share(1.0, None) is None


def test_the_prediction_is_worded_as_a_range_and_the_workers_as_a_possibility() -> None:
    pred = predict.Prediction(10**6, None, 0, 30.0, 17.2, 1, 1024, True, None, 11.0, 34.4)
    assert pred.range_text == "~17 s (range 11-34 s)"
    small = replace(pred, seconds=4.24, low_seconds=2.5, high_seconds=9.0)
    assert small.range_text == "~4.2 s (range 2.5-9.0 s)"
    assert replace(pred, seconds=0.0).range_text == ""
    assert pred.workers_text == (
        "up to 1 parallel worker plus the leader, if the server has them free"
    )
    assert predict.workers_text(2).startswith("up to 2 parallel workers plus the leader")
    assert predict.workers_text(0).startswith("0 parallel worker(s)")


def test_a_calibration_without_every_time_still_predicts() -> None:
    """A Calibration made with only the fastest time (as before the times were kept)."""
    cal = predict.Calibration(4_000, 1.0, 1_000.0, 1_600.0, True)
    assert cal.slowest == 1.0
    pred = predict.predict(_spec(), cal, workers=0, maintenance_work_mem_kb=2**21)
    assert pred.low_seconds < pred.seconds < pred.high_seconds


# --- the workers a build really used ---------------------------------------------------------

_BUILDING_SERIALLY = 'building index "items_embedding_hnsw_idx" on table "items" serially'


def test_workers_from_pgvectors_notices_beat_postgresqls_serially() -> None:
    """The issue's build: PostgreSQL said "serially", pgvector ran a worker."""
    notices = [
        _BUILDING_SERIALLY,
        "using 1 parallel workers",
        "leader processed 25412 tuples",
        "worker processed 24588 tuples",
    ]
    assert predict.workers_used(notices) == 1
    # Without pgvector's launch notice, the participants' reports still tell.
    assert predict.workers_used([_BUILDING_SERIALLY, *notices[2:]]) == 1
    assert predict.workers_used([notices[1]]) == 1


def test_workers_when_nothing_or_only_serially_was_said() -> None:
    assert predict.workers_used([]) is None
    assert predict.workers_used(["hnsw graph no longer fits into maintenance_work_mem"]) is None
    assert predict.workers_used([_BUILDING_SERIALLY]) == 0


def test_each_partitions_build_counts_on_its_own() -> None:
    """Two partitions each built with one worker: one worker was used, not two."""
    one = [
        'building index "p1_idx" on table "p1" serially',
        "using 1 parallel workers",
        "worker processed 100 tuples",
        "leader processed 120 tuples",
    ]
    two = [
        'building index "p2_idx" on table "p2" serially',
        "worker processed 90 tuples",
        "leader processed 110 tuples",
    ]
    assert predict.workers_used(one + two) == 1
    assert predict.workers_used(one + [_BUILDING_SERIALLY]) == 1
    assert predict.workers_used(two + ["worker processed 5 tuples"]) == 2


def test_the_workers_notices_are_recognised_and_worded() -> None:
    for text in (_BUILDING_SERIALLY, "using 2 parallel workers", "worker processed 3 tuples"):
        assert predict.is_workers_notice(text)
    assert not predict.is_workers_notice("hnsw graph no longer fits into maintenance_work_mem")
    assert "serially" in predict.workers_used_text(0)
    assert predict.workers_used_text(1) == "1 parallel worker plus the leader took part"


# --- the live ETA ----------------------------------------------------------------------------


def test_work_done_is_superlinear_for_hnsw() -> None:
    assert work_done(0.5, 1.0) == 0.5
    assert work_done(0.5, HNSW) < 0.5
    assert work_done(0.0, HNSW) == 0.0 and work_done(1.0, HNSW) == 1.0
    assert work_done(1.5, HNSW) == 1.0


def _shown(tracker: EtaTracker, polls: list[tuple[str, float | None, float]]) -> list[Eta]:
    return [tracker.update(phase, fraction, elapsed) for phase, fraction, elapsed in polls]


def test_the_eta_never_rises_when_the_build_slows_down() -> None:
    """The issue's build: predicted 17 s, the machine got busy, it took 31 s."""
    tracker = EtaTracker(17.0, 25.0, HNSW)
    loading = "building index: loading tuples"
    polls: list[tuple[str, float | None, float]] = [("initializing", None, 0.5)]
    # Fast at first, then half the pace: progress falls behind the prediction.
    polls += [(loading, f, 1.0 + 20 * f) for f in (0.05, 0.1, 0.2, 0.3)]
    polls += [(loading, 0.3 + 0.05 * i, 7.0 + 2.0 * i) for i in range(1, 10)]
    etas = _shown(tracker, polls)
    loading_etas = [e.seconds for e in etas[1:] if not e.over]
    assert all(s is not None for s in loading_etas)
    assert all(b <= a for a, b in zip(loading_etas, loading_etas[1:], strict=False))  # type: ignore[operator]
    # Past the top of the range (25 s) it says so, with the progress's own estimate.
    over = tracker.update(loading, 0.8, 26.0)
    assert over.over and over.ranged and over.seconds is not None and over.seconds > 0
    assert over.label.startswith("over the predicted range; ~")
    assert over.label.endswith("s more by progress")
    later = tracker.update(loading, 0.8, 27.0)  # no progress, time passed: not higher
    assert later.seconds is not None and later.seconds <= over.seconds


def test_the_eta_follows_a_build_on_schedule() -> None:
    """A build that goes as predicted: the ETA falls about as the time passes."""
    tracker = EtaTracker(100.0, 150.0, HNSW)
    etas = [
        tracker.update("building index: loading tuples", (t / 100.0) ** (1 / HNSW), float(t))
        for t in range(5, 100, 5)
    ]
    for t, eta in zip(range(5, 100, 5), etas, strict=True):
        assert eta.seconds == pytest.approx(100.0 - t, abs=1.0)
        assert eta.label == f"ETA {eta.seconds:.0f} s"


def test_progress_outweighs_the_prediction_as_work_gets_done() -> None:
    """Twice as fast as predicted: by half the work the ETA is the progress's."""
    tracker = EtaTracker(100.0, 150.0, 1.0)
    early = tracker.update("loading", 0.05, 2.5)
    assert early.seconds is not None and early.seconds > 50.0  # mostly the prediction
    late = tracker.update("loading", 0.6, 30.0)
    assert late.seconds == pytest.approx(20.0)  # 30 s for 60%: 20 s more


def test_a_new_phase_starts_afresh_and_the_unknown_says_nothing() -> None:
    tracker = EtaTracker(None, None, HNSW)
    assert tracker.update("initializing", None, 1.0) == Eta(None)
    assert tracker.update("initializing", None, 1.0).label == ""
    # A phase's pace counts from where the phase was first seen: one poll says nothing.
    assert tracker.update("loading", 0.1, 2.0).seconds is None
    a = tracker.update("loading", 0.5, 11.0)
    b = tracker.update("index validation: scanning table", 0.1, 12.0)
    c = tracker.update("index validation: scanning table", 0.2, 22.0)
    assert a.seconds is not None and b.seconds is None
    assert c.seconds == pytest.approx(80.0)  # 10% in 10 s, 80% to go
    # Past the estimate, within the range, nothing counted: said so, not "ETA 0 s".
    ranged = EtaTracker(10.0, 20.0, 1.0)
    assert ranged.update("waiting for old snapshots", None, 12.0).label == (
        "past the estimate, within the predicted range"
    )
    # Only a point prediction: past it is "past the prediction", not a range.
    pointed = EtaTracker(10.0, None, 1.0)
    assert pointed.update("loading", None, 11.0).label == "past the prediction"


def test_a_build_progress_renders_its_eta() -> None:
    progress = build.BuildProgress("loading", 50.0, 10.0, 5.0)
    assert progress.eta_label == "ETA 5 s"
    over = build.BuildProgress("loading", 90.0, 40.0, 2.4, eta=Eta(2.4, over=True, ranged=True))
    assert over.eta_label == "over the predicted range; ~2 s more by progress"
    assert build.BuildProgress("starting", None, 0.1, None).eta_label == ""


# --- against the real server -----------------------------------------------------------------


def _table(db: Database, name: str, rows: int) -> None:
    """``public.<name>``, 32-d vectors with an IVFFlat ``<name>_ivf`` (the fault tests'
    loader)."""
    faults.load_table(db.dsn, name, rows, seed=7)


def _planned(db: Database, table: str) -> MigrationSpec:
    with db.connect() as conn:
        inventory = fetch_inventory(conn)
    return plan.choose(inventory, index=f"public.{table}_ivf")


def test_a_calibration_gives_a_range_around_its_point(db: Database) -> None:
    _table(db, "predict_items", 3_000)
    spec = _planned(db, "predict_items")
    with db.connect() as conn:
        cal = predict.calibrate(conn, spec, sample_rows=1_000)
    assert len(cal.times) == predict.SAMPLE_BUILDS and cal.seconds == min(cal.times)
    for workers, busy in ((0, None), (1, None), (1, 0.5), (1, 1.0)):
        pred = predict.predict(spec, cal, workers=workers, maintenance_work_mem_kb=65536, busy=busy)
        assert 0 < pred.low_seconds <= pred.seconds <= pred.high_seconds
        assert pred.range_text.startswith("~")


def test_the_workers_a_real_build_used_are_read_from_its_notices(db: Database) -> None:
    """A concurrent build as the wizard runs it, allowed one worker (the table's own
    ``parallel_workers`` makes PostgreSQL plan one whatever its size). Whether a worker
    slot was free is the server's business: the derivation must agree with what the
    server's notices say, whichever it was."""
    _table(db, "predict_workers", 2_000)
    with db.connect() as conn:
        conn.execute("ALTER TABLE predict_workers SET (parallel_workers = 1)")
    spec = replace(
        _planned(db, "predict_workers"), parallel_workers=1, maintenance_work_mem_kb=65536
    )
    outcome = build.run(db.target, spec, poll_s=0.05)
    notices = list(outcome.notices)
    launched = [n for n in notices if n.startswith("using ") and "parallel worker" in n]
    reported = [n for n in notices if n.startswith("worker processed")]
    assert any(n.startswith("leader processed") for n in notices) == bool(launched), notices
    expected = int(launched[0].split()[1]) if launched else 0
    assert outcome.workers == expected, notices
    assert len(reported) <= max(1, expected)
    with db.connect() as conn:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(spec.new_name)))
