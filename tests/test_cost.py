"""The harness's own cost: selfcheck's arithmetic and storage, and the report's note on how
much the generator's CPU took from a server using every core (shapes and arithmetic only;
the figures themselves need a quiet machine and live in `harness selfcheck`)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from harness import cost, selfcheck
from harness.selfcheck import Measurement, Pair


def test_estimated_gain_by_hand():
    # server 2.6 ms, Locust 0.32 ms, wrk 0.03 ms per request: (2.6 + 0.32) / (2.6 + 0.03) = 1.1103
    assert cost.estimated_gain(2.6, 0.32, 0.03) == pytest.approx(0.1103, abs=1e-4)
    assert cost.estimated_gain(2.6, 0.32, 0.0) == pytest.approx(0.32 / 2.6)
    assert cost.estimated_gain(2.6, 0.02, 0.03) == 0.0  # a generator cheaper than the yardstick: no gain
    assert math.isnan(cost.estimated_gain(0.0, 0.3, 0.03))


def _results(**over):
    rows = []
    for _rep in range(3):
        rows.append(
            {
                "condition": "cluster-rr-2w /cpu u8",
                "units": 2,
                "throughput_rps": 670.0,
                "server_cpu_pct": 174.2,
                "generator_cpu_pct": 21.4,
                **over,
            }
        )  # 2.6 ms and 0.32 ms per request
        rows.append(
            {
                "condition": "single /cpu u8",
                "units": 1,
                "throughput_rps": 385.0,
                "server_cpu_pct": 100.1,
                "generator_cpu_pct": 12.3,
            }
        )
    return pd.DataFrame(rows)


MACHINE = {
    "logical_cores": 2,
    "cpu_layout": "shared",
    "generator_selfcheck": {
        "measured_at": "2026-12-01T09:00:00",
        "c_generator": "wrk",
        "c_generator_ms_per_request": 0.03,
    },
}


def test_a_cluster_using_every_core_gets_a_note_with_the_estimate():
    notes = cost.perturbation_notes(_results(), MACHINE)
    assert len(notes) == 1, notes  # single leaves a core idle: the generator took nothing from it
    assert notes[0].startswith("cluster-rr-2w /cpu u8:") and "about 11% higher" in notes[0]
    assert (
        "0.32 ms" in notes[0]
        and "2.60 ms" in notes[0]
        and "wrk, measured by `harness selfcheck` on 2026-12-01" in notes[0]
    )


def test_no_selfcheck_assumes_a_free_generator_and_says_it_is_an_upper_bound():
    notes = cost.perturbation_notes(_results(), {"logical_cores": 2, "cpu_layout": "shared"})
    assert "about 12% higher" in notes[0] and "upper bound" in notes[0]


@pytest.mark.parametrize(
    "machine, over",
    [
        ({**MACHINE, "cpu_layout": {"server": [0], "generator": [1]}}, {}),  # pinned: the generator had its own core
        (MACHINE, {"server_cpu_pct": 100.0}),  # the machine's CPU was not the limit
        (MACHINE, {"generator_cpu_pct": 1.0, "server_cpu_pct": 199.0}),  # a cheap generator: below NOTE_FROM
        ({**MACHINE, "logical_cores": 4}, {}),  # 2 workers on 4 cores do not use every core
    ],
)
def test_no_note_where_the_generator_could_not_change_a_conclusion(machine, over):
    assert cost.perturbation_notes(_results(**over), machine) == []


def _pair(ratios_a, ratios_b, sample=False):
    pair = Pair("wrk_cluster", "cluster", "/cpu", "/cpu", 8, "harness", "wrk", sample=sample)
    for rep, (a, b) in enumerate(zip(ratios_a, ratios_b)):
        pair.measurements += [
            Measurement(pair.name, "harness", rep, a, 20.0, 0.3, 170.0, 0.5, 3.0, 195.0, 10.0),
            Measurement(pair.name, "wrk", rep, b, 1.0, 0.03, 190.0, 0.0, 4.0, 195.0, 10.0),
        ]
    return pair


def test_summary_is_the_median_of_side_by_side_ratios_with_their_range():
    s = selfcheck.summarize(_pair([600.0, 700.0, 650.0], [700.0, 700.0, 650.0], sample=True))
    assert s["ratio"] == {"median": pytest.approx(1.0), "min": pytest.approx(600 / 700), "max": pytest.approx(1.0)}
    assert s["harness"]["rps"]["median"] == 650.0 and s["wrk"]["generator_cpu_ms_per_request"]["median"] == 0.03
    assert s["sampler_cpu_pct"]["median"] == 0.5 and s["goal"] == selfcheck.GOALS["wrk_cluster"]
    table = selfcheck.format_table({"pairs": [s]})
    assert "| 1.000 (0.857..1.000) | >= 0.95 |" in table and "sampler" in table


def test_the_newest_selfcheck_of_this_machine_is_the_one_a_run_keeps(tmp_path):
    folder = tmp_path / selfcheck.SELFCHECK_DIR
    folder.mkdir()
    this = {"cpu_model": "X", "logical_cores": 2}
    pairs = [selfcheck.summarize(_pair([600.0], [700.0]))]
    for stamp, machine in (
        ("20261201-080000", this),
        ("20261201-090000", this),
        ("20261201-100000", {"cpu_model": "Y", "logical_cores": 8}),
    ):
        (folder / f"{stamp}.json").write_text(
            json.dumps({"measured_at": stamp, "machine": machine, "pairs": pairs, "generator_cpu_ms_per_request": 0.2})
        )
    (folder / "20261201-110000.json").write_text("{half a file")
    assert selfcheck.latest(tmp_path, this)["measured_at"] == "20261201-090000"
    facts = cost.selfcheck_facts(selfcheck.latest(tmp_path, this))
    assert facts["c_generator_ms_per_request"] == 0.03 and facts["ratios"] == {"wrk_cluster": pytest.approx(600 / 700)}
    assert selfcheck.latest(tmp_path / "nothing", this) is None and cost.selfcheck_facts(None) is None


@pytest.mark.integration
def test_selfcheck_measures_and_stores_the_hooks_pair(results_dir):
    """A short selfcheck of the hooks pair: every figure present and positive, the file
    stored with the machine facts (the ratio itself needs a quiet machine: not checked)."""
    result, path = selfcheck.selfcheck(
        results_dir, reps=1, window_s=1.0, settle_s=0.5, pairs=["hooks"], notice=lambda _: None
    )
    assert path.parent == results_dir / "selfcheck" and json.loads(path.read_text())["pairs"] == result["pairs"]
    (s,) = result["pairs"]
    assert s["harness"]["rps"]["median"] > 0 and s["plain"]["rps"]["median"] > 0 and s["ratio"]["median"] > 0
    assert result["generator_cpu_ms_per_request"] > 0 and result["machine"]["logical_cores"] >= 1
    assert [m["generator"] for m in result["measurements"]] == ["harness", "plain"]


@pytest.mark.integration
def test_a_busy_session_runs_beside_a_process_that_keeps_a_core_busy(_busy_loop):
    """`make test-busy` (HARNESS_TEST_BUSY=1): the session's busy loop is alive and using
    CPU while the integration tests run (not timed: only that it runs)."""
    import os
    import time

    import psutil

    if os.environ.get("HARNESS_TEST_BUSY") != "1":
        pytest.skip("only in a busy session (make test-busy)")
    proc = psutil.Process(_busy_loop.pid)
    before = sum(proc.cpu_times()[:2])
    time.sleep(0.5)
    assert proc.is_running() and sum(proc.cpu_times()[:2]) > before
