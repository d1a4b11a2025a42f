"""Machine-readable output: report/summary.json (from the small recorded fixture, no figures
drawn), `compare --json`, `list --json`. Pure, no server."""

from __future__ import annotations

import json
from pathlib import Path

from harness import compare, record
from harness.cli import main
from harness.report import SUMMARY_SCHEMA_VERSION, summary_json, view

HERE = Path(__file__).parent


def test_summary_json_holds_the_conditions_intervals_sweeps_and_headline():
    data = json.loads(
        json.dumps(summary_json([view(record.load_run(HERE / "fixtures" / "small"))]), allow_nan=False)
    )  # valid JSON: no NaN anywhere
    assert data["schema_version"] == SUMMARY_SCHEMA_VERSION and data["side_by_side"] == []
    (run,) = data["runs"]
    assert run["scenario"] and set(run["headline"]) == {"answer", "doubt"}
    assert isinstance(run["warnings"], list)
    cond = run["conditions"][0]
    for key in (
        "condition",
        "mode",
        "repetitions",
        "throughput_median_rps",
        "throughput_median_low_rps",
        "throughput_median_high_rps",
        "latency_p99_ms",
        "generator_limited",
    ):
        assert key in cond
    # the pool sweep of the fixture (test_report: knee at 2 threads, by hand)
    pool = [p for p in run["sweeps"] if p["sweep"] == "pool /cpu: pool threads"]
    assert [p["value"] for p in pool] == [1.0, 2.0, 3.0] and [p["knee"] for p in pool] == [False, True, False]
    # two repetitions a point on a busy machine: the knee is a candidate, never firm
    assert not any(p["knee_firm"] for p in pool) and "too few repetitions" in pool[1]["doubts"]


def test_compare_json_has_the_verdict_exit_code_and_rows(capsys):
    base, current = HERE.parent / "results" / "baselines" / "smoke", HERE / "fixtures" / "smoke"
    code = main(["compare", str(base), str(current), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == code and data["verdict"] and data["rows"]
    row = data["rows"][0]
    assert {
        "condition",
        "metric",
        "verdict",
        "change_pct",
        "low_pct",
        "high_pct",
        "threshold_pct",
        "gating",
        "interval",
    } <= set(row)
    assert data == json.loads(
        json.dumps(compare.to_json(compare.compare_runs(record.load_run(base), record.load_run(current))))
    )


def test_list_json_and_results_after_the_subcommand(tmp_path, capsys):
    assert main(["list", "--json", "--results", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    smoke = next(s for s in data["scenarios"] if s["name"] == "smoke")
    assert smoke["cases"] == 6 and smoke["quick_cases"] == 4 and smoke["error"] is None
    assert data["results"] == str(tmp_path) and data["runs"] == []


def test_doctor_json_is_one_document_with_the_same_exit_code(capsys):
    code = main(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] == (code == 0) and {m["mode"] for m in data["modes"]} >= {"single", "cluster"}
