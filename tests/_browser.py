"""Serve a built site on 127.0.0.1 and drive Debian's headless Chromium over it.

The browser records its console and its network requests (Chrome's performance log), so a
test can tell which hosts a page asked for anything; axe-core, fetched from npm like the
book's MathJax (``book/_ext/npm_assets.py``), checks a page's accessibility.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Debian's paths; elsewhere (a CI runner's Chrome, say) name them in the environment.
CHROMIUM = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
                or "/usr/bin/chromedriver")
# axe-core, the accessibility engine: npm package, pinned version and registry hash.
AXE = ("axe-core", "4.14.1",
       "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37O"
       "gudVGtQ==")
INSTALL_HINT = ("install Debian's packages: `apt-get install -y chromium chromium-driver` "
                "(`make sysdeps` does it as root)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 at an ephemeral port; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 1000):
    """A headless Chromium WebDriver that records the browser console.

    Every host but 127.0.0.1 resolves to nothing, so requests to CDNs fail at once with
    ``net::ERR_NAME_NOT_RESOLVED`` instead of hanging (CI has no network anyway); the
    performance log records every request (:func:`requested_urls`) all the same.
    """
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.fail(f"headless browser test needs {', '.join(missing)}: {INSTALL_HINT}",
                    pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ModuleNotFoundError:
        pytest.fail("the browser tests need Selenium: pip install 'selenium>=4.10' (part of the "
                    "dev extra)", pytrace=False)

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--window-size={width},{height}", f"--user-data-dir={profile}",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True,
                                                         "enablePage": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver) -> list[str]:
    """Every URL the browser asked for since the last call (drains the performance log):
    documents, scripts, styles, fonts, images, fetches, websockets."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def other_hosts(urls: list[str], base_url: str) -> list[str]:
    """The URLs among ``urls`` that go over the network to a host other than the one serving
    the site. ``data:``, ``blob:`` and the browser's own ``chrome://`` pages stay on the
    machine and do not count."""
    home = urlsplit(base_url).hostname
    return [u for u in urls
            if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp")
            and urlsplit(u).hostname != home]


def _npm_assets():
    spec = importlib.util.spec_from_file_location("npm_assets",
                                                  ROOT / "book" / "_ext" / "npm_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def axe_source() -> str:
    """The source of ``axe.min.js`` (fetched from npm on first use, hash-checked)."""
    assets = _npm_assets()
    try:
        folder = assets.npm_package(*AXE, assets.vendor_dir(ROOT))
    except assets.NpmAssetError as exc:
        pytest.fail(f"cannot fetch axe-core for the accessibility checks: {exc}", pytrace=False)
    return (folder / "axe.min.js").read_text(encoding="utf-8")


_AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done({violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5),
      count: v.nodes.length}))}))
  .catch(e => done({error: String(e)}));
"""


def axe_violations(driver, source: str) -> list[dict]:
    """Run axe-core on the page loaded in ``driver``; return its violations (id, impact,
    help, up to five CSS selectors of offending nodes, and their count)."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(source)
    result = driver.execute_async_script(_AXE_RUN)
    if "error" in result:
        raise AssertionError(f"axe-core failed on {driver.current_url}: {result['error']}")
    return result["violations"]
