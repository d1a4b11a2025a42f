"""A reused worker_threads pool vs a new Worker for every request, on small and larger
CPU tasks. About 4 minutes; `--quick` (/cpu?work=2, 3 repetitions) about 1.2.

Run it with `harness run pool_vs_spawn`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="pool_vs_spawn",
    description="piscina pool (one thread per core) vs spawn-per-request on /cpu?work=2 and /cpu (work=20)",
    what_it_shows=(
        "Starting a Worker means a new V8 isolate and event loop: tens of milliseconds of CPU before the first "
        "line of the task runs. A pool pays that once. The smaller the task, the bigger the share of a "
        "spawned Worker's cost that is start-up; CPU ms per request shows it directly."
    ),
    servers=[ServerSpec("single"), ServerSpec("pool", threads="cores"), ServerSpec("spawn-per-request")],
    workloads=[Workload("/cpu", param=2), Workload("/cpu")],
    loads=[ClosedLoad(users=4)],
    duration_s=15,
    warmup_s=4,
    repetitions=2,
    # the small task, where a spawned Worker's start-up is most of its cost; 3 repetitions
    quick={
        "duration_s": 3.0,
        "warmup_s": 1.0,
        "repetitions": 3,
        "parts": [
            Part(
                [ServerSpec("single"), ServerSpec("pool", threads="cores"), ServerSpec("spawn-per-request")],
                [Workload("/cpu", param=2)],
                [ClosedLoad(users=4)],
            )
        ],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
