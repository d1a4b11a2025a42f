"""The regression gate: a baseline run against a current run, metric by metric.

A regression needs two things at once: a statistically significant difference across
repetitions (Welch's t-test, p below `alpha`) and an effect beyond the user's threshold
for that metric (e.g. throughput -5 %, p99 +10 %). Noise alone never fails a build.

Absolute metrics (requests/s, milliseconds) are compared only when the two machines'
fingerprints match; portable ones (speedup over the baseline mode, scaling efficiency,
fairness) are compared anywhere. Latency gates only under open load: under closed load
(N users, no think time) latency is fixed by throughput (Little's law: mean latency =
users / throughput), so a real slowdown already shows in throughput, while the
percentiles' shape moves from run to run with how connections happened to spread over
workers (seen here: cluster p50 9.8 ms in one run, 12.9 ms in the next, same throughput).
Closed-load latency rows are shown, marked informational. A run that cannot be trusted (generator-limited cases,
a failed or incomplete run, a condition too unstable) makes the verdict "untrustworthy",
never "regressed".
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness import analysis
from harness.calibrate import fingerprint
from harness.record import Run

# Exit codes of `harness compare` (documented in README.md)
COMPARE_OK = 0
COMPARE_REGRESSED = 1
COMPARE_UNTRUSTWORTHY = 2
COMPARE_BAD_INPUT = 3


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
# Largest tolerated change in the bad direction, in percent, before a significant one counts.
# Ratios (speedup, efficiency) carry the noise of two measurements, tail latency more
# than the median: their thresholds are wider.
DEFAULT_THRESHOLDS_PCT = {"throughput": 5.0, "p50": 10.0, "p99": 15.0, "speedup": 10.0, "efficiency": 10.0,
                          "fairness": 5.0}
DEFAULT_ALPHA = 0.01
UNSTABLE_CV_BOUND_PCT = 20.0
LATENCY_METRICS = ("p50", "p99")


@dataclass
class Row:
    condition: str
    metric: str
    verdict: str  # improved | unchanged | regressed | not comparable
    baseline: float = math.nan
    current: float = math.nan
    change_pct: float = math.nan
    p_value: float = math.nan
    reason: str = ""
    gating: bool = True  # False: shown, but its verdict does not decide the exit code


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)
    untrustworthy: list[str] = field(default_factory=list)
    same_machine: bool = True
    test: str = "Welch's t-test"

    @property
    def exit_code(self) -> int:
        if self.untrustworthy:
            return COMPARE_UNTRUSTWORTHY
        if any(r.verdict == "regressed" and r.gating for r in self.rows):
            return COMPARE_REGRESSED
        return COMPARE_OK


def per_repetition(run: Run) -> pd.DataFrame:
    """One row per complete case: the metrics' values, per condition and repetition."""
    results = analysis.case_results(run)
    baseline_mode = run.meta.get("scenario", {}).get("baseline", "single")
    rows = results[["condition", "repetition", "mode", "path", "users", "load", "target_rps", "workers", "threads",
                    "throughput_rps", "latency_p50_ms", "latency_p99_ms", "jain_index", "generator_limited"]].copy()
    rows["speedup"] = math.nan
    rows["scaling_efficiency"] = math.nan
    speed = analysis.speedups(results, baseline_mode)
    for s in speed.itertuples(index=False):
        base = results[results["condition"] == s.baseline].set_index("repetition")["throughput_rps"]
        sel = rows["condition"] == s.condition
        ratio = rows.loc[sel, "throughput_rps"].to_numpy() / base.reindex(rows.loc[sel, "repetition"]).to_numpy()
        rows.loc[sel, "speedup"] = ratio
        rows.loc[sel, "scaling_efficiency"] = ratio / s.workers
    return rows


def trust_problems(run: Run, label: str) -> list[str]:
    out = []
    if run.meta.get("status") != "complete":
        out.append(f"{label} run {run.run_id} is {run.meta.get('status')}: {run.meta.get('error')}")
    results = analysis.case_results(run)
    for r in results[results["generator_limited"]].itertuples():
        out.append(f"{label} case {r.case_id} was generator-limited: {r.generator_limited_reason}")
    summary = analysis.condition_summary(results)
    for s in summary.itertuples():
        if not math.isnan(s.throughput_cv_pct) and s.throughput_cv_pct > UNSTABLE_CV_BOUND_PCT:
            out.append(f"{label} condition {s.condition} varied by {s.throughput_cv_pct:.0f}% across repetitions "
                       f"(bound {UNSTABLE_CV_BOUND_PCT:.0f}%)")
    return out


def compare_runs(baseline: Run, current: Run, thresholds_pct: dict[str, float] | None = None,
                 alpha: float = DEFAULT_ALPHA, metrics: list[str] | None = None) -> Comparison:
    thresholds = {**DEFAULT_THRESHOLDS_PCT, **(thresholds_pct or {})}
    same = fingerprint(baseline.meta.get("machine", {})) == fingerprint(current.meta.get("machine", {}))
    out = Comparison(same_machine=same)
    out.untrustworthy = trust_problems(baseline, "baseline") + trust_problems(current, "current")
    base, cur = per_repetition(baseline), per_repetition(current)
    conditions = list(dict.fromkeys([*base["condition"], *cur["condition"]]))
    for condition in conditions:
        b, c = base[base["condition"] == condition], cur[cur["condition"] == condition]
        for name in metrics or list(METRICS):
            m = METRICS[name]
            bv, cv = b[m.column].dropna().to_numpy(), c[m.column].dropna().to_numpy()
            if not b.empty and not c.empty and bv.size == 0 and cv.size == 0:
                continue  # the metric does not apply (the baseline mode has no speedup over itself)
            row = _compare_one(condition, m, bv, cv, thresholds[name], alpha, same,
                               present=(not b.empty, not c.empty))
            loads = set(b.get("load", pd.Series(dtype=str))) | set(c.get("load", pd.Series(dtype=str)))
            if m.name in LATENCY_METRICS and "open" not in loads:
                row.gating = False
                row.reason += " (informational: closed load, latency follows throughput)"
            out.rows.append(row)
    return out


def _compare_one(condition: str, m: Metric, b: np.ndarray, c: np.ndarray, threshold_pct: float, alpha: float,
                 same_machine: bool, present: tuple[bool, bool]) -> Row:
    row = Row(condition, m.name, "not comparable")
    if not all(present):
        row.reason = "only in the " + ("current" if present[1] else "baseline") + " run"
        return row
    row.baseline, row.current = float(np.median(b)) if b.size else math.nan, float(np.median(c)) if c.size else math.nan
    if not m.portable and not same_machine:
        row.reason = "absolute figure from different machines (CPU, cores or kernel differ)"
        return row
    if b.size < 2 or c.size < 2:
        row.reason = "needs at least 2 repetitions in each run for a significance test"
        return row
    row.change_pct = (row.current - row.baseline) / row.baseline * 100 if row.baseline else math.nan
    if np.all(b == b[0]) and np.all(c == c[0]):
        row.p_value = 0.0 if b[0] != c[0] else 1.0
    else:
        row.p_value = float(stats.ttest_ind(c, b, equal_var=False).pvalue)
    worse = row.change_pct < -threshold_pct if m.higher_is_better else row.change_pct > threshold_pct
    better = row.change_pct > threshold_pct if m.higher_is_better else row.change_pct < -threshold_pct
    significant = row.p_value < alpha
    if significant and worse:
        row.verdict, row.reason = "regressed", f"beyond the {threshold_pct:g}% threshold, p = {row.p_value:.3g}"
    elif significant and better:
        row.verdict, row.reason = "improved", f"beyond the {threshold_pct:g}% threshold, p = {row.p_value:.3g}"
    else:
        row.verdict = "unchanged"
        row.reason = (f"p = {row.p_value:.3g} (not significant at {alpha:g})" if not significant
                      else f"significant but within the {threshold_pct:g}% threshold")
    return row


def markdown(cmp: Comparison, baseline: Run, current: Run) -> str:
    verdict = {COMPARE_OK: "no regression", COMPARE_REGRESSED: "REGRESSION",
               COMPARE_UNTRUSTWORTHY: "measurement not trustworthy"}[cmp.exit_code]
    lines = [f"## harness compare: {verdict}", "",
             f"Baseline `{baseline.run_id}` vs current `{current.run_id}`; {cmp.test}, thresholds per metric. "
             + ("Same machine." if cmp.same_machine else "Different machines: absolute figures not compared."), ""]
    if cmp.untrustworthy:
        lines += ["**Not trustworthy:**", ""] + [f"- {u}" for u in cmp.untrustworthy] + [""]
    lines += ["| condition | metric | baseline | current | change | p | verdict |", "|---|---|---:|---:|---:|---:|---|"]
    for r in cmp.rows:
        why = f": {r.reason}" if r.verdict != "unchanged" or not r.gating else ""
        lines.append(f"| {r.condition} | {r.metric} | {analysis.fmt(r.baseline)} | {analysis.fmt(r.current)} | "
                     f"{analysis.fmt(r.change_pct, '+.1f')}% | {analysis.fmt(r.p_value)} | {r.verdict}{why} |")
    return "\n".join(lines) + "\n"


def junit_xml(cmp: Comparison) -> str:
    """One test per metric and condition: a regression is a failure, not comparable is skipped."""
    suite = ET.Element("testsuite", name="harness compare", tests=str(len(cmp.rows)),
                       failures=str(sum(r.verdict == "regressed" and r.gating for r in cmp.rows)),
                       errors=str(1 if cmp.untrustworthy else 0),
                       skipped=str(sum(r.verdict == "not comparable" for r in cmp.rows)))
    if cmp.untrustworthy:
        case = ET.SubElement(suite, "testcase", classname="measurement", name="trustworthy")
        ET.SubElement(case, "error", message="the measurement is not trustworthy").text = "\n".join(cmp.untrustworthy)
    for r in cmp.rows:
        case = ET.SubElement(suite, "testcase", classname=r.condition, name=r.metric)
        detail = (f"baseline {analysis.fmt(r.baseline)}, current {analysis.fmt(r.current)}, change {analysis.fmt(r.change_pct, '+.1f')}%, "
                  f"p {analysis.fmt(r.p_value)}: {r.reason}")
        if r.verdict == "regressed" and r.gating:
            ET.SubElement(case, "failure", message=f"{r.metric} regressed").text = detail
        elif r.verdict == "not comparable":
            ET.SubElement(case, "skipped", message=r.reason)
        else:
            ET.SubElement(case, "system-out").text = f"{r.verdict}: {detail}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def parse_thresholds(items: list[str]) -> dict[str, Any]:
    """["throughput=5", "p99=10"] -> {"throughput": 5.0, "p99": 10.0}; ValueError with the reason."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in METRICS:
            raise ValueError(f"threshold {item!r}: use METRIC=PERCENT with METRIC one of {', '.join(METRICS)}")
        number = float(value.strip().lstrip("+-"))
        if not 0 <= number <= 1000:
            raise ValueError(f"threshold {item!r}: the percentage must be from 0 to 1000")
        out[name] = number
    return out
