"""Shared state (the counting routes): what each counter held after the load against the
successes the client saw, per case (counter_results) and per condition (counter_summary).
"""

from __future__ import annotations

import math

import pandas as pd

from harness.analysis.stats import _int
from harness.record import Run

COUNTER_COLUMNS = [
    "case_id",
    "condition",
    "repetition",
    "mode",
    "workers",
    "route",
    "load",
    "store",
    "client_ok",
    "client_failures",
    "counters",
    "counted_total",
    "largest_count",
    "largest_share",
    "exact",
]
COUNTER_SUMMARY_COLUMNS = [
    "condition",
    "mode",
    "workers",
    "route",
    "load",
    "store",
    "repetitions",
    "client_ok",
    "client_failures",
    "counters",
    "counted_total",
    "largest_count",
    "largest_share",
    "all_exact",
]


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
        rows.append(
            {
                "case_id": case.case_id,
                "condition": case.condition,
                "repetition": case.repetition,
                "mode": case.mode,
                "workers": _int(case.workers, 1),
                "route": case.route,
                "load": getattr(case, "load", "closed"),
                "store": str(c["store"].iloc[0]),
                "client_ok": ok,
                "client_failures": failures,
                "counters": len(c),
                "counted_total": total,
                "largest_count": largest,
                "largest_share": largest / ok if ok else math.nan,
                "exact": total == ok,
            }
        )
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
        rows.append(
            {
                "condition": condition,
                "mode": first["mode"],
                "workers": int(first["workers"]),
                "route": first["route"],
                "load": first["load"],
                "store": first["store"],
                "repetitions": len(g),
                "client_ok": ok,
                "client_failures": int(g["client_failures"].sum()),
                "counters": int(g["counters"].max()),
                "counted_total": float(g["counted_total"].sum()),
                "largest_count": float(g["largest_count"].max()),
                "largest_share": float(g["largest_share"].max()),
                "all_exact": bool(g["exact"].all()),
            }
        )
    return pd.DataFrame(rows, columns=COUNTER_SUMMARY_COLUMNS)
