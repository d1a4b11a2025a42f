"""Events during the load (the resilience scenario): one row per event fired, in the
client's view (failures before, during and after, requests in flight, new workers
serving, gaps in service) and the server's (exit code and time after SIGTERM).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.results import without_double_count
from harness.analysis.stats import _num
from harness.record import NO_WORKER, Run

# "During an event": from when it was fired until the server said it was done (replacement
# ready, reload finished, server exited) and this long after, for stragglers.
EVENT_SETTLE_S = 1.0
# A forced exit honours the shutdown timeout if it comes within this long after it (the
# cluster primary's own fallback fires 1 s after its workers' timeout; process exit and
# the harness noticing take a little more).
FORCE_EXIT_TOLERANCE_S = 1.5
EVENT_COLUMNS = [
    "case_id",
    "condition",
    "repetition",
    "mode",
    "http_client",
    "action",
    "at_s",
    "ts",
    "done_s",
    "outcome",
    "pids_before",
    "requests_window",
    "failures_window",
    "failures_before",
    "failures_during",
    "main_error_during",
    "failures_after",
    "server_in_flight",
    "in_flight",
    "in_flight_ok",
    "in_flight_failed",
    "in_flight_max_latency_ms",
    "new_pids_serving",
    "first_new_pid_s",
    "handover_s",
    "longest_gap_before_s",
    "longest_gap_after_s",
    "exit_code",
    "exit_s",
    "shutdown_timeout_s",
    "forced",
    "timeout_honoured",
    "refused_after_exit",
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
        rows.append(
            {
                "case_id": e.case_id,
                "condition": case["condition"],
                "repetition": case["repetition"],
                "mode": case["mode"],
                # what the case's users sent with (records before schema 8 read "locust")
                "http_client": case.get("http_client") if isinstance(case.get("http_client"), str) else "locust",
                "action": e.action,
                "at_s": _num(e.at_s),
                "ts": ts,
                "done_s": done_s,
                "outcome": e.outcome,
                "pids_before": e.pids_before if isinstance(e.pids_before, str) else "",
                "requests_window": int(ep["requests"].sum()),
                "failures_window": int(ep["failures"].sum()),
                "failures_before": int((failed_done < ts).sum()),
                "failures_during": len(during),
                "main_error_during": errors.mode().iloc[0] if not errors.empty else "",
                "failures_after": int((failed_done >= ts).sum()),
                "server_in_flight": _num(getattr(e, "server_in_flight", math.nan)),
                "in_flight": len(in_flight),
                "in_flight_ok": int(in_flight_ok.sum()),
                "in_flight_failed": int((~in_flight_ok).sum()),
                "in_flight_max_latency_ms": _num(in_flight["latency_ms"].max()) if len(in_flight) else math.nan,
                "new_pids_serving": int(new["pid"].nunique()),
                "first_new_pid_s": first_new - ts if not math.isnan(first_new) else math.nan,
                "handover_s": handover,
                "longest_gap_before_s": longest_gap_s(ok_done, m_start, ts) if not math.isnan(ts) else math.nan,
                "longest_gap_after_s": longest_gap_s(ok_done, ts, m_end) if not math.isnan(ts) else math.nan,
                "exit_code": exit_code,
                "exit_s": exit_s,
                "shutdown_timeout_s": timeout,
                "forced": forced,
                "timeout_honoured": honoured,
                "refused_after_exit": refused,
            }
        )
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)
