"""Fetch a pinned npm package at build or test time into an ignored folder.

Front-end assets the book serves itself (MathJax) or that the browser tests inject
(axe-core) are not copied into git: they are fetched from the npm registry with
``npm pack`` on first use, checked against the ``integrity`` hash the registry publishes
for that exact version (a lock file in one line), and unpacked under
``<course>/_build/.vendor/`` (ignored by git, removed by ``make clean``). Later builds
reuse the unpacked copy without touching the network.

Not a Sphinx extension: ``offline_mathjax`` and ``tests/_browser.py`` import it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path("_build") / ".vendor"


class NpmAssetError(RuntimeError):
    """The package could not be fetched or does not match its pinned hash."""


def vendor_dir(root: str | Path) -> Path:
    """The folder of fetched packages of the course at ``root``."""
    return Path(root) / VENDOR


def integrity_of(path: Path) -> str:
    """The npm ``integrity`` string (``sha512-<base64>``) of a tarball."""
    digest = hashlib.sha512(Path(path).read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def npm_package(name: str, version: str, integrity: str, cache: str | Path) -> Path:
    """Return the folder holding npm package ``name@version`` unpacked (its
    ``package.json`` at the top), fetching it into ``cache`` on first use.

    Raises
    ------
    NpmAssetError
        When npm is missing, the registry cannot be reached, or the tarball's hash is not
        ``integrity``.
    """
    cache = Path(cache)
    dest = cache / f"{name}-{version}"
    if (dest / "package.json").is_file():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once fetch once
        except ImportError:  # pragma: no cover - Windows
            pass
        if (dest / "package.json").is_file():
            return dest
        npm = shutil.which("npm")
        if npm is None:
            raise NpmAssetError(
                f"{name}@{version} is fetched from the npm registry at build time, and npm "
                "is not installed: install Node.js and npm (Debian/Ubuntu: "
                "`apt-get install npm`), then build again.")
        with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
            result = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", tmp, f"{name}@{version}"],
                capture_output=True, text=True, cwd=tmp, timeout=600)
            tarballs = sorted(Path(tmp).glob("*.tgz"))
            if result.returncode != 0 or not tarballs:
                raise NpmAssetError(
                    f"`npm pack {name}@{version}` failed (exit {result.returncode}); is the "
                    f"npm registry reachable?\n{result.stderr[-2000:]}")
            found = integrity_of(tarballs[0])
            if found != integrity:
                raise NpmAssetError(
                    f"{name}@{version}: the tarball's hash {found} is not the pinned "
                    f"{integrity}; refusing to use it.")
            unpacked = Path(tmp) / "unpacked"
            with tarfile.open(tarballs[0]) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpacked, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tar.extractall(unpacked)  # noqa: S202 - hash checked above
            os.replace(unpacked / "package", dest)
    return dest
