"""The regression gate on the terminal, for `harness compare` and `harness run --against`:
its table (or JSON), its reasons and its exit code (harness.errors), and the Markdown and
JUnit files when asked."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from harness.errors import EXIT_CODES, UsageError
from harness.terminal import console, print_json

if TYPE_CHECKING:
    from harness.record import Run


@dataclass(frozen=True)
class GateOptions:
    """The gate's options as given (--threshold, --gate, --detect, --markdown, --junit, --json)."""

    thresholds: tuple[str, ...] = ()
    gate: str | None = None
    detect: float | None = None
    markdown: str | None = None
    junit: str | None = None
    json: bool = False

    def parsed(self) -> tuple[dict[str, Any], list[str]]:
        """The thresholds and the gating metrics; bad ones are bad input (a UsageError)."""
        from harness import compare

        try:
            return compare.parse_thresholds(list(self.thresholds)), compare.parse_gate(self.gate)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def gate(
    options: GateOptions, compare_ab: Run | None = None, baseline: Run | None = None, current: Run | None = None
) -> int:
    """The regression gate's table, its reasons and its exit code (harness.errors): of an A/B
    run (compare_ab), or of a baseline against a current run."""
    from harness import analysis, compare, record
    from harness.export import junit, markdown

    thresholds, gating = options.parsed()
    if compare_ab is not None:
        cmp = compare.compare_ab(compare_ab, thresholds, gate=gating)
    else:
        assert baseline is not None and current is not None
        cmp = compare.compare_runs(baseline, current, thresholds, gate=gating)
    if options.markdown:
        record.atomic_write_text(Path(options.markdown), markdown.comparison(cmp))
    if options.junit:
        record.atomic_write_text(Path(options.junit), junit.comparison(cmp))
    if options.json:  # stdout is the JSON alone; the verdict line stays on stderr
        print_json(compare.to_json(cmp))
        console.print(f"verdict: {cmp.verdict} (exit {cmp.exit_code}: {EXIT_CODES[cmp.exit_code]})")
        return cmp.exit_code
    kind = "A/B in one run, paired by repetition" if cmp.paired else "two runs, Welch"
    table = Table(
        title=f"{cmp.baseline_label} -> {cmp.current_label} ({kind}; change with its {cmp.level:.0%} interval)"
    )
    for col in ("condition", "metric", "baseline", "current", "change [interval]", "threshold", "verdict"):
        table.add_column(col)
    colors = {
        compare.REGRESSION: "red",
        compare.IMPROVEMENT: "green",
        compare.INCONCLUSIVE: "yellow",
        compare.NOT_COMPARED: "yellow",
    }
    for r in cmp.rows:
        color = colors.get(r.verdict, "") if r.gating else "dim"
        verdict = r.verdict + ("" if r.gating else " (informational)")
        table.add_row(
            r.condition,
            r.metric,
            analysis.fmt(r.baseline),
            analysis.fmt(r.current),
            r.interval_text,
            f"±{r.threshold_pct:g}%",
            f"[{color}]{verdict}[/]" if color else verdict,
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    for line in cmp.summary_lines():
        console.print(f"  {line}")
    detect = options.detect
    if detect is not None:
        for r in cmp.gating_rows:
            n = r.repetitions_to_catch(detect)
            console.print(
                f"  to catch a {detect:g}% change of {r.condition} {r.metric} 4 times in 5: "
                + (
                    f"about {n} repetitions per side at this run's spread"
                    if n
                    else "not possible with this spread and threshold (the change must exceed the "
                    f"{r.threshold_pct:g}% threshold; more than 200 repetitions would be needed otherwise)"
                    if not math.isnan(r.sd_log)
                    else f"no spread measured ({r.verdict})"
                )
            )
    console.print(f"verdict: {cmp.verdict} (exit {cmp.exit_code}: {EXIT_CODES[cmp.exit_code]})")
    return cmp.exit_code
