"""`harness calibrate` runs the calibrate scenario through the run API with every other `run`
option at its default.

It used to fake the run's arguments attribute by attribute and crashed once `run` gained an
option the list lacked (`AttributeError: 'Namespace' object has no attribute 'pin'`); then it
rebuilt an argv for `harness run`. Now it hands the run API a scenario and typed options
(harness.run_api.RunOptions), so no option can be missing. These unit tests replace the run
API with a fake that only captures what it was given (no load is run)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from harness import calibrate, cli, run_api, scenario as scenario_mod


class StopHere(Exception):
    """Raised by the fake run: what calibrate does with the run's record is not under test here."""


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    seen: dict[str, object] = {}

    def fake_run_api_run(scen: scenario_mod.Scenario, options: run_api.RunOptions) -> run_api.RunResult:
        seen.update(scen=scen, options=options)
        raise StopHere()

    monkeypatch.setattr(run_api, "run", fake_run_api_run)
    return seen


def test_the_calibrate_command_hands_the_run_api_every_option_at_its_default(tmp_path: Path, fake_run):
    with pytest.raises(StopHere):  # no AttributeError (nor anything else) before the run
        cli.main(["--results", str(tmp_path), "calibrate", "--quick", "--processes", "2"])
    options, scen = fake_run["options"], fake_run["scen"]
    assert isinstance(options, run_api.RunOptions) and isinstance(scen, scenario_mod.Scenario)
    assert options.results_dir == tmp_path and options.quick and options.run_id.endswith("-calibrate")
    assert options.scenario_source == str(scenario_mod.available()["calibrate"])
    given = {"results_dir", "run_id", "scenario_source", "quick"}
    defaults = run_api.RunOptions(results_dir=tmp_path)
    for field in fields(run_api.RunOptions):  # pin, port, against, no_report ... as `harness run calibrate`
        if field.name not in given:
            assert getattr(options, field.name) == getattr(defaults, field.name), field.name
    quick = scenario_mod.load("calibrate").quick_variant()
    assert scen.name == "calibrate" and scen.generator_processes == 2
    assert [c.case_id for c in scen.cases()] == [c.case_id for c in quick.with_overrides(generator_processes=2).cases()]


def test_calibrate_without_options_runs_the_full_scenario_under_the_given_run_id(tmp_path: Path, fake_run):
    with pytest.raises(StopHere):
        calibrate.calibrate(tmp_path, run_id="cal-1")
    options, scen = fake_run["options"], fake_run["scen"]
    assert options.run_id == "cal-1" and not options.quick
    assert scen == scenario_mod.load(str(scenario_mod.available()["calibrate"]))


def test_a_calibration_run_without_a_complete_case_is_a_failed_calibration(tmp_path: Path, monkeypatch):
    """The run API reports no complete case: calibrate says why and stores nothing."""

    def no_case_finished(scen: scenario_mod.Scenario, options: run_api.RunOptions) -> run_api.RunResult:
        (options.results_dir / options.run_id).mkdir(parents=True)
        return run_api.RunResult(1, options.results_dir / options.run_id, None)

    def no_complete_case(run: object) -> dict[str, object]:
        raise ValueError("the calibration run has no complete case")

    monkeypatch.setattr(run_api, "run", no_case_finished)
    monkeypatch.setattr(calibrate.record, "load_run", lambda path: "a run")
    monkeypatch.setattr(calibrate, "from_run", no_complete_case)
    done = calibrate.calibrate(tmp_path, run_id="cal-2")
    assert done.exit_code == 1 and done.calibration is None and done.path is None
    assert done.error == "the calibration run has no complete case"
    assert not (tmp_path / calibrate.CALIBRATION_FILE).exists()


def test_a_ceiling_applies_only_to_runs_with_the_client_it_was_measured_with(tmp_path: Path):
    """A ceiling measured with Locust's FastHttpSession (every calibration before lean_http,
    which did not say) is about a third of the lean client's here: a run with the lean client
    must not call its results near it."""
    from harness import record

    machine = record.machine_facts()
    stored = {"ceiling_rps": 3000.0, "machine": calibrate.fingerprint(machine)}
    calibrate.store(tmp_path, stored)
    assert calibrate.load_matching(tmp_path, machine, "lean") is None
    assert calibrate.load_matching(tmp_path, machine, "locust")["ceiling_rps"] == 3000.0
    calibrate.store(tmp_path, {**stored, "http_client": "lean"})
    assert calibrate.load_matching(tmp_path, machine, "lean")["ceiling_rps"] == 3000.0
    assert calibrate.load_matching(tmp_path, machine, "locust") is None
