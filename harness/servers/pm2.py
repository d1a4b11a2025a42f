"""mode pm2: PM2 in cluster mode running `workers` instances of the reference server.

The harness starts `node pm2-foreground.js`, which runs PM2's God daemon in the
foreground (so it is a child of the harness, in the ledger, sampled as "pm2-daemon", and
dies with the harness) and starts an ecosystem file rendered into the case's folder. The
instances are the daemon's node:cluster workers sharing the one port; each is
`index.js --mode pm2` (x-worker-id = NODE_APP_INSTANCE + 1). PM2_HOME is a short private
temporary folder of its own (PM2's control sockets live there, and a Unix socket's path may
not exceed 107 bytes, far less than a results folder in a user's clone can take), so
~/.pm2 is never read or written; it is removed when the server stops. The daemon (in the
foreground) and the app log to server.log in the case's folder.

Since every instance shares the port, each also serves /metrics and /healthz on a port
of its own and announces it in <PM2_HOME>/instances/<pid>.json; the harness reaches each
instance there. reload() (`pm2 reload`, rolling) and restart() (`pm2 restart`, all at
once) use the locked CLI, server/node_modules/.bin/pm2, with the same PM2_HOME.

Stop: SIGTERM to the daemon alone, on which pm2-foreground.js runs PM2's own kill (every
instance gets SIGINT, drains, and is killed after kill_timeout; then the daemon exits), then
the whole process group is stopped (SIGTERM, SIGKILL after the timeout) for anything left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness import procs
from harness.errors import EnvironmentProblem, RunFailed
from harness.net import http_get
from harness.servers.base import MultiProcessServer, ProcInfo, announced_instances, server_dir

APP_NAME = "harness-server"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, with the terminating NUL
# Unstable restarts (an instance that dies within min_uptime) before PM2 gives up on it:
# a server that cannot start fails the case in about a second instead of looping.
MAX_RESTARTS = 5


def pm2_cli() -> Path:
    return server_dir() / "node_modules" / "pm2" / "bin" / "pm2"


def pm2_installed() -> bool:
    return (server_dir() / "node_modules" / ".bin" / "pm2").exists() and pm2_cli().is_file()


class Pm2Server(MultiProcessServer):
    """PM2 cluster mode: the God daemon is the primary, `workers` app instances serve."""

    mode = "pm2"
    stop_margin_s = 8.0  # the daemon's own stop waits up to kill_timeout per instance; give the group more

    def __init__(self, log_dir: Path, port: int | None = None, **options: Any) -> None:
        super().__init__(log_dir, port, **options)  # workers, shutdown_timeout_s, ... (MultiProcessServer)
        if not pm2_installed():
            raise EnvironmentProblem(
                "pm2 is not installed in server/node_modules", "run `make setup` (npm ci in server/)"
            )
        self.log_dir = Path(os.path.abspath(log_dir))
        self.ecosystem_path = self.log_dir / "pm2-ecosystem.json"
        # PM2_HOME: made by start(), in a short temporary folder (see the module's docstring)
        self.home = Path(tempfile.gettempdir()) / "hpm2-XXXXXXXX"
        if len(str(self.home / "rpc.sock").encode()) > MAX_SOCKET_PATH:
            raise EnvironmentProblem(
                f"the temporary folder {tempfile.gettempdir()} is too long a path for PM2's "
                f"control sockets (at most {MAX_SOCKET_PATH - len('/hpm2-XXXXXXXX/rpc.sock')} "
                "bytes)",
                "set TMPDIR to a shorter folder, e.g. TMPDIR=/tmp",
            )
        self._home_made = False

    @property
    def state_dir(self) -> Path:
        return self.home / "instances"

    @classmethod
    def missing(cls) -> list[str]:
        problems = super().missing()
        if not pm2_installed():
            problems.append("pm2 is not installed in server/node_modules (run `make setup` (npm ci in server/))")
        return problems

    # --- lifecycle ------------------------------------------------------------------------
    def command(self) -> list[str]:
        # No arguments: cluster instances inherit the primary's argv (see pm2-foreground.js).
        return [self.node, "pm2-foreground.js"]

    def working_dir(self) -> Path:
        return server_dir()  # pm2-foreground.js and PM2 itself live there, also for an app

    def environment(self) -> dict[str, str]:
        # no inherited PM2 settings, and no PM2.io keys (they would start a detached agent)
        env = {k: v for k, v in super().environment().items() if not k.startswith(("PM2_", "KEYMETRICS_"))}
        env.update(
            PM2_HOME=str(self.home), HARNESS_PM2_ECOSYSTEM=str(self.ecosystem_path), PM2_DISABLE_VERSION_CHECK="1"
        )  # no daily call to version.pm2.io
        env.pop("NODE_APP_INSTANCE", None)
        env.pop("HARNESS_WORKER_ID", None)  # an instance's id is NODE_APP_INSTANCE, set by PM2 per instance
        return env

    def ecosystem(self) -> dict[str, Any]:
        app_env = {} if self.uv_threadpool_size is None else {"UV_THREADPOOL_SIZE": str(self.uv_threadpool_size)}
        node_args: list[str] = []
        if self.app:  # a user's app: run unchanged, told its port the usual way (PM2 sets NODE_APP_INSTANCE)
            script, args = self.app, []
            app_env.update(PORT=str(self.port), HOST=self.host)
            # PM2 puts node_args in its cluster's execArgv: the instances load the preload, the
            # daemon does not. The preload sets HARNESS_WORKER_ID to NODE_APP_INSTANCE + 1.
            node_args = self.node_args()
        else:
            script = str(server_dir().resolve() / "index.js")
            args = [
                "--mode",
                "pm2",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--state-dir",
                str(self.state_dir),
                "--shutdown-timeout-ms",
                str(int(self.shutdown_timeout_s * 1000)),
            ]
        return {
            "apps": [
                {
                    "name": APP_NAME,
                    "script": script,
                    "args": args,
                    "cwd": str(Path(script).parent.resolve()),
                    "exec_mode": "cluster",
                    **({"node_args": node_args} if node_args else {}),
                    "instances": self.workers,
                    "env": app_env,  # the daemon's environment (UV_THREADPOOL_SIZE included) is passed on too
                    "kill_timeout": int(self.shutdown_timeout_s * 1000) + 1000,  # let an instance drain before SIGKILL
                    "max_restarts": MAX_RESTARTS,
                    "merge_logs": True,
                    # PM2's per-request monitoring (pm2-io: it wraps every HTTP request) and its
                    # source-map support would cost CPU in this mode only: off, so that PM2 is
                    # compared as the process manager it is.
                    "pmx": False,
                    "disable_source_map_support": True,
                    "out_file": str(self.log_path),
                    "error_file": str(self.log_path),
                }
            ]
        }

    def start(self, ready_timeout_s: float = 30.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.home = procs.unit().temp_dir("hpm2-")
        self._home_made = True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # PM2 phones version.pm2.io on the first run in a PM2_HOME without this file.
        (self.home / "touch").write_text(str(int(time.time() * 1000)))
        self.ecosystem_path.write_text(json.dumps(self.ecosystem(), indent=1))
        super().start(ready_timeout_s)

    def exit_problem(self) -> str | None:
        problem = super().exit_problem()
        if problem is None and "too many unstable restarts" in self.log_tail():
            problem = "PM2 gave up restarting an instance that kept exiting (too many unstable restarts)"
        return problem

    def stop(self) -> int | None:
        try:
            if self.proc is None:
                return self.exit_code
            if self.proc.poll() is None:
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)  # the daemon only: PM2 stops its instances itself
                    self.proc.wait(timeout=self.stop_timeout_s)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            self.exit_code = procs.stop(self.proc, timeout_s=self.stop_timeout_s)  # anything left in the group
            return self.exit_code
        finally:  # PM2_HOME goes with the server (the daemon logs to server.log, in the case's folder)
            if self._home_made:
                procs.unit().remove_temp(self.home)
                self._home_made = False

    # --- instances ------------------------------------------------------------------------
    def _instance_pids(self) -> set[int]:
        return {p.pid for p in procs.tree(self.proc.pid)[1:]} if self.proc else set()

    def instances(self) -> list[dict[str, Any]]:
        """{pid, worker_id, admin_port} of every live instance that serves (announced itself)."""
        return announced_instances(self.state_dir, self._instance_pids())

    def is_ready(self) -> bool:
        """N live instances that announced themselves, with N distinct worker ids, each
        answering /healthz on its own port, and the shared port answering. A user's app
        announces nothing: N live instances and an answer on the shared port."""
        if self.app:
            return len(self._instance_pids()) == self.workers and self.serves(self.port)
        found = self.instances()
        if len(found) != self.workers or len({i["worker_id"] for i in found}) != self.workers:
            return False
        for i in found:
            if http_get(self.host, i["admin_port"], "/healthz", timeout_s=1.0)[0] != 200:
                return False
        return http_get(self.host, self.port, "/healthz", timeout_s=1.0)[0] == 200

    def processes(self) -> list[ProcInfo]:
        if not self.proc:
            return []
        return [
            ProcInfo(p.pid, "pm2-daemon" if p.pid == self.proc.pid else "worker") for p in procs.tree(self.proc.pid)
        ]

    def worker_metrics(self) -> list[dict[str, Any]]:
        return [self._get_json(i["admin_port"], "/metrics") for i in self.instances()]

    # --- resilience demos -----------------------------------------------------------------
    def reload(self, timeout_s: float = 60.0) -> None:
        """Rolling reload (`pm2 reload`): each instance is replaced by a new one, which must
        listen before the old one is stopped. Returns when N new instances serve."""
        self._replace_all("reload", timeout_s)

    def restart(self, timeout_s: float = 60.0) -> None:
        """Hard restart (`pm2 restart`): every instance is stopped and started again.
        Returns when N new instances serve."""
        self._replace_all("restart", timeout_s)

    def _replace_all(self, action: str, timeout_s: float) -> None:
        old = self._instance_pids()
        deadline = time.monotonic() + timeout_s
        self._cli([action, APP_NAME], timeout_s)

        def replaced() -> bool:
            pids = self._instance_pids()
            return not (pids & old) and len(pids) == self.workers and self.is_ready()

        self.poll_until(
            replaced, max(0.0, deadline - time.monotonic()), f"pm2 {action}: {self.workers} new instances serving"
        )

    def _cli(self, args: list[str], timeout_s: float) -> None:
        """Run the locked pm2 CLI against this server's daemon (never without one: a pm2 CLI
        that finds no daemon starts a detached one of its own)."""
        if self.proc is None or self.proc.poll() is not None or not (self.home / "rpc.sock").exists():
            raise RunFailed(f"pm2 {' '.join(args)}: the PM2 daemon is not running", f"see {self.log_path}")
        cli_log = self.log_dir / "pm2-cli.log"
        p = procs.spawn(
            [self.node, str(pm2_cli()), *args], cli_log, env=self.environment(), cwd=server_dir(), cpus=self.cpus
        )
        try:
            code: int | None = p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            procs.stop(p, timeout_s=2)  # nothing of the CLI outlives it; off the ledger
            self._kill_stray_daemon()
        if code is None:
            raise RunFailed(f"pm2 {' '.join(args)} did not finish within {timeout_s:.0f} s", f"see {cli_log}")
        if code != 0:
            raise RunFailed(f"pm2 {' '.join(args)} exited with code {code}", f"see {cli_log}")

    def _kill_stray_daemon(self) -> None:
        """Should the daemon have died just before the CLI connected, the CLI started a
        detached daemon on this PM2_HOME; it is not ours to keep."""
        try:
            pid = int((self.home / "pm2.pid").read_text().strip())
        except (OSError, ValueError):
            return
        if self.proc is not None and pid != self.proc.pid:
            try:
                for p in reversed(procs.tree(pid)):
                    p.kill()
            except psutil.Error:
                pass
