"""The one interface every server mode implements.

A Server is started, says when it is ready (an HTTP probe, never a sleep), lists its
processes with a role each so the sampler sees the whole tree, reports each worker's
own /metrics, and stops: gracefully first, forced after a timeout. Use it as a context
manager so that no exit path leaves a process behind.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import preload, procs
from harness.errors import EnvironmentProblem, RunFailed
from harness.net import check_port_free, free_port, http_get
from harness.nodes import find_node
from harness.scenario import MAX_WORKERS, whole

# What Node prints when a script dies before it runs: "Error: Cannot find module 'express'",
# "SyntaxError: Unexpected token", "TypeError: ...", then the stack and "Node.js v20.x".
_ERROR_LINE = re.compile(r"^\s*(?:[A-Z][A-Za-z]*Error|Error)(?: \[[A-Z_]+\])?: ")


def _taken_address(log: str) -> tuple[str, int] | None:
    """(host, port) of Node's "listen EADDRINUSE: address already in use 127.0.0.1:5055", or a
    cluster worker's "bind EADDRINUSE null:5055" (host "null": every address), the last such
    line; None when the log names none."""
    found = re.findall(r"(?:address already in use|bind EADDRINUSE) (\S+):(\d+)", log)
    return (found[-1][0], int(found[-1][1])) if found else None


def telling_line(log: str) -> str:
    """The line of a log that says why a process stopped: the last "...Error: ..." line
    (Node ends a crash with its version, which says nothing), else the last line."""
    lines = [line for line in log.strip().splitlines() if line.strip()]
    if not lines:
        return "(empty log)"
    errors = [line.strip() for line in lines if _ERROR_LINE.match(line)]
    return errors[-1] if errors else lines[-1].strip()


@dataclass(frozen=True)
class ProcInfo:
    """A process of a server with its role: primary, worker, proxy, pm2-daemon ..."""

    pid: int
    role: str


def announced_instances(state_dir: Path, live_pids: set[int]) -> list[dict[str, Any]]:
    """{pid, worker_id, admin_port} of every live process that announced itself in
    state_dir/<pid>.json once it served (index.js in the pm2 and reuseport modes, where
    the processes share one port, so each one's /metrics is reached on its own port)."""
    found = []
    for f in sorted(state_dir.glob("*.json")):
        try:
            info = json.loads(f.read_text())
            pid, port = int(info["pid"]), int(info["admin_port"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid in live_pids and 1 <= port <= 65535:
            found.append({"pid": pid, "worker_id": str(info.get("worker_id")), "admin_port": port})
    return found


# The folder of the server being started when it is not the working tree's: the base side
# of an A/B run (harness.against), set for the duration of one case by using_server_dir.
_server_dir_override: Path | None = None


def server_dir() -> Path:
    if _server_dir_override is not None:
        return _server_dir_override
    env = os.environ.get("HARNESS_SERVER_DIR")
    if env:
        return Path(env)
    from harness import bundled  # the checkout's server/, or an installed harness's copy in the cache

    return bundled.server_dir()


def prepare_server_unless_overridden(notice: Callable[[str], None]) -> None:
    """bundled.prepare_server, unless the server's folder is set elsewhere (HARNESS_SERVER_DIR,
    or an A/B side's folder): an installed harness's reference server, on first use."""
    from harness import bundled

    if _server_dir_override is None and not os.environ.get("HARNESS_SERVER_DIR"):
        bundled.prepare_server(notice)


@contextlib.contextmanager
def using_server_dir(path: Path | None) -> Iterator[None]:
    """Start servers from `path` (None: the usual folder) inside the block."""
    global _server_dir_override
    previous, _server_dir_override = _server_dir_override, path
    try:
        yield
    finally:
        _server_dir_override = previous


class Managed:
    """A process the harness starts and must stop on every exit path: a context manager
    that stops it when the start fails halfway, and on exit whatever happened."""

    proc: subprocess.Popen | None = None
    exit_code: int | None = None
    stop_timeout_s: float = 10.0

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> int | None:
        """Graceful stop (SIGTERM), forced (SIGKILL) after stop_timeout_s."""
        if self.proc is None:
            return self.exit_code
        self.exit_code = procs.stop(self.proc, timeout_s=self.stop_timeout_s)
        return self.exit_code

    def __enter__(self) -> Any:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Server(Managed, ABC):
    """Base of every mode. Subclasses say how to start and what their processes are.
    The stop is graceful (SIGTERM: drain, exit) and forced after stop_timeout_s."""

    host = "127.0.0.1"  # servers bind to loopback only
    terminated = False  # sigterm() was sent: the server stops on its own, do not query it
    app: str | None = None  # a user's own server file to run instead of the reference server (make_server sets it)
    # with an app: the folder where each of its processes' preload writes <pid>.json (harness.preload;
    # make_server sets it unless the case asks for no preload); None: the app runs without the preload
    preload_dir: Path | None = None

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        stop_timeout_s: float = 10.0,
        uv_threadpool_size: int | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.uv_threadpool_size = uv_threadpool_size
        self.cpus: list[int] | None = None  # cores every process of the server is pinned to (None: any)
        # more environment for the server's processes, e.g. REDIS_URL when a service runs beside it
        self.extra_env: dict[str, str] = {}
        self.port = port if port is not None else free_port(self.host)
        if port is not None:
            check_port_free(port, self.host)
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.terminated = False  # sigterm() was sent: the server stops on its own, do not query it

    # --- what a mode provides -------------------------------------------------------------
    @abstractmethod
    def command(self) -> list[str]:
        """argv of the process the harness starts (never run through a shell)."""

    @abstractmethod
    def is_ready(self) -> bool:
        """One readiness probe over HTTP; True when every worker can serve."""

    @abstractmethod
    def processes(self) -> list[ProcInfo]:
        """Every live process of this server, with its role."""

    @abstractmethod
    def worker_metrics(self) -> list[dict[str, Any]]:
        """Each worker's own /metrics document."""

    def missing_figures(self) -> list[str]:
        """Figures this server cannot give, each with the reason (recorded with the case and
        shown in the report's header); the reference server started by the harness gives all."""
        return []

    # --- shared lifecycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "server.log"

    def environment(self) -> dict[str, str]:
        """The server's environment. UV_THREADPOOL_SIZE is set here, before the process
        starts: libuv sizes its pool once, at the first use, so setting it from inside
        JavaScript is not reliable. REDIS_URL comes only from extra_env: a server never
        counts in a Redis the harness did not start for it."""
        env = dict(os.environ)
        for name in ("UV_THREADPOOL_SIZE", "REDIS_URL", "REDIS_COUNTER_KEY", "REDIS_PASSWORD"):
            env.pop(name, None)
        env.update(self.extra_env)
        if self.uv_threadpool_size is not None:
            env["UV_THREADPOOL_SIZE"] = str(self.uv_threadpool_size)
        env.pop(preload.DIR_ENV, None)
        env.pop(preload.WRAPPER_ENV, None)
        if self.app:  # a user's app learns where to listen the usual way
            env.update(PORT=str(self.port), HOST=self.host, HARNESS_WORKER_ID="0")
            if self.preload_dir is not None:
                env[preload.DIR_ENV] = str(self.preload_dir)
        return env

    def node_args(self) -> list[str]:
        """Node options of every process that runs the user's app: the preload's `--require`
        when it is on (harness.preload), nothing otherwise (and nothing for the reference server)."""
        return preload.node_args(self.preload_dir) if self.app else []

    def working_dir(self) -> Path:
        """Where the server's processes start: the app's folder (its relative requires work), or server/."""
        return Path(self.app).parent if self.app else server_dir()

    def serves(self, port: int) -> bool:
        """One readiness probe of one listening port: the reference server's /healthz says
        200; a user's app has no such route, so any HTTP answer on / means it listens."""
        if self.app:  # marked, so that the preload counts it apart from the load's requests
            http_get(self.host, port, "/", timeout_s=1.0, headers={preload.PROBE_HEADER: "1"})
            return True
        return http_get(self.host, port, "/healthz", timeout_s=1.0)[0] == 200

    @classmethod
    def missing(cls) -> list[str]:
        """What this machine lacks for the mode, each with the command that fixes it (empty: ready)."""
        try:
            find_node()
        except EnvironmentProblem as exc:
            return [exc.one_line()]
        return []

    @classmethod
    def advice(cls) -> str:
        """A note for `harness doctor` on a mode that can run, but not on every Node (empty: none)."""
        return ""

    def start(self, ready_timeout_s: float = 20.0) -> None:
        self.proc = procs.spawn(
            self.command(), self.log_path, env=self.environment(), cwd=self.working_dir(), cpus=self.cpus
        )
        self.wait_ready(ready_timeout_s)

    def exit_problem(self) -> str | None:
        """Why the server can no longer become ready (one of its processes exited), or None.
        Modes with several top-level processes (nginx and its backends) check each."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.exit_code = self.proc.returncode
            return f"the server exited with code {self.proc.returncode}"
        return None

    def wait_ready(self, timeout_s: float) -> None:
        self._poll(
            self.is_ready,
            timeout_s,
            exited=lambda problem: self._start_failure(f"{problem} before it was ready"),
            late=lambda: self._start_failure(f"the server was not ready within {timeout_s:.0f} s"),
        )

    def _poll(
        self,
        ready: Callable[[], bool],
        timeout_s: float,
        exited: Callable[[str], Exception],
        late: Callable[[], Exception],
    ) -> None:
        """Poll `ready` (a probe, never a fixed sleep; a refused or broken connection counts
        as not yet) every 50 ms until it holds; raise exited(why) if one of the server's
        processes exits first (exit_problem), late() once timeout_s has passed."""
        deadline = time.monotonic() + timeout_s
        while True:
            problem = self.exit_problem()
            if problem is not None:
                raise exited(problem)
            try:
                if ready():
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise late()
            time.sleep(0.05)

    def _start_failure(self, what: str) -> Exception:
        tail = self.log_tail()
        if "EADDRINUSE" in tail:
            taken = _taken_address(tail)
            given = {self.port, getattr(self, "admin_port", None), *getattr(self, "backend_ports", [])}
            if taken is not None and taken[1] not in given:
                # the app listened where it was not told to: the harness's free port was never tried
                where = f"port {taken[1]}" if taken[0] == "null" else f"{taken[0]}:{taken[1]}"
                return RunFailed(
                    f"the server tried to listen on {where}, which is taken, and that is not a "
                    "port the harness gave it",
                    "make the app listen on process.env.PORT and process.env.HOST, which the harness sets "
                    "to a free loopback port for each process it starts",
                )
            which = "its admin port" if "admin port" in tail else f"port {self.port}"
            return EnvironmentProblem(
                f"the server could not listen: {which} is taken",
                "leave --port out so the harness picks free ports, or free the port",
            )
        return RunFailed(f"{what}: {telling_line(tail)}", f"see {self.log_path}")

    def log_tail(self, max_bytes: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode("utf-8", "replace")

    # --- events during the load (the resilience scenario) --------------------------------
    def worker_pids(self) -> list[int]:
        """Pids of the live processes that serve requests (role `worker`)."""
        return [p.pid for p in self.processes() if p.role == "worker"]

    def poll_until(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll `ready` (a probe, never a fixed sleep) until it holds; RunFailed naming `what`
        if the server exits first or timeout_s passes."""
        self._poll(
            ready,
            timeout_s,
            exited=lambda problem: RunFailed(f"{what}: {problem}", f"see {self.log_path}"),
            late=lambda: RunFailed(f"{what}: not done within {timeout_s:.0f} s", f"see {self.log_path}"),
        )

    def in_flight_by_pid(self) -> dict[int, int]:
        """Requests each worker has in flight right now, from its own /metrics ({} if the
        server does not answer): taken just before an event, it is the server's count of
        what the event hits, whatever the client then does about it (a client may re-send)."""
        try:
            return {
                int(m["pid"]): int(m["in_flight"]) for m in self.worker_metrics() if isinstance(m.get("in_flight"), int)
            }
        except (RunFailed, KeyError, TypeError, ValueError):
            return {}

    def kill_worker(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """SIGKILL the first worker process, as a crash would, and return once the mode has
        replaced it (the cluster primary or PM2 forks a new one) and is ready again:
        {pid (the victim), server_in_flight (its requests in flight just before), pids_before,
        pids_after, done_ts}. For modes that replace dead workers only (see
        harness.modes, Mode.events)."""
        before = self.worker_pids()
        if not before:
            raise RunFailed("kill-worker: the server has no live worker to kill", f"see {self.log_path}")
        victim = before[0]
        in_flight = self.in_flight_by_pid().get(victim)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            pids = self.worker_pids()
            return victim not in pids and len(pids) >= len(before) and self.is_ready()

        self.poll_until(replaced, timeout_s, f"kill-worker: a replacement for worker pid {victim}")
        return {
            "pid": victim,
            "server_in_flight": in_flight,
            "pids_before": before,
            "pids_after": self.worker_pids(),
            "done_ts": time.time(),
        }

    def sigterm(self, timeout_s: float) -> dict[str, Any]:
        """SIGTERM to the server's top process, as a deployment stops it; waits for its exit
        (up to timeout_s): {pid, server_in_flight (all workers' requests in flight just
        before), pids_before, pids_after, exit_code (None: still running), done_ts (the
        exit)}. From here on the server counts as stopped: stop() only collects what is left."""
        assert self.proc is not None
        before = self.worker_pids()
        in_flight = self.in_flight_by_pid()
        self.terminated = True
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        done = time.time()
        self.exit_code = code
        return {
            "pid": self.proc.pid,
            "server_in_flight": sum(in_flight.values()) if in_flight else None,
            "pids_before": before,
            "pids_after": self.worker_pids(),
            "exit_code": code,
            "done_ts": done,
        }

    def _get_json(self, port: int, path: str) -> Any:
        try:
            status, body = http_get(self.host, port, path)
            if status != 200:
                raise RunFailed(f"GET {path} on port {port} answered {status}")
            return json.loads(body)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            state = "exited" if self.proc is not None and self.proc.poll() is not None else "is running"
            raise RunFailed(
                f"the server did not answer GET {path} ({type(exc).__name__}: {exc}); it {state}",
                f"see {self.log_path}",
            ) from exc


class MultiProcessServer(Server):
    """Base of the modes that run `workers` Node processes without node:cluster's primary
    (nginx's backends, PM2's instances, reuseport's members): the constructor they share.
    stop_margin_s: how much longer than the processes' own drain (shutdown_timeout_s) the
    harness waits before it forces the stop."""

    stop_margin_s = 5.0

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        workers: int = 2,
        shutdown_timeout_s: float = 5.0,
        uv_threadpool_size: int | None = None,
        **_: Any,
    ) -> None:
        whole(workers, "workers", 1, MAX_WORKERS)
        super().__init__(
            log_dir, port, stop_timeout_s=shutdown_timeout_s + self.stop_margin_s, uv_threadpool_size=uv_threadpool_size
        )
        self.workers = workers
        self.shutdown_timeout_s = shutdown_timeout_s
        self.node = find_node()

    def exited_member(self, members: list[subprocess.Popen], describe: Callable[[int], str]) -> str | None:
        """Why the server cannot become ready when one of `members` (its own top-level
        processes, numbered from 1) exited: "<describe(i)> exited with code N"; None if all run."""
        for i, member in enumerate(members, start=1):
            if member.poll() is not None:
                self.exit_code = member.returncode
                return f"{describe(i)} exited with code {member.returncode}"
        return None
