"""A/B in one run (`harness run SCENARIO --against REF`): the other side's code, the case
order, the split back into two sides, and the bad inputs refused before anything runs."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import REPO, run_harness

from harness import against, compare, scenario
from harness.errors import UsageError
from harness.servers.base import server_dir, using_server_dir


def test_a_ref_resolves_to_its_commit_and_a_wrong_one_is_bad_input():
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert against.resolve("HEAD") == head
    for bad in ("no-such-branch-xyz", "--output=/tmp/x", ""):
        with pytest.raises(UsageError):
            against.resolve(bad)


def test_the_base_side_is_the_refs_server_in_a_private_folder_removed_afterwards():
    head = against.resolve("HEAD")
    with against.checkout(head) as side:
        app = side.server_dir / "app.js"
        committed = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{head}:server/app.js"], capture_output=True, text=True
        ).stdout
        assert app.read_text() == committed
        assert not side.root.is_relative_to(REPO)
        if (REPO / "server" / "node_modules").is_dir():  # same lock file: the working tree's packages
            assert (side.server_dir / "node_modules").resolve() == (REPO / "server" / "node_modules").resolve()
        with using_server_dir(side.server_dir):
            assert server_dir() == side.server_dir
        assert server_dir() != side.server_dir
        root = side.root
    assert not root.exists()


def test_an_app_outside_the_repository_cannot_be_compared(tmp_path: Path):
    app = tmp_path / "server.js"
    app.write_text("require('http').createServer((q, s) => s.end('x')).listen(process.env.PORT)")
    with pytest.raises(UsageError, match="outside the repository"):
        against.app_inside_repo(str(app))
    inside = REPO / "examples" / "hello-app" / "server.js"
    assert against.app_inside_repo(str(inside)) == Path("examples/hello-app/server.js")
    assert against.Side("base", Path("/x")).app_path(str(inside)) == "/x/examples/hello-app/server.js"
    assert against.NEW_SIDE.app_path(str(inside)) == str(inside)


def test_each_condition_runs_on_both_sides_next_to_each_other_alternating_first():
    scen = replace(scenario.load("ci").with_overrides(repetitions=4), sides=scenario.AB_SIDES)
    cases = scen.cases()
    assert len(cases) == 2 * 2 * 4 and len({c.case_id for c in cases}) == len(cases)
    for rep in range(1, 5):
        mine = [c for c in cases if c.repetition == rep]
        pairs = list(zip(mine[::2], mine[1::2]))
        for a, b in pairs:  # a condition's two sides are adjacent
            assert compare.side_of(a.condition)[0] == compare.side_of(b.condition)[0]
            assert {a.side, b.side} == {"base", "new"}
        assert mine[0].side == ("base" if rep % 2 else "new")
    assert cases[0].condition.endswith(" [base]") and cases[0].to_dict()["side"] == "base"
    with pytest.raises(UsageError):
        replace(scen, sides=("old", "new"))


def test_an_a_b_run_splits_into_its_two_sides():
    from tests.test_compare import synthetic_run

    run = synthetic_run("ab", [450.0, 451.0, 449.0], [700.0, 701.0, 699.0], new=([400.0] * 3, [600.0] * 3))
    assert compare.is_ab_run(run)
    base, new = compare.split_sides(run)
    assert (
        set(base["cases"]["condition"]) == set(new["cases"]["condition"]) == {"single /cpu u8", "cluster-rr-2w /cpu u8"}
    )
    assert len(base["cases"]) == len(new["cases"]) == 6
    assert set(base["endpoints"]["case_id"]) == set(base["cases"]["case_id"])
    assert not compare.is_ab_run(compare.split_sides(run)[0])


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_harness(*args, results=tmp_path / "results", timeout=120, cwd=REPO)


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "ci", "--against", "no-such-ref-xyz"], "names no commit"),
        (["run", "ci", "--against", "HEAD", "--target", "http://127.0.0.1:9"], "--against compares two versions"),
        (["run", "ci", "--threshold", "throughput=5"], "go with --against"),
        (["run", "ci", "--detect", "10"], "go with --against"),
        (["run", "ci", "--against", "HEAD", "--threshold", "throughput=x"], "not a number"),
        (["run", "ci", "--against", "HEAD", "--gate", "nope"], "--gate"),
    ],
)
@pytest.mark.slow
def test_bad_a_b_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args: list[str], words: str):
    out = run_cli(tmp_path, *args)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_the_report_of_an_a_b_run_takes_each_sides_speedup_over_its_own_baseline():
    from harness import analysis
    from tests.test_compare import synthetic_run

    run = synthetic_run("ab", [450.0] * 3, [700.0] * 3, new=([400.0] * 3, [800.0] * 3))
    speed = analysis.speedups(analysis.case_results(run)).set_index("condition")
    assert speed.loc["cluster-rr-2w /cpu u8 [base]", "baseline"] == "single /cpu u8 [base]"
    assert speed.loc["cluster-rr-2w /cpu u8 [new]", "speedup"] == pytest.approx(2.0)
    assert speed.loc["cluster-rr-2w /cpu u8 [base]", "speedup"] == pytest.approx(700 / 450)
