"""Run a scenario: every case in order, each with its own server, Locust and sampler.

Each case: start the server (ready by HTTP probe) -> snapshot each worker's /metrics ->
start the sampler and Locust -> wait -> stop Locust and the sampler -> snapshot again ->
stop the server (graceful, then forced) -> turn what was collected into table rows.
The record is updated after every case, so an interrupted run keeps what finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from harness import bundled, calibrate, cost, modes, net, nodes, preload, procs, record, selfcheck
from harness.against import Side
from harness.errors import EnvironmentProblem, HarnessError, Interrupted, RunFailed, UsageError
from harness.events import EventRunner
from harness.load import runner, user_file
from harness.load.hooks import add_aggregate, endpoint_rows, phase_of, request_rows, timeline_rows
from harness.load.runner import LocustRun, RemoteWorkers
from harness.load.verdict import generator_verdict
from harness.nodes import find_node
from harness.record import NO_WORKER
from harness.sampling import Sampler, window_cpu_by_pid
from harness.scenario import AGGREGATE_NAME, COUNTING_ROUTES, Case, Scenario
from harness.servers import make_server
from harness.servers.base import prepare_server_unless_overridden, using_server_dir
from harness.servers.redis import RedisService, redis_missing, redis_version

REPO = Path(__file__).resolve().parent.parent
SAMPLE_INTERVAL_S = 0.5
ACTIVE_DIR = ".active"  # ledgers of running harness processes (see procs.Unit and harness.guard)
# Counting routes, and a user's app run with the preload, stop Locust gracefully: each user's
# last request is answered and counted, so the client's count of successes can be compared
# with the servers' counters (the preload's per-process counts) exactly.
COUNT_STOP_TIMEOUT_S = 10.0
# What a service needs on this machine, for the check before anything is written.
SERVICE_MISSING: dict[str, Callable[[], list[str]]] = {"redis": redis_missing}


class Progress(Protocol):
    def case_started(self, case: Case, number: int, total: int, expected_s: float) -> None: ...
    def case_tick(self, elapsed_s: float) -> None: ...
    def case_finished(self, case: Case, summary: str) -> None: ...


def _phase(progress: Progress, phase: str) -> None:
    """Tell a progress display the case's phase (starting, load, stopping) if it listens."""
    tell = getattr(progress, "case_phase", None)
    if tell is not None:
        tell(phase)


class QuietProgress:
    def case_started(self, case: Case, number: int, total: int, expected_s: float) -> None:
        pass

    def case_tick(self, elapsed_s: float) -> None:
        pass

    def case_finished(self, case: Case, summary: str) -> None:
        pass


@dataclass
class RunOutcome:
    path: Path
    status: str
    error: str | None
    complete_cases: int


def _server_rows(case_id: str, snapshot: str, metrics: list[dict[str, Any]], route: str) -> list[dict[str, Any]]:
    rows = []
    for m in metrics:
        by_route = m.get("requests_by_route", {})
        eld = m.get("event_loop_delay_ms", {})
        # every request but the harness's own (its readiness probes and /metrics snapshots)
        total = sum(v for k, v in by_route.items() if k not in ("/metrics", "/healthz"))
        rows.append(
            {
                "case_id": case_id,
                "snapshot": snapshot,
                "worker_id": str(m.get("worker_id")),
                "pid": m.get("pid"),
                "requests_total": total,
                # a locustfile case's route is the total of its request names: every route the load requested
                "requests_route": total if route == AGGREGATE_NAME else by_route.get(route),
                "event_loop_utilization": m.get("event_loop_utilization"),
                "event_loop_delay_p50_ms": eld.get("p50"),
                "event_loop_delay_p99_ms": eld.get("p99"),
                "event_loop_delay_max_ms": eld.get("max"),
                "rss_bytes": m.get("memory_bytes", {}).get("rss"),
            }
        )
    return rows


def _counter_rows(case: Case, metrics: list[dict[str, Any]], redis: RedisService | None) -> list[dict[str, Any]]:
    """Rows of the `counters` table after the load: each worker's in-memory counter for
    /count/memory, the shared Redis key for /count/redis (nothing for other routes)."""
    if case.route == "/count/memory":
        return [
            {
                "case_id": case.case_id,
                "store": "memory",
                "worker_id": str(m.get("worker_id")),
                "pid": m.get("pid"),
                "value": (m.get("counters") or {}).get("memory"),
            }
            for m in metrics
        ]
    if case.route == "/count/redis" and redis is not None:
        pid = redis.proc.pid if redis.proc is not None else None
        return [{"case_id": case.case_id, "store": "redis", "worker_id": "", "pid": pid, "value": redis.counter()}]
    return []


def cpu_layout(pin: bool) -> dict[str, list[int]] | str:
    """Where the server and the generator run. "shared": anywhere (the default). Pinned:
    the generator gets the last quarter of the cores (at least one), the server the rest,
    so neither steals the other's CPU; on 2 cores that leaves the server one core."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin:
        return "shared"
    if len(cores) < 2:
        raise UsageError("--pin needs at least 2 cores: one for the server, one for the load generator")
    generator = max(1, len(cores) // 4)
    return {"server": cores[:-generator], "generator": cores[-generator:]}


def resolve_nodes(cases: list[Case], notice: Callable[[str], None]) -> dict[str, dict[str, str]]:
    """The Node binary of every case, by requested version ("machine": the machine's node),
    each {"binary", "version", "source"}; versions not yet in the cache are fetched from the
    npm registry now, before anything is written. Refuses a reuseport case on an older Node."""
    found: dict[str, dict[str, str]] = {}
    for case in cases:
        mode = modes.get(case.mode)
        if not mode.starts_server:
            continue  # runs no node of ours
        key = case.node_version or "machine"
        if key not in found:
            if case.node_version and not nodes.cached_binary(case.node_version).is_file():
                notice(f"fetching Node {case.node_version} from the npm registry into {nodes.cache_dir()} (once)")
            found[key] = nodes.resolve(case.node_version)
        problem = mode.node_problem(found[key]["version"])
        if problem is not None:
            raise UsageError(
                f"{problem}, and case {case.condition} would run {found[key]['version']} ({found[key]['binary']})",
                'give its ServerSpec node_version="22.12.0" (fetched from npm) or pass --node-version',
            )
    return found


def run_case(
    case: Case,
    raw_dir: Path,
    progress: Progress,
    port: int | None = None,
    layout: dict[str, list[int]] | str = "shared",
    remote: RemoteWorkers | None = None,
    node: dict[str, str] | None = None,
    side: Side | None = None,
) -> tuple[dict, dict]:
    """Measure one case. Returns (case record, table rows); raises on failure.

    A case with events (Event: kill a worker, reload, restart, SIGTERM) fires them from a
    thread while Locust runs; after a SIGTERM the server counts as stopped (no `after`
    snapshot of its /metrics), and Locust runs on to the end of the window."""
    started = time.time()
    _phase(progress, "starting")
    pinned = layout if isinstance(layout, dict) else {}
    # a user's locustfile stops gracefully too: each user finishes the task it is in, so the
    # client saw every response the server gave (the counts per worker agree exactly)
    graceful = (
        (case.route in COUNTING_ROUTES or (bool(case.app) and case.preload)) and case.load == "closed"
    ) or case.load == "locustfile"
    if case.locustfile and case.locustfile_sha256:
        user_file.check_unchanged(case.locustfile, case.locustfile_sha256)
    # Services first, stopped last (ExitStack unwinds in reverse): the server drains its
    # in-flight requests while Redis still answers them.
    with contextlib.ExitStack() as stack:
        if side is not None:  # an A/B run: this case's server (and app) come from its side's folder
            stack.enter_context(using_server_dir(side.server_dir))
        redis = None
        if "redis" in case.services:
            redis = stack.enter_context(RedisService(raw_dir, cpus=pinned.get("server")))
        server = make_server(
            replace(case, app=side.app_path(case.app)) if side else case,
            raw_dir,
            port=port,
            cpus=pinned.get("server"),
            node=node["binary"] if node else None,
        )
        if redis is not None:
            server.extra_env = redis.environment()
        stack.enter_context(server)
        before = [] if case.app else server.worker_metrics()  # a user's app has no /metrics
        load = LocustRun(
            server.url,
            case.path,
            case.route,
            case.users,
            case.warmup_s,
            case.duration_s,
            raw_dir,
            open_rps=case.target_rps,
            max_in_flight=case.max_in_flight,
            processes=case.generator_processes,
            cpus=pinned.get("generator"),
            remote=remote,
            keepalive=case.keepalive,
            probe_path=case.probe_path,
            probe_rps=case.probe_rps,
            stop_timeout_s=COUNT_STOP_TIMEOUT_S if graceful else 0.0,
            record_requests=bool(case.events),
            locustfile=case.locustfile,
            shape=bool(case.shape),
        )
        sampler = Sampler([server.processes, load.processes, *([redis.processes] if redis else [])], SAMPLE_INTERVAL_S)
        events = EventRunner(case, server, load.measure_start_ts, load.running, started)
        sampler.start()
        try:
            load.start()
            _phase(progress, "load")
            events.start()
            hooks = load.wait(on_tick=progress.case_tick)
        finally:
            _phase(progress, "stopping")
            events.cancel()
            load.stop()
            load_stopped_ts = time.time()
            samples = sampler.stop()
            thread_samples = sampler.thread_rows
        event_rows = events.join()
        after = [] if server.terminated or case.app else server.worker_metrics()
        counters = _counter_rows(case, after, redis)
        # a user's app with the preload: each process's own figures, rewritten after the load stopped
        processes = (
            []
            if server.preload_dir is None
            else preload.collect(
                server.preload_dir, set() if server.terminated else set(server.worker_pids()), load_stopped_ts
            )
        )
    ended = time.time()
    (raw_dir / "server_metrics.json").write_text(json.dumps({"before": before, "after": after}, indent=1))

    foreign = hooks.get("foreign_hosts") or {}
    if foreign:
        hosts = ", ".join(f"{host} ({n} request{'s' if n != 1 else ''})" for host, n in sorted(foreign.items()))
        raise RunFailed(
            f"the locustfile sent requests to another host than the server under test, so the load was "
            f"stopped: {hosts}",
            "request paths relative to the host (self.client.get('/path')); the "
            "harness sets the host to the server it measures (or --target URL)",
        )
    if case.load == "locustfile":
        try:
            add_aggregate(hooks, AGGREGATE_NAME)
        except ValueError as exc:
            raise RunFailed(str(exc), "rename that request (name=...) in the locustfile") from None
    window = hooks["window"]
    m_start, m_end = window.get("measure_start_ts"), window.get("measure_end_ts")
    pid_worker = {str(m.get("pid")): str(m.get("worker_id")) for m in before + after}
    pid_worker.update({str(p["pid"]): str(p.get("worker_id") or "") for p in processes})
    for s in samples:
        s.update(
            case_id=case.case_id,
            elapsed_s=s["ts"] - started,
            phase=phase_of(s["ts"], m_start, m_end),
            worker_id=pid_worker.get(str(s["pid"])) if s["role"] in ("worker", "primary") else None,
        )
    if m_start is None or m_end is None or m_end <= m_start:
        raise RunFailed(
            "the measurement window is empty: Locust stopped before the warm-up ended",
            "raise duration_s or lower warmup_s",
        )
    measured_s = m_end - m_start
    sent = sum(lag["sent"] for lag in hooks.get("send_lag", []) if lag["phase"] == "measure")
    sent_rps = sent / measured_s if case.target_rps is not None else None
    cap_waits = int(hooks.get("cap_waits", {}).get("measure", 0))
    gen_by_pid = window_cpu_by_pid(pd.DataFrame([s for s in samples if s["phase"] == "measure"]), ("generator",))
    generator_cpu = float(gen_by_pid.sum()) if not gen_by_pid.empty else None
    endpoints = endpoint_rows(case.case_id, hooks["endpoints"])
    route_row = next((r for r in endpoints if r["phase"] == "measure" and r["name"] == case.route), {})
    # the generator's verdict, recorded: analysis.case_results reads it from the record (send lag included)
    limited, reason = generator_verdict(
        float(gen_by_pid.max()) if not gen_by_pid.empty else float("nan"),
        case.target_rps,
        sent_rps,
        cap_waits,
        _float(route_row.get("send_lag_p99_ms")),
        _float(route_row.get("latency_p99_ms")),
    )
    case_row = {
        **case.to_dict(),
        "status": "complete",
        "error": None,
        "started_ts": started,
        "ended_ts": ended,
        "measure_start_ts": m_start,
        "measure_end_ts": m_end,
        "measured_s": measured_s,
        "port": server.port,
        "sent_rps": sent_rps,
        "cap_waits": cap_waits,
        "generator_cpu_pct": generator_cpu,
        "generator_limited": limited,
        "generator_limited_reason": reason,
        "http_client": hooks.get("http_client") or "locust",  # a hooks file from before lean_http
        "server_exit_code": server.exit_code,
        "sampler_errors": sampler.errors,
        "client_errors": hooks.get("errors", {}),
        # requests each Locust worker sent (by Locust client id), as the master received them
        "requests_by_locust_worker": hooks.get("received_by_client") or None,
        "missing_figures": missing_figures(case, remote, hooks["workers"], processes) + server.missing_figures(),
        "node": node,  # which binary ran, and its version
    }
    tables = {
        "endpoints": endpoints,
        "workers": [{"case_id": case.case_id, **w} for w in hooks["workers"]],
        "server_metrics": _server_rows(case.case_id, "before", before, case.route)
        + _server_rows(case.case_id, "after", after, case.route),
        "samples": samples,
        "threads": [
            {**t, "case_id": case.case_id, "elapsed_s": t["ts"] - started, "phase": phase_of(t["ts"], m_start, m_end)}
            for t in thread_samples
        ],
        "timeline": timeline_rows(case.case_id, hooks["timeline"], started, m_start, m_end),
        "counters": counters,
        "events": event_rows,
        "requests": request_rows(case.case_id, hooks.get("requests", []), m_start, m_end),
        "processes": preload.process_rows(case.case_id, processes),
    }
    return case_row, tables


def missing_figures(
    case: Case,
    remote: RemoteWorkers | None,
    workers: list[dict[str, Any]],
    processes: list[dict[str, Any]] | None = None,
) -> list[str]:
    """The figures this case cannot have, each with the reason (shown in the report's header)."""
    missing = []
    if case.app and not case.preload:
        missing.append(
            "the server's own request counts and event-loop figures (a user's app serves no /metrics, "
            "and it ran without the harness's preload: --no-preload), so client and server counts are "
            "not compared"
        )
    elif case.app and not processes:
        missing.append(
            "the app's per-process request counts and event-loop figures: no process of it wrote the "
            "preload's figures (an A/B side's cluster wrapper from before the preload?)"
        )
    answered = [w for w in workers if w["pid"] != NO_WORKER or w["worker_id"] != NO_WORKER]
    if workers and not answered:
        why = (
            "the app ran without the harness's preload (--no-preload), which tags each response with x-pid"
            if case.app and not case.preload
            else "the server sends neither"
        )
        missing.append(
            "the spread of requests over the server's workers (requests per worker, Jain's fairness): "
            f"no response carried an x-worker-id header, nor an x-pid header ({why})"
        )
    if remote is not None:
        missing.append(
            f"CPU of the {remote.count} Locust workers started outside the harness (only the master "
            "was sampled), so a generator-limited worker would not be flagged: watch their CPU on "
            "their machines"
        )
    return missing


@dataclass(frozen=True)
class Checked:
    """What the checks before a run found: the machine's node (None: not needed and not on
    PATH) and the Node binary of every requested version (resolve_nodes)."""

    node: str | None
    node_by_version: dict[str, dict[str, str]]


def check_before_run(
    cases: list[Case],
    *,
    allow_remote: bool = False,
    port: int | None = None,
    notice: Callable[[str], None] | None = None,
) -> Checked:
    """Everything a run needs of this machine and of its input, before anything is written:
    node (a run of external targets needs none), an installed harness's reference server,
    each mode's and service's programs, the targets, the server's folder, every Node version
    (fetched now) and the --port. Each problem is one line (a HarnessError)."""
    notice = notice or (lambda _: None)
    runner.http_client()  # HARNESS_CLIENT names a client the harness has
    servers_started = any(modes.get(c.mode).starts_server for c in cases)
    node = find_node() if servers_started else shutil.which("node")
    if servers_started:
        prepare_server_unless_overridden(notice)
    check_modes_available({c.mode for c in cases})  # nginx or pm2 missing: say so before anything is written
    check_services_available({s for c in cases for s in c.services})  # redis-server missing: the same
    check_targets(cases, allow_remote)
    check_server_folder(cases)
    node_by_version = resolve_nodes(cases, notice)  # other Node versions are fetched now
    if port is not None:
        net.check_port_free(port)
    return Checked(node, node_by_version)


def run_scenario(
    scenario: Scenario,
    results_dir: Path,
    run_id: str,
    progress: Progress | None = None,
    port: int | None = None,
    scenario_source: str | None = None,
    quick: bool = False,
    on_notice: Callable[[str], None] | None = None,
    pin: bool = False,
    remote: RemoteWorkers | None = None,
    allow_remote: bool = False,
    sides: dict[str, Side] | None = None,
    against: dict[str, Any] | None = None,
    locustfile: dict[str, Any] | None = None,
    checked: Checked | None = None,
) -> RunOutcome:
    """Run every case of the scenario into results_dir/run_id. KeyboardInterrupt and
    harness.errors.Interrupted are recorded as `interrupted` and re-raised. The checks before
    anything is written (check_before_run) are made here, unless `checked` says they were."""
    progress = progress or QuietProgress()
    cases = scenario.cases()
    if checked is None:
        checked = check_before_run(cases, allow_remote=allow_remote, port=port, notice=on_notice)
    node, node_by_version = checked.node, checked.node_by_version
    services = {s for c in cases for s in c.services}
    clean_up_after_killed_runs(results_dir, on_notice or (lambda _: None))
    writer = record.RunWriter(results_dir, run_id)
    layout = cpu_layout(pin)
    machine = record.machine_facts()
    machine["cpu_layout"] = layout
    # the ceiling and the costs measured with the client this run's Locust sends with
    client = runner.http_client()
    machine["generator_calibration"] = calibrate.load_matching(results_dir, machine, client)
    machine["generator_selfcheck"] = cost.selfcheck_facts(selfcheck.latest(results_dir, machine, client))
    # the commit of the checkout the harness runs from; an installed harness has none (never the
    # commit of whatever repository its virtual environment happens to sit in)
    versions = record.versions(node, bundled.source_tree())
    if "redis" in services:
        versions["redis"] = redis_version()
    writer.start(
        {
            "scenario": {**scenario.describe(), "source": scenario_source, "quick": quick},
            "machine": machine,
            "versions": {**versions, "node_by_case_version": node_by_version},
            "planned_cases": [c.case_id for c in cases],
            "sample_interval_s": SAMPLE_INTERVAL_S,
            "against": against,
            "remote_workers": None
            if remote is None
            else {"count": remote.count, "bind_host": remote.bind_host, "port": remote.port},
            "locustfile": None
            if locustfile is None
            else {**locustfile, "copy": f"{LOCUSTFILE_COPY_DIR}/{Path(locustfile['path']).name}"},
        }
    )
    if locustfile is not None:
        try:
            keep_locustfile_copy(writer.path, writer.meta["locustfile"])
        except (HarnessError, OSError) as exc:
            writer.finish("failed", f"the locustfile could not be copied into the run: {exc}")
            raise
    failed: list[str] = []
    # everything started from here on is one unit: it dies with the harness, however it ends
    with procs.contained(results_dir / ACTIVE_DIR, writer.path):
        return _run_cases(
            writer,
            cases,
            progress,
            failed,
            port=port,
            layout=layout,
            remote=remote,
            node_by_version=node_by_version,
            sides=sides,
        )


def _run_cases(
    writer: record.RunWriter,
    cases: list[Case],
    progress: Progress,
    failed: list[str],
    *,
    port: int | None,
    layout: dict[str, list[int]] | str,
    remote: RemoteWorkers | None,
    node_by_version: dict[str, Any],
    sides: dict[str, Side] | None,
) -> RunOutcome:
    try:
        for number, case in enumerate(cases, 1):
            progress.case_started(case, number, len(cases), case.expected_s)
            raw = writer.raw_dir(case.case_id)
            raw.mkdir(parents=True, exist_ok=True)
            try:
                case_row, tables = run_case(
                    case,
                    raw,
                    progress,
                    port=port,
                    layout=layout,
                    remote=remote,
                    node=node_by_version.get(case.node_version or "machine"),
                    side=(sides or {}).get(case.side),
                )
            except HarnessError as exc:
                failed.append(case.case_id)
                writer.add_case({**case.to_dict(), "status": "failed", "error": exc.one_line()}, {})
                progress.case_finished(case, f"failed: {exc.one_line()}")
                if isinstance(exc, EnvironmentProblem):
                    raise
                continue
            writer.add_case(case_row, tables)
            progress.case_finished(case, _one_line_summary(case_row, tables))
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, Interrupted)):
            writer.finish("interrupted", "stopped by a signal (Ctrl-C, SIGTERM or SIGHUP) before every case ran")
        else:
            writer.finish("failed", f"{type(exc).__name__}: {getattr(exc, 'message', exc)}")
        raise
    if failed:
        error = f"{len(failed)} of {len(cases)} cases failed: {', '.join(failed)}"
        writer.finish("failed", error)
        return RunOutcome(writer.path, "failed", error, len(cases) - len(failed))
    writer.finish("complete")
    return RunOutcome(writer.path, "complete", None, len(cases))


LOCUSTFILE_COPY_DIR = "locustfile"


def keep_locustfile_copy(run_path: Path, locustfile: dict[str, Any]) -> None:
    """A copy of the user's locustfile in the run folder (locustfile/NAME.py, as run.json's
    `locustfile.copy` says), so the run can be repeated with the very file it ran; checked
    against the hash the run was planned with."""
    source = Path(locustfile["path"])
    copy = run_path / locustfile["copy"]
    copy.parent.mkdir(exist_ok=True)
    tmp = copy.with_name(f".{copy.name}.tmp")
    shutil.copyfile(source, tmp)
    if user_file.sha256_of(tmp) != locustfile["sha256"]:
        tmp.unlink()
        raise RunFailed(f"the locustfile {source} changed after it was checked", "run again")
    os.replace(tmp, copy)


def check_targets(cases: list[Case], allow_remote: bool) -> None:
    """Every external target is loopback (or allowed to be remote) and answers, before anything is written."""
    seen: set[tuple[str, str]] = set()
    for case in cases:
        if case.target_url is None or (case.target_url, case.path) in seen:
            continue
        seen.add((case.target_url, case.path))
        target = net.parse_target(case.target_url, allow_remote=allow_remote)
        net.check_reachable(target, case.path)


def check_server_folder(cases: list[Case]) -> None:
    """The reference server's folder (HARNESS_SERVER_DIR, or server/) has its entry point,
    before anything is written: a wrong folder is bad input, not a failed case."""
    from harness.servers.base import server_dir

    if all(not modes.get(c.mode).starts_server or c.app for c in cases):
        return
    folder = server_dir()
    if not (folder / "index.js").is_file():
        where = "HARNESS_SERVER_DIR" if os.environ.get("HARNESS_SERVER_DIR") else "the harness's server/ folder"
        raise UsageError(
            f"the reference server is not in {folder} (no index.js there; set by {where})",
            "point HARNESS_SERVER_DIR at a folder holding the server (index.js), or unset it",
        )


def check_modes_available(names: set[str]) -> None:
    """Raise EnvironmentProblem (one line, with the fix) if this machine cannot run a mode."""
    for mode in sorted(names):
        problems = modes.get(mode).server_class().missing()
        if problems:
            raise EnvironmentProblem(
                f"mode {mode} cannot run here: {problems[0]}", "`harness doctor` lists what each mode needs"
            )


def check_services_available(services: set[str]) -> None:
    """Raise EnvironmentProblem (one line, with the fix) if a service a route needs is missing."""
    for service in sorted(services):
        problems = SERVICE_MISSING[service]()
        if problems:
            raise EnvironmentProblem(
                f"the scenario needs {service}, which cannot run here: {problems[0]}",
                "`harness doctor` lists what each mode and service needs",
            )


def clean_up_after_killed_runs(results_dir: Path, notice: Callable[[str], None]) -> None:
    """Stop processes a killed harness left behind and mark its run `interrupted`."""
    try:
        found = procs.reap_stale(results_dir / ACTIVE_DIR)
    except OSError:
        return
    for message, run_path in found:
        notice(message)
        meta_path = Path(run_path) / "run.json" if run_path else None
        if meta_path and meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError:
                continue
            if meta.get("status") == "running":
                meta.update(
                    status="interrupted",
                    ended_at=None,
                    error="the harness was killed (SIGKILL or a crash) during this run; found by a later run",
                )
                record.atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")


def _float(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _one_line_summary(case_row: dict, tables: dict) -> str:
    """The progress line of a finished case: successful responses per second on the case's
    route (a probe's and failed responses left out, as in the report), p99, failures."""
    measured = [r for r in tables["endpoints"] if r["phase"] == "measure" and r["name"] == case_row["route"]]
    if not measured:
        return "no responses in the measurement window"
    r = measured[0]
    # open load: successes that completed in the window, whatever their due time (as the report)
    done = r.get("completed_in_phase")
    ok = done if done is not None and done == done else r["requests"] - r["failures"]
    rps = ok / case_row["measured_s"]
    dropped = r.get("dropped")
    drops = f", {dropped:,.0f} dropped" if dropped and dropped == dropped else ""
    p99 = r["latency_p99_ms"]
    p99_text = f"p99 {p99:.1f} ms" if p99 is not None and p99 == p99 else "no successful response"
    return f"{rps:,.0f} req/s, {p99_text}, {r['failures']} failed{drops}"
