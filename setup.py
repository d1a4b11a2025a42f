"""The build step pyproject.toml cannot say: a wheel carries the reference server and the
scenarios as package data, copied from the top-level server/ and scenarios/ (which stay where
they are) into harness/_data/. server/node_modules is never copied: an installed harness runs
`npm ci` into a per-user cache on first use (harness/bundled.py, `harness setup`)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# (source folder, folder inside the package, file patterns): keep in step with harness/bundled.py
DATA = (
    ("server", "harness/_data/server", ("*.js", "modes.json", "package.json", "package-lock.json")),
    ("scenarios", "harness/_data/scenarios", ("*.py",)),
)


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install finds server/ and scenarios/ in the tree itself
        for source, target, patterns in DATA:
            folder = Path(self.build_lib) / target
            folder.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for path in sorted((ROOT / source).glob(pattern)):
                    if path.is_file():
                        shutil.copy2(path, folder / path.name)


setup(cmdclass={"build_py": BuildPyWithData})
