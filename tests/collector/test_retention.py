"""Retention and file removal on SQLite and PostgreSQL, with attachments in a directory and in S3.

`prune` deletes expired runs a batch at a time; `collector.deletions` keeps every file to remove
listed until it is gone; the `Housekeeper` thread of ``qahub serve`` does both in the background.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import peewee
import pytest
from botocore.exceptions import EndpointConnectionError

from collector import attachments, deletions
from collector.cases import import_cases
from collector.config import Settings
from collector.db import open_database
from collector.housekeeping import Housekeeper
from collector.migrations import upgrade
from collector.models import Attachment, PendingDeletion, Project, Result, Run, utcnow
from collector.projects import create_project, get_project
from collector.results import upsert_results
from collector.retention import describe_run, expired_runs, prune, summarise
from collector.runs import create_run, delete_run
from collector.s3storage import S3Storage
from collector.storage import DirectoryStorage, Storage
from tests.support.storages import leftovers
from tests.support.waiting import wait_until

LIMITS = attachments.upload_limits(Settings())


@dataclass
class Store:
    """An open database and a storage, as a collector process has them."""

    db: peewee.Database
    storage: Storage
    settings: Settings

    @property
    def project(self) -> Project:
        return get_project()


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Store]:
    settings = Settings(database_url=database_url, storage_dir=tmp_path / "attachments")
    db = open_database(settings)
    upgrade(db)
    if request.param == "s3":
        storage: Storage = S3Storage(request.getfixturevalue("s3_url"), temp_dir=tmp_path / "spool")
    else:
        storage = DirectoryStorage(settings.storage_dir)
    with db.connection_context():
        yield Store(db, storage, settings)
    db.close_all()  # PostgreSQL drops the test database only without open connections


def make_run(
    store: Store,
    age_days: float,
    results: int = 2,
    files: int = 1,
    project: Project | None = None,
    name: str = "nightly",
) -> str:
    """A run created ``age_days`` ago with ``results`` results, the first ``files`` of them with a file."""
    project = project or store.project
    codes = [f"TC-{n:05d}" for n in range(results)]
    import_cases(project, [(code, "") for code in codes])
    run_id = create_run(project, name).id
    accepted = upsert_results(project, run_id, [{"test_case_code": c, "status": "FAILED"} for c in codes])
    for item in accepted.accepted[:files]:
        shot = [(f"{item['test_case_code']}.txt", io.BytesIO(f"log of {run_id}\n".encode()))]
        attachments.attach_files(project, item["id"], shot, store.storage, LIMITS)
    created = utcnow() - dt.timedelta(days=age_days)
    Run.update(created_at=created).where(Run.id == run_id).execute()
    return run_id


def files_of(run_id: str) -> list[str]:
    query = Attachment.select(Attachment.storage_key).join(Result).where(Result.run == run_id)
    return sorted(key for (key,) in query.tuples())


def listed() -> list[str]:
    return sorted(key for (key,) in PendingDeletion.select(PendingDeletion.key).tuples())


def break_removal(storage: Storage, key: str) -> None:
    """Make removing ``key`` fail as a real fault would: a directory in its place, an unreachable store."""
    if isinstance(storage, DirectoryStorage):
        path = storage.path_for(key)
        path.unlink()
        (path / "blocker").mkdir(parents=True)  # unlink() now fails with EISDIR
        return

    def unreachable(**kwargs: object) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    storage.client.meta.events.register("before-call.s3.DeleteObjects", unreachable, unique_id="break")


def mend_removal(storage: Storage, key: str) -> None:
    if isinstance(storage, DirectoryStorage):
        (storage.path_for(key) / "blocker").rmdir()
        storage.path_for(key).rmdir()
    else:
        storage.client.meta.events.unregister("before-call.s3.DeleteObjects", unique_id="break")


def make_due(keys: list[str]) -> None:
    PendingDeletion.update(due_at=utcnow() - dt.timedelta(seconds=1)).where(
        PendingDeletion.key.in_(keys)
    ).execute()


def test_runs_older_than_the_cutoff_go_with_their_results_and_files(store: Store) -> None:
    old, recent = make_run(store, 40), make_run(store, 10)
    old_files, recent_files = files_of(old), files_of(recent)
    report = prune(store.storage, 30)
    assert [run.id for run in report.runs] == [old]
    assert (report.results, report.attachments) == (2, 1)
    assert report.attachment_bytes == len(f"log of {old}\n")
    assert Run.get_or_none(Run.id == old) is None
    assert Result.select().where(Result.run == old).count() == 0
    assert files_of(recent) == recent_files
    assert sorted(leftovers(store.storage)) == recent_files
    assert not set(old_files) & set(leftovers(store.storage))
    assert listed() == []


def test_keep_last_keeps_the_newest_runs_of_each_project_whatever_their_age(store: Store) -> None:
    other = create_project("other")
    oldest, older, old = (make_run(store, days, files=0) for days in (90, 80, 70))
    only = make_run(store, 90, files=0, project=other)
    assert [run.id for run in expired_runs(30, keep_last=2)] == [oldest]
    assert [run.id for run in expired_runs(30, keep_last=0)] == [oldest, only, older, old]
    assert [run.id for run in expired_runs(30, keep_last=1, project=other)] == []
    report = prune(store.storage, 30, keep_last=2)
    assert [run.id for run in report.runs] == [oldest]
    assert {run.id for run in Run.select()} == {older, old, only}


def test_keep_last_keeps_the_newest_runs_of_each_branch(store: Store) -> None:
    runs = {}
    for branch in ("main", "feature"):
        for days in (90, 80):
            run_id = make_run(store, days, files=0)
            Run.update(branch=branch).where(Run.id == run_id).execute()
            runs[branch, days] = run_id
    report = prune(store.storage, 30, keep_last=1)
    assert sorted(run.id for run in report.runs) == sorted([runs["main", 90], runs["feature", 90]])
    assert {run.id for run in Run.select()} == {runs["main", 80], runs["feature", 80]}


def test_a_dry_run_names_the_same_runs_and_deletes_nothing(store: Store) -> None:
    old = make_run(store, 40)
    before = leftovers(store.storage)
    report = prune(store.storage, 30, dry_run=True)
    assert [run.id for run in report.runs] == [old]
    assert Run.get_or_none(Run.id == old) is not None
    assert leftovers(store.storage) == before
    assert describe_run(report.runs[0], dry_run=True).startswith(f"would remove run {old} 'nightly'")
    (line,) = summarise(report, 0)
    assert line.startswith("Would remove 1 runs created before ")
    assert line.endswith("2 results, 1 attachments (0.0 MiB) (dry run: nothing was deleted).")


def test_nothing_to_prune_says_so(store: Store) -> None:
    make_run(store, 1)
    report = prune(store.storage, 30, keep_last=3)
    assert report.runs == []
    assert summarise(report, 3)[0].startswith("Nothing to prune: no run created before ")
    assert summarise(report, 3)[0].endswith(", keeping the 3 newest runs of each branch.")


def test_ingest_flows_between_the_batches_of_a_large_prune(store: Store) -> None:
    """Each batch commits on its own: a writer gets in after every batch, on either database."""
    big = make_run(store, 60, results=1200, files=3)
    fresh = create_run(store.project, "tonight").id
    posted = threading.Semaphore(0)
    batches = []

    def wait_for_a_post() -> None:
        batches.append(Result.select().where(Result.run == big).count())
        assert posted.acquire(timeout=60), "no result was written between two batches"

    outcome: dict[str, object] = {}

    def pruning() -> None:
        with store.db.connection_context():
            outcome["report"] = prune(store.storage, 30, batch_size=250, on_batch=wait_for_a_post)

    pruner = threading.Thread(target=pruning)
    pruner.start()
    written = 0
    while pruner.is_alive():
        code = f"TC-{written % 1200:05d}"
        result = upsert_results(store.project, fresh, [{"test_case_code": code, "status": "PASSED"}])
        assert result.errors == []
        written += 1
        posted.release()
        pruner.join(timeout=0.01)
    report = outcome["report"]
    assert [run.id for run in report.runs] == [big]
    assert batches == [950, 700, 450, 200, 0, 0]  # five batches, then the run itself
    assert written >= len(batches)
    assert Result.select().where(Result.run == fresh).count() == min(written, 1200)
    assert len(leftovers(store.storage)) == 0


def test_results_written_to_a_run_while_it_is_pruned_go_with_it(store: Store) -> None:
    doomed = make_run(store, 60, results=30, files=0)
    late: list[str] = []

    def write_late() -> None:
        if late:
            return
        accepted = upsert_results(store.project, doomed, [{"test_case_code": "TC-00029", "status": "BROKEN"}])
        result_id = accepted.accepted[0]["id"]
        saved = attachments.attach_files(
            store.project, result_id, [("late.txt", io.BytesIO(b"late\n"))], store.storage, LIMITS
        )
        late.append(saved[0].storage_key)

    prune(store.storage, 30, batch_size=10, on_batch=write_late)
    assert late and leftovers(store.storage) == []
    assert Result.select().where(Result.run == doomed).count() == 0
    assert Attachment.select().count() == 0


def test_a_file_that_cannot_be_removed_stays_listed_and_a_retry_removes_it(store: Store) -> None:
    old = make_run(store, 40)
    (key,) = files_of(old)
    break_removal(store.storage, key)
    report = prune(store.storage, 30)
    assert [run.id for run in report.runs] == [old]
    assert report.files_failed == 1
    assert Run.get_or_none(Run.id == old) is None  # the rows are gone: nothing points at the file
    pending = PendingDeletion.get(PendingDeletion.key == key)
    assert pending.attempts == 1 and pending.due_at > utcnow() and pending.last_error
    assert deletions.retry_due(store.storage) == (0, 0)  # not due yet
    make_due([key])
    assert deletions.retry_due(store.storage) == (0, 1)  # still broken: tried, counted, kept
    assert PendingDeletion.get(PendingDeletion.key == key).attempts == 2
    mend_removal(store.storage, key)
    make_due([key])
    assert deletions.retry_due(store.storage) == (1, 0)
    assert listed() == [] and leftovers(store.storage) == []


def test_deleting_a_run_through_the_api_path_lists_what_it_cannot_remove(store: Store) -> None:
    run_id = make_run(store, 0)
    (key,) = files_of(run_id)
    break_removal(store.storage, key)
    delete_run(store.project, run_id, store.storage)
    assert Run.get_or_none(Run.id == run_id) is None
    assert listed() == [key]
    mend_removal(store.storage, key)
    make_due([key])
    assert deletions.retry_due(store.storage) == (1, 0)
    assert leftovers(store.storage) == []


def test_a_file_stored_by_an_upload_that_never_finished_goes_a_day_later(store: Store) -> None:
    run_id = make_run(store, 0, files=0)
    assert listed() == []  # finished uploads leave nothing listed
    with store.db.atomic():
        deletions.schedule(["corphan001"], delay=deletions.UPLOAD_GRACE)  # as an upload does first
    temp = store.storage.create_temp()
    temp.write(b"stored, then the process died\n")
    temp.close()
    store.storage.save_from_temp(temp.name, "corphan001")
    assert deletions.retry_due(store.storage) == (0, 0)  # it may still be uploading
    assert PendingDeletion.get(PendingDeletion.key == "corphan001").due_at > utcnow() + dt.timedelta(hours=23)
    make_due(["corphan001"])
    assert deletions.retry_due(store.storage) == (1, 0)
    assert leftovers(store.storage) == [] and Run.get_or_none(Run.id == run_id) is not None


def test_the_housekeeper_prunes_when_told_and_retries_removals_always(store: Store) -> None:
    old, recent = make_run(store, 40), make_run(store, 1)
    stray = files_of(recent)[0]
    with store.db.atomic():
        deletions.schedule([stray])  # a removal that failed earlier, due now
    quiet = Housekeeper(store.settings, store.db, store.storage)
    quiet.run_once()
    assert Run.get_or_none(Run.id == old) is not None  # QAHUB_RETENTION_DAYS unset: no pruning
    assert listed() == [] and stray not in leftovers(store.storage)
    pruning = Housekeeper(store.settings.model_copy(update={"retention_days": 30}), store.db, store.storage)
    pruning.run_once()
    assert Run.get_or_none(Run.id == old) is None
    assert Run.get_or_none(Run.id == recent) is not None


def test_the_housekeeper_thread_runs_a_round_and_stops_when_asked(store: Store) -> None:
    old = make_run(store, 40, files=0)
    settings = store.settings.model_copy(update={"retention_days": 30})
    keeper = Housekeeper(settings, store.db, store.storage, retry_every_s=3600).start()
    wait_until(lambda: keeper.rounds, timeout=60, what="a first round")
    keeper.stop(timeout=30)
    assert keeper.rounds == 1
    assert not keeper.running
    assert Run.get_or_none(Run.id == old) is None
