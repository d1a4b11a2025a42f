"""Live teaching mode: one server of a scenario, Locust's web UI to drive it by hand, and
the server's own per-worker counts and rates on the terminal while it runs.

Nothing is recorded: a demo is for watching (the scenario's `harness run` measures). The
server and Locust are started like a run's (own process groups, in the ledger, loopback
only unless `--web-host` names another address and `--allow-remote` allows it) and stopped
on every way out: Ctrl-C, SIGTERM, an error, or `for_s` elapsed.

A demo runs exactly the case it names: the server (mode, workers, schedule, Node version:
the one the scenario asks for, fetched like a run's, and checked against what every worker
reports in /metrics), the workload and the load (users, keep-alive or a new connection per
request). `choices()` lists what a scenario can show; `--list` prints it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness import procs
from harness.errors import RunFailed, UsageError
from harness.load.runner import LOCUSTFILE
from harness.net import check_host_allowed, free_port, http_get
from harness.run import (
    ACTIVE_DIR,
    check_modes_available,
    check_services_available,
    clean_up_after_killed_runs,
    resolve_nodes,
)
from harness.scenario import Case, Scenario
from harness.servers import make_server
from harness.servers.base import Server
from harness.servers.redis import RedisService

REFRESH_S = 1.0
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class Choice:
    """One thing a demo can show: a server, a workload and a load of the scenario, by label."""

    server: str
    work: str
    load: str
    case: Case

    @property
    def label(self) -> str:
        return f"{self.server} {self.work} {self.load}"

    def describe(self) -> str:
        """What runs, in words: mode, Node, users, keep-alive or not."""
        c = self.case
        node = f"Node {c.node_version}" if c.node_version else "the machine's Node"
        if c.load == "open":
            load = f"an open load of {c.target_rps:g} requests/s"
        else:
            load = f"{c.users} user{'' if c.users == 1 else 's'}"
        conn = (
            "keep-alive (each user's connection is placed once)"
            if c.keepalive
            else "a new connection for every request (every request is placed anew)"
        )
        return f"{c.mode}, {c.workers} process(es), {node}; {c.path}, {load}, {conn}"


def _work_label(case: Case) -> str:
    return case.path + (f" +probe{case.probe_path}" if case.probe_path else "")


def choices(scenario: Scenario) -> list[Choice]:
    """Every distinct (server, workload, load) of the scenario, in the scenario's order."""
    seen: dict[str, Choice] = {}
    for case in scenario.cases():
        server = case.condition.split(" ")[0]
        work = _work_label(case)
        rest = case.condition[len(server) + 1 + len(work) + 1 :]
        choice = Choice(server, work, rest.split(" ")[0], case)
        seen.setdefault(choice.label, choice)
    return list(seen.values())


def switch_hint(scenario: Scenario, name: str | None = None) -> str:
    """How to ask for each choice on the command line."""
    name = name or scenario.name
    options = choices(scenario)
    several_works = len({c.work for c in options}) > 1
    return "\n".join(
        f"  harness demo {name} --server {c.server}"
        + (f" --work '{c.work.split(' ')[0]}'" if several_works else "")
        + f" --load {c.load}"
        for c in options
    )


def pick_case(
    scenario: Scenario, server_label: str | None, load_label: str | None = None, work: str | None = None
) -> Case:
    """The case of the scenario with that server, load and workload (each by label; None: the
    first the scenario has)."""
    return pick(scenario, server_label, load_label, work).case


def pick(
    scenario: Scenario, server_label: str | None, load_label: str | None = None, work: str | None = None
) -> Choice:
    """The choice of the scenario with that server, load and workload (see pick_case)."""
    options = choices(scenario)
    picked = [
        c
        for c in options
        if (server_label is None or c.server == server_label)
        and (load_label is None or c.load == load_label)
        and (work is None or c.work == work or c.work.split(" ")[0] == work or c.case.route == work)
    ]
    if picked:
        return picked[0]
    servers = ", ".join(dict.fromkeys(c.server for c in options))
    loads = ", ".join(dict.fromkeys(c.load for c in options))
    asked = " ".join(f"{k} {v!r}" for k, v in (("server", server_label), ("load", load_label), ("work", work)) if v)
    raise UsageError(
        f"scenario {scenario.name} has no {asked}",
        f"choose a server ({servers}) and a load ({loads}); `harness demo {scenario.name} --list` "
        "shows every combination",
    )


def locust_command(case: Case, url: str, web_port: int, raw_dir: Path, web_host: str = "127.0.0.1") -> list[str]:
    """Locust with its web UI, started at the case's load; the case's path, name, keep-alive
    and open rate are options on the command line (stale environment variables cannot win)."""
    users = case.users + (1 if case.probe_path else 0)
    per_user_rps = repr(case.target_rps / case.users) if case.load == "open" and case.target_rps else ""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--host",
        url,
        "--web-host",
        web_host,
        "--web-port",
        str(web_port),
        "--autostart",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--logfile",
        str(raw_dir / "locust.log"),
        "--harness-path",
        case.path,
        "--harness-name",
        case.route,
        "--harness-warmup-s",
        "0",
        "--harness-open-rps",
        per_user_rps,
        "--harness-max-in-flight",
        str(case.max_in_flight or 1000),
        "--harness-keepalive",
        "1" if case.keepalive else "0",
    ]


def reported_node_versions(metrics: list[dict[str, Any]]) -> set[str]:
    """The Node versions the server's workers report (process.version, e.g. "v22.12.0")."""
    return {str(m.get("node_version")) for m in metrics}


def check_node(case: Case, metrics: list[dict[str, Any]], expected: str) -> str:
    """The one Node version every worker reports; RunFailed if it is not the one resolved for the case."""
    versions = reported_node_versions(metrics)
    want = "v" + expected.lstrip("v")
    if versions != {want}:
        raise RunFailed(
            f"{case.condition}: the server's workers report Node {', '.join(sorted(versions)) or 'nothing'}, "
            f"not {want}",
            "the demo stops rather than show another server than it names",
        )
    return want


def _key(m: dict[str, Any]) -> str:
    return f"{m.get('worker_id')}/{m.get('pid')}"


def worker_rows(
    metrics: list[dict[str, Any]],
    route: str,
    since: dict[str, int],
    last: dict[str, int] | None = None,
    interval_s: float | None = None,
) -> list[dict[str, Any]]:
    """Per worker, from each worker's own /metrics (the server's view, not the client's):
    requests of the route since the demo started and their share; requests per second over
    the last interval (`last`: the counts then) and that interval's share, so a change of
    load made in Locust's UI shows at once; the event loop's delay; the process's RSS (a pool's
    threads share their process's)."""
    rows = []
    for m in metrics:
        total = int(m.get("requests_by_route", {}).get(route, 0))
        rate = None
        if last is not None and interval_s:
            rate = max(0, total - last.get(_key(m), total)) / interval_s
        rows.append(
            {
                "worker_id": str(m.get("worker_id")),
                "pid": m.get("pid"),
                "key": _key(m),
                "count": total,
                "requests": total - since.get(_key(m), 0),
                "rps": rate,
                "event_loop_delay_p99_ms": (m.get("event_loop_delay_ms") or {}).get("p99"),
                "rss_mb": ((m.get("memory_bytes") or {}).get("rss") or 0) / 2**20 or None,
            }
        )
    served = sum(r["requests"] for r in rows)
    rates = sum(r["rps"] or 0.0 for r in rows)
    for r in rows:
        r["share"] = r["requests"] / served if served else 0.0
        r["rps_share"] = (r["rps"] or 0.0) / rates if rates else 0.0
    return sorted(rows, key=lambda r: (len(r["worker_id"]), r["worker_id"]))


def spread(rows: list[dict[str, Any]]) -> float | None:
    """max/min of the workers' request rates over the last interval (None: a worker served none, or no rate yet)."""
    rates = [r["rps"] for r in rows if r["rps"] is not None]
    if len(rates) < 2 or min(rates) <= 0:
        return None
    return max(rates) / min(rates)


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, caption=_spread_text(rows))
    for name in (
        "worker",
        "pid",
        "req/s now",
        "share now",
        "requests since start",
        "share",
        "event-loop delay p99 ms",
        "RSS MB",
    ):
        table.add_column(name, justify="right")
    for r in rows:
        delay = r["event_loop_delay_p99_ms"]
        table.add_row(
            r["worker_id"],
            str(r["pid"]),
            "–" if r["rps"] is None else f"{r['rps']:,.0f}",
            f"{r['rps_share']:.0%}",
            f"{r['requests']:,}",
            f"{r['share']:.1%}",
            "–" if delay is None else f"{delay:.1f}",
            "–" if r["rss_mb"] is None else f"{r['rss_mb']:.0f}",
        )
    return table


def _spread_text(rows: list[dict[str, Any]]) -> str:
    total = sum(r["rps"] or 0.0 for r in rows)
    s = spread(rows)
    return f"total {total:,.0f} req/s; busiest/least busy worker now: " + ("–" if s is None else f"{s:.2f}")


def run_demo(
    scenario: Scenario,
    results_dir: Path,
    console: Console,
    server_label: str | None = None,
    web_port: int | None = None,
    for_s: float | None = None,
    on_ready: Callable[[str, str], None] | None = None,
    load_label: str | None = None,
    work: str | None = None,
    web_host: str = "127.0.0.1",
    allow_remote: bool = False,
) -> None:
    """Start the chosen server and Locust's web UI (load starts at the case's users; change it
    in the UI), show per-worker rates and counts until Ctrl-C / SIGTERM or `for_s`."""
    check_host_allowed(web_host, "--web-host", allow_remote)
    choice = pick(scenario, server_label, load_label, work)
    case = choice.case
    check_modes_available({case.mode})
    check_services_available(set(case.services))
    node = resolve_nodes([case], lambda m: console.print(f"[yellow]note:[/] {m}")).get(case.node_version or "machine")
    clean_up_after_killed_runs(results_dir, lambda m: console.print(f"[yellow]note:[/] {m}"))
    web_port = web_port or free_port()
    with procs.contained(results_dir / ACTIVE_DIR) as unit, contextlib.ExitStack() as stack:
        raw = unit.temp_dir("harness-demo-")
        server: Server = make_server(case, raw, node=node["binary"] if node else None)
        if "redis" in case.services:  # the shared-state demo's store, started like a run's
            server.extra_env = stack.enter_context(RedisService(raw)).environment()
        with server:
            reported = check_node(case, server.worker_metrics(), node["version"]) if node else "?"
            shown = web_host if web_host not in WILDCARD_HOSTS else "<this machine's address>"
            ui = f"http://{shown}:{web_port}"
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            for stale in (
                "HARNESS_OUT",
                "HARNESS_PATH",
                "HARNESS_NAME",
                "HARNESS_OPEN_RPS",
                "HARNESS_KEEPALIVE",
                "HARNESS_PROBE_PATH",
                "HARNESS_PROBE_RPS",
                "HARNESS_WINDOW_OUT",
                "HARNESS_WORKER_OUT",
            ):
                env.pop(stale, None)
            if case.probe_path:
                env.update(HARNESS_PROBE_PATH=case.probe_path, HARNESS_PROBE_RPS=repr(case.probe_rps or 20.0))
            locust = procs.spawn(locust_command(case, server.url, web_port, raw, web_host), raw / "locust.out", env=env)
            try:
                _wait_for_ui(web_host, web_port, locust, raw)
                console.print(f"[bold]{choice.label}[/]: {choice.describe()}")
                if scenario.what_it_shows:
                    console.print(f"what this demo shows: {scenario.what_it_shows}", highlight=False)
                console.print(f"the server's workers report Node {reported}; it listens at {server.url}")
                console.print(f"Locust's web UI: [bold]{ui}[/] (change users there; Ctrl-C here stops everything)")
                console.print(f"other servers and loads of this demo:\n{switch_hint(scenario)}", highlight=False)
                if on_ready:
                    on_ready(ui, server.url)
                _watch(server, case, console, for_s)
            finally:
                procs.stop(locust, timeout_s=10)


def _wait_for_ui(host: str, port: int, locust: Any, raw: Path, timeout_s: float = 30.0) -> None:
    probe = "127.0.0.1" if host in WILDCARD_HOSTS else host.strip("[]")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if locust.poll() is not None:
            raise RunFailed(
                f"Locust exited with code {locust.returncode} before its web UI came up", f"see {raw / 'locust.out'}"
            )
        try:
            if http_get(probe, port, "/", timeout_s=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RunFailed(f"Locust's web UI did not answer on port {port} within {timeout_s:.0f} s")


def _watch(server: Server, case: Case, console: Console, for_s: float | None) -> None:
    start = time.monotonic()
    baseline = {_key(m): int(m.get("requests_by_route", {}).get(case.route, 0)) for m in server.worker_metrics()}
    last, last_t = dict(baseline), start
    title = f"{case.condition}: each worker's own counts (req/s over the last second; requests since the start)"
    live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
    if live:
        live.start()
    try:
        while for_s is None or time.monotonic() - start < for_s:
            time.sleep(REFRESH_S)
            now = time.monotonic()
            rows = worker_rows(server.worker_metrics(), case.route, baseline, last, now - last_t)
            last, last_t = {r["key"]: r["count"] for r in rows}, now
            if live:
                live.update(_table(title, rows))
            else:  # not a terminal (a log, a test): one line per refresh
                console.print(
                    f"{now - start:5.0f} s  "
                    + "  ".join(
                        f"w{r['worker_id']}={r['requests']} ({r['share']:.0%}) {r['rps'] or 0:.0f}/s" for r in rows
                    )
                    + f"  | {_spread_text(rows)}",
                    highlight=False,
                )
    finally:
        if live:
            live.stop()
