"""cluster: a primary and `workers` worker processes sharing one port (node:cluster), the
primary handing out connections (schedule rr) or the kernel (schedule none)."""

from __future__ import annotations

from typing import Any

from harness.modes.base import Mode


class Cluster(Mode):
    name = "cluster"
    order = 20
    takes = ("workers", "schedule")
    runs_app = True
    events = ("kill-worker", "sigterm")
    colors = {"cluster-rr": "#E69F00", "cluster-none": "#56B4E9"}  # orange, sky blue
    places_connections = True

    def label(self, spec: Any) -> str:
        return f"cluster-{spec.schedule}-{spec.workers}w"

    def color_key(self, schedule: Any = None) -> str:
        return f"cluster-{schedule}" if isinstance(schedule, str) and schedule else self.name

    def server_class(self) -> type:
        from harness.servers.node import ClusterServer

        return ClusterServer


MODE = Cluster()
