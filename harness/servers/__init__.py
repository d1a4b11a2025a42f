"""Server modes behind one interface (see base.Server)."""

from __future__ import annotations

import os
from pathlib import Path

from harness import modes
from harness.scenario import Case
from harness.servers.base import ProcInfo, Server


def server_class(mode: str) -> type[Server]:
    """The Server class of a mode (harness.modes: each mode names its own); UsageError if unknown."""
    return modes.get(mode).server_class()


def make_server(
    case: Case, log_dir: Path, port: int | None = None, cpus: list[int] | None = None, node: str | None = None
) -> Server:
    """The server a case asks for, not yet started (pinned to `cpus` when given; run by the
    Node binary `node` when given, the machine's otherwise). Every mode's class takes the
    same keywords and ignores those it has no use for."""
    server = server_class(case.mode)(
        log_dir,
        port=port,
        workers=case.workers,
        schedule=case.schedule or "rr",
        threads=case.threads,
        queue_limit=case.queue_limit,
        balance=case.balance or "round_robin",
        uv_threadpool_size=case.uv_threadpool_size,
        shutdown_timeout_s=case.shutdown_timeout_s,
        target=case.target_url,
        probe_path=case.path,
    )
    server.cpus = cpus
    server.app = case.app
    if case.app and getattr(case, "preload", False):  # each app process writes its figures here (harness.preload)
        server.preload_dir = Path(os.path.abspath(log_dir)) / "preload"
        server.preload_dir.mkdir(parents=True, exist_ok=True)
    if node is not None:
        server.node = node
    return server


__all__ = ["ProcInfo", "Server", "make_server", "server_class"]
