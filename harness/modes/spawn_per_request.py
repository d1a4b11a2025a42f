"""spawn-per-request: one Node process that starts a new Worker for every /cpu request (the
anti-pattern the pool_vs_spawn demo measures against a pool)."""

from __future__ import annotations

from harness.modes.base import Mode
from harness.modes.pool import THREAD_ROUTES


class SpawnPerRequest(Mode):
    name = "spawn-per-request"
    order = 40
    events = ("sigterm",)
    thread_routes = THREAD_ROUTES
    colors = {"spawn-per-request": "#882255"}  # wine

    def server_class(self) -> type:
        from harness.servers.pool import SpawnPerRequestServer

        return SpawnPerRequestServer


MODE = SpawnPerRequest()
