"""Pure functions over a stored run's tables: per-case results, summaries across
repetitions, speedups, fairness and the warnings a reader must see first.

Nothing here starts a process or reads anything but the Run it is given. Only the
measurement window counts: warm-up rows stay in the tables, marked, and are left out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness import cost, evidence
from harness.load.hooks import NO_WORKER, PROBE_PREFIX, SIGNIFICANT_DIGITS, decode_histogram, latency_summary
from harness.record import Run
from harness.scenario import AGGREGATE_NAME, side_of

# Locust runs in one process and warns when that process passes 90 % of a core: past it,
# the generator, not the server, sets the pace.
GENERATOR_LIMIT_CPU_PCT = 90.0
# A condition whose throughput varies more than this across repetitions is unstable.
UNSTABLE_CV_PCT = 10.0
# Client and server counts of one worker's requests may differ by this much (interrupted
# requests at the stop) before it is a warning.
MISMATCH_TOLERANCE = 0.01
# Redis (the shared-state demo's store) counts as the server: serving /count/redis costs its CPU too.
SERVER_ROLES = ("primary", "worker", "proxy", "pm2-daemon", "redis")
# A throughput within 20 % of the calibrated generator ceiling is suspect.
NEAR_CEILING = 0.8
# CPU (% of a core) used by neither the server nor Locust above which the machine was not quiet.
OTHER_CPU_WARN_PCT = 20.0
# Open load: sending (or completing) more than 5 % below the target rate is falling behind it.
OPEN_SHORTFALL = 0.05
# Open load with every in-flight slot free: requests leaving this late against their schedule
# (p99, ms), and late by at least this share of the latency p99 (which runs from the due
# time, so includes the lateness), mean the latency measured is the generator's, not the
# server's. The floor leaves out the scheduling jitter of a busy machine (a few ms).
OPEN_SEND_LAG_FLOOR_MS = 10.0
OPEN_SEND_LAG_SHARE = 0.5
LATENCY_SUMMARY_COLUMNS = ("latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
                           "latency_p99_9_ms")
LATENCY_PRECISION_PCT = 10 ** (-SIGNIFICANT_DIGITS + 2)  # 3 significant digits: within 0.1 %

RESULT_COLUMNS = [
    "case_id", "condition", "repetition", "mode", "workers", "threads", "schedule", "balance", "uv_threadpool_size",
    "route", "path", "users", "load",
    "target_rps", "sent_rps", "generator_processes", "measured_s",
    "requests", "failures", "throughput_rps", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms",
    "latency_p95_ms", "latency_p99_ms", "latency_p99_9_ms", "latency_max_ms", "server_cpu_pct",
    "server_cpu_ms_per_request",
    "primary_cpu_pct", "proxy_cpu_pct", "generator_cpu_pct", "machine_cpu_pct", "other_cpu_pct", "steal_pct", "units", "workers_seen", "jain_index", "max_min_share_ratio",
    "client_server_mismatch", "generator_limited", "generator_limited_reason", "overloaded_reason",
    "keepalive", "probe_path", "probe_requests", "probe_failures", "probe_latency_p50_ms", "probe_latency_p99_ms",
    "probe_latency_max_ms", "event_loop_delay_p99_ms", "event_loop_utilization",
    # resident memory of the server's processes added up (median over the window's samples), MB
    "server_rss_mb",
    # open load, accounted by due time (see open_load_accounting)
    "due", "sent", "dropped", "completed_rps", "send_lag_p99_ms", "failure_latency_p99_ms", "overloaded",
    # what told the server's processes apart in workers_seen, jain_index and max_min_share_ratio:
    # "worker_id" (x-worker-id) or "pid" (x-pid, where worker ids were missing or repeated; see spread_key)
    "spread_key",
]  # fmt: skip


def fmt(value: Any, spec: str = ".3g", none: str = "–") -> str:
    """A number for a table: `none` for a missing value (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, spec)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _int(value: Any, default: int) -> int:
    number = _num(value)
    return default if math.isnan(number) else int(number)


def _ids(series: pd.Series) -> pd.Series:
    """An id column as text, "" where empty (ids are read as text; hand-made tables may not be)."""
    return series.astype(object).where(series.notna(), "").astype(str)


def jain_index(counts: Any) -> float:
    """Jain's fairness index: 1 when every worker got the same, 1/n when one got everything."""
    x = np.asarray(list(counts), dtype=float)
    if x.size == 0 or x.sum() == 0:
        return math.nan
    return float(x.sum() ** 2 / (x.size * (x**2).sum()))


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


def max_min_ratio(counts: Any) -> float:
    x = np.asarray(list(counts), dtype=float)
    if x.size == 0 or x.min() <= 0:
        return math.inf if x.size else math.nan
    return float(x.max() / x.min())


def generator_limited(generator_cpu_pct: float) -> tuple[bool, str | None]:
    """The CPU rule: the hottest Locust process used 90 % of a core or more over the window."""
    if generator_cpu_pct is None or math.isnan(generator_cpu_pct):
        return False, None
    if generator_cpu_pct >= GENERATOR_LIMIT_CPU_PCT:
        return True, (f"the load generator used {generator_cpu_pct:.0f}% of a core (limit "
                      f"{GENERATOR_LIMIT_CPU_PCT:.0f}%): the figure is Locust's ceiling, not the server's capacity")
    return False, None


def generator_verdict(hottest_generator_cpu_pct: float, target_rps: float | None, sent_rps: float | None,
                      cap_waits: int = 0, send_lag_p99_ms: float = math.nan,
                      latency_p99_ms: float = math.nan) -> tuple[bool, str | None]:
    """Was the generator, not the server, the limit? Hot Locust CPU; or, in open load with
    in-flight slots free (when they were all taken, the server fell behind: see
    open_load_overloaded), a send rate more than OPEN_SHORTFALL below the target, or
    requests leaving so late (send lag p99 over OPEN_SEND_LAG_FLOOR_MS and over
    OPEN_SEND_LAG_SHARE of the latency p99) that the latency measured is mostly lateness."""
    limited, reason = generator_limited(hottest_generator_cpu_pct)
    if limited:
        return limited, reason
    if cap_waits:
        return False, None
    if _short(target_rps, sent_rps):
        return True, (f"the load generator sent {sent_rps:,.0f} req/s of the {target_rps:,.0f} req/s asked for: "
                      "it could not keep the schedule, so latency at the target rate was not measured")
    lag, latency = _num(send_lag_p99_ms), _num(latency_p99_ms)
    if target_rps and lag > OPEN_SEND_LAG_FLOOR_MS and not lag < OPEN_SEND_LAG_SHARE * latency:
        return True, (f"the load generator sent its requests up to {lag:,.0f} ms late (p99) with in-flight slots "
                      f"free, against a latency p99 of {latency:,.0f} ms: it could not keep the schedule, so the "
                      "latency is largely the generator's lateness, not the server's")
    return False, None


def open_load_overloaded(target_rps: float | None, sent_rps: float | None, cap_waits: int,
                         due: float = math.nan, dropped: float = math.nan, sent: float = math.nan,
                         completed_rps: float = math.nan, generator_limited: bool = False) -> str | None:
    """Why an open-load case was not served at its target rate, with the numbers; None when
    it was. Overloaded: requests due in the window were dropped (never sent, or not
    answered within the grace after it), or the successes completed in the window fell
    more than OPEN_SHORTFALL short of the target. Whose shortfall: the generator's when it
    was limited (see generator_verdict), the server's otherwise.

    Records older than schema 5 have no due-time accounting (`due` NaN): then only the old
    rule, a send rate short of the target while requests waited for an in-flight slot."""
    if math.isnan(_num(due)):
        if _short(target_rps, sent_rps) and cap_waits:
            return (f"the server fell behind {target_rps:,.0f} req/s: {cap_waits:,} requests found every in-flight "
                    f"slot taken and the send rate fell to {sent_rps:,.0f} req/s. Latency here is that of an "
                    "overloaded server (growing queues), measured from when each request was due")
        return None
    dropped = int(_num(dropped)) if not math.isnan(_num(dropped)) else 0
    if not dropped and not _short(target_rps, completed_rps):
        return None
    figures = [f"{completed_rps:,.0f} req/s completed in the window ({completed_rps / target_rps:.0%} of the target)"]
    if dropped:
        unsent = int(due - sent) if not math.isnan(_num(sent)) else None
        detail = "" if unsent is None else (
            f": {unsent:,} never sent{' (no in-flight slot in time)' if unsent and cap_waits else ''}, "
            f"{dropped - unsent:,} not answered within the grace after the window")
        figures.append(f"{dropped:,} dropped of the {int(due):,} requests due in it{detail}")
    if cap_waits:
        figures.append(f"{cap_waits:,} requests found every in-flight slot taken")
    if generator_limited:
        return ("not on target, and the load generator could not keep the schedule (see generator_limited_reason), "
                f"so the shortfall is not the server's capacity: {'; '.join(figures)}")
    return (f"the server fell behind {target_rps:,.0f} req/s: {'; '.join(figures)}. Latency here is that of an "
            "overloaded server (growing queues), measured from when each request was due")


def _short(target_rps: float | None, rate_rps: float | None) -> bool:
    return bool(target_rps) and rate_rps is not None and not math.isnan(rate_rps) \
        and rate_rps < target_rps * (1 - OPEN_SHORTFALL)


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
    return {"due": get("due"), "sent": get("sent"), "dropped": get("dropped"),
            "send_lag_p99_ms": get("send_lag_p99_ms"), "failure_latency_p99_ms": get("failure_latency_p99_ms"),
            "completed_rps": completed / measured_s if measured_s else math.nan}


def confidence_interval(values: Any, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean across repetitions; NaNs with fewer than
    evidence.MIN_REPETITIONS values (from 2, t(0.975, 1) = 12.7 makes it useless). The
    report shows evidence.median_interval instead: the bars show medians."""
    x = np.asarray(list(values), dtype=float)
    if x.size < evidence.MIN_REPETITIONS:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    from scipy import stats  # imported on first use (about a second): many commands compute no interval

    low, high = stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    return float(low), float(high)


def _window_samples(samples: pd.DataFrame) -> pd.DataFrame:
    return samples[samples["phase"] == "measure"]


def _median_of_tick_sums(samples: pd.DataFrame, roles: tuple[str, ...]) -> float:
    sel = samples[samples["role"].isin(roles)].dropna(subset=["cpu_pct"])
    if sel.empty:
        return math.nan
    return float(sel.groupby("ts")["cpu_pct"].sum().median())


def window_cpu_by_pid(samples: pd.DataFrame, roles: tuple[str, ...]) -> pd.Series:
    """Average CPU of each process of the given roles over the sampled window, % of one
    core: the change of its cumulative CPU seconds over the time the samples span."""
    if samples.empty:
        return pd.Series(dtype=float)
    span = samples["ts"].max() - samples["ts"].min()
    sel = samples[samples["role"].isin(roles)]
    if sel.empty or not span > 0:
        return pd.Series(dtype=float)
    per_pid = sel.sort_values("ts").groupby("pid")["cpu_s"].agg(["first", "last"])
    return (per_pid["last"] - per_pid["first"]) / span * 100


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


# The reference server's routes that pool and spawn-per-request modes run on worker threads
# (server/offload.js, called from app.js); every other route runs on the event loop or libuv.
THREAD_ROUTES = ("/cpu",)


def runs_on_threads(mode: str, route: Any) -> bool:
    """Does this mode run this route's work on its worker threads (pool, spawn-per-request)?"""
    return mode in ("pool", "spawn-per-request") and route in THREAD_ROUTES


def _parallel_units(mode: str, workers: Any, threads: Any, route: Any = "/cpu") -> int:
    """What runs the route's work in parallel: a pool's threads for a route the mode sends
    to them (THREAD_ROUTES), otherwise the server's worker processes (1 for single, and
    for a pool mode's own process)."""
    t = _num(threads)
    if runs_on_threads(mode, route) and not math.isnan(t):
        return int(t)
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
        limited, reason = generator_verdict(float(gen_by_pid.max()) if not gen_by_pid.empty else math.nan,
                                            target, sent, cap_waits, acct["send_lag_p99_ms"],
                                            _num(lat["latency_p99_ms"]) if lat is not None else math.nan)
        overloaded = open_load_overloaded(target, sent, cap_waits, acct["due"], acct["dropped"], acct["sent"],
                                          acct["completed_rps"], limited) if is_open else None
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
        rows.append({
            "case_id": case.case_id, "condition": case.condition, "repetition": case.repetition, "mode": case.mode,
            "workers": case.workers, "threads": _num(getattr(case, "threads", None)),
            "schedule": case.schedule if isinstance(case.schedule, str) else "",
            "balance": case.balance if isinstance(getattr(case, "balance", None), str) else "",
            "uv_threadpool_size": _num(getattr(case, "uv_threadpool_size", None)),
            "route": case.route, "path": case.path, "users": case.users, "load": getattr(case, "load", "closed"),
            "target_rps": target, "sent_rps": sent, "measured_s": case.measured_s,
            "generator_processes": _int(getattr(case, "generator_processes", 1), 1), "requests": requests,
            "failures": failures, "throughput_rps": tput,
            **{c: (float(lat[c]) if lat is not None and pd.notna(lat[c]) else math.nan)
               for c in RESULT_COLUMNS if c.startswith("latency_")},
            "server_cpu_pct": server_cpu,
            # CPU the server spent per successful request: tells "less efficient" from "short of CPU".
            "server_cpu_ms_per_request": server_cpu * 10 / tput if tput > 0 else math.nan,
            # the process that hands out connections: cluster's primary, nginx (NaN: none)
            "primary_cpu_pct": window_cpu_pct(cs, ("primary",)), "proxy_cpu_pct": window_cpu_pct(cs, ("proxy",)),
            "generator_cpu_pct": generator_cpu,
            "machine_cpu_pct": machine_cpu,
            # busy time of the machine that neither the server nor Locust used: the harness
            # itself (a few %) and anything else running; a quiet machine keeps it small
            "other_cpu_pct": max(0.0, machine_cpu - server_cpu - (0.0 if math.isnan(generator_cpu) else generator_cpu)),
            "steal_pct": float(cs.loc[cs["role"] == "machine", "steal_pct"].median()) if not cs.empty else math.nan,
            "units": units, "workers_seen": int((per_worker > 0).sum()), "jain_index": jain_index(counts),
            "max_min_share_ratio": max_min_ratio(counts) if counts else math.nan,
            # a killed or stopped worker takes its own counters with it: no comparison then
            "client_server_mismatch": math.nan if _has_events(case) else client_server_mismatch(
                workers, server, case.case_id,
                _num(getattr(case, "max_in_flight", None)) if getattr(case, "load", "closed") == "open"
                else float(case.users), processes),
            "generator_limited": limited, "generator_limited_reason": reason, "overloaded_reason": overloaded,
            "keepalive": bool(getattr(case, "keepalive", True)) if pd.notna(getattr(case, "keepalive", True)) else True,
            **_probe(measured, case.case_id, getattr(case, "probe_path", None)),
            **_event_loop(server, case.case_id, processes),
            "server_rss_mb": window_rss_mb(cs),
            **acct, "overloaded": overloaded is not None,
            "spread_key": key,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _probe(measured: pd.DataFrame, case_id: str, probe_path: Any) -> dict[str, Any]:
    """The light probe route's figures in the window (NaN without a probe)."""
    out: dict[str, Any] = {"probe_path": "", "probe_requests": 0, "probe_failures": 0,
                           "probe_latency_p50_ms": math.nan, "probe_latency_p99_ms": math.nan,
                           "probe_latency_max_ms": math.nan}
    if not isinstance(probe_path, str) or not probe_path:
        return out
    rows = measured[(measured["case_id"] == case_id) & (measured["name"] == PROBE_PREFIX + probe_path.split("?")[0])]
    out["probe_path"] = probe_path
    if len(rows) == 1:
        r = rows.iloc[0]
        out.update(probe_requests=int(r["requests"]), probe_failures=int(r["failures"]),
                   probe_latency_p50_ms=_num(r["latency_p50_ms"]), probe_latency_p99_ms=_num(r["latency_p99_ms"]),
                   probe_latency_max_ms=_num(r["latency_max_ms"]))
    return out


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
        after = processes[(processes["case_id"] == case_id)
                          & (pd.to_numeric(processes["requests"], errors="coerce") > 0)]
    if after.empty:
        return {"event_loop_delay_p99_ms": math.nan, "event_loop_utilization": math.nan}
    return {"event_loop_delay_p99_ms": float(pd.to_numeric(after["event_loop_delay_p99_ms"], errors="coerce").max()),
            "event_loop_utilization": float(pd.to_numeric(after["event_loop_utilization"], errors="coerce").max())}


def _has_events(case: Any) -> bool:
    events = getattr(case, "events", "")
    return isinstance(events, str) and bool(events.strip())


def missing_figure_warnings(meta: dict) -> list[str]:
    """One line per condition and figure the record could not have (an external target, a
    user's app, Locust workers elsewhere), with the reason the run recorded (case key
    `missing_figures`; absent in older records)."""
    seen: dict[str, list[str]] = {}
    for case in meta.get("cases", []):
        for figure in case.get("missing_figures") or []:
            conditions = seen.setdefault(figure, [])
            if case.get("condition") not in conditions:
                conditions.append(case.get("condition"))
    return [f"Not measured for {', '.join(map(str, conds))}: {figure}." for figure, conds in seen.items()]


def client_server_mismatch(workers: pd.DataFrame, server: pd.DataFrame, case_id: str,
                           in_flight_bound: float = 0.0, processes: pd.DataFrame | None = None) -> float:
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


def merged_latency(endpoints: pd.DataFrame, case_ids: list[str], name: str) -> dict[str, float | None]:
    """Latency figures of the measured responses of several cases, from their HDR
    histograms added bin by bin (exact, unlike a median of per-case percentiles)."""
    rows = endpoints[endpoints["case_id"].isin(case_ids) & (endpoints["phase"] == "measure")
                     & (endpoints["name"] == name)]
    hist = decode_histogram("")
    for encoded in rows["hdr_b64"].dropna():
        hist.decode_and_add(encoded)
    return latency_summary(hist)


def condition_summary(results: pd.DataFrame, endpoints: pd.DataFrame | None = None) -> pd.DataFrame:
    """Median and spread across repetitions, per condition, in the order first run.

    With `endpoints`, latency percentiles come from the repetitions' histograms merged;
    without, they are the median of each repetition's percentile.
    """
    out = []
    for condition, g in results.groupby("condition", sort=False):
        latency = {c: float(g[c].median()) for c in LATENCY_SUMMARY_COLUMNS}
        if endpoints is not None:
            merged = merged_latency(endpoints, list(g["case_id"]), g["route"].iloc[0])
            latency = {c: (math.nan if merged[c] is None else float(merged[c])) for c in LATENCY_SUMMARY_COLUMNS}
        tput = g["throughput_rps"]
        low, high, coverage = evidence.median_interval(tput)
        mean = tput.mean()
        cv = float(tput.std(ddof=1) / mean * 100) if len(tput) > 1 and mean > 0 else math.nan
        first = g.iloc[0]
        out.append({
            "condition": condition, "mode": first["mode"], "workers": first["workers"], "schedule": first["schedule"],
            "threads": first["threads"], "balance": first["balance"], "uv_threadpool_size": first["uv_threadpool_size"],
            "route": first["route"], "path": first["path"], "load": first["load"], "users": first["users"],
            "target_rps": first["target_rps"], "repetitions": len(g),
            "throughput_median_rps": float(tput.median()), "throughput_min_rps": float(tput.min()),
            "throughput_max_rps": float(tput.max()),
            # the distribution-free interval of the median, NaN below evidence.MIN_REPETITIONS
            "throughput_median_low_rps": low, "throughput_median_high_rps": high,
            "throughput_interval_coverage": coverage, "throughput_cv_pct": cv,
            **_median_intervals(g, ("jain_index", "probe_latency_p99_ms", "server_cpu_ms_per_request",
                                    "latency_p50_ms", "server_rss_mb")),
            # what evidence.claim_doubts reads from a summary row
            "requests": int(g["requests"].sum()), "other_cpu_pct": float(g["other_cpu_pct"].median()),
            "steal_pct": float(g["steal_pct"].median()),
            **latency,
            "server_cpu_pct": float(g["server_cpu_pct"].median()),
            "server_cpu_ms_per_request": float(g["server_cpu_ms_per_request"].median()),
            "primary_cpu_pct": float(g["primary_cpu_pct"].median()),
            "proxy_cpu_pct": float(g["proxy_cpu_pct"].median()),
            "generator_cpu_pct": float(g["generator_cpu_pct"].median()),
            "machine_cpu_pct": float(g["machine_cpu_pct"].median()),
            "jain_index": float(g["jain_index"].median()), "failures": int(g["failures"].sum()),
            "keepalive": bool(first["keepalive"]), "probe_path": first["probe_path"],
            "probe_latency_p50_ms": float(g["probe_latency_p50_ms"].median()),
            "probe_latency_p99_ms": float(g["probe_latency_p99_ms"].median()),
            "event_loop_delay_p99_ms": float(g["event_loop_delay_p99_ms"].median()),
            "server_rss_mb": float(g["server_rss_mb"].median()),
            "generator_limited": bool(g["generator_limited"].any()),
            "unstable": bool(cv > UNSTABLE_CV_PCT) if not math.isnan(cv) else False,
            **_open_load_summary(g),
        })  # fmt: skip
    return pd.DataFrame(out)


def _median_intervals(rows: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, float]:
    """`<column>_low` and `<column>_high` (the unit suffix kept last: jain_index_low,
    probe_latency_p99_low_ms): evidence.median_interval over the repetitions."""
    out = {}
    for column in columns:
        stem, unit = (column[:-3], "_ms") if column.endswith("_ms") else (column, "")
        low, high, _ = evidence.median_interval(rows[column])
        out[f"{stem}_low{unit}"], out[f"{stem}_high{unit}"] = low, high
    return out


def _open_load_summary(g: pd.DataFrame) -> dict[str, Any]:
    """A condition's open-load figures over its repetitions: drops added up (NaN when not
    counted), the median completed rate and send lag p99, overloaded if any repetition was."""
    def column(name: str) -> pd.Series:
        return pd.to_numeric(g[name], errors="coerce") if name in g.columns else pd.Series(dtype=float)
    dropped = column("dropped")
    return {"dropped": float(dropped.sum()) if dropped.notna().any() else math.nan,
            "completed_median_rps": float(column("completed_rps").median()),
            "send_lag_p99_ms": float(column("send_lag_p99_ms").median()),
            "overloaded": bool(g["overloaded"].astype(object).fillna(False).astype(bool).any()) if "overloaded" in g.columns
            else False}


def speedups(results: pd.DataFrame, baseline_mode: str = "single") -> pd.DataFrame:
    """Each condition's throughput over the baseline's on the same route and load.

    `speedup` is the ratio of medians; `paired_*` are the ratios of repetition i to the
    baseline's repetition i (run next to each other, so they share the machine's drift).
    `scaling_efficiency` = speedup / workers (1.0 = perfect use of every worker).
    """
    rows = []
    base_all = results[results["mode"] == baseline_mode]
    for (condition, path, users, target, keepalive, probe), g in results.groupby(
            ["condition", "path", "users", "target_rps", "keepalive", "probe_path"], sort=False, dropna=False):
        same_rate = base_all["target_rps"].isna() if pd.isna(target) else base_all["target_rps"] == target
        # an A/B run: each side's ratio is over its own side's baseline, never across sides
        same_side = base_all["condition"].map(lambda c: side_of(c)[1] == side_of(condition)[1])
        base = base_all[(base_all["path"] == path) & (base_all["users"] == users) & same_rate
                        & (base_all["keepalive"] == keepalive) & (base_all["probe_path"] == probe) & same_side]
        if base.empty or condition in set(base["condition"]):
            continue
        base = base[base["condition"] == base["condition"].iloc[0]]  # the first baseline condition run
        paired = []
        base_by_rep = base.set_index("repetition")["throughput_rps"]
        for rep, tput in zip(g["repetition"], g["throughput_rps"]):
            if rep in base_by_rep.index and base_by_rep[rep] > 0:
                paired.append(tput / base_by_rep[rep])
        speedup = g["throughput_rps"].median() / base["throughput_rps"].median()
        workers = int(g["units"].iloc[0])
        # efficiency is per unit of parallelism over the baseline's (1 for single)
        base_units = int(base["units"].iloc[0]) if "units" in base.columns else 1
        rows.append({
            "condition": condition, "baseline": base["condition"].iloc[0], "path": path, "users": users,
            "workers": workers, "baseline_workers": base_units, "speedup": float(speedup),
            "scaling_efficiency": float(speedup * base_units / workers),
            "paired_median": float(np.median(paired)) if paired else math.nan,
            "paired_min": float(min(paired)) if paired else math.nan,
            "paired_max": float(max(paired)) if paired else math.nan,
            "generator_limited": bool(g["generator_limited"].any() or base["generator_limited"].any()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["condition", "baseline", "path", "users", "workers", "baseline_workers", "speedup",
                                       "scaling_efficiency", "paired_median", "paired_min", "paired_max",
                                       "generator_limited"])


def without_double_count(rows: pd.DataFrame) -> pd.DataFrame:
    """Endpoint or timeline rows of ONE case, to be added up over names: a locustfile case's
    total (AGGREGATE_NAME) alone, since its request names are in it already; any other
    case's rows as they are."""
    total = rows["name"] == AGGREGATE_NAME
    return rows[total] if total.any() else rows


NAME_COLUMNS = ["condition", "name", "repetitions", "requests", "failures", "share", "throughput_median_rps",
                "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms"]


def name_summary(run: Run) -> pd.DataFrame:
    """Per condition and request name, in the measured window, for conditions whose load sent
    several names (a user's locustfile): repetitions; requests and failures over them; share
    of the condition's requests; the median over repetitions of successful responses per
    second; latency from the repetitions' histograms merged (exact). The total
    (AGGREGATE_NAME) and probes are left out: they have rows of their own elsewhere.
    Columns NAME_COLUMNS; empty when no condition sent more than one name."""
    cases = run["cases"]
    cases = cases[cases["status"] == "complete"][["case_id", "condition", "measured_s"]]
    ep = run["endpoints"]
    ep = ep[(ep["phase"] == "measure") & (ep["name"] != AGGREGATE_NAME)
            & ~ep["name"].astype(str).str.startswith(PROBE_PREFIX)].merge(cases, on="case_id")
    rows = []
    for condition, g in ep.groupby("condition", sort=False):
        if g["name"].nunique() < 2:
            continue
        total = float(g["requests"].sum())
        for name, n in g.groupby("name", sort=True):
            ok_rps = (n["requests"] - n["failures"]) / pd.to_numeric(n["measured_s"], errors="coerce")
            hist = decode_histogram("")
            for encoded in n["hdr_b64"].dropna():
                hist.decode_and_add(encoded)
            lat = latency_summary(hist)
            rows.append({"condition": condition, "name": name, "repetitions": int(n["case_id"].nunique()),
                         "requests": int(n["requests"].sum()), "failures": int(n["failures"].sum()),
                         "share": float(n["requests"].sum()) / total if total else math.nan,
                         "throughput_median_rps": float(ok_rps.median()),
                         **{c: math.nan if lat[c] is None else float(lat[c])
                            for c in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")}})
    return pd.DataFrame(rows, columns=NAME_COLUMNS)


def requests_per_worker(run: Run) -> pd.DataFrame:
    """Measured-window responses per worker (and per pool thread, `thread_id`, where the
    responses named one; "" otherwise) per case, with each one's share of the case.
    `spread_key` says what told the workers apart (spread_key): "worker_id", or "pid", in
    which case `worker_id` is "" and `pid` names the process."""
    w = run["workers"]
    w = w[w["phase"] == "measure"]
    cases = run["cases"]
    apps = _app_cases(run) | {c.case_id for c in cases.itertuples(index=False) if _preloaded(c)}
    parts = []
    for case_id, g in w.groupby("case_id", sort=False):
        key = spread_key(g, case_id in apps)
        per = requests_by_unit(g, key).rename("requests").reset_index()
        per.columns = [key, "thread_id", "requests"]
        per["worker_id" if key == "pid" else "pid"] = ""
        parts.append(per.assign(case_id=case_id, spread_key=key))
    columns = ["case_id", "worker_id", "pid", "thread_id", "requests", "spread_key"]
    out = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    out["share"] = out["requests"] / out.groupby("case_id")["requests"].transform("sum")
    return out.merge(cases[["case_id", "condition", "repetition"]], on="case_id")


def cpu_seconds_by_process(run: Run) -> pd.DataFrame:
    """CPU seconds each process used inside the measurement window (from cumulative cpu_s),
    and `span_s`, the time the case's window samples span: cpu_s / span_s = cores used."""
    s = _window_samples(run["samples"]).sort_values("ts")
    span = s.groupby("case_id")["ts"].agg(lambda t: t.max() - t.min()).rename("span_s")
    s = s[s["role"] != "machine"]
    g = s.groupby(["case_id", "pid", "role"], dropna=False)
    out = g.agg(cpu_first_s=("cpu_s", "first"), cpu_last_s=("cpu_s", "last"),
                worker_id=("worker_id", "first")).reset_index()
    out["cpu_s"] = out["cpu_last_s"] - out["cpu_first_s"]
    out = out.merge(span, left_on="case_id", right_index=True)
    return out[["case_id", "pid", "role", "worker_id", "cpu_s", "span_s"]]


def thread_cpu(run: Run) -> pd.DataFrame:
    """CPU of every thread of the server's processes in the measurement window: `cores`
    (CPU seconds over the span of the window's samples) and `main` (the process's main
    thread, whose id is the pid; the others are pool, libuv and V8 threads)."""
    t = run.tables.get("threads")
    columns = ["case_id", "pid", "role", "tid", "thread_name", "main", "cpu_s", "cores"]
    if t is None or t.empty:
        return pd.DataFrame(columns=columns)
    t = t[t["phase"] == "measure"].sort_values("ts")
    span = t.groupby("case_id")["ts"].agg(lambda s: s.max() - s.min()).rename("span_s")
    g = t.groupby(["case_id", "pid", "role", "tid"], as_index=False).agg(
        thread_name=("thread_name", "first"), first=("cpu_s", "first"), last=("cpu_s", "last"))
    g["cpu_s"] = g["last"] - g["first"]
    g = g.merge(span, left_on="case_id", right_index=True)
    g["cores"] = g["cpu_s"] / g["span_s"].where(g["span_s"] > 0)
    g["main"] = g["tid"] == g["pid"]
    return g[columns]


def run_warnings(run: Run, results: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Everything a reader must know before trusting a number, in plain words."""
    meta = run.meta
    out: list[str] = []
    if meta.get("status") != "complete":
        out.append(f"This run is {meta.get('status')}: {meta.get('error') or 'no reason recorded'}. "
                   "Only the finished cases are shown.")
    failed = [c for c in meta.get("cases", []) if c.get("status") != "complete"]
    for c in failed:
        out.append(f"Case {c['case_id']} failed: {c.get('error')}")
    machine = meta.get("machine", {})
    layout = machine.get("cpu_layout", "shared")
    if layout == "shared":
        out.append(f"The load generator (Locust) and the server shared this machine's "
                   f"{machine.get('logical_cores', '?')} cores: CPU the generator used was not available to the "
                   "server. The generator's CPU is shown beside every result.")
    elif isinstance(layout, dict):
        server, generator = layout.get("server", []), layout.get("generator", [])
        out.append(f"Pinned: the server ran on core(s) {', '.join(map(str, server))} only, the load generator on "
                   f"{', '.join(map(str, generator))}: {len(server)} of {machine.get('logical_cores', '?')} cores "
                   "for the server, so modes with more workers than that were oversubscribed.")
    ceiling = (machine.get("generator_calibration") or {}).get("ceiling_rps")
    for r in results.itertuples(index=False):
        if ceiling and not r.generator_limited and r.throughput_rps >= NEAR_CEILING * ceiling * r.generator_processes:
            out.append(f"{r.case_id}: {r.throughput_rps:,.0f} req/s is within {1 - NEAR_CEILING:.0%} of this machine's "
                       f"calibrated generator ceiling ({ceiling:,.0f} req/s per Locust process): the generator may "
                       "have been part of the limit.")
        if r.generator_limited:
            out.append(f"{r.case_id}: {r.generator_limited_reason}. To fix: fewer users or a heavier route "
                       "(more work per request), so that the server, not Locust, runs out of CPU first.")
        if isinstance(r.overloaded_reason, str):
            out.append(f"{r.case_id}: {r.overloaded_reason}.")
        if r.failures:
            out.append(f"{r.case_id}: {r.failures} of {r.requests} requests failed; see raw/{r.case_id}/.")
        if not math.isnan(r.client_server_mismatch) and r.client_server_mismatch > MISMATCH_TOLERANCE:
            out.append(f"{r.case_id}: client and server request counts differ by up to "
                       f"{r.client_server_mismatch:.1%} for one worker, beyond the requests in flight at the stop "
                       f"(tolerance {MISMATCH_TOLERANCE:.0%}): responses were lost or miscounted.")
    for s in summary.itertuples(index=False):
        if s.unstable:
            out.append(f"{s.condition}: throughput varied by {s.throughput_cv_pct:.0f}% (coefficient of variation) "
                       f"across {s.repetitions} repetitions, over the {UNSTABLE_CV_PCT:.0f}% bound. To fix: more "
                       "repetitions, a longer duration, or a quieter machine.")
    fewest = int(summary["repetitions"].min()) if not summary.empty else 0
    if not summary.empty and fewest < evidence.MIN_REPETITIONS:
        out.append(f"Only {fewest} repetition{'s' if fewest != 1 else ''} of some conditions: below {evidence.MIN_REPETITIONS} there is no "
                   "interval of the median, so no comparison involving them is firm (the story says "
                   f"\"inconclusive\"). Use at least {evidence.MIN_REPETITIONS} repetitions; 6 or more give a 95% "
                   "interval.")
    other = results["other_cpu_pct"].median() if not results.empty else math.nan
    if not math.isnan(other) and other > OTHER_CPU_WARN_PCT:
        out.append(f"The machine was not quiet: processes other than the server and Locust used "
                   f"{other:.0f}% of a core (median over cases; the harness's own sampling is a few %). "
                   "They took CPU from the server and the generator; absolute figures are low and noisy. "
                   "To fix: run on an otherwise idle machine.")
    steal = results["steal_pct"].max() if not results.empty else math.nan
    if not math.isnan(steal) and steal > 5:
        out.append(f"The hypervisor stole up to {steal:.0f}% CPU (median per case) during the run: "
                   "another tenant was busy; absolute figures are lower than on a quiet machine.")
    out.extend(cost.perturbation_notes(results, machine))  # the generator's CPU taken from a server using every core
    out.extend(missing_figure_warnings(meta))  # an external target, a user's app, Locust workers elsewhere
    return out


# --- shared state (the counting routes) -----------------------------------------------

COUNTER_COLUMNS = ["case_id", "condition", "repetition", "mode", "workers", "route", "load", "store", "client_ok",
                   "client_failures", "counters", "counted_total", "largest_count", "largest_share", "exact"]
COUNTER_SUMMARY_COLUMNS = ["condition", "mode", "workers", "route", "load", "store", "repetitions", "client_ok",
                           "client_failures", "counters", "counted_total", "largest_count", "largest_share",
                           "all_exact"]


def counter_results(run: Run) -> pd.DataFrame:
    """One row per complete case of a counting route (columns COUNTER_COLUMNS): what the
    counters held after the load against what the client saw.

    client_ok: responses the client received with success on the case's route, over every
    phase (warm-up, window, stop): each one is one increment the server made. counters:
    how many counters there were (one per worker for memory, one for Redis);
    counted_total: their sum; largest_count: the biggest single counter, i.e. the most
    any one process (or the store) knows; largest_share = largest_count / client_ok;
    exact: counted_total == client_ok.
    """
    counters = run.tables.get("counters")
    if counters is None or counters.empty:
        return pd.DataFrame(columns=COUNTER_COLUMNS)
    cases = run["cases"]
    cases = cases[cases["status"] == "complete"]
    endpoints = run["endpoints"]
    rows = []
    for case in cases.itertuples(index=False):
        c = counters[counters["case_id"] == case.case_id]
        if c.empty:
            continue
        ep = endpoints[(endpoints["case_id"] == case.case_id) & (endpoints["name"] == case.route)]
        requests, failures = int(ep["requests"].sum()), int(ep["failures"].sum())
        ok = requests - failures
        values = c["value"].astype(float)
        total, largest = float(values.sum()), float(values.max())
        rows.append({
            "case_id": case.case_id, "condition": case.condition, "repetition": case.repetition, "mode": case.mode,
            "workers": _int(case.workers, 1), "route": case.route, "load": getattr(case, "load", "closed"),
            "store": str(c["store"].iloc[0]), "client_ok": ok, "client_failures": failures, "counters": len(c),
            "counted_total": total, "largest_count": largest, "largest_share": largest / ok if ok else math.nan,
            "exact": total == ok,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COUNTER_COLUMNS)


def counter_summary(per_case: pd.DataFrame) -> pd.DataFrame:
    """Per condition, in the order first run: client successes and counted totals added
    over the repetitions (exact counts add up), the largest single counter's share at its
    highest over the repetitions (the best any one process did), and whether every
    repetition counted exactly."""
    rows = []
    for condition, g in per_case.groupby("condition", sort=False):
        first = g.iloc[0]
        ok = int(g["client_ok"].sum())
        rows.append({
            "condition": condition, "mode": first["mode"], "workers": int(first["workers"]), "route": first["route"],
            "load": first["load"], "store": first["store"], "repetitions": len(g), "client_ok": ok,
            "client_failures": int(g["client_failures"].sum()), "counters": int(g["counters"].max()),
            "counted_total": float(g["counted_total"].sum()), "largest_count": float(g["largest_count"].max()),
            "largest_share": float(g["largest_share"].max()), "all_exact": bool(g["exact"].all()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COUNTER_SUMMARY_COLUMNS)


# --- sweeps ---------------------------------------------------------------------------

# What a sweep can vary, in the order tried; a condition's other settings must match.
SWEEP_PARAMETERS = ("threads", "workers", "uv_threadpool_size", "users", "target_rps")
SWEEP_LABELS = {"threads": "pool threads", "workers": "worker processes", "uv_threadpool_size": "UV_THREADPOOL_SIZE",
                "users": "users (closed load)", "target_rps": "offered rate (req/s, open load)"}
# What a sweep's conditions share besides the swept setting. Conditions that differ in
# something else as well (a Node version, an app, events) would repeat a value: such a
# group is not a sweep (see sweeps).
_IDENTITY = ("mode", "schedule", "balance", "path", "load", "keepalive", "probe_path", *SWEEP_PARAMETERS)
# libuv's thread pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise.
LIBUV_DEFAULT_THREADS = 4
# The knee: the smallest swept value whose median throughput is within 5 % of the best.
KNEE_FRACTION = 0.95
SWEEP_COLUMNS = ["sweep", "parameter", "value", "condition", "mode", "schedule", "route", "repetitions",
                 "throughput_median_rps", "throughput_min_rps", "throughput_max_rps", "latency_p99_ms",
                 "speedup", "scaling_efficiency", "generator_limited", "knee", "throughput_median_low_rps",
                 "throughput_median_high_rps", "throughput_interval_coverage", "knee_firm", "doubts"]


def _sweep_value(row: pd.Series, parameter: str) -> float:
    value = _num(row.get(parameter))
    if parameter == "uv_threadpool_size" and math.isnan(value):
        return float(LIBUV_DEFAULT_THREADS)
    return value


def sweeps(summary: pd.DataFrame, speed: pd.DataFrame | None = None, min_points: int = 2) -> pd.DataFrame:
    """Conditions that differ in one setting only (pool threads, workers, UV_THREADPOOL_SIZE,
    users or rate) and take at least `min_points` values of it: one row per point, sorted
    by value, with the knee marked (`knee`: the smallest value whose median throughput is
    within 5 % of the sweep's best; beyond it, adding more stops paying).

    `knee` is a candidate; `knee_firm` says whether the numbers bear it out (see
    knee_doubts): on the knee's row only, False everywhere else. `doubts` holds the
    reasons (evidence.claim_doubts over the sweep's conditions, "; "-joined) that no
    claim about the sweep is firm, "" when there are none.

    `speedup` and `scaling_efficiency` come from `speed` (see speedups) where the run had
    a baseline for the condition."""
    rows: list[dict[str, Any]] = []
    if summary.empty:
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    table = summary.copy()
    for parameter in SWEEP_PARAMETERS:
        table[f"sweep_{parameter}"] = table.apply(lambda r, p=parameter: _sweep_value(r, p), axis=1)
    claimed: set[str] = set()
    for parameter in SWEEP_PARAMETERS:
        others = [f"sweep_{p}" if p in SWEEP_PARAMETERS else p for p in _IDENTITY
                  if p != parameter and (p in SWEEP_PARAMETERS or p in table.columns)]
        key = table[others].apply(lambda r: "|".join(map(str, r)), axis=1)
        for _, g in table.groupby(key, sort=False):
            values = g[f"sweep_{parameter}"]
            if values.isna().any() or values.nunique() < min_points or set(g["condition"]) & claimed:
                continue
            if values.nunique() < len(values):  # two conditions at one value differ in something else
                continue
            g = g.sort_values(f"sweep_{parameter}")
            first = g.iloc[0]
            name = f"{first['mode']}{'-' + first['schedule'] if first['schedule'] else ''} {first['path']}: " \
                   f"{SWEEP_LABELS[parameter]}"
            best = float(g["throughput_median_rps"].max())
            knee_value = float(g.loc[g["throughput_median_rps"] >= KNEE_FRACTION * best, f"sweep_{parameter}"].min())
            doubts = evidence.claim_doubts(g)
            sweep_rows = []
            for r in g.itertuples(index=False):
                sp = speed[speed["condition"] == r.condition] if speed is not None else pd.DataFrame()
                sweep_rows.append({
                    "sweep": name, "parameter": parameter, "value": getattr(r, f"sweep_{parameter}"),
                    "condition": r.condition, "mode": r.mode, "schedule": r.schedule, "route": r.route,
                    "repetitions": r.repetitions, "throughput_median_rps": r.throughput_median_rps,
                    "throughput_min_rps": r.throughput_min_rps, "throughput_max_rps": r.throughput_max_rps,
                    "latency_p99_ms": r.latency_p99_ms,
                    "speedup": float(sp["speedup"].iloc[0]) if not sp.empty else math.nan,
                    "scaling_efficiency": float(sp["scaling_efficiency"].iloc[0]) if not sp.empty else math.nan,
                    "generator_limited": r.generator_limited,
                    "knee": getattr(r, f"sweep_{parameter}") == knee_value,
                    **{c: getattr(r, c, math.nan) for c in ("throughput_median_low_rps", "throughput_median_high_rps",
                                                            "throughput_interval_coverage")},
                    "knee_firm": False, "doubts": "; ".join(doubts),
                })  # fmt: skip
            frame = pd.DataFrame(sweep_rows)
            knee_pos = int(frame["knee"].to_numpy().argmax())
            frame.loc[knee_pos, "knee_firm"] = not knee_doubts(frame, knee_pos, doubts)
            rows += frame.to_dict("records")
            claimed |= set(g["condition"])
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def _median_iv(row: Any) -> tuple[float, float]:
    return float(row["throughput_median_low_rps"]), float(row["throughput_median_high_rps"])


def knee_doubts(points: pd.DataFrame, knee_pos: int, doubts: list[str]) -> list[str]:
    """Why the knee candidate at position `knee_pos` of one sweep's points (sorted by value)
    is not firm; [] when it is. Firm: no `doubts` (evidence.claim_doubts), and the intervals
    of the medians show the gain up to it is real (the previous point's interval wholly below
    the knee's) and the gain beyond it is not (the knee's interval overlaps the best's). A
    candidate at the largest value ("still rising") needs only the first."""
    if doubts:
        return doubts
    if points[["throughput_median_low_rps", "throughput_median_high_rps"]].isna().any(axis=None):
        return [f"the intervals of the medians are missing (fewer than {evidence.MIN_REPETITIONS} repetitions of "
                "some point): more repetitions would settle it"]
    knee, before = points.iloc[knee_pos], points.iloc[knee_pos - 1] if knee_pos > 0 else None
    best = points.loc[points["throughput_median_rps"].idxmax()]
    out = []
    if evidence.separated(_median_iv(knee), _median_iv(best)):
        out.append(f"the interval of the median at {_named(knee)} lies below the best's at {_named(best)}: "
                   "throughput still rose beyond it")
    if before is not None and not evidence.below(_median_iv(before), _median_iv(knee)):
        out.append(f"the interval of the median at {_named(before)} overlaps that at {_named(knee)}: the gain up to "
                   "it is within the noise; more repetitions would settle it")
    return out


def _named(point: Any) -> str:
    low, high = _median_iv(point)
    return f"{point['value']:g} ({low:,.0f}..{high:,.0f} req/s)"


def sweep_findings(points: pd.DataFrame, cores: int | None) -> list[str]:
    """One sentence or two per sweep, from its numbers: the medians and ranges, where the
    knee is and what p99 did past it, and whether that matches the usual advice (a
    CPU-bound pool or cluster stops paying at the number of cores). The knee and the advice
    are named only when the knee is firm (`knee_firm`, see knee_doubts); otherwise the
    sentence says it could not be placed firmly, and why."""
    out = []
    for name, g in points.groupby("sweep", sort=False):
        parameter = g["parameter"].iloc[0]
        label = SWEEP_LABELS[parameter]
        knee_pos = int(g["knee"].to_numpy().argmax())
        knee = g.iloc[knee_pos]
        best = g.loc[g["throughput_median_rps"].idxmax()]
        last = g.iloc[-1]
        values = ", ".join(f"{v:g}: {t:,.0f} ({lo:,.0f}..{hi:,.0f})" for v, t, lo, hi in
                           zip(g["value"], g["throughput_median_rps"], g["throughput_min_rps"], g["throughput_max_rps"]))
        text = f"{name}: median req/s by {label} (min..max over repetitions): {values}."
        still_rising = knee["value"] == last["value"] and len(g) > 1
        doubts = str(g["doubts"].iloc[0]).split("; ") if isinstance(g["doubts"].iloc[0], str) and g["doubts"].iloc[0] \
            else []
        reasons = knee_doubts(g, knee_pos, doubts)
        cpu_advice = bool(cores) and str(knee["route"]) in ("/cpu",) and parameter in ("threads", "workers")
        if reasons:
            what = ("Whether throughput was still rising at the largest value tried" if still_rising
                    else f"The knee (the {1 - KNEE_FRACTION:.0%} rule's candidate: {knee['value']:g})")
            text += f" {what} could not be placed firmly ({evidence.inconclusive(reasons)})."
            if cpu_advice:
                text += (f" So this sweep says nothing either way about the usual advice for CPU-bound work "
                         f"(the knee at the number of cores, {cores}).")
        elif still_rising:
            text += (f" Throughput was still rising at the largest value tried ({last['value']:g}; the last step's "
                     "intervals of the median separate): no knee in this range.")
        else:
            gain = ("the smallest value tried; no larger one gained beyond the noise" if knee_pos == 0 else
                    "the gain up to it is beyond the noise, the gain after it is not")
            text += (f" The knee is at {knee['value']:g} ({knee['throughput_median_rps']:,.0f} req/s, within "
                     f"{1 - KNEE_FRACTION:.0%} of the best, {best['throughput_median_rps']:,.0f} at {best['value']:g}; "
                     f"{gain}); beyond it p99 went from "
                     f"{knee['latency_p99_ms']:.1f} ms to {last['latency_p99_ms']:.1f} ms at {last['value']:g}.")
        if cpu_advice and not reasons:
            if knee["value"] == cores and not still_rising:
                text += f" As the usual advice says for CPU-bound work, it sits at the number of cores ({cores})."
            elif still_rising and last["value"] > cores:
                text += (f" The usual advice puts the knee at the number of cores ({cores}) for CPU-bound work; here "
                         "throughput still rose past it, which contradicts that advice on this machine.")
            elif not still_rising:
                text += (f" The usual advice puts it at the number of cores ({cores}) for CPU-bound work; here it "
                         f"is at {knee['value']:g}, which contradicts that advice on this machine (the load "
                         "generator shares the cores; see where the CPU went).")
        if g["generator_limited"].any():
            text += " Some points were generator-limited: their throughput is a floor."
        out.append(text)
    return out


# --- several runs ---------------------------------------------------------------------

def run_labels(metas: list[dict[str, Any]]) -> list[str]:
    """A short label per run that tells them apart: the run id plus what differs between
    them (commit, Node version, machine), so a side-by-side figure says what is compared."""
    def facts(m: dict[str, Any]) -> dict[str, str]:
        v, mach = m.get("versions", {}), m.get("machine", {})
        return {"commit": ((v.get("git") or {}).get("commit") or "?")[:7], "node": str(v.get("node")),
                "host": str(mach.get("hostname")), "cpu": str(mach.get("cpu_model"))}
    all_facts = [facts(m) for m in metas]
    differing = [k for k in ("commit", "node", "host", "cpu") if len({f[k] for f in all_facts}) > 1]
    labels = []
    for m, f in zip(metas, all_facts):
        extra = ", ".join(f"{k} {f[k]}" for k in differing if k != "cpu")
        labels.append(f"{m.get('run_id')}" + (f" ({extra})" if extra else ""))
    return labels


def side_by_side(summaries: list[pd.DataFrame], labels: list[str]) -> pd.DataFrame:
    """Conditions found in more than one run, each run's median throughput and p99 beside
    the first run's (ratio = this run / first run holding the condition). Ratios across
    runs are NOT measured side by side: the machine may have changed between them."""
    rows = []
    frames = [s.assign(run=label) for s, label in zip(summaries, labels)]
    both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if both.empty:
        return pd.DataFrame(columns=["condition", "run", "throughput_median_rps", "throughput_ratio",
                                     "latency_p99_ms", "latency_p99_ratio", "generator_limited"])
    for condition, g in both.groupby("condition", sort=False):
        if g["run"].nunique() < 2:
            continue
        ref = g.iloc[0]
        for r in g.itertuples(index=False):
            rows.append({"condition": condition, "run": r.run, "throughput_median_rps": r.throughput_median_rps,
                         "throughput_ratio": r.throughput_median_rps / ref["throughput_median_rps"]
                         if ref["throughput_median_rps"] > 0 else math.nan,
                         "latency_p99_ms": r.latency_p99_ms,
                         "latency_p99_ratio": r.latency_p99_ms / ref["latency_p99_ms"]
                         if ref["latency_p99_ms"] > 0 else math.nan,
                         "generator_limited": r.generator_limited})
    return pd.DataFrame(rows)


# --- events during the load (the resilience scenario) ---------------------------------

# "During an event": from when it was fired until the server said it was done (replacement
# ready, reload finished, server exited) and this long after, for stragglers.
EVENT_SETTLE_S = 1.0
# A forced exit honours the shutdown timeout if it comes within this long after it (the
# cluster primary's own fallback fires 1 s after its workers' timeout; process exit and
# the harness noticing take a little more).
FORCE_EXIT_TOLERANCE_S = 1.5
EVENT_COLUMNS = [
    "case_id", "condition", "repetition", "mode", "action", "at_s", "ts", "done_s", "outcome", "pids_before",
    "requests_window",
    "failures_window", "failures_before", "failures_during", "main_error_during", "failures_after",
    "server_in_flight", "in_flight", "in_flight_ok", "in_flight_failed", "in_flight_max_latency_ms",
    "new_pids_serving", "first_new_pid_s", "handover_s", "longest_gap_before_s", "longest_gap_after_s",
    "exit_code", "exit_s", "shutdown_timeout_s", "forced", "timeout_honoured", "refused_after_exit",
]


def _pid_set(text: Any) -> set[str]:
    return set(text.split()) if isinstance(text, str) else set()


def longest_gap_s(done_ts: pd.Series, start_ts: float, end_ts: float) -> float:
    """The longest time in [start_ts, end_ts] without a response completing (successful
    responses' completion times given): how long the client saw no service."""
    times = np.sort(done_ts[(done_ts >= start_ts) & (done_ts <= end_ts)].to_numpy(dtype=float))
    edges = np.concatenate([[start_ts], times, [end_ts]])
    return float(np.diff(edges).max()) if end_ts > start_ts else math.nan


def event_outcomes(run: Run) -> pd.DataFrame:
    """One row per event fired (columns EVENT_COLUMNS), from the events, requests, workers
    and endpoints tables, all in the client's view except what the server did:

    failures_window: failed responses in the measurement window; failures_before /
    failures_during / failures_after: those completed before the event, from it until
    EVENT_SETTLE_S after the server said it was done (done_s), and from it to the
    window's end; main_error_during: the commonest error among those during it. server_in_flight: what the server's /metrics said was in flight just
    before the event (the victim's for kill-worker, every worker's otherwise); in_flight:
    responses the client sent before the event and received after it (in_flight_ok
    succeeded; in_flight_max_latency_ms: the slowest, which shows a request the client
    silently re-sent after its connection broke). new_pids_serving / first_new_pid_s: worker pids that
    were not there before the event and answered the client, and how long after the event
    the first of them did (NaN: none did in the window). handover_s (reload and restart, which
    replace every instance): the first response of a new instance minus the last response of
    an old one, in any phase; positive: a stretch in which no instance answered, negative:
    old and new answered side by side for that long (NaN for other events, or when either
    side answered nothing). longest_gap_*_s: the longest
    stretch without a successful response, in the window before the event and after it.
    sigterm: exit_code (1: forced) and exit_s, the time from SIGTERM to the exit, checked
    against shutdown_timeout_s (timeout_honoured); refused_after_exit: failures after it."""
    events = run.tables.get("events")
    if events is None or events.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    cases = run["cases"].set_index("case_id")
    requests, workers, endpoints = run["requests"], run["workers"], run["endpoints"]
    rows = []
    for e in events.itertuples(index=False):
        if e.case_id not in cases.index:
            continue
        case = cases.loc[e.case_id]
        m_start, m_end = _num(case["measure_start_ts"]), _num(case["measure_end_ts"])
        ts, done_s = _num(e.ts), _num(e.done_s)
        ep = without_double_count(endpoints[(endpoints["case_id"] == e.case_id) & (endpoints["phase"] == "measure")])
        r = requests[(requests["case_id"] == e.case_id) & (requests["phase"] == "measure")]
        ok = r["ok"].astype(str).str.lower().isin(("true", "1"))
        failed_done = r.loc[~ok, "done_ts"]
        settle_end = ts + (0.0 if math.isnan(done_s) else done_s) + EVENT_SETTLE_S
        in_flight = r[(r["start_ts"] < ts) & (r["done_ts"] >= ts)] if not math.isnan(ts) else r.iloc[0:0]
        in_flight_ok = ok.loc[in_flight.index]
        before = _pid_set(e.pids_before)
        w = workers[(workers["case_id"] == e.case_id) & (workers["pid"] != NO_WORKER)]
        new = w[~w["pid"].astype(str).isin(before)] if before else w.iloc[0:0]
        first_new = _num(new["first_response_ts"].min()) if not new.empty else math.nan
        old = w[w["pid"].astype(str).isin(before)]
        last_old = _num(old["last_response_ts"].max()) if not old.empty else math.nan
        handover = first_new - last_old if e.action in ("reload", "restart") else math.nan
        forced = exit_s = honoured = math.nan
        refused = math.nan
        exit_code = _num(e.exit_code)
        timeout = _num(getattr(e, "shutdown_timeout_s", math.nan))
        if e.action == "sigterm" and not math.isnan(done_s):
            exit_s = done_s
            forced = exit_code == 1
            honoured = exit_s <= timeout + FORCE_EXIT_TOLERANCE_S
            refused = int((failed_done >= ts + done_s).sum())
        ok_done = r.loc[ok, "done_ts"]
        during = r[~ok & (r["done_ts"] >= ts) & (r["done_ts"] <= settle_end)]
        errors = during["error"].dropna().astype(str)
        rows.append({
            "case_id": e.case_id, "condition": case["condition"], "repetition": case["repetition"],
            "mode": case["mode"], "action": e.action, "at_s": _num(e.at_s), "ts": ts, "done_s": done_s,
            "outcome": e.outcome, "pids_before": e.pids_before if isinstance(e.pids_before, str) else "",
            "requests_window": int(ep["requests"].sum()),
            "failures_window": int(ep["failures"].sum()),
            "failures_before": int((failed_done < ts).sum()),
            "failures_during": len(during),
            "main_error_during": errors.mode().iloc[0] if not errors.empty else "",
            "failures_after": int((failed_done >= ts).sum()),
            "server_in_flight": _num(getattr(e, "server_in_flight", math.nan)),
            "in_flight": len(in_flight), "in_flight_ok": int(in_flight_ok.sum()),
            "in_flight_failed": int((~in_flight_ok).sum()),
            "in_flight_max_latency_ms": _num(in_flight["latency_ms"].max()) if len(in_flight) else math.nan,
            "new_pids_serving": int(new["pid"].nunique()),
            "first_new_pid_s": first_new - ts if not math.isnan(first_new) else math.nan,
            "handover_s": handover,
            "longest_gap_before_s": longest_gap_s(ok_done, m_start, ts) if not math.isnan(ts) else math.nan,
            "longest_gap_after_s": longest_gap_s(ok_done, ts, m_end) if not math.isnan(ts) else math.nan,
            "exit_code": exit_code, "exit_s": exit_s, "shutdown_timeout_s": timeout, "forced": forced,
            "timeout_honoured": honoured, "refused_after_exit": refused,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)
