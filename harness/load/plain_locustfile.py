"""A plain Locust user with no hooks, the yardstick `harness selfcheck` measures the
harness's locustfile against: the same FastHttpUser, closed loop, no think time, the path
in PLAIN_PATH."""

import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("PLAIN_PATH", "/hello")


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self) -> None:
        self.client.get(PATH)
