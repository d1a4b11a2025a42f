"""Default scenario: does a cluster of one worker per core beat a single process on CPU work?

Run it with `make bench`, `harness run default` or `python scenarios/default.py`.
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="default",
    description="single process vs cluster (round robin, one worker per core) on CPU-bound /cpu",
    what_it_shows=(
        "How much throughput a node:cluster with one worker per core adds over a single process when every "
        "request is ~2 ms of CPU work on the event loop, how requests spread over the workers, and where the "
        "machine's CPU went (server workers, cluster primary, the load generator)."
    ),
    servers=[ServerSpec("single"), ServerSpec("cluster", workers="cores", schedule="rr")],
    workloads=[Workload("/cpu")],
    # 8 closed-loop users keep every worker busy (2 ms of work each) without queueing so
    # deep that latency is all waiting.
    loads=[ClosedLoad(users=8)],
    # 20 s windows (8,000 to 14,000 requests each here) and 3 repetitions: the fewest that give
    # an interval of each median, so the report can call the answer firm on a quiet machine
    # (with 2 it can only ever say "inconclusive: too few repetitions").
    duration_s=20,
    # Throughput still climbs for the first 5-8 s of a fresh server (V8 tiers up the hot
    # function; measured on this project's 2-core machine): leave 10 s out.
    warmup_s=10,
    repetitions=3,
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
