"""The numbers of a stored run: pure functions over a Run's tables, nothing but numbers,
tables, booleans and short codes. The words (warnings, sentences) are harness.report's,
which imports this package; nothing here imports it.

Nothing here starts a process or reads anything but the Run it is given. Only the
measurement window counts: warm-up rows stay in the tables, marked, and are left out.

One module per kind of figure, in the order a report builds them:
  stats      jain_index, max_min_ratio, confidence_interval; fmt (a number for a table)
  results    per-case results (case_results): CPU over the window, the spread over
             workers, open-load accounting, the recorded generator verdict and the
             server's (overloaded), the client/server mismatch
  summaries  per condition (condition_summary), speedups, per request name, per worker,
             CPU by process and by thread
  counters   shared state: the counting routes' counters against the client's count
  sweeps     conditions that differ in one setting: points, knee, whether it is firm
  runs       several runs side by side
  events     events during the load (the resilience scenario)

The names below are re-exported so that `from harness import analysis;
analysis.case_results(run)` works as it always did (notebooks, tests, users' scripts).
"""

from harness.analysis.counters import COUNTER_COLUMNS, COUNTER_SUMMARY_COLUMNS, counter_results, counter_summary
from harness.analysis.events import EVENT_COLUMNS, EVENT_SETTLE_S, FORCE_EXIT_TOLERANCE_S, event_outcomes, longest_gap_s
from harness.analysis.results import (
    LATENCY_PRECISION_PCT,
    MISMATCH_TOLERANCE,
    NEAR_CEILING,
    OTHER_CPU_WARN_PCT,
    RESULT_COLUMNS,
    SERVER_ROLES,
    _parallel_units,
    case_results,
    client_server_mismatch,
    open_load_accounting,
    open_load_overloaded,
    recorded_verdict,
    requests_by_unit,
    runs_on_threads,
    spread_key,
    window_cpu_pct,
    window_rss_mb,
    without_double_count,
)
from harness.analysis.runs import run_labels, side_by_side
from harness.analysis.stats import confidence_interval, fmt, jain_index, max_min_ratio
from harness.analysis.summaries import (
    LATENCY_SUMMARY_COLUMNS,
    NAME_COLUMNS,
    UNSTABLE_CV_PCT,
    condition_summary,
    cpu_seconds_by_process,
    merged_latency,
    name_summary,
    requests_per_worker,
    speedups,
    thread_cpu,
)
from harness.analysis.sweeps import (
    KNEE_FRACTION,
    LIBUV_DEFAULT_THREADS,
    SWEEP_COLUMNS,
    SWEEP_LABELS,
    SWEEP_PARAMETERS,
    knee_problems,
    sweeps,
)

__all__ = [
    "COUNTER_COLUMNS",
    "COUNTER_SUMMARY_COLUMNS",
    "EVENT_COLUMNS",
    "EVENT_SETTLE_S",
    "FORCE_EXIT_TOLERANCE_S",
    "KNEE_FRACTION",
    "LATENCY_PRECISION_PCT",
    "LATENCY_SUMMARY_COLUMNS",
    "LIBUV_DEFAULT_THREADS",
    "MISMATCH_TOLERANCE",
    "NAME_COLUMNS",
    "NEAR_CEILING",
    "OTHER_CPU_WARN_PCT",
    "RESULT_COLUMNS",
    "SERVER_ROLES",
    "SWEEP_COLUMNS",
    "SWEEP_LABELS",
    "SWEEP_PARAMETERS",
    "UNSTABLE_CV_PCT",
    "_parallel_units",
    "case_results",
    "client_server_mismatch",
    "condition_summary",
    "confidence_interval",
    "counter_results",
    "counter_summary",
    "cpu_seconds_by_process",
    "event_outcomes",
    "fmt",
    "jain_index",
    "knee_problems",
    "longest_gap_s",
    "max_min_ratio",
    "merged_latency",
    "name_summary",
    "open_load_accounting",
    "open_load_overloaded",
    "recorded_verdict",
    "requests_by_unit",
    "requests_per_worker",
    "run_labels",
    "runs_on_threads",
    "side_by_side",
    "speedups",
    "spread_key",
    "sweeps",
    "thread_cpu",
    "window_cpu_pct",
    "window_rss_mb",
    "without_double_count",
]
