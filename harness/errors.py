"""Errors a user can act on, each with its exit code.

A HarnessError is printed as one line (what is wrong, and how to fix it) without a
traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

# Exit codes of the `harness` command (documented in README.md).
EXIT_OK = 0
EXIT_FAILED = 1  # the run started but failed (a server died, Locust crashed)
EXIT_USAGE = 2  # bad input: unknown scenario/mode/route, bad numbers, broken scenario file
EXIT_ENVIRONMENT = 3  # the machine lacks something: node missing, port taken, folder not writable
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; the record says `interrupted`


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
