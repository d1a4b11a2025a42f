"""The run record: atomic, versioned, readable back, safe ids."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from harness import record
from harness.errors import EnvironmentProblem, UsageError


def _writer(results_dir: Path) -> record.RunWriter:
    w = record.RunWriter(results_dir, "r1")
    w.start({"scenario": {"name": "t"}, "machine": {"logical_cores": 2}, "versions": {}})
    return w


def test_run_json_goes_from_running_to_complete(results_dir: Path):
    w = _writer(results_dir)
    meta = json.loads((w.path / "run.json").read_text())
    assert meta["status"] == "running" and meta["schema_version"] == record.SCHEMA_VERSION
    w.add_case(
        {"case_id": "001-a-r1", "status": "complete", "route": "/cpu"},
        {"workers": [{"case_id": "001-a-r1", "phase": "measure", "worker_id": "1", "pid": 5, "requests": 9}]},
    )
    w.finish("complete")
    run = record.load_run(w.path)
    assert run.meta["status"] == "complete" and run.meta["ended_at"]
    assert list(run["workers"].columns) == record.TABLE_COLUMNS["workers"]
    assert run["workers"]["requests"].tolist() == [9]
    assert run["cases"]["case_id"].tolist() == ["001-a-r1"]
    assert not [p for p in w.path.iterdir() if p.name.endswith(".tmp")]


def test_every_table_exists_with_its_columns_from_the_start(results_dir: Path):
    w = _writer(results_dir)
    for name, cols in record.TABLE_COLUMNS.items():
        header = (w.path / f"{name}.csv").read_text().splitlines()[0]
        assert header.split(",") == cols


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path):
    target = tmp_path / "x.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        record.atomic_write_text(target, object())  # type: ignore[arg-type]  # fails mid-write
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.json"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".hidden", "", "x" * 200, "a b"])
def test_run_ids_cannot_escape_the_results_folder(bad):
    with pytest.raises(UsageError):
        record.check_run_id(bad)


def test_existing_run_id_is_refused(results_dir: Path):
    _writer(results_dir)
    with pytest.raises(UsageError, match="already exists"):
        _writer(results_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_results_folder(tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(EnvironmentProblem, match="cannot write results"):
        record.RunWriter(ro, "r").start({})


def test_unwritable_results_folder_under_a_file(tmp_path: Path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(EnvironmentProblem, match="cannot write results"):
        record.RunWriter(f / "results", "r").start({})


@pytest.mark.parametrize(
    "version, words",
    [
        (record.SCHEMA_VERSION + 1, "newer than this harness"),
        (0, "older than any this harness reads"),
        ("1", "no schema_version"),
    ],
)
def test_other_schema_versions_are_refused(results_dir: Path, version, words):
    w = _writer(results_dir)
    meta = json.loads((w.path / "run.json").read_text())
    meta["schema_version"] = version
    (w.path / "run.json").write_text(json.dumps(meta))
    with pytest.raises(UsageError, match=words):
        record.load_run(w.path)


def test_not_a_run_folder(tmp_path: Path):
    with pytest.raises(UsageError, match="not a run folder"):
        record.load_run(tmp_path)


def test_list_runs_reports_status(results_dir: Path):
    w = _writer(results_dir)
    w.finish("interrupted", "Ctrl-C")
    (results_dir / "junk").mkdir()
    runs = record.list_runs(results_dir)
    assert runs == [
        {"run_id": "r1", "status": "interrupted", "scenario": "t", "started_at": w.meta["started_at"], "cases": 0}
    ]


def test_a_version_1_record_is_read_with_the_new_columns_filled(results_dir: Path):
    w = _writer(results_dir)
    meta = json.loads((w.path / "run.json").read_text())
    meta["schema_version"] = 1
    meta["cases"] = [{"case_id": "001-single-cpu-u8-r1"}]  # readers go by the cases run.json lists
    (w.path / "run.json").write_text(json.dumps(meta))
    # version 1 tables lacked the columns version 2 added
    (w.path / "cases.csv").write_text(
        "case_id,index,condition,repetition,mode,workers,schedule,route,path,users,"
        "warmup_s,duration_s,status,error,started_ts,ended_ts,measure_start_ts,"
        "measure_end_ts,measured_s,port\n"
        "001-single-cpu-u8-r1,1,single /cpu u8,1,single,1,,/cpu,/cpu,8,5,30,complete,,"
        "1,2,1.5,1.9,0.4,3000\n"
    )
    (w.path / "workers.csv").write_text("case_id,phase,worker_id,pid,requests\n001-single-cpu-u8-r1,measure,0,5,9\n")
    (w.path / "threads.csv").unlink()
    run = record.load_run(w.path)
    assert run["cases"]["load"].tolist() == ["closed"]
    assert run["cases"]["generator_processes"].tolist() == [1]
    assert run["workers"]["thread_id"].tolist() == [""]
    assert run["threads"].empty


def test_a_version_2_timeline_is_read_without_per_second_percentiles(results_dir: Path):
    w = _writer(results_dir)
    meta = json.loads((w.path / "run.json").read_text())
    meta["schema_version"] = 2
    meta["cases"] = [{"case_id": "c1"}]
    (w.path / "run.json").write_text(json.dumps(meta))
    (w.path / "timeline.csv").write_text(
        "case_id,second,elapsed_s,phase,name,requests,failures,latency_mean_ms,"
        "latency_max_ms\nc1,100,1.0,measure,/cpu,10,0,2.5,4.0\n"
    )
    run = record.load_run(w.path)
    assert run["timeline"]["latency_p99_ms"].isna().all()
    assert run["timeline"]["latency_mean_ms"].tolist() == [2.5]


def test_a_version_3_record_is_read_with_no_events(results_dir: Path):
    w = _writer(results_dir)
    meta = json.loads((w.path / "run.json").read_text())
    meta["schema_version"] = 3
    meta["cases"] = [{"case_id": "c1"}]
    (w.path / "run.json").write_text(json.dumps(meta))
    columns = [c for c in record.TABLE_COLUMNS["cases"] if c not in ("events", "shutdown_timeout_s")]
    (w.path / "cases.csv").write_text(
        ",".join(columns) + "\n" + ",".join("c1" if c == "case_id" else "" for c in columns) + "\n"
    )
    (w.path / "workers.csv").write_text("case_id,phase,worker_id,pid,thread_id,requests\nc1,measure,0,5,,9\n")
    (w.path / "events.csv").unlink()
    (w.path / "requests.csv").unlink()
    run = record.load_run(w.path)
    assert run["cases"]["events"].tolist() == [""]
    assert run["cases"]["shutdown_timeout_s"].tolist() == [5.0]  # the server's default, which it ran with
    assert run["workers"]["first_response_ts"].isna().all() and run["workers"]["last_response_ts"].isna().all()
    assert run["events"].empty and run["requests"].empty


def test_signals_are_deferred_in_every_thread_until_the_record_is_written():
    """A Ctrl-C the kernel gives to another thread (rich's, Locust's) must not land in the
    middle of add_case either: it is raised once the block is done."""
    import signal
    import threading

    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with record.signals_deferred():
            t = threading.Thread(target=lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGINT))
            t.start()
            t.join()
            time.sleep(0.05)  # a Python handler would run here, between two bytecodes
            seen.append("the block finished")
    assert seen == ["the block finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_rows_of_a_case_run_json_does_not_list_are_left_out(results_dir: Path):
    """A harness killed between a case's tables and run.json: the reader goes by run.json."""
    w = _writer(results_dir)
    (w.path / "cases.csv").write_text(
        ",".join(record.TABLE_COLUMNS["cases"])
        + "\n"
        + ",".join("c9" if c == "case_id" else "" for c in record.TABLE_COLUMNS["cases"])
        + "\n"
    )
    run = record.load_run(w.path)
    assert run["cases"].empty and run.problems == []


def test_records_are_written_readable_as_the_pngs_beside_them(tmp_path: Path):
    path = tmp_path / "x.csv"
    record.atomic_write_text(path, "a\n")
    assert path.stat().st_mode & 0o777 == 0o666 & ~record._UMASK


def test_a_folder_is_replaced_in_one_step(tmp_path: Path):
    old, new = tmp_path / "baseline", tmp_path / ".baseline.new"
    old.mkdir()
    (old / "run.json").write_text("old")
    new.mkdir()
    (new / "run.json").write_text("new")
    record.replace_folder(new, old)
    assert (old / "run.json").read_text() == "new" and (new / "run.json").read_text() == "old"


def test_no_commit_is_recorded_for_a_folder_that_is_not_a_checkout_top(tmp_path: Path):
    """An installed harness inside some other repository must not record that repository's commit."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    inside = tmp_path / "venv" / "site-packages"
    inside.mkdir(parents=True)
    assert record.git_state(inside) == {"commit": None, "dirty": None}
    assert record.versions(None, None)["git"] == {"commit": None, "dirty": None}
