"""Sample CPU and memory of every process that matters, at a fixed interval.

The sampler runs in a thread while a case runs. Each tick it asks its sources which
processes exist right now (a cluster may re-fork a worker mid-run), reads psutil's
cumulative CPU times and RSS for each, and derives CPU % from the change since the last
tick (100 % = one core). It also records the whole machine's busy and steal time,
because on a shared 2-core machine the load generator and the server compete.

window_cpu_by_pid reads the samples back: each process's average CPU over a window (for
run.py's generator verdict when a case ends, and for harness.analysis afterwards).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from harness.servers.base import ProcInfo

if TYPE_CHECKING:
    import pandas as pd

Source = Callable[[], Iterable[ProcInfo]]

SAMPLE_COLUMNS = [
    "ts",  # Unix time of the sample (s)
    "pid",  # process id; 0 for the whole-machine row
    "role",  # primary | worker | generator | machine
    "cpu_pct",  # CPU since the previous sample, % of one core (machine row: sum over cores); empty on a
    # process's first sample, which only sets the baseline
    "cpu_s",  # cumulative user+system CPU seconds of the process (machine row: empty)
    "rss_bytes",  # resident memory (machine row: used memory)
    "num_threads",  # threads of the process (machine row: empty)
    "steal_pct",  # machine row only: CPU stolen by the hypervisor, % of one core summed over cores
]


# Processes whose threads are sampled one by one: the server's (pool threads, libuv
# threads, V8's helpers), so a report can show which threads did the work.
THREAD_ROLES = ("worker", "primary", "proxy", "pm2-daemon")


@dataclass
class _Tracked:
    proc: psutil.Process
    last_cpu_s: float | None = None
    last_ts: float | None = None


class Sampler:
    """Collects rows (see SAMPLE_COLUMNS) from start() to stop()."""

    def __init__(
        self, sources: list[Source], interval_s: float = 0.5, thread_roles: tuple[str, ...] = THREAD_ROLES
    ) -> None:
        self.sources = sources
        self.interval_s = interval_s
        self.thread_roles = thread_roles
        self.rows: list[dict] = []
        self.thread_rows: list[dict] = []
        self._thread_names: dict[tuple[int, int], str] = {}
        self._tracked: dict[int, _Tracked] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cores = psutil.cpu_count() or 1
        self._machine_primed = False
        self.errors: list[str] = []

    def start(self) -> None:
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
        if not self._machine_primed:  # the first call only sets psutil's baseline
            self._machine_primed = True
            return
        mem = psutil.virtual_memory()
        self.rows.append(
            {
                "ts": now,
                "pid": 0,
                "role": "machine",
                # busy = not idle, not waiting for I/O, not stolen by the hypervisor
                "cpu_pct": (100.0 - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "steal", 0.0)) * self._cores,
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
                tracked = _Tracked(psutil.Process(info.pid))
                self._tracked[info.pid] = tracked
            proc = tracked.proc
            with proc.oneshot():
                times = proc.cpu_times()
                cpu_s = times.user + times.system
                rss = proc.memory_info().rss
                threads = proc.num_threads()
                per_thread = proc.threads() if info.role in self.thread_roles else []
        except psutil.Error:
            return None
        for t in per_thread:
            self.thread_rows.append(
                {
                    "ts": now,
                    "pid": info.pid,
                    "role": info.role,
                    "tid": t.id,
                    "thread_name": self._thread_name(info.pid, t.id),
                    "cpu_s": t.user_time + t.system_time,
                }
            )
        cpu_pct = None
        if tracked.last_ts is not None and tracked.last_cpu_s is not None and now > tracked.last_ts:
            cpu_pct = 100.0 * (cpu_s - tracked.last_cpu_s) / (now - tracked.last_ts)
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

    def _thread_name(self, pid: int, tid: int) -> str:
        """The kernel's name of a thread (node names its own: libuv-worker, V8 helpers ...)."""
        key = (pid, tid)
        if key not in self._thread_names:
            try:
                self._thread_names[key] = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            except OSError:
                self._thread_names[key] = ""
        return self._thread_names[key]


def window_cpu_by_pid(samples: pd.DataFrame, roles: tuple[str, ...]) -> pd.Series:
    """Average CPU of each process of the given roles over the sampled window, % of one
    core: the change of its cumulative CPU seconds over the time the samples span."""
    import pandas as pd  # a sampler never needs it: only run.py's verdict and harness.analysis call this

    if samples.empty:
        return pd.Series(dtype=float)
    span = samples["ts"].max() - samples["ts"].min()
    sel = samples[samples["role"].isin(roles)]
    if sel.empty or not span > 0:
        return pd.Series(dtype=float)
    per_pid = sel.sort_values("ts").groupby("pid")["cpu_s"].agg(["first", "last"])
    return (per_pid["last"] - per_pid["first"]) / span * 100
