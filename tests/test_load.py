"""Integration: Locust driven by the harness: open load, coordinated omission, several
Locust processes merged exactly, and the generator-saturation rule on this machine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import run_harness

from harness import analysis
from harness.load.verdict import OPEN_SHORTFALL
from harness.record import load_run

pytestmark = pytest.mark.integration

SCENARIO = """
from harness.scenario import ClosedLoad, OpenLoad, Scenario, ServerSpec, Workload
SCENARIO = Scenario(name="t", description="test", servers=[ServerSpec("single")],
    workloads=[{workloads}], loads=[{loads}], duration_s={duration}, warmup_s=1, repetitions=1)
"""


def run(
    tmp_path: Path, workloads: str, loads: str, duration: float = 5, *extra: str, env: dict[str, str] | None = None
) -> Path:
    f = tmp_path / "s.py"
    f.write_text(SCENARIO.format(workloads=workloads, loads=loads, duration=duration))
    results = tmp_path / "results"
    out = run_harness("run", str(f), "--run-id", "r", "--no-report", *extra, results=results, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return results / "r"


def test_open_load_keeps_its_rate_and_counts_latency_from_the_due_time(tmp_path: Path):
    path = run(tmp_path, 'Workload("/io", 200)', "OpenLoad(20, max_in_flight=1), OpenLoad(20)", 5)
    r = analysis.case_results(load_run(path)).set_index("condition")
    capped, free = r.loc["single /io?ms=200 r20-f1"], r.loc["single /io?ms=200 r20"]
    # 20 req/s of 200 ms each need 4 in flight: with one slot, each request waits for the last one,
    # and the wait counts: latency far beyond the 200 ms the server took
    assert capped.latency_p50_ms > 1000
    assert capped.sent_rps < 20 * 0.95 and "fell behind 20 req/s" in capped.overloaded_reason
    assert not capped.generator_limited
    # with free slots every request left on time and took the server's 200 ms
    assert free.sent_rps == pytest.approx(20, rel=0.05)
    assert 195 < free.latency_p50_ms < 300
    assert not free.generator_limited and not isinstance(free.overloaded_reason, str)
    # Locust's own summary (printed at quitting) counts every response the hooks did: the lean
    # users' responses reach Locust's statistics in batches (locust_batch), the last at the end
    for case in json.loads((path / "run.json").read_text())["cases"]:
        raw = path / "raw" / case["case_id"]
        hooks = json.loads((raw / "hooks.json").read_text())
        assert locust_summary_count(raw / "locust.out") == sum(e["requests"] for e in hooks["endpoints"]) > 0


def locust_summary_count(out: Path) -> int:
    """The request count of the Aggregated row of Locust's printed summary (its last)."""
    rows = [line.split() for line in out.read_text().splitlines() if line.strip().startswith("Aggregated")]
    counts = [int(row[1]) for row in rows if len(row) > 2 and row[2].endswith(")")]  # "0(0.00%)": the count table
    assert counts, out.read_text()[-2000:]
    return counts[-1]


def test_fasthttp_client_on_request_sends_and_counts_as_the_lean_one(tmp_path: Path):
    """HARNESS_CLIENT=locust: the harness's users send with Locust's FastHttpSession (as before
    lean_http, and for https targets); the record says so, and the requests, failures and
    worker headers are read as with the lean client."""
    path = run(tmp_path, 'Workload("/hello")', "ClosedLoad(4)", 3, env={"HARNESS_CLIENT": "locust"})
    run_ = load_run(path)
    (case,) = run_.meta["cases"]
    assert case["http_client"] == "locust"
    # the locustfile ends the test when the window has lasted what was asked (3 s), not Locust's
    # --run-time (a backstop well after it)
    assert 2.9 <= case["measured_s"] <= 3.5, case["measured_s"]
    endpoints, workers = run_["endpoints"], run_["workers"]
    assert endpoints["requests"].sum() == workers["requests"].sum() > 0 and endpoints["failures"].sum() == 0
    assert set(workers["pid"].astype(str)) == {str(p) for p in run_["samples"].query("role == 'worker'")["pid"]}


def test_two_locust_processes_are_merged_exactly(tmp_path: Path):
    path = run(tmp_path, 'Workload("/hello")', "ClosedLoad(8)", 4, "--processes", "2")
    meta = json.loads((path / "run.json").read_text())
    case = meta["cases"][0]
    assert case["generator_processes"] == 2
    assert case["http_client"] == "lean"  # the default, passed on to Locust's worker processes
    raw = path / "raw" / case["case_id"]
    hooks = json.loads((raw / "hooks.json").read_text())
    assert hooks["role"] == "master"
    ours = sum(e["requests"] for e in hooks["endpoints"])
    theirs = next(
        int(row["Request Count"])
        for row in csv.DictReader(open(raw / "locust_stats.csv"))
        if row["Name"] == "Aggregated"
    )
    assert ours == theirs > 0
    # each local worker process kept the totals it sent: they add up to what the master merged
    sent = [json.loads(f.read_text())["sent"] for f in (raw / "locust-workers").glob("worker-*.json")]
    assert len(sent) == 2 and sum(v["requests"] for s in sent for v in s.values()) == ours
    assert sum(case["requests_by_locust_worker"].values()) == ours
    run_ = load_run(path)
    generators = run_["samples"][run_["samples"]["role"] == "generator"]["pid"].nunique()
    assert generators == 3  # the master and two workers are all sampled


def test_generator_limit_is_flagged_on_hello_and_not_on_cpu(tmp_path: Path, quiet_machine):
    """On this 2-core machine one Locust process cannot saturate a Node process on /hello;
    it easily can on 2 ms of CPU work per request. (Only where Locust can have a core to
    itself: on a busy machine it gets less and is rightly not flagged, so it is skipped there.)"""
    path = run(tmp_path, 'Workload("/hello"), Workload("/cpu")', "ClosedLoad(32)", 6)
    r = analysis.case_results(load_run(path)).set_index("route")
    assert r.loc["/hello", "generator_limited"], r.loc["/hello", "generator_cpu_pct"]
    assert not r.loc["/cpu", "generator_limited"], r.loc["/cpu", "generator_cpu_pct"]
    meta = json.loads((path / "run.json").read_text())
    by_route = {c["route"]: c for c in meta["cases"]}
    assert by_route["/hello"]["generator_limited"] is True  # marked in the record itself
    assert by_route["/cpu"]["generator_limited"] is False


def _accounting_holds(r: analysis.pd.Series) -> None:
    """Every request due in the window is completed, failed or dropped, once; the window
    owes what the schedule says (the target rate over the window's real length)."""
    assert r.due == pytest.approx(r.target_rps * r.measured_s, rel=0.03), (r.due, r.measured_s)
    assert r.requests + r.dropped == r.due  # (successes + failures) + dropped
    assert 0 <= r.dropped and r.requests <= r.sent <= r.due


def test_open_load_past_capacity_is_overloaded_and_within_capacity_is_not(tmp_path: Path):
    """Issue 14: 150 req/s of /cpu?work=200 (about 20 ms of CPU each) on a pool of one
    thread (at most some 50 req/s; its event loop stays free to answer /metrics) with slots
    to spare: no request waits for a slot and every one leaves on time, yet the server falls
    behind: flagged. With 4 slots, requests wait for one and the schedule slips: flagged too.
    150 req/s of 50 ms waits need about 8 in flight: with 1000 slots it is on target, not
    flagged; with 4 it cannot be."""
    f = tmp_path / "s.py"
    f.write_text(
        SCENARIO.replace('ServerSpec("single")', 'ServerSpec("pool", threads=1)').format(
            workloads='Workload("/cpu", 200), Workload("/io", 50)',
            loads="OpenLoad(150), OpenLoad(150, max_in_flight=4)",
            duration=3,
        )
    )
    out = run_harness("run", str(f), "--run-id", "r", "--no-report", results=tmp_path / "results", timeout=300)
    assert out.returncode == 0, out.stderr
    run_ = load_run(tmp_path / "results" / "r")
    r = analysis.case_results(run_)
    for _, case in r.iterrows():
        _accounting_holds(case)
    cap_waits = run_["cases"].set_index("case_id")["cap_waits"]
    by = {(c.route, int(m)): c for c, m in zip(r.itertuples(index=False), run_["cases"]["max_in_flight"])}
    cpu, cpu_capped, io, io_capped = by["/cpu", 1000], by["/cpu", 4], by["/io", 1000], by["/io", 4]
    # the backlog stayed under the cap and the send rate on target: only the accounting shows it
    assert cap_waits[cpu.case_id] == 0 and cpu.sent_rps == pytest.approx(150, rel=0.05)
    assert cpu.overloaded and "fell behind 150 req/s" in cpu.overloaded_reason, cpu.overloaded_reason
    assert cpu.dropped > 0 or cpu.completed_rps < 150 * (1 - OPEN_SHORTFALL)
    assert not cpu.generator_limited, cpu.generator_limited_reason
    # requests due in the window and answered after it count in it: the slowest waited seconds
    assert cpu.latency_max_ms > 1000
    for capped in (cpu_capped, io_capped):
        assert capped.overloaded and capped.dropped > 0 and cap_waits[capped.case_id] > 0
        assert "no in-flight slot in time" in capped.overloaded_reason, capped.overloaded_reason
        assert not capped.generator_limited, capped.generator_limited_reason
    assert not io.overloaded and not isinstance(io.overloaded_reason, str), io.overloaded_reason
    assert io.dropped == 0 and io.completed_rps == pytest.approx(150, rel=OPEN_SHORTFALL)
    assert 50 <= io.latency_p50_ms < 1000
    summary = analysis.condition_summary(r).set_index("condition")
    assert summary.loc[cpu.condition, "overloaded"] and not summary.loc[io.condition, "overloaded"]


def test_open_load_accounting_is_merged_from_two_locust_processes(tmp_path: Path):
    """With Locust workers the master closes every worker's window and merges their totals:
    the requests due in the window add up to the target rate over it."""
    path = run(tmp_path, 'Workload("/io", 50)', "OpenLoad(60)", 3, "--processes", "2")
    r = analysis.case_results(load_run(path)).iloc[0]
    _accounting_holds(r)
    # 60 req/s of 50 ms waits never tire the server: a shortfall can only be the generator's
    # (two Locust processes on a busy machine), and then the verdict must say so
    assert r.dropped == 0 and (not r.overloaded or r.generator_limited), r.overloaded_reason
    meta = json.loads((path / "run.json").read_text())
    hooks = json.loads((path / "raw" / meta["cases"][0]["case_id"] / "hooks.json").read_text())
    assert hooks["window"]["workers_closed"] == hooks["window"]["workers_expected"] == 2
