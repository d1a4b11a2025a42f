"""The CI gate's A/B scenario (`make ci-bench`: `harness run ci --against REF`).

Single and cluster (one worker per core, round robin) on /cpu: the CPU-bound route whose
cost a change to the server's code shows first, and the ratio between the two modes.
Short cases and many repetitions rather than long ones: each repetition runs both sides
side by side, so each is one more pair, and from 9 pairs the gate's interval (of the median
of the paired ratios) leaves out the most extreme pair on each side: a hiccup of a shared
machine in one pair cannot fail the build. Settings chosen by measurement on a 2-core
machine (README, "How good the gate is here": with 4 pairs of 5 s, unchanged code came out
inconclusive in 2 of 2 runs, one cluster pair at -15 %).
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="ci",
    description="CI gate: single vs cluster (rr, one worker per core) on /cpu, short cases, 9 repetitions",
    what_it_shows="Run with --against REF (make ci-bench): did the working tree's server get slower than REF's?",
    servers=[ServerSpec("single"), ServerSpec("cluster", workers="cores", schedule="rr")],
    workloads=[Workload("/cpu")],
    loads=[ClosedLoad(users=8)],
    duration_s=3,
    warmup_s=1.5,
    repetitions=9,
    quick={"duration_s": 2.0, "warmup_s": 1.0, "repetitions": 3},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
