"""reuseport: `workers` independent Node processes sharing one port with SO_REUSEPORT (the
kernel places each connection); needs Node 22.12+ (23.1+ in the 23 line), a rule
server/modes.json states for both the server and the harness."""

from __future__ import annotations

from harness.modes.base import Mode


def supports_reuseport(version: str) -> bool:
    """Whether a Node version has server.listen({reusePort: true}) (server/modes.json's
    reuseport_since: the first version of each major line that has it; later majors all do)."""
    from harness import nodes
    from harness.modes import server_facts

    since: dict[str, list[int]] = server_facts()["reuseport_since"]
    major = int(version.split(".")[0])
    first = since.get(str(major))
    if first is None:
        return major > max(int(m) for m in since)
    return nodes.at_least(version, (first[0], first[1], first[2]))


class Reuseport(Mode):
    name = "reuseport"
    order = 70
    takes = ("workers",)
    colors = {"reuseport": "#F0E442"}  # yellow

    def node_problem(self, version: str) -> str | None:
        return None if supports_reuseport(version) else "mode reuseport needs Node.js 22.12 or newer"

    def server_class(self) -> type:
        from harness.servers.reuseport import ReuseportServer

        return ReuseportServer


MODE = Reuseport()
