"""The plugin's warning class, and the one warning both an xdist worker and the controller give."""

from collections.abc import Sequence

import pytest


class QAHubWarning(pytest.PytestWarning):
    """A problem reporting to QAHub that does not stop the tests."""


def unknown_codes_message(codes: Sequence[str]) -> str:
    """The warning naming test case codes the project lacks."""
    return (
        f"QAHub: {len(codes)} test case code(s) do not exist in the project; their "
        f"results will not be sent: {', '.join(codes)}"
    )


def issue_warning(config: pytest.Config, message: str) -> bool:
    """Give a `QAHubWarning` outside any test; False, giving nothing, where warnings are errors."""
    try:
        config.issue_config_time_warning(QAHubWarning(message), stacklevel=3)
    except QAHubWarning:
        return False
    return True
