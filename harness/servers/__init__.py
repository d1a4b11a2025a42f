"""Server modes behind one interface (see base.Server)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import UsageError
from harness.scenario import Case
from harness.servers.base import ProcInfo, Server
from harness.servers.external import ExternalServer
from harness.servers.nginx import NginxServer
from harness.servers.node import ClusterServer, SingleServer
from harness.servers.pm2 import Pm2Server
from harness.servers.pool import PoolServer, SpawnPerRequestServer
from harness.servers.reuseport import ReuseportServer

MODE_CLASSES: dict[str, type[Server]] = {
    "single": SingleServer,
    "cluster": ClusterServer,
    "pool": PoolServer,
    "spawn-per-request": SpawnPerRequestServer,
    "nginx": NginxServer,
    "pm2": Pm2Server,
    "reuseport": ReuseportServer,
    "external": ExternalServer,
}


def make_server(case: Case, log_dir: Path, port: int | None = None, cpus: list[int] | None = None,
                node: str | None = None) -> Server:
    """The server a case asks for, not yet started (pinned to `cpus` when given; run by the
    Node binary `node` when given, the machine's otherwise)."""
    if case.mode == "external":
        return ExternalServer(log_dir, target=str(case.target_url), probe_path=case.path)
    cls = MODE_CLASSES.get(case.mode)
    if cls is None:
        raise UsageError(f"mode {case.mode} is not available in this version of the harness",
                         f"available: {', '.join(MODE_CLASSES)}")
    server = cls(log_dir, port=port, workers=case.workers, schedule=case.schedule or "rr", threads=case.threads,
               queue_limit=case.queue_limit, balance=case.balance or "round_robin",
               uv_threadpool_size=case.uv_threadpool_size, shutdown_timeout_s=case.shutdown_timeout_s)
    server.cpus = cpus
    server.app = case.app
    if case.app and getattr(case, "preload", False):  # each app process writes its figures here (harness.preload)
        server.preload_dir = Path(os.path.abspath(log_dir)) / "preload"
        server.preload_dir.mkdir(parents=True, exist_ok=True)
    if node is not None:
        server.node = node
    return server


__all__ = ["MODE_CLASSES", "ProcInfo", "Server", "make_server"]
