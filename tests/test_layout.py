"""The layout's one rule (docs/layout.md): along the pipeline a stage imports only earlier
stages, so numbers never depend on words and the record never on who reads it. Every import
counts, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

# The pipeline's stages in order; the modules of each (harness.<name>, a module or a package).
# Utilities (errors, procs, net, nodes, bundled, ...) and the commands on top (run, cli, ...)
# are left out: they may be used by, or use, any stage.
STAGES: list[tuple[str, ...]] = [
    ("scenario", "modes"),
    ("servers", "events"),
    ("load",),
    ("sampling",),
    ("record",),
    ("analysis", "evidence", "cost"),
    ("report", "compare", "export", "gate"),
]
# Imports of a later stage that are there by design, each with its reason.
ALLOWED = {
    ("modes", "servers"): "each mode names its Server class, imported when it is asked for (Mode.server_class)",
    ("load", "record"): "the hooks write the record's tables: they use its vocabulary (NO_WORKER, PROBE_PREFIX)",
}


def _rank(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if parts[0] != "harness" or len(parts) < 2:
        return None
    for rank, names in enumerate(STAGES):
        if parts[1] in names:
            return parts[1], rank
    return None


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"harness.{a.name}" for a in node.names} if node.module == "harness" else {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _module_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_stage_imports_a_later_one():
    wrong = []
    for path in sorted((REPO / "harness").rglob("*.py")):
        if "_data" in path.parts:
            continue
        here = _rank(_module_of(path))
        if here is None:
            continue
        for target in _imports(path):
            there = _rank(target)
            if there is not None and there[1] > here[1] and (here[0], there[0]) not in ALLOWED:
                wrong.append(f"{path.relative_to(REPO)} imports {target}")
    assert not wrong, "a stage imports a later one (docs/layout.md):\n" + "\n".join(wrong)


def test_the_check_would_see_a_wrong_import(tmp_path: Path):
    """The rule's own check: analysis importing report is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from harness.report import story\n")
    assert "harness.report" in _imports(bad)
    assert _rank("harness.report.story")[1] > _rank("harness.analysis.results")[1]
    assert ("analysis", "report") not in ALLOWED
