"""Start and stop child processes so that none outlives the harness.

Every child gets its own process group (so a stop reaches its whole tree: cluster
workers, nginx workers, Locust workers) and a parent-death signal (so even a SIGKILL
of the harness takes the child with it). While a run is on, a ledger file under
results/.active/ lists every process group started, so that the next run can find and
stop what a harness killed in a way the parent-death signal does not cover left behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence

import psutil

_PR_SET_PDEATHSIG = 1


class Ledger:
    """The process groups this harness process started and has not yet stopped, kept in
    <folder>/<harness pid>.json (rewritten atomically on every change, removed at close)."""

    def __init__(self, folder: Path, run_path: Path | None = None) -> None:
        self.folder = folder
        self.path = folder / f"{os.getpid()}.json"
        self.run_path = run_path
        self.entries: dict[int, float] = {}
        self.harness_started = psutil.Process().create_time()
        folder.mkdir(parents=True, exist_ok=True)
        self._write()

    def add(self, pid: int) -> None:
        try:
            self.entries[pid] = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        self._write()

    def remove(self, pid: int) -> None:
        if self.entries.pop(pid, None) is not None:
            self._write()

    def close(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _write(self) -> None:
        data = {"harness_pid": os.getpid(), "harness_started": self.harness_started,
                "run": str(self.run_path) if self.run_path else None,
                "groups": [{"pid": p, "started": t} for p, t in self.entries.items()]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)


_ledger: Ledger | None = None


def use_ledger(ledger: Ledger | None) -> None:
    """Record every process group spawned from now on in `ledger` (None: stop recording)."""
    global _ledger
    _ledger = ledger


def _same_process(pid: int, started: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        return proc if abs(proc.create_time() - started) < 0.01 else None
    except psutil.Error:
        return None


def _in_group(p: psutil.Process, pgid: int, started: float) -> bool:
    try:
        return os.getpgid(p.pid) == pgid and p.info["create_time"] >= started - 0.01 and p.pid != os.getpid()
    except (ProcessLookupError, PermissionError, psutil.Error):
        return False


def reap_stale(folder: Path) -> list[tuple[str, str | None]]:
    """Stop what harness processes that no longer exist left behind, per their ledgers.

    Returns (message, run folder or None) per ledger cleaned. A process counts only if its pid *and* start
    time match the ledger, so a reused pid is never killed.
    """
    messages = []
    if not folder.is_dir():
        return messages
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text())
            harness_pid, harness_started = int(data["harness_pid"]), float(data["harness_started"])
            groups = [(int(g["pid"]), float(g["started"])) for g in data["groups"]]
        except (OSError, ValueError, KeyError, TypeError):
            file.unlink(missing_ok=True)
            continue
        if _same_process(harness_pid, harness_started) is not None:
            continue  # that harness is still running
        killed = 0
        for pid, started in groups:
            # The group's members, even when its leader is gone (an nginx worker outlives
            # its master): same process group, started no earlier than the leader. A
            # reused pid would give a group of processes started later than the ledger
            # says only if the leader pid was reused too, which the start time rules out.
            leader = _same_process(pid, started)
            if leader is None and psutil.pid_exists(pid):
                # Another process has the leader's pid: Linux never hands out a pid that is
                # still some group's id, so the group we started is gone and this one is not ours.
                continue
            members = [p for p in psutil.process_iter(["create_time"]) if _in_group(p, pid, started)]
            if leader is None and not members:
                continue
            for p in {*(tree(pid) if leader else []), *members}:
                try:
                    p.kill()
                    killed += 1
                except psutil.Error:
                    pass
        messages.append((f"a harness (pid {harness_pid}) was killed during run {data.get('run')}; "
                         f"stopped {killed} process(es) it left behind", data.get("run")))
        file.unlink(missing_ok=True)
    return messages


def _child_setup(cpus: Sequence[int] | None = None) -> None:  # pragma: no cover - runs in the child
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    if cpus:
        # before exec: every thread and child the program ever starts inherits the mask
        os.sched_setaffinity(0, cpus)


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cpus: Sequence[int] | None = None,
) -> subprocess.Popen:
    """Start argv (never through a shell) in a new process group, output to log_path;
    with `cpus`, the process and everything it starts run only on those cores."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            preexec_fn=(lambda: _child_setup(cpus)) if cpus else _child_setup,
        )
    if _ledger is not None:
        _ledger.add(proc.pid)
    return proc


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that are still alive."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop(proc: subprocess.Popen, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
    """Stop proc's whole process group: `sig` first, SIGKILL after timeout_s.

    Returns the exit code of the group leader (None if it had to be killed and was
    already reaped elsewhere). Descendants that left the group are killed as well.
    """
    pgid = proc.pid  # start_new_session makes the leader's pid the group id
    stragglers = tree(proc.pid)
    if proc.poll() is None or _group_alive(pgid):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid) or proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in stragglers:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                p.kill()
        except psutil.Error:
            pass
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None
    if _ledger is not None:
        _ledger.remove(proc.pid)
    return code


def stop_all(group_leaders: Sequence[subprocess.Popen], timeout_s: float = 10.0) -> list[int | None]:
    """Stop several independent process groups: every one is sent SIGTERM before any is
    waited for, so a slow drain costs one timeout, not one per group. Exit codes in order."""
    for p in group_leaders:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return [stop(p, timeout_s=timeout_s) for p in group_leaders]
