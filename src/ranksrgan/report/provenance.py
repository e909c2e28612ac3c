"""What produced the report: setup vs paper, config hash, git commit, versions, hashes.

``setting`` reads a dotted key from the run's config (a train preset's missing key is looked
up through its ``extends`` chain); ``setup_table`` compares those values with the paper's and
the authors' code's (kept as data in ``config/paper_results.yaml``); ``environment`` records
the git commit and package versions (from package metadata: nothing is imported, torch
included).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGES = ("ranksrgan", "numpy", "pandas", "pyarrow", "scipy", "matplotlib", "pillow",
            "torch", "torchvision", "pyiqa", "snakemake")
MISSING = object()


def _preset_get(presets: Mapping, name: str, keys: list[str]) -> Any:
    seen = set()
    while name in presets and name not in seen:
        seen.add(name)
        node: Any = presets[name]
        for k in keys:
            if not isinstance(node, Mapping) or k not in node:
                node = MISSING
                break
            node = node[k]
        if node is not MISSING:
            return node
        name = presets[name].get("extends")
    return MISSING


def _describe_method(config: Mapping, spec: Any) -> Any:
    """A method entry as a reader wants it: which weights, or which training preset."""
    if not isinstance(spec, Mapping):
        return spec
    if spec.get("kind") == "bicubic":
        return "bicubic (no weights)"
    w = spec.get("weights")
    if isinstance(w, list):  # the first present one is used (ranksrgan.config.weights_choice)
        registry = config.get("weights") or {}
        for name in w:
            entry = registry.get(name, {})
            if entry.get("url") or os.path.isfile(str(entry.get("path") or "")):
                src = entry.get("url") or entry.get("path") or ""
                return f"weights {name}: {os.path.basename(src)} (first present of {w})"
        if spec.get("train_preset"):
            return f"trained here (preset {spec['train_preset']}; none of {w} present)"
        return f"none of {w} present"
    if isinstance(w, str):
        entry = (config.get("weights") or {}).get(w, {})
        src = entry.get("url") or entry.get("path") or ""
        return f"weights {w}: {os.path.basename(src)}"
    if isinstance(w, Mapping):
        return f"weights {os.path.basename(str(w.get('url') or w.get('path')))}"
    if spec.get("train_preset"):
        p = spec["train_preset"]
        it = _preset_get((config.get("train") or {}).get("presets") or {}, p, ["iterations"])
        its = "" if it is MISSING else f", {it} iterations"
        return f"trained here (preset {p}{its})"
    return json.dumps(dict(spec), sort_keys=True)


def setting(config: Mapping, path: str) -> Any:
    """Value of dotted key ``path`` in ``config`` (``MISSING`` when absent)."""
    keys = path.split(".")
    if keys[:2] == ["train", "presets"] and len(keys) > 3:
        presets = (config.get("train") or {}).get("presets") or {}
        return _preset_get(presets, keys[2], keys[3:])
    node: Any = config
    for k in keys:
        if not isinstance(node, Mapping) or k not in node:
            return MISSING
        node = node[k]
    if keys[0] == "methods" and len(keys) == 2:
        return _describe_method(config, node)
    return node


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return round(float(v), 12)
    return str(v)


def _show(v: Any) -> str:
    if v is MISSING:
        return "not set"
    if v is None:
        return "not stated"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, float) and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:g}"
    return str(v)


def setup_table(items: Sequence[Mapping[str, Any]], ours: Sequence[Any]) -> pd.DataFrame:
    """Rows ``setting | ours | paper | authors' code | status`` (status says who we match)."""
    rows = []
    for item, v in zip(items, ours, strict=True):
        same_paper = v is not MISSING and item["paper"] is not None and _norm(v) == _norm(
            item["paper"]
        )
        same_code = v is not MISSING and item["code"] is not None and _norm(v) == _norm(
            item["code"]
        )
        if v is MISSING:
            status = "not in this config"
        elif same_paper:
            status = "as paper"
        elif same_code:
            status = "as authors' code (differs from paper)" if item["paper"] is not None \
                else "as authors' code"
        else:
            status = "DIFFERS"
        rows.append(
            {
                "setting": item["label"],
                "key": item["path"],
                "ours": _show(v),
                "paper": _show(item["paper"]),
                "code": _show(item["code"]),
                "status": status,
            }
        )
    return pd.DataFrame(rows, columns=["setting", "key", "ours", "paper", "code", "status"])


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes ("" when absent)."""
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""


def git_commit(cwd: str | os.PathLike = ".") -> str:
    """``HEAD`` of the checkout, ``+dirty`` when tracked files differ ("unknown" without git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def environment(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Python, platform and package versions (from installed metadata, nothing imported)."""
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    return env
