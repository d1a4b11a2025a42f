"""Integration: an external target (`--target URL`): a server the test starts itself,
outside the harness. Nothing is started, stopped or sampled server-side; the record and
the report say which figures are missing and why. Bad targets are one line each."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import run_harness, summary_markdown, wait_until

from harness.record import load_run
from harness.servers.base import find_node, free_port, http_get, server_dir

pytestmark = pytest.mark.integration


def harness(results: Path, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
    return run_harness(
        "run",
        "default",
        "--run-id",
        "r",
        "--duration-s",
        "3",
        "--warmup-s",
        "1",
        "--repetitions",
        "1",
        "--no-report",  # the summary's sentences: summary_markdown
        *args,
        results=results,
        timeout=timeout_s,
    )


@pytest.fixture
def reference_server(tmp_path: Path) -> Iterator[int]:
    """The reference server, started by the test (not by the harness): its port."""
    port = free_port()
    with open(tmp_path / "outside.log", "wb") as log:
        proc = subprocess.Popen(
            [find_node(), "index.js", "--mode", "single", "--port", str(port)],
            cwd=server_dir(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def up() -> bool:
            try:
                return http_get("127.0.0.1", port, "/healthz")[0] == 200
            except OSError:
                return False

        assert wait_until(up, timeout_s=15)
        yield port
        assert proc.poll() is None, "the harness stopped a server it did not start"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


class _Plain(BaseHTTPRequestHandler):
    """A server with no /metrics and no x-worker-id: what most external targets are."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"plain\n" if self.path == "/" else b"not here\n"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_external_target_with_metrics(tmp_path: Path, reference_server: int):
    out = harness(tmp_path, "--target", f"http://127.0.0.1:{reference_server}", "--path", "/cpu?work=5")
    assert out.returncode == 0, out.stderr
    run = load_run(tmp_path / "r")
    case = run.meta["cases"][0]
    assert case["status"] == "complete" and case["mode"] == "external"
    assert case["target_url"] == f"http://127.0.0.1:{reference_server}" and case["path"] == "/cpu?work=5"
    assert set(run["samples"]["role"]) <= {"generator", "machine"}  # no server process was sampled
    # its /metrics answered: the server's own counts are there, and agree with the client's
    served = run["server_metrics"].set_index("snapshot")["requests_route"]
    client = int(run["workers"]["requests"].sum())
    assert 0 < served["after"] - served["before"] and abs(served["after"] - served["before"] - client) <= 8
    assert len(case["missing_figures"]) == 1 and "was not started by the harness" in case["missing_figures"][0]
    summary = summary_markdown(tmp_path / "r")
    assert "Not measured for external /cpu?work=5 u8: CPU, memory and threads of the server" in summary


def test_external_target_without_metrics_says_what_is_missing(tmp_path: Path, plain_server: int):
    out = harness(tmp_path, "--target", f"http://localhost:{plain_server}", "--users", "2")
    assert out.returncode == 0, out.stderr
    run = load_run(tmp_path / "r")
    case = run.meta["cases"][0]
    assert run["server_metrics"].empty and int(run["endpoints"]["requests"].sum()) > 0
    missing = " | ".join(case["missing_figures"])
    assert "GET /metrics answered 404" in missing and "x-worker-id" in missing
    summary = summary_markdown(tmp_path / "r")
    assert "client and server counts agree: GET /metrics answered 404" in summary
    assert "client and server request counts differ" not in summary  # nothing to compare is not a mismatch


@pytest.mark.parametrize(
    "target, code, message",
    [
        ("http://192.0.2.1:80", 2, "--target host 192.0.2.1 is not a loopback address (add --allow-remote"),
        ("ftp://127.0.0.1", 2, "is not an http(s) URL with a host"),
        ("http://127.0.0.1:1/x", 2, "has a path, query or credentials"),
        ("unreachable", 3, "cannot reach --target"),
    ],
)
def test_bad_targets_are_one_line_and_write_nothing(tmp_path: Path, target: str, code: int, message: str):
    if target == "unreachable":
        target = f"http://127.0.0.1:{free_port()}"
    out = harness(tmp_path / "results", "--target", target, timeout_s=60)
    assert out.returncode == code and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "results").exists()
