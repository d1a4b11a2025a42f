"""`harness calibrate` runs the calibrate scenario with every `run` option at its default.

It used to fake the run's arguments attribute by attribute and crashed once `run` gained an
option the list lacked (`AttributeError: 'Namespace' object has no attribute 'pin'`). This
unit test replaces cmd_run with a fake that only captures its arguments (no load is run)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import cli


def test_calibrate_hands_run_every_option_a_run_has(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, argparse.Namespace] = {}

    def fake_cmd_run(args: argparse.Namespace) -> int:
        seen["args"] = args
        raise SystemExit(0)  # stop before reading a run that was never made

    monkeypatch.setattr(cli, "cmd_run", fake_cmd_run)
    args = cli.build_parser().parse_args(["--results", str(tmp_path), "calibrate", "--quick", "--processes", "2"])
    with pytest.raises(SystemExit):
        cli.cmd_calibrate(args)
    got = seen["args"]
    expected = cli.build_parser().parse_args(["run", "calibrate"])
    assert set(vars(expected)) <= set(vars(got)), set(vars(expected)) - set(vars(got))
    assert got.quick and got.processes == 2 and got.run_id.endswith("-calibrate")
    assert Path(got.results) == tmp_path and not got.no_report and not getattr(got, "pin", False)
