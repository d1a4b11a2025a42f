"""Scenario definitions: expansion into cases, validation, loading files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harness import scenario as sc
from harness.errors import UsageError


def make(**kw) -> sc.Scenario:
    base = dict(
        name="t",
        description="d",
        servers=[sc.ServerSpec("single"), sc.ServerSpec("cluster", workers=2)],
        workloads=[sc.Workload("/cpu")],
        loads=[sc.ClosedLoad(4)],
        duration_s=5,
        warmup_s=1,
        repetitions=3,
    )
    base.update(kw)
    return sc.Scenario(**base)


def test_repetitions_are_interleaved():
    cases = make().cases()
    assert [c.condition for c in cases] == ["single /cpu u4", "cluster-rr-2w /cpu u4"] * 3
    assert [c.repetition for c in cases] == [1, 1, 2, 2, 3, 3]
    assert len({c.case_id for c in cases}) == 6
    assert cases[0].case_id == "001-single-cpu-u4-r1"


def test_shuffle_is_reproducible_from_the_seed():
    servers = [sc.ServerSpec("cluster", workers=w) for w in (1, 2, 3, 4)]
    a = [c.condition for c in make(servers=servers, shuffle=True, seed=7).cases()]
    b = [c.condition for c in make(servers=servers, shuffle=True, seed=7).cases()]
    c = [c.condition for c in make(servers=servers, shuffle=True, seed=8).cases()]
    assert a == b
    assert a != c
    # every repetition still runs every condition once
    assert sorted(a[:4]) == sorted(a[4:8])


def test_workers_cores_resolves_to_this_machine():
    cases = make(servers=[sc.ServerSpec("cluster", workers="cores")]).cases()
    assert cases[0].workers == sc.machine_cores()


def test_workload_path_carries_its_parameter():
    assert sc.Workload("/cpu", 30).path == "/cpu?work=30"
    assert sc.Workload("/hello").path == "/hello"


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: sc.ServerSpec("forking"), "unknown server mode"),
        (lambda: sc.ServerSpec("cluster", workers=0), "outside 1..64"),
        (lambda: sc.ServerSpec("cluster", workers=-3), "outside"),
        (lambda: sc.ServerSpec("cluster", workers=2.5), "whole number"),
        (lambda: sc.ServerSpec("cluster", schedule="fifo"), "unknown schedule"),
        (lambda: sc.ServerSpec("single", workers=4), "exactly one HTTP process"),
        (lambda: sc.ServerSpec("pool", threads=0), "threads is 0"),
        (lambda: sc.ServerSpec("nginx", balance="random"), "unknown balance"),
        (lambda: sc.ServerSpec("single", uv_threadpool_size=2000), "outside 1..1024"),
        (lambda: sc.Workload("/nope"), "unknown route"),
        (lambda: sc.Workload("/hello", 3), "takes no parameter"),
        (lambda: sc.Workload("/cpu", 0), "outside"),
        (lambda: sc.ClosedLoad(10_000), "outside 1..2000"),
        (lambda: make(duration_s=0), "duration_s"),
        (lambda: make(repetitions=0), "repetitions"),
        (lambda: make(name="../evil"), "scenario name"),
        (lambda: make(servers=[]), "non-empty list"),
    ],
)
def test_bad_values_are_refused_with_a_reason(build, words):
    with pytest.raises(UsageError) as err:
        build()
    assert words in err.value.one_line()


def test_allowed_but_doubtful_values_warn():
    s = make(servers=[sc.ServerSpec("cluster", workers=64)], loads=[sc.ClosedLoad(1000)])
    text = " ".join(s.warnings())
    assert "1000 users per Locust process" in text
    if sc.machine_cores() < 16:
        assert "64 workers on" in text
    assert make().warnings() == []


def test_quick_variant_and_overrides():
    s = make().quick_variant()
    assert (s.duration_s, s.warmup_s, s.repetitions) == (8.0, 2.0, 1)
    o = make().with_overrides(users=16, duration_s=None)
    assert o.loads == (sc.ClosedLoad(16),) and o.duration_s == 5


def test_load_unknown_name_lists_known_ones():
    with pytest.raises(UsageError, match="unknown scenario 'nope'.*default"):
        sc.load("nope")


def test_load_default_scenario():
    s = sc.load("default")
    assert s.name == "default"
    assert {c.mode for c in s.cases()} == {"single", "cluster"}


@pytest.mark.parametrize(
    "text, words",
    [
        ("SCENARIO = (\n", "syntax error at line"),
        ("x = 1\n", "defines no SCENARIO"),
        ("SCENARIO = 42\n", "defines no SCENARIO"),
        (
            "from harness.scenario import *\nSCENARIO = Scenario(name='x', description='', servers=[ServerSpec('single')],"
            " workloads=[Workload('/cpu')], loads=[ClosedLoad(0)])\n",
            "users is 0",
        ),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("import os\nSCENARIO = Scenario()\n", "NameError"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ],
)
def test_broken_scenario_files_are_usage_errors(tmp_path: Path, text, words):
    f = tmp_path / "broken.py"
    f.write_text(text)
    with pytest.raises(UsageError) as err:
        sc.load(str(f))
    assert words in err.value.one_line()


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10_000),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    mode=_values | st.sampled_from(["single", "cluster"]),
    workers=_values | st.just("cores"),
    schedule=_values | st.sampled_from(["rr", "none"]),
    route=_values | st.sampled_from(list(sc.ROUTES)),
    param=_values,
    users=_values,
    duration=_values,
    reps=_values,
)
def test_fuzzed_scenarios_either_load_or_raise_usage_error(
    mode, workers, schedule, route, param, users, duration, reps
):
    """Whatever values a scenario file holds, the loader answers with a Scenario or a UsageError."""
    try:
        s = sc.Scenario(
            name="f",
            description="",
            servers=[sc.ServerSpec(mode, workers, schedule)],
            workloads=[sc.Workload(route, param)],
            loads=[sc.ClosedLoad(users)],
            duration_s=duration,
            repetitions=reps,
        )
    except UsageError as exc:
        assert exc.one_line()
        return
    assert s.cases()


_fragments = st.sampled_from(
    [
        "from harness.scenario import *\n",
        "SCENARIO = ",
        "Scenario(",
        "name='z', ",
        "description='', ",
        "servers=[ServerSpec('cluster', workers=2)], ",
        "servers=[ServerSpec(",
        "workloads=[Workload('/cpu')], ",
        "loads=[ClosedLoad(4)], ",
        "loads=ClosedLoad(4), ",
        "duration_s=-1, ",
        "repetitions=2, ",
        ")",
        ")\n",
        "]",
        "import sys\n",
        "sys.exit(0)\n",
        "1/0\n",
        "None\n",
        "'x' + 1\n",
        "\t",
        "\x00",
        "def f(:\n",
        "ServerSpec('single')",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_fragments, min_size=0, max_size=12))
def test_fuzzed_scenario_files_load_or_give_a_usage_error(tmp_path_factory, parts):
    """Whatever text a scenario file holds, loading it ends in a Scenario or a UsageError."""
    f = tmp_path_factory.mktemp("fuzz") / "fuzzed.py"
    f.write_text("".join(parts))
    try:
        s = sc.load(str(f))
    except UsageError as exc:
        assert "fuzzed.py" in exc.one_line()
        return
    assert isinstance(s, sc.Scenario)


def test_parts_run_their_own_grids_without_the_cross_product():
    s = sc.Scenario(
        name="p",
        description="d",
        repetitions=1,
        parts=[
            sc.Part(
                [sc.ServerSpec("single", uv_threadpool_size=n) for n in (1, 2)],
                [sc.Workload("/pbkdf2")],
                [sc.ClosedLoad(8)],
            ),
            sc.Part([sc.ServerSpec("pool", threads=t) for t in (1, 2)], [sc.Workload("/cpu")], [sc.ClosedLoad(4)]),
        ],
    )
    assert [c.condition for c in s.cases()] == [
        "single-uv1 /pbkdf2 u8",
        "single-uv2 /pbkdf2 u8",
        "pool-1t /cpu u4",
        "pool-2t /cpu u4",
    ]
    assert [c.probe_path for c in s.with_overrides(users=3).cases()] == [None] * 4
    assert {c.users for c in s.with_overrides(users=3).cases()} == {3}


def test_quick_may_replace_the_parts():
    small = [sc.Part([sc.ServerSpec("single")], [sc.Workload("/cpu")], [sc.ClosedLoad(2)])]
    s = make(quick={"duration_s": 3.0, "parts": small}).quick_variant()
    assert {c.condition for c in s.cases()} == {"single /cpu u2"}


@pytest.mark.parametrize(
    "build, words",
    [
        (
            lambda: sc.Scenario(
                name="p",
                description="d",
                servers=[sc.ServerSpec("single")],
                parts=[sc.Part([sc.ServerSpec("single")], [sc.Workload("/cpu")], [sc.ClosedLoad(1)])],
            ),
            "not both",
        ),
        (
            lambda: sc.Scenario(
                name="p",
                description="d",
                parts=[sc.Part([sc.ServerSpec("single")], [sc.Workload("/cpu")], [sc.ClosedLoad(1)])] * 2,
            ).cases(),
            "appears twice",
        ),
        (lambda: sc.Part([], [sc.Workload("/cpu")], [sc.ClosedLoad(1)]), "servers must be a non-empty list"),
        (lambda: sc.Workload("/cpu", probe="/nope"), "unknown probe route"),
        (lambda: sc.Workload("/cpu", probe="/hello", probe_rps=0), "probe_rps must be"),
        (lambda: sc.ClosedLoad(4, keepalive="no"), "keepalive must be True or False"),
    ],
)
def test_bad_parts_probes_and_connections_are_refused(build, words):
    with pytest.raises(UsageError, match=words):
        build()


def test_probe_and_connection_per_request_name_the_condition():
    s = make(
        workloads=[sc.Workload("/cpu", probe="/hello", probe_rps=10)],
        loads=[sc.ClosedLoad(4), sc.ClosedLoad(4, keepalive=False)],
    )
    cases = s.cases()
    assert cases[0].condition.endswith("/cpu +probe/hello u4") and cases[1].condition.endswith("u4-close")
    assert (cases[0].probe_path, cases[0].probe_rps, cases[1].keepalive) == ("/hello", 10.0, False)
