"""Sample CPU and memory of every process that matters, at a fixed interval.

The sampler runs in a thread while a case runs. Each tick it asks its sources which
processes exist right now (a cluster may re-fork a worker mid-run), reads psutil's
cumulative CPU times and RSS for each, and derives CPU % from the change since the last
tick (100 % = one core). It also records the whole machine's busy and steal time,
because on a shared 2-core machine the load generator and the server compete.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import psutil

from harness.servers.base import ProcInfo

Source = Callable[[], Iterable[ProcInfo]]

SAMPLE_COLUMNS = [
    "ts",  # Unix time of the sample (s)
    "pid",  # process id; 0 for the whole-machine row
    "role",  # primary | worker | generator | machine
    "cpu_pct",  # CPU since the previous sample, % of one core (machine row: sum over cores)
    "cpu_s",  # cumulative user+system CPU seconds of the process (machine row: empty)
    "rss_bytes",  # resident memory (machine row: used memory)
    "num_threads",  # threads of the process (machine row: empty)
    "steal_pct",  # machine row only: CPU stolen by the hypervisor, % of one core summed over cores
]


@dataclass
class _Tracked:
    proc: psutil.Process
    last_cpu_s: float
    last_ts: float


class Sampler:
    """Collects rows (see SAMPLE_COLUMNS) from start() to stop()."""

    def __init__(self, sources: list[Source], interval_s: float = 0.5) -> None:
        self.sources = sources
        self.interval_s = interval_s
        self.rows: list[dict] = []
        self._tracked: dict[int, _Tracked] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cores = psutil.cpu_count() or 1
        self.errors: list[str] = []

    def start(self) -> None:
        psutil.cpu_times_percent(interval=None)  # prime the machine-wide counters
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[dict]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.sample()
        return self.rows

    def _loop(self) -> None:
        next_at = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self.sample()
            except Exception as exc:  # a sampling fault must not kill the run; it is recorded
                self.errors.append(f"{type(exc).__name__}: {exc}")
            next_at += self.interval_s

    def sample(self) -> None:
        now = time.time()
        seen: set[int] = set()
        for source in self.sources:
            try:
                infos = list(source())
            except Exception as exc:
                self.errors.append(f"source failed: {exc}")
                continue
            for info in infos:
                if info.pid in seen:
                    continue
                seen.add(info.pid)
                row = self._sample_process(info, now)
                if row:
                    self.rows.append(row)
        t = psutil.cpu_times_percent(interval=None)
        mem = psutil.virtual_memory()
        self.rows.append(
            {
                "ts": now,
                "pid": 0,
                "role": "machine",
                "cpu_pct": (100.0 - t.idle - getattr(t, "iowait", 0.0)) * self._cores,
                "cpu_s": None,
                "rss_bytes": mem.used,
                "num_threads": None,
                "steal_pct": getattr(t, "steal", 0.0) * self._cores,
            }
        )

    def _sample_process(self, info: ProcInfo, now: float) -> dict | None:
        tracked = self._tracked.get(info.pid)
        try:
            if tracked is None:
                proc = psutil.Process(info.pid)
                tracked = _Tracked(proc, 0.0, proc.create_time())
                self._tracked[info.pid] = tracked
            proc = tracked.proc
            with proc.oneshot():
                times = proc.cpu_times()
                cpu_s = times.user + times.system
                rss = proc.memory_info().rss
                threads = proc.num_threads()
        except psutil.Error:
            return None
        elapsed = now - tracked.last_ts
        cpu_pct = 100.0 * (cpu_s - tracked.last_cpu_s) / elapsed if elapsed > 0 else 0.0
        tracked.last_cpu_s, tracked.last_ts = cpu_s, now
        return {
            "ts": now,
            "pid": info.pid,
            "role": info.role,
            "cpu_pct": cpu_pct,
            "cpu_s": cpu_s,
            "rss_bytes": rss,
            "num_threads": threads,
            "steal_pct": None,
        }
