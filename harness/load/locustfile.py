"""The locustfile the harness runs. Configured by environment variables set by runner.py:

HARNESS_PATH       request path, e.g. /cpu?work=20
HARNESS_NAME       request name in statistics (the route, e.g. /cpu)
HARNESS_WARMUP_S   seconds after all users spawned that count as warm-up
HARNESS_OUT        where to write the hooks' results (JSON) when Locust quits

Users are closed-loop: no think time, the next request leaves when the answer arrives.
"""

from __future__ import annotations

import json
import os
import time

from locust import FastHttpUser, constant, events, task

from harness.load.hooks import NO_WORKER, HookState, phase_of

PATH = os.environ.get("HARNESS_PATH", "/hello")
NAME = os.environ.get("HARNESS_NAME", PATH.split("?")[0])
WARMUP_S = float(os.environ.get("HARNESS_WARMUP_S", "0"))
OUT = os.environ.get("HARNESS_OUT")

state = HookState()
window: dict[str, float | None] = {"spawned_ts": None, "measure_start_ts": None, "measure_end_ts": None}


class HarnessUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self) -> None:
        self.client.get(PATH, name=NAME)


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: object) -> None:
    if window["spawned_ts"] is None:
        window["spawned_ts"] = time.time()
        window["measure_start_ts"] = window["spawned_ts"] + WARMUP_S


@events.test_stopping.add_listener
def _stopping(**_: object) -> None:
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()


@events.request.add_listener
def _on_request(name: str, response_time: float, response, exception, start_time: float | None = None,
                **_: object) -> None:
    done = time.time()
    phase = phase_of(done, window["measure_start_ts"], window["measure_end_ts"])
    headers = getattr(response, "headers", None) or {}
    worker_id = headers.get("x-worker-id") or NO_WORKER
    pid = headers.get("x-pid") or NO_WORKER
    error = None if exception is None else f"{type(exception).__name__}: {exception}"
    state.record(phase, name, response_time or 0.0, exception is None, worker_id, pid, done, error,
                 thread_id=headers.get("x-thread-id") or "")


@events.quitting.add_listener
def _write(environment, **_: object) -> None:
    if not OUT:
        return
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()
    data = {"window": window, "path": PATH, "name": NAME, "warmup_s": WARMUP_S, **state.to_dict()}
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, OUT)
