"""Server modes behind one interface (see base.Server)."""

from __future__ import annotations

from pathlib import Path

from harness.scenario import Case
from harness.servers.base import ProcInfo, Server
from harness.servers.node import ClusterServer, SingleServer

MODE_CLASSES: dict[str, type[Server]] = {"single": SingleServer, "cluster": ClusterServer}


def make_server(case: Case, log_dir: Path, port: int | None = None) -> Server:
    """The server a case asks for, not yet started."""
    cls = MODE_CLASSES[case.mode]
    return cls(log_dir, port=port, workers=case.workers, schedule=case.schedule or "rr")


__all__ = ["MODE_CLASSES", "ProcInfo", "Server", "make_server"]
