"""The shared-state teaching demo: a counter in each worker's memory vs in Redis.

Unit tests (no process started): the counter analysis and the story on hand-made tables,
the rendered redis.conf, the RESP reader on bytes, the scenario asking for Redis, an old
record without the counters table. Integration tests start Debian's real redis-server
through the harness (skipped, with the reason, only where it is not installed: .ci/run
installs it), the real server's counting routes, and one end-to-end quick run of
`scenarios/shared_state.py` whose outcome is asserted: Redis counts every request the
client saw succeed; under cluster no single worker's in-memory counter does.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers import REPO, get, hand_run, record_table, run_harness, summary_markdown

from harness import analysis, record
from harness.errors import EnvironmentProblem, RunFailed, UsageError
from harness.record import TABLE_COLUMNS, Run
from harness.report import story
from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload
from harness.servers.node import ClusterServer, SingleServer
from harness.servers.redis import COUNTER_KEY, RedisService, _read_reply, find_redis_server, render_config, resp_command

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists(),
    reason="redis-server is not installed (apt-get install redis-server; .ci/run installs it)",
)


# --- unit: analysis and story on hand-made tables -------------------------------------------


def counting_run() -> Run:
    """Four cases worked out by hand:
    single /count/memory: the client saw 100 succeed (+ 2 in warm-up, 1 after the stop = 103); the worker counted 103.
    cluster /count/memory: the client saw 60 + 40 = 100 succeed (and 3 failed); workers counted 61 and 39.
    single /count/redis: 50 succeed; Redis counted 50.
    cluster /count/redis: 80 succeed; Redis counted 80."""
    plan = [
        ("001", "single /count/memory u4", "single", 1, "/count/memory"),
        ("002", "cluster-rr-2w /count/memory u4", "cluster", 2, "/count/memory"),
        ("003", "single /count/redis u4", "single", 1, "/count/redis"),
        ("004", "cluster-rr-2w /count/redis u4", "cluster", 2, "/count/redis"),
    ]
    cases = [
        {
            "case_id": cid,
            "index": i,
            "condition": cond,
            "repetition": 1,
            "mode": mode,
            "workers": nw,
            "route": route,
            "path": route,
            "load": "closed",
            "users": 4,
            "status": "complete",
            "measured_s": 10.0,
        }
        for i, (cid, cond, mode, nw, route) in enumerate(plan, 1)
    ]
    endpoints = [
        {"case_id": "001", "phase": "warmup", "name": "/count/memory", "requests": 2, "failures": 0},
        {"case_id": "001", "phase": "measure", "name": "/count/memory", "requests": 100, "failures": 0},
        {"case_id": "001", "phase": "after", "name": "/count/memory", "requests": 1, "failures": 0},
        {"case_id": "002", "phase": "measure", "name": "/count/memory", "requests": 103, "failures": 3},
        {"case_id": "003", "phase": "measure", "name": "/count/redis", "requests": 50, "failures": 0},
        {"case_id": "004", "phase": "measure", "name": "/count/redis", "requests": 80, "failures": 0},
    ]
    counters = [
        {"case_id": "001", "store": "memory", "worker_id": "0", "pid": 10, "value": 103},
        {"case_id": "002", "store": "memory", "worker_id": "1", "pid": 11, "value": 61},
        {"case_id": "002", "store": "memory", "worker_id": "2", "pid": 12, "value": 39},
        {"case_id": "003", "store": "redis", "worker_id": "", "pid": 13, "value": 50},
        {"case_id": "004", "store": "redis", "worker_id": "", "pid": 14, "value": 80},
    ]
    return hand_run(cases, endpoints=endpoints, counters=counters, meta={"run_id": "hand", "status": "complete"})


def test_counter_results_by_hand():
    r = analysis.counter_results(counting_run()).set_index("case_id")
    assert r.loc["001", "client_ok"] == 103 and r.loc["001", "counted_total"] == 103 and r.loc["001", "exact"]
    assert r.loc["002", "client_ok"] == 100 and r.loc["002", "client_failures"] == 3
    assert r.loc["002", "counters"] == 2 and r.loc["002", "counted_total"] == 100 and r.loc["002", "exact"]
    assert r.loc["002", "largest_count"] == 61 and r.loc["002", "largest_share"] == pytest.approx(0.61)
    assert r.loc["003", "store"] == "redis" and r.loc["003", "largest_share"] == pytest.approx(1.0)
    assert r.loc["004", "counted_total"] == 80 and r.loc["004", "exact"]


def test_counter_summary_adds_repetitions_and_keeps_the_largest_share():
    per_case = pd.DataFrame(
        [
            {
                "case_id": "a",
                "condition": "c",
                "repetition": 1,
                "mode": "cluster",
                "workers": 2,
                "route": "/count/memory",
                "load": "closed",
                "store": "memory",
                "client_ok": 100,
                "client_failures": 0,
                "counters": 2,
                "counted_total": 100.0,
                "largest_count": 55.0,
                "largest_share": 0.55,
                "exact": True,
            },
            {
                "case_id": "b",
                "condition": "c",
                "repetition": 2,
                "mode": "cluster",
                "workers": 2,
                "route": "/count/memory",
                "load": "closed",
                "store": "memory",
                "client_ok": 200,
                "client_failures": 1,
                "counters": 2,
                "counted_total": 199.0,
                "largest_count": 120.0,
                "largest_share": 0.6,
                "exact": False,
            },
        ],
        columns=analysis.COUNTER_COLUMNS,
    )
    s = analysis.counter_summary(per_case).iloc[0]
    assert s["repetitions"] == 2 and s["client_ok"] == 300 and s["counted_total"] == 299
    assert s["largest_share"] == pytest.approx(0.6) and not s["all_exact"] and s["client_failures"] == 1


def test_a_run_without_counting_routes_has_no_counter_rows():
    run = counting_run()
    run.tables["counters"] = record_table("counters", [])
    assert analysis.counter_results(run).empty
    assert story.shared_state_lines(analysis.counter_summary(analysis.counter_results(run))) == []


def test_the_story_tells_each_store_against_the_claim():
    text = story.shared_state_lines(analysis.counter_summary(analysis.counter_results(counting_run())))
    assert len(text) == 4
    single_mem, cluster_mem, single_redis, cluster_redis = text
    assert "the one process counted 103 of the 103 requests" in single_mem and "the control" in single_mem
    assert "the largest count was 61, 61% of the 100 requests" in cluster_mem
    assert "3 failed" in cluster_mem and "add up to 100, the total" in cluster_mem
    assert "no single process knows it" in cluster_mem and "holds here" in cluster_mem
    assert "Redis counted 50 of the 50" in single_redis
    assert "Redis counted 80 of the 80" in cluster_redis and "confirms it" in cluster_redis


def test_the_story_says_when_the_measurement_contradicts_the_claim():
    per_case = analysis.counter_results(counting_run())
    per_case.loc[per_case["case_id"] == "004", ["counted_total", "exact"]] = [77.0, False]
    # one worker served every request: its count happened to be complete
    per_case.loc[per_case["case_id"] == "002", ["largest_count", "largest_share"]] = [100.0, 1.0]
    text = story.shared_state_lines(analysis.counter_summary(per_case))
    assert "does not confirm it" in text[3] and "differ by -3" in text[3]
    assert "does not show the usual claim" in text[1]


# --- unit: config, RESP, scenario, record ----------------------------------------------------


def test_the_redis_config_is_loopback_only_without_persistence(tmp_path: Path):
    text = render_config(port=6390, data_dir=tmp_path)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert {
        "bind 127.0.0.1",
        "protected-mode yes",
        "port 6390",
        "daemonize no",
        'save ""',
        "appendonly no",
        f'dir "{tmp_path}"',
    } <= set(lines)


@pytest.mark.parametrize(
    "port, folder",
    [
        (0, "/tmp/x"),
        (70000, "/tmp/x"),
        (True, "/tmp/x"),
        (6390, "relative"),
        (6390, '/tmp/a"b'),
        (6390, "/tmp/a\nport 1"),
    ],
)
def test_the_redis_config_refuses_what_it_cannot_place(port, folder):
    with pytest.raises(UsageError):
        render_config(port=port, data_dir=Path(folder) if folder != "relative" else folder)


def test_the_resp_reader_on_bytes():
    """A unit test of the reply parser on canned bytes (no server)."""
    assert _read_reply(io.BytesIO(b"+PONG\r\n")) == "PONG"
    assert _read_reply(io.BytesIO(b":42\r\n")) == 42
    assert _read_reply(io.BytesIO(b"$5\r\nhello\r\n")) == "hello"
    assert _read_reply(io.BytesIO(b"$-1\r\n")) is None
    assert _read_reply(io.BytesIO(b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n")) == ["save", ""]
    with pytest.raises(RunFailed, match="WRONGTYPE"):
        _read_reply(io.BytesIO(b"-WRONGTYPE bad\r\n"))


def test_a_redis_route_asks_for_redis_and_a_memory_route_does_not():
    scenario = Scenario(
        name="s",
        description="d",
        servers=[ServerSpec("cluster", workers=2)],
        workloads=[Workload("/count/memory"), Workload("/count/redis")],
        loads=[ClosedLoad(2)],
    )
    services = {c.route: c.services for c in scenario.cases()}
    assert services == {"/count/memory": (), "/count/redis": ("redis",)}
    with pytest.raises(UsageError, match="takes no parameter"):
        Workload("/count/redis", 3)


def test_a_version_3_record_reads_with_an_empty_counters_table(tmp_path: Path):
    w = record.RunWriter(tmp_path, "r3")
    w.start({"scenario": {"name": "t"}})
    meta = json.loads((w.path / "run.json").read_text())
    meta["schema_version"] = 3
    (w.path / "run.json").write_text(json.dumps(meta))
    (w.path / "counters.csv").unlink()
    run = record.load_run(w.path)
    assert run["counters"].empty and list(run["counters"].columns) == TABLE_COLUMNS["counters"]


# --- integration: the real redis-server and the real server ----------------------------------


@pytest.mark.integration
@needs_redis
def test_redis_starts_on_loopback_without_persistence_and_stops(tmp_path: Path):
    with RedisService(tmp_path) as r:
        pid = r.proc.pid
        assert r.command("CONFIG", "GET", "save") == ["save", ""]
        assert r.command("CONFIG", "GET", "appendonly") == ["appendonly", "no"]
        assert r.command("CONFIG", "GET", "dir") == ["dir", str(tmp_path)]
        assert r.command("CONFIG", "GET", "bind")[1].split() == ["127.0.0.1"]
        assert r.counter() == 0
        assert r.command("INCR", COUNTER_KEY) == 1 and r.counter() == 1
        assert [p.role for p in r.processes()] == ["redis"]
        # another user of the machine, without this case's password, can do nothing with it
        with pytest.raises(RunFailed, match="NOAUTH"):
            resp_command(r.port, "GET", COUNTER_KEY)
        with pytest.raises(RunFailed, match="NOAUTH"):
            resp_command(r.port, "CONFIG", "SET", "save", "60 1")
        assert (r.conf_path.stat().st_mode & 0o077) == 0  # the file holding the password is the owner's
    assert r.exit_code == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["redis.conf", "redis.log"]  # nothing saved


@pytest.mark.integration
@needs_redis
def test_a_taken_port_is_one_clear_environment_problem(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(EnvironmentProblem, match=f"port {s.getsockname()[1]} on 127.0.0.1 is taken"):
            RedisService(tmp_path, port=s.getsockname()[1])


def test_a_missing_redis_server_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HARNESS_REDIS_SERVER", "/nonexistent/redis-server")
    with pytest.raises(EnvironmentProblem) as info:
        find_redis_server()
    assert info.value.one_line() == "redis-server was not found (apt-get install redis-server)"


@pytest.mark.integration
def test_without_redis_the_redis_route_answers_503_with_the_reason(tmp_path: Path):
    with SingleServer(tmp_path) as s:
        status, _, body = get(s, "/count/redis")
        assert status == 503 and "no Redis configured" in json.loads(body)["error"]
        assert [get(s, "/count/memory")[0] for _ in range(3)] == [200, 200, 200]
        assert s.worker_metrics()[0]["counters"]["memory"] == 3


@pytest.mark.integration
@needs_redis
def test_cluster_workers_count_in_their_own_memory_and_together_in_redis(tmp_path: Path):
    with RedisService(tmp_path / "redis") as r:
        server = ClusterServer(tmp_path, workers=2)
        server.extra_env = r.environment()
        with server:
            answers = [json.loads(get(server, "/count/redis")[2]) for _ in range(6)]
            memory = [json.loads(get(server, "/count/memory")[2]) for _ in range(6)]
            per_worker = {m["worker_id"]: m["counters"]["memory"] for m in server.worker_metrics()}
        assert r.counter() == 6 and sorted(a["count"] for a in answers) == [1, 2, 3, 4, 5, 6]
        assert sum(per_worker.values()) == 6 and max(per_worker.values()) < 6  # new connections: both workers
        assert max(m["count"] for m in memory) < 6  # no answer from memory ever said 6


@pytest.mark.integration
@needs_redis
def test_a_server_that_cannot_reach_redis_fails_its_start_with_the_reason(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # bound, not listening: connections are refused
        server = SingleServer(tmp_path)
        server.extra_env = {"REDIS_URL": f"redis://127.0.0.1:{dead}"}
        with pytest.raises(RunFailed, match="cannot connect to Redis"):
            with server:
                pass


@pytest.mark.integration
@needs_redis
def test_the_quick_shared_state_run_shows_the_claim(results_dir: Path):
    """End to end: `harness run shared_state --quick` (one repetition of 2 s windows), then the
    outcome's shape."""
    proc = run_harness(
        "run",
        "shared_state",
        "--quick",
        "--duration-s",
        "2",
        "--repetitions",
        "1",
        "--run-id",
        "ss",
        "--no-report",  # the summary's sentences: summary_markdown
        results=results_dir,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    run = record.load_run(results_dir / "ss")
    assert run.meta["status"] == "complete" and run.meta["versions"]["redis"].startswith("Redis server v=")
    by = analysis.counter_results(run).set_index("condition")
    assert set(by.index) == {
        "single /count/memory u8",
        "single /count/redis u8",
        "cluster-rr-2w /count/memory u8",
        "cluster-rr-2w /count/redis u8",
    }
    for condition, r in by.iterrows():
        assert r["client_ok"] > 100 and r["client_failures"] == 0, condition
    # Redis counted exactly the requests the client saw succeed, in one process and in two
    for condition in ("single /count/redis u8", "cluster-rr-2w /count/redis u8"):
        assert by.loc[condition, "counted_total"] == by.loc[condition, "client_ok"], condition
    # one process: its memory is the whole count (the control)
    single = by.loc["single /count/memory u8"]
    assert single["counters"] == 1 and single["largest_count"] == single["client_ok"]
    # cluster: two counters that add up to the total, neither of which is the total
    cluster = by.loc["cluster-rr-2w /count/memory u8"]
    assert cluster["counters"] == 2 and cluster["counted_total"] == cluster["client_ok"]
    assert cluster["largest_count"] < cluster["client_ok"]
    summary = summary_markdown(results_dir / "ss")
    assert "no single process knows it" in summary and "Redis counted" in summary


@pytest.mark.slow
def test_a_run_that_needs_redis_where_there_is_none_stops_before_writing(results_dir: Path):
    proc = run_harness(
        "run",
        "shared_state",
        "--quick",
        results=results_dir,
        timeout=120,
        cwd=REPO,
        env={"HARNESS_REDIS_SERVER": "/nonexistent/redis-server"},
    )
    assert proc.returncode == 3
    assert (
        "error: the scenario needs redis, which cannot run here: redis-server was not found "
        "(apt-get install redis-server)"
    ) in proc.stderr
    assert not [p for p in results_dir.iterdir() if p.name != ".active"]
