"""Shared fixtures and hooks (the plain helpers they use are in helpers.py). Integration
tests start real processes; every one of them is checked for leftovers: after the test no
node server or Locust process it started may remain."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

# The plain helpers live in helpers.py; the fixtures below use these.
from helpers import (
    SESSION_MARKER,
    SESSION_TOKEN,
    _basetemp,
    harness_processes,
    once_per_session,
    run_scenario,
    wait_until,
)

# Every process a test starts inherits this marker (the harness passes its environment
# on), so the leftover check only ever looks at, and kills, this session's processes, never
# those of a harness run or another test session on the same machine.
os.environ[SESSION_MARKER] = SESSION_TOKEN
# A suite started as a background job (`make test &`, nohup) inherits SIGINT ignored, and an
# ignored signal stays ignored across exec: every harness the tests start would then ignore
# the Ctrl-C the interrupt tests send. A handler is reset to the default on exec, so the
# processes the tests start get SIGINT's default disposition back.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config):
    # (here rather than in pyproject.toml, whose change makes `make` reinstall the package)
    config.addinivalue_line(
        "markers",
        "slow: no server, but seconds each (a notebook, a whole report, the CLI in a "
        "subprocess): left out of make test-unit",
    )
    _start_busy_loop(config)


# The longest tests (tens of seconds each: whole scenario runs, the wheel's install), longest
# first. Under pytest-xdist (make test: --dist load --maxschedchunk 1, one test at a time to
# whichever worker is free) they start first, so that none of them is left for the end while
# the other worker idles; without xdist the order is pytest's own. A test missing here only
# costs time, never correctness. (Tests that share an expensive module fixture, such as a
# rendered report, are left in their place, next to each other.)
LONGEST_FIRST = (  # measured 2 December 2026 on a quiet machine, 2 workers (#18)
    "tests/test_resilience_e2e.py::",
    "tests/test_scenarios_e2e.py::test_threadpool",
    "tests/test_compare.py::test_make_ci_bench",
    "tests/test_load.py::test_open_load_past_capacity",
    "tests/test_preload.py::test_apps_nobody_here_wrote",
    "tests/test_app.py::test_app_scenario",
    "tests/test_shared_state.py::test_the_quick_shared_state_run",
    "tests/test_scenarios_e2e.py::test_scheduling",
    "tests/test_wheel.py::",
    # the reuseport run both it and test_reuseport.py read (conftest.reuseport_quick_run): made
    # here, early; test_reuseport.py's test stays in its place, later, and reads it at once
    "tests/test_scenarios_e2e.py::test_reuseport",
    "tests/test_cli_e2e.py::test_run_writes",
    "tests/test_report.py::test_report_cli_takes_several_runs_side_by_side",
    "tests/test_scenarios_e2e.py::test_event_loop",
    "tests/test_cli_e2e.py::test_bench_runs",
    "tests/test_user_locustfile.py::test_e2e",
    "tests/test_scenarios_e2e.py::test_spawning",
    "tests/test_notebooks.py::test_runs_top_to_bottom",
    "tests/test_app.py::test_app_without_worker_header",
    "tests/test_teaching_claims.py::test_the_memory_lesson",
    "tests/test_cli_e2e.py::test_locust_crashing",
    "tests/test_load.py::",
    "tests/test_compare.py::test_cli_exit_codes",
    "tests/test_cli_e2e.py::test_interrupt_after",
    "tests/test_distributed.py::test_master_merges",
    "tests/test_containment.py::",
    "tests/test_compare.py::test_a_true_10_percent",
    "tests/test_user_locustfile.py::test_reference_server_behind_nginx",
    "tests/test_damaged_records.py::test_a_damaged_record_never_gives_a_traceback",
    "tests/test_notebooks.py::test_analysis_notebook",
    "tests/test_external.py::test_external_target",
    "tests/test_cli_e2e.py::",
    "tests/test_demo.py::",
)


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # only in an xdist worker (every worker sorts alike)
        return

    def rank(item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: pytest's order within each rank


@pytest.fixture(scope="session", autouse=True)
def _remember_basetemp(tmp_path_factory):
    _basetemp.append(str(tmp_path_factory.getbasetemp()))
    yield


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


@pytest.fixture(scope="session")
def node22() -> str:
    """The binary of Node 22.12.0 (reuseport needs 22.12+), fetched once into the cache;
    the test is skipped, with the reason, where the npm registry is out of reach."""
    from harness import nodes
    from harness.errors import EnvironmentProblem

    try:
        return str(nodes.ensure_node("22.12.0"))
    except EnvironmentProblem as exc:
        pytest.skip(f"Node 22.12.0 is not cached and the npm registry is out of reach: {exc.one_line()}")


@pytest.fixture
def reuseport_quick_run(node22: str, tmp_path_factory) -> Path:
    """The reuseport scenario's three cases on Node 22.12 (cluster rr, cluster none,
    reuseport; --quick, 8 users, one repetition of 2 s, no report), run once a session
    (helpers.once_per_session) for the two tests that read it (test_scenarios_e2e.py,
    test_reuseport.py): the folder of the run. Function-scoped, so the run starts inside the
    first test that asks, after the leftover check has listed the processes before it."""
    return once_per_session(
        "reuseport-quick",
        lambda folder: run_scenario(folder, "reuseport", "--users", "8", report=False),
        tmp_path_factory,
    )


# `make test-busy`: the whole session runs beside a busy loop that keeps one core busy (another
# process, not ours: the leftover check ignores it), as on a machine shared with other work.
# Tests check shapes, invariants and arithmetic, which hold there too; the few whose assertion
# is a measured figure that needs free CPU ask for `quiet_machine` and are skipped, visibly.
# One busy loop per session, however many pytest-xdist workers run it: the controller (or a
# session without xdist) starts it in pytest_configure and hands its pid to the workers.
BUSY_ENV = "HARNESS_TEST_BUSY"
BUSY_PID_ENV = "HARNESS_TEST_BUSY_PID"
# busy CPU (% of one core, summed over cores) before a quiet_machine test above which it is skipped
QUIET_MAX_BUSY_PCT = 50.0


def _start_busy_loop(config) -> None:
    if os.environ.get(BUSY_ENV) != "1" or hasattr(config, "workerinput"):  # an xdist worker uses the controller's
        return
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    config._harness_busy_loop = proc
    os.environ[BUSY_PID_ENV] = str(proc.pid)  # inherited by the xdist workers, started after this


def pytest_unconfigure(config):
    proc = getattr(config, "_harness_busy_loop", None)
    if proc is not None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def _busy_loop():
    """The session's busy loop (a psutil.Process) under HARNESS_TEST_BUSY=1, else None."""
    pid = os.environ.get(BUSY_PID_ENV)
    if os.environ.get(BUSY_ENV) != "1" or not pid:
        yield None
        return
    yield psutil.Process(int(pid))


def parallel_workers() -> int:
    """How many pytest-xdist workers run this session's tests side by side (1 without xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)


def machine_busy_pct(interval_s: float = 1.0) -> float:
    """How busy the machine is now: % of one core, summed over cores."""
    return psutil.cpu_percent(interval=interval_s) * (psutil.cpu_count() or 1)


@pytest.fixture
def quiet_machine():
    """For a test whose assertion is a figure that needs free CPU (a generator saturating a
    core, a latency ratio between two modes): skipped, with the reason in the summary, when
    the session keeps a core busy or the machine is busy when the test starts. Such figures
    belong in the benchmarks (`harness selfcheck`, the scenarios); the test still runs
    wherever the machine is quiet."""
    if os.environ.get(BUSY_ENV) == "1":
        pytest.skip(f"needs a quiet machine ({BUSY_ENV}=1 keeps a core busy): the figure it checks needs free CPU")
    if parallel_workers() > 1:
        pytest.skip(
            f"needs a quiet machine: {parallel_workers()} pytest-xdist workers run tests beside it "
            "(run it alone: pytest -p no:xdist tests/test_load.py)"
        )
    busy = machine_busy_pct()
    if busy > QUIET_MAX_BUSY_PCT:
        pytest.skip(
            f"needs a quiet machine: {busy:.0f}% of a core was busy before the test "
            f"(over {QUIET_MAX_BUSY_PCT:.0f}%): the figure it checks needs free CPU"
        )
