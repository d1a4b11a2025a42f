"""A plain locustfile for the example app: it runs as it is with `locust -f`, and under the
harness with `harness run app --app examples/hello-app/server.js --locustfile
examples/hello-app/locustfile.py`.

Two tasks, weighted 3:1: a GET of /hello, and a POST of a JSON body to /echo with a
header. Each user thinks 5 to 20 ms between requests (closed load with think time). The
LoadTestShape runs 2, then 4, then 2 users, 10 s each, and then ends the test; the harness
takes its first --warmup-s seconds as warm-up and measures the rest. Change STAGES for
another run (the harness reads the shape's length from its tick()).
"""

from locust import FastHttpUser, LoadTestShape, between, task

# (until second, users, spawn rate per second)
STAGES = [(10, 2, 10), (20, 4, 10), (30, 2, 10)]


class Shopper(FastHttpUser):
    wait_time = between(0.005, 0.02)

    @task(3)
    def hello(self) -> None:
        self.client.get("/hello")

    @task(1)
    def echo(self) -> None:
        with self.client.post("/echo", json={"item": 42, "note": "from the locustfile"},
                              headers={"x-client": "hello-locustfile"}, catch_response=True) as response:
            if response.status_code == 200 and response.json().get("received", {}).get("item") != 42:
                response.failure("the echo did not carry the body back")


class Ramp(LoadTestShape):
    """The users of STAGES until each stage's second, then stop."""

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        for until_s, users, rate in STAGES:
            if t < until_s:
                return users, rate
        return None
