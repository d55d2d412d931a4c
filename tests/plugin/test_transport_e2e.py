"""End to end: HttpTransport against a real collector (the methods the plugin does not exercise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qahub.delivery.http import HttpTransport
from pytest_qahub.delivery.transport import Attachment
from pytest_qahub.errors import Conflict, NotFound
from tests.support.images import solid_png
from tests.support.server import CollectorServer


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""
    return solid_png(1, 1, (255, 0, 0))


@pytest.fixture
def transport(collector_server: CollectorServer) -> HttpTransport:
    return HttpTransport(collector_server.url, collector_server.token)


def test_me_names_the_tokens_scopes(transport: HttpTransport) -> None:
    assert set(transport.me()["scopes"]) == {"read", "write"}


def test_create_case_then_a_duplicate_is_a_conflict(
    transport: HttpTransport, collector_server: CollectorServer
) -> None:
    code = f"TR-{collector_server.create_run('code source')}"
    assert transport.create_case(code, "a title")["code"] == code
    with pytest.raises(Conflict):
        transport.create_case(code, "again")
    assert code in transport.case_codes()


def test_a_result_gets_an_attachment(
    transport: HttpTransport, collector_server: CollectorServer, tmp_path: Path
) -> None:
    collector_server.create_case("TR-ATTACH", "attach")
    run = collector_server.create_run("attach")
    outcome = transport.post_results(run, [{"test_case_code": "TR-ATTACH", "status": "FAILED"}])
    assert outcome.status == 201
    result_id = outcome.accepted[0]["id"]
    shot = tmp_path / "shot.png"
    shot.write_bytes(tiny_png())
    uploaded = transport.upload_attachment(result_id, [Attachment("shot.png", shot, "image/png")])
    assert [(item["fileName"], item["mimeType"]) for item in uploaded] == [("shot.png", "image/png")]


def test_an_unknown_run_is_not_found(transport: HttpTransport) -> None:
    with pytest.raises(NotFound):
        transport.get_run("no-such-run")
