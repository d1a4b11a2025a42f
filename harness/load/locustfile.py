"""The locustfile the harness runs. Configured by environment variables set by runner.py:

HARNESS_PATH         request path, e.g. /cpu?work=20
HARNESS_NAME         request name in statistics (the route, e.g. /cpu)
HARNESS_WARMUP_S     seconds after all users spawned that count as warm-up
HARNESS_OUT          where the hooks' results go (JSON), written when Locust quits
HARNESS_OPEN_RPS     open load: the target request rate of each user (unset: closed load)
HARNESS_MAX_IN_FLIGHT open load: at most this many requests of one user in flight at once
HARNESS_KEEPALIVE    "0": every request on a new connection (Connection: close); else keep-alive
HARNESS_PROBE_PATH   a light route one extra user requests at HARNESS_PROBE_RPS on a fixed
                     schedule beside the load (its latency shows a blocked event loop); its
                     responses are named "probe <route>" and not counted per worker
HARNESS_WINDOW_OUT   where to write {"measure_start_ts": ...} as soon as it is known (all
                     users spawned), so the harness can time events inside the window
HARNESS_RECORD_REQUESTS  "1": keep every response (start, end, ok, worker) for the
                     `requests` table (cases with events only: it grows with the load)

Closed load: each user sends its next request as soon as the answer to the last one
arrives (no think time). Open load: each user sends on a fixed schedule (request k is due
at start + k / rate), every request on its own greenlet, whatever the server's answer
times; a request's latency runs from when it was *due*, not from when it left, so a
stalled server (or a late generator) cannot hide its stalls: coordinated omission.

With `--processes N` Locust runs a master and N workers: each worker sends what its
hooks recorded with every stats report (then starts afresh), and the master adds it up,
exactly (HDR histograms add bin by bin); only the master writes HARNESS_OUT.
"""

from __future__ import annotations

import json
import os
import time

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.load.hooks import NO_WORKER, PROBE_PREFIX, HookState, phase_of

PATH = os.environ.get("HARNESS_PATH", "/hello")
NAME = os.environ.get("HARNESS_NAME", PATH.split("?")[0])
WARMUP_S = float(os.environ.get("HARNESS_WARMUP_S", "0"))
OUT = os.environ.get("HARNESS_OUT")
OPEN_RPS = float(os.environ["HARNESS_OPEN_RPS"]) if os.environ.get("HARNESS_OPEN_RPS") else None
MAX_IN_FLIGHT = int(os.environ.get("HARNESS_MAX_IN_FLIGHT", "1000"))
KEEPALIVE = os.environ.get("HARNESS_KEEPALIVE", "1") != "0"
HEADERS = None if KEEPALIVE else {"Connection": "close"}
PROBE_PATH = os.environ.get("HARNESS_PROBE_PATH") or None
PROBE_RPS = float(os.environ.get("HARNESS_PROBE_RPS", "20"))
WINDOW_OUT = os.environ.get("HARNESS_WINDOW_OUT")
RECORD_REQUESTS = os.environ.get("HARNESS_RECORD_REQUESTS") == "1"


def _new_state() -> HookState:
    fresh = HookState()
    fresh.keep_requests = RECORD_REQUESTS
    return fresh


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


state = _new_state()
window: dict[str, float | None] = {"spawned_ts": None, "measure_start_ts": None, "measure_end_ts": None}
role = {"name": "local"}


def open_loop(user: FastHttpUser, path: str, name: str, rate_rps: float, max_in_flight: int) -> None:
    """Send on schedule forever (Locust stops the user at the end of the run): request k is
    due at start + k / rate, each on its own greenlet, at most max_in_flight at once."""
    slots = Semaphore(max_in_flight)
    interval = 1.0 / rate_rps
    start = time.time()
    k = 0
    while True:
        due = start + k * interval
        k += 1
        delay = due - time.time()
        if delay > 0:
            gevent.sleep(delay)
        phase = phase_of(due, window["measure_start_ts"], window["measure_end_ts"])
        if slots.locked():
            state.cap_waits[phase] += 1
        slots.acquire()  # at the cap the next request waits; its lateness still counts
        if not name.startswith(PROBE_PREFIX):
            state.record_send(phase, max(0.0, (time.time() - due) * 1000))
        gevent.spawn(_one, user, path, name, due, slots)


def _one(user: FastHttpUser, path: str, name: str, due: float, slots: Semaphore) -> None:
    try:
        user.client.get(path, name=name, headers=HEADERS, context={"due_ts": due})
    finally:
        slots.release()


class HarnessUser(FastHttpUser):
    wait_time = constant(0)
    # open load keeps many requests of one user in flight: one connection each
    concurrency = MAX_IN_FLIGHT if OPEN_RPS else 1

    @task
    def hit(self) -> None:
        if OPEN_RPS is None:
            self.client.get(PATH, name=NAME, headers=HEADERS)
            return
        open_loop(self, PATH, NAME, OPEN_RPS, MAX_IN_FLIGHT)


if PROBE_PATH:
    class ProbeUser(FastHttpUser):
        """Exactly one, beside the load: the light route on a fixed schedule, latency from
        the due time, so a stalled event loop cannot hide behind a waiting client."""

        fixed_count = 1
        wait_time = constant(0)
        concurrency = 100

        @task
        def probe(self) -> None:
            open_loop(self, PROBE_PATH, PROBE_PREFIX + PROBE_PATH.split("?")[0], PROBE_RPS, 100)


@events.init.add_listener
def _init(environment, **_: object) -> None:
    if isinstance(environment.runner, WorkerRunner):
        role["name"] = "worker"
    elif isinstance(environment.runner, MasterRunner):
        role["name"] = "master"


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: object) -> None:
    if window["spawned_ts"] is None:
        window["spawned_ts"] = time.time()
        window["measure_start_ts"] = window["spawned_ts"] + WARMUP_S
        if WINDOW_OUT and role["name"] != "worker":
            _write_json(WINDOW_OUT, dict(window))


@events.test_stopping.add_listener
def _stopping(**_: object) -> None:
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()


@events.request.add_listener
def _on_request(name: str, response_time: float, response, exception, context: dict | None = None,
                **_: object) -> None:
    done = time.time()
    due = (context or {}).get("due_ts")
    # open load: from when the request was due; closed load: Locust's own timing
    latency_ms = (done - due) * 1000 if due is not None else (response_time or 0.0)
    phase = phase_of(done, window["measure_start_ts"], window["measure_end_ts"])
    headers = getattr(response, "headers", None) or {}
    error = None if exception is None else f"{type(exception).__name__}: {exception}"
    state.record(phase, name, latency_ms, exception is None, headers.get("x-worker-id") or NO_WORKER,
                 headers.get("x-pid") or NO_WORKER, done, error, thread_id=headers.get("x-thread-id") or "",
                 count_worker=not name.startswith(PROBE_PREFIX))


@events.report_to_master.add_listener
def _report(client_id: str, data: dict, **_: object) -> None:
    global state
    data["harness"] = state.to_dict()
    state = _new_state()


@events.worker_report.add_listener
def _merge(client_id: str, data: dict, **_: object) -> None:
    if "harness" in data:
        state.merge(data["harness"])


@events.quitting.add_listener
def _write(environment, **_: object) -> None:
    if not OUT or role["name"] == "worker":
        return
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()
    data = {"window": window, "path": PATH, "name": NAME, "warmup_s": WARMUP_S, "open_rps": OPEN_RPS,
            "role": role["name"], **state.to_dict()}
    _write_json(OUT, data)
