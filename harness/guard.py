"""The guardian: a small process that outlives the harness only to clean up after it.

A harness process starts one guardian (harness.procs.Unit) in a session of its own and keeps
the write end of a pipe to the guardian's standard input. Whatever way the harness ends
(a normal exit, an exception, Ctrl-C, SIGTERM, SIGHUP, SIGKILL, a crash), the kernel closes
that pipe and the guardian wakes up on end-of-file. It then:

1. kills everything the harness started, at any depth: the run's cgroup (cgroup v2's
   `cgroup.kill`) where the machine lets the harness make one, and in any case every process
   it saw in the tree of a tracked process (identity = pid and start time, so a reused pid
   is never signalled);
2. removes the private temporary folders the harness registered (PM2's home, an A/B
   checkout);
3. marks the run `interrupted` if its run.json still says `running` (the harness died
   before it could say how the run ended);
4. removes its ledger file (results/.active/<harness pid>.json).

The ledger lets a later run finish the job should the guardian itself be killed. Its
configuration is one JSON argument; messages on standard input are JSON lines: {"track": [pid, start_time]}, {"temp": path}, {"untemp": path},
{"run": path or null}. This module uses only the standard library and psutil: it must start
fast and never import the harness's heavier parts.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

SNAPSHOT_INTERVAL_S = 0.25  # how often, without a cgroup, the guardian notes the trees' members
KILL_DEADLINE_S = 5.0


def same(pid: int, started: float) -> psutil.Process | None:
    """The process with this pid *and* start time, or None (gone, or the pid was reused)."""
    try:
        proc = psutil.Process(pid)
        return proc if abs(proc.create_time() - started) < 0.01 else None
    except psutil.Error:
        return None


def cgroup_members(cgroup: Path) -> list[int]:
    try:
        return [int(x) for x in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def kill_cgroup(cgroup: Path, deadline_s: float = KILL_DEADLINE_S) -> int:
    """Kill every process in the cgroup (and its descendants' cgroups); remove it. Returns how many."""
    if not cgroup.is_dir():
        return 0
    count = len(cgroup_members(cgroup))
    try:
        (cgroup / "cgroup.kill").write_text("1")
    except OSError:  # a kernel before 5.14: freeze, kill each, thaw
        try:
            (cgroup / "cgroup.freeze").write_text("1")
        except OSError:
            pass
        for pid in cgroup_members(cgroup):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            (cgroup / "cgroup.freeze").write_text("0")
        except OSError:
            pass
    # A killed process leaves cgroup.procs at once, but the group stays `populated` (and cannot
    # be removed) until its zombies are reaped by whoever adopted them: wait for that.
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            cgroup.rmdir()
            break
        except FileNotFoundError:
            break
        except OSError:
            time.sleep(0.02)
    return count


def kill_identities(identities: dict[int, float], deadline_s: float = KILL_DEADLINE_S) -> int:
    """SIGKILL each process whose pid and start time both match, and its descendants; repeat
    until none is left (a dying parent may have forked). Returns how many were killed."""
    killed: set[tuple[int, float]] = set()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        alive = []
        for pid, started in list(identities.items()):
            proc = same(pid, started)
            if proc is None:
                continue
            try:
                for child in proc.children(recursive=True):
                    identities.setdefault(child.pid, child.create_time())
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                continue
        if not alive:
            break
        for proc in alive:
            try:
                proc.kill()
                killed.add((proc.pid, identities[proc.pid]))
            except psutil.Error:
                pass
        time.sleep(0.02)
    return len(killed)


def mark_interrupted(run: Path | None, why: str) -> bool:
    """Say in run.json that the run ended without the harness saying how (only if it still
    says `running`). Written as the harness writes it: a temporary file, then a rename."""
    if run is None:
        return False
    meta_path = run / "run.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or meta.get("status") != "running":
        return False
    meta.update(status="interrupted", error=why)
    tmp = meta_path.with_name(f".run.json.guard-{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, meta_path)
    except OSError:
        return False
    for stale in run.glob(".*.tmp"):  # a table the harness was writing when it died
        stale.unlink(missing_ok=True)
    return True


class Guardian:
    def __init__(self, config: dict[str, Any]) -> None:
        self.harness_pid = int(config["harness_pid"])
        self.harness_started = float(config["harness_started"])
        self.cgroup = Path(config["cgroup"]) if config.get("cgroup") else None
        self.ledger = Path(config["ledger"]) if config.get("ledger") else None
        self.run: Path | None = Path(config["run"]) if config.get("run") else None
        self.tracked: dict[int, float] = {}  # the processes the harness started itself
        self.seen: dict[int, float] = {}  # every process seen in their trees
        self.temps: set[str] = set()
        self._written = ""

    def handle(self, line: str) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if "track" in msg:
            pid, started = msg["track"]
            self.tracked[int(pid)] = float(started)
            self.seen[int(pid)] = float(started)
        if "temp" in msg:
            self.temps.add(str(msg["temp"]))
        if "untemp" in msg:
            self.temps.discard(str(msg["untemp"]))
        if "run" in msg:
            self.run = Path(msg["run"]) if msg["run"] else None
        self.write_ledger()

    def snapshot(self) -> None:
        """Note every live member of the tracked trees (only needed without a cgroup: a
        process whose parent died is reparented, and its tree link is lost)."""
        for pid, started in list(self.tracked.items()):
            proc = same(pid, started)
            if proc is None:
                if not psutil.pid_exists(pid):
                    self.tracked.pop(pid, None)
                continue
            try:
                for child in proc.children(recursive=True):
                    self.seen.setdefault(child.pid, child.create_time())
            except psutil.Error:
                pass
        for pid, started in list(self.seen.items()):
            if pid not in self.tracked and same(pid, started) is None:
                self.seen.pop(pid, None)
        self.write_ledger()

    def write_ledger(self) -> None:
        if self.ledger is None:
            return
        data = {
            "harness_pid": self.harness_pid,
            "harness_started": self.harness_started,
            "guard_pid": os.getpid(),
            "guard_started": psutil.Process().create_time(),
            "run": str(self.run) if self.run else None,
            "cgroup": str(self.cgroup) if self.cgroup else None,
            "temps": sorted(self.temps),
            "processes": sorted([p, t] for p, t in self.seen.items()),
        }
        text = json.dumps(data)
        if text == self._written:
            return
        try:
            self.ledger.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.ledger.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.ledger)
            self._written = text
        except OSError:
            pass

    def watch(self, stream: Any) -> None:
        """Read messages until end-of-file: the harness has ended, one way or another."""
        fd = stream.fileno()
        buffer = b""
        while True:
            ready, _, _ = select.select([fd], [], [], SNAPSHOT_INTERVAL_S if self.cgroup is None else None)
            if not ready:
                self.snapshot()
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self.handle(line.decode("utf-8", "replace"))

    def clean_up(self) -> None:
        if self.cgroup is not None:
            kill_cgroup(self.cgroup)
        kill_identities({**self.seen, **self.tracked})
        for temp in self.temps:
            shutil.rmtree(temp, ignore_errors=True)
        mark_interrupted(
            self.run,
            "the harness ended without finishing this run (killed by SIGKILL, or crashed); "
            "the cases recorded before that are kept",
        )
        if self.ledger is not None:
            self.ledger.unlink(missing_ok=True)


def main() -> int:
    # Ctrl-C and a closed terminal reach the harness's session, not this one; should they come
    # here anyway, the clean-up still runs. SIGTERM (someone stopping this process) is obeyed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    guardian = Guardian(json.loads(sys.argv[1]))
    guardian.write_ledger()
    try:
        guardian.watch(sys.stdin.buffer)
    finally:
        guardian.clean_up()
    return 0


if __name__ == "__main__":
    sys.exit(main())
