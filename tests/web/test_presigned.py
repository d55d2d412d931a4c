"""With presigned downloads on, the web page still streams attachments (its CSP allows only 'self')."""

from __future__ import annotations

from pathlib import Path

from collector.s3storage import S3Storage
from tests.conftest import make_api
from tests.support.images import solid_png
from tests.web.conftest import Browser, attach, seed


def test_the_web_page_streams_images_while_the_api_redirects(
    s3_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    storage = S3Storage(s3_url, presign_ttl_s=60, temp_dir=tmp_path / "spool")
    api = make_api(sqlite_url, tmp_path / "attachments", storage)
    _, ids = seed(api, [{"test_case_code": "TC-1", "status": "FAILED"}])
    picture = solid_png(4, 4, (0, 0, 255))
    attachment_id = attach(api, ids["TC-1"], "shot.png", picture)

    assert api.get(f"/attachments/{attachment_id}").status_code == 307
    browser = Browser(api)
    assert browser.sign_in(api.token_for("read")).status_code == 303
    page = browser.get(f"/web/attachments/{attachment_id}")
    assert page.status_code == 200
    assert page.content == picture
    assert page.headers["content-disposition"].startswith('inline; filename="shot.png"')
