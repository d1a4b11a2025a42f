"""How much a comparison may claim: the shared rules behind every verdict the harness prints.

A number is measured; a claim ("as the usual advice says", "contradicts", a knee, a
winner) is earned. A claim is on one of three levels (see design.md, "Verdicts"):
firm, inconclusive (measured, but a condition below fails: say which and what would
settle it) or not measured. These pure functions compute the conditions; the report's
sentences (harness.report.story, harness.report.sweeps) and, later, compare.py word them.

The interval used everywhere is the distribution-free interval of the MEDIAN (what a bar
shows), from order statistics: [x(k), x(n-k+1)] covers the true median with probability
1 - 2 P(B <= k-1), B ~ Binomial(n, 1/2), whatever the distribution of the repetitions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from harness.record import Run

# Fewer repetitions than this give no interval at all (min..max of 2 covers the median only
# half the time), so no claim resting on them is firm.
MIN_REPETITIONS = 3
# The hypervisor stealing more CPU than this (% median per case) means a busy neighbour.
STEAL_BOUND_PCT = 5.0
# More failed requests than this fraction, and the throughput measures failures too.
FAILURE_BOUND = 0.01
Interval = tuple[float, float]


def median_interval(values: Any, level: float = 0.95) -> tuple[float, float, float]:
    """(low, high, coverage) of the median of `values` (NaNs dropped): the narrowest
    symmetric pair of order statistics whose coverage reaches `level`, or, when even
    min..max falls short (3 to 5 values at 95 %), min..max with its actual coverage
    (n=3: 75 %, n=4: 87.5 %, n=5: 93.75 %). NaNs with fewer than MIN_REPETITIONS values."""
    x = np.sort(np.asarray([v for v in values if not pd.isna(v)], dtype=float))
    n = x.size
    if n < MIN_REPETITIONS:
        return math.nan, math.nan, math.nan
    k, coverage = 1, _order_coverage(n, 1)
    while k + 1 <= (n + 1) // 2 and _order_coverage(n, k + 1) >= level:
        k += 1
        coverage = _order_coverage(n, k)
    return float(x[k - 1]), float(x[n - k]), coverage


def _order_coverage(n: int, k: int) -> float:
    """Probability that [x(k), x(n-k+1)] of n values holds their distribution's median."""
    from scipy import stats  # imported on first use (about a second): many commands compute no interval

    return float(1 - 2 * stats.binom.cdf(k - 1, n, 0.5))


def separated(a: Interval, b: Interval) -> bool:
    """True when the two intervals do not overlap (False if either is missing)."""
    if any(pd.isna(v) for v in (*a, *b)):
        return False
    return a[1] < b[0] or b[1] < a[0]


def below(a: Interval, b: Interval) -> bool:
    """True when interval `a` lies wholly below interval `b`."""
    return separated(a, b) and a[1] < b[0]


def side_of(interval: Interval, bound: float) -> str | None:
    """ "above" when all of the interval is at or above `bound`, "below" when all of it is
    below, None when it straddles the bound or is missing."""
    if any(pd.isna(v) for v in interval):
        return None
    if interval[0] >= bound:
        return "above"
    return "below" if interval[1] < bound else None


def ratio_interval(numerator: Interval, denominator: Interval) -> Interval:
    """The widest ratio two intervals allow (numerator low over denominator high, and the
    reverse): a ratio claim is firm only where all of this interval is on its side."""
    if any(pd.isna(v) for v in (*numerator, *denominator)) or denominator[0] <= 0:
        return math.nan, math.nan
    return numerator[0] / denominator[1], numerator[1] / denominator[0]


def _per_condition(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per condition with what the doubts look at. `rows` are case rows (one per
    repetition, analysis.case_results) or condition rows (analysis.condition_summary,
    whose `repetitions` column is there and whose CPU figures are already medians)."""
    agg: dict[str, tuple[str, Any]] = {
        "other_cpu_pct": ("other_cpu_pct", "median"),
        "steal_pct": ("steal_pct", "median"),
        "generator_limited": ("generator_limited", "any"),
        "failures": ("failures", "sum"),
        "requests": ("requests", "sum"),
        "probe_failures": ("probe_failures", "sum"),
        "probe_requests": ("probe_requests", "sum"),
    }
    agg["repetitions"] = ("repetitions", "sum") if "repetitions" in rows.columns else ("condition", "size")
    present = {k: v for k, v in agg.items() if v[0] in rows.columns or v[0] == "condition"}
    return rows.groupby("condition", sort=False).agg(**present)


def _failure_shares(c: pd.DataFrame, failures: str, requests: str) -> str:
    """'12.0% in A, 3.1% in B' for the conditions whose failures exceed FAILURE_BOUND of their
    requests ("" when none does, or the columns are not there)."""
    if not {failures, requests} <= set(c.columns):
        return ""
    failing = c[c[failures] > FAILURE_BOUND * c[requests].clip(lower=1)]
    return ", ".join(
        f"{f / max(r, 1):.1%} in {name}" for name, f, r in zip(failing.index, failing[failures], failing[requests])
    )


def claim_doubts(rows: pd.DataFrame, *, generator_matters: bool = True, probes: bool = False) -> list[str]:
    """Why a claim over these rows (all sides of it: case rows or condition-summary rows)
    is not firm, each reason naming the conditions it concerns and what would settle it;
    [] when none of the rules fails. The rules: at least MIN_REPETITIONS repetitions of
    each condition; a quiet machine (median CPU of other processes at most
    analysis.OTHER_CPU_WARN_PCT, steal at most STEAL_BOUND_PCT); no generator limit
    (unless `generator_matters` is False); failures at most FAILURE_BOUND of the requests.

    A generator at its limit measures itself, so a throughput or latency claim is not firm
    there. How the responses spread over the workers is counted from every response
    whatever limited the offered load (the load is part of the condition's name), so
    claims about the spread pass generator_matters=False. A claim on the probe's latency
    (`probes`) is not firm either where more than FAILURE_BOUND of the probe's own requests
    failed: its latency is of the successes only."""
    from harness.analysis import OTHER_CPU_WARN_PCT  # analysis imports this module

    if rows.empty:
        return ["nothing was measured"]
    c = _per_condition(rows)
    out = []
    few = c[c["repetitions"] < MIN_REPETITIONS]
    if not few.empty:
        counts = few["repetitions"].astype(int)
        listed = (
            f"{counts.iloc[0]} of {'each of ' if len(counts) > 1 else ''}{', '.join(counts.index)}"
            if counts.nunique() == 1
            else ", ".join(f"{n} of {name}" for name, n in counts.items())
        )
        out.append(
            f"too few repetitions ({listed}; at least {MIN_REPETITIONS} each are needed for an interval of "
            "the median): more repetitions would settle it"
        )
    busy = _over(c, "other_cpu_pct", OTHER_CPU_WARN_PCT)
    if not busy.empty:
        listed = ", ".join(f"{v:.0f}% of a core in {name}" for name, v in busy.items())
        out.append(
            f"the machine was not quiet (other processes used {listed}, medians; bound "
            f"{OTHER_CPU_WARN_PCT:.0f}%): a quieter machine would settle it"
        )
    stolen = _over(c, "steal_pct", STEAL_BOUND_PCT)
    if not stolen.empty:
        listed = ", ".join(f"{v:.0f}% in {name}" for name, v in stolen.items())
        out.append(
            f"the hypervisor stole CPU ({listed}; bound {STEAL_BOUND_PCT:.0f}%): a machine without a busy "
            "neighbour would settle it"
        )
    limited = c[c["generator_limited"].astype(bool)] if generator_matters and "generator_limited" in c else c.iloc[0:0]
    if not limited.empty:
        out.append(
            f"the load generator was the limit in {', '.join(limited.index)}: fewer users or a heavier "
            "route would settle it"
        )
    listed = _failure_shares(c, "failures", "requests")
    if listed:
        out.append(
            f"requests failed ({listed}; bound {FAILURE_BOUND:.0%}): the cause of the failures must be "
            "fixed first (see raw/)"
        )
    listed = _failure_shares(c, "probe_failures", "probe_requests") if probes else ""
    if listed:
        out.append(
            f"the probe's own requests failed ({listed}; bound {FAILURE_BOUND:.0%}), and its latency is of "
            "the successes only: the cause of the failures must be fixed first (see raw/)"
        )
    return out


def run_doubts(run: Run, label: str) -> list[str]:
    """Why this run's figures cannot carry the regression gate's verdict (empty: they can),
    each reason naming the run or case (`label`: baseline, current, A/B). The gate's rules are
    claim_doubts' bounds over a whole run: complete, no generator-limited case, a quiet
    machine (median over cases), failures at most FAILURE_BOUND per case (a case with events
    excepted); too few repetitions make a row not compared there, not an untrusted run."""
    from harness import analysis  # analysis imports this module

    out = []
    if run.meta.get("status") != "complete":
        out.append(f"{label} run {run.run_id} is {run.meta.get('status')}: {run.meta.get('error')}")
    results = analysis.case_results(run)
    for r in results[results["generator_limited"].astype(bool)].itertuples():
        out.append(f"{label} case {r.case_id} was generator-limited: {r.generator_limited_reason}")
    if results.empty:
        out.append(f"{label} run {run.run_id} has no complete case")
        return out
    other = results["other_cpu_pct"].median()
    if pd.notna(other) and other > analysis.OTHER_CPU_WARN_PCT:
        out.append(
            f"{label} run {run.run_id}: the machine was not quiet: processes other than the server and "
            f"Locust used {other:.0f}% of a core (median over cases, bound {analysis.OTHER_CPU_WARN_PCT:.0f}%)"
        )
    steal = results["steal_pct"].median()
    if pd.notna(steal) and steal > STEAL_BOUND_PCT:
        out.append(
            f"{label} run {run.run_id}: the hypervisor stole {steal:.0f}% of the CPU (median over cases, "
            f"bound {STEAL_BOUND_PCT:.0f}%)"
        )
    events = {c.get("case_id") for c in run.meta.get("cases", []) if c.get("events")}
    for r in results.itertuples():
        if r.case_id in events or not r.requests:
            continue  # a case that kills a worker on purpose is expected to fail some requests
        share = r.failures / r.requests * 100
        if share > FAILURE_BOUND * 100:
            out.append(
                f"{label} case {r.case_id}: {r.failures:,} of {r.requests:,} requests failed ({share:.1f}%, "
                f"bound {FAILURE_BOUND * 100:g}%): a server that fails fast can keep its rate of successes"
            )
    return out


def _over(per_condition: pd.DataFrame, column: str, bound: float) -> pd.Series:
    """The conditions whose `column` exceeds `bound` (none where the column is absent)."""
    if column not in per_condition:
        return pd.Series(dtype=float)
    values = per_condition[column]
    return values[values > bound]


def inconclusive(reasons: list[str]) -> str:
    """The clause a sentence ends with when its claim is not firm."""
    return "inconclusive: " + "; ".join(reasons)
