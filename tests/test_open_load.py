"""Open load accounted as wrk2 and k6 do (issue 14, point 4), on hand-made timestamps.

A request belongs to the measurement window when it was DUE in it, whenever it completes;
every request due in the window ends up completed (success), failed or dropped (never sent,
or not finished within the grace after the window). The old rule (the phase of the
completion time) left the slowest requests of an overloaded window out of its percentiles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import hand_run

from harness import analysis
from harness.load.hooks import HookState, count_due, due_ts, endpoint_rows, phase_of, response_phase
from harness.record import Run

M_START, M_END = 100.0, 110.0  # the measurement window, Unix s
GRACE_S = 10.0  # how long after the window the case waits for requests due in it
NAME = "/cpu"


def _exact_percentile(values: list[float], pct: float) -> float:
    """The value at rank round(pct/100 * n) (1-based, at least 1): how HdrHistogram's Python
    implementation defines a percentile."""
    ordered = sorted(values)
    return ordered[max(1, int(pct / 100 * len(ordered) + 0.5)) - 1]


def _drive(
    state: HookState, start_ts: float, rate_rps: float, service_s: float, fail_every: int = 0, fast_fail_ms: float = 1.0
) -> list[dict]:
    """What the locustfile does, with a fake clock: request k is due at start + k / rate and
    sent on time; a single FIFO server takes `service_s` per request (so past 1 / service_s
    req/s a backlog grows); every `fail_every`-th request fails at once (a fast error).
    Nothing is sent once the window has ended (k6's graceful stop); a response that comes
    after the grace is never recorded. Returns every request's timestamps."""
    interval = 1.0 / rate_rps
    close_ts = M_END + GRACE_S
    free_at = start_ts
    out = []
    k = 0
    while True:
        due = due_ts(start_ts, interval, k)
        if due >= M_END:
            break
        phase = phase_of(due, M_START, None)
        state.record_send(phase, NAME, 0.0)
        fails = bool(fail_every) and k % fail_every == fail_every - 1
        if fails:
            done = due + fast_fail_ms / 1000
        else:
            free_at = max(free_at, due) + service_s
            done = free_at
        out.append({"k": k, "due": due, "done": done, "ok": not fails, "phase": phase})
        if done < close_ts:
            state.record(
                response_phase(due, done, M_START, M_END),
                NAME,
                (done - due) * 1000,
                not fails,
                "0",
                "1",
                done,
                due_ts=due,
                done_phase=phase_of(done, M_START, M_END),
            )
        k += 1
    state.add_due("measure", NAME, count_due(start_ts, interval, M_START, M_END))
    return out


def _measure_row(state: HookState) -> dict:
    return next(
        r for r in endpoint_rows("c", state.to_dict()["endpoints"]) if r["phase"] == "measure" and r["name"] == NAME
    )


def test_slow_requests_due_in_the_window_count_in_it_whenever_they_complete():
    """An overloaded server (capacity 4 req/s, offered 8): the backlog grows, so the slowest
    requests due in the window complete after it. Their latency is the window's."""
    state = HookState()
    reqs = _drive(state, start_ts=95.0, rate_rps=8.0, service_s=0.25)
    due_in = [r for r in reqs if r["phase"] == "measure"]
    answered = [r for r in due_in if r["done"] < M_END + GRACE_S]
    truth_ms = [(r["done"] - r["due"]) * 1000 for r in answered]
    row = _measure_row(state)
    assert row["due"] == len(due_in) == 80
    assert row["requests"] == len(answered)
    assert row["dropped"] == len(due_in) - len(answered) > 0  # the backlog outlasted the grace
    assert row["requests"] + row["dropped"] == row["due"]  # completed + failed + dropped == due
    assert row["sent"] == row["due"]  # the generator kept the schedule: every drop is the server's
    assert row["latency_p99_ms"] == pytest.approx(_exact_percentile(truth_ms, 99), rel=1e-3)
    assert row["latency_max_ms"] == pytest.approx(max(truth_ms), rel=1e-3)
    # the old rule (phase of the completion time) would have reported a far smaller p99
    by_completion = [(r["done"] - r["due"]) * 1000 for r in reqs if phase_of(r["done"], M_START, M_END) == "measure"]
    assert _exact_percentile(by_completion, 99) < 0.8 * row["latency_p99_ms"]
    # what completed inside the window, whatever it was due: the server's rate, 4 req/s
    assert row["completed_in_phase"] / (M_END - M_START) == pytest.approx(4.0, abs=0.11)


def test_within_capacity_nothing_is_dropped_and_the_rate_is_the_target():
    state = HookState()
    _drive(state, start_ts=95.0, rate_rps=8.0, service_s=0.05)
    row = _measure_row(state)
    assert row["due"] == row["requests"] == 80 and row["dropped"] == 0 and row["failures"] == 0
    assert row["completed_in_phase"] / (M_END - M_START) == pytest.approx(8.0, abs=0.11)
    assert row["latency_p99_ms"] == pytest.approx(50.0, rel=1e-3)


def test_fast_failures_do_not_pull_the_latency_percentiles_down():
    """Every 4th request fails in 1 ms: the percentiles are those of the successes; the
    failures have their own count and latency."""
    state = HookState()
    _drive(state, start_ts=95.0, rate_rps=8.0, service_s=0.05, fail_every=4)
    row = _measure_row(state)
    assert row["failures"] == 20 and row["requests"] == 80
    assert row["latency_p50_ms"] == pytest.approx(50.0, rel=1e-3)
    assert row["latency_mean_ms"] == pytest.approx(50.0, rel=1e-3)  # with the failures in: (3 * 50 + 1) / 4
    assert row["requests"] - row["failures"] == 60
    assert row["failure_latency_p50_ms"] == pytest.approx(1.0, rel=1e-2)


def test_closed_load_keeps_every_response_in_its_percentiles():
    """Closed load (no due time) is unchanged: phases by completion, failures in the histogram."""
    state = HookState()
    for i in range(100):
        state.record(
            phase_of(100.0 + i * 0.01, M_START, M_END),
            NAME,
            1.0 if i % 2 else 9.0,
            i % 2 == 1,
            "0",
            "1",
            100.0 + i * 0.01,
        )
    row = _measure_row(state)
    assert row["requests"] == 100 and row["failures"] == 50
    assert row["latency_mean_ms"] == pytest.approx(5.0, rel=1e-3)
    assert row["due"] is None and row["dropped"] is None
    assert row["completed_in_phase"] == 50


def test_merging_the_accounting_of_two_processes_is_exact():
    a, b, whole = HookState(), HookState(), HookState()
    _drive(a, 95.0, 4.0, 0.3)
    _drive(b, 95.1, 4.0, 0.3)
    _drive(whole, 95.0, 4.0, 0.3)
    _drive(whole, 95.1, 4.0, 0.3)
    merged = HookState()
    merged.merge(a.to_dict())
    merged.merge(b.to_dict())
    assert endpoint_rows("c", merged.to_dict()["endpoints"]) == endpoint_rows("c", whole.to_dict()["endpoints"])
    assert merged.to_dict()["send_lag"] == whole.to_dict()["send_lag"]


@pytest.mark.parametrize(
    "start, interval, expected",
    [(95.0, 0.125, 80), (100.0, 0.1, 100), (100.05, 0.1, 100), (111.0, 0.1, 0), (0.0, 3.0, 3), (109.99, 5.0, 1)],
)
def test_due_counts_agree_with_the_phase_of_each_due_time(start: float, interval: float, expected: int):
    brute = sum(phase_of(due_ts(start, interval, k), M_START, M_END) == "measure" for k in range(200))
    assert count_due(start, interval, M_START, M_END) == brute == expected
    assert count_due(start, interval, None, None) == 0


# --- the case-level verdicts -------------------------------------------------------------


def _run(rows: list[dict]) -> Run:
    """A Run from hand-made case and endpoint rows (other tables empty)."""
    cases, endpoints = [], []
    for i, r in enumerate(rows):
        case_id = f"00{i}-single"
        cases.append(
            {
                "case_id": case_id,
                "index": i,
                "condition": f"single r{r['target']}",
                "repetition": 1,
                "mode": "single",
                "workers": 1,
                "schedule": "",
                "route": NAME,
                "path": NAME,
                "load": "open",
                "users": 1,
                "target_rps": r["target"],
                "max_in_flight": 1000,
                "generator_processes": 1,
                "status": "complete",
                "measured_s": 10.0,
                "sent_rps": r["sent"] / 10.0,
                "cap_waits": r.get("cap_waits", 0),
                "keepalive": True,
                "probe_path": "",
                "events": "",
            }
        )
        endpoints.append(
            {
                "case_id": case_id,
                "phase": "measure",
                "name": NAME,
                "requests": r["requests"],
                "failures": r.get("failures", 0),
                "latency_p99_ms": r.get("p99", 100.0),
                "due": r["due"],
                "sent": r["sent"],
                "dropped": r["due"] - r["requests"],
                "completed_in_phase": r["completed"],
                "send_lag_p99_ms": r.get("lag", 1.0),
            }
        )
    return hand_run(cases, endpoints=endpoints, path=".", meta={"run_id": "t", "cases": []})


def test_a_backlog_under_the_cap_is_overloaded_though_every_request_left_on_time():
    """The case seen in issue 14: cap never reached (cap_waits 0), send rate on target, the
    server completing 60 of the 100 req/s asked: it is overloaded, with the numbers."""
    r = analysis.case_results(
        _run(
            [
                {"target": 100, "sent": 1000, "due": 1000, "requests": 1000, "completed": 600},
                {"target": 100, "sent": 1000, "due": 1000, "requests": 900, "completed": 600, "cap_waits": 0},
            ]
        )
    )
    short, dropped = r.iloc[0], r.iloc[1]
    assert short.overloaded and "fell behind 100 req/s" in short.overloaded_reason
    assert "60 req/s" in short.overloaded_reason and not short.generator_limited
    assert short.completed_rps == pytest.approx(60.0) and short.throughput_rps == pytest.approx(60.0)
    assert dropped.overloaded and "100 dropped" in dropped.overloaded_reason
    assert dropped.dropped == 100 and dropped.due == 1000


def test_drops_alone_make_a_case_overloaded_and_within_capacity_is_not():
    r = analysis.case_results(
        _run(
            [
                {"target": 100, "sent": 1000, "due": 1000, "requests": 999, "completed": 1000},
                {"target": 100, "sent": 1000, "due": 1000, "requests": 1000, "completed": 998},
            ]
        )
    )
    assert r.iloc[0].overloaded and "1 dropped" in r.iloc[0].overloaded_reason
    assert not r.iloc[1].overloaded and not isinstance(r.iloc[1].overloaded_reason, str)
    assert not r.iloc[1].generator_limited


def test_a_late_generator_with_free_slots_is_the_generators_limit_not_the_servers():
    """Every request sent (no cap wait) but its p99 lateness is most of the latency: the
    latency is the generator's; and a send shortfall with free slots stays the generator's."""
    r = analysis.case_results(
        _run(
            [
                {
                    "target": 100,
                    "sent": 1000,
                    "due": 1000,
                    "requests": 1000,
                    "completed": 1000,
                    "lag": 80.0,
                    "p99": 100.0,
                },
                {"target": 100, "sent": 700, "due": 1000, "requests": 700, "completed": 700},
            ]
        )
    )
    late, short = r.iloc[0], r.iloc[1]
    assert late.generator_limited and "80 ms" in late.generator_limited_reason
    assert late.send_lag_p99_ms == pytest.approx(80.0)
    assert short.generator_limited and "sent 70 req/s of the 100" in short.generator_limited_reason
    # it is still not on target: flagged, and the reason says whose shortfall it was
    assert short.overloaded and "generator" in short.overloaded_reason


def test_an_old_record_without_the_accounting_keeps_the_old_rule():
    run = _run([{"target": 100, "sent": 900, "due": 1000, "requests": 900, "completed": 900, "cap_waits": 5}])
    for column in ("due", "sent", "dropped", "completed_in_phase", "send_lag_p99_ms"):
        run.tables["endpoints"][column] = np.nan
    r = analysis.case_results(run).iloc[0]
    assert "fell behind 100 req/s" in r.overloaded_reason and r.overloaded
    assert math.isnan(r.dropped) and r.throughput_rps == pytest.approx(90.0)
