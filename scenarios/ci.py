"""The CI gate's A/B scenario (`make ci-bench`: `harness run ci --against REF`).

Single and cluster (one worker per core, round robin) on /cpu: the CPU-bound route whose
cost a change to the server's code shows first, and the ratio between the two modes. Short
cases and more repetitions rather than long ones: each repetition runs both sides side by
side, so every repetition is one more pair for the paired interval, and the interval
narrows with the square root of the pairs. Settings chosen by measurement on a 2-core
machine (README, "The CI gate": false alarms and catches over 20 A/B runs).
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="ci",
    description="CI gate: single vs cluster (rr, one worker per core) on /cpu, short cases, 4 repetitions",
    what_it_shows="Run with --against REF (make ci-bench): did the working tree's server get slower than REF's?",
    servers=[ServerSpec("single"), ServerSpec("cluster", workers="cores", schedule="rr")],
    workloads=[Workload("/cpu")],
    loads=[ClosedLoad(users=8)],
    duration_s=5,
    warmup_s=3,
    repetitions=4,
    quick={"duration_s": 3.0, "warmup_s": 2.0, "repetitions": 3},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
