"""Serve a built site on 127.0.0.1 and drive Debian's headless Chromium over it."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
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
    ``net::ERR_NAME_NOT_RESOLVED`` instead of hanging (CI has no network anyway).
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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def is_external_network_error(entry: dict, base_url: str) -> bool:
    """True for a console error that only says an off-machine resource could not be fetched
    (a CDN script or font, say): the message names a URL on another host and a
    ``net::ERR_`` code. Anything else (a JavaScript exception, a 404 on our own server)
    is a real error."""
    message = entry.get("message", "")
    if "net::ERR_" not in message:
        return False
    url = message.split(" ", 1)[0]
    host = urlsplit(url).hostname
    return bool(host) and host != urlsplit(base_url).hostname
