"""Helpers for the web page tests: a browser-like client that keeps the session cookie."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

import falcon.testing
import pytest

from tests.collector import attachment_samples as samples
from tests.conftest import Api

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    """Talks to the app as a browser would: keeps the ``qahub_session`` cookie between requests."""

    api: Api
    cookie: str | None = None

    def request(self, method: str, path: str, **kw) -> falcon.testing.Result:
        headers = dict(kw.pop("headers", {}))
        if self.cookie:
            headers["Cookie"] = f"qahub_session={self.cookie}"
        result = self.api.client.simulate_request(method, path, headers=headers, **kw)
        sent = result.cookies.get("qahub_session")
        if sent is not None:
            self.cookie = sent.value if sent.value and (sent.max_age or 1) > 0 else None
        return result

    def get(self, path: str, **kw) -> falcon.testing.Result:
        return self.request("GET", path, **kw)

    def post_form(self, path: str, fields: dict[str, str], **kw) -> falcon.testing.Result:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kw.pop("headers", {})}
        return self.request("POST", path, body=urlencode(fields), headers=headers, **kw)

    def csrf(self) -> str:
        """Open the sign-in form (or any signed-in page) and return its CSRF value."""
        page = self.get("/login")
        if page.status_code == 303:
            page = self.get("/")
        return CSRF.search(page.text).group(1)

    def sign_in(self, token: str, next_path: str = "/") -> falcon.testing.Result:
        csrf = self.csrf()
        return self.post_form("/login", {"csrf": csrf, "token": token, "next": next_path})


@pytest.fixture
def browser(sqlite_api: Api) -> Browser:
    """A signed-out browser on the SQLite app."""
    return Browser(sqlite_api)


def seed(api: Api, items: list[dict], name: str = "run") -> tuple[str, dict[str, str]]:
    """Create the cases the items name, a run, and its results; return the run id and code → result id."""
    for item in items:
        api.case(item["test_case_code"], item.pop("title", ""))
    run_id = api.run(name)
    response = api.post(f"/runs/{run_id}/results", json={"results": items})
    assert response.status_code == 201, response.text
    return run_id, {r["test_case_code"]: r["id"] for r in response.json["data"]}


def attach(api: Api, result_id: str, name: str, content: bytes) -> str:
    """Upload one file to a result; return the attachment id."""
    response = api.post(
        f"/results/{result_id}/attachments",
        body=samples.multipart([("file", name, content)]),
        headers={"Content-Type": samples.multipart_type()},
    )
    assert response.status_code == 201, response.text
    return response.json["data"][0]["id"]
