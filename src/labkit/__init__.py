"""labkit: the helper package of the course *Designing Machine Learning Systems*.

Importing labkit is cheap and has no side effects: no seeding, no plotting style, no
files written, nothing downloaded. Submodules (``labkit.datasets``, ``labkit.checks``,
...) are imported on first attribute access, so ``import labkit`` stays fast and heavy
dependencies such as torch load only in the labs that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"labkit.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"labkit.{name}":
                raise
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
