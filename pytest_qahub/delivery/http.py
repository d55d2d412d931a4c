"""The HTTP transport: a requests session with urllib3 retries and timeouts."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .. import __version__
from ..errors import (
    ClientError,
    Conflict,
    ConnectionFailed,
    NotFound,
    ProtocolError,
    QAHubError,
    ResponseError,
    ServerError,
    error_for_status,
)
from ..validation import bearer_token, collector_url
from .transport import Attachment, PostOutcome

RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
PAGE_SIZE = 500


#: Told why a request is retried and in how many seconds (the transport's `activity`).
RetryListener = Callable[[str, float], None]


class _NoRetryLines(logging.Filter):
    """Drop urllib3's "Retrying (...)" warnings: the transport says why it waits, in our words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying")


_QUIET = _NoRetryLines()


class CappedRetry(Retry):
    """urllib3 Retry that honours Retry-After but never sleeps longer than `max_retry_after`,
    and tells its listener why and how long it waits before each retry."""

    max_retry_after = 30.0

    def __init__(self, *args: Any, listener: RetryListener | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listener = listener

    def new(self, **kw: Any) -> CappedRetry:
        kw.setdefault("listener", self.listener)  # urllib3 makes a new Retry for every attempt
        return super().new(**kw)

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self.max_retry_after)

    def sleep(self, response: Any = None) -> None:
        if self.listener is not None:
            wait = self.get_retry_after(response) if response and self.respect_retry_after_header else None
            if wait is None:
                wait = self.get_backoff_time()
            last = self.history[-1] if self.history else None
            if response is not None:
                why = f"the collector answered {response.status}"
            elif last is not None and last.error is not None:
                why = f"the collector could not be reached ({_reason(last.error)})"
            else:
                why = "the request failed"
            self.listener(why, wait)
        super().sleep(response)


def _reason(error: Exception) -> str:
    """The useful end of a urllib3 error ("[Errno 111] Connection refused")."""
    return str(getattr(error, "reason", None) or error).split("): ", 1)[-1]


def _retry(retries: int, backoff: float, listener: RetryListener | None = None) -> Retry:
    return CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=8.0,
        status_forcelist=RETRY_STATUSES,
        # The results upsert is idempotent, and a retried case creation answers 409.
        allowed_methods=RETRY_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
        listener=listener,
    )


class HttpTransport:
    """Talks to a collector's /api/v1 over HTTP; implements `Transport`."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        retries: int = 3,
        backoff: float = 0.3,
    ) -> None:
        try:
            url = collector_url(url)
        except ValueError as ex:
            raise ClientError(400, "bad_request", f"invalid URL {url!r}: {ex}") from None
        try:
            token = bearer_token(token) if token else None
        except ValueError as ex:
            raise ClientError(400, "bad_request", f"invalid token: {ex}") from None
        self.url = url.removesuffix("/api/v1")
        self._api = f"{self.url}/api/v1"
        self._timeout = (connect_timeout, read_timeout)
        self._activity: str | None = None
        logging.getLogger("urllib3.connectionpool").addFilter(_QUIET)  # once: filters are a set
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=_retry(retries, backoff, self._retrying))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = f"pytest-qahub/{__version__}"
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        self._read_environment()

    def _read_environment(self) -> None:
        """Take the proxies (honouring ``NO_PROXY``) and the CA bundle from the environment once.

        A session that trusts the environment scans every variable on each request, a third of
        this client's CPU per batch. It would also read ``~/.netrc``, whose password would
        replace the token.

        Raises:
            ClientError: An HTTPS URL, and the CA bundle the environment names does not exist.
        """
        found = self._session.merge_environment_settings(self._api, {}, None, None, None)
        verify = found["verify"]
        if self._api.startswith("https:") and isinstance(verify, str) and not os.path.exists(verify):
            message = f"the CA bundle {verify} (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) does not exist"
            raise ClientError(400, "bad_request", message)
        self._session.proxies.update(found["proxies"])
        self._session.verify = verify
        self._session.trust_env = False

    def _retrying(self, why: str, wait: float) -> None:
        self._activity = f"{why}, retrying in {max(1, round(wait))} s"

    def activity(self) -> str | None:
        """What the request in flight waits for: the collector's answer, or the next retry."""
        return self._activity

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if "json" in kwargs:
            kwargs["data"] = orjson.dumps(kwargs.pop("json"))
            kwargs["headers"] = {"Content-Type": "application/json"}
        self._activity = f"waiting for {self.url} to answer {method} {path.split('?', 1)[0]}"
        try:
            response = self._session.request(method, self._api + path, timeout=self._timeout, **kwargs)
        except requests.exceptions.RetryError as ex:
            raise ServerError(0, None, f"{method} {path}: {ex}") from ex
        except (requests.ConnectionError, requests.Timeout) as ex:
            raise ConnectionFailed(f"{method} {self._api}{path}: {_cause(ex)}") from ex
        except requests.RequestException as ex:
            raise QAHubError(f"{method} {self._api}{path}: {ex}") from ex
        except OSError as ex:  # a local file requests needs (the CA bundle) went away: may come back
            raise ConnectionFailed(f"{method} {self._api}{path}: {ex}") from ex
        finally:
            self._activity = None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _data(self, response: requests.Response) -> Any:
        try:
            return orjson.loads(response.content)["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as ex:
            raise ProtocolError(
                f"{response.request.method} {response.url}: not an API answer "
                f"(HTTP {response.status_code}): {response.text[:200]!r}"
            ) from ex

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Return the run, or raise NotFound."""
        return self._data(self._request("GET", f"/runs/{_segment(run_id)}"))

    def ensure_run(self, run_id: str) -> dict[str, Any]:
        """Return the run results go to: on a server it must exist (NotFound)."""
        return self.get_run(run_id)

    def create_run(self, name: str, tags: dict[str, str | None]) -> dict[str, Any]:
        """Create a run (``POST /runs``) with the tags that have a value."""
        body = {"name": name, **{tag: value for tag, value in tags.items() if value is not None}}
        return self._data(self._request("POST", "/runs", json=body))

    def list_runs(self, limit: int) -> list[dict[str, Any]]:
        """Return the newest runs, newest first, following the pages up to ``limit``."""
        runs: list[dict[str, Any]] = []
        while len(runs) < limit:
            size = min(PAGE_SIZE, limit - len(runs))
            page = self._data(self._request("GET", "/runs", params={"limit": size, "offset": len(runs)}))
            runs.extend(page)
            if len(page) < size:
                break
        return runs

    def update_run(
        self, run_id: str, status: str | None = None, tags: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        """Change a run's status and/or tags (``PATCH /runs/{id}``)."""
        body: dict[str, Any] = {**(tags or {})}
        if status is not None:
            body["status"] = status
        return self._data(self._request("PATCH", f"/runs/{_segment(run_id)}", json=body))

    def list_results(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """Return every result of a run (``GET /runs/{id}/results``, streamed by the server)."""
        params = {"status": status} if status else None
        return self._data(self._request("GET", f"/runs/{_segment(run_id)}/results", params=params))

    def compare(self, run_id: str, base_id: str | None = None) -> dict[str, Any]:
        """Compare a run with ``base_id``, or the previous run of its branch (``GET /runs/{id}/compare``)."""
        params = {"base": base_id} if base_id else None
        return self._data(self._request("GET", f"/runs/{_segment(run_id)}/compare", params=params))

    def me(self) -> dict[str, Any]:
        """Return the token's project and scopes."""
        return self._data(self._request("GET", "/me"))

    def list_cases(self) -> list[dict[str, Any]]:
        """Return every test case of the project, following the pages."""
        cases: list[dict[str, Any]] = []
        while True:
            response = self._request("GET", "/cases", params={"limit": PAGE_SIZE, "offset": len(cases)})
            page = self._data(response)
            cases.extend(page)
            total = orjson.loads(response.content).get("pagination", {}).get("total")
            if not page or (total is not None and len(cases) >= total):
                return cases

    def case_codes(self) -> set[str]:
        """Return the code of every test case of the project."""
        return {case["code"] for case in self.list_cases()}

    def create_case(self, code: str, title: str) -> dict[str, Any]:
        """Create a test case; raise Conflict if the code exists."""
        return self._data(self._request("POST", "/cases", json={"code": code, "title": title}))

    def import_cases(self, rows: list[tuple[str, str]]) -> int:
        """Create the cases whose codes are new, one request each; return how many were new.

        The API has no bulk import: a failure part-way leaves the cases created before it
        (importing again creates the rest).
        """
        existing = self.case_codes()
        created = 0
        for code, title in rows:
            if code in existing:
                continue
            try:
                self.create_case(code, title)
                created += 1
            except Conflict:
                pass  # created meanwhile by someone else: it exists, as asked
            existing.add(code)
        return created

    def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
        """Bulk-upsert results; 201 and 207 both return, with the rejected items."""
        response = self._request("POST", f"/runs/{_segment(run_id)}/results", json={"results": results})
        try:
            body = orjson.loads(response.content)
            return PostOutcome(response.status_code, body.get("data") or [], body.get("errors") or [])
        except (orjson.JSONDecodeError, AttributeError) as ex:
            raise ProtocolError(f"bulk upsert answered {response.text[:200]!r}") from ex

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        """Attach files to a result (multipart, one ``file`` part each)."""
        with contextlib.ExitStack() as opened:
            parts = [("file", (f.name, opened.enter_context(f.path.open("rb")), f.mime_type)) for f in files]
            path = f"/results/{_segment(result_id)}/attachments"
            return self._data(self._request("POST", path, files=parts))

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()


def _segment(value: str) -> str:
    """An id as one path segment: a run id holding ``?`` or ``#`` must not reach another resource.

    Raises:
        NotFound: The id holds a ``/``, which no id has and which servers decode from ``%2F``
            back into a separator.
    """
    if "/" in value:
        raise NotFound(404, "not_found", f"no id holds a '/': {value!r}")
    return quote(value, safe="")


def _cause(ex: requests.RequestException) -> str:
    """Return the useful end of a requests error ("...: [Errno 111] Connection refused")."""
    reason = getattr(ex.args[0], "reason", None) if ex.args else None
    text = str(reason if reason is not None else ex)
    return text.split("): ", 1)[-1]


def _error(response: requests.Response) -> ResponseError:
    """Map an error response (the API's one error shape) to an exception."""
    code: str | None = None
    message = response.text[:500] or response.reason
    try:
        error = orjson.loads(response.content)["error"]
        code, message = error.get("code"), error.get("message", message)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        pass  # not the API's shape (a proxy's page): keep the raw text as the message
    return error_for_status(response.status_code, code, message)
