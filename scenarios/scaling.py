"""Scaling: every way of using more cores, 1 to cores workers (and one oversubscribed
point), on four kinds of work. The long one: about 35 minutes on a 2-core machine.

Run it with `harness run scaling` (or `--quick`, about 2 minutes: 2 workers each, /cpu
and /hello, one repetition).
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload, machine_cores

CORES = machine_cores()
COUNTS = list(range(1, CORES + 2))  # 1..cores, then one more than the cores: oversubscribed

SERVERS = [
    ServerSpec("single"),
    *[ServerSpec("cluster", workers=n, schedule="rr") for n in COUNTS],
    *[ServerSpec("pool", threads=n) for n in COUNTS],
    *[ServerSpec("nginx", workers=n) for n in COUNTS],
    *[ServerSpec("pm2", workers=n) for n in COUNTS],
]

SCENARIO = Scenario(
    name="scaling",
    description=f"single vs cluster vs pool vs nginx vs pm2, 1 to {CORES + 1} workers, on /cpu, /pbkdf2, /io, /hello",
    what_it_shows=(
        "Which way of using more cores pays on which kind of work. /cpu is JavaScript on the event loop (more "
        "processes or threads should scale it up to the core count); /pbkdf2 is crypto in libuv's thread pool "
        "(already parallel inside one process, up to 4 threads by default); /io waits on a 20 ms timer and "
        "needs no CPU (one process holds many waiting requests, so more workers should add nothing); /hello is "
        "trivial, so the proxy hop, the primary and the load generator weigh the most. The workers sweep of "
        "each mode marks where adding workers stops paying; the last point is oversubscribed on purpose."
    ),
    parts=[
        # 16 users: enough to keep every worker (3 here) busy on CPU work
        Part(SERVERS, [Workload("/cpu"), Workload("/pbkdf2")], [ClosedLoad(users=16)]),
        # waiting work needs many requests in flight to show anything: 64 users x 20 ms = at most 3,200 req/s
        Part(SERVERS, [Workload("/io")], [ClosedLoad(users=64)]),
        Part(SERVERS, [Workload("/hello")], [ClosedLoad(users=16)]),
    ],
    duration_s=10,
    warmup_s=4,
    repetitions=2,
    quick={
        "duration_s": 4.0,
        "warmup_s": 2.0,
        "repetitions": 1,
        "parts": [
            Part(
                [
                    ServerSpec("single"),
                    ServerSpec("cluster", workers=CORES),
                    ServerSpec("pool", threads=CORES),
                    ServerSpec("nginx", workers=CORES),
                    ServerSpec("pm2", workers=CORES),
                ],
                [Workload("/cpu"), Workload("/hello")],
                [ClosedLoad(users=16)],
            )
        ],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
