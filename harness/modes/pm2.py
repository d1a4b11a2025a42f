"""pm2: `workers` instances of the server in PM2's cluster mode (PM2's daemon is the primary)."""

from __future__ import annotations

from harness.modes.base import Mode


class Pm2(Mode):
    name = "pm2"
    order = 60
    takes = ("workers",)
    runs_app = True
    events = ("kill-worker", "reload", "restart")
    colors = {"pm2": "#D55E00"}  # vermillion
    places_connections = True

    def server_class(self) -> type:
        from harness.servers.pm2 import Pm2Server

        return Pm2Server


MODE = Pm2()
