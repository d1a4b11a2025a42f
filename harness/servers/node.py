"""The reference server's own process modes: single and cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import preload, procs
from harness.net import free_port, http_get
from harness.nodes import find_node
from harness.servers.base import ProcInfo, Server, server_dir


class SingleServer(Server):
    """One Node process serves everything: the baseline every mode is compared with."""

    mode = "single"

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        shutdown_timeout_s: float = 5.0,
        uv_threadpool_size: int | None = None,
        **_: Any,
    ) -> None:
        super().__init__(log_dir, port, stop_timeout_s=shutdown_timeout_s + 5, uv_threadpool_size=uv_threadpool_size)
        self.shutdown_timeout_s = shutdown_timeout_s
        self.node = find_node()

    def command(self) -> list[str]:
        if self.app:
            return [self.node, *self.node_args(), self.app]
        return [
            self.node,
            "index.js",
            "--mode",
            "single",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--shutdown-timeout-ms",
            str(int(self.shutdown_timeout_s * 1000)),
        ]

    def is_ready(self) -> bool:
        return self.serves(self.port)

    def processes(self) -> list[ProcInfo]:
        return [ProcInfo(p.pid, "worker") for p in procs.tree(self.proc.pid)] if self.proc else []

    def worker_metrics(self) -> list[dict[str, Any]]:
        return [self._get_json(self.port, "/metrics")]


class ClusterServer(Server):
    """node:cluster: a primary forks `workers` workers sharing one port.

    schedule "rr": the primary accepts and hands connections out in turn;
    "none": the kernel decides which worker's accept() wins.
    """

    mode = "cluster"

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        workers: int = 2,
        schedule: str = "rr",
        shutdown_timeout_s: float = 5.0,
        uv_threadpool_size: int | None = None,
        **_: Any,
    ) -> None:
        super().__init__(log_dir, port, stop_timeout_s=shutdown_timeout_s + 6, uv_threadpool_size=uv_threadpool_size)
        self.workers = workers
        self.schedule = schedule
        self.shutdown_timeout_s = shutdown_timeout_s
        self.admin_port = free_port(self.host)
        self.node = find_node()

    def command(self) -> list[str]:
        return [
            self.node,
            "index.js",
            "--mode",
            "cluster",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--schedule",
            self.schedule,
            "--admin-port",
            str(self.admin_port),
            "--shutdown-timeout-ms",
            str(int(self.shutdown_timeout_s * 1000)),
            *(["--app", self.app] if self.app else []),  # the harness's cluster wrapper runs the app in each worker
        ]

    def working_dir(self) -> Path:
        return server_dir()  # index.js is the wrapper, also for an app

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.app and self.preload_dir is not None:  # the wrapper adds it to its workers' execArgv
            env[preload.WRAPPER_ENV] = str(preload.preload_path())
        return env

    def is_ready(self) -> bool:
        status, _ = http_get(self.host, self.admin_port, "/ready", timeout_s=1.0)
        return status == 200 and self.serves(self.port)

    def processes(self) -> list[ProcInfo]:
        if not self.proc:
            return []
        found = procs.tree(self.proc.pid)
        return [ProcInfo(p.pid, "primary" if p.pid == self.proc.pid else "worker") for p in found]

    def worker_metrics(self) -> list[dict[str, Any]]:
        return list(self._get_json(self.admin_port, "/workers")["workers"])
