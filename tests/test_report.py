"""Golden tests of analysis and report on the small recorded run in tests/fixtures/small/.

The expected numbers are worked out by hand from the fixture's CSV rows (copied into the
comments), not taken from the harness's output: throughput = successful requests in the
measurement window / measured_s; Jain's index = (sum x)^2 / (n * sum x^2).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import case_row, case_rows, rendered_fixture, result_tables, run_harness

from harness import analysis, record
from harness.report import story
from harness.report.sweeps import sweep_findings

FIXTURE = Path(__file__).parent / "fixtures" / "small"


@pytest.fixture(scope="session")  # once per test process: xdist interleaves this module with others
def run() -> record.Run:
    return record.load_run(FIXTURE)


@pytest.fixture
def rendered(tmp_path_factory):
    """The fixture's report, rendered once per test session for the tests that read it (here
    and in test_report_page.py, in whichever xdist worker: helpers.rendered_fixture)."""
    return rendered_fixture(FIXTURE.name, tmp_path_factory)


@pytest.fixture(scope="session")  # once per test process: xdist interleaves this module with others
def results(run) -> pd.DataFrame:
    return analysis.case_results(run)


def _row(frame: pd.DataFrame, column: str, value: str) -> pd.Series:
    rows = frame[frame[column] == value]
    assert len(rows) == 1, f"{value} not found once"
    return rows.iloc[0]


def test_throughput_per_case_is_requests_over_the_measured_window(results):
    # endpoints.csv, measure, /cpu: 001 1485 requests, 0 failed; cases.csv measured_s 3.608156681060791
    assert _row(results, "case_id", "001-single-cpu-u6-r1")["throughput_rps"] == pytest.approx(1485 / 3.608156681060791)
    # 002: 2145 requests over 3.7284302711486816 s
    assert _row(results, "case_id", "002-cluster-rr-2w-cpu-u6-r1")["throughput_rps"] == pytest.approx(575.31, abs=0.01)


def test_summary_median_and_speedup_by_hand(run, results):
    summary = analysis.condition_summary(results, run["endpoints"])
    single = (1485 / 3.608156681060791 + 932 / 3.714320659637451) / 2  # median of two = their mean: 331.24
    rr = (2145 / 3.7284302711486816 + 872 / 3.717363119125366) / 2  # 404.94
    assert _row(summary, "condition", "single /cpu u6")["throughput_median_rps"] == pytest.approx(single)
    assert _row(summary, "condition", "cluster-rr-2w /cpu u6")["throughput_median_rps"] == pytest.approx(rr)
    speed = analysis.speedups(results)
    r = _row(speed, "condition", "cluster-rr-2w /cpu u6")
    assert r["speedup"] == pytest.approx(rr / single)  # 1.2225
    assert r["scaling_efficiency"] == pytest.approx(rr / single / 2)
    # paired: repetition 1 with 1 (575.31 / 411.57), 2 with 2 (234.57 / 250.92)
    assert r["paired_max"] == pytest.approx((2145 / 3.7284302711486816) / (1485 / 3.608156681060791))
    assert r["paired_min"] == pytest.approx((872 / 3.717363119125366) / (932 / 3.714320659637451))


def test_fairness_by_hand_including_a_worker_that_served_nothing(results):
    # workers.csv, measure: 002 w1 1197, w2 948; 008 w1 288, w2 584
    j002 = (1197 + 948) ** 2 / (2 * (1197**2 + 948**2))  # 0.98670
    j008 = (288 + 584) ** 2 / (2 * (288**2 + 584**2))  # 0.89668
    assert _row(results, "case_id", "002-cluster-rr-2w-cpu-u6-r1")["jain_index"] == pytest.approx(j002)
    assert _row(results, "case_id", "008-cluster-rr-2w-cpu-u6-r2")["jain_index"] == pytest.approx(j008)
    # 003 (OS scheduling): only w1 answered (1014); w2 counts as 0, so Jain = 1014^2 / (2 * 1014^2) = 0.5
    r003 = _row(results, "case_id", "003-cluster-none-2w-cpu-u6-r1")
    assert r003["jain_index"] == pytest.approx(0.5) and r003["workers_seen"] == 1
    assert r003["max_min_share_ratio"] == float("inf")
    # 005 (pool, 2 threads): fairness is over the threads: t1 585, t2 412
    r005 = _row(results, "case_id", "005-pool-2t-cpu-u6-r1")
    assert r005["units"] == 2
    assert r005["jain_index"] == pytest.approx((585 + 412) ** 2 / (2 * (585**2 + 412**2)))  # 0.97077


def test_the_pool_size_sweep_and_its_knee_by_hand(run, results):
    summary = analysis.condition_summary(results, run["endpoints"])
    points = analysis.sweeps(summary, analysis.speedups(results))
    assert list(points["sweep"].unique()) == ["pool /cpu: pool threads"]
    assert points["value"].tolist() == [1.0, 2.0, 3.0]
    # medians: 1t (899/3.64634 + 726/3.68149)/2 = 221.88; 2t (997/3.69269 + 859/3.51895)/2 = 257.05;
    # 3t (766/3.32261 + 1012/3.58285)/2 = 256.50. Best 257.05; 95 % of it is 244.2: 2 is the first above.
    medians = [
        (899 / 3.6463418006896973 + 726 / 3.6814939975738525) / 2,
        (997 / 3.692692279815674 + 859 / 3.518953800201416) / 2,
        (766 / 3.32261323928833 + 1012 / 3.5828487873077393) / 2,
    ]
    assert points["throughput_median_rps"].tolist() == pytest.approx(medians)
    assert points["knee"].tolist() == [False, True, False]


@pytest.mark.slow
def test_the_markdown_summary_carries_the_hand_computed_numbers(rendered):
    md = rendered.markdown.read_text()
    assert "| single /cpu u6 | 2 | 331 | 251 | 412 |" in md
    assert "| cluster-rr-2w /cpu u6 | 2 | 405 | 235 | 575 |" in md
    assert (
        "cluster-rr-2w /cpu u6 gave 1.22x the throughput of single /cpu u6 (paired repetitions: 0.93x to 1.40x)" in md
    )
    assert "Jain's index 0.942" in md  # median of 0.98670 and 0.89668
    # 003 saw one worker, 009 both: the sentence gives the range, not the fewest alone
    assert "cluster-none-2w /cpu u6: requests spread over 1 to 2 (by repetition) of 2 workers, Jain's index 0.750" in md
    # 2 repetitions a point, ranges 244..270 and 231..282: the 5 % rule's candidate is not a firm knee
    assert "The knee (the 5% rule's candidate: 2) could not be placed firmly (inconclusive: too few repetitions" in md
    assert "The knee is at" not in md and "usual advice says" not in md
    # this fixture was recorded on a busy machine: it must say so
    assert "throughput varied by" in md and "The machine was not quiet" in md
    assert len(md.splitlines()) < 80, "short enough for a CI log"


@pytest.mark.slow
def test_every_figure_renders_and_the_html_is_self_contained(rendered):
    report = rendered
    names = {p.name for p in report.figures}
    assert names == {
        "throughput.png",
        "latency.png",
        "latency_over_time.png",
        "cpu_over_time.png",
        "cores_by_role.png",
        "requests_per_worker.png",
        "throughput_over_time.png",
        "cpu_by_thread.png",
        "thread_cpu_over_time.png",
        "sweeps.png",
    }
    for png in report.figures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png.name
    html = report.html.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "no reference outside the file"
    assert not re.search(r"@import|url\(", html)
    srcs = re.findall(r"<img src=\"([^\"]*)\"", html)
    assert len(srcs) == len(report.figures) and all(s.startswith("data:image/png;base64,") for s in srcs)
    first_warning = html.index("Read this first")
    assert first_warning < html.index("What you see and why"), "warnings come first"


def _scaled_copy(src: Path, dst: Path, run_id: str, factor: int) -> Path:
    """A constructed variant of the fixture for a side-by-side test (not a measurement):
    every measured request count multiplied by `factor`, so each throughput is exactly
    `factor` times the fixture's."""
    shutil.copytree(src, dst)
    meta = (dst / "run.json").read_text().replace('"run_id": "small"', f'"run_id": "{run_id}"')
    (dst / "run.json").write_text(meta)
    ep = pd.read_csv(dst / "endpoints.csv")
    ep.loc[ep["phase"] == "measure", ["requests", "failures"]] *= factor
    ep.to_csv(dst / "endpoints.csv", index=False)
    return dst


@pytest.mark.slow
def test_report_cli_takes_several_runs_side_by_side_and_writes_beside_them(tmp_path: Path):
    """`harness report small doubled`: the side-by-side report of two runs (once a test of
    render_report and one of the CLI, each rendering the same two runs: one render now)."""
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results / "small")
    _scaled_copy(FIXTURE, results / "doubled", "doubled", 2)
    out = run_harness("report", "small", "doubled", results=results, timeout=120)
    assert out.returncode == 0, out.stderr
    folder = results / "reports" / "small+doubled"
    assert out.stdout.strip() == str(folder / "report.html")
    assert not (results / "small" / "report").exists(), "a side-by-side report belongs to no single run"
    md = (folder / "summary.md").read_text()
    assert md.startswith("# Side by side")
    assert "| single /cpu u6 | doubled | 662 | 2.000 |" in md
    html = (folder / "report.html").read_text()
    assert html.count('class="run"') == 2 and "Side by side: small vs doubled" in html
    assert {"side_by_side_throughput.png", "side_by_side_latency.png", "run1-sweeps.png", "run2-sweeps.png"} <= {
        p.name for p in folder.glob("*.png")
    }


def test_knee_rule_on_hand_made_points():
    def summary(values, tputs):
        """A pool-size sweep on /cpu: three identical repetitions of each point."""
        rows = []
        for v, t in zip(values, tputs):
            rows += case_rows(f"pool-{v}t", [t] * 3, threads=v, latency_p99_ms=10.0 * v)
        return result_tables(rows)[1]

    # 95 % of the best (201) is 190.95: 190 falls short, so the knee is at 3
    points = analysis.sweeps(summary([1, 2, 3, 4], [100, 190, 200, 201]))
    assert points.loc[points["knee"], "value"].tolist() == [3.0]
    still_rising = analysis.sweeps(summary([1, 2, 4], [100, 150, 300]))
    assert still_rising.loc[still_rising["knee"], "value"].tolist() == [4.0]
    assert "no knee in this range" in sweep_findings(still_rising, cores=2)[0]
    # two points are a sweep (`harness run default --workers 1,2`): is the second worker worth it?
    two = analysis.sweeps(summary([1, 2], [100, 150]))
    assert two.loc[two["knee"], "value"].tolist() == [2.0]
    assert analysis.sweeps(summary([1, 2], [100, 150]), min_points=3).empty


def _fairness_rows(keepalive: bool, rr_jain: tuple[float, ...], none_jain: tuple[float, ...]) -> pd.DataFrame:
    """Quiet-machine case rows (3 repetitions) of a 4-worker cluster under rr and none (case_row's
    defaults: closed load, 5 % of a core busy elsewhere, no steal, no generator limit, 1000
    requests and no failure)."""
    tag = "u8" if keepalive else "u4-close"
    rows = []
    for schedule, jains, seen, ratio in (("rr", rr_jain, 4, 1.04), ("none", none_jain, 3, float("inf"))):
        rows += [
            case_row(
                f"cluster-{schedule}-4w /hello {tag}",
                i + 1,
                100.0,
                schedule=schedule,
                units=4,
                keepalive=keepalive,
                workers_seen=seen,
                jain_index=j,
                max_min_share_ratio=ratio,
            )
            for i, j in enumerate(jains)
        ]
    return pd.DataFrame(rows, columns=analysis.RESULT_COLUMNS)


def test_the_story_says_when_round_robin_was_even_and_os_scheduling_was_not():
    # a new connection per request, three repetitions on a quiet machine: the verdicts are firm
    # (tests/test_evidence.py has the rest)
    rr, none = story.fairness_lines(_fairness_rows(False, (0.999, 0.998, 0.997), (0.61, 0.7, 0.65)))
    assert "As round robin promises" in rr and "1.04x" in rr
    assert "that is what happened here" in none and "Some workers served nothing" in none
    assert "placed each user once" not in rr


def test_a_kept_alive_spread_makes_no_claim_about_the_policy_either_way():
    """Measured (scheduling --quick, 15:27 UTC, quiet): 8 keep-alive users over 4 rr workers
    gave Jain 0.897 to 0.899 in 3 of 3 repetitions, and the story said round robin was
    contradicted. The requests per worker follow how 8 connections fell and how fast each
    was served, not how the policy deals requests: neither a confirmation nor a contradiction."""
    uneven_rr, even_none = story.fairness_lines(_fairness_rows(True, (0.897, 0.899, 0.897), (0.999, 0.998, 0.999)))
    for line in (uneven_rr, even_none):
        assert "placed each user once" in line and "says nothing either way" in line
        assert "contradict" not in line and "As round robin promises" not in line
        assert "that is what happened here" not in line and "inconclusive" not in line


def test_connection_lines_compare_each_nginx_policy_with_its_own_keepalive():
    """least_conn with a connection per request is compared with least_conn keep-alive, not
    with the first nginx condition (round_robin) of the same workers and users."""
    run = record.load_run(Path(__file__).parent / "fixtures" / "scheduling")
    summary = analysis.condition_summary(analysis.case_results(run), run["endpoints"])
    kept = summary[summary["keepalive"].astype(bool)].set_index("condition")["throughput_median_rps"]
    lines = {line.split(":")[0]: line for line in story.connection_lines(summary)}
    least = lines["nginx-least-conn-2w /cpu u8-close"]
    assert f"against {kept['nginx-least-conn-2w /cpu u8']:,.0f} with keep-alive" in least
    rr = lines["nginx-round-robin-2w /cpu u8-close"]
    assert f"against {kept['nginx-round-robin-2w /cpu u8']:,.0f} with keep-alive" in rr
