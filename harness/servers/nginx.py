"""mode nginx: `workers` independent single-mode node processes behind Debian's nginx.

Each backend is `node index.js --mode single --worker-id i` on its own free loopback port
(x-worker-id 1..N). nginx runs in the foreground (`daemon off;`) with a config rendered
into the case's folder (nginx.conf); its pid file and temp folders live under
<log_dir>/nginx/, its logs are <log_dir>/nginx-access.log and nginx-error.log: nothing is
written outside the run folder. Every value placed in the config is validated first.

Every process (nginx, each backend) is its own process group started by procs.spawn, so
each is in the ledger, dies with the harness, and is stopped on every path, including a
start that fails halfway: nginx first (SIGQUIT: finish what is in flight), then the
backends (SIGTERM: drain), each forced after the timeout.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
from pathlib import Path
from typing import Any

from harness import procs
from harness.errors import EnvironmentProblem, UsageError
from harness.net import free_port
from harness.scenario import BALANCES, whole
from harness.servers.base import MultiProcessServer, ProcInfo

# Idle connections to the backends nginx keeps open: above any user count a case uses on
# this machine, so closed-loop users never force nginx to open and close upstream connections.
UPSTREAM_KEEPALIVE = 1024
# Characters that could end a directive, open a block, start a comment, interpolate a
# variable or break out of the quotes every path is written in.
_UNSAFE_PATH = re.compile(r"[;{}\"'\\$#\x00-\x1f\x7f]")


def find_nginx() -> str:
    """The nginx binary: $HARNESS_NGINX, `nginx` on PATH, or Debian's /usr/sbin/nginx
    (/usr/sbin is often not on a normal user's PATH)."""
    candidates = [os.environ.get("HARNESS_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"]
    if os.environ.get("HARNESS_NGINX"):
        candidates = candidates[:1]  # an explicit choice is not second-guessed
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise EnvironmentProblem("nginx was not found", "apt-get install nginx")


def conf_port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise UsageError(
            f"{what} {value!r} cannot go into the nginx config: not a port", "use a whole number from 1 to 65535"
        )
    return value


def conf_path(value: Path | str, what: str) -> str:
    text = str(value)
    if not text.startswith("/") or _UNSAFE_PATH.search(text):
        raise UsageError(
            f"{what} {text!r} cannot go into the nginx config",
            "use an absolute folder path without ; { } quotes \\ $ # or control characters",
        )
    return text


def conf_balance(value: Any) -> str:
    if value not in BALANCES:
        raise UsageError(f"unknown balance {value!r}", f"use one of: {', '.join(BALANCES)}")
    return value


def worker_connections() -> int:
    """Connections per nginx worker: each user needs two (client side and upstream side);
    2,000 users need 4,000. Kept under the open-file limit nginx inherits."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 8192
    return max(256, min(8192, soft - 64))


def render_config(
    *, listen_port: int, backend_ports: list[int], balance: str, prefix: Path, log_dir: Path, connections: int = 4096
) -> str:
    """The nginx.conf of one case. Refuses (UsageError) any value it cannot place safely."""
    listen = conf_port(listen_port, "listen port")
    ports = [conf_port(p, "backend port") for p in backend_ports]
    if not ports:
        raise UsageError("nginx needs at least one backend")
    balance = conf_balance(balance)
    pre = conf_path(prefix, "nginx prefix")
    logs = conf_path(log_dir, "log folder")
    connections = whole(connections, "worker_connections", 1, 65535)
    # max_fails=0: a busy backend is never taken out of rotation (nginx's default would,
    # under overload, and the spread would measure nginx's health checks, not balancing)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in ports)
    method = "        least_conn;\n" if balance == "least_conn" else "        # round_robin: nginx's default\n"
    return f"""# Rendered by the harness (harness/servers/nginx.py) for one case; every value was validated.
# Run as: nginx -p <prefix> -c <this file> -e <error log> -g 'daemon off;'

# One worker process. On this project's 2-core machine the load generator, the N node
# backends and nginx share the cores; one nginx worker proxies well over 10,000 req/s,
# far above what Locust can send (about 2,700 req/s), so more workers would only add
# processes competing for the same cores. One worker also means one upstream keepalive
# pool, so balancing decisions are made in one place (least_conn counts per worker).
worker_processes 1;
pid "{pre}/nginx.pid";
error_log "{logs}/nginx-error.log" warn;

events {{
    worker_connections {connections};
}}

http {{
    log_format harness '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                       '$request_time $upstream_addr $upstream_response_time $upstream_http_x_worker_id';
    access_log "{logs}/nginx-access.log" harness buffer=64k flush=1s;

    # Temp folders inside the prefix; responses are never buffered to disk
    # (proxy_max_temp_file_size 0), so nothing is written outside the run folder.
    client_body_temp_path "{pre}/tmp/client_body";
    proxy_temp_path "{pre}/tmp/proxy";
    fastcgi_temp_path "{pre}/tmp/fastcgi";
    uwsgi_temp_path "{pre}/tmp/uwsgi";
    scgi_temp_path "{pre}/tmp/scgi";

    # Client side: keep connections as long as the node servers do, and do not close
    # them after 1,000 requests (nginx's default) so the load generator reconnects as
    # rarely as it does against node directly.
    keepalive_timeout 65s;
    keepalive_requests 1000000;

    upstream node_backends {{
{method}{servers}
        keepalive {UPSTREAM_KEEPALIVE};
        keepalive_requests 1000000;
        keepalive_timeout 60s;   # below node's keepAliveTimeout (65 s): nginx closes first
    }}

    server {{
        listen 127.0.0.1:{listen};

        location / {{
            proxy_pass http://node_backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_max_temp_file_size 0;
            # a failed request fails; it is not retried on another backend behind our back
            proxy_next_upstream off;
        }}
    }}
}}
"""


class NginxServer(MultiProcessServer):
    """`workers` single-mode node backends behind nginx (round_robin or least_conn)."""

    mode = "nginx"

    def __init__(
        self,
        log_dir: Path,
        port: int | None = None,
        workers: int = 2,
        balance: str = "round_robin",
        shutdown_timeout_s: float = 5.0,
        uv_threadpool_size: int | None = None,
        **_: Any,
    ) -> None:
        self.balance = conf_balance(balance)
        if port is not None:
            conf_port(port, "port")
        super().__init__(
            log_dir, port, workers=workers, shutdown_timeout_s=shutdown_timeout_s, uv_threadpool_size=uv_threadpool_size
        )
        self.nginx = find_nginx()
        self.log_dir = Path(os.path.abspath(log_dir))
        self.prefix = self.log_dir / "nginx"
        self.conf_path = self.log_dir / "nginx.conf"
        conf_path(self.log_dir, "log folder")  # refuse before anything is started
        self.backend_ports = self._distinct_free_ports(workers)
        self.backends: list = []

    def _distinct_free_ports(self, n: int) -> list[int]:
        ports: list[int] = []
        while len(ports) < n:
            p = free_port(self.host)
            if p != self.port and p not in ports:
                ports.append(p)
        return ports

    @classmethod
    def missing(cls) -> list[str]:
        problems = super().missing()
        try:
            find_nginx()
        except EnvironmentProblem:
            problems.append("nginx was not found (apt-get install nginx)")
        return problems

    # --- lifecycle ------------------------------------------------------------------------
    def command(self) -> list[str]:
        return [
            self.nginx,
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf_path),
            "-e",
            str(self.log_dir / "nginx-error.log"),
            "-g",
            "daemon off;",
        ]

    def backend_command(self, worker_id: int, port: int) -> list[str]:
        if self.app:
            return [self.node, *self.node_args(), self.app]  # PORT and HARNESS_WORKER_ID come in its environment
        return [
            self.node,
            "index.js",
            "--mode",
            "single",
            "--host",
            self.host,
            "--port",
            str(port),
            "--worker-id",
            str(worker_id),
            "--shutdown-timeout-ms",
            str(int(self.shutdown_timeout_s * 1000)),
        ]

    def render(self) -> str:
        return render_config(
            listen_port=self.port,
            backend_ports=self.backend_ports,
            balance=self.balance,
            prefix=self.prefix,
            log_dir=self.log_dir,
            connections=worker_connections(),
        )

    def start(self, ready_timeout_s: float = 20.0) -> None:
        text = self.render()
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(text)
        env = self.environment()
        for i, port in enumerate(self.backend_ports, start=1):
            backend_env = {**env, "PORT": str(port), "HARNESS_WORKER_ID": str(i)} if self.app else env
            self.backends.append(
                procs.spawn(
                    self.backend_command(i, port),
                    self.log_path,
                    env=backend_env,
                    cwd=self.working_dir(),
                    cpus=self.cpus,
                )
            )
        self.proc = procs.spawn(self.command(), self.log_path, env=env, cwd=self.prefix, cpus=self.cpus)
        self.wait_ready(ready_timeout_s)

    def exit_problem(self) -> str | None:
        problem = self.exited_member(self.backends, lambda i: f"backend {i} (node, port {self.backend_ports[i - 1]})")
        if problem is not None:
            return problem
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.exit_code = self.proc.returncode
            return f"nginx exited with code {self.proc.returncode}"
        return None

    def is_ready(self) -> bool:
        return all(self.serves(port) for port in self.backend_ports) and self.serves(self.port)

    def stop(self) -> int | None:
        """nginx first (SIGQUIT: it answers what is in flight, then exits), then every backend
        (SIGTERM: drain). All backends are signalled before any is waited for, so a slow
        drain costs one timeout, not one per backend. Returns the first non-zero exit code."""
        codes: list[int | None] = []
        if self.proc is not None:
            codes.append(procs.stop(self.proc, timeout_s=self.stop_timeout_s, sig=signal.SIGQUIT))
        codes.extend(procs.stop_all(self.backends, timeout_s=self.stop_timeout_s))
        if codes:
            self.exit_code = next((c for c in codes if c != 0), 0)
        return self.exit_code

    # --- what the sampler and the record see ----------------------------------------------
    def processes(self) -> list[ProcInfo]:
        found = [ProcInfo(p.pid, "proxy") for p in procs.tree(self.proc.pid)] if self.proc else []
        for b in self.backends:
            found.extend(ProcInfo(p.pid, "worker") for p in procs.tree(b.pid))
        return found

    def worker_metrics(self) -> list[dict[str, Any]]:
        return [self._get_json(port, "/metrics") for port in self.backend_ports]
