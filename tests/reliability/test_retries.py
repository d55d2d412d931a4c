"""Retried requests never duplicate: the bulk upsert is idempotent, and so is an upload.

A client that lost the answer to a request it sent (a reset, a timeout) sends it again;
tests/reliability/test_faults.py shows it through a faulty proxy, these pin the rules.
"""

from __future__ import annotations

import pytest

from tests.conftest import Api

BOUNDARY = "XyZ"


def upload(api: Api, result_id: str, *files: tuple[str, bytes]) -> list[dict]:
    body = (
        b"".join(
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n'
            b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n"
            for name, content in files
        )
        + b"--XyZ--\r\n"
    )
    response = api.post(
        f"/results/{result_id}/attachments",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 201, response.text
    return response.json["data"]


@pytest.fixture
def result_id(api: Api) -> str:
    api.case("RETRY-1")
    run_id = api.run()
    body = {"results": [{"test_case_code": "RETRY-1", "status": "FAILED"}]}
    return api.post(f"/runs/{run_id}/results", json=body).json["data"][0]["id"]


def test_a_retried_upload_answers_with_the_attachment_already_made(api: Api, result_id: str) -> None:
    first = upload(api, result_id, ("log.txt", b"line one\n"))
    again = upload(api, result_id, ("log.txt", b"line one\n"))
    assert again == first
    listed = api.get(f"/results/{result_id}/attachments").json["data"]
    assert [a["id"] for a in listed] == [first[0]["id"]]
    assert api.get(f"/attachments/{first[0]['id']}").content == b"line one\n"


def test_other_bytes_or_another_name_are_another_attachment(api: Api, result_id: str) -> None:
    upload(api, result_id, ("log.txt", b"line one\n"))
    upload(api, result_id, ("log.txt", b"line two\n"))  # same name and size, other bytes
    upload(api, result_id, ("other.txt", b"line one\n"))
    # Two copies in one request are two attachments; a retry of that request adds none.
    pair = upload(api, result_id, ("twice.txt", b"same\n"), ("twice.txt", b"same\n"))
    assert len({a["id"] for a in pair}) == 2
    assert upload(api, result_id, ("twice.txt", b"same\n"), ("twice.txt", b"same\n")) == pair
    names = [a["fileName"] for a in api.get(f"/results/{result_id}/attachments").json["data"]]
    assert names == ["log.txt", "log.txt", "other.txt", "twice.txt", "twice.txt"]


def test_a_retried_batch_changes_nothing_but_the_update_time(api: Api, result_id: str) -> None:
    run_id = api.get("/runs").json["data"][0]["id"]
    item = {"test_case_code": "RETRY-1", "status": "PASSED", "executed_at": "2030-01-01T00:00:00Z"}
    first = api.post(f"/runs/{run_id}/results", json={"results": [item]}).json["data"]
    before = api.get(f"/runs/{run_id}/results").json["data"]
    assert api.post(f"/runs/{run_id}/results", json={"results": [item]}).json["data"] == first
    after = api.get(f"/runs/{run_id}/results").json["data"]
    assert [{**r, "updated_at": None} for r in after] == [{**r, "updated_at": None} for r in before]
    assert [r["id"] for r in after] == [result_id]
