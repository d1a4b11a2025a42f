"""Client-side measurements taken inside Locust, exact and mergeable.

Locust rounds its own percentiles to about two significant figures; here every
response time goes into an HDR histogram (microseconds, 3 significant digits, so any
percentile is exact to within 0.1 %), kept per request name and per phase. Every
response's x-worker-id / x-pid headers are counted, so the spread of requests over
workers is exact. The state is a plain dict so it can travel from Locust worker
processes to the master and be merged there without loss.

Phases: "warmup" (before all users were spawned plus the warm-up period), "measure",
and "after". Closed load: a response's phase is that of its completion time (responses
that completed after the stop began are "after"). Open load (wrk2 and k6's accounting): a
request's phase is that of its DUE time, whenever it completes, so that an overloaded
window cannot push its slowest requests out of its own percentiles; every request due in
the window is completed (success), failed, or dropped (never sent, or not answered within
the grace after the window, OPEN_GRACE_S), and `due` = requests + dropped.
In open load the latency histogram holds successes only (a fast error must not pull the
percentiles down); failures have their own.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.record import PROBE_PREFIX

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
# Open load: how long after the window the requests due in it may still complete before they
# count as dropped. k6's gracefulStop is 30 s; 10 s keeps an overloaded case short, and a
# request due in the window that has not completed 10 s after it ended is, for a benchmark
# window of seconds to minutes, a failure to serve the rate rather than a latency worth a
# figure. (The responses that do come in the grace come without new load behind them.)
OPEN_GRACE_S = 10.0
# With Locust workers: how much longer than the grace the master waits for their totals.
OPEN_CLOSE_MARGIN_S = 5.0
# HookState.record only queues a response; at most this many wait to be added up (flush)
FLUSH_EVERY = 2048


def phase_of(ts: float, measure_start_ts: float | None, measure_end_ts: float | None) -> str:
    """The one window rule used everywhere: [start, end) is `measure`."""
    if measure_start_ts is None or ts < measure_start_ts:
        return "warmup"
    if measure_end_ts is not None and ts >= measure_end_ts:
        return "after"
    return "measure"


def response_phase(
    due_ts: float | None, done_ts: float, measure_start_ts: float | None, measure_end_ts: float | None
) -> str:
    """The phase a response counts in: open load (a due time), that of the due time, so a
    request due in the window belongs to it whenever it completes; closed load, that of
    its completion."""
    return phase_of(done_ts if due_ts is None else due_ts, measure_start_ts, measure_end_ts)


def due_ts(start_ts: float, interval_s: float, k: int) -> float:
    """When request k of an open-load schedule is due (Unix s). The one formula the sender
    and count_due both use, so a count agrees with the phase of every due time."""
    return start_ts + k * interval_s


def count_due(start_ts: float, interval_s: float, measure_start_ts: float | None, measure_end_ts: float | None) -> int:
    """How many requests of the schedule start_ts + k * interval_s (k = 0, 1, ...) are due
    in the window [measure_start_ts, measure_end_ts): the requests the window owes, whether
    the generator got to send them or not (0 until the window is known)."""
    if measure_start_ts is None or measure_end_ts is None or measure_end_ts <= measure_start_ts:
        return 0

    def first_at_or_after(ts: float) -> int:
        k = max(0, math.ceil((ts - start_ts) / interval_s))
        while k > 0 and due_ts(start_ts, interval_s, k - 1) >= ts:  # float rounding, either way
            k -= 1
        while due_ts(start_ts, interval_s, k) < ts:
            k += 1
        return k

    return first_at_or_after(measure_end_ts) - first_at_or_after(measure_start_ts)


_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, the port filled in from the scheme and localhost written
    127.0.0.1; None when the URL names no host."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if not host:
        return None
    port = port if port is not None else {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, _LOOPBACK_NAMES.get(host, host), port


def other_host(url: str, server_url: str) -> str | None:
    """ "host:port" of a request's URL when it names another server than server_url (the
    server under test, Locust's --host): a locustfile task with an absolute URL elsewhere.
    None when it is the same server, or when the URL names no host (nothing to compare)."""
    theirs = _origin(url)
    if theirs is None or theirs == _origin(server_url):
        return None
    return f"{theirs[1]}:{theirs[2]}"


# Per-second histograms (latency over time) need less precision: 2 significant digits
# (within 1 %) keeps each one small enough to hold one per second and request name.
SECOND_SIGNIFICANT_DIGITS = 2


def new_histogram(digits: int = SIGNIFICANT_DIGITS) -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, digits)


def _us(ms: float) -> int:
    return max(LOWEST_US, min(HIGHEST_US, int(round(ms * 1000))))


def decode_histogram(encoded: str) -> HdrHistogram:
    hist = new_histogram()
    if encoded:
        hist.decode_and_add(encoded)
    return hist


class HookState:
    """Everything the hooks record for one case, in one Locust process."""

    def __init__(self) -> None:
        # (phase, name) -> latency: closed load every response; open load successes only
        self.hist: dict[tuple[str, str], HdrHistogram] = {}
        # (phase, name) -> latency of the failed responses (both loads)
        self.fail_hist: dict[tuple[str, str], HdrHistogram] = {}
        # (phase of the completion time, name) -> successful responses that completed in it,
        # whatever their due time: the rate the server actually answered at (completed_rps)
        self.completed: dict[tuple[str, str], int] = defaultdict(int)
        # open load: (phase, name) -> requests due in it, added when the window closes
        # (absent: not counted, e.g. closed load)
        self.due: dict[tuple[str, str], int] = {}
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.failures: dict[tuple[str, str], int] = defaultdict(int)
        # (phase, worker_id, pid, thread_id): thread_id is "" unless a pool thread did the work
        self.workers: dict[tuple[str, str, str, str], int] = defaultdict(int)
        # the same keys: [first, last] time (Unix s) a response of it arrived, so that when a
        # worker was replaced, and when its replacement first served, is known exactly
        self.worker_span: dict[tuple[str, str, str, str], list[float]] = {}
        # every response (start_ts, done_ts, ok, worker_id, pid, error), only when asked for
        # (cases with events): what was in flight at an event, and what became of it
        self.keep_requests = False
        self.requests_log: list[list[Any]] = []
        # responses recorded and not yet added up (see record and flush): three numbers each,
        # flat: the response's code (its key below), its latency (ms) and completion time (Unix s)
        self._pending: list[float] = []
        # a response's key, everything about it but its latency and time: (phase, name, ok,
        # worker_id, pid, thread_id, count_worker, in the latency histogram, done_phase) -> code,
        # and back (code -> key); the request listener's own shortcut for a success,
        # (phase, name, worker_id, pid, thread_id, done_phase) -> code
        self._codes: dict[tuple, int] = {}
        self._keys: list[tuple] = []
        self._ok_codes: dict[tuple, int] = {}
        # second (int Unix time) -> name -> [requests, failures, latency sum ms, latency max ms]
        self.timeline: dict[tuple[int, str], list[float]] = {}
        # the same seconds' response times, for per-second percentiles
        self.second_hist: dict[tuple[int, str], HdrHistogram] = {}
        self.errors: dict[str, int] = defaultdict(int)
        # open load only: per phase (of the due time) and name, how late each request left
        # against its schedule; the count is the number of requests sent
        self.send_lag: dict[tuple[str, str], HdrHistogram] = {}
        # open load only: per phase (of the time they waited, whatever their due time),
        # requests that found every in-flight slot taken (the server fell behind the rate)
        self.cap_waits: dict[str, int] = defaultdict(int)
        # a user's locustfile only: host:port -> responses from another host than the server
        # under test (an absolute URL in a task); any ends the test (see locustfile.py)
        self.foreign_hosts: dict[str, int] = defaultdict(int)

    def record_send(self, phase: str, name: str, lag_ms: float) -> None:
        """Open load: a request due in `phase` left lag_ms after its due time."""
        _add(self.send_lag, (phase, name), lag_ms)

    def add_due(self, phase: str, name: str, count: int) -> None:
        """Open load: `count` more requests of `name` were due in `phase` (see count_due)."""
        self.due[(phase, name)] = self.due.get((phase, name), 0) + count

    def record(
        self,
        phase: str,
        name: str,
        response_time_ms: float,
        ok: bool,
        worker_id: str,
        pid: str,
        done_ts: float,
        error: str | None = None,
        thread_id: str = "",
        count_worker: bool = True,
        due_ts: float | None = None,
        done_phase: str | None = None,
    ) -> None:
        """One response. `phase` is response_phase(); `due_ts` (open load) keeps failures out
        of the latency histogram; `done_phase` is the phase of the completion time (the same
        as `phase` in closed load, the default).

        The hot path of every response: it only queues the response's code (see code()),
        latency and time; flush() adds a batch up (counts per code, histograms with numpy),
        at the latest every FLUSH_EVERY responses and before to_dict(). The request listener
        (locustfile.py) does the same for a success, written out inline."""
        key = (phase, name, ok, worker_id, pid, thread_id, count_worker, ok or due_ts is None, done_phase or phase)
        code = self._codes.get(key)
        if code is None:
            code = self.code(key)
        self._pending.extend((code, response_time_ms, done_ts))
        if not ok and error:
            self.errors[error[:200]] += 1
        if self.keep_requests:
            self.requests_log.append(
                [done_ts - response_time_ms / 1000, done_ts, ok, worker_id, pid, (error or "")[:200]]
            )
        if len(self._pending) >= 3 * FLUSH_EVERY:
            self.flush()

    def code(self, key: tuple) -> int:
        """The code of a response key (phase, name, ok, worker_id, pid, thread_id, count_worker,
        in_hist, done_phase), a new one the first time."""
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._keys)
            self._keys.append(key)
        return code

    def ok_code(self, phase: str, name: str, worker_id: str, pid: str, thread_id: str, done_phase: str) -> int:
        """The code of a success (the request listener's shortcut, keyed by (phase, name,
        worker_id, pid, thread_id, done_phase)): counted per worker unless a probe."""
        code = self.code(
            (phase, name, True, worker_id, pid, thread_id, not name.startswith(PROBE_PREFIX), True, done_phase)
        )
        self._ok_codes[(phase, name, worker_id, pid, thread_id, done_phase)] = code
        return code

    def flush(self) -> None:
        """Add the pending responses into the histograms and counts: the same figures as
        recording them one by one: histograms bin by bin, counts exactly, a worker's span
        from its first and last arrival (in the order recorded), a second's latency sum up to
        the last bits of a float (numpy adds a batch in order, then the batch to the sum)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        flat = np.array(batch, dtype=np.float64).reshape(-1, 3)
        codes = flat[:, 0].astype(np.int64)
        ms = np.ascontiguousarray(flat[:, 1])
        done = flat[:, 2]
        keys = self._keys
        per_code = np.bincount(codes, minlength=len(keys))
        present = np.flatnonzero(per_code).tolist()
        # the first and the last arrival of each code in this batch
        firsts, first_at = np.unique(codes, return_index=True)
        lasts, last_back = np.unique(codes[::-1], return_index=True)
        first_idx = dict(zip(firsts.tolist(), first_at.tolist()))
        last_idx = dict(zip(lasts.tolist(), (len(codes) - 1 - last_back).tolist()))
        ok_of = np.zeros(len(keys), dtype=bool)
        # (phase, name) -> group; each code's group in the latency and the failures' histograms
        pn_of: dict[tuple[str, str], int] = {}
        hist_group = np.full(len(keys), -1, dtype=np.int64)
        fail_group = np.full(len(keys), -1, dtype=np.int64)
        name_of: dict[str, int] = {}
        name_group = np.zeros(len(keys), dtype=np.int64)
        spans: dict[tuple[str, str, str, str], list[int]] = {}  # worker key -> [first index, last index]
        all_ok = True
        for c in present:
            phase, name, ok, wid, pid, tid, count_w, in_hist, done_phase = keys[c]
            n = int(per_code[c])
            g = pn_of.setdefault((phase, name), len(pn_of))
            name_group[c] = name_of.setdefault(name, len(name_of))
            self.requests[(phase, name)] += n
            if ok:
                ok_of[c] = True
                self.completed[(done_phase, name)] += n
            else:
                all_ok = False
                self.failures[(phase, name)] += n
                fail_group[c] = g
            if in_hist:
                hist_group[c] = g
            if count_w:
                wkey = (phase, wid, pid, tid)
                self.workers[wkey] += n
                at = spans.get(wkey)
                if at is None:
                    spans[wkey] = [first_idx[c], last_idx[c]]
                else:
                    at[0], at[1] = min(at[0], first_idx[c]), max(at[1], last_idx[c])
        for wkey, (i, j) in spans.items():
            first, last = float(done[i]), float(done[j])
            span = self.worker_span.get(wkey)
            if span is None:
                self.worker_span[wkey] = [min(first, last), max(first, last)]
            else:
                span[0], span[1] = min(span[0], first, last), max(span[1], first, last)
        us = np.clip(np.rint(ms * 1000), LOWEST_US, HIGHEST_US).astype(np.int64)
        in_hist_group = hist_group[codes]
        in_fail_group = None if all_ok else fail_group[codes]
        for key, g in pn_of.items():
            _record_many(self.hist, key, us[in_hist_group == g], SIGNIFICANT_DIGITS)
            if in_fail_group is not None:
                _record_many(self.fail_hist, key, us[in_fail_group == g], SIGNIFICANT_DIGITS)
        # per (second, name): counts, failures, latency sum and maximum, and the second's histogram
        seconds = np.floor(done).astype(np.int64)
        groups, inverse = np.unique(seconds * len(name_of) + name_group[codes], return_inverse=True)
        counts = np.bincount(inverse, minlength=len(groups))
        fails = np.bincount(inverse, weights=~ok_of[codes], minlength=len(groups)) if not all_ok else None
        sums = np.bincount(inverse, weights=ms, minlength=len(groups))
        maxes = np.full(len(groups), -np.inf)
        np.maximum.at(maxes, inverse, ms)
        by_code = list(name_of)
        for g, combined in enumerate(groups.tolist()):
            sec, name = combined // len(name_of), by_code[combined % len(name_of)]
            slot = self.timeline.setdefault((sec, name), [0, 0, 0.0, 0.0])
            slot[0] += int(counts[g])
            slot[1] += 0 if fails is None else int(fails[g])
            slot[2] += float(sums[g])
            slot[3] = max(slot[3], float(maxes[g]))
            _record_many(self.second_hist, (sec, name), us[inverse == g], SECOND_SIGNIFICANT_DIGITS)

    def to_dict(self) -> dict[str, Any]:
        self.flush()
        keys = sorted(set(self.hist) | set(self.requests) | set(self.completed) | set(self.send_lag) | set(self.due))
        # per phase, the load's requests sent (probes left out), as before per-name lags
        load_lag: dict[str, HdrHistogram] = {}
        for (p, n), h in self.send_lag.items():
            if not n.startswith(PROBE_PREFIX):
                load_lag.setdefault(p, new_histogram()).add(h)
        return {
            "endpoints": [
                {
                    "phase": p,
                    "name": n,
                    "requests": self.requests.get((p, n), 0),
                    "failures": self.failures.get((p, n), 0),
                    "hdr": _encode(self.hist.get((p, n))),
                    "fail_hdr": _encode(self.fail_hist.get((p, n))),
                    "completed": self.completed.get((p, n), 0),
                    "due": self.due.get((p, n)),
                    "send_lag_hdr": _encode(self.send_lag.get((p, n))),
                }
                for p, n in keys
            ],
            "workers": [
                {
                    "phase": p,
                    "worker_id": w,
                    "pid": pid,
                    "thread_id": t,
                    "requests": c,
                    "first_response_ts": self.worker_span[(p, w, pid, t)][0],
                    "last_response_ts": self.worker_span[(p, w, pid, t)][1],
                }
                for (p, w, pid, t), c in sorted(self.workers.items())
            ],
            "requests": self.requests_log,
            "timeline": [
                {
                    "second": s,
                    "name": n,
                    "requests": v[0],
                    "failures": v[1],
                    "latency_sum_ms": v[2],
                    "latency_max_ms": v[3],
                    "hdr": self.second_hist[(s, n)].encode().decode("ascii") if (s, n) in self.second_hist else "",
                }
                for (s, n), v in sorted(self.timeline.items())
            ],
            "errors": dict(self.errors),
            "send_lag": [
                {"phase": p, "sent": h.get_total_count(), "hdr": h.encode().decode("ascii")}
                for p, h in sorted(load_lag.items())
            ],
            "cap_waits": dict(self.cap_waits),
            "foreign_hosts": dict(self.foreign_hosts),
        }

    def merge(self, data: dict[str, Any]) -> None:
        """Add another process's to_dict() into this state (exact: histograms add bin by bin)."""
        for e in data.get("endpoints", []):
            key = (e["phase"], e["name"])
            for hists, field in ((self.hist, "hdr"), (self.fail_hist, "fail_hdr"), (self.send_lag, "send_lag_hdr")):
                if e.get(field):
                    hists.setdefault(key, new_histogram()).decode_and_add(e[field])
            self.requests[key] += e["requests"]
            self.failures[key] += e["failures"]
            self.completed[key] += e.get("completed", 0)
            if e.get("due") is not None:
                self.add_due(key[0], key[1], e["due"])
        for w in data.get("workers", []):
            wkey = (w["phase"], w["worker_id"], w["pid"], w.get("thread_id", ""))
            self.workers[wkey] += w["requests"]
            first, last = w.get("first_response_ts"), w.get("last_response_ts")
            if first is not None and last is not None:
                span = self.worker_span.get(wkey)
                self.worker_span[wkey] = [first, last] if span is None else [min(span[0], first), max(span[1], last)]
        self.requests_log.extend(data.get("requests", []))
        for t in data.get("timeline", []):
            slot = self.timeline.setdefault((t["second"], t["name"]), [0, 0, 0.0, 0.0])
            slot[0] += t["requests"]
            slot[1] += t["failures"]
            slot[2] += t["latency_sum_ms"]
            slot[3] = max(slot[3], t["latency_max_ms"])
            if t.get("hdr"):
                key = (t["second"], t["name"])
                if key not in self.second_hist:
                    self.second_hist[key] = new_histogram(SECOND_SIGNIFICANT_DIGITS)
                self.second_hist[key].decode_and_add(t["hdr"])
        for msg, count in data.get("errors", {}).items():
            self.errors[msg] += count
        # (the top-level "send_lag" is derived from the endpoints' send_lag_hdr: not merged twice)
        for phase, count in data.get("cap_waits", {}).items():
            self.cap_waits[phase] += count
        for host, count in data.get("foreign_hosts", {}).items():
            self.foreign_hosts[host] += count


def _add(hists: dict[tuple[str, str], HdrHistogram], key: tuple[str, str], ms: float) -> None:
    hist = hists.get(key)
    if hist is None:
        hist = hists[key] = new_histogram()
    hist.record_value(_us(ms))


def _record_many(hists: dict, key: Any, values: np.ndarray, digits: int) -> None:
    """Record integer values (already within LOWEST_US..HIGHEST_US) into hists[key] at once:
    the same bins, total, min and max as record_value() for each, in numpy."""
    if not len(values):
        return
    hist = hists.get(key)
    if hist is None:
        hist = hists[key] = new_histogram(digits)
    bit_length = np.frexp((values | hist.sub_bucket_mask).astype(np.float64))[1]  # exact below 2**53
    bucket = bit_length - hist.unit_magnitude - (hist.sub_bucket_half_count_magnitude + 1)
    index = (
        ((bucket + 1) << hist.sub_bucket_half_count_magnitude)
        + (values >> (bucket + hist.unit_magnitude))
        - hist.sub_bucket_half_count
    )
    bins, counts = np.unique(index, return_counts=True)
    np.ctypeslib.as_array(hist.counts)[bins] += counts.astype(np.uint64)
    hist.total_count += len(values)
    hist.min_value = min(hist.min_value, int(values.min()))
    hist.max_value = max(hist.max_value, int(values.max()))


def _encode(hist: HdrHistogram | None) -> str:
    return hist.encode().decode("ascii") if hist is not None and hist.get_total_count() else ""


PERCENTILES = {
    "latency_p50_ms": 50.0,
    "latency_p90_ms": 90.0,
    "latency_p95_ms": 95.0,
    "latency_p99_ms": 99.0,
    "latency_p99_9_ms": 99.9,
}


def latency_summary(hist: HdrHistogram) -> dict[str, float | None]:
    """Mean, percentiles and max of a histogram, in ms (None when it is empty).

    The same figures as hdrh's get_mean_value and get_value_at_percentile, in one pass over
    the counts (numpy) instead of one Python loop over every bucket per figure: a report
    asks for thousands of them."""
    total = hist.get_total_count()
    if total == 0:
        return {"latency_mean_ms": None, **{k: None for k in PERCENTILES}, "latency_max_ms": None}
    counts = np.ctypeslib.as_array(hist.counts)[: hist.counts_len]
    recorded = np.flatnonzero(counts)
    weighted = sum(int(counts[i]) * hist._hdr_median_equiv_value(hist.get_value_from_index(int(i))) for i in recorded)
    out: dict[str, float | None] = {"latency_mean_ms": float(weighted) / total / 1000}
    cumulative = np.cumsum(counts)
    for column, pct in PERCENTILES.items():
        index = int(np.searchsorted(cumulative, hist.get_target_count_at_percentile(pct), side="left"))
        out[column] = (
            hist.get_highest_equivalent_value(hist.get_value_from_index(index)) / 1000
            if index < len(cumulative)
            else 0.0
        )
    out["latency_max_ms"] = hist.get_max_value() / 1000
    return out


def endpoint_rows(case_id: str, endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the `endpoints` table from the hooks' endpoint entries (columns in
    record.TABLE_COLUMNS). Open load: `due`, `sent` and `dropped` = due - requests (what
    was due in the window and never answered within the grace); None where not counted.
    A window whose requests were all dropped has a row with no successes: its latency
    figures are NaN (not None, so that a number format still prints them)."""
    rows = []
    for e in endpoints:
        due = e.get("due")
        fails = decode_histogram(e.get("fail_hdr", ""))
        lag = decode_histogram(e.get("send_lag_hdr", ""))
        rows.append(
            {
                "case_id": case_id,
                "phase": e["phase"],
                "name": e["name"],
                "requests": e["requests"],
                "failures": e["failures"],
                **_nan_for_none(latency_summary(decode_histogram(e["hdr"]))),
                "hdr_b64": e["hdr"],
                "due": due,
                "sent": lag.get_total_count() if e.get("send_lag_hdr") or due is not None else None,
                "dropped": due - e["requests"] if due is not None else None,
                "completed_in_phase": e.get("completed"),
                "send_lag_p99_ms": lag.get_value_at_percentile(99.0) / 1000 if lag.get_total_count() else None,
                "send_lag_max_ms": lag.get_max_value() / 1000 if lag.get_total_count() else None,
                "failure_latency_p50_ms": fails.get_value_at_percentile(50.0) / 1000
                if fails.get_total_count()
                else None,
                "failure_latency_p99_ms": fails.get_value_at_percentile(99.0) / 1000
                if fails.get_total_count()
                else None,
            }
        )
    return rows


def add_aggregate(data: dict[str, Any], name: str) -> None:
    """Add to the hooks' results (HookState.to_dict, merged) the total of every request name
    but the probes, under `name`: per phase an endpoint entry whose histograms are the names'
    added bin by bin (exact) and whose counts are their sums, and per second a timeline entry.
    A locustfile case's figures (throughput, latency, the report) are this total's; its
    names keep their own rows. ValueError when a request is already called `name`."""
    endpoints, timeline = data.get("endpoints", []), data.get("timeline", [])
    if any(e["name"] == name for e in endpoints) or any(t["name"] == name for t in timeline):
        raise ValueError(f"a request of the locustfile is named {name!r}, the name the harness gives the total")
    totals: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        if e["name"].startswith(PROBE_PREFIX):
            continue
        t = totals.setdefault(
            e["phase"],
            {"requests": 0, "failures": 0, "completed": 0, "hdr": new_histogram(), "fail_hdr": new_histogram()},
        )
        t["requests"] += e["requests"]
        t["failures"] += e["failures"]
        t["completed"] += e.get("completed") or 0
        for field in ("hdr", "fail_hdr"):
            if e.get(field):
                t[field].decode_and_add(e[field])
    for phase, t in sorted(totals.items()):
        endpoints.append(
            {
                "phase": phase,
                "name": name,
                "requests": t["requests"],
                "failures": t["failures"],
                "hdr": _encode(t["hdr"]),
                "fail_hdr": _encode(t["fail_hdr"]),
                "completed": t["completed"],
                "due": None,
                "send_lag_hdr": "",
            }
        )
    seconds: dict[int, dict[str, Any]] = {}
    for entry in timeline:
        if entry["name"].startswith(PROBE_PREFIX):
            continue
        slot = seconds.setdefault(
            entry["second"], {"requests": 0, "failures": 0, "latency_sum_ms": 0.0, "latency_max_ms": 0.0, "hist": None}
        )
        slot["requests"] += entry["requests"]
        slot["failures"] += entry["failures"]
        slot["latency_sum_ms"] += entry["latency_sum_ms"]
        slot["latency_max_ms"] = max(slot["latency_max_ms"], entry["latency_max_ms"])
        if entry.get("hdr"):
            if slot["hist"] is None:
                slot["hist"] = new_histogram(SECOND_SIGNIFICANT_DIGITS)
            slot["hist"].decode_and_add(entry["hdr"])
    for second, slot in sorted(seconds.items()):
        hist = slot.pop("hist")
        timeline.append({"second": second, "name": name, **slot, "hdr": _encode(hist)})


def _nan_for_none(figures: dict[str, float | None]) -> dict[str, float]:
    return {k: math.nan if v is None else v for k, v in figures.items()}


REQUEST_FIELDS = ("start_ts", "done_ts", "ok", "worker_id", "pid", "error")


def request_rows(
    case_id: str, requests: list[list[Any]], measure_start_ts: float | None, measure_end_ts: float | None
) -> list[dict[str, Any]]:
    """Rows of the `requests` table (one per response, in completion order; the phase is
    that of its completion time, as everywhere)."""
    rows = []
    for r in sorted(requests, key=lambda r: r[1]):
        row = dict(zip(REQUEST_FIELDS, r))
        row["latency_ms"] = (row["done_ts"] - row["start_ts"]) * 1000
        rows.append({"case_id": case_id, "phase": phase_of(row["done_ts"], measure_start_ts, measure_end_ts), **row})
    return rows


def timeline_rows(
    case_id: str,
    timeline: list[dict[str, Any]],
    started_ts: float,
    measure_start_ts: float | None,
    measure_end_ts: float | None,
) -> list[dict[str, Any]]:
    """Rows of the `timeline` table; a second is `measure` only if it lies wholly in the window."""
    rows = []
    for t in timeline:
        sec = t["second"]
        if (
            measure_start_ts is not None
            and measure_end_ts is not None
            and sec >= measure_start_ts
            and sec + 1 <= measure_end_ts
        ):
            phase = "measure"
        elif measure_start_ts is None or sec + 1 <= measure_start_ts:
            phase = "warmup"
        elif measure_end_ts is not None and sec >= measure_end_ts:
            phase = "after"
        else:
            phase = "partial"
        p50 = p99 = None
        if t.get("hdr"):
            hist = new_histogram(SECOND_SIGNIFICANT_DIGITS)
            hist.decode_and_add(t["hdr"])
            if hist.get_total_count():
                p50 = hist.get_value_at_percentile(50.0) / 1000
                p99 = hist.get_value_at_percentile(99.0) / 1000
        rows.append(
            {
                "case_id": case_id,
                "second": sec,
                "elapsed_s": sec - started_ts,
                "phase": phase,
                "name": t["name"],
                "requests": t["requests"],
                "failures": t["failures"],
                "latency_mean_ms": t["latency_sum_ms"] / t["requests"] if t["requests"] else None,
                "latency_p50_ms": p50,
                "latency_p99_ms": p99,
                "latency_max_ms": t["latency_max_ms"],
            }
        )
    return rows
