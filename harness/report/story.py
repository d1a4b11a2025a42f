"""'What you see and why': sentences written from a run's measured numbers.

Every sentence here is computed from analysis tables; none is canned. Numbers are stated
as measured; a claim about them (it matches what Node.js scaling guides usually say, it
contradicts them) is gated by harness.evidence: it is made only when it is firm (at least
3 repetitions a side, intervals of the medians that separate or lie on one side of the
claim's bound, a quiet machine, no generator limit, few failures). Otherwise the sentence
says "inconclusive", which condition failed and what would settle it; about a figure that
was not measured it says only that, and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness import analysis, evidence, modes
from harness.report import sweeps
from harness.scenario import MOVE_ROUTES

# The usual claims, as bounds a measurement is checked against.
# "N workers give about N times the throughput on CPU-bound work, up to the core count":
# we call a speedup short of it below 85 % of min(N, cores).
LINEAR_FRACTION = 0.85
# "Round robin spreads requests evenly": Jain's index of 0.95 or more.
EVEN_JAIN = 0.95
CPU_BOUND_ROUTES = ("/cpu", "/pbkdf2")
# A route is CPU-bound by what the baseline's server did, not by its name alone (an app's own
# "/cpu" may wait on a timer): at least this much of a core in the one-process baseline.
CPU_BOUND_MIN_PCT = 50.0


def condition_lines(summary: pd.DataFrame) -> list[str]:
    """Throughput, latency and where the CPU went, per condition."""
    out = []
    for s in summary.itertuples(index=False):
        low, high = (
            getattr(s, "throughput_median_low_rps", math.nan),
            getattr(s, "throughput_median_high_rps", math.nan),
        )
        interval = (
            f"; the median lies in {low:,.0f}..{high:,.0f} with {s.throughput_interval_coverage:.1%} confidence"
            if not (math.isnan(low) or math.isnan(high))
            else ""
        )
        text = (
            f"{s.condition}: median {s.throughput_median_rps:,.0f} req/s "
            f"(min {s.throughput_min_rps:,.0f}, max {s.throughput_max_rps:,.0f}, {s.repetitions} "
            f"repetition{'s' if s.repetitions != 1 else ''}"
            f"{interval}), "
            f"p99 {s.latency_p99_ms:.1f} ms. The server processes used {s.server_cpu_pct:.0f}% of a core "
            f"({s.server_cpu_ms_per_request:.2f} ms of CPU per request) and "
            f"the load generator {s.generator_cpu_pct:.0f}% (averages over the window); the whole machine was "
            f"{s.machine_cpu_pct:.0f}% busy."
        )
        if s.generator_limited:
            text += " The generator was the limit here, so this figure is a floor for the server, not its capacity."
        out.append(text)
    return out


def _iv(row: Any, column: str) -> evidence.Interval:
    """The interval of the median of `column` from a summary row (`<stem>_low<unit>`,
    `<stem>_high<unit>`, as analysis.condition_summary names them)."""
    stem, unit = (column[:-3], "_ms") if column.endswith("_ms") else (column, "")
    if column == "throughput_median_rps":
        stem, unit = "throughput_median", "_rps"
    return float(row[f"{stem}_low{unit}"]), float(row[f"{stem}_high{unit}"])


def _sides(summary: pd.DataFrame, *conditions: str) -> pd.DataFrame:
    return summary[summary["condition"].isin(conditions)]


def _workload(row: pd.Series) -> tuple:
    """What a condition's req/s is a rate of: its route and its load (users, or the open rate)."""
    return tuple(None if pd.isna(row.get(k)) else row.get(k) for k in ("path", "users", "target_rps") if k in row.index)


def _workload_text(row: pd.Series) -> str:
    rate = row.get("target_rps") if "target_rps" in row.index else None
    users = row.get("users")
    users = int(users) if isinstance(users, (int, float)) and pd.notna(users) else users
    load = f"{rate:g} req/s offered" if rate is not None and pd.notna(rate) else f"{users} users"
    return f"{row.get('path')}, {load}"


def unplanned_units(results: pd.DataFrame, condition: str) -> int:
    """The most serving processes beyond the mode's plan in any repetition of a condition
    (analysis's unplanned_units): a user's app that starts workers of its own."""
    if "unplanned_units" not in results.columns:  # results of an older harness
        return 0
    extra = results.loc[results["condition"] == condition, "unplanned_units"].max()
    return int(extra) if pd.notna(extra) else 0


def _beyond_plan(results: pd.DataFrame, condition: str) -> str:
    """'single was served by 2 processes though its mode starts 1' when the app started its own."""
    g = results[results["condition"] == condition]
    extra = unplanned_units(results, condition)
    if g.empty or not extra:
        return ""
    units = int(g["units"].iloc[0])
    return f"{condition} was served by {units + extra} processes though its mode starts {units}"


def speedup_lines(
    summary: pd.DataFrame, speed: pd.DataFrame, cores: int, results: pd.DataFrame | None = None
) -> list[str]:
    """Each speedup over the baseline, checked against 'N workers, N times', with the cause
    of a shortfall told apart: less efficient workers, or workers short of CPU. The check
    and the cause are claims: firm only as evidence allows (the speedup the intervals of
    the two medians allow must lie wholly on one side of the bound)."""
    out = []
    for r in speed.itertuples(index=False):
        low, high = f"{r.paired_min:.2f}x", f"{r.paired_max:.2f}x"
        paired = (
            ""
            if math.isnan(r.paired_min)
            else f" (paired repetitions: {low} to {high})"
            if low != high
            else f" (paired repetitions: {low} each)"
        )
        cond = _sides(summary, r.condition)
        base = _sides(summary, r.baseline)
        if not math.isfinite(r.speedup):
            base_rps = base["throughput_median_rps"].median() if not base.empty else math.nan
            why = (
                f"{r.baseline}'s median was 0 req/s (no successful request in at least half of its repetitions)"
                if base_rps == 0
                else "the record lacks a throughput figure of one of the two"
            )
            out.append(f"{r.condition}'s speedup over {r.baseline} was not measured: {why}.")
            continue
        on_threads = not cond.empty and analysis.runs_on_threads(cond.iloc[0]["mode"], cond.iloc[0]["route"])
        unit = ("thread" if on_threads else "worker") + ("s" if r.workers != 1 else "")
        beyond = [] if results is None else [s for c in (r.baseline, r.condition) if (s := _beyond_plan(results, c))]
        if beyond:
            out.append(
                f"{r.condition} gave {r.speedup:.2f}x the throughput of {r.baseline}{paired}. But "
                f"{' and '.join(beyond)}: the app starts processes of its own, so this ratio is not "
                f"{r.workers} {unit} against {r.baseline_workers}, and no scaling efficiency or "
                "'N workers, N times' check is made of it."
                + (
                    " Locust, not the server, also set the pace in at least one of the two."
                    if r.generator_limited
                    else ""
                )
            )
            continue
        text = (
            f"{r.condition} gave {r.speedup:.2f}x the throughput of {r.baseline}{paired}, a scaling "
            f"efficiency of {r.scaling_efficiency:.0%} for {r.workers} {unit}."
        )
        expected = min(r.workers, cores)
        cpu_bound = not cond.empty and str(cond.iloc[0]["route"]) in CPU_BOUND_ROUTES
        from_one = getattr(r, "baseline_workers", 1) == 1  # the claim is about N workers against one
        if cpu_bound and from_one and expected > 1 and not r.generator_limited and _left_idle(base, cores):
            cpu_bound = False
            text += (
                f" This load did not keep {r.baseline}'s server busy ({base.iloc[0]['server_cpu_pct']:.0f}% of a "
                f"core, under {CPU_BOUND_MIN_PCT:.0f}%, on a machine with CPU to spare), so the work measured here "
                "was not CPU-bound and the usual claim for CPU-bound work (N workers, N times) is not checked."
            )
        doubts = evidence.claim_doubts(_sides(summary, r.condition, r.baseline))
        if r.generator_limited:
            out.append(
                text + " Locust, not the server, set the pace in at least one of the two, so this ratio "
                "understates the server and says nothing about its scaling."
            )
            continue
        if not from_one:
            text += (
                f" Both use {r.workers} and {r.baseline_workers} {unit}: the ratio compares two ways of "
                "spreading the work, not more cores against one."
            )
        elif cpu_bound and expected > 1 and not base.empty:
            text += _linear_claim(cond.iloc[0], base.iloc[0], expected, cores, f"{r.workers} {unit}", doubts)
        if from_one and r.workers > 1 and r.scaling_efficiency < LINEAR_FRACTION and not cond.empty and not base.empty:
            said = cpu_bound and expected > 1  # _linear_claim gave the doubts already
            text += _shortfall_cause(cond.iloc[0], base.iloc[0], r.baseline, cores, doubts, said)
        out.append(text)
    return out


def _left_idle(base: pd.DataFrame, cores: int) -> bool:
    """Did the one-process baseline's server stay under CPU_BOUND_MIN_PCT of a core while the
    machine had CPU to spare (quiet, under 90 % of its cores busy)? Then its route's work, whatever
    its name, was not CPU-bound under this load (an app's "/cpu" that waits on a timer). On a busy
    machine a low figure is the machine's doing, and the claim's doubts say so instead."""
    if base.empty:
        return False
    b = base.iloc[0]
    server, machine, other = (float(b.get(k, math.nan)) for k in ("server_cpu_pct", "machine_cpu_pct", "other_cpu_pct"))
    return server < CPU_BOUND_MIN_PCT and machine < 90.0 * cores and other <= analysis.OTHER_CPU_WARN_PCT


def _linear_claim(c: pd.Series, b: pd.Series, expected: int, cores: int, units: str, doubts: list[str]) -> str:
    """The speedup against the usual claim (about `expected` times on CPU-bound work)."""
    bound = LINEAR_FRACTION * expected
    claim = f"The usual claim is about {expected}x for CPU-bound work with {units} on {cores} cores"
    if doubts:
        return f" {claim}; whether this measurement bears it out is {evidence.inconclusive(doubts)}."
    low, high = evidence.ratio_interval(_iv(c, "throughput_median_rps"), _iv(b, "throughput_median_rps"))
    allowed = f"the intervals of the two medians allow {low:.2f}x to {high:.2f}x"
    side = evidence.side_of((low, high), bound)
    if side == "above":
        return f" That is what the usual claim predicts for CPU-bound work ({expected}x on {cores} cores; {allowed})."
    if side == "below":
        return f" {claim}; this measurement contradicts it ({allowed}, all short of {bound:.2f}x)."
    return (
        f" {claim}; {allowed}, on both sides of {bound:.2f}x: "
        f"{evidence.inconclusive(['more repetitions would settle it'])}."
    )


def _shortfall_cause(
    c: pd.Series, b: pd.Series, baseline: str, cores: int, doubts: list[str], doubts_said: bool = False
) -> str:
    """Why the scaling fell short, from CPU per request: the same CPU per request on a full
    machine means short of CPU, on an idle one a bottleneck elsewhere; more CPU per request
    means coordination costs. Each cause is named only when the intervals bear it out."""
    text = (
        f" Per request the server spent {c.server_cpu_ms_per_request:.2f} ms of CPU here against "
        f"{b.server_cpu_ms_per_request:.2f} ms in {baseline}"
    )
    if doubts:
        return text + (
            "; what held the scaling back is inconclusive for the same reasons."
            if doubts_said
            else f"; what held the scaling back is {evidence.inconclusive(doubts)}."
        )
    here, there = _iv(c, "server_cpu_ms_per_request"), _iv(b, "server_cpu_ms_per_request")
    if evidence.below(there, here):
        return text + (
            f", {c.server_cpu_ms_per_request / b.server_cpu_ms_per_request - 1:.0%} more (the intervals of "
            "the medians separate): coordination or contention costs CPU in this mode."
        )
    if evidence.side_of(here, there[0] * 1.15 + 1e-12) != "below":
        return text + (
            f"; the intervals of the medians ({here[0]:.2f}..{here[1]:.2f} against {there[0]:.2f}.."
            f"{there[1]:.2f} ms) neither separate nor stay within 15% of each other, so whether the "
            "workers were less efficient is "
            f"{evidence.inconclusive(['more repetitions would settle it'])}."
        )
    if c.machine_cpu_pct >= 0.9 * 100 * cores:
        return text + (
            ", so the workers were not less efficient: they were short of CPU. The machine was "
            f"{c.machine_cpu_pct:.0f}% busy (of {100 * cores:.0f}%) and the load generator took "
            f"{c.generator_cpu_pct:.0f}% of a core that the workers could otherwise have used."
        )
    return text + (
        f", about the same, and the machine was only {c.machine_cpu_pct:.0f}% busy (of "
        f"{100 * cores:.0f}%): CPU was not the limit. Too few users to keep every worker busy, or "
        "a bottleneck outside the workers."
    )


def fairness_lines(results: pd.DataFrame) -> list[str]:
    """How evenly requests spread over workers (or pool threads), per condition, checked
    against what each policy is said to do (firm only as evidence allows: the interval of
    the median Jain's index on one side of EVEN_JAIN). A cluster under keep-alive placed each
    user's connection once, so its request spread gets no policy claim. Where no response named a worker,
    the spread was not measured, and that is all that is said. Where the processes were told
    apart by pid (an app's worker ids missing or repeated: analysis.spread_key), it says so."""
    out = []
    for condition, g in results[results["units"] <= 1].groupby("condition", sort=False):
        if unplanned_units(g, condition):  # a single process that was not one
            out.append(
                f"{condition}: served by {int(g['workers_seen'].max())} processes, though its mode starts "
                "one: the app starts processes of its own (node:cluster or child processes), so this "
                "condition is not a single process, and no ratio over it says what one process does."
            )
    multi = results[results["units"] > 1]
    for condition, g in multi.groupby("condition", sort=False):
        units = int(g["units"].iloc[0])
        mode, schedule = g["mode"].iloc[0], g["schedule"].iloc[0]
        known = modes.find(mode)
        noun = known.unit_noun if known is not None else "workers"
        g = g[g["workers_seen"] > 0]
        if g.empty:
            header = "an x-thread-id header" if noun == "pool threads" else "an x-worker-id or x-pid header"
            out.append(
                f"{condition}: the spread of requests over its {units} {noun} was not measured: no response "
                f"carried {header} (an app run with --no-preload sends neither unless it sets one itself; "
                "without that option the harness's preload tags every response with x-pid)."
            )
            continue
        by_pid = "spread_key" in g and (g["spread_key"] == "pid").any()
        if by_pid and noun == "workers":
            noun = "processes"
        jain = float(g["jain_index"].median())
        ratio = float(g["max_min_share_ratio"].median())
        fewest, most = int(g["workers_seen"].min()), int(g["workers_seen"].max())
        seen = f"{fewest}" if fewest == most else f"{fewest} to {most} (by repetition)"
        ratio_text = (
            "one or more got nothing"
            if math.isinf(ratio)
            else f"the busiest got {ratio:.2f}x the least busy one's share"
        )
        over = (
            f"{seen} {noun}, more than the {units} its mode starts (the app starts processes of its own)"
            if most > units and unplanned_units(g, condition)
            else f"{seen} of {units} {noun}"
        )
        text = f"{condition}: requests spread over {over}, Jain's index {jain:.3f} ({ratio_text}; median over repetitions)."
        if by_pid:
            text += (
                " The processes were told apart by pid (x-pid, which the harness's preload sends): the "
                "app's x-worker-id was missing or the same in more than one process."
            )
        if fewest < units:
            text += f" Some {noun} served nothing: the spread is far from even."
        kept_alive = (g["load"] == "closed").all() and g["keepalive"].astype(bool).all()
        if kept_alive and known is not None and known.places_connections:
            # the policy dealt out a handful of connections, and the requests per worker also follow how
            # fast each connection was served: they bear on the policy's claim neither way
            text += (
                " Each Locust user keeps one keep-alive connection, and the cluster places connections, "
                "so the policy placed each user once, not each request: this spread follows how those "
                "connections fell and how fast each was served, and says nothing either way about the "
                "policy's claim (a new connection per request tests it)."
            )
        else:
            text += _policy_claim(mode, schedule, g)
        if known is not None and known.picks_per_request:
            text += f" {mode} picks an upstream for every request, whatever the client's connections."
        out.append(text)
    return out


def _policy_claim(mode: str, schedule: str, rows: pd.DataFrame) -> str:
    """The cluster scheduling policy's usual claim (round robin: even; SCHED_NONE: uneven)
    against the interval of the median Jain's index, or why that cannot be told."""
    if mode != "cluster" or schedule not in ("rr", "none"):
        return ""
    doubts = evidence.claim_doubts(rows, generator_matters=False)  # the spread is counted, not capacity
    low, high, _ = evidence.median_interval(rows["jain_index"])
    side = None if doubts else evidence.side_of((low, high), EVEN_JAIN)
    if schedule == "rr":
        if side == "above":
            return " As round robin promises, the primary dealt the work out evenly."
        if side == "below":
            return " Round robin is supposed to deal connections out evenly; this spread contradicts that."
        claim = f" Whether the primary dealt the work out evenly (Jain's index {EVEN_JAIN} or more) is "
    else:
        if side == "below":
            return (
                " Scaling guides say OS scheduling (SCHED_NONE) leaves the spread to the kernel and it comes "
                "out uneven; that is what happened here."
            )
        if side == "above":
            return (
                " Scaling guides say OS scheduling (SCHED_NONE) leaves the spread to the kernel and it comes "
                "out uneven; here it came out even, which contradicts that claim on this machine."
            )
        claim = f" Whether OS scheduling came out uneven (Jain's index below {EVEN_JAIN}) is "
    reasons = doubts or [
        f"the interval of the median Jain's index ({low:.3f}..{high:.3f}) straddles {EVEN_JAIN}: "
        "more repetitions would settle it"
    ]
    return claim + evidence.inconclusive(reasons) + "."


def probe_lines(summary: pd.DataFrame) -> list[str]:
    """What the load did to a light probe route's latency, per condition, and the inline vs
    offloaded comparison the event-loop demo is about (a difference claimed only where the
    intervals of the two medians of the probe's p99 separate and the evidence is firm)."""
    out = []
    probed = summary[summary["probe_path"].fillna("").astype(str) != ""]
    for s in probed.itertuples(index=False):
        out.append(
            f"{s.condition}: while the load ran, the light probe {s.probe_path} waited p50 "
            f"{s.probe_latency_p50_ms:.1f} ms and p99 {s.probe_latency_p99_ms:.1f} ms (from when each probe "
            f"was due); the worst worker's event-loop delay p99 was {s.event_loop_delay_p99_ms:.1f} ms."
        )
    inline = probed[probed["mode"].isin(["single", "cluster"])]
    offloaded = probed[probed["mode"].isin(["pool", "spawn-per-request"])]
    for _, o in offloaded.iterrows():
        same = inline[
            (inline["route"] == o.route)
            & (inline["users"] == o.users)
            & (inline["keepalive"] == o.keepalive)
            & (inline["probe_path"] == o.probe_path)
        ]
        if same.empty:
            continue
        i = same.iloc[0]
        ratio = i.probe_latency_p99_ms / o.probe_latency_p99_ms if o.probe_latency_p99_ms > 0 else math.nan
        text = (
            f"Blocking vs offloading: the probe's p99 was {i.probe_latency_p99_ms:.1f} ms with {o.route} run on "
            f"the event loop ({i.condition}) and {o.probe_latency_p99_ms:.1f} ms with it sent to worker threads "
            f"({o.condition})."
        )
        doubts = evidence.claim_doubts(_sides(summary, i.condition, o.condition), probes=True)
        on_loop, on_threads = _iv(i, "probe_latency_p99_ms"), _iv(o, "probe_latency_p99_ms")
        if doubts:
            text += (
                " Whether offloading kept the event loop more responsive (the guides' claim) is "
                f"{evidence.inconclusive(doubts)}."
            )
        elif evidence.below(on_threads, on_loop):
            text += (
                f" Offloading kept the event loop free, as the guides say: {ratio:.1f}x lower p99 for everybody "
                "else's requests (the intervals of the medians separate)."
                if ratio >= 2
                else f" Offloading helped, as the guides say, but little: {ratio:.1f}x lower p99 (the intervals of "
                "the medians separate)."
            )
        elif evidence.below(on_loop, on_threads):
            text += (
                f" The guides say offloading keeps the event loop responsive; here the probe waited "
                f"{1 / ratio:.1f}x longer with the pool, which contradicts that. When the pool threads and the "
                "load generator already fill the machine's cores, the event loop's thread waits for a core "
                "instead of for the CPU work: offloading moves work, it adds no CPU."
            )
        else:
            text += (
                f" The intervals of the two medians overlap ({on_loop[0]:.1f}..{on_loop[1]:.1f} ms against "
                f"{on_threads[0]:.1f}..{on_threads[1]:.1f} ms): whether offloading helped is "
                f"{evidence.inconclusive(['more repetitions would settle it'])}."
            )
        out.append(text)
    return out


def _n(value: float) -> str:
    return "?" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"


# who re-sent a request whose connection died before any answer, by the case's http_client
_RETRYING_CLIENT = {
    "lean": "The harness's HTTP client (lean_http, which retries as geventhttpclient does)",
    "locust": "The client's HTTP library (geventhttpclient, under Locust's FastHttpUser)",
    "user": "The locustfile's HTTP client",
}


def _kill_line(e: Any) -> str:
    text = (
        f"{e.condition} (repetition {e.repetition}): the worker killed {e.at_s:g} s into the window had "
        f"{_n(e.server_in_flight)} requests in flight by its own count; the client saw {e.failures_during} "
        f"failed requests during the event ({e.failures_window} in the whole window)."
    )
    retried = e.failures_during == 0 and not math.isnan(e.server_in_flight) and e.server_in_flight > 0
    if retried:
        text += (
            f" {_RETRYING_CLIENT.get(e.http_client, _RETRYING_CLIENT['user'])} re-sent those GETs on "
            f"a new connection to a surviving worker, which is why none failed; the slowest of the "
            f"{e.in_flight} requests in flight took {e.in_flight_max_latency_ms:,.0f} ms. A client that does "
            "not retry, or a non-idempotent request, would have seen them fail."
        )
    text += (
        f" The longest stretch without a successful response after the kill was "
        f"{e.longest_gap_after_s * 1000:,.0f} ms (before it: {e.longest_gap_before_s * 1000:,.0f} ms)."
    )
    text += f" A replacement was listening {e.done_s:.2f} s after the kill"
    if math.isnan(e.first_new_pid_s):
        text += (
            ", but it answered no request before the window ended: every client keeps its keep-alive "
            "connection, and those all stayed on the surviving worker(s), so the replacement got no work. "
            f"This contradicts the usual claim that {'PM2' if e.mode == 'pm2' else 'the cluster'} restores its "
            "capacity as soon as it re-forks."
        )
    else:
        text += f" and first answered a client {e.first_new_pid_s:.2f} s after the kill."
    if e.failures_during == 0 and not retried:
        text += " No request failed, as the usual claim (a re-forked worker costs no requests) says."
    elif e.failures_during > 0:
        text += (
            " The usual claim that a crashed worker costs no requests (the primary re-forks it at once) does "
            "not hold for the requests it had in flight."
        )
    return text


def _replace_line(e: Any) -> str:
    kind = "rolling reload (pm2 reload)" if e.action == "reload" else "hard restart (pm2 restart)"
    kind += ", counted from running the pm2 command,"
    errors = f" (mostly {e.main_error_during})" if isinstance(e.main_error_during, str) and e.main_error_during else ""
    text = (
        f"{e.condition} (repetition {e.repetition}): the {kind} took {e.done_s:.2f} s until every new "
        f"instance served; {e.failures_during} requests failed during it{errors} and the longest stretch without a "
        f"successful response was {e.longest_gap_after_s * 1000:,.0f} ms (before the event: "
        f"{e.longest_gap_before_s * 1000:,.0f} ms)."
    )
    text += (
        f" {e.new_pids_serving} new instance(s) answered the client before the window ended (the clients "
        "reconnect once, to whichever instance listens first, and keep that connection)."
    )
    if e.action == "reload":
        text += (
            " As claimed, the reload was zero-downtime: no request failed."
            if e.failures_during == 0
            else " This contradicts the claim that PM2's reload is zero-downtime."
        )
    else:
        text += (
            " As a hard restart can, it dropped requests: they arrived while no instance listened."
            if e.failures_during > 0
            else " A hard restart can drop requests (it stops every instance, and a request that arrives before a "
            "new one listens fails); none failed this time: it is a race, not a certainty (see the reload "
            "against restart line)."
        )
    return text


def _ms_range(seconds: pd.Series) -> str:
    """'180 ms', or '48 to 227 ms' when the values differ."""
    low, high = seconds.min() * 1000, seconds.max() * 1000
    return f"{low:,.0f} ms" if low == high else f"{low:,.0f} to {high:,.0f} ms"


def _handover_sentence(reload: pd.DataFrame, restart: pd.DataFrame) -> str:
    """How the old instances handed over to the new ones, from the responses (handover_s:
    the first new response minus the last old one): a gap in which no instance answered, or
    an overlap in which old and new answered side by side."""
    parts = []
    for name, g in (("restart", restart), ("reload", reload)):
        h = g["handover_s"].dropna() if "handover_s" in g else pd.Series(dtype=float)
        if h.empty:
            continue
        gaps, overlaps = h[h > 0], h[h <= 0]
        said = []
        if len(gaps):
            said.append(f"a gap of {_ms_range(gaps)} without any instance answering in {len(gaps)} of {len(h)}")
        if len(overlaps):
            said.append(f"old and new answering side by side for {_ms_range(-overlaps)} in {len(overlaps)} of {len(h)}")
        parts.append(f"{name}s: " + ", ".join(said))
    if not parts:
        return ""
    return (
        " Between the old instances' last response and the new ones' first, the responses show, "
        + "; ".join(parts)
        + "."
    )


def _race_sentence(reload: pd.DataFrame, restart: pd.DataFrame) -> str:
    """How often each kind of replacement lost requests: a restart stops every instance and
    starts new ones, so whether a request fails is a race between the last old instance
    stopping and the first new one listening; a reload (PM2 replaces the instances one at
    a time, each old one only once its new one is up) has no such window. Counted, never
    assumed: a restart that lost nothing is said so, not called a contradiction."""
    lost_restarts = int((restart["failures_during"] > 0).sum())
    lost_reloads = int((reload["failures_during"] > 0).sum())
    text = (
        f" Requests failed in {lost_restarts} of {len(restart)} restart(s) and {lost_reloads} of {len(reload)} "
        "reload(s)."
    )
    text += _handover_sentence(reload, restart)
    if lost_reloads == 0 and lost_restarts == len(restart):
        return text + (
            " A restart stops every instance at once and requests that arrive before a new one listens "
            "fail; the rolling reload keeps one listening throughout, as PM2 says."
        )
    if lost_reloads == 0 and lost_restarts > 0:
        return text + (
            " A restart stops every instance and starts new ones, so losing requests is a race between "
            "the last old instance stopping and the first new one listening: it lost some of the time. "
            "The rolling reload keeps one instance listening throughout and lost none: the difference "
            "PM2 promises, but only in some repetitions here, so count repetitions before believing a "
            "single restart that went well."
        )
    if lost_reloads == 0:
        return text + (
            " No restart lost a request here. A restart loses requests only when one tries to connect "
            "while no instance listens: a race, which this machine and load did not lose in these "
            "repetitions; more repetitions say how often it does."
        )
    return text


def _sigterm_line(e: Any) -> str:
    text = (
        f"{e.condition} (repetition {e.repetition}): SIGTERM {e.at_s:g} s into the window, with "
        f"{_n(e.server_in_flight)} requests in flight by the workers' own count and {e.in_flight} by the "
        f"client's: {e.in_flight_ok} completed and {e.in_flight_failed} failed. "
    )
    if math.isnan(e.exit_s):
        return text + f"The server did not exit ({e.outcome})."
    forced = bool(e.forced)
    text += (
        f"The server exited {e.exit_s:.2f} s after the signal with code {_n(e.exit_code)} "
        f"({'forced: the drain did not finish' if forced else 'drained'}; shutdown timeout "
        f"{e.shutdown_timeout_s:g} s)."
    )
    if forced:
        text += (
            " The force-exit timeout was honoured."
            if e.timeout_honoured
            else f" That is more than {analysis.FORCE_EXIT_TOLERANCE_S:g} s past the timeout: it was not honoured."
        )
        if e.in_flight_failed:
            text += (
                " The requests still in flight at the forced exit failed, as a timeout shorter than a request implies."
            )
    elif e.in_flight_failed == 0:
        text += " As a graceful shutdown promises, every request in flight was answered."
    else:
        text += " A graceful shutdown promises to answer what is in flight; this contradicts it."
    if e.refused_after_exit:
        text += (
            f" Then {_n(e.refused_after_exit)} requests were refused until the window ended (nothing listened; "
            "each user retried at once)."
        )
    return text


def event_lines(events: pd.DataFrame) -> list[str]:
    """What each event (kill-worker, reload, restart, sigterm) did to the clients, checked
    against the usual claims: a re-forked worker costs no requests and the cluster's
    capacity comes back at once; PM2's reload is zero-downtime, a restart is not; SIGTERM
    drains what is in flight and the force-exit timeout holds. Then reload against restart."""
    out = []
    for e in events.itertuples(index=False):
        if not str(e.outcome).startswith("done"):
            out.append(
                f"{e.condition} (repetition {e.repetition}): the {e.action} event did not complete: {e.outcome}."
            )
        elif e.action == "kill-worker":
            out.append(_kill_line(e))
        elif e.action in ("reload", "restart"):
            out.append(_replace_line(e))
        elif e.action == "sigterm":
            out.append(_sigterm_line(e))
    done = events[events["outcome"].astype(str).str.startswith("done")]
    by_action = {a: g for a, g in done.groupby("action")}
    if "reload" in by_action and "restart" in by_action:
        reload, restart = by_action["reload"], by_action["restart"]
        text = (
            f"Reload against restart: {int(reload['failures_during'].sum())} failed requests over "
            f"{len(reload)} reload(s) against {int(restart['failures_during'].sum())} over {len(restart)} "
            f"restart(s); longest stretch without a successful response "
            f"{reload['longest_gap_after_s'].max() * 1000:,.0f} ms against "
            f"{restart['longest_gap_after_s'].max() * 1000:,.0f} ms."
        )
        text += _race_sentence(reload, restart)
        if reload["failures_during"].sum() > restart["failures_during"].sum():
            text += " The reload lost more than the restart, which contradicts the reason to use it."
        out.append(text)
    return out


def shared_state_lines(counters: pd.DataFrame) -> list[str]:
    """The shared-state demo, per condition (analysis.counter_summary): what the counters
    held after the load against the requests the client saw succeed, checked against the
    textbook claim: a counter in a worker's memory is right in one process and wrong under
    cluster (each worker knows only its own share), a counter in Redis is right in both."""
    out = []
    for c in counters.itertuples(index=False):
        ok, total, n = c.client_ok, int(c.counted_total), c.counters
        reps = f" (all {c.repetitions} repetitions added up)" if c.repetitions > 1 else ""
        failed = f"; {c.client_failures:,} failed and were not counted by the client" if c.client_failures else ""
        off = f" The counts differ by {total - ok:+,}: " + (
            "under open load the stop cuts off requests in flight, which the server counted and the client never saw."
            if c.load == "open"
            else "increments were lost or requests miscounted; see raw/."
        )
        if c.store == "redis":
            text = (
                f"{c.condition}: Redis counted {total:,} of the {ok:,} requests the client saw succeed{reps}"
                f"{failed}, with {c.workers} {'worker' if c.workers == 1 else 'workers'} adding to one key."
            )
            text += (
                " One shared store sees every worker's increments (INCR is atomic): that is what the usual "
                "claim says, and the measurement confirms it."
                if c.all_exact
                else " The usual claim is that a shared store counts every request; this measurement does not "
                "confirm it." + off
            )
        elif n <= 1:
            text = (
                f"{c.condition}: the one process counted {total:,} of the {ok:,} requests the client saw "
                f"succeed{reps}{failed}."
            )
            text += (
                " With one process, its memory holds the whole count: the control, right as expected."
                if c.all_exact
                else " Even one process's count is off here, so the demo's control failed." + off
            )
        else:
            share = c.largest_share
            if c.repetitions == 1:
                text = (
                    f"{c.condition}: each of the {n} workers counted only the requests it served: the largest "
                    f"count was {int(c.largest_count):,}, {share:.0%} of the {ok:,} requests the client saw "
                    f"succeed{failed}."
                )
            else:
                text = (
                    f"{c.condition}: each of the {n} workers counted only the requests it served: in every one "
                    f"of the {c.repetitions} repetitions the largest count was at most {share:.0%} of the requests "
                    f"the client saw succeed{failed}."
                )
            text += (
                f" The workers' counts add up to {total:,}{reps}, "
                + ("the total, " if c.all_exact else f"not the {ok:,} the client saw, ")
                + "but no single process knows it: a request that reads the counter gets its own worker's "
                "count."
            )
            if share < 1:
                text += (
                    " The usual claim (an in-memory counter is wrong once the app runs as several processes) "
                    "holds here."
                )
            else:
                text += (
                    " One worker served every request, so its count happened to be complete; this run does "
                    "not show the usual claim (several workers each counting a share)."
                )
            if not c.all_exact:
                text += off
        out.append(text)
    return out


def connection_lines(summary: pd.DataFrame) -> list[str]:
    """What a new connection per request costs the process that hands connections out
    (cluster's primary in round robin, nginx), against keep-alive, side by side."""
    out = []
    for s in summary[~summary["keepalive"].astype(bool)].itertuples(index=False):
        kept = summary[
            (summary["keepalive"].astype(bool))
            & (summary["mode"] == s.mode)
            & (summary["schedule"].fillna("") == (s.schedule or ""))
            & (summary["balance"].fillna("") == (s.balance or ""))
            & (summary["route"] == s.route)
            & (summary["workers"] == s.workers)
            & (summary["users"] == s.users)
        ]
        if kept.empty:
            continue
        k = kept.iloc[0]
        text = (
            f"{s.condition}: a new connection for every request gave {s.throughput_median_rps:,.0f} req/s against "
            f"{k.throughput_median_rps:,.0f} with keep-alive ({s.throughput_median_rps / k.throughput_median_rps:.0%})"
        )
        for column, who in (("primary_cpu_pct", "the cluster's primary"), ("proxy_cpu_pct", "nginx")):
            value, before = getattr(s, column), getattr(k, column)
            if not math.isnan(value) and not math.isnan(before):
                text += f"; {who} used {value:.0f}% of a core (keep-alive: {before:.0f}%)"
        out.append(text + ".")
    return out


MOVE_NAMES = {
    "/move/clone": "a structured clone",
    "/move/transfer": "a transfer",
    "/move/shared": "a SharedArrayBuffer",
}


def _mb(path: Any) -> int | None:
    _, _, query = str(path).partition("?mb=")
    return int(query) if query.isdigit() else None


def _median_iv(rows: pd.DataFrame, column: str) -> tuple[float, evidence.Interval]:
    low, high, _ = evidence.median_interval(rows[column])
    return float(rows[column].median()), (low, high)


def _against_claim(
    claim: str,
    doubts: list[str],
    expected: list[tuple[evidence.Interval, evidence.Interval]],
    held: Callable[[], str],
    contradiction: str,
    overlap: str,
    settle: str,
) -> str:
    """The guides' `claim` set against this measurement, one ladder for every demo: with
    `doubts` (evidence.claim_doubts), inconclusive for them; else it holds (`held()` says how)
    where every pair of `expected` (the interval the claim says is lower, the one it says is
    higher) separates that way, it is contradicted (`contradiction`) where every pair
    separates the other way, and otherwise the intervals overlap: `overlap`, then
    inconclusive, `settle` saying what would settle it."""
    if doubts:
        return f"{claim}; whether this measurement bears it out is {evidence.inconclusive(doubts)}."
    if all(evidence.below(lower, higher) for lower, higher in expected):
        return f"{claim}, and it holds {held()}"
    if all(evidence.below(higher, lower) for lower, higher in expected):
        return f"{claim}; {contradiction}"
    return f"{claim}; {overlap} {evidence.inconclusive([settle])}."


def move_lines(summary: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    """The data-moving demo (routes /move/*), per size: the time of one message there and back
    (the median over repetitions of each one's median latency, one user) and how long the
    sender's event loop was held (the /hello probe's p99 beside it), by clone, transfer and
    SharedArrayBuffer, checked against the guides' claim that transferring or sharing large
    data beats cloning it (firm only where the intervals of the medians separate)."""
    moved = results[results["route"].isin(MOVE_ROUTES)].copy()
    if moved.empty:
        return []
    moved["mb"] = moved["path"].map(_mb)
    out = []
    for (mb, users), g in moved.groupby(["mb", "users"], sort=True):
        by_how = {route: rows for route, rows in g.groupby("route") if len(rows)}
        if "/move/clone" not in by_how:
            continue
        times = {r: _median_iv(rows, "latency_p50_ms") for r, rows in by_how.items()}
        probes = {r: _median_iv(rows, "probe_latency_p99_ms") for r, rows in by_how.items()}
        order = [r for r in MOVE_ROUTES if r in by_how]
        text = (
            f"Moving {mb:g} MB to a worker thread and back ({users} user): one message took "
            + ", ".join(f"{times[r][0]:.1f} ms by {MOVE_NAMES[r]}" for r in order)
            + " (medians over repetitions); the light probe beside it waited p99 "
            + ", ".join(f"{probes[r][0]:.1f} ms" for r in order)
            + " respectively, which is how long the "
            "sender's event loop was held."
        )
        others = [r for r in order if r != "/move/clone"]
        rows = summary[summary["route"].isin(order) & (summary["path"].map(_mb) == mb) & (summary["users"] == users)]
        doubts = evidence.claim_doubts(rows)  # the claim is on the messages' own times
        # the probe's sentence only, when its own requests failed: its latency is of the successes
        probe_failed = len(evidence.claim_doubts(rows, probes=True)) > len(doubts)
        claim = " The guides say that for large data a transfer or a SharedArrayBuffer beats a clone"
        clone = times["/move/clone"][1]

        def held() -> str:
            said = (
                f"at {mb:g} MB: the clone took "
                + " and ".join(
                    f"{times['/move/clone'][0] / times[r][0]:.1f}x as long as {MOVE_NAMES[r]}" for r in others
                )
                + " (the intervals of the medians separate)."
            )
            p_clone = probes["/move/clone"][1]
            if not probe_failed and all(evidence.below(probes[r][1], p_clone) for r in others):
                said += (
                    " The copy also held the sender's event loop: everybody else's requests waited longer "
                    "beside the clone (the probe's intervals separate)."
                )
            return said

        if others:
            text += _against_claim(
                claim,
                doubts,
                [(times[r][1], clone) for r in others],
                held,
                f"at {mb:g} MB the clone was the fastest (the intervals separate): the copy of so little data costs "
                "less than the bookkeeping of the other two, so the claim is about large data only.",
                f"at {mb:g} MB the intervals of the medians overlap, so which way is faster is",
                "the sizes are too close to tell apart: a larger size or more repetitions would settle it",
            )
        out.append(text)
    return out


def spawn_lines(summary: pd.DataFrame) -> list[str]:
    """The pool-vs-spawn demo, per path with both: the server CPU per request of a new
    Worker per request against a reused pool on the same path and load, checked against
    the guides' claim that starting a worker per request costs far more than reusing a pool
    (firm where the intervals of the two medians separate). CPU per request is the server's
    own cost, so a generator at its limit does not doubt it."""
    out = []
    for s in summary[summary["mode"] == "spawn-per-request"].itertuples(index=False):
        pools = summary[
            (summary["mode"] == "pool")
            & (summary["path"] == s.path)
            & (summary["users"] == s.users)
            & (summary["keepalive"] == s.keepalive)
        ]
        if pools.empty:
            continue
        p = pools.iloc[0]
        spawned, pooled = s.server_cpu_ms_per_request, float(p["server_cpu_ms_per_request"])
        if not (spawned > 0 and pooled > 0):
            continue
        text = (
            f"A new Worker per request on {s.path} cost {spawned:,.1f} ms of server CPU per request, a reused "
            f"pool of {int(p['threads'])} thread{'s' if int(p['threads']) != 1 else ''} {pooled:,.2f} ms "
            f"({spawned / pooled:,.0f}x; medians over repetitions)."
        )
        claim = " The guides say starting a worker per request costs far more than handing the work to a pool"
        doubts = evidence.claim_doubts(
            summary[summary["condition"].isin([s.condition, p["condition"]])], generator_matters=False
        )
        spawn_iv = (s.server_cpu_ms_per_request_low, s.server_cpu_ms_per_request_high)
        pool_iv = (float(p["server_cpu_ms_per_request_low"]), float(p["server_cpu_ms_per_request_high"]))
        text += _against_claim(
            claim,
            doubts,
            [(pool_iv, spawn_iv)],
            lambda: (
                f"here (the intervals of the medians separate: {spawn_iv[0]:,.1f}..{spawn_iv[1]:,.1f} against "
                f"{pool_iv[0]:,.2f}..{pool_iv[1]:,.2f} ms)."
            ),
            "here spawning cost less, which contradicts that.",
            "the intervals of the medians overlap, so this is",
            "more repetitions or a smaller task would settle it",
        )
        out.append(text)
    return out


def memory_conditions(summary: pd.DataFrame) -> pd.DataFrame:
    """The memory demo's conditions: a cluster and a pool under a light load of requests that
    only wait (/io), with `units` (workers or threads); empty unless both kinds ran."""
    light = summary[(summary["route"] == "/io") & summary["mode"].isin(["cluster", "pool"])].copy()
    if light.empty or set(light["mode"]) != {"cluster", "pool"}:
        return light.iloc[0:0]
    light["units"] = [int(r.workers) if r.mode == "cluster" else int(r.threads) for r in light.itertuples()]
    return light


def memory_lines(summary: pd.DataFrame) -> list[str]:
    """The memory demo: under a light load of requests that only wait (/io), the resident memory of a cluster
    of N worker processes against a pool of N threads, and what one more worker or thread
    adds (from the smallest and largest N), checked against the guides' claim that a thread
    costs less memory than a process (firm only where the intervals of the medians separate)."""
    light = memory_conditions(summary)
    if light.empty:
        return []
    out = []
    per = {m: g.set_index("units") for m, g in light.groupby("mode")}
    common = sorted(set(per["cluster"].index) & set(per["pool"].index))
    doubts = evidence.claim_doubts(light)
    for n in common:
        c, p = per["cluster"].loc[n], per["pool"].loc[n]
        text = (
            f"{n} worker{'s' if n != 1 else ''}: the cluster's processes (a primary and {n} "
            f"worker{'s' if n != 1 else ''}) held {c.server_rss_mb:,.0f} MB resident in all, the pool (one "
            f"process, {n} thread{'s' if n != 1 else ''}) {p.server_rss_mb:,.0f} MB (medians over repetitions)."
        )
        out.append(text)
    if len(common) >= 2:
        lo, hi = common[0], common[-1]
        added = {}
        for mode in ("cluster", "pool"):
            a, b = per[mode].loc[lo], per[mode].loc[hi]
            per_unit = (b.server_rss_mb - a.server_rss_mb) / (hi - lo)
            iv = (
                (b.server_rss_mb_low - a.server_rss_mb_high) / (hi - lo),
                (b.server_rss_mb_high - a.server_rss_mb_low) / (hi - lo),
            )
            added[mode] = (per_unit, iv)
        text = (
            f"From {lo} to {hi}, each more worker process added {added['cluster'][0]:,.1f} MB and each more "
            f"thread {added['pool'][0]:,.1f} MB of RSS (RSS counts the pages processes share, such as Node's "
            "code, once in each, so the process figure is an upper bound of what the machine gives it)."
        )
        claim = " The guides say a worker thread costs less memory than a worker process"
        text += _against_claim(
            claim,
            doubts,
            [(added["pool"][1], added["cluster"][1])],
            lambda: (
                f"here: a thread added {added['pool'][0] / added['cluster'][0]:.0%} of what a process added "
                f"(the intervals allow {added['pool'][1][0]:,.1f}..{added['pool'][1][1]:,.1f} against "
                f"{added['cluster'][1][0]:,.1f}..{added['cluster'][1][1]:,.1f} MB)."
            ),
            "here a thread added more than a process, which contradicts it.",
            "the intervals overlap, so this is",
            "more repetitions or more workers would settle it",
        )
        out.append(text)
    return out


def lines(
    summary: pd.DataFrame,
    results: pd.DataFrame,
    speed: pd.DataFrame,
    points: pd.DataFrame,
    cores: int,
    counters: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> list[str]:
    """Every sentence of the 'what you see and why' section of one run, in reading order;
    `counters` (analysis.counter_summary) adds the shared-state demo's findings, `events`
    (analysis.event_outcomes) the resilience scenario's."""
    events = events if events is not None else pd.DataFrame(columns=analysis.EVENT_COLUMNS)
    # an event (a killed worker, a restart) decides the spread over workers: no fairness claim there
    steady = results[~results["condition"].isin(set(events["condition"]))]
    return [
        *condition_lines(summary),
        *speedup_lines(summary, speed, cores, results),
        *fairness_lines(steady),
        *connection_lines(summary),
        *probe_lines(summary),
        *sweeps.sweep_findings(points, cores),
        *(shared_state_lines(counters) if counters is not None else []),
        *event_lines(events),
        *move_lines(summary, results),
        *memory_lines(summary),
        *spawn_lines(summary),
    ]


@dataclass
class Headline:
    """What the report opens with: the answer to the scenario's question in a sentence or two
    (measured numbers; a claim only where harness.evidence finds it firm), the doubt that
    keeps it from being firm ('' when none), and the figure that shows it."""

    answer: str
    doubt: str
    figure: str


# Sweeps that answer a sizing question (how many workers or threads); a sweep of the load
# (users, rate) describes the load instead, so a run's other lessons come before it.
SIZING_PARAMETERS = ("workers", "threads", "uv_threadpool_size")


def _sweep_headline(points: pd.DataFrame, cores: int | None) -> Headline | None:
    """The first sweep of `points`: its best point, then what sweep_findings says of its knee."""
    found = sweeps.sweep_findings(points, cores) if not points.empty else []
    if not found:
        return None
    name = points["sweep"].iloc[0]
    g = points[points["sweep"] == name]
    best = g.loc[g["throughput_median_rps"].idxmax()]
    rest = found[0].split(").", 1)[1].strip() if ")." in found[0] else found[0]
    return Headline(
        f"{name}: the best median was {best['throughput_median_rps']:,.0f} req/s, at "
        f"{analysis.SWEEP_LABELS[best['parameter']]} {best['value']:g}. {rest}",
        "",
        "sweeps",
    )


def _scheduling_lesson(results: pd.DataFrame) -> str:
    """With cluster conditions under both policies: the SCHED_NONE condition whose spread was
    the least even (median Jain's index) and its round-robin twin, as fairness_lines word them."""
    if results.empty or not {"rr", "none"} <= set(results.loc[results["mode"] == "cluster", "schedule"]):
        return ""
    none = results[(results["mode"] == "cluster") & (results["schedule"] == "none") & (results["workers_seen"] > 0)]
    if (~none["keepalive"].astype(bool)).any():  # where the policy decides for every request
        none = none[~none["keepalive"].astype(bool)]
    if none.empty:
        return ""
    worst = none.groupby("condition", sort=False)["jain_index"].median().idxmin()
    twin = str(worst).replace("cluster-none-", "cluster-rr-", 1)
    lines = {line.split(":", 1)[0]: line for line in fairness_lines(results)}
    return " ".join(lines[c] for c in (twin, worst) if c in lines)


def headline(
    summary: pd.DataFrame,
    results: pd.DataFrame,
    speed: pd.DataFrame,
    points: pd.DataFrame,
    events: pd.DataFrame | None = None,
    cores: int | None = None,
    counters: pd.DataFrame | None = None,
) -> Headline:
    """The report's first sentence. Events (a killed worker, a reload) answer a resilience
    run; moving data between threads, memory per worker, blocking vs offloading, a Worker
    per request vs a pool and a counter per process vs Redis (`counters`,
    analysis.counter_summary) answer their demos (each run also sweeps a pool or cluster
    size, or compares throughput, but that is not its question); a sweep's knee a sizing run; the probe's latency an event-loop run;
    otherwise the condition with the most throughput against the next best. A lesson's
    sentence says itself whether its claim is firm."""
    if events is not None and not events.empty:
        said = event_lines(events)
        return Headline(
            " ".join(said[-1:] if len(said) > 1 and said[-1].startswith("Reload against") else said[:1]), "", "events"
        )
    # each lesson's last line is its claim (the largest size moved; memory from the fewest to the most)
    moved = move_lines(summary, results) if not results.empty else []
    if moved:
        return Headline(moved[-1], "", "latency")
    memory = memory_lines(summary)
    if memory:
        return Headline(memory[-1], "", "memory")
    offloaded = [line for line in probe_lines(summary) if line.startswith("Blocking vs offloading")]
    if offloaded:
        return Headline(offloaded[-1], "", "latency")
    spawned = spawn_lines(summary)
    if spawned:  # the smallest task's line first: there the start-up is nearly all of the cost
        return Headline(spawned[0], "", "cores_by_role")
    if counters is not None and not counters.empty:  # a counter in memory split over processes is the lesson
        said = shared_state_lines(counters)
        split = [line for line, c in zip(said, counters.itertuples(index=False)) if c.counters > 1]
        return Headline((split or said)[0], "", "throughput")
    sizing = _sweep_headline(points[points["parameter"].isin(SIZING_PARAMETERS)], cores) if not points.empty else None
    if sizing:
        return sizing
    scheduling = _scheduling_lesson(results)
    if scheduling:
        return Headline(scheduling, "", "requests_per_worker")
    load_sweep = _sweep_headline(points, cores) if not points.empty else None
    if load_sweep:
        return load_sweep
    probe = (
        summary[summary["probe_path"].fillna("").astype(str) != ""] if "probe_path" in summary else summary.iloc[0:0]
    )
    if len(probe) >= 2 and probe["probe_latency_p99_ms"].notna().all():
        low, high = probe.loc[probe["probe_latency_p99_ms"].idxmin()], probe.loc[probe["probe_latency_p99_ms"].idxmax()]
        answer = (
            f"The light probe {low['probe_path']} waited least beside {low['condition']} "
            f"(p99 {low['probe_latency_p99_ms']:,.1f} ms) and most beside {high['condition']} "
            f"(p99 {high['probe_latency_p99_ms']:,.1f} ms): that is what blocking the event loop costs "
            "everybody else."
        )
        doubts = evidence.claim_doubts(_sides(summary, low["condition"], high["condition"]), probes=True)
        return Headline(
            answer,
            ("These are measured numbers; a claim on them would be " + evidence.inconclusive(doubts) + ".")
            if doubts
            else "",
            "latency_over_time",
        )
    if summary.empty:
        return Headline("Nothing was measured.", "", "throughput")
    ranked = summary[summary["throughput_median_rps"].notna()].sort_values("throughput_median_rps", ascending=False)
    if ranked.empty:
        return Headline("No condition's throughput was measured: the record lacks it.", "", "throughput")
    best = ranked.iloc[0]
    if best["throughput_median_rps"] <= 0:
        return Headline(
            "Every condition's median was 0 req/s (no successful request in at least half of each one's "
            "repetitions): see the failures below and raw/.",
            "",
            "throughput",
        )
    if len(ranked) == 1:
        return Headline(
            f"{best['condition']} served a median of {best['throughput_median_rps']:,.0f} req/s "
            f"(p99 {best['latency_p99_ms']:.1f} ms).",
            "",
            "throughput",
        )
    second = ranked.iloc[1]
    top, next_rps = best["throughput_median_rps"], second["throughput_median_rps"]
    doubts = evidence.claim_doubts(_sides(summary, best["condition"], second["condition"]))
    if _workload(best) != _workload(second):
        doubts.append(
            f"the two ran different routes or loads ({best['condition']}: {_workload_text(best)}; "
            f"{second['condition']}: {_workload_text(second)}), so their req/s are not a like-for-like "
            "comparison: compare conditions of the same route and load"
        )
    if top == next_rps:
        return Headline(
            f"{best['condition']} and {second['condition']} served the same median, {top:,.0f} req/s: neither led.",
            ("A claim on them would be " + evidence.inconclusive(doubts) + ".") if doubts else "",
            "throughput",
        )
    against = (
        f"{top / next_rps:.2f}x the next best, {second['condition']} ({next_rps:,.0f} req/s)"
        if next_rps > 0
        else f"while the next best, {second['condition']}, had a median of 0 req/s"
    )
    answer = f"{best['condition']} served the most: a median of {top:,.0f} req/s, {against}."
    try:
        apart = evidence.separated(_iv(best, "throughput_median_rps"), _iv(second, "throughput_median_rps"))
    except KeyError:
        apart = False
    if not doubts and apart:
        return Headline(
            answer + " The intervals of the two medians do not overlap: the lead is firm.", "", "throughput"
        )
    if not apart and not doubts:
        doubts = ["the intervals of the two medians overlap: more repetitions would settle it"]
    return Headline(
        answer, f"Whether {best['condition']} is really ahead is {evidence.inconclusive(doubts)}.", "throughput"
    )
