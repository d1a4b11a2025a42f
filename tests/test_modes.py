"""Integration: the modes pool, spawn-per-request, nginx and pm2, started for real behind
the one Server interface, each checked for what it promises. Every test also fails if it
leaves a node, nginx or PM2 process behind (conftest)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import psutil
import pytest
from helpers import get, wait_until

from harness import modes
from harness.errors import EnvironmentProblem, HarnessError, RunFailed, UsageError
from harness.scenario import ServerSpec
from harness.servers import make_server
from harness.servers.base import Server
from harness.servers.nginx import NginxServer, find_nginx, render_config
from harness.servers.pm2 import Pm2Server
from harness.servers.pool import PoolServer, SpawnPerRequestServer

pytestmark = pytest.mark.integration


def concurrently(server, path: str, n: int) -> list[tuple[int, dict[str, str], bytes]]:
    """n requests at once, each on its own connection, released together."""
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        results[i] = get(server, path)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def gone(pids: list[int]) -> bool:
    def dead(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return all(dead(p) for p in pids)


def test_every_mode_has_a_server_class():
    for mode in modes.all_modes():
        assert issubclass(mode.server_class(), Server), mode.name
        assert mode.server_class().mode == mode.name


# --- pool ---------------------------------------------------------------------------------
def test_pool_runs_cpu_on_its_threads_in_one_process(tmp_path: Path):
    with PoolServer(tmp_path, threads=2) as s:
        seen: set[str] = set()

        def both_threads_answered() -> bool:
            for status, headers, _ in concurrently(s, "/cpu?work=20", 4):
                assert status == 200
                assert headers["x-pid"] == str(s.proc.pid) and headers["x-worker-id"] == "0"
                seen.add(headers["x-thread-id"])
            return len(seen) >= 2

        assert wait_until(both_threads_answered, timeout_s=10)
        assert len(seen) == 2  # exactly the pool's threads, never a third
        # every other route runs on the event loop, as in single mode
        for path in ("/hello", "/pbkdf2?iterations=100", "/io?ms=1", "/json?items=3"):
            status, headers, _ = get(s, path)
            assert status == 200 and "x-thread-id" not in headers, path
        assert get(s, "/cpu?work=0")[0] == 400
        pool = s.worker_metrics()[0]["pool"]
        assert pool["threads"] == 2 and sorted(map(str, pool["thread_ids"])) == sorted(seen)
        assert pool["completed"] >= 4 and pool["queue_size"] == 0 and pool["queue_limit"] is None
        assert "utilization" in pool
        assert [p.role for p in s.processes()] == ["worker"]
    assert s.exit_code == 0


def test_pool_with_a_full_queue_answers_503_with_the_reason(tmp_path: Path):
    with PoolServer(tmp_path, threads=1, queue_limit=0) as s:
        statuses: list[int] = []

        def one_refused() -> bool:
            results = concurrently(s, "/cpu?work=100", 4)
            statuses.extend(r[0] for r in results)
            refused = [r for r in results if r[0] == 503]
            for _, _, body in refused:
                assert b"queue is full (queue_limit 0)" in body
            return bool(refused)

        assert wait_until(one_refused, timeout_s=10)
        assert 200 in statuses
        assert s.worker_metrics()[0]["pool"]["rejected_queue_full"] >= 1


def test_pool_refuses_bad_values(tmp_path: Path):
    for kwargs in ({"threads": 0}, {"threads": "2"}, {"threads": True}, {"queue_limit": -1}):
        with pytest.raises(UsageError):
            PoolServer(tmp_path, **kwargs)


# --- spawn-per-request -------------------------------------------------------------------
def test_spawn_per_request_starts_a_new_thread_for_each_request(tmp_path: Path):
    with SpawnPerRequestServer(tmp_path) as s:
        ids = []
        for _ in range(5):
            status, headers, body = get(s, "/cpu?work=2")
            assert status == 200 and headers["x-pid"] == str(s.proc.pid)
            ids.append(int(headers["x-thread-id"]))
        assert len(set(ids)) == 5 and ids == sorted(ids)  # never reused
        with PoolServer(tmp_path / "pool", threads=1) as pool:  # the same burn() as the pool
            assert get(pool, "/cpu?work=2")[2] == body
        assert wait_until(lambda: s.worker_metrics()[0]["spawn"]["live_threads"] == 0, timeout_s=5)
        spawn = s.worker_metrics()[0]["spawn"]
        assert spawn["spawned"] == 5 and spawn["completed"] == 5


# --- nginx --------------------------------------------------------------------------------
@pytest.mark.parametrize("balance", ["round_robin", "least_conn"])
def test_nginx_spreads_requests_over_every_backend(tmp_path: Path, balance: str):
    with NginxServer(tmp_path, workers=2, balance=balance) as s:
        seen = {}
        for _ in range(8):
            status, headers, _ = get(s, "/hello")
            assert status == 200
            seen[headers["x-worker-id"]] = headers["x-pid"]
        assert set(seen) == {"1", "2"}
        roles = s.processes()
        proxies = [p.pid for p in roles if p.role == "proxy"]
        workers = {str(p.pid) for p in roles if p.role == "worker"}
        assert s.proc.pid in proxies and len(proxies) == 2  # master and its one worker process
        assert workers == set(seen.values())
        assert {m["worker_id"] for m in s.worker_metrics()} == {"1", "2"}
        # nginx listens on loopback only
        listening = [
            c.laddr for c in psutil.Process(s.proc.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN
        ]
        assert listening and all(a.ip == "127.0.0.1" for a in listening)
        pids = [p.pid for p in roles]
    assert s.exit_code == 0
    assert gone(pids)
    conf = (tmp_path / "nginx.conf").read_text()
    for line in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "keepalive 1024;",
        f"listen 127.0.0.1:{s.port};",
        "worker_processes 1;",
    ):
        assert line in conf
    assert ("least_conn;" in conf) == (balance == "least_conn")
    directives = [line.split("#")[0].strip() for line in conf.splitlines()]
    assert not [d for d in directives if d.startswith(("user ", "daemon "))]  # no user switch; daemon off via -g
    access = (tmp_path / "nginx-access.log").read_text()
    assert access.count("GET /hello") == 8 and (tmp_path / "nginx-error.log").exists()
    assert not (tmp_path / "nginx" / "nginx.pid").exists()  # removed by nginx on a clean exit


def test_nginx_command_has_no_shell_and_stays_in_the_case_folder(tmp_path: Path):
    s = NginxServer(tmp_path, workers=1)
    argv = s.command()
    assert argv[0] == find_nginx() and argv[-2:] == ["-g", "daemon off;"]
    assert all(
        str(tmp_path) in a for a in (argv[argv.index("-p") + 1], argv[argv.index("-c") + 1], argv[argv.index("-e") + 1])
    )
    conf = s.render()
    paths = [
        line.split('"')[1]
        for line in conf.splitlines()
        if line.strip().split(" ")[0].endswith(("_path", "log", "pid")) and '"' in line
    ]
    assert paths and all(p.startswith(str(tmp_path)) for p in paths)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"listen_port": 0}, "not a port"),
        ({"listen_port": 70000}, "not a port"),
        ({"listen_port": "8080"}, "not a port"),
        ({"listen_port": True}, "not a port"),
        ({"backend_ports": [3000, "3001; evil"]}, "not a port"),
        ({"backend_ports": []}, "at least one backend"),
        ({"balance": "ip_hash"}, "unknown balance"),
        ({"balance": "least_conn; user root"}, "unknown balance"),
        ({"prefix": Path("/tmp/a;b")}, "cannot go into the nginx config"),
        ({"prefix": Path("/tmp/a{b}")}, "cannot go into the nginx config"),
        ({"log_dir": Path("/tmp/a\nuser root")}, "cannot go into the nginx config"),
        ({"log_dir": Path("/tmp/$host")}, "cannot go into the nginx config"),
        ({"log_dir": Path('/tmp/a"b')}, "cannot go into the nginx config"),
        ({"log_dir": Path("relative")}, "cannot go into the nginx config"),
    ],
)
def test_nginx_config_refuses_bad_values(tmp_path: Path, change: dict, match: str):
    values = {
        "listen_port": 8080,
        "backend_ports": [3000, 3001],
        "balance": "round_robin",
        "prefix": tmp_path / "nginx",
        "log_dir": tmp_path,
    }
    render_config(**values)  # the good values render
    with pytest.raises(UsageError, match=match):
        render_config(**{**values, **change})


def test_nginx_server_refuses_bad_values_before_starting_anything(tmp_path: Path):
    for kwargs in ({"balance": "random"}, {"workers": 0}, {"workers": "2"}):
        with pytest.raises(UsageError):
            NginxServer(tmp_path, **kwargs)
    bad = tmp_path / "a;b"
    with pytest.raises(UsageError, match="cannot go into the nginx config"):
        NginxServer(bad, workers=1)
    assert not bad.exists()


def test_nginx_that_cannot_start_stops_the_backends_it_started(tmp_path: Path):
    s = NginxServer(tmp_path, workers=2)
    with socket.socket() as sock:  # take nginx's port after the harness chose it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((s.host, s.port))
        sock.listen()
        with pytest.raises(HarnessError, match=r"nginx exited with code 1 before it was ready: nginx: \[emerg\].*bind"):
            with s:
                pass
    assert len(s.backends) == 2 and all(b.poll() is not None for b in s.backends)


def test_nginx_missing_is_one_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HARNESS_NGINX", str(tmp_path / "no-nginx"))
    assert "nginx was not found (apt-get install nginx)" in NginxServer.missing()
    with pytest.raises(EnvironmentProblem, match="nginx was not found"):
        NginxServer(tmp_path)


# --- pm2 ----------------------------------------------------------------------------------
def test_pm2_cluster_reload_restart_and_a_private_pm2_home(tmp_path: Path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # PM2 would use $HOME/.pm2 without PM2_HOME
    monkeypatch.setenv("PM2_HOME", str(home / ".pm2"))  # and a user's own PM2_HOME is not ours either
    log_dir = tmp_path / "case"

    def answering() -> dict[str, str]:
        seen = {}
        for _ in range(8):
            status, headers, _ = get(s, "/hello")
            assert status == 200
            seen[headers["x-worker-id"]] = headers["x-pid"]
        return seen

    with Pm2Server(log_dir, workers=2) as s:
        seen = answering()
        assert set(seen) == {"1", "2"}
        roles = s.processes()
        assert [p.role for p in roles].count("pm2-daemon") == 1
        assert next(p.pid for p in roles if p.role == "pm2-daemon") == s.proc.pid
        assert {str(p.pid) for p in roles if p.role == "worker"} == set(seen.values())
        assert {m["worker_id"] for m in s.worker_metrics()} == {"1", "2"}
        assert (s.home / "rpc.sock").exists() and len(str(s.home / "rpc.sock")) < 100
        assert not s.home.is_relative_to(log_dir)  # a short private folder, whatever the results path

        s.reload()
        after_reload = answering()
        assert set(after_reload) == {"1", "2"} and not set(after_reload.values()) & set(seen.values())
        s.restart()
        after_restart = answering()
        assert set(after_restart) == {"1", "2"} and not set(after_restart.values()) & set(after_reload.values())
        assert len([p for p in s.processes() if p.role == "worker"]) == 2
        pids = [p.pid for p in s.processes()]
        home = s.home
    assert s.exit_code == 0
    assert not home.exists()  # PM2_HOME removed with the server
    assert gone(pids)
    assert not (home / ".pm2").exists()
    assert "pm2 reload" not in s.log_tail()  # the CLI's output is in pm2-cli.log, not the server log
    assert "exited with code [0] via signal [SIGINT]" in s.log_tail(20000)  # instances stopped the PM2 way


def test_pm2_whose_instances_cannot_listen_fails_with_the_reason(tmp_path: Path):
    s = Pm2Server(tmp_path, workers=2)
    with socket.socket() as sock:
        sock.bind((s.host, s.port))
        sock.listen()
        with pytest.raises(HarnessError, match=f"port {s.port} is taken|unstable restarts"):
            with s:
                pass
    assert s.proc is not None and s.proc.poll() is not None


def test_pm2_cli_needs_a_running_daemon(tmp_path: Path):
    s = Pm2Server(tmp_path, workers=1)
    with pytest.raises(RunFailed, match="daemon is not running"):
        s.reload()


def test_pm2_missing_is_one_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HARNESS_SERVER_DIR", str(tmp_path))
    assert any("run `make setup` (npm ci in server/)" in m for m in Pm2Server.missing())
    with pytest.raises(EnvironmentProblem, match="make setup"):
        Pm2Server(tmp_path)


def test_pm2_refuses_bad_workers(tmp_path: Path):
    with pytest.raises(UsageError):
        Pm2Server(tmp_path, workers=0)


# --- every mode ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [m.name for m in modes.all_modes() if m.starts_server])  # external: no process of ours
def test_uv_threadpool_size_reaches_every_node_process(tmp_path: Path, mode: str):
    node = None
    if mode == "reuseport":  # needs Node 22.12+, fetched from the npm registry
        from harness import nodes

        try:
            node = str(nodes.ensure_node("22.12.0"))
        except EnvironmentProblem as exc:
            pytest.skip(f"Node 22.12.0 is not cached and the npm registry is out of reach: {exc.one_line()}")
    spec = ServerSpec(
        mode, workers=1 if mode in ("single", "pool", "spawn-per-request") else 2, threads=2, uv_threadpool_size=2
    )
    case = _cases(spec)[0]
    with make_server(case, tmp_path, node=node) as s:
        metrics = s.worker_metrics()
        assert len(metrics) == case.workers
        assert all(m["uv_threadpool_size"] == "2" for m in metrics)
        assert get(s, "/pbkdf2?iterations=100")[0] == 200
        node_pids = [p.pid for p in s.processes() if p.role in ("worker", "primary")]
        for pid in node_pids:
            assert psutil.Process(pid).environ().get("UV_THREADPOOL_SIZE") == "2"


def _cases(spec: ServerSpec):
    from harness.scenario import ClosedLoad, Scenario, Workload

    return Scenario(
        name="t", description="", servers=[spec], workloads=[Workload("/hello")], loads=[ClosedLoad(1)], repetitions=1
    ).cases()
