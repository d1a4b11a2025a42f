"""Live teaching mode: one server of a scenario, Locust's web UI to drive it by hand, and
the server's own per-worker counts on the terminal while it runs.

Nothing is recorded: a demo is for watching (the scenario's `harness run` measures). The
server and Locust are started like a run's (own process groups, in the ledger, loopback
only) and stopped on every way out: Ctrl-C, SIGTERM, an error, or `for_s` elapsed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness import procs
from harness.errors import RunFailed, UsageError
from harness.load.runner import LOCUSTFILE
from harness.run import ACTIVE_DIR, check_modes_available, check_services_available, clean_up_after_killed_runs
from harness.scenario import Case, Scenario
from harness.servers import make_server
from harness.servers.base import Server, free_port, http_get
from harness.servers.redis import RedisService

REFRESH_S = 1.0


def pick_case(scenario: Scenario, server_label: str | None) -> Case:
    """The first case of the scenario whose server is `server_label` (default: the first)."""
    cases = scenario.cases()
    labels = list(dict.fromkeys(c.condition.split(" ")[0] for c in cases))
    if server_label is None:
        return cases[0]
    for c in cases:
        if c.condition.split(" ")[0] == server_label:
            return c
    raise UsageError(f"scenario {scenario.name} has no server {server_label!r}", f"choose one of: {', '.join(labels)}")


def locust_command(case: Case, url: str, web_port: int, raw_dir: Path) -> list[str]:
    users = case.users + (1 if case.probe_path else 0)
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url, "--web-host", "127.0.0.1",
            "--web-port", str(web_port), "--autostart", "--users", str(users), "--spawn-rate", str(users),
            "--logfile", str(raw_dir / "locust.log")]


def worker_rows(metrics: list[dict[str, Any]], route: str, since: dict[str, int]) -> list[dict[str, Any]]:
    """Per worker: requests of the route since the demo started, its share, and its event
    loop's delay, from each worker's own /metrics (the server's view, not the client's)."""
    rows = []
    for m in metrics:
        wid = str(m.get("worker_id"))
        total = int(m.get("requests_by_route", {}).get(route, 0))
        rows.append({"worker_id": wid, "pid": m.get("pid"), "requests": total - since.get(f"{wid}/{m.get('pid')}", 0),
                     "event_loop_delay_p99_ms": (m.get("event_loop_delay_ms") or {}).get("p99")})
    served = sum(r["requests"] for r in rows)
    for r in rows:
        r["share"] = r["requests"] / served if served else 0.0
    return sorted(rows, key=lambda r: r["worker_id"])


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for name in ("worker", "pid", "requests", "share", "event-loop delay p99 ms"):
        table.add_column(name, justify="right")
    for r in rows:
        delay = r["event_loop_delay_p99_ms"]
        table.add_row(r["worker_id"], str(r["pid"]), f"{r['requests']:,}", f"{r['share']:.1%}",
                      "–" if delay is None else f"{delay:.1f}")
    return table


def run_demo(scenario: Scenario, results_dir: Path, console: Console, server_label: str | None = None,
             web_port: int | None = None, for_s: float | None = None,
             on_ready: Callable[[str, str], None] | None = None) -> None:
    """Start the chosen server and Locust's web UI (load starts at the scenario's users;
    change it in the UI), show per-worker counts until Ctrl-C / SIGTERM or `for_s`."""
    case = pick_case(scenario, server_label)
    check_modes_available({case.mode})
    check_services_available(set(case.services))
    clean_up_after_killed_runs(results_dir, lambda m: console.print(f"[yellow]note:[/] {m}"))
    web_port = web_port or free_port()
    with procs.contained(results_dir / ACTIVE_DIR) as unit, contextlib.ExitStack() as stack:
        raw = unit.temp_dir("harness-demo-")
        server: Server = make_server(case, raw)
        if "redis" in case.services:  # the shared-state demo's store, started like a run's
            server.extra_env = stack.enter_context(RedisService(raw)).environment()
        with server:
            ui = f"http://127.0.0.1:{web_port}"
            env = dict(os.environ, HARNESS_PATH=case.path, HARNESS_NAME=case.route, HARNESS_WARMUP_S="0",
                       HARNESS_KEEPALIVE="1" if case.keepalive else "0", PYTHONUNBUFFERED="1")
            env.pop("HARNESS_OUT", None)
            if case.probe_path:
                env.update(HARNESS_PROBE_PATH=case.probe_path, HARNESS_PROBE_RPS=repr(case.probe_rps or 20.0))
            locust = procs.spawn(locust_command(case, server.url, web_port, raw), raw / "locust.out", env=env)
            try:
                _wait_for_ui(web_port, locust, raw)
                console.print(f"[bold]{case.condition}[/] at {server.url}; Locust's web UI: [bold]{ui}[/] "
                              "(change users there; Ctrl-C here stops everything)")
                if on_ready:
                    on_ready(ui, server.url)
                _watch(server, case, console, for_s)
            finally:
                procs.stop(locust, timeout_s=10)


def _wait_for_ui(port: int, locust: Any, raw: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if locust.poll() is not None:
            raise RunFailed(f"Locust exited with code {locust.returncode} before its web UI came up",
                            f"see {raw / 'locust.out'}")
        try:
            if http_get("127.0.0.1", port, "/", timeout_s=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RunFailed(f"Locust's web UI did not answer on port {port} within {timeout_s:.0f} s")


def _watch(server: Server, case: Case, console: Console, for_s: float | None) -> None:
    start = time.monotonic()
    baseline = {f"{m.get('worker_id')}/{m.get('pid')}": int(m.get("requests_by_route", {}).get(case.route, 0))
                for m in server.worker_metrics()}
    title = f"{case.condition}: requests per worker since the demo started (the server's own counts)"
    live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
    if live:
        live.start()
    try:
        while for_s is None or time.monotonic() - start < for_s:
            rows = worker_rows(server.worker_metrics(), case.route, baseline)
            if live:
                live.update(_table(title, rows))
            else:  # not a terminal (a log, a test): one line per refresh
                console.print(f"{time.monotonic() - start:5.0f} s  " + "  ".join(
                    f"w{r['worker_id']}={r['requests']} ({r['share']:.0%})" for r in rows))
            time.sleep(REFRESH_S)
    finally:
        if live:
            live.stop()
