"""The checks before delivery: that the URL is a collector's, the token's scopes, the run.

The delivery process runs them before the tests, the ``qahub`` data commands before their work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AuthError, ClientError, NotFound, ProtocolError, ResponseError, SetupError
from .transport import Transport

if TYPE_CHECKING:
    from .http import HttpTransport


def check_access(
    transport: HttpTransport, token_given: bool, needs: tuple[str, ...], hint: str
) -> dict[str, Any]:
    """Ask the collector who the token is (``GET /me``); return its answer.

    Raises:
        SetupError: The URL is not a QAHub collector's, or the token is missing, refused or
            lacks one of the scopes ``needs``; ``hint`` says where a token is given.
        QAHubError: A transient failure (unreachable, 5xx, 429): the setup may be right.
    """
    url = transport.url
    try:
        me = transport.me()
    except ProtocolError as ex:
        raise SetupError(f"{url} is not a QAHub collector: {ex}") from ex
    except AuthError as ex:
        if ex.code is None:  # a 401 or 403 without the API's error shape: a proxy, another server
            raise SetupError(_not_a_collector(url, ex)) from ex
        given = "the token was rejected" if token_given else "no token was given"
        needed = ",".join(needs)
        raise SetupError(
            f"QAHub at {url}: {given} ({ex}); pass a token with {needed} scopes in {hint}"
        ) from ex
    except ClientError as ex:  # a 404 or the like: nothing answers the API at this URL
        raise SetupError(_not_a_collector(url, ex)) from ex
    scopes = me.get("scopes") if isinstance(me, dict) else None
    if not isinstance(scopes, list):
        raise SetupError(f"{url} is not a QAHub collector: GET /api/v1/me did not name the token's scopes")
    missing = [scope for scope in needs if scope not in scopes]
    if missing:
        has = ",".join(str(scope) for scope in scopes) or "none"
        raise SetupError(
            f"QAHub at {url}: the token's scopes are {has}; it needs {','.join(needs)} "
            "(create one on the collector's host with: qahub token create --scopes read,write)"
        )
    return me


def _not_a_collector(url: str, ex: ResponseError) -> str:
    answer = f"HTTP {ex.status}" + (f" ({ex.code})" if ex.code else "")
    return f"{url} is not a QAHub collector: GET {url}/api/v1/me answered {answer}; check the URL"


def open_run(
    transport: Transport, run_id: str | None, run_name: str | None, tags: dict[str, str]
) -> tuple[dict[str, Any], bool]:
    """Create the run ``run_name`` (``run_id`` None), or check the one given; return it and
    whether it was created; the tags given are set on it.

    Raises:
        SetupError: The run given does not exist or is COMPLETED, or the collector refused it.
    """
    url = transport.url
    if run_id is None:
        try:
            return transport.create_run(run_name or "", tags), True
        except ClientError as ex:
            raise SetupError(f"QAHub at {url} refused to create run {run_name!r}: {ex}") from ex
    try:
        run = transport.ensure_run(run_id)
        if run.get("status") == "COMPLETED":
            raise SetupError(
                f"QAHub run {run_id!r} at {url} is COMPLETED and takes no more results; "
                "report to a new run (qahub run create, or --qahub-run-name)"
            )
        if tags:
            run = transport.update_run(run_id, tags=dict(tags))
    except NotFound as ex:
        raise SetupError(f"QAHub run {run_id!r} does not exist at {url}") from ex
    except ClientError as ex:
        raise SetupError(f"QAHub at {url} refused run {run_id!r}: {ex}") from ex
    return run, False
