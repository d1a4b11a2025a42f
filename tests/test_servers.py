"""Integration: the real reference server in each mode, started and stopped by the harness."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path

import psutil
import pytest
from helpers import get, wait_until

from harness.errors import EnvironmentProblem
from harness.servers.base import http_get
from harness.servers.node import ClusterServer, SingleServer

pytestmark = pytest.mark.integration


def test_single_answers_every_route_and_names_itself(tmp_path: Path):
    with SingleServer(tmp_path) as s:
        for path in ("/hello", "/cpu?work=2", "/pbkdf2?iterations=100", "/io?ms=1", "/json?items=3"):
            status, headers, _ = get(s, path)
            assert status == 200, path
            assert headers["x-worker-id"] == "0"
            assert headers["x-pid"] == str(s.proc.pid)
        metrics = s.worker_metrics()[0]
        assert metrics["requests_by_route"]["/cpu"] == 1
        assert metrics["pid"] == s.proc.pid
        assert {"p50", "p99", "max"} <= set(metrics["event_loop_delay_ms"])
        assert 0 <= metrics["event_loop_utilization"] <= 1
        assert [p.role for p in s.processes()] == ["worker"]
        assert s.host == "127.0.0.1"
        assert all(
            c.laddr.ip == "127.0.0.1"
            for c in psutil.Process(s.proc.pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN
        )
    assert s.exit_code == 0  # drained and exited on SIGTERM


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/cpu?work=abc", "work must be a whole number"),
        ("/cpu?work=0", "work must be from 1"),
        ("/io?ms=-5", "ms must be a whole number"),
        ("/pbkdf2?iterations=99999999999", "iterations must be a whole number"),
        ("/json?items=1e9", "items must be a whole number"),
    ],
)
def test_bad_query_values_get_400_and_the_worker_survives(tmp_path: Path, path, reason):
    with SingleServer(tmp_path) as s:
        status, _, body = get(s, path)
        assert status == 400
        assert reason in body.decode()
        assert get(s, "/hello")[0] == 200
        assert s.proc.poll() is None


def test_unknown_route_is_404(tmp_path: Path):
    with SingleServer(tmp_path) as s:
        status, headers, _ = get(s, "/nope")
        assert status == 404 and headers["x-worker-id"] == "0"


@pytest.mark.parametrize("workers", [2, 3])
def test_cluster_answers_from_n_distinct_workers(tmp_path: Path, workers: int):
    with ClusterServer(tmp_path, workers=workers, schedule="rr") as s:
        seen = {}
        for _ in range(workers * 6):
            status, headers, _ = get(s, "/hello")
            assert status == 200
            seen[headers["x-worker-id"]] = headers["x-pid"]
        assert len(seen) == workers
        roles = s.processes()
        assert [p.role for p in roles].count("primary") == 1
        assert {str(p.pid) for p in roles if p.role == "worker"} == set(seen.values())
        assert {m["worker_id"] for m in s.worker_metrics()} == set(seen)


def test_cluster_with_os_scheduling_serves(tmp_path: Path):
    with ClusterServer(tmp_path, workers=2, schedule="none") as s:
        assert get(s, "/cpu?work=1")[0] == 200
        assert len(s.worker_metrics()) == 2


def test_killed_worker_is_replaced(tmp_path: Path):
    with ClusterServer(tmp_path, workers=2) as s:
        victim = next(p.pid for p in s.processes() if p.role == "worker")
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            pids = {p.pid for p in s.processes() if p.role == "worker"}
            return len(pids) == 2 and victim not in pids and s.is_ready()

        assert wait_until(replaced, timeout_s=15)
        pids = {str(m["pid"]) for m in s.worker_metrics()}
        assert str(victim) not in pids and len(pids) == 2
        assert "worker-exit" in s.log_tail() and "refork" in s.log_tail()


def test_sigterm_drains_in_flight_requests(tmp_path: Path):
    with ClusterServer(tmp_path, workers=2, shutdown_timeout_s=5) as s:
        result = {}

        def slow() -> None:
            result["status"] = get(s, "/io?ms=1500")[0]

        t = threading.Thread(target=slow)
        t.start()
        assert wait_until(lambda: sum(m["in_flight"] for m in s.worker_metrics()) == 1, timeout_s=5)
        code = s.stop()
        t.join(timeout=10)
    assert result.get("status") == 200  # the request in flight was answered before the exit
    assert code == 0


def test_force_exit_after_the_shutdown_timeout(tmp_path: Path):
    with SingleServer(tmp_path, shutdown_timeout_s=0.5) as s:
        t = threading.Thread(target=lambda: get_quiet(s, "/io?ms=20000"), daemon=True)
        t.start()
        assert wait_until(lambda: s.worker_metrics()[0]["in_flight"] == 1, timeout_s=5)
        code = s.stop()
    assert code == 1  # the server gave up draining and exited on its own timeout
    assert "force-exit" in s.log_tail()


def get_quiet(server, path: str) -> None:
    try:
        get(server, path)
    except OSError:
        pass


def test_taken_port_is_one_clear_error(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match=f"port {port} on 127.0.0.1 is taken"):
            SingleServer(tmp_path, port=port)


def test_node_missing_is_one_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HARNESS_NODE", str(tmp_path / "no-node"))
    with pytest.raises(EnvironmentProblem, match="node was not found"):
        SingleServer(tmp_path)


def test_status_of_admin_ready_before_and_after(tmp_path: Path):
    with ClusterServer(tmp_path, workers=2) as s:
        status, body = http_get(s.host, s.admin_port, "/ready")
        assert status == 200 and b'"listening":2' in body


def test_cluster_reports_a_forced_drain_in_its_exit_code(tmp_path: Path):
    with ClusterServer(tmp_path, workers=2, shutdown_timeout_s=0.5) as s:
        t = threading.Thread(target=lambda: get_quiet(s, "/io?ms=20000"), daemon=True)
        t.start()
        assert wait_until(lambda: sum(m["in_flight"] for m in s.worker_metrics()) == 1, timeout_s=5)
        code = s.stop()
    assert code == 1
    assert '"forced_workers":1' in s.log_tail()


def test_a_server_that_died_is_a_run_failure_not_a_traceback(tmp_path: Path):
    from harness.errors import RunFailed

    with SingleServer(tmp_path) as s:
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait()
        with pytest.raises(RunFailed, match="did not answer GET /metrics.*it exited"):
            s.worker_metrics()


def _raw(server, payload: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


@pytest.mark.parametrize(
    "payload, status",
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
        (b"GET /cpu?work=%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"400"),
        (b"GET /hello HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
    ],
)
def test_malformed_requests_do_not_hurt_the_worker(tmp_path: Path, payload: bytes, status: bytes):
    with ClusterServer(tmp_path, workers=2) as s:
        pids = {p.pid for p in s.processes()}
        answer = _raw(s, payload)
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:80]
        assert get(s, "/hello")[0] == 200
        assert {p.pid for p in s.processes()} == pids  # no worker died or was replaced


def test_slow_clients_do_not_block_the_others(tmp_path: Path):
    with SingleServer(tmp_path) as s:
        slow = []
        for _ in range(50):  # slowloris: connections that never finish their headers
            sock = socket.create_connection((s.host, s.port), timeout=5)
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        try:
            for _ in range(20):
                assert get(s, "/hello")[0] == 200
            assert s.proc.poll() is None
        finally:
            for sock in slow:
                sock.close()


def test_a_crash_loop_backs_off(tmp_path: Path):
    """Kill every new worker as soon as it appears: the primary waits longer each time."""
    import json as _json

    with ClusterServer(tmp_path, workers=1) as s:
        killed: set[int] = set()
        for _ in range(4):

            def new_worker() -> int | None:
                pids = [p.pid for p in s.processes() if p.role == "worker" and p.pid not in killed]
                return pids[0] if pids else None

            assert wait_until(lambda: new_worker() is not None, timeout_s=10)
            pid = new_worker()
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)

        def reforks() -> list[dict]:
            return [
                e
                for e in map(_json.loads, (line for line in s.log_tail(20000).splitlines() if line.startswith("{")))
                if e.get("event") == "refork"
            ]

        assert wait_until(lambda: len(reforks()) == 4, timeout_s=10)
        delays = [e["delay_ms"] for e in reforks()]
        # the first worker may have lived over 2 s; every later one died young and doubled the wait
        assert delays[-1] > delays[-2] > delays[-3] > 0
        assert delays[-1] == 2 * delays[-2] == 4 * delays[-3]


def test_metrics_does_not_count_itself_in_flight(tmp_path: Path):
    with SingleServer(tmp_path) as s:
        assert s.worker_metrics()[0]["in_flight"] == 0
        t = threading.Thread(target=lambda: get_quiet(s, "/io?ms=3000"), daemon=True)
        t.start()
        assert wait_until(lambda: s.worker_metrics()[0]["in_flight"] == 1, timeout_s=5)
