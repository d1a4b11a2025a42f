"""`pip install` of a wheel into a fresh venv outside the repository gives a working `harness`:
the reference server and the scenarios come as package data, npm ci runs into a cache on first
use, and `harness run smoke --quick` runs end to end. About 2 minutes here (PyPI downloads,
npm ci, 4 short cases); needs the network the first time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_wheel_installed_outside_the_repo_runs_smoke(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
                   check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/_data/server/index.js" in names and "harness/_data/scenarios/smoke.py" in names
    assert not any("node_modules" in n for n in names)
    # nothing of the checkout may leak in: no PYTHONPATH (it would show pip the tree's egg-info)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_RESULTS", "HARNESS_SERVER_DIR",
                                                               "HARNESS_SCENARIOS_DIR", "VIRTUAL_ENV")}
    env["HARNESS_CACHE"] = str(tmp_path / "cache")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, cwd=tmp_path, env=env)
    harness = str(venv / "bin" / "harness")
    assert subprocess.run([harness, "--version"], capture_output=True, text=True, env=env,
                          cwd=tmp_path).stdout.startswith("harness ")
    done = subprocess.run([harness, "run", "smoke", "--quick", "--results", str(tmp_path / "x")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "installing the reference server's npm dependencies" in done.stderr
    (run,) = (p.parent for p in (tmp_path / "x").glob("*/run.json"))
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert len(summary["runs"][0]["conditions"]) == 2
    assert list((tmp_path / "cache").glob("server-*/node_modules/pm2"))
