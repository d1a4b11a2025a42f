"""`harness run ... --locustfile FILE`: the user's own Locust users under the harness's hooks.

Unit tests (no process): the scenario a locustfile makes (loads, labels, the shape's window),
what is refused, the total of the request names (exact HDR addition), the host check, old
records. Integration tests: the example app (examples/hello-app/) driven by its locustfile
(two tasks 3:1, a GET and a POST with a JSON body, and a LoadTestShape) in cluster and pm2 mode,
one with `--processes 2`: per-name latency in the record, and per-worker counts equal to the
app's own counts per process; an external --target with a file that has no shape; a task that
sends elsewhere; bad files."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, run_harness

from harness.errors import UsageError
from harness.load import user_file
from harness.load.hooks import HookState, add_aggregate, decode_histogram, other_host
from harness.load.inspect_locustfile import dry_run_shape
from harness.record import load_run
from harness.scenario import AGGREGATE_NAME, ClosedLoad, OpenLoad, PathWorkload, Scenario, ServerSpec

EXAMPLE_APP = REPO / "examples" / "hello-app" / "server.js"
EXAMPLE_LOCUSTFILE = REPO / "examples" / "hello-app" / "locustfile.py"


# --- unit: no process ---------------------------------------------------------------------


class FakeShape:
    """A fake LoadTestShape (no Locust): 3 users until 4 s, 5 until 7 s, then the end."""

    def get_run_time(self) -> float:
        raise AssertionError("the dry run replaces the shape's clock")

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        return (3, 10.0) if t < 4 else (5, 10.0) if t < 7 else None


def test_dry_run_of_a_shape_finds_its_length_stages_and_peak():
    found = dry_run_shape(FakeShape())
    assert found == {"name": "FakeShape", "length_s": 7.0, "peak_users": 5, "stages": [[0.0, 3, 10.0], [4.0, 5, 10.0]]}


def test_a_shape_that_never_ends_or_reads_the_runner_is_refused():
    class Endless(FakeShape):
        def tick(self) -> tuple[int, float]:
            return 1, 1.0

    class ReadsRunner(FakeShape):
        runner = None

        def tick(self) -> tuple[int, float]:
            return self.runner.user_count, 1.0  # type: ignore[attr-defined]

    with pytest.raises(ValueError, match="has not ended after 20 s"):
        dry_run_shape(Endless(), max_s=20)
    with pytest.raises(ValueError, match="failed in a dry run at t=0 s .*AttributeError"):
        dry_run_shape(ReadsRunner())


def _info(shape: dict | None = None, host: str | None = None) -> user_file.LocustfileInfo:
    return user_file.LocustfileInfo("/x/shop.py", "ab" * 32, [{"name": "Shopper", "host": host}], shape)


def _scenario(**kw) -> Scenario:
    base = dict(
        name="t",
        description="t",
        servers=[ServerSpec("single"), ServerSpec("cluster", workers=2)],
        workloads=[PathWorkload.of("/")],
        loads=[ClosedLoad(4), ClosedLoad(8)],
        duration_s=5,
        warmup_s=1,
        repetitions=1,
    )
    return Scenario(**{**base, **kw})


def _apply(scen: Scenario, info: user_file.LocustfileInfo, **kw) -> tuple[Scenario, list[str]]:
    notes: list[str] = []
    args = dict(users=None, rate=None, duration_s=None, expect_workers=None)
    return user_file.with_locustfile(scen, info, **{**args, **kw}, notice=notes.append), notes


def test_without_a_shape_each_closed_load_becomes_the_files_users():
    scen, notes = _apply(_scenario(), _info(host="https://shop.example"))
    cases = scen.cases()
    assert [(c.mode, c.users, c.load, c.route, c.duration_s) for c in cases] == [
        ("single", 4, "locustfile", AGGREGATE_NAME, 5.0),
        ("single", 8, "locustfile", AGGREGATE_NAME, 5.0),
        ("cluster", 4, "locustfile", AGGREGATE_NAME, 5.0),
        ("cluster", 8, "locustfile", AGGREGATE_NAME, 5.0),
    ]
    assert all(c.locustfile == "/x/shop.py" and c.locustfile_sha256 == "ab" * 32 and c.shape == "" for c in cases)
    assert cases[0].condition == "single locustfile:shop.py u4"
    assert notes == [
        "the locustfile's Shopper sets host = https://shop.example; the harness sends to the server "
        "under test instead (its URL is Locust's --host, which wins)"
    ]
    assert [c.users for c in _apply(_scenario(), _info(), users=3)[0].cases()] == [3, 3]


def test_with_a_shape_it_sets_users_and_length_and_no_label_claims_a_user_count():
    shape = {"name": "Ramp", "length_s": 6.0, "peak_users": 4, "stages": [[0, 2, 10], [2, 4, 10], [4, 2, 10]]}
    scen, notes = _apply(_scenario(warmup_s=1.5), _info(shape))
    cases = scen.cases()
    assert len(cases) == 2  # one shape load, whatever the scenario's user counts were
    case = cases[1]
    assert (case.shape, case.users, case.duration_s, case.warmup_s) == ("Ramp", 4, 4.5, 1.5)
    assert case.condition == "cluster-rr-2w locustfile:shop.py shape-Ramp"
    assert " u4" not in case.condition and case.expected_s == pytest.approx(6.0 + 4.0)
    assert "the first 1.5 s are warm-up" in notes[0]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(rate=100.0), "--rate is open load"),
        (dict(expect_workers=2), "--locustfile with --expect-workers is not supported"),
        (dict(users=3, shape=True), "--users: the locustfile's LoadTestShape Ramp decides how many users run"),
        (dict(duration_s=9.0, shape=True), "--duration-s: the locustfile's LoadTestShape Ramp decides how long"),
        (dict(warmup_s=5.0, shape=True), "runs 6 s, no more than the warm-up (5 s) and a second to measure"),
    ],
)
def test_what_cannot_go_with_a_locustfile_is_refused(kw: dict, message: str):
    shape = {"name": "Ramp", "length_s": 6.0, "peak_users": 4, "stages": []} if kw.pop("shape", False) else None
    scen = _scenario(warmup_s=kw.pop("warmup_s", 1.0))
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _apply(scen, _info(shape), **kw)


def test_a_scenario_with_open_load_only_needs_users():
    with pytest.raises(UsageError, match="has no closed load"):
        _apply(_scenario(loads=[OpenLoad(100)]), _info())


def _endpoint(state: HookState, phase: str, name: str, values_ms: list[float], failed: int = 0) -> None:
    for i, ms in enumerate(values_ms):
        state.record(phase, name, ms, i >= failed, "1", "11", 1000.0 + i)


def test_the_total_adds_every_name_but_probes_exactly():
    state = HookState()
    _endpoint(state, "measure", "/hello", [1.0, 2.0, 3.0])
    _endpoint(state, "measure", "/echo", [10.0, 20.0], failed=1)
    _endpoint(state, "warmup", "/hello", [5.0])
    _endpoint(state, "measure", "probe /hello", [0.5] * 4)
    data = state.to_dict()
    add_aggregate(data, AGGREGATE_NAME)
    total = {e["phase"]: e for e in data["endpoints"] if e["name"] == AGGREGATE_NAME}
    assert set(total) == {"measure", "warmup"}
    assert (total["measure"]["requests"], total["measure"]["failures"], total["measure"]["completed"]) == (5, 1, 4)
    hist = decode_histogram(total["measure"]["hdr"])
    assert hist.get_total_count() == 5 and hist.get_max_value() == pytest.approx(20_000, rel=1e-3)
    seconds = [t for t in data["timeline"] if t["name"] == AGGREGATE_NAME]
    # the responses completed at 1000.0 .. 1003.0: per second, every name but the probe
    assert {t["second"]: t["requests"] for t in seconds} == {1000: 3, 1001: 2, 1002: 1}
    with pytest.raises(ValueError, match="named 'Aggregated'"):
        add_aggregate(data, AGGREGATE_NAME)


def test_sums_over_names_take_a_locustfile_cases_total_alone():
    import pandas as pd

    from harness.analysis import without_double_count

    rows = pd.DataFrame({"name": ["/hello", "/echo", AGGREGATE_NAME], "requests": [3, 1, 4]})
    assert without_double_count(rows)["requests"].sum() == 4
    plain = rows.iloc[:2]  # another case (a route and, say, its probe): every row, as before
    assert without_double_count(plain)["requests"].sum() == 4


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:8080/hello", None),
        ("http://localhost:8080/x?y=1", None),
        ("http://127.0.0.1:8081/hello", "127.0.0.1:8081"),
        ("https://shop.example/cart", "shop.example:443"),
        ("/relative", None),
    ],
)
def test_requests_to_another_host_are_named(url: str, expected: str | None):
    assert other_host(url, "http://127.0.0.1:8080") == expected


def test_foreign_hosts_travel_from_locust_workers_to_the_master():
    worker, master = HookState(), HookState()
    worker.foreign_hosts["shop.example:443"] += 2
    master.merge(worker.to_dict())
    master.merge(worker.to_dict())
    assert master.to_dict()["foreign_hosts"] == {"shop.example:443": 4}


def test_older_records_read_with_no_locustfile():
    run = load_run(REPO / "tests" / "fixtures" / "small")
    cases = run["cases"]
    assert {"locustfile", "locustfile_sha256", "shape"} <= set(cases.columns)
    assert cases["locustfile"].isna().all() and (cases["shape"].fillna("") == "").all()


# --- integration: real Locust, the real example app ------------------------------------------


def _harness(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 240
) -> subprocess.CompletedProcess:
    return run_harness("run", *args, results=tmp_path / "results", timeout=timeout_s, env=env)


def _example_app_single(tmp_path: Path, locustfile: str, run_id: str, users: int, duration_s: float):
    """`harness run app` on the example app in single mode, one repetition after 1 s of warm-up,
    driven by this locustfile's text (written to tmp_path/lf.py), without a report."""
    path = tmp_path / "lf.py"
    path.write_text(locustfile)
    args = ["--modes", "single", "--users", str(users), "--duration-s", str(duration_s), "--warmup-s", "1"]
    return _harness(
        tmp_path, "app", "--app", str(EXAMPLE_APP), "--locustfile", str(path), *args,
        "--repetitions", "1", "--run-id", run_id, "--no-report",
    )  # fmt: skip


def _app_counts(folder: Path) -> dict[str, dict[str, int]]:
    """pid -> the example app's own counts ("METHOD /path" -> requests), as each process wrote them at its stop."""
    found = {}
    for f in folder.glob("counts-*.json"):
        data = json.loads(f.read_text())
        found[str(data["pid"])] = data["counts"]
    return found


def short_example(folder: Path) -> Path:
    """The example locustfile as shipped, but for its stages: 2, 4, 2 users, 2 s each (6 s)."""
    text = EXAMPLE_LOCUSTFILE.read_text()
    stages = "STAGES = [(10, 2, 10), (20, 4, 10), (30, 2, 10)]"
    assert stages in text
    copy = folder / "locustfile.py"
    copy.write_text(text.replace(stages, "STAGES = [(2, 2, 10), (4, 4, 10), (6, 2, 10)]"))
    return copy


@pytest.mark.integration
@pytest.mark.parametrize("mode, processes", [("cluster", "1"), ("pm2", "2")])
def test_e2e(tmp_path: Path, mode: str, processes: str):
    """The example locustfile (GET /hello and POST /echo 3:1, its Ramp shape cut to 6 s) against the
    example app: per-name latency in the record, and the responses the harness counted per
    worker process equal, exactly, the requests the app counted itself on the locustfile's
    routes. (The harness's readiness probe asks GET / only, which the app counts on its own
    key; Locust stops gracefully, so no response the app gave goes uncounted.)"""
    counts_dir = tmp_path / "counts"
    counts_dir.mkdir()
    locustfile = short_example(tmp_path)
    out = _harness(
        tmp_path,
        "app",
        "--app",
        str(EXAMPLE_APP),
        "--locustfile",
        str(locustfile),
        "--modes",
        mode,
        "--workers",
        "2",
        "--processes",
        processes,
        "--warmup-s",
        "1",
        "--repetitions",
        "1",
        "--run-id",
        "r",
        *([] if mode == "cluster" else ["--no-report"]),
        env={"HELLO_COUNTS_DIR": str(counts_dir)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "LoadTestShape Ramp sets users (up to 4) and length (6 s)" in out.stderr
    run_path = tmp_path / "results" / "r"
    run = load_run(run_path)
    lf = run.meta["locustfile"]
    assert lf["sha256"] == hashlib.sha256(locustfile.read_bytes()).hexdigest()
    assert (run_path / lf["copy"]).read_bytes() == locustfile.read_bytes()
    assert [c["name"] for c in lf["user_classes"]] == ["Shopper"] and lf["shape"]["length_s"] == 6.0
    (case,) = run.meta["cases"]
    assert case["status"] == "complete" and case["load"] == "locustfile" and case["shape"] == "Ramp"
    assert case["http_client"] == "user"  # the file's own classes sent, whatever the harness's default
    assert case["condition"].endswith("locustfile:locustfile.py shape-Ramp")
    assert case["generator_processes"] == int(processes)
    # the window is the shape's run after the warm-up: about 5 of its 6 s
    assert 3.5 <= case["measured_s"] <= 6.5, case["measured_s"]

    ep = run["endpoints"]
    measured = ep[ep["phase"] == "measure"].set_index("name")
    assert set(measured.index) == {"/hello", "/echo", AGGREGATE_NAME}
    assert (measured["failures"] == 0).all()
    assert (
        measured.loc[AGGREGATE_NAME, "requests"]
        == measured.loc["/hello", "requests"] + measured.loc["/echo", "requests"]
    )
    for name in ("/hello", "/echo", AGGREGATE_NAME):  # an HDR histogram per name, holding every response
        assert decode_histogram(measured.loc[name, "hdr_b64"]).get_total_count() == measured.loc[name, "requests"]
        assert measured.loc[name, "latency_p50_ms"] <= measured.loc[name, "latency_p99_ms"]
    # weights 3:1 (Locust picks tasks at random: a wide band, over 100+ requests)
    assert measured.loc[AGGREGATE_NAME, "requests"] >= 100
    assert 1.5 <= measured.loc["/hello", "requests"] / measured.loc["/echo", "requests"] <= 6

    # the harness's counts per process (every phase) against the app's own
    workers = run["workers"]
    client = workers.groupby("pid")["requests"].sum().to_dict()
    app = _app_counts(counts_dir)
    assert len(app) == 2 and set(client) == set(app), (client, app)
    for pid, own in app.items():
        assert set(own) <= {"GET /hello", "POST /echo", "GET /"}, own
        assert client[pid] == own.get("GET /hello", 0) + own.get("POST /echo", 0), (pid, client, own)
    # the harness's readiness check, on a route of its own: it stops at the first HTTP answer
    # (earlier tries find nothing listening), so the app counts exactly one GET /
    assert sum(own.get("GET /", 0) for own in app.values()) == 1, app
    assert ep[ep["phase"] != "measure"]["requests"].sum() > 0  # warm-up (and after) responses are kept too

    if mode == "cluster":
        summary = (run_path / "report" / "summary.md").read_text()
        assert "Per request name" in summary and "| /echo |" in summary.replace("locustfile.py shape-Ramp | /", "| /")
        names = json.loads((run_path / "report" / "summary.json").read_text())["runs"][0]["names"]
        assert {n["name"] for n in names} == {"/hello", "/echo"}
        assert sum(n["share"] for n in names) == pytest.approx(1.0)


PLAIN_LOCUSTFILE = """from locust import HttpUser, constant, task


class Visitor(HttpUser):
    host = "https://shop.example"  # the harness's URL wins
    wait_time = constant(0.01)

    @task
    def hello(self):
        self.client.get("/hello", name="hello")
"""


@pytest.mark.integration
def test_target_and_a_file_without_shape(tmp_path: Path):
    """--target: the file's users (HttpUser, a host of its own) drive a server the harness did
    not start; no shape: --users and --duration-s hold, and the label says the user count."""
    from harness.scenario import Scenario as S
    from harness.servers import make_server

    locustfile = tmp_path / "lf.py"
    locustfile.write_text(PLAIN_LOCUSTFILE)
    case = S(
        name="t",
        description="t",
        servers=[ServerSpec("single", app=str(EXAMPLE_APP))],
        workloads=[PathWorkload.of("/")],
        loads=[ClosedLoad(1)],
    ).cases()[0]
    with make_server(case, tmp_path / "server") as server:
        out = _harness(
            tmp_path,
            "app",
            "--target",
            server.url,
            "--locustfile",
            str(locustfile),
            "--users",
            "2",
            "--duration-s",
            "2",
            "--warmup-s",
            "1",
            "--repetitions",
            "1",
            "--run-id",
            "t",
            "--no-report",
        )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Visitor sets host = https://shop.example; the harness sends to the server under test" in out.stderr
    run = load_run(tmp_path / "results" / "t")
    (c,) = run.meta["cases"]
    assert (c["mode"], c["load"], c["users"], c["shape"], c["status"]) == ("external", "locustfile", 2, "", "complete")
    assert c["condition"] == "external locustfile:lf.py u2"
    measured = run["endpoints"][run["endpoints"]["phase"] == "measure"].set_index("name")
    assert measured.loc["hello", "requests"] == measured.loc[AGGREGATE_NAME, "requests"] > 0
    assert set(run["workers"]["worker_id"]) == {"0"}  # x-worker-id of the single process, as with --app


ELSEWHERE_LOCUSTFILE = """from locust import FastHttpUser, constant, task


class Wanderer(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def away(self):
        self.client.get("http://127.0.0.2:9/x")  # another host (loopback, nothing listens)
"""


@pytest.mark.integration
def test_a_task_that_sends_elsewhere_stops_the_case(tmp_path: Path):
    out = _example_app_single(tmp_path, ELSEWHERE_LOCUSTFILE, "e", users=1, duration_s=20)
    assert out.returncode == 1, out.stdout + out.stderr
    (case,) = load_run(tmp_path / "results" / "e").meta["cases"]
    assert case["status"] == "failed"
    prefix = "the locustfile sent requests to another host than the server under test, so the load was stopped: "
    assert case["error"].startswith(prefix + "127.0.0.2:9 ("), case["error"]
    # stopped at the first such request: a handful, not the 400 of the 20 s it would have run
    sent = int(case["error"][len(prefix + "127.0.0.2:9 (") :].split(" ")[0])
    assert 1 <= sent < 50, case["error"]


@pytest.mark.integration
@pytest.mark.parametrize(
    "content, message",
    [
        (None, "--locustfile {path}: no such file"),
        (
            "from locust import HttpUser\nclass A(HttpUser:\n    pass\n",
            "locustfile {path} has a syntax error at line 2",
        ),
        ("from locust import task\nX = 1\n", "locustfile {path} defines no User class"),
        ("raise SystemExit(3)\n", "locustfile {path} failed to load: SystemExit: 3"),
        (
            "from locust import HttpUser, LoadTestShape, task\nclass U(HttpUser):\n    @task\n    def t(self):\n"
            "        pass\nclass S(LoadTestShape):\n    def tick(self):\n        return self.runner.user_count, 1\n",
            "LoadTestShape S.tick() failed in a dry run at t=0 s (AttributeError",
        ),
    ],
)
def test_bad_locustfiles_are_refused_in_one_line(tmp_path: Path, content: str | None, message: str):
    """Loaded as Locust would, in a process of its own; nothing left beside the file."""
    path = tmp_path / "bad.py"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as refused:
        user_file.inspect(str(path))
    assert message.format(path=path) in refused.value.one_line() and "\n" not in refused.value.one_line()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if content is None else ["bad.py"])


@pytest.mark.integration
def test_a_bad_locustfile_on_the_command_line_exits_2_and_writes_nothing(tmp_path: Path):
    path = tmp_path / "bad.py"
    path.write_text("from locust import task\n")
    out = _harness(tmp_path, "app", "--app", str(EXAMPLE_APP), "--locustfile", str(path), timeout_s=90)
    assert out.returncode == 2, out.stdout + out.stderr
    assert (
        out.stderr.strip() == f"error: locustfile {path} defines no User class (a class deriving from locust's "
        "HttpUser, FastHttpUser or User, not abstract)"
    )
    assert not (tmp_path / "results").exists()


REFERENCE_LOCUSTFILE = """from locust import FastHttpUser, between, task


class Visitor(FastHttpUser):
    wait_time = between(0.001, 0.005)

    @task(2)
    def hello(self):
        self.client.get("/hello")

    @task(1)
    def cpu(self):
        self.client.get("/cpu?work=5", name="/cpu")
"""


@pytest.mark.integration
def test_reference_server_behind_nginx_counts_agree_with_its_metrics(tmp_path: Path):
    """The reference server (nginx, 2 workers), a file without shape, two Locust processes:
    each worker's own /metrics count of the load's routes during the case equals the
    responses the harness counted from it (the harness's /healthz and /metrics left out)."""
    from harness import analysis

    locustfile = tmp_path / "lf.py"
    locustfile.write_text(REFERENCE_LOCUSTFILE)
    out = _harness(
        tmp_path,
        "default",
        "--locustfile",
        str(locustfile),
        "--modes",
        "nginx",
        "--workers",
        "2",
        "--users",
        "2",
        "--duration-s",
        "2",
        "--warmup-s",
        "1",
        "--repetitions",
        "1",
        "--processes",
        "2",
        "--run-id",
        "n",
        "--no-report",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    run = load_run(tmp_path / "results" / "n")
    (case,) = run.meta["cases"]
    assert (case["mode"], case["load"], case["users"], case["generator_processes"]) == ("nginx", "locustfile", 2, 2)
    client = run["workers"].groupby("worker_id")["requests"].sum()
    srv = run["server_metrics"].pivot_table(index="worker_id", columns="snapshot", values="requests_route")
    served = (srv["after"] - srv["before"]).astype(int)
    assert len(client) == 2 and client.to_dict() == served.to_dict(), (client, served)
    assert analysis.case_results(run)["client_server_mismatch"].iloc[0] == 0.0
    measured = run["endpoints"][run["endpoints"]["phase"] == "measure"].set_index("name")
    assert set(measured.index) == {"/hello", "/cpu", AGGREGATE_NAME}


RAISING_LOCUSTFILE = """from locust import FastHttpUser, constant, task


class Clumsy(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def bug(self):
        raise ValueError("my task bug")

    @task
    def bad_body(self):
        self.client.post("/echo", data="not json")  # the example app answers 400
"""


@pytest.mark.integration
def test_a_locustfile_whose_tasks_raise_is_told_so_with_the_failures_reason(tmp_path: Path):
    """Seen: 344 exceptions in locust_exceptions.csv and nothing said of them anywhere, and
    the failure warning without its reason."""
    from helpers import summary_markdown

    out = _example_app_single(tmp_path, RAISING_LOCUSTFILE, "x", users=2, duration_s=2)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = summary_markdown(tmp_path / "results" / "x")
    (raised,) = [line for line in summary.splitlines() if "the locustfile's tasks raised" in line]
    assert "over the whole case, warm-up included (most often: my task bug, " in raised, raised
    assert "locust_exceptions.csv" in raised
    (failed,) = [line for line in summary.splitlines() if "requests failed" in line]
    assert "(most often, over the whole case with its warm-up: LocustBadStatusCode(code=400) on /echo" in failed
