"""What a server mode is: one class that knows everything about itself.

Every other part of the harness asks the mode instead of comparing its name: the scenario
(its label, which ServerSpec parameters it takes, whether it runs one HTTP process or
`workers` of them, whether it can run a user's app, which events it supports), the analysis
(what runs a route's work in parallel: processes or a pool's threads), the report (its
colour, what its parallel units are called) and the run (its Server class, the Node versions
it needs). Adding a mode is one module in this package that defines `MODE`, plus the
JavaScript of the server when it needs a new `index.js --mode` (server/modes.json lists
those, and both sides read that file).

This module imports nothing heavy: the scenario imports it at load time.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

# The ServerSpec parameters a mode may take besides the common ones (uv_threadpool_size,
# shutdown_timeout_s, events, node_version, app, preload): the case records each only for the
# modes that take it (an empty schedule, no threads ...).
PARAMETERS = ("workers", "schedule", "threads", "queue_limit", "balance", "target")
# What the harness can do to a server while the load runs (scenario.Event, harness.events):
# kill-worker: SIGKILL one worker process (the cluster primary or PM2 forks a new one);
# reload / restart: `pm2 reload` (rolling) / `pm2 restart` (all at once); sigterm: SIGTERM to
# the server's top process (drain, then exit; forced after the shutdown timeout). Each mode
# lists the ones it supports (Mode.events).
ACTIONS = ("kill-worker", "reload", "restart", "sigterm")


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class Mode:
    """A server mode. Subclasses set the class attributes; instances are stateless.

    name: as scenarios, the CLI (`--modes`) and the record spell it.
    order: its place in every list of modes (help texts, `harness doctor`, error messages).
    takes: which of PARAMETERS it uses ("workers": it runs that many HTTP processes; a mode
        without it runs exactly one).
    runs_app: whether it can run a user's own server file (`app=`, `--app`).
    events: the event actions (scenario.Event) it supports during the load.
    thread_routes: the reference server's routes whose work this mode runs on worker threads.
    colors: its colour in every figure, by color_key (a mode whose variants get their own
        colours, like cluster's two schedules, lists one per key).
    selectable: whether `--modes` may name it (external needs a target instead).
    starts_server: whether the harness starts (and stops) a server for it.
    places_connections: whether it places connections, not requests, on its processes (with
        keep-alive a spread of requests then follows how a handful of connections fell).
    picks_per_request: whether it picks a process for every request (a proxy).
    unit_noun: what its parallel units are called in sentences.
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 100
    takes: ClassVar[tuple[str, ...]] = ()
    runs_app: ClassVar[bool] = False
    events: ClassVar[tuple[str, ...]] = ()
    thread_routes: ClassVar[tuple[str, ...]] = ()
    colors: ClassVar[dict[str, str]] = {}
    selectable: ClassVar[bool] = True
    starts_server: ClassVar[bool] = True
    places_connections: ClassVar[bool] = False
    picks_per_request: ClassVar[bool] = False

    @property
    def one_process(self) -> bool:
        """One HTTP process (workers must be 1), e.g. single or a pool."""
        return "workers" not in self.takes

    @property
    def unit_noun(self) -> str:
        return "pool threads" if self.thread_routes else "workers"

    def label(self, spec: Any) -> str:
        """The mode's part of a resolved ServerSpec's label (scenario.ServerSpec.label adds
        what every mode shares: UV_THREADPOOL_SIZE, shutdown timeout, Node version, app)."""
        return f"{self.name}-{spec.workers}w" if "workers" in self.takes else self.name

    def color_key(self, schedule: Any = None) -> str:
        """The key of this mode's colour in `colors` (a variant such as cluster-rr, or the name)."""
        return self.name

    def runs_on_threads(self, route: Any) -> bool:
        """Does this mode run this route's work on its worker threads?"""
        return route in self.thread_routes

    def parallel_units(self, workers: Any, threads: Any, route: Any = "/cpu") -> int:
        """What runs the route's work in parallel: a pool's threads for a route the mode sends
        to them, otherwise its HTTP processes (1 for a one-process mode)."""
        t = _number(threads)
        if self.runs_on_threads(route) and not math.isnan(t):
            return int(t)
        w = _number(workers)
        return 1 if math.isnan(w) else int(w)

    def node_problem(self, version: str) -> str | None:
        """Why this Node version cannot run the mode, or None."""
        return None

    def server_class(self) -> type:
        """The harness.servers.base.Server subclass that starts it (imported when asked:
        the servers import the scenario, which imports the modes)."""
        raise NotImplementedError(f"mode {self.name} has no server class")
