"""Shared state (teaching demo): a counter in each worker's memory vs a counter in Redis.

Every request to /count/memory adds one to a counter in the memory of the worker that
served it; every request to /count/redis adds one to a key in Redis (INCR, atomic). After
the load the harness reads every worker's counter (/metrics) and the Redis key, and the
report compares both with the successful responses the client counted.

The textbook claim: under node:cluster each worker is its own process with its own
memory, so an in-memory counter counts only that worker's share and no process knows the
total; a shared store (Redis) counts every request. A single process is the control: its
memory is the whole truth.

Redis is Debian's redis-server (`apt-get install redis-server`), started by the harness
for each /count/redis case on a free loopback port, without persistence, and stopped with
the case. Run it with `harness run shared_state` (about 3 minutes) or `--quick` (about a
minute).
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="shared_state",
    description="a counter in each worker's memory vs in Redis, single process vs cluster of 2",
    what_it_shows=(
        "Why state kept in a worker's memory breaks when a Node.js app is scaled out with node:cluster: each "
        "worker counts only the requests it served, so the count a request sees is a fraction of the total, "
        "while a counter in Redis (one store every worker increments atomically) matches the requests the "
        "client saw succeed. A single process, where memory is right, is the control. Throughput is shown but "
        "is not the point: these routes do almost no work, so the load generator is the limit."
    ),
    servers=[ServerSpec("single"), ServerSpec("cluster", workers=2, schedule="rr")],
    workloads=[Workload("/count/memory"), Workload("/count/redis")],
    # 8 users keep 8 keep-alive connections, which round robin deals out 4 and 4.
    loads=[ClosedLoad(users=8)],
    duration_s=15,
    warmup_s=3,
    repetitions=2,
    quick={"duration_s": 3.0, "warmup_s": 1.0, "repetitions": 3},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
