"""Readers meet damaged, partial and hostile records: every file of a recorded fixture is in
turn truncated, emptied, made non-UTF-8 and given hostile values; `list`, `report` and
`compare` then end with one line naming the run and what is wrong (or render what they
can), never with a traceback, and one damaged run never hides the others."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import REPO

from harness import cli, record

SOURCE = REPO / "tests" / "fixtures" / "small"
FILES = sorted(p.name for p in SOURCE.iterdir())
DAMAGES = ("truncated", "emptied", "not-utf8", "hostile")
KEPT = ("single", "pool-2t")  # two conditions of two repetitions: every table has rows, a report takes 2 s


@pytest.fixture(scope="session")  # once per test process: xdist interleaves this module with others
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recorded `small` run cut down to KEPT's cases, every table and run.json alike."""
    folder = tmp_path_factory.mktemp("fixture") / "small"
    folder.mkdir()
    cases = pd.read_csv(SOURCE / "cases.csv", dtype=str)
    keep = set(cases[cases["condition"].str.startswith(KEPT)]["case_id"])
    meta = json.loads((SOURCE / "run.json").read_text())
    meta["cases"] = [c for c in meta["cases"] if c["case_id"] in keep]
    (folder / "run.json").write_text(json.dumps(meta, indent=2))
    for table in SOURCE.glob("*.csv"):
        frame = pd.read_csv(table, dtype=str, keep_default_na=False)
        frame[frame["case_id"].isin(keep)].to_csv(folder / table.name, index=False)
    assert record.load_run(folder).problems == [] and len(keep) == 4
    return folder


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":  # cut in the middle of a line, as a crash mid-write would (without our atomic writes)
        path.write_bytes(data[: len(data) // 2])
    elif how == "emptied":
        path.write_bytes(b"")
    elif how == "not-utf8":
        path.write_bytes(data[:40] + b"\xff\xfe\x80 latin-1: caf\xe9 \x00" + data[40:])
    elif how == "hostile":
        if path.suffix == ".json":
            meta = json.loads(data)
            meta.update(
                run_id="../../../../tmp/escaped",
                status="<script>alert(1)</script>",
                scenario={"name": "../x", "baseline": 7},
                machine={"logical_cores": "many"},
            )
            meta["cases"][0]["workers"] = -3
            path.write_text(json.dumps(meta))
        else:  # the header kept, every value after it replaced by nonsense of the wrong kind
            lines = data.decode().splitlines()
            width = len(lines[0].split(","))
            nonsense = ["-1e308", "inf", "NaN", "../../etc/passwd", '"=cmd|x"', "-0", "999999999999999999999"]
            rows = [",".join(nonsense[(i + j) % len(nonsense)] for j in range(width)) for i in range(len(lines) - 1)]
            path.write_text("\n".join([lines[0], *rows]) + "\n")


def _results_with(tmp_path: Path, fixture: Path, file: str, how: str) -> Path:
    results = tmp_path / "results"
    results.mkdir()
    shutil.copytree(fixture, results / "damaged")
    shutil.copytree(fixture, results / "good")
    damage(results / "damaged" / file, how)
    return results


def _reads_as_if_emptied(results: Path, fixture: Path, file: str, tmp_path: Path) -> bool:
    """Whether the reader makes of this damaged table exactly what it makes of the same file
    emptied (the same tables and run.json; only the named problem differs): then the report
    meets the same input as in the "emptied" case, which renders one, and rendering it again
    here would only spend time (a whole report is most of this test's seconds)."""
    twin = _results_with(tmp_path / "emptied-twin", fixture, file, "emptied")
    damaged, emptied = record.load_run(results / "damaged"), record.load_run(twin / "damaged")
    same = damaged.meta == emptied.meta and all(damaged[t].equals(emptied[t]) for t in record.TABLE_COLUMNS)
    return same and bool(damaged.problems) and damaged.problems != emptied.problems


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)  # an exception escaping here is the traceback a user would see
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.slow  # about a minute and a half: each case renders a whole report
@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("file", FILES)
def test_a_damaged_record_never_gives_a_traceback(
    tmp_path: Path, fixture_run: Path, file: str, how: str, capsys: pytest.CaptureFixture[str]
):
    results = _results_with(tmp_path, fixture_run, file, how)
    code, text = _run(["--results", str(results), "list"], capsys)
    assert code == 0 and "good" in text and "damaged" in text  # the damaged run never hides the other
    (tmp_path / "emptied-twin").mkdir()
    if not (how == "not-utf8" and file.endswith(".csv") and _reads_as_if_emptied(results, fixture_run, file, tmp_path)):
        code, text = _run(["--results", str(results), "report", "damaged", "--out", str(tmp_path / "report")], capsys)
        assert code in (0, 2), text
        if code == 2:
            assert "damaged" in text and "Traceback" not in text
    code, text = _run(["--results", str(results), "compare", "good", "damaged"], capsys)
    assert code in range(0, 8), text
    assert "Traceback" not in text
    # nothing was written outside the results folder, whatever run.json's run_id says
    assert not Path("/tmp/escaped").exists()


def test_a_hostile_run_id_never_names_a_folder(tmp_path: Path, fixture_run: Path):
    results = _results_with(tmp_path, fixture_run, "run.json", "hostile")
    run = record.load_run(results / "damaged")
    assert run.run_id == "damaged"  # the folder's name, not "../../../../tmp/escaped"


def test_list_survives_a_run_json_that_is_not_utf8(tmp_path: Path, fixture_run: Path):
    results = _results_with(tmp_path, fixture_run, "run.json", "not-utf8")
    rows = {r["run_id"]: r for r in record.list_runs(results)}
    assert rows["good"]["status"] == "complete"
    assert rows["damaged"]["status"].startswith("unreadable: run damaged: run.json is not UTF-8")


def test_a_damaged_table_reads_empty_and_is_named(tmp_path: Path, fixture_run: Path):
    results = _results_with(tmp_path, fixture_run, "timeline.csv", "not-utf8")
    run = record.load_run(results / "damaged")
    assert run["timeline"].empty and list(run["timeline"].columns) == record.TABLE_COLUMNS["timeline"]
    assert run.problems == ["timeline.csv cannot be read (UnicodeDecodeError)"]
    assert not run["cases"].empty
