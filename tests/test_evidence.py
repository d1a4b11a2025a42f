"""Every sentence of the story is gated (issue 14, point 3): hand-built tables on which an
ungated claim would be wrong, and the rules of harness.evidence worked out by hand."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from helpers import case_row, case_rows, hand_run, result_tables

from harness import analysis, evidence
from harness.record import Run
from harness.report import figures, story
from harness.report.sweeps import sweep_findings

# --- the interval of the median ------------------------------------------------------


@pytest.mark.parametrize("n, coverage", [(3, 0.75), (4, 0.875), (5, 0.9375), (6, 1 - 2 / 64)])
def test_median_interval_is_min_to_max_with_its_coverage_up_to_six_values(n, coverage):
    low, high, cov = evidence.median_interval([float(v) for v in range(n, 0, -1)])
    assert (low, high) == (1.0, float(n))
    assert cov == pytest.approx(coverage)


def test_median_interval_narrows_when_the_coverage_allows():
    # n = 9: [x(2), x(8)] covers 1 - 2 P(B <= 1) = 1 - 2 * 10/512 = 0.9609 >= 95 %; [x(3), x(7)] only 0.8203
    low, high, cov = evidence.median_interval([9, 1, 8, 2, 7, 3, 6, 4, 5])
    assert (low, high) == (2.0, 8.0) and cov == pytest.approx(1 - 20 / 512)


def test_no_interval_from_fewer_than_three_values():
    assert all(math.isnan(v) for v in evidence.median_interval([10.0, 12.0]))
    assert all(math.isnan(v) for v in evidence.median_interval([10.0, math.nan, 12.0]))
    assert all(math.isnan(v) for v in analysis.confidence_interval([10.0, 12.0]))


def test_the_summary_carries_the_median_interval_and_nothing_from_two_repetitions():
    """Two repetitions (331 and 8) used to give a Student-t band of about -689..1,352 req/s."""
    _, summary = result_tables(
        case_rows("single /cpu u8", [331.0, 8.0]) + case_rows("cluster-rr-2w /cpu u8", [10, 30, 20, 40])
    )
    s = summary.set_index("condition")
    assert math.isnan(s.loc["single /cpu u8", "throughput_median_low_rps"])
    assert math.isnan(s.loc["single /cpu u8", "throughput_interval_coverage"])
    assert "throughput_ci95_low_rps" not in s.columns
    assert s.loc["cluster-rr-2w /cpu u8", ["throughput_median_low_rps", "throughput_median_high_rps"]].tolist() == [
        10.0,
        40.0,
    ]
    assert s.loc["cluster-rr-2w /cpu u8", "throughput_interval_coverage"] == pytest.approx(0.875)


def _band_lines(fig: plt.Figure) -> int:
    """The interval bands the throughput figure draws (thick grey horizontal lines)."""
    return sum(1 for line in fig.axes[0].get_lines() if line.get_linewidth() == figures.INTERVAL_BAND_LW)


def test_the_throughput_figure_draws_no_band_from_two_repetitions():
    results, summary = result_tables(
        case_rows("single /cpu u8", [331.0, 8.0]) + case_rows("cluster-rr-2w /cpu u8", [10, 30, 20])
    )
    fig = figures.throughput(summary, results)
    try:
        assert _band_lines(fig) == 1  # only the condition with three repetitions
    finally:
        plt.close(fig)


# --- the rules --------------------------------------------------------------------------


def test_separated_and_below():
    assert evidence.separated((1, 2), (3, 4)) and evidence.separated((3, 4), (1, 2))
    assert not evidence.separated((1, 3), (2, 4))
    assert not evidence.separated((1, math.nan), (3, 4)), "a missing interval separates nothing"
    assert evidence.below((1, 2), (3, 4)) and not evidence.below((3, 4), (1, 2))


def test_claim_doubts_name_each_failed_condition_and_the_remedy():
    rows = (
        case_rows("a", [10.0, 11.0], other_cpu_pct=60.0)
        + case_rows("b", [10.0, 11.0, 12.0], steal_pct=9.0)
        + case_rows("c", [10.0, 11.0, 12.0], generator_limited=True)
        + case_rows("d", [10.0, 11.0, 12.0], failures=5)
    )
    doubts = evidence.claim_doubts(pd.DataFrame(rows))
    text = " | ".join(doubts)
    assert "too few repetitions (2 of a;" in text and "more repetitions" in text
    assert "60% of a core in a" in text and "quieter machine" in text
    assert "stole CPU (9% in b" in text
    assert "load generator was the limit in c" in text and "fewer users" in text
    assert "requests failed (4.5% in d" in text  # 15 of 330
    assert evidence.claim_doubts(pd.DataFrame(case_rows("ok", [1.0, 2.0, 3.0]))) == []
    # the same verdict from the condition summary
    _, summary = result_tables(rows)
    assert evidence.claim_doubts(summary) == doubts


# --- problem 1: one repetition on a busy machine ----------------------------------------


def test_one_busy_repetition_neither_confirms_nor_contradicts_the_speedup_claim():
    results, summary = result_tables(
        case_rows("single /cpu u8", [100.0], other_cpu_pct=60.0)
        + case_rows("cluster-rr-2w /cpu u8", [120.0], mode="cluster", workers=2, units=2, other_cpu_pct=60.0)
    )
    (line,) = story.speedup_lines(summary, analysis.speedups(results), cores=2)
    assert "1.20x" in line  # the measured number stays
    assert "contradicts" not in line and "predicts" not in line
    assert "inconclusive" in line and "too few repetitions" in line and "quieter machine" in line


def test_a_firm_speedup_shortfall_is_called_a_contradiction():
    results, summary = result_tables(
        case_rows("single /cpu u8", [100.0, 101.0, 99.0])
        + case_rows("cluster-rr-2w /cpu u8", [120.0, 122.0, 118.0], mode="cluster", workers=2, units=2)
    )
    (line,) = story.speedup_lines(summary, analysis.speedups(results), cores=2)
    # speedup between 118/101 = 1.17 and 122/99 = 1.23: wholly below 0.85 * 2 = 1.7
    assert "contradicts it" in line and "inconclusive" not in line


def test_a_speedup_whose_interval_straddles_the_bound_is_inconclusive():
    results, summary = result_tables(
        case_rows("single /cpu u8", [100.0, 60.0, 140.0])
        + case_rows("cluster-rr-2w /cpu u8", [160.0, 170.0, 180.0], mode="cluster", workers=2, units=2)
    )
    (line,) = story.speedup_lines(summary, analysis.speedups(results), cores=2)
    # 160/140 = 1.14 to 180/60 = 3.0 around the bound 1.7
    assert "inconclusive" in line and "1.14x to 3.00x" in line
    assert "contradicts" not in line and "predicts" not in line


def test_one_repetition_of_round_robin_is_no_verdict_on_round_robin():
    results = pd.DataFrame(
        case_rows(
            "cluster-rr-2w /cpu u8-close",
            [100.0],
            mode="cluster",
            schedule="rr",
            workers=2,
            units=2,
            workers_seen=2,
            jain_index=0.80,
            max_min_share_ratio=2.0,
            other_cpu_pct=60.0,
            keepalive=False,
        ),
        columns=analysis.RESULT_COLUMNS,
    )
    (line,) = story.fairness_lines(results)
    assert "Jain's index 0.800" in line
    assert "contradicts" not in line and "promises" not in line
    assert "inconclusive" in line and "too few repetitions" in line


def test_round_robin_firmly_even_or_uneven():
    def line(jains):
        rows = [
            case_row(
                "cluster-rr-2w /cpu u8-close",
                i + 1,
                100.0,
                mode="cluster",
                schedule="rr",
                workers=2,
                units=2,
                workers_seen=2,
                jain_index=j,
                max_min_share_ratio=1.1,
                keepalive=False,
            )
            for i, j in enumerate(jains)
        ]
        return story.fairness_lines(pd.DataFrame(rows, columns=analysis.RESULT_COLUMNS))[0]

    assert "As round robin promises" in line([0.99, 0.98, 0.999])
    assert "contradicts" in line([0.80, 0.85, 0.70])
    straddling = line([0.90, 0.99, 0.97])  # interval 0.90..0.99 around the 0.95 bound
    assert "inconclusive" in straddling and "promises" not in straddling and "contradicts" not in straddling


def test_a_generator_limit_doubts_capacity_but_not_the_counted_spread():
    """The spread is counted from every response whatever limited the offered load, so a
    generator limit leaves the scheduling claim firm; a speedup measured at the generator's
    limit measures the generator, so it stays inconclusive."""
    spread = [
        case_row(
            "cluster-none-4w /hello u8-close",
            i + 1,
            1000.0,
            mode="cluster",
            schedule="none",
            workers=4,
            units=4,
            workers_seen=4,
            jain_index=j,
            max_min_share_ratio=2.3,
            generator_limited=True,
            keepalive=False,
        )
        for i, j in enumerate([0.925, 0.931, 0.918])
    ]
    (line,) = story.fairness_lines(pd.DataFrame(spread, columns=analysis.RESULT_COLUMNS))
    assert "that is what happened here" in line and "inconclusive" not in line
    results, summary = result_tables(
        case_rows("single /cpu u8", [100.0, 101.0, 99.0], generator_limited=True)
        + case_rows(
            "cluster-rr-2w /cpu u8", [120.0, 122.0, 118.0], mode="cluster", workers=2, units=2, generator_limited=True
        )
    )
    (line,) = story.speedup_lines(summary, analysis.speedups(results), cores=2)
    assert "says nothing about its scaling" in line and "contradicts" not in line


def test_one_busy_repetition_says_nothing_about_offloading():
    rows = case_rows(
        "single /cpu u8 +probe", [100.0], probe_path="/hello", probe_latency_p99_ms=50.0, other_cpu_pct=60.0
    ) + case_rows(
        "pool-2t /cpu u8 +probe",
        [100.0],
        mode="pool",
        threads=2,
        units=2,
        probe_path="/hello",
        probe_latency_p99_ms=5.0,
        other_cpu_pct=60.0,
    )
    _, summary = result_tables(rows)
    (versus,) = [t for t in story.probe_lines(summary) if t.startswith("Blocking vs offloading")]
    assert "50.0 ms" in versus and "5.0 ms" in versus
    assert "as the guides say" not in versus and "inconclusive" in versus


def test_firmly_lower_probe_latency_with_the_pool_matches_the_guides():
    rows = case_rows("single /cpu u8 +probe", [100.0] * 3, probe_path="/hello", probe_latency_p99_ms=50.0) + [
        case_row(
            "pool-2t /cpu u8 +probe",
            i + 1,
            100.0,
            mode="pool",
            threads=2,
            units=2,
            probe_path="/hello",
            probe_latency_p99_ms=p,
        )
        for i, p in enumerate((4.0, 5.0, 6.0))
    ]
    _, summary = result_tables(rows)
    (versus,) = [t for t in story.probe_lines(summary) if t.startswith("Blocking vs offloading")]
    assert "as the guides say" in versus and "inconclusive" not in versus


# --- problem 2: knees inside the noise -------------------------------------------------


def sweep_summary(points: dict[int, list[float]], **overrides) -> pd.DataFrame:
    rows = []
    for threads, tputs in points.items():
        rows += case_rows(
            f"pool-{threads}t /cpu u8", tputs, mode="pool", threads=float(threads), units=threads, **overrides
        )
    return result_tables(rows)[1]


def test_a_knee_inside_the_noise_is_not_named():
    """The fixture's pool sweep: 2 threads 'the knee' at 257 against 256.5 req/s, ranges 244..270 and 231..282."""
    summary = sweep_summary({1: [208.0, 236.0], 2: [244.0, 270.0], 3: [231.0, 282.0]})
    points = analysis.sweeps(summary)
    assert points["knee"].tolist() == [False, True, False]  # the 5 % rule still marks the candidate
    assert not points["knee_firm"].any()
    (text,) = sweep_findings(points, cores=2)
    assert "could not be placed firmly" in text and "too few repetitions" in text
    assert "The knee is at" not in text and "usual advice says" not in text and "contradicts" not in text
    assert "244..270" in text  # the ranges are given with the medians


def test_a_knee_whose_gain_is_inside_the_noise_is_not_firm_even_with_three_repetitions():
    # 2 threads' interval (180..260) overlaps 1 thread's (150..200): the gain up to it is not real
    summary = sweep_summary({1: [150.0, 170.0, 200.0], 2: [180.0, 250.0, 260.0], 3: [240.0, 252.0, 262.0]})
    points = analysis.sweeps(summary)
    assert points.loc[points["knee"], "value"].tolist() == [2.0]
    assert not points["knee_firm"].any()
    (text,) = sweep_findings(points, cores=2)
    assert "could not be placed firmly" in text and "overlaps" in text and "usual advice says" not in text


def test_a_firm_knee_at_the_core_count_matches_the_usual_advice():
    summary = sweep_summary({1: [100.0, 102.0, 98.0], 2: [195.0, 200.0, 205.0], 3: [198.0, 203.0, 207.0]})
    points = analysis.sweeps(summary)
    assert points["knee_firm"].tolist() == [False, True, False]
    (text,) = sweep_findings(points, cores=2)
    assert "The knee is at 2" in text and "As the usual advice says" in text


def test_a_knee_at_the_smallest_value_claims_no_gain_up_to_it():
    """A flat sweep (one user waiting on /io: 10 req/s whatever the pool) has its knee at the
    first value; there is no 'gain up to it' to call beyond the noise."""
    summary = sweep_summary({1: [10.0, 10.1, 9.9], 2: [10.0, 10.05, 9.95], 4: [10.1, 10.0, 9.9]})
    points = analysis.sweeps(summary)
    assert points["knee_firm"].tolist() == [True, False, False]
    (text,) = sweep_findings(points, cores=2)
    assert "The knee is at 1" in text and "the smallest value tried" in text
    assert "the gain up to it is beyond the noise" not in text


def test_conditions_that_differ_in_more_than_the_swept_setting_are_no_sweep():
    """The scheduling scenario: 1 and 8 users with a connection per request, and 8 users on
    keep-alive. Only the two close loads sweep the users; the keep-alive one at 8 users is
    another condition, not a second point at 8."""
    rows = (
        case_rows(
            "cluster-rr-4w /hello u1-close", [700.0, 690.0, 695.0], mode="cluster", workers=4, users=1, keepalive=False
        )
        + case_rows(
            "cluster-rr-4w /hello u8-close",
            [1300.0, 1150.0, 1400.0],
            mode="cluster",
            workers=4,
            users=8,
            keepalive=False,
        )
        + case_rows("cluster-rr-4w /hello u8", [2000.0, 2900.0, 3000.0], mode="cluster", workers=4, users=8)
    )
    points = analysis.sweeps(result_tables(rows)[1])
    assert sorted(points["condition"]) == ["cluster-rr-4w /hello u1-close", "cluster-rr-4w /hello u8-close"]
    assert points["value"].is_unique
    same_value = (
        case_rows("cluster-rr-4w /hello u8 a", [1.0, 1.0, 1.0], mode="cluster", users=8)
        + case_rows("cluster-rr-4w /hello u8 b", [2.0, 2.0, 2.0], mode="cluster", users=8)
        + case_rows("cluster-rr-4w /hello u1", [1.0, 1.0, 1.0], mode="cluster", users=1)
    )
    assert analysis.sweeps(result_tables(same_value)[1]).empty


def test_still_rising_is_firm_only_when_the_last_step_is_real():
    noisy = analysis.sweeps(
        sweep_summary({1: [100.0, 110.0, 90.0], 2: [150.0, 160.0, 140.0], 4: [155.0, 170.0, 180.0]})
    )
    assert not noisy["knee_firm"].any()
    text = sweep_findings(noisy, cores=2)[0]
    assert "contradicts" not in text and "no knee in this range" not in text and "inconclusive" in text
    rising = analysis.sweeps(
        sweep_summary({1: [100.0, 101.0, 99.0], 2: [150.0, 151.0, 149.0], 4: [300.0, 301.0, 299.0]})
    )
    assert rising["knee_firm"].tolist() == [False, False, True]
    assert "no knee in this range" in sweep_findings(rising, cores=2)[0]


def test_the_sweep_figure_labels_a_knee_only_when_it_is_firm():
    points = analysis.sweeps(sweep_summary({1: [208.0, 236.0], 2: [244.0, 270.0], 3: [231.0, 282.0]}))
    fig = figures.sweep(points, cores=2)
    try:
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert not any(t.startswith("knee:") for t in texts)
        assert any("not firm" in t for t in texts)
    finally:
        plt.close(fig)


# --- problem 3: an app that names no worker ---------------------------------------------


def _run(rows: list[dict], worker_rows: list[dict]) -> Run:
    """A complete run of these cases (10 s windows, 8 users, 1000 measured requests each) whose
    workers table is these rows."""
    defaults = {
        "status": "complete",
        "users": 8,
        "warmup_s": 1,
        "duration_s": 10,
        "measured_s": 10.0,
        "started_ts": 0.0,
        "measure_start_ts": 1.0,
        "measure_end_ts": 11.0,
    }
    return hand_run(
        [{**defaults, **c} for c in rows],
        endpoints=[
            {"case_id": c["case_id"], "phase": "measure", "name": c["route"], "requests": 1000, "failures": 0}
            for c in rows
        ],
        workers=worker_rows,
        meta={"run_id": "hand", "status": "complete", "cases": rows},
    )


def test_no_sentence_about_a_spread_no_response_named():
    run = _run(
        [
            {
                "case_id": "c1",
                "condition": "cluster-rr-2w app",
                "repetition": 1,
                "mode": "cluster",
                "workers": 2,
                "schedule": "rr",
                "route": "/",
                "path": "/",
            }
        ],
        [{"case_id": "c1", "phase": "measure", "worker_id": "?", "pid": "?", "thread_id": "", "requests": 1000}],
    )
    results = analysis.case_results(run)
    r = results.iloc[0]
    assert r["workers_seen"] == 0 and math.isnan(r["jain_index"]) and math.isnan(r["max_min_share_ratio"])
    (line,) = story.fairness_lines(results)
    assert "not measured" in line and "x-worker-id" in line
    for claim in ("Jain", "nan", "contradicts", "served nothing", "0 of 2", "round robin", "Round robin"):
        assert claim not in line, claim


# --- problem 4: pool threads count only where the route runs on them --------------------


@pytest.mark.parametrize("route, units", [("/hello", 1), ("/io", 1), ("/pbkdf2", 1), ("/cpu", 4)])
def test_pool_threads_are_units_only_of_the_offloaded_route(route, units):
    thread = "" if route != "/cpu" else "7"
    run = _run(
        [
            {
                "case_id": "c1",
                "condition": f"pool-4t {route} u8",
                "repetition": 1,
                "mode": "pool",
                "workers": 1,
                "threads": 4,
                "route": route,
                "path": route,
            }
        ],
        [{"case_id": "c1", "phase": "measure", "worker_id": "0", "pid": "10", "thread_id": thread, "requests": 1000}],
    )
    r = analysis.case_results(run).iloc[0]
    assert r["units"] == units
    assert r["workers_seen"] == 1
    lines = story.fairness_lines(analysis.case_results(run))
    if units == 1:
        assert lines == [] and r["jain_index"] == 1.0
    else:
        assert "1 of 4 pool threads" in lines[0] and "served nothing" in lines[0]
