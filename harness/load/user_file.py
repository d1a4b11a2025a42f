"""`--locustfile FILE`: the user's own Locust users, run unchanged under the harness's hooks.

How the two are combined: Locust is started with `-f <harness locustfile>,<user's file>`
(Locust's own way to load several files). The harness's file registers the hooks (HDR per
request name, per-worker counts, phases, the window) and, with HARNESS_USER_LOCUSTFILE=1 in
its environment, leaves its own HarnessUser abstract and defines no probe user, so the
users that run are exactly the User classes `locust -f FILE` would run, with their weights,
fixed_count, wait_time and tasks, and the file's first LoadTestShape if it has one. With
`--processes N` Locust forks its workers from the master after both files are loaded, so
every worker has the user's file too.

This module runs in the harness process and never imports Locust: the file is looked at
in a process of its own (harness.load.inspect_locustfile) before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.scenario import ClosedLoad, LocustfileLoad, LocustfileWorkload, OpenLoad, Scenario

INSPECT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocustfileInfo:
    """What the user's file holds, as Locust would load it."""

    path: str  # absolute
    sha256: str
    user_classes: list[dict[str, Any]]
    shape: dict[str, Any] | None  # {name, length_s, peak_users, stages} or None

    def record(self) -> dict[str, Any]:
        """What run.json keeps about the file (`locustfile`)."""
        return {"path": self.path, "sha256": self.sha256, "user_classes": self.user_classes, "shape": self.shape}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inspect(path_text: str) -> LocustfileInfo:
    """Check the file and load it as Locust would, in a process of its own: UsageError (one
    line) when it is missing, not a .py file, fails to import, has no User class, or has a
    shape whose length cannot be known."""
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"--locustfile {path_text}: no such file", "give the path of your locustfile (.py)")
    if path.suffix != ".py":
        raise UsageError(f"--locustfile {path_text} is not a .py file", "Locust loads locustfiles that end in .py")
    if "," in str(path.resolve()):  # Locust's -f takes a comma-separated list
        raise UsageError(
            f"--locustfile {path_text}: Locust cannot load a file whose path has a comma", "rename or move it"
        )
    path = path.resolve()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")  # no __pycache__ left in the user's folder
    try:
        out = subprocess.run(
            [sys.executable, "-m", "harness.load.inspect_locustfile", str(path)],
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT_S,
            env=env,
            cwd=str(path.parent),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"--locustfile {path_text}: loading it took over {INSPECT_TIMEOUT_S:.0f} s",
            "a locustfile should only define users and tasks when imported",
        ) from None
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    try:
        found = json.loads(lines[-1]) if lines else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
        raise UsageError(f"--locustfile {path_text} could not be loaded: {tail}")
    if found.get("error"):
        raise UsageError(str(found["error"]).splitlines()[0][:500])
    return LocustfileInfo(str(path), sha256_of(path), list(found["user_classes"]), found.get("shape"))


def with_locustfile(
    scen: Scenario,
    info: LocustfileInfo,
    *,
    users: int | None,
    rate: float | None,
    duration_s: float | None,
    expect_workers: int | None,
    notice: Callable[[str], None],
) -> Scenario:
    """The scenario with its workloads replaced by the user's file, and its loads by the
    file's users: every closed load's user count (a sweep of user counts stays a sweep),
    or the file's LoadTestShape. Refuses what cannot go together, one line each."""
    if scen.parts:
        raise UsageError(
            f"--locustfile needs a scenario of one grid; {scen.name} is made of parts",
            "use e.g. `harness run app --app FILE --locustfile FILE` or `harness run default --locustfile FILE`",
        )
    if rate is not None:
        raise UsageError(
            "--rate is open load at a fixed rate; a locustfile's users are closed load with their own wait_time",
            "drop --rate; set the load in the locustfile (wait_time, or a LoadTestShape)",
        )
    if expect_workers is not None:
        raise UsageError(
            "--locustfile with --expect-workers is not supported: workers started elsewhere run the "
            "harness's own locustfile",
            "use --processes N (Locust workers on this machine)",
        )
    for cls in info.user_classes:
        if cls.get("host"):
            notice(
                f"the locustfile's {cls['name']} sets host = {cls['host']}; the harness sends to the server "
                "under test instead (its URL is Locust's --host, which wins)"
            )
    work = LocustfileWorkload.of(info.path, info.sha256)
    shape = info.shape
    if shape is not None:
        if users is not None:
            raise UsageError(
                f"--users: the locustfile's LoadTestShape {shape['name']} decides how many users run",
                "drop --users, or change the shape's stages",
            )
        if duration_s is not None:
            raise UsageError(
                f"--duration-s: the locustfile's LoadTestShape {shape['name']} decides how long the load "
                f"runs ({shape['length_s']:g} s)",
                "drop --duration-s; the measured window is the shape's run after --warmup-s",
            )
        if shape["length_s"] <= scen.warmup_s + 1:
            raise UsageError(
                f"the locustfile's LoadTestShape {shape['name']} runs {shape['length_s']:g} s, no more "
                f"than the warm-up ({scen.warmup_s:g} s) and a second to measure",
                "lower --warmup-s or lengthen the shape",
            )
        if shape["peak_users"] < 1:
            raise UsageError(f"the locustfile's LoadTestShape {shape['name']} never asks for a user")
        notice(
            f"the locustfile's LoadTestShape {shape['name']} sets users (up to {shape['peak_users']}) and length "
            f"({shape['length_s']:g} s): the first {scen.warmup_s:g} s are warm-up, the rest is measured"
        )
        loads: tuple = (
            LocustfileLoad(int(shape["peak_users"]), shape=shape["name"], shape_s=float(shape["length_s"])),
        )
        # the record's scenario says the window the shape leaves after the warm-up
        scen = replace(scen, duration_s=float(shape["length_s"]) - scen.warmup_s)
    else:
        counts = [load.users for load in scen.loads if isinstance(load, ClosedLoad)]
        if users is not None:
            counts = [users]
        if not counts:
            kinds = ", ".join(sorted({type(load).__name__ for load in scen.loads if isinstance(load, OpenLoad)}))
            raise UsageError(
                f"scenario {scen.name} has no closed load ({kinds}) to take the user count from", "give --users N"
            )
        loads = tuple(LocustfileLoad(n) for n in dict.fromkeys(counts))
    return replace(scen, workloads=(work,), loads=loads)


def check_unchanged(path: str, sha256: str) -> None:
    """Before a case: the file is still the one the run was planned with (the record names its
    hash, and a copy of it in the run folder)."""
    from harness.errors import RunFailed

    try:
        now = sha256_of(Path(path))
    except OSError as exc:
        raise RunFailed(f"the locustfile {path} cannot be read any more: {exc.strerror}") from None
    if now != sha256:
        raise RunFailed(
            f"the locustfile {path} changed during the run (sha256 {now[:12]}, planned {sha256[:12]})",
            "run again; the record's copy in locustfile/ is the version the earlier cases ran",
        )
