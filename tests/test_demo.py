"""`harness demo`: a real server and Locust's real web UI, per-worker counts while it runs,
everything stopped at the end, on a timer or on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import start_harness

pytestmark = pytest.mark.integration


def demo(results: Path, *args: str) -> subprocess.Popen:
    return start_harness("demo", *args, results=results)


def test_demo_shows_each_workers_own_count_and_stops_on_its_timer(results_dir: Path):
    proc = demo(results_dir, "scheduling", "--server", "nginx-round-robin-4w", "--for-s", "6")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ui = re.search(r"Locust's web UI: (http://127\.0\.0\.1:\d+)", err)
    assert ui, err
    last = [line for line in err.splitlines() if re.match(r"\s*\d+ s\s+w\d=", line)][-1]
    counts = {w: int(n) for w, n in re.findall(r"w(\d+)=(\d+)", last)}
    assert set(counts) == {"1", "2", "3", "4"} and min(counts.values()) > 0, last
    assert not list((results_dir / ".active").glob("*.json")), "the ledger is closed"


def test_demo_serves_locust_ui_and_stops_everything_on_ctrl_c(results_dir: Path):
    proc = demo(results_dir, "event_loop", "--server", "pool-1t")
    url = None
    deadline = time.monotonic() + 60
    lines = []
    while url is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        m = re.search(r"Locust's web UI: (http://127\.0\.0\.1:\d+)", line)
        url = m.group(1) if m else None
    assert url, "".join(lines)
    with urllib.request.urlopen(url + "/", timeout=5) as page:
        assert page.status == 200 and b"ocust" in page.read()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130


def test_demo_names_the_servers_it_has(results_dir: Path):
    proc = demo(results_dir, "scheduling", "--server", "nope")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "has no server 'nope'" in err and "cluster-rr-4w" in err and "Traceback" not in err


def _lines_until(proc: subprocess.Popen, pattern: str, timeout_s: float = 90) -> tuple[re.Match | None, str]:
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m, "".join(seen)
    return None, "".join(seen)


def test_demo_runs_the_node_and_load_it_names(results_dir: Path):
    """reuseport-4w-node22.12.0 with a new connection per request: the server's own /metrics
    say Node 22.12.0 and reuseport, and each worker's rate is shown per second."""
    proc = demo(
        results_dir, "scheduling", "--server", "reuseport-4w-node22.12.0", "--load", "u2-close", "--for-s", "30"
    )
    try:
        m, seen = _lines_until(proc, r"it listens at (http://127\.0\.0\.1:\d+)")
        assert m, seen
        with urllib.request.urlopen(m.group(1) + "/metrics", timeout=5) as page:
            report = json.loads(page.read())
        assert report["node_version"] == "v22.12.0" and report["mode"] == "reuseport", report
        assert "a new connection for every request" in seen and "Node 22.12.0" in seen
        rate, seen2 = _lines_until(proc, r"w1=\d+ \(\d+%\) \d+/s\s+w2=\d+ \(\d+%\) (\d+)/s")
        assert rate, seen + seen2
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert not list((results_dir / ".active").glob("*.json")), "the ledger is closed"


def test_demo_list_names_every_server_and_load(results_dir: Path):
    proc = demo(results_dir, "scheduling", "--list")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    text = out + err
    for label in ("cluster-rr-4w-node22.12.0", "cluster-none-4w-node22.12.0", "reuseport-4w-node22.12.0", "u2-close"):
        assert label in text, text
    assert "harness demo scheduling --server cluster-none-4w-node22.12.0 --work '/hello' --load u2-close" in text


def test_demo_refuses_a_web_host_off_loopback_unless_asked(results_dir: Path):
    proc = demo(results_dir, "scheduling", "--web-host", "0.0.0.0", "--for-s", "1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--allow-remote" in err and "Traceback" not in err
