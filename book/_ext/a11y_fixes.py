"""Accessibility fixes for what the theme and Sphinx write (checked by axe-core in
tests/test_site_browser.py: no critical or serious violation on any page).

* ``templates/``: overrides of two pydata-sphinx-theme components whose accessible name
  leaves out their visible text (WCAG 2.5.3, axe ``label-content-name-mismatch``): the
  search button and the colour-mode button.
* The sidebar's collapsible sections: the theme's ``<summary>`` holds only a chevron icon,
  so a screen reader announces an unnamed control (WCAG 4.1.2, axe ``summary-name``);
  it gets the label "Sections of <the page it belongs to>".
* Figures in notebook pages: myst-nb writes the image file name as alt text; a figure
  that the notebook glued with alt text (``labkit.plotting.glue(name, fig, alt=...)``, kept
  in the output's metadata as ``labkit.alt``) gets that text instead.
* The references page: Sphinx marks each citation ``role="doc-biblioentry"`` inside a
  ``role="list"``; that role is deprecated and a list must hold list items (axe
  ``aria-required-children``, critical), so citations become ``role="listitem"``.
"""

from __future__ import annotations

import hashlib
import json
from binascii import a2b_base64
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _templates_first(app: Sphinx, config: Config) -> None:
    # Before the theme's own components folder, which pydata-sphinx-theme appends.
    config.templates_path = [str(TEMPLATES), *config.templates_path]


def label_summaries(soup: Any) -> Any:
    """Give each icon-only ``<summary>`` of a navigation tree an accessible name."""
    if not hasattr(soup, "select"):
        return soup
    for summary in soup.select("details > summary"):
        if summary.get("aria-label") or summary.get_text(strip=True):
            continue
        item = summary.find_parent("details").parent
        link = item.find("a", recursive=False) if item is not None else None
        title = link.get_text(" ", strip=True) if link is not None else ""
        summary["aria-label"] = f"Sections of {title}" if title else "Subsections"
    return soup


def _wrap_toctree(app: Sphinx, pagename: str, templatename: str, context: dict,
                  doctree: Any) -> None:
    generate = context.get("generate_toctree_html")
    if generate is None or getattr(generate, "_a11y_wrapped", False):
        return

    def generate_toctree_html(*args: Any, **kwargs: Any) -> Any:
        return label_summaries(generate(*args, **kwargs))

    generate_toctree_html._a11y_wrapped = True  # type: ignore[attr-defined]
    context["generate_toctree_html"] = generate_toctree_html


IMAGE_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpeg", "image/gif": ".gif"}


def output_alt_texts(notebook: dict) -> dict[str, str]:
    """Map the file name myst-nb gives each image output (sha256 of its bytes plus the
    suffix) to the alt text stored in the output's metadata (``labkit.alt``)."""
    found = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            alt = (output.get("metadata") or {}).get("labkit", {}).get("alt")
            if not isinstance(alt, str) or not alt.strip():
                continue
            prefix = (output.get("metadata") or {}).get("scrapbook", {}).get("mime_prefix", "")
            for mime, suffix in IMAGE_SUFFIX.items():
                payload = output.get("data", {}).get(prefix + mime)
                if payload:
                    text = "".join(payload) if isinstance(payload, list) else payload
                    digest = hashlib.sha256(a2b_base64(text)).hexdigest()
                    found[digest + suffix] = " ".join(alt.split())
    return found


def _notebook_figure_alt(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    source = Path(env.doc2path(env.docname))
    if source.suffix != ".ipynb":
        return
    images = [n for n in doctree.findall(nodes.image) if not n.get("alt")]
    if not images:
        return
    folder = getattr(getattr(env, "mystnb_config", None), "output_folder", None)
    executed = Path(folder) / f"{env.docname}.ipynb" if folder else None
    path = executed if executed is not None and executed.is_file() else source
    alts = output_alt_texts(json.loads(path.read_text(encoding="utf-8")))
    for image in images:
        alt = alts.get(Path(str(image.get("uri", ""))).name)
        if alt:
            image["alt"] = alt


def _citation_list_items(app: Sphinx, pagename: str, templatename: str, context: dict,
                         doctree: Any) -> None:
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _templates_first)
    # After pydata-sphinx-theme puts generate_toctree_html into the context (priority 500).
    app.connect("html-page-context", _wrap_toctree, priority=900)
    app.connect("html-page-context", _citation_list_items, priority=900)
    app.connect("doctree-read", _notebook_figure_alt)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
