"""Scenarios: what to run, expanded into an ordered list of cases.

A scenario file in `scenarios/` defines `SCENARIO = Scenario(...)`. It says which server
modes, which workloads (routes) and which loads to combine, how long to measure and how
many repetitions; `Scenario.cases()` expands that grid into cases, repetitions
interleaved (A B C A B C) so slow drift of a shared machine spreads over every condition
instead of landing on one.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import random
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import modes as server_modes
from harness.errors import UsageError

# What each server mode is (its label, its parameters, whether it runs one HTTP process or
# `workers` of them, whether it can run a user's app, its events) is in harness/modes/.
# An app file named like this is labelled by its folder (examples/hello-app/server.js: hello-app).
_GENERIC_APP_NAMES = ("index", "server", "app", "main")
SCHEDULES = ("rr", "none")
BALANCES = ("round_robin", "least_conn")
MAX_THREADS = 64
MAX_UV_THREADPOOL = 1024  # libuv's own upper bound
ROUTES = (
    "/hello",
    "/cpu",
    "/pbkdf2",
    "/io",
    "/json",
    "/count/memory",
    "/count/redis",
    "/move/clone",
    "/move/transfer",
    "/move/shared",
)
# The data-moving demo's routes: each hands `mb` MB to a thread of the same process by a
# structured clone, a transfer or a SharedArrayBuffer (server/move.js).
MOVE_ROUTES = ("/move/clone", "/move/transfer", "/move/shared")
# Routes that need a service beside the server; the harness starts it for every case of
# the route (and stops it with the case). /count/redis counts in Redis (redis-server).
ROUTE_SERVICES: dict[str, tuple[str, ...]] = {"/count/redis": ("redis",)}
# The shared-state demo's routes: each request adds one to a counter (in the worker's
# memory, or in Redis) that the harness reads back after the load.
COUNTING_ROUTES = ("/count/memory", "/count/redis")
# The one query parameter each route takes, and its accepted range (same as server/app.js).
ROUTE_PARAMS: dict[str, tuple[str, int, int]] = {
    "/cpu": ("work", 1, 10000),
    "/pbkdf2": ("iterations", 1, 10_000_000),
    "/io": ("ms", 0, 60000),
    "/json": ("items", 0, 100000),
    **{route: ("mb", 1, 64) for route in MOVE_ROUTES},
}
MAX_WORKERS = 64
MAX_USERS = 2000
MAX_RATE_RPS = 100_000
MAX_GENERATOR_PROCESSES = 64
USERS_PER_GENERATOR_WARN = 500
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Events a case can fire during its measurement window: harness.modes.ACTIONS says what each
# does, each mode which it supports (nginx none: its backends are not replaced when they die).
DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0  # the server's --shutdown-timeout-ms default
NODE_VERSION_RE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")  # an exact Node.js version, e.g. 22.12.0


def machine_cores() -> int:
    """Logical cores this process may run on (what `workers="cores"` resolves to)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def whole(value: Any, what: str, lo: int, hi: int) -> int:
    """value, if it is a whole number from lo to hi; else a UsageError naming `what` (a field or an option)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be a whole number, got {value!r}", f"use a value from {lo} to {hi}")
    if not lo <= value <= hi:
        raise UsageError(f"{what} is {value}, outside {lo}..{hi}", f"use a value from {lo} to {hi}")
    return value


def check_node_version(version: Any) -> str:
    """An exact Node.js version such as 22.12.0 (a range would leave the record ambiguous)."""
    if not isinstance(version, str) or not NODE_VERSION_RE.match(version):
        raise UsageError(
            f"node_version {version!r} is not a full version like 22.12.0",
            "name an exact version (`npm view node versions` lists them)",
        )
    return version


def _seconds(value: Any, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise UsageError(f"{what} must be a number of seconds, got {value!r}")
    if not lo <= value <= hi:
        raise UsageError(f"{what} is {value} s, outside {lo}..{hi} s")
    return float(value)


@dataclass(frozen=True)
class Event:
    """Something done to the server while the load runs: `action` (one of harness.modes.ACTIONS),
    `at_s` seconds after the measurement window starts. It is part of the condition (its
    label is `action@at_s`), so a case with an event is never averaged with one without."""

    action: str
    at_s: float

    def __post_init__(self) -> None:
        if self.action not in server_modes.ACTIONS:
            raise UsageError(f"unknown event action {self.action!r}", f"use one of: {', '.join(server_modes.ACTIONS)}")
        _seconds(self.at_s, f"event {self.action} at_s", 0, 3600)

    @property
    def label(self) -> str:
        return f"{self.action}@{self.at_s:g}s"


def events_label(events: tuple[Event, ...]) -> str:
    """The events of a case as text, e.g. "kill-worker@2s" ("" for none): the record's form."""
    return " ".join(e.label for e in events)


@dataclass(frozen=True)
class ServerSpec:
    """One server setup: a mode and its parameters.

    workers: server processes (cluster, nginx, pm2); an int, or "cores" for one per core.
    schedule: cluster only: "rr" (the primary hands out connections) or "none" (the kernel).
    threads: pool only: worker_threads in the pool ("cores" for one per core).
    queue_limit: pool only: tasks that may wait for a thread before requests get 503 (None: no limit).
    balance: nginx only: "round_robin" or "least_conn".
    uv_threadpool_size: any mode: UV_THREADPOOL_SIZE set in the environment before the
        process starts (None: libuv's default of 4).
    shutdown_timeout_s: how long each server process drains on SIGTERM before it
        force-exits (exit code 1); the server's own default is 5 s.
    events: what to do to the server during the measurement window (Event), e.g.
        (Event("kill-worker", 2),); each mode supports some actions only (harness.modes, Mode.events).
    node_version: any mode: run this exact Node.js version (e.g. "22.12.0"), fetched once from
        the npm registry into a cache (None: the machine's node). The reuseport mode needs 22.12+.
    app: single, cluster, nginx and pm2: run this Node server file (one that listens on the
        port in PORT) instead of the reference server, unchanged (None: the reference server).
    preload: with app only: load the harness's preload (server/preload.js, `node --require`)
        into every process that runs the app, for requests per process (x-pid), event-loop
        and CPU figures without the app's cooperation (harness.preload). False
        (`--no-preload`): the app runs exactly as given, and those figures are missing.
    target: mode "external" only: the URL of a server the harness did not start (http://HOST:PORT).
    """

    mode: str
    workers: int | str = 1
    schedule: str = "rr"
    threads: int | str = "cores"
    queue_limit: int | None = None
    balance: str = "round_robin"
    uv_threadpool_size: int | None = None
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    events: tuple[Event, ...] = ()
    node_version: str | None = None
    app: str | None = None
    target: str | None = None
    preload: bool = True

    def __post_init__(self) -> None:
        mode = server_modes.get(self.mode)  # a UsageError that lists the modes
        if self.schedule not in SCHEDULES:
            raise UsageError(f"unknown schedule {self.schedule!r}", f"use one of: {', '.join(SCHEDULES)}")
        if self.balance not in BALANCES:
            raise UsageError(f"unknown balance {self.balance!r}", f"use one of: {', '.join(BALANCES)}")
        if self.workers != "cores":
            whole(self.workers, "workers", 1, MAX_WORKERS)
        if self.threads != "cores":
            whole(self.threads, "threads", 1, MAX_THREADS)
        if self.queue_limit is not None:
            whole(self.queue_limit, "queue_limit", 0, 1_000_000)
        if self.uv_threadpool_size is not None:
            whole(self.uv_threadpool_size, "uv_threadpool_size", 1, MAX_UV_THREADPOOL)
        if self.node_version is not None:
            check_node_version(self.node_version)
        if self.app is not None:
            if not mode.runs_app:
                raise UsageError(f"mode {self.mode} cannot run your own app", f"use one of: {', '.join(app_modes())}")
            if not isinstance(self.app, str) or not Path(self.app).is_file():
                raise UsageError(
                    f"app file {self.app!r} does not exist",
                    "give the path of your server's .js file (it must listen on the port in PORT)",
                )
        if not isinstance(self.preload, bool):
            raise UsageError(f"preload of mode {self.mode} is {self.preload!r}, not True or False")
        if ("target" in mode.takes) != (self.target is not None):
            raise UsageError(
                "mode external needs target=URL, and only mode external takes a target",
                "use --target http://HOST:PORT on the command line",
            )
        if self.target is not None:
            from harness.net import parse_target

            parse_target(self.target, allow_remote=True)  # the loopback rule is checked when the run starts
        if mode.one_process and self.workers not in (1, "cores"):
            raise UsageError(
                f"mode {self.mode} runs exactly one HTTP process", "drop workers=, or use mode cluster, nginx or pm2"
            )
        _seconds(self.shutdown_timeout_s, "shutdown_timeout_s", 0, 600)
        if isinstance(self.events, list):
            object.__setattr__(self, "events", tuple(self.events))
        if not isinstance(self.events, tuple) or not all(isinstance(e, Event) for e in self.events):
            raise UsageError(f"events of mode {self.mode} must be a list of Event(action, at_s)")
        for event in self.events:
            if event.action not in mode.events:
                raise UsageError(
                    f"event {event.action} is not supported by mode {self.mode}",
                    f"modes that support it: {', '.join(server_modes.event_modes()[event.action])}",
                )
        if len({e.at_s for e in self.events}) < len(self.events):
            raise UsageError(f"two events of mode {self.mode} at the same time", "give each event its own at_s")
        last = max(self.events, key=lambda e: e.at_s, default=None)
        if any(e.action == "sigterm" for e in self.events) and last is not None and last.action != "sigterm":
            raise UsageError(
                f"event sigterm of mode {self.mode} is followed by {last.label}",
                "sigterm stops the server: make it the last event",
            )

    def resolved(self) -> ServerSpec:
        cores = machine_cores()
        workers = 1 if server_modes.get(self.mode).one_process else (cores if self.workers == "cores" else self.workers)
        return replace(self, workers=workers, threads=cores if self.threads == "cores" else self.threads)

    @property
    def label(self) -> str:
        """Short name of the setup, as reports show it (call on a resolved spec)."""
        label = server_modes.get(self.mode).label(self)
        if self.uv_threadpool_size is not None:
            label += f"-uv{self.uv_threadpool_size}"
        if self.shutdown_timeout_s != DEFAULT_SHUTDOWN_TIMEOUT_S:
            label += f"-st{self.shutdown_timeout_s:g}s"
        if self.node_version is not None:
            label += f"-node{self.node_version}"
        if self.app is not None:
            app = Path(self.app).resolve()
            label = f"{app.parent.name if app.stem in _GENERIC_APP_NAMES else app.stem}-{label}"
            if not self.preload:
                label += "-no-preload"
        return label


MAX_PROBE_RPS = 1000.0


@dataclass(frozen=True)
class Workload:
    """The route every simulated user requests, with its one parameter (None: server default).

    probe: a light route (e.g. "/hello") one extra user requests at `probe_rps` on a fixed
        schedule beside the load; its latency, measured from when each probe was due, shows
        what the load does to everybody else's requests (a blocked event loop).
    """

    route: str
    param: int | None = None
    probe: str | None = None
    probe_rps: float = 20.0

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise UsageError(f"unknown route {self.route!r}", f"use one of: {', '.join(ROUTES)}")
        if self.probe is not None and self.probe not in ROUTES:
            raise UsageError(f"unknown probe route {self.probe!r}", f"use one of: {', '.join(ROUTES)}")
        if (
            isinstance(self.probe_rps, bool)
            or not isinstance(self.probe_rps, (int, float))
            or not 0.1 <= self.probe_rps <= MAX_PROBE_RPS
        ):
            raise UsageError(f"probe_rps must be a number from 0.1 to {MAX_PROBE_RPS:g}, got {self.probe_rps!r}")
        if self.param is not None:
            if self.route not in ROUTE_PARAMS:
                raise UsageError(f"route {self.route} takes no parameter, got {self.param!r}")
            name, lo, hi = ROUTE_PARAMS[self.route]
            whole(self.param, f"{self.route} {name}", lo, hi)

    @property
    def path(self) -> str:
        if self.param is None:
            return self.route
        return f"{self.route}?{ROUTE_PARAMS[self.route][0]}={self.param}"

    @property
    def label(self) -> str:
        return self.path + (f" +probe{self.probe}" if self.probe else "")


_PATH_RE = re.compile(r"^/[\x21-\x7e]{0,2000}$")  # printable, no spaces


@dataclass(frozen=True)
class PathWorkload(Workload):
    """Any GET path, for your own app or an external target, whose routes are not the
    reference server's (`--path /users?id=3`): route is the part before '?', the name
    its statistics go under; query the rest."""

    query: str = ""

    @classmethod
    def of(cls, path: str) -> PathWorkload:
        route, _, query = path.partition("?")
        return cls(route, None, query=query)

    def __post_init__(self) -> None:
        if not isinstance(self.route, str) or not _PATH_RE.match(self.path) or self.param is not None:
            raise UsageError(
                f"path {self.path!r} is not a request path",
                "give a path that starts with / and has no spaces, e.g. --path /users?id=3",
            )

    @property
    def path(self) -> str:
        return f"{self.route}?{self.query}" if self.query else self.route


@dataclass(frozen=True)
class ClosedLoad:
    """Closed-loop load: `users` simulated users, each sending its next request as soon
    as the previous answer arrives (no think time): measures capacity."""

    users: int
    keepalive: bool = True  # False: a new connection for every request (Connection: close)

    def __post_init__(self) -> None:
        whole(self.users, "users", 1, MAX_USERS)
        if not isinstance(self.keepalive, bool):
            raise UsageError(f"keepalive must be True or False, got {self.keepalive!r}")

    kind = "closed"

    @property
    def label(self) -> str:
        return f"u{self.users}" + ("" if self.keepalive else "-close")


@dataclass(frozen=True)
class OpenLoad:
    """Open load: requests leave at `rate_rps` on a fixed schedule, whatever the answer
    times (up to `max_in_flight` at once): latency at a given load, measured from when
    each request was due, so the server's stalls cannot hide (coordinated omission)."""

    rate_rps: float
    max_in_flight: int = 1000

    def __post_init__(self) -> None:
        if (
            isinstance(self.rate_rps, bool)
            or not isinstance(self.rate_rps, (int, float))
            or not 0.1 <= self.rate_rps <= MAX_RATE_RPS
        ):
            raise UsageError(f"rate_rps must be a number from 0.1 to {MAX_RATE_RPS}, got {self.rate_rps!r}")
        whole(self.max_in_flight, "max_in_flight", 1, 10000)

    kind = "open"

    @property
    def label(self) -> str:
        return f"r{self.rate_rps:g}" + (f"-f{self.max_in_flight}" if self.max_in_flight != 1000 else "")


# The request name of a locustfile case's total: every request name of the user's file (probes
# left out) added up, bin by bin; the name Locust's own statistics give their total row.
AGGREGATE_NAME = "Aggregated"


@dataclass(frozen=True)
class LocustfileWorkload(Workload):
    """The user's own Locust users (`--locustfile FILE`): their tasks, weights, wait_time,
    request bodies and headers decide what is requested. `route` is AGGREGATE_NAME, the
    name of the case's total (the record has a row per request name besides); `path` is
    "/", requested only to check that an external target answers."""

    locustfile: str = ""  # absolute path of the user's file
    sha256: str = ""  # of the file's bytes when the run was planned

    def __post_init__(self) -> None:
        if self.route != AGGREGATE_NAME or not self.locustfile or self.param is not None or self.probe is not None:
            raise UsageError("a locustfile workload is made by LocustfileWorkload.of(path, sha256)")

    @classmethod
    def of(cls, locustfile: str, sha256: str) -> LocustfileWorkload:
        return cls(AGGREGATE_NAME, None, locustfile=locustfile, sha256=sha256)

    @property
    def path(self) -> str:
        return "/"

    @property
    def label(self) -> str:
        return f"locustfile:{Path(self.locustfile).name}"


@dataclass(frozen=True)
class LocustfileLoad:
    """The load of a user's locustfile: its users with their own wait_time (closed load
    with think time), `users` of them spawned within about a second; or, when the file
    has a LoadTestShape, the shape decides users and length: `shape` is its class name,
    `shape_s` how long it runs (found by a dry run of its tick()) and `users` the most it
    asks for at once."""

    users: int
    shape: str = ""
    shape_s: float | None = None

    def __post_init__(self) -> None:
        whole(self.users, "users", 1, MAX_USERS)
        if bool(self.shape) != (self.shape_s is not None):
            raise UsageError("a locustfile load with a shape needs its length (shape_s), and only then")
        if self.shape_s is not None:
            _seconds(self.shape_s, f"the run of LoadTestShape {self.shape}", 1, 3600)

    kind = "locustfile"
    keepalive = True  # the user's clients decide; Locust's keep connections alive

    @property
    def label(self) -> str:
        # a shape changes its users as it goes: no "uN" that would claim a fixed number
        return f"shape-{self.shape}" if self.shape else f"u{self.users}"


Load = ClosedLoad | OpenLoad | LocustfileLoad
LOAD_KINDS = (ClosedLoad, OpenLoad, LocustfileLoad)


# Seconds a case takes beyond its warm-up and measurement: starting the server and Locust,
# stopping them, and the gap to the next case. The recorded fixtures (tests/fixtures/*/cases.csv)
# show 2 to 4 s inside a case and 0.2 to 1.3 s between cases on a 2-core machine.
CASE_OVERHEAD_S = 4.0


@dataclass(frozen=True)
class Case:
    """One measured run of one condition; what the record stores for it."""

    case_id: str
    index: int
    condition: str
    repetition: int
    mode: str
    workers: int
    schedule: str
    threads: int | None
    queue_limit: int | None
    balance: str
    uv_threadpool_size: int | None
    node_version: str | None  # None: the machine's node
    app: str | None  # the user's server file (None: the reference server)
    target_url: str | None  # mode external: the server the harness did not start
    route: str
    path: str
    load: str  # closed | open
    users: int  # closed: users; open: the Locust users that share the rate (one per process)
    target_rps: float | None  # open load only
    max_in_flight: int | None  # open load only
    generator_processes: int
    warmup_s: float
    duration_s: float
    keepalive: bool = True
    probe_path: str | None = None
    probe_rps: float | None = None
    services: tuple[str, ...] = ()  # started beside the server for this case (ROUTE_SERVICES)
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    events: tuple[Event, ...] = ()
    side: str = ""  # an A/B run: "base" (the --against ref's server) or "new" (the working tree's)
    locustfile: str | None = None  # load "locustfile": the user's file (absolute path) Locust runs
    locustfile_sha256: str | None = None  # of that file when the run was planned
    shape: str = ""  # the file's LoadTestShape (class name) that decides users and length; "" for none
    preload: bool = False  # the app's processes load the harness's preload (harness.preload); never without an app

    @property
    def expected_s(self) -> float:
        """About how long the case takes, start to start of the next: warm-up, measurement and
        CASE_OVERHEAD_S to start and stop the server and Locust."""
        return self.warmup_s + self.duration_s + CASE_OVERHEAD_S

    def to_dict(self) -> dict[str, Any]:
        """The case as the record stores it; events as their label ("kill-worker@2s")."""
        return {**asdict(self), "events": events_label(self.events)}


def _as_tuple_of(owner: str, attr: str, items: Any, kind: type | tuple[type, ...]) -> tuple:
    if isinstance(items, list):
        items = tuple(items)
    if not isinstance(items, tuple) or not items or not all(isinstance(i, kind) for i in items):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{owner}: {attr} must be a non-empty list of {names}")
    return items


@dataclass(frozen=True)
class Part:
    """One grid of a scenario: every server x every workload x every load. A scenario made
    of several parts runs each part's grid, so it can pair, say, a UV_THREADPOOL_SIZE
    sweep with /pbkdf2 and a pool-size sweep with /cpu without the cross product."""

    servers: tuple[ServerSpec, ...]
    workloads: tuple[Workload, ...]
    loads: tuple[Load, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", _as_tuple_of("scenario part", "servers", self.servers, ServerSpec))
        object.__setattr__(self, "workloads", _as_tuple_of("scenario part", "workloads", self.workloads, Workload))
        object.__setattr__(self, "loads", _as_tuple_of("scenario part", "loads", self.loads, LOAD_KINDS))


# The two sides of an A/B run, in the order the first repetition runs them.
AB_SIDES = ("base", "new")


def side_of(condition: str) -> tuple[str, str | None]:
    """'single /cpu u8 [base]' -> ('single /cpu u8', 'base'); a condition of no A/B run -> (condition, None)."""
    for side in AB_SIDES:
        suffix = f" [{side}]"
        if condition.endswith(suffix):
            return condition[: -len(suffix)], side
    return condition, None


QUICK_KEYS = ("duration_s", "warmup_s", "repetitions", "users", "rate_rps", "parts")


def app_modes() -> tuple[str, ...]:
    """The modes that can run a user's own app (`app=`, `--app`)."""
    return tuple(m.name for m in server_modes.all_modes() if m.runs_app)


def _multi_process(server: ServerSpec) -> bool:
    return not server_modes.get(server.mode).one_process


def _takes(parameter: str) -> Any:
    """Whether a server's mode takes a ServerSpec parameter (e.g. threads: the pools)."""
    return lambda server: parameter in server_modes.get(server.mode).takes


def _default_server(mode: str) -> ServerSpec:
    """A mode `--modes` adds to a grid that lacks it: one worker per core (multi-process modes)."""
    return ServerSpec(mode, workers="cores") if _multi_process(ServerSpec(mode)) else ServerSpec(mode)


def _times(servers: list[ServerSpec], attr: str, values: list | None, applies: Any) -> list[ServerSpec]:
    """Each server `applies` takes once per value of `attr`; the others stay as they are."""
    if not values:
        return servers
    return [each for s in servers for each in ([replace(s, **{attr: v}) for v in values] if applies(s) else [s])]


@dataclass(frozen=True)
class Scenario:
    """What to run. Either `servers` x `workloads` x `loads` (one grid) or `parts` (several
    grids, run one after the other within each repetition)."""

    name: str
    description: str
    servers: tuple[ServerSpec, ...] = ()
    workloads: tuple[Workload, ...] = ()
    loads: tuple[Load, ...] = ()
    duration_s: float = 30.0
    warmup_s: float = 5.0
    repetitions: int = 2
    shuffle: bool = False
    seed: int = 0
    baseline: str = "single"
    generator_processes: int = 1
    what_it_shows: str = ""
    quick: dict[str, Any] = field(default_factory=lambda: {"duration_s": 8.0, "warmup_s": 2.0, "repetitions": 1})
    parts: tuple[Part, ...] = ()
    # An A/B run (`harness run --against REF`): every condition runs once per side, the two
    # side by side within each repetition ("base" first in odd repetitions, "new" first in
    # even ones, so neither side always runs on a machine the other just warmed).
    sides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise UsageError(
                f"scenario name {self.name!r} is not a short lowercase name", "use letters, digits, - and _"
            )
        if self.parts:
            if self.servers or self.workloads or self.loads:
                raise UsageError(f"scenario {self.name}: give parts, or servers + workloads + loads, not both")
            object.__setattr__(self, "parts", _as_tuple_of(f"scenario {self.name}", "parts", self.parts, Part))
        else:
            for attr, kind in (("servers", ServerSpec), ("workloads", Workload), ("loads", LOAD_KINDS)):
                object.__setattr__(self, attr, _as_tuple_of(f"scenario {self.name}", attr, getattr(self, attr), kind))
        _seconds(self.duration_s, "duration_s", 1, 3600)
        _seconds(self.warmup_s, "warmup_s", 0, 600)
        whole(self.repetitions, "repetitions", 1, 100)
        whole(self.seed, "seed", 0, 2**31)
        whole(self.generator_processes, "generator_processes", 1, MAX_GENERATOR_PROCESSES)
        if self.sides and tuple(self.sides) != AB_SIDES:
            raise UsageError(f"scenario {self.name}: sides must be {AB_SIDES} or empty")
        if not isinstance(self.quick, dict) or set(self.quick) - set(QUICK_KEYS):
            raise UsageError(f"scenario {self.name}: quick may set {', '.join(QUICK_KEYS)} only")
        if "parts" in self.quick:
            _as_tuple_of(f"scenario {self.name} (quick)", "parts", self.quick["parts"], Part)
        for server in (server for part in self.grids for server in part.servers):
            for event in server.events:
                if event.at_s >= self.duration_s:
                    raise UsageError(
                        f"scenario {self.name}: event {event.label} of {server.mode} is not inside the "
                        f"{self.duration_s:g} s measurement window",
                        "give it an at_s below duration_s (also below the quick variant's)",
                    )

    @property
    def grids(self) -> tuple[Part, ...]:
        """The scenario's grids: its parts, or the one grid of servers x workloads x loads."""
        return self.parts or (Part(self.servers, self.workloads, self.loads),)

    def with_overrides(self, **overrides: Any) -> Scenario:
        """A copy with overrides (None values are ignored); `users` replaces every load with
        a closed load of that many users (keeping each closed load's keep-alive or connection
        per request), `rate_rps` with an open load at that rate."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        users = overrides.pop("users", None)
        rate = overrides.pop("rate_rps", None)
        if users is not None and rate is not None:
            raise UsageError("give users (closed load) or a rate (open load), not both")
        if "parts" in overrides:
            overrides.update(parts=tuple(overrides["parts"]), servers=(), workloads=(), loads=())
        result = replace(self, **overrides)
        if users is None and rate is None:
            return result

        def loads(old: tuple[Load, ...]) -> tuple[Load, ...]:
            # `users` keeps each closed load's keep-alive (a part that compares keep-alive with a
            # connection per request still does); an open load becomes a closed one
            if rate is not None:
                return (OpenLoad(rate),)
            return tuple(dict.fromkeys(ClosedLoad(users, keepalive=getattr(load, "keepalive", True)) for load in old))

        if result.parts:
            return replace(result, parts=tuple(replace(p, loads=loads(p.loads)) for p in result.parts))
        return replace(result, loads=loads(result.loads))

    def with_servers(self, **changes: Any) -> Scenario:
        """A copy whose every ServerSpec has these fields changed (None values are ignored),
        e.g. node_version="22.12.0" for `--node-version`; each spec is validated again."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, servers=tuple(replace(s, **changes) for s in self.servers)) if changes else self

    def swept(
        self,
        modes: list[str] | None = None,
        workers: list[int | str] | None = None,
        threads: list[int | str] | None = None,
        uv_threadpool_sizes: list[int] | None = None,
    ) -> Scenario:
        """The command line's sweeps (`--modes`, `--workers`, `--threads`, `--uv-threadpool-size`):
        each grid's servers multiplied by the lists, so the conditions run interleaved like a
        scenario file's and form the sweeps the report marks knees on (harness.analysis.sweeps).

        modes: the servers of these modes only, in this order (a mode the grid lacks is added
        with its defaults: one worker per core, one pool thread per core); workers: every
        multi-process server (cluster, nginx, pm2, reuseport) once per value; threads: every
        pool server once per value; uv_threadpool_sizes: every server once per value."""
        if not (modes or workers or threads or uv_threadpool_sizes):
            return self
        if self.sides:
            raise UsageError("sweep options go before the A/B sides are set")

        def expand(servers: tuple[ServerSpec, ...]) -> tuple[ServerSpec, ...]:
            out = list(servers)
            if modes:
                for mode in modes:
                    if mode not in server_modes.names(selectable=True):
                        raise UsageError(
                            f"--modes: unknown server mode {mode!r}",
                            f"use some of: {', '.join(server_modes.names(selectable=True))}",
                        )
                out = [s for mode in modes for s in ([s for s in out if s.mode == mode] or [_default_server(mode)])]
            out = _times(out, "workers", workers, _multi_process)
            out = _times(out, "threads", threads, _takes("threads"))
            out = _times(
                out, "uv_threadpool_size", uv_threadpool_sizes, lambda s: server_modes.get(s.mode).starts_server
            )
            seen: dict[str, ServerSpec] = {}
            for s in out:  # the same server twice (e.g. two specs that now differ in nothing) runs once
                seen.setdefault(f"{s.resolved().label} {events_label(s.events)}", s)
            return tuple(seen.values())

        grids = self.grids
        for flag, values, takes in (("--workers", workers, _multi_process), ("--threads", threads, _takes("threads"))):
            if values and not any(takes(s) for part in grids for s in expand(part.servers)):
                what = "several processes (cluster, nginx, pm2, reuseport)" if flag == "--workers" else "a pool"
                raise UsageError(
                    f"{flag}: no server of scenario {self.name} runs {what}",
                    f"add --modes {'cluster' if flag == '--workers' else 'pool'}, or use a scenario "
                    "with such a server, e.g. modes",
                )
        if self.parts:
            return replace(self, parts=tuple(replace(p, servers=expand(p.servers)) for p in self.parts))
        return replace(self, servers=expand(self.servers))

    def quick_variant(self) -> Scenario:
        return self.with_overrides(**self.quick)

    def cases(self) -> list[Case]:
        """Every case in the order it runs: repetition by repetition, conditions interleaved."""
        conditions = [
            c
            for part in self.grids
            for c in itertools.product((s.resolved() for s in part.servers), part.workloads, part.loads)
        ]
        labels = [
            f"{server.label} {work.label} {load.label} {events_label(server.events)}"
            for server, work, load in conditions
        ]
        repeated = sorted({c for c in labels if labels.count(c) > 1})
        if repeated:
            raise UsageError(
                f"scenario {self.name}: condition {repeated[0]!r} appears twice",
                "each server x workload x load may appear in one part only",
            )
        rng = random.Random(self.seed)
        cases: list[Case] = []
        for rep in range(1, self.repetitions + 1):
            order = list(conditions)
            if self.shuffle:
                rng.shuffle(order)
            sides = self.sides if rep % 2 else tuple(reversed(self.sides))
            for (server, work, load), side in itertools.product(order, sides or ("",)):
                events = events_label(server.events)
                condition = (
                    f"{server.label} {work.label} {load.label}"
                    + (f" {events}" if events else "")
                    + (f" [{side}]" if side else "")
                )
                index = len(cases) + 1
                slug = re.sub(
                    r"[^a-z0-9]+", "-", f"{server.label}-{work.route}-{load.label}-{events}-{side}".lower()
                ).strip("-")
                cases.append(
                    Case(
                        case_id=f"{index:03d}-{slug}-r{rep}",
                        index=index,
                        condition=condition,
                        repetition=rep,
                        mode=server.mode,
                        workers=int(server.workers),
                        schedule=server.schedule if _takes("schedule")(server) else "",
                        threads=int(server.threads) if _takes("threads")(server) else None,
                        queue_limit=server.queue_limit if _takes("queue_limit")(server) else None,
                        balance=server.balance if _takes("balance")(server) else "",
                        uv_threadpool_size=server.uv_threadpool_size,
                        node_version=server.node_version,
                        app=str(Path(server.app).resolve()) if server.app else None,
                        preload=bool(server.app) and server.preload,
                        target_url=server.target,
                        route=work.route,
                        path=work.path,
                        load=load.kind,
                        users=(
                            load.users if isinstance(load, (ClosedLoad, LocustfileLoad)) else self.generator_processes
                        ),
                        target_rps=float(load.rate_rps) if isinstance(load, OpenLoad) else None,
                        max_in_flight=load.max_in_flight if isinstance(load, OpenLoad) else None,
                        generator_processes=self.generator_processes,
                        warmup_s=self.warmup_s,
                        # a shape's run after the warm-up is the measured window
                        duration_s=(
                            load.shape_s - self.warmup_s
                            if getattr(load, "shape_s", None) is not None
                            else self.duration_s
                        ),
                        keepalive=getattr(load, "keepalive", True),
                        probe_path=work.probe,
                        probe_rps=float(work.probe_rps) if work.probe else None,
                        services=ROUTE_SERVICES.get(work.route, ()),
                        shutdown_timeout_s=server.shutdown_timeout_s,
                        events=server.events,
                        side=side,
                        locustfile=getattr(work, "locustfile", None) or None,
                        locustfile_sha256=getattr(work, "sha256", None) or None,
                        shape=getattr(load, "shape", ""),
                    )
                )
        return cases

    def warnings(self) -> list[str]:
        """Values that are allowed but probably not what the user wants, with the reason."""
        out = []
        cores = machine_cores()
        for load in (load for part in self.grids for load in part.loads):
            per_process = getattr(load, "users", 0) / self.generator_processes
            if per_process > USERS_PER_GENERATOR_WARN:
                out.append(
                    f"{per_process:.0f} users per Locust process: past about {USERS_PER_GENERATOR_WARN} its own "
                    "CPU, not the server, tends to set the pace; such cases will be flagged generator-limited"
                )
        if self.generator_processes > cores:
            out.append(
                f"{self.generator_processes} Locust processes on {cores} cores: they compete with each other "
                "and with the server"
            )
        for server in (server for part in self.grids for server in part.servers):
            workers = server.resolved().workers
            if isinstance(workers, int) and workers > 4 * cores:
                out.append(
                    f"{workers} workers on {cores} cores: heavily oversubscribed; each worker gets a slice of "
                    "a core and the figures measure the scheduler as much as the server"
                )
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "what_it_shows": self.what_it_shows,
            "parts": [
                {
                    "servers": [asdict(s) for s in part.servers],
                    "workloads": [asdict(w) for w in part.workloads],
                    "loads": [{"kind": load.kind, **asdict(load)} for load in part.loads],
                }
                for part in self.grids
            ],
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "repetitions": self.repetitions,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "baseline": self.baseline,
            "generator_processes": self.generator_processes,
            "sides": list(self.sides),
        }


def scenarios_dir() -> Path:
    env = os.environ.get("HARNESS_SCENARIOS_DIR")
    if env:
        return Path(env)
    from harness import bundled  # the checkout's scenarios/, or the copies an installed harness carries

    return bundled.scenarios_dir()


def available() -> dict[str, Path]:
    """Scenario name -> file, for every scenario file in the scenarios folder."""
    folder = scenarios_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}


def load(name_or_path: str) -> Scenario:
    """Load a scenario by name (a file in scenarios/) or by path; every problem is a UsageError."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        found = available()
        if name_or_path not in found:
            names = ", ".join(found) or "none"
            raise UsageError(
                f"unknown scenario {name_or_path!r}", f"known scenarios: {names}; `harness list` describes them"
            )
        path = found[name_or_path]
    if not path.is_file():
        raise UsageError(f"scenario file {path} does not exist")
    module_name = f"_harness_scenario_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load scenario file {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UsageError(f"scenario file {path} has a syntax error at line {exc.lineno}: {exc.msg}") from exc
    except UsageError as exc:
        raise UsageError(f"scenario file {path}: {exc.message}", exc.fix) from exc
    except (Exception, SystemExit) as exc:  # a scenario file is user code: any error in it is bad input
        raise UsageError(f"scenario file {path} failed to load: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.modules.pop(module_name, None)
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise UsageError(
            f"scenario file {path} defines no SCENARIO = Scenario(...)", "see scenarios/default.py for the form"
        )
    return scenario
