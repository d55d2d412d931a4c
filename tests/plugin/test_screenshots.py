"""Failure screenshots end to end: the hook, drivers and pytest-playwright's files reach the collector."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import QAHubRun, make_cases
from tests.support.images import make_png
from tests.support.server import CollectorServer


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG into (width, height, pixels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * size
    previous, pixels = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - size] if x >= size else 0
            b, c = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                line[x] = (line[x] + _paeth(a, b, c)) & 0xFF
        pixels.extend(tuple(line[x : x + 3]) for x in range(0, stride, size))
        previous = line
    return width, height, pixels


def dominant_colour(data: bytes) -> tuple[tuple[int, ...], float]:
    """The most common colour of a PNG and the share of pixels it covers."""
    _, _, pixels = decode_png(data)
    colour, count = Counter(pixels).most_common(1)[0]
    return colour, count / len(pixels)


def attachments_of(server: CollectorServer, result_id: str) -> list[tuple[dict[str, Any], bytes]]:
    """A result's attachments and their bytes, over the API."""
    listing = server.session.get(f"{server.api}/results/{result_id}/attachments", timeout=10)
    listing.raise_for_status()
    found = []
    for meta in listing.json()["data"]:
        body = server.session.get(f"{server.api}/attachments/{meta['id']}", timeout=10)
        body.raise_for_status()
        found.append((meta, body.content))
    return found


def files_of(qahub_run: QAHubRun, code: str, run_id: str | None = None) -> dict[str, bytes]:
    """The attachments of a code's result in the run, by file name."""
    row = qahub_run.rows(run_id)[code]
    return {meta["fileName"]: content for meta, content in attachments_of(qahub_run.server, row["id"])}


def pending_files(qahub_run: QAHubRun) -> list[Path]:
    folder = qahub_run.pytester.path / ".qahub" / "attachments-pending"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


# End to end: the plugin in a pytest subprocess, uploading to the real collector -------

HOOK_CONFTEST = f"""
import os
PNG = {make_png(rgb=(10, 200, 10))!r}

def pytest_qahub_screenshot(item):
    mode = os.environ.get("SHOT_MODE", "bytes")
    if mode == "bytes":
        return PNG
    if mode == "path":
        path = item.config.rootpath / "hook-shot.png"
        path.write_bytes(PNG)
        return str(path)
    if mode == "text":
        return b"hello, not a png"
    return None
"""

HOOK_SUITE = """
import pytest

@pytest.mark.qahub("SHOT-FAIL")
def test_fails():
    assert 1 == 2

@pytest.mark.qahub("SHOT-BROKEN")
def test_breaks():
    raise OSError("disk gone")

@pytest.mark.qahub("SHOT-PASS")
def test_passes():
    pass
"""


@pytest.fixture
def hook_suite(qahub_run: QAHubRun) -> QAHubRun:
    make_cases(qahub_run.server, "SHOT-FAIL", "SHOT-BROKEN", "SHOT-PASS")
    qahub_run.pytester.makeconftest(HOOK_CONFTEST)
    qahub_run.pytester.makepyfile(test_shots=HOOK_SUITE)
    return qahub_run


@pytest.mark.parametrize("mode", ["bytes", "path"])
def test_the_hooks_png_reaches_failed_and_broken_results_only(
    hook_suite: QAHubRun, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("SHOT_MODE", mode)
    result = hook_suite.pytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["attachments uploaded 2, refused 0, waiting in journal 0"])
    png = make_png(rgb=(10, 200, 10))
    assert files_of(hook_suite, "SHOT-FAIL") == {"screenshot.png": png}
    assert files_of(hook_suite, "SHOT-BROKEN") == {"screenshot.png": png}
    assert files_of(hook_suite, "SHOT-PASS") == {}
    assert pending_files(hook_suite) == []


def test_screenshots_off_uploads_nothing(hook_suite: QAHubRun) -> None:
    result = hook_suite.pytest("--qahub-screenshots=off")
    result.assert_outcomes(passed=1, failed=2)
    assert "attachments uploaded" not in result.stdout.str()
    assert files_of(hook_suite, "SHOT-FAIL") == {}
    assert pending_files(hook_suite) == []


def test_a_hook_answering_something_else_than_a_png_is_reported_not_uploaded(
    hook_suite: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOT_MODE", "text")
    result = hook_suite.pytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["  test_shots.py::test_fails: screenshot: pytest_qahub_screenshot did not give a PNG (bytes)"]
    )
    assert files_of(hook_suite, "SHOT-FAIL") == {}
    assert hook_suite.statuses()["SHOT-FAIL"] == "FAILED"


DRIVER_SUITE = f"""
import time
import pytest

PNG = {make_png(rgb=(30, 30, 200))!r}

class Driver:
    def __init__(self, mode):
        self.mode = mode

    def get_screenshot_as_png(self):
        if self.mode == "hang":
            time.sleep(30)
        if self.mode == "raise":
            raise RuntimeError("chromedriver went away")
        return PNG

@pytest.fixture
def driver(request):
    yield Driver(request.param)

@pytest.fixture
def after_browser(driver):
    raise RuntimeError("login failed in setup")

@pytest.mark.qahub("DRV-RAISE")
@pytest.mark.parametrize("driver", ["raise"], indirect=True)
def test_raising_driver(driver):
    assert False, "the page is wrong"

@pytest.mark.qahub("DRV-SETUP")
@pytest.mark.parametrize("driver", ["ok"], indirect=True)
def test_setup_fails_after_the_browser_started(after_browser):
    pass

@pytest.mark.qahub("DRV-PARAM")
@pytest.mark.parametrize("driver", ["ok", "ok2"], indirect=True)
def test_both_params_fail(driver):
    assert False
"""


def test_driver_errors_never_reach_the_test_and_setup_failures_are_captured(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "DRV-RAISE", "DRV-SETUP", "DRV-PARAM")
    qahub_run.pytester.makepyfile(test_drivers=DRIVER_SUITE)
    result = qahub_run.pytest()
    result.assert_outcomes(failed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "attachments uploaded 3, refused 0, waiting in journal 0",
            "  test_drivers.py::test_raising_driver[[]raise[]]: screenshot: "
            "WebDriver: RuntimeError: chromedriver went away",
        ]
    )
    png = make_png(rgb=(30, 30, 200))
    statuses = qahub_run.statuses()
    assert statuses == {"DRV-RAISE": "FAILED", "DRV-SETUP": "BROKEN", "DRV-PARAM": "FAILED"}
    assert files_of(qahub_run, "DRV-RAISE") == {}
    assert files_of(qahub_run, "DRV-SETUP") == {"screenshot-ok.png": png}
    # Items sharing a code: every parameter's screenshot goes to the one result.
    assert files_of(qahub_run, "DRV-PARAM") == {"screenshot-ok.png": png, "screenshot-ok2.png": png}


PLAYWRIGHT_LIKE = """
import pytest

@pytest.fixture
def output_path(tmp_path):
    # What pytest-playwright does: its files appear in the test's folder at teardown.
    folder = tmp_path / "test-results" / "case"
    yield str(folder)
    folder.mkdir(parents=True)
    (folder / "test-failed-1.png").write_bytes(PNG)
    (folder / "video.webm").write_bytes(WEBM)
    (folder / "trace.zip").write_bytes(ZIP)
    (folder / "other.txt").write_text("not pytest-playwright's")

@pytest.mark.qahub("PWA-FAIL")
def test_fails(output_path):
    assert False

@pytest.mark.qahub("PWA-PASS")
def test_passes(output_path):
    pass
"""


def test_pytest_playwright_artifacts_of_a_failed_test_are_attached(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "PWA-FAIL", "PWA-PASS")
    webm = bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\x00" * 32
    zip_ = b"PK\x05\x06" + b"\x00" * 18
    qahub_run.pytester.makepyfile(
        test_pw=f"PNG = {make_png()!r}\nWEBM = {webm!r}\nZIP = {zip_!r}\n" + PLAYWRIGHT_LIKE
    )
    result = qahub_run.pytest()
    result.assert_outcomes(passed=1, failed=1)
    assert files_of(qahub_run, "PWA-FAIL") == {
        "test-failed-1.png": make_png(),
        "video.webm": webm,
        "trace.zip": zip_,
    }
    assert files_of(qahub_run, "PWA-PASS") == {}


def test_the_embedded_collector_gets_the_same_screenshots(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("QAHUB_URL", "QAHUB_TOKEN", "QAHUB_RUN", "QAHUB_DATABASE_URL", "QAHUB_STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(HOOK_CONFTEST)
    pytester.makepyfile(test_shots=HOOK_SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--qahub-run=local-1", "--qahub-unmapped=create"
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["attachments uploaded 2, refused 0, waiting in journal 0"])
    # Read the local database and files back through a collector served on them.
    qahub = pytester.path / ".qahub"
    server = CollectorServer(
        pytester.path / "serve",
        database_url=f"sqlite:///{qahub / 'qahub.db'}",
        extra_env={"QAHUB_STORAGE_DIR": str(qahub / "attachments")},
    )
    server.start()
    try:
        rows = {row["test_case_code"]: row for row in server.results("local-1")}
        png = make_png(rgb=(10, 200, 10))
        assert [(m["fileName"], body) for m, body in attachments_of(server, rows["SHOT-FAIL"]["id"])] == [
            ("screenshot.png", png)
        ]
        assert attachments_of(server, rows["SHOT-PASS"]["id"]) == []
    finally:
        server.stop()


RERUN_SUITE = """
import pytest

ATTEMPTS = {"flaky": 0}

@pytest.mark.qahub("RR-FLAKY")
def test_flaky():
    ATTEMPTS["flaky"] += 1
    assert ATTEMPTS["flaky"] > 1

@pytest.mark.qahub("RR-BROKEN")
def test_always_fails():
    assert False
"""


def test_only_the_final_attempt_of_a_rerun_test_uploads(hook_suite: QAHubRun) -> None:
    make_cases(hook_suite.server, "RR-FLAKY", "RR-BROKEN")
    hook_suite.pytester.makepyfile(test_shots=RERUN_SUITE)
    result = hook_suite.pytest("--reruns=1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*1 failed, 1 passed, 2 rerun*"])
    result.stdout.fnmatch_lines(["attachments uploaded 1, refused 0, waiting in journal 0"])
    assert files_of(hook_suite, "RR-FLAKY") == {}
    assert list(files_of(hook_suite, "RR-BROKEN")) == ["screenshot.png"]
    assert pending_files(hook_suite) == []
