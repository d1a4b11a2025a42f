"""Per-case results: one row per complete case of a stored run (case_results), measurement
window only, and what they are built from: the CPU of each role over the window, the
spread of requests over workers or pool threads, the open-load accounting, whether the
server fell behind an open load's rate (open_load_overloaded), and the client/server count
mismatch. Whether the generator was the limit is the record's (recorded_verdict: run.py
gave it with harness.load.verdict when the case ended); only a case whose record holds
none is judged here, by the same rule.

Warm-up rows stay in the tables, marked, and are left out here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness import modes
from harness.analysis.stats import _ids, _int, _num, jain_index, max_min_ratio
from harness.load.hooks import SIGNIFICANT_DIGITS
from harness.load.verdict import generator_verdict, short_of
from harness.record import NO_WORKER, PROBE_PREFIX, Run
from harness.sampling import window_cpu_by_pid
from harness.scenario import AGGREGATE_NAME

# Client and server counts of one worker's requests may differ by this much (interrupted
# requests at the stop) before it is a warning.
MISMATCH_TOLERANCE = 0.01
# Redis (the shared-state demo's store) counts as the server: serving /count/redis costs its CPU too.
SERVER_ROLES = ("primary", "worker", "proxy", "pm2-daemon", "redis")
# A throughput within 20 % of the calibrated generator ceiling is suspect.
NEAR_CEILING = 0.8
# CPU (% of a core) used by neither the server nor Locust above which the machine was not quiet.
OTHER_CPU_WARN_PCT = 20.0
LATENCY_PRECISION_PCT = 10 ** (-SIGNIFICANT_DIGITS + 2)  # 3 significant digits: within 0.1 %

RESULT_COLUMNS = [
    "case_id",
    "condition",
    "repetition",
    "mode",
    "workers",
    "threads",
    "schedule",
    "balance",
    "uv_threadpool_size",
    "route",
    "path",
    "users",
    "load",
    "target_rps",
    "sent_rps",
    "generator_processes",
    "measured_s",
    "requests",
    "failures",
    "throughput_rps",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p99_9_ms",
    "latency_max_ms",
    "server_cpu_pct",
    "server_cpu_ms_per_request",
    "primary_cpu_pct",
    "proxy_cpu_pct",
    "generator_cpu_pct",
    "machine_cpu_pct",
    "other_cpu_pct",
    "steal_pct",
    "units",
    "workers_seen",
    # a user's app's serving processes beyond those the mode started (it forks workers of its
    # own: node:cluster, child processes), by process, not thread; 0 for the reference server and
    # in a case with events (a replaced worker is a new process), NaN where no response named one
    "unplanned_units",
    "jain_index",
    "max_min_share_ratio",
    "client_server_mismatch",
    "generator_limited",
    "generator_limited_reason",
    "overloaded_reason",
    "keepalive",
    "probe_path",
    "probe_requests",
    "probe_failures",
    "probe_latency_p50_ms",
    "probe_latency_p99_ms",
    "probe_latency_max_ms",
    "event_loop_delay_p99_ms",
    "event_loop_utilization",
    # resident memory of the server's processes added up (median over the window's samples), MB
    "server_rss_mb",
    # open load, accounted by due time (see open_load_accounting)
    "due",
    "sent",
    "dropped",
    "completed_rps",
    "send_lag_p99_ms",
    "failure_latency_p99_ms",
    "overloaded",
    # what told the server's processes apart in workers_seen, jain_index and max_min_share_ratio:
    # "worker_id" (x-worker-id) or "pid" (x-pid, where worker ids were missing or repeated; see spread_key)
    "spread_key",
]


def spread_key(rows: pd.DataFrame, app: bool = False) -> str:
    """What tells a case's serving processes apart in its `workers` rows: "worker_id" (the
    x-worker-id header) or "pid" (x-pid).

    "pid" where no response named a worker id but some named a pid (an app that sends no
    x-worker-id, run with the preload), and, for a user's app (`app`), where one worker id
    was answered by more than one pid: an app's ids are its own (every PM2 instance saying
    "0", an app that forks its own workers under one HARNESS_WORKER_ID), and counting by them
    would merge processes ("1 of 2 workers, Jain 0.500" for two pids that both served). The
    reference server's ids are distinct among its live processes by construction, so there a
    repeated id is a replacement (PM2's reload keeps the instance's id) and the id stays the
    key: its figures do not change. Rows without the header in question (a connection
    error: "?") are left out either way."""
    named = rows[rows["worker_id"] != NO_WORKER]
    with_pid = rows[rows["pid"] != NO_WORKER]
    if with_pid.empty:
        return "worker_id"
    if named.empty:
        return "pid"
    if app and (named[named["pid"] != NO_WORKER].groupby("worker_id")["pid"].nunique() > 1).any():
        return "pid"
    return "worker_id"


def requests_by_unit(rows: pd.DataFrame, key: str) -> pd.Series:
    """Responses per (key, thread_id) of a case's `workers` rows, rows without the key's header left out."""
    named = rows[rows[key] != NO_WORKER]
    return named.groupby([named[key].astype(str), _ids(named["thread_id"])])["requests"].sum()


def open_load_overloaded(
    target_rps: float | None,
    sent_rps: float | None,
    cap_waits: int,
    due: float = math.nan,
    dropped: float = math.nan,
    sent: float = math.nan,
    completed_rps: float = math.nan,
    generator_limited: bool = False,
) -> str | None:
    """Why an open-load case was not served at its target rate, with the numbers; None when
    it was. Overloaded: requests due in the window were dropped (never sent, or not
    answered within the grace after it), or the successes completed in the window fell
    more than load.verdict.OPEN_SHORTFALL short of the target. Whose shortfall: the generator's when it
    was limited (see generator_verdict), the server's otherwise.

    Records older than schema 5 have no due-time accounting (`due` NaN): then only the old
    rule, a send rate short of the target while requests waited for an in-flight slot."""
    if math.isnan(_num(due)):
        if short_of(target_rps, sent_rps) and cap_waits:
            return (
                f"the server fell behind {target_rps:,.0f} req/s: {cap_waits:,} requests found every in-flight "
                f"slot taken and the send rate fell to {sent_rps:,.0f} req/s. Latency here is that of an "
                "overloaded server (growing queues), measured from when each request was due"
            )
        return None
    dropped = int(_num(dropped)) if not math.isnan(_num(dropped)) else 0
    if not dropped and not short_of(target_rps, completed_rps):
        return None
    figures = [f"{completed_rps:,.0f} req/s completed in the window ({completed_rps / target_rps:.0%} of the target)"]
    if dropped:
        unsent = int(due - sent) if not math.isnan(_num(sent)) else None
        detail = (
            ""
            if unsent is None
            else (
                f": {unsent:,} never sent{' (no in-flight slot in time)' if unsent and cap_waits else ''}, "
                f"{dropped - unsent:,} not answered within the grace after the window"
            )
        )
        figures.append(f"{dropped:,} dropped of the {int(due):,} requests due in it{detail}")
    if cap_waits:
        figures.append(f"{cap_waits:,} requests found every in-flight slot taken")
    if generator_limited:
        return (
            "not on target, and the load generator could not keep the schedule (see generator_limited_reason), "
            f"so the shortfall is not the server's capacity: {'; '.join(figures)}"
        )
    return (
        f"the server fell behind {target_rps:,.0f} req/s: {'; '.join(figures)}. Latency here is that of an "
        "overloaded server (growing queues), measured from when each request was due"
    )


def open_load_accounting(row: Any, requests: int, failures: int, measured_s: float) -> dict[str, float]:
    """An open-load case's window accounted by due time, from its `endpoints` row (phase
    measure; None: no row): due, sent, dropped, the failures' latency p99, the send lag p99,
    and completed_rps, the successes that completed in the window per second, whatever
    their due time (so a backlog answered in the grace does not pass for keeping up).
    Records older than schema 5 (and closed load) leave the due-time figures NaN, and
    completed_rps is then (requests - failures) / measured_s, as throughput always was."""

    def get(column: str) -> float:
        return _num(row[column]) if row is not None and column in row.index else math.nan

    completed = get("completed_in_phase")
    if math.isnan(completed):
        completed = float(requests - failures)
    return {
        "due": get("due"),
        "sent": get("sent"),
        "dropped": get("dropped"),
        "send_lag_p99_ms": get("send_lag_p99_ms"),
        "failure_latency_p99_ms": get("failure_latency_p99_ms"),
        "completed_rps": completed / measured_s if measured_s else math.nan,
    }


def _window_samples(samples: pd.DataFrame) -> pd.DataFrame:
    return samples[samples["phase"] == "measure"]


def _median_of_tick_sums(samples: pd.DataFrame, roles: tuple[str, ...]) -> float:
    sel = samples[samples["role"].isin(roles)].dropna(subset=["cpu_pct"])
    if sel.empty:
        return math.nan
    return float(sel.groupby("ts")["cpu_pct"].sum().median())


def window_rss_mb(samples: pd.DataFrame, roles: tuple[str, ...] = SERVER_ROLES) -> float:
    """Resident memory of the processes of `roles` added up at each sample, median over the
    window's samples, in MB (2**20 bytes). RSS counts a page shared by several processes
    (Node's own code) in each of them."""
    sel = samples[samples["role"].isin(roles)].dropna(subset=["rss_bytes"]) if not samples.empty else samples
    if sel.empty:
        return math.nan
    return float(sel.groupby("ts")["rss_bytes"].sum().median()) / 2**20


def window_cpu_pct(samples: pd.DataFrame, roles: tuple[str, ...]) -> float:
    """Total average CPU of the given roles over the window, % of one core."""
    per_pid = window_cpu_by_pid(samples, roles)
    return float(per_pid.sum()) if not per_pid.empty else math.nan


def runs_on_threads(mode: str, route: Any) -> bool:
    """Does this mode run this route's work on its worker threads (the mode says: harness.modes)?
    A mode this version does not know (a record from another version) runs nothing on threads."""
    known = modes.find(mode)
    return known is not None and known.runs_on_threads(route)


def _parallel_units(mode: str, workers: Any, threads: Any, route: Any = "/cpu") -> int:
    """What runs the route's work in parallel: a pool's threads for a route the mode sends
    to them, otherwise the server's worker processes (1 for single, and for a pool mode's own
    process); the mode says which (harness.modes, Mode.parallel_units)."""
    known = modes.find(mode)
    if known is not None:
        return known.parallel_units(workers, threads, route)
    return _int(workers, 1)


def case_results(run: Run) -> pd.DataFrame:
    """One row per complete case (columns RESULT_COLUMNS), measurement window only."""
    cases = run["cases"]
    cases = cases[cases["status"] == "complete"]
    endpoints = run["endpoints"]
    measured = endpoints[endpoints["phase"] == "measure"]
    workers = run["workers"]
    server = run["server_metrics"]
    processes = run.tables.get("processes", pd.DataFrame(columns=["case_id"]))
    apps = _app_cases(run)
    samples = _window_samples(run["samples"])
    rows = []
    for case in cases.itertuples(index=False):
        ep = measured[(measured["case_id"] == case.case_id) & (measured["name"] == case.route)]
        requests = int(ep["requests"].sum()) if not ep.empty else 0
        failures = int(ep["failures"].sum()) if not ep.empty else 0
        lat = ep.iloc[0] if len(ep) == 1 else None
        cs = samples[samples["case_id"] == case.case_id]
        gen_by_pid = window_cpu_by_pid(cs, ("generator",))
        generator_cpu = float(gen_by_pid.sum()) if not gen_by_pid.empty else math.nan
        target = _num(getattr(case, "target_rps", None))
        sent = _num(getattr(case, "sent_rps", None))
        cap_waits = _int(getattr(case, "cap_waits", 0), 0)
        is_open = getattr(case, "load", "closed") == "open"
        acct = open_load_accounting(lat, requests, failures, case.measured_s)
        limited, reason = recorded_verdict(case)
        if limited is None:  # no verdict in the record (a hand-made table): the same rule, from the tables
            limited, reason = generator_verdict(
                float(gen_by_pid.max()) if not gen_by_pid.empty else math.nan,
                target,
                sent,
                cap_waits,
                acct["send_lag_p99_ms"],
                _num(lat["latency_p99_ms"]) if lat is not None else math.nan,
            )
        overloaded = (
            open_load_overloaded(
                target, sent, cap_waits, acct["due"], acct["dropped"], acct["sent"], acct["completed_rps"], limited
            )
            if is_open
            else None
        )
        w = workers[(workers["case_id"] == case.case_id) & (workers["phase"] == "measure")]
        # the unit of fairness: each worker process (by worker id, or by pid where the ids do not
        # tell the processes apart: spread_key), or each pool thread for a route run on them
        key = spread_key(w, _preloaded(case) or case.case_id in apps)
        per_worker = requests_by_unit(w, key)
        if runs_on_threads(case.mode, case.route):
            per_worker = per_worker[per_worker.index.get_level_values(1) != ""]
        units = _parallel_units(case.mode, case.workers, getattr(case, "threads", None), case.route)
        # a worker (or thread) that served nothing sends no header: count it as a zero; when no
        # response named one, the spread was not measured (NaN)
        counts = list(per_worker.values) + [0] * max(0, units - len(per_worker)) if len(per_worker) else []
        server_cpu = window_cpu_pct(cs, SERVER_ROLES)
        machine_cpu = _median_of_tick_sums(cs, ("machine",))
        # successes completed in the window per second (open load: whatever their due time)
        tput = acct["completed_rps"]
        rows.append(
            {
                "case_id": case.case_id,
                "condition": case.condition,
                "repetition": case.repetition,
                "mode": case.mode,
                "workers": case.workers,
                "threads": _num(getattr(case, "threads", None)),
                "schedule": case.schedule if isinstance(case.schedule, str) else "",
                "balance": case.balance if isinstance(getattr(case, "balance", None), str) else "",
                "uv_threadpool_size": _num(getattr(case, "uv_threadpool_size", None)),
                "route": case.route,
                "path": case.path,
                "users": case.users,
                "load": getattr(case, "load", "closed"),
                "target_rps": target,
                "sent_rps": sent,
                "measured_s": case.measured_s,
                "generator_processes": _int(getattr(case, "generator_processes", 1), 1),
                "requests": requests,
                "failures": failures,
                "throughput_rps": tput,
                **{
                    c: (float(lat[c]) if lat is not None and pd.notna(lat[c]) else math.nan)
                    for c in RESULT_COLUMNS
                    if c.startswith("latency_")
                },
                "server_cpu_pct": server_cpu,
                # CPU the server spent per successful request: tells "less efficient" from "short of CPU".
                "server_cpu_ms_per_request": server_cpu * 10 / tput if tput > 0 else math.nan,
                # the process that hands out connections: cluster's primary, nginx (NaN: none)
                "primary_cpu_pct": window_cpu_pct(cs, ("primary",)),
                "proxy_cpu_pct": window_cpu_pct(cs, ("proxy",)),
                "generator_cpu_pct": generator_cpu,
                "machine_cpu_pct": machine_cpu,
                # busy time of the machine that neither the server nor Locust used: the harness
                # itself (a few %) and anything else running; a quiet machine keeps it small
                "other_cpu_pct": max(
                    0.0, machine_cpu - server_cpu - (0.0 if math.isnan(generator_cpu) else generator_cpu)
                ),
                "steal_pct": float(cs.loc[cs["role"] == "machine", "steal_pct"].median()) if not cs.empty else math.nan,
                "units": units,
                "workers_seen": int((per_worker > 0).sum()),
                "unplanned_units": _unplanned_units(per_worker, units, case, case.case_id in apps),
                "jain_index": jain_index(counts),
                "max_min_share_ratio": max_min_ratio(counts) if counts else math.nan,
                # a killed or stopped worker takes its own counters with it: no comparison then
                "client_server_mismatch": math.nan
                if _has_events(case)
                else client_server_mismatch(
                    workers,
                    server,
                    case.case_id,
                    _num(getattr(case, "max_in_flight", None))
                    if getattr(case, "load", "closed") == "open"
                    else float(case.users),
                    processes,
                ),
                "generator_limited": limited,
                "generator_limited_reason": reason,
                "overloaded_reason": overloaded,
                "keepalive": bool(getattr(case, "keepalive", True))
                if pd.notna(getattr(case, "keepalive", True))
                else True,
                **_probe(measured, case.case_id, getattr(case, "probe_path", None)),
                **_event_loop(server, case.case_id, processes),
                "server_rss_mb": window_rss_mb(cs),
                **acct,
                "overloaded": overloaded is not None,
                "spread_key": key,
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def recorded_verdict(case: Any) -> tuple[bool | None, str | None]:
    """The generator's verdict run.py recorded when the case ended (cases.generator_limited
    and generator_limited_reason: harness.load.verdict over the same window's samples and
    endpoints row as the stored tables hold), so that it is computed once; (None, None)
    where the record holds none."""
    limited = getattr(case, "generator_limited", None)
    if limited is None or (not isinstance(limited, str) and pd.isna(limited)):
        return None, None
    reason = getattr(case, "generator_limited_reason", None)
    return (
        limited == "True" if isinstance(limited, str) else bool(limited),
        reason if isinstance(reason, str) and reason else None,
    )


def _probe(measured: pd.DataFrame, case_id: str, probe_path: Any) -> dict[str, Any]:
    """The light probe route's figures in the window (NaN without a probe)."""
    out: dict[str, Any] = {
        "probe_path": "",
        "probe_requests": 0,
        "probe_failures": 0,
        "probe_latency_p50_ms": math.nan,
        "probe_latency_p99_ms": math.nan,
        "probe_latency_max_ms": math.nan,
    }
    if not isinstance(probe_path, str) or not probe_path:
        return out
    rows = measured[(measured["case_id"] == case_id) & (measured["name"] == PROBE_PREFIX + probe_path.split("?")[0])]
    out["probe_path"] = probe_path
    if len(rows) == 1:
        r = rows.iloc[0]
        out.update(
            probe_requests=int(r["requests"]),
            probe_failures=int(r["failures"]),
            probe_latency_p50_ms=_num(r["latency_p50_ms"]),
            probe_latency_p99_ms=_num(r["latency_p99_ms"]),
            probe_latency_max_ms=_num(r["latency_max_ms"]),
        )
    return out


def _unplanned_units(per_worker: pd.Series, units: int, case: Any, app: bool) -> float:
    """Serving processes beyond the mode's plan: only a user's app can start its own (the
    reference server's modes start what they plan, and a spawn-per-request server's threads
    are per request by design); counted by process (the key), not by thread. 0 in a case with
    events (a replaced worker is a new process) and for the reference server; NaN where no
    response named a process."""
    if not len(per_worker):
        return math.nan
    if not app or _has_events(case):
        return 0
    served = per_worker[per_worker > 0]
    processes = served.index.get_level_values(0).nunique() if isinstance(served.index, pd.MultiIndex) else len(served)
    return max(0, int(processes) - units)


def _app_cases(run: Run) -> set[str]:
    """The cases that ran a user's app (run.json's `app`; the cases table does not carry it)."""
    return {str(c.get("case_id")) for c in run.meta.get("cases", []) if isinstance(c, dict) and c.get("app")}


def _preloaded(case: Any) -> bool:
    """Did the case's app run with the harness's preload (cases.preload; False in older records)?"""
    value = getattr(case, "preload", False)
    return isinstance(value, (bool, np.bool_)) and bool(value) or (isinstance(value, str) and value == "True")


def _event_loop(server: pd.DataFrame, case_id: str, processes: pd.DataFrame | None = None) -> dict[str, float]:
    """The worst worker's event-loop delay p99 and utilization after the load (each worker's
    figures run from its start, warm-up included: /metrics keeps no window). A user's app has
    no /metrics: there, the preload's figures of the processes that served (harness.preload)."""
    after = server[(server["case_id"] == case_id) & (server["snapshot"] == "after")]
    if after.empty and processes is not None and not processes.empty:
        after = processes[
            (processes["case_id"] == case_id) & (pd.to_numeric(processes["requests"], errors="coerce") > 0)
        ]
    if after.empty:
        return {"event_loop_delay_p99_ms": math.nan, "event_loop_utilization": math.nan}
    return {
        "event_loop_delay_p99_ms": float(pd.to_numeric(after["event_loop_delay_p99_ms"], errors="coerce").max()),
        "event_loop_utilization": float(pd.to_numeric(after["event_loop_utilization"], errors="coerce").max()),
    }


def _has_events(case: Any) -> bool:
    events = getattr(case, "events", "")
    return isinstance(events, str) and bool(events.strip())


def client_server_mismatch(
    workers: pd.DataFrame,
    server: pd.DataFrame,
    case_id: str,
    in_flight_bound: float = 0.0,
    processes: pd.DataFrame | None = None,
) -> float:
    """Largest relative difference, over workers, between the responses the client counted
    (all phases) and the requests the worker's /metrics counted during the load, beyond
    what the stop explains: up to `in_flight_bound` requests (users, or open load's
    in-flight cap) can be cut off client-side while the server still counts them. A user's
    app has no /metrics: there, per pid, against the preload's own count of the load's
    requests (`processes`; its readiness probes are counted apart, so they do not count)."""
    srv = server[server["case_id"] == case_id]
    if srv.empty and processes is not None and not processes.empty:
        mine = workers[(workers["case_id"] == case_id) & (workers["pid"] != NO_WORKER)]
        client = mine.groupby(mine["pid"].astype(str))["requests"].sum()
        own = processes[processes["case_id"] == case_id]
        served = pd.to_numeric(own["requests"], errors="coerce").fillna(0).groupby(own["pid"].astype(str)).sum()
        if own.empty or client.empty:  # no response named a pid (a server the preload cannot see): nothing to pair
            return math.nan
    elif srv.empty:  # no server-side counts (an external target, or an app without the preload): nothing to compare
        return math.nan
    else:
        client = workers[workers["case_id"] == case_id].groupby("worker_id")["requests"].sum()
        before = srv[srv["snapshot"] == "before"].set_index("worker_id")["requests_route"]
        after = srv[srv["snapshot"] == "after"].set_index("worker_id")["requests_route"]
        served = after.sub(before, fill_value=0)
    ids = set(client.index) | set(served.index)
    if not ids:
        return math.nan
    worst = 0.0
    for wid in ids:
        c, s = float(client.get(wid, 0)), float(served.get(wid, 0))
        unexplained = max(0.0, abs(c - s) - in_flight_bound) if s > c else abs(c - s)
        worst = max(worst, unexplained / max(c, s, 1.0))
    return worst


def without_double_count(rows: pd.DataFrame) -> pd.DataFrame:
    """Endpoint or timeline rows of ONE case, to be added up over names: a locustfile case's
    total (AGGREGATE_NAME) alone, since its request names are in it already; any other
    case's rows as they are."""
    total = rows["name"] == AGGREGATE_NAME
    return rows[total] if total.any() else rows
