"""The web pages' resources: sign-in and sign-out, the runs, one run, a case, the flaky cases, attachments.

They bypass the API's bearer authentication (``auth = "none"``) and check the session cookie
instead: a request without a live session is sent to ``/login`` (303), which comes back to the
page asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs, urlencode

import falcon

from collector import attachments, flaky, tokens
from collector.access_log import TOKEN_PREFIX_KEY
from collector.cases import get_case
from collector.compare import compare_run
from collector.errors import BadRequest, Forbidden, NotFound, Unauthorized
from collector.failure_groups import failure_groups
from collector.models import ApiToken, Project
from collector.resources.attachments import send_attachment
from collector.runs import get_run
from collector.storage import Storage
from collector.web import queries
from collector.web.render import Renderer
from collector.web.session import SessionCodec, csrf_ok, live_token, new_session, sign_in, sign_out
from qahub_contract import RESULT_STATUSES

T = TypeVar("T")

MAX_FORM_BYTES = 8 * 1024
MAX_SEARCH_CHARS = 200
# A local path: one leading slash, then no slash or backslash (``//host`` and ``/\\host`` leave
# the site), and no control characters.
_LOCAL_PATH = re.compile(r"^/(?![/\\])[^\\\x00-\x1f\x7f]*$")


def local_path(candidate: str | None) -> str:
    """Return ``candidate`` if it is a path on this site, else ``/``."""
    if candidate and len(candidate) <= 2000 and _LOCAL_PATH.match(candidate):
        return candidate
    return "/"


def _page_number(req: falcon.Request) -> int:
    raw = req.get_param("page") or ""
    ok = raw.isascii() and raw.isdigit() and len(raw) <= 9  # "²" is a digit to isdigit(), not to int()
    return max(int(raw), 1) if ok else 1


def _text(req: falcon.Request, name: str, max_chars: int = 200) -> str | None:
    """A free-text query parameter for a page: NUL removed, cut to ``max_chars``, empty as ``None``."""
    value = (req.get_param(name) or "").replace("\x00", "").strip()[:max_chars]
    return value or None


def _redirect(resp: falcon.Response, location: str) -> None:
    resp.status = falcon.HTTP_303
    resp.location = location


class WebResource:
    """Base of the web resources: session handling, rendering, a 404 page."""

    auth = "none"  # not the API's bearer tokens: the session cookie, checked here

    def __init__(self, codec: SessionCodec, renderer: Renderer) -> None:
        self.codec = codec
        self.renderer = renderer

    def signed_in(self, req: falcon.Request, resp: falcon.Response) -> ApiToken | None:
        """Return the session's live token; otherwise send the browser to sign in and return ``None``."""
        session = self.codec.read(req)
        token = live_token(session)
        if token is None:
            if session is not None and session.session_id is not None:
                self.codec.clear(resp)  # signed out, expired or revoked: the session is over
            _redirect(resp, "/login?" + urlencode({"next": local_path(req.relative_uri)}))
            return None
        req.context.csrf = session.csrf
        req.env[TOKEN_PREFIX_KEY] = token.prefix  # for the access log: the prefix, never the secret
        return token

    def not_found(self, req: falcon.Request, resp: falcon.Response, token: ApiToken) -> None:
        self.renderer.page(
            resp, "not_found.html", falcon.HTTP_404, project=token.project, csrf=req.context.csrf
        )

    def lookup(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        token: ApiToken,
        get: Callable[[Project, str], T],
        ref: str,
    ) -> T | None:
        """Return ``get(project, ref)``, or answer the not-found page and return None.

        A ``ref`` never holds a NUL: the middleware answers 404 before any resource runs.
        """
        try:
            return get(token.project, ref)
        except NotFound:
            self.not_found(req, resp, token)
            return None


class RunsPage(WebResource):
    """``/``: the project's runs, newest first, with their counts."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = self.signed_in(req, resp)
        if token is None:
            return
        page = _page_number(req)
        runs, total, counts = queries.runs_page(token.project, page)
        self.renderer.page(
            resp,
            "runs.html",
            project=token.project,
            csrf=req.context.csrf,
            runs=runs,
            counts=counts,
            page=page,
            total=total,
            per_page=queries.RUNS_PER_PAGE,
        )


class RunPage(WebResource):
    """``/runs/{id}``: a run's counts and a filtered, searchable page of its results."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        token = self.signed_in(req, resp)
        run = token and self.lookup(req, resp, token, get_run, run_id)
        if run is None:
            return
        status = (req.get_param("status") or "").upper()
        comparison = compare_run(token.project, run.id)
        new_only = req.get_param("new") == "1" and comparison.base is not None
        chosen = queries.ResultFilter(
            status=status if status in RESULT_STATUSES else None,
            search=_text(req, "q", MAX_SEARCH_CHARS) or "",
            page=_page_number(req),
            new_against=comparison.base.id if new_only else None,
        )
        counts = queries.status_counts([run.id])[run.id]
        results, matching = queries.results_page(run, chosen, counts)
        self.renderer.page(
            resp,
            "run.html",
            project=token.project,
            csrf=req.context.csrf,
            run=run,
            counts=counts,
            chosen=chosen,
            results=results,
            matching=matching,
            files=queries.attachments_of(results),
            per_page=queries.RESULTS_PER_PAGE,
            comparison=comparison,
            marks=queries.marks_of(comparison),
            groups=failure_groups(run),
        )


class CasePage(WebResource):
    """``/cases/{id}``: a case's last results, its durations, the flaky verdict and its latest failure."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, case_id: str) -> None:
        token = self.signed_in(req, resp)
        case = token and self.lookup(req, resp, token, get_case, case_id)
        if case is None:
            return
        self.renderer.page(
            resp,
            "case.html",
            project=token.project,
            csrf=req.context.csrf,
            overview=queries.case_overview(token.project, case),
        )


class FlakyPage(WebResource):
    """``/flaky``: the project's flaky cases with their evidence, worst first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = self.signed_in(req, resp)
        if token is None:
            return
        raw = req.get_param("window") or ""
        window = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else flaky.DEFAULT_WINDOW
        try:
            window = flaky.check_window(window)
        except BadRequest:
            window = flaky.DEFAULT_WINDOW  # a page shows the default rather than an error
        scope = flaky.Scope(window, branch=_text(req, "branch", 255), environment=_text(req, "environment"))
        found, runs = flaky.flaky_cases(token.project, scope)
        page = _page_number(req)
        shown = found[(page - 1) * queries.FLAKY_PER_PAGE : page * queries.FLAKY_PER_PAGE]
        self.renderer.page(
            resp,
            "flaky.html",
            project=token.project,
            csrf=req.context.csrf,
            scope=scope,
            runs_considered=len(runs),
            verdicts=shown,
            titles=queries.titles_of([v.test_case_id for v in shown]),
            total=len(found),
            page=page,
            per_page=queries.FLAKY_PER_PAGE,
        )


class AttachmentFile(WebResource):
    """``/web/attachments/{id}``: an attachment for the signed-in page (images shown inline)."""

    def __init__(self, codec: SessionCodec, renderer: Renderer, storage: Storage) -> None:
        super().__init__(codec, renderer)
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response, attachment_id: str) -> None:
        token = self.signed_in(req, resp)
        if token is None:
            return
        try:
            attachment = attachments.get_attachment(token.project, attachment_id)
            send_attachment(resp, self.storage, attachment, inline_images=True)
        except NotFound:
            self.not_found(req, resp, token)


class LoginPage(WebResource):
    """``/login``: a form that takes a read-scoped API token and starts a session."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        target = local_path(req.get_param("next"))
        session = self.codec.read(req)
        if live_token(session) is not None:
            _redirect(resp, target)
            return
        if session is None or session.session_id is not None:
            session = new_session()  # a CSRF value for the form, before anyone is signed in
            self.codec.write(req, resp, session)
        self._form(resp, session.csrf, target)  # a second tab shares the first one's value

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = _read_form(req)
        target = local_path(form.get("next"))
        session = self.codec.read(req)
        if not csrf_ok(session, form.get("csrf")):
            fresh = new_session()
            self.codec.write(req, resp, fresh)
            self._form(
                resp, fresh.csrf, target, "The sign-in form expired; please try again.", falcon.HTTP_400
            )
            return
        try:
            token = tokens.authenticate(f"Bearer {form.get('token', '').strip()}")
            tokens.require_scope(token, "read")
        except (Unauthorized, Forbidden) as ex:
            status = falcon.HTTP_403 if isinstance(ex, Forbidden) else falcon.HTTP_401
            message = (
                "This token cannot read: sign in with a token that has the read scope."
                if isinstance(ex, Forbidden)
                else "This token is unknown, malformed or revoked."
            )
            self._form(resp, session.csrf, target, message, status)
            return
        self.codec.write(req, resp, sign_in(token, self.codec.max_age))  # a new CSRF value too
        _redirect(resp, target)

    def _form(
        self, resp: falcon.Response, csrf: str, target: str, error: str = "", status: str = falcon.HTTP_200
    ) -> None:
        self.renderer.page(resp, "login.html", status, project=None, csrf=csrf, next=target, error=error)


class LogoutAction(WebResource):
    """``POST /logout``: end the session (only with the session's CSRF value)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.codec.read(req)
        if session is not None and not csrf_ok(session, _read_form(req).get("csrf")):
            resp.status = falcon.HTTP_403
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "The sign-out form did not carry this session's CSRF value."
            return
        sign_out(session)
        self.codec.clear(resp)
        _redirect(resp, "/login")


def _read_form(req: falcon.Request) -> dict[str, str]:
    """Read a small urlencoded form (the first value of each field); anything else is empty."""
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media_type != falcon.MEDIA_URLENCODED:
        return {}
    body = req.bounded_stream.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}


def add_pages(app: falcon.App, codec: SessionCodec, storage: Storage) -> None:
    """Add the pages and their attachment route to ``app``."""
    renderer = Renderer()
    app.add_route("/", RunsPage(codec, renderer))
    app.add_route("/runs/{run_id}", RunPage(codec, renderer))
    app.add_route("/cases/{case_id}", CasePage(codec, renderer))
    app.add_route("/flaky", FlakyPage(codec, renderer))
    app.add_route("/web/attachments/{attachment_id}", AttachmentFile(codec, renderer, storage))
    app.add_route("/login", LoginPage(codec, renderer))
    app.add_route("/logout", LogoutAction(codec, renderer))
