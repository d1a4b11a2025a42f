"""The `harness` command line (also `python -m harness`).

    harness list                 scenarios and what each shows, and the runs stored
    harness run SCENARIO         run a scenario, write results/<run-id>/ and its report
    harness bench                the default set (make bench): default, then every demo's quick variant
    harness demo SCENARIO        live: one server of the scenario and Locust's web UI, per-worker counts
    harness report RUN [RUN...]  render the report of stored runs, side by side (never starts a server)
    harness plan SCENARIO        the cases and the minutes they will take, without running
    harness doctor [SCENARIO]    what this machine lacks (for that scenario: exit 0 when it can run)

Exit codes (one table for every command, harness.errors): 0 ok, 1 the run failed, 2 bad
input, 3 the machine lacks something; the regression gate (compare, run --against): 4
regression, 5 inconclusive, 6 not trustworthy, 7 not everything compared; 130 interrupted
(Ctrl-C or SIGTERM). Errors are one line; --debug shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness import __version__, modes as server_modes, record, scenario as scenario_mod
from harness.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, HarnessError, Interrupted, UsageError
from harness.gate import GateOptions, gate
from harness.net import check_port_free
from harness.nodes import find_node
from harness.scenario import Case
from harness.terminal import console, note, print_json

if TYPE_CHECKING:
    from harness.load.runner import RemoteWorkers


def default_results_dir() -> Path:
    """$HARNESS_RESULTS, else the checkout's results/, else (an installed harness) ./results."""
    from harness import bundled

    root = bundled.source_tree()
    return Path(os.environ.get("HARNESS_RESULTS", (root or Path.cwd()) / "results"))


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use a whole number from 1 to 65535")
    return int(text)


def _values(kind: str, cores_ok: bool) -> Callable[[str], list]:
    """An argparse type: a comma-separated list of whole numbers ("1,2,4"; also "cores" when
    cores_ok), for the command line's sweeps."""

    def parse(text: str) -> list:
        out: list = []
        for item in (t.strip() for t in text.split(",")):
            if cores_ok and item == "cores":
                out.append(item)
            elif item.isdigit() and int(item) >= 1:
                out.append(int(item))
            else:
                raise argparse.ArgumentTypeError(
                    f"{item!r} in {text!r} is not a {kind}: give whole numbers from 1 "
                    f"up, comma-separated, e.g. 1,2,4{' (or cores)' if cores_ok else ''}"
                )
        return list(dict.fromkeys(out))

    return parse


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in server_modes.names(selectable=True)]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(
            f"{text!r}: unknown mode {unknown[0] if unknown else ''!r}; use some of "
            + ", ".join(server_modes.names(selectable=True))
        )
    return list(dict.fromkeys(modes))


def _swept(scen: scenario_mod.Scenario, args: argparse.Namespace) -> scenario_mod.Scenario:
    """--modes, --workers, --threads, --uv-threadpool-size: the scenario's servers multiplied (Scenario.swept)."""
    if getattr(args, "target", None) and any(
        getattr(args, a, None) for a in ("modes", "workers", "threads", "uv_threadpool_size")
    ):
        raise UsageError(
            "--target drives one server the harness does not start: there is nothing to sweep",
            "drop --modes/--workers/--threads/--uv-threadpool-size, or use --app FILE",
        )
    return scen.swept(
        modes=getattr(args, "modes", None),
        workers=getattr(args, "workers", None),
        threads=getattr(args, "threads", None),
        uv_threadpool_sizes=getattr(args, "uv_threadpool_size", None),
    )


def _sweep_options() -> argparse.ArgumentParser:
    """The sweep options of `run` and `plan` (a parent parser)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("sweeps (the scenario's servers multiplied; the report marks each sweep's knee)")
    g.add_argument(
        "--modes",
        type=_modes,
        metavar="M1,M2",
        help="only these server modes, in this order, e.g. "
        "single,cluster,nginx,pm2 (a mode the scenario lacks is added: one worker or thread per core)",
    )
    g.add_argument(
        "--workers",
        type=_values("worker count", True),
        metavar="N1,N2",
        help="every cluster, nginx, pm2 and reuseport server once per count, e.g. 1,2,4",
    )
    g.add_argument(
        "--threads",
        type=_values("thread count", True),
        metavar="N1,N2",
        help="every pool server (piscina) once per thread count, e.g. 1,2,4",
    )
    g.add_argument(
        "--uv-threadpool-size",
        type=_values("UV_THREADPOOL_SIZE", False),
        metavar="N1,N2",
        help="every server once per UV_THREADPOOL_SIZE, e.g. 2,4,8,16",
    )
    return p


def _on_sigterm(signum: int, frame: object) -> None:
    raise Interrupted()


def cmd_run(args: argparse.Namespace) -> int:
    gate_options = _gate_options(args)
    if (args.threshold or args.gate or args.markdown or args.junit or args.detect is not None) and not args.against:
        raise UsageError(
            "--threshold, --gate, --detect, --markdown and --junit of harness run go with --against",
            "add --against REF, or use harness compare on stored runs",
        )
    if args.against and args.target:
        raise UsageError(
            "--against compares two versions of a server the harness starts; --target drives one it does not",
            "drop --target, or compare two stored runs with harness compare",
        )
    if args.threshold or args.gate:  # (none given: nothing to check, and pandas is not imported for it)
        gate_options.parsed()
    scen = scenario_mod.load(args.scenario)
    if args.quick:
        scen = scen.quick_variant()
    scen = scen.with_overrides(
        duration_s=args.duration_s,
        warmup_s=args.warmup_s,
        repetitions=args.repetitions,
        users=args.users,
        rate_rps=args.rate,
        generator_processes=args.processes,
    )
    as_written = scen
    scen = _swept(scen, args)
    scen = _own_server_or_target(scen, args)
    scen, locustfile = _own_locustfile(scen, args)
    scen = scen.with_servers(node_version=args.node_version)
    scen = _described_as_run(as_written, scen)
    remote = _remote_workers(args)
    warnings = scen.warnings()
    if remote is not None and remote.bind_host not in ("127.0.0.1", "localhost", "::1") and not args.target:
        warnings.append(
            "the harness's servers listen on 127.0.0.1: Locust workers on other machines would send to "
            "their own loopback; run the server where they can reach it and give --target"
        )
    if remote is not None:  # one Locust user per worker under open load; the workers are not this machine's
        scen = scen.with_overrides(generator_processes=remote.count)
    if args.dry_run:
        print_plan(scen, scen.cases(), Console(width=200 if not sys.stdout.isatty() else None))
        return EXIT_OK
    from harness import run_api

    result = run_api.run(
        scen,
        run_api.RunOptions(
            results_dir=Path(args.results),
            run_id=args.run_id,
            scenario_source=str(args.scenario),
            quick=args.quick,
            port=args.port,
            pin=args.pin,
            allow_remote=args.allow_remote,
            remote=remote,
            locustfile=locustfile,
            against=args.against,
            gate=gate_options,
            no_report=args.no_report,
            warnings=tuple(warnings),
        ),
    )
    return result.exit_code


# `harness bench` (= `make bench`): the default scenario in full, then the quick variant of
# every teaching demo; about 15 minutes on a 2-core machine. Missing scenarios are skipped.
BENCH_SET: tuple[tuple[str, bool], ...] = (
    ("default", False),
    ("scheduling", True),
    ("event_loop", True),
    ("threadpool", True),
    ("pool_vs_spawn", True),
    ("resilience", True),
    ("shared_state", True),
    ("move_data", True),
    ("memory", True),
)


def cmd_setup(args: argparse.Namespace) -> int:
    """Install the reference server's npm dependencies now (an installed harness does it on first use)."""
    from harness import bundled
    from harness.servers.base import prepare_server_unless_overridden, server_dir

    root = bundled.source_tree()
    if root is not None and os.environ.get("HARNESS_SERVER_DIR") is None:
        if not bundled.server_ready():
            console.print(f"this is a checkout ({root}): `make setup` runs npm ci in {root / 'server'}")
            return 3
    else:
        prepare_server_unless_overridden(note)
    print(server_dir())
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from harness import run_api

    known = scenario_mod.available()
    plan = [(name, quick) for name, quick in BENCH_SET if name in known]
    console.print("[bold]bench[/]: " + ", ".join(f"{n}{' (quick)' if q else ''}" for n, q in plan))
    outcomes: list[tuple[str, int, str]] = []
    for name, quick in plan:
        # exactly what `harness run NAME [--quick] [--pin]` would get, every other option at its default
        scen = scenario_mod.load(name)
        quick = quick or args.quick
        result = run_api.run(
            scen.quick_variant() if quick else scen,
            run_api.RunOptions(results_dir=Path(args.results), scenario_source=name, quick=quick, pin=args.pin),
        )
        outcomes.append((name, result.exit_code, str(result.report or "")))
    table = Table(title="bench: one report per scenario")
    for column in ("scenario", "exit", "report"):
        table.add_column(column, overflow="fold")
    for name, code, path in outcomes:
        table.add_row(name, str(code), path)
    console.print(table)
    failed = [n for n, code, _ in outcomes if code != EXIT_OK]
    if failed:
        console.print(f"[red]{len(failed)} of {len(outcomes)} scenarios did not complete[/]: {', '.join(failed)}")
        return 1
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.demo import choices, run_demo, switch_hint

    scen = scenario_mod.load(args.scenario)
    if args.list:
        table = Table(title=f"harness demo {scen.name}: the servers and loads it can show")
        for column in ("--server", "--work", "--load", "what runs"):
            table.add_column(column, overflow="fold")
        for c in choices(scen):
            table.add_row(c.server, c.work, c.load, c.describe())
        console.print(table)
        console.print(f"switch with:\n{switch_hint(scen, args.scenario)}", highlight=False)
        return EXIT_OK
    find_node()
    run_demo(
        scen,
        Path(args.results),
        console,
        server_label=args.server,
        web_port=args.web_port,
        for_s=args.for_s,
        load_label=args.load,
        work=args.work,
        web_host=args.web_host,
        allow_remote=args.allow_remote,
    )
    return EXIT_OK


def _described_as_run(as_written: scenario_mod.Scenario, scen: scenario_mod.Scenario) -> scenario_mod.Scenario:
    """The scenario with its description marked when the command line changed what it runs
    (--app, --path, --modes, a locustfile...): the file's sentence ("on CPU-bound /cpu", "in
    single, cluster, nginx and pm2 modes") would otherwise describe cases this run does not have."""

    def shape(s: scenario_mod.Scenario) -> tuple:  # what a description speaks of: not which app, nor its Node
        servers = tuple(replace(spec, app=None, preload=True, node_version=None) for spec in s.servers)
        return servers, s.workloads, s.parts

    if shape(as_written) == shape(scen):
        return scen
    conditions = list(dict.fromkeys(c.condition for c in scen.cases()))
    shown = ", ".join(conditions[:6]) + (f" and {len(conditions) - 6} more" if len(conditions) > 6 else "")
    return replace(
        scen,
        description=f"{scen.description} (as written; the command line changed it: this run's conditions: {shown})",
    )


def _own_server_or_target(scen: scenario_mod.Scenario, args: argparse.Namespace) -> scenario_mod.Scenario:
    """--target URL: every case drives that server (mode external); --app FILE: every server
    runs the user's app. Either way --path (default /) replaces the reference server's routes."""
    target, app, path = getattr(args, "target", None), getattr(args, "app", None), getattr(args, "path", None)
    if getattr(args, "no_preload", False) and not app:
        raise UsageError("--no-preload is for --app", "the harness's preload is only ever loaded into your own app")
    if target and app:
        raise UsageError(
            "--target drives a server the harness does not start, --app one it starts", "give one of the two"
        )
    if target and getattr(args, "port", None) is not None:
        raise UsageError("--port is for servers the harness starts", "put the port in the --target URL")
    if path is not None and not (target or app):
        raise UsageError("--path is for --target or --app", "the reference server's routes are set in the scenario")
    if (target or app) and scen.parts:
        raise UsageError(
            f"--target and --app need a scenario of one grid; {scen.name} is made of parts",
            "use `harness run app --app FILE` or `harness run default --target URL`",
        )
    if target:
        scen = replace(scen, servers=(scenario_mod.ServerSpec("external", target=target),), baseline="external")
    elif app:
        if not Path(app).is_file():
            raise UsageError(f"--app {app}: no such file", "give the path of your server's .js file")
        try:
            scen = scen.with_servers(
                app=str(Path(app).resolve()), preload=False if getattr(args, "no_preload", False) else None
            )
        except UsageError as exc:
            raise UsageError(
                f"--app with scenario {scen.name}: {exc.message}",
                "use a scenario whose servers are "
                f"in the modes {', '.join(scenario_mod.app_modes())}, e.g. `harness run app --app FILE`",
            ) from exc
    if target or app:
        scen = replace(scen, workloads=(scenario_mod.PathWorkload.of(path or "/"),))
    return scen


def _own_locustfile(
    scen: scenario_mod.Scenario, args: argparse.Namespace
) -> tuple[scenario_mod.Scenario, dict[str, object] | None]:
    """--locustfile FILE: the user's own Locust users (and LoadTestShape) replace the scenario's
    workloads and loads (harness.load.user_file); returns the scenario and what run.json keeps
    about the file (None without the option). Every problem is a UsageError, before anything
    is written."""
    path = getattr(args, "locustfile", None)
    if path is None:
        return scen, None
    from harness.load import user_file

    if getattr(args, "path", None) is not None:
        raise UsageError("--path and --locustfile: the locustfile's tasks choose what is requested", "drop --path")
    info = user_file.inspect(path)
    scen = user_file.with_locustfile(
        scen,
        info,
        users=args.users,
        rate=args.rate,
        duration_s=args.duration_s,
        expect_workers=getattr(args, "expect_workers", None),
        notice=note,
    )
    return scen, info.record()


def _remote_workers(args: argparse.Namespace) -> RemoteWorkers | None:
    """--expect-workers N [--master-bind HOST] [--master-port PORT]: a master for workers started elsewhere."""
    from harness.load.runner import RemoteWorkers
    from harness.net import check_host_allowed

    count = getattr(args, "expect_workers", None)
    if count is None:
        return None
    scenario_mod.whole(count, "--expect-workers", 1, scenario_mod.MAX_GENERATOR_PROCESSES)
    if args.processes is not None:
        raise UsageError(
            "--processes starts Locust workers here and --expect-workers waits for workers started elsewhere",
            "give one of the two",
        )
    check_host_allowed(args.master_bind, "--master-bind", args.allow_remote)
    if args.master_port is not None:
        check_port_free(
            args.master_port, args.master_bind if args.master_bind not in ("0.0.0.0", "::") else "127.0.0.1"
        )
    return RemoteWorkers(
        count=count, bind_host=args.master_bind, port=args.master_port or 5557, wait_s=args.worker_wait_s
    )


def cmd_worker(args: argparse.Namespace) -> int:
    """Locust workers for a master started with `harness run ... --expect-workers N`."""
    from harness.load.worker import run_workers
    from harness.net import check_host_allowed, parse_host_port

    host, port = parse_host_port(args.master, 5557)
    check_host_allowed(host, "--master", args.allow_remote)
    scenario_mod.whole(args.processes, "--processes", 1, scenario_mod.MAX_GENERATOR_PROCESSES)
    if args.cases < 0:
        raise UsageError(f"--cases is {args.cases}", "use 0 (until Ctrl-C) or a positive number")
    out = Path(args.out) if args.out else Path(args.results) / "workers"
    console.print(f"Locust worker(s) for the master at {host}:{port}; totals sent are kept in {out}")
    served = run_workers(
        host, port, out, processes=args.processes, cases=args.cases, notice=lambda m: console.print(f"note: {m}")
    )
    console.print(f"served {served} case(s)")
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    from harness import calibrate

    done = calibrate.calibrate(Path(args.results), quick=args.quick, processes=args.processes, run_id=args.run_id)
    if done.calibration is None:
        console.print(f"[red]calibration failed:[/] {done.error}")
        return 1
    result = done.calibration
    bound = "" if result["saturated"] else " at least (Locust never saturated: a lower bound)"
    console.print(
        f"generator ceiling: {result['ceiling_rps']:,.0f} req/s{bound} with "
        f"{result['generator_processes']} Locust process(es) on /hello; stored in {done.path}"
    )
    return done.exit_code


def cmd_selfcheck(args: argparse.Namespace) -> int:
    """What the harness's own measuring costs here (harness/selfcheck.py)."""
    from harness import selfcheck

    result, path = selfcheck.selfcheck(
        Path(args.results), reps=args.reps, window_s=args.window_s, pairs=args.pairs or None, notice=console.print
    )
    console.print(selfcheck.format_table(result), markup=False)
    console.print(f"stored in {path}")
    return EXIT_OK


def _node_line() -> tuple[str, str | None]:
    """(what doctor prints about node, the problem or None)."""
    import subprocess

    try:
        node = find_node()
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (HarnessError, OSError, ValueError, subprocess.SubprocessError) as exc:
        problem = exc.one_line() if isinstance(exc, HarnessError) else str(exc)
        return f"[red]missing[/]: {problem}", f"node: {problem}"
    if major < 20:
        return f"{version} at {node} [red](too old: Node.js 20 or newer needed)[/]", f"node {version} is older than 20"
    return f"{version} at {node}", None


def cmd_doctor(args: argparse.Namespace) -> int:
    """Which modes can run here, and the command that fixes what is missing; with a
    scenario, only what that scenario needs, and exit 0 when it can run."""
    import io

    from harness import calibrate
    from harness.load import runner
    from harness.servers.redis import redis_missing, redis_version

    as_json = getattr(args, "json", False)
    out = Console(file=io.StringIO()) if as_json else Console()  # --json: the same checks, JSON on stdout
    facts: dict[str, object] = {}
    scen = scenario_mod.load(args.scenario) if getattr(args, "scenario", None) else None
    cases = scen.cases() if scen is not None else []
    modes = (
        sorted({c.mode for c in cases if server_modes.get(c.mode).starts_server})
        if scen is not None
        else list(server_modes.names())
    )
    services = {s for c in cases for s in c.services}
    needs_node = scen is None or any(server_modes.get(c.mode).starts_server for c in cases)
    problems: list[str] = []
    if needs_node:
        node_line, problem = _node_line()
        out.print(f"node: {node_line}")
        facts["node"] = {"ok": problem is None, "text": Text.from_markup(node_line).plain}
        problems += [problem] if problem else []
    cores = scenario_mod.machine_cores()
    out.print(
        f"cores: {cores}"
        + ("  (the load generator and the server share them: see docs/findings.md)" if cores < 4 else "")
    )
    machine = record.machine_facts()
    try:
        cal = calibrate.load_matching(Path(args.results), machine, runner.http_client())
    except HarnessError as exc:
        problems.append(exc.one_line())
        cal = None
    facts.update(cores=cores, generator_ceiling_rps=cal["ceiling_rps"] if cal else None, modes=[])
    out.print(
        "generator ceiling: "
        + (
            f"{cal['ceiling_rps']:,.0f} req/s per Locust process ({cal['measured_at']})"
            if cal
            else "not calibrated here (run `harness calibrate`)"
        )
    )
    table = Table(title="modes" if scen is None else f"modes {scen.name} needs")
    for col in ("mode", "ready", "what to do"):
        table.add_column(col)
    for mode in modes:
        cls = server_modes.get(mode).server_class()
        missing = cls.missing()
        problems += [f"mode {mode}: {m}" for m in missing]
        table.add_row(mode, "[green]yes[/]" if not missing else "[red]no[/]", "; ".join(missing) or cls.advice())
        facts["modes"].append({"mode": mode, "ready": not missing, "missing": list(missing), "advice": cls.advice()})
    out.print(table)
    # Redis is not a mode: the harness starts it beside the server for /count/redis (shared-state demo)
    if scen is None or "redis" in services:
        missing = redis_missing()
        problems += [f"redis: {missing[0]}"] if missing else []
        facts["redis"] = {"ready": not missing, "missing": list(missing)}
        found = re.search(r"v=(\S+)", redis_version() or "") if not missing else None
        out.print(
            "redis-server (for /count/redis): "
            + (f"version {found.group(1) if found else '?'}" if not missing else f"[red]missing[/]: {missing[0]}")
        )
    if scen is not None:
        if problems:
            out.print(f"[red]{scen.name} cannot run here[/]: " + "; ".join(problems))
        else:
            out.print(
                f"[green]everything {scen.name} needs is here[/]: {len(cases)} cases, about "
                f"{sum(c.expected_s for c in cases) / 60:.0f} min (`harness plan {scen.name}`)"
            )
    if as_json:
        facts.update(scenario=scen.name if scen else None, problems=problems, ok=not problems)
        print_json(facts)
    return EXIT_OK if not problems else 3


def _planned(args: argparse.Namespace) -> scenario_mod.Scenario:
    scen = scenario_mod.load(args.scenario)
    if args.quick:
        scen = scen.quick_variant()
    as_written = _swept(
        scen.with_overrides(duration_s=args.duration_s, warmup_s=args.warmup_s, repetitions=args.repetitions), args
    )
    return _described_as_run(as_written, _own_server_or_target(as_written, args))


def print_plan(scen: scenario_mod.Scenario, cases: list[Case], out: Console) -> float:
    """The cases in the order they run, each with its expected minutes; the total in seconds."""
    total = sum(c.expected_s for c in cases)
    table = Table(
        title=f"{scen.name}: {len(cases)} cases, about {total / 60:.1f} min",
        title_justify="left",
        caption=f"estimate: warm-up + measured + about {scenario_mod.CASE_OVERHEAD_S:g} s a case to start "
        "and stop the server and Locust",
        caption_justify="left",
    )
    for col, justify in (
        ("#", "right"),
        ("case", "left"),
        ("warm-up + measured s", "right"),
        ("about min", "right"),
        ("done by min", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    elapsed = 0.0
    for n, c in enumerate(cases, 1):
        elapsed += c.expected_s
        table.add_row(
            str(n), c.case_id, f"{c.warmup_s:g} + {c.duration_s:g}", f"{c.expected_s / 60:.1f}", f"{elapsed / 60:.1f}"
        )
    out.print(f"[bold]{scen.name}[/]: {scen.description}")
    out.print(table)
    return total


def cmd_plan(args: argparse.Namespace) -> int:
    scen = _planned(args)
    print_plan(scen, scen.cases(), Console(width=200 if not sys.stdout.isatty() else None))
    return EXIT_OK


def _gate_options(args: argparse.Namespace) -> GateOptions:
    """The regression gate's options of `compare` and `run --against`."""
    return GateOptions(
        thresholds=tuple(args.threshold or ()),
        gate=args.gate,
        detect=args.detect,
        markdown=args.markdown,
        junit=args.junit,
        json=getattr(args, "json", False),
    )


def cmd_compare(args: argparse.Namespace) -> int:
    """An A/B run alone, or a baseline against a current run; exit codes in harness.errors."""
    from harness import compare

    runs = _load_runs([args.baseline] if args.current is None else [args.baseline, args.current], Path(args.results))
    with record.damaged_record_is_one_line(runs):
        if args.current is None:
            if not compare.is_ab_run(runs[0]):
                raise UsageError(
                    f"run {runs[0].run_id} is not an A/B run (harness run SCENARIO --against REF)",
                    "give two runs: harness compare BASELINE CURRENT",
                )
            return gate(_gate_options(args), compare_ab=runs[0])
        base, cur = runs
        same_folder = Path(base.path).resolve() == Path(cur.path).resolve()
        same_record = (base.run_id, base.meta.get("started_at")) == (cur.run_id, cur.meta.get("started_at"))
        if same_folder or same_record:  # a baseline stored from a run is the same measurement too
            raise UsageError(
                f"the baseline and the current run are the same measurement (run {base.run_id}): a run "
                "compared with itself says nothing about a change",
                "give two different runs, or an A/B run alone (harness run SCENARIO --against REF)",
            )
        return gate(_gate_options(args), baseline=base, current=cur)


def cmd_baseline(args: argparse.Namespace) -> int:
    """Store a run (its record, without raw/ and report/) as results/baselines/NAME."""
    from harness import baseline

    run = record.load_run(_resolve_run(args.run, Path(args.results)))
    name, target = baseline.store(run, Path(args.results), name=args.name, force=args.force)
    console.print(f"baseline {name} is now run {run.run_id}: {target} (commit it to share it)")
    return EXIT_OK


def _resolve_run(arg: str, results_dir: Path) -> Path:
    """A run given as a folder, a run id in results_dir, or a baseline name (`baselines/NAME`
    or NAME alone when no run has that name: never silently one when both exist)."""
    path = Path(arg)
    if (path / "run.json").is_file() or path.name == "run.json":
        return path
    if arg.startswith("baselines/"):
        name = record.check_run_id(arg.removeprefix("baselines/"))
        if not (results_dir / "baselines" / name / "run.json").is_file():
            raise UsageError(
                f"no baseline {name!r} in {results_dir / 'baselines'}",
                f"the baselines are the folders of {results_dir / 'baselines'}",
            )
        return results_dir / "baselines" / name
    record.check_run_id(arg)
    as_run, as_baseline = results_dir / arg, results_dir / "baselines" / arg
    if (as_run / "run.json").is_file() and (as_baseline / "run.json").is_file():
        raise UsageError(
            f"{arg!r} names both a run and a baseline in {results_dir}",
            f"say which: {arg} is ambiguous; use baselines/{arg} for the baseline, or the run's folder {as_run}",
        )
    if (as_baseline / "run.json").is_file():
        return as_baseline
    if not (as_run / "run.json").is_file():
        raise UsageError(f"no run {arg!r} in {results_dir}", "`harness list` shows the stored runs")
    return as_run


def _load_runs(args_runs: Sequence[str], results_dir: Path) -> list[record.Run]:
    """Read each run; say (one line each) what could not be read of it."""
    runs = [record.load_run(_resolve_run(a, results_dir)) for a in args_runs]
    for run in runs:
        for problem in run.problems:
            console.print(f"[yellow]warning:[/] run {run.run_id}: {problem}; what needs it is left out")
    return runs


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render_report

    runs = _load_runs(args.runs, Path(args.results))
    if args.out:
        out = Path(args.out)
    elif len(runs) == 1:
        out = runs[0].path / "report"
    else:  # not inside any one run: a side-by-side report belongs to none of them
        out = Path(args.results) / "reports" / "+".join(r.run_id for r in runs)
    with record.damaged_record_is_one_line(runs):
        report = render_report(runs, out)
    console.print(f"summary: {report.markdown}")
    print(report.html)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    if args.json:
        print_json(list_json(Path(args.results)))
        return EXIT_OK
    table = Table(title="scenarios (harness run NAME; add --quick for a short version)", show_lines=True)
    for col in ("name", "cases", "about min (--quick)", "what it shows"):
        table.add_column(col)
    for name in scenario_mod.available():
        try:
            scen = scenario_mod.load(name)
            cases, quick = scen.cases(), scen.quick_variant().cases()
            minutes = f"{sum(c.expected_s for c in cases) / 60:.0f} ({sum(c.expected_s for c in quick) / 60:.1f})"
            table.add_row(name, str(len(cases)), minutes, scen.what_it_shows or scen.description)
        except HarnessError as exc:
            table.add_row(name, "-", "-", f"[red]cannot load: {exc.one_line()}[/]")
    Console().print(table)
    runs = record.list_runs(Path(args.results))
    if runs:
        rt = Table(title=f"stored runs in {args.results} (harness report RUN_ID)")
        for col in ("run_id", "scenario", "status", "cases", "started_at"):
            rt.add_column(col)
        for r in runs:
            rt.add_row(r["run_id"], str(r["scenario"]), str(r["status"]), str(r["cases"]), str(r["started_at"]))
        Console().print(rt)
    return EXIT_OK


def list_json(results_dir: Path) -> dict[str, object]:
    """`harness list --json`: the scenarios (cases, minutes in full and --quick, what each shows,
    or why it cannot be loaded) and the stored runs."""
    scenarios = []
    for name, path in scenario_mod.available().items():
        entry: dict[str, object] = {"name": name, "file": str(path)}
        try:
            scen = scenario_mod.load(name)
            cases, quick = scen.cases(), scen.quick_variant().cases()
            entry.update(
                description=scen.description,
                what_it_shows=scen.what_it_shows,
                cases=len(cases),
                minutes=round(sum(c.expected_s for c in cases) / 60, 2),
                quick_cases=len(quick),
                quick_minutes=round(sum(c.expected_s for c in quick) / 60, 2),
                error=None,
            )
        except HarnessError as exc:
            entry["error"] = exc.one_line()
        scenarios.append(entry)
    return {"scenarios": scenarios, "results": str(results_dir), "runs": record.list_runs(results_dir)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Measure how a Node.js server uses more than one core: start it in several modes, drive it "
        "with Locust, sample every process, store the run and render a report.",
        epilog="Start with `harness list`, then `harness run default --quick`. Exit codes: 0 ok, 1 run failed, "
        "2 bad input, 3 something missing on this machine; the regression gate (compare, run --against): 4 regression, "
        "5 inconclusive, 6 not trustworthy, 7 not everything compared; 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument(
        "--results",
        default=str(default_results_dir()),
        help="folder holding runs (default: results/ of the project, or $HARNESS_RESULTS)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sweeps = _sweep_options()

    p = sub.add_parser(
        "run",
        parents=[sweeps],
        help="run a scenario and write its record and report",
        description="Run every case of a scenario (each with a fresh server), store the run under "
        "results/<run-id>/ and render its report. Prints the report's path.",
    )
    p.add_argument("scenario", help="a scenario name (see `harness list`) or a path to a scenario .py file")
    p.add_argument(
        "--quick", action="store_true", help="the scenario's short variant (`harness plan NAME --quick` says how long)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cases and the expected minutes (as `harness plan`), run nothing",
    )
    p.add_argument("--duration-s", type=float, help="measured seconds per case (overrides the scenario)")
    p.add_argument("--warmup-s", type=float, help="warm-up seconds per case, excluded from every figure")
    p.add_argument("--repetitions", type=int, help="repetitions of every case, interleaved")
    p.add_argument(
        "--users", type=int, help="closed load: this many users for every case (replaces the scenario's loads)"
    )
    p.add_argument(
        "--rate",
        type=float,
        metavar="RPS",
        help="open load: this many requests/s for every case, "
        "latency measured from when each was due (replaces the scenario's loads)",
    )
    p.add_argument(
        "--processes",
        type=int,
        help="Locust processes generating the load (master + workers when over 1; default: the scenario's, usually 1)",
    )
    p.add_argument(
        "--target",
        metavar="URL",
        help="drive a server the harness did not start (http://HOST:PORT; "
        "not loopback only with --allow-remote); nothing is started or sampled server-side",
    )
    p.add_argument(
        "--app",
        metavar="FILE.js",
        help="run your own Node server (it must listen on the port in PORT) "
        "in the scenario's modes (single, cluster, nginx, pm2) instead of the reference server",
    )
    p.add_argument("--path", metavar="PATH", help="with --target or --app: the path every user requests (default /)")
    p.add_argument(
        "--locustfile",
        metavar="FILE.py",
        help="run your own Locust users (tasks, weights, wait_time, "
        "a LoadTestShape) unchanged, under the harness's measuring, in every mode and with --target; "
        "the scenario's routes and loads are replaced (--users sets the user count without a shape)",
    )
    p.add_argument(
        "--no-preload",
        action="store_true",
        help="with --app: run the app without the harness's "
        "preload (node --require server/preload.js, which tags every response with x-pid and records "
        "each process's requests, event-loop delay and CPU); those figures are then missing",
    )
    p.add_argument(
        "--against",
        metavar="REF",
        help="A/B: run every case on the server (and app) of git ref REF "
        "and on the working tree's, side by side in one run, then give the regression gate's verdict "
        "and exit code (see harness compare)",
    )
    p.add_argument("--threshold", action="append", metavar="METRIC=PCT", help="with --against: as harness compare")
    p.add_argument("--gate", metavar="METRICS", help="with --against: as harness compare")
    p.add_argument("--detect", type=float, metavar="PCT", help="with --against: as harness compare")
    p.add_argument("--markdown", help="with --against: also write the verdict as Markdown here")
    p.add_argument("--junit", help="with --against: also write the verdict as JUnit XML here")
    p.add_argument(
        "--node-version",
        metavar="X.Y.Z",
        help="run every server on this Node.js version, fetched once "
        "from the npm registry into ~/.cache/node-scaling-harness/node ($HARNESS_NODE_CACHE)",
    )
    p.add_argument(
        "--expect-workers",
        type=int,
        metavar="N",
        help="distributed load: start Locust's master alone and wait for N workers started elsewhere "
        "with `harness worker --master HOST:PORT` (on this machine or others)",
    )
    p.add_argument(
        "--master-bind",
        default="127.0.0.1",
        metavar="HOST",
        help="with --expect-workers: the address the master listens on (default 127.0.0.1; another "
        "machine's workers need e.g. 0.0.0.0 and --allow-remote)",
    )
    p.add_argument(
        "--master-port", type=_port, metavar="PORT", help="with --expect-workers: the master's port (default 5557)"
    )
    p.add_argument(
        "--worker-wait-s",
        type=float,
        default=60.0,
        help="with --expect-workers: how long each case's master waits for every worker (default 60)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --target or --master-bind (load leaves this machine only when you say so)",
    )
    p.add_argument("--run-id", help="name of the run folder (default: date-time-scenario)")
    p.add_argument("--port", type=_port, help="serve on this loopback port (1-65535) instead of a free one")
    p.add_argument("--no-report", action="store_true", help="store the run only; render later with `harness report`")
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the server and the load generator to separate cores "
        "(the generator gets a quarter, at least one; on 2 cores the server keeps only one)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "bench",
        help="the default set: the default scenario, then every demo's quick variant",
        description="What `make bench` runs: the default scenario in full, then the quick variant "
        "of every teaching demo (about 15 minutes on 2 cores), one run and report each.",
    )
    p.add_argument("--quick", action="store_true", help="the quick variant of every scenario (about 8 minutes)")
    p.add_argument("--pin", action="store_true", help="as for `harness run`")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "demo",
        help="live teaching mode: a scenario's server and Locust's web UI",
        description="Start one server of a scenario (its mode, workers and Node version, checked "
        "against what the workers report) and Locust's web UI at one of the scenario's loads "
        "(users, keep-alive or a new connection per request; change users in the UI), and show each "
        "worker's own requests per second and count while it runs. Nothing is recorded. `--list` "
        "shows the servers and loads; Ctrl-C stops everything.",
    )
    p.add_argument("scenario", help="scenario name (see `harness list`) or file")
    p.add_argument("--list", action="store_true", help="list the servers, workloads and loads this demo can show")
    p.add_argument(
        "--server", help="which of the scenario's servers, by label (e.g. cluster-none-2w); default: the first"
    )
    p.add_argument(
        "--load",
        help="which of the scenario's loads, by label (e.g. u8, u8-close: a new connection per "
        "request); default: the first the server has",
    )
    p.add_argument("--work", help="which of the scenario's workloads, by route or path (e.g. /cpu); default: the first")
    p.add_argument("--web-port", type=int, help="port of Locust's web UI (default: a free one)")
    p.add_argument(
        "--web-host",
        default="127.0.0.1",
        help="address Locust's web UI listens on (default 127.0.0.1; "
        "a classroom network's address or 0.0.0.0 needs --allow-remote)",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a --web-host that is not loopback")
    p.add_argument("--for-s", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "worker",
        help="Locust workers for a master started with `harness run --expect-workers N`",
        description="Start Locust worker processes (the harness's locustfile) that connect to a "
        "master started by `harness run ... --expect-workers N`, possibly on another machine. "
        "The master sends what to request; each worker sends back its histograms and counts. "
        "Every case has its own master, so the workers are started again for each case.",
    )
    p.add_argument(
        "--master", required=True, metavar="HOST[:PORT]", help="the master's address (port 5557 unless given)"
    )
    p.add_argument("--processes", type=int, default=1, help="Locust worker processes on this machine (default 1)")
    p.add_argument(
        "--cases",
        type=int,
        default=0,
        help="serve this many cases, then exit (default 0: until "
        "Ctrl-C; a worker waits for its master as long as it takes)",
    )
    p.add_argument("--out", help="folder for each worker's totals (worker-<id>.json; default results/workers)")
    p.add_argument("--allow-remote", action="store_true", help="allow a master that is not on loopback")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "report",
        help="render the report of stored runs (never starts a server)",
        description="Render HTML, PNG figures and a Markdown summary from stored runs. Several "
        "runs (e.g. two commits, two machines, two Node versions) are put side by side.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run id under results/ or a run folder")
    p.add_argument("--out", help="output folder (default: RUN/report; several runs: results/reports/RUN1+RUN2)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "calibrate",
        help="measure the load generator's ceiling on this machine",
        description="Run scenarios/calibrate.py (Locust on /hello against a cluster, more and more "
        "users) and store the highest rate one Locust process reached in results/calibration.json. "
        "Later runs record it with the machine facts.",
    )
    p.add_argument("--quick", action="store_true", help="shorter cases")
    p.add_argument("--processes", type=int, help="Locust processes (default 1)")
    p.add_argument("--run-id", help="name of the run folder")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "selfcheck",
        help="what the harness's own generator and sampler cost on this machine",
        description="Measure the harness's Locust against plain Locust (/hello) side by side, both at once on two "
        "identical servers, swapping servers each repetition; against wrk (/cpu, single and cluster of 2, "
        "interleaved on one server each) when wrk is on PATH; and the sampler's CPU; say of each goal what "
        "this run shows: met or missed when the interval of the repetitions' median lies wholly on one side, "
        "cannot tell when it holds the goal or the machine was busy, too few repetitions under 3; store the "
        "ratios with the machine facts in results/selfcheck/.",
    )
    p.add_argument(
        "--reps",
        type=int,
        default=4,
        help="repetitions of each pair (default 4; even, so the hooks pair's swap evens out; the goal "
        "verdicts' intervals cover the median 87.5%% of the time with 4, 96.9%% with 6 to 8, at least 95%% "
        "from 9, which leave out the extremes; under 3 give no verdict)",
    )
    p.add_argument("--window-s", type=float, default=10.0, help="seconds measured per repetition (default 10)")
    p.add_argument(
        "--pairs",
        nargs="*",
        choices=["hooks", "hooks_alone", "wrk_single", "wrk_cluster", "plain_cluster"],
        help="only these pairs",
    )
    p.set_defaults(func=cmd_selfcheck)

    p = sub.add_parser(
        "doctor",
        help="which modes can run on this machine, and how to fix what is missing",
        description="Check node, the cores, the generator calibration and every server mode's "
        "requirements (nginx, pm2 ...). Exit 0 when every mode can run, 3 otherwise. With a "
        "scenario: only what that scenario needs; exit 0 when it can run here, 3 naming what is "
        "missing.",
    )
    p.add_argument(
        "scenario", nargs="?", help="check only what this scenario needs (a name from `harness list` or a file)"
    )
    p.add_argument("--json", action="store_true", help="print the findings as JSON on stdout (same exit code)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "plan",
        parents=[sweeps],
        help="a scenario's cases in order and the minutes they will take, without running",
        description="List the cases `harness run SCENARIO` would run, in order, each with its "
        "warm-up and measured seconds and the expected minutes (warm-up + measured + about "
        f"{scenario_mod.CASE_OVERHEAD_S:g} s a case to start and stop), and the total. Starts nothing.",
    )
    p.add_argument("scenario", help="a scenario name (see `harness list`) or a path to a scenario .py file")
    p.add_argument("--quick", action="store_true", help="the scenario's short variant")
    p.add_argument("--duration-s", type=float, help="measured seconds per case (as harness run)")
    p.add_argument("--warmup-s", type=float, help="warm-up seconds per case (as harness run)")
    p.add_argument("--repetitions", type=int, help="repetitions of every case (as harness run)")
    p.add_argument("--app", metavar="FILE.js", help="your own Node server in the scenario's modes (as harness run)")
    p.add_argument("--target", metavar="URL", help="a server the harness does not start (as harness run)")
    p.add_argument("--path", metavar="PATH", help="with --app or --target: the path every user requests (default /)")
    p.epilog = "For everything else harness run takes (--locustfile, --users, --rate ...): harness run ... --dry-run."
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "compare",
        help="regression gate: an A/B run, or a baseline run against a current run",
        description="Compare metric by metric: the change current/baseline with its 95% interval "
        "(for an A/B run from `harness run SCENARIO --against REF`, paired by repetition: the median "
        "of the paired ratios from 6 pairs, the mean below; Welch's for two runs), and a verdict against each metric's threshold: regression (the whole interval "
        "beyond it), unchanged (inside), inconclusive (crossing it), not compared. Absolute figures "
        "are compared only between matching machines. Exit codes: 0 every gating metric compared and "
        "unchanged or better; 2 bad input; 4 regression; 5 inconclusive; 6 the measurement is not "
        "trustworthy (busy machine, stolen CPU, failures, generator-limited, incomplete run); 7 not "
        "everything was compared (a condition missing, too few repetitions, other machines).",
    )
    p.add_argument("baseline", help="an A/B run, or the baseline: a baseline name, a run id or a run folder")
    p.add_argument("current", nargs="?", help="the current run (a run id or folder); omit for an A/B run")
    p.add_argument(
        "--threshold",
        action="append",
        metavar="METRIC=PCT",
        help="tolerated change in the bad direction, e.g. throughput=5 p99=10 (repeatable; defaults: "
        "throughput 5, p50 10, p99 15, speedup 10, efficiency 10, fairness 5)",
    )
    p.add_argument(
        "--gate",
        metavar="METRICS",
        help="comma-separated metrics that decide the exit code (default "
        "throughput,p50,p99,speedup; latency gates only under open load); the others are shown",
    )
    p.add_argument(
        "--detect",
        type=float,
        metavar="PCT",
        help="also say how many repetitions per side would "
        "catch a true change of PCT%% in the bad direction (4 times in 5) at this run's spread",
    )
    p.add_argument("--markdown", help="also write a Markdown summary here (for a CI job summary)")
    p.add_argument("--junit", help="also write JUnit XML here (one test per metric and condition)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the verdict and every row as JSON on stdout instead of the table (docs/your-own.md)",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "baseline",
        help="store a run as a named baseline for `harness compare`",
        description="Store a complete run's record (without raw/, report/ and the per-second "
        "tables) as results/baselines/NAME, for `harness compare NAME CURRENT`. Commit the folder "
        "to share it (CI compares against it).",
    )
    bsub = p.add_subparsers(dest="baseline_command", metavar="update", required=True)
    u = bsub.add_parser("update", help="make RUN the baseline NAME (results/baselines/NAME)")
    u.add_argument("run", help="run id or folder (complete runs only)")
    u.add_argument("--name", help="baseline name (default: the run's scenario)")
    u.add_argument("--force", action="store_true", help="replace an existing baseline of that name (atomically)")
    u.set_defaults(func=cmd_baseline)

    p = sub.add_parser(
        "setup",
        help="install the reference server's npm dependencies (pm2, piscina) now",
        description="An installed harness (pip or pipx) carries the reference server without its "
        "npm dependencies: the first run installs them with `npm ci` into "
        "~/.cache/node-scaling-harness/server-HASH ($HARNESS_CACHE); this does it now. Prints the "
        "server's folder. In a checkout, `make setup` does it in server/.",
    )
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser(
        "list",
        help="list scenarios (cases, minutes) and stored runs",
        description="The scenarios (`harness run NAME`): how many cases, about how many minutes in "
        "full and with --quick (as `harness plan NAME` estimates), what each shows; then the runs "
        "stored under --results (`harness report RUN_ID`).",
    )
    p.add_argument("--json", action="store_true", help="print the scenarios and runs as JSON on stdout")
    p.set_defaults(func=cmd_list)
    _global_options_after(sub)
    return parser


def _global_options_after(sub: argparse._SubParsersAction) -> None:
    """--results and --debug also after the subcommand (`harness run smoke --results DIR`): each
    subcommand takes them too, with no default of its own, so the top parser's stays unless given."""
    for p in set(sub.choices.values()):
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--results", default=argparse.SUPPRESS, help="as before the subcommand: the folder holding runs")
        for action in p._actions:  # a subcommand's own subcommands (baseline update)
            if isinstance(action, argparse._SubParsersAction):
                _global_options_after(action)


def run_file(path: str) -> int:
    """`python scenarios/NAME.py [options]`: run that scenario file as `harness run` would."""
    return main(["run", path, *sys.argv[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # matplotlib's layout warnings are the report's business, not the terminal's
    warnings.filterwarnings("ignore", category=UserWarning, module=r"matplotlib\..*")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    # SIGTERM and SIGHUP (the terminal closed) end a run as Ctrl-C does: recorded as interrupted
    previous = {sig: signal.signal(sig, _on_sigterm) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return int(args.func(args))
    except HarnessError as exc:
        if args.debug:
            traceback.print_exc()
        console.print(f"[red]error:[/] {exc.one_line()}")
        return exc.exit_code
    except (KeyboardInterrupt, Interrupted):
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            console.print(
                "[yellow]interrupted[/]: every process the harness started has been stopped; "
                "finished cases are kept in the run record"
            )
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
