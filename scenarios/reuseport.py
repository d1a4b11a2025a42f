"""Three ways N processes share one port, side by side, on Node 22.12 (fetched from npm).

cluster rr: the primary accepts every connection and deals them out in turn over IPC.
cluster none: every worker accepts from the one shared listening socket; whichever the
kernel wakes first wins (often unevenly: the busiest worker may keep winning).
reuseport: N independent processes each own a listening socket on the same port
(SO_REUSEPORT); the kernel puts each new connection in one of their queues by a hash of
its addresses and ports, so the spread follows the connections, not the load.

Locust's users keep their connections open (keep-alive), so with few users the spread
over workers is decided once per connection: watch the requests-per-worker figure and
Jain's fairness index beside the throughput.
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

NODE = "22.12.0"  # the first 22.x with server.listen({reusePort: true})

SCENARIO = Scenario(
    name="reuseport",
    description="cluster rr vs cluster none vs SO_REUSEPORT, 2 workers each, on Node 22.12 (/cpu, 8 users)",
    what_it_shows="how the way processes share a port (primary hands out, shared accept queue, kernel hash per "
    "connection) changes throughput, latency and the spread of requests over workers",
    servers=[
        ServerSpec("cluster", workers="cores", schedule="rr", node_version=NODE),
        ServerSpec("cluster", workers="cores", schedule="none", node_version=NODE),
        ServerSpec("reuseport", workers="cores", node_version=NODE),
    ],
    workloads=[Workload("/cpu")],
    loads=[ClosedLoad(users=8)],
    duration_s=20,
    warmup_s=5,
    repetitions=2,
    baseline="cluster",
    quick={"duration_s": 5.0, "warmup_s": 2.0, "repetitions": 1},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
