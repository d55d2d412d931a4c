"""The embedded collector: the API's behaviour as method calls on a local database."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import MIB
from collector.embedded import EmbeddedCollector, embedded_settings
from collector.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from collector.migrations import LATEST_VERSION
from collector.models import SchemaVersion
from collector.projects import create_project
from tests.collector.attachment_samples import png
from tests.unit.collector.test_embedded import opening_fails


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmbeddedCollector:
    monkeypatch.delenv("QAHUB_DATABASE_URL", raising=False)
    monkeypatch.delenv("QAHUB_STORAGE_DIR", raising=False)
    collector = EmbeddedCollector(embedded_settings(tmp_path))
    yield collector
    collector.close()


def test_it_keeps_its_data_under_the_root(embedded: EmbeddedCollector, tmp_path: Path) -> None:
    assert embedded.location == f"sqlite:///{tmp_path / '.qahub' / 'qahub.db'}"
    assert (tmp_path / ".qahub" / "qahub.db").exists()
    assert embedded.settings.storage_dir == tmp_path / ".qahub" / "attachments"


def test_a_run_is_created_on_first_use_with_the_given_id(embedded: EmbeddedCollector) -> None:
    run = embedded.ensure_run("local-1")
    assert (run["id"], run["name"], run["status"]) == ("local-1", "local-1", "PENDING")
    assert embedded.ensure_run("local-1")["created_at"] == run["created_at"]


def test_results_upsert_like_the_http_api(embedded: EmbeddedCollector) -> None:
    embedded.ensure_run("local-1")
    embedded.create_case("TC-1", "One")
    status, accepted, errors = embedded.post_results(
        "local-1",
        [{"test_case_code": "TC-1", "status": "FAILED"}, {"test_case_code": "TC-2", "status": "PASSED"}],
    )
    assert status == 207
    assert [a["test_case_code"] for a in accepted] == ["TC-1"]
    assert errors[0]["index"] == 1
    assert embedded.case_codes() == {"TC-1"}  # the rejected TC-2 created no case
    with pytest.raises(PayloadTooLarge):
        embedded.post_results("local-1", [{"test_case_code": "TC-1", "status": "PASSED"}] * 1001)
    with pytest.raises(NotFound):
        embedded.post_results("no-such-run", [{"test_case_code": "TC-1", "status": "PASSED"}])


def test_attachments_are_checked_and_stored_like_uploads(embedded: EmbeddedCollector) -> None:
    embedded.ensure_run("local-1")
    embedded.create_case("TC-1", "One")
    _, accepted, _ = embedded.post_results("local-1", [{"test_case_code": "TC-1", "status": "FAILED"}])
    stored = embedded.upload_attachment(accepted[0]["id"], [("shot.png", io.BytesIO(png()))])
    assert (stored[0]["fileName"], stored[0]["mimeType"]) == ("shot.png", "image/png")
    with pytest.raises(UnsupportedMediaType):
        embedded.upload_attachment(accepted[0]["id"], [("shot.png", io.BytesIO(b"MZ\x90\x00 not a png"))])


def test_a_run_is_compared_with_the_previous_one_like_the_http_api(embedded: EmbeddedCollector) -> None:
    for code in ("TC-1", "TC-2"):
        embedded.create_case(code, "")
    embedded.ensure_run("local-1")
    embedded.post_results("local-1", [{"test_case_code": "TC-1", "status": "PASSED"}])
    embedded.ensure_run("local-2")
    embedded.post_results(
        "local-2",
        [{"test_case_code": "TC-1", "status": "FAILED"}, {"test_case_code": "TC-2", "status": "PASSED"}],
    )

    comparison = embedded.compare("local-2")

    assert comparison["base"]["id"] == "local-1"
    assert (comparison["new_failures"], comparison["added"], comparison["blocking"]) == (
        ["TC-1"],
        ["TC-2"],
        ["TC-1"],
    )
    assert embedded.compare("local-2", base_id="local-1", window=5)["base_chosen"] == "given"
    with pytest.raises(BadRequest, match="base is the run itself"):
        embedded.compare("local-2", base_id="local-2")
    with pytest.raises(NotFound):
        embedded.compare("local-3")


def test_an_unreachable_database_is_a_503_worth_another_try(tmp_path: Path) -> None:
    error = opening_fails(tmp_path, "postgresql://nobody@127.0.0.1:1/qahub")
    assert (error.status, error.code) == (503, "unavailable")


def test_a_database_of_a_newer_collector_is_a_400_saying_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    opened = EmbeddedCollector(embedded_settings(tmp_path, url))
    with opened.db.connection_context():
        SchemaVersion.update(version=LATEST_VERSION + 1).execute()
    opened.close()
    error = opening_fails(tmp_path, url)
    assert error.status == 400 and "newer than this collector" in error.message


def test_an_unknown_project_is_a_404(tmp_path: Path) -> None:
    assert opening_fails(tmp_path, project="nope").status == 404


#: Uploads a file twice through an embedded collector set up by the environment, in a process
#: of its own (moto's server in the test process keeps what it stores in memory), and prints
#: the peak of Python's allocations during each upload.
UPLOAD_PROBE = """
import json, sys, tracemalloc
from pathlib import Path
from collector.embedded import EmbeddedCollector, embedded_settings

root, path = Path(sys.argv[1]), Path(sys.argv[2])
collector = EmbeddedCollector(embedded_settings(root))
collector.ensure_run("big")
collector.create_case("TC-1", "")
_, accepted, _ = collector.post_results("big", [{"test_case_code": "TC-1", "status": "FAILED"}])
peaks, answers = [], []
for _ in range(2):  # the second is a copy of the first: the duplicate check reads the stored file
    with path.open("rb") as file:
        tracemalloc.start()
        answers += collector.upload_attachment(accepted[0]["id"], [(path.name, file)])
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
collector.close()
print(json.dumps({"peaks": peaks, "answers": answers}))
"""
BIG_MIB = 20


def big_file(path: Path) -> Path:
    """Write a file of BIG_MIB MiB (a PNG by its header, or lines of text)."""
    with path.open("wb") as out:
        if path.suffix == ".png":
            out.write(png())
            for _ in range(BIG_MIB):
                out.write(os.urandom(MIB))
        else:
            line = "a line of a long log, with an é in it\n".encode()
            out.write(line * (BIG_MIB * MIB // len(line)))
    return path


@pytest.mark.parametrize("storage", ["directory", "s3"])
@pytest.mark.parametrize("name", ["screen.png", "console.log"])
def test_a_large_upload_streams_through_with_little_memory(
    tmp_path: Path, request: pytest.FixtureRequest, storage: str, name: str
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QAHUB_")}
    env["ATTACHMENT_MAX_BYTES"] = str(32 * MIB)
    if storage == "s3":
        env["QAHUB_STORAGE_URL"] = request.getfixturevalue("s3_url")  # its AWS variables are set now
        env.update({key: value for key, value in os.environ.items() if key.startswith("AWS_")})
    path = big_file(tmp_path / name)
    root = tmp_path / "project"
    root.mkdir()

    probe = subprocess.run(
        [sys.executable, "-c", UPLOAD_PROBE, str(root), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    first, again = found["answers"]
    assert first["size"] == path.stat().st_size and again == first  # the copy is the same attachment
    # A chunk or two of the file is in memory at a time (about 0.5 MiB); boto3 adds its buffers.
    budget = (5 if storage == "s3" else 1) * MIB
    assert max(found["peaks"]) < budget, found["peaks"]


def test_case_codes_are_those_of_its_project_only(tmp_path: Path) -> None:
    default = EmbeddedCollector(embedded_settings(tmp_path))
    default.create_case("TC-1", "default's")
    with default.db.connection_context():
        create_project("web")
    web = EmbeddedCollector(embedded_settings(tmp_path), "web")
    web.create_case("WEB-1", "web's")
    assert (default.case_codes(), web.case_codes()) == ({"TC-1"}, {"WEB-1"})
    web.close()
    default.close()
