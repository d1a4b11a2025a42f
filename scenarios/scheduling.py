"""Teaching demo: who decides which worker gets a connection? Cluster round robin vs the
kernel (SCHED_NONE) vs SO_REUSEPORT (N independent processes on one port, the kernel
hashing each connection to one of them; needs Node 22.12+, fetched from npm), and nginx
round_robin vs least_conn.

The regime was chosen by measurement on a 2-core machine (docs/demos.md): 4 workers, a light
route (/hello) and a new connection for every request (Connection: close), with one user.
There the workers are idle, waiting in accept(), whenever a connection arrives, and under
SCHED_NONE the kernel hands most connections to the same few; round robin deals them out
in turn. The same policies converge elsewhere, and the scenario shows that too: with
keep-alive each user's connection is placed once (8 users, 4 workers: 2 each either way),
and on CPU-bound work (/cpu) the workers are busy, so whichever is free next calls accept()
and the kernel's choice evens out. About 6 minutes; `--quick` (round robin vs the kernel,
one user with a new connection per request against 8 keep-alive users, 3 repetitions) about 1.5.

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
IDLE_WORKERS = ClosedLoad(users=1, keepalive=False)  # where the policies differ
KEPT_ALIVE = ClosedLoad(users=8)  # each connection placed once: where they converge
MANY_CONNECTIONS = ClosedLoad(users=8, keepalive=False)

SCENARIO = Scenario(
    name="scheduling",
    description=f"cluster rr vs none vs reuseport, nginx round_robin vs least_conn, {WORKERS} workers: a new "
                "connection per request (1 and 8 users) vs keep-alive, /hello and /cpu",
    what_it_shows=(
        "Node's cluster primary accepts every connection and hands it to the workers in turn (rr, the default "
        "except on Windows); with SCHED_NONE the workers accept on the shared socket and the kernel picks; with "
        "SO_REUSEPORT each process has its own socket on the port and the kernel hashes every new connection to "
        "one of them. The guides say round robin spreads evenly and OS scheduling does not. That shows where "
        "idle workers wait in accept() for new connections (a light route, a connection per request); with "
        "keep-alive each connection is placed once, and busy workers take connections as they free up, so "
        "the policies converge there."
    ),
    parts=[
        Part(SHARED_PORT, [Workload("/hello")], [IDLE_WORKERS, MANY_CONNECTIONS, KEPT_ALIVE]),
        Part(CLUSTER, [Workload("/cpu")], [MANY_CONNECTIONS]),
        Part(PROXY, [Workload("/hello")], [IDLE_WORKERS]),
    ],
    duration_s=4,
    warmup_s=1,
    repetitions=3,
    baseline="cluster",
    quick={"duration_s": 3.0, "warmup_s": 1.0, "repetitions": 3,
           "parts": [Part(CLUSTER, [Workload("/hello")], [IDLE_WORKERS, KEPT_ALIVE])]},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
