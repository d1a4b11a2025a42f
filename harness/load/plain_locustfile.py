"""A plain Locust user with no hooks, the yardstick `harness selfcheck` measures the
harness's locustfile against: closed loop, no think time, the path in PLAIN_PATH. With
PLAIN_CLIENT=lean it sends with the harness's lean_http client instead of FastHttpUser's
own, in the harness's closed loop (one task that never returns), so that the two differ only in
the hooks; without it, it is Locust's stock user: a task, then wait_time, per request."""

import os

from locust import FastHttpUser, constant, task

from harness.load import lean_http
from harness.load.closed import closed_loop

PATH = os.environ.get("PLAIN_PATH", "/hello")
LEAN = os.environ.get("PLAIN_CLIENT") == "lean"


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    def __init__(self, environment) -> None:
        super().__init__(environment)
        if LEAN:
            self.client = lean_http.LeanSession(self.host, environment.events.request, self)

    @task
    def hit(self) -> None:
        if LEAN:
            closed_loop(self, PATH, PATH, None)
        self.client.get(PATH)
