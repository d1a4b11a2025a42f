"""harness.load.lean_http against a scripted fake server (a unit test: a thread that answers
each connection's requests with canned bytes), and against the real reference server. What
needs Locust itself runs in a subprocess: importing Locust monkey-patches the process (and
pytest-xdist's worker threads with it)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

from harness.load import lean_http
from harness.load.lean_http import LeanSession


class Events:
    """Stands in for Locust's request event: keeps what was fired."""

    def __init__(self) -> None:
        self.fired: list[dict] = []

    def fire(self, **kwargs: object) -> None:
        self.fired.append(kwargs)


class FakeServer:
    """A scripted HTTP server for unit tests: `answer(conn_index, request_index, request_head)`
    returns the bytes to send (None: close the connection without answering; an HTTP/1.0
    answer closes it after sending)."""

    def __init__(self, answer: Callable[[int, int, bytes], bytes | None]) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.heads: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            index = self.connections
            self.connections += 1
            threading.Thread(target=self._one, args=(conn, index), daemon=True).start()

    def _one(self, conn: socket.socket, index: int) -> None:
        buf, n = b"", 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                self.heads.append(head)
                out = self.answer(index, n, head)
                n += 1
                if out is None:
                    return
                conn.sendall(out)
                if out.startswith(b"HTTP/1.0"):  # an HTTP/1.0 answer without keep-alive ends the connection
                    return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve():
    servers: list[FakeServer] = []

    def start(answer: Callable[[int, int, bytes], bytes | None]) -> FakeServer:
        servers.append(FakeServer(answer))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nX-Worker-Id: w1\r\n{extra}\r\n".encode() + body


def test_supports_plain_http_only():
    assert lean_http.supports("http://127.0.0.1:8080")
    assert lean_http.supports("http://[::1]:8080/base")
    assert not lean_http.supports("https://127.0.0.1:8443")
    assert not lean_http.supports("http://user:pw@127.0.0.1:8080")
    assert not lean_http.supports(None)


def test_keeps_one_connection_alive_and_fires_what_fasthttp_fires(serve):
    server = serve(lambda c, n, head: ok(b"x" * (n + 1)))
    events = Events()
    session = LeanSession(server.url, events)
    for _ in range(3):
        r = session.get("/cpu?work=5", name="/cpu", context={"due_ts": 1.0})
    assert server.connections == 1
    assert r.status_code == 200 and r.content == b"xxx" and r.ok
    assert r.headers["x-worker-id"] == "w1" and r.headers["content-length"] == "3"
    assert server.heads[0].split(b"\r\n")[:2] == [
        b"GET /cpu?work=5 HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}".encode(),
    ]
    assert [e["response_length"] for e in events.fired] == [1, 2, 3]
    e = events.fired[-1]
    assert e["request_type"] == "GET" and e["name"] == "/cpu" and e["exception"] is None
    assert e["context"] == {"due_ts": 1.0} and e["url"] == server.url + "/cpu?work=5"
    assert e["response_time"] >= 0 and e["start_time"] > 0


def test_connection_close_header_opens_a_new_connection(serve):
    # the server says nothing of closing (nor closes): asked to close, the client still does
    server = serve(lambda c, n, head: ok())
    session = LeanSession(server.url, Events())
    for _ in range(3):
        session.get("/hello", headers={"Connection": "close"})
    assert server.connections == 3 and session._idle == []
    assert all(b"Connection: close" in h for h in server.heads)
    # the server answers "Connection: close" to a client that did not ask: the next request opens another
    closing = serve(lambda c, n, head: ok(extra="Connection: close\r\n"))
    session = LeanSession(closing.url, Events())
    session.get("/a")
    session.get("/a")
    assert closing.connections == 2


def test_chunked_and_close_delimited_bodies(serve):
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
    )

    server = serve(lambda c, n, head: chunked)
    session = LeanSession(server.url, Events())
    assert session.get("/a").content == b"hello world"
    assert session.get("/a").content == b"hello world"  # the trailer was consumed: the connection is reusable
    assert server.connections == 1
    # HTTP/1.0 without a length: the body runs to the close, and the connection is not kept
    server_close = serve(lambda c, n, head: b"HTTP/1.0 200 OK\r\n\r\nto the end")
    session = LeanSession(server_close.url, Events())
    r = session.get("/b")
    assert r.content == b"to the end" and session._idle == []


_BAD_STATUS_CHECK = """
import socket, threading
from locust.contrib.fasthttp import LocustBadStatusCode, LocustUserAgent
from harness.load import lean_http
# lean_http's copies of Locust's codes still agree with this Locust's
assert lean_http.VALID_CODES == LocustUserAgent.valid_response_codes
assert lean_http.REDIRECT_CODES == LocustUserAgent.redirect_response_codes
listener = socket.create_server(("127.0.0.1", 0))
port = listener.getsockname()[1]
def answer():
    conn, _ = listener.accept()
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 500 Internal Server Error\\r\\nContent-Length: 4\\r\\n\\r\\noops")
threading.Thread(target=answer, daemon=True).start()
fired = []
class Events:
    def fire(self, **kwargs):
        fired.append(kwargs)
r = lean_http.LeanSession(f"http://127.0.0.1:{port}", Events()).get("/boom")
e = fired[0]["exception"]
assert isinstance(e, LocustBadStatusCode), repr(e)
assert f"{type(e).__name__}: {e}" == f"LocustBadStatusCode: URL http://127.0.0.1:{port}/boom: code=500", str(e)
assert r.status_code == 500 and r.content == b"oops" and not r.ok
try:
    r.raise_for_status()
except LocustBadStatusCode:
    print("raised")
"""


def test_bad_status_is_a_failure_as_fasthttp_reports_it():
    """A 500: the failure FastHttpSession reports (LocustBadStatusCode, the same words in the
    record), the body still read; and the valid codes are Locust's."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _BAD_STATUS_CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["raised"]


def test_closed_before_the_answer_is_sent_again_once_then_fails(serve):
    # connection 0 answers once, then closes on the next request: retried on connection 1
    server = serve(lambda c, n, head: ok() if (c, n) != (0, 1) else None)
    events = Events()
    session = LeanSession(server.url, events)
    session.get("/x")
    r = session.get("/x")
    assert r.status_code == 200 and server.connections == 2 and events.fired[-1]["exception"] is None
    # a server that never answers: one try and the pool's size plus one retries (geventhttpclient's count), then HTTPConnectionClosed
    dead = serve(lambda c, n, head: None)
    events = Events()
    r = LeanSession(dead.url, events).get("/x")
    assert isinstance(events.fired[0]["exception"], HTTPConnectionClosed)
    assert dead.connections == 3 and r.status_code == 0 and r.headers is None


def test_refused_connection_and_garbage_are_failures(serve):
    events = Events()
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    LeanSession(f"http://127.0.0.1:{port}", events).get("/x")
    assert isinstance(events.fired[0]["exception"], ConnectionRefusedError)
    garbage = serve(lambda c, n, head: b"SSH-2.0-OpenSSH\r\n\r\n")
    LeanSession(garbage.url, events).get("/x")
    assert isinstance(events.fired[1]["exception"], HTTPParseError)


def test_a_server_that_never_answers_times_out_and_its_connection_is_dropped():
    """The exchange's timer (one per connection, started per request): a server that takes
    the connection and the request but never answers fails the request with TimeoutError, as
    a gevent socket's timeout does, the greenlet is not left waiting, and the connection is
    not kept for the next request."""
    import time

    events = Events()
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody answers
        session = LeanSession(f"http://127.0.0.1:{silent.getsockname()[1]}", events, timeout_s=0.3)
        t0 = time.monotonic()
        r = session.get("/x")
        waited = time.monotonic() - t0
    assert r.status_code == 0 and isinstance(events.fired[0]["exception"], TimeoutError)
    assert str(events.fired[0]["exception"]) == "timed out"
    assert 0.3 <= waited < 5 and session._idle == []


def test_a_timer_that_did_not_fire_stays_quiet(serve):
    """An answer in time stops the timer: waiting past the timeout afterwards (other work in
    the same greenlet) raises nothing, and the kept connection serves the next request."""
    import gevent

    server = serve(lambda c, n, head: ok())
    session = LeanSession(server.url, Events(), timeout_s=0.2)
    assert session.get("/a").status_code == 200
    gevent.sleep(0.4)  # the hub runs its loop past the timeout: a timer left running would throw here
    assert session.get("/b").status_code == 200 and server.connections == 1


def test_same_origin_redirects_are_followed(serve):
    def answer(c: int, n: int, head: bytes) -> bytes:
        if head.startswith(b"GET /old "):
            return b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"
        if head.startswith(b"GET /away "):
            return b"HTTP/1.1 302 Found\r\nLocation: http://example.com/\r\nContent-Length: 0\r\n\r\n"
        return ok(b"new")

    server = serve(answer)
    events = Events()
    session = LeanSession(server.url, events)
    assert session.get("/old").content == b"new"
    r = session.get("/away")  # another origin: not followed, and 302 is not a failure
    assert r.status_code == 302 and events.fired[-1]["exception"] is None
    assert [h.split(b" ")[1] for h in server.heads] == [b"/old", b"/new", b"/away"]


@pytest.mark.integration
def test_against_the_reference_server(tmp_path):
    from harness.servers.node import SingleServer

    events = Events()
    with SingleServer(tmp_path / "srv") as server:
        session = LeanSession(server.url, events)
        bodies = [session.get("/hello") for _ in range(5)]
    assert all(b.status_code == 200 and b.headers.get("x-pid") for b in bodies)
    assert {b.headers["x-pid"] for b in bodies} == {bodies[0].headers["x-pid"]}
    assert all(e["exception"] is None for e in events.fired)


def test_importing_it_patches_nothing():
    """This module imported lean_http: the process (a pytest-xdist worker, whose threads gevent
    would turn into greenlets) must still have the standard socket and threading."""
    import gevent.monkey

    assert not gevent.monkey.is_module_patched("socket") and not gevent.monkey.is_module_patched("threading")
