"""The load generator's ceiling on this machine, stored with the machine facts.

`harness calibrate` (calibrate()) runs scenarios/calibrate.py (a normal, reportable run), takes the
highest throughput among its cases (those where Locust saturated first are the ceiling;
if none did, the figure is a lower bound) and writes results/calibration.json. Every
later run copies it into run.json's machine facts when the machine still matches.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass
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
        # what the harness's users sent with: a ceiling is the client's (lean_http's is about
        # three times FastHttpSession's here); records before schema 8 sent with "locust"
        "http_client": next((c for c in run["cases"]["http_client"] if isinstance(c, str) and c), "locust"),
        "measured_at": run.meta.get("ended_at"),
        "run_id": run.run_id,
        "machine": fingerprint(run.meta.get("machine", {})),
        "cases": [
            {
                "users": int(r.users),
                "throughput_rps": float(r.throughput_rps),
                "generator_cpu_pct": None if math.isnan(r.generator_cpu_pct) else float(r.generator_cpu_pct),
                "generator_limited": bool(r.generator_limited),
            }
            for r in results.itertuples()
        ],
    }


def store(results_dir: Path, calibration: dict[str, Any]) -> Path:
    path = results_dir / CALIBRATION_FILE
    record.atomic_write_text(path, json.dumps(calibration, indent=2) + "\n")
    return path


def load_matching(results_dir: Path, machine: dict[str, Any], http_client: str = "lean") -> dict[str, Any] | None:
    """The stored calibration if it was measured on a machine like this one, with the HTTP
    client the run's Locust sends with (a calibration without one measured "locust")."""
    try:
        data = json.loads((results_dir / CALIBRATION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("machine") != fingerprint(machine):
        return None
    if data.get("http_client", "locust") != http_client:
        return None
    return data


@dataclass(frozen=True)
class Calibrated:
    exit_code: int  # the calibration run's (harness.errors)
    calibration: dict[str, Any] | None  # as stored; None: the run gave no ceiling (error says why)
    path: Path | None  # where it was stored
    error: str | None = None


def calibrate(
    results_dir: Path, quick: bool = False, processes: int | None = None, run_id: str | None = None
) -> Calibrated:
    """Run the calibrate scenario (every other `harness run` option at its default, through
    harness.run_api) and store the ceiling it finds in results_dir/calibration.json."""
    from harness import run_api, scenario as scenario_mod

    source = str(scenario_mod.available().get("calibrate") or "calibrate")
    scen = scenario_mod.load(source)
    if quick:
        scen = scen.quick_variant()
    scen = scen.with_overrides(generator_processes=processes or None)  # as --processes 0: the scenario's
    run_id = run_id or f"{_dt.datetime.now():%Y%m%d-%H%M%S}-calibrate"
    done = run_api.run(
        scen, run_api.RunOptions(results_dir=results_dir, run_id=run_id, scenario_source=source, quick=quick)
    )
    try:
        result = from_run(record.load_run(results_dir / run_id))
    except ValueError as exc:
        return Calibrated(done.exit_code, None, None, str(exc))
    return Calibrated(done.exit_code, result, store(results_dir, result))
