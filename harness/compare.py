"""The regression gate: metric by metric, the change with its 95 % interval and a verdict.

Two ways to compare:
- an A/B run (`harness run SCENARIO --against REF`): every case ran on both sides, the
  server of git ref REF ("base") and the working tree's ("new"), side by side in one run
  (order alternating by repetition), so repetition i of both sides shared the machine's
  state. The change is estimated from those pairs.
- a stored baseline against a current run (tracking over time): two runs, perhaps days
  apart; the repetitions are independent (Welch), and absolute figures are compared only
  when the machines' fingerprints match.

The change is a ratio (current / baseline) estimated on the log scale: the mean of the
log ratios with a Student-t interval (paired, or Welch's for two runs), reported as a
percentage with its interval, e.g. "-12.0% [-15.1, -8.8]". Against the metric's threshold
T (the change in the bad direction the user tolerates):
- regression: the whole interval is beyond -T (worse by more than T, and the run can tell);
- improvement: the whole interval is beyond +T;
- unchanged: the whole interval lies inside (-T, +T);
- unchanged or better: no worse than -T, but the interval reaches beyond +T;
- inconclusive: the interval crosses -T: the run cannot tell whether the change exceeds
  the threshold (more repetitions or a quieter machine would);
- not compared: missing on one side, too few repetitions, other machines for an absolute
  figure.
The exit code (harness.errors) is 0 only when every gating row is unchanged, unchanged or
better, or an improvement, on runs that can be trusted (complete, quiet machine, no stolen
CPU, failures under a bound, no generator limit). Latency gates only under open load:
under closed load (N users, no think time) latency follows throughput (Little's law), so a
real slowdown already shows there, and the percentiles' shape moves with how connections
happened to spread over workers. Such rows are shown, marked informational.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness import analysis, evidence
from harness.calibrate import fingerprint
from harness.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_NOT_COMPARED,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_UNTRUSTWORTHY,
    EXIT_USAGE,
)
from harness.record import Run
from harness.scenario import AB_SIDES as SIDES, side_of

# Kept for callers of the previous API; the codes themselves live in harness.errors.
COMPARE_OK = EXIT_OK
COMPARE_REGRESSED = EXIT_REGRESSION
COMPARE_INCONCLUSIVE = EXIT_INCONCLUSIVE
COMPARE_UNTRUSTWORTHY = EXIT_UNTRUSTWORTHY
COMPARE_NOT_COMPARED = EXIT_NOT_COMPARED
COMPARE_BAD_INPUT = EXIT_USAGE


@dataclass(frozen=True)
class Metric:
    name: str
    column: str
    higher_is_better: bool
    portable: bool
    unit: str


METRICS = {
    "throughput": Metric("throughput", "throughput_rps", True, False, "req/s"),
    "p50": Metric("p50", "latency_p50_ms", False, False, "ms"),
    "p99": Metric("p99", "latency_p99_ms", False, False, "ms"),
    "speedup": Metric("speedup", "speedup", True, True, "x"),
    "efficiency": Metric("efficiency", "scaling_efficiency", True, True, ""),
    "fairness": Metric("fairness", "jain_index", True, True, ""),
}
# Largest tolerated change in the bad direction, in percent. Ratios (speedup, efficiency)
# carry the noise of two measurements, tail latency more than the median: wider thresholds.
DEFAULT_THRESHOLDS_PCT = {
    "throughput": 5.0,
    "p50": 10.0,
    "p99": 15.0,
    "speedup": 10.0,
    "efficiency": 10.0,
    "fairness": 5.0,
}
# What decides the exit code unless --gate says otherwise. Efficiency is speedup divided by
# a constant (the units), so gating both would count one change twice; fairness moves with
# how connections happened to land, and is shown.
DEFAULT_GATE = ("throughput", "p50", "p99", "speedup")
LATENCY_METRICS = ("p50", "p99")
DEFAULT_LEVEL = 0.95
# Fewer repetitions than this per side give no interval worth a verdict (t with 1 degree of
# freedom is 12.7: the interval of two repetitions spans most of any plausible change); the
# same rule as every other claim (harness.evidence).
MIN_REPETITIONS = evidence.MIN_REPETITIONS
# The power of `harness compare --detect` (a change caught 4 times in 5).
POWER = 0.8
# From this many pairs an A/B comparison uses the median of the paired ratios (see log_change).
ROBUST_MIN_PAIRS = 6
# Failed requests above this share of a case make the run untrustworthy (a server that
# fails a third of its requests fast can keep its successes' rate and look unchanged).
FAILURE_BOUND_PCT = evidence.FAILURE_BOUND * 100
# Stolen CPU (median over cases) above this: another tenant took the machine's time.
STEAL_BOUND_PCT = evidence.STEAL_BOUND_PCT

REGRESSION, IMPROVEMENT, UNCHANGED, NOT_WORSE = "regression", "improvement", "unchanged", "unchanged or better"
INCONCLUSIVE, NOT_COMPARED = "inconclusive", "not compared"
PASSING = (IMPROVEMENT, UNCHANGED, NOT_WORSE)


@dataclass
class Row:
    """One condition x metric: medians, the change with its interval, the verdict and why."""

    condition: str
    metric: str
    verdict: str
    baseline: float = math.nan  # median over repetitions
    current: float = math.nan
    change_pct: float = math.nan  # geometric mean of current/baseline - 1, in percent
    low_pct: float = math.nan  # the change's interval
    high_pct: float = math.nan
    threshold_pct: float = math.nan
    n_baseline: int = 0
    n_current: int = 0
    paired: bool = False
    # smallest change in the bad direction this row would call a regression 4 times in 5
    detectable_pct: float = math.nan
    # repetitions per side that would make this row's interval clear the threshold at its
    # measured change and spread (inconclusive rows)
    repetitions_needed: int | None = None
    reason: str = ""
    gating: bool = True  # False: shown, but its verdict does not decide the exit code
    # the spread of one repetition's log ratio (paired) or log value (pooled, two runs), and
    # the variance factor k of the difference (1 paired, 2 independent): for sample sizes
    sd_log: float = math.nan
    k: float = math.nan
    method: str = ""  # "median" (of paired ratios) or "mean" (t / Welch)
    coverage: float = math.nan  # the interval's coverage (the median's can exceed the level)

    def repetitions_to_catch(self, change_pct: float, level: float = DEFAULT_LEVEL) -> int | None:
        """Repetitions per side that would call a true change of `change_pct` in the bad
        direction a regression 4 times in 5 at this row's spread (None: the change is not
        beyond the threshold, or more than 200 would be needed)."""
        if math.isnan(self.sd_log) or abs(change_pct) <= self.threshold_pct or abs(change_pct) >= 100:
            return None
        bad = -1.0 if METRICS[self.metric].higher_is_better else 1.0
        margin = abs(
            math.log(1 + bad * abs(change_pct) / 100) - math.log(1 + bad * min(self.threshold_pct, 99.9) / 100)
        )
        return repetitions_needed(self.sd_log, margin, self.k, level, power=POWER, method=self.method)

    @property
    def interval_text(self) -> str:
        if math.isnan(self.change_pct):
            return "–"
        if math.isnan(self.low_pct):
            return f"{self.change_pct:+.1f}%"
        return f"{self.change_pct:+.1f}% [{self.low_pct:+.1f}, {self.high_pct:+.1f}]"


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)
    untrustworthy: list[str] = field(default_factory=list)
    same_machine: bool = True
    paired: bool = False  # an A/B run: repetitions paired
    level: float = DEFAULT_LEVEL
    baseline_label: str = "baseline"
    current_label: str = "current"

    @property
    def gating_rows(self) -> list[Row]:
        return [r for r in self.rows if r.gating]

    @property
    def exit_code(self) -> int:
        """harness.errors' table: untrustworthy before anything the numbers say (they
        cannot support a verdict), then a firm regression, then what was not compared,
        then what the run could not tell."""
        gating = self.gating_rows
        if self.untrustworthy:
            return EXIT_UNTRUSTWORTHY
        if any(r.verdict == REGRESSION for r in gating):
            return EXIT_REGRESSION
        if not gating or any(r.verdict == NOT_COMPARED for r in gating):
            return EXIT_NOT_COMPARED
        if any(r.verdict == INCONCLUSIVE for r in gating):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    @property
    def verdict(self) -> str:
        """The exit code in words, for the terminal and the Markdown title."""
        return {
            EXIT_OK: "no regression",
            EXIT_REGRESSION: "REGRESSION",
            EXIT_INCONCLUSIVE: "inconclusive",
            EXIT_UNTRUSTWORTHY: "measurement not trustworthy",
            EXIT_NOT_COMPARED: "not everything was compared",
        }[self.exit_code]

    def summary_lines(self) -> list[str]:
        """Why the verdict is what it is, and what the run could detect, in a few lines."""
        out = [f"not trustworthy: {u}" for u in self.untrustworthy]
        gating = self.gating_rows
        if not gating:
            out.append("no gating metric was compared: nothing supports 'no regression'")
        for r in gating:
            if r.verdict in (REGRESSION, INCONCLUSIVE, NOT_COMPARED):
                out.append(f"{r.verdict}: {r.condition} {r.metric} {r.interval_text}: {r.reason}")
        detectable = [r for r in gating if not math.isnan(r.detectable_pct)]
        if detectable:
            worst = max(detectable, key=lambda r: r.detectable_pct)
            low, high = f"{min(r.detectable_pct for r in detectable):.0f}%", f"{worst.detectable_pct:.0f}%"
            # one figure when the rows agree (or one row gates): "about 21% to 21%" says nothing more
            span = high if low == high else f"{low} to {high}"
            least = (
                f"least sensitive: {worst.condition} {worst.metric}"
                if len(detectable) > 1
                else f"the only gating row with an interval: {worst.condition} {worst.metric}"
            )
            out.append(
                f"sensitivity: at this run's spread, a change in the bad direction of about {span} or more "
                f"would have come out as a regression (the threshold plus the interval's half-width; {least}); "
                "harness compare --detect PCT says how many repetitions would catch a given change"
            )
        return out


# --- the numbers ------------------------------------------------------------------------


def per_repetition(run: Run) -> pd.DataFrame:
    """One row per complete case: the metrics' values, per condition and repetition."""
    results = analysis.case_results(run)
    baseline_mode = run.meta.get("scenario", {}).get("baseline", "single")
    rows = results[
        [
            "case_id",
            "condition",
            "repetition",
            "mode",
            "path",
            "users",
            "load",
            "target_rps",
            "workers",
            "threads",
            "throughput_rps",
            "latency_p50_ms",
            "latency_p99_ms",
            "jain_index",
            "generator_limited",
            "units",
        ]
    ].copy()
    rows["speedup"] = math.nan
    rows["scaling_efficiency"] = math.nan
    speed = analysis.speedups(results, baseline_mode)
    for s in speed.itertuples(index=False):
        base = results[results["condition"] == s.baseline].set_index("repetition")["throughput_rps"]
        sel = rows["condition"] == s.condition
        with np.errstate(divide="ignore", invalid="ignore"):  # a baseline that served nothing: inf, kept
            ratio = rows.loc[sel, "throughput_rps"].to_numpy() / base.reindex(rows.loc[sel, "repetition"]).to_numpy()
        rows.loc[sel, "speedup"] = ratio
        rows.loc[sel, "scaling_efficiency"] = ratio * s.baseline_workers / s.workers
    # a single-unit condition's spread is 1.0 by definition: not a measurement of fairness
    rows.loc[rows["units"] <= 1, "jain_index"] = math.nan
    return rows


def split_sides(run: Run) -> tuple[Run, Run]:
    """An A/B run as two runs (base, new) with the side taken off the condition names, so
    speedups and summaries are computed within a side, never across."""
    cases = run["cases"]
    out = []
    for side in SIDES:
        ids = set(cases.loc[cases["condition"].map(lambda c: side_of(c)[1] == side), "case_id"])
        tables = {}
        for name, table in run.tables.items():
            t = table[table["case_id"].isin(ids)].copy() if "case_id" in table.columns else table
            if name == "cases":
                t["condition"] = t["condition"].map(lambda c: side_of(c)[0])
            tables[name] = t
        meta = {
            **run.meta,
            "cases": [
                {**c, "condition": side_of(c["condition"])[0]}
                for c in run.meta.get("cases", [])
                if c.get("case_id") in ids
            ],
        }
        out.append(Run(path=run.path, meta=meta, tables=tables))
    return out[0], out[1]


def is_ab_run(run: Run) -> bool:
    sides = {side_of(c)[1] for c in run["cases"]["condition"]}
    return sides == set(SIDES)


def log_change(b: np.ndarray, c: np.ndarray, paired: bool, level: float) -> dict[str, Any]:
    """The change current/baseline on the log scale: its estimate and interval (`low`,
    `high`, with the interval's `coverage`), the `method`, and the spread of one repetition
    (`sd`, with `k` the variance factor of the difference: 1 paired, 2 independent) for
    sample-size questions. Paired: b[i] and c[i] ran side by side.

    From ROBUST_MIN_PAIRS pairs on, the median of the paired log ratios with the
    order-statistics interval of a median (harness.evidence, distribution-free): a pair hit
    by a hiccup of a shared machine (seen here: one cluster pair at -15 % among pairs within
    3 %) moves a mean and its t-interval far, a median not at all (from 9 pairs the 95 %
    interval leaves out the most extreme pair on each side). Fewer pairs, or two separate
    runs: the mean with a Student-t interval (Welch's for two runs)."""
    from scipy import stats  # imported on first use (about a second): many commands compute no interval

    lb, lc = np.log(b), np.log(c)
    if paired and lb.size >= ROBUST_MIN_PAIRS:
        d = lc - lb
        low, high, coverage = evidence.median_interval(d, level)
        mad_sd = float(stats.median_abs_deviation(d, scale="normal"))
        return {
            "est": float(np.median(d)),
            "low": low,
            "high": high,
            "coverage": coverage,
            "k": 1.0,
            "sd": mad_sd if mad_sd > 0 else float(d.std(ddof=1)),
            "method": "median",
        }
    if paired:
        d = lc - lb
        n = d.size
        sd = float(d.std(ddof=1))
        se, df, k = sd / math.sqrt(n), n - 1, 1.0
        est = float(d.mean())
    else:
        vb, vc = float(lb.var(ddof=1)), float(lc.var(ddof=1))
        nb, nc = lb.size, lc.size
        se = math.sqrt(vb / nb + vc / nc)
        est = float(lc.mean() - lb.mean())
        # Welch-Satterthwaite; equal variances of zero give a point, not a division by zero
        df = (se**4 / ((vb / nb) ** 2 / (nb - 1) + (vc / nc) ** 2 / (nc - 1))) if se > 0 else nb + nc - 2
        sd, k = math.sqrt((vb + vc) / 2), 2.0
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return {"est": est, "low": est - half, "high": est + half, "coverage": level, "k": k, "sd": sd, "method": "mean"}


@functools.lru_cache(maxsize=4096)
def _half_width_factor(n: int, k: float, level: float, method: str, power: float) -> float:
    """The interval's half-width (plus the margin for `power` > 0.5) of n repetitions per
    side, in units of one repetition's spread: t-quantiles for the mean; for the median
    of pairs, the expected order statistic that bounds its interval (Blom's approximation
    of normal order statistics) and the median's asymptotic standard error. Cached: it
    depends on its arguments alone, and repetitions_needed asks for the same n's for every
    metric of every condition (scipy's quantiles were most of a comparison's time)."""
    from scipy import stats  # imported on first use (about a second): many commands compute no interval

    if method == "median" and n >= ROBUST_MIN_PAIRS:
        j = 1
        while j + 1 <= (n + 1) // 2 and 1 - 2 * stats.binom.cdf(j, n, 0.5) >= level:
            j += 1  # the interval is [d(j), d(n-j+1)]
        upper = float(stats.norm.ppf((n - j + 1 - 0.375) / (n + 0.25)))
        extra = float(stats.norm.ppf(power)) * math.sqrt(math.pi / 2 / n) if power > 0.5 else 0.0
        return upper + extra
    df = n - 1 if k == 1 else 2 * n - 2
    z = stats.t.ppf(0.5 + level / 2, df) + (stats.t.ppf(power, df) if power > 0.5 else 0.0)
    return float(z * math.sqrt(k / n))


def repetitions_needed(
    sd_log: float, margin_log: float, k: float, level: float, power: float = 0.5, most: int = 200, method: str = "mean"
) -> int | None:
    """Repetitions per side for an interval to clear a margin (log scale) with the given
    probability, at this spread (power 0.5: the interval's half-width alone). None: more
    than `most`."""
    if margin_log <= 0:
        return None
    if sd_log <= 0:
        return MIN_REPETITIONS
    for n in range(MIN_REPETITIONS, most + 1):
        if _half_width_factor(n, k, level, method, power) * sd_log <= margin_log:
            return n
    return None


def _pct(log_value: float) -> float:
    return (math.exp(log_value) - 1) * 100


def _not_compared(
    condition: str, name: str, threshold_pct: float, b: pd.DataFrame, c: pd.DataFrame, reason: str
) -> Row:
    """A row the gate could not compare, with both sides' repetition counts and why."""
    return Row(
        condition,
        name,
        NOT_COMPARED,
        threshold_pct=threshold_pct,
        n_baseline=len(b),
        n_current=len(c),
        reason=reason,
    )


def compare_values(
    condition: str,
    m: Metric,
    b: np.ndarray,
    c: np.ndarray,
    threshold_pct: float,
    *,
    paired: bool,
    level: float = DEFAULT_LEVEL,
) -> Row:
    """The verdict of one metric of one condition from its per-repetition values (aligned
    by repetition when paired)."""
    row = Row(
        condition,
        m.name,
        NOT_COMPARED,
        threshold_pct=threshold_pct,
        n_baseline=int(b.size),
        n_current=int(c.size),
        paired=paired,
    )
    row.baseline = float(np.median(b)) if b.size else math.nan
    row.current = float(np.median(c)) if c.size else math.nan
    fewest = min(b.size, c.size)
    if fewest == 0:
        empty = " and ".join(side for side, v in (("the baseline", b), ("the current run", c)) if not v.size)
        why = (
            "a ratio over the baseline mode needs that mode's condition in the same run, serving"
            if m.name in ("speedup", "efficiency")
            else "the record lacks it: a damaged or incomplete record?"
        )
        row.reason = f"no value of it in {empty} ({why})"
        return row
    if fewest < MIN_REPETITIONS:
        row.reason = (
            f"{fewest} repetition{'s' if fewest != 1 else ''} on one side; the gate needs at least "
            f"{MIN_REPETITIONS} per side for an interval (run with --repetitions {MIN_REPETITIONS} or more)"
        )
        return row
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(c))):
        row.reason = (
            "an infinite ratio (over a baseline condition that served nothing in a repetition): no change to estimate"
        )
        return row
    if np.any(b <= 0) or np.any(c <= 0):
        row.reason = "a zero value: no ratio to estimate (the condition served nothing in a repetition)"
        return row
    ch = log_change(b, c, paired, level)
    row.change_pct, row.low_pct, row.high_pct = _pct(ch["est"]), _pct(ch["low"]), _pct(ch["high"])
    row.method, row.coverage = ch["method"], ch["coverage"]
    # percent space, turned so that "up" is worse: regression when the whole interval is above T
    worse_lo, worse_hi = (-row.high_pct, -row.low_pct) if m.higher_is_better else (row.low_pct, row.high_pct)
    t = threshold_pct
    # the threshold in the bad direction on the log scale, and which way is bad
    bad_dir = -1.0 if m.higher_is_better else 1.0
    bad_log = math.log(1 + bad_dir * min(t, 99.9) / 100)
    # the smallest change in the bad direction whose interval, as wide as this one, would
    # have cleared the threshold: what this run could have called a regression
    row.detectable_pct = abs(_pct(bad_log + bad_dir * (ch["high"] - ch["low"]) / 2))
    row.sd_log, row.k = ch["sd"], ch["k"]
    bad = "fell" if m.higher_is_better else "rose"
    what = (
        "median of the paired ratios"
        if ch["method"] == "median"
        else "mean of the paired log ratios"
        if paired
        else "Welch, log scale"
    )
    interval = f"{row.interval_text} ({ch['coverage']:.0%} interval, {what})"
    if worse_lo > t:
        row.verdict = REGRESSION
        row.reason = f"{m.name} {bad} by more than the {t:g}% threshold across the whole interval {interval}"
    elif worse_hi < -t:
        row.verdict = IMPROVEMENT
        row.reason = f"better by more than {t:g}% across the whole interval {interval}"
    elif -t < worse_lo and worse_hi < t:
        row.verdict = UNCHANGED
        row.reason = f"the whole interval {interval} lies within ±{t:g}%"
    elif worse_hi < t:
        row.verdict = NOT_WORSE
        row.reason = f"no worse than {t:g}% across the interval {interval}; perhaps better"
    else:
        row.verdict = INCONCLUSIVE
        row.repetitions_needed = repetitions_needed(
            ch["sd"], abs(bad_log - ch["est"]), ch["k"], level, method=ch["method"]
        )
        more = (
            f"about {row.repetitions_needed} repetitions per side would settle a change of this size at this spread"
            if row.repetitions_needed
            else "more repetitions than is practical at this spread; a quieter machine or longer cases would"
        )
        row.reason = f"the interval {interval} crosses the {t:g}% threshold: {more}"
    return row


# --- the comparisons ---------------------------------------------------------------------


def _rows(
    base: pd.DataFrame,
    cur: pd.DataFrame,
    thresholds: dict[str, float],
    metrics: list[str],
    gate: set[str],
    *,
    paired: bool,
    same_machine: bool,
    level: float,
) -> list[Row]:
    out: list[Row] = []
    for condition in dict.fromkeys([*base["condition"], *cur["condition"]]):
        b, c = base[base["condition"] == condition], cur[cur["condition"] == condition]
        loads = set(b["load"]) | set(c["load"])
        for name in metrics:
            m = METRICS[name]
            missing = not b.empty and not c.empty and b[m.column].isna().all() and c[m.column].isna().all()
            served = b["throughput_rps"].notna().any() or c["throughput_rps"].notna().any()
            if missing and served:
                continue  # the metric does not apply (the baseline mode has no speedup over itself)
            gating = name in gate
            if c.empty:
                row = Row(
                    condition,
                    name,
                    NOT_COMPARED,
                    threshold_pct=thresholds[name],
                    n_baseline=len(b),
                    reason="in the baseline but not in the current run (a condition the gate was asked "
                    "about was not measured: same scenario and options on both sides?)",
                )
            elif b.empty:
                row = Row(
                    condition,
                    name,
                    NOT_COMPARED,
                    threshold_pct=thresholds[name],
                    n_current=len(c),
                    reason="new in the current run: nothing to compare it with",
                    gating=False,
                )
                out.append(row)
                continue
            elif missing:  # no throughput on either side: the record lacks it, which is not "does not apply"
                row = _not_compared(
                    condition,
                    name,
                    thresholds[name],
                    b,
                    c,
                    "no value on either side: the records lack this condition's throughput "
                    "(a damaged or incomplete record?)",
                )
            elif not m.portable and not same_machine:
                row = _not_compared(
                    condition,
                    name,
                    thresholds[name],
                    b,
                    c,
                    "an absolute figure from different machines (CPU, cores or "
                    "kernel differ); compare on one machine, e.g. harness run --against REF",
                )
            elif paired:
                both = (
                    b.set_index("repetition")[m.column]
                    .to_frame("b")
                    .join(c.set_index("repetition")[m.column].to_frame("c"), how="inner")
                    .dropna()
                )
                row = compare_values(
                    condition,
                    m,
                    both["b"].to_numpy(float),
                    both["c"].to_numpy(float),
                    thresholds[name],
                    paired=True,
                    level=level,
                )
            else:
                row = compare_values(
                    condition,
                    m,
                    b[m.column].dropna().to_numpy(float),
                    c[m.column].dropna().to_numpy(float),
                    thresholds[name],
                    paired=False,
                    level=level,
                )
            row.gating = gating
            if m.name in LATENCY_METRICS and "open" not in loads:
                row.gating = False
                row.reason += " (informational: closed load, latency follows throughput)"
            elif not gating:
                row.reason += " (informational: not a gating metric)"
            out.append(row)
    return out


def compare_runs(
    baseline: Run,
    current: Run,
    thresholds_pct: dict[str, float] | None = None,
    metrics: list[str] | None = None,
    gate: list[str] | None = None,
    level: float = DEFAULT_LEVEL,
) -> Comparison:
    """A stored baseline against a current run: independent repetitions (Welch)."""
    thresholds = {**DEFAULT_THRESHOLDS_PCT, **(thresholds_pct or {})}
    same = fingerprint(baseline.meta.get("machine", {})) == fingerprint(current.meta.get("machine", {}))
    out = Comparison(same_machine=same, level=level, baseline_label=baseline.run_id, current_label=current.run_id)
    out.untrustworthy = evidence.run_doubts(baseline, "baseline") + evidence.run_doubts(current, "current")
    out.rows = _rows(
        per_repetition(baseline),
        per_repetition(current),
        thresholds,
        metrics or list(METRICS),
        set(gate or DEFAULT_GATE),
        paired=False,
        same_machine=same,
        level=level,
    )
    return out


def compare_ab(
    run: Run,
    thresholds_pct: dict[str, float] | None = None,
    metrics: list[str] | None = None,
    gate: list[str] | None = None,
    level: float = DEFAULT_LEVEL,
) -> Comparison:
    """An A/B run (harness run --against REF): base against new, paired by repetition."""
    thresholds = {**DEFAULT_THRESHOLDS_PCT, **(thresholds_pct or {})}
    against = run.meta.get("against") or {}
    base, new = split_sides(run)
    out = Comparison(
        same_machine=True,
        paired=True,
        level=level,
        baseline_label=f"base ({against.get('ref', '?')} {str(against.get('commit', ''))[:10]})",
        current_label="new (" + ("working tree" + (", uncommitted changes" if against.get("work_dirty") else "") + ")"),
    )
    out.untrustworthy = evidence.run_doubts(run, "A/B")
    out.rows = _rows(
        per_repetition(base),
        per_repetition(new),
        thresholds,
        metrics or list(METRICS),
        set(gate or DEFAULT_GATE),
        paired=True,
        same_machine=True,
        level=level,
    )
    return out


# --- outputs ----------------------------------------------------------------------------


def to_json(cmp: Comparison) -> dict[str, Any]:
    """`harness compare --json`: the verdict, its exit code and reasons, and one object per
    row (Row's fields; a number not measured is null). docs/your-own.md lists the keys."""

    def plain(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return {
        "verdict": cmp.verdict,
        "exit_code": cmp.exit_code,
        "reasons": cmp.summary_lines(),
        "untrustworthy": list(cmp.untrustworthy),
        "paired": cmp.paired,
        "same_machine": cmp.same_machine,
        "level": cmp.level,
        "baseline": cmp.baseline_label,
        "current": cmp.current_label,
        "rows": [{**{k: plain(v) for k, v in asdict(r).items()}, "interval": r.interval_text} for r in cmp.rows],
    }


def parse_thresholds(items: list[str]) -> dict[str, Any]:
    """["throughput=5", "p99=10"] -> {"throughput": 5.0, "p99": 10.0}; ValueError with the reason."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in METRICS:
            raise ValueError(f"threshold {item!r}: use METRIC=PERCENT with METRIC one of {', '.join(METRICS)}")
        try:
            number = float(value.strip().lstrip("+-"))
        except ValueError:
            raise ValueError(f"threshold {item!r}: {value!r} is not a number") from None
        if not 0 < number <= 1000:
            raise ValueError(f"threshold {item!r}: the percentage must be above 0 and at most 1000")
        out[name] = number
    return out


def parse_gate(text: str | None) -> list[str]:
    """ "throughput,speedup" -> ["throughput", "speedup"]; ValueError for an unknown metric."""
    if not text:
        return list(DEFAULT_GATE)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(f"--gate {text!r}: use a comma-separated list of {', '.join(METRICS)}")
    return names
