"""The harness's own cost: selfcheck's arithmetic and storage, and the report's note on how
much the generator's CPU took from a server using every core (shapes and arithmetic only;
the figures themselves need a quiet machine and live in `harness selfcheck`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import psutil
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
    assert "lower bound" not in notes[0]  # a selfcheck without the cluster pair's figures claims nothing more


def _cluster_pair(best_ratio: float) -> dict:
    """selfcheck's wrk_cluster summary: the harness's Locust 700 req/s with the server at 180 %
    of a core (2.571 ms a request), wrk 780 req/s at 195 % (2.500 ms); ratio median 0.90."""
    side = lambda rps, server, gen: {  # noqa: E731
        "rps": {"median": rps},
        "server_cpu_pct": {"median": server},
        "generator_cpu_ms_per_request": {"median": gen},
    }
    return {
        "pair": "wrk_cluster",
        "ratio": {"median": 0.90, "min": 0.85, "max": best_ratio},
        "harness": side(700.0, 180.0, 0.14),
        "wrk": side(780.0, 195.0, 0.05),
    }


def test_a_measured_shortfall_beyond_the_cpu_estimate_makes_the_note_a_lower_bound():
    # by hand: CPU estimate (2.5714 + 0.14) / (2.5714 + 0.05) - 1 = 3.4 %; wrk served
    # 1 / 0.90 - 1 = 11 % more, and 1 / 0.95 - 1 = 5.3 % more even in the harness's best repetition
    check = cost.cluster_check(_cluster_pair(0.95))
    assert check["cpu_estimate"] == pytest.approx(0.03433, abs=1e-4)
    assert check["shortfall"] == pytest.approx(1 / 0.9 - 1) and check["shortfall_least"] == pytest.approx(1 / 0.95 - 1)
    machine = {**MACHINE, "generator_selfcheck": {**MACHINE["generator_selfcheck"], "cluster_check": check}}
    (note,) = cost.perturbation_notes(_results(), machine)
    assert "about 11% higher" in note  # the run's own estimate, as before
    assert "wrk served 11% more requests than the harness's Locust where the CPU taken accounts for 3%" in note
    assert "(2.57 ms against 2.50)" in note and note.endswith("Read the estimate as a lower bound.")
    # a repetition where the harness fell short by less than the CPU explains: no such claim
    check = cost.cluster_check(_cluster_pair(0.98))
    machine = {**MACHINE, "generator_selfcheck": {**MACHINE["generator_selfcheck"], "cluster_check": check}}
    (note,) = cost.perturbation_notes(_results(), machine)
    assert "lower bound" not in note and "wrk served" not in note


def test_cluster_check_needs_the_pairs_figures():
    assert cost.cluster_check(None) is None
    assert cost.cluster_check({"pair": "wrk_cluster", "ratio": {"median": 0.9, "max": 0.95}}) is None  # version 1
    broken = _cluster_pair(0.95)
    broken["wrk"]["rps"]["median"] = 0.0
    assert cost.cluster_check(broken) is None
    broken = _cluster_pair(0.95)
    broken["ratio"]["median"] = None
    assert cost.cluster_check(broken) is None


def test_no_selfcheck_assumes_a_free_generator_and_says_it_is_an_upper_bound():
    notes = cost.perturbation_notes(_results(), {"logical_cores": 2, "cpu_layout": "shared"})
    assert "about 12% higher" in notes[0] and "a free generator is assumed" in notes[0]
    # not an upper bound: the workers' own slowdown beside Locust is not in it
    assert "upper bound" not in notes[0] and "counts the CPU taken only" in notes[0]


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
    # three repetitions: their min..max covers the median 75 % of the time, and it holds the goal
    assert "| 1.000 (0.857..1.000) | >= 0.95 | cannot tell (0.857..1.000 at 75%) |" in table
    assert "sampler" in table and "goal <= 1: met (0.50..0.50 at 75%)" in table


@pytest.mark.parametrize(
    "ratios, verdict",
    [
        ([0.97, 0.99, 1.01, 0.96, 1.0, 0.98], "met"),  # 6 repetitions: min..max, 96.9 %, all >= 0.95
        ([0.95, 0.99, 1.01, 0.96, 1.0, 0.98], "met"),  # the goal itself is met (>=)
        ([0.90, 0.93, 0.91, 0.94, 0.92, 0.89], "missed"),
        ([0.93, 0.99, 1.01, 0.96, 1.0, 0.98], "cannot tell"),  # the median is above, one repetition below
    ],
)
def test_a_goal_is_met_only_when_the_interval_of_the_median_is_on_its_side(ratios, verdict):
    v = selfcheck.goal_verdict(ratios, 0.95)
    assert v["verdict"] == verdict and v["n"] == 6 and v["busy"] is None
    assert (v["low"], v["high"]) == (min(ratios), max(ratios)) and v["coverage"] == pytest.approx(1 - 2 / 2**6)


def test_a_goal_verdict_leaves_out_extremes_nans_and_busy_runs():
    # from 9 repetitions on the interval leaves out the extremes: one low pair of 12 no longer decides
    twelve = [0.93] + [0.97, 0.99, 1.01, 0.96, 1.0] * 2 + [0.98]
    v = selfcheck.goal_verdict(twelve, 0.95)
    assert v["verdict"] == "met" and v["low"] == 0.96 and v["coverage"] > 0.95
    # NaNs are not repetitions: three values left, min..max at 75 %
    v = selfcheck.goal_verdict([math.nan, 0.97, 0.99, 1.01], 0.95)
    assert v["verdict"] == "met" and v["n"] == 3 and v["coverage"] == pytest.approx(0.75)
    few = selfcheck.goal_verdict([math.nan, math.nan, 0.99, 1.01], 0.95)
    assert few["verdict"] == "too few repetitions" and few["n"] == 2 and few["low"] is None
    # other processes over the reports' bound: neither met nor missed, whatever the interval
    busy = selfcheck.goal_verdict([0.90, 0.93, 0.91, 0.94, 0.92, 0.89], 0.95, other_cpu_pct=35.0)
    assert busy["verdict"] == "cannot tell" and busy["busy"] == 35.0
    assert selfcheck.goal_verdict(twelve, 0.95, other_cpu_pct=5.0)["verdict"] == "met"


def test_an_at_most_goal_is_met_below_it():
    v = selfcheck.goal_verdict([0.5, 0.6, 1.0], 1.0, at_most=True)
    assert v["verdict"] == "met" and (v["low"], v["high"]) == (0.5, 1.0)  # the goal itself is met (<=)
    assert selfcheck.goal_verdict([1.5, 1.6, 1.2], 1.0, at_most=True)["verdict"] == "missed"
    assert selfcheck.goal_verdict([0.5, 1.6, 0.9], 1.0, at_most=True)["verdict"] == "cannot tell"


def test_the_table_says_a_busy_run_and_too_few_repetitions():
    busy = _pair([600.0, 610.0, 620.0], [700.0, 700.0, 700.0])
    for m in busy.measurements:
        m.other_cpu_pct = 40.0 if m.generator == "wrk" else 3.0
    few = _pair([600.0, 700.0], [700.0, 700.0])
    table = selfcheck.format_table({"pairs": [selfcheck.summarize(busy), selfcheck.summarize(few)]})
    assert "| cannot tell (busy machine, other load 40% of a core; 0.857..0.886 at 75%) |" in table
    assert "| too few repetitions (2 measured) |" in table and "in this run" in table


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
    # the files above (no "http_client": versions 1 and 2) measured FastHttpSession: a run with the
    # lean client takes the newest that measured lean, and a run with Locust's client still theirs
    (folder / "20261201-070000.json").write_text(
        json.dumps({"measured_at": "lean", "machine": this, "pairs": pairs, "http_client": "lean"})
    )
    assert selfcheck.latest(tmp_path, this, "lean")["measured_at"] == "lean"
    assert cost.selfcheck_facts(selfcheck.latest(tmp_path, this, "lean"))["http_client"] == "lean"
    assert selfcheck.latest(tmp_path, this, "locust")["measured_at"] == "20261201-090000"
    assert facts["http_client"] == "locust"


def _side_by_side(measured):
    """A side-by-side hooks pair from made-up measurements: per repetition, (harness req/s, its
    CPU ms per request, plain req/s, its ms per request); the servers swap every repetition."""
    pair = Pair("hooks", "single", "/hello", "/hello", 32, "harness", "plain", side_by_side=True)
    for rep, (a_rps, a_ms, b_rps, b_ms) in enumerate(measured):
        a_server = rep % 2
        # plain first: a repetition's two measurements are matched by rep, not by order
        pair.measurements += [
            Measurement(
                "hooks",
                "plain",
                rep,
                b_rps,
                95.0,
                b_ms,
                30.0,
                0.1,
                5.0,
                200.0,
                6.0,
                server=1 - a_server,
                server_port=4001 - a_server,
                window_start=1000.0 + rep,
            ),
            Measurement(
                "hooks",
                "harness",
                rep,
                a_rps,
                96.0,
                a_ms,
                28.0,
                0.1,
                5.0,
                200.0,
                6.0,
                server=a_server,
                server_port=4000 + a_server,
                window_start=1000.0 + rep,
            ),
        ]
    return pair


def test_side_by_side_summary_arithmetic_on_made_up_measurements():
    """Made-up figures, not measured: the goal's ratio is per repetition plain's CPU per
    request over the harness's, the req/s ratio beside it, each median (min..max)."""
    pair = _side_by_side(
        [
            (3000.0, 0.33, 3300.0, 0.30),  # CPU 0.30 / 0.33 = 0.909, req/s 0.909
            (3200.0, 0.30, 3100.0, 0.31),  # CPU 1.033, req/s 1.032
            (2900.0, 0.32, 3000.0, 0.304),
        ]
    )  # CPU 0.950, req/s 0.967
    pair.measurements.append(Measurement("hooks", "harness", 3, 5000.0, 99.0, 0.2, 30.0, 0.1, 5.0, 200.0, 6.0))
    s = selfcheck.summarize(pair)  # rep 3 has no plain side: left out of the ratios
    assert s["side_by_side"] is True and s["ratio_kind"] == "cpu_per_request" and s["pairs_measured"] == 3
    assert s["ratio"] == {
        "median": pytest.approx(0.95),
        "min": pytest.approx(0.30 / 0.33),
        "max": pytest.approx(0.31 / 0.30),
    }
    assert s["rps_ratio"] == {
        "median": pytest.approx(2900 / 3000),
        "min": pytest.approx(3000 / 3300),
        "max": pytest.approx(3200 / 3100),
    }
    assert s["plain"]["generator_cpu_ms_per_request"]["median"] == 0.304
    assert selfcheck._harness_cost([s]) == pytest.approx(0.31)  # the harness's median ms/req, reps 0 to 3
    table = selfcheck.format_table({"pairs": [s]})
    assert (
        "| side by side |" in table
        and "| 0.950 (0.909..1.033) (CPU per request) | >= 0.95 | cannot tell (0.909..1.033 at 75%) "
        "| 0.967 (0.909..1.032) |"
        in table
        and "over one common window" in table
    )
    facts = cost.selfcheck_facts({"measured_at": "x", "pairs": [s], "generator_cpu_ms_per_request": 0.315})
    assert facts["ratios"] == {"hooks": pytest.approx(0.95)} and facts["harness_ms_per_request"] == 0.315
    assert facts["ratio_kinds"] == {"hooks": "cpu_per_request"}
    # a repetition whose harness side counted nothing gives no CPU ratio, not a division by zero
    empty = selfcheck.summarize(_side_by_side([(0.0, 0.0, 3000.0, 0.3)]))
    assert empty["ratio"]["median"] is None and empty["rps_ratio"]["median"] == 0.0


# What version 1 (every pair one after the other, "ratio" of req/s) stored: the quiet run of
# 1 December 2026, 16:45, its hooks pair with the figures rounded, one of its measurements
VERSION_1 = {
    "kind": "selfcheck",
    "version": 1,
    "measured_at": "2026-12-01T16:47:49+0000",
    "machine": {"cpu_model": "X", "logical_cores": 2},
    "reps": 5,
    "window_s": 8.0,
    "settle_s": 3.0,
    "wrk": False,
    "pairs": [
        {
            "pair": "hooks",
            "mode": "single",
            "path": "/hello",
            "users": 32,
            "a": "harness",
            "b": "plain",
            "ratio": {"median": 0.853, "min": 0.751, "max": 0.866},
            "goal": 0.95,
            **{
                side: {f: {"median": v, "min": v, "max": v} for f, v in figures.items()}
                for side, figures in (
                    (
                        "harness",
                        {
                            "rps": 2916.0,
                            "generator_cpu_pct": 100.0,
                            "generator_cpu_ms_per_request": 0.342,
                            "server_cpu_pct": 26.0,
                            "other_cpu_pct": 2.0,
                        },
                    ),
                    (
                        "plain",
                        {
                            "rps": 3701.0,
                            "generator_cpu_pct": 100.0,
                            "generator_cpu_ms_per_request": 0.270,
                            "server_cpu_pct": 30.1,
                            "other_cpu_pct": 1.9,
                        },
                    ),
                )
            },
        }
    ],
    "generator_cpu_ms_per_request": 0.342,
    "measurements": [
        {
            "pair": "hooks",
            "generator": "harness",
            "rep": 0,
            "rps": 2777.6,
            "generator_cpu_pct": 99.96,
            "generator_cpu_ms_per_request": 0.3599,
            "server_cpu_pct": 25.4,
            "own_cpu_pct": 0.0,
            "other_cpu_pct": 2.2,
            "machine_busy_pct": 127.6,
            "window_s": 8.0,
        }
    ],
}


def test_a_version_1_selfcheck_is_still_read(tmp_path):
    folder = tmp_path / selfcheck.SELFCHECK_DIR
    folder.mkdir()
    (folder / "20261201-164749.json").write_text(json.dumps(VERSION_1))
    check = selfcheck.latest(tmp_path, {"cpu_model": "X", "logical_cores": 2})
    assert check["version"] == 1 and selfcheck.ratio_kind(check["pairs"][0]) == "rps"
    facts = cost.selfcheck_facts(check)
    assert facts["harness_ms_per_request"] == 0.342 and facts["ratios"] == {"hooks": 0.853}
    assert facts["ratio_kinds"] == {"hooks": "rps"}
    table = selfcheck.format_table(check)
    assert (
        "| one after the other |" in table
        and "| 0.853 (0.751..0.866) | >= 0.95 | - | 0.853 (0.751..0.866) |" in table  # it stored no verdict
        and "CPU per request" not in table
        and "side by side" not in table
    )
    assert Measurement(**check["measurements"][0]).server is None  # its measurements load with the new fields unset


def _session_generators() -> list[str]:
    """Locust processes of this test session, plain ones included (the leftover fixture only
    recognises the harness's locustfile)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if "locustfile.py" in cmd and p.environ().get("HARNESS_TEST_SESSION") == os.environ["HARNESS_TEST_SESSION"]:
                found.append(cmd)
        except psutil.Error:
            continue
    return found


@pytest.mark.integration
def test_selfcheck_runs_the_hooks_pair_side_by_side_on_two_servers(results_dir, monkeypatch):
    """A short selfcheck of the hooks pair: two servers and two generators started, both
    generators counted by their own server over one common window, every figure present and
    positive, the file stored with the machine facts, nothing left running (the ratio itself
    needs a quiet machine: not checked)."""
    spawned = []
    real_spawn = selfcheck.procs.spawn

    def spawn(argv, *args, **kwargs):
        proc = real_spawn(argv, *args, **kwargs)
        spawned.append((list(argv), proc))
        return proc

    monkeypatch.setattr(selfcheck.procs, "spawn", spawn)
    result, path = selfcheck.selfcheck(
        results_dir, reps=1, window_s=2.0, settle_s=0.5, pairs=["hooks"], notice=lambda _: None
    )
    servers = [argv for argv, _ in spawned if "index.js" in argv]
    generators = [argv for argv, _ in spawned if "locust" in argv]
    ports = {argv[argv.index("--port") + 1] for argv in servers}
    assert len(servers) == 2 and len(ports) == 2, servers
    assert sorted(Path(argv[argv.index("-f") + 1]).name for argv in generators) == [
        "locustfile.py",
        "plain_locustfile.py",
    ]
    assert {argv[argv.index("--host") + 1].rsplit(":", 1)[1] for argv in generators} == ports  # one server each
    assert all(proc.poll() is not None for _, proc in spawned) and _session_generators() == []

    assert path.parent == results_dir / "selfcheck" and json.loads(path.read_text())["pairs"] == result["pairs"]
    assert result["version"] == selfcheck.VERSION
    (s,) = result["pairs"]
    assert s["side_by_side"] is True and s["ratio_kind"] == "cpu_per_request" and s["pairs_measured"] == 1
    assert s["harness"]["rps"]["median"] > 0 and s["plain"]["rps"]["median"] > 0 and s["ratio"]["median"] > 0
    assert result["generator_cpu_ms_per_request"] > 0 and result["machine"]["logical_cores"] >= 1
    a, b = result["measurements"]
    assert {a["generator"], b["generator"]} == {"harness", "plain"} and {a["server"], b["server"]} == {0, 1}
    assert {str(a["server_port"]), str(b["server_port"])} == ports
    assert a["window_start"] == b["window_start"] and a["window_s"] == b["window_s"]  # one common window
    assert "side by side" in selfcheck.format_table(result)


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


def test_the_hooks_alone_pair_puts_the_lean_client_on_both_sides(tmp_path):
    """hooks_alone: the plain user sends with lean_http (PLAIN_CLIENT=lean), as the harness's
    users do by default, so the pair differs only in the hooks; hooks' plain user keeps
    FastHttpUser's own client, the issue's yardstick."""
    pairs = {p.name: p for p in selfcheck.default_pairs(has_wrk=False)}
    assert (pairs["hooks_alone"].a, pairs["hooks_alone"].b) == ("harness", "plain_lean")
    assert pairs["hooks_alone"].side_by_side and pairs["hooks"].b == "plain"
    argv, env = selfcheck.generator_command("plain_lean", "http://127.0.0.1:1", "/hello", 32, 10, tmp_path)
    assert Path(argv[argv.index("-f") + 1]).name == "plain_locustfile.py" and env["PLAIN_CLIENT"] == "lean"
    _, env = selfcheck.generator_command("plain", "http://127.0.0.1:1", "/hello", 32, 10, tmp_path)
    assert env["PLAIN_CLIENT"] == "fasthttp"
    argv, env = selfcheck.generator_command("harness", "http://127.0.0.1:1", "/hello", 32, 10, tmp_path)
    assert "HARNESS_CLIENT" not in env  # the harness's default client, whatever this shell set
