"""harness/demo.py without processes: what a demo can show, how it picks, the live rates."""

from __future__ import annotations

import pytest

from harness import scenario as scenario_mod
from harness.demo import check_node, choices, pick_case, spread, switch_hint, worker_rows
from harness.errors import RunFailed, UsageError


def scheduling():
    return scenario_mod.load("scheduling")


def test_choices_cover_every_server_and_load_once():
    labels = [c.label for c in choices(scheduling())]
    assert len(labels) == len(set(labels))
    assert {
        "cluster-none-4w-node22.12.0 /hello u1-close",
        "reuseport-4w-node22.12.0 /hello u8",
        "cluster-rr-4w-node22.12.0 /cpu u2-close",
    } <= set(labels)


def test_pick_takes_server_load_and_work_and_names_the_choices_when_wrong():
    case = pick_case(
        scheduling(), "reuseport-4w-node22.12.0", [c.load for c in choices(scheduling()) if not c.case.keepalive][0]
    )
    assert case.mode == "reuseport" and case.node_version == "22.12.0" and not case.keepalive
    with pytest.raises(UsageError) as err:
        pick_case(scheduling(), "cluster-rr-4w-node22.12.0", "u999")
    assert "load 'u999'" in str(err.value) and "--list" in err.value.fix


def test_switch_hint_gives_a_command_per_choice():
    hint = switch_hint(scheduling())
    assert hint.count("harness demo scheduling --server") == len(choices(scheduling()))


def test_worker_rows_rate_over_the_last_interval_not_the_total():
    metrics = [
        {"worker_id": "1", "pid": 10, "requests_by_route": {"/hello": 1100}},
        {"worker_id": "2", "pid": 11, "requests_by_route": {"/hello": 300}},
    ]
    rows = worker_rows(
        metrics, "/hello", since={"1/10": 100, "2/11": 100}, last={"1/10": 1000, "2/11": 250}, interval_s=0.5
    )
    assert [r["requests"] for r in rows] == [1000, 200]
    assert [r["rps"] for r in rows] == [200.0, 100.0]
    assert rows[0]["rps_share"] == pytest.approx(2 / 3)
    assert spread(rows) == pytest.approx(2.0)


def test_check_node_compares_the_workers_own_report():
    case = pick_case(scheduling(), "reuseport-4w-node22.12.0")
    assert check_node(case, [{"node_version": "v22.12.0"}] * 2, "22.12.0") == "v22.12.0"
    with pytest.raises(RunFailed):
        check_node(case, [{"node_version": "v22.12.0"}, {"node_version": "v20.11.1"}], "22.12.0")
