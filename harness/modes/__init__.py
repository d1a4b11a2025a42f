"""The server modes, one module each (harness.modes.base.Mode says what a mode knows).

Every module of this package that defines `MODE` (a Mode instance) is a mode; `all_modes()`
lists them in their `order`. Nothing else in the harness lists modes: to add one, add a
module here (and, when it needs a new `index.js --mode`, its JavaScript and its entry in
server/modes.json).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from functools import lru_cache
from typing import Any

from harness.errors import UsageError
from harness.modes.base import ACTIONS, Mode

__all__ = ["ACTIONS", "Mode", "all_modes", "names", "get", "event_modes", "colors", "server_facts", "reload"]

_registry: dict[str, Mode] | None = None


def _discover() -> dict[str, Mode]:
    found: list[Mode] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        mode = getattr(module, "MODE", None)
        if isinstance(mode, Mode):
            found.append(mode)
    found.sort(key=lambda m: (m.order, m.name))
    out: dict[str, Mode] = {}
    for mode in found:
        if mode.name in out:
            raise RuntimeError(f"two modules define mode {mode.name!r}")
        out[mode.name] = mode
    return out


def _modes() -> dict[str, Mode]:
    global _registry
    if _registry is None:
        _registry = _discover()
    return _registry


def reload() -> None:
    """Look for mode modules again (after a folder was added to this package's __path__)."""
    global _registry
    _registry = None


def all_modes() -> list[Mode]:
    return list(_modes().values())


def names(selectable: bool = False) -> tuple[str, ...]:
    """Every mode's name in order (selectable: only those `--modes` may name)."""
    return tuple(m.name for m in _modes().values() if m.selectable or not selectable)


def get(name: str) -> Mode:
    """The mode called `name`; a UsageError that lists the modes otherwise."""
    mode = find(name)
    if mode is None:
        raise UsageError(f"unknown server mode {name!r}", f"use one of: {', '.join(names())}")
    return mode


def find(name: Any) -> Mode | None:
    """The mode called `name`, or None (a record from another version may name any mode)."""
    return _modes().get(name) if isinstance(name, str) else None


def event_modes() -> dict[str, tuple[str, ...]]:
    """Each event action (base.ACTIONS) and the modes that support it, in the modes' order."""
    return {action: tuple(m.name for m in _modes().values() if action in m.events) for action in ACTIONS}


def colors() -> dict[str, str]:
    """Every mode's figure colour by colour key (harness.report.figures.MODE_COLORS)."""
    return {key: color for mode in _modes().values() for key, color in mode.colors.items()}


@lru_cache(maxsize=1)
def server_facts() -> dict[str, Any]:
    """server/modes.json: the facts the Node server (index.js) and the harness share."""
    from harness import bundled

    return json.loads((bundled.server_file("modes.json")).read_text())
