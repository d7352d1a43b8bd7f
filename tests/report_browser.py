"""A real headless Chromium for the review-report tests (Debian ``chromium`` + ``chromium-driver``).

Selenium is given both binaries, so Selenium Manager never runs and nothing is downloaded.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1280,900")  # fmt: skip


def find_binaries() -> tuple[str | None, str | None]:
    """``(browser, driver)`` paths, ``None`` where missing."""
    browser = next((path for path in map(shutil.which, BROWSERS) if path), None)
    return browser, shutil.which("chromedriver")


def missing_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    browser, driver = find_binaries()
    if browser is None or driver is None:
        return (
            "no headless Chromium here (need chromium and chromedriver on PATH; "
            "on Debian: apt-get install -y chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def headless_chromium(download_dir: str):
    """A Chrome WebDriver on a fresh profile that saves downloads to ``download_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"download.default_directory": download_dir,
                                                  "download.prompt_for_download": False})  # fmt: skip
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        try:
            driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_dir})
            yield driver
        finally:
            driver.quit()


@contextmanager
def static_server(directory: str):
    """Serve ``directory`` over HTTP on a free 127.0.0.1 port, like a static bucket; yields its base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def console_errors(driver) -> list[dict]:
    """Console messages at SEVERE level (errors, failed loads, CSP violations) since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(condition, timeout_s: float = 10.0, what: str = "condition"):
    """Poll ``condition()`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
