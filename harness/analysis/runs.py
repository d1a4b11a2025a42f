"""Several runs side by side (harness report with more than one run): a label per run that
says what differs between them, and each condition's figures beside the first run's.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def run_labels(metas: list[dict[str, Any]]) -> list[str]:
    """A short label per run that tells them apart: the run id plus what differs between
    them (commit, Node version, machine), so a side-by-side figure says what is compared."""

    def facts(m: dict[str, Any]) -> dict[str, str]:
        v, mach = m.get("versions", {}), m.get("machine", {})
        return {
            "commit": ((v.get("git") or {}).get("commit") or "?")[:7],
            "node": str(v.get("node")),
            "host": str(mach.get("hostname")),
            "cpu": str(mach.get("cpu_model")),
        }

    all_facts = [facts(m) for m in metas]
    differing = [k for k in ("commit", "node", "host", "cpu") if len({f[k] for f in all_facts}) > 1]
    labels = []
    for m, f in zip(metas, all_facts):
        extra = ", ".join(f"{k} {f[k]}" for k in differing if k != "cpu")
        labels.append(f"{m.get('run_id')}" + (f" ({extra})" if extra else ""))
    return labels


def side_by_side(summaries: list[pd.DataFrame], labels: list[str]) -> pd.DataFrame:
    """Conditions found in more than one run, each run's median throughput and p99 beside
    the first run's (ratio = this run / first run holding the condition). Ratios across
    runs are NOT measured side by side: the machine may have changed between them."""
    rows = []
    frames = [s.assign(run=label) for s, label in zip(summaries, labels)]
    both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if both.empty:
        return pd.DataFrame(
            columns=[
                "condition",
                "run",
                "throughput_median_rps",
                "throughput_ratio",
                "latency_p99_ms",
                "latency_p99_ratio",
                "generator_limited",
            ]
        )
    for condition, g in both.groupby("condition", sort=False):
        if g["run"].nunique() < 2:
            continue
        ref = g.iloc[0]
        for r in g.itertuples(index=False):
            rows.append(
                {
                    "condition": condition,
                    "run": r.run,
                    "throughput_median_rps": r.throughput_median_rps,
                    "throughput_ratio": r.throughput_median_rps / ref["throughput_median_rps"]
                    if ref["throughput_median_rps"] > 0
                    else math.nan,
                    "latency_p99_ms": r.latency_p99_ms,
                    "latency_p99_ratio": r.latency_p99_ms / ref["latency_p99_ms"]
                    if ref["latency_p99_ms"] > 0
                    else math.nan,
                    "generator_limited": r.generator_limited,
                }
            )
    return pd.DataFrame(rows)
