"""`harness selfcheck`: what the harness's own measuring costs on this machine.

On a machine the load generator shares with the server, every CPU-millisecond the
generator spends per request is taken from the server it measures. This measures, on the
machine at hand:

- hooks: the harness's Locust (its locustfile: HDR histograms, per-worker counts, the
  timeline, ..., sending with harness.load.lean_http) against a plain Locust FastHttpUser
  with the same users and no hooks, on /hello, where the generator is the limit: the CPU each
  spends per request and the ratio of the two. Both run *side by side*: at the same time,
  each against its own identical single-process server, over one common window, the servers
  swapped every repetition (see run_side_by_side), since one generator after the other
  measured the machine's drift more than the hooks;
- hooks_alone: the same, against a plain Locust user sending with lean_http too: what the
  hooks alone cost, the client being the same on both sides;
- wrk (when a C load generator is on PATH): the harness's Locust against wrk on /cpu, single
  and cluster of 2, the same connections: the ratio says how much the generator's CPU cost
  the server (a C generator's is a small fraction of Locust's); and a plain Locust
  FastHttpUser against wrk on the cluster: what Locust's own client would cost there;
- sampler: the CPU of the harness's psutil sampler (its thread in this process) while it
  samples the cluster and the generator.

The wrk pairs run interleaved (A, B, B, A ...) on one server, since there the server is the
limit and two of them would share its cores. Throughput is counted by the server itself (its
/metrics requests per route), over a window after a settle time, so every generator is
measured the same way. Beside each measurement the machine's other load (busy CPU not used by
the servers, the generators or this process) is recorded, since another process on the
machine moves every figure. Results go to results/selfcheck/<stamp>.json with the machine
facts; `latest()` reads the newest matching this machine, for the report's note on how much
the generator perturbed a run (analysis.generator_perturbation).

Stored versions: 1 (until 1 December 2026): every pair interleaved, each pair's "ratio" the
median of per-repetition req/s ratios A / B. 2: a pair says whether it ran "side_by_side" and
what its "ratio" is ("ratio_kind": "rps", as in 1, for the interleaved pairs;
"cpu_per_request", B's CPU per request / A's, for the side-by-side hooks pair, with the req/s
ratio beside it as "rps_ratio"). Readers of version 1 read a missing "ratio_kind" as "rps".
3 (from 1 December 2026 evening): "http_client", what the harness's Locust sent with ("lean":
harness.load.lean_http); the hooks_alone pair. Versions 1 and 2 measured Locust's
FastHttpSession: read as "http_client" "locust", so a run with the lean client does not take
their costs for its own (latest()). From 2 December 2026 a pair with a goal also stores
"goal_verdict" (and the sampler "sampler_goal_verdict"): see goal_verdict(); older files have
none and their tables say "-".
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness import evidence, modes, procs
from harness.load import DEFAULT_HTTP_CLIENT
from harness.load.runner import LOCUSTFILE
from harness.sampling import Sampler
from harness.servers.base import ProcInfo, Server

PLAIN_LOCUSTFILE = Path(__file__).resolve().parent / "load" / "plain_locustfile.py"
SELFCHECK_DIR = "selfcheck"
# Goals on a 2-core machine shared by generator and server (issue 18)
GOALS = {"hooks": 0.95, "wrk_single": 0.98, "wrk_cluster": 0.95, "sampler_cpu_pct": 1.0}
VERSION = 3
# Side by side, each (generator, server) couple on a core of its own, the cores swapped with
# the servers every repetition: see docs/harness-cost.md for why (measured on this machine).
PIN_SIDE_BY_SIDE = False


@dataclass
class Measurement:
    """One generator driving one server for one window."""

    pair: str
    generator: str
    rep: int
    rps: float
    generator_cpu_pct: float  # % of one core, over the window (all its processes)
    generator_cpu_ms_per_request: float
    server_cpu_pct: float
    own_cpu_pct: float  # this process (the sampler, when it ran)
    other_cpu_pct: float  # the machine's busy CPU used by none of the above (other engineers' work)
    machine_busy_pct: float  # % of one core, summed over cores
    window_s: float
    # side by side only: which of the two servers (0, 1) this generator drove, its port, the
    # cores the couple was pinned to (None: any), and when the common window started (epoch s)
    server: int | None = None
    server_port: int | None = None
    cpus: list[int] | None = None
    window_start: float | None = None


@dataclass
class Pair:
    """Two generators (A = the harness's Locust): interleaved against one server, or side by
    side, each against its own identical server at the same time."""

    name: str
    mode: str  # single | cluster
    path: str
    route: str
    users: int
    a: str
    b: str
    sample: bool = False  # run the sampler during A's windows (its own CPU is measured)
    side_by_side: bool = False  # both at once on two servers (single mode only), not one after the other
    pinned: bool = False  # side by side: each couple ran on a core of its own
    measurements: list[Measurement] = field(default_factory=list)


def _cpu_s(pids: list[psutil.Process]) -> float:
    total = 0.0
    for p in pids:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _busy_s() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def served(server: Server, route: str) -> int:
    """Requests of `route` the server's workers have counted."""
    return sum(int((m.get("requests_by_route") or {}).get(route, 0)) for m in server.worker_metrics())


def generator_command(kind: str, url: str, path: str, users: int, run_s: int, out: Path) -> tuple[list[str], dict]:
    """argv and environment of one generator run: the harness's Locust, a plain Locust, or wrk."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_") or k == "HARNESS_TEST_SESSION"}
    if kind == "wrk":
        return [shutil.which("wrk") or "wrk", "-t1", f"-c{users}", f"-d{run_s}s", url + path], env
    locustfile = LOCUSTFILE if kind == "harness" else PLAIN_LOCUSTFILE  # plain | plain_lean
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{run_s}s",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    if kind == "harness":
        argv += ["--harness-path", path, "--harness-name", path.split("?")[0]]
        env.update(HARNESS_OUT=str(out / "hooks.json"), HARNESS_WINDOW_OUT=str(out / "window.json"))
    else:
        env.update(PLAIN_PATH=path, PLAIN_CLIENT="lean" if kind == "plain_lean" else "fasthttp")
    return argv, env


def measure_once(
    server: Server, pair: Pair, kind: str, rep: int, window_s: float, settle_s: float, work_dir: Path
) -> Measurement:
    """Start one generator, let it settle, count the server's requests and everyone's CPU
    over window_s, stop it."""
    out = work_dir / f"{pair.name}-{kind}-{rep}"
    out.mkdir(parents=True, exist_ok=True)
    argv, env = generator_command(kind, server.url, pair.path, pair.users, int(settle_s + window_s + 30), out)
    proc = procs.spawn(argv, out / "generator.out", env=env)
    sampler = None
    try:
        start = served(server, pair.route)
        deadline = time.monotonic() + 30
        while served(server, pair.route) == start:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} sent nothing (see {out / 'generator.out'})")
            time.sleep(0.1)
        time.sleep(settle_s)
        gen = procs.tree(proc.pid)
        srv = [psutil.Process(p.pid) for p in server.processes()]
        if pair.sample and kind == pair.a:
            sampler = Sampler([server.processes, lambda: [ProcInfo(p.pid, "generator") for p in gen]], 0.5)
            sampler.start()
        me = psutil.Process()
        t0, n0, g0, s0, m0, b0 = (
            time.monotonic(),
            served(server, pair.route),
            _cpu_s(gen),
            _cpu_s(srv),
            _cpu_s([me]),
            _busy_s(),
        )
        time.sleep(window_s)
        t1, n1, g1, s1, m1, b1 = (
            time.monotonic(),
            served(server, pair.route),
            _cpu_s(gen),
            _cpu_s(srv),
            _cpu_s([me]),
            _busy_s(),
        )
    finally:
        if sampler is not None:
            sampler.stop()
        procs.stop(proc, timeout_s=10)
    dt, n = t1 - t0, max(1, n1 - n0)
    pct = lambda s: 100.0 * s / dt  # noqa: E731
    gen_pct, srv_pct, own_pct, busy_pct = pct(g1 - g0), pct(s1 - s0), pct(m1 - m0), pct(b1 - b0)
    return Measurement(
        pair.name,
        kind,
        rep,
        (n1 - n0) / dt,
        gen_pct,
        1000.0 * (g1 - g0) / n,
        srv_pct,
        own_pct,
        max(0.0, busy_pct - gen_pct - srv_pct - own_pct),
        busy_pct,
        dt,
    )


def default_pairs(has_wrk: bool) -> list[Pair]:
    pairs = [
        # the issue's yardstick: a plain Locust FastHttpUser (the client and the hooks together)
        Pair("hooks", "single", "/hello", "/hello", 32, "harness", "plain", side_by_side=True),
        # the hooks alone: the same lean client on both sides
        Pair("hooks_alone", "single", "/hello", "/hello", 32, "harness", "plain_lean", side_by_side=True),
    ]
    if has_wrk:
        pairs += [
            Pair("wrk_single", "single", "/cpu", "/cpu", 8, "harness", "wrk"),
            Pair("wrk_cluster", "cluster", "/cpu", "/cpu", 8, "harness", "wrk", sample=True),
            # the yardstick's own distance: what no saving in the hooks can win back
            Pair("plain_cluster", "cluster", "/cpu", "/cpu", 8, "plain", "wrk"),
        ]
    return pairs


def run_pair(
    pair: Pair, reps: int, window_s: float, settle_s: float, work_dir: Path, notice: Callable[[str], None]
) -> None:
    mode = modes.get(pair.mode)
    kwargs: dict[str, Any] = {} if mode.one_process else {"workers": 2}
    with mode.server_class()(work_dir / f"server-{pair.name}", **kwargs) as server:
        for rep in range(reps):
            order = (pair.a, pair.b) if rep % 2 == 0 else (pair.b, pair.a)  # A B B A ...: no side always first
            for kind in order:
                m = measure_once(server, pair, kind, rep, window_s, settle_s, work_dir)
                pair.measurements.append(m)
                notice(
                    f"{pair.name} {kind:8} rep {rep + 1}: {m.rps:8,.1f} req/s, generator "
                    f"{m.generator_cpu_pct:5.1f}% ({m.generator_cpu_ms_per_request:.3f} ms/req), "
                    f"other load {m.other_cpu_pct:4.1f}%"
                )


def measure_side_by_side(
    servers: list[Server],
    pair: Pair,
    kinds: tuple[str, str],
    rep: int,
    window_s: float,
    settle_s: float,
    work_dir: Path,
) -> list[Measurement]:
    """Start both generators at once, kinds[i] against servers[i] (on the server's cores when
    it is pinned), wait until both servers count requests, let them settle, then take each
    server's request count and everyone's CPU over one common window; stop both."""
    gens = []
    outs = []
    try:
        for server, kind in zip(servers, kinds):
            out = work_dir / f"{pair.name}-{kind}-{rep}"
            out.mkdir(parents=True, exist_ok=True)
            outs.append(out)
            argv, env = generator_command(kind, server.url, pair.path, pair.users, int(settle_s + window_s + 30), out)
            gens.append(procs.spawn(argv, out / "generator.out", env=env, cpus=server.cpus))
        start = [served(s, pair.route) for s in servers]
        deadline = time.monotonic() + 30
        while waiting := [i for i, (s, n) in enumerate(zip(servers, start)) if served(s, pair.route) == n]:
            for i in waiting:
                if gens[i].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kinds[i]} sent nothing (see {outs[i] / 'generator.out'})")
            time.sleep(0.1)
        time.sleep(settle_s)
        trees = [procs.tree(g.pid) for g in gens]
        srv = [[psutil.Process(p.pid) for p in s.processes()] for s in servers]
        me = psutil.Process()

        def snapshot() -> tuple[float, list[int], list[float], list[float], float, float]:
            return (
                time.monotonic(),
                [served(s, pair.route) for s in servers],
                [_cpu_s(t) for t in trees],
                [_cpu_s(p) for p in srv],
                _cpu_s([me]),
                _busy_s(),
            )

        wall0 = time.time()
        t0, n0, g0, s0, m0, b0 = snapshot()
        time.sleep(window_s)
        t1, n1, g1, s1, m1, b1 = snapshot()
    finally:
        procs.stop_all(gens, timeout_s=10)
    dt = t1 - t0
    pct = lambda s: 100.0 * s / dt  # noqa: E731
    gen_pct = [pct(b - a) for a, b in zip(g0, g1)]
    srv_pct = [pct(b - a) for a, b in zip(s0, s1)]
    own_pct, busy_pct = pct(m1 - m0), pct(b1 - b0)
    other = max(0.0, busy_pct - sum(gen_pct) - sum(srv_pct) - own_pct)
    out = []
    for i, (server, kind) in enumerate(zip(servers, kinds)):
        n = n1[i] - n0[i]
        out.append(
            Measurement(
                pair.name,
                kind,
                rep,
                n / dt,
                gen_pct[i],
                1000.0 * (g1[i] - g0[i]) / max(1, n),
                srv_pct[i],
                own_pct,
                other,
                busy_pct,
                dt,
                server=i,
                server_port=server.port,
                cpus=list(server.cpus) if server.cpus else None,
                window_start=wall0,
            )
        )
    return out


def run_side_by_side(
    pair: Pair,
    reps: int,
    window_s: float,
    settle_s: float,
    work_dir: Path,
    notice: Callable[[str], None],
    pin: bool = PIN_SIDE_BY_SIDE,
) -> None:
    """Two identical single-process servers; in every repetition A drives one and B the
    other at the same time, over one window, and they swap servers (and, pinned, cores: each
    server keeps its core, each generator runs on its server's) every repetition, so that a
    difference between the servers or the cores cancels out over an even number of them."""
    if pair.mode != "single":
        raise ValueError(f"{pair.name}: side by side needs single-process servers, not {pair.mode}")
    cores = sorted(os.sched_getaffinity(0))
    pair.pinned = pin and len(cores) >= 2
    with contextlib.ExitStack() as stack:
        servers: list[Server] = []
        for i in range(2):  # one after the other: the second's free port is picked while the first listens
            server = modes.get(pair.mode).server_class()(work_dir / f"server-{pair.name}-{i}")
            server.cpus = [cores[i]] if pair.pinned else None
            servers.append(stack.enter_context(server))
        for rep in range(reps):
            kinds = (pair.a, pair.b) if rep % 2 == 0 else (pair.b, pair.a)  # kinds[i] drives servers[i]
            ms = measure_side_by_side(servers, pair, kinds, rep, window_s, settle_s, work_dir)
            pair.measurements += ms
            by = {m.generator: m for m in ms}
            a, b = by[pair.a], by[pair.b]
            for m in (a, b):
                notice(
                    f"{pair.name} {m.generator:8} rep {rep + 1} (server {m.server}"
                    f"{', core ' + ','.join(map(str, m.cpus)) if m.cpus else ''}): {m.rps:8,.1f} req/s, "
                    f"generator {m.generator_cpu_pct:5.1f}% ({m.generator_cpu_ms_per_request:.3f} ms/req)"
                )
            notice(
                f"{pair.name} rep {rep + 1}, side by side: {pair.a} / {pair.b} CPU per request "
                f"{_cpu_ratio(a, b):.3f}, req/s {_rps_ratio(a, b):.3f}, other load {a.other_cpu_pct:4.1f}%"
            )


def _cpu_ratio(a: Measurement, b: Measurement) -> float:
    """B's CPU per request over A's: A's ceiling over B's when the generator is the limit."""
    return (
        b.generator_cpu_ms_per_request / a.generator_cpu_ms_per_request
        if a.generator_cpu_ms_per_request > 0 and a.rps > 0 and b.rps > 0
        else math.nan
    )


def _rps_ratio(a: Measurement, b: Measurement) -> float:
    return a.rps / b.rps if b.rps > 0 else math.nan


def _median_spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def goal_verdict(
    values: list[float], goal: float, at_most: bool = False, other_cpu_pct: float | None = None
) -> dict[str, Any]:
    """What this run shows of a goal (A / B >= goal; with at_most, value <= goal): "met"
    when the interval of the repetitions' median (harness.evidence: order statistics,
    distribution-free, with its coverage) lies wholly on the goal's side, "missed" when
    wholly on the other, "cannot tell" when it holds the goal (this run's noise is larger
    than its distance to the goal) or when the machine was busy (`other_cpu_pct`, the
    larger of the two sides' median other load, over analysis.OTHER_CPU_WARN_PCT, the bound
    the reports use), "too few repetitions" below evidence.MIN_REPETITIONS. NaNs are left
    out (`n` counts what was used).

    The verdict is of this run, not of the machine: on this project's 2-core VM the cluster
    pair's interval was 0.863..0.941 at 04:15 and 0.945..1.050 at 08:32 on 2 December 2026,
    nothing changed but the hour. A median alone on one side is no verdict at all."""
    from harness.analysis import OTHER_CPU_WARN_PCT

    used = [v for v in values if v is not None and not math.isnan(v)]
    low, high, coverage = evidence.median_interval(used)
    busy = other_cpu_pct if other_cpu_pct is not None and other_cpu_pct > OTHER_CPU_WARN_PCT else None
    if math.isnan(low):
        return {
            "verdict": "too few repetitions",
            "low": None,
            "high": None,
            "coverage": None,
            "n": len(used),
            "busy": busy,
        }
    if at_most:
        verdict = "met" if high <= goal else "missed" if low > goal else "cannot tell"
    else:
        verdict = {"above": "met", "below": "missed"}.get(evidence.side_of((low, high), goal) or "", "cannot tell")
    if busy is not None:
        verdict = "cannot tell"
    return {"verdict": verdict, "low": low, "high": high, "coverage": coverage, "n": len(used), "busy": busy}


def summarize(pair: Pair) -> dict[str, Any]:
    """Medians with min..max per side, and the ratio A/B of each repetition's two
    measurements: of req/s for an interleaved pair; for a side-by-side pair, of CPU per
    request (B's ms / A's: the ratio of their ceilings where the generator is the limit), with
    the req/s ratio beside it."""
    side = {k: {m.rep: m for m in pair.measurements if m.generator == k} for k in (pair.a, pair.b)}
    both = [(side[pair.a][r], side[pair.b][r]) for r in sorted(side[pair.a]) if r in side[pair.b]]
    finite = lambda xs: [x for x in xs if math.isfinite(x)]  # noqa: E731
    rps_ratios = finite([_rps_ratio(a, b) for a, b in both])
    cpu_ratios = finite([_cpu_ratio(a, b) for a, b in both])
    ratios = cpu_ratios if pair.side_by_side else rps_ratios
    out: dict[str, Any] = {
        "pair": pair.name,
        "mode": pair.mode,
        "path": pair.path,
        "users": pair.users,
        "a": pair.a,
        "b": pair.b,
        "side_by_side": pair.side_by_side,
        "ratio_kind": "cpu_per_request" if pair.side_by_side else "rps",
        "ratio": _median_spread(ratios),
        "rps_ratio": _median_spread(rps_ratios),
        "goal": GOALS.get(pair.name),
    }
    if pair.side_by_side:
        out["pinned"] = pair.pinned
        out["pairs_measured"] = len(both)
    for k, ms in side.items():
        out[k] = {
            f: _median_spread([getattr(m, f) for m in ms.values()])
            for f in ("rps", "generator_cpu_pct", "generator_cpu_ms_per_request", "server_cpu_pct", "other_cpu_pct")
        }
    # the busier side's median other load: a verdict on a busy machine is no verdict
    loads = [out[k]["other_cpu_pct"]["median"] for k in side if out[k]["other_cpu_pct"]["median"] is not None]
    other = max(loads) if loads else None
    if pair.name in GOALS:
        out["goal_verdict"] = goal_verdict(ratios, GOALS[pair.name], other_cpu_pct=other)
    if pair.sample:
        own = [m.own_cpu_pct for m in side[pair.a].values()]
        out["sampler_cpu_pct"] = _median_spread(own)
        out["sampler_goal_verdict"] = goal_verdict(own, GOALS["sampler_cpu_pct"], at_most=True, other_cpu_pct=other)
    return out


def selfcheck(
    results_dir: Path,
    reps: int = 4,
    window_s: float = 10.0,
    settle_s: float = 3.0,
    pairs: list[str] | None = None,
    notice: Callable[[str], None] = print,
    pin: bool = PIN_SIDE_BY_SIDE,
) -> tuple[dict[str, Any], Path]:
    """Measure every pair, store the result with the machine facts, return (result, path).
    `pin`: the side-by-side pair's couples each on a core of their own."""
    from harness import record

    has_wrk = shutil.which("wrk") is not None
    chosen = [p for p in default_pairs(has_wrk) if pairs is None or p.name in pairs]
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as tmp:
        for pair in chosen:
            if pair.side_by_side:
                run_side_by_side(pair, reps, window_s, settle_s, Path(tmp), notice, pin=pin)
            else:
                run_pair(pair, reps, window_s, settle_s, Path(tmp), notice)
    summaries = [summarize(p) for p in chosen]
    result = {
        "kind": "selfcheck",
        "version": VERSION,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": record.machine_facts(),
        "code": record.git_state(Path(__file__).resolve().parent.parent),
        "reps": reps,
        "window_s": window_s,
        "settle_s": settle_s,
        "wrk": has_wrk,
        # generator_command leaves HARNESS_* variables out: the harness's Locust runs its default
        "http_client": DEFAULT_HTTP_CLIENT,
        "pairs": summaries,
        "generator_cpu_ms_per_request": _harness_cost(summaries),
        "measurements": [asdict(m) for p in chosen for m in p.measurements],
    }
    path = results_dir / SELFCHECK_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_path, path)
    return result, path


def _harness_cost(summaries: list[dict[str, Any]]) -> float | None:
    """The harness's Locust's CPU per request (ms), from the pair where it ran hottest
    (the /hello ceiling), the figure the report uses to say how much it took from a server."""
    for s in summaries:
        if s["pair"] == "hooks":
            return s["harness"]["generator_cpu_ms_per_request"]["median"]
    return None


def latest(
    results_dir: Path, machine: dict[str, Any] | None = None, http_client: str | None = None
) -> dict[str, Any] | None:
    """The newest stored selfcheck (of a machine with the same CPU and cores, when given; whose
    harness sent with `http_client`, when given: versions before 3 sent with "locust")."""
    folder = results_dir / SELFCHECK_DIR
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if machine is not None:
            theirs = data.get("machine") or {}
            if any(theirs.get(k) != machine.get(k) for k in ("cpu_model", "logical_cores")):
                continue
        if http_client is not None and data.get("http_client", "locust") != http_client:
            continue
        return data
    return None


def ratio_kind(pair_summary: dict[str, Any]) -> str:
    """What a stored pair's "ratio" is a ratio of: "rps" or "cpu_per_request" (version 1
    files, which did not say, are "rps")."""
    return pair_summary.get("ratio_kind") or "rps"


def format_table(result: dict[str, Any]) -> str:
    """Markdown table of the ratios, medians with min..max and the other load, saying which
    pairs ran side by side (at the same time) and which one after the other."""

    def span(d: dict[str, Any] | None, fmt: str) -> str:
        if not d or d["median"] is None:
            return "-"
        return f"{d['median']:{fmt}} ({d['min']:{fmt}}..{d['max']:{fmt}})"

    def verdict(v: dict[str, Any] | None, fmt: str) -> str:
        if not v:
            return "-"
        busy = f"busy machine, other load {v['busy']:.0f}% of a core; " if v.get("busy") is not None else ""
        if v["low"] is None:
            return f"{v['verdict']} ({busy}{v['n']} measured)"
        return f"{v['verdict']} ({busy}{v['low']:{fmt}}..{v['high']:{fmt}} at {v['coverage']:.0%})"

    lines = [
        "| pair | ran | A req/s | B req/s | A / B | goal | goal met? | A / B req/s | A generator CPU, ms/req "
        "| B ms/req | A generator % core | other load % core (A; B) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for s in result["pairs"]:
        a, b = s[s["a"]], s[s["b"]]
        cpu = ratio_kind(s) == "cpu_per_request"
        rps_ratio = s.get("rps_ratio") or (None if cpu else s["ratio"])
        if s.get("side_by_side"):
            ran = "side by side" + (", pinned" if s.get("pinned") else "")
        else:
            ran = "one after the other"
        lines.append(
            f"| {s['pair']}: {s['mode']} {s['path']}, {s['users']} users, {s['a']} / {s['b']} | {ran} "
            f"| {span(a['rps'], ',.1f')} | {span(b['rps'], ',.1f')} "
            f"| {span(s['ratio'], '.3f')}{' (CPU per request)' if cpu else ''} "
            f"| {'>= ' + format(s['goal'], '.2f') if s.get('goal') else '-'} | {verdict(s.get('goal_verdict'), '.3f')} "
            f"| {span(rps_ratio, '.3f')} "
            f"| {span(a['generator_cpu_ms_per_request'], '.3f')} | {span(b['generator_cpu_ms_per_request'], '.3f')} "
            f"| {span(a['generator_cpu_pct'], '.1f')} | {span(a['other_cpu_pct'], '.0f')}; "
            f"{span(b['other_cpu_pct'], '.0f')} |"
        )
    if any(s.get("side_by_side") for s in result["pairs"]):
        notes.append(
            "\nside by side: A and B at the same time, each against its own identical single-process server, "
            "over one common window, the servers swapped every repetition"
            + (" (each generator on its server's core)" if any(s.get("pinned") for s in result["pairs"]) else "")
            + "; A / B is B's generator CPU per request over A's (A's ceiling over B's where the generator "
            "is the limit), median (min..max) of the repetitions' ratios. one after the other: interleaved "
            "(A B, B A, ...) against one server; A / B is of req/s."
        )
    if any(s.get("goal_verdict") for s in result["pairs"]):
        from harness.analysis import OTHER_CPU_WARN_PCT

        notes.append(
            "\ngoal met?: in this run: met or missed when the interval of the median (order statistics of "
            "the repetitions, at the coverage given) lies wholly on one side of the goal; cannot tell when it "
            "holds the goal (this run's noise is larger than its distance to it) or when other processes used "
            f"more than {OTHER_CPU_WARN_PCT:.0f}% of a core. A run an hour later may say otherwise: the machine's "
            "state moves these ratios."
        )
    for s in result["pairs"]:
        if "sampler_cpu_pct" in s:
            notes.append(
                f"\nsampler (psutil, every 0.5 s, cluster of 2 and the generator): "
                f"{span(s['sampler_cpu_pct'], '.2f')} % of a core, goal <= {GOALS['sampler_cpu_pct']:g}"
                + (f": {verdict(s['sampler_goal_verdict'], '.2f')}" if s.get("sampler_goal_verdict") else "")
            )
    return "\n".join(lines + notes)
