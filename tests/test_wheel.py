"""`pip install` of a wheel into a fresh venv outside the repository gives a working `harness`:
the reference server and the scenarios come as package data, npm ci runs into a cache on first
use, and `harness run smoke --quick` runs end to end (one short repetition of each case).

The wheel is built from the checkout (with this interpreter's setuptools where it meets
pyproject.toml's build requirements) and installed for real (pip, into a new venv in a
temporary folder). Its dependencies are not downloaded and unpacked again: the new venv sees,
through a .pth file, a folder that holds exactly the wheel's declared dependencies (its
Requires-Dist and theirs, without extras) as this test's interpreter has them installed, and
nothing else of this environment: an import the wheel does not declare fails there, and
`pip check` in the new venv says every declared requirement is met. Where this interpreter
lacks one of them, the test installs the dependencies from the index as a user would."""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(wheel: Path) -> dict[str, metadata.Distribution] | None:
    """The wheel's declared runtime dependencies and theirs (extras only where a requirement
    asks for them), each resolved to the distribution this interpreter has installed; None
    when one is missing or its installed version does not satisfy the requirement."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(z.read(name).decode())
    todo = [(Requirement(r), "") for r in meta.get_all("Requires-Dist") or []]
    found: dict[str, metadata.Distribution] = {}
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = _canonical(req.name)
        try:
            dist = found.get(key) or metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            return None
        if not req.specifier.contains(dist.version, prereleases=True):
            return None
        first = key not in found
        found[key] = dist
        for wanted in ([""] if first else []) + sorted(req.extras):
            todo += [(Requirement(r), wanted) for r in dist.requires or []]
    return found


def link_dependencies(dists: dict[str, metadata.Distribution], folder: Path) -> None:
    """Symlink every top-level file and folder of each distribution (its packages, modules and
    dist-info) into folder."""
    folder.mkdir()
    for dist in dists.values():
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source, target_is_directory=source.is_dir())


def build_requirements_met() -> bool:
    """Whether this interpreter has what pyproject.toml's [build-system] requires (then the
    wheel is built with it rather than in a new isolated environment: the same build, faster)."""
    try:
        import tomllib
        from packaging.requirements import Requirement
    except ImportError:
        return False
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]:
        req = Requirement(line)
        try:
            if not req.specifier.contains(metadata.version(req.name), prereleases=True):
                return False
        except metadata.PackageNotFoundError:
            return False
    return True


def test_a_wheel_installed_outside_the_repo_runs_smoke(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            *(["--no-build-isolation"] if build_requirements_met() else []),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/_data/server/index.js" in names and "harness/_data/scenarios/smoke.py" in names
    assert not any("node_modules" in n for n in names)
    # nothing of the checkout may leak in: no PYTHONPATH (it would show pip the tree's egg-info)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "HARNESS_RESULTS", "HARNESS_SERVER_DIR", "HARNESS_SCENARIOS_DIR", "VIRTUAL_ENV")
    }
    env["HARNESS_CACHE"] = str(tmp_path / "cache")
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    dists = dependency_closure(wheel)
    if dists is not None:
        assert {"locust", "pandas", "psutil"} <= set(dists) and "node-scaling-harness" not in dists
        assert not {"hypothesis", "nbclient", "ipykernel"} & set(dists)  # the test extra is not a dependency
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
        link_dependencies(dists, tmp_path / "deps")
        site = next((venv / "lib").glob("python*/site-packages"))
        (site / "_test_dependencies.pth").write_text(f"{tmp_path / 'deps'}\n")
        # this interpreter's pip, run for the new venv (--python): installs the wheel there, for real
        pip = [sys.executable, "-m", "pip", "--python", python]
        subprocess.run(
            [*pip, "install", "-q", "--no-deps", "--no-compile", str(wheel)], check=True, cwd=tmp_path, env=env
        )
        check = subprocess.run([*pip, "check"], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert check.returncode == 0, check.stdout + check.stderr  # every declared requirement is met
    else:  # this interpreter lacks a dependency: install them all from the index
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, cwd=tmp_path, env=env)
    where = subprocess.run(
        [python, "-c", "import harness; print(harness.__file__)"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy, not the checkout
    harness = str(venv / "bin" / "harness")
    assert subprocess.run(
        [harness, "--version"], capture_output=True, text=True, env=env, cwd=tmp_path
    ).stdout.startswith("harness ")
    # the quick smoke variant's cases, each once and short: the installed copy runs them end to end
    done = subprocess.run(
        [
            harness,
            "run",
            "smoke",
            "--quick",
            "--results",
            str(tmp_path / "x"),
            "--repetitions",
            "1",
            "--duration-s",
            "2",
            "--warmup-s",
            "1",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "installing the reference server's npm dependencies" in done.stderr
    (run,) = (p.parent for p in (tmp_path / "x").glob("*/run.json"))
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert len(summary["runs"][0]["conditions"]) == 2
    assert list((tmp_path / "cache").glob("server-*/node_modules/pm2"))
