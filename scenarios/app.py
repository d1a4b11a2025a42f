"""Your own Node server in every mode that can run it: `harness run app --app path/to/server.js`.

The app runs unchanged: it must listen on the port in PORT (the harness also sets HOST to
127.0.0.1 and HARNESS_WORKER_ID to the process's id). Every process that runs it loads the
harness's preload (server/preload.js; --no-preload: not), which counts its requests, tags its
responses with x-pid and measures its event loop (harness.preload). cluster runs it in the harness's own
node:cluster wrapper (server/index.js --app), nginx as N processes behind nginx, pm2 as a
PM2 cluster. Every user requests --path (default /). Without --app, the example app in
examples/hello-app/ runs.
"""

from pathlib import Path

from harness.scenario import ClosedLoad, PathWorkload, Scenario, ServerSpec

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "hello-app" / "server.js")

SCENARIO = Scenario(
    name="app",
    description="your own app (--app FILE) in single, cluster, nginx and pm2 modes, 2 workers each, on /",
    what_it_shows="what each way of running more processes buys your own server, measured the same way as the "
    "reference server",
    servers=[
        ServerSpec("single", app=EXAMPLE),
        ServerSpec("cluster", workers="cores", schedule="rr", app=EXAMPLE),
        ServerSpec("nginx", workers="cores", app=EXAMPLE),
        ServerSpec("pm2", workers="cores", app=EXAMPLE),
    ],
    workloads=[PathWorkload.of("/")],
    loads=[ClosedLoad(users=8)],
    duration_s=20,
    warmup_s=5,
    repetitions=2,
    quick={"duration_s": 5.0, "warmup_s": 2.0, "repetitions": 1},
)

if __name__ == "__main__":
    from harness.cli import run_file

    raise SystemExit(run_file(__file__))
