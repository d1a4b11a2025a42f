"""The two newer teaching demos' sentences (issue 17, point 4): moving data between threads
(clone, transfer, SharedArrayBuffer) and memory per worker (cluster process vs pool thread).
Hand-made tables on which an ungated claim would be wrong."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import case_rows, get, result_tables

from harness import analysis
from harness.report import story


def move_rows(mb: int, clone: list[float], transfer: list[float], shared: list[float], **overrides) -> list[dict]:
    rows = []
    for how, p50s in (("clone", clone), ("transfer", transfer), ("shared", shared)):
        route = f"/move/{how}"
        for row in case_rows(
            f"single {route}?mb={mb} +probe/hello u1",
            [1000 / p for p in p50s],
            route=route,
            path=f"{route}?mb={mb}",
            users=1,
            probe_path="/hello",
            **overrides,
        ):
            row["latency_p50_ms"] = 1000 / row["throughput_rps"]
            row["probe_latency_p99_ms"] = row["latency_p50_ms"] * 0.8 + 10
            rows.append(row)
    return rows


def test_clone_slower_than_transfer_and_shared_is_the_guides_claim_held():
    results, summary = result_tables(move_rows(64, [200, 210, 220], [1.0, 1.2, 0.9], [0.7, 0.8, 0.75]))
    [line] = story.move_lines(summary, results)
    assert "Moving 64 MB" in line and "210.0 ms by a structured clone" in line
    assert "it holds at 64 MB" in line and "inconclusive" not in line
    assert "held the sender's event loop" in line


def test_overlapping_intervals_claim_nothing():
    results, summary = result_tables(move_rows(1, [1.0, 2.0, 3.0], [1.5, 2.5, 0.8], [2.2, 1.2, 1.9]))
    [line] = story.move_lines(summary, results)
    assert "holds" not in line and "inconclusive" in line


def test_clone_fastest_at_small_sizes_is_said_so():
    results, summary = result_tables(move_rows(1, [0.5, 0.55, 0.6], [1.0, 1.1, 1.2], [1.0, 1.05, 1.1]))
    [line] = story.move_lines(summary, results)
    assert "the clone was the fastest" in line and "holds" not in line


def test_a_busy_machine_makes_the_move_claim_inconclusive():
    results, summary = result_tables(
        move_rows(64, [200, 210, 220], [1.0, 1.2, 0.9], [0.7, 0.8, 0.75], other_cpu_pct=120.0)
    )
    [line] = story.move_lines(summary, results)
    assert "inconclusive: the machine was not quiet" in line and "holds" not in line


def memory_rows(cluster: dict[int, list[float]], pool: dict[int, list[float]], **overrides) -> list[dict]:
    rows = []
    for mode, sizes in (("cluster", cluster), ("pool", pool)):
        for n, rss in sizes.items():
            label = f"cluster-rr-{n}w" if mode == "cluster" else f"pool-{n}t"
            for i, row in enumerate(
                case_rows(
                    f"{label} /io?ms=100 u1",
                    [10.0] * len(rss),
                    mode=mode,
                    route="/io",
                    path="/io?ms=100",
                    users=1,
                    workers=n if mode == "cluster" else 1,
                    threads=float(n) if mode == "pool" else float("nan"),
                    **overrides,
                )
            ):
                row["server_rss_mb"] = rss[i]
                rows.append(row)
    return rows


def test_a_thread_costing_less_than_a_process_is_claimed_when_the_intervals_separate():
    results, summary = result_tables(
        memory_rows({1: [100, 102, 101], 4: [250, 255, 252]}, {1: [60, 61, 62], 4: [90, 92, 91]})
    )
    lines = story.memory_lines(summary)
    assert any("4 workers: the cluster's processes" in x and "252 MB" in x and "91 MB" in x for x in lines)
    added = lines[-1]
    assert "each more worker process added 50.3 MB" in added and "each more thread 10.0 MB" in added
    assert "it holds here" in added


def test_memory_claim_inconclusive_when_intervals_overlap_or_too_few_repetitions():
    results, summary = result_tables(
        memory_rows({1: [100, 140, 101], 4: [150, 190, 160]}, {1: [60, 100, 62], 4: [120, 150, 121]})
    )
    assert "inconclusive" in story.memory_lines(summary)[-1]
    results, summary = result_tables(memory_rows({1: [100, 102], 4: [250, 255]}, {1: [60, 61], 4: [90, 92]}))
    assert "too few repetitions" in story.memory_lines(summary)[-1]


def test_memory_lines_only_with_both_kinds_on_a_waiting_route():
    results, summary = result_tables(memory_rows({1: [100, 102, 101]}, {}))
    assert story.memory_lines(summary) == []


def test_window_rss_adds_the_server_processes_per_sample():
    samples = pd.DataFrame(
        {
            "ts": [1, 1, 1, 2, 2, 2],
            "role": ["primary", "worker", "generator"] * 2,
            "rss_bytes": [2**20 * x for x in (10, 20, 99, 12, 22, 99)],
        }
    )
    assert analysis.window_rss_mb(samples) == 32.0


@pytest.mark.integration
def test_move_routes_hand_the_same_bytes_over_three_ways(tmp_path):
    """Every way delivers the same data (the receiver's page sum agrees); a transfer's buffer
    comes back to be reused; the sender's postMessage time is reported; bad sizes are 400."""
    import json

    from harness.servers.node import SingleServer

    with SingleServer(tmp_path) as s:
        sums = {}
        for how in ("clone", "transfer", "shared"):
            for _ in range(2):
                status, headers, body = get(s, f"/move/{how}?mb=2")
                assert status == 200, body
                answer = json.loads(body)
                assert answer["how"] == how and answer["mb"] == 2 and float(headers["x-post-ms"]) >= 0
                sums[how] = answer["sum"]
        assert len(set(sums.values())) == 1
        assert get(s, "/move/clone?mb=65")[0] == 400 and get(s, "/move/shared?mb=0")[0] == 400
        move = s.worker_metrics()[0]["move"]
        assert move["messages"] == {"clone": 2, "transfer": 2, "shared": 2}


@pytest.mark.slow  # two whole reports, about 10 s: make test runs it, make test-unit does not
def test_the_memory_lesson_opens_on_a_memory_figure_and_other_runs_have_none(tmp_path):
    """The memory demo's headline points at a figure of RSS against workers and threads (before,
    at the latency figure, which shows no memory); a run that is not the memory demo gets no
    such figure and no line saying it was skipped."""
    from pathlib import Path

    from harness import record
    from harness.report import render_report

    fixtures = Path(__file__).parent / "fixtures"
    results, summary = result_tables(
        memory_rows({1: [100, 102, 101], 4: [250, 255, 252]}, {1: [60, 61, 62], 4: [90, 92, 91]})
    )
    head = story.headline(summary, results, analysis.speedups(results), analysis.sweeps(summary))
    assert head.figure == "memory" and "it holds here" in head.answer
    render_report([record.load_run(fixtures / "demo_memory")], tmp_path / "memory")
    assert (tmp_path / "memory" / "memory.png").stat().st_size > 10_000
    assert 'alt="the figure that shows it: memory"' in (tmp_path / "memory" / "report.html").read_text()
    render_report([record.load_run(fixtures / "demo_threadpool")], tmp_path / "pool")
    assert not (tmp_path / "pool" / "memory.png").exists()
    page = (tmp_path / "pool" / "report.html").read_text()
    assert "memory per worker or thread" not in page and "<h2>Memory</h2>" not in page


def spawn_rows(spawn_ms: list[float], pool_ms: list[float], **overrides) -> list[dict]:
    """/cpu?work=2 with 4 users: a pool of 2 threads, a new Worker per request and the single control."""
    rows = []
    for condition, mode, per_request in (
        ("pool-2t /cpu?work=2 u4", "pool", pool_ms),
        ("spawn-per-request /cpu?work=2 u4", "spawn-per-request", spawn_ms),
        ("single /cpu?work=2 u4", "single", [0.36] * len(pool_ms)),
    ):
        for i, ms in enumerate(per_request):
            rows += case_rows(
                condition,
                [1000.0 / ms if mode != "spawn-per-request" else 30.0],
                mode=mode,
                path="/cpu?work=2",
                users=4,
                threads=2.0 if mode == "pool" else float("nan"),
                server_cpu_ms_per_request=ms,
                **overrides,
            )
            rows[-1].update(repetition=i + 1, case_id=f"{condition}-r{i + 1}")
    return rows


def test_a_worker_per_request_costing_far_more_cpu_than_a_pool_is_the_headline():
    """Measured (pool_vs_spawn --quick, 16:48 UTC, quiet): 57.6..67.9 ms of server CPU per spawned
    request against 0.53..0.58 in the pool. The headline used to be 'single served the most',
    and the speedup line called the spawn ratio unmeasurable because Locust paced single."""
    results, summary = result_tables(spawn_rows([58.9, 57.6, 67.9], [0.55, 0.53, 0.58], generator_limited=True))
    (line,) = story.spawn_lines(summary)
    assert "58.9 ms of server CPU per request" in line and "0.55 ms" in line and "107x" in line  # 58.9 / 0.55
    assert "it holds here" in line and "57.6..67.9 against 0.53..0.58 ms" in line
    head = story.headline(summary, results, analysis.speedups(results), analysis.sweeps(summary))
    assert head.answer == line and head.figure == "cores_by_role"
    # overlapping intervals, or a busy machine: no claim
    _, overlap = result_tables(spawn_rows([0.9, 0.5, 0.6], [0.55, 0.53, 0.58]))
    assert "inconclusive" in story.spawn_lines(overlap)[0] and "holds" not in story.spawn_lines(overlap)[0]
    _, busy = result_tables(spawn_rows([58.9, 57.6, 67.9], [0.55, 0.53, 0.58], other_cpu_pct=80.0))
    assert "inconclusive" in story.spawn_lines(busy)[0]
    _, cheaper = result_tables(spawn_rows([0.20, 0.21, 0.22], [0.55, 0.53, 0.58]))
    assert "which contradicts that" in story.spawn_lines(cheaper)[0]
    _, no_pool = result_tables([r for r in spawn_rows([58.9, 57.6, 67.9], [0.55, 0.53, 0.58]) if r["mode"] != "pool"])
    assert story.spawn_lines(no_pool) == []


def test_the_shared_state_headline_is_the_split_in_memory_counter():
    """Measured (shared_state --quick, 16:50 UTC): the headline said 'single /count/memory u8
    served the most', which is not the demo's question."""
    counters = pd.DataFrame(
        [
            {
                "condition": "single /count/memory u8",
                "mode": "single",
                "workers": 1,
                "route": "/count/memory",
                "load": "closed",
                "store": "memory",
                "repetitions": 3,
                "client_ok": 900,
                "client_failures": 0,
                "counters": 1,
                "counted_total": 900,
                "largest_count": 900,
                "largest_share": 1.0,
                "all_exact": True,
            },
            {
                "condition": "cluster-rr-2w /count/memory u8",
                "mode": "cluster",
                "workers": 2,
                "route": "/count/memory",
                "load": "closed",
                "store": "memory",
                "repetitions": 3,
                "client_ok": 1000,
                "client_failures": 0,
                "counters": 2,
                "counted_total": 1000,
                "largest_count": 620,
                "largest_share": 0.62,
                "all_exact": False,
            },
        ]
    )
    results, summary = result_tables(
        case_rows("single /count/memory u8", [3000.0, 3100.0, 2900.0])
        + case_rows("cluster-rr-2w /count/memory u8", [2400.0, 2500.0, 2450.0], mode="cluster", workers=2)
    )
    head = story.headline(summary, results, analysis.speedups(results), analysis.sweeps(summary), counters=counters)
    assert head.answer.startswith("cluster-rr-2w /count/memory u8: each of the 2 workers counted only")
    # without the counters it is a throughput comparison, as before
    assert (
        "served the most"
        in story.headline(summary, results, analysis.speedups(results), analysis.sweeps(summary)).answer
    )
