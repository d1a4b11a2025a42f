"""Named baselines for the regression gate: a complete run's record, without its raw/, report/
and per-second tables, stored as results/baselines/NAME (`harness baseline update`), for
`harness compare NAME CURRENT`. Commit the folder to share it (CI compares against it)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness import record
from harness.errors import UsageError

BASELINES_DIR = "baselines"
# what a baseline leaves out of the run's folder: the raw files, the report, half-written files
# and the per-second tables (the gate needs none of them)
LEFT_OUT = ("raw", "report", ".*.tmp", "threads.csv", "timeline.csv")


def store(run: record.Run, results_dir: Path, name: str | None = None, force: bool = False) -> tuple[str, Path]:
    """Make a complete, undamaged run the baseline NAME (default: its scenario's name), replacing
    an existing one only with force (atomically: readers see the old baseline or the new one,
    never neither); its name and folder. Every refusal is a UsageError."""
    name = record.check_run_id(name or run.meta.get("scenario", {}).get("name", "baseline"))
    if run.meta.get("status") != "complete":
        raise UsageError(f"run {run.run_id} is {run.meta.get('status')}: only a complete run can be a baseline")
    if run.problems:
        raise UsageError(f"run {run.run_id} is damaged ({run.problems[0]}): it cannot be a baseline")
    target = results_dir / BASELINES_DIR / name
    if target.exists() and not force:
        raise UsageError(f"baseline {name} exists ({target})", "add --force to replace it, or choose another --name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.new-", dir=target.parent))
    try:
        shutil.copytree(run.path, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*LEFT_OUT))
        staging.chmod(0o755)
        record.replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return name, target
