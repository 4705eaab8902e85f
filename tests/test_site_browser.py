r"""The built book as a learner meets it, in a real (headless) browser.

The built HTML is served on 127.0.0.1 and Debian's Chromium visits every page of the table
of contents and the search page once (the ``visits`` fixture), recording what each page
did; the tests then check, page by page:

* no console errors, and every image renders;
* nothing is requested from another host: not a script, style, font, image or fetch
  (Chrome's network log; the browser is also cut off from every host but 127.0.0.1,
  so a CDN request would fail anyway, as it does for a reader offline);
* math is typeset: every ``.math`` element holds a MathJax ``mjx-container``, MathJax
  reported no error, and no raw ``\(...\)``, ``\[...\]`` or ``$...$`` is left in the text;
* axe-core finds no critical or serious accessibility violation (moderate and minor ones
  are printed);
* one search box, not two.

Also: every lab page offers Colab and Binder buttons for its own student notebook at the
course release, the search page finds Part I, and at phone width (390 px) the sidebar
collapses, the page does not scroll sideways and a wide table scrolls inside its box.
Screenshots of the landing page, a lab page and the landing page at phone width go to
``$SCREENSHOT_DIR`` (default: a ``screenshots`` folder in pytest's temporary directory;
the path is printed).

Also here, without the browser: every internal link of every built page points at a file
(and an anchor) that exists.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from _browser import axe_source, axe_violations, chromium, other_hosts, requested_urls, serve
from _browser_site import (
    COURSE_URL,
    Page,
    expected_launch_urls,
    hrefs,
    lab_pages,
    toc_pages,
)

from labkit.course import release, repository

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.book
PAGES = toc_pages(ROOT)
VISITED = [*PAGES, Page("search", None)]
SEARCH_TERM = os.environ.get("SEARCH_TERM", "recall")
PART_ONE = "Part I"
PHONE = {"width": 390, "height": 844}
SERIOUS = ("critical", "serious")


@pytest.fixture(scope="module")
def site(built_site):
    with serve(built_site) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _load(driver, url: str, timeout: float = 20) -> None:
    driver.get(url)
    deadline = time.monotonic() + timeout
    while driver.execute_script("return document.readyState") != "complete":
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not finish loading in {timeout} s")
        time.sleep(0.05)


def _wait_for(driver, script: str, timeout: float = 15, poll: float = 0.1):
    """Run ``script`` until it returns something truthy; return that (or the last value)."""
    deadline = time.monotonic() + timeout
    value = driver.execute_script(script)
    while not value and time.monotonic() < deadline:
        time.sleep(poll)
        value = driver.execute_script(script)
    return value


_IMAGES_SETTLED = """
const imgs = [...document.images];
imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
return imgs.every(i => i.complete);
"""
_IMAGES = """
return [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth,
                                        alt: i.alt}));
"""
# Waits for MathJax's first typesetting pass where the page loads MathJax.
_MATHJAX_DONE = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax;
if (!mj || !mj.startup || !mj.startup.promise) { done(false); return; }
mj.startup.promise.then(() => done(true), e => done('MathJax failed: ' + e));
"""
_MATH = """
const main = document.querySelector('main, article, .bd-article');
const copy = main ? main.cloneNode(true) : document.createElement('div');
copy.querySelectorAll('pre, code, .highlight, mjx-container, script, style, .math, '
                      + 'mjx-assistive-mml').forEach(e => e.remove());
const math = [...document.querySelectorAll('.math')];
return {
  elements: math.length,
  untypeset: math.filter(e => !e.querySelector('mjx-container'))
                 .map(e => e.textContent.slice(0, 60)),
  errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 60)),
  script: [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s)),
  text: copy.textContent,
};
"""
# Search controls a reader can see outside the search dialog and the page's content (the
# search page's own form is in the content).
_SEARCH_CONTROLS = """
const shown = e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden'
                   && e.getBoundingClientRect().width > 0;
return [...document.querySelectorAll('.search-button__button, form.bd-search, #searchbox input')]
  .filter(e => !e.closest('dialog, main') && shown(e))
  .map(e => e.className || e.tagName);
"""
_RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|(?<![\w$])\$[^\s$][^$\n]*?[^\s$\\]\$(?![\w$])")


@dataclass
class Visit:
    """What one page did in the browser."""

    page: Page
    url: str
    title: str = ""
    text_length: int = 0
    broken_images: list[str] = field(default_factory=list)
    console: list[dict] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    mathjax: object = None
    search_controls: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    error: str | None = None

    def __repr__(self) -> str:  # keep pytest's assertion messages short
        return f"Visit({self.page.html!r})"


def _visit(driver, base_url: str, page: Page, axe: str) -> Visit:
    visit = Visit(page, base_url + page.html)
    _load(driver, visit.url)
    visit.title = driver.title
    visit.text_length = len(driver.execute_script(
        "const m = document.querySelector('main, article, .bd-article'); "
        "return m ? m.innerText.trim() : ''"))
    _wait_for(driver, _IMAGES_SETTLED)
    visit.broken_images = [
        img["src"] for img in driver.execute_script(_IMAGES)
        if img["width"] == 0 and urlsplit(img["src"]).hostname in (None, "127.0.0.1")]
    visit.mathjax = driver.execute_async_script(_MATHJAX_DONE)
    visit.math = driver.execute_script(_MATH)
    visit.search_controls = driver.execute_script(_SEARCH_CONTROLS)
    visit.violations = axe_violations(driver, axe)
    time.sleep(0.2)  # let late scripts report
    return visit


@pytest.fixture(scope="module")
def visits(site, browser, built_site) -> dict[str, Visit]:
    """Every page of the book, visited once in the browser; by docname."""
    axe = axe_source()
    requested_urls(browser)  # drop what the browser fetched for itself before the first page
    browser.get_log("browser")
    found: dict[str, Visit] = {}
    previous = None
    for page in VISITED:
        if previous is not None:  # late reports belong to the page before
            previous.requests += requested_urls(browser)
            previous.console += browser.get_log("browser")
        if not (built_site / page.html).is_file():
            found[page.docname] = Visit(page, site + page.html, error="not built")
            continue
        try:
            visit = _visit(browser, site, page, axe)
        except Exception as exc:  # recorded, reported by each test of that page
            visit = Visit(page, site + page.html, error=f"{type(exc).__name__}: {exc}")
        visit.requests += requested_urls(browser)
        visit.console += browser.get_log("browser")
        found[page.docname] = previous = visit
    for visit in found.values():
        visit.external = other_hosts(visit.requests, site)
    return found


def _visit_of(visits, page: Page) -> Visit:
    visit = visits[page.docname]
    assert visit.error is None, f"{page.html}: {visit.error}"
    return visit


@pytest.mark.parametrize("page", PAGES, ids=[p.docname for p in PAGES])
def test_page_loads_without_console_errors_and_images_render(page, visits):
    visit = _visit_of(visits, page)
    title = visit.title
    assert title and "Error response" not in title and "404" not in title, (
        f"{page.html}: not a built page (title {title!r})")
    assert visit.text_length > 20, f"{page.html}: the main content is empty"
    assert not visit.broken_images, f"{page.html}: images that did not load: {visit.broken_images}"
    severe = [e["message"] for e in visit.console if e.get("level") == "SEVERE"]
    assert not severe, f"{page.html}: console errors:\n" + "\n".join(severe)


@pytest.mark.parametrize("page", VISITED, ids=[p.docname for p in VISITED])
def test_page_requests_nothing_from_other_hosts(page, visits):
    visit = _visit_of(visits, page)
    assert visit.requests, f"{page.html}: the network log recorded no request at all"
    assert not visit.external, (
        f"{page.html} requested {len(visit.external)} resource(s) from other hosts; the book "
        "must work offline and serve every script, style and font itself:\n"
        + "\n".join(sorted(set(visit.external))))


@pytest.mark.parametrize("page", PAGES, ids=[p.docname for p in PAGES])
def test_math_is_typeset(page, visits):
    visit = _visit_of(visits, page)
    math = visit.math
    raw = sorted(set(m.group(0)[:40] for m in _RAW_TEX.finditer(math["text"])))
    assert not raw, (f"{page.html}: TeX left untypeset in the text (not parsed as math): "
                     f"{raw[:5]}")
    if not math["elements"]:
        return
    assert visit.mathjax is True, (
        f"{page.html} has {math['elements']} math elements but MathJax did not run "
        f"({visit.mathjax!r}; scripts: {math['script']})")
    assert all(urlsplit(s).hostname == "127.0.0.1" for s in math["script"]), math["script"]
    assert not math["untypeset"], (
        f"{page.html}: {len(math['untypeset'])} of {math['elements']} math elements were not "
        f"typeset, e.g. {math['untypeset'][:3]}")
    assert not math["errors"], f"{page.html}: MathJax errors: {math['errors'][:3]}"


def test_some_pages_have_math(visits):
    """The math check above proves something only if the book has math to typeset."""
    with_math = [d for d, v in visits.items() if v.math and v.math.get("elements")]
    assert with_math, "no page of the book has math; is dollarmath still enabled?"


@pytest.mark.parametrize("page", VISITED, ids=[p.docname for p in VISITED])
def test_no_serious_accessibility_violations(page, visits):
    visit = _visit_of(visits, page)
    serious = [v for v in visit.violations if v["impact"] in SERIOUS]
    assert not serious, (
        f"{page.html}: axe-core found critical or serious violations:\n" + "\n".join(
            f"  {v['impact']} {v['id']} ({v['count']} nodes): {v['help']}; "
            f"e.g. {v['nodes'][:3]}" for v in serious))


def test_accessibility_summary(visits, capsys):
    """Prints what axe-core found below 'serious' on all pages (not a failure)."""
    counts = Counter()
    for visit in visits.values():
        for v in visit.violations:
            counts[(v["impact"], v["id"])] += v["count"]
    with capsys.disabled():
        print(f"\n[axe] {len(visits)} pages; violations by impact and rule (nodes): "
              + (", ".join(f"{impact} {rule}: {n}" for (impact, rule), n in sorted(counts.items()))
                 or "none"))
    assert all(visit.violations is not None for visit in visits.values())


@pytest.mark.parametrize("page", VISITED, ids=[p.docname for p in VISITED])
def test_one_search_box(page, visits):
    visit = _visit_of(visits, page)
    assert len(visit.search_controls) == 1, (
        f"{page.html}: {len(visit.search_controls)} search controls are shown, want one: "
        f"{visit.search_controls}")


LABS = lab_pages(ROOT)


def test_the_toc_has_lab_pages():
    assert LABS, "_toc.yml lists no labs/NN-*.ipynb page"
    assert all(re.fullmatch(r"labs/\d\d-[a-z0-9-]+", p.docname) for p in LABS), LABS


def test_launch_buttons_target_the_course_release():
    tag = release(ROOT)
    assert tag and re.fullmatch(r"v\d+\.\d+\.\d+", tag), (
        f"_config.yml names no release tag (key `release`, e.g. v0.2.0), has {tag!r}")
    assert repository(ROOT) == (COURSE_URL, tag), (
        f"launch links and the Colab setup cell point at {repository(ROOT)}; they must use the "
        f"course repository {COURSE_URL} at the release {tag}")


@pytest.mark.parametrize("page", LABS, ids=[p.docname for p in LABS])
def test_lab_page_offers_colab_and_binder_for_its_notebook(page, site, browser, built_site):
    from selenium.webdriver.common.by import By

    assert (built_site / page.html).is_file(), f"{page.html} (listed in _toc.yml) was not built"
    _load(browser, site + page.html)
    want = expected_launch_urls(ROOT, page)
    main = browser.find_element(By.CSS_SELECTOR, "main, article").text
    assert "google.colab" not in main, (
        f"{page.html} shows the Colab setup cell; it should carry the 'remove-cell' tag")
    toggles = [b for b in browser.find_elements(
        By.CSS_SELECTOR, ".dropdown-launch-buttons button, .dropdown-launch-buttons .btn")
        if b.is_displayed()]
    assert toggles, f"{page.html}: no visible launch button (the rocket) in the header"
    toggles[0].click()
    for service, prefix in (("colab", "https://colab.research.google.com/"),
                            ("binder", "https://mybinder.org/")):
        links = [a for a in browser.find_elements(By.CSS_SELECTOR, f'a[href^="{prefix}"]')]
        assert links, f"{page.html}: no {service} launch button"
        found = {a.get_attribute("href") for a in links}
        assert found == {want[service]}, (
            f"{page.html}: {service} button points at {sorted(found)}, want {want[service]} "
            "(the student notebook at the course release)")
        assert any(a.is_displayed() for a in links), (
            f"{page.html}: the {service} button is not shown after opening the launch menu")


def test_search_finds_part_one(site, browser):
    from selenium.webdriver.common.by import By

    part_one = {p.html for p in PAGES if p.caption and p.caption.startswith(PART_ONE)}
    assert part_one, f"no pages under a '{PART_ONE}' caption in _toc.yml"
    _load(browser, f"{site}search.html?q={SEARCH_TERM}")
    done = _wait_for(browser, "const s = document.querySelector('#search-results');"
                              "return s && s.querySelectorAll('li').length > 0 "
                              "|| (s && /did not match|found \\d+ page/i.test(s.innerText));",
                     timeout=20)
    assert done, "the search page produced no results list within 20 s (search JS broken?)"
    hits = [a.get_attribute("href") for a in
            browser.find_elements(By.CSS_SELECTOR, "#search-results li a")]
    paths = {urlsplit(h).path.lstrip("/") for h in hits if h}
    assert paths & part_one, (
        f"searching {SEARCH_TERM!r} found no Part I page; hits: {sorted(paths)}")


def test_screenshots_of_landing_and_lab_page(site, browser, screenshot_dir, capsys):
    from selenium.webdriver.common.by import By

    assert LABS, "no lab page to photograph"
    _load(browser, site + "index.html")
    _wait_for(browser, _IMAGES_SETTLED)
    landing = screenshot_dir / "landing.png"
    assert browser.save_screenshot(str(landing)), "could not save the landing screenshot"

    lab = LABS[0]
    _load(browser, site + lab.html)
    _wait_for(browser, _IMAGES_SETTLED)
    toggles = [b for b in browser.find_elements(
        By.CSS_SELECTOR, ".dropdown-launch-buttons button") if b.is_displayed()]
    if toggles:
        toggles[0].click()  # show the Binder/Colab menu in the picture
        time.sleep(0.3)
    lab_shot = screenshot_dir / f"{lab.docname.replace('/', '-')}.png"
    assert browser.save_screenshot(str(lab_shot)), "could not save the lab screenshot"
    for shot in (landing, lab_shot):
        assert shot.stat().st_size > 10_000, f"{shot} looks blank ({shot.stat().st_size} bytes)"
    with capsys.disabled():
        print(f"\n[browser] screenshots: {landing} {lab_shot}")


_PHONE_LAYOUT = """
const visible = e => !!e && e.offsetParent !== null && e.getBoundingClientRect().width > 0
                     && e.getBoundingClientRect().right > 0
                     && e.getBoundingClientRect().left < window.innerWidth;
const sidebar = document.querySelector('#pst-primary-sidebar');
const toggle = document.querySelector('.primary-toggle');
const tables = [...document.querySelectorAll('.bd-article table')].map(t => {
  const box = t.closest('.pst-scrollable-table-container') || t.parentElement;
  return {wide: t.scrollWidth > box.clientWidth + 1, scrolls: box.scrollWidth > box.clientWidth,
          overflow: getComputedStyle(box).overflowX, right: box.getBoundingClientRect().right};
});
return {width: window.innerWidth, page: document.documentElement.scrollWidth,
        sidebar: visible(sidebar), toggle: visible(toggle), tables: tables};
"""


def test_phone_width_sidebar_collapses_and_tables_scroll(site, screenshot_dir, capsys):
    """At 390 px (a phone) the landing page must not scroll sideways: the sidebar collapses
    behind its button and the wide lab table scrolls inside its own box. The screenshot
    (the lab table in view) is for a person to look at."""
    with chromium() as phone:
        phone.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {**PHONE, "deviceScaleFactor": 1, "mobile": True})
        _load(phone, site + "index.html")
        _wait_for(phone, _IMAGES_SETTLED)
        layout = phone.execute_script(_PHONE_LAYOUT)
        phone.execute_script("const t = document.querySelector('.bd-article table');"
                             "if (t) t.scrollIntoView({block: 'start'});")
        time.sleep(0.2)
        shot = screenshot_dir / "landing-phone.png"
        assert phone.save_screenshot(str(shot)), "could not save the phone screenshot"
    with capsys.disabled():
        print(f"\n[browser] phone screenshot ({PHONE['width']} px): {shot}")
    assert layout["width"] == PHONE["width"], layout
    assert not layout["sidebar"], "at phone width the primary sidebar is still shown"
    assert layout["toggle"], "at phone width there is no button to open the sidebar"
    assert layout["page"] <= layout["width"], (
        f"the page is {layout['page']} px wide on a {layout['width']} px screen: it scrolls "
        "sideways (a table or a code block is not contained)")
    wide = [t for t in layout["tables"] if t["wide"]]
    assert wide, "the landing page's lab table fits a phone; the scroll check proves nothing"
    for table in wide:
        assert table["scrolls"] and table["overflow"] in ("auto", "scroll"), (
            f"a wide table does not scroll inside its box: {table}")
        assert table["right"] <= layout["width"] + 1, f"a table box overflows the page: {table}"


# --- internal links, checked on the files (no browser needed) ----------------------------

_ID = re.compile(r"""\bid\s*=\s*["']([^"']+)["']""")
_SKIP_PARTS = {"_static", "_sources", "_images", "_sphinx_design_static"}


def _built_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html")
                  if not _SKIP_PARTS & set(p.relative_to(site).parts))


def test_no_broken_internal_links(built_site):
    pages = _built_pages(built_site)
    assert pages, f"no HTML pages in {built_site}"
    ids: dict[Path, set[str]] = {}
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        targets = set(hrefs(text))
        targets |= set(re.findall(r"""<(?:img|script)\b[^>]*\bsrc=["']([^"']+)["']""", text))
        targets |= set(re.findall(r"""<link\b[^>]*\bhref=["']([^"']+)["']""", text))
        for href in sorted(targets):
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            rel = page.relative_to(built_site).as_posix()
            if not parts.path:
                target, rel_target = page, rel
            else:
                rel_target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(rel), unquote(parts.path)))
                if rel_target.startswith(".."):
                    broken.append(f"{rel}: {href} leaves the site")
                    continue
                target = built_site / rel_target
                if target.is_dir():
                    target = target / "index.html"
            if not target.is_file():
                broken.append(f"{rel}: {href} -> {rel_target} does not exist")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(_ID.findall(target.read_text(encoding="utf-8")))
                if anchor not in ids[target]:
                    broken.append(f"{rel}: {href} -> no id {anchor!r} in {rel_target}")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken)
