"""`harness demo`: a real server and Locust's real web UI, per-worker counts while it runs,
everything stopped at the end, on a timer or on Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def demo(results: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "--results", str(results), "demo", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_demo_shows_each_workers_own_count_and_stops_on_its_timer(results_dir: Path):
    proc = demo(results_dir, "scheduling", "--server", "nginx-round-robin-2w", "--for-s", "6")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ui = re.search(r"Locust's web UI: (http://127\.0\.0\.1:\d+)", err)
    assert ui, err
    last = [line for line in err.splitlines() if re.match(r"\s*\d+ s\s+w\d=", line)][-1]
    counts = {w: int(n) for w, n in re.findall(r"w(\d+)=(\d+)", last)}
    assert set(counts) == {"1", "2"} and min(counts.values()) > 0, last
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
    assert "has no server 'nope'" in err and "cluster-rr-2w" in err and "Traceback" not in err
