"""The plugin's warning class, and the one warning both an xdist worker and the controller give."""

from collections.abc import Sequence

import pytest


class QAHubWarning(pytest.PytestWarning):
    """A problem reporting to QAHub that does not stop the tests.

    The unknown-codes warning carries its codes as a second argument: pytest-xdist rebuilds a
    worker's warning on the controller from its arguments, so the controller learns which
    codes were named.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def codes(self) -> list[str]:
        """The test case codes an unknown-codes warning names (none for the others)."""
        return list(self.args[1]) if len(self.args) > 1 else []


#: The most codes a message names; the rest are counted.
SHOWN_CODES = 10


def name_codes(codes: Sequence[str], shown: int = SHOWN_CODES) -> str:
    """Name the first codes and count the rest: ``A, B, C and 4,990 more``."""
    named = ", ".join(codes[:shown])
    return f"{named} and {len(codes) - shown:,} more" if len(codes) > shown else named


def unknown_codes_message(codes: Sequence[str]) -> str:
    """The warning naming test case codes the project lacks."""
    return (
        f"QAHub: {len(codes):,} test case code(s) do not exist in the project; their "
        f"results will not be sent: {name_codes(codes)}"
    )


def issue_warning(config: pytest.Config, message: str, codes: Sequence[str] = ()) -> bool:
    """Give a `QAHubWarning` outside any test; False, giving nothing, where warnings are errors."""
    warning = QAHubWarning(message, list(codes)) if codes else QAHubWarning(message)
    try:
        config.issue_config_time_warning(warning, stacklevel=3)
    except QAHubWarning:
        return False
    return True
