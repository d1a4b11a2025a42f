"""One HTTP process that runs /cpu on worker threads: a piscina pool, or a new thread per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.scenario import MAX_THREADS, machine_cores, whole
from harness.servers.base import server_dir
from harness.servers.node import SingleServer

# spawn-per-request: at most this many threads alive at once, each a whole V8 isolate
# (about 10 MB); past it /cpu answers 503 instead of exhausting the machine's memory.
MAX_LIVE_THREADS = 256


class PoolServer(SingleServer):
    """mode pool: the event loop serves every route; /cpu runs on a piscina pool of exactly
    `threads` worker threads with at most `queue_limit` tasks waiting (None: no limit).
    A full queue answers 503 with the reason. Every /cpu response names its thread (x-thread-id)."""

    mode = "pool"

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        threads: int | None = None,
        queue_limit: int | None = None,
        shutdown_timeout_s: float = 5.0,
        uv_threadpool_size: int | None = None,
        **_: Any,
    ) -> None:
        self.threads = whole(machine_cores() if threads is None else threads, "threads", 1, MAX_THREADS)
        self.queue_limit = None if queue_limit is None else whole(queue_limit, "queue_limit", 0, 1_000_000)
        super().__init__(log_dir, port, shutdown_timeout_s=shutdown_timeout_s, uv_threadpool_size=uv_threadpool_size)

    @classmethod
    def missing(cls) -> list[str]:
        problems = super().missing()
        if not (server_dir() / "node_modules" / "piscina" / "package.json").is_file():
            problems.append("piscina is not installed in server/node_modules (run `make setup` (npm ci in server/))")
        return problems

    def command(self) -> list[str]:
        queue = "none" if self.queue_limit is None else str(self.queue_limit)
        return [
            self.node,
            "index.js",
            "--mode",
            "pool",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--queue-limit",
            queue,
            "--shutdown-timeout-ms",
            str(int(self.shutdown_timeout_s * 1000)),
        ]


class SpawnPerRequestServer(SingleServer):
    """mode spawn-per-request (the anti-pattern): as pool, but every /cpu request starts a
    new worker thread and terminates it after the answer, so x-thread-id never repeats."""

    mode = "spawn-per-request"

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        shutdown_timeout_s: float = 5.0,
        uv_threadpool_size: int | None = None,
        max_live_threads: int = MAX_LIVE_THREADS,
        **_: Any,
    ) -> None:
        self.max_live_threads = whole(max_live_threads, "max_live_threads", 1, 100_000)
        super().__init__(log_dir, port, shutdown_timeout_s=shutdown_timeout_s, uv_threadpool_size=uv_threadpool_size)

    def command(self) -> list[str]:
        return [
            self.node,
            "index.js",
            "--mode",
            "spawn-per-request",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--max-live-threads",
            str(self.max_live_threads),
            "--shutdown-timeout-ms",
            str(int(self.shutdown_timeout_s * 1000)),
        ]
