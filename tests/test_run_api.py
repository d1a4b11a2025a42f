"""The run API (harness.run_api) and the commands over it: `harness bench` and `harness run`
hand it a scenario and typed options, the checks before a run are made once, and `harness
baseline update` is harness.baseline.store. Fakes stand in for the run itself: no server starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import baseline, cli, record, run as run_mod, run_api, scenario as scenario_mod
from harness.errors import EXIT_FAILED, UsageError

HERE = Path(__file__).parent
SMALL = HERE / "fixtures" / "small"


def test_bench_calls_the_run_api_once_per_scenario_with_the_options_of_harness_run(tmp_path, monkeypatch, capsys):
    calls: list[tuple[scenario_mod.Scenario, run_api.RunOptions]] = []

    def fake_run_api_run(scen: scenario_mod.Scenario, options: run_api.RunOptions) -> run_api.RunResult:
        calls.append((scen, options))
        return run_api.RunResult(0, options.results_dir / scen.name, options.results_dir / scen.name / "index.html")

    monkeypatch.setattr(run_api, "run", fake_run_api_run)
    assert cli.main(["--results", str(tmp_path), "bench", "--pin"]) == 0
    known = scenario_mod.available()
    planned = [(name, quick) for name, quick in cli.BENCH_SET if name in known]
    assert [o.scenario_source for _, o in calls] == [name for name, _ in planned]
    for (scen, options), (name, quick) in zip(calls, planned):
        assert options == run_api.RunOptions(results_dir=tmp_path, scenario_source=name, quick=quick, pin=True)
        full = scenario_mod.load(name)
        assert scen == (full.quick_variant() if quick else full)
    err = capsys.readouterr().err
    assert "bench: one report per scenario" in err and "index.html" in err


def test_bench_says_which_scenarios_did_not_complete(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        run_api,
        "run",
        lambda scen, options: run_api.RunResult(EXIT_FAILED if scen.name == "default" else 0, tmp_path, None),
    )
    assert cli.main(["--results", str(tmp_path), "bench", "--quick"]) == 1
    assert "1 of" in capsys.readouterr().err


def _one_case_scenario() -> scenario_mod.Scenario:
    return scenario_mod.Scenario(
        name="t",
        description="t",
        servers=[scenario_mod.ServerSpec("single")],
        workloads=[scenario_mod.Workload("/hello")],
        loads=[scenario_mod.ClosedLoad(1)],
        duration_s=1,
        warmup_s=0,
        repetitions=1,
    )


def test_the_run_api_checks_once_and_hands_the_run_what_it_found(tmp_path, monkeypatch, capsys):
    checks: list[list[str]] = []
    found = run_mod.Checked(node="/usr/bin/node", node_by_version={})

    def fake_check_before_run(cases, *, allow_remote=False, port=None, notice=None) -> run_mod.Checked:
        checks.append([c.case_id for c in cases])
        assert port == 8123 and allow_remote is False
        return found

    def fake_run_scenario(scen, results_dir, run_id, **kwargs) -> run_mod.RunOutcome:
        assert kwargs["checked"] is found and kwargs["port"] == 8123 and run_id == "r1"
        return run_mod.RunOutcome(results_dir / run_id, "failed", "1 of 1 cases failed: x", 0)

    monkeypatch.setattr(run_mod, "check_before_run", fake_check_before_run)
    monkeypatch.setattr(run_mod, "run_scenario", fake_run_scenario)
    scen = _one_case_scenario()
    result = run_api.run(scen, run_api.RunOptions(results_dir=tmp_path, run_id="r1", port=8123))
    assert result == run_api.RunResult(EXIT_FAILED, tmp_path / "r1", None)
    assert checks == [[c.case_id for c in scen.cases()]]  # once
    err = capsys.readouterr().err
    assert "run failed: 1 of 1 cases failed: x" in err and "no case finished, so there is no report" in err


def test_run_scenario_called_alone_makes_the_checks_itself(tmp_path, monkeypatch):
    """A notebook's run_scenario gets the same checks as `harness run`, before anything is written."""

    def refuse(cases, **kwargs) -> run_mod.Checked:
        raise UsageError("checked")

    monkeypatch.setattr(run_mod, "check_before_run", refuse)
    with pytest.raises(UsageError, match="checked"):
        run_mod.run_scenario(_one_case_scenario(), tmp_path / "results", "r")
    assert not (tmp_path / "results" / "r").exists()


def test_a_baseline_is_the_runs_record_without_raw_report_and_per_second_tables(tmp_path):
    run = record.load_run(SMALL)
    name, target = baseline.store(run, tmp_path)
    assert name == run.meta["scenario"]["name"] and target == tmp_path / "baselines" / name
    kept = {p.name for p in target.iterdir()}
    assert "run.json" in kept and "cases.csv" in kept and not kept & {"threads.csv", "timeline.csv", "raw", "report"}
    with pytest.raises(UsageError, match="exists"):
        baseline.store(run, tmp_path)
    assert baseline.store(run, tmp_path, name="other")[1] == tmp_path / "baselines" / "other"
    assert baseline.store(run, tmp_path, force=True)[1] == target  # replaced


def test_only_a_complete_run_becomes_a_baseline(tmp_path):
    folder = tmp_path / "partial"
    folder.mkdir()
    for path in SMALL.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    with pytest.raises(UsageError, match="only a complete run can be a baseline"):
        baseline.store(record.load_run(folder), tmp_path / "results")
    assert not (tmp_path / "results" / "baselines").exists()
