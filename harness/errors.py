"""Errors a user can act on, each with its exit code.

A HarnessError is printed as one line (what is wrong, and how to fix it) without a
traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

# Exit codes of every `harness` command: one table, one meaning each (docs/cli.md lists it).
# 0-3 and 130 say whether the command could do its job; 4-7 are the regression gate's
# verdicts (`harness compare`, `harness run --against`), each its own code so that a CI
# job can tell "the code got slower" from "the measurement could not decide".
EXIT_OK = 0  # done; for the gate: every gating metric compared and unchanged or better
EXIT_FAILED = 1  # the run started but failed (a server died, Locust crashed)
EXIT_USAGE = 2  # bad input: unknown scenario/mode/route, bad numbers, broken scenario or record file
EXIT_ENVIRONMENT = 3  # the machine lacks something: node missing, port taken, folder not writable
EXIT_REGRESSION = 4  # the gate: a gating metric got worse beyond its threshold, across its whole interval
EXIT_INCONCLUSIVE = 5  # the gate: an interval crosses the threshold; more repetitions would tell
EXIT_UNTRUSTWORTHY = 6  # the gate: a run the verdict would rest on cannot be trusted (busy machine, failures ...)
EXIT_NOT_COMPARED = 7  # the gate: a condition or metric it was asked about was not measured on both sides
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; the record says `interrupted`

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (the gate: no regression, every gating metric compared)",
    EXIT_FAILED: "the run failed",
    EXIT_USAGE: "bad input",
    EXIT_ENVIRONMENT: "something is missing on this machine",
    EXIT_REGRESSION: "regression",
    EXIT_INCONCLUSIVE: "inconclusive",
    EXIT_UNTRUSTWORTHY: "the measurement is not trustworthy",
    EXIT_NOT_COMPARED: "not everything the gate needs was compared",
    EXIT_INTERRUPTED: "interrupted",
}


class HarnessError(Exception):
    """A problem the user can fix; `fix` says how."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def one_line(self) -> str:
        return f"{self.message}" + (f" ({self.fix})" if self.fix else "")

    def __str__(self) -> str:
        return self.one_line()


class UsageError(HarnessError):
    exit_code = EXIT_USAGE


class EnvironmentProblem(HarnessError):
    exit_code = EXIT_ENVIRONMENT


class RunFailed(HarnessError):
    exit_code = EXIT_FAILED


class Interrupted(BaseException):
    """Raised in the main thread on SIGTERM so that every context manager unwinds."""
