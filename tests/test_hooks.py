"""The Locust-side measurements: exact percentiles, exact merging across processes."""

from __future__ import annotations

import math
import random

import pytest

from harness.load.hooks import HookState, decode_histogram, endpoint_rows, latency_summary, timeline_rows


def _fill(state: HookState, values, worker="1", pid="10", phase="measure", ts=1000.0):
    for i, v in enumerate(values):
        state.record(phase, "/cpu", v, ok=(i % 50 != 0), worker_id=worker, pid=pid, done_ts=ts + i * 0.01)


def test_percentiles_are_exact_within_the_histogram_precision():
    rng = random.Random(1)
    values = [rng.lognormvariate(1.0, 0.8) for _ in range(20000)]  # ms
    state = HookState()
    _fill(state, values)
    row = endpoint_rows("c", state.to_dict()["endpoints"])[0]
    for col, pct in (("latency_p50_ms", 50), ("latency_p99_ms", 99), ("latency_p99_9_ms", 99.9)):
        rank = math.ceil(round(pct / 100 * len(values), 6))  # the value at this rank (1-based) is the percentile
        exact = sorted(values)[rank - 1]
        assert row[col] == pytest.approx(exact, rel=1e-3), col
    assert row["latency_max_ms"] == pytest.approx(max(values), rel=1e-3)
    assert row["requests"] == 20000
    assert row["failures"] == 400


def test_merging_two_processes_equals_recording_everything_in_one():
    a, b, whole = HookState(), HookState(), HookState()
    va = [1.0 + i * 0.37 % 9 for i in range(3000)]
    vb = [5.0 + i * 1.13 % 40 for i in range(2000)]
    _fill(a, va, worker="1", pid="11")
    _fill(b, vb, worker="2", pid="12")
    _fill(whole, va, worker="1", pid="11")
    _fill(whole, vb, worker="2", pid="12")
    merged = HookState()
    merged.merge(a.to_dict())
    merged.merge(b.to_dict())
    m, w = merged.to_dict(), whole.to_dict()
    assert m["workers"] == w["workers"]
    assert endpoint_rows("c", m["endpoints"]) == endpoint_rows("c", w["endpoints"])
    assert sum(x["requests"] for x in m["timeline"]) == 5000
    assert {x["worker_id"]: x["requests"] for x in m["workers"]} == {"1": 3000, "2": 2000}


def test_phases_are_kept_apart():
    s = HookState()
    _fill(s, [100.0] * 10, phase="warmup")
    _fill(s, [1.0] * 30, phase="measure")
    rows = {r["phase"]: r for r in endpoint_rows("c", s.to_dict()["endpoints"])}
    assert rows["warmup"]["requests"] == 10 and rows["measure"]["requests"] == 30
    assert rows["measure"]["latency_max_ms"] == pytest.approx(1.0, rel=1e-3)


def test_empty_histogram_gives_no_numbers():
    assert latency_summary(decode_histogram(""))["latency_p99_ms"] is None


def test_timeline_phase_marks_whole_seconds_only():
    timeline = [{"second": s, "name": "/cpu", "requests": 10, "failures": 0, "latency_sum_ms": 20.0,
                 "latency_max_ms": 3.0} for s in (100, 101, 102, 103, 104)]
    rows = timeline_rows("c", timeline, started_ts=99.5, measure_start_ts=101.0, measure_end_ts=103.5)
    assert [r["phase"] for r in rows] == ["warmup", "measure", "measure", "partial", "after"]
    assert rows[0]["latency_mean_ms"] == pytest.approx(2.0)
    assert rows[0]["elapsed_s"] == pytest.approx(0.5)


def test_per_second_percentiles_are_recorded_and_merge_exactly():
    # second 1000 gets 1..100 ms from two processes (50 each); second 1001 only 500 ms
    a, b = HookState(), HookState()
    for v in range(1, 101):
        (a if v % 2 else b).record("measure", "/cpu", float(v), ok=True, worker_id="1", pid="1", done_ts=1000.5)
    a.record("measure", "/cpu", 500.0, ok=True, worker_id="1", pid="1", done_ts=1001.2)
    merged = HookState()
    merged.merge(a.to_dict())
    merged.merge(b.to_dict())
    rows = timeline_rows("c", merged.to_dict()["timeline"], started_ts=999.0, measure_start_ts=999.0,
                         measure_end_ts=1010.0)
    first, second = rows
    assert first["requests"] == 100
    assert first["latency_p50_ms"] == pytest.approx(50.0, rel=0.01)
    assert first["latency_p99_ms"] == pytest.approx(99.0, rel=0.01)
    assert second["latency_p50_ms"] == pytest.approx(500.0, rel=0.01)


def test_a_timeline_entry_without_a_histogram_has_no_percentiles():
    rows = timeline_rows("c", [{"second": 5, "name": "/x", "requests": 1, "failures": 0, "latency_sum_ms": 2.0,
                                "latency_max_ms": 2.0}], started_ts=4.0, measure_start_ts=4.0, measure_end_ts=9.0)
    assert rows[0]["latency_p99_ms"] is None
