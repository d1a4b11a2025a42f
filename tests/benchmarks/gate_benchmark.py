"""How good is the CI gate on this machine? False alarms and catches of `make ci-bench`.

A benchmark, not a test (pytest does not collect it): it takes about an hour on a 2-core
machine, and its figures are the machine's. `make bench-gate` runs it; docs/regression-gate.md ("The CI
gate") holds its last table.

It clones the committed HEAD into a private temporary folder and makes one more commit
there with the reference server's /cpu made 20 % more expensive (STEPS_PER_UNIT x 1.2).
Then, alternating so that both series meet the same drift of a shared machine:
- unchanged: `harness run ci --against HEAD` on the clean clone: both sides run the same
  code, so any non-zero exit is a false alarm (4 a false regression; 5, 6, 7 a gate that
  could not decide);
- slower: the clone at the slower commit, `--against` the original: the new side is 20 %
  more expensive on /cpu, so exit 4 (regression) is a catch and anything else a miss.
Each run uses `make ci-bench`'s settings (the ci scenario, its defaults) and is timed.

    .venv/bin/python tests/benchmarks/gate_benchmark.py [--runs 10] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from harness import compare, record  # noqa: E402
from harness.errors import EXIT_CODES  # noqa: E402

COST_FACTOR = 1.2
GIT_ID = ["-c", "user.name=gate-benchmark", "-c", "user.email=gate-benchmark@localhost"]


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def prepare(tmp: Path) -> tuple[Path, str, str]:
    """The clone, its original commit and the commit whose /cpu costs COST_FACTOR times more."""
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    (clone / "server" / "node_modules").symlink_to(REPO / "server" / "node_modules", target_is_directory=True)
    original = git(clone, "rev-parse", "HEAD")
    app = clone / "server" / "app.js"
    text = app.read_text()
    old = "const STEPS_PER_UNIT = 50000;"
    if old not in text:
        raise SystemExit(f"server/app.js no longer says {old!r}: update the benchmark's slower variant")
    app.write_text(text.replace(old, f"const STEPS_PER_UNIT = {round(50000 * COST_FACTOR)};"))
    git(clone, "commit", "-q", "-am", f"gate benchmark: /cpu {COST_FACTOR:g}x as expensive")
    slower = git(clone, "rev-parse", "HEAD")
    git(clone, "checkout", "-q", original)
    return clone, original, slower


def one_run(clone: Path, results: Path, run_id: str, against: str, quick: bool) -> dict:
    started = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "--results",
            str(results),
            "run",
            "ci",
            "--against",
            against,
            "--run-id",
            run_id,
            "--no-report",
            *(["--quick"] if quick else []),
        ],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    wall_s = time.monotonic() - started
    row = {"run_id": run_id, "exit": out.returncode, "wall_s": wall_s, "rows": {}, "doubts": []}
    path = results / run_id
    if (path / "run.json").is_file():
        cmp = compare.compare_ab(record.load_run(path))
        row["rows"] = {(r.condition, r.metric): r for r in cmp.gating_rows}
        row["doubts"] = cmp.untrustworthy
    else:
        row["doubts"] = [(out.stderr.strip().splitlines() or ["no output"])[-1]]
    return row


def cell(r: dict, condition_prefix: str, metric: str) -> str:
    found = [v for (c, m), v in r["rows"].items() if c.startswith(condition_prefix) and m == metric]
    return f"{found[0].interval_text} {found[0].verdict}" if found else "–"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="A/B runs of each kind (default 10)")
    parser.add_argument("--quick", action="store_true", help="the ci scenario's quick variant (a trial)")
    parser.add_argument("--out", default=str(REPO / "results" / "gate-benchmark.md"), help="the table's file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    runs: list[tuple[str, dict]] = []
    try:
        clone, original, slower = prepare(tmp)
        print(f"clone {clone} at {original[:10]}; slower commit {slower[:10]} (/cpu x{COST_FACTOR:g})", flush=True)
        for i in range(1, args.runs + 1):
            for kind in ("unchanged", "slower"):
                git(clone, "checkout", "-q", original if kind == "unchanged" else slower)
                r = one_run(
                    clone, tmp / "results", f"{kind}-{i}", "HEAD" if kind == "unchanged" else original, args.quick
                )
                runs.append((kind, r))
                print(
                    f"{kind:9} {i:2}: exit {r['exit']} ({EXIT_CODES.get(r['exit'], '?')}), {r['wall_s']:.0f} s; "
                    f"single {cell(r, 'single', 'throughput')}; cluster {cell(r, 'cluster', 'throughput')}"
                    + (f"; doubts: {'; '.join(r['doubts'])}" if r["doubts"] else ""),
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = table(runs, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    print(f"written to {args.out}")
    return 0


def table(runs: list[tuple[str, dict]], args: argparse.Namespace) -> str:
    unchanged = [r for k, r in runs if k == "unchanged"]
    slower = [r for k, r in runs if k == "slower"]
    walls = [r["wall_s"] for _, r in runs]
    lines = [
        f"Gate benchmark: `harness run ci{' --quick' if args.quick else ''} --against REF` (= make ci-bench), "
        f"{len(unchanged)} runs of unchanged code and {len(slower)} with /cpu {COST_FACTOR:g}x as expensive on "
        "the new side, alternating.",
        "",
        f"- false alarms (unchanged code, exit not 0): **{sum(r['exit'] != 0 for r in unchanged)} of "
        f"{len(unchanged)}** (false regressions, exit 4: {sum(r['exit'] == 4 for r in unchanged)})",
        f"- caught (slower code, exit 4): **{sum(r['exit'] == 4 for r in slower)} of {len(slower)}**",
        f"- wall time per run: median {statistics.median(walls) / 60:.1f} min, max {max(walls) / 60:.1f} min"
        if walls
        else "- no run",
        "",
        "| run | exit | single throughput | cluster throughput | cluster speedup | wall |",
        "|---|---:|---|---|---|---:|",
    ]
    for _kind, r in runs:
        lines.append(
            f"| {r['run_id']} | {r['exit']} | {cell(r, 'single', 'throughput')} | "
            f"{cell(r, 'cluster', 'throughput')} | {cell(r, 'cluster', 'speedup')} | "
            f"{r['wall_s']:.0f} s |"
        )
    doubts = [(r["run_id"], d) for _, r in runs for d in r["doubts"]]
    if doubts:
        lines += ["", "Runs the gate called untrustworthy, and why:", ""] + [f"- {rid}: {d}" for rid, d in doubts]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
