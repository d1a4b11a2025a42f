"""How much the load generator's own CPU changed a result (pure: stored tables only).

When the server and Locust share a machine and the server's mode can use every core,
every CPU-millisecond Locust spends per request is taken from the server. With the run's
own figures per request, s = the server's CPU ms and g = the generator's, and c = what a C
generator (wrk) costs per request (`harness selfcheck`, stored in run.json's machine facts
as generator_selfcheck; 0 when none was measured: a free generator):
the server and generator together used the machine's CPU, so with the C generator the same
CPU would have served about (s + g) / (s + c) times the requests. The estimate holds while
the machine's CPU was the limit; a case that left cores idle is not concerned.

That estimate counts only the CPU the generator takes. Measured (selfcheck's `wrk_cluster`
pair, 2 December 2026), a cluster of 2 also spent 5 to 6 % more CPU per request beside the
harness's Locust than beside wrk (a Python process's wake-ups interrupt the workers), and wrk
served 1.6 to 2 times as many more requests as the estimate says (1 / ratio - 1 against the
estimate from the pair's own medians, in two quiet runs). Where the stored selfcheck
shows that, the note quotes the measurement and calls the estimate a lower bound (cluster_check).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

# below this estimated gain the generator's share does not change a comparison worth a note
NOTE_FROM = 0.03
# "used the machine": server + generator CPU at least this share of all cores
SATURATED = 0.80


def estimated_gain(server_ms: float, generator_ms: float, c_generator_ms: float) -> float:
    """How much higher throughput would be with a generator costing c_generator_ms per
    request instead of generator_ms, when server and generator share the CPU that limits
    (0.10 = 10 % higher)."""
    if not all(math.isfinite(x) for x in (server_ms, generator_ms, c_generator_ms)) or server_ms <= 0:
        return math.nan
    return (server_ms + generator_ms) / (server_ms + min(c_generator_ms, generator_ms)) - 1.0


def perturbation_notes(results: pd.DataFrame, machine: dict[str, Any]) -> list[str]:
    """A sentence per condition where the generator's CPU share was large enough to change
    a conclusion: the server's mode used every core of a machine it shared with Locust,
    the machine's CPU was the limit, and the estimated gain is NOTE_FROM or more."""
    cores = machine.get("logical_cores") or 0
    if results.empty or machine.get("cpu_layout", "shared") != "shared" or not cores:
        return []
    check = machine.get("generator_selfcheck") or {}
    c_ms = check.get("c_generator_ms_per_request")
    source = (
        (
            f"{check.get('c_generator', 'a C generator')}, measured by `harness selfcheck` on "
            f"{str(check.get('measured_at', '?'))[:10]}"
        )
        if c_ms is not None
        else "no `harness selfcheck` stored for this machine, so a free generator is assumed"
    )
    out = []
    for condition, g in results.groupby("condition", sort=False):
        units = pd.to_numeric(g["units"], errors="coerce")
        tput, server, gen = g["throughput_rps"], g["server_cpu_pct"], g["generator_cpu_pct"]
        # the repetitions where the server could use every core and the two used the machine
        used = g[(units >= cores) & (tput > 0) & (server + gen >= SATURATED * cores * 100)]
        if used.empty:
            continue
        s_ms = used["server_cpu_pct"] * 10 / used["throughput_rps"]
        g_ms = used["generator_cpu_pct"] * 10 / used["throughput_rps"]
        gain = float(pd.Series([estimated_gain(s, gm, c_ms or 0.0) for s, gm in zip(s_ms, g_ms)]).median())
        if not gain >= NOTE_FROM:
            continue
        note = (
            f"{condition}: the server's {units.median():.0f} workers could use every core, and Locust took "
            f"{used['generator_cpu_pct'].median():.0f}% of a core from them ({g_ms.median():.2f} ms of CPU "
            f"per request, beside the server's {s_ms.median():.2f} ms; {len(used)} of {len(g)} repetitions "
            f"used the whole machine). With a generator costing {c_ms or 0.0:.2f} ms per request ({source}), "
            f"throughput would be about {gain:.0%} higher; a speedup over a mode that left a core idle is "
            "understated by about as much."
        )
        measured = check.get("cluster_check")
        if c_ms is None:
            note += (
                " That counts the CPU taken only, not the workers' own slowdown beside Locust, which "
                "`harness selfcheck` measures (on this project's 2-core machine about as large as the CPU part)."
            )
        elif measured and measured["shortfall_least"] > measured["cpu_estimate"]:
            note += (
                f" That counts the CPU taken only: measured on this machine (`harness selfcheck`, one after "
                f"the other on one cluster of 2, `/cpu`), wrk served {measured['shortfall']:.0%} more requests than the "
                f"harness's Locust where the CPU taken accounts for {measured['cpu_estimate']:.0%}, and "
                f"more than that in every repetition: the workers also spent more CPU per request beside "
                f"it ({measured['harness_server_ms']:.2f} ms against {measured['wrk_server_ms']:.2f}). "
                "Read the estimate as a lower bound."
            )
        out.append(note)
    return out


def cluster_check(pair: dict[str, Any] | None) -> dict[str, float] | None:
    """From selfcheck's wrk_cluster pair (the harness's Locust and wrk one after the other on
    one cluster of 2, every core used): how many more requests wrk served (`shortfall`, of
    the median ratio; `shortfall_least`, of the harness's best repetition), what the CPU the
    harness's Locust takes would account for (estimated_gain with the pair's own medians),
    and the server's CPU per request beside each. None without the figures (older selfchecks)."""
    try:
        ratio, best = pair["ratio"]["median"], pair["ratio"]["max"]
        a, b = pair["harness"], pair["wrk"]
        s_a = a["server_cpu_pct"]["median"] * 10 / a["rps"]["median"]
        s_b = b["server_cpu_pct"]["median"] * 10 / b["rps"]["median"]
        g_a, g_b = a["generator_cpu_ms_per_request"]["median"], b["generator_cpu_ms_per_request"]["median"]
    except (KeyError, TypeError, ZeroDivisionError):
        return None
    figures = [ratio, best, s_a, s_b, g_a, g_b]
    if not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in figures):
        return None
    return {
        "shortfall": 1 / ratio - 1,
        "shortfall_least": 1 / best - 1,
        "cpu_estimate": estimated_gain(s_a, g_a, g_b),
        "harness_server_ms": s_a,
        "wrk_server_ms": s_b,
    }


def selfcheck_facts(check: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a run keeps of the newest selfcheck (selfcheck.latest): the per-request costs
    and the ratios, for perturbation_notes and the report."""
    if not check:
        return None
    pairs = {p["pair"]: p for p in check.get("pairs", [])}
    wrk = [p for name, p in pairs.items() if name.startswith("wrk_")]
    c_ms = [p["wrk"]["generator_cpu_ms_per_request"]["median"] for p in wrk if p.get("wrk")]
    return {
        "measured_at": check.get("measured_at"),
        "http_client": check.get("http_client", "locust"),
        "harness_ms_per_request": check.get("generator_cpu_ms_per_request"),
        "c_generator": "wrk" if c_ms else None,
        "c_generator_ms_per_request": min(c_ms) if c_ms else None,
        "ratios": {name: p["ratio"]["median"] for name, p in pairs.items()},
        # what each ratio is of: "rps" (one after the other), or "cpu_per_request" (selfcheck's
        # version 2 hooks pair, side by side); a version 1 selfcheck has only "rps"
        "ratio_kinds": {name: p.get("ratio_kind") or "rps" for name, p in pairs.items()},
        "cluster_check": cluster_check(pairs.get("wrk_cluster")),
    }
