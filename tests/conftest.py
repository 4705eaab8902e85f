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


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """Build the book once per test session, with ``-W -n``, and return its HTML folder.

    Execution is off: the solutions carry their executed outputs, which nbval checks
    against a fresh run separately, so the pages show what the notebooks compute.
    """
    import subprocess
    import sys

    import yaml

    out = tmp_path_factory.mktemp("site")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    # Local extension folders are resolved against the config file's folder.
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in extensions.items():
        extensions[name] = str((ROOT / path).resolve())
    config_path = out / "_config.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(out), "--config", str(config_path),
         "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        "jupyter-book build -W -n failed:\n" + result.stdout[-4000:] + result.stderr[-4000:])
    return out / "_build" / "html"
