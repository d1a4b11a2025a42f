"""Redis for the shared-state demo: Debian's redis-server, started and stopped by the harness.

Like nginx (nginx.py), redis-server runs in the foreground (`daemonize no`) as its own
process group started by procs.spawn, so it is in the ledger, dies with the harness, and
is stopped on every exit path (SIGTERM, SIGKILL after the timeout). Its config is
rendered into the case's raw folder (redis.conf) with every value validated: loopback
only, protected mode, no persistence (`save ""`, `appendonly no`), `dir` = the case's
raw folder, the log to stdout (raw/<case>/redis.log). Ready means it answered PING.

The harness talks to it with the few lines of RESP below (PING, DEL, GET, INFO): no Python
client library is needed for four commands, and the server's own client (@redis/client
from npm) is what the measured requests use.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from harness import procs
from harness.errors import EnvironmentProblem, RunFailed, UsageError
from harness.net import check_port_free, free_port
from harness.servers.base import Managed, ProcInfo

# The key /count/redis increments (server/store.js reads REDIS_COUNTER_KEY).
COUNTER_KEY = "harness:count"
# Characters that could end a value, start a comment or break out of the quotes the
# folder is written in (redis.conf lines are split like a shell's: quotes and backslashes).
_UNSAFE_PATH = re.compile(r"[\"'\\#\x00-\x1f\x7f]")


def find_redis_server() -> str:
    """The redis-server binary: $HARNESS_REDIS_SERVER, `redis-server` on PATH, or Debian's
    /usr/bin/redis-server."""
    explicit = os.environ.get("HARNESS_REDIS_SERVER")
    candidates = [explicit] if explicit else [shutil.which("redis-server"), "/usr/bin/redis-server"]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise EnvironmentProblem("redis-server was not found", "apt-get install redis-server")


def redis_missing() -> list[str]:
    """What this machine lacks to run Redis, with the fix (empty: ready); for `harness doctor`."""
    try:
        find_redis_server()
    except EnvironmentProblem as exc:
        return [exc.one_line()]
    return []


def redis_version(binary: str | None = None) -> str | None:
    """`redis-server --version`'s line, e.g. "Redis server v=7.0.15 sha=... bits=64 ..."."""
    try:
        return procs.first_output_line([binary or find_redis_server(), "--version"])
    except EnvironmentProblem:
        return None


def render_config(*, port: int, data_dir: Path, password: str | None = None) -> str:
    """redis.conf of one case. Refuses (UsageError) any value it cannot place safely."""
    if password is not None and not re.fullmatch(r"[0-9a-f]{16,128}", password):
        raise UsageError("the Redis password must be 16 to 128 hexadecimal digits (the harness makes one per case)")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(
            f"port {port!r} cannot go into the Redis config: not a port", "use a whole number from 1 to 65535"
        )
    folder = str(data_dir)
    if not folder.startswith("/") or _UNSAFE_PATH.search(folder):
        raise UsageError(
            f"folder {folder!r} cannot go into the Redis config",
            "use an absolute folder path without quotes, \\, # or control characters",
        )
    return f"""# Rendered by the harness (harness/servers/redis.py) for one case; every value was validated.
# Run as: redis-server <this file>   (in the foreground; the harness stops it with SIGTERM)

# Loopback only, and protected mode on: nothing but this machine can reach it; and a
# password made for this case alone, so no other user of the machine can read, reset or
# reconfigure the counter during the run (this file is readable by its owner only).
bind 127.0.0.1
protected-mode yes
port {port}
{f"requirepass {password}" if password else "# no password (a test of the configuration)"}

# In the foreground, logging to stdout (the harness writes it to redis.log beside this file).
daemonize no
supervised no
logfile ""
loglevel notice
always-show-logo no

# No persistence: the counter lives for one case; nothing is written to disk, and the
# working folder is the case's own raw folder, never /var/lib/redis.
save ""
appendonly no
dir "{folder}"
databases 1
"""


def _encode(args: tuple[str, ...]) -> bytes:
    return f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )


def resp_command(
    port: int, *args: str, host: str = "127.0.0.1", timeout_s: float = 2.0, password: str | None = None
) -> Any:
    """Send one command to Redis (after AUTH with `password`) and return its reply: str
    (simple or bulk string), int, None (a null bulk string), or a list. An error reply raises RunFailed."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        reader = sock.makefile("rb")
        if password is not None:
            sock.sendall(_encode(("AUTH", password)))
            _read_reply(reader)
        sock.sendall(_encode(args))
        return _read_reply(reader)


def _read_reply(reader: Any) -> Any:
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise RunFailed("Redis closed the connection in the middle of a reply")
    kind, body = line[:1], line[1:-2].decode()
    if kind == b"+":
        return body
    if kind == b"-":
        raise RunFailed(f"Redis answered an error: {body}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = reader.read(size + 2)
        return data[:-2].decode()
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [_read_reply(reader) for _ in range(count)]
    raise RunFailed(f"Redis sent a reply this client does not read: {line[:40]!r}")


class RedisService(Managed):
    """One redis-server for one case, as a context manager: started (ready by PING) on
    enter, stopped on exit (SIGTERM: with nothing to save Redis exits at once; SIGKILL
    after the timeout), whatever happened in between."""

    host = "127.0.0.1"

    def __init__(
        self, data_dir: Path, port: int | None = None, stop_timeout_s: float = 10.0, cpus: list[int] | None = None
    ) -> None:
        self.binary = find_redis_server()
        self.data_dir = Path(os.path.abspath(data_dir))
        self.conf_path = self.data_dir / "redis.conf"
        self.log_path = self.data_dir / "redis.log"
        if port is not None:
            check_port_free(port, self.host)
        self.port = port if port is not None else free_port(self.host)
        self.stop_timeout_s = stop_timeout_s
        self.cpus = cpus
        self.password = secrets.token_hex(16)  # this case's alone
        render_config(port=self.port, data_dir=self.data_dir, password=self.password)  # refuse bad values first

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a server needs in its environment to count in this Redis (server/store.js)."""
        return {"REDIS_URL": self.url, "REDIS_COUNTER_KEY": COUNTER_KEY, "REDIS_PASSWORD": self.password}

    def command(self, *args: str, timeout_s: float = 2.0) -> Any:
        """One command to this Redis, authenticated."""
        return resp_command(self.port, *args, host=self.host, timeout_s=timeout_s, password=self.password)

    def start(self, ready_timeout_s: float = 10.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the password
        with os.fdopen(fd, "w") as f:
            f.write(render_config(port=self.port, data_dir=self.data_dir, password=self.password))
        self.proc = procs.spawn([self.binary, str(self.conf_path)], self.log_path, cwd=self.data_dir, cpus=self.cpus)
        self._wait_ready(ready_timeout_s)
        self.command("DEL", COUNTER_KEY)  # every case counts from zero

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                raise self._start_failure(f"redis-server exited with code {self.proc.returncode} before it was ready")
            try:
                if self.command("PING", timeout_s=1.0) == "PONG":
                    return
            except (OSError, RunFailed):
                pass
            if time.monotonic() > deadline:
                raise self._start_failure(f"redis-server did not answer PING within {timeout_s:.0f} s")
            time.sleep(0.05)

    def _start_failure(self, what: str) -> Exception:
        try:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            tail = []
        last = tail[-1] if tail else "(empty log)"
        if "Address already in use" in last:
            return EnvironmentProblem(
                f"redis-server could not listen: port {self.port} is taken",
                "free the port, or let the harness pick one",
            )
        return RunFailed(f"{what}: {last}", f"see {self.log_path}")

    def counter(self) -> int:
        """The shared counter's value now (0 when no request has counted yet)."""
        value = self.command("GET", COUNTER_KEY)
        return int(value) if value is not None else 0

    def processes(self) -> list[ProcInfo]:
        return [ProcInfo(p.pid, "redis") for p in procs.tree(self.proc.pid)] if self.proc else []
