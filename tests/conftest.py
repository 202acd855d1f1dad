"""Shared fixtures: every test builds its own real images in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PITFALLS_STRICT", "1")  # a rule's exception fails the test, not a skip

PEER_CASES = Path(__file__).resolve().parents[1].parent / "shared" / "peer-cases"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own feature cache, so cached results never leak between tests."""
    monkeypatch.setenv("PITFALLS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
