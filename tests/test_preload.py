"""The preload (server/preload.js, harness/preload.py): requests per process, event-loop and
CPU figures for any app, without its cooperation (issue 16, point 2).

Unit tests (hand-made tables, fake preload files named as such): the spread over workers is
keyed by pid where an app's worker ids repeat or are missing, and by worker id everywhere
else (the reference server's figures do not change); the processes table round-trips through
the record; the harness passes the preload to every process that runs an app and to no
other. Integration tests (real processes): the preload changes nothing an app does but add
its tags (Node's own servers answering in every way apps do); an Express and a Fastify app,
and an app whose every process says x-worker-id 0, in cluster, nginx and pm2 mode: one row
per serving pid, whose count agrees exactly with the client's, readiness probes counted
apart, Jain's index over the processes, nothing left running."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers import REPO, hand_run, record_table, run_harness

from harness import analysis, preload, record
from harness.errors import UsageError
from harness.record import Run
from harness.report import story
from harness.scenario import ClosedLoad, PathWorkload, Scenario, ServerSpec
from harness.servers import make_server
from harness.servers.nginx import NginxServer

EXPRESS = REPO / "examples" / "express-app" / "server.js"
FASTIFY = REPO / "examples" / "fastify-app" / "server.js"
PRELOAD_JS = REPO / "server" / "preload.js"
# An app that names every one of its processes "0", as an app reading a variable PM2 never
# sets would: the "1 of 2 workers, Jain 0.500" (named so the leftover check knows it).
ZERO_APP = """const http = require('node:http');
http.createServer((req, res) => { res.setHeader('x-worker-id', '0'); res.end('zero'); })
  .listen(Number(process.env.PORT), process.env.HOST);
"""


def fake_run(
    per_process: dict[tuple[str, str], int],
    preloaded: bool = True,
    mode: str = "pm2",
    units: int = 2,
    app: str | None = "/srv/app/server.js",
) -> Run:
    """A hand-made run of one case whose measured responses came from these (worker id, pid)
    pairs ("?" where a header was missing), 10 s window, 2 users; a user's app unless app=None."""
    cid = "001-app-pm2-2w-r1"
    total = sum(per_process.values())
    cases = [
        {
            "case_id": cid,
            "index": 1,
            "condition": "app-pm2-2w / u2",
            "repetition": 1,
            "mode": mode,
            "workers": units,
            "schedule": "",
            "route": "/",
            "path": "/",
            "users": 2,
            "warmup_s": 1,
            "duration_s": 10,
            "status": "complete",
            "started_ts": 1000.0,
            "measure_start_ts": 1001.0,
            "measure_end_ts": 1011.0,
            "measured_s": 10.0,
            "preload": preloaded,
        }
    ]
    endpoints = [
        {
            "case_id": cid,
            "phase": "measure",
            "name": "/",
            "requests": total,
            "failures": 0,
            "latency_p50_ms": 1.0,
            "latency_p99_ms": 2.0,
            "latency_p99_9_ms": 3.0,
        }
    ]
    workers = [
        {"case_id": cid, "phase": "measure", "worker_id": w, "pid": p, "thread_id": "", "requests": n}
        for (w, p), n in per_process.items()
    ]
    meta = {
        "run_id": "hand",
        "status": "complete",
        "cases": [{**c, "app": app} for c in cases],
        "machine": {"logical_cores": 2, "cpu_layout": "shared"},
    }
    return hand_run(cases, endpoints=endpoints, workers=workers, meta=meta)


# --- the spread: by pid where an app's worker ids repeat or are missing --------------------


def test_repeating_worker_ids_of_an_app_are_told_apart_by_pid():
    """The issue's case: two PM2 instances of an app both say x-worker-id 0 and both served.
    Keyed by the id, that was '1 of 2 workers, Jain 0.500'; keyed by pid it is 2 of 2, 1.0."""
    run = fake_run({("0", "4001"): 500, ("0", "4002"): 500})
    r = analysis.case_results(run).iloc[0]
    assert r["spread_key"] == "pid"
    assert r["workers_seen"] == 2
    assert r["jain_index"] == pytest.approx(1.0)
    assert r["max_min_share_ratio"] == pytest.approx(1.0)
    line = story.fairness_lines(analysis.case_results(run))[0]
    assert "requests spread over 2 of 2 processes, Jain's index 1.000" in line and "told apart by pid" in line
    rpw = analysis.requests_per_worker(run)
    assert sorted(rpw["pid"]) == ["4001", "4002"] and set(rpw["worker_id"]) == {""}
    assert set(rpw["spread_key"]) == {"pid"} and rpw["share"].sum() == pytest.approx(1.0)


def test_uneven_pids_under_one_id_give_jain_over_the_pids():
    run = fake_run({("0", "4001"): 900, ("0", "4002"): 100})
    r = analysis.case_results(run).iloc[0]
    assert r["jain_index"] == pytest.approx(1000**2 / (2 * (900**2 + 100**2)))  # 0.610, not 0.5
    assert r["max_min_share_ratio"] == pytest.approx(9.0)


def test_missing_worker_ids_are_told_apart_by_pid_even_without_the_preload_flag():
    """An app that sends x-pid (the preload's tag) and no x-worker-id: by pid; the response
    without either header (a connection error, '?') is left out."""
    run = fake_run({("?", "4001"): 300, ("?", "4002"): 100, ("?", "?"): 7}, preloaded=False, app=None)
    r = analysis.case_results(run).iloc[0]
    assert r["spread_key"] == "pid" and r["workers_seen"] == 2
    assert r["jain_index"] == pytest.approx(400**2 / (2 * (300**2 + 100**2)))


def test_an_app_run_without_the_preload_that_repeats_its_ids_is_counted_by_pid_too():
    """--no-preload, an app that sends x-pid itself and one x-worker-id from every process."""
    run = fake_run({("0", "4001"): 500, ("0", "4002"): 500}, preloaded=False)
    r = analysis.case_results(run).iloc[0]
    assert r["spread_key"] == "pid" and r["workers_seen"] == 2


def test_the_reference_servers_replacements_keep_the_worker_id_key():
    """The reference server (no app): a repeated id is a replacement (PM2's reload keeps the
    instance's id): still counted by id, as before."""
    run = fake_run({("1", "4001"): 200, ("1", "4003"): 300, ("2", "4002"): 500}, preloaded=False, app=None)
    r = analysis.case_results(run).iloc[0]
    assert r["spread_key"] == "worker_id" and r["workers_seen"] == 2 and r["jain_index"] == pytest.approx(1.0)


def test_distinct_ids_keep_the_worker_id_key():
    run = fake_run({("1", "4001"): 600, ("2", "4002"): 400})
    r = analysis.case_results(run).iloc[0]
    assert r["spread_key"] == "worker_id" and r["jain_index"] == pytest.approx(1000**2 / (2 * (600**2 + 400**2)))


FIXTURES = sorted(p.parent for p in (REPO / "tests" / "fixtures").glob("*/run.json"))


@pytest.mark.parametrize("folder", FIXTURES, ids=[p.name for p in FIXTURES])
def test_recorded_reference_runs_are_still_counted_by_worker_id(folder: Path):
    """Every recorded run of the reference server keeps the worker-id key, so its spread
    figures are computed exactly as before (the golden tests check the numbers)."""
    run = record.load_run(folder)
    results = analysis.case_results(run)
    measured = set(run["workers"].loc[run["workers"]["phase"] == "measure", "case_id"])
    keyed = results[results["case_id"].isin(measured)]
    assert not keyed.empty and set(keyed["spread_key"]) == {"worker_id"}
    assert not run["cases"]["preload"].astype(bool).any() and run["processes"].empty  # older records: none


# --- the client/server comparison and event-loop figures from the preload -----------------


def test_preload_counts_are_compared_per_pid_and_give_the_event_loop_figures():
    run = fake_run({("1", "4001"): 500, ("2", "4002"): 400})
    cid = run["cases"]["case_id"].iloc[0]
    run.tables["workers"] = pd.concat(
        [
            run["workers"],
            record_table(
                "workers",
                [{"case_id": cid, "phase": "warmup", "worker_id": "1", "pid": "4001", "thread_id": "", "requests": 20}],
            ),
        ]
    )
    run.tables["processes"] = record_table(
        "processes",
        [
            {
                "case_id": cid,
                "pid": 4001,
                "worker_id": "1",
                "requests": 520,
                "probes": 1,
                "event_loop_delay_p99_ms": 12.5,
                "event_loop_utilization": 0.6,
            },
            {
                "case_id": cid,
                "pid": 4002,
                "worker_id": "2",
                "requests": 400,
                "probes": 0,
                "event_loop_delay_p99_ms": 30.0,
                "event_loop_utilization": 0.4,
            },
            {
                "case_id": cid,
                "pid": 4000,
                "worker_id": "",
                "requests": 0,
                "probes": 0,
                "event_loop_delay_p99_ms": 99.0,
                "event_loop_utilization": 0.9,
            },  # an app's own primary that served nothing: not the worst worker
        ],
    )
    r = analysis.case_results(run).iloc[0]
    assert r["client_server_mismatch"] == pytest.approx(0.0)
    assert r["event_loop_delay_p99_ms"] == pytest.approx(30.0) and r["event_loop_utilization"] == pytest.approx(0.6)
    run.tables["processes"].loc[0, "requests"] = 540  # 20 more than the client got, 2 users in flight at most
    assert analysis.case_results(run).iloc[0]["client_server_mismatch"] == pytest.approx(18 / 540)


# --- the record ---------------------------------------------------------------------------


def test_processes_table_round_trips_through_the_record(tmp_path: Path):
    docs = [
        {
            "pid": 4002,
            "ppid": 4000,
            "worker_id": "2",
            "requests": 10,
            "probes": 1,
            "responses": 11,
            "event_loop_delay_ms": {"p50": 10.1, "p99": 12.0, "max": 20.0},
            "event_loop_utilization": 0.5,
            "cpu_user_s": 1.5,
            "cpu_system_s": 0.25,
            "rss_bytes": 5e7,
            "started_ts": 1.0,
            "written_ts": 2.0,
            "final": False,
            "fresh": True,
        },
        {"pid": 4001, "worker_id": None, "requests": "many", "event_loop_delay_ms": {"p99": float("nan")}},
    ]
    rows = preload.process_rows("c1", docs)
    assert [r["pid"] for r in rows] == [4001, 4002]
    assert rows[0]["requests"] is None and rows[0]["event_loop_delay_p99_ms"] is None and rows[0]["worker_id"] == ""
    writer = record.RunWriter(tmp_path, "r")
    writer.start({})
    writer.add_case({"case_id": "c1", "status": "complete", "preload": True}, {"processes": rows})
    run = record.load_run(tmp_path / "r")
    assert run.meta["schema_version"] == record.SCHEMA_VERSION and not run.problems
    p = run["processes"].set_index("pid")
    assert p.loc[4002, "worker_id"] == "2" and p.loc[4002, "requests"] == 10 and p.loc[4002, "cpu_user_s"] == 1.5
    assert bool(run["cases"]["preload"].iloc[0])


# --- collecting the files (fake preload files, written here) --------------------------------


def _fake_preload_file(folder: Path, pid: int, written_ts: float, final: bool = False) -> None:
    (folder / f"{pid}.json").write_text(
        json.dumps({"pid": pid, "requests": 3, "written_ts": written_ts, "final": final})
    )


def test_collect_takes_fresh_files_at_once_and_gives_up_on_a_stale_live_one(tmp_path: Path):
    dead = max(psutil.pids()) + 100_000  # no such process
    _fake_preload_file(tmp_path, os.getpid(), written_ts=time.time() + 1)
    _fake_preload_file(tmp_path, dead, written_ts=0.0)  # gone: taken as it last wrote
    (tmp_path / "123.json.tmp").write_text("{half")  # a write in progress is never read
    (tmp_path / "124.json").write_text("{not json")
    started = time.monotonic()
    docs = preload.collect(tmp_path, {os.getpid()}, since_ts=time.time(), timeout_s=30)
    assert time.monotonic() - started < 5  # nothing to wait for
    assert {d["pid"]: d["fresh"] for d in docs} == {os.getpid(): True, dead: False}
    _fake_preload_file(tmp_path, os.getpid(), written_ts=0.0)  # live and never rewritten: the timeout
    started = time.monotonic()
    docs = preload.collect(tmp_path, {os.getpid()}, since_ts=time.time(), timeout_s=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    assert {d["pid"]: d["fresh"] for d in docs}[os.getpid()] is False


# --- who gets the preload -------------------------------------------------------------------


def _case(mode: str, app: Path | None, preload_on: bool = True):
    spec = ServerSpec(mode, workers=1 if mode == "single" else 2, app=str(app) if app else None, preload=preload_on)
    return Scenario(
        name="t", description="t", servers=[spec], workloads=[PathWorkload.of("/")], loads=[ClosedLoad(1)]
    ).cases()[0]


@pytest.mark.parametrize("mode", ["single", "cluster", "nginx", "pm2"])
def test_every_app_process_gets_the_preload_and_nothing_else_does(tmp_path: Path, mode: str):
    if mode == "nginx" and NginxServer.missing():
        pytest.skip("nginx is not installed here")
    require = ["--require", str(PRELOAD_JS.resolve())]
    app = make_server(_case(mode, EXPRESS), tmp_path / "app")
    ref = make_server(_case(mode, None), tmp_path / "ref")
    bare = make_server(_case(mode, EXPRESS, preload_on=False), tmp_path / "bare")
    assert app.preload_dir == (tmp_path / "app" / "preload").resolve() and app.preload_dir.is_dir()
    assert ref.preload_dir is None and bare.preload_dir is None
    env = app.environment()
    assert env[preload.DIR_ENV] == str(app.preload_dir)
    assert preload.DIR_ENV not in ref.environment() and preload.DIR_ENV not in bare.environment()
    if mode == "single":
        assert app.command()[1:3] == require and "--require" not in bare.command()
    elif mode == "nginx":
        assert app.backend_command(1, 1234)[1:3] == require and "--require" not in bare.backend_command(1, 1234)
    elif mode == "cluster":  # the wrapper puts it in its workers' execArgv, never its own
        assert "--require" not in app.command() and env[preload.WRAPPER_ENV] == str(PRELOAD_JS.resolve())
        assert preload.WRAPPER_ENV not in ref.environment() and preload.WRAPPER_ENV not in bare.environment()
    else:  # PM2 puts node_args in the instances' execArgv; the daemon's command has none
        assert app.ecosystem()["apps"][0]["node_args"] == require and "--require" not in app.command()
        assert "node_args" not in ref.ecosystem()["apps"][0] and "node_args" not in bare.ecosystem()["apps"][0]
    assert "--require" not in ref.command()


def test_a_missing_preload_is_one_clear_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from harness import bundled
    from harness.errors import EnvironmentProblem

    monkeypatch.setattr(bundled, "source_tree", lambda: tmp_path)  # a checkout without server/preload.js
    with pytest.raises(EnvironmentProblem) as exc:
        make_server(_case("single", EXPRESS), tmp_path / "app").command()
    assert "preload.js is missing" in exc.value.one_line() and "--no-preload" in exc.value.one_line()
    assert "\n" not in exc.value.one_line()


def test_preload_option_is_checked_and_named_in_the_label():
    with pytest.raises(UsageError, match="preload of mode pm2 is 'yes'"):
        ServerSpec("pm2", preload="yes")  # type: ignore[arg-type]
    spec = ServerSpec("pm2", workers=2, app=str(EXPRESS), preload=False).resolved()
    assert spec.label == "express-app-pm2-2w-no-preload"
    assert _case("pm2", EXPRESS).preload and not _case("pm2", EXPRESS, False).preload and not _case("pm2", None).preload


@pytest.mark.slow  # the CLI in a subprocess
def test_no_preload_without_an_app_is_refused_in_one_line(tmp_path: Path):
    out = run_harness("run", "smoke", "--no-preload", results=tmp_path / "results", timeout=60)
    assert out.returncode == 2 and "--no-preload is for --app" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "results").exists()


# --- integration: the preload in real processes ----------------------------------------------


def _check_script(tmp_path: Path, with_preload: bool) -> tuple[dict, Path]:
    folder = tmp_path / ("on" if with_preload else "off")
    folder.mkdir()
    env = {**os.environ, "HARNESS_WORKER_ID": "7"}
    if with_preload:
        env[preload.DIR_ENV] = str(folder)
    openssl = shutil.which("openssl")
    if openssl:
        key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
        if not cert.exists():
            subprocess.run(
                [
                    openssl,
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    str(key),
                    "-out",
                    str(cert),
                    "-days",
                    "1",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        env.update(TLS_KEY=str(key), TLS_CERT=str(cert))
    argv = ["node", *(["--require", str(PRELOAD_JS)] if with_preload else []), str(REPO / "tests" / "preload_check.js")]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), folder


@pytest.mark.integration
def test_the_preload_changes_nothing_but_its_tags(tmp_path: Path):
    """Every response as the client sees it, with and without the preload: the same status,
    body and headers (a header sent twice stays twice), plus x-pid and x-worker-id where the
    app set neither; an app's own x-pid / x-worker-id win; an HTTP/2 stream is left alone; a
    request an app hands to another server by emit() is counted once; a probe apart."""
    off, _ = _check_script(tmp_path, False)
    on, folder = _check_script(tmp_path, True)
    pid = str(on["pid"])
    assert ("https" in on["responses"]) == bool(shutil.which("openssl"))  # https is checked wherever a cert can be made
    for name, before in off["responses"].items():
        after = on["responses"][name]
        assert (after["status"], after["body"]) == (before["status"], before["body"]), name
        added = [h for h in after["headers"] if h not in before["headers"]]
        kept = [h for h in after["headers"] if h in before["headers"]]
        assert kept == before["headers"], name  # nothing the app sent is lost, merged or reordered
        if name == "own":
            assert added == [] and ["x-pid", "app-pid"] in after["headers"]
            assert ["x-worker-id", "mine"] in after["headers"]
        elif name == "http2":
            assert added == []
        else:
            assert sorted(added) == [["x-pid", pid], ["x-worker-id", "7"]], name
    for name in off["responses"]:  # a header sent twice stays twice, in its order
        cookies = [[h for h in r["responses"][name]["headers"] if h[0] == "set-cookie"] for r in (off, on)]
        assert cookies[0] == cookies[1], name
    assert [h for h in on["responses"]["array"]["headers"] if h[0] == "set-cookie"] == [
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
    ]
    doc = json.loads((folder / f"{pid}.json").read_text())
    http1 = [n for n in on["responses"] if n not in ("probe", "http2")]
    assert doc["final"] and doc["worker_id"] == "7" and doc["pid"] == on["pid"]
    assert doc["requests"] == len(http1) and doc["probes"] == 1 and doc["responses"] == len(http1) + 1
    assert doc["event_loop_delay_ms"]["p99"] > 0 and doc["cpu_user_s"] > 0 and doc["rss_bytes"] > 0


@pytest.mark.integration
@pytest.mark.parametrize(
    "env, seen",
    [
        ({"pm2_env": json.dumps({"NODE_APP_INSTANCE": 1})}, "2"),  # as PM2's cluster worker starts: the id in its JSON
        ({"NODE_APP_INSTANCE": "0"}, "1"),
        ({"NODE_APP_INSTANCE": "0", "HARNESS_WORKER_ID": "5"}, "5"),  # the harness's own id is never replaced
        ({}, ""),
    ],
)
def test_under_pm2_the_app_sees_its_instance_as_harness_worker_id(tmp_path: Path, env: dict, seen: str):
    base = {k: v for k, v in os.environ.items() if k not in ("HARNESS_WORKER_ID", "NODE_APP_INSTANCE", "pm2_env")}
    out = subprocess.run(
        ["node", "--require", str(PRELOAD_JS), "-e", "process.stdout.write(process.env.HARNESS_WORKER_ID || '')"],
        env={**base, **env, preload.DIR_ENV: str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and out.stdout == seen, out.stderr
    docs = [json.loads(f.read_text()) for f in tmp_path.glob("*.json")]
    assert len(docs) == 1 and docs[0]["final"] and docs[0]["worker_id"] == seen  # written at exit


def _run(tmp_path: Path, scenario_text: str, *args: str) -> subprocess.CompletedProcess:
    scenario = tmp_path / "s.py"
    scenario.write_text(scenario_text)
    return run_harness(
        "run", str(scenario), "--run-id", "r", "--no-report", *args, results=tmp_path / "results", timeout=600
    )


def _per_pid(frame: pd.DataFrame, column: str = "requests") -> dict[str, int]:
    frame = frame[frame["pid"].astype(str) != "?"]
    return {str(k): int(v) for k, v in frame.groupby(frame["pid"].astype(str))[column].sum().items() if v}


@pytest.mark.integration
def test_apps_nobody_here_wrote_are_counted_per_process_in_every_mode(tmp_path: Path):
    """Express in cluster, nginx and pm2 mode, Fastify in cluster mode and an app whose every
    process says x-worker-id 0 in pm2 mode, 2 workers each: the record has one row per
    serving pid; per pid the client's responses (every phase) equal the process's own count,
    and they add up to the client's total; the readiness probes are counted apart; the
    spread is by worker id where the harness's ids tell the processes apart, by pid where
    the app's ids repeat, and Jain's index is that of the per-pid counts; nothing is left."""
    if not all(
        (app.parent / "node_modules" / name).is_dir() for app, name in ((EXPRESS, "express"), (FASTIFY, "fastify"))
    ):
        pytest.fail(
            "the example apps' npm packages are missing: run `make setup` (npm ci in examples/express-app "
            "and examples/fastify-app)"
        )
    zero = tmp_path / "harness-test-app-zero.js"
    zero.write_text(ZERO_APP)
    modes = ["cluster", "pm2"] + (["nginx"] if not NginxServer.missing() else [])
    servers = ", ".join(
        [f'ServerSpec("{m}", workers=2, app={str(EXPRESS)!r})' for m in modes]
        + [
            f'ServerSpec("cluster", workers=2, app={str(FASTIFY)!r})',
            f'ServerSpec("pm2", workers=2, app={str(zero)!r})',
        ]
    )
    out = _run(
        tmp_path,
        f"""from harness.scenario import *
SCENARIO = Scenario(name="preload", description="d", servers=[{servers}], workloads=[PathWorkload.of("/")],
    loads=[ClosedLoad(2)], duration_s=2, warmup_s=1, repetitions=1)
""",
    )
    assert out.returncode == 0, out.stderr
    run = record.load_run(tmp_path / "results" / "r")
    results = analysis.case_results(run).set_index("case_id")
    assert len(results) == len(modes) + 2
    every_pid: set[int] = set()
    for case in run.meta["cases"]:
        cid = case["case_id"]
        assert case["status"] == "complete" and case["preload"], case.get("error")
        procs_ = run["processes"][run["processes"]["case_id"] == cid]
        every_pid |= set(procs_["pid"].astype(int))
        assert procs_["fresh"].astype(bool).all()
        own = _per_pid(procs_)
        client = _per_pid(run["workers"][run["workers"]["case_id"] == cid])
        assert own == client, cid  # one row per serving pid, and the counts agree exactly
        assert 1 <= len(own) <= 2
        ep = run["endpoints"][(run["endpoints"]["case_id"] == cid) & (run["endpoints"]["name"] == "/")]
        assert int(ep["failures"].sum()) == 0 and sum(own.values()) == int(ep["requests"].sum()), cid
        assert int(procs_["probes"].sum()) >= 1  # the readiness probes reached the app, and were not counted as load
        r = results.loc[cid]
        measured = _per_pid(run["workers"][(run["workers"]["case_id"] == cid) & (run["workers"]["phase"] == "measure")])
        counts = list(measured.values()) + [0] * (2 - len(measured))
        assert r["workers_seen"] == len(measured) and r["jain_index"] == pytest.approx(analysis.jain_index(counts))
        assert r["client_server_mismatch"] == pytest.approx(0.0)
        assert r["event_loop_delay_p99_ms"] > 0
        if "harness-test-app-zero" in case["app"]:  # every process said 0: by pid once two served
            assert r["spread_key"] == ("pid" if len(measured) == 2 else "worker_id")
            assert set(run["workers"].loc[run["workers"]["case_id"] == cid, "worker_id"]) <= {"0"}
        else:  # the harness's ids (cluster's, nginx's 1..N, PM2's NODE_APP_INSTANCE + 1), one per pid
            assert r["spread_key"] == "worker_id"
            assert sorted(procs_.loc[procs_["requests"] > 0, "worker_id"]) in (["1"], ["2"], ["1", "2"]), cid
        workers = run["samples"][(run["samples"]["case_id"] == cid) & (run["samples"]["role"] == "worker")]
        assert workers["worker_id"].notna().any()  # CPU samples carry the preload's worker ids
    assert not [p for p in every_pid if psutil.pid_exists(p)]


@pytest.mark.integration
def test_no_preload_runs_the_app_as_given(tmp_path: Path):
    out = _run(
        tmp_path,
        """from harness.scenario import *
SCENARIO = Scenario(name="bare", description="d", servers=[ServerSpec("single")], workloads=[Workload("/hello")],
    loads=[ClosedLoad(1)], duration_s=2, warmup_s=1, repetitions=1)
""",
        "--app",
        str(EXPRESS),
        "--no-preload",
    )
    assert out.returncode == 0, out.stderr
    run = record.load_run(tmp_path / "results" / "r")
    case = run.meta["cases"][0]
    assert not case["preload"] and case["condition"].startswith("express-app-single-no-preload")
    assert run["processes"].empty and set(run["workers"]["pid"]) == {"?"}
    assert any("--no-preload" in m for m in case["missing_figures"])
    assert math.isnan(analysis.case_results(run).iloc[0]["jain_index"])
