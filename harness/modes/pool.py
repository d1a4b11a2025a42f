"""pool: one Node process whose /cpu work runs on a piscina pool of `threads` worker_threads
(at most `queue_limit` tasks waiting before requests get 503)."""

from __future__ import annotations

from typing import Any

from harness.modes.base import Mode

# The reference server's routes that the pool modes run on worker threads (server/offload.js,
# called from app.js); every other route runs on the event loop or libuv.
THREAD_ROUTES = ("/cpu",)


class Pool(Mode):
    name = "pool"
    order = 30
    takes = ("threads", "queue_limit")
    events = ("sigterm",)
    thread_routes = THREAD_ROUTES
    colors = {"pool": "#009E73"}  # bluish green

    def label(self, spec: Any) -> str:
        return f"pool-{spec.threads}t" + (f"-q{spec.queue_limit}" if spec.queue_limit is not None else "")

    def server_class(self) -> type:
        from harness.servers.pool import PoolServer

        return PoolServer


MODE = Pool()
