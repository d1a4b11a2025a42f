"""Shared fixtures. Integration tests start real processes; every one of them is checked
for leftovers: after the test no node server or Locust process it started may remain."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent


def harness_processes() -> dict[int, str]:
    """Live processes that look like ours: the reference server or a Locust run of the harness."""
    found = {}
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if ("index.js" in cmd and "--mode" in cmd) or "harness/load/locustfile.py" in cmd:
            found[p.info["pid"]] = cmd
    return found


def wait_until(predicate, timeout_s: float = 10.0, interval_s: float = 0.05) -> bool:
    """Poll predicate until true or timeout (a readiness check, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


@pytest.fixture(autouse=True)
def no_leftover_processes(request):
    """Fail an integration test that leaves a server or Locust process behind."""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    before = set(harness_processes())
    yield
    def new() -> dict[int, str]:
        return {pid: cmd for pid, cmd in harness_processes().items() if pid not in before}
    wait_until(lambda: not new(), timeout_s=3.0)
    left = new()
    for pid in left:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    assert not left, f"processes left behind: {left}"


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    return d
