"""Pool sizing sweeps: libuv's UV_THREADPOOL_SIZE on /pbkdf2 (crypto runs in libuv's pool),
and the piscina worker_threads pool size on /cpu. About 9 minutes; `--quick` (the piscina sweep, 3 repetitions) about 1.7.

Run it with `harness run threadpool`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload, machine_cores

CORES = machine_cores()
# 1 .. 2 x cores; libuv's default (4) is the unset value, not repeated as an explicit 4
UV_SIZES = [n for n in range(1, 2 * CORES + 1) if n != 4]

SCENARIO = Scenario(
    name="threadpool",
    description=f"UV_THREADPOOL_SIZE 1..{2 * CORES} and the default 4 on /pbkdf2; piscina pool size 1..{2 * CORES} on /cpu",
    what_it_shows=(
        "A pool bigger than the cores it runs on cannot do more CPU work at once; it only queues the work in "
        "the kernel instead of in the pool. Guides say: size a CPU-bound pool to the cores. The sweep marks "
        "the knee (the smallest size within 5% of the best throughput) and shows what p99 does past it."
    ),
    parts=[
        Part([ServerSpec("single", uv_threadpool_size=n) for n in UV_SIZES] + [ServerSpec("single")],
             [Workload("/pbkdf2")], [ClosedLoad(users=16)]),
        Part([ServerSpec("pool", threads=n) for n in range(1, 2 * CORES + 1)], [Workload("/cpu")],
             [ClosedLoad(users=16)]),
    ],
    duration_s=10,
    warmup_s=4,
    repetitions=2,
    # the piscina sweep only, 3 repetitions: the knee at the core count is the lesson
    quick={"duration_s": 3.0, "warmup_s": 1.0, "repetitions": 3,
           "parts": [Part([ServerSpec("pool", threads=n) for n in range(1, 2 * CORES + 1)], [Workload("/cpu")],
                          [ClosedLoad(users=16)])]},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
