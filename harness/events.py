"""Fire a case's events (kill a worker, reload, restart, SIGTERM) while Locust runs.

The events are timed from the start of the measurement window, which only Locust knows
(all users spawned plus the warm-up): a background thread waits until Locust has written
it (a readiness check), then until each event's time (a timer), and calls the server's
action. Each event becomes one row of the `events` table: when it was fired, what it
did (the pid killed, the pids before and after) and when the server said it was done
(the replacement ready, the reload finished, the server exited).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.scenario import Case, Event
from harness.servers.base import Server

# How long an action may take before its row says it did not finish (the case goes on).
ACTION_TIMEOUT_S = 60.0
# How long the measurement window may take to start before the events are given up.
WINDOW_START_TIMEOUT_S = 120.0


def _pids(pids: list[int] | None) -> str:
    return " ".join(map(str, pids or []))


class EventRunner:
    """Runs `case.events` against `server` in a thread; rows() after join() gives the rows
    of the `events` table. A HarnessError of an action is recorded in its row (`outcome`),
    not raised: what the server did is the measurement. Anything else is re-raised by join()."""

    def __init__(
        self,
        case: Case,
        server: Server,
        window_start: Callable[[], float | None],
        load_running: Callable[[], bool],
        started_ts: float,
    ) -> None:
        self.case = case
        self.server = server
        self.window_start = window_start
        self.load_running = load_running
        self.started_ts = started_ts  # the case's start: elapsed_s counts from it
        self._rows: list[dict[str, Any]] = []
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-events", daemon=True)

    def start(self) -> None:
        if self.case.events:
            self._thread.start()

    def cancel(self) -> None:
        """Fire nothing more (the load stopped early)."""
        self._cancel.set()

    def join(self, timeout_s: float = ACTION_TIMEOUT_S + 30) -> list[dict[str, Any]]:
        """Wait for the thread; the event rows. Re-raises an unexpected error of the thread."""
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout_s)
        if self._error is not None:
            raise self._error
        return list(self._rows)

    def _wait_window_start(self) -> float | None:
        deadline = time.monotonic() + WINDOW_START_TIMEOUT_S
        while not self._cancel.is_set() and time.monotonic() < deadline:
            start = self.window_start()
            if start is not None:
                return start
            if not self.load_running():
                return None
            self._cancel.wait(0.05)
        return None

    def _run(self) -> None:
        try:
            start = self._wait_window_start()
            for event in sorted(self.case.events, key=lambda e: e.at_s):
                if start is None or self._cancel.is_set():
                    self._rows.append(
                        self._row(
                            event,
                            None,
                            {},
                            "skipped: the measurement window did not start (Locust stopped before the warm-up ended)",
                        )
                    )
                    continue
                delay = start + event.at_s - time.time()
                if delay > 0 and self._cancel.wait(delay):  # a timer to the scheduled time, not a readiness guess
                    self._rows.append(self._row(event, None, {}, "skipped: the load stopped first"))
                    continue
                self._rows.append(self._fire(event))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by join()
            self._error = exc

    def _fire(self, event: Event) -> dict[str, Any]:
        fired = time.time()
        try:
            if event.action == "kill-worker":
                result = self.server.kill_worker(ACTION_TIMEOUT_S)
            elif event.action in ("reload", "restart"):
                before = self.server.worker_pids()
                in_flight = self.server.in_flight_by_pid()
                getattr(self.server, event.action)(ACTION_TIMEOUT_S)
                result = {
                    "pids_before": before,
                    "pids_after": self.server.worker_pids(),
                    "done_ts": time.time(),
                    "server_in_flight": sum(in_flight.values()) if in_flight else None,
                }
            elif event.action == "sigterm":
                result = self.server.sigterm(self.case.shutdown_timeout_s + 10)
            else:  # pragma: no cover - Event validates the action
                raise AssertionError(event.action)
        except HarnessError as exc:
            return self._row(event, fired, {}, f"failed: {exc.one_line()}")
        outcome = "done"
        if event.action == "sigterm" and result.get("exit_code") is None:
            outcome = "failed: the server had not exited 10 s after its shutdown timeout"
        return self._row(event, fired, result, outcome)

    def _row(self, event: Event, fired: float | None, result: dict[str, Any], outcome: str) -> dict[str, Any]:
        done = result.get("done_ts")
        return {
            "case_id": self.case.case_id,
            "action": event.action,
            "at_s": event.at_s,
            "ts": fired,
            "elapsed_s": None if fired is None else fired - self.started_ts,
            "pid": result.get("pid"),
            "server_in_flight": result.get("server_in_flight"),
            "pids_before": _pids(result.get("pids_before")),
            "pids_after": _pids(result.get("pids_after")),
            "done_ts": done,
            "done_s": None if done is None or fired is None else done - fired,
            "exit_code": result.get("exit_code"),
            "shutdown_timeout_s": self.case.shutdown_timeout_s,
            "outcome": outcome,
        }
