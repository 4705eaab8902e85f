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
def book_build(tmp_path_factory) -> dict:
    """Build the book once per test session with ``-W -n --keep-going``.

    Execution is off: the solutions carry their executed outputs, which nbval checks
    against a fresh run separately, so the pages show what the notebooks compute.
    Returns the command, the output folder, the HTML folder, the build log and its time.
    """
    import subprocess
    import sys
    import time

    from labkit.course import write_book_config

    out = tmp_path_factory.mktemp("site")
    config = write_book_config(ROOT, out / "_config.yml", execute_notebooks="off")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(ROOT), "--path-output", str(out / "out"), "--config",
           str(config), "-W", "-n", "--keep-going"]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    seconds = time.perf_counter() - start
    log = result.stdout + result.stderr
    assert result.returncode == 0, "jupyter-book build -W -n failed:\n" + log[-6000:]
    return {"cmd": cmd, "html": out / "out" / "_build" / "html", "log": log,
            "seconds": seconds}


@pytest.fixture(scope="session")
def built_site(book_build) -> Path:
    """The HTML folder of the book built by :func:`book_build`."""
    return book_build["html"]
