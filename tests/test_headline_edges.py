"""The report's first sentence and its speedup lines where the figures give no ratio: a
baseline that served nothing, no condition that served anything, a tie, and conditions of
different routes (each seen on a hand-edited record: "infx", "nanx the next best", a tie
called a lead, /hello against /cpu called a firm lead)."""

from __future__ import annotations

import math
import warnings

from helpers import case_rows, result_tables

from harness import analysis
from harness.report import story


def _served_nothing(rows: list[dict]) -> list[dict]:
    for r in rows:
        r.update(throughput_rps=0.0, failures=r["requests"], server_cpu_ms_per_request=math.nan)
    return rows


def _headline(rows: list[dict]) -> story.Headline:
    results, summary = result_tables(rows)
    return story.headline(summary, results, analysis.speedups(results), analysis.sweeps(summary))


def test_a_baseline_that_served_nothing_gives_no_ratio_and_says_why():
    rows = _served_nothing(case_rows("single", [400, 410, 405])) + case_rows("cluster-rr-2w", [700, 710, 705])
    results, summary = result_tables(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 and x/0 were RuntimeWarnings, and inf or nan
        speed = analysis.speedups(results)
    assert math.isnan(speed.set_index("condition").loc["cluster-rr-2w", "speedup"])
    (line,) = story.speedup_lines(summary, speed, cores=2)
    assert line == (
        "cluster-rr-2w's speedup over single was not measured: single served no successful request in "
        "its measurement window (a median of 0 req/s)."
    )
    head = _headline(rows)
    assert head.answer.startswith("cluster-rr-2w served the most: a median of 705 req/s, while the next best")
    assert "single, served no successful request" in head.answer
    assert "nan" not in head.answer and "inf" not in head.answer
    assert "requests failed" in head.doubt  # the lead over nothing is no firm claim: the failures say why


def test_no_condition_that_served_anything_has_no_leader():
    rows = _served_nothing(case_rows("single", [400, 410, 405]) + case_rows("cluster-rr-2w", [700, 710, 705]))
    head = _headline(rows)
    assert head.answer.startswith("No condition served a successful request")
    assert "served the most" not in head.answer


def test_a_tie_is_not_a_lead():
    rows = case_rows("single", [400, 410, 405]) + case_rows("cluster-rr-2w", [400, 410, 405], workers=2)
    head = _headline(rows)
    assert head.answer == "single and cluster-rr-2w served the same median, 405 req/s: neither led."
    # one repetition more on one side makes the medians differ: then a leader is named again
    rows = case_rows("single", [400, 410, 405]) + case_rows("cluster-rr-2w", [400, 410, 406], workers=2)
    assert _headline(rows).answer.startswith("cluster-rr-2w served the most")


def test_conditions_of_different_routes_are_no_firm_lead():
    same = case_rows("single", [400, 402, 401]) + case_rows("cluster-rr-2w", [700, 702, 701], workers=2)
    assert "the lead is firm" in _headline(same).answer  # the check can pass
    other = case_rows("single", [400, 402, 401]) + case_rows(
        "cluster-rr-2w-hello", [7000, 7020, 7010], workers=2, path="/hello", route="/hello"
    )
    head = _headline(other)
    assert head.answer.startswith("cluster-rr-2w-hello served the most") and "firm" not in head.answer
    assert "different routes or loads" in head.doubt and "/hello, 8 users" in head.doubt
