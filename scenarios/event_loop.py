"""Teaching demo: a blocked event loop. A light /hello probe (20 requests/s on a fixed
schedule) beside CPU-heavy /cpu requests, run inline on the event loop (single) or
offloaded to a worker_threads pool. About 4 minutes; `--quick` (3 repetitions) about 1.7.

Run it with `harness run event_loop`, or live: `harness demo event_loop`.
"""

from harness.scenario import ClosedLoad, Scenario, ServerSpec, Workload, machine_cores

CORES = machine_cores()

SCENARIO = Scenario(
    name="event_loop",
    description="a light /hello probe beside /cpu?work=100 (~10 ms each): inline on the event loop vs a pool",
    what_it_shows=(
        "Node runs JavaScript on one thread per process: while it computes a /cpu answer nothing else on that "
        "process moves, so every other request waits behind it. The probe's latency, measured from when each "
        "probe was due, shows the wait; /metrics' event-loop delay shows the same from inside. Offloading the "
        "CPU work to worker threads keeps the event loop free, if there is a core for it to run on."
    ),
    servers=[
        ServerSpec("single"),
        ServerSpec("pool", threads=1),
        *([ServerSpec("pool", threads=CORES)] if CORES > 1 else []),
    ],
    workloads=[Workload("/cpu", param=100, probe="/hello", probe_rps=20)],
    loads=[ClosedLoad(users=4)],
    duration_s=20,
    warmup_s=4,
    repetitions=2,
    baseline="single",
    quick={"duration_s": 5.0, "warmup_s": 2.0, "repetitions": 3},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
