"""Serve MathJax from the book itself, so that math renders offline and no page loads
anything from another host.

Sphinx loads MathJax from a CDN by default. This extension fetches the npm package
``mathjax`` (pinned version and hash, see :mod:`npm_assets`) at build time into
``_build/.vendor/`` and adds the parts of its ``es5`` bundle that the browser needs
(the combined TeX/MathML component, its lazily loaded extensions, the CHTML fonts and the
accessibility components) to the HTML output as ``_static/mathjax/``. ``mathjax_path`` in
``_config.yml`` names the entry script relative to ``_static``::

    sphinx:
      config:
        mathjax_path: mathjax/tex-mml-chtml.js

MathJax finds its fonts and extensions relative to that script. A ``mathjax_path`` on
another host is an error, so a config change cannot bring the CDN back silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

try:
    from npm_assets import NpmAssetError, npm_package, vendor_dir
except ModuleNotFoundError:  # imported as a package module (tests)
    from .npm_assets import NpmAssetError, npm_package, vendor_dir

NAME, VERSION = "mathjax", "3.2.2"
INTEGRITY = ("sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJv"
             "tRZM1vO+geW0OhGw==")
FOLDER = "mathjax"  # under _static
ENTRY = "tex-mml-chtml.js"
# What tex-mml-chtml.js loads at run time, relative to es5/: TeX extensions (autoload),
# the CHTML output and its woff fonts, the menu and the accessibility components.
PARTS = (ENTRY, "input", "output/chtml", "output/chtml.js", "ui", "a11y", "sre")


def static_root(root: str | Path) -> Path:
    """A folder holding ``mathjax/<entry and parts>``, for ``html_static_path``; fetched
    and assembled on first use."""
    vendor = vendor_dir(root)
    assembled = vendor / f"static-{NAME}-{VERSION}"
    if (assembled / FOLDER / ENTRY).is_file():
        return assembled
    package = npm_package(NAME, VERSION, INTEGRITY, vendor)
    es5 = package / "es5"
    staging = vendor / f".static-{NAME}-{VERSION}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    target = staging / FOLDER
    for part in PARTS:
        source = es5 / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        elif source.is_file():
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
    if not (target / ENTRY).is_file():
        raise ExtensionError(f"{NAME}@{VERSION} has no es5/{ENTRY}")
    shutil.copy2(package / "LICENSE", target / "LICENSE")
    try:
        os.replace(staging, assembled)
    except OSError:  # another build assembled it first
        shutil.rmtree(staging, ignore_errors=True)
    return assembled


def _use_local_mathjax(app: Sphinx, config: Config) -> None:
    path = config.mathjax_path or ""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("//"):
        raise ExtensionError(
            f"mathjax_path is {path!r}, a file on another host; this book serves MathJax "
            f"itself: set mathjax_path to '{FOLDER}/{ENTRY}' (relative to _static).")
    if path != f"{FOLDER}/{ENTRY}":
        raise ExtensionError(f"mathjax_path is {path!r}; offline_mathjax provides "
                             f"'{FOLDER}/{ENTRY}'.")
    try:
        folder = static_root(app.srcdir)
    except NpmAssetError as exc:
        raise ExtensionError(str(exc)) from exc
    config.html_static_path = [*config.html_static_path, str(folder)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _use_local_mathjax)
    return {"version": VERSION, "parallel_read_safe": True, "parallel_write_safe": True}
