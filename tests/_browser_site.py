"""Helpers for the tests of the built site: its pages (from _toc.yml) and launch links."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

from labkit.course import repository

# Where the launch buttons must send a learner: the public course repository (at the
# release tag that _config.yml names).
COURSE_URL = "https://github.com/mlsys-course/designing-ml-systems"


@dataclass(frozen=True)
class Page:
    """One page of the table of contents."""

    docname: str  # e.g. "labs/01-metrics", as written in _toc.yml (no suffix)
    caption: str | None  # the part it sits in, e.g. "Solutions"

    @property
    def html(self) -> str:
        return f"{self.docname}.html"

    @property
    def is_lab(self) -> bool:
        return self.docname.startswith("labs/")


def _strip_suffix(name: str) -> str:
    for suffix in (".md", ".ipynb", ".rst"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def toc_pages(root: Path) -> list[Page]:
    """Every page of the book, in reading order, from ``_toc.yml`` (jb-book format)."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    pages = [Page(_strip_suffix(toc["root"]), None)]

    def walk(entries, caption):
        for entry in entries or []:
            if "file" in entry:
                pages.append(Page(_strip_suffix(entry["file"]), caption))
            walk(entry.get("sections"), caption)
            walk(entry.get("chapters"), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption"))
    walk(toc.get("chapters"), None)
    return pages


def lab_pages(root: Path) -> list[Page]:
    return [page for page in toc_pages(root) if page.is_lab]


def expected_launch_urls(root: Path, page: Page) -> dict[str, str]:
    """The Colab and Binder URLs a lab page must offer: the student notebook at the release
    named in _config.yml, opened in JupyterLab on Binder."""
    url, branch = repository(root)
    org_repo = url.removeprefix("https://github.com/")
    path = f"{page.docname}.ipynb"
    return {
        "colab": f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{path}",
        "binder": f"https://mybinder.org/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}",
    }


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def hrefs(html_text: str) -> list[str]:
    """All ``<a href>`` targets of an HTML page, in order."""
    parser = _Links()
    parser.feed(html_text)
    return parser.hrefs


def launch_links(html_text: str) -> dict[str, list[str]]:
    """The Colab and Binder links of a page, by service."""
    links = hrefs(html_text)
    return {
        "colab": [h for h in links if h.startswith("https://colab.research.google.com/")],
        "binder": [h for h in links if h.startswith("https://mybinder.org/")],
    }
