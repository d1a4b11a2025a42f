"""A plain Locust user with no hooks, the yardstick `harness selfcheck` measures the
harness's locustfile against: closed loop, no think time, the path in PLAIN_PATH. With
PLAIN_CLIENT=lean it sends with the harness's lean_http client instead of FastHttpUser's
own, in the harness's closed loop (one task that never returns), with Locust's statistics
added in batches (locust_batch.py) as the harness's users have them, so that the two differ
only in the hooks; without it, it is Locust's stock user: a task, then wait_time, per
request, and Locust's request listener logging each response."""

import os

from locust import FastHttpUser, constant, events, task

from harness.load import lean_http, locust_batch
from harness.load.closed import closed_loop

PATH = os.environ.get("PLAIN_PATH", "/hello")
LEAN = os.environ.get("PLAIN_CLIENT") == "lean"
if LEAN:
    _lean_event = locust_batch.BatchedRequestEvent(locust_batch.install(events))


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    def __init__(self, environment) -> None:
        super().__init__(environment)
        if LEAN:
            self.client = lean_http.LeanSession(self.host, _lean_event, self)

    @task
    def hit(self) -> None:
        if LEAN:
            closed_loop(self, PATH, PATH, None)
        self.client.get(PATH)
