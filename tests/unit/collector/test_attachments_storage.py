"""Unit tests of the pieces under the attachment endpoints: storage, names, reads, multipart."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import pytest

from collector.attachments import display_name, upload_limits
from collector.config import MIB, Settings
from collector.errors import BadRequest, PayloadTooLarge, StorageError
from collector.intake import Intake, Limits
from collector.multipart import receive_files
from collector.resources.attachments import CappedReader, content_disposition
from collector.storage import STALE_TEMP_S, DirectoryStorage
from tests.collector import attachment_samples as samples


def temp_with(storage: DirectoryStorage, data: bytes) -> str:
    handle = storage.create_temp()
    handle.write(data)
    handle.close()
    return handle.name


def test_a_saved_temp_file_moves_under_its_sharded_key(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    temp = temp_with(storage, b"bytes")
    assert Path(temp).parent == tmp_path / ".tmp"
    storage.save_from_temp(temp, "cabc123xy")
    assert not Path(temp).exists()
    assert (tmp_path / "xy" / "cabc123xy").read_bytes() == b"bytes"
    with storage.open("cabc123xy") as handle:
        assert handle.read() == b"bytes"
    storage.delete("cabc123xy")
    storage.delete("cabc123xy")  # deleting twice is harmless
    with pytest.raises(FileNotFoundError):
        storage.open("cabc123xy")


@pytest.mark.parametrize("key", ["../escape", "a/b", "", "x", "UPPER", "a" * 65, "..", "ab\x00"])
def test_only_generated_keys_name_files(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="Not a storage key"):
        DirectoryStorage(tmp_path).path_for(key)


def test_opening_a_missing_key_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        DirectoryStorage(tmp_path).open("cmissing00")


def test_stale_temp_files_are_removed_at_start_and_fresh_ones_kept(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    stale, fresh = Path(temp_with(storage, b"old")), Path(temp_with(storage, b"new"))
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    DirectoryStorage(tmp_path)
    assert not stale.exists()
    assert fresh.exists()


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("screenshot.png", "screenshot.png"),
        ("a/b/c.png", "c.png"),
        ("a\\b\\c.png", "c.png"),
        ("../../etc/passwd", "passwd"),
        ("dir/", "file"),
        ("  spaced.txt  ", "spaced.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("del\x7f\x85.txt", "del.txt"),
        ("rlo\u202etxt.exe", "rlotxt.exe"),
        ("Écran.png", "Écran.png"),
        (None, "file"),
        ("..", "file"),
        ("\x00\x01", "file"),
        ("n" * 400, "n" * 255),
        ("n" * 400 + ".json", "n" * 250 + ".json"),
    ],
)
def test_display_names_keep_only_a_clean_base_name(sent: str | None, shown: str) -> None:
    assert display_name(sent) == shown


def test_upload_limits_follow_the_file_limit() -> None:
    limits = upload_limits(Settings(attachment_max_bytes=MIB))
    assert limits.file_bytes == MIB
    assert limits.request_bytes == 5 * MIB
    assert limits.files == 20


def test_capped_reads_never_return_more_than_the_cap() -> None:
    reader = CappedReader(io.BytesIO(b"x" * 1000), cap=300)
    assert len(reader.read()) == 300
    assert len(reader.read(4 * MIB)) == 300
    assert len(reader.read(10)) == 10
    assert reader.tell() == 610
    reader.seek(0, 2)
    assert reader.tell() == 1000 and reader.read() == b"" and reader.seekable()
    reader.close()
    assert reader.raw.closed


def receive(tmp_path: Path, body: bytes, limits: Limits, chunked: bool = False) -> list[tuple]:
    """Read a multipart body as an upload does; return each file's name, size and bytes."""
    length = None if chunked else len(body)
    with Intake(DirectoryStorage(tmp_path), limits) as intake:
        receive_files(io.BytesIO(body), samples.multipart_type(), length, intake)
        assert all(received.complete for received in intake.files)
        return [(f.client_name, f.size, Path(f.temp_path).read_bytes()) for f in intake.received()]


def test_parts_arrive_in_order_with_their_sizes_in_temp_files_removed_after(tmp_path: Path) -> None:
    parts = [("file", "a.png", samples.png()), ("note", None, b"x"), ("file", "b.txt", b"bb")]
    body = samples.multipart(parts)
    assert receive(tmp_path, body, Limits(1000, 10_000, 5)) == [
        ("a.png", len(samples.png()), samples.png()),
        ("b.txt", 2, b"bb"),
    ]
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_a_file_over_its_limit_is_stopped_while_reading(tmp_path: Path) -> None:
    too_large = pytest.raises(PayloadTooLarge, match=r"'big\.txt' exceeds the limit of 1000 bytes per file")
    with too_large, Intake(DirectoryStorage(tmp_path), Limits(1000, 10_000, 5)) as intake:
        intake.add("big.txt", io.BytesIO(b"x" * 1001))
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_a_body_over_the_request_limit_is_stopped_while_reading(tmp_path: Path) -> None:
    body = samples.multipart([("file", f"{i}.txt", b"x" * 900) for i in range(5)])
    with pytest.raises(PayloadTooLarge, match="The request exceeds 2000 bytes"):
        receive(tmp_path, body, Limits(1000, 2000, 10), chunked=True)
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_a_closing_boundary_split_across_reads_is_found(tmp_path: Path) -> None:
    ender = b"\r\n--qahubBoundary7MA4YWxk--"
    head = len(samples.multipart([("file", "a.txt", b"")])) - len(ender) - 2
    data = b"y" * (64 * 1024 - 10 - head)  # the closing delimiter straddles the 64 KiB read boundary
    body = samples.multipart([("file", "a.txt", data)])
    assert body.index(ender) == 64 * 1024 - 10
    ((_, size, _),) = receive(tmp_path, body, Limits(MIB, 2 * MIB, 5))
    assert size == len(data)


def test_a_missing_closing_boundary_is_a_bad_request(tmp_path: Path) -> None:
    body = samples.multipart([("file", "a.txt", b"abc")])
    with pytest.raises(BadRequest, match="truncated"):
        receive(tmp_path, body[: body.rindex(b"--qahub")], Limits(MIB, 2 * MIB, 5))
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_the_directory_check_makes_a_missing_folder_again_and_refuses_a_replaced_one(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path / "files")
    storage.check()
    shutil.rmtree(storage.temp_dir)
    storage.check()  # made again, private
    assert storage.temp_dir.is_dir()
    shutil.rmtree(storage.root)
    storage.root.write_text("a file where the directory was")
    with pytest.raises(StorageError, match="storage is unavailable"):
        storage.check()


def test_delete_many_reports_what_it_could_not_remove(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    storage.save_from_temp(temp_with(storage, b"x"), "cgone00001")
    blocked = storage.path_for("cstuck0001")
    (blocked / "inside").mkdir(parents=True)  # a directory where a file should be: unlink fails
    failed = storage.delete_many(["cgone00001", "cstuck0001", "cnever0001"])
    assert list(failed) == ["cstuck0001"]
    with pytest.raises(FileNotFoundError):
        storage.open("cgone00001")


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ('say "hi".txt', "say _hi_.txt"),
        ("back\\slash.txt", "back_slash.txt"),
        ("日本.png", ".png"),
        ("日本", "file"),
    ],
)
def test_the_ascii_fallback_name_cannot_break_the_header(name: str, fallback: str) -> None:
    header = content_disposition(name)
    assert header.startswith(f"attachment; filename=\"{fallback}\"; filename*=UTF-8''")
    assert header.isascii()
