"""The load generator's verdict on itself: was Locust, not the server, the limit of a case?

run.py gives it when a case ends and records it (cases.generator_limited and
generator_limited_reason, with the reason in words, since the record carries it);
harness.analysis reads the record's verdict and asks here only for a case whose record
holds none (a hand-made table). The thresholds are here, with the rule.
"""

from __future__ import annotations

import math
from typing import Any

# Locust runs in one process and warns when that process passes 90 % of a core: past it,
# the generator, not the server, sets the pace.
GENERATOR_LIMIT_CPU_PCT = 90.0
# Open load: sending (or completing) more than 5 % below the target rate is falling behind it.
OPEN_SHORTFALL = 0.05
# Open load with every in-flight slot free: requests leaving this late against their schedule
# (p99, ms), and late by at least this share of the latency p99 (which runs from the due
# time, so includes the lateness), mean the latency measured is the generator's, not the
# server's. The floor leaves out the scheduling jitter of a busy machine (a few ms).
OPEN_SEND_LAG_FLOOR_MS = 10.0
OPEN_SEND_LAG_SHARE = 0.5


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def generator_limited(generator_cpu_pct: float) -> tuple[bool, str | None]:
    """The CPU rule: the hottest Locust process used 90 % of a core or more over the window."""
    if generator_cpu_pct is None or math.isnan(generator_cpu_pct):
        return False, None
    if generator_cpu_pct >= GENERATOR_LIMIT_CPU_PCT:
        return True, (
            f"the load generator used {generator_cpu_pct:.0f}% of a core (limit "
            f"{GENERATOR_LIMIT_CPU_PCT:.0f}%): the figure is Locust's ceiling, not the server's capacity"
        )
    return False, None


def generator_verdict(
    hottest_generator_cpu_pct: float,
    target_rps: float | None,
    sent_rps: float | None,
    cap_waits: int = 0,
    send_lag_p99_ms: float = math.nan,
    latency_p99_ms: float = math.nan,
) -> tuple[bool, str | None]:
    """Was the generator, not the server, the limit? Hot Locust CPU; or, in open load with
    in-flight slots free (when they were all taken, the server fell behind: see
    open_load_overloaded), a send rate more than OPEN_SHORTFALL below the target, or
    requests leaving so late (send lag p99 over OPEN_SEND_LAG_FLOOR_MS and over
    OPEN_SEND_LAG_SHARE of the latency p99) that the latency measured is mostly lateness."""
    limited, reason = generator_limited(hottest_generator_cpu_pct)
    if limited:
        return limited, reason
    if cap_waits:
        return False, None
    if short_of(target_rps, sent_rps):
        return True, (
            f"the load generator sent {sent_rps:,.0f} req/s of the {target_rps:,.0f} req/s asked for: "
            "it could not keep the schedule, so latency at the target rate was not measured"
        )
    lag, latency = _num(send_lag_p99_ms), _num(latency_p99_ms)
    if target_rps and lag > OPEN_SEND_LAG_FLOOR_MS and not lag < OPEN_SEND_LAG_SHARE * latency:
        return True, (
            f"the load generator sent its requests up to {lag:,.0f} ms late (p99) with in-flight slots "
            f"free, against a latency p99 of {latency:,.0f} ms: it could not keep the schedule, so the "
            "latency is largely the generator's lateness, not the server's"
        )
    return False, None


def short_of(target_rps: float | None, rate_rps: float | None) -> bool:
    """Is `rate_rps` more than OPEN_SHORTFALL below `target_rps` (open load)?"""
    return (
        bool(target_rps)
        and rate_rps is not None
        and not math.isnan(rate_rps)
        and rate_rps < target_rps * (1 - OPEN_SHORTFALL)
    )
