"""Shared pytest fixtures and the offline pyiqa cache."""

import tempfile
from pathlib import Path

import pytest

from tests.support import REPO


def pytest_configure(config):
    """Point pyiqa's weight cache at a private folder holding the vendored NIQE parameters.

    pyiqa fixes its cache folder from TORCH_HOME when first imported, so this must happen
    before any test imports it; without it pyiqa would try to download (no network here).
    """
    from ranksrgan.metrics.pyiqa_reference import use_offline_pyiqa_home

    use_offline_pyiqa_home(tempfile.mkdtemp(prefix="ranksrgan-torch-home-"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's root folder."""
    return REPO


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The CI config's whole DAG (config/ci.yaml), run once per session in a temporary
    folder laid out like a checkout; tests read its results (tests/support/demo_dag.py)."""
    from tests.support.demo_dag import run_demo_dag

    return run_demo_dag(tmp_path_factory.mktemp("demo-dag"))


@pytest.fixture
def server():
    """A loopback HTTP server for one test (tests.support.http_server): what it serves is its
    ``files`` dict; its switches make broken transfers."""
    from tests.support.http_server import LoopbackServer

    with LoopbackServer() as srv:
        yield srv
