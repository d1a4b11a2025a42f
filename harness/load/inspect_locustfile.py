"""Look at a user's locustfile before a run: `python -m harness.load.inspect_locustfile FILE`
prints one JSON document on stdout and exits 0, also when the file is bad (then the
document has "error"; anything else is a bug of this module).

Why a process of its own: loading a locustfile imports Locust, which monkey-patches the
whole process with gevent, and runs the user's code; the harness process must do neither
(see record.versions). Locust's own loader is used, so the User classes and the shape
found here are exactly those `locust -f FILE` would use.

The document: {"user_classes": [{name, weight, fixed_count, host, wait_time, tasks: {name: weight}}],
"shape": null or {name, length_s, peak_users, stages: [[t_s, users, spawn_rate], ...]},
"shapes": [names]} or {"error": "one line"}.

A LoadTestShape decides users and length; the harness must know the length beforehand
(to time the warm-up, the measured window and the case), so the shape's tick() is called
here on a virtual clock, once per second as Locust calls it, until it returns None.
A shape whose tick() reads the runner (e.g. the users running now) cannot be run dry;
it is refused with a line saying so.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_SHAPE_S = 3600  # a shape that has not ended by then is refused (as the scenario's duration_s bound)


def wait_time_text(wait: Any) -> str | None:
    """A User class's wait_time as text: Locust's helpers with their settings, e.g.
    "between(max_wait=0.02, min_wait=0.005)"; a method of the user's own by its name."""
    if wait is None:
        return None
    qualname = getattr(wait, "__qualname__", "") or ""
    code, cells = getattr(wait, "__code__", None), getattr(wait, "__closure__", None) or ()
    if ".<locals>." in qualname and code is not None and len(code.co_freevars) == len(cells):
        settings = []
        for var, cell in zip(code.co_freevars, cells):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                settings.append(f"{var}={value!r}")
        return f"{qualname.split('.<locals>.')[0]}({', '.join(settings)})"
    return qualname or repr(wait)


def _describe_user(name: str, cls: type) -> dict[str, Any]:
    return {
        "name": name,
        "weight": getattr(cls, "weight", 1),
        "fixed_count": getattr(cls, "fixed_count", 0),
        "host": getattr(cls, "host", None),
        "wait_time": wait_time_text(getattr(cls, "wait_time", None)),
        "tasks": task_weights(getattr(cls, "tasks", None) or []),
    }


def task_weights(tasks: Any) -> dict[str, int]:
    """A User class's tasks as {name: weight}: Locust repeats a task in its list once per
    weight unit (a dict {task: weight} is taken as it is)."""
    if isinstance(tasks, dict):
        return {getattr(t, "__name__", repr(t)): int(w) for t, w in tasks.items()}
    out: dict[str, int] = {}
    for t in tasks:
        name = getattr(t, "__name__", repr(t))
        out[name] = out.get(name, 0) + 1
    return out


def dry_run_shape(shape: Any, max_s: int = MAX_SHAPE_S) -> dict[str, Any]:
    """The shape's stages and length from its tick() on a virtual clock: t = 0, 1, 2 ... s
    (Locust calls tick() about once a second) until it returns None. Raises ValueError
    with a sentence when it cannot be known."""
    name = type(shape).__name__
    clock = {"t": 0.0}
    shape.get_run_time = lambda: clock["t"]  # the shape's own clock, replaced for the dry run
    stages: list[list[float]] = []
    peak = 0
    for t in range(max_s + 1):
        clock["t"] = float(t)
        try:
            tick = shape.tick()
        except Exception as exc:  # user code: anything it raises means it cannot run dry
            raise ValueError(
                f"LoadTestShape {name}.tick() failed in a dry run at t={t} s ({type(exc).__name__}: "
                f"{exc}); the harness runs tick() on a clock alone to learn the shape's length, so "
                "tick() may read get_run_time() but not the runner"
            ) from None
        if tick is None:
            if t == 0:
                raise ValueError(f"LoadTestShape {name}.tick() returns None at once: the shape runs no load")
            return {"name": name, "length_s": float(t), "peak_users": peak, "stages": stages}
        if not isinstance(tick, tuple) or len(tick) not in (2, 3):
            raise ValueError(
                f"LoadTestShape {name}.tick() returned {tick!r} at t={t} s, not (users, spawn_rate) "
                "or (users, spawn_rate, user_classes)"
            )
        users, rate = tick[0], tick[1]
        if not isinstance(users, int) or isinstance(users, bool) or users < 0:
            raise ValueError(f"LoadTestShape {name}.tick() asked for {users!r} users at t={t} s")
        peak = max(peak, users)
        if not stages or stages[-1][1:] != [users, rate]:
            stages.append([float(t), users, rate])
    raise ValueError(
        f"LoadTestShape {name} has not ended after {max_s} s (its tick() never returned None); "
        "the harness needs shapes that end"
    )


def inspect(path: str) -> dict[str, Any]:
    """What `locust -f path` would run, or {"error": ...}."""
    try:
        from locust.util.load_locustfile import load_locustfile

        user_classes, shapes = load_locustfile(path)
    except SyntaxError as exc:
        return {"error": f"locustfile {path} has a syntax error at line {exc.lineno}: {exc.msg}"}
    except BaseException as exc:  # the user's code: any error (or exit) while importing it is bad input
        return {"error": f"locustfile {path} failed to load: {type(exc).__name__}: {exc}"}
    if not user_classes:
        return {
            "error": f"locustfile {path} defines no User class (a class deriving from locust's HttpUser, "
            "FastHttpUser or User, not abstract)"
        }
    out: dict[str, Any] = {
        "user_classes": [_describe_user(n, c) for n, c in user_classes.items()],
        "shapes": [type(s).__name__ for s in shapes],
        "shape": None,
    }
    if shapes:  # Locust uses the first one
        try:
            out["shape"] = dry_run_shape(shapes[0])
        except ValueError as exc:
            return {"error": f"locustfile {path}: {exc}"}
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(json.dumps({"error": "usage: python -m harness.load.inspect_locustfile FILE"}))
        return 0
    result = inspect(argv[0])
    sys.stdout.flush()
    print("\n" + json.dumps(result, default=repr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
