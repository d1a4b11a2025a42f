"""Launch Locust headless as its own process, and read back what the hooks recorded."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import procs
from harness.errors import RunFailed, UsageError
from harness.load import DEFAULT_HTTP_CLIENT, HTTP_CLIENTS
from harness.load.hooks import OPEN_CLOSE_MARGIN_S, OPEN_GRACE_S
from harness.net import free_port
from harness.servers.base import ProcInfo

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
# Locust's --run-time past warm-up + duration: only a backstop, the locustfile ends the test
RUN_TIME_BACKSTOP_S = 10


def http_client() -> str:
    """What the harness's Locust users send with in runs started from this process: the
    environment's HARNESS_CLIENT, which Locust's processes inherit (the locustfile's
    --harness-client default), "lean" (harness.load.lean_http) when unset, "locust" for Locust's
    FastHttpSession. Costs and ceilings stored on this machine apply only to the same client."""
    value = os.environ.get("HARNESS_CLIENT") or DEFAULT_HTTP_CLIENT
    if value not in HTTP_CLIENTS:
        raise UsageError(
            f"HARNESS_CLIENT={value} is not an HTTP client the harness has",
            "set it to lean (the default) or locust (Locust's FastHttpSession), or unset it",
        )
    return value


@dataclass(frozen=True)
class RemoteWorkers:
    """Run Locust's master alone and wait for `count` workers started elsewhere
    (`harness worker --master HOST:PORT`, on this machine or others) to connect to
    bind_host:port. The workers are not the harness's processes: it neither starts,
    samples nor stops them (the master's quit message ends their Locust run)."""

    count: int
    bind_host: str = "127.0.0.1"
    port: int = 5557
    wait_s: float = 60.0  # how long the master waits for every worker before it gives up


class LocustRun:
    """Locust driving one case: `users` users, all spawned within about a second; closed
    load, or open load at `open_rps` in total when it is given; keep-alive connections or
    (keepalive=False) a new connection per request; optionally one more user requesting a
    light `probe_path` at `probe_rps` beside the load (in the harness's own Locust processes
    only). With processes > 1 Locust runs a master and that many worker processes (all in
    one process group, all sampled); with `remote`, a master that waits for workers started
    elsewhere.

    With `locustfile` (a user's file, harness.load.user_file) Locust runs that file's users
    under the harness's hooks (`-f <ours>,<theirs>`); with `shape` its LoadTestShape
    decides users and length (Locust ignores --users and --run-time then, so they are not
    given), and the warm-up counts from the test's start.

    Locust's run time is spawn + warm-up + measured duration; the hooks mark the
    warm-up responses so they stay in the raw data but out of every summary. Open load then
    waits up to `open_grace_s` for the requests due in the window still in flight (see
    locustfile.py): a case past the server's capacity runs that much longer.
    """

    def __init__(
        self,
        host_url: str,
        path: str,
        name: str,
        users: int,
        warmup_s: float,
        duration_s: float,
        raw_dir: Path,
        open_rps: float | None = None,
        max_in_flight: int | None = None,
        processes: int = 1,
        cpus: list[int] | None = None,
        remote: RemoteWorkers | None = None,
        keepalive: bool = True,
        probe_path: str | None = None,
        probe_rps: float | None = None,
        stop_timeout_s: float = 0.0,
        record_requests: bool = False,
        open_grace_s: float = OPEN_GRACE_S,
        locustfile: str | None = None,
        shape: bool = False,
    ) -> None:
        self.host_url = host_url
        self.path = path
        self.name = name
        self.users = users
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.raw_dir = raw_dir
        self.open_rps = open_rps
        self.max_in_flight = max_in_flight
        self.process_count = processes
        self.cpus = cpus
        self.remote = remote
        self.keepalive = keepalive
        self.probe_path = probe_path
        self.probe_rps = probe_rps
        # 0: at the end users are stopped at once and requests in flight are cut off (their
        # responses never counted). > 0: each user finishes the request it is waiting for
        # (closed load: one request per task), so every request the server handled is one
        # the client saw: what an exact count (the shared-state demo) needs.
        self.stop_timeout_s = stop_timeout_s
        self.record_requests = record_requests
        self.open_grace_s = open_grace_s
        self.locustfile = locustfile
        self.shape = shape
        self.out_path = raw_dir / "hooks.json"
        self.window_path = raw_dir / "window.json"
        # each local worker process keeps here the totals it sent to the master (see locustfile.py)
        self.workers_dir = raw_dir / "locust-workers"
        self.total_users = users + (1 if probe_path else 0)
        self.spawn_rate = float(self.total_users)  # every user within about one second
        # the locustfile stops the test duration_s after the warm-up (--harness-duration-s);
        # Locust's --run-time is the backstop, well after that even if spawning took long
        self.run_time_s = math.ceil(warmup_s + duration_s) + RUN_TIME_BACKSTOP_S
        self.proc = None
        self.started_monotonic = 0.0
        self.master_port: int | None = None  # with local Locust worker processes: the master's port

    def command(self) -> list[str]:
        if self.remote is not None:
            spread = [
                "--master",
                "--master-bind-host",
                self.remote.bind_host,
                "--master-bind-port",
                str(self.remote.port),
                "--expect-workers",
                str(self.remote.count),
                "--expect-workers-max-wait",
                f"{self.remote.wait_s:g}",
            ]
        elif self.process_count > 1:
            # Locust's master for its own worker processes: on loopback and on a free port, not
            # its default *:5557 (every interface, no authentication; two runs would collide)
            port = self.master_port or free_port()
            self.master_port = port
            spread = [
                "--processes",
                str(self.process_count),
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ]
        else:
            spread = []
        # each user's share of the open-load rate; the master passes these options on to its workers
        per_user_rps = repr(self.open_rps / self.users) if self.open_rps is not None else ""
        files = f"{LOCUSTFILE},{self.locustfile}" if self.locustfile else str(LOCUSTFILE)
        # a shape decides users and length itself (Locust would ignore these, with a warning)
        amount = (
            []
            if self.shape
            else [
                "--users",
                str(self.total_users),
                "--spawn-rate",
                str(self.spawn_rate),
                "--run-time",
                f"{self.run_time_s}s",
            ]
        )
        return [
            sys.executable,
            "-m",
            "locust",
            "-f",
            files,
            "--headless",
            "--host",
            self.host_url,
            *amount,
            "--csv",
            str(self.raw_dir / "locust"),
            "--logfile",
            str(self.raw_dir / "locust.log"),
            "--loglevel",
            "INFO",
            "--exit-code-on-error",
            "0",
            "--only-summary",
            "--stop-timeout",
            f"{self.stop_timeout_s:g}",
            "--harness-path",
            self.path,
            "--harness-name",
            self.name,
            "--harness-warmup-s",
            repr(self.warmup_s),
            "--harness-duration-s",
            "" if self.shape else repr(self.duration_s),
            "--harness-open-rps",
            per_user_rps,
            "--harness-max-in-flight",
            str(self.max_in_flight or 1000),
            "--harness-keepalive",
            "1" if self.keepalive else "0",
            "--harness-open-grace-s",
            repr(self.open_grace_s),
            "--harness-shape",
            "1" if self.shape else "0",
            *spread,
        ]

    def start(self) -> None:
        # the options on the command line rule; stale variables of the same names must not leak in
        stale = (
            "HARNESS_PATH",
            "HARNESS_NAME",
            "HARNESS_WARMUP_S",
            "HARNESS_DURATION_S",
            "HARNESS_OPEN_RPS",
            "HARNESS_MAX_IN_FLIGHT",
            "HARNESS_KEEPALIVE",
            "HARNESS_PROBE_PATH",
            "HARNESS_PROBE_RPS",
            "HARNESS_OPEN_GRACE_S",
            "HARNESS_SHAPE",
            "HARNESS_USER_LOCUSTFILE",
        )
        env = {k: v for k, v in os.environ.items() if k not in stale}
        env.update(
            HARNESS_OUT=str(self.out_path),
            HARNESS_WORKER_OUT=str(self.workers_dir),
            HARNESS_WINDOW_OUT=str(self.window_path),
            HARNESS_RECORD_REQUESTS="1" if self.record_requests else "0",
            PYTHONUNBUFFERED="1",
        )
        if self.locustfile:  # only the user's classes run; no __pycache__ left in their folder
            env.update(HARNESS_USER_LOCUSTFILE="1", PYTHONDONTWRITEBYTECODE="1")
        elif self.probe_path:
            env.update(HARNESS_PROBE_PATH=self.probe_path, HARNESS_PROBE_RPS=repr(self.probe_rps or 20.0))
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        self.started_monotonic = time.monotonic()
        self.proc = procs.spawn(self.command(), self.raw_dir / "locust.out", env=env, cpus=self.cpus)

    def measure_start_ts(self) -> float | None:
        """When the measurement window starts (Unix s), once Locust has spawned every user;
        None before that (or when Locust has exited without getting there)."""
        try:
            return float(json.loads(self.window_path.read_text())["measure_start_ts"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def processes(self) -> list[ProcInfo]:
        return [ProcInfo(p.pid, "generator") for p in procs.tree(self.proc.pid)] if self.proc else []

    def wait(self, on_tick: Callable[[float], None] | None = None, grace_s: float = 60.0) -> dict[str, Any]:
        """Wait for Locust to finish (calling on_tick with elapsed seconds), then load its results."""
        assert self.proc is not None
        # open load: the close after the window (the grace, and with Locust workers its margin)
        closing_s = self.open_grace_s + OPEN_CLOSE_MARGIN_S if self.open_rps is not None else 0.0
        deadline = (
            self.started_monotonic
            + self.run_time_s
            + self.stop_timeout_s
            + closing_s
            + grace_s
            + (self.remote.wait_s if self.remote else 0)
        )
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.stop()
                raise RunFailed(
                    f"Locust did not finish within {deadline - self.started_monotonic:.0f} s",
                    f"see {self.raw_dir / 'locust.log'}",
                )
            if on_tick:
                on_tick(time.monotonic() - self.started_monotonic)
            time.sleep(0.25)
        if self.proc.returncode != 0 or not self.out_path.exists():
            tail = _tail(self.raw_dir / "locust.out")
            if self.remote is not None and "gave up waiting for workers" in _tail(self.raw_dir / "locust.log").lower():
                raise RunFailed(
                    f"Locust's master gave up waiting for {self.remote.count} worker(s) on "
                    f"{self.remote.bind_host}:{self.remote.port} after {self.remote.wait_s:g} s",
                    f"start them with `harness worker --master HOST:{self.remote.port}` before the run, "
                    "or raise --worker-wait-s",
                )
            raise RunFailed(
                f"Locust exited with code {self.proc.returncode}: {tail}", f"see {self.raw_dir / 'locust.out'}"
            )
        return json.loads(self.out_path.read_text())

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc, timeout_s=10)


def _tail(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no output)"
    return lines[-1][:300] if lines else "(no output)"
