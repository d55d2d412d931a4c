"""Hook specifications other plugins and conftest files can implement."""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_qahub_test_case(item: pytest.Item) -> str | None:
    """Return the QAHub test case code of an item that has no ``qahub`` marker.

    Use it for naming conventions (``test_tc_001_login`` -> ``TC-001``). Return None to
    leave the item unmapped. The first non-None answer wins.
    """


def pytest_qahub_result(item: pytest.Item, result: dict[str, Any]) -> None:
    """Adjust an item's result in place before it is aggregated, journaled and sent.

    Called in the process that ran the item (an xdist worker or the only process).
    ``result`` holds the API fields (``status``, ``error_message``, ``comment``...) and
    the plugin's own keys (``nodeid``, ``code``, ``param``); values must stay JSON-serialisable.
    """


@pytest.hookspec(firstresult=True)
def pytest_qahub_screenshot(item: pytest.Item) -> bytes | str | os.PathLike[str] | None:
    """Return a PNG screenshot (bytes, or the path of a PNG file) of a failed or broken item.

    Called in the process running the item, right after its setup or call phase failed and
    before its fixtures are torn down, on the test's thread. Return None to let the plugin
    look for a Playwright page or a Selenium WebDriver among the fixtures. Keep it quick: a
    hook is not interrupted. Errors are reported in the summary, never raised into the test.
    """
