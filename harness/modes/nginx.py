"""nginx: `workers` single-mode Node processes on ports of their own behind a real nginx that
picks one for every request (round_robin or least_conn)."""

from __future__ import annotations

from typing import Any

from harness.modes.base import Mode


class Nginx(Mode):
    name = "nginx"
    order = 50
    takes = ("workers", "balance")
    runs_app = True
    colors = {"nginx": "#CC79A7"}  # reddish purple
    picks_per_request = True

    def label(self, spec: Any) -> str:
        return f"nginx-{spec.balance.replace('_', '-')}-{spec.workers}w"

    def server_class(self) -> type:
        from harness.servers.nginx import NginxServer

        return NginxServer


MODE = Nginx()
