"""Teaching demo: who decides which worker gets a connection? Cluster round robin vs the
kernel (SCHED_NONE), and nginx round_robin vs least_conn, with keep-alive connections and
with a new connection for every request. About 10 minutes; `--quick` about 2.

Run it with `harness run scheduling`, or live: `harness demo scheduling`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload

SERVERS = [
    ServerSpec("cluster", workers="cores", schedule="rr"),
    ServerSpec("cluster", workers="cores", schedule="none"),
    ServerSpec("nginx", workers="cores", balance="round_robin"),
    ServerSpec("nginx", workers="cores", balance="least_conn"),
]

SCENARIO = Scenario(
    name="scheduling",
    description="cluster rr vs none, nginx round_robin vs least_conn; keep-alive vs a connection per request",
    what_it_shows=(
        "Node's cluster primary accepts every connection and hands it to the workers in turn (rr, the default "
        "except on Windows); with SCHED_NONE the workers accept on the shared socket and the kernel picks. The "
        "guides say round robin spreads evenly and OS scheduling does not. With keep-alive every Locust user "
        "holds one connection, so the policy places connections once; with a new connection per request it "
        "places every request, and the primary (or nginx) pays for every accept."
    ),
    parts=[Part(SERVERS, [Workload("/cpu")], [ClosedLoad(users=8), ClosedLoad(users=8, keepalive=False)])],
    duration_s=15,
    warmup_s=4,
    repetitions=2,
    quick={"duration_s": 4.0, "warmup_s": 2.0, "repetitions": 1},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
