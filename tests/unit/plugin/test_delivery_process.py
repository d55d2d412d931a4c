"""The delivery process's check before the tests, with a transport that cannot make its request."""

from __future__ import annotations

import pytest

from pytest_qahub.delivery import process
from pytest_qahub.errors import QAHubError


def test_a_check_request_that_cannot_be_made_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unusable:
        url = "http://h"

        def me(self) -> dict[str, str]:
            raise QAHubError("GET http://h/api/v1/me: the request could not be made")

        def close(self) -> None:
            self.closed = True

    unusable = Unusable()
    monkeypatch.setattr(process, "connect", lambda *args: unusable)
    job = process.Job(run="r", url="http://h", token=None, root=".", batch_size=1, flush_timeout=1)
    answer, transport = process.preflight(job)
    assert answer == {
        "event": "usage_error",
        "message": "QAHub at http://h: GET http://h/api/v1/me: the request could not be made",
    }
    assert transport is None
    assert unusable.closed  # nobody else will close it
