"""Smoke scenario for the CI regression gate (`make ci-bench`, about 3 minutes here).

Single vs cluster on /cpu, three repetitions each: enough for a significance test of
throughput and latency, and for the portable ratios (speedup, efficiency, fairness).
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="smoke",
    description="CI smoke: single vs cluster (rr, one worker per core) on /cpu, 3 repetitions",
    what_it_shows="A quick, repeatable measurement for `harness compare` against results/baselines/smoke.",
    servers=[ServerSpec("single"), ServerSpec("cluster", workers="cores", schedule="rr")],
    workloads=[Workload("/cpu")],
    loads=[ClosedLoad(users=8)],
    duration_s=15,
    warmup_s=8,
    repetitions=3,
    quick={"duration_s": 5.0, "warmup_s": 3.0, "repetitions": 2},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
