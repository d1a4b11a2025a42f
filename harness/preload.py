"""The preload that gives a user's app per-process figures without its cooperation.

server/preload.js is passed with `node --require ABS_PATH` to every process that runs a
user's app (`harness run app --app FILE`): the single process, each cluster worker (the
harness's wrapper adds it to the workers' execArgv, never to the primary), each nginx
backend, each PM2 instance (the ecosystem's node_args). In each process it counts the HTTP
requests (the harness's readiness probes apart), tags every response with `x-pid` (and
`x-worker-id` where the harness gave the process an id), measures event-loop delay and
utilization, CPU and RSS, and rewrites <folder>/<pid>.json twice a second and at exit.

At the end of the load, while the server still runs, the harness waits (a readiness check
on the files, never a fixed sleep) until every live process has rewritten its file after
the load stopped, reads them all, and records one row per process in the `processes`
table. Locust stops such a case gracefully (each user's last request is answered), so the
client's count of responses per pid and the process's own count agree exactly.

`--no-preload` (ServerSpec(preload=False)) runs the app without it: no per-process
figures then, and the spread over workers only where the app sends x-worker-id itself.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from harness import bundled
from harness.errors import EnvironmentProblem

PRELOAD_FILE = "preload.js"
DIR_ENV = "HARNESS_PRELOAD_DIR"  # where each process writes <pid>.json
WRAPPER_ENV = "HARNESS_PRELOAD"  # the cluster wrapper (server/index.js) adds it to its workers' execArgv
PROBE_HEADER = "x-harness-probe"  # the harness's readiness probes carry it; the preload counts them apart
WRITE_EVERY_S = 0.5  # preload.js's WRITE_EVERY_MS
# How long to wait for every live process's file to be rewritten after the load stopped:
# a few write periods, for a process whose event loop is busy finishing its last requests.
FRESH_TIMEOUT_S = 5.0


def preload_path() -> Path:
    """The preload every app process loads: the harness's own (its checkout's server/, or the
    copy an installed harness carries as package data: it needs no npm package, so it runs
    from there), never HARNESS_SERVER_DIR's or an A/B run's other side's, so that every side
    is measured by the same instrument. EnvironmentProblem when it is not there."""
    root = bundled.source_tree()
    path = (root / "server" if root is not None else bundled.DATA / "server") / PRELOAD_FILE
    if not path.is_file():
        raise EnvironmentProblem(
            f"the harness's preload {path} is missing: this installation is incomplete",
            "reinstall the harness, or run the app without it: --no-preload",
        )
    return path.resolve()


def node_args(folder: Path | None) -> list[str]:
    """`--require ABS_PATH` when the preload is on (folder given), nothing otherwise."""
    return ["--require", str(preload_path())] if folder is not None else []


def read_all(folder: Path) -> list[dict[str, Any]]:
    """Every process's last document in folder (unreadable or half-made files left out:
    each is written whole and renamed, so a bad one is not the preload's)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
            int(doc["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(doc, dict):
            found.append(doc)
    return found


def collect(folder: Path, live_pids: set[int], since_ts: float, timeout_s: float = FRESH_TIMEOUT_S) -> list[dict]:
    """Every process's figures once each live one has rewritten its file at or after
    since_ts (the load's stop), or after timeout_s with what there is; each document gets
    `fresh` (written at or after since_ts, or at exit). Processes that are gone (a killed
    worker, an app's short-lived child) are taken as they last wrote."""
    deadline = time.monotonic() + timeout_s
    while True:
        docs = read_all(folder)
        stale = [d for d in docs if int(d["pid"]) in live_pids and not _fresh(d, since_ts)]
        if not stale or time.monotonic() >= deadline:
            return [{**d, "fresh": _fresh(d, since_ts)} for d in docs]
        time.sleep(WRITE_EVERY_S / 5)


def _fresh(doc: dict[str, Any], since_ts: float) -> bool:
    written = doc.get("written_ts")
    return bool(doc.get("final")) or (isinstance(written, (int, float)) and written >= since_ts)


def process_rows(case_id: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the `processes` table (columns harness.record.PROCESS_COLUMNS), one per process, by pid."""
    rows = []
    for d in sorted(docs, key=lambda d: int(d["pid"])):
        eld = d.get("event_loop_delay_ms") or {}
        rows.append(
            {
                "case_id": case_id,
                "pid": int(d["pid"]),
                "ppid": d.get("ppid"),
                "worker_id": str(d.get("worker_id") or ""),
                "requests": _count(d.get("requests")),
                "probes": _count(d.get("probes")),
                "responses": _count(d.get("responses")),
                "event_loop_delay_p50_ms": _number(eld.get("p50")),
                "event_loop_delay_p99_ms": _number(eld.get("p99")),
                "event_loop_delay_max_ms": _number(eld.get("max")),
                "event_loop_utilization": _number(d.get("event_loop_utilization")),
                "cpu_user_s": _number(d.get("cpu_user_s")),
                "cpu_system_s": _number(d.get("cpu_system_s")),
                "rss_bytes": _number(d.get("rss_bytes")),
                "started_ts": _number(d.get("started_ts")),
                "written_ts": _number(d.get("written_ts")),
                "final": bool(d.get("final")),
                "fresh": bool(d.get("fresh")),
            }
        )
    return rows


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
