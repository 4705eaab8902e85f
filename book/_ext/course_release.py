"""The course release in the book: which labkit and labs a page hands out, and from what.

``_config.yml`` names the release once, as a git tag made by ``make release``::

    release: &release v0.2.0
    repository:
      branch: *release        # Jupyter Book builds the launch buttons from this

so the Colab and Binder buttons open the labs at the release tag, like the lab tables and
the Colab setup cell (``labkit.course.repository``). This extension does the rest:

* the *edit this page* button goes to the development branch (``course_edit_branch``,
  default ``main``): a tag cannot be edited;
* every page's footer says which release and labkit version the book was built from, and
  from which commit;
* ``{{ course_release }}`` and ``{{ labkit_version }}`` are MyST substitutions, for a
  page that wants to name them in its text.

A ``release`` that disagrees with ``repository.branch`` is an error.
"""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def labkit_version(root: Path) -> str:
    """``labkit.__version__`` as written in the source (the package's one version)."""
    source = Path(root) / "src" / "labkit" / "__init__.py"
    match = _VERSION.search(source.read_text(encoding="utf-8")) if source.is_file() else None
    if match is None:
        raise ExtensionError(f"cannot read __version__ from {source}")
    return match.group(1)


def course_release(root: Path) -> str | None:
    import yaml

    config = yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8")) or {}
    tag = config.get("release")
    return str(tag) if tag else None


def _commit(root: Path) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def footer_html(tag: str | None, version: str, commit: str | None, url: str) -> str:
    """The footer line naming the release, labkit's version and the commit."""
    parts = []
    if tag:
        link = f"{url}/tree/{tag}" if url else ""
        name = html.escape(tag)
        parts.append(f'Release <a href="{html.escape(link)}">{name}</a>' if link
                     else f"Release {name}")
    parts.append(f"labkit {html.escape(version)}")
    if commit:
        parts.append(f"built from commit <code>{html.escape(commit)}</code>")
    return f'<p class="course-release">{" · ".join(parts)}</p>'


def _config_inited(app: Sphinx, config: Config) -> None:
    root = Path(app.srcdir)
    tag = course_release(root)
    options = dict(config.html_theme_options or {})
    branch = options.get("repository_branch")
    if tag and branch != tag:
        raise ExtensionError(
            f"_config.yml: release is {tag!r} but repository.branch is {branch!r}: the launch "
            "buttons would open other labs than the lab tables; write `branch: *release`.")
    version = labkit_version(root)
    url = str(options.get("repository_url") or "").rstrip("/")
    footer = footer_html(tag, version, _commit(root), url)
    options["extra_footer"] = (str(options.get("extra_footer") or "") + footer).strip()
    config.html_theme_options = options
    config.myst_substitutions = {**(config.myst_substitutions or {}),
                                 "course_release": tag or "", "labkit_version": version}


def _edit_on_development_branch(app: Sphinx) -> None:
    # sphinx-book-theme copies repository.branch (the release tag) into html_context for
    # the edit button at builder-inited (priority 500); send edits to the branch instead.
    context = app.config.html_context
    for key in [k for k in context if k.endswith("_version")]:
        context[key] = app.config.course_edit_branch


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("course_edit_branch", "main", "html", types=[str])
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _edit_on_development_branch, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
