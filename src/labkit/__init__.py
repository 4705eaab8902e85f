"""labkit: the helper package of the course *Designing Machine Learning Systems*.

Importing labkit is cheap and has no side effects: no seeding, no plotting style, no
files written, nothing downloaded. Submodules are imported on first use, so
``labkit.datasets`` costs nothing until a lab touches it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("authoring", "checks", "cli", "datasets", "metrics", "plotting", "course")

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
