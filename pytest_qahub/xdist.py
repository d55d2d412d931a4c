"""pytest-xdist, told apart once: which part this process plays, and what the parts exchange.

A worker has ``config.workerinput``; the controller has xdist's ``dsession`` plugin (registered
after our ``pytest_configure``: ask from ``pytest_sessionstart`` on); a plain run has neither.
"""

from __future__ import annotations

from typing import Any

import pytest

#: The worker that gives the warnings every worker would give alike (about what all collect).
WARNING_WORKER = "gw0"
#: workerinput key: this session's pending-attachments folder, shared with its workers.
SESSION_INPUT = "qahub_session"
#: workerinput key: the project's test case codes (absent when the controller does not know them).
KNOWN_CODES_INPUT = "qahub_known_codes"
#: workeroutput key: the codes the session uses that the project lacks.
UNKNOWN_OUTPUT = "qahub_unknown_codes"
#: workeroutput key: the notices this worker could not give as warnings (warnings are errors).
NOTICES_OUTPUT = "qahub_notices"


def worker_input(config: pytest.Config) -> dict[str, Any] | None:
    """What the controller gave this worker; None when this process is not an xdist worker."""
    return getattr(config, "workerinput", None)


def is_worker(config: pytest.Config) -> bool:
    return worker_input(config) is not None


def is_controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests to xdist workers (known from ``pytest_sessionstart`` on)."""
    return config.pluginmanager.has_plugin("dsession")


def tells_shared(config: pytest.Config) -> bool:
    """Whether this process gives the warnings every worker would give alike."""
    given = worker_input(config)
    return given is None or given.get("workerid") == WARNING_WORKER
