"""An item's evidence: its failure screenshot, pytest-playwright's files, every file attached to it.

Screenshots are taken where the test runs, at the moment it fails.

When a setup or call phase fails, the plugin asks, in order: the ``pytest_qahub_screenshot``
hook, a Playwright sync ``Page`` among the test's fixture values, a Selenium ``WebDriver``
among them. The first PNG wins. Every capture is bounded in time; its errors are recorded
for the summary and never reach the test. At teardown the files pytest-playwright kept for
a failed test (screenshot, video, trace) are added, and the item's attachments and errors
are handed to ``capture.Capture``.

``Evidence`` is no plugin of its own: ``capture.Capture`` calls it from its hooks.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pytest

from .attach import EVIDENCE_KEY, PendingStore, evidence, is_png, mime_for, safe_name
from .errors import QAHubError
from .warning import describe

#: Seconds one capture may take before it is given up.
CAPTURE_TIMEOUT_S = 5.0
#: What pytest-playwright keeps in a failed test's output folder.
PLAYWRIGHT_ARTIFACTS = ("test-failed-*.png", "video*.webm", "trace*.zip")


class ScreenshotError(QAHubError):
    """A screenshot could not be taken (time-out, browser error, not a PNG)."""


def run_bounded(call: Callable[[], Any], timeout: float) -> Any:
    """Run call in a daemon thread and return its answer within timeout seconds.

    Raises:
        ScreenshotError: It took longer (the thread is left to finish on its own), or it raised.
    """
    answer: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            answer.append(call())
        except Exception as ex:  # any driver error: handed to the caller below
            failure.append(ex)

    thread = threading.Thread(target=target, name="qahub-screenshot", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ScreenshotError(f"timed out after {timeout:g} s")
    if failure:
        raise ScreenshotError(describe(failure[0])) from failure[0]
    return answer[0] if answer else None


def as_png(answer: Any, source: str) -> bytes:
    """Return the PNG bytes of a capture answer (bytes, or a path to a PNG file).

    Raises:
        ScreenshotError: The answer is not a PNG, or its file cannot be read.
    """
    if isinstance(answer, str | PathLike):
        try:
            answer = Path(answer).read_bytes()
        except OSError as ex:
            raise ScreenshotError(f"{source}: cannot read {answer}: {ex}") from ex
    if not isinstance(answer, bytes | bytearray) or not is_png(bytes(answer)):
        raise ScreenshotError(f"{source} did not give a PNG ({type(answer).__name__})")
    return bytes(answer)


def is_mock(value: Any) -> bool:
    """A ``unittest.mock`` object: it answers every attribute, so it is no browser.

    ``unittest.mock`` (and asyncio under it) is not imported for this: without it imported
    nothing can be a mock, and the plugin's start stays about 30 ms shorter.
    """
    mock = sys.modules.get("unittest.mock")
    return mock is not None and isinstance(value, mock.NonCallableMock)


def is_playwright_page(value: Any) -> bool:
    """A Playwright sync ``Page`` (or one that looks like it); the async API is not used here."""
    if is_mock(value) or type(value).__module__.startswith("playwright.async_api"):
        return False
    return callable(getattr(value, "screenshot", None)) and callable(getattr(value, "is_closed", None))


def is_webdriver(value: Any) -> bool:
    """A Selenium ``WebDriver`` (anything with ``get_screenshot_as_png``, mocks aside)."""
    return not is_mock(value) and callable(getattr(value, "get_screenshot_as_png", None))


def fixture_values(item: pytest.Item) -> Iterator[Any]:
    """The item's fixture values, then its test instance's attributes (``self.driver``), once each."""
    seen: set[int] = set()
    values = list((getattr(item, "funcargs", None) or {}).values())
    values.extend(_cached_fixture_values(item))
    instance = getattr(item, "instance", None)
    if instance is not None:
        values.extend(getattr(instance, "__dict__", {}).values())  # none with __slots__
    for value in values:
        if id(value) not in seen:
            seen.add(id(value))
            yield value


def _cached_fixture_values(item: pytest.Item) -> list[Any]:
    """Values of fixtures already set up, for a setup that failed before ``funcargs`` was filled.

    pytest fills ``item.funcargs`` only once every fixture is set up; the fixture definitions
    hold the values of those that were (a browser started before a later fixture failed).
    """
    info = getattr(item, "_fixtureinfo", None)
    values: list[Any] = []
    for definitions in (getattr(info, "name2fixturedefs", None) or {}).values():
        cached = getattr(definitions[-1], "cached_result", None) if definitions else None
        if isinstance(cached, tuple) and len(cached) == 3 and cached[2] is None:
            values.append(cached[0])
    return values


def take_screenshot(item: pytest.Item, timeout: float = CAPTURE_TIMEOUT_S) -> tuple[bytes | None, list[str]]:
    """Return the first PNG the hook, a Playwright page or a WebDriver gives, and the errors met."""
    errors: list[str] = []
    try:
        answer = item.config.hook.pytest_qahub_screenshot(item=item)
        if answer is not None:
            return as_png(answer, "pytest_qahub_screenshot"), errors
    except ScreenshotError as ex:
        errors.append(str(ex))
    except Exception as ex:  # a conftest hook may raise anything; it must not reach the test
        errors.append(f"pytest_qahub_screenshot raised {describe(ex)}")
    values = list(fixture_values(item))
    pages = [value for value in values if is_playwright_page(value)]
    drivers = [value for value in values if not is_playwright_page(value) and is_webdriver(value)]
    for page in pages:
        try:
            if page.is_closed():
                continue
            # Playwright's sync API only works on the thread that started it: its own timeout bounds it.
            return as_png(page.screenshot(timeout=timeout * 1000), "Playwright page"), errors
        except ScreenshotError as ex:
            errors.append(str(ex))
        except Exception as ex:  # playwright.sync_api.Error and whatever a wrapper raises
            errors.append(f"Playwright page: {describe(ex)}")
    for driver in drivers:
        try:
            answer = run_bounded(driver.get_screenshot_as_png, timeout)
            return as_png(answer, "WebDriver"), errors
        except ScreenshotError as ex:
            errors.append(str(ex) if str(ex).startswith("WebDriver") else f"WebDriver: {ex}")
    return None, errors


def _param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return safe_name(callspec.id) if callspec is not None else None


def screenshot_name(item: pytest.Item) -> str:
    """``screenshot.png``, or ``screenshot-<param id>.png`` for a parametrized item."""
    param = _param(item)
    return f"screenshot-{param}.png" if param else "screenshot.png"


def playwright_artifacts(item: pytest.Item) -> list[Path]:
    """The files pytest-playwright kept in this item's output folder, if any."""
    output = (getattr(item, "funcargs", None) or {}).get("output_path")
    if not isinstance(output, str | PathLike) or not Path(output).is_dir():
        return []
    found: list[Path] = []
    for pattern in PLAYWRIGHT_ARTIFACTS:
        found.extend(sorted(Path(output).glob(pattern)))
    return found


class Evidence:
    """Captures failure evidence and hands each item's attachments and errors on at its teardown.

    ``capture.Capture`` calls ``failed`` as a setup or call fails, and ``finish`` at every
    teardown.
    """

    def __init__(self, store: PendingStore, enabled: bool, timeout: float = CAPTURE_TIMEOUT_S) -> None:
        self.store = store
        self.enabled = enabled
        self.timeout = timeout

    def failed(self, item: pytest.Item) -> None:
        """A setup or call phase failed: take the screenshot now, while the browser shows it."""
        if self.enabled:
            self._capture(item)

    def finish(self, item: pytest.Item, failed: bool) -> tuple[Sequence[dict[str, str]], Sequence[str]]:
        """Add pytest-playwright's files of a failed item; return the item's attachments and errors."""
        if failed and self.enabled:
            self._add_playwright_artifacts(item)
        stash = item.stash
        if EVIDENCE_KEY not in stash:  # nearly every test: no KeyError raised and caught
            return (), ()
        found = stash[EVIDENCE_KEY]
        del stash[EVIDENCE_KEY]
        return found.files, found.errors

    def _capture(self, item: pytest.Item) -> None:
        found = evidence(item)
        data, errors = take_screenshot(item, self.timeout)
        found.errors.extend(f"{item.nodeid}: screenshot: {error}" for error in errors)
        if data is None:
            return
        try:
            name = screenshot_name(item)
            found.files.append(self.store.write(item.nodeid, data, name, mime_for(name)))
        except OSError as ex:
            found.errors.append(f"{item.nodeid}: could not keep the screenshot: {ex}")

    def _add_playwright_artifacts(self, item: pytest.Item) -> None:
        found = evidence(item)
        param = _param(item)
        for path in playwright_artifacts(item):
            name = f"{param}-{path.name}" if param else path.name
            try:
                found.files.append(self.store.copy(item.nodeid, path, name))
            except OSError as ex:
                found.errors.append(f"{item.nodeid}: could not keep {path}: {ex}")
