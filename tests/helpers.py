"""Plain helpers the tests share; conftest.py keeps pytest's fixtures and hooks (and imports
what it needs from here). A test module imports them with `from helpers import ...`:
pytest's default import mode (prepend) puts tests/ on sys.path, as it does for conftest.py.

- REPO, wait_until, harness_processes, get: the checkout's root; polling for a condition
  instead of sleeping; the live processes of this test session that look like a harness's
  (the leftover check of conftest.py uses it, as do tests that look for a run's processes);
  one request to a server the test started.
- The command line in a process of its own, as a user runs it: harness_command (its argv),
  run_harness (run it to the end: subprocess.run) and start_harness (start it and hand back
  the Popen, for a test that reads it while it runs or interrupts it); run_scenario runs a
  scenario's short cases (one repetition) to the end, report and all (or without: then
  summary_markdown makes its summary.md in this process); main_in_process runs
  the same command in this process (no second of imports), for a test of many commands that
  keeps one real process to show what the shell sees.
- Hand-built runs, at the two levels the tests build them: analysis rows (case_row,
  case_rows, result_tables: rows of analysis.case_results and the condition summary made
  from them, on a quiet machine unless overridden) and a record (hand_run: a
  harness.record.Run from rows of its tables, every other table empty with its columns;
  record_table: one such table, to change a hand-built run afterwards).
- Made once per test session: once_per_session (anything expensive that tests only read, made
  once even across pytest-xdist workers) and rendered_fixture (a recorded fixture's report,
  which several modules read).
"""

from __future__ import annotations

import http.client
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:  # pandas and harness are imported where a run is built (a CLI test needs neither)
    import pandas as pd

    from harness.record import Run

REPO = Path(__file__).resolve().parent.parent

# Every process a test starts inherits this marker (the harness passes its environment
# on): conftest.py sets it, once per session, before any test starts a process, so the
# leftover check only ever looks at, and kills, this session's processes, never those of a
# harness run or another test session on the same machine.
SESSION_MARKER = "HARNESS_TEST_SESSION"
SESSION_TOKEN = f"{os.getpid()}-{time.time_ns()}"
# this session's tmp folder (nginx rewrites its environment, not its argv): set by conftest.py
_basetemp: list[str] = []


def wait_until(predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05) -> bool:
    """Poll predicate until true or timeout (a readiness check, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def _is_redis(cmd: str) -> bool:
    """redis-server rewrites its command line to `<binary> 127.0.0.1:<port>`."""
    return os.path.basename(cmd.split(" ", 1)[0]) == "redis-server"


def _looks_like_ours(cmd: str) -> bool:
    """The reference server in any mode (a PM2 instance's command line is just
    `node .../server/index.js`), PM2's daemon or CLI, nginx (master and workers),
    redis-server (the shared-state demo's), a Locust run of the harness (or selfcheck's plain one), or a user's app run
    by the tests."""
    return (
        ("index.js" in cmd and ("--mode" in cmd or cmd.rstrip().endswith("server/index.js")))
        or "pm2-foreground.js" in cmd
        or "node_modules/pm2/" in cmd
        or cmd.startswith("nginx: ")
        or _is_redis(cmd)
        or "harness/load/locustfile.py" in cmd
        or "harness/load/plain_locustfile.py" in cmd  # selfcheck's yardstick
        or "examples/hello-app/server.js" in cmd
        or "harness-test-app" in cmd  # user apps the tests run
        or "/examples/" in cmd
        or "server/preload.js" in cmd
    )  # example apps, anything run with the preload


def _of_this_session(p: psutil.Process, cmd: str) -> bool:
    try:
        if cmd.startswith("nginx: worker"):
            cmd = " ".join(p.parent().cmdline())
        if _basetemp and _basetemp[0] in cmd:
            return True
        if _is_redis(cmd):  # its new title overwrote its environment; it runs in the case's folder
            return bool(_basetemp) and p.cwd().startswith(_basetemp[0])
        return p.environ().get(SESSION_MARKER) == SESSION_TOKEN
    except (psutil.Error, AttributeError):
        return False


def harness_processes() -> dict[int, str]:
    """Live processes this test session started that look like ours: the reference server
    (any mode), PM2, nginx, redis-server, or Locust."""
    found = {}
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if _looks_like_ours(cmd) and _of_this_session(p, cmd):
            found[p.info["pid"]] = cmd
    return found


def get(server: Any, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET `path` from a running server (anything with .host and .port) on a new connection (so
    round robin and the kernel both see a new client): status, headers (lower-case names), body."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# --- the command line in a process of its own ----------------------------------------------


def harness_command(*args: str, results: Path | str | None = None) -> list[str]:
    """The argv of `python -m harness [--results RESULTS] ARGS` with this interpreter (the
    venv's, so the harness and its packages are the ones under test)."""
    return [sys.executable, "-m", "harness", *(["--results", str(results)] if results is not None else []), *args]


def _environment(env: dict[str, str] | None) -> dict[str, str] | None:
    """This session's environment with `env` set on top (None: inherit it as it is)."""
    return None if env is None else {**os.environ, **env}


def run_harness(
    *args: str,
    results: Path | str | None = None,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m harness [--results RESULTS] ARGS` to its end and return it, stdout and
    stderr captured as text. The process inherits this session's environment (PYTHONPATH
    where the suite was started with one, and conftest.py's session marker for the leftover
    check), with `env`'s variables set on top; `cwd`, `timeout` and `check` are
    subprocess.run's."""
    return subprocess.run(
        harness_command(*args, results=results),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_environment(env),
        timeout=timeout,
        check=check,
    )


def start_harness(
    *args: str, results: Path | str | None = None, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """Start `python -m harness [--results RESULTS] ARGS` and return the running process, for a
    test that watches it run or interrupts it: text mode, stdout and stderr piped unless
    `popen` says otherwise (any other subprocess.Popen argument too: cwd, start_new_session,
    stderr=subprocess.STDOUT); the environment as run_harness's, `env` set on top."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(harness_command(*args, results=results), env=_environment(env), **popen)


def run_scenario(
    results: Path, name: str, *extra: str, quick: bool = True, duration_s: float = 2, report: bool = True
) -> Path:
    """`harness run NAME` in its quick variant (quick=False: the full one) with one repetition
    of short cases (1 s of warm-up, duration_s measured) and ARGS, into RESULTS/NAME, report
    and all (report=False: --no-report, for a test that reads the record, or only the
    summary through summary_markdown): that folder. Fails the test unless the run ended
    well, with its report if one was asked for."""
    out = run_harness(
        "run",
        name,
        *(["--quick"] if quick else []),
        "--run-id",
        name,
        "--duration-s",
        f"{duration_s:g}",
        "--warmup-s",
        "1",
        "--repetitions",
        "1",
        *([] if report else ["--no-report"]),
        *extra,
        results=results,
        timeout=400,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (results / name / "report" / "report.html").is_file() == report
    return results / name


def summary_markdown(run_dir: Path) -> str:
    """The summary.md that `harness report` writes for this one stored run, made here by the
    same function from the same analysis, without drawing the figures (the most of a report's
    seconds): for a test that asserts sentences of the summary, not the rendering."""
    from harness import analysis, record
    from harness.export import markdown
    from harness.report import view

    run = record.load_run(run_dir)
    return markdown.report([view(run, analysis.run_labels([run.meta])[0])], None)


def main_in_process(*args: str, capsys: Any) -> tuple[int, str, str]:
    """`harness ARGS` in this process: harness.cli.main's exit code (argparse's errors raise
    SystemExit, which `python -m harness` exits with: its code is taken here), then what it
    wrote to stdout and stderr, read through pytest's capsys. An exception escaping is the
    traceback a user would see, and fails the test."""
    from harness.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- hand-built runs ---------------------------------------------------------------------


def case_row(condition: str, repetition: int, throughput_rps: float, **overrides: Any) -> dict[str, Any]:
    """One row of analysis.case_results (every column of analysis.RESULT_COLUMNS, nan where
    not set): a closed load of 8 users on /cpu, 10 s measured, one worker that served every
    request, a quiet machine, no generator limit and no failure, unless overridden. The mode
    is the condition's first word; requests are throughput_rps x 10 s and server CPU per
    request follows from 100 % of a core."""
    from harness import analysis

    row = {c: math.nan for c in analysis.RESULT_COLUMNS}
    mode = condition.split("-")[0].split(" ")[0]
    row.update(
        {
            "case_id": f"{condition}-r{repetition}",
            "condition": condition,
            "repetition": repetition,
            "mode": mode,
            "workers": 1,
            "threads": math.nan,
            "schedule": "",
            "balance": "",
            "route": "/cpu",
            "path": "/cpu",
            "users": 8,
            "load": "closed",
            "measured_s": 10.0,
            "requests": int(throughput_rps * 10),
            "failures": 0,
            "throughput_rps": throughput_rps,
            "latency_p99_ms": 10.0,
            "server_cpu_pct": 100.0,
            "server_cpu_ms_per_request": 1000 / throughput_rps,
            "generator_cpu_pct": 30.0,
            "machine_cpu_pct": 150.0,
            "other_cpu_pct": 5.0,
            "steal_pct": 0.0,
            "units": 1,
            "workers_seen": 1,
            "jain_index": 1.0,
            "max_min_share_ratio": 1.0,
            "generator_limited": False,
            "keepalive": True,
            "probe_path": "",
        }
    )
    row.update(overrides)
    return row


def case_rows(condition: str, throughputs: Iterable[float], **overrides: Any) -> list[dict[str, Any]]:
    """case_row for each repetition of a condition (1, 2, ...), one throughput each."""
    return [case_row(condition, i + 1, t, **overrides) for i, t in enumerate(throughputs)]


def result_tables(rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The case results made of these rows (analysis.RESULT_COLUMNS) and their condition
    summary (analysis.condition_summary): what a report reads of a run."""
    import pandas as pd

    from harness import analysis

    results = pd.DataFrame(rows, columns=analysis.RESULT_COLUMNS)
    return results, analysis.condition_summary(results)


def record_table(name: str, rows: Iterable[dict[str, Any]] = ()) -> pd.DataFrame:
    """Table `name` of a run record (its columns: record.TABLE_COLUMNS[name]) holding these rows,
    a column a row leaves out empty: to add to or replace a table of a hand-built run."""
    import pandas as pd

    from harness.record import TABLE_COLUMNS

    return pd.DataFrame(list(rows), columns=TABLE_COLUMNS[name])


def hand_run(
    cases: list[dict[str, Any]],
    *,
    path: Path | str = "/nonexistent",
    meta: dict[str, Any] | None = None,
    **tables: list[dict[str, Any]],
) -> Run:
    """A harness.record.Run as load_run would read it, from rows of its tables: `cases` and
    any other table by name (endpoints=[...], workers=[...], samples=[...]), each with the
    columns of record.TABLE_COLUMNS (a column a row leaves out is empty); every table not
    given is empty. `meta` is run.json's content: by default a complete run named "hand"
    whose cases are these rows."""
    import pandas as pd

    from harness.record import TABLE_COLUMNS, Run

    unknown = set(tables) - set(TABLE_COLUMNS)
    assert not unknown, f"no such table: {sorted(unknown)}"
    given = {"cases": cases, **tables}
    frames = {
        name: record_table(name, given[name]) if name in given else pd.DataFrame(columns=columns)
        for name, columns in TABLE_COLUMNS.items()
    }
    if meta is None:
        meta = {"run_id": "hand", "status": "complete", "cases": cases}
    return Run(path=Path(path), meta=meta, tables=frames)


# --- made once per test session ------------------------------------------------------------

_ONCE: dict[str, Any] = {}


def once_per_session(key: str, make: Callable[[Path], Any], tmp_path_factory: Any) -> Any:
    """make(folder) once per test session, its result kept under `key` for every test that asks.
    Under pytest-xdist a worker gets one test at a time from any module, so a session-scoped
    fixture is still made once in each worker: here the first worker to ask makes it in a
    folder of the session's temp folder that every worker sees (the workers' base temp
    folders' parent) and pickles the result beside it, while another that asks meanwhile
    waits on a lock, then unpickles it. Without xdist, once in this process. The result must
    pickle, and the tests only read what make wrote (another worker reads it too); if make
    fails, the next to ask tries again."""
    if key in _ONCE:
        return _ONCE[key]
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        _ONCE[key] = make(tmp_path_factory.mktemp(key))
        return _ONCE[key]
    import fcntl
    import pickle

    # this session's own names: with --basetemp the workers' parent folder outlives a session
    shared = tmp_path_factory.getbasetemp().parent
    stem = f"{key}-{os.environ.get('PYTEST_XDIST_TESTRUNUID', '')}"
    with open(shared / f"{stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, however this ends
        done = shared / f"{stem}.pickle"
        if done.is_file():
            _ONCE[key] = pickle.loads(done.read_bytes())
        else:
            folder = shared / stem
            shutil.rmtree(folder, ignore_errors=True)  # a failed attempt's leftovers
            folder.mkdir()
            _ONCE[key] = make(folder)
            done.write_bytes(pickle.dumps(_ONCE[key]))
    return _ONCE[key]


def rendered_fixture(name: str, tmp_path_factory: Any) -> Any:
    """The report (harness.report.Report) of the recorded run tests/fixtures/NAME, rendered
    once per test session (once_per_session): test_report.py and test_report_page.py both read
    the `small` fixture's, and each worker would otherwise render every fixture's again."""

    def render(folder: Path) -> Any:
        from harness import record
        from harness.report import render_report

        return render_report([record.load_run(REPO / "tests" / "fixtures" / name)], folder)

    return once_per_session(f"report-{name}", render, tmp_path_factory)
