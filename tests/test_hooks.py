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
    timeline = [
        {"second": s, "name": "/cpu", "requests": 10, "failures": 0, "latency_sum_ms": 20.0, "latency_max_ms": 3.0}
        for s in (100, 101, 102, 103, 104)
    ]
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
    rows = timeline_rows(
        "c", merged.to_dict()["timeline"], started_ts=999.0, measure_start_ts=999.0, measure_end_ts=1010.0
    )
    first, second = rows
    assert first["requests"] == 100
    assert first["latency_p50_ms"] == pytest.approx(50.0, rel=0.01)
    assert first["latency_p99_ms"] == pytest.approx(99.0, rel=0.01)
    assert second["latency_p50_ms"] == pytest.approx(500.0, rel=0.01)


def test_a_timeline_entry_without_a_histogram_has_no_percentiles():
    rows = timeline_rows(
        "c",
        [{"second": 5, "name": "/x", "requests": 1, "failures": 0, "latency_sum_ms": 2.0, "latency_max_ms": 2.0}],
        started_ts=4.0,
        measure_start_ts=4.0,
        measure_end_ts=9.0,
    )
    assert rows[0]["latency_p99_ms"] is None


def _one_by_one(responses):
    """The reference: every response recorded on its own with HdrHistogram.record_value,
    as the hooks did before they batched (the figures flush() must reproduce)."""
    from collections import defaultdict

    from harness.load.hooks import SECOND_SIGNIFICANT_DIGITS, new_histogram

    hist, fail, second = {}, {}, {}
    requests, failures, completed, workers = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    spans, timeline, errors = {}, {}, defaultdict(int)
    for phase, name, ms, ok, wid, pid, ts, err, tid, count_worker, due, done_phase in responses:
        us = max(1, min(3_600_000_000, int(round(ms * 1000))))
        if ok or due is None:
            hist.setdefault((phase, name), new_histogram()).record_value(us)
        requests[(phase, name)] += 1
        if ok:
            completed[(done_phase or phase, name)] += 1
        else:
            failures[(phase, name)] += 1
            fail.setdefault((phase, name), new_histogram()).record_value(us)
            errors[err[:200]] += 1
        if count_worker:
            workers[(phase, wid, pid, tid)] += 1
            lo, hi = spans.get((phase, wid, pid, tid), (ts, ts))
            spans[(phase, wid, pid, tid)] = (min(lo, ts), max(hi, ts))
        slot = timeline.setdefault((int(ts), name), [0, 0, 0.0, 0.0])
        slot[0], slot[1], slot[2], slot[3] = slot[0] + 1, slot[1] + (not ok), slot[2] + ms, max(slot[3], ms)
        second.setdefault((int(ts), name), new_histogram(SECOND_SIGNIFICANT_DIGITS)).record_value(us)
    return hist, fail, second, requests, failures, completed, workers, spans, timeline, errors


@pytest.mark.parametrize("flush_every", [1, 7, 2048])
def test_batched_recording_equals_recording_one_by_one(monkeypatch, flush_every):
    """flush() adds a batch up with numpy; every histogram must come out bin for bin as
    record_value() one response at a time makes it, whatever the batch size, with
    several phases, names (a probe not counted per worker), failures, open load's due
    times and latencies from below 1 µs to above the histogram's highest value."""
    from harness.load import hooks

    monkeypatch.setattr(hooks, "FLUSH_EVERY", flush_every)
    rng = random.Random(7)
    responses = []
    for i in range(1200):
        ts = 1000.0 + i * 0.008
        phase = "warmup" if ts < 1002.5 else "measure" if ts < 1008.0 else "after"
        probe = i % 17 == 0
        name = "probe /hello" if probe else "/cpu"
        ok = i % 23 != 0
        ms = [0.0004, 3_700_000_000.0, rng.lognormvariate(1.0, 1.5)][0 if i == 5 else 1 if i == 6 else 2]
        due = ts - ms / 1000 if i % 3 == 0 else None
        done_phase = "after" if due is not None and i % 9 == 0 else None
        responses.append(
            (
                phase,
                name,
                ms,
                ok,
                str(i % 3),
                str(100 + i % 3),
                ts,
                None if ok else f"Err {i % 4}",
                str(i % 2) if i % 5 else "",
                not probe,
                due,
                done_phase,
            )
        )
    state = HookState()
    for phase, name, ms, ok, wid, pid, ts, err, tid, count_worker, due, done_phase in responses:
        state.record(
            phase,
            name,
            ms,
            ok,
            wid,
            pid,
            ts,
            err,
            thread_id=tid,
            count_worker=count_worker,
            due_ts=due,
            done_phase=done_phase,
        )
    got = state.to_dict()
    hist, fail, second, requests, failures, completed, workers, spans, timeline, errors = _one_by_one(responses)
    enc = lambda h: h.encode().decode("ascii")  # noqa: E731
    endpoints = {(e["phase"], e["name"]): e for e in got["endpoints"]}
    assert set(endpoints) == set(requests)
    for key, e in endpoints.items():
        assert e["hdr"] == (enc(hist[key]) if key in hist else ""), key
        assert e["fail_hdr"] == (enc(fail[key]) if key in fail else ""), key
        assert (e["requests"], e["failures"], e["completed"]) == (requests[key], failures[key], completed[key]), key
    assert {
        (w["phase"], w["worker_id"], w["pid"], w["thread_id"]): (
            w["requests"],
            w["first_response_ts"],
            w["last_response_ts"],
        )
        for w in got["workers"]
    } == {k: (n, *spans[k]) for k, n in workers.items()}
    assert len(got["timeline"]) == len(timeline)
    for t in got["timeline"]:
        ref = timeline[(t["second"], t["name"])]
        assert (t["requests"], t["failures"], t["latency_max_ms"]) == (ref[0], ref[1], ref[3])
        assert t["latency_sum_ms"] == pytest.approx(ref[2], rel=1e-12)
        assert t["hdr"] == enc(second[(t["second"], t["name"])])
    assert got["errors"] == dict(errors)


def test_latency_summary_equals_hdrh_figure_by_figure():
    """The one-pass summary gives exactly hdrh's own mean and percentiles (wide, narrow and
    one-value histograms), so no recorded or reported figure moved when it replaced them."""
    from harness.load.hooks import PERCENTILES, new_histogram

    rng = random.Random(7)
    shapes = [lambda: rng.lognormvariate(9, 1.5), lambda: rng.uniform(900, 1100), lambda: 2_000]
    for draw in shapes:
        hist = new_histogram()
        for _ in range(3000):
            hist.record_value(max(1, int(draw())))
        expected = {
            "latency_mean_ms": hist.get_mean_value() / 1000,
            **{k: hist.get_value_at_percentile(p) / 1000 for k, p in PERCENTILES.items()},
            "latency_max_ms": hist.get_max_value() / 1000,
        }
        assert latency_summary(hist) == expected


_LISTENER_CHECK = r"""
import json, random, sys
sys.argv = ["x"]
import harness.load.locustfile as lf
from harness.load import hooks
from harness.load.hooks import PROBE_PREFIX, HookState, phase_of
from geventhttpclient.header import Headers

hooks.FLUSH_EVERY = int(ARGS[0])
clock = [1000.0]
lf._time = lambda: clock[0]
rng = random.Random(3)
lf.state = lf._new_state()
lf.state.keep_requests = True
ref = HookState()
ref.keep_requests = True


class Response:
    pass


def response():
    r = rng.random()
    if r < 0.03:
        return None, ("?", "?", "")
    x = Response()
    if r < 0.06:
        x.headers = None
        return x, ("?", "?", "")
    if r < 0.25:  # lean_http's headers: a dict of lower-case name -> the first line's value
        d, wid, pid, tid = {"content-type": "text/plain"}, "?", "?", ""
        if rng.random() < 0.9:
            d["x-worker-id"] = rng.choice(["0", "1", ""])
            wid = d["x-worker-id"] or "?"
        if rng.random() < 0.9:
            d["x-pid"] = rng.choice(["100", "101", ""])
            pid = d["x-pid"] or "?"
        if rng.random() < 0.3:
            d["x-thread-id"] = rng.choice(["1", "2", ""])
            tid = d["x-thread-id"]
        x.headers = d
        return x, (wid, pid, tid)
    h = Headers()
    h.add("Content-Type", "text/plain")
    wid, pid, tid = "?", "?", ""
    if rng.random() < 0.95:
        wid = rng.choice(["0", "1", ""])
        h.add("X-Worker-Id", wid)
    if rng.random() < 0.95:
        pid = rng.choice(["100", "101"])
        h.add("X-Pid", pid)
        if rng.random() < 0.05:  # the field twice (an app and a proxy both set it): the first line counts
            h.add("X-Pid", "999")
    if rng.random() < 0.2:
        tid = rng.choice(["1", "2", ""])
        h.add("X-Thread-Id", tid)
    x.headers = h
    return x, (wid or "?", pid or "?", tid)


lf.window.update(spawned_ts=1001.0, measure_start_ts=1002.0, measure_end_ts=None, closing_ts=None, closed_ts=None)
for i in range(6000):
    clock[0] += rng.expovariate(500)
    done = clock[0]
    if i == 4000:
        lf.window["measure_end_ts"] = done + 0.5
    if i == 5000:
        lf.window["closed_ts"] = done
    lf.Config.open_rps = 10.0 if (i // 1000) % 2 else None
    due = done - rng.random() * 0.01 if rng.random() < 0.4 else None
    exc = None if rng.random() > 0.05 else rng.choice([ValueError("bad"), ConnectionError("refused")])
    name = rng.choice(["/cpu", "/hello", PROBE_PREFIX + "/hello"])
    rt = rng.lognormvariate(1, 1)
    resp, (wid, pid, tid) = response()
    lf._on_request(request_type="GET", name=name, response_time=rt, response=resp, exception=exc,
                   context={"due_ts": due} if due is not None else {}, start_time=done, url="u", response_length=5)
    # what the listener must have recorded: HookState.record with the phases of phase_of
    start, end = lf.window["measure_start_ts"], lf.window["measure_end_ts"]
    due_phase_ts = due if lf.Config.open_rps is not None else None
    phase = phase_of(done if due_phase_ts is None else due_phase_ts, start, end)
    if due_phase_ts is not None and phase == "measure" and lf.window["closed_ts"] is not None:
        continue
    ref.record(phase, name, (done - due) * 1000 if due is not None else rt, exc is None, wid, pid, done,
               None if exc is None else f"{type(exc).__name__}: {exc}", tid, not name.startswith(PROBE_PREFIX),
               due_phase_ts, phase_of(done, start, end))
print(json.dumps(lf.state.to_dict()) == json.dumps(ref.to_dict()))
"""


@pytest.mark.slow
def test_request_listener_records_what_record_records():
    """The request listener writes HookState.record's body out inline for a success (and reads
    the worker headers without their accessors): its record must be exactly record()'s, with
    closed and open load, probes, failures, a window that ends and closes, and responses with
    and without the worker headers. In a subprocess: importing Locust patches the process."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "ARGS = [7]\n" + _LISTENER_CHECK], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True", out.stdout[-2000:]


_CLOCK_CHECK = """
import sys, time
from harness.load import locustfile as lf  # imports Locust: the hub exists, its loop has not run
import gevent
t = time.monotonic()
while time.monotonic() - t < 1.0:  # a slow start (imports, the locustfile), the loop not running
    pass
if sys.argv[1] == "fresh":
    lf.fresh_loop_clock()
t0 = time.monotonic()
gevent.spawn_later(1.0, lambda: None).join()
print(round(time.monotonic() - t0, 3))
"""


@pytest.mark.slow
def test_a_run_time_timer_counts_from_when_it_is_started_not_from_the_import():
    """Locust starts its --run-time timer after the init event; gevent's loop clock, never run
    yet, still says when Locust was imported, so the timer fired early by the start-up time (a
    3 s run stopped 0.5 s after it began on a loaded machine). The locustfile's init brings the
    clock to now. In subprocesses: importing Locust patches the process."""
    import subprocess
    import sys

    def waited(arg: str) -> float:
        out = subprocess.run([sys.executable, "-c", _CLOCK_CHECK, arg], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return float(out.stdout.split()[-1])

    assert waited("stale") < 0.5  # the trap: without it the timer fires at once
    assert waited("fresh") >= 0.95


_CLOSED_LOOP_CHECK = """
import gevent
from locust.exception import StopUser
from locust.user.users import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING
from harness.load.closed import closed_loop


class Response:
    error = None


class Client:  # a fake client: answers at once, never waits; every other answer a failure
    calls = 0

    def get(self, path, name=None, headers=None):
        self.calls += 1
        r = Response()
        if self.calls % 2:
            r.error = ConnectionRefusedError(111, "Connection refused")
        if self.calls == 5:  # a stop asked for while this request is under way
            user._state = LOCUST_STATE_STOPPING
        return r


class User:
    pass


user = User()
user._state, user.client = LOCUST_STATE_RUNNING, Client()
ticks = []
other = gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0) for _ in range(1000)])
try:
    closed_loop(user, "/p", "/p", None)
except StopUser:
    print(user.client.calls, len(ticks) > 0)
"""


@pytest.mark.slow
def test_the_closed_loop_stops_when_asked_and_yields_after_a_failure():
    """The harness's closed loop (one task that never returns, in place of Locust's task and
    wait per request): a stop asked for during a request takes effect when it is answered (not
    before: 5 requests, not 4; not never), and a failure that came back without waiting lets
    the other greenlets run (else a refused connection would starve the hub: the other
    greenlet would never tick). In a subprocess: importing Locust patches the process."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _CLOSED_LOOP_CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["5", "True"], out.stdout
