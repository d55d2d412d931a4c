"""Failure screenshots with fakes: the hook, fake pages and drivers, time-outs, errors, the option."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest

from pytest_qahub.evidence import ScreenshotError, as_png, run_bounded, take_screenshot
from pytest_qahub.settings import resolve_settings
from tests.support.images import make_png


class FakeHook:
    def __init__(self, answer: Any = None) -> None:
        self.answer = answer

    def pytest_qahub_screenshot(self, item: Any) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def fake_item(answer: Any = None, **funcargs: Any) -> Any:
    return SimpleNamespace(config=SimpleNamespace(hook=FakeHook(answer)), funcargs=funcargs, instance=None)


class FakePage:
    def __init__(self, data: bytes = b"", error: Exception | None = None, closed: bool = False) -> None:
        self.data, self.error, self.closed, self.timeouts = data, error, closed, []

    def is_closed(self) -> bool:
        return self.closed

    def screenshot(self, timeout: float) -> bytes:
        self.timeouts.append(timeout)
        if self.error:
            raise self.error
        return self.data


class FakeDriver:
    def __init__(
        self, data: bytes = b"", error: Exception | None = None, stuck: threading.Event | None = None
    ) -> None:
        self.data, self.error, self.stuck = data, error, stuck

    def get_screenshot_as_png(self) -> bytes:
        if self.stuck is not None:
            self.stuck.wait(60)  # a browser that does not answer until the test lets it go
        if self.error:
            raise self.error
        return self.data


def test_the_hook_wins_with_bytes() -> None:
    png = make_png(rgb=(1, 2, 3))
    data, errors = take_screenshot(fake_item(png, driver=FakeDriver(make_png())))
    assert data == png and errors == []


def test_the_hook_may_answer_a_path(tmp_path: Path) -> None:
    path = tmp_path / "shot.png"
    path.write_bytes(make_png())
    assert take_screenshot(fake_item(str(path))) == (make_png(), [])
    assert take_screenshot(fake_item(path)) == (make_png(), [])


def test_a_hook_that_raises_is_recorded_and_the_page_is_used() -> None:
    page = FakePage(make_png())
    data, errors = take_screenshot(fake_item(RuntimeError("hook broke"), page=page), timeout=2)
    assert data == make_png()
    assert errors == ["pytest_qahub_screenshot raised RuntimeError: hook broke"]
    assert page.timeouts == [2000]


def test_a_playwright_page_comes_before_a_webdriver() -> None:
    page, driver = FakePage(make_png(rgb=(9, 9, 9))), FakeDriver(make_png())
    assert take_screenshot(fake_item(driver=driver, page=page))[0] == make_png(rgb=(9, 9, 9))


def test_a_closed_page_is_skipped_and_a_failing_page_falls_back_to_the_driver() -> None:
    closed, broken = FakePage(make_png(), closed=True), FakePage(error=RuntimeError("Target closed"))
    data, errors = take_screenshot(fake_item(a=closed, b=broken, driver=FakeDriver(make_png())))
    assert data == make_png()
    assert errors == ["Playwright page: RuntimeError: Target closed"]


def test_a_driver_that_hangs_is_given_up_within_the_time_bound() -> None:
    stuck = threading.Event()
    started = time.monotonic()
    try:
        data, errors = take_screenshot(fake_item(driver=FakeDriver(make_png(), stuck=stuck)), timeout=0.3)
    finally:
        stuck.set()  # the abandoned capture thread ends with the test
    assert time.monotonic() - started < 2
    assert data is None
    assert errors == ["WebDriver: timed out after 0.3 s"]


def test_a_driver_that_raises_is_recorded() -> None:
    data, errors = take_screenshot(fake_item(driver=FakeDriver(error=ConnectionError("chromedriver gone"))))
    assert data is None
    assert errors == ["WebDriver: ConnectionError: chromedriver gone"]


@pytest.mark.parametrize("answer", [b"GIF89a not a png", b"", "no-such-file.png", 42])
def test_anything_but_a_png_is_refused(answer: Any) -> None:
    with pytest.raises(ScreenshotError):
        as_png(answer, "hook")
    data, errors = take_screenshot(fake_item(answer))
    assert data is None and len(errors) == 1


def test_nothing_to_capture_is_no_error() -> None:
    assert take_screenshot(fake_item(None, number=3, text="x")) == (None, [])


def test_a_driver_kept_on_the_test_instance_is_found() -> None:
    item = fake_item(None)
    item.instance = SimpleNamespace(driver=FakeDriver(make_png()))
    assert take_screenshot(item) == (make_png(), [])


def test_a_tests_mocks_are_not_taken_for_browsers() -> None:
    mock = MagicMock()
    assert take_screenshot(fake_item(None, mock=mock)) == (None, [])
    assert mock.mock_calls == []


def test_run_bounded_returns_the_answer_and_wraps_errors() -> None:
    assert run_bounded(lambda: 5, 1) == 5
    with pytest.raises(ScreenshotError, match="ValueError: bad"):
        run_bounded(lambda: (_ for _ in ()).throw(ValueError("bad")), 1)


def test_the_option_resolves_cli_then_environment_then_ini(pytester: pytest.Pytester) -> None:
    def screenshots(*args: str, env: dict[str, str] | None = None) -> str:
        settings = resolve_settings(pytester.parseconfig("--qahub-run=r", *args), environ=env or {})
        assert settings is not None
        return settings.screenshots

    assert screenshots() == "failed"
    pytester.makeini("[pytest]\nqahub_screenshots = off\n")
    assert screenshots() == "off"
    assert screenshots(env={"QAHUB_SCREENSHOTS": "FAILED"}) == "failed"
    assert screenshots("--qahub-screenshots=off", env={"QAHUB_SCREENSHOTS": "failed"}) == "off"
    with pytest.raises(
        pytest.UsageError, match=r"Invalid --qahub-screenshots 'always' \(from QAHUB_SCREENSHOTS\)"
    ):
        screenshots(env={"QAHUB_SCREENSHOTS": "always"})
