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
from helpers import REPO, wait_until

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
    (ledger_dir / f"{dead_pid}.json").write_text(
        json.dumps(
            {
                "harness_pid": dead_pid,
                "harness_started": dead_started,
                "run": str(run),
                "groups": [{"pid": child.pid, "started": psutil.Process(child.pid).create_time()}],
            }
        )
    )
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
        (tmp_path / f"{dead_pid}.json").write_text(
            json.dumps(
                {
                    "harness_pid": dead_pid,
                    "harness_started": dead_started,
                    "run": None,
                    "groups": [{"pid": child.pid, "started": psutil.Process(child.pid).create_time() - 100}],
                }
            )
        )
        procs.reap_stale(tmp_path)
        assert child.poll() is None  # same pid, other start time: not ours
    finally:
        child.kill()
        child.wait()


def _ledger_pids(unit: procs.Unit) -> set[int]:
    try:
        return {p for p, _ in json.loads(unit.ledger.read_text())["processes"]}
    except (OSError, ValueError, KeyError):
        return set()


def test_the_ledger_of_a_live_harness_is_left_alone(tmp_path: Path):
    with procs.contained(tmp_path) as unit:
        p = procs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
        assert wait_until(lambda: p.pid in _ledger_pids(unit), timeout_s=5)
        assert procs.reap_stale(tmp_path) == []
        assert p.poll() is None
        procs.stop(p, timeout_s=5)
    assert not unit.ledger.exists()  # the guardian removes it when the unit ends


def test_a_unit_ends_with_nothing_left_and_its_temporary_folders_gone(tmp_path: Path):
    """What a block forgot to stop, the unit's end stops; its temporary folders are removed."""
    with procs.contained(tmp_path) as unit:
        folder = unit.temp_dir("hpm2-")
        p = procs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
        assert folder.is_dir() and oct(folder.stat().st_mode & 0o777) == "0o700"
    assert wait_until(lambda: p.poll() is not None, timeout_s=5)
    assert not folder.exists()


def test_stop_kills_a_group_that_ignores_sigterm(tmp_path: Path):
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
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
        assert layout["generator"] == cores[-max(1, len(cores) // 4) :]
        assert set(layout["server"]) | set(layout["generator"]) == set(cores)
        assert not set(layout["server"]) & set(layout["generator"])


def test_members_the_guardian_saw_are_reaped_even_when_their_leader_died(tmp_path: Path):
    """As nginx workers outlive a SIGKILLed master: the leader is gone, its member is not, and
    the ledger (written by a guardian that was killed too) names the member by pid and start time."""
    script = (
        "import os, subprocess, sys, time; "
        "c = subprocess.Popen(['sleep', '120']); print(c.pid, flush=True); time.sleep(120)"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    member_pid = int(leader.stdout.readline())
    started = psutil.Process(leader.pid).create_time()
    member_started = psutil.Process(member_pid).create_time()
    leader.kill()
    leader.wait()
    assert psutil.pid_exists(member_pid) and os.getpgid(member_pid) == leader.pid
    dead_pid, dead_started = _dead_pid()
    (tmp_path / f"{dead_pid}.json").write_text(
        json.dumps(
            {
                "harness_pid": dead_pid,
                "harness_started": dead_started,
                "run": None,
                "cgroup": None,
                "temps": [],
                "processes": [[leader.pid, started], [member_pid, member_started]],
            }
        )
    )
    procs.reap_stale(tmp_path)
    assert wait_until(
        lambda: not psutil.pid_exists(member_pid) or psutil.Process(member_pid).status() == psutil.STATUS_ZOMBIE,
        timeout_s=5,
    )


def test_a_process_of_the_same_group_that_the_guardian_never_saw_is_spared(tmp_path: Path):
    """A stranger in a group whose id is a pid the ledger names (the pid was reused by a daemon
    that then left children behind) is not ours: only exact identities are killed."""
    stranger = _leftover()
    try:
        dead_pid, dead_started = _dead_pid()
        (tmp_path / f"{dead_pid}.json").write_text(
            json.dumps(
                {
                    "harness_pid": dead_pid,
                    "harness_started": dead_started,
                    "run": None,
                    "processes": [[stranger.pid, psutil.Process(stranger.pid).create_time() - 5]],
                }
            )
        )
        procs.reap_stale(tmp_path)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_never_signals_the_group_of_a_reused_pid():
    """After the leader was reaped, a live process with its pid is someone else's: stop()
    must not killpg it (a fake Popen stands for a reaped leader whose pid was reused)."""
    stranger = _leftover()  # a group leader, as a process that got the pid would be

    class ReapedLeader:
        pid = stranger.pid
        returncode = 0

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    try:
        assert procs.stop(ReapedLeader(), timeout_s=0.5) == 0
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_program_that_cannot_start_is_one_line(tmp_path: Path):
    from harness.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match=r"cannot start node: No such file or directory \(/nonexistent"):
        procs.spawn(["node", "index.js"], tmp_path / "log", cwd=Path("/nonexistent/server"))


def test_a_missing_server_folder_is_bad_input_before_anything_is_written(tmp_path: Path, monkeypatch):
    from harness.errors import UsageError
    from harness.run import run_scenario
    from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

    monkeypatch.setenv("HARNESS_SERVER_DIR", str(tmp_path / "no-server"))
    scen = Scenario(
        name="t",
        description="t",
        servers=[ServerSpec("single")],
        workloads=[Workload("/hello")],
        loads=[ClosedLoad(1)],
        duration_s=1,
        warmup_s=0,
        repetitions=1,
    )
    with pytest.raises(UsageError, match="HARNESS_SERVER_DIR"):
        run_scenario(scen, tmp_path / "results", "r")
    assert not (tmp_path / "results" / "r").exists()


def _family(tmp_path: Path) -> subprocess.Popen:
    """A Python process that starts a child (a sleep) from a thread of its own, then sleeps."""
    ready = str(tmp_path / "ready")
    code = (
        "import subprocess, threading, time\n"
        "kid = []\n"
        "t = threading.Thread(target=lambda: kid.append(subprocess.Popen(['sleep', '30'])))\n"
        "t.start(); t.join()\n"
        f"open({ready!r}, 'w').write('ready'); time.sleep(30)\n"
    )
    return procs.spawn([sys.executable, "-c", code], tmp_path / "family.log")


def test_tree_finds_what_psutil_finds_children_of_threads_included(tmp_path: Path):
    top = _family(tmp_path)
    try:
        assert wait_until(lambda: (tmp_path / "ready").exists(), 20)
        ours = sorted(p.pid for p in procs.tree(top.pid))
        theirs = sorted([top.pid, *(p.pid for p in psutil.Process(top.pid).children(recursive=True))])
        assert ours == theirs and len(ours) == 2  # the Python process and the sleep its thread started
    finally:
        procs.stop(top, timeout_s=5)
    assert procs.tree(top.pid) == []


def test_tree_falls_back_to_psutil_without_children_files(tmp_path: Path, monkeypatch):
    top = _family(tmp_path)
    try:
        assert wait_until(lambda: (tmp_path / "ready").exists(), 20)
        monkeypatch.setattr(procs, "_children_of", lambda pid: None)  # a kernel without CONFIG_PROC_CHILDREN
        assert len(procs.tree(top.pid)) == 2
    finally:
        procs.stop(top, timeout_s=5)
