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
from scipy import stats

from harness.load.hooks import NO_WORKER, SIGNIFICANT_DIGITS, decode_histogram, latency_summary
from harness.record import Run

# Locust runs in one process and warns when that process passes 90 % of a core: past it,
# the generator, not the server, sets the pace.
GENERATOR_LIMIT_CPU_PCT = 90.0
# A condition whose throughput varies more than this across repetitions is unstable.
UNSTABLE_CV_PCT = 10.0
# Client and server counts of one worker's requests may differ by this much (interrupted
# requests at the stop) before it is a warning.
MISMATCH_TOLERANCE = 0.01
SERVER_ROLES = ("primary", "worker", "proxy", "pm2-daemon")
# A throughput within 20 % of the calibrated generator ceiling is suspect.
NEAR_CEILING = 0.8
# Open load: sending more than 5 % below the target rate means the generator fell behind.
OPEN_SHORTFALL = 0.05
LATENCY_SUMMARY_COLUMNS = ("latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
                           "latency_p99_9_ms")
LATENCY_PRECISION_PCT = 10 ** (-SIGNIFICANT_DIGITS + 2)  # 3 significant digits: within 0.1 %

RESULT_COLUMNS = [
    "case_id", "condition", "repetition", "mode", "workers", "threads", "schedule", "route", "path", "users", "load",
    "target_rps", "sent_rps", "generator_processes", "measured_s",
    "requests", "failures", "throughput_rps", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms",
    "latency_p95_ms", "latency_p99_ms", "latency_p99_9_ms", "latency_max_ms", "server_cpu_pct",
    "server_cpu_ms_per_request",
    "generator_cpu_pct", "machine_cpu_pct", "steal_pct", "workers_seen", "jain_index", "max_min_share_ratio",
    "client_server_mismatch", "generator_limited", "generator_limited_reason", "overloaded_reason",
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


def jain_index(counts: Any) -> float:
    """Jain's fairness index: 1 when every worker got the same, 1/n when one got everything."""
    x = np.asarray(list(counts), dtype=float)
    if x.size == 0 or x.sum() == 0:
        return math.nan
    return float(x.sum() ** 2 / (x.size * (x**2).sum()))


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
                      cap_waits: int = 0) -> tuple[bool, str | None]:
    """Was the generator, not the server, the limit? Hot Locust CPU; or, in open load, a
    send rate more than OPEN_SHORTFALL below the target while in-flight slots were free
    (when the slots were all taken, the server fell behind: see open_load_overloaded)."""
    limited, reason = generator_limited(hottest_generator_cpu_pct)
    if limited:
        return limited, reason
    if _short(target_rps, sent_rps) and not cap_waits:
        return True, (f"the load generator sent {sent_rps:,.0f} req/s of the {target_rps:,.0f} req/s asked for: "
                      "it could not keep the schedule, so latency at the target rate was not measured")
    return False, None


def open_load_overloaded(target_rps: float | None, sent_rps: float | None, cap_waits: int) -> str | None:
    """Open load the server could not keep up with: requests waited for an in-flight slot."""
    if _short(target_rps, sent_rps) and cap_waits:
        return (f"the server fell behind {target_rps:,.0f} req/s: {cap_waits:,} requests found every in-flight slot "
                f"taken and the send rate fell to {sent_rps:,.0f} req/s. Latency here is that of an overloaded "
                "server (growing queues), measured from when each request was due")
    return None


def _short(target_rps: float | None, sent_rps: float | None) -> bool:
    return bool(target_rps) and sent_rps is not None and not math.isnan(sent_rps) \
        and sent_rps < target_rps * (1 - OPEN_SHORTFALL)


def confidence_interval(values: Any, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean across repetitions; NaNs with fewer than 2 values."""
    x = np.asarray(list(values), dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
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


def window_cpu_pct(samples: pd.DataFrame, roles: tuple[str, ...]) -> float:
    """Total average CPU of the given roles over the window, % of one core."""
    per_pid = window_cpu_by_pid(samples, roles)
    return float(per_pid.sum()) if not per_pid.empty else math.nan


def case_results(run: Run) -> pd.DataFrame:
    """One row per complete case (columns RESULT_COLUMNS), measurement window only."""
    cases = run["cases"]
    cases = cases[cases["status"] == "complete"]
    endpoints = run["endpoints"]
    measured = endpoints[endpoints["phase"] == "measure"]
    workers = run["workers"]
    server = run["server_metrics"]
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
        limited, reason = generator_verdict(float(gen_by_pid.max()) if not gen_by_pid.empty else math.nan,
                                            target, sent, cap_waits)
        overloaded = open_load_overloaded(target, sent, cap_waits)
        w = workers[(workers["case_id"] == case.case_id) & (workers["phase"] == "measure")
                    & (workers["worker_id"] != NO_WORKER)]
        per_worker = w.groupby("worker_id")["requests"].sum()
        server_cpu = window_cpu_pct(cs, SERVER_ROLES)
        tput = (requests - failures) / case.measured_s
        rows.append({
            "case_id": case.case_id, "condition": case.condition, "repetition": case.repetition, "mode": case.mode,
            "workers": case.workers, "threads": _num(getattr(case, "threads", None)), "schedule": case.schedule if isinstance(case.schedule, str) else "",
            "route": case.route, "path": case.path, "users": case.users, "load": getattr(case, "load", "closed"),
            "target_rps": target, "sent_rps": sent, "measured_s": case.measured_s,
            "generator_processes": _int(getattr(case, "generator_processes", 1), 1), "requests": requests,
            "failures": failures, "throughput_rps": tput,
            **{c: (float(lat[c]) if lat is not None and pd.notna(lat[c]) else math.nan)
               for c in RESULT_COLUMNS if c.startswith("latency_")},
            "server_cpu_pct": server_cpu,
            # CPU the server spent per successful request: tells "less efficient" from "short of CPU".
            "server_cpu_ms_per_request": server_cpu * 10 / tput if tput > 0 else math.nan,
            "generator_cpu_pct": generator_cpu,
            "machine_cpu_pct": _median_of_tick_sums(cs, ("machine",)),
            "steal_pct": float(cs.loc[cs["role"] == "machine", "steal_pct"].median()) if not cs.empty else math.nan,
            "workers_seen": int((per_worker > 0).sum()), "jain_index": jain_index(per_worker.values),
            "max_min_share_ratio": max_min_ratio(per_worker.values),
            "client_server_mismatch": client_server_mismatch(
                workers, server, case.case_id,
                _num(getattr(case, "max_in_flight", None)) if getattr(case, "load", "closed") == "open"
                else float(case.users)),
            "generator_limited": limited, "generator_limited_reason": reason, "overloaded_reason": overloaded,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


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
                           in_flight_bound: float = 0.0) -> float:
    """Largest relative difference, over workers, between the responses the client counted
    (all phases) and the requests the worker's /metrics counted during the load, beyond
    what the stop explains: up to `in_flight_bound` requests (users, or open load's
    in-flight cap) can be cut off client-side while the server still counts them."""
    client = workers[workers["case_id"] == case_id].groupby("worker_id")["requests"].sum()
    srv = server[server["case_id"] == case_id]
    if srv.empty:  # no server-side counts (an external target or a user's app without /metrics): nothing to compare
        return math.nan
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
        low, high = confidence_interval(tput)
        mean = tput.mean()
        cv = float(tput.std(ddof=1) / mean * 100) if len(tput) > 1 and mean > 0 else math.nan
        first = g.iloc[0]
        out.append({
            "condition": condition, "mode": first["mode"], "workers": first["workers"], "schedule": first["schedule"],
            "route": first["route"], "users": first["users"], "repetitions": len(g),
            "throughput_median_rps": float(tput.median()), "throughput_min_rps": float(tput.min()),
            "throughput_max_rps": float(tput.max()), "throughput_ci95_low_rps": low, "throughput_ci95_high_rps": high,
            "throughput_cv_pct": cv,
            **latency,
            "server_cpu_pct": float(g["server_cpu_pct"].median()),
            "server_cpu_ms_per_request": float(g["server_cpu_ms_per_request"].median()),
            "generator_cpu_pct": float(g["generator_cpu_pct"].median()),
            "machine_cpu_pct": float(g["machine_cpu_pct"].median()),
            "jain_index": float(g["jain_index"].median()), "failures": int(g["failures"].sum()),
            "generator_limited": bool(g["generator_limited"].any()),
            "unstable": bool(cv > UNSTABLE_CV_PCT) if not math.isnan(cv) else False,
        })  # fmt: skip
    return pd.DataFrame(out)


def speedups(results: pd.DataFrame, baseline_mode: str = "single") -> pd.DataFrame:
    """Each condition's throughput over the baseline's on the same route and load.

    `speedup` is the ratio of medians; `paired_*` are the ratios of repetition i to the
    baseline's repetition i (run next to each other, so they share the machine's drift).
    `scaling_efficiency` = speedup / workers (1.0 = perfect use of every worker).
    """
    rows = []
    base_all = results[results["mode"] == baseline_mode]
    for (condition, path, users, target), g in results.groupby(["condition", "path", "users", "target_rps"],
                                                                sort=False, dropna=False):
        same_rate = base_all["target_rps"].isna() if pd.isna(target) else base_all["target_rps"] == target
        base = base_all[(base_all["path"] == path) & (base_all["users"] == users) & same_rate]
        if base.empty or condition in set(base["condition"]):
            continue
        base = base[base["condition"] == base["condition"].iloc[0]]  # the first baseline condition run
        paired = []
        base_by_rep = base.set_index("repetition")["throughput_rps"]
        for rep, tput in zip(g["repetition"], g["throughput_rps"]):
            if rep in base_by_rep.index and base_by_rep[rep] > 0:
                paired.append(tput / base_by_rep[rep])
        speedup = g["throughput_rps"].median() / base["throughput_rps"].median()
        first = g.iloc[0]
        # what can run in parallel: the pool's threads, otherwise the server processes
        threads = _num(getattr(first, "threads", math.nan)) if "threads" in g.columns else math.nan
        workers = int(threads) if first["mode"] == "pool" and not math.isnan(threads) else int(first["workers"])
        rows.append({
            "condition": condition, "baseline": base["condition"].iloc[0], "path": path, "users": users,
            "workers": workers, "speedup": float(speedup), "scaling_efficiency": float(speedup / workers),
            "paired_median": float(np.median(paired)) if paired else math.nan,
            "paired_min": float(min(paired)) if paired else math.nan,
            "paired_max": float(max(paired)) if paired else math.nan,
            "generator_limited": bool(g["generator_limited"].any() or base["generator_limited"].any()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["condition", "baseline", "path", "users", "workers", "speedup",
                                       "scaling_efficiency", "paired_median", "paired_min", "paired_max",
                                       "generator_limited"])


def requests_per_worker(run: Run) -> pd.DataFrame:
    """Measured-window responses per worker per case, with each worker's share."""
    w = run["workers"]
    w = w[(w["phase"] == "measure") & (w["worker_id"] != NO_WORKER)]
    w = w.groupby(["case_id", "worker_id"], as_index=False)["requests"].sum()
    w["share"] = w["requests"] / w.groupby("case_id")["requests"].transform("sum")
    cases = run["cases"][["case_id", "condition", "repetition"]]
    return w.merge(cases, on="case_id")


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
    if not summary.empty and int(summary["repetitions"].max()) < 3:
        out.append(f"Only {int(summary['repetitions'].max())} repetition(s) per condition: the 95% intervals are "
                   "wide (or absent). Use more repetitions for a firm conclusion.")
    steal = results["steal_pct"].max() if not results.empty else math.nan
    if not math.isnan(steal) and steal > 5:
        out.append(f"The hypervisor stole up to {steal:.0f}% CPU (median per case) during the run: "
                   "another tenant was busy; absolute figures are lower than on a quiet machine.")
    out.extend(missing_figure_warnings(meta))  # an external target, a user's app, Locust workers elsewhere
    return out
