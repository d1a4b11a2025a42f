"""The command line before and during a run (issue 20): `harness plan` and `run --dry-run`
list every case with its minutes, `doctor SCENARIO` checks only what that scenario needs,
`list` says minutes, and the progress display's phases and time left, on a fake clock."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, run_harness
from rich.console import Console

from harness import scenario as scenario_mod
from harness.cli import main
from harness.terminal import RichProgress

pytestmark = pytest.mark.slow  # the CLI in a subprocess: make test runs them, make test-unit does not


def _harness(*args: str, env: dict[str, str] | None = None, results: Path | None = None) -> subprocess.CompletedProcess:
    return run_harness(*args, results=results, timeout=120, env=env, cwd=REPO)


def test_plan_lists_every_case_in_order_with_its_minutes_and_the_total():
    scen = scenario_mod.load("smoke")
    cases = scen.cases()
    out = _harness("plan", "smoke")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if re.search(r"\d{3}-", line)]
    assert [re.search(r"(\d{3}-\S+)", r).group(1) for r in rows] == [c.case_id for c in cases]
    for row, case in zip(rows, cases):
        assert f"{case.expected_s / 60:.1f}" in row
        assert f"{case.warmup_s:g} + {case.duration_s:g}" in row
    total = sum(c.expected_s for c in cases)
    assert total == sum(c.warmup_s + c.duration_s + scenario_mod.CASE_OVERHEAD_S for c in cases)
    assert f"{len(cases)} cases, about {total / 60:.1f} min" in out.stdout


def test_plan_quick_and_run_dry_run_agree_and_start_nothing(tmp_path: Path):
    quick = scenario_mod.load("default").quick_variant().cases()
    plan = _harness("plan", "default", "--quick")
    dry = _harness("run", "default", "--quick", "--dry-run", results=tmp_path / "results")
    assert plan.returncode == 0 and dry.returncode == 0, dry.stderr
    assert f"{len(quick)} cases, about {sum(c.expected_s for c in quick) / 60:.1f} min" in plan.stdout
    assert plan.stdout == dry.stdout
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_doctor_scenario_exits_0_when_its_modes_are_here_even_if_others_are_not(tmp_path: Path):
    no_nginx = {"HARNESS_NGINX": str(tmp_path / "no-nginx")}
    out = _harness("doctor", "smoke", env=no_nginx, results=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "everything smoke needs is here" in out.stdout and "nginx" not in out.stdout
    # the scenario that needs nginx: 3, naming it
    out = _harness("doctor", "modes", env=no_nginx, results=tmp_path)
    assert out.returncode == 3
    assert "modes cannot run here" in out.stdout and "nginx" in out.stdout.split("cannot run here")[1]


def test_doctor_scenario_names_a_missing_node(tmp_path: Path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "HARNESS_NODE": ""}
    out = _harness("doctor", "smoke", env=env, results=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    tail = out.stdout.replace("\n", " ").split("cannot run here", 1)[1]
    assert "node was not found" in tail


def test_list_gives_minutes_and_list_and_baseline_have_help(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "about min" in text
    smoke = scenario_mod.load("smoke")
    full = sum(c.expected_s for c in smoke.cases()) / 60
    assert re.search(rf"smoke\s.*\b{full:.0f} \(", text)
    for command in ("list", "baseline", "plan", "doctor"):
        out = _harness(command, "--help")
        assert out.returncode == 0
        description = out.stdout.split("\n\n")[1]
        assert len(description.split()) > 8, (command, description)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_shows_each_phase_and_the_time_left_on_a_fake_clock():
    cases = scenario_mod.load("smoke").quick_variant().cases()  # 3 s warm-up + 5 s measured each
    plan = [c.expected_s for c in cases]
    clock = FakeClock()
    progress = RichProgress(plan, clock=clock, out=Console(file=io.StringIO(), width=200))
    overhead = scenario_mod.CASE_OVERHEAD_S
    progress.case_started(cases[0], 1, len(cases), plan[0])
    progress.case_phase("starting")
    assert progress.phase() == "starting"
    assert progress.case_left_s() == 8 + overhead
    assert progress.run_left_s() == sum(plan)
    clock.now += 1.5
    progress.case_phase("load")  # the server answered; Locust starts
    assert progress.phase() == "warm-up"
    clock.now += 2.0
    assert progress.phase() == "warm-up" and progress.case_left_s() == 6 + 2
    clock.now += 2.0  # 4 s into the load: past the 3 s warm-up
    assert progress.phase() == "measuring"
    assert progress.case_left_s() == 4 + 2 and progress.run_left_s() == 6 + sum(plan[1:])
    assert "measuring" in progress.status() and "case 0:06 left" in progress.status()
    assert f"run {int(6 + sum(plan[1:])) // 60}:{int(6 + sum(plan[1:])) % 60:02d} left" in progress.status()
    clock.now += 5.0
    progress.case_phase("stopping")
    assert progress.phase() == "stopping"
    assert progress.case_left_s() == max(0.0, plan[0] - 10.5)
    progress.case_finished(cases[0], "done")
    progress.case_started(cases[1], 2, len(cases), plan[1])
    assert progress.phase() == "starting" and progress.run_left_s() == sum(plan[1:])


def test_a_description_the_command_line_made_untrue_says_so(tmp_path: Path):
    """Seen: `run default --app app.js` printed '... on CPU-bound /cpu' while its cases asked
    for /; `run app --modes single,cluster` printed 'in single, cluster, nginx and pm2 modes'."""
    app = REPO / "examples" / "hello-app" / "server.js"
    changed = _harness("run", "default", "--quick", "--app", str(app), "--dry-run", results=tmp_path / "r")
    assert changed.returncode == 0, changed.stderr
    first = " ".join(changed.stdout.split())  # rich wraps long lines
    assert "on CPU-bound /cpu (as written; the command line changed it: this run's conditions: " in first
    assert "hello-app-single / u8" in first
    unchanged = _harness("run", "app", "--app", str(app), "--dry-run", results=tmp_path / "r")
    assert "as written" not in unchanged.stdout and "in single, cluster, nginx and pm2 modes" in unchanged.stdout


def test_plan_takes_an_app_and_a_path_as_run_does(tmp_path: Path):
    """Seen: `harness plan app --app X --path /cpu` failed with 'unrecognized arguments'."""
    app = REPO / "examples" / "hello-app" / "server.js"
    args = ("app", "--app", str(app), "--path", "/cpu", "--modes", "single,cluster", "--quick")
    plan, dry = _harness("plan", *args), _harness("run", *args, "--dry-run", results=tmp_path / "r")
    assert plan.returncode == 0, plan.stderr
    cases = re.findall(r"\d{3}-[\w-]+-r\d+", plan.stdout)
    assert cases == ["001-hello-app-single-cpu-u8-r1", "002-hello-app-cluster-rr-2w-cpu-u8-r1"]
    assert cases == re.findall(r"\d{3}-[\w-]+-r\d+", dry.stdout)
