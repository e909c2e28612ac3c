"""Config builders: the demo config moved into a temporary folder, and one-key edits of a
loaded config for the "every mistake is one line naming the key" tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support import REPO

DELETE = object()
"""A ``set_key`` value: delete the key instead of setting it."""


def set_key(path: str, value):
    """A mutation setting (or, with ``DELETE``, deleting) the dotted key ``path`` of a loaded
    config; a part that indexes a list is a number (``tables.table1.rows.0``)."""
    def mutate(data):
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return mutate


def moved_demo_config(root: Path, path: Path | None = None, **overrides) -> Path:
    """config/demo.yaml with its results, cache, demo archive and synthetic NRQM model under
    ``root / "results"`` and the top-level ``overrides``, written to ``path`` (default
    ``root / "config.yaml"``); returns ``path``."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    results = root / "results"
    cfg["results_dir"] = str(results)
    cfg["cache_dir"] = str(results / "cache")
    cfg["demo_source"]["output"] = str(results / "source" / "demo_photos.zip")
    cfg["archives"]["demo_photos"]["urls"] = [f"file:{cfg['demo_source']['output']}"]
    cfg["metric_models"]["nrqm"]["path"] = str(results / "cache" / "NRQM_model_SYNTHETIC.mat")
    cfg.update(overrides)
    path = root / "config.yaml" if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path
