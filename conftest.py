"""Loaded by pytest for every path under the repository, so the notebook tiers (nbval on
solutions/, papermill and nbclient runs from tests/) start their kernels in the pinned
numeric environment of :mod:`labkit.reproducible`. ``LABKIT_OTHER_CPU=1`` adds the
older-CPU emulation."""

import os

from labkit.reproducible import numeric_env


def pytest_configure(config):
    os.environ.update(numeric_env())
