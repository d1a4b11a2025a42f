"""Teaching demo: who decides which worker gets a connection? Cluster round robin vs the
kernel (SCHED_NONE) vs SO_REUSEPORT (N independent processes on one port, the kernel
hashing each connection to one of them; needs Node 22.12+, fetched from npm), and nginx
round_robin vs least_conn.

The regime was chosen by measurement on a quiet 2-core machine (docs/demos.md): 4 workers,
a light route (/hello) and 2 users that each open a new connection for every request
(Connection: close). Over users 2, 4, 8 and 16 (3 s windows, 3 repetitions a run), SCHED_NONE
was uneven at every count, most at few users: the busiest worker served 2.7 to 6.8x the least
busy one's requests at 2 users (Jain's index 0.80 to 0.91 in all 15 repetitions of 5 runs),
2.0 to 3.6x at 4 (Jain 0.88 to 0.95: one repetition of 21 came within 0.002 of the 'even'
bound), 2.1 to 2.4x at 8 (Jain up to 0.958: one run's verdict inconclusive) and 1.7x at 16
(Jain 0.96, inside the 'even' bound), while round robin dealt them out evenly (1.01 to 1.11x,
Jain 0.998 or more). Why the kernel favours a few workers is not measured here: every worker
waits on the one listening socket, whichever the scheduler runs first accepts, and with few
connections at once the same few keep winning. One user at a time is the exception: lumpier
than round robin (1.3 to 1.4x) but inside the 'even' bound. The policies converge elsewhere,
and the scenario shows that too: with keep-alive each user's connection is placed once (the
spread then follows how many connections each worker got, under either policy), and on
CPU-bound work (/cpu) the workers are busy, so whichever frees up first takes the next
connection. About 6 minutes; `--quick` (round robin vs the kernel, 2 users with a new connection per
request against 8 keep-alive users, 3 repetitions) about 1.5.

Run it with `harness run scheduling`, or live: `harness demo scheduling --list`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload

NODE = "22.12.0"  # the first 22.x with server.listen({reusePort: true}); one Node for all three
WORKERS = 4
CLUSTER = [
    ServerSpec("cluster", workers=WORKERS, schedule="rr", node_version=NODE),
    ServerSpec("cluster", workers=WORKERS, schedule="none", node_version=NODE),
]
SHARED_PORT = [*CLUSTER, ServerSpec("reuseport", workers=WORKERS, node_version=NODE)]
PROXY = [
    ServerSpec("nginx", workers=WORKERS, balance="round_robin"),
    ServerSpec("nginx", workers=WORKERS, balance="least_conn"),
]
MANY_CONNECTIONS = ClosedLoad(users=2, keepalive=False)  # where the policies differ most firmly (measured; see above)
ONE_AT_A_TIME = ClosedLoad(users=1, keepalive=False)  # one connection at a time: lumpier, not uneven
KEPT_ALIVE = ClosedLoad(users=8)  # each connection placed once: where they converge

SCENARIO = Scenario(
    name="scheduling",
    description=f"cluster rr vs none vs reuseport, nginx round_robin vs least_conn, {WORKERS} workers: a new "
    "connection per request (1 and 2 users) vs keep-alive, /hello and /cpu",
    what_it_shows=(
        "Node's cluster primary accepts every connection and hands it to the workers in turn (rr, the default "
        "except on Windows); with SCHED_NONE the workers accept on the shared socket and the kernel picks; with "
        "SO_REUSEPORT each process has its own socket on the port and the kernel hashes every new connection to "
        "one of them. The guides say round robin spreads evenly and OS scheduling does not. That shows where "
        "new connections keep arriving on a light route (2 users, a connection per request); with one "
        "connection at a time the kernel's spread is lumpier but not far from even; with keep-alive each "
        "connection is placed once, and busy workers take connections as they free up, so the policies "
        "converge there."
    ),
    parts=[
        Part(SHARED_PORT, [Workload("/hello")], [MANY_CONNECTIONS, ONE_AT_A_TIME, KEPT_ALIVE]),
        Part(CLUSTER, [Workload("/cpu")], [MANY_CONNECTIONS]),
        Part(PROXY, [Workload("/hello")], [ONE_AT_A_TIME]),
    ],
    duration_s=4,
    warmup_s=1,
    repetitions=3,
    baseline="cluster",
    quick={
        "duration_s": 3.0,
        "warmup_s": 1.0,
        "repetitions": 3,
        "parts": [Part(CLUSTER, [Workload("/hello")], [MANY_CONNECTIONS, KEPT_ALIVE])],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
