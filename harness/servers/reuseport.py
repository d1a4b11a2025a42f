"""mode reuseport: N independent Node processes share one port through SO_REUSEPORT.

Each process is `index.js --mode reuseport --worker-id i` (x-worker-id 1..N), listening
with `server.listen({reusePort: true})` (Node 22.12 and later): no primary hands out
connections (cluster `rr`) and no shared accept queue is raced for (cluster `none`); the
kernel puts each new connection in one process's own queue by a hash of its addresses
and ports. Each process is its own process group (procs.spawn), so it is in the ledger,
dies with the harness and is stopped on every path. Since they share the port, each
announces an exclusive admin port for its /metrics in <log_dir>/reuseport/<pid>.json.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from harness import nodes, procs
from harness.errors import EnvironmentProblem, UsageError
from harness.modes.reuseport import supports_reuseport
from harness.net import http_get
from harness.nodes import find_node
from harness.servers.base import MultiProcessServer, ProcInfo, announced_instances, server_dir


class ReuseportServer(MultiProcessServer):
    """`workers` processes with SO_REUSEPORT on one port; the kernel spreads connections."""

    mode = "reuseport"

    def __init__(self, log_dir: Path, port: int | None = None, **options: Any) -> None:
        super().__init__(log_dir, port, **options)  # workers, shutdown_timeout_s, ... (MultiProcessServer)
        self.state_dir = Path(os.path.abspath(log_dir)) / "reuseport"
        self.members: list[subprocess.Popen] = []

    @classmethod
    def advice(cls) -> str:
        try:
            version = nodes.version_of(find_node())
        except EnvironmentProblem:
            return ""
        if supports_reuseport(version):
            return ""
        return (
            f'needs Node 22.12+ (this machine\'s is {version}): give the ServerSpec node_version="22.12.0", '
            "fetched from npm (see scenarios/reuseport.py)"
        )

    def command(self) -> list[str]:
        return self.member_command(1)

    def member_command(self, worker_id: int) -> list[str]:
        return [
            self.node,
            "index.js",
            "--mode",
            "reuseport",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--worker-id",
            str(worker_id),
            "--state-dir",
            str(self.state_dir),
            "--shutdown-timeout-ms",
            str(int(self.shutdown_timeout_s * 1000)),
        ]

    def start(self, ready_timeout_s: float = 20.0) -> None:
        version = nodes.version_of(self.node)
        if not supports_reuseport(version):
            raise UsageError(
                f"mode reuseport needs Node.js 22.12 or newer; {self.node} is {version}",
                'give the ServerSpec node_version="22.12.0" (fetched from npm) or run --node-version',
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        for i in range(1, self.workers + 1):
            self.members.append(
                procs.spawn(self.member_command(i), self.log_path, env=env, cwd=server_dir(), cpus=self.cpus)
            )
        self.proc = self.members[0]
        self.wait_ready(ready_timeout_s)

    def exit_problem(self) -> str | None:
        return self.exited_member(self.members, lambda i: f"process {i} of {self.workers}")

    def instances(self) -> list[dict[str, Any]]:
        return announced_instances(self.state_dir, {m.pid for m in self.members if m.poll() is None})

    def is_ready(self) -> bool:
        """Every process announced itself and answers /healthz on its own port, and the shared port answers."""
        found = self.instances()
        if len(found) != self.workers:
            return False
        for i in found:
            if http_get(self.host, i["admin_port"], "/healthz", timeout_s=1.0)[0] != 200:
                return False
        return http_get(self.host, self.port, "/healthz", timeout_s=1.0)[0] == 200

    def stop(self) -> int | None:
        """SIGTERM to every process at once (each drains), SIGKILL after the timeout."""
        if not self.members:
            return self.exit_code
        codes = procs.stop_all(self.members, timeout_s=self.stop_timeout_s)
        self.exit_code = next((c for c in codes if c != 0), 0)
        return self.exit_code

    def processes(self) -> list[ProcInfo]:
        return [ProcInfo(p.pid, "worker") for m in self.members for p in procs.tree(m.pid)]

    def worker_metrics(self) -> list[dict[str, Any]]:
        return [self._get_json(i["admin_port"], "/metrics") for i in self.instances()]
