"""Unit tests: target URLs and master addresses (the loopback rule), the any-path workload,
and the ServerSpec fields for own apps, external targets and Node versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.net import is_loopback, parse_host_port, parse_target
from harness.scenario import ClosedLoad, PathWorkload, Scenario, ServerSpec

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = str(REPO / "examples" / "hello-app" / "server.js")


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("localhost", True),
        ("192.0.2.1", False),
        ("0.0.0.0", False),
    ],
)
def test_is_loopback(host: str, loopback: bool):
    assert is_loopback(host) is loopback


def test_parse_target_normalizes_and_defaults_the_port():
    t = parse_target("http://localhost:8080/")
    assert (t.url, t.host, t.port, t.scheme) == ("http://localhost:8080", "localhost", 8080, "http")
    assert parse_target("https://127.0.0.1").port == 443
    assert parse_target("http://192.0.2.1:80", allow_remote=True).url == "http://192.0.2.1:80"


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://192.0.2.1:80", "is not a loopback address"),
        ("127.0.0.1:80", "is not an http(s) URL"),
        ("http://127.0.0.1:99999", "is not a URL"),
        ("http://u:p@127.0.0.1:80", "has a path, query or credentials"),
        ("http://127.0.0.1:80/api", "has a path, query or credentials"),
    ],
)
def test_parse_target_refuses(url: str, message: str):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_target(url)


def test_parse_host_port():
    assert parse_host_port("10.0.0.5", 5557) == ("10.0.0.5", 5557)
    assert parse_host_port("loadgen-1:6000", 5557) == ("loadgen-1", 6000)
    for bad in ("host:0", "host:x", "a b:1", ""):
        with pytest.raises(UsageError):
            parse_host_port(bad, 5557)


def test_path_workload_takes_any_path_and_names_it_by_its_route():
    w = PathWorkload.of("/users?id=3")
    assert (w.route, w.path) == ("/users", "/users?id=3")
    assert PathWorkload.of("/").path == "/"
    for bad in ("users", "/a b", "/\x00"):
        with pytest.raises(UsageError, match="is not a request path"):
            PathWorkload.of(bad)


def test_server_spec_app_target_and_node_version():
    assert ServerSpec("cluster", workers=2, app=EXAMPLE).resolved().label == "hello-app-cluster-rr-2w"
    assert ServerSpec("single", node_version="22.12.0").label == "single-node22.12.0"
    assert ServerSpec("external", target="http://127.0.0.1:1").resolved().workers == 1
    with pytest.raises(UsageError, match="cannot run your own app"):
        ServerSpec("pool", app=EXAMPLE)
    with pytest.raises(UsageError, match="does not exist"):
        ServerSpec("single", app="/nonexistent.js")
    with pytest.raises(UsageError, match="mode external needs target"):
        ServerSpec("external")
    with pytest.raises(UsageError, match="only mode external takes a target"):
        ServerSpec("single", target="http://127.0.0.1:1")
    with pytest.raises(UsageError, match="not a full version"):
        ServerSpec("single", node_version="22")


def test_case_records_app_target_and_node_version():
    scen = Scenario(
        name="t",
        description="t",
        servers=[ServerSpec("single", app=EXAMPLE, node_version="22.12.0")],
        workloads=[PathWorkload.of("/x?y=1")],
        loads=[ClosedLoad(1)],
        repetitions=1,
    )
    case = scen.cases()[0]
    assert (case.app, case.node_version, case.target_url, case.route, case.path) == (
        EXAMPLE,
        "22.12.0",
        None,
        "/x",
        "/x?y=1",
    )
    assert scen.with_servers(node_version="20.0.0").servers[0].node_version == "20.0.0"
