"""The published site, checked on the built files (no browser): it works offline, it says
which release it is, and its launch and edit links go where they should.

* No page loads a script, style, font, image or frame from another host (the HTML and the
  theme's CSS are scanned); MathJax is served from the book itself.
* Every page's footer names the course release and labkit's version.
* Every Colab, Binder and GitHub link to a lab names the release tag, never a branch; the
  "edit this page" button goes to the development branch (a tag cannot be edited).
* Every image has alt text that says something (not a file name), and each figure a
  solution glues shows, on its page, the alt text it was glued with.

The browser-side checks (typeset math, the network log, axe-core) are in
tests/test_site_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from _browser_site import COURSE_URL, lab_pages, launch_links, toc_pages

import labkit
from labkit.course import list_labs, release, repository

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.book
PAGES = toc_pages(ROOT)
LABS = lab_pages(ROOT)
_SKIP_PARTS = {"_static", "_sources", "_images", "_sphinx_design_static"}


class _Resources(HTMLParser):
    """What a page makes the browser fetch by itself (not what a reader may click)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[tuple[str, str]] = []  # (tag, url)
        self.imgs: list[dict[str, str | None]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio", "embed", "track",
                   "input") and attrs.get("src"):
            self.fetched.append((tag, attrs["src"]))
        if tag == "link" and attrs.get("href"):
            rel = set((attrs.get("rel") or "").lower().split())
            if rel & {"stylesheet", "preload", "modulepreload", "icon", "prefetch",
                      "preconnect", "dns-prefetch", "manifest", "apple-touch-icon"}:
                self.fetched.append((f"link rel={attrs.get('rel')}", attrs["href"]))
        if tag == "object" and attrs.get("data"):
            self.fetched.append((tag, attrs["data"]))
        if attrs.get("style"):
            self.styles.append(attrs["style"])
        if tag == "img":
            self.imgs.append(attrs)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _parse(path: Path) -> _Resources:
    parser = _Resources()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _remote(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme in ("http", "https")


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def _css_remote_urls(css: str) -> list[str]:
    return [u for pair in _CSS_URL.findall(css) for u in pair if u and _remote(u)]


def _html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html")
                  if not _SKIP_PARTS & set(p.relative_to(site).parts))


def test_no_page_loads_anything_from_another_host(built_site):
    pages = _html_pages(built_site)
    assert len(pages) >= len(PAGES), f"only {len(pages)} pages in {built_site}"
    found = []
    for page in pages:
        parsed = _parse(page)
        rel = page.relative_to(built_site).as_posix()
        found += [f"{rel}: <{tag}> {url}" for tag, url in parsed.fetched if _remote(url)]
        found += [f"{rel}: style url {url}" for css in parsed.styles
                  for url in _css_remote_urls(css)]
    for css in sorted((built_site / "_static").rglob("*.css")):
        found += [f"{css.relative_to(built_site)}: {url}"
                  for url in _css_remote_urls(css.read_text(encoding="utf-8", errors="replace"))]
    assert not found, (f"{len(found)} resources come from other hosts (the book must work "
                       "offline):\n" + "\n".join(found[:30]))


def test_mathjax_is_served_from_the_book(built_site):
    entry = built_site / "_static" / "mathjax" / "tex-mml-chtml.js"
    assert entry.is_file(), f"{entry} is missing: the offline_mathjax extension did not run"
    fonts = list((built_site / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob(
        "*.woff"))
    assert fonts, "MathJax's CHTML fonts are not in the site (math would render unstyled)"
    assert (built_site / "_static" / "mathjax" / "LICENSE").is_file()
    with_math = [p for p in _html_pages(built_site)
                 if 'class="math' in p.read_text(encoding="utf-8")]
    assert with_math, "no page has math: the check below proves nothing"
    for page in with_math:
        scripts = [url for tag, url in _parse(page).fetched if tag == "script"]
        assert any(re.search(r"(^|/)_static/mathjax/tex-mml-chtml\.js", u) for u in scripts), (
            f"{page.relative_to(built_site)} has math but does not load the book's MathJax: "
            f"{[u for u in scripts if 'mathjax' in u.lower()]}")


def test_every_page_names_its_release_and_labkit_version(built_site):
    tag = release(ROOT)
    assert tag, "_config.yml names no release"
    for page in PAGES:
        text = (built_site / page.html).read_text(encoding="utf-8")
        footer = re.search(r'<p class="course-release">(.*?)</p>', text, re.S)
        assert footer, f"{page.html}: no release line in the footer"
        plain = re.sub(r"<[^>]+>", "", footer.group(1))
        assert f"Release {tag}" in plain and f"labkit {labkit.__version__}" in plain, (
            f"{page.html}: the footer says {plain!r}; want release {tag} and labkit "
            f"{labkit.__version__}")


def test_launch_links_name_the_release(built_site):
    url, ref = repository(ROOT)
    tag = release(ROOT)
    assert (url, ref) == (COURSE_URL, tag), (url, ref, tag)
    org_repo = url.removeprefix("https://github.com/")
    assert LABS, "no lab page"
    for page in LABS:
        links = launch_links((built_site / page.html).read_text(encoding="utf-8"))
        for service, hrefs in links.items():
            assert hrefs, f"{page.html}: no {service} link"
            for href in hrefs:
                assert f"/{org_repo}/blob/{tag}/" in href or f"/{org_repo}/{tag}?" in href, (
                    f"{page.html}: {service} link {href} does not open the release {tag}")


def test_edit_button_goes_to_the_development_branch(built_site):
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    branch = config["sphinx"]["config"].get("course_edit_branch", "main")
    tag = release(ROOT)
    for page in PAGES:
        text = (built_site / page.html).read_text(encoding="utf-8")
        edits = re.findall(r'href="(https://github\.com/[^"]+/edit/[^"]+)"', text)
        assert edits, f"{page.html}: no 'edit this page' link"
        for href in edits:
            assert f"/edit/{branch}/" in href and f"/{tag}/" not in href, (
                f"{page.html}: edit link {href} should edit branch {branch}")


_FILE_NAME = re.compile(r"(^|/)[\w.-]+\.(png|jpe?g|gif|svg|webp)$|_images/", re.I)


def test_every_image_has_alt_text(built_site):
    bad = []
    for page in PAGES:
        for img in _parse(built_site / page.html).imgs:
            alt = (img.get("alt") or "").strip()
            if not alt or _FILE_NAME.search(alt):
                bad.append(f"{page.html}: {img.get('src')} has alt {alt!r}")
    assert not bad, ("images without alt text that says what they show (a glued figure takes "
                     "it from glue(..., alt=...) or the {glue:figure} :alt: option):\n"
                     + "\n".join(bad))


def _glued_figures(notebook: Path) -> list[tuple[str, str, str | None]]:
    """(glue key, image file name, alt text) of each figure glued in a notebook."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {})
            key = meta.get("scrapbook", {}).get("name")
            png = next((v for k, v in output.get("data", {}).items() if k.endswith("image/png")),
                       None)
            if key and png:
                payload = base64.b64decode("".join(png) if isinstance(png, list) else png)
                found.append((key, hashlib.sha256(payload).hexdigest() + ".png",
                               meta.get("labkit", {}).get("alt")))
    return found


def test_glued_figures_carry_their_alt_text(built_site):
    """Each figure a solution glues carries alt text (labkit.plotting.glue(..., alt=...)),
    and the solution's page shows the figure with it."""
    checked, problems = 0, []
    in_book = {p.docname for p in PAGES}
    for lab in list_labs(ROOT):
        if f"solutions/{lab.slug}" not in in_book:
            continue  # not in the table of contents yet
        page = built_site / "solutions" / f"{lab.slug}.html"
        imgs = {Path(i.get("src") or "").name: i.get("alt") for i in _parse(page).imgs}
        for key, name, alt in _glued_figures(lab.solution):
            checked += 1
            if not alt:
                problems.append(f"{lab.solution.name}: figure {key!r} was glued without alt "
                                "text; re-run it with glue(..., alt='what it shows')")
            elif name in imgs and " ".join(alt.split()) != imgs[name]:
                problems.append(f"solutions/{lab.slug}.html: figure {key!r} shows alt "
                                f"{imgs[name]!r}, not its glued alt text")
    assert checked, "no solution glues a figure"
    assert not problems, "\n".join(problems)
