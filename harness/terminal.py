"""The harness's terminal: its console on stderr (one-line errors, notes, warnings), JSON on
stdout for --json, and the progress bars of a run (RichProgress)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from harness.scenario import Case

# soft_wrap: an error stays one line, whatever the terminal's width
console = Console(stderr=True, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """A note on the terminal (what the harness does on its own, e.g. fetching a Node version)."""
    console.print(f"[yellow]note:[/] {message}")


def print_json(data: object) -> None:
    """--json: one JSON document on stdout (NaN as null, so that any JSON reader takes it)."""
    sys.stdout.write(json.dumps(data, indent=1, allow_nan=False, default=str) + "\n")


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class RichProgress:
    """Progress on the terminal: one bar for the run, one for the running case, each with its
    phase (starting, warm-up, measuring, stopping) and the time left, from the cases'
    expected durations (Case.expected_s) and a clock (injectable for tests)."""

    def __init__(
        self, plan: Sequence[float] | None = None, clock: Callable[[], float] | None = None, out: Console | None = None
    ) -> None:
        import time

        self.clock = clock or time.monotonic
        self.plan = list(plan) if plan is not None else None
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=out or console,
            transient=False,
        )
        self.overall = None
        self.current = None
        self.number = 0
        self.total = 0
        self.expected_s = 0.0
        self.case: Case | None = None
        self.case_start = 0.0
        self.load_start: float | None = None
        self.stopping = False

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    # --- what is shown: pure functions of the state and the clock ----------------------
    def phase(self) -> str:
        if self.case is None:
            return "waiting"
        if self.stopping:
            return "stopping"
        if self.load_start is None:
            return "starting"
        return "warm-up" if self.clock() - self.load_start < self.case.warmup_s else "measuring"

    def case_left_s(self) -> float:
        if self.case is None:
            return 0.0
        if self.load_start is not None and not self.stopping:  # the load's own schedule, plus the stop
            return max(0.0, self.case.warmup_s + self.case.duration_s - (self.clock() - self.load_start)) + 2.0
        return max(0.0, self.expected_s - (self.clock() - self.case_start))

    def run_left_s(self) -> float:
        later = (
            sum(self.plan[self.number :])
            if self.plan is not None and len(self.plan) == self.total
            else (self.total - self.number) * self.expected_s
        )
        return self.case_left_s() + later

    def status(self) -> str:
        return f"{self.phase():<9}  case {_clock(self.case_left_s())} left  run {_clock(self.run_left_s())} left"

    # --- the run's callbacks (harness.run.Progress) ----------------------------------------
    def case_started(self, case: Case, number: int, total: int, expected_s: float) -> None:
        self.case, self.number, self.total, self.expected_s = case, number, total, expected_s
        self.case_start, self.load_start, self.stopping = self.clock(), None, False
        if self.overall is None:
            self.overall = self.progress.add_task("cases", total=total, status="")
        if self.current is not None:
            self.progress.remove_task(self.current)
        self.current = self.progress.add_task(f"  {case.case_id} (s)", total=int(expected_s), status=self.status())
        self._refresh()

    def case_phase(self, phase: str) -> None:
        if phase == "load":
            self.load_start = self.clock()
        elif phase == "stopping":
            self.stopping = True
        elif phase == "starting":
            self.load_start, self.stopping = None, False
        self._refresh()

    def case_tick(self, elapsed_s: float) -> None:
        self._refresh()

    def _refresh(self) -> None:
        if self.current is not None:
            done = min(self.clock() - self.case_start, self.expected_s)
            self.progress.update(self.current, completed=int(done), status=self.status())

    def case_finished(self, case: Case, summary: str) -> None:
        self.progress.console.print(f"  {case.case_id}: {summary}")
        if self.current is not None:
            self.progress.remove_task(self.current)
            self.current = None
        if self.overall is not None:
            self.progress.advance(self.overall)
        self.case = None
