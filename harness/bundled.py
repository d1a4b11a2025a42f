"""Where the reference server and the scenarios are: the source tree's `server/` and
`scenarios/` when the harness runs from a checkout, the copies a wheel carries
(`harness/_data/server`, `harness/_data/scenarios`, put there by setup.py's build step)
when it was installed with pip or pipx.

An installed harness cannot run the server from site-packages: its npm dependencies
(pm2, piscina) are installed on first use (or by `harness setup`) into a per-user cache,

    $HARNESS_CACHE/server-<hash of the server's files>/   (default ~/.cache/node-scaling-harness)

a copy of the bundled server with `npm ci` run in it, made once per server version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.errors import EnvironmentProblem

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "_data"
# What a wheel carries of server/ (never node_modules): setup.py copies these.
SERVER_FILES = ("*.js", "modes.json", "package.json", "package-lock.json")
INSTALLED_MARK = ".installed"


def source_tree() -> Path | None:
    """The checkout the harness runs from (its server/ and scenarios/ beside harness/), or None
    when it was installed from a wheel."""
    root = PACKAGE.parent
    if (root / "server" / "index.js").is_file() and (root / "scenarios").is_dir():
        return root
    return None


def scenarios_dir() -> Path:
    root = source_tree()
    return root / "scenarios" if root else DATA / "scenarios"


def cache_root() -> Path:
    env = os.environ.get("HARNESS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "node-scaling-harness"


def _bundled_files() -> list[Path]:
    folder = DATA / "server"
    return sorted({p for pattern in SERVER_FILES for p in folder.glob(pattern) if p.is_file()})


def server_file(name: str) -> Path:
    """One file of the reference server as this version of the harness carries it (the
    checkout's server/, or the wheel's copy), without preparing anything: facts both sides
    read, such as server/modes.json."""
    root = source_tree()
    return (root / "server" if root else DATA / "server") / name


def installed_server_dir() -> Path:
    """The cache folder the bundled server runs from (it may not be prepared yet: prepare_server)."""
    digest = hashlib.sha256()
    for path in _bundled_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return cache_root() / f"server-{digest.hexdigest()[:16]}"


def server_dir() -> Path:
    """The reference server's folder: the checkout's server/, or the installed copy's cache folder."""
    root = source_tree()
    return root / "server" if root else installed_server_dir()


def server_ready() -> bool:
    folder = server_dir()
    if source_tree() is not None:
        return (folder / "node_modules").is_dir()
    return (folder / INSTALLED_MARK).is_file()


def prepare_server(notice: Callable[[str], None]) -> Path:
    """Make the reference server runnable; its folder. From a checkout: nothing to do here
    (`make setup` runs npm ci in server/). Installed: copy the bundled server into the cache
    and run `npm ci` there, once (a half-made folder is never taken for a made one)."""
    folder = server_dir()
    if source_tree() is not None or (folder / INSTALLED_MARK).is_file():
        return folder
    files = _bundled_files()
    if not files:
        raise EnvironmentProblem(
            f"this installation of the harness carries no reference server ({DATA / 'server'} is empty)",
            "reinstall the package from a wheel or source built by its setup.py",
        )
    npm = shutil.which("npm")
    if npm is None:
        raise EnvironmentProblem(
            "npm is not on PATH: the reference server's dependencies (pm2, piscina) cannot be installed",
            "install Node.js 20+ with npm, then run `harness setup`",
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        for path in files:
            shutil.copy2(path, staging / path.name)
        notice(
            f"first use of this version of the harness: installing the reference server's npm dependencies "
            f"(npm ci, about a minute) into {folder}"
        )
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=staging, capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EnvironmentProblem(
                f"npm ci for the reference server failed (exit {done.returncode}): {tail[0]}",
                "check the network reaches the npm registry, then run `harness setup`",
            )
        (staging / INSTALLED_MARK).touch()
        try:
            staging.rename(folder)
        except OSError:  # another harness made it meanwhile: theirs is as good
            if not (folder / INSTALLED_MARK).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    notice(f"the reference server is ready in {folder}")
    return folder
