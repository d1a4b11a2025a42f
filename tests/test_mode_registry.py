"""The server modes' one home (harness/modes/): every part of the harness asks the mode, so a
new mode is one module; the facts the Node server shares with Python come from one file
(server/modes.json)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import matplotlib.colors
import pytest
from helpers import REPO

from harness import analysis, modes
from harness.errors import UsageError
from harness.modes.reuseport import supports_reuseport
from harness.report import figures
from harness.scenario import ClosedLoad, Event, PathWorkload, Scenario, ServerSpec
from harness.servers import make_server
from harness.servers.node import SingleServer

TOY_COLOR = "#117733"  # Paul Tol's green: not a role colour, not another mode's

# A whole new mode, as a contributor would write it: the reference server's single mode under
# another name, with a colour and a label of its own.
TOY_MODE = textwrap.dedent(f'''
    """toy: the single mode under another name (tests/test_mode_registry.py)."""
    from harness.modes.single import Single


    class Toy(Single):
        name = "toy"
        order = 95
        colors = {{"toy": "{TOY_COLOR}"}}

        def label(self, spec):
            return "toy-mode"


    MODE = Toy()
''')


@pytest.fixture
def toy_mode(tmp_path: Path):
    """harness.modes with one more module, toy.py, in a folder of its own (removed afterwards)."""
    folder = tmp_path / "more_modes"
    folder.mkdir()
    (folder / "toy.py").write_text(TOY_MODE)
    modes.__path__.append(str(folder))
    modes.reload()
    try:
        yield modes.get("toy")
    finally:
        modes.__path__.remove(str(folder))
        modes.reload()
        import sys

        sys.modules.pop("harness.modes.toy", None)


def test_the_modes_in_their_order_with_what_each_supports():
    assert modes.names() == ("single", "cluster", "pool", "spawn-per-request", "nginx", "pm2", "reuseport", "external")
    assert modes.names(selectable=True) == modes.names()[:-1]
    assert modes.event_modes() == {
        "kill-worker": ("cluster", "pm2"),
        "reload": ("pm2",),
        "restart": ("pm2",),
        "sigterm": ("single", "cluster", "pool", "spawn-per-request"),
    }
    assert [m.name for m in modes.all_modes() if m.one_process] == ["single", "pool", "spawn-per-request", "external"]
    with pytest.raises(UsageError, match="unknown server mode 'nope'.*single, cluster"):
        modes.get("nope")
    assert modes.find(["a list"]) is None  # a damaged record may hold anything


def test_every_colour_key_is_distinct_and_every_mode_has_one():
    keys = [key for m in modes.all_modes() for key in m.colors]
    assert len(keys) == len(set(keys))
    assert len(set(modes.colors().values())) == len(keys)
    for m in modes.all_modes():
        if m.starts_server:
            assert figures.mode_color(m.name, "rr") != figures.OTHER_MODE_COLOR, m.name


def test_parallel_units_are_threads_only_where_the_mode_runs_the_route_on_them():
    assert modes.get("pool").parallel_units(1, 3, "/cpu") == 3
    assert modes.get("pool").parallel_units(1, 3, "/io") == 1
    assert modes.get("cluster").parallel_units(4, float("nan"), "/cpu") == 4
    assert modes.get("single").parallel_units(float("nan"), None, "/cpu") == 1


def test_the_server_and_the_harness_read_the_same_mode_facts():
    facts = json.loads((REPO / "server" / "modes.json").read_text())
    assert facts == modes.server_facts()
    # index.js takes its --mode list from the file: an unknown mode is refused with exactly that list
    done = subprocess.run(
        ["node", "index.js", "--mode", "nope", "--port", "1"],
        cwd=REPO / "server",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert f"use one of {', '.join(facts['node_modes'])}" in done.stderr
    # every mode the harness starts with index.js --mode X names an X the server knows
    for cls in (m.server_class() for m in modes.all_modes()):
        command = getattr(cls, "mode", None)
        assert command in facts["node_modes"] or command in ("nginx", "external"), command
    # the reuseport rule, read from the same file
    assert supports_reuseport("22.12.0") and supports_reuseport("23.1.0") and supports_reuseport("25.0.0")
    assert not supports_reuseport("22.11.9") and not supports_reuseport("23.0.0") and not supports_reuseport("20.20.2")


def test_a_new_mode_is_one_module(toy_mode, tmp_path: Path):
    """Everything that asks a mode knows the toy one, with nothing else edited."""
    assert "toy" in modes.names(selectable=True)
    spec = ServerSpec("toy").resolved()
    assert spec.label == "toy-mode"
    assert ServerSpec("toy", uv_threadpool_size=8).resolved().label == "toy-mode-uv8"
    assert ServerSpec("toy", events=(Event("sigterm", 1),)).events  # the events it inherits from single
    with pytest.raises(UsageError, match="kill-worker is not supported by mode toy"):
        ServerSpec("toy", events=(Event("kill-worker", 1),))
    with pytest.raises(UsageError, match="exactly one HTTP process"):
        ServerSpec("toy", workers=2)
    scen = Scenario(
        name="toy",
        description="the toy mode",
        servers=[ServerSpec("single")],
        workloads=[PathWorkload.of("/hello")],
        loads=[ClosedLoad(users=1)],
        duration_s=1,
        warmup_s=0,
        repetitions=1,
    )
    case = scen.swept(modes=["toy"]).cases()[0]
    assert (case.mode, case.condition.split()[0]) == ("toy", "toy-mode")
    assert figures.mode_color("toy") == TOY_COLOR
    assert modes.event_modes()["sigterm"][-1] == "toy"
    assert isinstance(make_server(case, tmp_path), SingleServer)
    assert matplotlib.colors.to_hex(figures.mode_color("toy")) == TOY_COLOR


@pytest.mark.integration
def test_a_new_mode_runs_end_to_end(toy_mode, tmp_path: Path):
    """A real (short) run of the toy mode: the server starts, Locust sends load, the record
    names the mode and the analysis counts its one process."""
    from harness.record import load_run
    from harness.run import run_scenario

    scen = Scenario(
        name="toy",
        description="the toy mode",
        servers=[ServerSpec("toy")],
        workloads=[PathWorkload.of("/hello")],
        loads=[ClosedLoad(users=2)],
        duration_s=2,
        warmup_s=1,
        repetitions=1,
    )
    outcome = run_scenario(scen, tmp_path, "toy-run")
    run = load_run(outcome.path)
    results = analysis.case_results(run)
    assert list(results["mode"]) == ["toy"]
    assert results["requests"].iloc[0] > 0
    assert int(results["units"].iloc[0]) == 1
