"""The run record: results/<run-id>/ with run.json, tidy tables and raw/.

run.json is written when the run starts (status "running") and replaced atomically
after every case and at the end ("complete", "interrupted" or "failed"), so a record
on disk is always whole: an interrupted run keeps every finished case and is
reportable. Every table is rewritten whole (temporary file, then rename) after each
case. The columns are listed here and in results/README.md, with the record's other
vocabulary (NO_WORKER, PROBE_PREFIX): its writers (the Locust hooks, the preload's
reader, run.py) and its readers (harness.analysis, the report) both import them from
here, so importing this module stays cheap (no pandas: the Locust process imports it).

Schema history:
  1  first version: single and cluster, closed load.
  2  more modes (cases: threads, queue_limit, balance, uv_threadpool_size), open load and
     several Locust processes (cases: load, target_rps, max_in_flight, generator_processes,
     sent_rps, cap_waits, generator_cpu_pct, generator_limited, generator_limited_reason),
     workers.thread_id, endpoints.hdr_b64, the threads table. Version 1 records are read
     by filling the new columns (see _ADDED_IN); the new tables are empty.
  3  timeline.latency_p50_ms and latency_p99_ms (per-second percentiles, for latency over
     time); cases.keepalive, probe_path, probe_rps (connection per request; a light probe
     route beside the load). Older records read with the timeline columns empty, keep-alive
     on and no probe.
  4  the counters table (the shared-state demo: each worker's in-memory counter and the
     Redis counter after the load); versions.redis in run.json when Redis ran; events
     during the load (the resilience scenario): cases.events and cases.shutdown_timeout_s,
     workers.first_response_ts and last_response_ts, the events table (one row per event
     fired) and the requests table (every response of a case with events). Older records
     read with cases.events "", shutdown_timeout_s 5 (the server's default they ran with),
     the workers' times empty, the new tables empty.
  5  cases.side: "base" or "new" in an A/B run (`harness run --against REF`), "" otherwise;
     run.json's `against` (the ref, its commit, the working tree's commit and whether it
     had uncommitted changes). Older records read with side "".
     Open load accounted as wrk2 and k6 do (issue 14): an open-load response's phase is that
     of its DUE time (closed load: of its completion, as before), and its latency histogram
     holds successes only. New endpoints columns: due, sent, dropped (open load, phase
     measure: requests due in the window, of them sent, and never answered within the
     grace after the window; due = requests + dropped), completed_in_phase (successes that
     completed in the phase, whatever their due time), send_lag_p99_ms, send_lag_max_ms
     (how late requests left against their schedule), failure_latency_p50_ms and
     failure_latency_p99_ms. Older records read with these columns empty (not counted);
     their open-load phases were those of completion times. cases.cap_waits now counts the
     requests that waited for a slot during the window, whatever their due time (before:
     those due in it).
  6  a user's own locustfile (`harness run --locustfile FILE`): cases.load "locustfile" (closed
     load by the file's own users, with their wait_time), cases.locustfile (its absolute path),
     locustfile_sha256 and shape (the LoadTestShape's class name that decided users and length,
     "" for none); run.json's `locustfile` (path, sha256, the User classes, the shape's dry run,
     and `copy`, the file's copy in the run folder). A locustfile case has an endpoints row per
     request name and phase, and one more named "Aggregated" (scenario.AGGREGATE_NAME): the
     names added up (histograms bin by bin), which the case's figures are taken from; the
     timeline likewise. Older records read with locustfile and locustfile_sha256 empty and
     shape "".
  7  a user's app's per-process figures from the harness's preload (harness.preload, issue 16):
     the processes table (one row per process that ran the app with the preload: its own
     count of requests and probes, event-loop delay and utilization, CPU, RSS) and
     cases.preload (True where the app's processes loaded it). Older records read with
     preload False (none had it) and the processes table empty.
  8  cases.http_client: what the harness's Locust users sent with ("lean": harness.load.lean_http,
     the default from 1 December 2026 on; "locust": Locust's FastHttpSession; "user": a user's
     locustfile's own classes). Older records read with "locust" (the only client they had).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import json
import os
import platform
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from harness.errors import EnvironmentProblem, UsageError

if TYPE_CHECKING:  # pandas is imported where a table is read or written: `harness list`, `plan` and
    import pandas as pd  # `--help` never need it (about half a second of imports)

SCHEMA_VERSION = 8
# The record's vocabulary, shared by its writers (the Locust hooks, the preload's reader,
# run.py) and its readers (harness.analysis, the report's figures):
NO_WORKER = "?"  # worker id / pid of a response without the headers (a connection error)
PROBE_PREFIX = "probe "  # request name of a probe route's responses: "probe /hello"
# The processes table: one row per process that ran a user's app with the harness's preload.
PROCESS_COLUMNS = [
    "case_id",
    "pid",
    "ppid",
    "worker_id",
    "requests",
    "probes",
    "responses",
    "event_loop_delay_p50_ms",
    "event_loop_delay_p99_ms",
    "event_loop_delay_max_ms",
    "event_loop_utilization",
    "cpu_user_s",
    "cpu_system_s",
    "rss_bytes",
    "started_ts",
    "written_ts",
    "final",
    "fresh",
]
# Columns each schema version added, with the value they take in an older record (what the
# older version implied, or None where it did not measure it).
_ADDED_IN: dict[int, dict[str, dict[str, Any]]] = {
    2: {
        "cases": {"load": "closed", "generator_processes": 1, "balance": "", "cap_waits": 0},
        "workers": {"thread_id": ""},
    },
    3: {
        "timeline": {"latency_p50_ms": None, "latency_p99_ms": None},
        "cases": {"keepalive": True, "probe_path": "", "probe_rps": None},
    },
    # and the counters, events and requests tables: a record without them reads them as empty
    4: {
        "cases": {"events": "", "shutdown_timeout_s": 5.0},
        "workers": {"first_response_ts": None, "last_response_ts": None},
    },
    5: {
        "cases": {"side": ""},
        "endpoints": {
            "due": None,
            "sent": None,
            "dropped": None,
            "completed_in_phase": None,
            "send_lag_p99_ms": None,
            "send_lag_max_ms": None,
            "failure_latency_p50_ms": None,
            "failure_latency_p99_ms": None,
        },
    },
    6: {"cases": {"locustfile": None, "locustfile_sha256": None, "shape": ""}},
    # and the processes table: a record without it reads it as empty
    7: {"cases": {"preload": False}},
    8: {"cases": {"http_client": "locust"}},
}

TABLE_COLUMNS: dict[str, list[str]] = {
    # one row per case, in the order run
    "cases": [
        "case_id",
        "index",
        "condition",
        "repetition",
        "mode",
        "workers",
        "schedule",
        "threads",
        "queue_limit",
        "balance",
        "uv_threadpool_size",
        "route",
        "path",
        "load",
        "users",
        "target_rps",
        "max_in_flight",
        "generator_processes",
        "warmup_s",
        "duration_s",
        "status",
        "error",
        "started_ts",
        "ended_ts",
        "measure_start_ts",
        "measure_end_ts",
        "measured_s",
        "sent_rps",
        "cap_waits",
        "generator_cpu_pct",
        "generator_limited",
        "generator_limited_reason",
        "port",
        "keepalive",
        "probe_path",
        "probe_rps",
        "shutdown_timeout_s",
        "events",
        "side",
        "locustfile",
        "locustfile_sha256",
        "shape",
        "preload",
        "http_client",
    ],
    # one row per case x request name x phase (warmup | measure | after), from the HDR histograms.
    # Closed load: the phase of each response's completion time, latency_* and hdr_b64 of every
    # response. Open load: the phase of each request's DUE time (a request due in the window
    # counts in it whenever it completes), latency_* and hdr_b64 of the successes only (from
    # the due time, ms). requests / failures: responses (failures included in requests).
    # Open load only (empty otherwise): due, the requests due in the phase (measure only);
    # sent, those of them that left; dropped = due - requests, never sent (no in-flight slot
    # in time) or sent but not answered within the grace after the window; send_lag_p99_ms,
    # send_lag_max_ms, how late requests left against their schedule (ms).
    # completed_in_phase: successful responses that COMPLETED in the phase, whatever their due
    # time (per second of the window, the rate the server answered at: completed_rps).
    # failure_latency_p50_ms / _p99_ms: latency of the failed responses alone (ms).
    "endpoints": [
        "case_id",
        "phase",
        "name",
        "requests",
        "failures",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_p99_9_ms",
        "latency_max_ms",
        "hdr_b64",
        "due",
        "sent",
        "dropped",
        "completed_in_phase",
        "send_lag_p99_ms",
        "send_lag_max_ms",
        "failure_latency_p50_ms",
        "failure_latency_p99_ms",
    ],
    # one row per case x phase x worker (x pool thread): responses the client received from it
    # (headers x-worker-id, x-pid, x-thread-id)
    "workers": [
        "case_id",
        "phase",
        "worker_id",
        "pid",
        "thread_id",
        "requests",
        "first_response_ts",
        "last_response_ts",
    ],
    # one row per case x worker x snapshot (before | after the load): the worker's own /metrics
    "server_metrics": [
        "case_id",
        "snapshot",
        "worker_id",
        "pid",
        "requests_total",
        "requests_route",
        "event_loop_utilization",
        "event_loop_delay_p50_ms",
        "event_loop_delay_p99_ms",
        "event_loop_delay_max_ms",
        "rss_bytes",
    ],
    # one row per case x sample tick x process (see harness.sampling.SAMPLE_COLUMNS)
    "samples": [
        "case_id",
        "ts",
        "elapsed_s",
        "phase",
        "pid",
        "role",
        "worker_id",
        "cpu_pct",
        "cpu_s",
        "rss_bytes",
        "num_threads",
        "steal_pct",
    ],
    # one row per case x sample tick x thread of a server process: per-thread CPU
    "threads": ["case_id", "ts", "elapsed_s", "phase", "pid", "role", "tid", "thread_name", "cpu_s"],
    # one row per case x second x request name, client side
    "timeline": [
        "case_id",
        "second",
        "elapsed_s",
        "phase",
        "name",
        "requests",
        "failures",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_max_ms",
    ],
    # one row per case x counter, read after the load (counting routes only): store `memory`,
    # one row per worker (its own counter); store `redis`, one row (the shared key)
    "counters": ["case_id", "store", "worker_id", "pid", "value"],
    # one row per event fired during a case (harness.events): kill-worker, reload, restart, sigterm
    "events": [
        "case_id",
        "action",
        "at_s",
        "ts",
        "elapsed_s",
        "pid",
        "server_in_flight",
        "pids_before",
        "pids_after",
        "done_ts",
        "done_s",
        "exit_code",
        "shutdown_timeout_s",
        "outcome",
    ],
    # one row per response of a case with events (others leave it empty), in completion order
    "requests": ["case_id", "phase", "start_ts", "done_ts", "latency_ms", "ok", "worker_id", "pid", "error"],
    # one row per case x process that ran a user's app with the harness's preload (harness.preload):
    # its own counts over the whole case (requests: the load's; probes: the harness's readiness
    # probes), event-loop delay (ms) and utilization, CPU (s) and RSS at its last write; fresh:
    # written after the load stopped (or at exit), final: written at exit
    "processes": PROCESS_COLUMNS,
}

# Ids are text: a worker id or pid may be "?" when a response carried no headers.
_DTYPES: dict[str, dict[str, Any]] = {
    "workers": {"worker_id": str, "pid": str, "thread_id": str},
    "requests": {"worker_id": str, "pid": str, "error": str},
    "events": {"pids_before": str, "pids_after": str, "outcome": str},
    "threads": {"thread_name": str},
    "server_metrics": {"worker_id": str},
    "counters": {"store": str, "worker_id": str},
    "processes": {"worker_id": str},
    "samples": {"worker_id": str},
    "cases": {
        "schedule": str,
        "error": str,
        "balance": str,
        "load": str,
        "generator_limited_reason": str,
        "probe_path": str,
        "events": str,
        "side": str,
        "locustfile": str,
        "locustfile_sha256": str,
        "shape": str,
        "http_client": str,
    },
}
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


_UMASK = _umask()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path so that readers see the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would make it (mkstemp's are 0600): like the PNGs beside it
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back until the block is done, then act on them.

    Python runs signal handlers in the main thread only, whichever thread the kernel gave
    the signal to, so swapping the handlers for ones that only note the signal defers it in
    every thread (a thread's signal mask would cover that thread alone). The noted signals
    are raised again once the former handlers are back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: pending.append(s)) for sig in _DEFERRED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)


def replace_folder(new: Path, target: Path) -> None:
    """Put folder `new` in place of `target` (same file system) in one step where Linux offers
    it (renameat2 RENAME_EXCHANGE): a reader sees the old folder or the new one, never
    neither. `new` then holds the old content (the caller removes it)."""
    if not target.exists():
        os.rename(new, target)
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        if libc.renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(target), rename_exchange) == 0:
            return
    except (OSError, AttributeError):
        pass
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(new, target)
    os.rename(old, new)


def write_table(path: Path, name: str, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS[name])
    atomic_write_text(path, frame.to_csv(index=False))


def check_run_id(run_id: str) -> str:
    """A run id is one plain path component: it can never escape the results folder."""
    if not _RUN_ID_RE.match(run_id) or run_id in (".", ".."):
        raise UsageError(f"run id {run_id!r} is not allowed", "use letters, digits, '.', '-' and '_' only")
    return run_id


def _first_output_line(argv: list[str]) -> str | None:
    from harness import procs  # imported when a version is asked for: reading a record needs none of it

    return procs.first_output_line(argv)


def git_state(repo: Path) -> dict[str, Any]:
    """The commit of the harness's own checkout and whether it had uncommitted changes; none
    when `repo` is not a checkout's top (git would answer for an enclosing repository)."""
    if not (repo / ".git").exists():
        return {"commit": None, "dirty": None}
    commit = _first_output_line(["git", "-C", str(repo), "rev-parse", "HEAD"])
    status = _first_output_line(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    if commit is None or not re.fullmatch(r"[0-9a-f]{40}", commit):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status)}


def machine_facts() -> dict[str, Any]:
    """What a reader needs to judge and compare numbers from this machine."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    governor = None
    try:
        governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        pass
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = None
    return {
        "hostname": platform.node(),
        "cpu_model": model,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "harness_affinity": affinity,
        "memory_bytes": psutil.virtual_memory().total,
        "governor": governor,
        "kernel": platform.release(),
        "os": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        # "shared" (generator and server may run on any core) or {"server": [...], "generator": [...]}
        "cpu_layout": "shared",
    }


def versions(node: str | None, repo: Path | None) -> dict[str, Any]:
    """Versions of what ran; `repo`: the harness's checkout (None: an installed harness, no commit)."""
    import importlib.metadata

    # Never `import locust` here: it monkey-patches the harness process with gevent.
    return {
        "node": _first_output_line([node, "--version"]) if node else None,
        "locust": importlib.metadata.version("locust"),
        "python": sys.version.split()[0],
        "harness": __import__("harness").__version__,
        "git": git_state(repo) if repo is not None else {"commit": None, "dirty": None},
    }


@dataclass
class RunWriter:
    """Writes one run's record as it goes. Use start(), add_case() per case, finish()."""

    results_dir: Path
    run_id: str
    meta: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in TABLE_COLUMNS})

    @property
    def path(self) -> Path:
        return self.results_dir / self.run_id

    def start(self, meta: dict[str, Any]) -> None:
        check_run_id(self.run_id)
        try:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            self.path.mkdir()
            (self.path / "raw").mkdir()
        except FileExistsError as exc:
            raise UsageError(
                f"a run named {self.run_id} already exists in {self.results_dir}", "choose another --run-id"
            ) from exc
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot write results to {self.results_dir}: {exc.strerror}", "choose a writable folder with --results"
            ) from exc
        self.meta = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "status": "running",
            "started_at": now_iso(),
            "ended_at": None,
            "error": None,
            "cases": [],
            **meta,
        }
        with signals_deferred():  # the tables first: run.json never names a table that is not there
            for name in TABLE_COLUMNS:
                write_table(self.path / f"{name}.csv", name, [])
            self._write_meta()

    def raw_dir(self, case_id: str) -> Path:
        return self.path / "raw" / case_id

    def add_case(self, case: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
        """Record one finished (or failed) case and rewrite every table it touched.

        The tables are written before run.json, and Ctrl-C, SIGTERM and SIGHUP are held back
        until every file is written; should the harness die in between (SIGKILL), the tables
        hold a case run.json does not list, and readers go by run.json (load_run)."""
        with signals_deferred():
            self._add_case(case, tables)

    def _add_case(self, case: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
        self.meta["cases"].append(case)
        self.tables["cases"].append({k: case.get(k) for k in TABLE_COLUMNS["cases"]})
        touched = {"cases"}
        for name, rows in tables.items():
            self.tables[name].extend(rows)
            touched.add(name)
        for name in touched:
            write_table(self.path / f"{name}.csv", name, self.tables[name])
        self._write_meta()

    def finish(self, status: str, error: str | None = None) -> None:
        with signals_deferred():
            self.meta.update(status=status, error=error, ended_at=now_iso())
            self._write_meta()

    def _write_meta(self) -> None:
        atomic_write_text(self.path / "run.json", json.dumps(self.meta, indent=2, default=str) + "\n")


@dataclass
class Run:
    """A stored run, read back: its metadata and its tables as pandas DataFrames.

    `problems` lists what could not be read (a damaged or missing table): the tables
    concerned are empty, and a report says what it could not draw."""

    path: Path
    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run's id: run.json's when it is a plain name, else the folder's (a run id
        names output folders, so it must never be a path)."""
        value = self.meta.get("run_id")
        if isinstance(value, str) and _RUN_ID_RE.match(value) and value not in (".", ".."):
            return value
        return self.path.name

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def read_meta(path: Path) -> dict[str, Any]:
    """run.json of a run folder, checked to be a run record this harness reads; UsageError,
    one line naming the run and what is wrong, otherwise."""
    meta_path = path / "run.json"
    if not meta_path.is_file():
        raise UsageError(
            f"{path} is not a run folder (no run.json)", "pass a folder under results/, see `harness list`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"run {path.name}: run.json is not UTF-8 text: the record is damaged") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"run {path.name}: run.json is not valid JSON ({exc.msg}, line {exc.lineno}): the record is damaged"
        ) from None
    except OSError as exc:
        raise UsageError(f"run {path.name}: run.json cannot be read: {exc.strerror}") from None
    if not isinstance(meta, dict):
        raise UsageError(f"run {path.name}: run.json is not a JSON object: not a run record of this harness")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(f"run {path.name}: run.json has no schema_version: not a run record of this harness")
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{path.name} was written with record schema {version}, newer than this harness reads ({SCHEMA_VERSION})",
            "upgrade the harness (git pull; make setup)",
        )
    if version < 1:
        raise UsageError(f"{path.name} uses record schema {version}, older than any this harness reads")
    for key, kind in (("cases", list), ("scenario", dict), ("machine", dict), ("versions", dict)):
        if key in meta and not isinstance(meta[key], kind):
            raise UsageError(f"run {path.name}: run.json's {key!r} is not a {kind.__name__}: the record is damaged")
    if not all(isinstance(c, dict) and isinstance(c.get("case_id"), str) for c in meta.get("cases", [])):
        raise UsageError(f"run {path.name}: run.json lists a case without a case_id: the record is damaged")
    return meta


def load_run(path: Path | str) -> Run:
    """Read a run folder (or its run.json). Refuses records of another schema version and a
    damaged run.json; a damaged or missing table reads as empty, named in Run.problems.

    The run's cases are those run.json lists: rows of other cases (a harness killed between
    writing a case's tables and run.json) are left out, so every table agrees with run.json."""
    path = Path(path)
    if path.name == "run.json":
        path = path.parent
    meta = read_meta(path)
    version = meta["schema_version"]
    listed = {c["case_id"] for c in meta.get("cases", [])} if "cases" in meta else None
    import pandas as pd

    tables, problems = {}, []
    for name, columns in TABLE_COLUMNS.items():
        file = path / f"{name}.csv"
        try:
            frame = pd.read_csv(file, dtype=_DTYPES.get(name)) if file.is_file() else pd.DataFrame(columns=columns)
        except pd.errors.EmptyDataError:
            problems.append(f"{name}.csv is empty (not even its header)")
            frame = pd.DataFrame(columns=columns)
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError, OSError) as exc:
            problems.append(f"{name}.csv cannot be read ({type(exc).__name__})")
            frame = pd.DataFrame(columns=columns)
        if version == 1:  # version 2 added many columns: every one a version 1 table lacks is new
            for column in set(columns) - set(frame.columns):
                frame[column] = next(
                    (added[name][column] for added in _ADDED_IN.values() if column in added.get(name, {})), None
                )
        for added_in, added in _ADDED_IN.items():
            if version < added_in:
                for column, value in added.get(name, {}).items():
                    if column not in frame.columns:
                        frame[column] = value
        missing = set(columns) - set(frame.columns)
        if missing:
            problems.append(f"{name}.csv lacks columns {sorted(missing)}")
            frame = pd.DataFrame(columns=columns)
        if listed is not None and len(frame) and "case_id" in frame.columns:
            frame = frame[frame["case_id"].astype(str).isin(listed)].reset_index(drop=True)
        tables[name] = frame
    return Run(path=path, meta=meta, tables=tables, problems=problems)


def list_runs(results_dir: Path) -> list[dict[str, Any]]:
    """Summaries of every run folder in results_dir, newest first; unreadable ones say why
    (one damaged run never hides the others)."""
    out: list[dict[str, Any]] = []
    if not results_dir.is_dir():
        return out
    for child in sorted(results_dir.iterdir(), reverse=True):
        if not (child / "run.json").is_file():
            continue
        try:
            meta = read_meta(child)
        except UsageError as exc:
            out.append(
                {
                    "run_id": child.name,
                    "status": f"unreadable: {exc.message}",
                    "scenario": None,
                    "started_at": None,
                    "cases": 0,
                }
            )
            continue
        scenario = meta.get("scenario", {}).get("name")
        out.append(
            {
                "run_id": child.name,
                "status": str(meta.get("status")),
                "scenario": scenario if isinstance(scenario, str) else None,
                "started_at": str(meta.get("started_at")),
                "cases": len(meta.get("cases", [])),
            }
        )
    return out


@contextlib.contextmanager
def damaged_record_is_one_line(runs: list[Run]) -> Iterator[None]:
    """A record whose values make no sense (hand-edited, damaged, hostile) ends the command with one line
    naming the runs, not a traceback (--debug shows it)."""
    import traceback

    from harness.errors import HarnessError

    try:
        yield
    except HarnessError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError) as exc:
        if "--debug" in sys.argv:
            traceback.print_exc()
        names = ", ".join(r.run_id for r in runs)
        raise UsageError(
            f"the record of {names} cannot be analysed ({type(exc).__name__}: {str(exc)[:160]}): "
            "it may be damaged, partial, edited by hand or of an older version",
            "--debug shows where; re-running the scenario gives a whole record",
        ) from None
