"""The warnings a reader must see before trusting a number, in plain words (run_warnings,
shown first in the report and the notebooks), and the figures a record could not have
(missing_figure_warnings). The thresholds they test are harness.analysis's.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

from harness import cost, evidence
from harness.analysis.results import MISMATCH_TOLERANCE, NEAR_CEILING, OTHER_CPU_WARN_PCT
from harness.analysis.summaries import UNSTABLE_CV_PCT
from harness.record import Run


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


def _locust_csv(run: Run, case_id: str, name: str, count: str) -> list[dict[str, str]]:
    """The rows of a case's raw/<case>/locust_<name>.csv (Locust's own --csv output), the
    largest `count` first; [] where the file is not there (a record copied without raw/)."""
    path = Path(run.path) / "raw" / case_id / f"locust_{name}.csv"
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []

    def n(row: dict[str, str]) -> int:
        try:
            return int(row.get(count) or 0)
        except ValueError:
            return 0

    return sorted((r for r in rows if n(r) > 0), key=n, reverse=True)


def _one_line(text: object, limit: int = 200) -> str:
    """A message from Locust's CSVs on one line (tracebacks and reprs span several), cut short."""
    return " ".join(str(text).split())[:limit]


def _locust_exceptions(run: Run) -> list[str]:
    """Exceptions the locustfile's tasks raised (Locust counts them in no request figure)."""
    out = []
    for case in run.meta.get("cases", []):
        rows = _locust_csv(run, str(case.get("case_id")), "exceptions", "Count")
        if rows:
            total = sum(int(r["Count"]) for r in rows)
            top = rows[0]
            message = _one_line(top.get("Message", ""))
            out.append(
                f"{case.get('case_id')}: the locustfile's tasks raised {total:,} exception"
                f"{'s' if total != 1 else ''} over the whole case, warm-up included (most often: {message}, "
                f"{int(top['Count']):,} times), counted in no "
                f"request figure: a task that raises sends less load than it was written to; see "
                f"raw/{case.get('case_id')}/locust_exceptions.csv."
            )
    return out


def run_warnings(run: Run, results: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Everything a reader must know before trusting a number, in plain words."""
    meta = run.meta
    out: list[str] = []
    if meta.get("status") != "complete":
        out.append(
            f"This run is {meta.get('status')}: {meta.get('error') or 'no reason recorded'}. "
            "Only the finished cases are shown."
        )
    failed = [c for c in meta.get("cases", []) if c.get("status") != "complete"]
    for c in failed:
        out.append(f"Case {c['case_id']} failed: {c.get('error')}")
    machine = meta.get("machine", {})
    layout = machine.get("cpu_layout", "shared")
    if layout == "shared":
        out.append(
            f"The load generator (Locust) and the server shared this machine's "
            f"{machine.get('logical_cores', '?')} cores: CPU the generator used was not available to the "
            "server. The generator's CPU is shown beside every result."
        )
    elif isinstance(layout, dict):
        server, generator = layout.get("server", []), layout.get("generator", [])
        out.append(
            f"Pinned: the server ran on core(s) {', '.join(map(str, server))} only, the load generator on "
            f"{', '.join(map(str, generator))}: {len(server)} of {machine.get('logical_cores', '?')} cores "
            "for the server, so modes with more workers than that were oversubscribed."
        )
    ceiling = (machine.get("generator_calibration") or {}).get("ceiling_rps")
    for r in results.itertuples(index=False):
        if ceiling and not r.generator_limited and r.throughput_rps >= NEAR_CEILING * ceiling * r.generator_processes:
            out.append(
                f"{r.case_id}: {r.throughput_rps:,.0f} req/s is within {1 - NEAR_CEILING:.0%} of this machine's "
                f"calibrated generator ceiling ({ceiling:,.0f} req/s per Locust process): the generator may "
                "have been part of the limit."
            )
        if r.generator_limited:
            out.append(
                f"{r.case_id}: {r.generator_limited_reason}. To fix: fewer users or a heavier route "
                "(more work per request), so that the server, not Locust, runs out of CPU first."
            )
        if isinstance(r.overloaded_reason, str):
            out.append(f"{r.case_id}: {r.overloaded_reason}.")
        if r.failures:
            top = _locust_csv(run, r.case_id, "failures", "Occurrences")
            most = (
                f" (most often, over the whole case with its warm-up: "
                f"{_one_line(top[0].get('Error', ''))} on {top[0].get('Name')}, "
                f"{int(top[0]['Occurrences']):,} times)"
                if top
                else ""
            )
            out.append(f"{r.case_id}: {r.failures} of {r.requests} requests failed{most}; see raw/{r.case_id}/.")
        if not math.isnan(r.client_server_mismatch) and r.client_server_mismatch > MISMATCH_TOLERANCE:
            out.append(
                f"{r.case_id}: client and server request counts differ by up to "
                f"{r.client_server_mismatch:.1%} for one worker, beyond the requests in flight at the stop "
                f"(tolerance {MISMATCH_TOLERANCE:.0%}): responses were lost or miscounted."
            )
    out.extend(_locust_exceptions(run))
    for s in summary.itertuples(index=False):
        if s.unstable:
            out.append(
                f"{s.condition}: throughput varied by {s.throughput_cv_pct:.0f}% (coefficient of variation) "
                f"across {s.repetitions} repetitions, over the {UNSTABLE_CV_PCT:.0f}% bound. To fix: more "
                "repetitions, a longer duration, or a quieter machine."
            )
    fewest = int(summary["repetitions"].min()) if not summary.empty else 0
    if not summary.empty and fewest < evidence.MIN_REPETITIONS:
        most = int(summary["repetitions"].max())
        if most < evidence.MIN_REPETITIONS:  # every condition is short of an interval
            count = f"{fewest} to {most} repetitions" if most != fewest else f"{fewest} repetition{'s' * (fewest != 1)}"
            which = f"{count} of every condition"
        else:
            which = f"{fewest} repetition{'s' * (fewest != 1)} of some conditions"
        out.append(
            f"Only {which}: below {evidence.MIN_REPETITIONS} there is no "
            "interval of the median, so no comparison involving them is firm (the story says "
            f'"inconclusive"). Use at least {evidence.MIN_REPETITIONS} repetitions; 6 or more give a 95% '
            "interval."
        )
    other = results["other_cpu_pct"].median() if not results.empty else math.nan
    if not math.isnan(other) and other > OTHER_CPU_WARN_PCT:
        out.append(
            f"The machine was not quiet: processes other than the server and Locust used "
            f"{other:.0f}% of a core (median over cases; the harness's own sampling is a few %). "
            "They took CPU from the server and the generator; absolute figures are low and noisy. "
            "To fix: run on an otherwise idle machine."
        )
    steal = results["steal_pct"].max() if not results.empty else math.nan
    if not math.isnan(steal) and steal > 5:
        out.append(
            f"The hypervisor stole up to {steal:.0f}% CPU (median per case) during the run: "
            "another tenant was busy; absolute figures are lower than on a quiet machine."
        )
    out.extend(cost.perturbation_notes(results, machine))  # the generator's CPU taken from a server using every core
    out.extend(missing_figure_warnings(meta))  # an external target, a user's app, Locust workers elsewhere
    return out
