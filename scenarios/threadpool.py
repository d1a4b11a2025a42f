"""Pool sizing sweeps: libuv's UV_THREADPOOL_SIZE on /pbkdf2 (crypto runs in libuv's pool),
and the piscina worker_threads pool size on /cpu with heavy tasks (work=500, about 60 ms of
CPU each) and with the default light ones (work=20, about 3 ms).

The heavy tasks are the regime where the usual advice is measured (docs/demos.md): on a quiet
2-core machine the knee sat at 2 threads, firm, in 3 of 3 runs (1 thread 17 to 19 req/s, 2 to 4
threads 32 to 36). With light tasks the event loop's own work per request (HTTP, handing the
task to a thread) and the load generator take a larger share of the two cores, and while they
run a pool of exactly 2 threads sometimes waits for its next task: the two threads used 76 to 81%
of a core each against 3 threads' 163% in all, and 3 threads gave 5 to 10% more requests than 2
(5 repetitions, twice). So with light tasks the knee moves one past the cores, and the full
scenario shows both. About 9 minutes; `--quick` (the heavy-task piscina sweep, 3 repetitions)
about 1.5.

Run it with `harness run threadpool`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload, machine_cores

CORES = machine_cores()
# 1 .. 2 x cores; libuv's default (4) is the unset value, not repeated as an explicit 4
UV_SIZES = [n for n in range(1, 2 * CORES + 1) if n != 4]
POOL_SIZES = [ServerSpec("pool", threads=n) for n in range(1, 2 * CORES + 1)]
# about 60 ms of CPU per task: the pool's work dominates what else shares the cores (measured; see above)
HEAVY = Workload("/cpu", 500)

SCENARIO = Scenario(
    name="threadpool",
    description=f"UV_THREADPOOL_SIZE 1..{2 * CORES} and the default 4 on /pbkdf2; piscina pool size 1..{2 * CORES} on "
    "/cpu with heavy (work=500) and light (work=20) tasks",
    what_it_shows=(
        "A pool bigger than the cores it runs on cannot do more CPU work at once; it only queues the work in "
        "the kernel instead of in the pool. Guides say: size a CPU-bound pool to the cores. The sweep marks "
        "the knee (the smallest size within 5% of the best throughput) and shows what p99 does past it. With "
        "light tasks the event loop's own work per request shares the cores too, and one thread more than the "
        "cores can fill the moments the pool waits for its next task."
    ),
    parts=[
        Part(
            [ServerSpec("single", uv_threadpool_size=n) for n in UV_SIZES] + [ServerSpec("single")],
            [Workload("/pbkdf2")],
            [ClosedLoad(users=16)],
        ),
        Part(POOL_SIZES, [HEAVY, Workload("/cpu")], [ClosedLoad(users=16)]),
    ],
    duration_s=6,
    warmup_s=2,
    repetitions=3,
    # the heavy-task piscina sweep only, 3 repetitions: the knee at the core count is the lesson
    quick={
        "duration_s": 3.0,
        "warmup_s": 1.0,
        "repetitions": 3,
        "parts": [Part(POOL_SIZES, [HEAVY], [ClosedLoad(users=16)])],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
