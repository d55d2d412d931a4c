"""The ``qahub`` command line, run as a user would (in a subprocess)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.journals import journal_entry
from tests.support.server import qahub


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "QAHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'qahub.db'}"}


def test_token_create_prints_the_token_alone_and_list_shows_its_prefix(env) -> None:
    token = qahub(env, "token", "create", "--scopes", "read", "--name", "ci").strip()
    assert token.startswith("qh_") and "\n" not in token
    prefix = token.split("_")[1]
    listing = qahub(env, "token", "list")
    assert prefix in listing and "read" in listing and "ci" in listing
    assert token.split("_", 2)[2] not in listing
    assert f"Revoked {prefix}" in qahub(env, "token", "revoke", prefix)
    assert "revoked" in qahub(env, "token", "list")


def test_run_create_prints_the_id_and_run_complete_closes_it(env) -> None:
    run_id = qahub(env, "run", "create", "--name", "nightly").strip()
    assert run_id in qahub(env, "run", "list")
    qahub(env, "run", "complete", run_id)
    assert "COMPLETED" in qahub(env, "run", "list")


def test_case_import_reads_json_and_csv_and_leaves_existing_codes(env, tmp_path: Path) -> None:
    qahub(env, "case", "create", "TC-1", "Already here")
    as_json = tmp_path / "cases.json"
    as_json.write_text(json.dumps([{"code": "TC-1", "title": "changed?"}, {"code": "TC-2", "title": "Two"}]))
    assert "Imported 1 new test cases (1 already existed)" in qahub(env, "case", "import", str(as_json))
    as_csv = tmp_path / "cases.csv"
    as_csv.write_text("code,title\nTC-3,Three\nTC-2,Two again\n")
    assert "Imported 1 new" in qahub(env, "case", "import", str(as_csv))


def failing(env: dict[str, str], *args: str) -> str:
    """Run a ``qahub`` command that must fail as a usage error; return its stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_case_import_explains_a_bad_file(env, tmp_path: Path) -> None:
    bad = tmp_path / "cases.json"
    bad.write_text('[{"title": "no code"}]')
    assert "entry 1 needs a code" in failing(env, "case", "import", str(bad))


def test_a_bad_setting_is_named_with_its_value(env) -> None:
    assert "ATTACHMENT_MAX_BYTES='lots'" in failing({**env, "ATTACHMENT_MAX_BYTES": "lots"}, "run", "list")


def test_an_unsupported_database_url_is_explained(env) -> None:
    assert "QAHUB_DATABASE_URL" in failing({**env, "QAHUB_DATABASE_URL": "mongodb://x"}, "run", "list")


def test_results_prints_a_table_with_counts(env) -> None:
    from collector.config import Settings
    from collector.db import open_database
    from collector.migrations import upgrade
    from collector.projects import get_project
    from collector.results import upsert_results

    run_id = qahub(env, "run", "create").strip()
    qahub(env, "case", "create", "TC-1", "One")
    qahub(env, "case", "create", "TC-2", "Two")
    db = open_database(Settings(database_url=env["QAHUB_DATABASE_URL"]))
    upgrade(db)
    with db.connection_context():
        upsert_results(
            get_project(),
            run_id,
            [
                {"test_case_code": "TC-1", "status": "PASSED", "duration_ms": 12},
                {"test_case_code": "TC-2", "status": "FAILED", "error_message": "assert 1 == 2\nmore"},
            ],
        )
    table = qahub(env, "results", run_id)
    assert "TC-1  PASSED  12 ms" in table
    assert "assert 1 == 2" in table and "more" not in table
    assert "2 results: 1 failed, 1 passed" in table


def test_help_explains_every_command(env) -> None:
    text = qahub(env, "--help")
    for command in ("serve", "project", "token", "run", "case", "results"):
        assert command in text


def backdate(env: dict[str, str], run_id: str, days: float) -> None:
    """Make a run look created ``days`` ago (the CLI creates runs now)."""
    import datetime as dt

    from collector.config import Settings
    from collector.db import open_database
    from collector.models import Run, utcnow

    db = open_database(Settings(database_url=env["QAHUB_DATABASE_URL"]))
    with db.connection_context():
        Run.update(created_at=utcnow() - dt.timedelta(days=days)).where(Run.id == run_id).execute()
    db.close_all()


def test_prune_prints_what_it_removes_and_a_dry_run_removes_nothing(env, tmp_path: Path) -> None:
    env = {**env, "QAHUB_STORAGE_DIR": str(tmp_path / "files")}
    oldest, old, recent = (qahub(env, "run", "create", "--name", name).strip() for name in ("a", "b", "c"))
    backdate(env, oldest, 90)
    backdate(env, old, 60)
    dry = qahub(env, "prune", "--older-than", "30", "--dry-run").splitlines()
    assert [line.split()[:4] for line in dry[:2]] == [
        ["would", "remove", "run", oldest],
        ["would", "remove", "run", old],
    ]
    assert dry[2].startswith("Would remove 2 runs created before ")
    assert dry[2].endswith("(dry run: nothing was deleted).")
    assert all(run in qahub(env, "run", "list") for run in (oldest, old, recent))
    kept = qahub(env, "prune", "--older-than", "30", "--keep-last", "2").splitlines()
    assert kept[0].startswith(f"removed run {oldest} 'a' (project default, created ")
    assert kept[1].startswith("Removed 1 runs created before ")
    assert kept[1].endswith(", keeping the 2 newest runs of each branch: 0 results, 0 attachments (0.0 MiB).")
    listing = qahub(env, "run", "list")
    assert oldest not in listing and old in listing and recent in listing
    assert "Removed 1 runs" in qahub(env, "prune", "--older-than", "30")
    assert "Nothing to prune: no run created before " in qahub(env, "prune", "--older-than", "30")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--older-than", "lots"], "'lots' is not a number of days"),
        (["--older-than", "-1"], "give a number of days from 0 up"),
        (["--older-than", "7", "--keep-last", "-2"], "give a whole number of runs"),
        ([], "the following arguments are required: --older-than"),
    ],
)
def test_prune_explains_a_bad_argument(env, args: list[str], says: str) -> None:
    assert says in failing(env, "prune", *args)


def test_replay_names_journals_delivered_earlier_only_when_asked(env, tmp_path: Path) -> None:
    from pytest_qahub.journal import Journal

    journal = Journal.create(tmp_path / "journal", url="http://127.0.0.1:9", run_id="r1")
    entry = journal_entry(journal, {"test_case_code": "TC-1", "status": "PASSED"})
    journal.mark_delivered([entry.seq])
    journal.close()
    quiet = qahub(env, "replay", str(tmp_path / "journal"))
    assert quiet == "qahub replay: nothing to send (1 journal, all delivered earlier)\n"
    named = qahub(env, "replay", "--verbose", str(tmp_path / "journal"))
    assert named == f"{journal.path}: nothing to send (1 delivered earlier)\n"


@pytest.mark.parametrize(
    ("args", "extra_env", "says"),
    [
        (["--port", "99999"], {}, "--port: 99999 is out of range"),
        (["--port", "http"], {}, "--port: 'http' is not a whole number"),
        (["--threads", "0"], {}, "--threads: 0 is out of range"),
        (["--header-timeout", "-1"], {}, "--header-timeout=-1.0"),
        ([], {"QAHUB_LOG_LEVEL": "loud"}, "QAHUB_LOG_LEVEL='LOUD': Input should be 'DEBUG'"),
        ([], {"QAHUB_SHUTDOWN_GRACE": "soon"}, "QAHUB_SHUTDOWN_GRACE='soon'"),
        (["--trusted-proxy-headers", "x-real-ip"], {}, "--trusted-proxy-headers='x-real-ip'"),
    ],
)
def test_serve_refuses_bad_options_before_starting(env, args, extra_env, says) -> None:
    stderr = failing({**env, **extra_env}, "serve", *args)

    assert says in stderr


def test_serve_on_a_port_in_use_says_so_in_one_line(env) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        stderr = failing(env, "serve", "--port", str(port))

    assert stderr.strip() == f"qahub: error: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize("key", ["", "bad key!", "Web", "_web", "x" * 65])
def test_project_create_refuses_a_malformed_key(env, key: str) -> None:
    assert "is not valid" in failing(env, "project", "create", key)


def test_project_create_takes_a_well_formed_key(env) -> None:
    assert qahub(env, "project", "create", "web-app_2", "--name", "Web app").strip() == "web-app_2"
