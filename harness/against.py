"""The other side of an A/B run: the server (and app) of a git ref, beside the working tree's.

`harness run SCENARIO --against REF` measures the reference server as it was at REF ("base")
and as it is in the working tree ("new"), case by case in one run, the way Node core's
benchmark/compare.js runs an old and a new binary: both sides share the machine's state at
every moment, so the comparison is like with like even on a busy or shared machine.

REF's `server/` folder (and the folder of an `--app` file inside the repository) is
extracted with `git archive` into a short private temporary folder, never into the
repository, and removed when the run ends. Its npm packages are the working tree's when
the lock files are identical (a link, nothing to install), otherwise `npm ci` installs
REF's own.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.errors import EnvironmentProblem, UsageError

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Side:
    """Where one side's code lives: the root standing in for the repository, and its server."""

    name: str
    root: Path

    @property
    def server_dir(self) -> Path:
        return self.root / "server"

    def app_path(self, app: str | None) -> str | None:
        """The side's copy of a user's app inside the repository (the same path on the new side)."""
        if app is None or self.root == REPO:
            return app
        return str(self.root / Path(app).resolve().relative_to(REPO))


def _git(*args: str, repo: Path = REPO) -> subprocess.CompletedProcess:
    git = shutil.which("git")
    if git is None:
        raise EnvironmentProblem(
            "git is not on PATH: --against needs it to read the other side's code", "install git (apt-get install git)"
        )
    return subprocess.run([git, "-C", str(repo), *args], capture_output=True, timeout=120)


def resolve(ref: str, repo: Path = REPO) -> str:
    """The commit REF names; UsageError when it names none."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"--against {ref!r} is not a git ref", "give a branch, tag or commit, e.g. --against HEAD~1")
    out = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", repo=repo)
    if out.returncode != 0:
        raise UsageError(
            f"--against {ref!r} names no commit of {repo}",
            "give a branch, tag or commit that exists here (git log --oneline shows them; a shallow "
            "clone may need git fetch --unshallow)",
        )
    return out.stdout.decode().strip()


def working_tree_state(repo: Path = REPO) -> dict[str, object]:
    """The working tree's commit and whether server/ or the rest has uncommitted changes."""
    head = _git("rev-parse", "HEAD", repo=repo)
    dirty = _git("status", "--porcelain", "--untracked-files=no", repo=repo)
    return {
        "work_commit": head.stdout.decode().strip() if head.returncode == 0 else None,
        "work_dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None,
    }


def app_inside_repo(app: str, repo: Path = REPO) -> Path:
    """The app's path relative to the repository; UsageError when it lies outside."""
    try:
        return Path(app).resolve().relative_to(repo)
    except ValueError:
        raise UsageError(
            f"--against compares the repository's own code at two commits, but the app {app} is outside the repository",
            "put the app under the repository (e.g. examples/) or compare two stored runs with harness compare",
        ) from None


def _install_packages(folder: Path, same_as: Path, notice: Callable[[str], None]) -> None:
    """node_modules for an extracted folder: the working tree's when the lock files match."""
    lock = folder / "package-lock.json"
    if not lock.is_file():
        return
    ours = same_as / "package-lock.json"
    if ours.is_file() and ours.read_bytes() == lock.read_bytes() and (same_as / "node_modules").is_dir():
        (folder / "node_modules").symlink_to((same_as / "node_modules").resolve(), target_is_directory=True)
        return
    npm = shutil.which("npm")
    if npm is None:
        raise EnvironmentProblem(
            "npm is not on PATH: the --against side's lock file differs from the working "
            "tree's, so its packages must be installed",
            "install Node.js with npm",
        )
    notice(f"installing the --against side's npm packages (its lock file differs) in {folder}")
    out = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise EnvironmentProblem(
            f"npm ci failed for the --against side in {folder}: "
            f"{(out.stderr.strip().splitlines() or ['no output'])[-1]}",
            "check the network or npm's cache",
        )


@contextmanager
def checkout(
    commit: str, apps: list[str] | None = None, notice: Callable[[str], None] = lambda _: None, repo: Path = REPO
) -> Iterator[Side]:
    """The base side: `server/` (and each app's folder) of `commit` in a temporary folder,
    removed on every exit path."""
    folders = ["server", *sorted({str(app_inside_repo(a, repo).parent) for a in apps or []} - {"."})]
    tmp = procs.unit().temp_dir("harness-ab-")  # removed by the guardian should the harness be killed
    try:
        out = _git("archive", "--format=tar", commit, "--", *folders, repo=repo)
        if out.returncode != 0:
            raise UsageError(
                f"commit {commit[:10]} has no {' or '.join(folders)} to compare against: "
                f"{out.stderr.decode().strip().splitlines()[-1] if out.stderr else 'git archive failed'}",
                "choose a ref that has the reference server (server/)",
            )
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        for folder in folders:
            _install_packages(tmp / folder, repo / folder, notice)
        yield Side("base", tmp)
    finally:
        procs.unit().remove_temp(tmp)


NEW_SIDE = Side("new", REPO)
