"""Summaries over repetitions and cases: per condition (condition_summary: medians,
ranges, intervals of the median, latency from merged histograms), speedups over the
baseline, per request name (a user's locustfile), per worker and pool thread, CPU by
process and by thread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness import evidence
from harness.analysis.results import _app_cases, _preloaded, _window_samples, requests_by_unit, spread_key
from harness.load.hooks import decode_histogram, latency_summary
from harness.record import PROBE_PREFIX, Run
from harness.scenario import AGGREGATE_NAME, side_of

# A condition whose throughput varies more than this across repetitions is unstable.
UNSTABLE_CV_PCT = 10.0
LATENCY_SUMMARY_COLUMNS = ("latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms", "latency_p99_9_ms")


def merged_latency(endpoints: pd.DataFrame, case_ids: list[str], name: str) -> dict[str, float | None]:
    """Latency figures of the measured responses of several cases, from their HDR
    histograms added bin by bin (exact, unlike a median of per-case percentiles)."""
    rows = endpoints[
        endpoints["case_id"].isin(case_ids) & (endpoints["phase"] == "measure") & (endpoints["name"] == name)
    ]
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
        out.append(
            {
                "condition": condition,
                "mode": first["mode"],
                "workers": first["workers"],
                "schedule": first["schedule"],
                "threads": first["threads"],
                "balance": first["balance"],
                "uv_threadpool_size": first["uv_threadpool_size"],
                "route": first["route"],
                "path": first["path"],
                "load": first["load"],
                "users": first["users"],
                "target_rps": first["target_rps"],
                "repetitions": len(g),
                "throughput_median_rps": float(tput.median()),
                "throughput_min_rps": float(tput.min()),
                "throughput_max_rps": float(tput.max()),
                # the distribution-free interval of the median, NaN below evidence.MIN_REPETITIONS
                "throughput_median_low_rps": low,
                "throughput_median_high_rps": high,
                "throughput_interval_coverage": coverage,
                "throughput_cv_pct": cv,
                **_median_intervals(
                    g,
                    (
                        "jain_index",
                        "probe_latency_p99_ms",
                        "server_cpu_ms_per_request",
                        "latency_p50_ms",
                        "server_rss_mb",
                    ),
                ),
                # what evidence.claim_doubts reads from a summary row
                "requests": int(g["requests"].sum()),
                "other_cpu_pct": float(g["other_cpu_pct"].median()),
                "steal_pct": float(g["steal_pct"].median()),
                **latency,
                "server_cpu_pct": float(g["server_cpu_pct"].median()),
                "server_cpu_ms_per_request": float(g["server_cpu_ms_per_request"].median()),
                "primary_cpu_pct": float(g["primary_cpu_pct"].median()),
                "proxy_cpu_pct": float(g["proxy_cpu_pct"].median()),
                "generator_cpu_pct": float(g["generator_cpu_pct"].median()),
                "machine_cpu_pct": float(g["machine_cpu_pct"].median()),
                "jain_index": float(g["jain_index"].median()),
                "failures": int(g["failures"].sum()),
                # the probe's own requests (a claim on its latency must know how many failed)
                "probe_requests": int(pd.to_numeric(g["probe_requests"], errors="coerce").fillna(0).sum()),
                "probe_failures": int(pd.to_numeric(g["probe_failures"], errors="coerce").fillna(0).sum()),
                "keepalive": bool(first["keepalive"]),
                "probe_path": first["probe_path"],
                "probe_latency_p50_ms": float(g["probe_latency_p50_ms"].median()),
                "probe_latency_p99_ms": float(g["probe_latency_p99_ms"].median()),
                "event_loop_delay_p99_ms": float(g["event_loop_delay_p99_ms"].median()),
                "server_rss_mb": float(g["server_rss_mb"].median()),
                "generator_limited": bool(g["generator_limited"].any()),
                "unstable": bool(cv > UNSTABLE_CV_PCT) if not math.isnan(cv) else False,
                **_open_load_summary(g),
            }
        )
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
    return {
        "dropped": float(dropped.sum()) if dropped.notna().any() else math.nan,
        "completed_median_rps": float(column("completed_rps").median()),
        "send_lag_p99_ms": float(column("send_lag_p99_ms").median()),
        "overloaded": bool(g["overloaded"].astype(object).fillna(False).astype(bool).any())
        if "overloaded" in g.columns
        else False,
    }


def speedups(results: pd.DataFrame, baseline_mode: str = "single") -> pd.DataFrame:
    """Each condition's throughput over the baseline's on the same route and load.

    `speedup` is the ratio of medians; `paired_*` are the ratios of repetition i to the
    baseline's repetition i (run next to each other, so they share the machine's drift).
    `scaling_efficiency` = speedup / workers (1.0 = perfect use of every worker).
    """
    rows = []
    base_all = results[results["mode"] == baseline_mode]
    for (condition, path, users, target, keepalive, probe), g in results.groupby(
        ["condition", "path", "users", "target_rps", "keepalive", "probe_path"], sort=False, dropna=False
    ):
        same_rate = base_all["target_rps"].isna() if pd.isna(target) else base_all["target_rps"] == target
        # an A/B run: each side's ratio is over its own side's baseline, never across sides
        # (a list, not .map: on a string column .map gives strings, and `&` with those is
        # deprecated in pandas and will raise)
        side = side_of(condition)[1]
        same_side = pd.Series([side_of(c)[1] == side for c in base_all["condition"]], index=base_all.index, dtype=bool)
        base = base_all[
            (base_all["path"] == path)
            & (base_all["users"] == users)
            & same_rate
            & (base_all["keepalive"] == keepalive)
            & (base_all["probe_path"] == probe)
            & same_side
        ]
        if base.empty or condition in set(base["condition"]):
            continue
        base = base[base["condition"] == base["condition"].iloc[0]]  # the first baseline condition run
        paired = []
        base_by_rep = base.set_index("repetition")["throughput_rps"]
        for rep, tput in zip(g["repetition"], g["throughput_rps"]):
            if rep in base_by_rep.index and base_by_rep[rep] > 0:
                paired.append(tput / base_by_rep[rep])
        base_rps = float(base["throughput_rps"].median())
        # a baseline that served nothing (or whose throughput the record lacks) has no ratio over it
        speedup = float(g["throughput_rps"].median()) / base_rps if base_rps > 0 else math.nan
        workers = int(g["units"].iloc[0])
        # efficiency is per unit of parallelism over the baseline's (1 for single)
        base_units = int(base["units"].iloc[0]) if "units" in base.columns else 1
        rows.append(
            {
                "condition": condition,
                "baseline": base["condition"].iloc[0],
                "path": path,
                "users": users,
                "workers": workers,
                "baseline_workers": base_units,
                "speedup": float(speedup),
                "scaling_efficiency": float(speedup * base_units / workers),
                "paired_median": float(np.median(paired)) if paired else math.nan,
                "paired_min": float(min(paired)) if paired else math.nan,
                "paired_max": float(max(paired)) if paired else math.nan,
                "generator_limited": bool(g["generator_limited"].any() or base["generator_limited"].any()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "condition",
            "baseline",
            "path",
            "users",
            "workers",
            "baseline_workers",
            "speedup",
            "scaling_efficiency",
            "paired_median",
            "paired_min",
            "paired_max",
            "generator_limited",
        ],
    )


NAME_COLUMNS = [
    "condition",
    "name",
    "repetitions",
    "requests",
    "failures",
    "share",
    "throughput_median_rps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
]


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
    ep = ep[
        (ep["phase"] == "measure")
        & (ep["name"] != AGGREGATE_NAME)
        & ~ep["name"].astype(str).str.startswith(PROBE_PREFIX)
    ].merge(cases, on="case_id")
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
            rows.append(
                {
                    "condition": condition,
                    "name": name,
                    "repetitions": int(n["case_id"].nunique()),
                    "requests": int(n["requests"].sum()),
                    "failures": int(n["failures"].sum()),
                    "share": float(n["requests"].sum()) / total if total else math.nan,
                    "throughput_median_rps": float(ok_rps.median()),
                    **{
                        c: math.nan if lat[c] is None else float(lat[c])
                        for c in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")
                    },
                }
            )
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
    out = g.agg(
        cpu_first_s=("cpu_s", "first"), cpu_last_s=("cpu_s", "last"), worker_id=("worker_id", "first")
    ).reset_index()
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
        thread_name=("thread_name", "first"), first=("cpu_s", "first"), last=("cpu_s", "last")
    )
    g["cpu_s"] = g["last"] - g["first"]
    g = g.merge(span, left_on="case_id", right_index=True)
    g["cores"] = g["cpu_s"] / g["span_s"].where(g["span_s"] > 0)
    g["main"] = g["tid"] == g["pid"]
    return g[columns]
