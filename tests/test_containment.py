"""Integration: everything a harness run starts dies with it, whatever ends it, and listens on
loopback only. The harness runs as a user runs it (the CLI in a process of its own); the
leftover check of conftest.py runs after each test as well."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from helpers import REPO, harness_processes, start_harness, wait_until

from harness import procs

pytestmark = pytest.mark.integration

SCENARIO = """
from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload
SCENARIO = Scenario(name="t", description="test", servers=[{servers}], workloads=[Workload("/cpu")],
                    loads=[ClosedLoad(4)], duration_s={duration}, warmup_s=1, repetitions=1)
"""


def start(tmp_path: Path, servers: str, *extra: str, duration: float = 30) -> tuple[subprocess.Popen, Path]:
    f = tmp_path / "s.py"
    f.write_text(SCENARIO.format(servers=servers, duration=duration))
    results = tmp_path / "results"
    proc = start_harness(
        "run",
        str(f),
        "--run-id",
        "r",
        "--no-report",
        *extra,
        results=results,
        cwd=REPO,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, results / "r"


def _load_running(run: Path) -> bool:
    return any((run / "raw").glob("*/locust.out")) if (run / "raw").is_dir() else False


def _ledger_temps(run: Path) -> set[str]:
    """The private temporary folders (PM2's home) the run's guardian holds in its ledger: this
    run's own, not those of another test or session running beside it on the machine."""
    temps: set[str] = set()
    for ledger in (run.parent / ".active").glob("*.json"):
        try:
            temps |= set(json.loads(ledger.read_text()).get("temps", []))
        except (OSError, ValueError):
            pass
    return temps


@pytest.mark.parametrize(
    "servers,sig",
    [
        ('ServerSpec("nginx", workers=2)', signal.SIGKILL),
        ('ServerSpec("pm2", workers=2)', signal.SIGKILL),
        ('ServerSpec("pm2", workers=2)', signal.SIGHUP),
        ('ServerSpec("cluster", workers=2)', signal.SIGTERM),
    ],
    ids=["nginx-KILL", "pm2-KILL", "pm2-HUP", "cluster-TERM"],
)
def test_a_run_ended_by_a_signal_leaves_nothing_and_says_interrupted(tmp_path: Path, servers: str, sig: int):
    before = set(harness_processes())
    proc, run = start(tmp_path, servers)
    try:
        assert wait_until(lambda: _load_running(run) or proc.poll() is not None, timeout_s=90)
        assert proc.poll() is None, proc.stdout.read()
        alive = set(harness_processes()) - before
        assert len(alive) >= 3, alive  # the servers and Locust: what must go
        if "pm2" in servers:  # PM2's private home, which must go too (the check can fail)
            assert wait_until(
                lambda: any(Path(t).name.startswith("hpm2-") and Path(t).is_dir() for t in _ledger_temps(run)),
                timeout_s=5,
            ), _ledger_temps(run)
        temps = {t for t in _ledger_temps(run) if Path(t).name.startswith(procs.TEMP_PREFIXES)}
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    # the guardian (SIGKILL) or the harness itself (the others) stops everything, at every depth
    assert wait_until(lambda: not set(harness_processes()) - before, timeout_s=5), set(harness_processes()) - before
    assert wait_until(lambda: not any(Path(t).exists() for t in temps), timeout_s=5), temps  # PM2's home too
    assert wait_until(lambda: json.loads((run / "run.json").read_text())["status"] == "interrupted", timeout_s=5)
    cgroups = procs._cgroup2_mount()  # None where the machine has no cgroup v2: none to leave then
    assert cgroups is None or wait_until(lambda: not list(cgroups.glob(f"**/harness-{proc.pid}-*")), timeout_s=5)
    # the guardian's last step: no ledger left for a later run to act on
    assert wait_until(lambda: not list((run.parent / ".active").glob("*.json")), timeout_s=5)


def test_two_locust_processes_listen_on_loopback_only(tmp_path: Path):
    """With --processes 2, Locust's master listens for its workers: on 127.0.0.1 and a free
    port, never on every interface (Locust's default *:5557)."""
    before = set(harness_processes())
    proc, run = start(tmp_path, 'ServerSpec("single")', "--processes", "2", duration=4)
    listeners: dict[tuple[str, int], str] = {}
    try:
        while proc.poll() is None:
            ours = {pid: cmd for pid, cmd in harness_processes().items() if pid not in before}
            for conn in psutil.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.pid in ours:
                    listeners[(conn.laddr.ip, conn.laddr.port)] = ours[conn.pid]
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stdout.read()
    generator = {a: c for a, c in listeners.items() if "locust" in c}
    assert generator, listeners  # the master's port was seen: the check can fail
    assert all(ipaddress.ip_address(ip).is_loopback for ip, _ in listeners), listeners
    assert 5557 not in {port for _, port in generator}
