"""Concurrency and crash safety against real ``qahub serve`` processes, on SQLite and PostgreSQL.

- eight processes post overlapping batches into one run at once: exact final rows;
- a collector killed with SIGKILL while writers post keeps every acknowledged result;
- two collector processes on one PostgreSQL database and one storage directory behave as one.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import requests

from tests.reliability.conftest import ServerFactory, make_codes, rows_by_code
from tests.reliability.writers import AckRecorder, Outcome, Plan, expected_rows, run_plan
from tests.support.databases import fresh_postgres
from tests.support.server import qahub

WRITERS = 8
ROUNDS = 10
BATCH = 25
CASES = 60


def run_writers(
    apis: list[str], token: str, run_id: str, codes: list[str]
) -> tuple[list[Plan], list[Outcome]]:
    """Run eight writer processes at once, writer ``n`` talking to ``apis[n % len(apis)]``."""
    start_at = time.time() + 2.0  # every process is up by then; they start together
    plans = [
        Plan(apis[n % len(apis)], token, run_id, tuple(codes), n, ROUNDS, BATCH, start_at)
        for n in range(WRITERS)
    ]
    with ProcessPoolExecutor(WRITERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(run_plan, plans, timeout=180))
    return plans, outcomes


def assert_exact_rows(rows: dict[str, dict], plans: list[Plan], outcomes: list[Outcome]) -> None:
    failures = [f for outcome in outcomes for f in outcome.failures]
    assert failures == [], failures[:5]
    assert {s for outcome in outcomes for s in outcome.statuses} == {201}
    expected = expected_rows(plans)
    assert rows.keys() == expected.keys()
    wrong = {
        code: (rows[code]["comment"], want["comment"])
        for code, want in expected.items()
        if (rows[code]["comment"], rows[code]["status"], rows[code]["executed_at"])
        != (want["comment"], want["status"], want["executed_at"])
    }
    assert wrong == {}, f"{len(wrong)} rows are not the newest result: {list(wrong.items())[:5]}"
    # Every acknowledgement names the one row of its case.
    ids = {row["test_case_code"]: row["id"] for row in rows.values()}
    assert all(ids[a["test_case_code"]] == a["id"] for o in outcomes for a in o.acknowledged)


def test_eight_processes_posting_overlapping_batches_leave_exact_rows(
    db_url: str, start_server: ServerFactory
) -> None:
    server = start_server(database_url=db_url)
    codes = make_codes(server, "LOAD", CASES)
    run_id = server.create_run("eight writers")
    plans, outcomes = run_writers([server.api], server.token, run_id, codes)
    assert_exact_rows(rows_by_code(server, run_id), plans, outcomes)
    assert "Traceback" not in server.server_log()


def test_every_acknowledged_result_survives_a_sigkill(db_url: str, start_server: ServerFactory) -> None:
    server = start_server(database_url=db_url)
    codes = make_codes(server, "CRASH", 200)
    run_id = server.create_run("crash")
    with AckRecorder(server.api, server.token, run_id, codes, threads=4) as writers:
        writers.wait_for(400)
        server.stop(kill=True)  # SIGKILL while the writers keep posting
        refused = writers.refused
        deadline = time.monotonic() + 30
        while writers.refused < refused + 4 and time.monotonic() < deadline:
            time.sleep(0.01)  # let every writer notice the server is gone
        acknowledged = list(writers.acknowledged)
    server.start()
    assert writers.server_errors == []
    rows = rows_by_code(server, run_id)
    newest: dict[str, str] = {}
    for ack in acknowledged:
        newest[ack["test_case_code"]] = max(newest.get(ack["test_case_code"], ""), ack["executed_at"])
    lost = [
        a
        for a in acknowledged
        if a["test_case_code"] not in rows or rows[a["test_case_code"]]["id"] != a["id"]
    ]
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged results are gone"
    # A case's row holds its newest acknowledged result, or one newer still (sent, then killed
    # before the answer left): never an older one.
    older = [code for code, stamp in newest.items() if rows[code]["executed_at"] < stamp]
    assert older == [], f"{len(older)} rows went back in time"
    assert len(acknowledged) >= 400
    print(f"{len(acknowledged)} results acknowledged before the SIGKILL, {len(rows)} rows after the restart")


@pytest.mark.postgres
def test_two_collector_processes_on_one_postgres_and_one_storage_act_as_one(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    shared = str(tmp_path / "shared-attachments")
    with fresh_postgres() as url:
        # Both start at once on the empty database: the schema is created exactly once.
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(
                lambda name: start_server(name, database_url=url, QAHUB_STORAGE_DIR=shared),
                ("first", "second"),
            )
        codes = make_codes(first, "SCALE", CASES)
        run_id = second.create_run("two collectors")
        plans, outcomes = run_writers([first.api, second.api], first.token, run_id, codes)
        assert_exact_rows(rows_by_code(first, run_id), plans, outcomes)
        assert rows_by_code(second, run_id) == rows_by_code(first, run_id)

        # A file uploaded through one process downloads through the other.
        result_id = outcomes[0].acknowledged[0]["id"]
        upload = first.session.post(
            f"{first.api}/results/{result_id}/attachments",
            files=[("file", ("log.txt", b"written through the first collector\n", "text/plain"))],
            timeout=30,
        )
        assert upload.status_code == 201, upload.text
        attachment_id = upload.json()["data"][0]["id"]
        download = second.session.get(f"{second.api}/attachments/{attachment_id}", timeout=30)
        assert download.content == b"written through the first collector\n"
        # A token revoked through the CLI is refused by both processes at once.
        token = qahub(first.env, "token", "create", "--scopes", "read").strip()
        me = [
            requests.get(f"{s.api}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            for s in (first, second)
        ]
        assert [r.status_code for r in me] == [200, 200]
        qahub(first.env, "token", "revoke", token.split("_")[1])
        me = [
            requests.get(f"{s.api}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            for s in (first, second)
        ]
        assert [r.status_code for r in me] == [401, 401]
        for server in (first, second):
            assert "Traceback" not in server.server_log()


XDIST_SUITE = """
import os
import pytest

@pytest.mark.parametrize("n", range(40))
def test_item(n):
    every = int(os.environ["QAHUB_TEST_FAIL_EVERY"])
    assert n % every, f"{n} is a multiple of {every}"
"""


def journaled(folder: Path) -> dict[str, tuple[dt.datetime, str]]:
    """The (executed_at, status) of every result journaled by the session run in ``folder``."""
    found: dict[str, tuple[dt.datetime, str]] = {}
    for path in (folder / ".qahub" / "journal").glob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            if record.get("type") == "result":
                result = record["result"]
                stamp = dt.datetime.fromisoformat(result["executed_at"].replace("Z", "+00:00"))
                found[result["test_case_code"]] = (stamp, result["status"])
    return found


def test_two_xdist_sessions_in_parallel_leave_exact_rows(
    db_url: str, start_server: ServerFactory, pytester: pytest.Pytester
) -> None:
    server = start_server(database_url=db_url)
    make_codes(server, "XD", 40)
    run_id = server.create_run("two sessions")
    sessions = []
    for name, every in (("a", 3), ("b", 4)):
        folder = pytester.mkdir(name)
        (folder / "conftest.py").write_text(
            "def pytest_qahub_test_case(item):\n    return 'XD-%03d' % item.callspec.params['n']\n"
        )
        (folder / "test_suite.py").write_text(XDIST_SUITE)
        env = {**os.environ, "QAHUB_TOKEN": server.token, "QAHUB_TEST_FAIL_EVERY": str(every)}
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "4", f"--qahub-run={run_id}",
            f"--qahub-url={server.url}", "--qahub-batch-size=10", "--qahub-flush-timeout=60",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        sessions.append((folder, process))
    for _, process in sessions:
        output = process.communicate(timeout=180)[0].decode()
        assert process.returncode == pytest.ExitCode.TESTS_FAILED, output
        assert "sent 40, rejected 0, waiting in journal 0" in output, output
    first, second = (journaled(folder) for folder, _ in sessions)
    assert len(first) == len(second) == 40
    rows = rows_by_code(server, run_id)
    assert len(rows) == 40
    for code, row in rows.items():
        stamp = dt.datetime.fromisoformat(row["executed_at"].replace("Z", "+00:00"))
        newest = max(first[code], second[code])
        allowed = {s for t, s in (first[code], second[code]) if t == newest[0]}
        assert stamp == newest[0] and row["status"] in allowed, (code, row, first[code], second[code])


def mixed_writes(server_api: str, token: str, writer: int, rounds: int) -> list[str]:
    """Every kind of write, again and again; return the answers that were not 2xx."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    problems: list[str] = []

    def check(response: requests.Response) -> requests.Response:
        if not response.ok:
            problems.append(
                f"{response.request.method} {response.url}: {response.status_code} {response.text[:200]}"
            )
        return response

    for round_ in range(rounds):
        code = f"MIX-{writer}-{round_}"
        check(session.post(f"{server_api}/cases", json={"code": code, "title": "t"}, timeout=60))
        run_id = check(session.post(f"{server_api}/runs", json={"name": code}, timeout=60)).json()["data"][
            "id"
        ]
        results = {"results": [{"test_case_code": code, "status": "FAILED"}]}
        posted = check(session.post(f"{server_api}/runs/{run_id}/results", json=results, timeout=60))
        result_id = posted.json()["data"][0]["id"]
        files = [("file", ("log.txt", b"log line\n", "text/plain"))]
        check(session.post(f"{server_api}/results/{result_id}/attachments", files=files, timeout=60))
        check(session.patch(f"{server_api}/runs/{run_id}", json={"status": "COMPLETED"}, timeout=60))
        check(session.patch(f"{server_api}/cases/{code}", json={"title": "retitled"}, timeout=60))
        if round_ % 2:
            check(session.delete(f"{server_api}/runs/{run_id}", timeout=60))
    session.close()
    return problems


def test_every_kind_of_write_at_once_never_meets_a_locked_database(start_server: ServerFactory) -> None:
    # SQLite: each write transaction takes the lock up front and waits for it, so eight
    # writers of every kind queue instead of failing with "database is locked".
    server = start_server()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: mixed_writes(server.api, server.token, n, 6), range(8)))
    assert [p for problems in answers for p in problems] == []
    assert "locked" not in server.server_log()
    assert "Traceback" not in server.server_log()
