"""Integration: bring your own app. The example app (examples/hello-app/server.js) runs
unchanged in every mode that can run an app (single, cluster, nginx, pm2): each answers
from the expected number of distinct processes, every process is stopped, and the record
says which figures an app cannot give. An app without x-worker-id run with --no-preload loses
the spread over workers, and the report says so (with the preload: tests/test_preload.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import REPO, run_harness, summary_markdown, wait_until

from harness import analysis
from harness.record import load_run
from harness.scenario import ClosedLoad, PathWorkload, Scenario, ServerSpec, app_modes
from harness.servers import make_server

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "hello-app" / "server.js"
# A server with no x-worker-id header and no signal handler: the least an app may be.
BARE_APP = """const http = require('node:http');
http.createServer((req, res) => res.end('bare')).listen(Number(process.env.PORT), process.env.HOST);
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_harness(
        "run",
        "app",
        "--run-id",
        "r",
        "--duration-s",
        "2",
        "--warmup-s",
        "1",
        "--repetitions",
        "1",
        *args,
        results=tmp_path / "results",
        timeout=300,
    )


@pytest.mark.parametrize("mode", app_modes())
def test_example_app_serves_from_every_process_of_each_mode(tmp_path: Path, mode: str):
    spec = ServerSpec(mode, workers=1 if mode == "single" else 2, app=str(EXAMPLE))
    case = Scenario(
        name="t", description="t", servers=[spec], workloads=[PathWorkload.of("/")], loads=[ClosedLoad(1)]
    ).cases()[0]
    server = make_server(case, tmp_path)
    expected = {"single": {"0"}, "cluster": {"1", "2"}, "nginx": {"1", "2"}, "pm2": {"1", "2"}}[mode]
    with server as s:
        seen: set[str] = set()

        def all_answered() -> bool:
            import http.client

            conn = http.client.HTTPConnection(s.host, s.port, timeout=10)  # a new connection each time
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read().startswith(b"hello")
                seen.add(resp.getheader("x-worker-id"))
            finally:
                conn.close()
            return seen == expected

        assert wait_until(all_answered, timeout_s=15), seen
        # on a loaded machine PM2 may still be replacing an instance that was slow to listen: the
        # count must settle at one process per id (a third that stays fails the test)
        workers: list = []

        def settled() -> bool:
            workers[:] = [p for p in s.processes() if p.role == "worker"]
            return len(workers) == len(expected)

        assert wait_until(settled, timeout_s=15), workers
    assert s.exit_code == 0


def test_app_scenario(tmp_path: Path):
    """The app scenario runs the example in every mode and says what is missing. (A short
    name: PM2's control socket path, under the test's folder, must stay under 108 bytes.)"""
    out = run(tmp_path, "--app", str(EXAMPLE), "--no-report")  # the summary's sentences: summary_markdown
    assert out.returncode == 0, out.stderr
    run_ = load_run(tmp_path / "results" / "r")
    assert [c["mode"] for c in run_.meta["cases"]] == list(app_modes())
    assert all(c["app"] == str(EXAMPLE) and c["status"] == "complete" for c in run_.meta["cases"])
    results = analysis.case_results(run_).set_index("mode")
    assert results.loc["single", "workers_seen"] == 1
    assert all(results.loc[m, "workers_seen"] == 2 for m in ("cluster", "nginx", "pm2"))
    assert run_["server_metrics"].empty and not run_["processes"].empty  # the preload's figures instead
    summary = summary_markdown(tmp_path / "results" / "r")
    assert "a user's app serves no /metrics" not in summary
    assert "x-worker-id" not in summary  # the example sends it: the spread is measured


def test_app_without_worker_header_loses_the_spread_and_the_report_says_so(tmp_path: Path):
    app = tmp_path / "harness-test-app.js"
    app.write_text(BARE_APP)
    scenario = tmp_path / "s.py"
    scenario.write_text("""from harness.scenario import *
SCENARIO = Scenario(name="bare", description="d", servers=[ServerSpec("single"), ServerSpec("cluster", workers=2)],
    workloads=[Workload("/hello")], loads=[ClosedLoad(2)], duration_s=2, warmup_s=1, repetitions=1)
""")
    out = run_harness(
        "run",
        str(scenario),
        "--run-id",
        "r",
        "--app",
        str(app),
        "--no-preload",
        "--no-report",
        results=tmp_path / "results",
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    run_ = load_run(tmp_path / "results" / "r")
    for case in run_.meta["cases"]:
        # stopped by SIGTERM: a bare single process dies of it (-15); the cluster wrapper counts that as clean
        assert case["path"] == "/" and case["server_exit_code"] == {"single": -15, "cluster": 0}[case["mode"]]
        assert any("no response carried an x-worker-id header" in m for m in case["missing_figures"])
    summary = summary_markdown(tmp_path / "results" / "r")
    assert "the spread of requests over the server's workers (requests per worker, Jain's fairness)" in summary


@pytest.mark.parametrize(
    "args, message",
    [
        (["--app", "/nonexistent/server.js"], "--app /nonexistent/server.js: no such file"),
        (["--app", str(EXAMPLE), "--target", "http://127.0.0.1:1"], "give one of the two"),
        (["--path", "/x"], "--path is for --target or --app"),
        (["--app", str(EXAMPLE), "--path", "no slash"], "is not a request path"),
    ],
)
def test_bad_app_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], message: str):
    out = run(tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "results").exists()


def test_app_in_a_mode_that_cannot_run_it_is_refused(tmp_path: Path):
    out = run_harness("run", "modes", "--app", str(EXAMPLE), results=tmp_path / "results", timeout=60)
    assert out.returncode == 2 and "mode pool cannot run your own app" in out.stderr


# An app that forks workers of its own (node:cluster) when it is the primary: under the
# harness's single mode it is two processes, under its cluster mode each worker just listens.
FORKING_APP = """const cluster = require('node:cluster');
const http = require('node:http');
if (cluster.isPrimary && !process.env.NODE_UNIQUE_ID) {
  for (let i = 0; i < 2; i++) cluster.fork();
} else {
  http.createServer((req, res) => res.end('forked')).listen(Number(process.env.PORT), process.env.HOST);
}
"""


def test_an_app_that_forks_its_own_workers_gets_no_single_process_claims(tmp_path: Path):
    """Seen: an app forking 2 workers of its own was 'single', and the report computed the
    cluster's speedup over it and a 44 % scaling efficiency for 2 workers."""
    app = tmp_path / "forking.js"
    app.write_text(FORKING_APP)
    out = run(tmp_path, "--app", str(app), "--modes", "single,cluster", "--no-report")
    assert out.returncode == 0, out.stderr
    results = analysis.case_results(load_run(tmp_path / "results" / "r")).set_index("mode")
    assert results.loc["single", "workers_seen"] == 2 and results.loc["single", "unplanned_units"] == 1
    assert results.loc["cluster", "workers_seen"] == 2 and results.loc["cluster", "unplanned_units"] == 0
    summary = summary_markdown(tmp_path / "results" / "r")
    assert "served by 2 processes, though its mode starts one: the app starts processes of its own" in summary
    assert "But forking-single / u8 was served by 2 processes though its mode starts 1: the app starts" in summary
    assert "scaling efficiency of" not in summary  # no efficiency computed over a two-process 'single'


def test_an_app_listening_on_a_taken_port_of_its_own_choosing_is_told_to_use_port(tmp_path: Path):
    """Seen: an app ignoring PORT and listening on a taken port of its own was told 'port
    <the harness's free port> is taken: leave --port out' (exit 3)."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        app = tmp_path / "fixed.js"
        app.write_text(
            "require('node:http').createServer((q, s) => s.end('x')).listen(" + str(port) + ", '127.0.0.1');\n"
        )
        out = run(tmp_path, "--app", str(app), "--modes", "single", "--no-report")
    assert out.returncode == 1, out.stderr
    assert f"tried to listen on 127.0.0.1:{port}, which is taken, and that is not a port the harness" in out.stderr
    assert "process.env.PORT" in out.stderr and "leave --port out" not in out.stderr
    # every case failed, and the record says so (no report is drawn from it)
    assert load_run(tmp_path / "results" / "r").meta["status"] == "failed"
