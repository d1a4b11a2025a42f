"""A lean HTTP/1.1 GET client for the harness's own Locust users, in place of FastHttpUser's
client where the target is plain http.

Why not Locust's FastHttpSession (geventhttpclient): on a 2-core machine the generator's CPU is
taken from the server it measures, and at the rates the scenarios run (a few hundred requests a
second, each a gevent wake-up that nothing amortises) FastHttpSession spent 0.48 to 0.65 ms of
CPU per request here, geventhttpclient's HTTPClient alone 0.36 to 0.42, and a keep-alive socket
read like this one 0.16 to 0.26 (the same Locust process and request event; cluster of 2, /cpu,
8 users, side by side with wrk: docs/harness-cost.md). The parsing a benchmark's GET needs is
small: a status line, header lines, a body by Content-Length, by chunks, or up to the close.

What it keeps of FastHttpSession, so that records, verdicts and a user's listeners read the
same: the `request` event's arguments, fired on whatever event it is given (the harness's users
give it locust_batch.BatchedRequestEvent: the hooks, then Locust's statistics in batches)
(request_type, name, response_time in ms from before the
send to after the body, response_length, response, exception, context merged with the user's,
start_time, url); a response with `status_code`, `headers` (lower-case name -> the first line's
value), `content`, `text`, `ok`, `url`; the same failures (a status outside Locust's valid codes
is LocustBadStatusCode, a connection that closes before any byte of the answer is retried on a
new connection as geventhttpclient does (the pool's size plus one more times), then
HTTPConnectionClosed; socket errors as they come); same-origin redirects followed (at most 5);
60 s to connect and 60 s for each exchange (the request and its whole answer; a TimeoutError
"timed out" as a gevent socket's). What it leaves out: request bodies, cookies, TLS, proxies,
and compression (no Accept-Encoding is sent, so a server never compresses: the same bytes in
every mode).
"""

from __future__ import annotations

import _socket
import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import gevent
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

# Locust's LocustUserAgent's, copied (a test checks they still agree): importing Locust here
# would monkey-patch whatever imports this module (a test process, the harness)
VALID_CODES = frozenset([200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 301, 302, 303, 304, 307, 308])
REDIRECT_CODES = frozenset([301, 302, 303, 307, 308])
MAX_REDIRECTS = 5
TIMEOUT_S = 60.0  # FastHttpUser's connection_timeout and network_timeout
RECV_BYTES = 65536
_CRLF2 = b"\r\n\r\n"
_READ, _WRITE = 1, 2  # libev's EV_READ, EV_WRITE


def supports(base_url: str | None) -> bool:
    """Whether this client can drive `base_url`: plain http, no credentials in it."""
    if not base_url:
        return False
    parts = urlsplit(base_url)
    return parts.scheme == "http" and parts.hostname is not None and "@" not in parts.netloc


def _bad_status(url: str, code: int) -> Exception:
    """FastHttpSession's failure for a status outside the valid codes, the same class and
    words in the record. Imported here, in Locust's process, where Locust is loaded already."""
    from locust.contrib.fasthttp import LocustBadStatusCode

    return LocustBadStatusCode(url, code=code)


class LeanResponse:
    """One answer: what the harness's hooks and a user's request listener read of a FastResponse."""

    __slots__ = ("status_code", "headers", "content", "url", "error")

    def __init__(self, status_code: int, headers: dict[str, str] | None, content: bytes | None, url: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.url = url
        self.error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return 0 < self.status_code < 400

    @property
    def text(self) -> str | None:
        return None if self.content is None else self.content.decode("utf-8", "replace")

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error


class _Conn:
    """One kept-alive connection: a non-blocking OS socket waited on with the gevent hub's own
    watchers, and one timer for the exchange under way.

    Why not a gevent socket: its recv tries the OS first and, finding nothing yet (the usual
    case just after a request), raises and catches an exception before it waits, and starts a
    new Timeout object for every wait. Here a read just after a request waits first, and one
    timer per connection is started and stopped: with the other savings (docs/harness-cost.md)
    a third less of the client's CPU per request."""

    __slots__ = ("sock", "buf", "hub", "readable", "writable", "timer")

    def __init__(self, connected: socket.socket, timeout_s: float) -> None:
        # the OS socket under whatever create_connection made (gevent's, in Locust's process)
        self.sock = _socket.socket(fileno=connected.detach())
        self.sock.setblocking(False)
        self.buf = b""  # bytes read past the last answer (none, with a well-behaved server)
        self.hub = gevent.get_hub()
        fd = self.sock.fileno()
        self.readable = self.hub.loop.io(fd, _READ)
        self.writable = self.hub.loop.io(fd, _WRITE)
        self.timer = self.hub.loop.timer(timeout_s)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                self.hub.wait(self.writable)
                continue
            view = view[sent:]

    def recv(self, wait_first: bool) -> bytes:
        """The next bytes (b"" at the close). `wait_first`: nothing can have come yet."""
        if wait_first:
            self.hub.wait(self.readable)
        while True:
            try:
                return self.sock.recv(RECV_BYTES)
            except BlockingIOError:
                self.hub.wait(self.readable)

    def close(self) -> None:
        self.timer.stop()
        self.readable.close()
        self.writable.close()
        self.sock.close()


def _time_out(greenlet: Any) -> None:
    """The exchange's timer expired: fail it where it waits, as a gevent socket's timeout does."""
    greenlet.throw(TimeoutError("timed out"))


class LeanSession:
    """GET over kept-alive connections to one origin, at most `concurrency` of them idle."""

    def __init__(
        self,
        base_url: str,
        request_event: Any,
        user: Any = None,
        concurrency: int = 1,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.address = (parts.hostname, parts.port or 80)
        self.host_header = parts.netloc
        self.request_event = request_event
        self.user = user
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self._idle: list[_Conn] = []
        self._heads: dict[tuple[str, tuple], tuple[bytes, bool]] = {}

    # -- the request ----------------------------------------------------------------------
    def get(
        self, path: str, name: str | None = None, headers: dict[str, str] | None = None, context: dict | None = None
    ) -> LeanResponse:
        """Send one GET, fire Locust's request event (as FastHttpSession does), return the answer."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        start_time = time.time()
        ctx = {**self.user.context(), **(context or {})} if self.user is not None else (context or {})
        t0 = time.perf_counter()
        exception: BaseException | None = None
        try:
            response = self._exchange(url, headers)
            if response.status_code in REDIRECT_CODES:
                response = self._redirected(url, headers, response)
            if response.status_code not in VALID_CODES:
                exception = response.error = _bad_status(url, response.status_code)
        except (OSError, HTTPParseError) as e:
            response = LeanResponse(0, None, None, url)
            exception = response.error = e
        self.request_event.fire(
            request_type="GET",
            name=name or path,
            response_time=(time.perf_counter() - t0) * 1000,
            response_length=len(response.content) if response.content else 0,
            response=response,
            exception=exception,
            context=ctx,
            start_time=start_time,
            url=url,
        )
        return response

    def _redirected(self, url: str, headers: dict[str, str] | None, response: LeanResponse) -> LeanResponse:
        """Follow a redirect to the same origin (at most MAX_REDIRECTS in all)."""
        for _ in range(MAX_REDIRECTS):
            location = response.headers.get("location") if response.headers else None
            if response.status_code not in REDIRECT_CODES or not location:
                return response
            target = urljoin(url, location)
            if not target.startswith(self.origin + "/") and target != self.origin:
                return response  # another origin: not followed (the harness loads one server)
            url = target
            response = self._exchange(url, headers)
        return response

    def _head(self, url: str, headers: dict[str, str] | None) -> tuple[bytes, bool]:
        """The request's bytes, and whether it asks to close the connection after the answer."""
        key = (url, tuple(headers.items()) if headers else ())
        made = self._heads.get(key)
        if made is None:
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            lines = [f"GET {target} HTTP/1.1", f"Host: {self.host_header}"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            close = any(k.lower() == "connection" and "close" in v.lower() for k, v in (headers or {}).items())
            made = (("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), close)
            if len(self._heads) < 64:
                self._heads[key] = made
        return made

    def _exchange(self, url: str, headers: dict[str, str] | None) -> LeanResponse:
        """One request and its answer, within the timeout. A connection that closes (or
        resets) before the first byte of the answer is dropped and the request sent again on
        another, as geventhttpclient does (the pool's size plus one more times): a kept-alive
        connection the server closed while idle is not a failure."""
        head, close = self._head(url, headers)
        attempts_left = self.concurrency + 1
        while True:
            conn = self._idle.pop() if self._idle else self._connect()
            # update: the loop's clock may be stale (a greenlet that ran long without waiting)
            conn.timer.start(_time_out, gevent.getcurrent(), update=True)
            try:
                try:
                    conn.sendall(head)
                except (ConnectionResetError, BrokenPipeError) as e:
                    raise HTTPConnectionClosed("connection closed.") from e
                status, fields, body, keep = self._read(conn)
            except HTTPConnectionClosed:
                conn.close()
                if attempts_left > 0:
                    attempts_left -= 1
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            conn.timer.stop()
            if keep and not close and len(self._idle) < self.concurrency:
                self._idle.append(conn)
            else:
                conn.close()
            return LeanResponse(status, fields, body, url)

    def _connect(self) -> _Conn:
        sock = socket.create_connection(self.address, timeout=self.timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(sock, self.timeout_s)

    # -- the answer -------------------------------------------------------------------------
    @staticmethod
    def _more(conn: _Conn, started: bool) -> bytes:
        """More of the answer. Before its first byte (not `started`), a close or a reset
        means the connection was dead: HTTPConnectionClosed, to send the request again."""
        try:
            data = conn.recv(not started)
        except ConnectionResetError as e:
            if not started:
                raise HTTPConnectionClosed("connection closed.") from e
            raise
        if not data:
            raise HTTPConnectionClosed("connection closed.")
        return data

    def _read(self, conn: _Conn) -> tuple[int, dict[str, str], bytes, bool]:
        """Status, headers (lower-case name -> first value), body, and whether the connection
        may carry the next request."""
        buf = conn.buf
        conn.buf = b""
        more = self._more
        while True:
            end = buf.find(_CRLF2)
            while end < 0:
                buf += more(conn, bool(buf))
                end = buf.find(_CRLF2)
            status_line, _, field_lines = buf[:end].decode("latin-1").partition("\r\n")
            buf = buf[end + 4 :]
            version, _, rest = status_line.partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/") or not code.isdigit():
                raise HTTPParseError(f"invalid status line: {status_line[:80]!r}")
            status = int(code)
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer: the real one follows
            break
        fields = _fields(field_lines)
        connection = fields.get("connection", "").lower()
        keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        if status in (204, 304):
            body = b""
        elif "transfer-encoding" in fields and "chunked" in fields["transfer-encoding"].lower():
            body, buf = self._read_chunked(conn, buf)
        elif "content-length" in fields:
            try:
                length = int(fields["content-length"])
            except ValueError:
                raise HTTPParseError(f"invalid Content-Length: {fields['content-length'][:40]!r}") from None
            while len(buf) < length:
                buf += more(conn, True)
            body, buf = buf[:length], buf[length:]
        else:  # the body runs to the close
            chunks = [buf]
            while data := conn.recv(False):
                chunks.append(data)
            body, buf, keep = b"".join(chunks), b"", False
        conn.buf = buf
        return status, fields, body, keep

    def _read_chunked(self, conn: _Conn, buf: bytes) -> tuple[bytes, bytes]:
        body = bytearray()
        while True:
            end = buf.find(b"\r\n")
            while end < 0:
                buf += self._more(conn, True)
                end = buf.find(b"\r\n")
            try:
                size = int(buf[:end].split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HTTPParseError(f"invalid chunk size: {buf[:end][:40]!r}") from None
            buf = buf[end + 2 :]
            if size == 0:  # the last chunk, then trailer lines up to an empty one
                while True:
                    end = buf.find(b"\r\n")
                    while end < 0:
                        buf += self._more(conn, True)
                        end = buf.find(b"\r\n")
                    line, buf = buf[:end], buf[end + 2 :]
                    if not line:
                        return bytes(body), buf
            while len(buf) < size + 2:
                buf += self._more(conn, True)
            body += buf[:size]
            buf = buf[size + 2 :]

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _fields(lines: str) -> dict[str, str]:
    """Header lines -> {lower-case name: the first line's value} (an app and a proxy may both
    name a process); HTTPParseError for a line that is not `name: value`. (A plain loop: a
    regular expression was twice as slow here.)"""
    fields: dict[str, str] = {}
    if not lines:
        return fields
    for line in lines.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep:
            raise HTTPParseError(f"invalid header line: {line[:80]!r}")
        key = key.strip().lower()
        if key not in fields:
            fields[key] = value.strip()
    return fields
