"""The regression gate on recorded (hand-built) runs: a real slowdown is caught, noise is
not, machines that differ make absolute figures not comparable, an untrustworthy
measurement gives exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import compare
from harness.record import TABLE_COLUMNS, Run, RunWriter

MACHINE = {"cpu_model": "AMD EPYC", "logical_cores": 2, "kernel": "6.1", "cpu_layout": "shared"}


def synthetic_run(run_id: str, single: list[float], cluster: list[float], machine: dict | None = None,
                  generator_cpu: float = 30.0, p99_scale: float = 1.0, status: str = "complete") -> Run:
    """single and cluster-rr-2w on /cpu, one case per repetition, 10 s windows; p99 is 30 ms
    (scaled) and falls with throughput as it would in a closed loop."""
    cases, endpoints, samples, workers = [], [], [], []
    index = 0
    for rep in range(len(single)):
        for mode, tput in (("single", single[rep]), ("cluster", cluster[rep])):
            index += 1
            cid = f"{index:03d}-{mode}-r{rep + 1}"
            cond = "single /cpu u8" if mode == "single" else "cluster-rr-2w /cpu u8"
            t0 = 1000.0 * index
            cases.append({"case_id": cid, "index": index, "condition": cond, "repetition": rep + 1, "mode": mode,
                          "workers": 1 if mode == "single" else 2, "route": "/cpu", "path": "/cpu", "users": 8,
                          "load": "closed", "generator_processes": 1, "status": "complete",
                          "measure_start_ts": t0, "measure_end_ts": t0 + 10, "measured_s": 10.0})
            endpoints.append({"case_id": cid, "phase": "measure", "name": "/cpu", "requests": round(tput * 10),
                              "failures": 0, "latency_p50_ms": 8000 / tput * p99_scale,
                              "latency_p99_ms": 12000 / tput * p99_scale})
            half = round(tput * 5)
            for wid in (["0"] if mode == "single" else ["1", "2"]):
                workers.append({"case_id": cid, "phase": "measure", "worker_id": wid, "pid": "1",
                                "requests": half * (2 if mode == "single" else 1)})
            for k in range(3):
                samples.append({"case_id": cid, "ts": t0 + 1 + k, "phase": "measure", "pid": 9, "role": "generator",
                                "cpu_s": k * generator_cpu / 100})
                samples.append({"case_id": cid, "ts": t0 + 1 + k, "phase": "measure", "pid": 0, "role": "machine",
                                "cpu_pct": 190.0, "steal_pct": 0.0})
    tables = {name: pd.DataFrame(rows, columns=TABLE_COLUMNS[name]) for name, rows in
              (("cases", cases), ("endpoints", endpoints), ("workers", workers), ("samples", samples))}
    tables.update({name: pd.DataFrame(columns=TABLE_COLUMNS[name]) for name in TABLE_COLUMNS if name not in tables})
    meta = {"run_id": run_id, "status": status, "error": None if status == "complete" else "Ctrl-C",
            "cases": cases, "machine": machine or MACHINE, "scenario": {"name": "smoke", "baseline": "single"}}
    return Run(path=Path("/nonexistent") / run_id, meta=meta, tables=tables)


def noisy(center: float, n: int, seed: int, cv: float = 0.02) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * (1 + rng.normal(0, cv, n)))


def verdicts(cmp: compare.Comparison, metric: str) -> dict[str, str]:
    return {r.condition: r.verdict for r in cmp.rows if r.metric == metric}


def test_an_injected_slowdown_of_20_percent_is_caught():
    base = synthetic_run("base", noisy(450, 5, 1), noisy(700, 5, 2))
    slow = synthetic_run("slow", noisy(450 * 0.8, 5, 3), noisy(700 * 0.8, 5, 4))
    cmp = compare.compare_runs(base, slow)
    assert verdicts(cmp, "throughput") == {"single /cpu u8": "regressed", "cluster-rr-2w /cpu u8": "regressed"}
    # closed load: p99 rose with the slowdown and says so, but only throughput decides
    assert verdicts(cmp, "p99") == {"single /cpu u8": "regressed", "cluster-rr-2w /cpu u8": "regressed"}
    assert not any(r.gating for r in cmp.rows if r.metric == "p99")
    # both slowed alike: the ratio between them did not regress
    assert verdicts(cmp, "speedup")["cluster-rr-2w /cpu u8"] == "unchanged"
    row = next(r for r in cmp.rows if r.metric == "throughput" and r.condition == "single /cpu u8")
    assert row.change_pct == pytest.approx(-20, abs=3) and row.p_value < 0.001
    assert cmp.exit_code == compare.COMPARE_REGRESSED


def test_two_runs_of_the_same_code_are_not_flagged():
    flagged = 0
    for seed in range(50):
        a = synthetic_run("a", noisy(450, 3, seed), noisy(700, 3, seed + 100))
        b = synthetic_run("b", noisy(450, 3, seed + 200), noisy(700, 3, seed + 300))
        flagged += compare.compare_runs(a, b).exit_code != compare.COMPARE_OK
    assert flagged == 0  # 2 % noise never crosses a 5 % threshold, whatever the p-value says


def test_a_significant_but_small_change_is_not_a_regression():
    a = synthetic_run("a", [450.0, 451.0, 449.0], [700.0, 701.0, 699.0])
    b = synthetic_run("b", [440.0, 441.0, 439.0], [690.0, 691.0, 689.0])  # -2 %, p tiny
    cmp = compare.compare_runs(a, b)
    row = next(r for r in cmp.rows if r.metric == "throughput" and r.condition == "single /cpu u8")
    assert row.p_value < 0.01 and row.verdict == "unchanged" and "within the 5% threshold" in row.reason
    assert compare.compare_runs(a, b, {"throughput": 1.0}).exit_code == compare.COMPARE_REGRESSED


def test_other_machines_make_absolute_figures_not_comparable():
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    b = synthetic_run("b", noisy(300, 5, 3), noisy(560, 5, 4), machine={**MACHINE, "cpu_model": "Intel Xeon"})
    cmp = compare.compare_runs(a, b)
    assert set(verdicts(cmp, "throughput").values()) == {"not comparable"}
    assert set(verdicts(cmp, "p99").values()) == {"not comparable"}
    # the portable ratio is compared: 560/300 = 1.87 against 700/450 = 1.56, an improvement
    assert verdicts(cmp, "speedup")["cluster-rr-2w /cpu u8"] == "improved"
    assert cmp.exit_code == compare.COMPARE_OK
    assert not cmp.same_machine


def test_a_generator_limited_run_is_untrustworthy():
    a = synthetic_run("a", noisy(450, 3, 1), noisy(700, 3, 2))
    b = synthetic_run("b", noisy(450, 3, 3), noisy(700, 3, 4), generator_cpu=95.0)
    cmp = compare.compare_runs(a, b)
    assert cmp.exit_code == compare.COMPARE_UNTRUSTWORTHY
    assert any("generator-limited" in u for u in cmp.untrustworthy)


def test_an_interrupted_or_unstable_run_is_untrustworthy():
    a = synthetic_run("a", noisy(450, 3, 1), noisy(700, 3, 2))
    assert compare.compare_runs(a, synthetic_run("b", noisy(450, 3, 3), noisy(700, 3, 4), status="interrupted")
                                ).exit_code == compare.COMPARE_UNTRUSTWORTHY
    unstable = synthetic_run("c", [300.0, 450.0, 600.0], noisy(700, 3, 5))
    cmp = compare.compare_runs(a, unstable)
    assert any("varied by" in u for u in cmp.untrustworthy) and cmp.exit_code == compare.COMPARE_UNTRUSTWORTHY


def test_one_repetition_cannot_be_tested():
    a = synthetic_run("a", [450.0], [700.0])
    cmp = compare.compare_runs(a, synthetic_run("b", [300.0], [500.0]))
    assert set(r.verdict for r in cmp.rows if r.metric == "throughput") == {"not comparable"}
    assert cmp.exit_code == compare.COMPARE_OK


def test_markdown_and_junit_outputs():
    base = synthetic_run("base", noisy(450, 5, 1), noisy(700, 5, 2))
    slow = synthetic_run("slow", noisy(360, 5, 3), noisy(700, 5, 4))
    cmp = compare.compare_runs(base, slow)
    md = compare.markdown(cmp, base, slow)
    assert md.startswith("## harness compare: REGRESSION")
    assert "| single /cpu u8 | throughput |" in md
    suite = ET.fromstring(compare.junit_xml(cmp))
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(cmp.rows)
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert {(c.get("classname"), c.get("name")) for c in failed} >= {("single /cpu u8", "throughput")}
    assert ("cluster-rr-2w /cpu u8", "throughput") not in {(c.get("classname"), c.get("name")) for c in failed}


@pytest.mark.parametrize("bad", ["tput=5", "throughput", "throughput=abc", "p99=5000"])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValueError):
        compare.parse_thresholds([bad])


def test_cli_exit_codes_on_stored_runs(tmp_path: Path):
    results = tmp_path / "results"
    for run, tputs in (("base", (noisy(450, 3, 1), noisy(700, 3, 2))), ("same", (noisy(450, 3, 3), noisy(700, 3, 4))),
                       ("slow", ([350.0, 352.0, 348.0], [560.0, 555.0, 565.0]))):
        r = synthetic_run(run, *tputs)
        w = RunWriter(results, run)
        w.start({k: v for k, v in r.meta.items() if k not in ("run_id", "status", "cases", "error")})
        for case in r.meta["cases"]:
            cid = case["case_id"]
            w.add_case(case, {name: r.tables[name][r.tables[name]["case_id"] == cid].to_dict("records")
                              for name in ("endpoints", "workers", "samples")})
        w.finish("complete")

    def run_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", "--results", str(results), *args],
                              capture_output=True, text=True, timeout=60)

    assert run_cli("compare", "base", "same").returncode == 0
    out = run_cli("compare", "base", "slow", "--junit", str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "s.md"))
    assert out.returncode == 1, out.stderr
    assert "REGRESSION" in (tmp_path / "s.md").read_text() and (tmp_path / "j.xml").is_file()
    assert run_cli("compare", "base", "nope").returncode == 3
    assert run_cli("compare", "base", "same", "--threshold", "bogus=1").returncode == 3
    # a baseline under results/baselines/ by name
    assert run_cli("baseline", "update", "base", "--name", "smoke").returncode == 0
    assert (results / "baselines" / "smoke" / "run.json").is_file()
    assert run_cli("compare", "smoke", "slow").returncode == 1


@pytest.mark.integration
def test_make_ci_bench_quick_against_the_committed_baseline(tmp_path: Path):
    repo = Path(__file__).resolve().parent.parent
    out_dir = tmp_path / "ci-bench"
    out = subprocess.run(["make", "--no-print-directory", "ci-bench", "ARGS=--quick", f"CI_BENCH_DIR={out_dir}"],
                         cwd=repo, capture_output=True, text=True, timeout=600)
    # make exits 2 whenever a command fails; its message gives harness compare's own code.
    # Passing: 0 (no regression) or compare's 2 (this machine could not measure trustworthily,
    # said in the output). compare's 1 would be a regression of this code against the baseline.
    if out.returncode != 0:
        assert "ci-bench] Error 2" in out.stderr, out.stdout[-3000:] + out.stderr[-2000:]
        assert "not trustworthy" in out.stderr
    summary = (out_dir / "summary.md").read_text()
    baseline_id = json.loads((repo / "results" / "baselines" / "smoke" / "run.json").read_text())["run_id"]
    assert f"Baseline `{baseline_id}` vs current `current`" in summary
    suite = ET.fromstring((out_dir / "junit.xml").read_text())
    assert {c.get("classname") for c in suite.iter("testcase")} >= {"single /cpu u8", "cluster-rr-2w /cpu u8"}


def test_closed_load_latency_alone_never_fails_the_gate():
    """The false alarm seen in back-to-back ci-bench runs: same throughput, p50 shape moved."""
    a = synthetic_run("a", noisy(450, 3, 1), noisy(700, 3, 2))
    b = synthetic_run("b", noisy(450, 3, 3), noisy(700, 3, 4), p99_scale=1.3)
    cmp = compare.compare_runs(a, b)
    assert verdicts(cmp, "p50")["cluster-rr-2w /cpu u8"] == "regressed"
    assert cmp.exit_code == compare.COMPARE_OK
    suite = ET.fromstring(compare.junit_xml(cmp))
    assert suite.get("failures") == "0"
    assert "informational" in compare.markdown(cmp, a, b)
