"""What every teaching notebook (notebooks/*.ipynb) shares: where the recordings are, how a
figure and the harness's sentences are shown, where a run came from and how busy the machine
was, and the cell that states the notebook's conclusion.

A notebook imports these instead of defining them in a cell of its own, so a fix reaches
every notebook at once. Nothing here computes a number the harness does not already compute
(harness.analysis, harness.report.story): a notebook shows them, it never re-implements them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from harness.analysis import OTHER_CPU_WARN_PCT
from harness.evidence import MIN_REPETITIONS
from harness.record import Run, load_run
from harness.report import RunView, view

# Paths as a notebook sees them: notebooks/ is its working directory.
FIXTURES = Path("..") / "tests" / "fixtures"  # the recorded runs committed with the project
LIVE_RESULTS = Path("..") / "results"  # where the RUN_LIVE cells store their runs (git ignores it)


def setup() -> None:
    """pandas' display options every notebook uses."""
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 40)


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def markdown(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(text))


def show(fig: plt.Figure) -> None:
    """Display one of the report's figures here, then free it."""
    _display(fig)
    plt.close(fig)


def bullets(lines: list[str]) -> None:
    """Sentences computed by the harness, as a Markdown list."""
    markdown("\n".join(f"- {line}" for line in lines) if lines else "_(none)_")


def open_run(results: str | Path | None, run_id: str) -> tuple[Run, RunView]:
    """A run from `results` (None: the committed recordings) and every table the report draws from it."""
    run = load_run(Path(results or FIXTURES) / run_id)
    return run, view(run)


def run_facts(run: Run) -> str:
    """Where and how a run was recorded, from its run.json."""
    m, ver, scen = run.meta.get("machine", {}), run.meta.get("versions", {}), run.meta.get("scenario", {})
    commit = ((ver.get("git") or {}).get("commit") or "unknown")[:10]
    by_version = ver.get("node_by_case_version") or {}
    used = sorted({str(c.get("node_version") or "machine") for c in run.meta.get("cases", [])})
    if by_version and used:
        node = "Node " + ", ".join(
            f"{(by_version.get(u) or {}).get('version', u)}"
            + (" (the machine's)" if u == "machine" else " (fetched for the cases that name it)")
            for u in used
        )
    else:
        node = f"node {ver.get('node')}"
    return (
        f"Run **{run.run_id}** ({run.meta.get('status')}): scenario `{scen.get('name')}`"
        f"{' (quick variant)' if scen.get('quick') else ''}, {scen.get('repetitions')} repetition(s) of "
        f"{scen.get('duration_s')} s measured after {scen.get('warmup_s')} s of warm-up per case; "
        f"recorded {run.meta.get('started_at')} on {m.get('cpu_model')} ({m.get('logical_cores')} cores), "
        f"{node}, commit {commit}."
    )


def machine_note(v: RunView) -> str:
    """How busy the machine was while the run was recorded (the median over cases of the CPU
    that neither the server nor Locust used) and how many repetitions there were: whether the
    harness could make firm claims from it at all."""
    other = float(v.results["other_cpu_pct"].median()) if not v.results.empty else math.nan
    reps = int(v.summary["repetitions"].min()) if not v.summary.empty else 0
    parts = []
    if not math.isnan(other) and other > OTHER_CPU_WARN_PCT:
        parts.append(
            f"**This recording was made on a busy machine**: other processes used {other:.0f}% of a core "
            f"(median over cases; the harness's bound for a quiet machine is {OTHER_CPU_WARN_PCT:.0f}%). "
            "The harness therefore calls its claims inconclusive; record it again on a quiet machine."
        )
    else:
        parts.append(
            f"The machine was quiet while this was recorded (other processes: {other:.0f}% of a core, "
            "median over cases)."
        )
    if reps < MIN_REPETITIONS:
        parts.append(
            f"It has {reps} repetition(s) of some condition; an interval of the median needs at least "
            f"{MIN_REPETITIONS}, so no claim from it can be firm."
        )
    return " ".join(parts)


def conclusion(lines: list[str]) -> None:
    """The notebook's conclusion: the harness's own sentences (harness.report.story), under a
    heading the tests look for, so what a notebook concludes is computed, never typed in."""
    markdown(
        "**Conclusion (computed from this run by `harness.report.story`):**\n\n"
        + ("\n".join(f"- {line}" for line in lines) if lines else "_(nothing to conclude: no such conditions)_")
    )
