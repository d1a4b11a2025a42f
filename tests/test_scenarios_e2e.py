"""The teaching scenarios' quick variants, end to end through the CLI (shortened further
with --duration-s / --warmup-s), each asserting the shape of its outcome, not timings:
who got the requests, which value a sweep found, which setup kept the probe waiting."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from helpers import run_scenario, summary_markdown

from harness import analysis, record
from harness.report import figures, view

pytestmark = pytest.mark.integration


def run_quick(results: Path, name: str, *extra: str, quick: bool = True, duration_s: float = 2) -> record.Run:
    """The scenario's quick variant (or the full one), one repetition of short cases: the shapes
    asserted here do not need the 3 repetitions a quick variant runs for its lesson. Without
    the report (--no-report): a test reads the summary's sentences through summary_markdown,
    or draws the one figure it looks at; test_cli_e2e.py checks that a run writes its report."""
    return record.load_run(run_scenario(results, name, *extra, quick=quick, duration_s=duration_s, report=False))


def _by_condition(run: record.Run) -> pd.DataFrame:
    return analysis.case_results(run).set_index("condition")


def test_scheduling_round_robin_spreads_evenly_and_churn_costs_the_primary(results_dir: Path, node22: str):
    run = run_quick(results_dir, "scheduling")
    r = _by_condition(run)
    rr, rr_close = "cluster-rr-4w-node22.12.0 /hello u8", "cluster-rr-4w-node22.12.0 /hello u2-close"
    assert set(r.index) == {
        rr,
        rr_close,
        "cluster-none-4w-node22.12.0 /hello u8",
        "cluster-none-4w-node22.12.0 /hello u2-close",
    }
    # a new connection per request: round robin deals them to all 4 workers in turn
    assert r.loc[rr_close, "jain_index"] > 0.95 and r.loc[rr_close, "workers_seen"] == 4
    # a new connection per request goes through the primary's accept-and-hand-over every time
    assert r.loc[rr_close, "primary_cpu_pct"] > r.loc[rr, "primary_cpu_pct"]
    assert (r["failures"] == 0).all()
    summary = summary_markdown(results_dir / "scheduling")
    assert "As round robin promises" in summary or "Whether the primary dealt the work out evenly" in summary


def test_reuseport_has_no_primary_and_spreads_new_connections(reuseport_quick_run: Path):
    run = record.load_run(reuseport_quick_run)  # run_quick's run, shared with test_reuseport.py (conftest)
    reuse = run["samples"][run["samples"]["case_id"].str.contains("reuseport")]
    assert "primary" not in set(reuse["role"])  # two independent processes, each answering from its own pid
    assert _by_condition(run).loc["reuseport-2w-node22.12.0 /cpu u8", "workers_seen"] >= 1


def test_event_loop_inline_work_keeps_the_probe_waiting(results_dir: Path):
    # the inline and the one-thread pool conditions only (--threads 1: the scenario's pool of
    # one thread per core is left out, as this test asserts nothing of it)
    run = run_quick(results_dir, "event_loop", "--threads", "1", duration_s=3)
    r = _by_condition(run)
    single = r.loc["single /cpu?work=100 +probe/hello u4"]
    pool = r.loc["pool-1t /cpu?work=100 +probe/hello u4"]
    assert single["probe_requests"] > 20 and pool["probe_requests"] > 20  # 20/s for 3 s, from the due time
    # each /cpu?work=100 holds the event loop ~10 ms and 4 are queued: the probe waits behind them
    assert single["probe_latency_p50_ms"] > 2 * pool["probe_latency_p50_ms"]
    assert single["event_loop_delay_p99_ms"] > pool["event_loop_delay_p99_ms"]
    assert "Blocking vs offloading" in summary_markdown(results_dir / "event_loop")


def test_threadpool_sweeps_are_found_with_one_knee_each(results_dir: Path):
    # the quick variant has the piscina sweep only. Two pool sizes per piscina sweep (--threads
    # 1,2; the scenario has 1..2 x cores): two points make a sweep, and what is asserted of the
    # piscina sweeps is that light and heavy tasks are two of them, one knee each; the libuv
    # sweep keeps all its sizes, whose values are asserted
    run = run_quick(results_dir, "threadpool", "--threads", "1,2", quick=False)
    r = analysis.case_results(run)
    summary = analysis.condition_summary(r, run["endpoints"])
    points = analysis.sweeps(summary, analysis.speedups(r))
    names = set(points["sweep"])
    assert names == {
        "single /pbkdf2: UV_THREADPOOL_SIZE",
        "pool /cpu: pool threads",
        "pool /cpu?work=500: pool threads",
    }, names  # light and heavy tasks: two sweeps, not one
    assert points.groupby("sweep")["knee"].sum().tolist() == [1, 1, 1]
    # one libuv thread runs one pbkdf2 at a time: with UV_THREADPOOL_SIZE=1 the process can
    # never use much more than one core (the crypto thread plus a little event loop)
    uv1 = r[r["condition"] == "single-uv1 /pbkdf2 u16"].iloc[0]
    assert uv1["server_cpu_pct"] < 135, uv1["server_cpu_pct"]
    assert points[points["parameter"] == "uv_threadpool_size"]["value"].tolist() == [1.0, 2.0, 3.0, 4.0]
    v = view(run)  # the report's own analysis: its sweeps figure is drawn from v.points and v.cores
    fig = figures.sweep(v.points, v.cores)
    figures.save(fig, results_dir / "sweeps.png")
    plt.close(fig)
    assert (results_dir / "sweeps.png").stat().st_size > 10_000


def test_spawning_a_worker_per_request_costs_far_more_cpu_than_a_pool(results_dir: Path):
    # the pool and the spawner only (--modes): the single process, of which nothing is asserted, is left out
    run = run_quick(results_dir, "pool_vs_spawn", "--modes", "pool,spawn-per-request")
    r = _by_condition(run)
    spawn = r.loc["spawn-per-request /cpu?work=2 u4", "server_cpu_ms_per_request"]
    pool = r.loc[[c for c in r.index if c.startswith("pool-") and "work=2" in c][0], "server_cpu_ms_per_request"]
    assert spawn > 3 * pool, (spawn, pool)
