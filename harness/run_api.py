"""The run API: a scenario and typed options in; the stored run, its report and the exit code out.

What `harness run` does once its options are parsed into a scenario, and what `harness bench`
and `harness calibrate` call: the checks before anything is written (harness.run.check_before_run,
made once), the A/B sides of --against, the progress bars, the record (harness.run.run_scenario),
the report and, for an A/B run, the regression gate's verdict (harness.gate). Messages go to the
harness's console (harness.terminal); the report's path (or the run's, without a report) is
printed on stdout, as `harness run` always has.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import record, scenario as scenario_mod
from harness.errors import EXIT_FAILED, EXIT_OK
from harness.gate import GateOptions, gate
from harness.scenario import Case, Scenario
from harness.terminal import RichProgress, console, note

if TYPE_CHECKING:
    from harness.against import Side
    from harness.load.runner import RemoteWorkers


@dataclass(frozen=True)
class RunOptions:
    """Everything of `harness run` but the scenario itself, typed; every field at its default
    is `harness run SCENARIO` with no option."""

    results_dir: Path
    run_id: str | None = None  # default: date-time-scenario
    scenario_source: str | None = None  # what run.json says the scenario came from (a name or a file)
    quick: bool = False  # recorded (the scenario given is already the quick variant)
    port: int | None = None
    pin: bool = False
    allow_remote: bool = False
    remote: RemoteWorkers | None = None
    locustfile: dict[str, Any] | None = None  # what run.json keeps of a user's locustfile
    against: str | None = None  # a git ref: an A/B run, whose verdict is the exit code
    gate: GateOptions = GateOptions()
    no_report: bool = False
    warnings: tuple[str, ...] | None = None  # None: the scenario's own (Scenario.warnings)


@dataclass(frozen=True)
class RunResult:
    exit_code: int  # harness.errors
    path: Path  # the run's folder
    report: Path | None  # the report's HTML page (None: no report rendered)


def run(scen: Scenario, options: RunOptions) -> RunResult:
    """Run the scenario as `harness run` does: check, run, store, report, judge (exit code)."""
    # imported here: a command that ends before running anything needs no pandas, scipy or matplotlib
    from harness.report import render_report
    from harness.run import check_before_run, run_scenario

    cases = scen.cases()
    checked = check_before_run(cases, allow_remote=options.allow_remote, port=options.port, notice=note)
    results_dir = options.results_dir
    run_id = record.check_run_id(options.run_id or f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{scen.name}")
    for warning in scen.warnings() if options.warnings is None else options.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    with contextlib.ExitStack() as stack:
        sides, against = None, None
        if options.against:
            sides, against = _against_sides(options.against, cases, stack)
            scen = replace(scen, sides=scenario_mod.AB_SIDES)
            cases = scen.cases()
            console.print(
                f"A/B: every case runs on the server of {options.against} ({against['commit'][:10]}, "
                "'base') and of the working tree ('new'), side by side"
            )
        est = sum(c.expected_s for c in cases)
        console.print(f"[bold]{scen.name}[/]: {scen.description}")
        console.print(f"{len(cases)} cases, about {est / 60:.1f} min; results in {results_dir / run_id}")
        with RichProgress([c.expected_s for c in cases]) as progress:
            outcome = run_scenario(
                scen,
                results_dir,
                run_id,
                progress=progress,
                port=options.port,
                scenario_source=options.scenario_source,
                quick=options.quick,
                on_notice=note,
                pin=options.pin,
                remote=options.remote,
                allow_remote=options.allow_remote,
                sides=sides,
                against=against,
                locustfile=options.locustfile,
                checked=checked,
            )
    if outcome.status != "complete":
        console.print(f"[red]run {outcome.status}[/]: {outcome.error}")
    if not outcome.complete_cases:
        console.print(f"no case finished, so there is no report; the record is in {outcome.path}")
        return RunResult(EXIT_FAILED, outcome.path, None)
    run_record = record.load_run(outcome.path)
    report = None
    if not options.no_report:
        rendered = render_report([run_record], outcome.path / "report")
        console.print(f"summary: {rendered.markdown}")
        report = rendered.html
        print(report)
    else:
        print(outcome.path)
    if outcome.status != "complete":
        return RunResult(EXIT_FAILED, outcome.path, report)
    if options.against:
        return RunResult(gate(options.gate, compare_ab=run_record), outcome.path, report)
    return RunResult(EXIT_OK, outcome.path, report)


def _against_sides(
    ref: str, cases: list[Case], stack: contextlib.ExitStack
) -> tuple[dict[str, Side], dict[str, object]]:
    """--against REF: the base side's code extracted for the run (removed when it ends), and
    what the record says about the two sides."""
    from harness import against as against_mod

    commit = against_mod.resolve(ref)
    apps = sorted({c.app for c in cases if c.app})
    for app in apps:
        against_mod.app_inside_repo(app)
    base = stack.enter_context(against_mod.checkout(commit, apps, note))
    meta = {"ref": ref, "commit": commit, **against_mod.working_tree_state()}
    return {"base": base, "new": against_mod.NEW_SIDE}, meta
