"""Resilience: what clients see when a worker dies, during a rolling reload or a hard
restart, and when the whole server gets SIGTERM, under steady load.

Run it with `harness run resilience` (about 2 minutes) or `harness run resilience --quick`.

Every condition fires one event (harness.scenario.Event) a few seconds into the
measurement window; the record keeps every response (the `requests` table), so the
report can say which requests were in flight at the event and what became of them:

- cluster and pm2, kill-worker: SIGKILL one of the two workers. Failed requests, the
  time until the replacement listens (server side) and until it first answers a client.
- pm2 reload (rolling) vs pm2 restart (all at once): failed requests and the longest
  stretch without a successful response during each.
- cluster, sigterm: SIGTERM to the primary with the default 5 s shutdown timeout (in
  flight requests should drain, exit code 0), and with a 0.1 s timeout, shorter than a
  request (the workers must force-exit at the timeout, exit code 1, and the requests in
  flight fail).

The route is /io?ms=200, an async wait standing in for a database call: each request
stays in flight long enough (200 ms) that there is always something in flight to kill
or drain, and it costs almost no CPU, so on a 2-core machine shared with the load
generator the events, not CPU contention, decide what happens.
"""

from harness.scenario import ClosedLoad, Event, Part, Scenario, ServerSpec, Workload

AT_S = 2.0  # seconds into the measurement window (inside the quick variant's too)

SCENARIO = Scenario(
    name="resilience",
    description="kill a worker, pm2 reload vs restart, SIGTERM drain and forced exit, under steady load on /io",
    what_it_shows=(
        "Which requests fail when a cluster or PM2 worker is killed and how long until a replacement serves; "
        "whether PM2's rolling reload is really zero-downtime next to a hard restart; whether SIGTERM drains the "
        "requests in flight and the force-exit timeout is honoured. Each event is fired a few seconds into the "
        "window; every response is recorded, so the figures count exactly what was in flight at the event."
    ),
    servers=[
        ServerSpec("cluster", workers=2, events=[Event("kill-worker", AT_S)]),
        ServerSpec("pm2", workers=2, events=[Event("kill-worker", AT_S)]),
        ServerSpec("pm2", workers=2, events=[Event("reload", AT_S)]),
        ServerSpec("pm2", workers=2, events=[Event("restart", AT_S)]),
        ServerSpec("cluster", workers=2, events=[Event("sigterm", AT_S)]),
        ServerSpec("cluster", workers=2, shutdown_timeout_s=0.1, events=[Event("sigterm", AT_S)]),
    ],
    workloads=[Workload("/io", 200)],
    # 16 users at 200 ms each: about 80 req/s with 16 requests always in flight (8 per worker)
    loads=[ClosedLoad(users=16)],
    duration_s=8,
    warmup_s=2,
    repetitions=2,
    # 6 s: a pm2 restart takes up to about 4 s after the event on a busy 2-core machine (the
    # pm2 command itself needs 1 to 2 s to start)
    # the kill and reload vs restart (not the SIGTERM pair), 3 repetitions: about 2 minutes
    quick={
        "duration_s": 6,
        "warmup_s": 1,
        "repetitions": 3,
        "parts": [
            Part(
                [
                    ServerSpec("cluster", workers=2, events=[Event("kill-worker", AT_S)]),
                    ServerSpec("pm2", workers=2, events=[Event("reload", AT_S)]),
                    ServerSpec("pm2", workers=2, events=[Event("restart", AT_S)]),
                ],
                [Workload("/io", 200)],
                [ClosedLoad(users=16)],
            )
        ],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
