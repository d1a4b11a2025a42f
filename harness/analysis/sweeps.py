"""Sweeps: conditions that differ in one setting only, one row per point with the knee
marked (sweeps), and whether the knee is firm (knee_problems: short codes). The
sentences about a sweep are harness.report.sweeps'.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness import evidence
from harness.analysis.stats import _num

# What a sweep can vary, in the order tried; a condition's other settings must match.
SWEEP_PARAMETERS = ("threads", "workers", "uv_threadpool_size", "users", "target_rps")
SWEEP_LABELS = {
    "threads": "pool threads",
    "workers": "worker processes",
    "uv_threadpool_size": "UV_THREADPOOL_SIZE",
    "users": "users (closed load)",
    "target_rps": "offered rate (req/s, open load)",
}
# What a sweep's conditions share besides the swept setting. Conditions that differ in
# something else as well (a Node version, an app, events) would repeat a value: such a
# group is not a sweep (see sweeps).
_IDENTITY = ("mode", "schedule", "balance", "path", "load", "keepalive", "probe_path", *SWEEP_PARAMETERS)
# libuv's thread pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise.
LIBUV_DEFAULT_THREADS = 4
# The knee: the smallest swept value whose median throughput is within 5 % of the best.
KNEE_FRACTION = 0.95
SWEEP_COLUMNS = [
    "sweep",
    "parameter",
    "value",
    "condition",
    "mode",
    "schedule",
    "route",
    "repetitions",
    "throughput_median_rps",
    "throughput_min_rps",
    "throughput_max_rps",
    "latency_p99_ms",
    "speedup",
    "scaling_efficiency",
    "generator_limited",
    "knee",
    "throughput_median_low_rps",
    "throughput_median_high_rps",
    "throughput_interval_coverage",
    "knee_firm",
    "doubts",
]


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
    knee_problems): on the knee's row only, False everywhere else. `doubts` holds the
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
        others = [
            f"sweep_{p}" if p in SWEEP_PARAMETERS else p
            for p in _IDENTITY
            if p != parameter and (p in SWEEP_PARAMETERS or p in table.columns)
        ]
        key = table[others].apply(lambda r: "|".join(map(str, r)), axis=1)
        for _, g in table.groupby(key, sort=False):
            values = g[f"sweep_{parameter}"]
            if values.isna().any() or values.nunique() < min_points or set(g["condition"]) & claimed:
                continue
            if values.nunique() < len(values):  # two conditions at one value differ in something else
                continue
            g = g.sort_values(f"sweep_{parameter}")
            first = g.iloc[0]
            name = (
                f"{first['mode']}{'-' + first['schedule'] if first['schedule'] else ''} {first['path']}: "
                f"{SWEEP_LABELS[parameter]}"
            )
            best = float(g["throughput_median_rps"].max())
            knee_value = float(g.loc[g["throughput_median_rps"] >= KNEE_FRACTION * best, f"sweep_{parameter}"].min())
            doubts = evidence.claim_doubts(g)
            sweep_rows = []
            for r in g.itertuples(index=False):
                sp = speed[speed["condition"] == r.condition] if speed is not None else pd.DataFrame()
                sweep_rows.append(
                    {
                        "sweep": name,
                        "parameter": parameter,
                        "value": getattr(r, f"sweep_{parameter}"),
                        "condition": r.condition,
                        "mode": r.mode,
                        "schedule": r.schedule,
                        "route": r.route,
                        "repetitions": r.repetitions,
                        "throughput_median_rps": r.throughput_median_rps,
                        "throughput_min_rps": r.throughput_min_rps,
                        "throughput_max_rps": r.throughput_max_rps,
                        "latency_p99_ms": r.latency_p99_ms,
                        "speedup": float(sp["speedup"].iloc[0]) if not sp.empty else math.nan,
                        "scaling_efficiency": float(sp["scaling_efficiency"].iloc[0]) if not sp.empty else math.nan,
                        "generator_limited": r.generator_limited,
                        "knee": getattr(r, f"sweep_{parameter}") == knee_value,
                        **{
                            c: getattr(r, c, math.nan)
                            for c in (
                                "throughput_median_low_rps",
                                "throughput_median_high_rps",
                                "throughput_interval_coverage",
                            )
                        },
                        "knee_firm": False,
                        "doubts": "; ".join(doubts),
                    }
                )
            frame = pd.DataFrame(sweep_rows)
            knee_pos = int(frame["knee"].to_numpy().argmax())
            frame.loc[knee_pos, "knee_firm"] = not doubts and not knee_problems(frame, knee_pos)
            rows += frame.to_dict("records")
            claimed |= set(g["condition"])
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def median_iv(row: Any) -> tuple[float, float]:
    """A sweep point's interval of the median throughput (low, high)."""
    return float(row["throughput_median_low_rps"]), float(row["throughput_median_high_rps"])


def knee_problems(points: pd.DataFrame, knee_pos: int) -> list[str]:
    """Why the knee candidate at position `knee_pos` of one sweep's points (sorted by value)
    is not firm, besides evidence.claim_doubts, as short codes; [] when it is firm.
    "no-intervals": the intervals of the medians are missing. Otherwise the intervals must
    show the gain up to the knee is real and the gain beyond it is not: "rose-beyond", the
    knee's interval lies wholly below the best's; "gain-in-noise", the previous point's
    interval is not wholly below the knee's. A candidate at the largest value ("still
    rising") needs only the first. harness.report.sweeps.knee_doubts words them."""
    if points[["throughput_median_low_rps", "throughput_median_high_rps"]].isna().any(axis=None):
        return ["no-intervals"]
    knee, before = points.iloc[knee_pos], points.iloc[knee_pos - 1] if knee_pos > 0 else None
    best = points.loc[points["throughput_median_rps"].idxmax()]
    out = []
    if evidence.separated(median_iv(knee), median_iv(best)):
        out.append("rose-beyond")
    if before is not None and not evidence.below(median_iv(before), median_iv(knee)):
        out.append("gain-in-noise")
    return out
