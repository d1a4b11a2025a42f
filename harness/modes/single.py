"""single: one Node process, everything on its event loop (index.js --mode single)."""

from __future__ import annotations

from harness.modes.base import Mode


class Single(Mode):
    name = "single"
    order = 10
    runs_app = True
    events = ("sigterm",)
    colors = {"single": "#0072B2"}  # blue (figures: Okabe-Ito for modes)

    def server_class(self) -> type:
        from harness.servers.node import SingleServer

        return SingleServer


MODE = Single()
