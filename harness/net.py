"""Addresses the user names: load targets (`--target URL`), Locust's master address.

The harness sends load only to loopback unless the user says otherwise: a target or a
master address that is not loopback is refused without `--allow-remote`, so a typo in a
URL can never aim a load test at somebody else's machine.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.errors import EnvironmentProblem, UsageError

_HOST_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,253}$")


def is_loopback(host: str) -> bool:
    """True if every address `host` resolves to is a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def check_host_allowed(host: str, what: str, allow_remote: bool) -> None:
    """Refuse a non-loopback host unless the user allowed it explicitly."""
    if not allow_remote and not is_loopback(host):
        raise UsageError(
            f"{what} {host} is not a loopback address",
            "add --allow-remote to send load to (or accept workers from) another machine on purpose",
        )


@dataclass(frozen=True)
class Target:
    """A server the harness did not start: where the load goes."""

    url: str  # scheme://host:port, no path
    scheme: str
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def parse_target(url: str, allow_remote: bool = False) -> Target:
    """Check a --target URL (http or https, a host, an optional port, no path): one UsageError per problem."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--target {url!r} is not a URL ({exc})", "use the form http://HOST:PORT") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or not _HOST_RE.match(parts.hostname):
        raise UsageError(f"--target {url!r} is not an http(s) URL with a host", "use the form http://HOST:PORT")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError(
            f"--target {url!r} has a path, query or credentials", "give only http://HOST:PORT and the path with --path"
        )
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname
    check_host_allowed(host, "--target host", allow_remote)
    shown = f"[{host}]" if ":" in host else host
    return Target(url=f"{parts.scheme}://{shown}:{port}", scheme=parts.scheme, host=host, port=port)


def http_probe(target: Target, path: str = "/", timeout_s: float = 3.0) -> int:
    """Status of one GET (any HTTP answer, even a 404, means something serves there)."""
    cls = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    conn = cls(target.host, target.port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def check_reachable(target: Target, path: str = "/") -> None:
    """One GET before anything is written: an unreachable target is one clear line."""
    try:
        http_probe(target, path)
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise EnvironmentProblem(
            f"cannot reach --target {target.url}: {reason}", "start the server first, or check the host and port"
        ) from exc


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """HOST or HOST:PORT (for `--master`)."""
    host, _, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not host:
        host, port_text = text, ""
    if not _HOST_RE.match(host) or (port_text and (not port_text.isdigit() or not 1 <= int(port_text) <= 65535)):
        raise UsageError(f"{text!r} is not HOST or HOST:PORT", "e.g. --master 10.0.0.5:5557")
    return host, int(port_text) if port_text else default_port


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on host right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Node does: TIME_WAIT is not "taken"
        try:
            s.bind((host, port))
        except OSError as exc:
            raise EnvironmentProblem(
                f"port {port} on {host} is taken ({exc.strerror})",
                "stop what listens there (`ss -ltnp`) or leave the port out so the harness picks a free one",
            ) from exc


def http_get(
    host: str, port: int, path: str, timeout_s: float = 2.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
