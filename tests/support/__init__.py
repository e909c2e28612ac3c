"""What the test files share: builders of real inputs, servers, helpers (no tests here).

Import them as ``from tests.support.<module> import <name>`` (pytest puts the checkout's root
on ``sys.path``: ``pythonpath`` in pyproject.toml). A builder used by more than one test file
lives here, never in a test file.

- :mod:`~tests.support.train_inputs`: a real-photo dataset, a tiny GAN preset, a config with it;
- :mod:`~tests.support.rankdata_inputs`: photos and fake "methods" (blur levels) with their
  manifests, and the `rankdata shard` / `gather` arguments reading them;
- :mod:`~tests.support.rank_index`: a tiny real rank index (the Ranker's input);
- :mod:`~tests.support.report_inputs`: a small hand-made results folder and its report;
- :mod:`~tests.support.configs`: the demo config moved into a folder; one-key config edits;
- :mod:`~tests.support.demo_dag`: run the CI config's whole DAG once (the ``demo_run`` fixture);
- :mod:`~tests.support.dvc_remote`: a git + DVC copy of the checkout, a local remote, clones;
- :mod:`~tests.support.http_server`: a loopback HTTP server (the ``server`` fixture);
- :mod:`~tests.support.kill`: SIGKILL a training process once it has checkpointed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout's root folder."""


def sha256_bytes(data: bytes) -> str:
    """The sha256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()
