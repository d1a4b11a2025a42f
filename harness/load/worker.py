"""`harness worker`: Locust workers with the harness's locustfile, for a master elsewhere.

A run started with `harness run ... --expect-workers N` starts Locust's master alone for
every case and waits for N workers. On each load machine, `harness worker --master
HOST:PORT` starts Locust worker processes that connect to it; the master sends them what
to request (path, warm-up, open-load rate) with its spawn message, and they send back, with
every stats report, the hooks' histograms and per-worker counts, which the master merges.

A worker waits for its master as long as it takes (start the workers first, or the run
first: either order works within the master's --worker-wait-s). A master quits at the end
of its case and its workers quit with it; since every case has a master of its own, this
command starts the workers again for the next case, `cases` times (0: until Ctrl-C).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness import procs
from harness.errors import RunFailed
from harness.load.runner import LOCUSTFILE


def worker_command(master_host: str, master_port: int, processes: int) -> list[str]:
    """argv of one Locust worker run (with `processes` > 1, Locust forks that many)."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--loglevel",
        "INFO",
        *(["--processes", str(processes)] if processes > 1 else []),
    ]


def run_workers(
    master_host: str,
    master_port: int,
    out_dir: Path,
    processes: int = 1,
    cases: int = 0,
    notice: Callable[[str], None] = lambda _: None,
) -> int:
    """Serve `cases` cases of the master (0: until interrupted).

    Each Locust worker keeps in out_dir/worker-<client id>.json the totals it sent to
    the master. Returns the number of cases served; raises RunFailed when the very first
    connection fails (nothing answered at master_host:master_port)."""
    import os

    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HARNESS_WORKER_OUT=str(out_dir), PYTHONUNBUFFERED="1")
    served = 0
    while cases == 0 or served < cases:
        log = out_dir / f"locust-worker-{os.getpid()}-{served + 1}.log"
        started = time.monotonic()
        proc = procs.spawn(worker_command(master_host, master_port, processes), log, env=env)
        try:
            code = proc.wait()
        finally:
            procs.stop(proc, timeout_s=10)
        if code != 0:
            if served == 0:
                raise RunFailed(
                    f"the Locust worker exited with code {code} after {time.monotonic() - started:.0f} s "
                    f"without serving a case (is a master listening on {master_host}:{master_port}?)",
                    f"see {log}",
                )
            notice(f"the Locust worker exited with code {code}: no more cases ({log})")
            break
        served += 1
        notice(f"case {served} done; totals in {out_dir}")
    return served
