"""Process hygiene: the ledger of started process groups, and the clean-up after a harness
that was killed without a chance to stop its children."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import REPO, wait_until
from harness import procs
from harness.run import ACTIVE_DIR, clean_up_after_killed_runs


def _dead_pid() -> tuple[int, float]:
    p = subprocess.Popen(["true"])
    started = psutil.Process(p.pid).create_time() if p.poll() is None else 0.0
    p.wait()
    return p.pid, started or 1.0


def _leftover() -> subprocess.Popen:
    """A real process in its own session, as the harness starts them (but without the
    parent-death signal, as if that had not worked)."""
    return subprocess.Popen(["sleep", "120"], start_new_session=True)


def test_a_killed_harness_leftovers_are_stopped_and_its_run_marked(tmp_path: Path):
    results = tmp_path / "results"
    run = results / "r-killed"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "r-killed", "status": "running"}))
    child = _leftover()
    dead_pid, dead_started = _dead_pid()
    ledger_dir = results / ACTIVE_DIR
    ledger_dir.mkdir()
    (ledger_dir / f"{dead_pid}.json").write_text(json.dumps({
        "harness_pid": dead_pid, "harness_started": dead_started, "run": str(run),
        "groups": [{"pid": child.pid, "started": psutil.Process(child.pid).create_time()}]}))
    notices: list[str] = []
    clean_up_after_killed_runs(results, notices.append)
    assert wait_until(lambda: child.poll() is not None, timeout_s=5)
    assert len(notices) == 1 and "stopped 1 process(es)" in notices[0]
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "interrupted" and "killed" in meta["error"]
    assert not list(ledger_dir.iterdir())


def test_a_reused_pid_is_never_killed(tmp_path: Path):
    child = _leftover()
    try:
        dead_pid, dead_started = _dead_pid()
        (tmp_path / f"{dead_pid}.json").write_text(json.dumps({
            "harness_pid": dead_pid, "harness_started": dead_started, "run": None,
            "groups": [{"pid": child.pid, "started": psutil.Process(child.pid).create_time() - 100}]}))
        procs.reap_stale(tmp_path)
        assert child.poll() is None  # same pid, other start time: not ours
    finally:
        child.kill()
        child.wait()


def test_the_ledger_of_a_live_harness_is_left_alone(tmp_path: Path):
    ledger = procs.Ledger(tmp_path)
    child = _leftover()
    try:
        ledger.add(child.pid)
        assert procs.reap_stale(tmp_path) == []
        assert child.poll() is None
        data = json.loads(ledger.path.read_text())
        assert [g["pid"] for g in data["groups"]] == [child.pid]
    finally:
        child.kill()
        child.wait()
        ledger.close()
    assert not ledger.path.exists()


def test_spawn_and_stop_keep_the_ledger(tmp_path: Path):
    ledger = procs.Ledger(tmp_path)
    procs.use_ledger(ledger)
    try:
        p = procs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
        assert [g["pid"] for g in json.loads(ledger.path.read_text())["groups"]] == [p.pid]
        procs.stop(p, timeout_s=5)
        assert json.loads(ledger.path.read_text())["groups"] == []
    finally:
        procs.use_ledger(None)
        ledger.close()


def test_stop_kills_a_group_that_ignores_sigterm(tmp_path: Path):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    p = procs.spawn([sys.executable, "-c", code], tmp_path / "log")
    assert wait_until(lambda: "ready" in (tmp_path / "log").read_text(), timeout_s=10)
    procs.stop(p, timeout_s=0.5)
    assert p.poll() is not None


def test_no_shell_anywhere():
    """User input never reaches a shell: no shell=True, os.system or os.popen in the code."""
    offenders = []
    for path in [*(REPO / "harness").rglob("*.py"), *(REPO / "scenarios").rglob("*.py")]:
        text = path.read_text()
        for needle in ("shell=True", "os.system(", "os.popen("):
            if needle in text:
                offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert offenders == []


@pytest.mark.integration
def test_pinned_server_runs_every_thread_on_its_cores(tmp_path: Path):
    from harness.servers.node import ClusterServer

    with ClusterServer(tmp_path, workers=2) as unpinned:
        pass
    server = ClusterServer(tmp_path / "pinned", workers=2)
    server.cpus = [0]
    with server:
        for info in server.processes():
            for tid in (int(t) for t in os.listdir(f"/proc/{info.pid}/task")):
                assert os.sched_getaffinity(tid) == {0}, (info, tid)
    assert unpinned.exit_code == 0


def test_cpu_layout_gives_the_generator_a_quarter():
    from harness.run import cpu_layout

    assert cpu_layout(False) == "shared"
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        layout = cpu_layout(True)
        assert layout["generator"] == cores[-max(1, len(cores) // 4):]
        assert set(layout["server"]) | set(layout["generator"]) == set(cores)
        assert not set(layout["server"]) & set(layout["generator"])


def test_members_of_a_group_whose_leader_died_are_reaped(tmp_path: Path):
    """As nginx workers outlive a SIGKILLed master: the leader is gone, its group is not."""
    script = ("import os, subprocess, sys, time; "
              "c = subprocess.Popen(['sleep', '120']); print(c.pid, flush=True); time.sleep(120)")
    leader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    member_pid = int(leader.stdout.readline())
    started = psutil.Process(leader.pid).create_time()
    leader.kill()
    leader.wait()
    assert psutil.pid_exists(member_pid) and os.getpgid(member_pid) == leader.pid
    dead_pid, dead_started = _dead_pid()
    (tmp_path / f"{dead_pid}.json").write_text(json.dumps({
        "harness_pid": dead_pid, "harness_started": dead_started, "run": None,
        "groups": [{"pid": leader.pid, "started": started}]}))
    procs.reap_stale(tmp_path)
    assert wait_until(lambda: not psutil.pid_exists(member_pid) or
                      psutil.Process(member_pid).status() == psutil.STATUS_ZOMBIE, timeout_s=5)
