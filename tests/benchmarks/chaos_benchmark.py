"""Does everything the harness starts die with it? A chaos benchmark of containment.

A benchmark, not a test (pytest does not collect it): `make bench-chaos` runs it, and
docs/containment.md holds its last table. Each trial starts `harness run` on a small scenario
of one mode (single, cluster, pool, nginx, pm2, reuseport, the shared-state demo with Redis,
two Locust processes), hits the harness with a random signal (INT, TERM, HUP or KILL) at a
random moment of the run, and then checks, without starting another harness:

- within 5 s of the harness's end, nothing it started is alive: no process carrying the
  trial's marker in its environment, or its results folder in its command line or working
  folder (nginx and Redis rewrite their environment), no cgroup or private temporary folder
  of that harness left;
- the record reads as complete, interrupted or failed (never `running`), and its tables
  agree with run.json: every case run.json lists has its row in cases.csv, and the reader's
  view holds exactly run.json's cases.

    .venv/bin/python tests/benchmarks/chaos_benchmark.py [--trials 30] [--seed 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from harness import record  # noqa: E402

MARKER = "HARNESS_CHAOS_TRIAL"
SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "HUP": signal.SIGHUP, "KILL": signal.SIGKILL}
SETTLE_S = 5.0
# mode -> (servers, workloads, extra command-line options)
MODES: dict[str, tuple[str, str, list[str]]] = {
    "single": ('ServerSpec("single")', 'Workload("/cpu"), Workload("/hello")', []),
    "cluster": ('ServerSpec("cluster", workers=2)', 'Workload("/cpu"), Workload("/hello")', []),
    "pool": ('ServerSpec("pool", threads=2)', 'Workload("/cpu"), Workload("/hello")', []),
    "nginx": ('ServerSpec("nginx", workers=2)', 'Workload("/cpu"), Workload("/hello")', []),
    "pm2": ('ServerSpec("pm2", workers=2)', 'Workload("/cpu"), Workload("/hello")', []),
    "reuseport": ('ServerSpec("reuseport", workers=2, node_version="22.12.0")', 'Workload("/hello")', []),
    "redis": ('ServerSpec("cluster", workers=2)', 'Workload("/count/redis")', []),
    "processes-2": ('ServerSpec("single")', 'Workload("/hello"), Workload("/cpu")', ["--processes", "2"]),
}
SCENARIO = """
from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload
SCENARIO = Scenario(name="chaos", description="chaos trial", servers=[{servers}], workloads=[{workloads}],
                    loads=[ClosedLoad(4)], duration_s=2, warmup_s=1, repetitions=1)
"""


def ours(proc: psutil.Process, token: str, folder: str) -> bool:
    """Whether a live process was started by this trial's harness, at any depth."""
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if proc.environ().get(MARKER) == token:
            return True
        if folder in " ".join(proc.cmdline()) or proc.cwd().startswith(folder):
            return True
        parent = proc.parent()
        return bool(parent and proc.name() == "nginx" and folder in " ".join(parent.cmdline()))
    except (psutil.Error, OSError):
        return False


def leftovers(token: str, folder: str, harness_pid: int) -> list[str]:
    found = []
    for proc in psutil.process_iter():
        if proc.pid in (os.getpid(), harness_pid):
            continue
        if ours(proc, token, folder):
            try:
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:80]}")
            except psutil.Error:
                pass
    cgroups = Path("/sys/fs/cgroup/unified")
    found += [f"cgroup {c}" for c in cgroups.glob(f"**/harness-{harness_pid}-*")] if cgroups.is_dir() else []
    return found


def check_record(results: Path) -> str | None:
    """None when the record is whole, else what is wrong."""
    runs = [p for p in results.iterdir() if (p / "run.json").is_file()] if results.is_dir() else []
    if not runs:
        return None  # killed before the record was started: nothing half-written
    run_dir = runs[0]
    meta = json.loads((run_dir / "run.json").read_text())
    if meta.get("status") not in ("complete", "interrupted", "failed"):
        return f"run.json says {meta.get('status')}"
    listed = [c["case_id"] for c in meta["cases"]]
    rows = set((run_dir / "cases.csv").read_text().split("\n", 1)[1].split()) if listed else set()
    in_csv = {line.split(",", 1)[0] for line in rows}
    if not set(listed) <= in_csv:
        return f"cases.csv lacks {sorted(set(listed) - in_csv)}"
    run = record.load_run(run_dir)
    if list(run["cases"]["case_id"]) != listed or run.problems:
        return f"the reader's cases {list(run['cases']['case_id'])} differ from run.json's {listed} {run.problems}"
    if list(run_dir.glob(".*.tmp")):
        return "a temporary file was left in the run folder"
    return None


def trial(number: int, mode: str, sig_name: str, at_s: float, base: Path) -> dict:
    servers, workloads, extra = MODES[mode]
    folder = base / f"trial-{number:02d}-{mode}-{sig_name}"
    folder.mkdir(parents=True)
    (folder / "scenario.py").write_text(SCENARIO.format(servers=servers, workloads=workloads))
    token = f"{os.getpid()}-{number}-{time.time_ns()}"
    # the trial's own temporary folder (short: PM2's socket paths live there), so that another
    # harness on the machine cannot be mistaken for this one
    tmp = base / f"t{number}"
    tmp.mkdir()
    env = dict(os.environ, **{MARKER: token, "TMPDIR": str(tmp)})
    harness = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "--results",
            str(folder / "results"),
            "run",
            str(folder / "scenario.py"),
            "--run-id",
            "r",
            "--no-report",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "stderr", "w"),
        start_new_session=True,
    )
    time.sleep(at_s)
    seen = len(leftovers(token, str(folder), harness.pid))  # what the detector sees alive: it can see a leak
    ran_to_end = harness.poll() is not None
    if not ran_to_end:
        os.kill(harness.pid, SIGNALS[sig_name])
    signalled = time.monotonic()
    try:
        code = harness.wait(timeout=60)
    except subprocess.TimeoutExpired:
        harness.kill()
        code = harness.wait()
    ended = time.monotonic()
    left: list[str] = []
    while time.monotonic() < ended + SETTLE_S:
        left = leftovers(token, str(folder), harness.pid)
        if not left:
            break
        time.sleep(0.1)
    new_temps = sorted(p.name for p in tmp.iterdir() if p.name.startswith(("hpm2-", "harness-ab-", "harness-demo-")))
    problem = check_record(folder / "results")
    for line in left:  # clean up for the next trial (a failure is recorded, not left running)
        try:
            psutil.Process(int(line.split()[0])).kill()
        except (psutil.Error, ValueError):
            pass
    return {
        "trial": number,
        "mode": mode,
        "signal": sig_name,
        "at_s": round(at_s, 2),
        "ran_to_end": ran_to_end,
        "alive_at_signal": seen,
        "exit": code,
        "stop_s": round(ended - signalled, 2),
        "settle_s": round(time.monotonic() - ended, 2) if not left else None,
        "left": left + [f"temp {t}" for t in new_temps],
        "record": problem,
        "ok": not left and not new_temps and problem is None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of: " + ", ".join(MODES))
    parser.add_argument("--out", type=Path, help="also write the trials as JSON here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    modes = args.modes.split(",")
    base = Path(tempfile.mkdtemp(prefix="chaos-"))
    rows = []
    for number in range(1, args.trials + 1):
        mode = modes[(number - 1) % len(modes)]
        sig_name = list(SIGNALS)[rng.randrange(len(SIGNALS))]
        at_s = rng.uniform(0.3, 14.0)  # from the start-up checks to the second case's stop
        row = trial(number, mode, sig_name, at_s, base)
        rows.append(row)
        print(
            f"{number:2d} {mode:12s} {sig_name:4s} at {at_s:5.2f}s ({row['alive_at_signal']:2d} alive) "
            f"exit {row['exit']!s:4s} "
            f"stopped in {row['stop_s']:5.2f}s {'ok' if row['ok'] else 'FAIL'} "
            f"{row['left'] or ''} {row['record'] or ''}",
            flush=True,
        )
    good = sum(r["ok"] for r in rows)
    print(
        f"\n{good} of {len(rows)} trials clean (nothing left within {SETTLE_S:g} s, records whole); "
        f"{sum(r['ran_to_end'] for r in rows)} ran to the end before the signal; results in {base}"
    )
    print(
        "\n| mode | trials | INT | TERM | HUP | KILL | clean | processes alive at the signal (max) | slowest stop (s) |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        if mine:
            count = {s: sum(r["signal"] == s and not r["ran_to_end"] for r in mine) for s in SIGNALS}
            print(
                f"| {mode} | {len(mine)} | {count['INT']} | {count['TERM']} | {count['HUP']} | {count['KILL']} | "
                f"{sum(r['ok'] for r in mine)} | {max(r['alive_at_signal'] for r in mine)} | "
                f"{max(r['stop_s'] for r in mine):.1f} |"
            )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0 if good == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
