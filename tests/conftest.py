"""Shared test configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Notebooks used as test data are inputs, not tests to collect under --nbval.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture(scope="session")
def root() -> Path:
    """The course repository root."""
    return ROOT
