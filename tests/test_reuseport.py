"""Integration: other Node versions fetched from the npm registry, and the reuseport mode
(N independent processes on one port with SO_REUSEPORT, Node 22.12+) on a fetched Node 22.
Skipped, with the reason, where the npm registry is out of reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import get, run_harness, wait_until

from harness import nodes
from harness.errors import EnvironmentProblem, UsageError
from harness.servers.reuseport import ReuseportServer, supports_reuseport

NODE22 = "22.12.0"


def test_supports_reuseport_by_version():
    assert supports_reuseport("22.12.0") and supports_reuseport("23.1.0") and supports_reuseport("24.0.0")
    assert not supports_reuseport("22.11.0") and not supports_reuseport("23.0.0")
    assert not supports_reuseport("20.20.2")


@pytest.mark.integration
def test_fetched_node_is_cached_and_says_its_version(node22: str):
    assert nodes.version_of(node22) == NODE22
    again = nodes.resolve(NODE22)  # from the cache now: no second fetch
    assert again == {"binary": node22, "version": NODE22, "source": f"npm {nodes.platform_package()}@{NODE22}"}


@pytest.mark.integration
def test_unknown_node_version_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_NODE_CACHE", str(tmp_path / "cache"))
    try:
        nodes.ensure_node("0.0.1")
    except UsageError as exc:
        assert "Node version 0.0.1 was not found in the npm registry" in exc.one_line()
    except EnvironmentProblem as exc:
        pytest.skip(f"the npm registry is out of reach: {exc.one_line()}")
    else:
        pytest.fail("Node 0.0.1 was accepted")
    assert not any(p.name == "0.0.1" for p in (tmp_path / "cache").iterdir())  # nothing half-fetched is left


@pytest.mark.integration
def test_reuseport_processes_share_one_port_and_the_kernel_spreads_connections(tmp_path: Path, node22: str):
    server = ReuseportServer(tmp_path, workers=2)
    server.node = node22
    with server as s:
        members = [m.pid for m in s.members]
        assert len(set(members)) == 2 and [p.role for p in s.processes()] == ["worker", "worker"]
        seen: dict[str, str] = {}

        def both_answered() -> bool:
            status, headers, _ = get(s, "/hello")  # a new connection each time: a new hash
            assert status == 200
            seen[headers["x-worker-id"]] = headers["x-pid"]
            return len(seen) == 2

        assert wait_until(both_answered, timeout_s=10)
        assert seen == {"1": str(members[0]), "2": str(members[1])}  # independent processes, no primary
        metrics = s.worker_metrics()
        assert sorted(m["worker_id"] for m in metrics) == ["1", "2"]
    assert s.exit_code == 0


@pytest.mark.integration
def test_reuseport_on_an_older_node_is_refused(tmp_path: Path):
    machine = nodes.resolve(None)
    if supports_reuseport(machine["version"]):
        pytest.skip(f"this machine's node {machine['version']} supports reusePort")
    with pytest.raises(UsageError, match="needs Node.js 22.12 or newer"):
        with ReuseportServer(tmp_path, workers=2):
            pass
    scenario = tmp_path / "s.py"
    scenario.write_text(
        "from harness.scenario import *\nSCENARIO = Scenario(name='s', description='d', "
        "servers=[ServerSpec('reuseport', workers=2)], workloads=[Workload('/hello')], "
        "loads=[ClosedLoad(1)])\n"
    )
    out = run_harness("run", str(scenario), results=tmp_path / "r", timeout=60)
    assert out.returncode == 2 and "mode reuseport needs Node.js 22.12 or newer" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    "version, message",
    [
        ("0.0.1", "Node version 0.0.1 was not found in the npm registry"),
        ("22", "node_version '22' is not a full version like 22.12.0"),
    ],
)
def test_bad_node_version_on_the_command_line(tmp_path: Path, version: str, message: str):
    out = run_harness(
        "run",
        "default",
        "--node-version",
        version,
        results=tmp_path / "r",
        timeout=120,
        env={"HARNESS_NODE_CACHE": str(tmp_path / "cache")},
    )
    if "cannot fetch" in out.stderr:
        pytest.skip(f"the npm registry is out of reach: {out.stderr.strip()}")
    assert out.returncode == 2 and message in out.stderr, out.stderr
    # one error line (a fetch is announced by a note before it starts), and no results folder
    errors = [line for line in out.stderr.strip().splitlines() if not line.startswith("note: fetching")]
    assert len(errors) == 1 and errors[0].startswith("error:") and not (tmp_path / "r").exists()


@pytest.mark.integration
def test_reuseport_scenario_runs_three_ways_of_sharing_a_port_side_by_side(reuseport_quick_run: Path, node22: str):
    # the run test_scenarios_e2e.py reads too, made once a session (conftest.reuseport_quick_run)
    meta = json.loads((reuseport_quick_run / "run.json").read_text())
    assert [(c["mode"], c["schedule"]) for c in meta["cases"]] == [
        ("cluster", "rr"),
        ("cluster", "none"),
        ("reuseport", ""),
    ]
    for case in meta["cases"]:
        assert case["status"] == "complete"
        assert case["node"] == {
            "binary": node22,
            "version": NODE22,
            "source": f"npm {nodes.platform_package()}@{NODE22}",
        }
    assert meta["versions"]["node_by_case_version"][NODE22]["binary"] == node22
    from harness import analysis
    from harness.record import load_run

    results = analysis.case_results(load_run(reuseport_quick_run)).set_index("mode")
    assert results.loc["reuseport", "workers_seen"] == 2 and results.loc["reuseport", "throughput_rps"] > 0
