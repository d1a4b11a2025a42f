"""Remove every output and execution count from notebooks, so that committed notebooks
diff as code and prose only (tests/test_notebooks.py fails on a notebook that has any).

    .venv/bin/python notebooks/strip_outputs.py notebooks/*.ipynb    (= make notebooks-strip)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

# Metadata a notebook picks up when it is run or opened, which says nothing about its content.
VOLATILE_METADATA = ("widgets", "execution", "papermill")


def strip(path: Path) -> bool:
    """Strip one notebook in place; True when it changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for key in VOLATILE_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("" if after.endswith("\n") else "\n"))
        return True
    return False


def main(argv: list[str]) -> int:
    """Strip every notebook named on the command line; print the ones that changed."""
    for name in argv:
        if strip(Path(name)):
            print(f"stripped {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
