"""The load generator's ceiling on this machine, stored with the machine facts.

`harness calibrate` runs scenarios/calibrate.py (a normal, reportable run), takes the
highest throughput among its cases (those where Locust saturated first are the ceiling;
if none did, the figure is a lower bound) and writes results/calibration.json. Every
later run copies it into run.json's machine facts when the machine still matches.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness import analysis, record

CALIBRATION_FILE = "calibration.json"


def fingerprint(machine: dict[str, Any]) -> dict[str, Any]:
    """What must match for a calibration to apply: CPU, cores, kernel."""
    return {k: machine.get(k) for k in ("cpu_model", "logical_cores", "kernel")}


def from_run(run: record.Run) -> dict[str, Any]:
    results = analysis.case_results(run)
    if results.empty:
        raise ValueError("the calibration run has no complete case")
    best = results.loc[results["throughput_rps"].idxmax()]
    limited = results[results["generator_limited"]]
    ceiling = float(limited["throughput_rps"].max()) if not limited.empty else float(best["throughput_rps"])
    return {
        "ceiling_rps": ceiling,
        "saturated": not limited.empty,
        "route": "/hello",
        "generator_processes": int(run["cases"]["generator_processes"].iloc[0]),
        "locust": run.meta.get("versions", {}).get("locust"),
        "measured_at": run.meta.get("ended_at"),
        "run_id": run.run_id,
        "machine": fingerprint(run.meta.get("machine", {})),
        "cases": [{"users": int(r.users), "throughput_rps": float(r.throughput_rps),
                   "generator_cpu_pct": None if math.isnan(r.generator_cpu_pct) else float(r.generator_cpu_pct),
                   "generator_limited": bool(r.generator_limited)} for r in results.itertuples()],
    }


def store(results_dir: Path, calibration: dict[str, Any]) -> Path:
    path = results_dir / CALIBRATION_FILE
    record.atomic_write_text(path, json.dumps(calibration, indent=2) + "\n")
    return path


def load_matching(results_dir: Path, machine: dict[str, Any]) -> dict[str, Any] | None:
    """The stored calibration if it was measured on a machine like this one."""
    try:
        data = json.loads((results_dir / CALIBRATION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("machine") != fingerprint(machine):
        return None
    return data
