"""Teaching demo: moving large data between threads. One process hands 1, 16 or 64 MB to a
worker thread per request and waits for its answer, three ways: a structured clone
(postMessage copies the bytes), a transfer (the ArrayBuffer changes owner, no copy) and a
SharedArrayBuffer (both threads see one memory; the message carries a reference). One user,
so each request's latency is the time of one message there and back; a light /hello probe at
20 requests/s beside it shows how long the sender's event loop was held. About 6 minutes;
`--quick` (64 MB only) about 1.5.

Run it with `harness run move_data`, or live: `harness demo move_data --work /move/clone`.
"""

from harness.scenario import ClosedLoad, Part, Scenario, ServerSpec, Workload

SIZES_MB = (1, 16, 64)
HOWS = ("/move/clone", "/move/transfer", "/move/shared")


def workloads(sizes: tuple[int, ...]) -> list[Workload]:
    return [Workload(route, param=mb, probe="/hello", probe_rps=20) for mb in sizes for route in HOWS]


SCENARIO = Scenario(
    name="move_data",
    description="1-64 MB handed to a worker thread per request: structured clone vs transfer vs SharedArrayBuffer",
    what_it_shows=(
        "postMessage copies what it sends with the structured clone algorithm: the sending thread serialises the "
        "bytes (its event loop waits meanwhile) and the receiver deserialises them, so the cost grows with the "
        "size. Transferring an ArrayBuffer hands its memory over without a copy; a SharedArrayBuffer is one "
        "memory both threads see. The guides say: for large data, transfer or share, do not clone."
    ),
    parts=[Part([ServerSpec("single")], workloads(SIZES_MB), [ClosedLoad(users=1)])],
    duration_s=5,
    warmup_s=2,
    repetitions=3,
    baseline="single",
    quick={
        "duration_s": 4.0,
        "warmup_s": 1.0,
        "repetitions": 3,
        "parts": [Part([ServerSpec("single")], workloads((64,)), [ClosedLoad(users=1)])],
    },
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
