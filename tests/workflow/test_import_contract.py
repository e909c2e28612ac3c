"""The layering rule as a test (docs/architecture.md "Three layers"): a stage package never
imports another stage, the toolkit never imports a stage, and the workflow's rule files import
only modules that do not import torch (tests/workflow/test_torch_free_planning.py runs them so)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support import REPO

PKG = REPO / "src" / "ranksrgan"
STAGES = ("data", "sr", "score", "rankdata", "ranker", "train", "report", "status")
ENTRY = {"ranksrgan.cli", "ranksrgan.__main__"}  # the dispatcher registers every stage


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    pkg = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("ranksrgan")}


def _stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


MODULES = {_module(p): p for p in PKG.rglob("*.py")}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layering(module):
    if module in ENTRY:
        return
    mine = _stage_of(module)
    bad = []
    for imp in _imports(MODULES[module]):
        other = _stage_of(imp)
        if other is None or other == mine:
            continue
        bad.append(imp)
    where = f"stage {mine}" if mine else "toolkit"
    assert not bad, f"{module} ({where}) imports stage code: {sorted(bad)}"


def test_rule_files_import_only_torch_free_helpers():
    """Every `ranksrgan.*` module a rule file imports is in the torch-free list (the planning
    test proves each of them imports without torch)."""
    torch_free = {
        "ranksrgan.config", "ranksrgan.errors", "ranksrgan.layout", "ranksrgan.presets",
        "ranksrgan.budget", "ranksrgan.metric_version", "ranksrgan.paper_results",
        "ranksrgan.table_plan", "ranksrgan.slurm_fit", "ranksrgan.io.runlock",
        "ranksrgan.ranker.options",
    }
    seen = set()
    for smk in (REPO / "workflow").rglob("*.smk"):
        for m in re.findall(r"^\s*from (ranksrgan[\w.]*) import|^\s*import (ranksrgan[\w.]*)",
                            smk.read_text(), flags=re.MULTILINE):
            seen.add(m[0] or m[1])
    assert seen and seen <= torch_free, sorted(seen - torch_free)
