"""End to end with a real headless Chromium: a failed browser test's result carries its page's PNG.

Debian's ``chromium`` and ``chromium-driver`` drive a page served on 127.0.0.1 from a
Playwright sync page (launched with the system Chromium as its executable) and from a
Selenium driver, serial and under ``-n 2``. Nothing downloads a browser: Playwright gets an
``executable_path`` and Selenium a ``Service`` with the driver's path and a binary location.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugin.conftest import QAHubRun, make_cases
from tests.plugin.test_screenshots import dominant_colour, files_of, pending_files

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RED = (200, 30, 30)

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver at /usr/bin/chromium and /usr/bin/chromedriver",
    ),
]

CONFTEST = f"""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
PAGE = (
    b"<!doctype html><html><body style='margin:0'>"
    b"<div id='box' style='width:100vw;height:100vh;background:rgb{RED}'>checkout</div>"
    b"</body></html>"
)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{{server.server_address[1]}}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="{CHROMIUM}", headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={{"width": 320, "height": 240}})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "{CHROMIUM}"
    profile = f"--user-data-dir={{tmp_path / 'profile'}}"  # a fresh profile: nothing to sync or fetch
    for flag in [*FLAGS, "--headless=new", "--window-size=320,240", profile]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="{CHROMEDRIVER}"), options=options)
    yield driver
    driver.quit()
"""

PLAYWRIGHT_SUITE = """
import pytest

@pytest.mark.qahub("BR-PW-FAIL")
def test_checkout_shows_the_total(page, site):
    page.goto(site)
    assert page.text_content("#box") == "total: 42"

@pytest.mark.qahub("BR-PW-PASS")
def test_checkout_loads(page, site):
    page.goto(site)
    assert page.text_content("#box") == "checkout"
"""

SELENIUM_SUITE = """
import pytest
from selenium.webdriver.common.by import By

@pytest.mark.qahub("BR-SE-FAIL")
def test_checkout_shows_the_total(driver, site):
    driver.get(site)
    assert driver.find_element(By.ID, "box").text == "total: 42"

@pytest.mark.qahub("BR-SE-PASS")
def test_checkout_loads(driver, site):
    driver.get(site)
    assert driver.find_element(By.ID, "box").text == "checkout"
"""


def _suite(qahub_run: QAHubRun, tool: str) -> QAHubRun:
    pytest.importorskip(tool, reason=f"{tool} is in the 'test' extra")
    prefix = "BR-PW" if tool == "playwright" else "BR-SE"
    make_cases(qahub_run.server, f"{prefix}-FAIL", f"{prefix}-PASS")
    qahub_run.pytester.makeconftest(CONFTEST)
    suite = PLAYWRIGHT_SUITE if tool == "playwright" else SELENIUM_SUITE
    qahub_run.pytester.makepyfile(**{f"test_{tool}_checkout": suite})
    return qahub_run


def assert_red_screenshot_on_failure_only(
    qahub_run: QAHubRun, prefix: str, run_id: str | None = None
) -> None:
    failed = files_of(qahub_run, f"{prefix}-FAIL")
    assert list(failed) == ["screenshot.png"]
    colour, share = dominant_colour(failed["screenshot.png"])
    assert colour == RED and share > 0.9, (colour, share)
    assert files_of(qahub_run, f"{prefix}-PASS") == {}
    assert pending_files(qahub_run) == []


@pytest.mark.parametrize("tool", ["playwright", "selenium"])
@pytest.mark.parametrize(
    "options",
    [("-p", "no:xdist"), ("-n", "2"), ("-p", "no:xdist", "--reruns=1")],
    ids=["serial", "xdist", "reruns"],
)
def test_a_failed_browser_test_uploads_a_png_of_its_page(
    qahub_run: QAHubRun, tool: str, options: tuple[str, ...]
) -> None:
    """Under reruns, pytest-rerunfailures logs an attempt's reports after its teardown closed the
    page: the screenshot is taken as the test fails, not when its report is logged."""
    _suite(qahub_run, tool)
    # Fixtures of our own: pytest-playwright, where installed, stays out of the way.
    result = qahub_run.pytest("-p", "no:playwright", *options)
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes.get("rerun", 0)) == (
        1,
        1,
        options.count("--reruns=1"),
    )
    result.stdout.fnmatch_lines(["attachments uploaded 1, refused 0, waiting in journal 0"])
    prefix = "BR-PW" if tool == "playwright" else "BR-SE"
    assert qahub_run.statuses() == {f"{prefix}-FAIL": "FAILED", f"{prefix}-PASS": "PASSED"}
    assert_red_screenshot_on_failure_only(qahub_run, prefix)


PYTEST_PLAYWRIGHT_CONFTEST = (
    CONFTEST.split('@pytest.fixture(scope="session")\ndef browser():')[0]
    + f"""
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # pytest-playwright's own fixtures, pointed at the system Chromium: nothing is downloaded.
    return {{**browser_type_launch_args, "executable_path": "{CHROMIUM}", "args": FLAGS}}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {{**browser_context_args, "viewport": {{"width": 320, "height": 240}}}}
"""
)


def test_pytest_playwrights_page_and_its_files_reach_the_result(qahub_run: QAHubRun) -> None:
    pytest.importorskip("pytest_playwright", reason="pytest-playwright is in the 'test' extra")
    make_cases(qahub_run.server, "BR-PW-FAIL", "BR-PW-PASS")
    qahub_run.pytester.makeconftest(PYTEST_PLAYWRIGHT_CONFTEST)
    qahub_run.pytester.makepyfile(test_pytest_playwright_checkout=PLAYWRIGHT_SUITE)
    result = qahub_run.pytest("-p", "no:xdist", "--screenshot=only-on-failure", "--tracing=retain-on-failure")
    result.assert_outcomes(passed=1, failed=1)
    failed = files_of(qahub_run, "BR-PW-FAIL")
    # pytest-playwright parametrizes by browser: the parameter id prefixes the names.
    assert sorted(failed) == ["chromium-test-failed-1.png", "chromium-trace.zip", "screenshot-chromium.png"]
    assert dominant_colour(failed["screenshot-chromium.png"])[0] == RED
    assert dominant_colour(failed["chromium-test-failed-1.png"])[0] == RED
    assert failed["chromium-trace.zip"].startswith(b"PK")
    assert files_of(qahub_run, "BR-PW-PASS") == {}
    assert pending_files(qahub_run) == []
