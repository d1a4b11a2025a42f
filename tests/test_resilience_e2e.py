"""End to end: `python scenarios/resilience.py` (every condition once, 6 s each: about 80 s) against the real server
in cluster and PM2 modes, then its record and report. Asserts the shape of what each event
did, as measured on this project's machine, never exact timings:

- kill-worker: the victim had requests in flight; a replacement was ready within seconds;
  the client saw none of the victim's requests fail (its HTTP library re-sends an
  idempotent GET whose connection broke) and the replacement got no request in the
  window (every client's keep-alive connection stays on the surviving worker);
- pm2 reload loses no request, pm2 restart does, with a longer stretch without service;
- SIGTERM with the default 5 s timeout drains every request in flight and exits 0; with a
  0.1 s timeout, shorter than a request, it force-exits with code 1 at the timeout.
Every process is checked for leftovers (conftest)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import analysis, record
from harness.record import load_run

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def deep_results_dir(tmp_path: Path):
    """A results folder 150 characters deep, as in a user's clone under /home/NAME/src/...:
    PM2's control sockets (at most 107 bytes) must not live under it."""
    folder = tmp_path / ("d" * 40) / ("e" * 40)
    folder = folder / ("f" * max(1, 150 - len(str(folder)) - 1))
    folder.mkdir(parents=True)
    assert len(str(folder)) >= 150
    return folder


def test_resilience_quick_measures_what_each_event_did(deep_results_dir: Path):
    results_dir = deep_results_dir
    env = {**os.environ, "HARNESS_RESULTS": str(results_dir)}
    # every condition once (the quick variant repeats three of them 3 times for the demo)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scenarios" / "resilience.py"),
            "--duration-s",
            "6",
            "--warmup-s",
            "1",
            "--repetitions",
            "1",
            "--run-id",
            "r",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr
    run = load_run(results_dir / "r")
    assert run.meta["status"] == "complete" and run.meta["schema_version"] == record.SCHEMA_VERSION
    out = analysis.event_outcomes(run)
    assert len(out) == 6 and set(out["outcome"]) == {"done"}
    by = {(r.condition.split()[0], r.action): r for r in out.itertuples(index=False)}

    for mode in ("cluster-rr-2w", "pm2-2w"):
        kill = by[(mode, "kill-worker")]
        event = run["events"].set_index("case_id").loc[kill.case_id]
        assert str(int(event["pid"])) in event["pids_before"].split()
        assert str(int(event["pid"])) not in event["pids_after"].split()
        assert set(event["pids_after"].split()) - set(event["pids_before"].split()), "no replacement pid"
        assert 0 < kill.done_s < 10  # the replacement was ready within seconds
        assert kill.server_in_flight >= 1 and kill.in_flight >= 1
        assert kill.failures_during == 0  # the client re-sent the victim's GETs on a new connection
        assert kill.new_pids_serving == 0  # keep-alive: no client ever reached the replacement

    reload, restart = by[("pm2-2w", "reload")], by[("pm2-2w", "restart")]
    for replaced in (reload, restart):  # every instance was replaced, and a new one served
        event = run["events"].set_index("case_id").loc[replaced.case_id]
        assert not set(event["pids_after"].split()) & set(event["pids_before"].split())
        assert replaced.new_pids_serving >= 1
    # how many requests a restart drops depends on when the clients reconnect (0 in 1 of 4
    # runs here): that is the measurement's business, reported, not asserted; a reload is
    # built to drop none
    assert reload.failures_during == 0

    drained = by[("cluster-rr-2w", "sigterm")]
    assert drained.exit_code == 0 and not drained.forced and drained.exit_s < drained.shutdown_timeout_s
    assert drained.in_flight >= 1 and drained.in_flight_failed == 0
    forced = by[("cluster-rr-2w-st0.1s", "sigterm")]
    # the promise: gone by the timeout (plus the tolerance), whatever was in flight; with
    # 0.1 s against 200 ms requests it is usually forced (exit 1, some requests lost), but
    # the requests in flight may all finish in time (seen once): then it drained (exit 0)
    from harness.analysis import FORCE_EXIT_TOLERANCE_S

    assert forced.exit_s <= forced.shutdown_timeout_s + FORCE_EXIT_TOLERANCE_S
    if forced.forced:
        # forced means the drain had not finished: a request in flight then fails, unless every one
        # had just been answered and only the draining itself was left (seen twice on a busy machine)
        assert forced.exit_code == 1 and forced.timeout_honoured and forced.in_flight_failed <= forced.in_flight
    else:
        assert forced.exit_code == 0 and forced.in_flight_failed == 0
    for sigterm in (drained, forced):
        assert sigterm.refused_after_exit > 0  # Locust ran on to the window's end against a stopped server

    # the requests table holds every response of these cases; the workers' first/last times are set
    assert set(run["requests"]["case_id"]) == set(run["cases"]["case_id"])
    assert run["workers"]["first_response_ts"].notna().all()

    html = (results_dir / "r" / "report" / "report.html").read_text()
    summary = (results_dir / "r" / "report" / "summary.md").read_text()
    for text in (
        "re-sent those GETs",
        "answered no request before the window ended",
        "As claimed, the reload was zero-downtime",
        "every request in flight was answered",
        "Reload against restart",
    ):
        assert text in summary, text
    # whether this restart dropped requests is the measurement's to say; either way it is said
    assert "As a hard restart can, it dropped requests" in summary or "A hard restart can drop requests" in summary
    assert "contradicts" not in summary.split("Reload against restart", 1)[1].split("\n", 1)[0]
    # the handover (first new response minus last old) is measured for both replacements
    assert math.isfinite(reload.handover_s) and math.isfinite(restart.handover_s)
    assert "Between the old instances' last response and the new ones' first" in summary
    assert "Reload against restart" in html
    json.loads((results_dir / "r" / "run.json").read_text())  # whole, not half-written
