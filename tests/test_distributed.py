"""Integration: distributed load with Locust's own engine. A master started by
`harness run --expect-workers 2` and two `harness worker` processes on loopback (on
separate machines in real use): what the master merged must equal, exactly, what each
worker says it sent, and Locust's own count."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import run_harness, start_harness

from harness.servers.base import free_port

pytestmark = pytest.mark.integration

SCENARIO = """
from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload
SCENARIO = Scenario(name="t", description="test", servers=[ServerSpec("single")],
    workloads=[Workload("/hello")], loads=[ClosedLoad(6)], duration_s=3, warmup_s=1, repetitions=1)
"""


def test_master_merges_exactly_what_each_of_two_workers_sent(tmp_path: Path):
    scenario = tmp_path / "s.py"
    scenario.write_text(SCENARIO)
    results, sent_dir = tmp_path / "results", tmp_path / "sent"
    port = free_port()
    run = start_harness(
        "run",
        str(scenario),
        "--run-id",
        "r",
        "--no-report",
        "--expect-workers",
        "2",
        "--master-port",
        str(port),
        results=results,
    )
    workers = [
        start_harness("worker", "--master", f"127.0.0.1:{port}", "--cases", "1", "--out", str(sent_dir))
        for _ in range(2)
    ]
    try:
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
        for w in workers:
            w_out, w_err = w.communicate(timeout=60)
            assert w.returncode == 0, w_err
            assert "served 1 case(s)" in w_err
    finally:
        for p in (run, *workers):
            if p.poll() is None:
                p.kill()
                p.wait()
    meta = json.loads((results / "r" / "run.json").read_text())
    assert meta["remote_workers"]["count"] == 2
    case = meta["cases"][0]
    assert case["status"] == "complete"
    raw = results / "r" / "raw" / case["case_id"]
    hooks = json.loads((raw / "hooks.json").read_text())
    assert hooks["role"] == "master"

    # what each worker says it sent, per phase and request name
    reports = [json.loads(f.read_text()) for f in sorted(sent_dir.glob("worker-*.json"))]
    assert len(reports) == 2 and len({r["client_id"] for r in reports}) == 2
    sent: dict[str, int] = {}
    for r in reports:
        assert sum(v["requests"] for v in r["sent"].values()) > 0, "a worker sent nothing: the load was not spread"
        for key, v in r["sent"].items():
            sent[key] = sent.get(key, 0) + v["requests"]
    merged = {f"{e['phase']} {e['name']}": e["requests"] for e in hooks["endpoints"]}
    assert merged == sent  # every phase and name, exactly
    # and per worker, as the master received it
    assert hooks["received_by_client"] == {
        r["client_id"]: sum(v["requests"] for v in r["sent"].values()) for r in reports
    }
    assert case["requests_by_locust_worker"] == hooks["received_by_client"]
    # the per-server-worker counts add up to the same total
    assert sum(w["requests"] for w in hooks["workers"]) == sum(sent.values())
    # Locust's own count agrees
    theirs = next(
        int(row["Request Count"])
        for row in csv.DictReader(open(raw / "locust_stats.csv"))
        if row["Name"] == "Aggregated"
    )
    assert theirs == sum(sent.values())
    # the record says what it could not measure
    assert any("Locust workers started outside the harness" in m for m in case["missing_figures"])


def test_master_without_workers_fails_the_case_with_the_fix(tmp_path: Path):
    scenario = tmp_path / "s.py"
    scenario.write_text(SCENARIO)
    out = run_harness(
        "run",
        str(scenario),
        "--run-id",
        "r",
        "--no-report",
        "--expect-workers",
        "1",
        "--master-port",
        str(free_port()),
        "--worker-wait-s",
        "1",
        results=tmp_path / "results",
        timeout=120,
    )
    assert out.returncode == 1
    assert "gave up waiting for 1 worker(s)" in out.stderr and "harness worker --master" in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--expect-workers", "2", "--processes", "2"], "give one of the two"),
        (["--expect-workers", "2", "--master-bind", "0.0.0.0"], "--master-bind 0.0.0.0 is not a loopback address"),
        (["--expect-workers", "0"], "--expect-workers is 0, outside 1..64"),
    ],
)
def test_bad_distributed_options_are_one_line_and_write_nothing(tmp_path: Path, args: list[str], message: str):
    results = tmp_path / "results"
    out = run_harness("run", "default", *args, results=results, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not results.exists() or not any(results.iterdir())


def test_worker_refuses_a_remote_master_without_the_flag(tmp_path: Path):
    out = run_harness("worker", "--master", "192.0.2.1:5557", "--out", str(tmp_path), timeout=60)
    assert out.returncode == 2 and "--allow-remote" in out.stderr
