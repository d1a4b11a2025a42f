"""Start and stop child processes so that none outlives the harness.

Every child gets its own process group (so a stop reaches its whole tree: cluster
workers, nginx workers, Locust workers) and a parent-death signal. Everything a harness
process starts belongs to one Unit: a cgroup where the machine offers one (so nothing,
at any depth, can slip out of it) and a guardian process (harness.guard) that kills the
whole unit, removes its temporary folders and marks a run left `running` as interrupted
as soon as the harness ends, whichever way: a SIGKILL included. The guardian keeps a
ledger under results/.active/ so that a later run can finish the job should the guardian
have been killed too.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psutil

from harness import guard as guard_mod
from harness.errors import EnvironmentProblem

_PR_SET_PDEATHSIG = 1
GUARD_SCRIPT = Path(guard_mod.__file__)
CGROUP_PREFIX = "harness-"
# the private temporary folders the harness makes (PM2's home, an A/B checkout, the demo's);
# reap_stale removes only folders of these names, whatever a ledger says
TEMP_PREFIXES = ("hpm2-", "harness-ab-", "harness-demo-")


def _cgroup2_mount() -> Path | None:
    """Where the unified (v2) cgroup hierarchy is mounted, if it is."""
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return Path(left.split(" ")[4])
    except (OSError, IndexError):
        pass
    return None


def make_cgroup() -> Path | None:
    """A new cgroup v2 for everything this harness process starts, below its own; None where
    the machine does not let it make one (no cgroup v2, no permission: a systemd session
    without delegation), in which case the guardian tracks processes by identity alone.
    HARNESS_NO_CGROUP=1 forces that path (the tests of it use this)."""
    if os.environ.get("HARNESS_NO_CGROUP"):
        return None
    mount = _cgroup2_mount()
    if mount is None:
        return None
    try:
        own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    group = mount / own.strip().lstrip("/") / f"{CGROUP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        group.mkdir()
    except OSError:
        return None
    if not os.access(group / "cgroup.procs", os.W_OK):
        try:
            group.rmdir()
        except OSError:
            pass
        return None
    return group


def in_cgroup(pid: int, group: Path) -> bool:
    """Whether the process is in the cgroup (or one below it)."""
    mount = _cgroup2_mount()
    if mount is None:
        return False
    try:
        own = next(line[3:] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        return False
    here = mount / own.strip().lstrip("/")
    return here == group or group in here.parents


class Unit:
    """Everything one harness process starts, as one unit that dies with it.

    Each process the harness spawns joins the unit's cgroup (when the machine offers one)
    before it runs, so everything it ever starts, at any depth, is in it too; and a guardian
    process (harness.guard), in a session of its own, holds the other end of a pipe. When the
    harness ends, however it ends, the guardian kills the cgroup and every process it saw in
    the tracked trees (pid and start time), removes the unit's temporary folders and marks a
    run left `running` as interrupted."""

    def __init__(self, ledger_dir: Path | None = None, run_path: Path | None = None) -> None:
        self.cgroup = make_cgroup()
        self.temps: set[Path] = set()
        ledger = ledger_dir / f"{os.getpid()}.json" if ledger_dir is not None else None
        self.ledger = ledger
        config = {
            "harness_pid": os.getpid(),
            "harness_started": psutil.Process().create_time(),
            "cgroup": str(self.cgroup) if self.cgroup else None,
            "ledger": str(ledger) if ledger else None,
            "run": str(run_path) if run_path else None,
        }
        read_end, self._write_end = os.pipe()
        try:
            # -I: the guardian imports nothing from the working folder or PYTHONPATH
            self.guard = subprocess.Popen(
                [sys.executable, "-I", str(GUARD_SCRIPT), json.dumps(config)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            os.close(self._write_end)
            self._discard_cgroup()
            raise
        finally:
            os.close(read_end)
        self.closed = False

    def _send(self, message: dict) -> None:
        if self.closed:
            return
        try:
            os.write(self._write_end, (json.dumps(message) + "\n").encode())
        except OSError:  # the guardian is gone (someone killed it): a later run's reap_stale covers us
            pass

    def track(self, pid: int) -> None:
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        self._send({"track": [pid, started]})

    def set_run(self, run_path: Path | None) -> None:
        self._send({"run": str(run_path) if run_path else None})

    def temp_dir(self, prefix: str) -> Path:
        """A private temporary folder (short path, mode 0700) removed when the unit ends, however it ends."""
        path = Path(tempfile.mkdtemp(prefix=prefix))
        self.temps.add(path)
        self._send({"temp": str(path)})
        return path

    def remove_temp(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        self.temps.discard(path)
        self._send({"untemp": str(path)})

    def close(self, timeout_s: float = 15.0) -> None:
        """End the unit: the guardian stops whatever is left, removes the temporary folders and exits."""
        if self.closed:
            return
        self.closed = True
        os.close(self._write_end)
        try:
            self.guard.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass

    def _discard_cgroup(self) -> None:
        if self.cgroup is not None:
            try:
                self.cgroup.rmdir()
            except OSError:
                pass


_unit: Unit | None = None


def unit() -> Unit:
    """The unit the processes spawned now belong to (started on first use)."""
    global _unit
    if _unit is None or _unit.closed:
        _unit = Unit()
    return _unit


@contextlib.contextmanager
def contained(ledger_dir: Path | None, run_path: Path | None = None) -> Iterator[Unit]:
    """Everything spawned inside the block forms one unit, ended (every process stopped,
    temporary folders removed) when the block exits; its ledger is <ledger_dir>/<pid>.json."""
    global _unit
    previous = _unit
    _unit = Unit(ledger_dir, run_path)
    try:
        yield _unit
    finally:
        _unit.close()
        _unit = previous


def _temp_of_ours(path: str) -> bool:
    """Only folders the harness itself makes are removed on a ledger's word."""
    p = Path(path)
    return p.parent == Path(tempfile.gettempdir()) and p.name.startswith(TEMP_PREFIXES)


def reap_stale(folder: Path) -> list[tuple[str, str | None]]:
    """Finish the clean-up of harness processes that ended without it, and whose guardian
    was killed too (a `kill -9` of both), per the ledgers in `folder`.

    Returns (message, run folder or None) per ledger cleaned. Only exact identities are
    signalled: a cgroup of this harness's own naming, or a process whose pid *and* start time
    the guardian noted; a reused pid is never killed.
    """
    messages: list[tuple[str, str | None]] = []
    if not folder.is_dir():
        return messages
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text())
            harness_pid, harness_started = int(data["harness_pid"]), float(data["harness_started"])
            identities = {int(p): float(t) for p, t in data.get("processes", [])}
            identities.update({int(g["pid"]): float(g["started"]) for g in data.get("groups", [])})  # schema of 2025
            guard = (int(data["guard_pid"]), float(data["guard_started"])) if data.get("guard_pid") else None
        except (OSError, ValueError, KeyError, TypeError):
            file.unlink(missing_ok=True)
            continue
        if guard_mod.same(harness_pid, harness_started) is not None:
            continue  # that harness is still running
        if guard is not None and guard_mod.same(*guard) is not None:
            continue  # its guardian is cleaning up right now
        killed = 0
        cgroup = data.get("cgroup")
        if (
            isinstance(cgroup, str)
            and Path(cgroup).name.startswith(CGROUP_PREFIX)
            and _cgroup2_mount() is not None
            and Path(cgroup).is_relative_to(_cgroup2_mount())
        ):
            killed += guard_mod.kill_cgroup(Path(cgroup))
        killed += guard_mod.kill_identities(identities)
        for temp in data.get("temps", []):
            if isinstance(temp, str) and _temp_of_ours(temp):
                shutil.rmtree(temp, ignore_errors=True)
        messages.append(
            (
                f"a harness (pid {harness_pid}) was killed during run {data.get('run')}; "
                f"stopped {killed} process(es) it left behind",
                data.get("run"),
            )
        )
        file.unlink(missing_ok=True)
    return messages


def _child_setup(cpus: Sequence[int] | None = None, cgroup: Path | None = None) -> None:  # pragma: no cover
    """Runs in the child between fork and exec."""
    if cgroup is not None:
        try:  # join the unit's cgroup: everything this child ever starts is in it too
            with open(cgroup / "cgroup.procs", "w") as f:
                f.write("0")
        except OSError:
            pass  # the guardian still tracks the tree by identity
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
    """Start argv (never through a shell) in a new process group of the current Unit, output
    to log_path; with `cpus`, the process and everything it starts run only on those cores.
    A program or folder that cannot be used gives EnvironmentProblem, one line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    owner = unit()
    cgroup = owner.cgroup
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(cpus, cgroup),
            )
    except OSError as exc:
        what = exc.filename or argv[0]
        raise EnvironmentProblem(
            f"cannot start {Path(str(argv[0])).name}: {exc.strerror} ({what})",
            "check that the program and its folder exist (`harness doctor`)",
        ) from None
    owner.track(proc.pid)
    return proc


def _children_of(pid: int) -> list[int] | None:
    """The pids of a process's children from /proc/<pid>/task/<tid>/children (each thread lists
    those it forked); None where the kernel has no such files (CONFIG_PROC_CHILDREN off)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # it exited
    found: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(child) for child in f.read().split()]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended meanwhile
            return None
        except OSError:
            continue
    return found


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that are still alive.

    It walks down from `pid` through /proc's children lists, reading the few processes of
    the tree only: psutil's children(recursive=True) reads the stat file of every process
    on the machine, which the sampler would pay at every tick (docs/harness-cost.md)."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    found, pending = [root], [pid]
    while pending:
        children = _children_of(pending.pop())
        if children is None:  # no children files here: psutil's way
            try:
                return [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []
        for child in children:
            try:
                found.append(psutil.Process(child))
            except psutil.NoSuchProcess:
                continue
            pending.append(child)
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _group_is_ours(proc: subprocess.Popen) -> bool:
    """Whether proc's process group still exists and is the one proc started. Before the
    leader is reaped its pid cannot be reused, so the group is ours. After, a group of that id
    whose leader pid is alive belongs to a new process that got the pid (Linux hands out a
    pid only when no process group uses it): never signal that one."""
    if not _group_alive(proc.pid):
        return False
    if proc.returncode is None:
        return True
    return not psutil.pid_exists(proc.pid)


def stop(proc: subprocess.Popen, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
    """Stop proc's whole process group: `sig` first, SIGKILL after timeout_s.

    Returns the exit code of the group leader (None if it had to be killed and was
    already reaped elsewhere). Descendants that left the group are killed as well.
    """
    pgid = proc.pid  # start_new_session makes the leader's pid the group id
    stragglers = tree(proc.pid) if proc.poll() is None else []
    if _group_is_ours(proc):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    while _group_is_ours(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_is_ours(proc):
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
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def stop_all(group_leaders: Sequence[subprocess.Popen], timeout_s: float = 10.0) -> list[int | None]:
    """Stop several independent process groups: every one is sent SIGTERM before any is
    waited for, so a slow drain costs one timeout, not one per group. Exit codes in order."""
    for p in group_leaders:
        if p.poll() is None:  # not yet reaped: its pid (and group id) is still ours
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return [stop(p, timeout_s=timeout_s) for p in group_leaders]


def first_output_line(argv: list[str]) -> str | None:
    """The first line a short command prints (stdout, else stderr), e.g. `node --version`;
    None if it cannot run or prints nothing within 10 s."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None
