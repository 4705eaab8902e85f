"""The built book as a learner meets it, in a real (headless) browser.

The built HTML is served on 127.0.0.1 and Debian's Chromium loads every page of the table of
contents: no console errors, every image renders, every lab page offers Colab and Binder
buttons for its own student notebook on the course's branch, and the search page finds Part I.
Screenshots of the landing page and of a lab page go to ``$SCREENSHOT_DIR`` (default: a
``screenshots`` folder in pytest's temporary directory; the path is printed).

The only console errors tolerated are failed fetches of resources on other hosts (MathJax
from a CDN, for instance): the browser is cut off from every host but 127.0.0.1, as CI is
from the internet, and each such error is reported.

Also here, without the browser: every internal link of every built page points at a file
(and an anchor) that exists.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from _browser import chromium, is_external_network_error, serve
from _browser_site import COURSE_REPOSITORY, expected_launch_urls, hrefs, lab_pages, toc_pages

from labkit.course import repository

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.book
PAGES = toc_pages(ROOT)
SEARCH_TERM = os.environ.get("SEARCH_TERM", "recall")
PART_ONE = "Part I"


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


@pytest.mark.parametrize("page", PAGES, ids=[p.docname for p in PAGES])
def test_page_loads_without_console_errors_and_images_render(page, site, browser, capsys,
                                                             built_site):
    assert (built_site / page.html).is_file(), f"{page.html} (listed in _toc.yml) was not built"
    url = site + page.html
    # Errors logged after the previous page was checked count too (their URL names the page).
    leftover = browser.get_log("browser")
    _load(browser, url)
    title = browser.title
    assert title and "Error response" not in title and "404" not in title, (
        f"{page.html}: not a built page (title {title!r})")
    text = browser.execute_script(
        "const m = document.querySelector('main, article, .bd-article'); "
        "return m ? m.innerText : ''")
    assert len(text.strip()) > 20, f"{page.html}: the main content is empty"

    _wait_for(browser, _IMAGES_SETTLED)
    broken = [img["src"] for img in browser.execute_script(_IMAGES)
              if img["width"] == 0 and urlsplit(img["src"]).hostname in (None, "127.0.0.1")]
    assert not broken, f"{page.html}: images that did not load: {broken}"

    time.sleep(0.2)  # let late scripts report
    severe = [e for e in leftover + browser.get_log("browser") if e.get("level") == "SEVERE"]
    external = [e for e in severe if is_external_network_error(e, site)]
    real = [e for e in severe if e not in external]
    if external:
        with capsys.disabled():
            print(f"\n[browser] {page.html}: ignored {len(external)} failed fetch(es) from "
                  "other hosts (no network): "
                  + "; ".join(e["message"].split(" ", 1)[0] for e in external))
    assert not real, f"{page.html}: console errors:\n" + "\n".join(e["message"] for e in real)


LABS = lab_pages(ROOT)


def test_the_toc_has_lab_pages():
    assert LABS, "_toc.yml lists no labs/NN-*.ipynb page"
    assert all(re.fullmatch(r"labs/\d\d-[a-z0-9-]+", p.docname) for p in LABS), LABS


def test_launch_buttons_target_the_course_repository():
    assert repository(ROOT) == COURSE_REPOSITORY, (
        f"_config.yml's repository (url, branch) is {repository(ROOT)}; the launch buttons "
        f"and the Colab setup cell must use {COURSE_REPOSITORY}")


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
            "(the student notebook on the course branch)")
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
