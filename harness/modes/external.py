"""external: a server the harness did not start, at `target` (http://HOST:PORT); the harness
only sends it load."""

from __future__ import annotations

from harness.modes.base import Mode


class External(Mode):
    name = "external"
    order = 90
    takes = ("target",)
    selectable = False  # it needs a target: --target, not --modes
    starts_server = False

    def server_class(self) -> type:
        from harness.servers.external import ExternalServer

        return ExternalServer


MODE = External()
