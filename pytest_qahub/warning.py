"""The plugin's warning class, the one warning both an xdist worker and the controller give, and
the notices about problems in a user's suite."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from .xdist import tells_shared


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
    """Give a `QAHubWarning` outside any test; False, giving nothing, where warnings are errors
    or not shown (``-p no:warnings``)."""
    if config.pluginmanager.is_blocked("warnings"):
        return False
    warning = QAHubWarning(message, list(codes)) if codes else QAHubWarning(message)
    try:
        config.issue_config_time_warning(warning, stacklevel=3)
    except QAHubWarning:
        return False
    return True


def describe(ex: BaseException) -> str:
    """An exception in one line: ``ValueError: the first line of its message``."""
    try:
        lines = str(ex).strip().splitlines()
    except Exception:  # a user's exception whose __str__ fails: its type still says something
        lines = []
    return f"{type(ex).__name__}: {lines[0]}" if lines else type(ex).__name__


class Notices:
    """Problems in a user's suite the plugin works around (a bad marker, a hook that raised).

    Each is told once, as a `QAHubWarning`; where warnings are errors it is kept in `unsaid`
    for the QAHub summary instead, so it never fails the session. What every xdist worker
    meets alike (collection) is told by the first worker only.
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._tells_shared = tells_shared(config)
        self._told: set[str] = set()
        #: The messages that could not be given as warnings, for the summary.
        self.unsaid: list[str] = []

    def tell(self, key: str, message: str, *, shared: bool = True) -> None:
        """Give message, unless a notice with this key was given; shared: every worker meets it."""
        if key in self._told:
            return
        self._told.add(key)
        if (self._tells_shared or not shared) and not issue_warning(self._config, message):
            self.unsaid.append(message)
