"""The pages across runs through the Falcon test client: a case's page, the run's comparison, flaky tests."""

from __future__ import annotations

import re

import pytest

from collector.cases import create_case
from collector.projects import create_project
from tests.conftest import Api
from tests.support.history import History
from tests.web.test_pages import rows, signed_in

SCRIPT = "<script>alert('x')</script>"


def case_id(api: Api, code: str) -> str:
    return api.get(f"/cases/{code}").json["data"]["id"]


def squares(page: str) -> list[tuple[str, str]]:
    """The (status, run id) of each square of the strip, left to right."""
    return re.findall(r'<a class="sq sq-(\w+)" href="/runs/([^"]+)"', page)


# A case's page


def test_a_case_page_shows_its_last_50_results_newest_right_each_linking_to_its_run(sqlite_api: Api) -> None:
    history = History(sqlite_api)
    run_ids = [
        history.run(f"r{n}", {"T": {"status": "FAILED" if n % 7 == 0 else "PASSED", "duration_ms": 100 + n}})
        for n in range(53)
    ]

    page = signed_in(sqlite_api).get(f"/cases/{case_id(sqlite_api, 'T')}").text

    shown = squares(page)
    assert [run for _, run in shown] == run_ids[3:]  # the last 50, oldest left
    assert [status for status, _ in shown] == ["failed" if n % 7 == 0 else "passed" for n in range(3, 53)]
    assert '<h1 class="mono">T</h1>' in page and "Title of T" in page


def test_a_case_page_draws_its_durations_as_an_svg_line(sqlite_api: Api) -> None:
    history = History(sqlite_api)
    for n, ms in enumerate((1200, 800, None, 2400)):
        history.run(f"d{n}", {"T": {"status": "PASSED", "duration_ms": ms} if ms else "PASSED"})

    page = signed_in(sqlite_api).get(f"/cases/{case_id(sqlite_api, 'T')}").text

    svg = re.search(r'<svg class="spark".*?</svg>', page, re.S).group(0)
    points = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3  # a result without a duration is left out
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[2] < ys[0] < ys[1]  # the longest is highest
    assert "from 800 ms to 2.4 s" in svg and "<script" not in page


def test_a_case_page_gives_the_flaky_verdict_with_its_evidence_and_the_latest_failure(api: Api) -> None:
    history = History(api)
    history.run("r0", {"T": "PASSED"}, branch="main")
    history.run(
        "r1", {"T": {"status": "FAILED", "error_message": f"AssertionError: {SCRIPT}"}}, branch="main"
    )
    history.run("r2", {"T": "PASSED"}, branch="main")
    history.run("r3", {"T": "SKIPPED"}, branch="main")

    page = signed_in(api).get(f"/cases/{case_id(api, 'T')}").text

    assert "Flaky</span> in the last 20 runs of the project" in page
    assert "flipped twice between passing and failing in 3 runs of branch main" in page
    assert "AssertionError: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page and SCRIPT not in page
    assert re.search(r"Latest failure .*badge-failed.*r1</a>", page)


def test_a_steady_case_is_not_flaky_and_one_that_never_failed_says_so(sqlite_api: Api) -> None:
    History(sqlite_api).series("T", "PPPFF")
    History(sqlite_api, cases={"T"}).run("other", {"U": "PASSED"})

    browser = signed_in(sqlite_api)
    steady = browser.get(f"/cases/{case_id(sqlite_api, 'T')}").text
    never = browser.get(f"/cases/{case_id(sqlite_api, 'U')}").text

    assert "Not flaky in the last 20 runs of the project" in steady
    assert "It has not failed." in never


def test_another_projects_case_page_is_not_found(sqlite_api: Api) -> None:
    with sqlite_api.db.connection_context():
        theirs = create_case(create_project("other"), "THEIRS")
    browser = signed_in(sqlite_api)

    for path in (f"/cases/{theirs.id}", "/cases/nothing"):
        response = browser.get(path)
        assert response.status_code == 404 and "THEIRS" not in response.text


# A run against its base


def test_the_run_page_says_what_it_is_compared_with_and_shows_its_tags(api: Api) -> None:
    history = History(api)
    base = history.run("nightly 1", {"A": "PASSED", "B": "FAILED"}, branch="main", environment="staging")
    run = history.run(
        "nightly 2",
        {"A": "FAILED", "B": "PASSED"},
        branch="main",
        commit="0123456789abcdef0123",
        environment="staging",
        build_url="https://ci.example/build/7",
    )
    # A run of another environment is not the base of the next staging run, and has none itself.
    lone = history.run("py3.13", {"A": "PASSED"}, branch="main", environment="py3.13")
    browser = signed_in(api)

    page = browser.get(f"/runs/{run}").text
    alone = browser.get(f"/runs/{lone}").text

    assert f'Compared with <a href="/runs/{base}">nightly 1</a>' in page
    assert "previous run of branch main, environment staging" in page
    assert "0123456789ab" in page and 'title="commit 0123456789abcdef0123"' in page
    assert "staging" in page and '<a class="tag" href="https://ci.example/build/7"' in page
    assert "Not compared: no earlier run of branch main, environment py3.13 has results." in alone
    assert "New failures" not in alone


def test_each_row_carries_new_failure_fixed_and_flaky_badges(sqlite_api: Api) -> None:
    history = History(sqlite_api)
    for n, flaky in enumerate("PFPP"):
        history.run(
            f"r{n}", {"FLAKY": "PASSED" if flaky == "P" else "FAILED", "NEW": "PASSED", "FIX": "FAILED"}
        )
    run = history.run("last", {"FLAKY": "FAILED", "NEW": "BROKEN", "FIX": "PASSED", "SAME": "PASSED"})

    page = signed_in(sqlite_api).get(f"/runs/{run}").text

    def marks(code: str) -> list[str]:
        row = re.search(rf'<td class="code"><a [^>]*>{code}</a></td>.*?</tr>', page, re.S).group(0)
        return re.findall(r'class="mark mark-(\w+)"', row)

    assert marks("FLAKY") == ["new", "flaky"]
    assert marks("NEW") == ["new"]
    assert marks("FIX") == ["fixed"]
    assert marks("SAME") == []
    assert "2</b> new failures</a> (1 known flaky)" in page


def test_the_new_failures_chip_shows_only_new_failures(api: Api) -> None:
    history = History(api)
    history.run("base", {"OLD": "FAILED", "BROKE": "PASSED", "OK": "PASSED"})
    run = history.run("now", {"OLD": "FAILED", "BROKE": "FAILED", "OK": "PASSED", "ADDED": "BROKEN"})
    browser = signed_in(api)

    page = browser.get(f"/runs/{run}?new=1").text

    assert rows(page) == [("BROKE", "FAILED"), ("ADDED", "BROKEN")]
    assert 'class="chip chip-new on"' in page and "New failures <b>2</b>" in page
    assert rows(browser.get(f"/runs/{run}?new=1&q=ADD").text) == [("ADDED", "BROKEN")]
    assert len(rows(browser.get(f"/runs/{run}").text)) == 4


def test_failures_are_grouped_by_message_and_a_group_opens_to_its_rows(api: Api) -> None:
    history = History(api)
    failing = {
        f"T{n}": {"status": "FAILED", "error_message": f"TimeoutError: gone after {n * 1000} ms {SCRIPT}"}
        for n in range(1, 4)
    }
    run = history.run(
        "r", {**failing, "K": {"status": "BROKEN", "error_message": "KeyError: 'a'"}, "P": "PASSED"}
    )

    page = signed_in(api).get(f"/runs/{run}").text

    groups = re.findall(r'<details class="group">.*?</details>', page, re.S)
    assert len(groups) == 2
    assert '<b class="count">3</b>' in groups[0]
    assert "TimeoutError: gone after &lt;n&gt; ms &lt;script&gt;" in groups[0]  # masked, then escaped
    assert re.findall(r'<a class="mono" href="/cases/[^"]+">(\w+)</a>', groups[0]) == ["T1", "T2", "T3"]
    assert "KeyError: &#39;&lt;…&gt;&#39;" in groups[1]
    assert SCRIPT not in page


# Flaky tests


def test_the_flaky_page_lists_flaky_cases_worst_first_with_their_evidence(sqlite_api: Api) -> None:
    history = History(sqlite_api)
    history.series("MILD", "PFP", prefix="dev ", branch="dev")
    history.series("WORST", "PFPFPF", prefix="main ", branch="main")
    history.series("STEADY", "PPFF", prefix="main2 ", branch="main")
    browser = signed_in(sqlite_api)

    page = browser.get("/flaky").text
    main_only = browser.get("/flaky?branch=main&window=10").text

    listed = re.findall(r'<td class="mono"><a href="/cases/[^"]+">(\w+)</a>', page)
    assert listed == ["WORST", "MILD"]
    assert "flipped 5 times between passing and failing in 6 runs of branch main" in page
    assert "Title of WORST" in page and "2 flaky test cases" in page
    assert re.findall(r'<td class="mono"><a href="/cases/[^"]+">(\w+)</a>', main_only) == ["WORST"]
    assert "the last 10 runs of branch main" in main_only


@pytest.mark.parametrize(
    "query", ["window=1", "window=x", "window=99999", "branch=%00", "page=-3", "environment=" + "e" * 500]
)
def test_odd_flaky_page_parameters_still_render_it(sqlite_api: Api, query: str) -> None:
    assert signed_in(sqlite_api).get(f"/flaky?{query}").status_code == 200


def test_the_runs_page_shows_each_runs_tags_and_links_to_the_flaky_tests(sqlite_api: Api) -> None:
    History(sqlite_api).run("tagged", {"A": "PASSED"}, branch="release/2.0", environment="prod")

    page = signed_in(sqlite_api).get("/").text

    assert "⎇ release/2.0" in page and ">prod</span>" in page
    assert '<a href="/flaky">' in page
