"""The attachment storage through the app: a directory it cannot use shows in ``/healthz``."""

from __future__ import annotations

import shutil

from tests.conftest import Api


def test_healthz_says_degraded_when_the_attachments_directory_is_unusable(sqlite_api: Api) -> None:
    shutil.rmtree(sqlite_api.settings.storage_dir)
    sqlite_api.settings.storage_dir.write_text("a file where the directory was")
    response = sqlite_api.client.simulate_get("/healthz")
    assert response.status_code == 200  # results still work: stay in the load balancer's rotation
    assert response.json == {"status": "degraded", "database": "ok", "storage": "unavailable"}
