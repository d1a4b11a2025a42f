"""End to end through the command line: a real run, its record and report, and every way
a run can end (success, Ctrl-C, SIGTERM, SIGKILL of the harness, a server that cannot start)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import harness_processes, run_harness, start_harness, wait_until

pytestmark = pytest.mark.integration

TINY = """
from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload
SCENARIO = Scenario(name="tiny", description="tiny end-to-end scenario",
    servers=[ServerSpec("single"), ServerSpec("cluster", workers=2, schedule="rr")],
    workloads=[Workload("/cpu", {work})], loads=[ClosedLoad(4)], duration_s={duration}, warmup_s={warmup},
    repetitions=1)
"""


def scenario_file(tmp_path: Path, duration: float = 2, work: int = 5, warmup: float = 1) -> Path:
    """The tiny scenario: 1 s of warm-up and 2 s measured make Locust run 4 s a case (1 s to
    spawn, then the rest rounded up to whole seconds). Shorter is too short: on a loaded
    machine Locust may take over 2 s to spawn its users, leaving no measurement window."""
    f = tmp_path / "tiny.py"
    f.write_text(TINY.format(duration=duration, work=work, warmup=warmup))
    return f


def harness(results: Path, *args: str, **kw) -> subprocess.Popen:
    return start_harness(*args, results=results, **kw)


def test_run_writes_a_complete_record_and_a_self_contained_report(tmp_path: Path, results_dir: Path):
    proc = harness(results_dir, "run", str(scenario_file(tmp_path)), "--run-id", "e2e")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    run_dir = results_dir / "e2e"
    assert out.strip() == str(run_dir / "report" / "report.html")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete"
    assert [c["status"] for c in meta["cases"]] == ["complete", "complete"]
    assert meta["versions"]["node"].startswith("v") and meta["machine"]["logical_cores"] >= 1
    workers = pd.read_csv(run_dir / "workers.csv", dtype={"worker_id": str})
    measured = workers[workers["phase"] == "measure"]
    assert set(measured[measured["case_id"].str.contains("cluster")]["worker_id"]) == {"1", "2"}
    assert set(measured[measured["case_id"].str.contains("single")]["worker_id"]) == {"0"}
    assert all(c["sampler_errors"] == [] for c in meta["cases"])
    samples = pd.read_csv(run_dir / "samples.csv")
    assert {"worker", "primary", "generator", "machine"} <= set(samples["role"])
    assert {"warmup", "measure"} <= set(samples["phase"])
    for case in meta["cases"]:
        raw = run_dir / "raw" / case["case_id"]
        assert (raw / "locust_stats.csv").is_file() and (raw / "server.log").is_file()
        assert (raw / "hooks.json").is_file()
    html = (run_dir / "report" / "report.html").read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html), "the report must not reference anything outside"
    assert html.count("data:image/png;base64,") == 9  # no sweep in this run: no sweep figure
    assert "cluster-rr-2w /cpu?work=5 u4" in html
    for png in (
        "throughput",
        "latency",
        "latency_over_time",
        "cpu_over_time",
        "cores_by_role",
        "requests_per_worker",
        "cpu_by_thread",
    ):
        assert (run_dir / "report" / f"{png}.png").stat().st_size > 5000
    summary = (run_dir / "report" / "summary.md").read_text()
    assert "| single /cpu?work=5 u4 | 1 |" in summary

    # the report is a pure function of the stored run: render it again, elsewhere
    again = harness(results_dir, "report", "e2e", "--out", str(tmp_path / "again"))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert (tmp_path / "again" / "report.html").is_file()


def _wait_for_load(results: Path, run_id: str, case_prefix: str = "001") -> bool:
    def started() -> bool:
        return any((results / run_id / "raw").glob(f"{case_prefix}-*/locust.log"))

    return wait_until(started, timeout_s=60, interval_s=0.1)


def test_interrupted_run_stops_everything_and_says_so(tmp_path: Path, results_dir: Path):
    """SIGTERM during the first case (Ctrl-C, SIGINT, is the next test's: during the second)."""
    proc = harness(results_dir, "run", str(scenario_file(tmp_path, duration=60)), "--run-id", "cut")
    assert _wait_for_load(results_dir, "cut")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    meta = json.loads((results_dir / "cut" / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["cases"] == []  # the case in progress is not recorded as if it had finished
    assert not list((results_dir / "cut").glob("**/*.tmp"))


def test_interrupt_after_a_case_keeps_it_reportable(tmp_path: Path, results_dir: Path):
    """Ctrl-C (SIGINT) during the second case: the first is kept and reportable, the second,
    in progress, is not recorded as if it had finished."""
    proc = harness(results_dir, "run", str(scenario_file(tmp_path)), "--run-id", "half")
    assert _wait_for_load(results_dir, "half", case_prefix="002")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    meta = json.loads((results_dir / "half" / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert [c["case_id"] for c in meta["cases"]] == ["001-single-cpu-u4-r1"]
    assert not list((results_dir / "half").glob("**/*.tmp"))
    rep = harness(results_dir, "report", "half")
    out, err = rep.communicate(timeout=120)
    assert rep.returncode == 0, err
    assert "This run is interrupted" in (results_dir / "half" / "report" / "summary.md").read_text()


def test_sigkill_of_the_harness_takes_its_children_along(tmp_path: Path, results_dir: Path):
    before = set(harness_processes())
    proc = harness(results_dir, "run", str(scenario_file(tmp_path, duration=60)), "--run-id", "killed")
    assert _wait_for_load(results_dir, "killed")
    assert wait_until(lambda: len(set(harness_processes()) - before) >= 2, timeout_s=30)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_until(lambda: not (set(harness_processes()) - before), timeout_s=5), harness_processes()
    # the harness could not say it, its guardian did, and left nothing for a later run to do
    assert wait_until(
        lambda: json.loads((results_dir / "killed" / "run.json").read_text())["status"] == "interrupted", timeout_s=5
    )
    assert "killed by SIGKILL" in json.loads((results_dir / "killed" / "run.json").read_text())["error"]
    from harness.run import clean_up_after_killed_runs

    notices: list[str] = []
    assert wait_until(lambda: not list((results_dir / ".active").glob("*.json")), timeout_s=5)
    clean_up_after_killed_runs(results_dir, notices.append)
    assert notices == []


def test_server_that_fails_to_start_fails_the_case_with_its_reason(tmp_path: Path, results_dir: Path):
    broken = tmp_path / "server"
    broken.mkdir()
    (broken / "index.js").write_text("throw new Error('broken on purpose')\n")
    proc = harness(
        results_dir, "run", str(scenario_file(tmp_path)), "--run-id", "broken", env={"HARNESS_SERVER_DIR": str(broken)}
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    meta = json.loads((results_dir / "broken" / "run.json").read_text())
    assert meta["status"] == "failed"
    assert all(c["status"] == "failed" for c in meta["cases"])
    assert "exited with code 1 before it was ready" in meta["cases"][0]["error"]
    assert "no case finished, so there is no report" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["run", "no-such-scenario"], 2, "unknown scenario 'no-such-scenario'"),
        (["run", "default", "--users", "0"], 2, "users is 0, outside 1..2000"),
        (["run", "default", "--run-id", "../escape"], 2, "run id '../escape' is not allowed"),
        (["report", "nothing-here"], 2, "no run 'nothing-here'"),
        (["run", "default", "--port", "99999"], 2, "'99999' is not a port"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(results_dir: Path, args, code, words):
    proc = harness(results_dir, *args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert words in err
    assert "Traceback" not in err
    assert not any(results_dir.iterdir())  # nothing half written


def test_an_unknown_http_client_is_one_line_before_anything_is_written(results_dir: Path):
    proc = harness(results_dir, "run", "default", "--quick", env={"HARNESS_CLIENT": "requests"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "HARNESS_CLIENT=requests is not an HTTP client" in err and "lean" in err
    assert len(err.strip().splitlines()) == 1 and not any(results_dir.iterdir())


def test_taken_port_and_missing_node_are_exit_3_with_nothing_written(results_dir: Path, tmp_path: Path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = harness(results_dir, "run", "default", "--quick", "--port", str(port))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and f"port {port} on 127.0.0.1 is taken" in err
    proc = harness(results_dir, "run", "default", "--quick", env={"HARNESS_NODE": str(tmp_path / "x")})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "node was not found on PATH" in err
    assert len(err.strip().splitlines()) == 1  # one line, nothing else
    assert not any(results_dir.iterdir())


def test_a_missing_nginx_is_one_line_before_anything_is_written(results_dir: Path, tmp_path: Path):
    f = tmp_path / "ng.py"
    f.write_text(
        TINY.format(work=5, duration=2, warmup=1).replace(
            'ServerSpec("cluster", workers=2, schedule="rr")', 'ServerSpec("nginx", workers=2)'
        )
    )
    proc = harness(results_dir, "run", str(f), env={"HARNESS_NGINX": str(tmp_path / "no-nginx")})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert "mode nginx cannot run here: nginx was not found (apt-get install nginx)" in err
    assert len(err.strip().splitlines()) == 1
    assert not any(results_dir.iterdir())


def test_help_and_list(results_dir: Path):
    out = run_harness("--help")
    assert out.returncode == 0 and "harness list" in out.stdout
    out = run_harness("list", results=results_dir)
    assert out.returncode == 0 and "default" in out.stdout


def test_locust_crashing_fails_its_case_and_the_run_goes_on(tmp_path: Path, results_dir: Path):
    import psutil

    proc = harness(results_dir, "run", str(scenario_file(tmp_path, duration=4)), "--run-id", "lc")
    assert _wait_for_load(results_dir, "lc")

    def locust_of_first_case() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if "locustfile.py" in cmd and str(results_dir / "lc" / "raw" / "001-") in cmd:
                found.append(p)
        return found

    assert wait_until(lambda: bool(locust_of_first_case()), timeout_s=20)
    for p in locust_of_first_case():
        p.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    meta = json.loads((results_dir / "lc" / "run.json").read_text())
    assert meta["status"] == "failed" and "1 of 2 cases failed" in meta["error"]
    first, second = meta["cases"]
    assert first["status"] == "failed" and "Locust exited with code -9" in first["error"]
    assert second["status"] == "complete"
    assert (results_dir / "lc" / "report" / "report.html").is_file()  # the finished case is reported


def test_doctor_lists_every_mode(results_dir: Path):
    out = run_harness("doctor", results=results_dir, timeout=60)
    assert out.returncode == 0, out.stdout  # CI installs nginx; npm ci installs pm2 and piscina
    for mode in ("single", "cluster", "pool", "spawn-per-request", "nginx", "pm2"):
        assert mode in out.stdout
    assert "not calibrated here" in out.stdout


def test_doctor_says_how_to_get_nginx(results_dir: Path, tmp_path: Path):
    out = run_harness("doctor", results=results_dir, timeout=60, env={"HARNESS_NGINX": str(tmp_path / "no-nginx")})
    assert out.returncode == 3
    assert "apt-get install nginx" in out.stdout.replace("\n", " ")


def test_bench_runs_each_scenario_of_the_set_it_finds_with_every_run_option(tmp_path: Path, results_dir: Path):
    # a scenarios folder holding only a tiny "default": the set's other scenarios are skipped
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "default.py").write_text(scenario_file(tmp_path).read_text())
    proc = harness(results_dir, "bench", "--pin", env={"HARNESS_SCENARIOS_DIR": str(folder)})
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    runs = [p for p in results_dir.iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 1 and json.loads((runs[0] / "run.json").read_text())["status"] == "complete"
    assert "bench: one report per scenario" in err and str(runs[0] / "report" / "report.html") in out + err
    # --pin reached the run, and a pinned run records its layout: the generator on the last core
    meta = json.loads((runs[0] / "run.json").read_text())
    assert meta["machine"]["cpu_layout"]["generator"] == [max(meta["machine"]["harness_affinity"])]
