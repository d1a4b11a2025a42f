"""The sentences about sweeps: per sweep, its medians and ranges, where the knee is and
what p99 did past it, against the usual advice (sweep_findings), and why a knee is not
firm (knee_doubts). The numbers are harness.analysis.sweeps'.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness import evidence
from harness.analysis.sweeps import KNEE_FRACTION, SWEEP_LABELS, knee_problems, median_iv


def knee_doubts(points: pd.DataFrame, knee_pos: int, doubts: list[str]) -> list[str]:
    """Why the knee candidate at position `knee_pos` of one sweep's points (sorted by value)
    is not firm, in words; [] when it is. Firm: no `doubts` (evidence.claim_doubts), and the
    intervals of the medians show the gain up to it is real (the previous point's interval
    wholly below the knee's) and the gain beyond it is not (the knee's interval overlaps the
    best's): see analysis.sweeps.knee_problems."""
    if doubts:
        return doubts
    problems = knee_problems(points, knee_pos)
    if problems == ["no-intervals"]:
        return [
            f"the intervals of the medians are missing (fewer than {evidence.MIN_REPETITIONS} repetitions of "
            "some point): more repetitions would settle it"
        ]
    knee, before = points.iloc[knee_pos], points.iloc[knee_pos - 1] if knee_pos > 0 else None
    best = points.loc[points["throughput_median_rps"].idxmax()]
    words = {
        "rose-beyond": lambda: (
            f"the interval of the median at {_named(knee)} lies below the best's at "
            f"{_named(best)}: throughput still rose beyond it"
        ),
        "gain-in-noise": lambda: (
            f"the interval of the median at {_named(before)} overlaps that at {_named(knee)}: "
            "the gain up to it is within the noise; more repetitions would settle it"
        ),
    }
    return [words[p]() for p in problems]


def _named(point: Any) -> str:
    low, high = median_iv(point)
    return f"{point['value']:g} ({low:,.0f}..{high:,.0f} req/s)"


def sweep_findings(points: pd.DataFrame, cores: int | None) -> list[str]:
    """One sentence or two per sweep, from its numbers: the medians and ranges, where the
    knee is and what p99 did past it, and whether that matches the usual advice (a
    CPU-bound pool or cluster stops paying at the number of cores). The knee and the advice
    are named only when the knee is firm (`knee_firm`, see knee_doubts); otherwise the
    sentence says it could not be placed firmly, and why."""
    out = []
    for name, g in points.groupby("sweep", sort=False):
        parameter = g["parameter"].iloc[0]
        label = SWEEP_LABELS[parameter]
        knee_pos = int(g["knee"].to_numpy().argmax())
        knee = g.iloc[knee_pos]
        best = g.loc[g["throughput_median_rps"].idxmax()]
        last = g.iloc[-1]
        values = ", ".join(
            f"{v:g}: {t:,.0f} ({lo:,.0f}..{hi:,.0f})"
            for v, t, lo, hi in zip(
                g["value"], g["throughput_median_rps"], g["throughput_min_rps"], g["throughput_max_rps"]
            )
        )
        text = f"{name}: median req/s by {label} (min..max over repetitions): {values}."
        still_rising = knee["value"] == last["value"] and len(g) > 1
        doubts = (
            str(g["doubts"].iloc[0]).split("; ") if isinstance(g["doubts"].iloc[0], str) and g["doubts"].iloc[0] else []
        )
        reasons = knee_doubts(g, knee_pos, doubts)
        cpu_advice = bool(cores) and str(knee["route"]) in ("/cpu",) and parameter in ("threads", "workers")
        if reasons:
            what = (
                "Whether throughput was still rising at the largest value tried"
                if still_rising
                else f"The knee (the {1 - KNEE_FRACTION:.0%} rule's candidate: {knee['value']:g})"
            )
            text += f" {what} could not be placed firmly ({evidence.inconclusive(reasons)})."
            if cpu_advice:
                text += (
                    f" So this sweep says nothing either way about the usual advice for CPU-bound work "
                    f"(the knee at the number of cores, {cores})."
                )
        elif still_rising:
            text += (
                f" Throughput was still rising at the largest value tried ({last['value']:g}; the last step's "
                "intervals of the median separate): no knee in this range."
            )
        else:
            gain = (
                "the smallest value tried; no larger one gained beyond the noise"
                if knee_pos == 0
                else "the gain up to it is beyond the noise, the gain after it is not"
            )
            text += (
                f" The knee is at {knee['value']:g} ({knee['throughput_median_rps']:,.0f} req/s, within "
                f"{1 - KNEE_FRACTION:.0%} of the best, {best['throughput_median_rps']:,.0f} at {best['value']:g}; "
                f"{gain}); beyond it p99 went from "
                f"{knee['latency_p99_ms']:.1f} ms to {last['latency_p99_ms']:.1f} ms at {last['value']:g}."
            )
        if cpu_advice and not reasons:
            if knee["value"] == cores and not still_rising:
                text += f" As the usual advice says for CPU-bound work, it sits at the number of cores ({cores})."
            elif still_rising and last["value"] > cores:
                text += (
                    f" The usual advice puts the knee at the number of cores ({cores}) for CPU-bound work; here "
                    "throughput still rose past it, which contradicts that advice on this machine."
                )
            elif not still_rising:
                text += (
                    f" The usual advice puts it at the number of cores ({cores}) for CPU-bound work; here it "
                    f"is at {knee['value']:g}, which contradicts that advice on this machine (the load "
                    "generator shares the cores; see where the CPU went)."
                )
        if g["generator_limited"].any():
            text += " Some points were generator-limited: their throughput is a floor."
        out.append(text)
    return out
