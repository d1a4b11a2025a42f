"""The same server on two Node.js versions, side by side: the machine's node and 22.12.0
(fetched once from the npm registry into ~/.cache/node-scaling-harness/node). Add a
version by adding a ServerSpec with node_version="X.Y.Z"; the record says which binary
ran each case."""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="node_versions",
    description="single and cluster (2 workers) on the machine's Node and on Node 22.12.0, /cpu, 8 users",
    what_it_shows="what a Node.js upgrade changes in throughput, latency and CPU per request, measured side by side",
    servers=[
        ServerSpec("single"),
        ServerSpec("single", node_version="22.12.0"),
        ServerSpec("cluster", workers=2),
        ServerSpec("cluster", workers=2, node_version="22.12.0"),
    ],
    workloads=[Workload("/cpu")],
    loads=[ClosedLoad(users=8)],
    duration_s=20,
    warmup_s=10,
    repetitions=2,
    quick={"duration_s": 5.0, "warmup_s": 2.0, "repetitions": 1},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
