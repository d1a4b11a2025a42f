"""Every scaling mode side by side on CPU-bound /cpu, two workers (or threads) each.

Run it with `harness run modes` (about 7 minutes) or `harness run modes --quick`.
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload

SCENARIO = Scenario(
    name="modes",
    description="single vs cluster vs worker-thread pool vs nginx vs PM2 on /cpu, 2 workers or threads each",
    what_it_shows=(
        "What each way of using a second core buys on CPU work on the event loop: node:cluster (round robin), "
        "a piscina worker_threads pool behind one HTTP process, independent processes behind nginx, and PM2 "
        "cluster mode, each against a single process measured in the same run; and what each costs in "
        "CPU per request (the pool pays for messages between threads, nginx for an extra proxy hop)."
    ),
    servers=[
        ServerSpec("single"),
        ServerSpec("cluster", workers=2, schedule="rr"),
        ServerSpec("pool", threads=2),
        ServerSpec("nginx", workers=2, balance="round_robin"),
        ServerSpec("pm2", workers=2),
    ],
    workloads=[Workload("/cpu")],
    loads=[ClosedLoad(users=8)],
    duration_s=20,
    warmup_s=10,
    repetitions=2,
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
