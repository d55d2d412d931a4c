"""Build a project's history through the API: runs in order, each with its tags and results."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from tests.conftest import Api

START = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


@dataclass
class History:
    """Records runs one after another; each run's results are executed an hour after the last run's."""

    api: Api
    cases: set[str] = field(default_factory=set)
    _hours: itertools.count = field(default_factory=itertools.count)

    def run(self, name: str, results: dict[str, str | dict], **tags: str | None) -> str:
        """Create run ``name`` with ``tags`` and a result per code (a status, or a dict of fields)."""
        for code in results:
            if code not in self.cases:
                assert (
                    self.api.post("/cases", json={"code": code, "title": f"Title of {code}"}).status_code
                    == 201
                )
                self.cases.add(code)
        run_id = self.api.post("/runs", json={"name": name, **tags}).json["data"]["id"]
        when = (START + dt.timedelta(hours=next(self._hours))).isoformat()
        items = [
            {"test_case_code": code, "executed_at": when, **({"status": r} if isinstance(r, str) else r)}
            for code, r in results.items()
        ]
        if items:
            response = self.api.post(f"/runs/{run_id}/results", json={"results": items})
            assert response.status_code == 201, response.text
        return run_id

    def series(self, code: str, statuses: str, prefix: str = "r", **tags: str | None) -> list[str]:
        """One run per letter of ``statuses`` (P passed, F failed, B broken, S skipped) for ``code``."""
        names = {"P": "PASSED", "F": "FAILED", "B": "BROKEN", "S": "SKIPPED", "U": "UNKNOWN"}
        return [self.run(f"{prefix}{n}", {code: names[letter]}, **tags) for n, letter in enumerate(statuses)]
