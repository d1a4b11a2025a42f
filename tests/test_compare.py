"""The regression gate on recorded (hand-built) runs: a real slowdown is caught, noise is
not, every verdict rests on the change's interval against the threshold, anything not
compared or measured on an untrustworthy run fails with its own exit code (harness.errors)."""

from __future__ import annotations

import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import hand_run, main_in_process, start_harness

from harness import compare
from harness.export import junit, markdown
from harness.record import Run, RunWriter

MACHINE = {"cpu_model": "AMD EPYC", "logical_cores": 2, "kernel": "6.1", "cpu_layout": "shared"}


def synthetic_run(
    run_id: str,
    single: list[float],
    cluster: list[float],
    machine: dict | None = None,
    generator_cpu: float = 30.0,
    p99_scale: float = 1.0,
    status: str = "complete",
    other_cpu: float = 5.0,
    failures: float = 0.0,
    cluster_workers: int = 2,
    new: tuple[list[float], list[float]] | None = None,
) -> Run:
    """single and cluster-rr-Nw on /cpu, one case per repetition, 10 s windows; p99 is 30 ms
    (scaled) and falls with throughput as it would in a closed loop. `other_cpu`: % of a core
    the machine spent on neither the server (150 %) nor Locust; `failures`: the share of
    requests that failed on top of the successes. With `new`, an A/B run: (single, cluster)
    are the base side and `new` the new side, each case of a repetition run side by side."""
    cases, endpoints, samples, workers = [], [], [], []
    index = 0
    sides = [("", (single, cluster))] if new is None else [(" [base]", (single, cluster)), (" [new]", new)]
    cluster_label = f"cluster-rr-{cluster_workers}w /cpu u8"
    for rep in range(len(single)):
        for mode in ("single", "cluster"):
            for suffix, (s_tputs, c_tputs) in sides:
                tput = (s_tputs if mode == "single" else c_tputs)[rep]
                index += 1
                cid = f"{index:03d}-{mode}{suffix.strip(' []')}-r{rep + 1}"
                cond = ("single /cpu u8" if mode == "single" else cluster_label) + suffix
                t0 = 1000.0 * index
                ok = round(tput * 10)
                failed = round(ok * failures / (1 - failures)) if failures else 0
                cases.append(
                    {
                        "case_id": cid,
                        "index": index,
                        "condition": cond,
                        "repetition": rep + 1,
                        "mode": mode,
                        "workers": 1 if mode == "single" else cluster_workers,
                        "route": "/cpu",
                        "path": "/cpu",
                        "users": 8,
                        "load": "closed",
                        "generator_processes": 1,
                        "status": "complete",
                        "measure_start_ts": t0,
                        "measure_end_ts": t0 + 10,
                        "measured_s": 10.0,
                        "side": suffix.strip(" []"),
                    }
                )
                endpoints.append(
                    {
                        "case_id": cid,
                        "phase": "measure",
                        "name": "/cpu",
                        "requests": ok + failed,
                        "failures": failed,
                        "latency_p50_ms": 8000 / tput * p99_scale,
                        "latency_p99_ms": 12000 / tput * p99_scale,
                    }
                )
                ids = ["0"] if mode == "single" else [str(w + 1) for w in range(cluster_workers)]
                for wid in ids:
                    workers.append(
                        {"case_id": cid, "phase": "measure", "worker_id": wid, "pid": wid, "requests": ok // len(ids)}
                    )
                for k in range(3):
                    samples.append(
                        {
                            "case_id": cid,
                            "ts": t0 + 1 + k,
                            "phase": "measure",
                            "pid": 9,
                            "role": "generator",
                            "cpu_s": k * generator_cpu / 100,
                        }
                    )
                    samples.append(
                        {
                            "case_id": cid,
                            "ts": t0 + 1 + k,
                            "phase": "measure",
                            "pid": 5,
                            "role": "worker",
                            "cpu_s": k * 1.5,
                        }
                    )
                    samples.append(
                        {
                            "case_id": cid,
                            "ts": t0 + 1 + k,
                            "phase": "measure",
                            "pid": 0,
                            "role": "machine",
                            "cpu_pct": 150.0 + generator_cpu + other_cpu,
                            "steal_pct": 0.0,
                        }
                    )
    meta = {
        "run_id": run_id,
        "status": status,
        "error": None if status == "complete" else "Ctrl-C",
        "cases": cases,
        "machine": machine or MACHINE,
        "scenario": {"name": "smoke", "baseline": "single"},
        "against": None if new is None else {"ref": "HEAD~1", "commit": "0123456789abcdef", "work_dirty": False},
    }
    return hand_run(
        cases, endpoints=endpoints, workers=workers, samples=samples, path=Path("/nonexistent") / run_id, meta=meta
    )


def noisy(center: float, n: int, seed: int, cv: float = 0.02) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * (1 + rng.normal(0, cv, n)))


def verdicts(cmp: compare.Comparison, metric: str) -> dict[str, str]:
    return {r.condition: r.verdict for r in cmp.rows if r.metric == metric}


def row_of(cmp: compare.Comparison, condition: str, metric: str) -> compare.Row:
    return next(r for r in cmp.rows if r.metric == metric and r.condition == condition)


def test_an_injected_slowdown_of_20_percent_is_caught():
    base = synthetic_run("base", noisy(450, 5, 1), noisy(700, 5, 2))
    slow = synthetic_run("slow", noisy(450 * 0.8, 5, 3), noisy(700 * 0.8, 5, 4))
    cmp = compare.compare_runs(base, slow)
    assert verdicts(cmp, "throughput") == {"single /cpu u8": "regression", "cluster-rr-2w /cpu u8": "regression"}
    # closed load: p99 rose with the slowdown and says so, but only throughput decides
    assert verdicts(cmp, "p99") == {"single /cpu u8": "regression", "cluster-rr-2w /cpu u8": "regression"}
    assert not any(r.gating for r in cmp.rows if r.metric == "p99")
    # both slowed alike: the ratio between them did not regress
    assert verdicts(cmp, "speedup")["cluster-rr-2w /cpu u8"] in ("unchanged", "inconclusive")
    row = row_of(cmp, "single /cpu u8", "throughput")
    assert row.change_pct == pytest.approx(-20, abs=3)
    assert row.low_pct < row.change_pct < row.high_pct < -5  # the whole interval beyond the threshold
    assert "-20" in row.interval_text or "-19" in row.interval_text or "-21" in row.interval_text
    assert cmp.exit_code == compare.COMPARE_REGRESSED == 4


@pytest.mark.slow
def test_unchanged_needs_the_whole_interval_inside_the_threshold():
    """An A/B run of the same code with 1 % pair noise and 5 pairs: unchanged, exit 0; the
    same change measured with 3 noisy independent repetitions cannot say so: inconclusive."""
    for seed in range(5):
        ab = synthetic_run(
            "ab",
            noisy(450, 5, seed, 0.01),
            noisy(700, 5, seed + 50, 0.01),
            new=(noisy(450, 5, seed + 100, 0.01), noisy(700, 5, seed + 150, 0.01)),
        )
        cmp = compare.compare_ab(ab)
        assert cmp.paired and cmp.exit_code == 0, markdown.comparison(cmp)
        assert set(verdicts(cmp, "throughput").values()) <= {"unchanged", "unchanged or better"}
    a = synthetic_run("a", noisy(450, 3, 1, 0.05), noisy(700, 3, 2, 0.05))
    b = synthetic_run("b", noisy(450, 3, 3, 0.05), noisy(700, 3, 4, 0.05))
    cmp = compare.compare_runs(a, b)
    row = row_of(cmp, "single /cpu u8", "throughput")
    assert row.verdict == "inconclusive" and row.low_pct < -5 < row.high_pct
    assert row.repetitions_needed is None or row.repetitions_needed > 3
    assert cmp.exit_code == compare.COMPARE_INCONCLUSIVE == 5


@pytest.mark.slow
def test_a_true_10_percent_slowdown_never_passes_with_3_noisy_repetitions():
    """Seen: 3 repetitions at 5 % noise, a true -10 % change: the t-test gate passed it about
    9 times in 10. Now the build passes only when the interval shows 'unchanged'."""
    m = compare.METRICS["throughput"]
    rng = np.random.default_rng(11)
    verdicts_seen = [
        compare.compare_values(
            "x", m, 450 * (1 + rng.normal(0, 0.05, 3)), 405 * (1 + rng.normal(0, 0.05, 3)), 5.0, paired=False
        ).verdict
        for _ in range(2000)
    ]
    assert not set(verdicts_seen) & set(compare.PASSING)
    assert verdicts_seen.count("regression") > 0  # sometimes firm, otherwise inconclusive
    a = synthetic_run("a", noisy(450, 3, 1, 0.05), noisy(700, 3, 2, 0.05))
    b = synthetic_run("b", noisy(405, 3, 3, 0.05), noisy(630, 3, 4, 0.05))
    assert compare.compare_runs(a, b).exit_code in (compare.COMPARE_REGRESSED, compare.COMPARE_INCONCLUSIVE)


def test_the_smoke_baseline_with_single_12_percent_slower_is_not_unchanged():
    """Seen: a copy of results/baselines/smoke with only `single` scaled by 0.88 got -12 %,
    p = 0.015, 'unchanged', exit 0."""
    from harness.record import load_run

    base = load_run(Path(__file__).resolve().parent.parent / "results" / "baselines" / "smoke")
    tables = {k: v.copy() for k, v in base.tables.items()}
    single = set(tables["cases"].loc[tables["cases"]["mode"] == "single", "case_id"])
    ep = tables["endpoints"]
    sel = ep["case_id"].isin(single)
    ep.loc[sel, "requests"] = (ep.loc[sel, "requests"] * 0.88).round()
    slower = Run(path=base.path, meta={**base.meta, "run_id": "slower"}, tables=tables)
    cmp = compare.compare_runs(base, slower)
    row = row_of(cmp, next(c for c in cmp.rows if c.condition.startswith("single")).condition, "throughput")
    assert row.change_pct == pytest.approx(-12, abs=0.5)
    # the stored baseline's 3 repetitions cannot place -12 % firmly beyond -5 %: it fails the
    # build as inconclusive, with the repetitions that would settle it
    assert row.verdict in ("regression", "inconclusive") and row.high_pct < 0, row.reason
    assert cmp.exit_code in (compare.COMPARE_REGRESSED, compare.COMPARE_INCONCLUSIVE)


def test_a_baseline_condition_missing_from_the_current_run_is_not_compared():
    """Seen: workers="cores" gives cluster-rr-4w on a 4-core runner against a 2-core
    baseline's cluster-rr-2w: every row 'not comparable', exit 0."""
    base = synthetic_run("base", noisy(450, 5, 1), noisy(700, 5, 2))
    cur = synthetic_run("cur", noisy(450, 5, 3), noisy(1300, 5, 4), cluster_workers=4)
    cmp = compare.compare_runs(base, cur)
    missing = row_of(cmp, "cluster-rr-2w /cpu u8", "throughput")
    assert missing.verdict == "not compared" and missing.gating and "not in the current run" in missing.reason
    new = row_of(cmp, "cluster-rr-4w /cpu u8", "throughput")
    assert new.verdict == "not compared" and not new.gating
    assert cmp.exit_code == compare.COMPARE_NOT_COMPARED == 7
    assert any("not compared" in line for line in cmp.summary_lines())


def test_other_machines_make_absolute_figures_not_compared():
    """Seen: another machine fingerprint: every absolute row not comparable, exit 7."""
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    b = synthetic_run("b", noisy(300, 5, 3), noisy(560, 5, 4), machine={**MACHINE, "cpu_model": "Intel Xeon"})
    cmp = compare.compare_runs(a, b)
    assert set(verdicts(cmp, "throughput").values()) == {"not compared"}
    assert set(verdicts(cmp, "p99").values()) == {"not compared"}
    # the portable ratio is compared: 560/300 = 1.87 against 700/450 = 1.56, an improvement
    assert verdicts(cmp, "speedup")["cluster-rr-2w /cpu u8"] == "improvement"
    assert cmp.exit_code == compare.COMPARE_NOT_COMPARED
    assert not cmp.same_machine
    # gating on the portable ratio alone is a question the run can answer
    assert compare.compare_runs(a, b, gate=["speedup"]).exit_code == 0
    # the sensitivity line speaks of the one gating row that had an interval, with one figure
    # (seen: "about 21% to 21% or more ... least sensitive: ..." on make ci-track)
    (line,) = [s for s in cmp.summary_lines() if s.startswith("sensitivity:")]
    (speedup,) = [r for r in cmp.gating_rows if not np.isnan(r.detectable_pct)]
    assert f"about {speedup.detectable_pct:.0f}% or more" in line
    assert "% to " not in line and "least sensitive" not in line
    assert "the only gating row with an interval: cluster-rr-2w /cpu u8 speedup" in line


def test_the_sensitivity_line_spans_the_gating_rows():
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2, cv=0.06))
    b = synthetic_run("b", noisy(450, 5, 3), noisy(700, 5, 4, cv=0.06))
    cmp = compare.compare_runs(a, b)
    pcts = sorted(r.detectable_pct for r in cmp.gating_rows if not np.isnan(r.detectable_pct))
    assert len(pcts) > 1 and f"{pcts[0]:.0f}" != f"{pcts[-1]:.0f}"
    (line,) = [s for s in cmp.summary_lines() if s.startswith("sensitivity:")]
    assert f"about {pcts[0]:.0f}% to {pcts[-1]:.0f}% or more" in line and "least sensitive: " in line


def test_a_generator_limited_run_is_untrustworthy():
    a = synthetic_run("a", noisy(450, 3, 1), noisy(700, 3, 2))
    b = synthetic_run("b", noisy(450, 3, 3), noisy(700, 3, 4), generator_cpu=95.0)
    cmp = compare.compare_runs(a, b)
    assert cmp.exit_code == compare.COMPARE_UNTRUSTWORTHY == 6
    assert any("generator-limited" in u for u in cmp.untrustworthy)


def test_a_busy_machine_makes_a_big_drop_untrustworthy_not_a_regression():
    """Seen: a current run whose own report says 'the machine was not quiet (157% of a
    core)' got exit 1 'REGRESSION -70%'."""
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    busy = synthetic_run("busy", noisy(135, 5, 3), noisy(210, 5, 4), other_cpu=157.0)
    cmp = compare.compare_runs(a, busy)
    assert verdicts(cmp, "throughput")["single /cpu u8"] == "regression"  # the numbers say so ...
    assert cmp.exit_code == compare.COMPARE_UNTRUSTWORTHY  # ... but they cannot be trusted
    assert any("not quiet" in u and "157%" in u for u in cmp.untrustworthy)
    assert compare.compare_runs(a, synthetic_run("q", noisy(135, 5, 3), noisy(210, 5, 4))).exit_code == 4


def test_a_third_of_requests_failing_is_untrustworthy_even_with_successes_unchanged():
    a = synthetic_run(
        "a", noisy(450, 5, 1, 0.005), noisy(700, 5, 2, 0.005), new=(noisy(450, 5, 3, 0.005), noisy(700, 5, 4, 0.005))
    )
    assert compare.compare_ab(a).exit_code == 0
    failing = synthetic_run(
        "f",
        noisy(450, 5, 1, 0.005),
        noisy(700, 5, 2, 0.005),
        new=(noisy(450, 5, 3, 0.005), noisy(700, 5, 4, 0.005)),
        failures=1 / 3,
    )
    cmp = compare.compare_ab(failing)
    assert verdicts(cmp, "throughput")["single /cpu u8"] == "unchanged"
    assert cmp.exit_code == compare.COMPARE_UNTRUSTWORTHY
    assert any("requests failed" in u for u in cmp.untrustworthy)


def test_an_interrupted_run_is_untrustworthy_and_an_unstable_one_inconclusive():
    a = synthetic_run("a", noisy(450, 3, 1), noisy(700, 3, 2))
    assert (
        compare.compare_runs(a, synthetic_run("b", noisy(450, 3, 3), noisy(700, 3, 4), status="interrupted")).exit_code
        == compare.COMPARE_UNTRUSTWORTHY
    )
    unstable = synthetic_run("c", [300.0, 450.0, 600.0], noisy(700, 3, 5))
    cmp = compare.compare_runs(a, unstable)
    assert row_of(cmp, "single /cpu u8", "throughput").verdict == "inconclusive"
    assert cmp.exit_code == compare.COMPARE_INCONCLUSIVE


def test_one_repetition_is_not_compared():
    """Seen: a current run with 1 repetition: every row 'not comparable', exit 0."""
    a = synthetic_run("a", noisy(450, 3, 1), noisy(700, 3, 2))
    cmp = compare.compare_runs(a, synthetic_run("b", [300.0], [500.0]))
    assert set(r.verdict for r in cmp.rows if r.metric == "throughput") == {"not compared"}
    assert "at least 3" in row_of(cmp, "single /cpu u8", "throughput").reason
    assert cmp.exit_code == compare.COMPARE_NOT_COMPARED


def test_the_interval_and_the_verdict_arithmetic():
    """Paired log ratios: [0.9, 0.9, 0.9] of the base is exactly -10 % with no spread."""
    m = compare.METRICS["throughput"]
    b = np.array([400.0, 500.0, 600.0])
    row = compare.compare_values("x", m, b, b * 0.9, 5.0, paired=True)
    assert row.change_pct == pytest.approx(-10) and row.low_pct == pytest.approx(-10)
    assert row.verdict == "regression"
    row = compare.compare_values("x", m, b, b * 0.9, 12.0, paired=True)
    assert row.verdict == "unchanged"  # -10 % is inside a 12 % threshold
    # by hand: d = ln(c/b) = ln 0.9 + [-0.01, 0, 0.01]; mean ln 0.9, sd 0.01, se 0.01/sqrt(3), t(2) = 4.303
    c = b * 0.9 * np.exp([-0.01, 0.0, 0.01])
    row = compare.compare_values("x", m, b, c, 5.0, paired=True)
    half = 4.302653 * 0.01 / np.sqrt(3)
    assert row.low_pct == pytest.approx((0.9 * np.exp(-half) - 1) * 100, rel=1e-4)
    assert row.high_pct == pytest.approx((0.9 * np.exp(half) - 1) * 100, rel=1e-4)
    # lower is better for latency: +10 % is the bad direction
    lat = compare.compare_values("x", compare.METRICS["p99"], b, b * 1.3, 15.0, paired=True)
    assert lat.verdict == "regression"
    assert compare.compare_values("x", compare.METRICS["p99"], b, b * 0.7, 15.0, paired=True).verdict == "improvement"
    # the interval crosses the bad threshold only: inconclusive; crosses the good one only: unchanged or better
    assert (
        compare.compare_values("x", m, b, b * 0.95 * np.exp([-0.02, 0, 0.02]), 5.0, paired=True).verdict
        == "inconclusive"
    )
    assert (
        compare.compare_values("x", m, b, b * 1.05 * np.exp([-0.02, 0, 0.02]), 5.0, paired=True).verdict
        == "unchanged or better"
    )


def test_sensitivity_and_repetitions_needed():
    m = compare.METRICS["throughput"]
    rng = np.random.default_rng(7)
    b = 450 * (1 + rng.normal(0, 0.03, 4))
    c = b * 0.97 * (1 + rng.normal(0, 0.03, 4))
    row = compare.compare_values("x", m, b, c, 5.0, paired=True)
    assert row.verdict == "inconclusive" and row.repetitions_needed and row.repetitions_needed > 4
    # more pairs at the same spread would settle it: the interval of that many pairs clears the threshold
    n = row.repetitions_needed
    sd = float(np.log(c / b).std(ddof=1))
    from scipy import stats

    assert stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) <= abs(np.log(0.95) - np.log(c / b).mean()) + 1e-12
    assert row.detectable_pct > 5  # the threshold plus the noise


def test_markdown_and_junit_outputs():
    base = synthetic_run("base", noisy(450, 5, 1), noisy(700, 5, 2))
    slow = synthetic_run("slow", noisy(360, 5, 3), noisy(700, 5, 4))
    cmp = compare.compare_runs(base, slow)
    md = markdown.comparison(cmp)
    assert md.startswith("## harness compare: REGRESSION (exit 4)")
    assert "| single /cpu u8 | throughput |" in md and "[" in md
    suite = ET.fromstring(junit.comparison(cmp))
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(cmp.rows)
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert {(c.get("classname"), c.get("name")) for c in failed} >= {("single /cpu u8", "throughput")}
    assert ("cluster-rr-2w /cpu u8", "throughput") not in {(c.get("classname"), c.get("name")) for c in failed}


@pytest.mark.parametrize("bad", ["tput=5", "throughput", "throughput=abc", "p99=5000", "throughput=0"])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValueError):
        compare.parse_thresholds([bad])


def _store(results: Path, r: Run) -> None:
    w = RunWriter(results, r.run_id)
    w.start({k: v for k, v in r.meta.items() if k not in ("run_id", "status", "cases", "error")})
    for case in r.meta["cases"]:
        cid = case["case_id"]
        w.add_case(
            case,
            {
                name: r.tables[name][r.tables[name]["case_id"] == cid].to_dict("records")
                for name in ("endpoints", "workers", "samples")
            },
        )
    w.finish("complete")


@pytest.mark.slow  # one process of its own, for the exit code as the shell sees it
def test_cli_exit_codes_on_stored_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    results = tmp_path / "results"
    for r in (
        synthetic_run("base", noisy(450, 5, 1, 0.005), noisy(700, 5, 2, 0.005)),
        synthetic_run("same", noisy(450, 5, 3, 0.005), noisy(700, 5, 4, 0.005)),
        synthetic_run("slow", [350.0, 352.0, 348.0], [560.0, 555.0, 565.0]),
        synthetic_run("noisy", noisy(450, 3, 5, 0.06), noisy(700, 3, 6, 0.06)),
        synthetic_run("one", [450.0], [700.0]),
        synthetic_run("busy", [350.0, 352.0, 348.0], [560.0, 555.0, 565.0], other_cpu=150.0),
        synthetic_run(
            "ab",
            noisy(450, 4, 1, 0.005),
            noisy(700, 4, 2, 0.005),
            new=([405.0, 406.0, 404.0, 405.0], noisy(630, 4, 3, 0.005)),
        ),
    ):
        _store(results, r)

    def run_cli(*args: str) -> tuple[int, str, str]:
        """The command in this process (harness.cli.main, argparse's SystemExit taken as the
        code it exits with): each was a second of imports as a process of its own."""
        return main_in_process("--results", str(results), *args, capsys=capsys)

    # one real process: the gate's exit code reaches the shell, and its files are written
    # (it reads the stored runs only: it runs while the commands below run in this process)
    shell = start_harness(
        "compare",
        "base",
        "slow",
        "--junit",
        str(tmp_path / "j.xml"),
        "--markdown",
        str(tmp_path / "s.md"),
        results=results,
    )
    code, _, err = run_cli("compare", "base", "same", "--detect", "10")
    assert code == 0 and "to catch a 10% change of single /cpu u8 throughput" in err
    assert run_cli("compare", "base", "noisy")[0] == 5
    assert run_cli("compare", "base", "busy")[0] == 6
    assert run_cli("compare", "base", "one")[0] == 7
    code, out_text, err = run_cli("compare", "ab")  # an A/B run alone: base side against new side, paired
    assert code == 4 and "paired" in out_text + err, err
    assert run_cli("compare", "base")[0] == 2  # not an A/B run: bad input, one line
    assert run_cli("compare", "base", "nope")[0] == 2
    code, _, err = run_cli("compare", "base", "same", "--threshold", "bogus=1")
    assert code == 2 and "Traceback" not in err
    assert run_cli("compare", "base", "same", "--gate", "latency")[0] == 2
    assert run_cli("compare", "--nope")[0] == 2  # argparse's own errors are bad input too
    _, shell_err = shell.communicate(timeout=60)
    assert shell.returncode == 4, shell_err
    assert "REGRESSION" in (tmp_path / "s.md").read_text() and (tmp_path / "j.xml").is_file()
    # a baseline under results/baselines/ by name
    assert run_cli("baseline", "update", "base", "--name", "smoke")[0] == 0
    assert (results / "baselines" / "smoke" / "run.json").is_file()
    assert run_cli("compare", "smoke", "slow")[0] == 4
    # a run against itself, by id or as the baseline stored from it, is no comparison (was exit 5)
    for same in (("base", "base"), ("smoke", "base"), ("base", str(results / "base"))):
        code, _, err = run_cli("compare", *same)
        assert code == 2 and "the baseline and the current run are the same measurement (run base)" in err, err


@pytest.mark.integration
def test_make_ci_bench_quick_is_an_a_b_run_with_a_verdict(tmp_path: Path):
    """make ci-bench against HEAD: the same server on both sides, side by side, and the
    gate's verdict with its own exit code. On a busy machine the verdict may be inconclusive
    (5) or untrustworthy (6), said in the output; never bad input or a crash."""
    repo = Path(__file__).resolve().parent.parent
    out_dir = tmp_path / "ci-bench"
    ab_before = set(Path(tempfile.gettempdir()).glob("harness-ab-*"))  # another session's may be there too
    out = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "ci-bench",
            "ARGS=--quick --no-report --repetitions 3 --duration-s 1 --warmup-s 0.5",
            f"CI_BENCH_DIR={out_dir}",
            "CI_AGAINST=HEAD",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:  # make exits 2 whenever a command fails; its message gives harness's code
        codes = {"Error 5": "inconclusive", "Error 6": "measurement not trustworthy", "Error 4": "REGRESSION"}
        code = next((c for c in codes if c in out.stderr), None)
        assert code is not None, out.stdout[-3000:] + out.stderr[-3000:]
        assert f"verdict: {codes[code]}" in out.stderr
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    summary = (out_dir / "summary.md").read_text()
    assert f"base (HEAD {head[:10]})" in summary and "paired by repetition" in summary
    suite = ET.fromstring((out_dir / "junit.xml").read_text())
    assert {c.get("classname") for c in suite.iter("testcase")} >= {"single /cpu u8", "cluster-rr-2w /cpu u8"}
    run_dir = next(out_dir.glob("ab-*"))
    cases = pd.read_csv(run_dir / "cases.csv")
    assert sorted(cases["side"].unique()) == ["base", "new"]
    # each repetition runs both sides of a condition next to each other, base first in odd ones
    first = cases.groupby("repetition").first()
    assert first.loc[1, "side"] == "base" and first.loc[2, "side"] == "new"
    assert not set(Path(tempfile.gettempdir()).glob("harness-ab-*")) - ab_before, (
        "the base side's temporary folder was left behind"
    )


def test_closed_load_latency_alone_never_fails_the_gate():
    """The false alarm seen in back-to-back ci-bench runs: same throughput, p50 shape moved."""
    a = synthetic_run(
        "a", noisy(450, 5, 1, 0.005), noisy(700, 5, 2, 0.005), new=(noisy(450, 5, 3, 0.005), noisy(700, 5, 4, 0.005))
    )
    b = synthetic_run(
        "b",
        noisy(450, 5, 1, 0.005),
        noisy(700, 5, 2, 0.005),
        p99_scale=1.3,
        new=(noisy(450, 5, 3, 0.005), noisy(700, 5, 4, 0.005)),
    )
    # the base side of b has 1.3x the latency: compare b's base with a's new through two runs
    cmp = compare.compare_runs(*compare.split_sides(b)[:1], compare.split_sides(a)[1])
    assert verdicts(cmp, "p50")["cluster-rr-2w /cpu u8"] == "improvement"
    assert cmp.exit_code == compare.COMPARE_OK
    cmp = compare.compare_runs(compare.split_sides(a)[1], compare.split_sides(b)[0])
    assert verdicts(cmp, "p50")["cluster-rr-2w /cpu u8"] == "regression"
    assert cmp.exit_code == compare.COMPARE_OK
    suite = ET.fromstring(junit.comparison(cmp))
    assert suite.get("failures") == "0"
    assert "informational" in markdown.comparison(cmp)


def test_repetitions_to_catch_a_given_change():
    m = compare.METRICS["throughput"]
    rng = np.random.default_rng(3)
    b = 450 * (1 + rng.normal(0, 0.02, 5))
    row = compare.compare_values("x", m, b, b * (1 + rng.normal(0, 0.02, 5)), 5.0, paired=True)
    n20, n10 = row.repetitions_to_catch(20), row.repetitions_to_catch(10)
    assert n20 is not None and n10 is not None and n20 <= n10  # a bigger change needs fewer
    assert row.repetitions_to_catch(4) is None  # inside the threshold: never a regression
    # at that many pairs, (t_.975 + t_.8) * sd / sqrt(n) fits between the change and the threshold
    from scipy import stats

    margin = abs(np.log(0.9) - np.log(0.95))
    assert (stats.t.ppf(0.975, n10 - 1) + stats.t.ppf(0.8, n10 - 1)) * row.sd_log / np.sqrt(n10) <= margin
    assert (stats.t.ppf(0.975, n10 - 2) + stats.t.ppf(0.8, n10 - 2)) * row.sd_log / np.sqrt(
        n10 - 1
    ) > margin or n10 == compare.MIN_REPETITIONS


def test_one_hiccup_pair_does_not_make_unchanged_code_inconclusive():
    """Seen in the gate benchmark: one cluster pair at -15 % among pairs within 3 % gave a
    t-interval of [-16.8, +11.8] for unchanged code. From 6 pairs the A/B uses the median of
    the paired ratios, whose 95 % interval from 9 pairs leaves the extreme pair out."""
    m = compare.METRICS["throughput"]
    b = np.array([900.0, 899, 870, 877, 905, 880, 890, 901, 885])
    ratios = np.array([0.85, 1.01, 1.02, 0.99, 1.00, 1.015, 0.985, 1.005, 0.995])
    row = compare.compare_values("x", m, b, b * ratios, 5.0, paired=True)
    assert row.method == "median" and row.verdict == "unchanged", row.reason
    d = np.sort(np.log(ratios))
    assert row.low_pct == pytest.approx((np.exp(d[1]) - 1) * 100)  # d(2) .. d(8) of 9: 96.1 %
    assert row.high_pct == pytest.approx((np.exp(d[7]) - 1) * 100)
    assert row.coverage == pytest.approx(1 - 2 * 10 / 512)
    # the mean and its t-interval on the same pairs could not say so
    t_row = compare.compare_values("x", m, b[:5], (b * ratios)[:5], 5.0, paired=True)
    assert t_row.method == "mean" and t_row.verdict == "inconclusive"
    # a real 17 % slowdown with the same hiccup is still a firm regression
    slow = compare.compare_values("x", m, b, b * ratios * 0.83, 5.0, paired=True)
    assert slow.verdict == "regression" and slow.high_pct < -5
    # sample sizes for the median method come from its own interval
    n10, n7 = slow.repetitions_to_catch(10), slow.repetitions_to_catch(7)
    assert n10 is not None and n7 is not None and compare.MIN_REPETITIONS <= n10 <= n7


def test_a_condition_whose_throughput_the_records_lack_is_not_compared_not_skipped():
    """Seen: measured_s blanked for the cluster's cases on both sides: its throughput and
    speedup rows vanished and the gate said exit 0, "every gating metric compared"."""
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    b = synthetic_run("b", noisy(450, 5, 3), noisy(700, 5, 4))
    for r in (a, b):
        cases = r.tables["cases"]
        cases.loc[cases["condition"].str.startswith("cluster"), "measured_s"] = np.nan
    cmp = compare.compare_runs(a, b)
    lacking = {r.metric: r for r in cmp.rows if r.condition.startswith("cluster")}
    assert lacking["throughput"].verdict == "not compared" and lacking["throughput"].gating
    assert "no value on either side" in lacking["throughput"].reason
    assert lacking["speedup"].verdict == "not compared" and lacking["speedup"].gating
    assert cmp.exit_code == compare.COMPARE_NOT_COMPARED
    # the baseline mode's own speedup still does not apply: no row for it
    assert not [r for r in cmp.rows if r.condition.startswith("single") and r.metric == "speedup"]


def test_a_ratio_over_a_baseline_that_served_nothing_is_not_compared():
    """Seen: single served nothing in the current run: the cluster's speedup, +inf%, was
    called "inconclusive: more repetitions than is practical at this spread"."""
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    b = synthetic_run("b", noisy(450, 5, 3), noisy(700, 5, 4))
    ends = b.tables["endpoints"]
    single_ids = set(b.tables["cases"].loc[b.tables["cases"]["mode"] == "single", "case_id"])
    ends.loc[ends["case_id"].isin(single_ids), "failures"] = ends.loc[ends["case_id"].isin(single_ids), "requests"]
    cmp = compare.compare_runs(a, b)
    row = row_of(cmp, "cluster-rr-2w /cpu u8", "speedup")
    assert row.verdict == "not compared" and "served nothing" in row.reason, row
    assert cmp.exit_code != 0


def test_a_speedup_whose_baseline_condition_is_absent_says_so_not_zero_repetitions():
    """Seen: single dropped from the current run: the cluster's speedup said '0 repetitions on
    one side ... (run with --repetitions 3 or more)' although the run had 3."""
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    b = synthetic_run("b", noisy(450, 5, 3), noisy(700, 5, 4))
    cases = b.tables["cases"]
    single = set(cases.loc[cases["mode"] == "single", "case_id"])
    b.tables = {k: (v[~v["case_id"].isin(single)] if "case_id" in v.columns else v) for k, v in b.tables.items()}
    b.meta["cases"] = [c for c in b.meta["cases"] if c["case_id"] not in single]
    row = row_of(compare.compare_runs(a, b), "cluster-rr-2w /cpu u8", "speedup")
    assert row.verdict == "not compared" and row.reason.startswith("no value of it in the current run (a ratio"), row
    assert "--repetitions" not in row.reason


def test_throughput_missing_on_one_side_only_is_said_of_that_side():
    """The 'no value on either side' row is for both sides lacking throughput; one side
    lacking it is that side's, and the baseline mode's own speedup and fairness (which do not
    apply) get no row."""
    a = synthetic_run("a", noisy(450, 5, 1), noisy(700, 5, 2))
    b = synthetic_run("b", noisy(450, 5, 3), noisy(700, 5, 4))
    cases = b.tables["cases"]
    cases.loc[cases["condition"].str.startswith("single"), "measured_s"] = np.nan
    cmp = compare.compare_runs(a, b)
    row = row_of(cmp, "single /cpu u8", "throughput")
    assert row.verdict == "not compared" and row.reason.startswith("no value of it in the current run (the record")
    assert not [r for r in cmp.rows if "either side" in r.reason]
    assert not [r for r in cmp.rows if r.condition.startswith("single") and r.metric in ("speedup", "fairness")]
    assert cmp.exit_code == compare.COMPARE_NOT_COMPARED
