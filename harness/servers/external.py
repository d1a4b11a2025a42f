"""mode external: a server the harness did not start (`--target URL`).

No lifecycle: nothing is started or stopped, no process is sampled (the harness does not
know the target's processes, which may be on another machine). Ready means one HTTP
answer (any status) on the case's path. If the target serves the reference server's
`/metrics` (a JSON document with requests_by_route), its snapshots are recorded as for
a started server; otherwise those figures are missing, and the record says so.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from harness.errors import RunFailed
from harness.net import Target, http_probe, parse_target
from harness.servers.base import ProcInfo, Server


class ExternalServer(Server):
    """The Server interface over a target the user runs: start and stop do nothing."""

    mode = "external"

    def __init__(self, log_dir: Path, target: str, probe_path: str = "/", **_: Any) -> None:
        # Server.__init__ is not called: it would pick or check a local port.
        self.log_dir = log_dir
        self.uv_threadpool_size = None
        self.cpus = None
        self.stop_timeout_s = 0.0
        self.proc = None
        self.exit_code = None
        self.target: Target = parse_target(target, allow_remote=True)  # the loopback rule was checked by the run
        self.host, self.port = self.target.host, self.target.port
        self.probe_path = probe_path
        self.metrics_problem: str | None = None  # why /metrics gave nothing, once tried

    @property
    def url(self) -> str:
        return self.target.url

    @classmethod
    def missing(cls) -> list[str]:
        return []  # needs nothing on this machine (not even node)

    def command(self) -> list[str]:
        return []

    def start(self, ready_timeout_s: float = 10.0) -> None:
        self.wait_ready(ready_timeout_s)

    def exit_problem(self) -> str | None:
        return None

    def _start_failure(self, what: str) -> Exception:
        return RunFailed(
            f"--target {self.url} did not answer GET {self.probe_path}: {what}",
            "check that the server runs and the path exists",
        )

    def is_ready(self) -> bool:
        http_probe(self.target, self.probe_path, timeout_s=2.0)
        return True  # any HTTP answer: something serves there

    def stop(self) -> int | None:
        return None

    def processes(self) -> list[ProcInfo]:
        return []

    def worker_metrics(self) -> list[dict[str, Any]]:
        """The target's /metrics when it serves the reference server's document; [] otherwise."""
        cls = http.client.HTTPSConnection if self.target.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=3.0)
        try:
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            body = resp.read()
            doc = json.loads(body) if resp.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.metrics_problem = f"GET /metrics failed ({type(exc).__name__})"
            return []
        finally:
            conn.close()
        if not isinstance(doc, dict) or not isinstance(doc.get("requests_by_route"), dict):
            self.metrics_problem = (
                f"GET /metrics answered {resp.status}"
                if doc is None
                else "its /metrics is not the reference server's document"
            )
            return []
        self.metrics_problem = None
        return [doc]

    def missing_figures(self) -> list[str]:
        missing = [
            f"CPU, memory and threads of the server: {self.url} was not started by the harness, so its "
            "processes were not sampled (the server-side CPU figures are empty)"
        ]
        if self.metrics_problem is not None:
            missing.append(
                f"the server's own request counts and event-loop figures, and the check that client and "
                f"server counts agree: {self.metrics_problem}"
            )
        return missing
