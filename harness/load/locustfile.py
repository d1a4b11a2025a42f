"""The locustfile the harness runs. Configured by Locust options the harness passes on the
master's command line (defaults from the environment variables of the same name):

--harness-path          HARNESS_PATH           request path, e.g. /cpu?work=20
--harness-name          HARNESS_NAME           request name in statistics (the route, e.g. /cpu)
--harness-warmup-s      HARNESS_WARMUP_S       seconds after all users spawned that count as warm-up
--harness-duration-s    HARNESS_DURATION_S     the measurement window's length: the test stops that long
                                               after the warm-up (empty: Locust's --run-time ends it)
--harness-open-rps      HARNESS_OPEN_RPS       open load: the target request rate of each user (closed load: unset)
--harness-max-in-flight HARNESS_MAX_IN_FLIGHT  open load: at most this many requests of one user in flight
--harness-keepalive     HARNESS_KEEPALIVE      "0": every request on a new connection (Connection: close)
--harness-open-grace-s  HARNESS_OPEN_GRACE_S   open load: how long after the window requests due in it
                                               may still complete (default hooks.OPEN_GRACE_S)
--harness-client        HARNESS_CLIENT         "lean" (the default): the harness's users send with
                                               harness.load.lean_http (a third of FastHttpSession's
                                               CPU per request) where the host is plain http;
                                               "locust": with FastHttpUser's own client
--harness-shape         HARNESS_SHAPE          "1": a LoadTestShape of the user's locustfile drives the
                                               load; the warm-up runs from the test's start (the shape's
                                               t = 0), not from the end of spawning, which a shape
                                               that keeps changing its users never reaches once

They are Locust options, not environment variables only, because Locust's master sends its
custom options to every worker with the spawn message: a worker started on another machine
(`harness worker --master HOST:PORT`) needs nothing but the master's address.
These settings stay local to each process, as environment variables:

HARNESS_OUT          (master or local run) where the hooks' merged results go (JSON), written at quit
HARNESS_WORKER_OUT   (worker) a folder where the worker keeps worker-<client id>.json: the totals it
                     has sent to the master so far, rewritten after every report, so that what the
                     master merged can be checked against what each worker sent
HARNESS_PROBE_PATH   a light route one extra user requests at HARNESS_PROBE_RPS on a fixed
                     schedule beside the load (its latency shows a blocked event loop); its
                     responses are named "probe <route>" and not counted per worker. A user class
                     exists only if this is set when the file is imported, so probes run in the
                     harness's own Locust processes, not in workers started on other machines.
HARNESS_WINDOW_OUT   where to write {"measure_start_ts": ...} as soon as it is known (all
                     users spawned), so the harness can time events inside the window
HARNESS_RECORD_REQUESTS  "1": keep every response (start, end, ok, worker) for the
                     `requests` table (cases with events only: it grows with the load)
HARNESS_USER_LOCUSTFILE  "1": Locust loads a user's locustfile beside this one (`-f this,theirs`,
                     harness.load.user_file): HarnessUser is abstract and there is no probe user,
                     so only the user's classes run; this file only hooks. A response whose URL
                     names another host than Locust's --host (an absolute URL in a task) is
                     counted under foreign_hosts and ends the test at once: the harness loads only
                     the server under test.

Closed load: each user sends its next request as soon as the answer to the last one
arrives (no think time). Open load: each user sends on a fixed schedule (request k is due
at start + k / rate), every request on its own greenlet, whatever the server's answer
times; a request's latency runs from when it was *due*, not from when it left, so a
stalled server (or a late generator) cannot hide its stalls: coordinated omission.

Open load is accounted as wrk2 and k6 do: a request belongs to the phase of its due time,
whenever it completes. When the window ends (Locust's stop), a sender still running late
sends the requests due in the window it has not reached if a slot is free, and nothing
else (k6's graceful stop: no request waits for a slot past the window, none due after it
leaves); the process waits up to the grace (--harness-open-grace-s) for that and for the
requests due in the window still in flight; then the window closes (hooks.OPEN_GRACE_S says why that bound): the requests
due in it are counted from each schedule (hooks.count_due), those never answered are
`dropped` (never sent, e.g. no in-flight slot in time, or still in flight at the close:
k6's dropped_iterations), and a response to a request due in the window that comes later
is not counted. With Locust workers, the master sends each worker a close message at the
stop and waits (the grace, plus OPEN_CLOSE_MARGIN_S) for every worker's closed totals.

With `--processes N` Locust runs a master and N workers: each worker sends what its
hooks recorded with every stats report (then starts afresh), and the master adds it up,
exactly (HDR histograms add bin by bin); only the master writes HARNESS_OUT. Beside a
user's locustfile the master's stop sends the close message in closed load too: each worker
stops its users (each finishing its task) and sends its last totals, which the master waits
for (the stop timeout plus OPEN_CLOSE_MARGIN_S), so no response a user got is lost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.load import DEFAULT_HTTP_CLIENT, HTTP_CLIENTS, hooks, lean_http
from harness.load.closed import closed_loop
from harness.load.hooks import OPEN_CLOSE_MARGIN_S, OPEN_GRACE_S, HookState, count_due, due_ts, other_host, phase_of
from harness.load.locust_batch import BatchedRequestEvent, install
from harness.record import NO_WORKER, PROBE_PREFIX

OUT = os.environ.get("HARNESS_OUT")
WORKER_OUT = os.environ.get("HARNESS_WORKER_OUT")
PROBE_PATH = os.environ.get("HARNESS_PROBE_PATH") or None
PROBE_RPS = float(os.environ.get("HARNESS_PROBE_RPS", "20"))
WINDOW_OUT = os.environ.get("HARNESS_WINDOW_OUT")
RECORD_REQUESTS = os.environ.get("HARNESS_RECORD_REQUESTS") == "1"
USER_LOCUSTFILE = os.environ.get("HARNESS_USER_LOCUSTFILE") == "1"
FOREIGN_MESSAGE = "harness_foreign"
CLOSE_MESSAGE, CLOSED_MESSAGE = "harness_close", "harness_closed"


class Config:
    """What to send; set from Locust's parsed options at init and again at test start
    (on a worker, test start comes after the master's options arrived)."""

    path: str = "/hello"
    name: str = "/hello"
    warmup_s: float = 0.0
    duration_s: float | None = None  # the window's length: the test ends then (None: --run-time does)
    open_rps: float | None = None
    max_in_flight: int = 1000
    headers: dict[str, str] | None = None  # {"Connection": "close"}: a new connection per request
    open_grace_s: float = OPEN_GRACE_S
    shape: bool = False  # a LoadTestShape drives the load: the warm-up runs from the test's start
    client: str = DEFAULT_HTTP_CLIENT  # "lean": lean_http where it can drive the host; "locust": FastHttpSession

    @classmethod
    def update(cls, options: object) -> None:
        if options is None:
            return
        cls.path = getattr(options, "harness_path", None) or cls.path
        cls.name = getattr(options, "harness_name", None) or cls.path.split("?")[0]
        cls.warmup_s = float(getattr(options, "harness_warmup_s", None) or 0)
        duration = getattr(options, "harness_duration_s", None)
        cls.duration_s = float(duration) if duration not in (None, "") else None
        rate = getattr(options, "harness_open_rps", None)
        cls.open_rps = float(rate) if rate not in (None, "") else None
        cls.max_in_flight = int(getattr(options, "harness_max_in_flight", None) or 1000)
        keepalive = str(getattr(options, "harness_keepalive", "1") or "1") != "0"
        cls.headers = None if keepalive else {"Connection": "close"}
        grace = getattr(options, "harness_open_grace_s", None)
        cls.open_grace_s = float(grace) if grace not in (None, "") else OPEN_GRACE_S
        cls.shape = str(getattr(options, "harness_shape", "0") or "0") == "1"
        cls.client = str(getattr(options, "harness_client", None) or cls.client)
        # open load keeps many requests of one user in flight: one connection each
        HarnessUser.concurrency = cls.max_in_flight if cls.open_rps else 1


def _new_state() -> HookState:
    fresh = HookState()
    fresh.keep_requests = RECORD_REQUESTS
    return fresh


state = _new_state()
# Locust's own statistics of the lean users' responses, added in batches (locust_batch.py)
locust_stats = install(events)
# what this worker has sent to the master so far (requests and failures per phase and name)
sent_totals: dict[str, dict[str, int]] = {}
# on the master: requests received from each worker (by Locust client id), all phases
received_by_client: dict[str, int] = {}
window: dict[str, float | None] = {
    "spawned_ts": None,
    "measure_start_ts": None,
    "measure_end_ts": None,
    "closing_ts": None,
    "closed_ts": None,
}
role = {"name": "local", "client_id": ""}
# the Locust environment (set at init): its host is the server under test, its runner stops
# the test when a user's task sends elsewhere
current: dict[str, object] = {"environment": None, "base": None, "stopping_for_foreign": False}


@dataclass
class OpenLoop:
    """One open-load schedule of this process (request k due at start_ts + k * interval_s)
    and where its sender is: what closing the window needs (see _close_window)."""

    name: str
    start_ts: float
    interval_s: float
    next_due_ts: float = 0.0  # the due time of the request it is on
    blocked: bool = False  # waiting for an in-flight slot (after the window: never sends it)
    done: bool = False  # returned: sends nothing more


class OpenSchedules:
    """This process's open-load senders, and its requests due in the window still in flight."""

    def __init__(self) -> None:
        self.loops: list[OpenLoop] = []
        self.in_flight = 0  # requests due in the window, sent, not yet answered

    def settled(self, measure_end_ts: float) -> bool:
        """Nothing due in the window is in flight, and no sender will send one more: each has
        returned, waits for a slot (which, past the window, it gives back unused) or is on a
        request due after the window."""
        return self.in_flight == 0 and all(
            loop.done or loop.blocked or loop.next_due_ts >= measure_end_ts for loop in self.loops
        )


schedules = OpenSchedules()
# on the master: the Locust workers whose closed totals arrived
closed_workers: set[str] = set()


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    env = os.environ.get
    parser.add_argument(
        "--harness-path",
        default=env("HARNESS_PATH", "/hello"),
        include_in_web_ui=False,
        help="request path, e.g. /cpu?work=20",
    )
    parser.add_argument(
        "--harness-name",
        default=env("HARNESS_NAME", ""),
        include_in_web_ui=False,
        help="request name in statistics (default: the path without its query)",
    )
    parser.add_argument(
        "--harness-warmup-s",
        default=env("HARNESS_WARMUP_S", "0"),
        include_in_web_ui=False,
        help="seconds after all users spawned that count as warm-up",
    )
    parser.add_argument(
        "--harness-duration-s",
        default=env("HARNESS_DURATION_S", ""),
        include_in_web_ui=False,
        help="the measurement window's length: the test stops that long after the warm-up",
    )
    parser.add_argument(
        "--harness-open-rps",
        default=env("HARNESS_OPEN_RPS", ""),
        include_in_web_ui=False,
        help="open load: each user's request rate (empty: closed load)",
    )
    parser.add_argument(
        "--harness-max-in-flight",
        default=env("HARNESS_MAX_IN_FLIGHT", "1000"),
        include_in_web_ui=False,
        help="open load: requests of one user in flight at most",
    )
    parser.add_argument(
        "--harness-keepalive",
        default=env("HARNESS_KEEPALIVE", "1"),
        include_in_web_ui=False,
        help='"0": a new connection for every request (Connection: close)',
    )
    parser.add_argument(
        "--harness-open-grace-s",
        default=env("HARNESS_OPEN_GRACE_S", repr(OPEN_GRACE_S)),
        include_in_web_ui=False,
        help="open load: seconds after the window that requests due in it may still complete",
    )
    parser.add_argument(
        "--harness-client",
        default=env("HARNESS_CLIENT", DEFAULT_HTTP_CLIENT),
        choices=HTTP_CLIENTS,
        include_in_web_ui=False,
        help='"lean": the harness\'s own HTTP/1.1 client where the host is http; "locust": FastHttpUser\'s',
    )
    parser.add_argument(
        "--harness-shape",
        default=env("HARNESS_SHAPE", "0"),
        include_in_web_ui=False,
        help='"1": a LoadTestShape drives the load; the warm-up counts from the test\'s start',
    )


def open_loop(user: FastHttpUser, path: str, name: str, rate_rps: float, max_in_flight: int) -> None:
    """Send on schedule until the window ends: request k is due at start + k / rate, each
    on its own greenlet, at most max_in_flight at once. When the window ends, a request
    due in it that the sender has not reached yet (it runs late) still leaves if a slot is
    free; one that must wait for a slot never leaves (the close counts it dropped), nor
    does any request due after the window."""
    if window["measure_end_ts"] is not None:  # the window is over: this user sends nothing more
        gevent.sleep(1.0)
        return
    slots = Semaphore(max_in_flight)
    loop = OpenLoop(name, time.time(), 1.0 / rate_rps)
    if Config.open_rps is not None:  # a probe beside closed load keeps closed load's accounting
        schedules.loops.append(loop)
    k = 0
    try:
        while True:
            due = loop.next_due_ts = due_ts(loop.start_ts, loop.interval_s, k)
            k += 1
            delay = due - time.time()
            if delay > 0:
                gevent.sleep(delay)
            end = window["measure_end_ts"]
            if end is not None and due >= end:
                return
            phase = phase_of(due, window["measure_start_ts"], end)
            waited = slots.locked()
            if waited:
                # counted in the phase of the wait, not of the due time: a sender stuck in the
                # window on requests due before it still shows the slots were all taken then
                state.cap_waits[phase_of(time.time(), window["measure_start_ts"], end)] += 1
                if end is not None:
                    return  # past the window no request waits for a slot: dropped, never sent
            loop.blocked = True
            slots.acquire()  # at the cap the next request waits; its lateness still counts
            loop.blocked = False
            if waited and window["measure_end_ts"] is not None:  # no slot before the window ended
                slots.release()
                return
            state.record_send(phase, name, max(0.0, (time.time() - due) * 1000))
            in_window = phase == "measure" and loop in schedules.loops
            if in_window:
                schedules.in_flight += 1
            gevent.spawn(_one, user, path, name, due, slots, in_window)
    finally:
        loop.done = True


def _one(user: FastHttpUser, path: str, name: str, due: float, slots: Semaphore, in_window: bool) -> None:
    try:
        user.client.get(path, name=name, headers=Config.headers, context={"due_ts": due})
    finally:
        slots.release()
        if in_window:
            schedules.in_flight -= 1


def _close_window() -> None:
    """End this process's window (if the stop has not yet) and, in open load, wait up to
    the grace for the requests due in it still in flight; then count the requests due in
    it from every schedule. Later responses to requests due in the window are not counted:
    they were dropped. Idempotent: a second caller (a worker's own stop during the close
    the master asked for) waits for the first one's close instead of counting twice."""
    if window["closed_ts"] is not None:
        return
    if window["closing_ts"] is not None:
        while window["closed_ts"] is None:  # bounded by the first caller's grace
            gevent.sleep(0.01)
        return
    window["closing_ts"] = time.time()
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()
    end = window["measure_end_ts"]
    if schedules.loops:
        deadline = time.time() + Config.open_grace_s
        while not schedules.settled(end) and time.time() < deadline:
            gevent.sleep(0.01)
        for loop in schedules.loops:
            state.add_due(
                "measure", loop.name, count_due(loop.start_ts, loop.interval_s, window["measure_start_ts"], end)
            )
    window["closed_ts"] = time.time()


def http_client(host: str | None) -> str:
    """The client the harness's users send with: "lean" (lean_http) where the option asks for
    it and the host is one it can drive (plain http), else "locust" (FastHttpSession)."""
    return "lean" if Config.client == "lean" and lean_http.supports(host) else "locust"


def _lean_client(user: FastHttpUser) -> None:
    if http_client(user.host) == "lean":
        # responses to the hooks (_record) and to Locust's statistics in batches (locust_batch.py)
        user.client = lean_http.LeanSession(user.host, _lean_event, user, user.concurrency)


class HarnessUser(FastHttpUser):
    # beside a user's locustfile this class only serves as the hooks' home: not run
    abstract = USER_LOCUSTFILE
    wait_time = constant(0)
    concurrency = 1  # set by Config.update

    def __init__(self, environment) -> None:
        super().__init__(environment)
        _lean_client(self)

    @task
    def hit(self) -> None:
        if Config.open_rps is None:
            closed_loop(self, Config.path, Config.name, Config.headers)
        open_loop(self, Config.path, Config.name, Config.open_rps, Config.max_in_flight)


if PROBE_PATH and not USER_LOCUSTFILE:

    class ProbeUser(FastHttpUser):
        """Exactly one, beside the load: the light route on a fixed schedule, latency from
        the due time, so a stalled event loop cannot hide behind a waiting client."""

        fixed_count = 1
        wait_time = constant(0)
        concurrency = 100

        def __init__(self, environment) -> None:
            super().__init__(environment)
            _lean_client(self)

        @task
        def probe(self) -> None:
            open_loop(self, PROBE_PATH, PROBE_PREFIX + PROBE_PATH.split("?")[0], PROBE_RPS, 100)


def fresh_loop_clock() -> None:
    """Bring gevent's loop clock to now. Until the loop first runs, its clock is the time the
    hub was made (when Locust was imported); a timer started before that, as Locust's
    --run-time is, counts from that stale time and fires early by however long the imports
    and the locustfile took: 0.7 to 1 s here, 2.5 s on a loaded machine, where it left a
    2-second window empty."""
    gevent.get_hub().loop.update_now()


@events.init.add_listener
def _init(environment, **_: object) -> None:
    fresh_loop_clock()  # before Locust starts its --run-time timer (after this event)
    current["environment"] = environment
    if isinstance(environment.runner, WorkerRunner):
        role["name"] = "worker"
        role["client_id"] = environment.runner.client_id
        environment.runner.register_message(CLOSE_MESSAGE, _worker_close, concurrent=True)
    elif isinstance(environment.runner, MasterRunner):
        role["name"] = "master"
        environment.runner.register_message(CLOSED_MESSAGE, _master_closed)
        environment.runner.register_message(FOREIGN_MESSAGE, _master_foreign)
    Config.update(environment.parsed_options)


def foreign_host(url: str | None) -> str | None:
    """The host:port of a request's URL when it is not the server under test (Locust's --host),
    None when it is (or when the URL or the host is unknown). The usual case costs one
    startswith: every URL a task builds from a relative path starts with the host."""
    if not url:
        return None
    env = current["environment"]
    host = getattr(env, "host", None) if env is not None else None
    if not host:
        return None
    base = current["base"]
    if base is None or base[0] != host:
        base = current["base"] = (host, host.rstrip("/") + "/")
    if url.startswith(base[1]) or url == host:
        return None
    return other_host(url, host)


def _stop_for_foreign() -> None:
    """End the test: a task sent to another host than the server under test. A worker asks
    the master (which stops every worker); the master or a local run quits at once."""
    if current["stopping_for_foreign"]:
        return
    current["stopping_for_foreign"] = True
    env = current["environment"]
    runner = getattr(env, "runner", None)
    if runner is None:
        return
    if role["name"] == "worker":
        runner.send_message(FOREIGN_MESSAGE, None)
    else:
        gevent.spawn(runner.quit)


def _master_foreign(environment, msg, **_: object) -> None:
    if not current["stopping_for_foreign"]:
        current["stopping_for_foreign"] = True
        gevent.spawn(environment.runner.quit)


def _worker_close(environment, msg, **_: object) -> None:
    """On a Locust worker, the master's stop: close this worker's window (waiting the grace
    for its requests due in it) and send the master everything recorded so far. Beside a
    user's locustfile the worker first stops its users, each finishing the task it is in
    (Locust's stop timeout), so the totals hold every response its users got: Locust's
    master, on quit, waits only half a second for its workers' last reports."""
    if USER_LOCUSTFILE:
        environment.runner.stop()
    _close_window()
    environment.runner.send_message(CLOSED_MESSAGE, {"harness": _take_report(environment.runner.client_id)})


def _master_closed(environment, msg, **_: object) -> None:
    _merge(msg.node_id, msg.data)
    closed_workers.add(msg.node_id)


@events.test_start.add_listener
def _test_start(environment, **_: object) -> None:
    Config.update(environment.parsed_options)
    if Config.shape and window["spawned_ts"] is None:  # a shape's warm-up runs from its t = 0
        _start_window()


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: object) -> None:
    if window["spawned_ts"] is None and not Config.shape:
        _start_window()


def _start_window() -> None:
    """Warm-up from now; the window starts warmup_s later (and is written for the harness) and,
    with a duration (not with a shape, which decides the length itself), ends duration_s after
    that: the test stops then, as Locust's --run-time would stop it (which stays, later, as a
    backstop). Counted from here, the window is as long as asked however long Locust took to
    start and spawn its users."""
    if window["spawned_ts"] is None:
        window["spawned_ts"] = time.time()
        window["measure_start_ts"] = window["spawned_ts"] + Config.warmup_s
        if WINDOW_OUT and role["name"] != "worker":
            _write_json(WINDOW_OUT, dict(window))
        if Config.duration_s is not None and not Config.shape and role["name"] != "worker":
            gevent.spawn_later(Config.warmup_s + Config.duration_s, _end_of_window)


def _end_of_window() -> None:
    """The window has lasted duration_s: stop the test (headless: quit, as --run-time does)."""
    env = current["environment"]
    runner = getattr(env, "runner", None)
    if runner is not None and window["measure_end_ts"] is None:
        logging.getLogger("harness").info("the measurement window has lasted --harness-duration-s, stopping")
        runner.quit()


@events.test_stopping.add_listener
def _stopping(environment, **_: object) -> None:
    """The end of the window. Locally (or on a worker quitting without the master's close
    message) close it here, before Locust stops the users; on the master, have every
    worker close its own and wait for their totals."""
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()
    if role["name"] != "master":
        _close_window()
        return
    runner = environment.runner
    expected = {client.id for client in runner.clients.all}
    # open load: each worker closes its window; a user's locustfile: each stops its users first
    if (Config.open_rps is None and not USER_LOCUSTFILE) or not expected or window["closed_ts"] is not None:
        window["closed_ts"] = window["closed_ts"] or time.time()
        return
    runner.send_message(CLOSE_MESSAGE, None)
    wait_s = Config.open_grace_s if Config.open_rps is not None else float(environment.stop_timeout or 0)
    deadline = time.time() + wait_s + OPEN_CLOSE_MARGIN_S
    while not expected <= closed_workers and time.time() < deadline:
        gevent.sleep(0.05)
    window["closed_ts"] = time.time()
    window["workers_closed"] = len(expected & closed_workers)
    window["workers_expected"] = len(expected)


_dict_get = dict.get
_time = time.time
try:  # Locust's FastHttpUser answers with geventhttpclient's Headers: read below without its accessors
    from geventhttpclient.header import Headers as _Headers
except ImportError:  # pragma: no cover - a Locust without geventhttpclient
    _Headers = None


def _header(headers, key: str) -> str | None:
    """A response header by its lower-case name. geventhttpclient's Headers is a dict of
    lower-case name -> (name, value), read here directly: its own get() costs several
    Python calls, on every response."""
    value = _dict_get(headers, key) if isinstance(headers, dict) else headers.get(key)
    if value is None or value.__class__ is str:
        return value
    if value.__class__ is tuple and len(value) == 2:
        return value[1]
    value = headers.get(key)  # several lines of one field: the Headers' own accessor gives a list
    if isinstance(value, list):  # the first line names the process (an app and a proxy may both set one)
        return value[0] if value else None
    return value


@events.request.add_listener
def _on_request(
    name: str,
    response_time: float,
    response,
    exception,
    context: dict | None = None,
    url: str | None = None,
    **_: object,
) -> None:
    """Every response of a user that fires Locust's request event (FastHttpSession's, a
    user's locustfile's): recorded by the hooks; Locust's own listener logs its statistics."""
    _record(_time(), name, response_time, response, exception, context, url)


def _record(
    done: float, name: str, response_time: float, response, exception, context: dict | None, url: str | None
) -> None:
    """Every response, on Locust's hot path: its phase, its worker headers, and three numbers
    onto the state's queue (its code, latency and time: HookState.record's, added up in
    HookState.flush). Written out inline (phase_of's rule, the worker headers read from
    lean_http's dict or straight from geventhttpclient's Headers, and for a success
    HookState.record's body) because every Python call here is paid on every response."""
    if USER_LOCUSTFILE:
        elsewhere = foreign_host(url)
        if elsewhere is not None:
            state.foreign_hosts[elsewhere] += 1
            _stop_for_foreign()
    m_start, m_end = window["measure_start_ts"], window["measure_end_ts"]
    # phase_of(done, m_start, m_end): the phase of the completion time
    if m_start is None or done < m_start:
        done_phase = "warmup"
    elif m_end is not None and done >= m_end:
        done_phase = "after"
    else:
        done_phase = "measure"
    due = context.get("due_ts") if context else None
    if due is None:  # closed load: Locust's own timing
        latency_ms = response_time or 0.0
        phase, due_phase_ts = done_phase, None
    else:  # open load (and a probe): from when the request was due
        latency_ms = (done - due) * 1000
        if Config.open_rps is None:  # a probe beside closed load is accounted as closed load is
            phase, due_phase_ts = done_phase, None
        else:
            phase, due_phase_ts = phase_of(due, m_start, m_end), due
            if phase == "measure" and window["closed_ts"] is not None:
                return  # due in the window, answered after it closed: already counted as dropped
    headers = getattr(response, "headers", None)
    if headers is None:
        worker_id = pid = NO_WORKER
        thread_id = ""
    elif headers.__class__ is dict:  # lean_http's: lower-case name -> the first line's value
        worker_id = _dict_get(headers, "x-worker-id") or NO_WORKER
        pid = _dict_get(headers, "x-pid") or NO_WORKER
        thread_id = _dict_get(headers, "x-thread-id") or ""
    else:
        if headers.__class__ is _Headers:  # lower-case name -> (name, value), or a list of them
            w, p, t = _dict_get(headers, "x-worker-id"), _dict_get(headers, "x-pid"), _dict_get(headers, "x-thread-id")
            plain = w.__class__ is tuple and p.__class__ is tuple and (t is None or t.__class__ is tuple)
        else:
            plain = False
        if plain:
            worker_id, pid, thread_id = w[1] or NO_WORKER, p[1] or NO_WORKER, "" if t is None else t[1] or ""
        else:
            worker_id = _header(headers, "x-worker-id") or NO_WORKER
            pid = _header(headers, "x-pid") or NO_WORKER
            thread_id = _header(headers, "x-thread-id") or ""
    st = state
    if exception is None:
        # HookState.record(phase, name, latency_ms, True, worker_id, pid, done, None, thread_id,
        #                  not a probe, due_phase_ts, done_phase), written out (a success is in
        #                  the latency histogram whatever its due time)
        code = st._ok_codes.get((phase, name, worker_id, pid, thread_id, done_phase))
        if code is None:
            code = st.ok_code(phase, name, worker_id, pid, thread_id, done_phase)
        pending = st._pending
        pending.extend((code, latency_ms, done))
        if st.keep_requests:
            st.requests_log.append([done - latency_ms / 1000, done, True, worker_id, pid, ""])
        if len(pending) >= 3 * hooks.FLUSH_EVERY:
            st.flush()
    else:
        st.record(
            phase,
            name,
            latency_ms,
            False,
            worker_id,
            pid,
            done,
            f"{type(exception).__name__}: {exception}",
            thread_id,
            not name.startswith(PROBE_PREFIX),
            due_phase_ts,
            done_phase,
        )


_lean_event = BatchedRequestEvent(locust_stats, _record)


@events.report_to_master.add_listener
def _report(client_id: str, data: dict, **_: object) -> None:
    data["harness"] = _take_report(client_id)


def _take_report(client_id: str) -> dict:
    """On a worker: what was recorded since the last report (then start afresh), with the
    running totals sent so far kept in HARNESS_WORKER_OUT."""
    global state
    report = state.to_dict()
    state = _new_state()
    for e in report["endpoints"]:
        totals = sent_totals.setdefault(f"{e['phase']} {e['name']}", {"requests": 0, "failures": 0})
        totals["requests"] += e["requests"]
        totals["failures"] += e["failures"]
    if WORKER_OUT:
        _write_json(
            os.path.join(WORKER_OUT, f"worker-{client_id}.json"),
            {"client_id": client_id, "pid": os.getpid(), "sent": sent_totals},
        )
    return report


@events.worker_report.add_listener
def _merge(client_id: str, data: dict, **_: object) -> None:
    if "harness" in data:
        state.merge(data["harness"])
        received = sum(e["requests"] for e in data["harness"].get("endpoints", []))
        received_by_client[client_id] = received_by_client.get(client_id, 0) + received


def _write_json(path: str, data: dict) -> None:
    """Write atomically: a reader sees the old file or the new one, never half."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


@events.quitting.add_listener
def _write(environment, **_: object) -> None:
    if not OUT or role["name"] == "worker":
        return
    if window["measure_end_ts"] is None:
        window["measure_end_ts"] = time.time()
    data = {
        "window": window,
        "path": Config.path,
        "name": Config.name,
        "warmup_s": Config.warmup_s,
        "open_rps": Config.open_rps,
        "role": role["name"],
        "http_client": "user" if USER_LOCUSTFILE else http_client(getattr(environment, "host", None)),
        "received_by_client": received_by_client,
        **state.to_dict(),
    }
    _write_json(OUT, data)
