"""End to end: a real ``qahub serve`` and headless Chromium (Debian's) driven by Selenium.

Sign in, open a run, expand a failed result and see its screenshot load. With
``QAHUB_UPDATE_DOCS_SCREENSHOT=1`` the page's screenshot replaces ``docs/img/run-page.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector import attachment_samples as samples
from tests.support.images import png_rows
from tests.support.server import CollectorServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "run-page.png"
WAIT_S = 20

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver at /usr/bin/chromium and /usr/bin/chromedriver",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the 'test' extra")


def screenshot_png() -> bytes:
    """A 320x200 picture of a page: a dark header, a light body and a red error box."""

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        if y < 28:
            return (36, 41, 47)
        if 70 <= y < 130 and 40 <= x < 280:
            return (214, 69, 65)
        return (246, 248, 250)

    return png_rows([[pixel(x, y) for x in range(320)] for y in range(200)])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CollectorServer]:
    server = CollectorServer(tmp_path / "collector")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium from /usr/bin; nothing is downloaded (no selenium-manager lookup)."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1100",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def seed_run(server: CollectorServer) -> tuple[str, str]:
    """A run like a real nightly one, with a failed checkout test and its screenshot."""
    cases = [
        ("LOGIN-001", "Sign in with a valid password", "PASSED", {}),
        ("LOGIN-002", "Sign in is refused with a wrong password", "PASSED", {}),
        ("CART-001", "Add an item to the basket", "PASSED", {}),
        ("CART-002", "Remove the last item empties the basket", "PASSED", {}),
        (
            "CHECKOUT-003",
            "Pay with a saved card",
            "FAILED",
            {
                "error_message": "AssertionError: expected 'Order confirmed', got 'Payment declined'",
                "error_stack": (
                    "tests/test_checkout.py:48: in test_pay_with_saved_card\n"
                    '    assert banner.text == "Order confirmed"\n'
                    "E   AssertionError: expected 'Order confirmed', got 'Payment declined'"
                ),
                "bug_ticket_key": "SHOP-212",
                "bug_ticket_url": "https://tracker.example/SHOP-212",
            },
        ),
        (
            "SEARCH-004",
            "Search suggests products while typing",
            "BROKEN",
            {
                "error_message": "TimeoutError: suggestions did not appear within 5 s",
                "error_stack": "tests/test_search.py:22: in test_suggestions\nE   TimeoutError",
            },
        ),
        ("PROFILE-001", "Change the display name", "PASSED", {}),
        ("EXPORT-001", "Export orders as CSV", "SKIPPED", {"comment": "export is switched off"}),
    ]
    for code, title, _, _ in cases:
        server.create_case(code, title)
    run_id = server.create_run("nightly #418")
    results = [
        {"test_case_code": code, "status": status, "duration_ms": 850 + 731 * n, **extra}
        for n, (code, _, status, extra) in enumerate(cases)
    ]
    response = server.session.post(
        f"{server.api}/runs/{run_id}/results", json={"results": results}, timeout=10
    )
    assert response.status_code == 201, response.text
    failed = next(r["id"] for r in response.json()["data"] if r["status"] == "FAILED")
    body = samples.multipart([("file", "checkout-failure.png", screenshot_png())])
    upload = server.session.post(
        f"{server.api}/results/{failed}/attachments",
        data=body,
        headers={"Content-Type": samples.multipart_type()},
        timeout=10,
    )
    assert upload.status_code == 201, upload.text
    return run_id, upload.json()["data"][0]["id"]


def test_serve_prints_the_web_pages_address(server: CollectorServer) -> None:
    lines = [server.process.stdout.readline().decode() for _ in range(2)]

    assert f"  Web:      {server.url}/" in [line.split("  (")[0] for line in lines]


def test_a_signed_in_browser_sees_the_failed_results_screenshot(
    server: CollectorServer, chromium, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    run_id, attachment_id = seed_run(server)
    driver, wait = chromium, WebDriverWait(chromium, WAIT_S)

    driver.get(f"{server.url}/runs/{run_id}")
    wait.until(ec.url_contains("/login?next="))
    driver.find_element(By.ID, "token").send_keys(server.token)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait.until(ec.url_to_be(f"{server.url}/runs/{run_id}"))

    cookie = driver.get_cookie("qahub_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.token not in driver.current_url and server.token.split("_", 2)[2] not in cookie["value"]
    failed = driver.find_element(By.CSS_SELECTOR, "tbody.result-failed")
    failed.find_element(By.TAG_NAME, "summary").click()
    image = failed.find_element(By.CSS_SELECTOR, f"img[src='/web/attachments/{attachment_id}']")
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))

    assert driver.execute_script("return arguments[0].naturalWidth", image) == 320
    assert "Payment declined" in failed.find_element(By.CSS_SELECTOR, "pre.message").text
    link = failed.find_element(By.LINK_TEXT, "SHOP-212")
    assert link.get_attribute("href") == "https://tracker.example/SHOP-212"
    target = (
        DOCS_SCREENSHOT if os.environ.get("QAHUB_UPDATE_DOCS_SCREENSHOT") == "1" else tmp_path / "run.png"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(target))

    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait.until(ec.url_to_be(f"{server.url}/login"))
    driver.get(f"{server.url}/runs/{run_id}")
    wait.until(ec.url_contains("/login?next="))
