"""The plugin's warning class."""

import pytest


class QAHubWarning(pytest.PytestWarning):
    """A problem reporting to QAHub that does not stop the tests."""
