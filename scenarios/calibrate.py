"""Calibration: how many requests/s can one Locust process generate on this machine?

`harness calibrate` runs this scenario and stores the ceiling with the machine facts
(results/calibration.json); every later run's record carries it. The target is the
cheapest route (/hello) on a cluster with one worker per core, so the server is never
the limit; more users raise the load until Locust's own CPU saturates.
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="calibrate",
    description="the load generator's ceiling: one Locust process on /hello against a cluster",
    what_it_shows=(
        "The most requests per second one Locust process can send on this machine. A case near this figure in "
        "another run measured Locust, not the server."
    ),
    servers=[ServerSpec("cluster", workers="cores", schedule="rr")],
    workloads=[Workload("/hello")],
    loads=[ClosedLoad(8), ClosedLoad(32), ClosedLoad(128)],
    duration_s=10,
    warmup_s=3,
    repetitions=1,
    quick={"duration_s": 5.0, "warmup_s": 2.0, "repetitions": 1},
)

if __name__ == "__main__":
    from harness.cli import main

    raise SystemExit(main(["calibrate", *__import__("sys").argv[1:]]))
