"""The web pages through the Falcon test client: sign-in, sessions, escaping, filters, pages."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import falcon.testing
import peewee
import pytest

from collector import tokens
from collector.app import create_app
from collector.ids import new_ids
from collector.models import Result, TestCase, WebSession
from collector.projects import create_project
from collector.runs import create_run
from collector.web.session import SessionCodec
from tests.collector import attachment_samples as samples
from tests.conftest import Api, make_api
from tests.support.images import solid_png
from tests.web.conftest import Browser, attach, seed

SCRIPT = "<script>alert('x')</script>"
DASH = "\u2013"  # the pager says "1-200 of 450" with an en dash


def signed_in(api: Api) -> Browser:
    browser = Browser(api)
    assert browser.sign_in(api.token_for("read")).status_code == 303
    return browser


def rows(page_text: str) -> list[tuple[str, str]]:
    """The (code, status) of each result row, in page order."""
    found = re.findall(r'<td class="code"><a [^>]*>([^<]*)</a></td>.*?badge-\w+">(\w+)<', page_text, re.S)
    return [(html.unescape(code), status) for code, status in found]


# Signing in and out


@pytest.mark.parametrize("path", ["/", "/runs/abc", "/runs/abc?status=FAILED&q=x", "/web/attachments/abc"])
def test_it_sends_a_signed_out_browser_to_sign_in_and_back(browser: Browser, path: str) -> None:
    response = browser.get(path)

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


def test_it_signs_in_with_a_read_token_and_returns_to_the_page_asked_for(browser: Browser) -> None:
    token = browser.api.token_for("read")

    response = browser.sign_in(token, next_path="/runs/abc?status=FAILED")

    assert response.status_code == 303
    assert response.headers["location"] == "/runs/abc?status=FAILED"
    assert browser.get("/").status_code == 200


def test_the_session_cookie_is_signed_http_only_strict_and_holds_no_token(browser: Browser) -> None:
    token = browser.api.token_for("read")

    response = browser.sign_in(token)

    cookie = response.cookies["qahub_session"]
    assert cookie.http_only
    assert cookie.same_site == "Strict"
    assert cookie.path == "/"
    assert not cookie.secure  # plain http here
    secret = token.split("_", 2)[2]
    assert secret not in cookie.value and token.split("_")[1] not in cookie.value
    assert "token" not in response.headers["location"] and secret not in response.headers["location"]


def test_the_cookie_is_secure_when_the_request_came_over_https(browser: Browser) -> None:
    csrf = browser.csrf()
    response = browser.post_form(
        "/login",
        {"csrf": csrf, "token": browser.api.token_for("read"), "next": "/"},
        headers={"X-Forwarded-Proto": "https"},
    )

    assert response.status_code == 303
    assert response.cookies["qahub_session"].secure


def test_a_token_without_read_scope_is_refused(browser: Browser) -> None:
    response = browser.sign_in(browser.api.token_for("write"))

    assert response.status_code == 403
    assert "read scope" in response.text
    assert browser.get("/").status_code == 303


@pytest.mark.parametrize("token", ["", "qh_nope", "qh_abcdefgh_" + "x" * 43])
def test_an_unknown_or_malformed_token_is_refused(browser: Browser, token: str) -> None:
    response = browser.sign_in(token)

    assert response.status_code == 401
    assert "unknown, malformed or revoked" in response.text
    assert browser.get("/").status_code == 303


def test_a_revoked_token_cannot_sign_in(browser: Browser) -> None:
    token = browser.api.token_for("read")
    with browser.api.db.connection_context():
        tokens.revoke(token.split("_")[1])

    assert browser.sign_in(token).status_code == 401


def test_revoking_the_token_ends_its_sessions(browser: Browser) -> None:
    token = browser.api.token_for("read")
    browser.sign_in(token)
    assert browser.get("/").status_code == 200

    with browser.api.db.connection_context():
        tokens.revoke(token.split("_")[1])
    response = browser.get("/")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert browser.cookie is None  # the cookie was cleared


def test_sign_in_without_the_forms_csrf_value_is_refused(browser: Browser) -> None:
    browser.csrf()  # the browser has a pre-sign-in session

    response = browser.post_form("/login", {"csrf": "forged", "token": browser.api.token_for("read")})

    assert response.status_code == 400
    assert "expired" in response.text
    assert browser.get("/").status_code == 303


def test_sign_in_without_any_session_is_refused(browser: Browser) -> None:
    response = browser.post_form("/login", {"csrf": "x", "token": browser.api.token_for("read")})

    assert response.status_code == 400


def test_a_tampered_cookie_is_no_session(browser: Browser) -> None:
    browser.sign_in(browser.api.token_for("read"))
    payload, stamp, signature = browser.cookie.split(".")
    browser.cookie = f"{payload}.{stamp}.{signature[:-2]}AA"

    assert browser.get("/").status_code == 303


def test_a_cookie_signed_with_another_key_is_no_session(sqlite_api: Api) -> None:
    browser = signed_in(sqlite_api)
    settings = sqlite_api.settings.model_copy(update={"secret_key": "another-key-0123456789"})
    other = Browser(
        replace(sqlite_api, client=falcon.testing.TestClient(create_app(settings, sqlite_api.db)))
    )
    other.cookie = browser.cookie

    assert other.get("/").status_code == 303


def test_sign_in_never_redirects_off_site(browser: Browser) -> None:
    response = browser.sign_in(browser.api.token_for("read"), next_path="//evil.example/")

    assert response.headers["location"] == "/"


def test_a_signed_in_browser_skips_the_form(browser: Browser) -> None:
    browser.sign_in(browser.api.token_for("read"))

    response = browser.get("/login?next=/runs/x")

    assert response.status_code == 303
    assert response.headers["location"] == "/runs/x"


def test_sign_out_needs_the_sessions_csrf_value_and_clears_the_cookie(browser: Browser) -> None:
    browser.sign_in(browser.api.token_for("read"))
    csrf = browser.csrf()

    assert browser.post_form("/logout", {"csrf": "forged"}).status_code == 403
    assert browser.get("/").status_code == 200

    response = browser.post_form("/logout", {"csrf": csrf})

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert browser.cookie is None
    assert browser.get("/").status_code == 303


def test_sign_out_ends_the_session_for_every_copy_of_its_cookie(browser: Browser) -> None:
    browser.sign_in(browser.api.token_for("read"))
    copied = Browser(browser.api, browser.cookie)
    assert copied.get("/").status_code == 200

    browser.post_form("/logout", {"csrf": browser.csrf()})

    assert copied.get("/").status_code == 303  # the stolen copy is signed out too
    assert copied.cookie is None


def test_signing_out_one_browser_leaves_another_session_of_the_same_token(browser: Browser) -> None:
    token = browser.api.token_for("read")
    other = Browser(browser.api)
    browser.sign_in(token)
    other.sign_in(token)

    browser.post_form("/logout", {"csrf": browser.csrf()})

    assert other.get("/").status_code == 200


def test_a_session_past_its_age_is_refused_by_the_server_too(sqlite_api: Api) -> None:
    api = make_api(sqlite_api.settings.database_url, sqlite_api.settings.storage_dir, session_max_age=1)
    browser = Browser(api)
    browser.sign_in(api.token_for("read"))
    assert browser.get("/").status_code == 200
    cookie = browser.cookie
    with api.db.connection_context():
        WebSession.update(expires_at=WebSession.created_at).execute()  # as if its age had passed

    assert Browser(api, cookie).get("/").status_code == 303


def test_what_the_database_holds_of_a_session_signs_nobody_in(browser: Browser) -> None:
    browser.sign_in(browser.api.token_for("read"))
    with browser.api.db.connection_context():
        stored = [row.id for row in WebSession.select()]
    assert len(stored) == 1

    # Someone who read the database and holds the signing key still cannot use the row.
    forged = SessionCodec(browser.api.settings).serializer.dumps({"c": "x", "s": stored[0]})

    assert Browser(browser.api, forged).get("/").status_code == 303


def test_sign_in_rotates_the_csrf_value(browser: Browser) -> None:
    before = browser.csrf()
    browser.post_form("/login", {"csrf": before, "token": browser.api.token_for("read")})

    assert browser.csrf() != before


def test_two_sign_in_tabs_share_one_csrf_value(browser: Browser) -> None:
    first = browser.csrf()
    second = browser.csrf()

    response = browser.post_form("/login", {"csrf": first, "token": browser.api.token_for("read")})

    assert first == second
    assert response.status_code == 303


def test_pages_forbid_scripts_and_framing(browser: Browser) -> None:
    browser.sign_in(browser.api.token_for("read"))

    response = browser.get("/")

    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/html")


def test_the_stylesheet_is_served(browser: Browser) -> None:
    response = browser.get("/static/qahub.css")

    assert response.status_code == 200
    assert ".badge-failed" in response.text


# What the pages show


def test_error_messages_stack_traces_and_titles_are_escaped(sqlite_api: Api) -> None:
    run_id, _ = seed(
        sqlite_api,
        [
            {
                "test_case_code": "TC-<i>1</i>",
                "title": SCRIPT,
                "status": "FAILED",
                "error_message": f"AssertionError: {SCRIPT}",
                "error_stack": f'File "x.py", line 1\n  {SCRIPT}\n<img src=x onerror=alert(1)>',
                "comment": SCRIPT,
                "bug_ticket_key": SCRIPT,
                "bug_ticket_url": "javascript:alert(1)",
            }
        ],
        name=SCRIPT,
    )
    browser = signed_in(sqlite_api)

    page = browser.get(f"/runs/{run_id}").text
    runs = browser.get("/").text

    assert "<script>" not in page and "<script>" not in runs
    assert "<img src=x" not in page and "<i>1</i>" not in page and "TC-&lt;i&gt;1&lt;/i&gt;" in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    assert "javascript:alert(1)" not in page  # the key is shown instead of the unsafe URL


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://bugs.example/LIN-42", True),
        ("http://bugs.example/LIN-42", True),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("ftp://bugs.example/LIN-42", False),
        ("//bugs.example/LIN-42", False),
    ],
)
def test_a_bug_ticket_is_a_link_only_for_http_urls(sqlite_api: Api, url: str, linked: bool) -> None:
    run_id, _ = seed(
        sqlite_api,
        [{"test_case_code": "TC-1", "status": "FAILED", "bug_ticket_key": "LIN-42", "bug_ticket_url": url}],
    )

    page = signed_in(sqlite_api).get(f"/runs/{run_id}").text

    link = f'<a href="{html.escape(url)}" rel="noopener noreferrer" target="_blank">LIN-42</a>'
    assert (link in page) is linked
    assert "LIN-42" in page


def test_the_runs_page_lists_runs_newest_first_with_counts_and_pass_rate(sqlite_api: Api) -> None:
    older, _ = seed(
        sqlite_api,
        [
            {"test_case_code": "A", "status": "PASSED"},
            {"test_case_code": "B", "status": "PASSED"},
            {"test_case_code": "C", "status": "PASSED"},
            {"test_case_code": "D", "status": "FAILED"},
            {"test_case_code": "E", "status": "SKIPPED"},
        ],
        name="older run",
    )
    newer = sqlite_api.run("newer run")

    page = signed_in(sqlite_api).get("/").text

    assert page.index("newer run") < page.index("older run")
    assert f'href="/runs/{older}"' in page and f'href="/runs/{newer}"' in page
    assert "75.0%" in page  # 3 passed of the 4 that ran; skipped tests did not run
    assert "<title>PASSED: 3</title>" in page and "<title>SKIPPED: 1</title>" in page
    assert "—" in page  # the empty run has no pass rate


def test_the_runs_page_shows_only_the_tokens_project(sqlite_api: Api) -> None:
    with sqlite_api.db.connection_context():
        other = create_project("other")
        create_run(other, "secret run of another project")
    sqlite_api.run("our run")

    page = signed_in(sqlite_api).get("/").text

    assert "our run" in page
    assert "secret run of another project" not in page


def test_the_runs_page_is_paginated(sqlite_api: Api) -> None:
    for number in range(27):
        sqlite_api.run(f"run {number:02d}")
    browser = signed_in(sqlite_api)

    first, second = browser.get("/").text, browser.get("/?page=2").text

    assert "run 26" in first and "run 02" in first and "run 01" not in first
    assert "run 01" in second and "run 00" in second and "run 02" not in second
    assert 'href="/?page=2"' in first and 'href="/"' in second


def test_the_run_page_lists_failed_and_broken_first(api: Api) -> None:
    run_id, _ = seed(
        api,
        [
            {"test_case_code": "A-pass", "status": "PASSED"},
            {"test_case_code": "B-skip", "status": "SKIPPED"},
            {"test_case_code": "C-broken", "status": "BROKEN"},
            {"test_case_code": "D-fail", "status": "FAILED"},
            {"test_case_code": "E-unknown", "status": "UNKNOWN"},
            {"test_case_code": "F-fail", "status": "FAILED"},
        ],
    )

    page = signed_in(api).get(f"/runs/{run_id}").text

    assert rows(page) == [
        ("D-fail", "FAILED"),
        ("F-fail", "FAILED"),
        ("C-broken", "BROKEN"),
        ("E-unknown", "UNKNOWN"),
        ("A-pass", "PASSED"),
        ("B-skip", "SKIPPED"),
    ]
    assert page.count("<details>") == 3  # failed and broken rows expand


def test_the_run_page_filters_by_status_and_searches_code_and_title(api: Api) -> None:
    run_id, _ = seed(
        api,
        [
            {"test_case_code": "LOGIN-1", "title": "Sign in works", "status": "PASSED"},
            {"test_case_code": "LOGIN-2", "title": "Wrong password", "status": "FAILED"},
            {"test_case_code": "CART-1", "title": "Add to basket after login", "status": "FAILED"},
            {"test_case_code": "CART-2", "title": "Empty basket", "status": "PASSED"},
            {"test_case_code": "100%_sure", "title": "Wildcards", "status": "PASSED"},
        ],
    )
    browser = signed_in(api)
    path = f"/runs/{run_id}"

    assert [c for c, _ in rows(browser.get(f"{path}?status=FAILED").text)] == ["CART-1", "LOGIN-2"]
    assert [c for c, _ in rows(browser.get(f"{path}?status=failed").text)] == ["CART-1", "LOGIN-2"]
    assert [c for c, _ in rows(browser.get(f"{path}?q=login").text)] == ["CART-1", "LOGIN-2", "LOGIN-1"]
    assert [c for c, _ in rows(browser.get(f"{path}?q=BASKET&status=PASSED").text)] == ["CART-2"]
    assert [c for c, _ in rows(browser.get(f"{path}?q=0%25_").text)] == ["100%_sure"]
    assert rows(browser.get(f"{path}?q=%25").text) == [("100%_sure", "PASSED")]
    assert rows(browser.get(f"{path}?q=nothing+like+this").text) == []
    assert "No results match." in browser.get(f"{path}?q=nothing").text
    assert len(rows(browser.get(f"{path}?status=BOGUS").text)) == 5  # an unknown status shows all


def test_the_run_page_shows_pages_of_200_with_previous_and_next(api: Api) -> None:
    codes = [f"TC-{n:03d}" for n in range(450)]
    run_id, _ = seed(
        api,
        [{"test_case_code": c, "status": "FAILED" if n % 3 == 0 else "PASSED"} for n, c in enumerate(codes)],
    )
    browser = signed_in(api)
    path = f"/runs/{run_id}"

    pages = [rows(browser.get(f"{path}?page={n}").text) for n in (1, 2, 3, 4)]

    assert [len(p) for p in pages] == [200, 200, 50, 0]
    shown = [code for page in pages for code, _ in page]
    assert sorted(shown) == codes and len(set(shown)) == 450
    first = browser.get(path).text
    assert f"1{DASH}200 of 450" in first and f'href="{path}?page=2"' in first and 'rel="prev"' not in first
    third = browser.get(f"{path}?page=3").text
    assert f"401{DASH}450 of 450" in third and f'href="{path}?page=2"' in third and 'rel="next"' not in third
    failed = browser.get(f"{path}?status=FAILED&page=1").text
    assert f"1{DASH}150 of 150" in failed and 'rel="next"' not in failed
    searched = browser.get(f"{path}?q=TC-1&page=1").text
    assert f"1{DASH}100 of 100" in searched


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=%C2%B2", "page=" + "9" * 5000, "page=x", "q=a%00b", "status=%00"]
)
def test_odd_query_parameters_still_render_a_page(api: Api, query: str) -> None:
    run_id, _ = seed(api, [{"test_case_code": "TC-1", "status": "FAILED"}])

    response = signed_in(api).get(f"/runs/{run_id}?{query}")

    assert response.status_code == 200


def test_another_projects_run_is_not_found(sqlite_api: Api) -> None:
    with sqlite_api.db.connection_context():
        other_run = create_run(create_project("other"), "theirs")
    browser = signed_in(sqlite_api)

    for path in (f"/runs/{other_run.id}", "/runs/no-such-run"):
        response = browser.get(path)
        assert response.status_code == 404
        assert "theirs" not in response.text and "Not found" in response.text
    assert browser.get("/runs/a%00b").status_code == 404


def test_failed_rows_show_their_attachments_as_thumbnails_and_links(api: Api) -> None:
    run_id, ids = seed(
        api,
        [{"test_case_code": "TC-1", "status": "FAILED", "error_message": "boom", "error_stack": "trace"}],
    )
    image = attach(api, ids["TC-1"], "screen.png", solid_png(8, 6, (200, 30, 30)))
    log = attach(api, ids["TC-1"], "console.log", b"line one\n")
    vector = attach(api, ids["TC-1"], "chart.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')

    page = signed_in(api).get(f"/runs/{run_id}").text

    assert f'<img class="thumb" src="/web/attachments/{image}"' in page
    assert f'<a href="/web/attachments/{image}" target="_blank"' in page
    assert f'<a href="/web/attachments/{log}" download>console.log</a>' in page
    assert f'<a href="/web/attachments/{vector}" download>chart.svg</a>' in page  # never an <img>
    assert '<pre class="message">boom</pre>' in page and '<pre class="stack">trace</pre>' in page


def test_the_attachment_route_shows_raster_images_inline_and_everything_else_as_a_download(
    sqlite_api: Api,
) -> None:
    _, ids = seed(sqlite_api, [{"test_case_code": "TC-1", "status": "FAILED"}])
    picture = solid_png(4, 4, (0, 0, 255))
    files = {
        "shot.png": (picture, "image/png", "inline"),
        "shot.gif": (samples.gif(), "image/gif", "inline"),
        "shot.webp": (samples.webp(), "image/webp", "inline"),
        "shot.jpg": (samples.jpeg(), "image/jpeg", "inline"),
        "chart.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml", "attachment"),
        "run.log": (b"hello\n", "text/plain; charset=utf-8", "attachment"),
    }
    browser = signed_in(sqlite_api)

    for name, (content, mime, disposition) in files.items():
        attachment_id = attach(sqlite_api, ids["TC-1"], name, content)
        response = browser.get(f"/web/attachments/{attachment_id}")
        assert response.status_code == 200
        assert response.content == content
        assert response.headers["content-type"] == mime
        assert response.headers["content-disposition"].startswith(f'{disposition}; filename="{name}"')
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]


def test_the_attachment_route_needs_a_session_of_the_same_project(sqlite_api: Api) -> None:
    _, ids = seed(sqlite_api, [{"test_case_code": "TC-1", "status": "FAILED"}])
    attachment_id = attach(sqlite_api, ids["TC-1"], "shot.png", solid_png(2, 2, (0, 0, 0)))
    with sqlite_api.db.connection_context():
        outsider = tokens.create_token(create_project("other"), ("read",))[1]

    signed_out = Browser(sqlite_api).get(f"/web/attachments/{attachment_id}")
    bearer = sqlite_api.client.simulate_get(
        f"/web/attachments/{attachment_id}", headers={"Authorization": f"Bearer {sqlite_api.token}"}
    )
    other = signed_in_with(sqlite_api, outsider).get(f"/web/attachments/{attachment_id}")

    assert signed_out.status_code == 303
    assert bearer.status_code == 303  # the web route takes the session cookie, not a bearer token
    assert other.status_code == 404


def signed_in_with(api: Api, token: str) -> Browser:
    browser = Browser(api)
    assert browser.sign_in(token).status_code == 303
    return browser


def test_the_api_download_still_sends_every_file_as_an_attachment(sqlite_api: Api) -> None:
    _, ids = seed(sqlite_api, [{"test_case_code": "TC-1", "status": "FAILED"}])
    attachment_id = attach(sqlite_api, ids["TC-1"], "shot.png", solid_png(2, 2, (0, 0, 0)))

    response = sqlite_api.get(f"/attachments/{attachment_id}")

    assert response.headers["content-disposition"].startswith('attachment; filename="shot.png"')


# Speed


def _big_run(api: Api, size: int) -> str:
    """Insert a run of ``size`` results straight into the database (through the API it takes long)."""
    statuses = ("PASSED",) * 7 + ("FAILED", "BROKEN", "SKIPPED")
    sqlite = isinstance(api.db, peewee.SqliteDatabase)
    when = "2026-01-01 00:00:00.000000" if sqlite else dt.datetime(2026, 1, 1)
    with api.db.connection_context():
        run = create_run(api.project, "big")
        case_ids, result_ids = new_ids(size), new_ids(size)
        codes = [f"TC-{n:06d}" for n in range(size)]
        status_of = [statuses[n % 10] for n in range(size)]
        cases, results = TestCase._meta.table_name, Result._meta.table_name
        with api.db.atomic():
            if sqlite:  # executemany runs in C on SQLite
                api.db.cursor().executemany(
                    f'INSERT INTO "{cases}" ("id", "project_id", "code", "title", "created_at", '
                    "\"updated_at\") VALUES (?, ?, ?, '', ?, ?)",
                    [(c, api.project.id, code, when, when) for c, code in zip(case_ids, codes, strict=True)],
                )
                api.db.cursor().executemany(
                    f'INSERT INTO "{results}" ("id", "run_id", "test_case_id", "status", "executed_at", '
                    f'"created_at", "updated_at") VALUES (?, ?, ?, ?, ?, ?, ?)',
                    [
                        (r, run.id, c, s, when, when, when)
                        for r, c, s in zip(result_ids, case_ids, status_of, strict=True)
                    ],
                )
            else:  # one statement each: arrays unnested by the server
                api.db.execute_sql(
                    f'INSERT INTO "{cases}" ("id", "project_id", "code", "title", "created_at", '
                    '"updated_at") '
                    "SELECT u.id, %s, u.code, '', %s, %s FROM unnest(%s::text[], %s::text[]) AS u(id, code)",
                    (api.project.id, when, when, case_ids, codes),
                )
                api.db.execute_sql(
                    f'INSERT INTO "{results}" ("id", "run_id", "test_case_id", "status", "executed_at", '
                    '"created_at", "updated_at") SELECT u.id, %s, u.case_id, u.status, %s, %s, %s '
                    "FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(id, case_id, status)",
                    (run.id, when, when, when, result_ids, case_ids, status_of),
                )
                api.db.execute_sql("ANALYZE")  # as autovacuum would have done by the time anyone looks
    return run.id


def test_a_run_of_50000_results_renders_its_first_page(api: Api) -> None:
    # How fast it renders is measured by bench/web_page.py, not asserted here.
    run_id = _big_run(api, 50_000)
    browser = signed_in(api)
    response = browser.get(f"/runs/{run_id}")
    assert response.status_code == 200
    assert f"1{DASH}200 of 50,000" in response.text
    assert rows(response.text)[0] == ("TC-000007", "FAILED")
    assert browser.get("/").status_code == 200


@pytest.mark.parametrize("path", ["/runs/a%00b", "/cases/a%00b", "/web/attachments/a%00b"])
def test_a_nul_in_a_pages_reference_is_not_found_before_any_query(api: Api, path: str) -> None:
    response = signed_in(api).get(path)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
