"""Teaching demo: what a worker costs in memory. A cluster of N worker processes against a
worker_threads pool of N threads in one process (N = 1, 2, 4), nearly idle (one user whose
requests only wait: /io?ms=100, about 10 a second): the resident memory
(RSS) of the whole server, sampled by the harness, and what one more worker adds. About 4
minutes; `--quick` (N = 1 and 4) about 1.5.

RSS counts a page shared by several processes (Node's own code) in each of them, so the
cluster's total overstates what the machine gives it; what one more worker adds is the
fairer figure. Run it with `harness run memory`, or live: `harness demo memory`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload

IDLE = Workload("/io", param=100)  # a request that only waits: the workers are up, and idle


def servers(sizes: tuple[int, ...]) -> list[ServerSpec]:
    return [*(ServerSpec("cluster", workers=n) for n in sizes), *(ServerSpec("pool", threads=n) for n in sizes)]


SCENARIO = Scenario(
    name="memory",
    description="RSS of a cluster of N workers vs a pool of N threads (N = 1, 2, 4), nearly idle (/io?ms=100, 1 user)",
    what_it_shows=(
        "A cluster worker is a whole process: its own V8 heap, its own copy of Node's runtime state and of the "
        "app's modules. A worker thread has its own V8 isolate and heap too, but shares the process. The guides "
        "say threads are the lighter way to use more cores; the figures here are each server's RSS and the "
        "memory one more worker or thread adds."
    ),
    parts=[Part(servers((1, 2, 4)), [IDLE], [ClosedLoad(users=1)])],
    duration_s=4,
    warmup_s=2,
    repetitions=3,
    baseline="cluster",
    quick={
        "duration_s": 3.0,
        "warmup_s": 1.0,
        "repetitions": 3,
        "parts": [Part(servers((1, 4)), [IDLE], [ClosedLoad(users=1)])],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
