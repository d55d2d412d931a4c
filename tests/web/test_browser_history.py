"""End to end in headless Chromium: a run's new failures and failure groups, then a case's history.

With ``QAHUB_UPDATE_DOCS_SCREENSHOT=1`` the pages' screenshots replace ``docs/img/case-page.png``
and ``docs/img/flaky-page.png``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from tests.support.server import CollectorServer
from tests.web.test_browser import WAIT_S, chromium, pytestmark, server  # noqa: F401 - fixtures and marks

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
START = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC)
CASES = {
    "LOGIN-001": "Sign in with a valid password",
    "CHECKOUT-003": "Pay with a saved card",
    "SEARCH-004": "Search suggests products while typing",
    "SEARCH-005": "Search by category",
    "CART-001": "Add an item to the basket",
}


def status_of(code: str, night: int) -> tuple[str, str | None]:
    """What each case did on night ``night``: SEARCH-004 fails on and off, CHECKOUT-003 broke last night."""
    if code == "SEARCH-004" and night % 3 == 2:
        return "BROKEN", f"TimeoutError: suggestions did not appear within {3000 + 137 * night} ms"
    if code == "SEARCH-005" and night == 11:
        return "BROKEN", "TimeoutError: suggestions did not appear within 5210 ms"
    if code == "CHECKOUT-003" and night == 11:
        return "FAILED", "AssertionError: expected 'Order confirmed', got 'Payment declined'"
    return "PASSED", None


def seed_nights(collector: CollectorServer, nights: int = 12) -> list[str]:
    """Twelve nightly runs of main; return their ids, oldest first."""
    for code, title in CASES.items():
        collector.create_case(code, title)
    run_ids = []
    for night in range(nights):
        run = collector.session.post(
            f"{collector.api}/runs",
            json={
                "name": f"nightly #{410 + night}",
                "branch": "main",
                "environment": "staging",
                "commit": f"{0x5EED0000 + night:x}{'ab' * 16}",
                "build_url": f"https://ci.example/builds/{410 + night}",
            },
            timeout=10,
        ).json()["data"]["id"]
        results = []
        for n, code in enumerate(CASES):
            status, message = status_of(code, night)
            when = (START + dt.timedelta(days=night, seconds=n)).isoformat()
            duration = 900 + 40 * night + 250 * n + (350 if status != "PASSED" else 0)
            results.append(
                {
                    "test_case_code": code,
                    "status": status,
                    "error_message": message,
                    "duration_ms": duration,
                    "executed_at": when,
                }
            )
        response = collector.session.post(
            f"{collector.api}/runs/{run}/results", json={"results": results}, timeout=10
        )
        assert response.status_code == 201, response.text
        run_ids.append(run)
    return run_ids


def test_a_lead_finds_the_new_failures_the_shared_cause_and_a_cases_history(
    server: CollectorServer,  # noqa: F811
    chromium,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    run_ids = seed_nights(server)
    driver, wait = chromium, WebDriverWait(chromium, WAIT_S)
    driver.get(f"{server.url}/runs/{run_ids[-1]}")
    wait.until(ec.url_contains("/login?next="))
    driver.find_element(By.ID, "token").send_keys(server.token)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait.until(ec.url_to_be(f"{server.url}/runs/{run_ids[-1]}"))

    compared = driver.find_element(By.CSS_SELECTOR, "p.compared").text
    assert compared.startswith("Compared with nightly #420")
    assert "3 new failures (1 known flaky)" in compared
    group = driver.find_element(By.CSS_SELECTOR, "details.group")
    assert "TimeoutError: suggestions did not appear within <n> ms" in group.text
    group.find_element(By.TAG_NAME, "summary").click()
    members = [a.text for a in group.find_elements(By.CSS_SELECTOR, ".members a")]
    assert members == ["SEARCH-004", "SEARCH-005"]

    driver.find_element(By.CSS_SELECTOR, "a.chip-new").click()
    wait.until(ec.url_contains("new=1"))
    shown = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "table.results td.code")]
    assert sorted(shown) == ["CHECKOUT-003", "SEARCH-004", "SEARCH-005"]
    flaky_row = driver.find_element(By.XPATH, "//tbody[.//td[@class='code']/a[text()='SEARCH-004']]")
    assert [m.text for m in flaky_row.find_elements(By.CSS_SELECTOR, ".mark")] == ["New failure", "Flaky"]

    flaky_row.find_element(By.LINK_TEXT, "SEARCH-004").click()
    wait.until(ec.url_contains("/cases/"))
    squares = driver.find_elements(By.CSS_SELECTOR, ".strip a.sq")
    assert len(squares) == 12
    assert [s.get_attribute("class").split("sq-")[1] for s in squares[-3:]] == ["passed", "passed", "broken"]
    line = driver.find_element(By.CSS_SELECTOR, "svg.spark polyline")
    assert line.size["width"] > 200  # drawn across the chart, no script needed
    verdict = driver.find_element(By.CSS_SELECTOR, "section.verdict").text
    assert verdict.startswith("Flaky in the last 20 runs of the project")
    assert "TimeoutError" in driver.find_element(By.CSS_SELECTOR, "section.latest-failure pre").text
    case_shot = (
        DOCS_IMG / "case-page.png"
        if os.environ.get("QAHUB_UPDATE_DOCS_SCREENSHOT") == "1"
        else tmp_path / "case.png"
    )
    assert driver.save_screenshot(str(case_shot))

    squares[0].click()  # the oldest result's run
    wait.until(ec.url_to_be(f"{server.url}/runs/{run_ids[0]}"))
    driver.find_element(By.LINK_TEXT, "Flaky tests").click()
    wait.until(ec.url_to_be(f"{server.url}/flaky"))
    listed = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.flaky td.mono a")]
    assert listed[0] == "SEARCH-004"
    flaky_shot = (
        DOCS_IMG / "flaky-page.png"
        if os.environ.get("QAHUB_UPDATE_DOCS_SCREENSHOT") == "1"
        else tmp_path / "flaky.png"
    )
    assert driver.save_screenshot(str(flaky_shot))
