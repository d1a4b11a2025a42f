"""The command line's sweeps (--modes, --workers, --threads, --uv-threadpool-size) and the
global options after the subcommand: pure expansion and parsing, no server."""

from __future__ import annotations

import pytest

from harness import __version__
from harness.cli import build_parser, main
from harness.errors import UsageError
from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload


def _scen(**kw) -> Scenario:
    base = dict(
        name="t",
        description="t",
        servers=[ServerSpec("single"), ServerSpec("cluster", workers=2)],
        workloads=[Workload("/cpu")],
        loads=[ClosedLoad(8)],
        repetitions=2,
    )
    return Scenario(**{**base, **kw})


def test_workers_multiply_the_multi_process_servers_and_interleave():
    cases = _scen().swept(workers=[1, 2, 4]).cases()
    assert [c.condition for c in cases] == [
        "single /cpu u8",
        "cluster-rr-1w /cpu u8",
        "cluster-rr-2w /cpu u8",
        "cluster-rr-4w /cpu u8",
    ] * 2
    assert [c.repetition for c in cases] == [1] * 4 + [2] * 4
    assert [c.workers for c in cases[:4]] == [1, 1, 2, 4]


def test_uv_threadpool_sizes_multiply_every_server():
    conditions = [c.condition for c in _scen(repetitions=1).swept(uv_threadpool_sizes=[1, 4]).cases()]
    assert conditions == [
        "single-uv1 /cpu u8",
        "single-uv4 /cpu u8",
        "cluster-rr-2w-uv1 /cpu u8",
        "cluster-rr-2w-uv4 /cpu u8",
    ]


def test_modes_keep_the_order_given_and_add_what_is_missing():
    scen = _scen(repetitions=1).swept(modes=["pm2", "single", "pool"], workers=[1, 2], threads=[2])
    assert [c.condition for c in scen.cases()] == [
        "pm2-1w /cpu u8",
        "pm2-2w /cpu u8",
        "single /cpu u8",
        "pool-2t /cpu u8",
    ]
    # a mode the scenario lacks gets one worker per core
    assert scen.servers[0].workers == 1 and _scen().swept(modes=["nginx"]).servers[0].workers == "cores"


def test_parts_are_swept_each_and_duplicates_run_once():
    scen = Scenario(
        name="p",
        description="p",
        repetitions=1,
        parts=[
            Part([ServerSpec("pool", threads=n) for n in (1, 2, 3)], [Workload("/cpu")], [ClosedLoad(8)]),
            Part([ServerSpec("single")], [Workload("/pbkdf2")], [ClosedLoad(8)]),
        ],
    )
    assert [c.condition for c in scen.swept(threads=[1, 2]).cases()] == [
        "pool-1t /cpu u8",
        "pool-2t /cpu u8",
        "single /pbkdf2 u8",
    ]


def test_a_sweep_with_nothing_to_sweep_is_refused():
    with pytest.raises(UsageError, match="--workers: no server"):
        _scen(servers=[ServerSpec("single")]).swept(workers=[1, 2])
    with pytest.raises(UsageError, match="--threads: no server"):
        _scen().swept(threads=[1, 2])
    assert _scen().swept() == _scen()


def test_the_options_parse_into_lists_and_plan_shows_the_grid(capsys):
    args = build_parser().parse_args(
        [
            "run",
            "default",
            "--workers",
            "1,2,cores",
            "--uv-threadpool-size",
            "2,8",
            "--modes",
            "single,cluster",
            "--threads",
            "2",
        ]
    )
    assert (args.workers, args.uv_threadpool_size, args.modes, args.threads) == (
        [1, 2, "cores"],
        [2, 8],
        ["single", "cluster"],
        [2],
    )
    for bad in (["--workers", "0"], ["--workers", "1,x"], ["--uv-threadpool-size", "cores"], ["--modes", "fast"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["plan", "default", *bad])
    assert main(["plan", "default", "--quick", "--workers", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "cluster-rr-1w-cpu-u8-r1" in out and "cluster-rr-2w-cpu-u8-r1" in out


def test_global_options_after_the_subcommand_and_version(tmp_path, capsys):
    parser = build_parser()
    after = parser.parse_args(["run", "smoke", "--results", str(tmp_path), "--debug"])
    before = parser.parse_args(["--results", str(tmp_path), "--debug", "run", "smoke"])
    assert (after.results, after.debug) == (before.results, before.debug) == (str(tmp_path), True)
    plain = parser.parse_args(["list"])
    assert plain.debug is False and plain.results  # the top parser's defaults stay
    nested = parser.parse_args(["baseline", "update", "r1", "--results", str(tmp_path)])
    assert nested.results == str(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"harness {__version__}"


def test_a_cli_sweep_of_two_points_marks_a_knee():
    """--workers 1,2 gives a two-point sweep; harness.analysis.sweeps marks its knee."""
    import pandas as pd

    from harness import analysis

    rows = [
        {
            "condition": f"cluster-rr-{w}w /cpu u8",
            "mode": "cluster",
            "schedule": "rr",
            "balance": "",
            "path": "/cpu",
            "route": "/cpu",
            "load": "closed",
            "threads": None,
            "workers": w,
            "uv_threadpool_size": None,
            "users": 8,
            "target_rps": None,
            "repetitions": 3,
            "throughput_median_rps": t,
            "throughput_min_rps": t,
            "throughput_max_rps": t,
            "throughput_median_low_rps": t * 0.98,
            "throughput_median_high_rps": t * 1.02,
            "latency_p99_ms": 10.0,
            "generator_limited": False,
        }
        for w, t in ((1, 100.0), (2, 190.0))
    ]
    points = analysis.sweeps(pd.DataFrame(rows))
    assert points["parameter"].unique().tolist() == ["workers"]
    assert points.loc[points["knee"], "value"].tolist() == [2.0]
