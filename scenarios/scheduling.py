"""Teaching demo: who decides which worker gets a connection? Cluster round robin vs the
kernel (SCHED_NONE) vs SO_REUSEPORT (N independent processes on one port, the kernel
hashing each connection to one of them; needs Node 22.12+, fetched from npm), and nginx
round_robin vs least_conn, with keep-alive connections and with a new connection for every
request. About 15 minutes; `--quick` (the three ways of sharing a port) about 1.5.

Run it with `harness run scheduling`, or live: `harness demo scheduling`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload

NODE = "22.12.0"  # the first 22.x with server.listen({reusePort: true}); one Node for all three
SHARED_PORT = [
    ServerSpec("cluster", workers="cores", schedule="rr", node_version=NODE),
    ServerSpec("cluster", workers="cores", schedule="none", node_version=NODE),
    ServerSpec("reuseport", workers="cores", node_version=NODE),
]
PROXY = [
    ServerSpec("nginx", workers="cores", balance="round_robin"),
    ServerSpec("nginx", workers="cores", balance="least_conn"),
]
LOADS = [ClosedLoad(users=8), ClosedLoad(users=8, keepalive=False)]

SCENARIO = Scenario(
    name="scheduling",
    description="cluster rr vs none vs reuseport, nginx round_robin vs least_conn; keep-alive vs a connection "
                "per request",
    what_it_shows=(
        "Node's cluster primary accepts every connection and hands it to the workers in turn (rr, the default "
        "except on Windows); with SCHED_NONE the workers accept on the shared socket and the kernel picks; with "
        "SO_REUSEPORT each process has its own socket on the port and the kernel hashes every new connection to "
        "one of them. The guides say round robin spreads evenly and OS scheduling does not. With keep-alive every Locust user "
        "holds one connection, so the policy places connections once; with a new connection per request it "
        "places every request, and the primary (or nginx) pays for every accept."
    ),
    parts=[Part(SHARED_PORT, [Workload("/cpu")], LOADS), Part(PROXY, [Workload("/cpu")], LOADS)],
    duration_s=15,
    warmup_s=4,
    repetitions=2,
    baseline="cluster",
    quick={"duration_s": 4.0, "warmup_s": 2.0, "repetitions": 1, "parts": [Part(SHARED_PORT, [Workload("/cpu")], LOADS)]},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
